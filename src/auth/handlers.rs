//! `/login`, `/logout`, `/account/sessions`, `/account/password`.

use diesel::Connection;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::auth::session_store;
use crate::auth::throttle;
use crate::auth::user_agent;
use crate::error::AppError;
use crate::users::model::{self as users, User};
use crate::users::password;
use crate::web::ctx::{Ctx, Layout, RequestMeta};
use crate::web::flash;
use crate::web::forms::{FormErrors, HtmlForm, Query};
use crate::web::htmx::Htmx;
use crate::web::render::{respond, see_other};
use crate::web::session as keys;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "auth/login.html", blocks = ["content"])]
struct LoginPage {
    layout: Layout,
    email: String,
    /// The optional workspace name, for an email that is in more than one.
    workspace: String,
    next: String,
    error: Option<String>,
    setup_needed: bool,
}

crate::pages!(LoginPage, SessionsPage, PasswordPage);

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths: never an open redirect to another site, never a broken `Location`.
fn safe_next(next: Option<&str>) -> String {
    next.and_then(crate::web::forms::local_path).unwrap_or_else(|| "/".to_string())
}

pub async fn login_form(session: Session, htmx: Htmx, state: Data<AppState>, Query(q): Query<NextQuery>) -> Result<HttpResponse, AppError> {
    let setup_needed = !state.db(|conn| Ok(users::any_exist(conn)?)).await?;
    let page = LoginPage {
        layout: Layout::anonymous(&session, "Sign in"),
        email: String::new(),
        workspace: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
        setup_needed,
    };
    respond(&htmx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// Only needed when the email is in more than one workspace.
    workspace: Option<String>,
    next: Option<String>,
}

/// Signs a user in: a fresh session id, who/where/when in the session, audited.
pub fn start_session(session: &Session, user: &User, meta: &RequestMeta, now: i64) {
    session.renew();
    // A new CSRF token too: one planted before sign-in must not work after it.
    session.remove(keys::CSRF);
    let _ = session.insert(keys::USER_ID, user.id);
    let _ = session.insert(keys::WORKSPACE_ID, user.workspace_id);
    let _ = session.insert(keys::CREATED, now);
    let _ = session.insert(keys::SEEN, now);
    if let Some(ip) = &meta.ip {
        let _ = session.insert(keys::IP, ip);
    }
    if let Some(ua) = &meta.user_agent {
        let _ = session.insert(keys::USER_AGENT, ua);
    }
}

pub async fn login(req: HttpRequest, session: Session, state: Data<AppState>, HtmlForm(form): HtmlForm<LoginForm>) -> Result<HttpResponse, AppError> {
    let meta = RequestMeta::of(&req);
    let email = form.email.trim().to_lowercase();
    let workspace = form.workspace.as_deref().map(str::trim).filter(|w| !w.is_empty()).map(|w| w.chars().take(100).collect::<String>());
    let next = safe_next(form.next.as_deref());
    let ip = meta.ip.clone().unwrap_or_default();
    let now = state.clock.now();
    let page = |error: &str| LoginPage {
        layout: Layout::anonymous(&session, "Sign in"),
        email: form.email.chars().take(254).collect(),
        workspace: workspace.clone().unwrap_or_default(),
        next: next.clone(),
        error: Some(error.to_string()),
        setup_needed: false,
    };
    if email.is_empty() || form.password.is_empty() || email.len() > 254 || form.password.chars().count() > password::MAX_CHARS {
        return respond(&meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &page("Enter your email and password."));
    }
    let (lookup_email, lookup_ip, lookup_workspace) = (email.clone(), ip.clone(), workspace.clone());
    let admitted = state.db(move |conn| {
        let attempt = match throttle::admit(conn, &lookup_email, &lookup_ip, now)? {
            Ok(attempt) => attempt,
            Err(seconds) => return Ok(Err(seconds)),
        };
        Ok(Ok((attempt, users::find_for_sign_in(conn, &lookup_email, lookup_workspace.as_deref())?)))
    })
    .await?;
    let (attempt, candidate) = match admitted {
        Ok(found) => found,
        Err(seconds) => {
            let mut response =
                respond(&meta.htmx, StatusCode::TOO_MANY_REQUESTS, &page(&format!("Too many failed sign-ins. Try again in {seconds} s.")))?;
            response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, seconds.into());
            return Ok(response);
        }
    };
    // Exactly one argon2 verification, against the dummy hash when there is no account or it
    // has no password yet: every answer costs the same.
    let hash = candidate.as_ref().map(|u| u.password_hash.clone());
    let counter = state.settings.password_verifications.clone();
    let matched = password::verify_blocking(SecretString::from(form.password.clone()), hash, counter).await?;
    // Audit a failure in the workspace of a known email; unknown emails leave only the
    // throttling row. The answer is the same either way.
    let failure = candidate.as_ref().map(|u| {
        Entry::new(u.workspace_id, Actor::user(u.id, &u.email), Action::AuthLoginFailed, "auth", u.id)
            .from_request(&meta)
            .after(json!({ "reason": if u.active { "bad password" } else { "inactive user" } }))
    });
    match candidate.filter(|u| matched && u.active) {
        Some(user) => {
            let entry = Entry::new(user.workspace_id, Actor::user(user.id, &user.email), Action::AuthLogin, "auth", user.id).from_request(&meta);
            state.db(move |conn| {
                conn.transaction(|tx| {
                    throttle::succeeded(tx, attempt, &email, &ip)?;
                    audit::record(tx, &entry)
                })
                .map_err(AppError::from)
            })
            .await?;
            start_session(&session, &user, &meta, now.timestamp());
            Ok(see_other(&next))
        }
        None => {
            // The attempt was counted as a failure when it was admitted.
            if let Some(entry) = failure {
                state.db(move |conn| Ok(audit::record(conn, &entry)?)).await?;
            }
            respond(&meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &page("Email or password is incorrect."))
        }
    }
}

