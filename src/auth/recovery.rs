//! Password reset and invitations by email: single-use tokens (`users::tokens`: only their
//! SHA-256 stored), 1 hour for a reset and 7 days for an invitation. `/password/forgot` answers the same
//! whether the email exists or not and is throttled per IP and per (email, IP), with only a
//! slow-down per email (see `reset_verdict`); using a reset
//! token ends the user's sessions everywhere.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use diesel::{Connection, PgConnection, QueryResult};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::auth::throttle;
use crate::email::{self, messages};
use crate::error::AppError;
use crate::users::model as user_model;
use crate::users::password;
use crate::users::tokens::{self, Purpose};
use crate::web::ctx::{Layout, RequestMeta};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm};
use crate::web::htmx::Htmx;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

/// Reset requests allowed per IP in 15 minutes (any email).
pub const PER_IP: i64 = 10;
/// Reset requests allowed per (email, IP) in an hour.
pub const PER_PAIR: i64 = 5;
/// Reset requests for one email in an hour after which addresses that already asked for it
/// are refused; an address that has not asked yet (the owner) still gets its email.
pub const PER_EMAIL: i64 = 5;
/// Reset emails sent for one email in an hour at most, whoever asks. Past it the answer is
/// the same but nothing is sent: the owner's inbox already holds a link that still works
/// (the newest of them is less than an hour old, and links last an hour).
pub const EMAIL_CEILING: i64 = 20;

/// What to do with a reset request.
#[derive(Debug, PartialEq, Eq)]
enum ResetVerdict {
    Send,
    /// Answer as if sent, send nothing (the ceiling).
    Quiet,
    /// 429 with this many seconds.
    Refuse(u64),
}

/// Throttles reset requests per IP and per (email, IP), with only a slow-down per email, so
/// that nobody can use up a colleague's reset requests. Runs inside the caller's transaction.
fn reset_verdict(conn: &mut PgConnection, email: &str, ip: &str, now: DateTime<Utc>) -> QueryResult<ResetVerdict> {
    throttle::lock(conn, &format!("forgot-email:{email}"))?;
    throttle::lock(conn, &format!("forgot-ip:{ip}"))?;
    let (ip_bucket, pair_bucket, email_bucket) = (format!("forgot:ip:{ip}"), format!("forgot:pair:{ip} {email}"), format!("forgot:email:{email}"));
    let hour = Duration::hours(1);
    // Only a request let through is counted; a refused one writes nothing, so the rows stay
    // within the limits whatever the traffic (and the old ones go with the scheduler's tick).
    if throttle::count_events(conn, &ip_bucket, now - Duration::minutes(15))? >= PER_IP {
        return Ok(ResetVerdict::Refuse(15 * 60));
    }
    let from_here = throttle::count_events(conn, &pair_bucket, now - hour)?;
    let for_email = throttle::count_events(conn, &email_bucket, now - hour)?;
    if from_here >= PER_PAIR || (from_here > 0 && for_email >= PER_EMAIL) {
        return Ok(ResetVerdict::Refuse(60 * 60));
    }
    throttle::record_event(conn, &ip_bucket, now)?;
    throttle::record_event(conn, &pair_bucket, now)?;
    if for_email >= EMAIL_CEILING {
        return Ok(ResetVerdict::Quiet);
    }
    throttle::record_event(conn, &email_bucket, now)?;
    throttle::forget_events_before(conn, now - Duration::days(1))?;
    Ok(ResetVerdict::Send)
}

#[derive(Template)]
#[template(path = "auth/forgot.html", blocks = ["content"])]
struct ForgotPage {
    layout: Layout,
    email: String,
    sent: bool,
    error: Option<String>,
}
crate::pages!(ForgotPage);

