//! `/account`: the signed-in user's profile: name, email (a new address is confirmed by a
//! single-use link mailed to it, and replaces the old one only then), and links to the
//! password and sessions pages. Everything is audited.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::users::tokens;
use crate::email::{self, messages};
use crate::error::AppError;
use crate::web::state::AppState;
use crate::users::model as users;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm};
use crate::web::htmx::Htmx;
use crate::web::render::{respond, see_other};

#[derive(Template)]
#[template(path = "auth/profile.html", blocks = ["content"])]
struct ProfilePage {
    layout: Layout,
    name: String,
    email: String,
    /// The address waiting for its link to be opened.
    pending: Option<String>,
    /// What the email field shows after a refusal.
    new_email: String,
    errors: FormErrors,
    /// The hourly chat digest email is on (issue 13).
    chat_digest: bool,
    /// Enter sends a chat reply (else Ctrl+Enter does; issue 22).
    enter_sends: bool,
    /// Each notification kind: (kind, label, on) (issue 19).
    notification_kinds: Vec<(&'static str, &'static str, bool)>,
}

#[derive(Template)]
#[template(path = "auth/confirm_email.html", blocks = ["content"])]
struct ConfirmEmailPage {
    layout: Layout,
    action: String,
    /// The address to confirm; `None` when the link is used, expired or unknown.
    email: Option<String>,
}

crate::pages!(ProfilePage, ConfirmEmailPage);

