//! Twilio's webhooks (issue 11 parts 5 and 6): `POST /webhooks/twilio/{workspace_key}/status`
//! and `/inbound`. Public routes: no session is read or created, the CSRF check skips them
//! (`web::csrf::exempt`), and the body is at most `web::state::MAX_FORM_BYTES` (413 past it).
//!
//! Every request is first proven Twilio's: the key names a workspace with Twilio settings,
//! and `X-Twilio-Signature` is the HMAC of the URL Twilio called (`SWITCHBOARD_PUBLIC_URL`,
//! else the scheme and `Host` this request came in with, then path and query as sent)
//! and the decoded form parameters, under that workspace's auth token, in any spelling one
//! of Twilio's helper libraries accepts (HMAC-SHA256 under
//! `X-Twilio-Webhooks-Signature-Settings`, a JSON body by its `bodySHA256`: see
//! [`signature`]). Anything else is a 403 with a short reason, before anything is written.
//! The body is read raw and decoded with `url::form_urlencoded` (an inbound text may hold
//! characters `HtmlForm` refuses); a JSON body signed by its `bodySHA256` gives its
//! top-level fields instead.
//!
//! Both answer at once: a status callback is one indexed update (`store::apply_status`),
//! an inbound message one short transaction (`inbound::record`, with the consumers
//! registered at start-up, `registry::inbound`).

use actix_web::http::header;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};

use crate::config::Settings;
use crate::error::AppError;
use crate::messaging::account;
use crate::messaging::inbound::{self, Consumers, Recorded, UnknownNumbers};
use crate::messaging::store::{self, Applied};
use crate::messaging::twilio::{signature, webhook};
use crate::web::state::AppState;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// An empty TwiML answer: "received, nothing to reply".
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// Longest workspace key looked up (they are 32 hex characters).
const MAX_KEY_LEN: usize = 128;

/// A request proven to come from the workspace's Twilio account.
struct Verified {
    workspace_id: i64,
    unknown: UnknownNumbers,
    params: Vec<(String, String)>,
}

pub async fn status(req: HttpRequest, key: Path<String>, body: Bytes, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let verified = match verify(&req, key.into_inner(), &body, &state, "status").await? {
        Ok(verified) => verified,
        Err(refused) => return Ok(refused),
    };
    let workspace_id = verified.workspace_id;
    let report = match webhook::status_report(&verified.params) {
        Ok(report) => report,
        Err(reason) => {
            tracing::info!(workspace_id, webhook = "status", reason = %reason, "twilio webhook: malformed");
            return Ok(plain(HttpResponse::BadRequest(), &reason.to_string()));
        }
    };
    let (sid, status) = (report.provider_id.clone(), report.status);
    let applied = state.db(move |conn| Ok(store::apply_status(conn, workspace_id, &report)?)).await?;
    let outcome = match applied {
        Applied::Moved => "moved",
        Applied::Unchanged => "unchanged",
        Applied::Kept => "kept until the send is recorded",
        Applied::Refused => "refused: an inbound-only status for an outbound message, nothing changed",
    };
    tracing::info!(workspace_id, webhook = "status", sid = %sid, status = status.as_str(), outcome, "twilio webhook");
    // A refused status is still answered with a success, so Twilio does not retry it.
    Ok(if applied == Applied::Refused { plain(HttpResponse::Ok(), "Inbound-only status ignored for an outbound message.") } else { HttpResponse::NoContent().finish() })
}

pub async fn inbound(req: HttpRequest, key: Path<String>, body: Bytes, state: Data<AppState>, consumers: Data<Consumers>) -> Result<HttpResponse, AppError> {
    let verified = match verify(&req, key.into_inner(), &body, &state, "inbound").await? {
        Ok(verified) => verified,
        Err(refused) => return Ok(refused),
    };
    let workspace_id = verified.workspace_id;
    let message = match webhook::inbound_message(&verified.params) {
        Ok(message) => message,
        Err(reason) => {
            tracing::info!(workspace_id, webhook = "inbound", reason = %reason, "twilio webhook: malformed");
            return Ok(plain(HttpResponse::BadRequest(), &reason.to_string()));
        }
    };
    let (sid, channel) = (message.provider_id.clone(), message.channel);
    let now = state.clock.now();
    let unknown = verified.unknown;
    let recorded = state.db(move |conn| Ok(inbound::record(conn, &consumers, workspace_id, unknown, &message, now)?)).await?;
    let outcome = match &recorded {
        Recorded::Stored { created_client: true, .. } => "stored, client created",
        Recorded::Stored { opt: Some(inbound::Keyword::OptOut), .. } => "stored, opted out",
        Recorded::Stored { opt: Some(inbound::Keyword::OptIn), .. } => "stored, opted back in",
        Recorded::Stored { .. } => "stored",
        Recorded::Duplicate => "duplicate",
        Recorded::Ignored => "ignored (unknown number)",
    };
    tracing::info!(workspace_id, webhook = "inbound", sid = %sid, channel = channel.as_str(), outcome, "twilio webhook");
    Ok(HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(EMPTY_TWIML))
}

