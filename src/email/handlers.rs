//! `/settings/smtp`: the workspace's SMTP server (the password is sealed and never shown
//! again; leaving it blank keeps the saved one), and "send a test email" to yourself. The
//! host must be on the public internet unless the operator allows private addresses
//! (`email::smtp_target`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use askama::Template;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::crypto;
use crate::email::messages;
use crate::email::send::SendEmail;
use crate::email::smtp::{self, TlsMode};
use crate::email::smtp_target;
use crate::error::AppError;
use crate::jobs;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{FormErrors, HtmlForm};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

#[derive(Clone, Default, Deserialize)]
pub struct SmtpForm {
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    tls_mode: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    from_address: String,
}

#[derive(Template)]
#[template(path = "settings/smtp.html", blocks = ["content"])]
struct SmtpPage {
    layout: Layout,
    form: SmtpForm,
    errors: FormErrors,
    has_password: bool,
    /// "workspace", "SMTP_URL" or "none".
    source: &'static str,
    waiting: i64,
}
crate::pages!(SmtpPage);

async fn page(ctx: &Ctx, state: &AppState, status: StatusCode, form: Option<SmtpForm>, errors: FormErrors) -> Result<HttpResponse, AppError> {
    let w = ctx.workspace_id();
    let (stored, waiting) =
        state.db(move |conn| Ok((smtp::stored(conn, w)?, jobs::query::count_unfinished(conn, w, SendEmail::KIND)?))).await?;
    let source = match (&stored, &state.settings.smtp_url) {
        (Some(_), _) => "workspace",
        (None, Some(_)) => "SMTP_URL",
        (None, None) => "none",
    };
    let has_password = stored.as_ref().is_some_and(|s| s.password_sealed.is_some());
    let form = form.unwrap_or_else(|| match stored {
        Some(s) => SmtpForm {
            host: s.host,
            port: s.port.to_string(),
            tls_mode: s.tls_mode,
            username: s.username.unwrap_or_default(),
            password: String::new(),
            from_address: s.from_address,
        },
        None => SmtpForm { port: "587".into(), tls_mode: "starttls".into(), ..SmtpForm::default() },
    });
    let page = SmtpPage { layout: ctx.layout("Email", "settings"), form, errors, has_password, source, waiting };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn smtp_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    page(&ctx, &state, StatusCode::OK, None, FormErrors::default()).await
}

pub async fn save_smtp(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<SmtpForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let mut errors = FormErrors::default();
    let host = form.host.trim().to_string();
    if host.is_empty() || host.len() > 253 || host.contains(|c: char| c.is_whitespace() || c == '/') {
        errors.add("host", "Enter the SMTP server's host name, like smtp.example.com.");
    }
    let port = form.port.trim().parse::<u16>().ok().filter(|p| *p > 0);
    if port.is_none() {
        errors.add("port", "The port is a number from 1 to 65535 (587 for STARTTLS, 465 for TLS).");
    }
    let tls = TlsMode::parse(&form.tls_mode);
    if tls.is_none() {
        errors.add("tls_mode", "Choose STARTTLS, TLS or none.");
    }
    let from = form.from_address.trim().to_string();
    if from.parse::<lettre::message::Mailbox>().is_err() {
        errors.add("from_address", "Enter the sender, like crm@example.com or Team <crm@example.com>.");
    }
    let (Some(port), Some(tls), true) = (port, tls, errors.is_empty()) else {
        return page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(form), errors).await;
    };
    // The server connects to this host: never to this machine or its private network
    // (checked again when connecting).
    if !state.settings.smtp_allow_private {
        let name = host.clone();
        let checked = actix_web::web::block(move || smtp_target::resolve_public(&name, port))
            .await
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("resolving the SMTP host failed: {e}")))?;
        if let Err(refusal) = checked {
            errors.add("host", refusal.message());
            return page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(form), errors).await;
        }
    }
    let username = Some(form.username.trim().to_string()).filter(|u| !u.is_empty());
    let new_password = (!form.password.is_empty()).then(|| crypto::seal(&state.at_rest_key, form.password.as_bytes()));
    let w = ctx.workspace_id();
    let entry = ctx.audit(Action::SettingsSmtpSaved, "settings", w).after(json!({
        "host": host, "port": port, "tls_mode": tls.as_str(), "username": username, "from_address": from,
        "password_changed": new_password.is_some(),
    }));
    let settings = smtp::SmtpSettings { workspace_id: w, host, port: port as i32, tls_mode: tls.as_str(), username, from_address: from };
    state.db(move |conn| {
        conn.transaction(|tx| {
            smtp::save(tx, &settings, new_password.as_deref())?;
            // Mail that was waiting for a server goes now.
            jobs::query::run_retries_now(tx, w, SendEmail::KIND)?;
            audit::record(tx, &entry)?;
            Ok(())
        })
    })
    .await?;
    flash::success(&ctx.session, "Email settings saved. Send a test email to check them.");
    Ok(see_other("/settings/smtp"))
}

pub async fn send_test_email(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let w = ctx.workspace_id();
    let to = ctx.user.email.clone();
    let workspace = ctx.user.workspace_name.clone();
    let email = messages::test(&to, &messages::Test { workspace })?;
    let entry = ctx.audit(Action::SettingsSmtpTest, "settings", w).after(json!({ "to": to }));
    state.db(move |conn| {
        conn.transaction(|tx| {
            crate::email::enqueue(tx, w, &email, None)?;
            audit::record(tx, &entry)?;
            Ok(())
        })
    })
    .await?;
    flash::success(&ctx.session, format!("A test email to {} is on its way; see Settings → Jobs if it does not arrive.", ctx.user.email));
    Ok(see_other("/settings/smtp"))
}