pub async fn logout(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let entry = ctx.audit(Action::AuthLogout, "auth", ctx.user_id());
    state.db(move |conn| Ok(audit::record(conn, &entry)?)).await?;
    ctx.session.purge();
    Ok(see_other("/login"))
}

#[derive(Template)]
#[template(path = "auth/sessions.html", blocks = ["content"])]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionView>,
}

/// One session as the page shows it.
struct SessionView {
    id: i64,
    /// "Firefox 133 on Windows".
    device: String,
    /// The stored `User-Agent`, as sent.
    agent: Option<String>,
    ip: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    last_seen_at: chrono::DateTime<chrono::Utc>,
    /// The session asking.
    current: bool,
}

pub async fn list_sessions(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (workspace_id, user_id, now) = (ctx.workspace_id(), ctx.user_id(), state.clock.now());
    let rows = state.db(move |conn| Ok(session_store::list_for_user(conn, workspace_id, user_id, now)?)).await?;
    let current = keys::key_hash(&ctx.session);
    let mut sessions: Vec<SessionView> = rows
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            device: user_agent::describe(s.user_agent.as_deref()),
            current: current.as_deref() == Some(s.key_hash.as_str()),
            agent: s.user_agent,
            ip: s.ip,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
        })
        .collect();
    // This device first, then the others by last activity.
    sessions.sort_by_key(|s| !s.current);
    respond(&ctx.meta.htmx, StatusCode::OK, &SessionsPage { layout: ctx.layout("Your sessions", "account"), sessions })
}

/// Ends one other session of this user. Another user's session, or this one, is a 404.
pub async fn revoke_session(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let (workspace_id, user_id, id) = (ctx.workspace_id(), ctx.user_id(), path.into_inner());
    let keep = keys::key_hash(&ctx.session).unwrap_or_default();
    let entry = ctx.audit(Action::AuthSessionRevoked, "auth", user_id).after(json!({ "session_id": id }));
    state.db(move |conn| {
        conn.transaction(|tx| {
            if session_store::revoke(tx, workspace_id, user_id, id, &keep)? == 0 {
                return Err(AppError::NotFound);
            }
            audit::record(tx, &entry)?;
            Ok(())
        })
    })
    .await?;
    flash::success(&ctx.session, "That session has been signed out.");
    Ok(see_other("/account/sessions"))
}