/// The workspace and its form parameters when the request is signed by its Twilio account;
/// otherwise the 403 to answer (nothing written).
async fn verify(req: &HttpRequest, key: String, body: &Bytes, state: &Data<AppState>, kind: &'static str) -> Result<Result<Verified, HttpResponse>, AppError> {
    let refuse = |reason: &str| {
        tracing::info!(webhook = kind, reason, "twilio webhook refused");
        Ok(Err(plain(HttpResponse::Forbidden(), reason)))
    };
    let Some(given) = req.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        return refuse("X-Twilio-Signature is missing.");
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return refuse("Unknown webhook key.");
    }
    let at_rest_key = state.at_rest_key;
    let found = state.db(move |conn| Ok(account::for_webhook(conn, &at_rest_key, &key)?)).await?;
    let (workspace_id, account) = match found {
        None => return refuse("Unknown webhook key."),
        Some((_, None)) => return refuse("Twilio is not set up for this workspace."),
        Some((workspace_id, Some(Err(reason)))) => {
            tracing::warn!(workspace_id, reason = %reason, "twilio webhook: the auth token cannot be opened");
            return refuse("The workspace's Twilio auth token cannot be read.");
        }
        Some((workspace_id, Some(Ok(account)))) => (workspace_id, account),
    };
    let url = request_url(req, &state.settings);
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let settings = req.headers().get(signature::SETTINGS_HEADER).and_then(|v| v.to_str().ok());
    let signed = signature::Signed { url: &url, params: &params, body, settings };
    if !signature::verify_request(account.token(), &signed, &given) {
        let reason = if settings.is_some() && signature::Algorithm::from_settings(settings).is_none() {
            "X-Twilio-Signature does not match (X-Twilio-Webhooks-Signature-Settings names an algorithm other than HMAC_SHA1 or HMAC_SHA256)."
        } else {
            "X-Twilio-Signature does not match."
        };
        tracing::info!(workspace_id, webhook = kind, "twilio webhook refused: the signature does not match");
        return Ok(Err(plain(HttpResponse::Forbidden(), reason)));
    }
    let params = if signature::body_sha256(&url).is_some() { json_params(body).unwrap_or(params) } else { params };
    Ok(Ok(Verified { workspace_id, unknown: UnknownNumbers::parse(&account.stored.inbound_unknown), params }))
}

/// A JSON object body's top-level fields as parameters (text as is, numbers and booleans
/// written out, an array's scalars as a repeated name); `None` for any other body.
fn json_params(body: &[u8]) -> Option<Vec<(String, String)>> {
    let serde_json::Value::Object(fields) = serde_json::from_slice(body).ok()? else { return None };
    let scalar = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Some(value.to_string()),
        _ => None,
    };
    let mut params = Vec::new();
    for (name, value) in &fields {
        match value {
            serde_json::Value::Array(items) => params.extend(items.iter().filter_map(scalar).map(|v| (name.clone(), v))),
            other => params.extend(scalar(other).map(|v| (name.clone(), v))),
        }
    }
    Some(params)
}

/// The URL Twilio signed: `SWITCHBOARD_PUBLIC_URL` (what it was given) with this request's
/// path and query, else this connection's scheme and `Host`. Forwarded headers are not
/// believed here (no proxy rule covers them yet): set `SWITCHBOARD_PUBLIC_URL` behind a proxy.
pub fn request_url(req: &HttpRequest, settings: &Settings) -> String {
    let target = req.uri().path_and_query().map_or_else(|| req.path().to_string(), |pq| pq.as_str().to_string());
    match &settings.public_url {
        Some(base) => format!("{}{target}", base.as_str().trim_end_matches('/')),
        None => {
            let scheme = if req.app_config().secure() { "https" } else { "http" };
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
                .or_else(|| req.uri().authority().map(|a| a.to_string()))
                .unwrap_or_else(|| req.app_config().host().to_string());
            format!("{scheme}://{host}{target}")
        }
    }
}

fn plain(mut builder: actix_web::HttpResponseBuilder, reason: &str) -> HttpResponse {
    builder.content_type("text/plain; charset=utf-8").body(reason.to_string())
}