pub async fn forgot_form(session: Session, htmx: Htmx) -> Result<HttpResponse, AppError> {
    respond(&htmx, StatusCode::OK, &ForgotPage { layout: Layout::anonymous(&session, "Forgot password"), email: String::new(), sent: false, error: None })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

pub async fn request_reset(session: Session, req: HttpRequest, state: Data<AppState>, HtmlForm(form): HtmlForm<ForgotForm>) -> Result<HttpResponse, AppError> {
    let meta = RequestMeta::of(&req);
    let email = match forms::email(&form.email) {
        Ok(e) => e,
        Err(e) => {
            let page = ForgotPage { layout: Layout::anonymous(&session, "Forgot password"), email: form.email.clone(), sent: false, error: Some(e.to_string()) };
            return respond(&meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let now = state.clock.now();
    let ip = meta.ip.clone().unwrap_or_default();
    let (base, at_rest_key) = (state.settings.base_url(), state.at_rest_key);
    let (lookup, request_id) = (email.clone(), meta.request_id.clone());
    let throttled = state.db(move |conn| {
        conn.transaction(|tx| {
            match reset_verdict(tx, &lookup, &ip, now)? {
                ResetVerdict::Refuse(seconds) => return Ok(Some(seconds)),
                ResetVerdict::Quiet => return Ok(None),
                ResetVerdict::Send => {}
            }
            for user in user_model::find_by_email(tx, &lookup)?.into_iter().filter(|u| u.active && !u.password_hash.starts_with('!')) {
                let raw = tokens::issue(tx, &user, Purpose::Reset, now)?;
                let mail = messages::reset(&user.email, &messages::Reset { name: user.name.clone(), link: format!("{base}/password/reset/{raw}") })?;
                // The link is a live secret: sealed in the queue, dropped once sent.
                email::enqueue_sealed(tx, &at_rest_key, user.workspace_id, &mail)?;
                let entry = Entry { ip: Some(ip.clone()), request_id: request_id.clone(), ..Entry::new(user.workspace_id, Actor::user(user.id, &user.email), Action::AuthPasswordResetRequested, "auth", user.id) };
                audit::record(tx, &entry)?;
            }
            Ok(None)
        })
    })
    .await?;
    if let Some(retry_after) = throttled {
        return Err(AppError::RateLimited { retry_after });
    }
    // The same answer whether or not the email has an account.
    let page = ForgotPage { layout: Layout::anonymous(&session, "Forgot password"), email, sent: true, error: None };
    respond(&meta.htmx, StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "auth/set_password.html", blocks = ["content"])]
struct SetPasswordPage {
    layout: Layout,
    action: String,
    invite: bool,
    name: String,
    email: String,
    errors: FormErrors,
    /// The link was used, expired or never existed.
    dead: bool,
}
crate::pages!(SetPasswordPage);

fn dead_link(session: &Session, htmx: &Htmx, invite: bool) -> Result<HttpResponse, AppError> {
    let page = SetPasswordPage {
        layout: Layout::anonymous(session, "Link expired"),
        action: String::new(),
        invite,
        name: String::new(),
        email: String::new(),
        errors: FormErrors::default(),
        dead: true,
    };
    respond(htmx, StatusCode::NOT_FOUND, &page)
}

async fn show(session: Session, htmx: Htmx, state: Data<AppState>, token: String, purpose: Purpose) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let raw = token.clone();
    let found = state.db(move |conn| Ok(tokens::find_valid(conn, &raw, purpose, now)?)).await?;
    let invite = purpose == Purpose::Invite;
    let Some((_, user)) = found else { return dead_link(&session, &htmx, invite) };
    let page = SetPasswordPage {
        layout: Layout::anonymous(&session, if invite { "Accept invitation" } else { "Choose a new password" }),
        action: format!("/{}/{token}", if invite { "invitations" } else { "password/reset" }),
        invite,
        name: user.name,
        email: user.email,
        errors: FormErrors::default(),
        dead: false,
    };
    respond(&htmx, StatusCode::OK, &page)
}

pub async fn reset_form(session: Session, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    show(session, htmx, state, path.into_inner(), Purpose::Reset).await
}

pub async fn invitation_form(session: Session, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    show(session, htmx, state, path.into_inner(), Purpose::Invite).await
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn set(session: Session, req: HttpRequest, state: Data<AppState>, token: String, form: SetPasswordForm, purpose: Purpose) -> Result<HttpResponse, AppError> {
    let meta = RequestMeta::of(&req);
    let invite = purpose == Purpose::Invite;
    let mut errors = FormErrors::default();
    let name = if invite { errors.take("name", forms::required_text(&form.name, "Name", 100)) } else { Some(String::new()) };
    errors.take("password", password::check_new(&form.password));
    if form.password != form.confirm {
        errors.add("confirm", "The two passwords differ.");
    }
    let now = state.clock.now();
    let (Some(name), true) = (name, errors.is_empty()) else {
        let raw = token.clone();
        let found = state.db(move |conn| Ok(tokens::find_valid(conn, &raw, purpose, now)?)).await?;
        let Some((_, user)) = found else { return dead_link(&session, &meta.htmx, invite) };
        let page = SetPasswordPage {
            layout: Layout::anonymous(&session, if invite { "Accept invitation" } else { "Choose a new password" }),
            action: format!("/{}/{token}", if invite { "invitations" } else { "password/reset" }),
            invite,
            name: if invite { form.name.clone() } else { user.name },
            email: user.email,
            errors,
            dead: false,
        };
        return respond(&meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = password::hash_blocking(SecretString::from(form.password.clone())).await?;
    let (ip, request_id, new_name) = (meta.ip.clone(), meta.request_id.clone(), name.clone());
    let done = state.db(move |conn| {
        conn.transaction(|tx| {
            let Some((token_id, user)) = tokens::find_valid(tx, &token, purpose, now)? else { return Ok(None) };
            tokens::spend(tx, user.workspace_id, token_id, now)?;
            if invite {
                user_model::set_name_and_password_hash(tx, user.workspace_id, user.id, &new_name, &hash)?;
            } else {
                user_model::set_password_hash(tx, user.workspace_id, user.id, &hash)?;
                // Whoever had the old password is signed out everywhere.
                user_model::end_sessions(tx, user.workspace_id, user.id)?;
            }
            let action = if invite { Action::UsersInvitationAccepted } else { Action::AuthPasswordReset };
            let entry = Entry { ip, request_id, ..Entry::new(user.workspace_id, Actor::user(user.id, &user.email), action, "auth", user.id) };
            audit::record(tx, &entry.after(json!({ "name": if invite { new_name.clone() } else { user.name.clone() } })))?;
            Ok(Some(user))
        })
    })
    .await?;
    let Some(user) = done else { return dead_link(&session, &meta.htmx, invite) };
    flash::success(&session, if invite { format!("Welcome, {}! Sign in with your new password.", name) } else { format!("Your password is changed, {}. Sign in with it.", user.name) });
    Ok(see_other("/login"))
}

pub async fn reset_password(session: Session, req: HttpRequest, state: Data<AppState>, path: Path<String>, HtmlForm(form): HtmlForm<SetPasswordForm>) -> Result<HttpResponse, AppError> {
    set(session, req, state, path.into_inner(), form, Purpose::Reset).await
}

pub async fn accept_invitation(session: Session, req: HttpRequest, state: Data<AppState>, path: Path<String>, HtmlForm(form): HtmlForm<SetPasswordForm>) -> Result<HttpResponse, AppError> {
    set(session, req, state, path.into_inner(), form, Purpose::Invite).await
}
