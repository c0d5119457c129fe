//! Who is asking: the signed-in user's workspace and role, read from the session on every
//! request. Every query starts from `ctx.workspace_id()`, which makes scoping the easy path.

use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tracing_actix_web::RequestId;

use crate::audit::{Actor, Entry};
use crate::authz::Role;
use crate::error::AppError;
use crate::web::assets::Assets;
use crate::web::csrf;
use crate::web::current_user::CurrentUser;
use crate::web::flash::{self, Flash};
use crate::web::htmx::Htmx;
use crate::web::session::{self as keys, get_i64};
use crate::web::state::AppState;
use crate::web::time::Zone;

/// Facts about the request every audit row and log line wants.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub htmx: Htmx,
}

impl RequestMeta {
    pub fn of(req: &HttpRequest) -> Self {
        Self {
            ip: client_ip(req).map(|ip| ip.to_string()),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(300).collect()),
            request_id: req.extensions().get::<RequestId>().map(|id| id.to_string()),
            htmx: Htmx::from_request(req),
        }
    }
}

impl crate::audit::Origin for RequestMeta {
    fn ip(&self) -> Option<String> {
        self.ip.clone()
    }

    fn request_id(&self) -> Option<String> {
        self.request_id.clone()
    }
}

/// The socket peer, or with `SWITCHBOARD_TRUSTED_PROXIES` the address the proxies forwarded
/// for: a forged `X-Forwarded-For` must not dodge throttling or fake an audit row.
fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = req.app_data::<Data<AppState>>().map(|s| s.settings.trusted_proxies.as_slice()).unwrap_or_default();
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    crate::web::client_ip::client_ip(peer, forwarded, trusted)
}

/// A signed-in user's request.
pub struct Ctx {
    pub user: CurrentUser,
    pub session: Session,
    pub meta: RequestMeta,
    /// The app clock's "now" when the request arrived (pages write times relative to it).
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Ctx {
    pub fn zone(&self) -> Zone {
        self.user.zone
    }

    pub fn workspace_id(&self) -> i64 {
        self.user.workspace_id
    }

    pub fn user_id(&self) -> i64 {
        self.user.id
    }

    pub fn role(&self) -> Role {
        self.user.role
    }

    /// The signed-in user's scope: where every tenant query starts.
    pub fn scope(&self) -> crate::authz::Scope {
        crate::authz::Scope { workspace_id: self.user.workspace_id, user_id: self.user.id, role: self.user.role }
    }

    /// `Forbidden` unless the user's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.user.role.at_least(role) { Ok(()) } else { Err(AppError::forbidden()) }
    }

    /// An audit entry by this user, with the request's IP and id filled in.
    pub fn audit(&self, action: crate::audit::Action, module: &str, entity_id: impl ToString) -> Entry {
        let actor = Actor::User { id: self.user.id, label: self.user.email.clone() };
        Entry::new(self.user.workspace_id, actor, action, module, entity_id).from_request(&self.meta)
    }

    /// The chrome every page shares: navigation, CSRF token, flash messages.
    pub fn layout(&self, title: impl Into<String>, section: &'static str) -> Layout {
        Layout {
            title: title.into(),
            section,
            csrf: csrf::token(&self.session),
            once: crate::web::once::new_token(),
            user: Some(self.user.clone()),
            flashes: flash::take(&self.session),
            assets: Assets::get(),
            zone: self.user.zone,
            reading_chat: None,
            now: self.now,
        }
    }
}

impl FromRequest for Ctx {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let meta = RequestMeta::of(&req);
            let unauthorized = AppError::Unauthorized { htmx: meta.htmx.request && !meta.htmx.boosted };
            let state = req
                .app_data::<Data<AppState>>()
                .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("AppState missing")))?
                .clone();
            let session = req.get_session();
            if get_i64(&session, keys::USER_ID).is_none() {
                return Err(unauthorized);
            }
            let now = state.clock.now().timestamp();
            let created = get_i64(&session, keys::CREATED).unwrap_or(0);
            let seen = get_i64(&session, keys::SEEN).unwrap_or(0);
            if now - created > keys::ABSOLUTE_TIMEOUT_SECS || now - seen > keys::IDLE_TIMEOUT_SECS {
                session.purge();
                flash::push(&session, "info", "Your session has ended. Please sign in again.");
                return Err(unauthorized);
            }
            // Loaded with the session by the store; absent when the user was deactivated.
            let Some(user) = session.get::<CurrentUser>(keys::CURRENT_USER).ok().flatten() else {
                session.purge();
                return Err(unauthorized);
            };
            // Background polls (the unread badge) do not count as activity for the idle timeout.
            let background = req.headers().get("X-Background").is_some_and(|v| v == "1");
            if now - seen >= keys::SEEN_REFRESH_SECS && !background {
                let _ = session.insert(keys::SEEN, now);
            }
            Ok(Ctx { user, session, meta, now: state.clock.now() })
        })
    }
}

/// The data `base.html` needs.
pub struct Layout {
    pub title: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    pub csrf: String,
    /// This page's one-time form token (`web::once`): the hidden `form_token` of the forms
    /// that send or create.
    pub once: String,
    pub user: Option<CurrentUser>,
    pub flashes: Vec<Flash>,
    pub assets: &'static Assets,
    /// The workspace's time zone, for showing times.
    pub zone: Zone,
    /// The chat this page shows (the conversation page): the nav's chat badge counts it as
    /// read whenever it refreshes (issue 19.3), so the chat being read is never counted.
    pub reading_chat: Option<i64>,
    /// When the page is drawn: times on it read "today 18:53", "6 Dec 18:53" (`Zone::when`).
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Layout {
    /// For pages shown before sign-in (login, first-run setup).
    pub fn anonymous(session: &Session, title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            section: "",
            csrf: csrf::token(session),
            once: crate::web::once::new_token(),
            user: None,
            flashes: flash::take(session),
            assets: Assets::get(),
            zone: Zone::default(),
            reading_chat: None,
            now: chrono::Utc::now(),
        }
    }

    /// The signed-in person's chrome for a page drawn outside a handler (an error page), or
    /// `None` when the session has no user. The session's timeouts are the handlers' to
    /// enforce: a link followed from here still signs a stale session out.
    pub fn signed_in(session: &Session, title: impl Into<String>) -> Option<Self> {
        let user = session.get::<CurrentUser>(keys::CURRENT_USER).ok().flatten()?;
        Some(Layout { zone: user.zone, user: Some(user), ..Layout::anonymous(session, title) })
    }

    /// An instant relative to today, in the workspace's zone (`Zone::when`).
    pub fn when<T: crate::web::time::Instant>(&self, t: T) -> String {
        self.zone.when(self.now, t)
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }

    pub fn can_audit(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role.at_least(Role::Manager))
    }
}