/// Ends every session of this user but this one.
pub async fn revoke_other_sessions(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (workspace_id, user_id) = (ctx.workspace_id(), ctx.user_id());
    let keep = keys::key_hash(&ctx.session).unwrap_or_default();
    let entry = ctx.audit(Action::AuthOtherSessionsRevoked, "auth", user_id);
    state.db(move |conn| {
        conn.transaction(|tx| {
            let ended = session_store::revoke_others(tx, workspace_id, user_id, &keep)?;
            audit::record(tx, &entry.after(json!({ "sessions_ended": ended })))
        })
        .map_err(AppError::from)
    })
    .await?;
    flash::success(&ctx.session, "Your other sessions have been signed out.");
    Ok(see_other("/account/sessions"))
}

/// Ends every session of this user, this one included.
pub async fn revoke_all_sessions(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (workspace_id, user_id) = (ctx.workspace_id(), ctx.user_id());
    let entry = ctx.audit(Action::AuthSessionsRevoked, "auth", user_id);
    state.db(move |conn| {
        conn.transaction(|tx| {
            let ended = users::end_sessions(tx, workspace_id, user_id)?;
            audit::record(tx, &entry.after(json!({ "sessions_ended": ended })))
        })
        .map_err(AppError::from)
    })
    .await?;
    ctx.session.purge();
    flash::push(&ctx.session, "success", "You have been signed out everywhere.");
    Ok(see_other("/login"))
}

#[derive(Template)]
#[template(path = "auth/password.html", blocks = ["content"])]
struct PasswordPage {
    layout: Layout,
    errors: FormErrors,
}

pub async fn password_form(ctx: Ctx) -> Result<HttpResponse, AppError> {
    respond(&ctx.meta.htmx, StatusCode::OK, &PasswordPage { layout: ctx.layout("Change password", "account"), errors: FormErrors::default() })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Changes the password and ends every other session of the user.
pub async fn change_password(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<PasswordForm>) -> Result<HttpResponse, AppError> {
    let (workspace_id, user_id) = (ctx.workspace_id(), ctx.user_id());
    let mut errors = FormErrors::default();
    errors.take("new_password", password::check_new(&form.new_password));
    if form.new_password != form.confirm_password {
        errors.add("confirm_password", "The two new passwords differ.");
    }
    // Guessing the current password from a signed-in session is throttled like sign-in,
    // on the same counts (account and IP).
    let ip = ctx.meta.ip.clone().unwrap_or_default();
    let (now, throttle_ip) = (state.clock.now(), ip.clone());
    let email = ctx.user.email.to_lowercase();
    let throttle_email = email.clone();
    let (attempt, user) = state.db(move |conn| {
        let attempt = throttle::admit(conn, &throttle_email, &throttle_ip, now)?;
        let user = users::find(conn, workspace_id, user_id)?;
        Ok((attempt, user))
    })
    .await?;
    let attempt = attempt.map_err(|retry_after| AppError::RateLimited { retry_after })?;
    let user = user.ok_or(AppError::NotFound)?;
    let counter = state.settings.password_verifications.clone();
    let current_ok = password::verify_blocking(SecretString::from(form.current_password.clone()), Some(user.password_hash.clone()), counter).await?;
    if current_ok {
        state.db(move |conn| Ok(throttle::succeeded(conn, attempt, &email, &ip)?)).await?;
    } else {
        errors.add("current_password", "The current password is not right.");
    }
    if !errors.is_empty() {
        let page = PasswordPage { layout: ctx.layout("Change password", "account"), errors };
        return respond(&ctx.meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let hash = password::hash_blocking(SecretString::from(form.new_password)).await?;
    let entry = ctx.audit(Action::AuthPasswordChanged, "auth", user_id);
    state.db(move |conn| {
        conn.transaction(|tx| {
            users::set_password_hash(tx, workspace_id, user_id, &hash)?;
            let ended = users::end_sessions(tx, workspace_id, user_id)?;
            audit::record(tx, &entry.after(json!({ "sessions_ended": ended })))
        })
        .map_err(AppError::from)
    })
    .await?;
    // This session lives on under a new id; the others are gone.
    ctx.session.renew();
    flash::success(&ctx.session, "Password changed. Your other sessions have been signed out.");
    Ok(see_other("/account/sessions"))
}
