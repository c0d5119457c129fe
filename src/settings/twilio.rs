//! `/settings/twilio` (admin): the workspace's Twilio account (the auth token is sealed and
//! never shown again; leaving it blank keeps the saved one), its senders, send rates and
//! what a message from an unknown number does; "Check connection"; the webhook URLs to
//! give Twilio.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Data};
use anyhow::anyhow;
use askama::Template;
use diesel::{Connection, PgConnection, QueryResult};
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::crypto;
use crate::error::AppError;
use crate::messaging::account::{self, Account, StoredTwilio, TwilioFields};
use crate::messaging::Providers;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{FormErrors, HtmlForm};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

#[derive(Clone, Default, Deserialize)]
pub struct TwilioForm {
    #[serde(default)]
    account_sid: String,
    #[serde(default)]
    auth_token: String,
    #[serde(default)]
    whatsapp_from: String,
    #[serde(default)]
    sms_from: String,
    #[serde(default)]
    messaging_service_sid: String,
    #[serde(default)]
    whatsapp_rate: String,
    #[serde(default)]
    sms_rate: String,
    #[serde(default)]
    inbound_unknown: String,
}

#[derive(Template)]
#[template(path = "settings/twilio.html", blocks = ["content"])]
struct TwilioPage {
    layout: Layout,
    form: TwilioForm,
    errors: FormErrors,
    has_token: bool,
    status_url: String,
    inbound_url: String,
}
crate::pages!(TwilioPage);

/// The workspace's two webhook URLs (status, inbound).
pub fn webhook_urls(conn: &mut PgConnection, state: &AppState, workspace_id: i64) -> QueryResult<(String, String)> {
    let key = account::webhook_key(conn, workspace_id)?;
    let base = crate::messaging::send::public_base(&state.settings);
    Ok((account::webhook_url(&base, &key, "status"), account::webhook_url(&base, &key, "inbound")))
}

fn rate_text(rate: f64) -> String {
    if rate.fract() == 0.0 { format!("{rate:.0}") } else { rate.to_string() }
}

async fn page(ctx: &Ctx, state: &Data<AppState>, status: StatusCode, form: Option<TwilioForm>, errors: FormErrors) -> Result<HttpResponse, AppError> {
    let w = ctx.workspace_id();
    let st = state.clone();
    let (stored, (status_url, inbound_url)) =
        state.db(move |conn| Ok((account::stored(conn, w)?, webhook_urls(conn, &st, w)?))).await?;
    let has_token = stored.is_some();
    let form = form.unwrap_or_else(|| match stored {
        Some(s) => TwilioForm {
            account_sid: s.account_sid,
            auth_token: String::new(),
            whatsapp_from: s.whatsapp_from.join("\n"),
            sms_from: s.sms_from.unwrap_or_default(),
            messaging_service_sid: s.messaging_service_sid.unwrap_or_default(),
            whatsapp_rate: rate_text(s.whatsapp_rate),
            sms_rate: rate_text(s.sms_rate),
            inbound_unknown: s.inbound_unknown,
        },
        None => TwilioForm { whatsapp_rate: "10".into(), sms_rate: "1".into(), inbound_unknown: "create".into(), ..TwilioForm::default() },
    });
    // The token typed is never sent back.
    let form = TwilioForm { auth_token: String::new(), ..form };
    let page = TwilioPage { layout: ctx.layout("Twilio", "settings"), form, errors, has_token, status_url, inbound_url };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn twilio_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    page(&ctx, &state, StatusCode::OK, None, FormErrors::default()).await
}