async fn profile(ctx: &Ctx, state: &AppState, status: StatusCode, name: Option<String>, new_email: String, errors: FormErrors) -> Result<HttpResponse, AppError> {
    let (w, id, now) = (ctx.workspace_id(), ctx.user_id(), state.clock.now());
    let (user, pending, (chat_digest, enter_sends), muted) = state.db(move |conn| {
        Ok((
            users::find(conn, w, id)?,
            tokens::pending_email(conn, w, id, now)?,
            (crate::chat::digest::is_on(conn, w, id)?, crate::chat::query::enter_sends(conn, w, id)?),
            crate::notifications::muted(conn, w, id)?,
        ))
    })
    .await?;
    let notification_kinds = crate::notifications::KINDS.iter().map(|(kind, label)| (*kind, *label, !muted.iter().any(|m| m == kind))).collect();
    let user = user.ok_or(AppError::NotFound)?;
    let page = ProfilePage { layout: ctx.layout("Your account", "account"), name: name.unwrap_or(user.name), email: user.email, pending, new_email, errors, chat_digest, enter_sends, notification_kinds };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn profile_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    profile(&ctx, &state, StatusCode::OK, None, String::new(), FormErrors::default()).await
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

pub async fn change_name(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<NameForm>) -> Result<HttpResponse, AppError> {
    let name = match forms::required_text(&form.name, "Name", 100) {
        Ok(name) => name,
        Err(e) => {
            let mut errors = FormErrors::default();
            errors.add("name", e);
            return profile(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(form.name.chars().take(100).collect()), String::new(), errors).await;
        }
    };
    let (w, id) = (ctx.workspace_id(), ctx.user_id());
    let entry = ctx.audit(Action::UsersNameChanged, "users", id);
    let new_name = name.clone();
    state.db(move |conn| {
        conn.transaction(|tx| {
            let before = users::find(tx, w, id)?.ok_or(AppError::NotFound)?;
            users::set_name(tx, w, id, &new_name)?;
            audit::record(tx, &entry.before(json!({ "name": before.name })).after(json!({ "name": new_name })))?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    flash::success(&ctx.session, "Your name has been saved.");
    Ok(see_other("/account"))
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

/// Mails a confirmation link to the new address; the account keeps its email until the
/// link is used. Uniqueness is the users' rule: one account per address in a workspace.
pub async fn request_email_change(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<EmailForm>) -> Result<HttpResponse, AppError> {
    let sent: String = form.email.chars().take(254).collect();
    let mut errors = FormErrors::default();
    let email = match forms::email(&form.email) {
        Ok(e) => e,
        Err(e) => {
            errors.add("email", e);
            return profile(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, None, sent, errors).await;
        }
    };
    let (w, id, now) = (ctx.workspace_id(), ctx.user_id(), state.clock.now());
    let (base, at_rest_key) = (state.settings.base_url(), state.at_rest_key);
    let entry = ctx.audit(Action::UsersEmailChangeRequested, "users", id);
    let new_email = email.clone();
    let taken = state.db(move |conn| {
        conn.transaction(|tx| {
            let user = users::find(tx, w, id)?.ok_or(AppError::NotFound)?;
            if user.email.eq_ignore_ascii_case(&new_email) {
                return Ok(Some("That is already your address."));
            }
            if users::email_taken(tx, w, &new_email)? {
                return Ok(Some("Another account of this workspace already has this address."));
            }
            let raw = tokens::issue_email_change(tx, &user, &new_email, now)?;
            let mail = messages::email_change(&new_email, &messages::EmailChange { name: user.name.clone(), link: format!("{base}/account/email/{raw}") })?;
            // The link is a live secret: sealed in the queue, dropped once sent.
            email::enqueue_sealed(tx, &at_rest_key, w, &mail)?;
            audit::record(tx, &entry.before(json!({ "email": user.email })).after(json!({ "pending_email": new_email })))?;
            Ok::<_, AppError>(None)
        })
    })
    .await?;
    if let Some(message) = taken {
        errors.add("email", message);
        return profile(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, None, sent, errors).await;
    }
    flash::success(&ctx.session, format!("We sent a link to {email}. Your address changes when you open it."));
    Ok(see_other("/account"))
}

/// Forgets the address waiting for confirmation.
pub async fn cancel_email_change(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (w, id, now) = (ctx.workspace_id(), ctx.user_id(), state.clock.now());
    let entry = ctx.audit(Action::UsersEmailChangeCancelled, "users", id);
    state.db(move |conn| {
        conn.transaction(|tx| {
            tokens::spend_email_changes(tx, w, id, now)?;
            audit::record(tx, &entry)
        })
        .map_err(AppError::from)
    })
    .await?;
    Ok(see_other("/account"))
}

pub async fn confirm_email_form(session: Session, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let (raw, now) = (path.into_inner(), state.clock.now());
    let lookup = raw.clone();
    let found = state.db(move |conn| Ok(tokens::find_email_change(conn, &lookup, now)?)).await?;
    let status = if found.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    let page = ConfirmEmailPage { layout: Layout::anonymous(&session, "Confirm your email"), action: format!("/account/email/{raw}"), email: found.map(|(_, _, e)| e) };
    respond(&htmx, status, &page)
}

/// Uses the link: the new address replaces the old one (if still free), once.
pub async fn confirm_email(session: Session, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let (raw, now) = (path.into_inner(), state.clock.now());
    let lookup = raw.clone();
    let applied = state.db(move |conn| {
        conn.transaction(|tx| {
            let Some((token_id, user, new_email)) = tokens::find_email_change(tx, &lookup, now)? else { return Ok(None) };
            tokens::spend(tx, user.workspace_id, token_id, now)?;
            if users::email_taken(tx, user.workspace_id, &new_email)? {
                return Ok(Some(Err(new_email)));
            }
            users::set_email(tx, user.workspace_id, user.id, &new_email)?;
            let entry = Entry::new(user.workspace_id, Actor::user(user.id, &user.email), Action::UsersEmailChanged, "users", user.id)
                .before(json!({ "email": user.email }))
                .after(json!({ "email": new_email }));
            audit::record(tx, &entry)?;
            Ok::<_, AppError>(Some(Ok(new_email)))
        })
    })
    .await?;
    match applied {
        Some(Ok(email)) => {
            flash::success(&session, format!("Your email is now {email}."));
            Ok(see_other("/account"))
        }
        Some(Err(email)) => {
            flash::push(&session, "error", format!("{email} belongs to another account now; your email was not changed."));
            Ok(see_other("/account"))
        }
        None => {
            let page = ConfirmEmailPage { layout: Layout::anonymous(&session, "Confirm your email"), action: String::new(), email: None };
            respond(&htmx, StatusCode::NOT_FOUND, &page)
        }
    }
}