/// A number as E.164 (`+14155550123`): spaces, dashes, dots, brackets and a `whatsapp:`
/// prefix are dropped; anything else that is not `+` and 7 to 15 digits is refused.
pub fn e164(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_prefix("whatsapp:").unwrap_or(trimmed);
    let cleaned: String = trimmed.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')).collect();
    let digits = cleaned.strip_prefix('+')?;
    let ok = (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
    ok.then_some(cleaned)
}

fn sid(value: &str, prefix: &str) -> bool {
    value.len() == 34 && value.starts_with(prefix) && value[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// A sending rate that is not a number of messages per second in (0, 1000].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Use a number of messages per second above 0 and at most 1000, like 10 or 0.5.")]
struct BadRate;

fn rate(value: &str) -> Result<f64, BadRate> {
    value.trim().parse::<f64>().ok().filter(|r| r.is_finite() && *r > 0.0 && *r <= 1000.0).ok_or(BadRate)
}

fn validate(form: &TwilioForm, token_required: bool, errors: &mut FormErrors) -> Option<TwilioFields> {
    let account_sid = form.account_sid.trim().to_string();
    if !sid(&account_sid, "AC") {
        errors.add("account_sid", "The Account SID is AC followed by 32 hexadecimal characters (Twilio Console → Account info).");
    }
    if token_required && form.auth_token.trim().is_empty() {
        errors.add("auth_token", "Enter the auth token (Twilio Console → Account info).");
    } else if form.auth_token.trim().chars().count() > 200 {
        errors.add("auth_token", "The auth token is at most 200 characters.");
    }
    let mut whatsapp_from = Vec::new();
    let mut bad_lines = Vec::new();
    for (n, line) in form.whatsapp_from.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match e164(line) {
            Some(number) if !whatsapp_from.contains(&number) => whatsapp_from.push(number),
            Some(_) => {}
            None => bad_lines.push(format!("line {} ({})", n + 1, line.trim())),
        }
    }
    if !bad_lines.is_empty() {
        errors.add("whatsapp_from", format!("Not a number in E.164, like +14155550123: {}.", bad_lines.join(", ")));
    } else if whatsapp_from.len() > 50 {
        errors.add("whatsapp_from", "At most 50 WhatsApp numbers.");
    }
    let sms_from = match form.sms_from.trim() {
        "" => None,
        value => {
            let number = e164(value);
            if number.is_none() {
                errors.add("sms_from", "Write the SMS number in E.164, like +14155550123.");
            }
            number
        }
    };
    let messaging_service_sid = match form.messaging_service_sid.trim() {
        "" => None,
        value if sid(value, "MG") => Some(value.to_string()),
        _ => {
            errors.add("messaging_service_sid", "A Messaging Service SID is MG followed by 32 hexadecimal characters.");
            None
        }
    };
    let whatsapp_rate = errors.take("whatsapp_rate", rate(&form.whatsapp_rate));
    let sms_rate = errors.take("sms_rate", rate(&form.sms_rate));
    let inbound_unknown = form.inbound_unknown.trim().to_string();
    if !matches!(inbound_unknown.as_str(), "create" | "ignore") {
        errors.add("inbound_unknown", "Choose whether a message from an unknown number creates a client or is ignored.");
    }
    let (Some(whatsapp_rate), Some(sms_rate), true) = (whatsapp_rate, sms_rate, errors.is_empty()) else { return None };
    Some(TwilioFields { account_sid, whatsapp_from, sms_from, messaging_service_sid, whatsapp_rate, sms_rate, inbound_unknown })
}

pub async fn save_twilio(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<TwilioForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let w = ctx.workspace_id();
    let before = state.db(move |conn| Ok(account::stored(conn, w)?)).await?;
    let mut errors = FormErrors::default();
    let Some(v) = validate(&form, before.is_none(), &mut errors) else {
        return page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(form), errors).await;
    };
    let token = form.auth_token.trim();
    let sealed = (!token.is_empty()).then(|| crypto::seal(&state.at_rest_key, token.as_bytes()));
    let changed = changed_fields(before.as_ref(), &v, sealed.is_some());
    let entry = ctx.audit(Action::TwilioSettingsSaved, "settings", w).after(json!({ "changed": changed }));
    state.db(move |conn| {
        conn.transaction(|tx| {
            // Validation required a token when nothing was saved, so without one the row exists.
            account::save(tx, w, &v, sealed.as_deref())?;
            audit::record(tx, &entry)
        })
        .map_err(AppError::from)
    })
    .await?;
    flash::success(&ctx.session, "Twilio settings saved. Check the connection to make sure they work.");
    Ok(see_other("/settings/twilio"))
}

/// The names of the fields this save changes (the token only as "auth_token", never its value).
fn changed_fields(before: Option<&StoredTwilio>, v: &TwilioFields, token_changed: bool) -> Vec<&'static str> {
    let b = before;
    let fields = [
        ("account_sid", b.is_none_or(|b| b.account_sid != v.account_sid)),
        ("auth_token", token_changed),
        ("whatsapp_from", b.is_none_or(|b| b.whatsapp_from != v.whatsapp_from)),
        ("sms_from", b.is_none_or(|b| b.sms_from != v.sms_from)),
        ("messaging_service_sid", b.is_none_or(|b| b.messaging_service_sid != v.messaging_service_sid)),
        ("whatsapp_rate", b.is_none_or(|b| b.whatsapp_rate != v.whatsapp_rate)),
        ("sms_rate", b.is_none_or(|b| b.sms_rate != v.sms_rate)),
        ("inbound_unknown", b.is_none_or(|b| b.inbound_unknown != v.inbound_unknown)),
    ];
    fields.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name).collect()
}

/// "Check connection": asks the provider for the account with the saved credentials.
pub async fn check_twilio(ctx: Ctx, state: Data<AppState>, providers: Data<Providers>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let w = ctx.workspace_id();
    let key = state.at_rest_key;
    let loaded = state.db(move |conn| Ok(Account::load(conn, &key, w))).await?;
    let (kind, text) = match loaded {
        Ok(None) => ("error", "Save the Account SID and auth token first.".to_string()),
        Err(why) => ("error", why.to_string()),
        Ok(Some(account)) => {
            // The provider's blocking HTTP client is made, used and dropped off the async threads.
            let (settings, providers) = (state.settings.clone(), providers.into_inner());
            let result = web::block(move || providers.for_account(&account, &settings).check()).await.map_err(|e| AppError::Unexpected(anyhow!("connection check failed: {e}")))?;
            match result {
                Ok(info) => ("success", format!("Connected to {} ({}).", info.name, info.status)),
                Err(e) => ("error", format!("Not connected. {e}")),
            }
        }
    };
    flash::push(&ctx.session, kind, text);
    Ok(see_other("/settings/twilio"))
}
