//! CSRF protection for every state-changing request: a per-session token sent as the
//! `csrf_token` form field or the `X-CSRF-Token` header, plus Origin / Sec-Fetch-Site checks.

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use subtle::ConstantTimeEq;

use crate::error::ErrorPage;
use crate::startup::AppState;
use crate::web::session::CSRF;

pub const FORM_FIELD: &str = "csrf_token";
pub const HEADER: &str = "X-CSRF-Token";

/// The session's token, created on first use.
pub fn token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    let token = crate::crypto::random_hex(32);
    // Inserting a String into the session cannot fail to serialise.
    let _ = session.insert(CSRF, &token);
    token
}

/// Paths that are not driven by a browser session (signed webhooks, token-auth API).
fn exempt(path: &str) -> bool {
    path.starts_with("/webhooks/") || path.starts_with("/api/")
}

pub async fn protect<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || exempt(req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    if let Err(reason) = check_origin(&req) {
        return Ok(refuse(req, reason));
    }
    let expected = req.get_session().get::<String>(CSRF).ok().flatten();
    let mut provided = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if provided.is_none() {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let body = match req.extract::<Bytes>().await {
                Ok(body) => body,
                Err(e) => {
                    let status = e.as_response_error().status_code();
                    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                        "The form is too large."
                    } else {
                        "The form could not be read."
                    };
                    let response = ErrorPage::for_status(status, message);
                    return Ok(req.into_response(response).map_into_right_body());
                }
            };
            provided = form_field(&body, FORM_FIELD);
            req.set_payload(body.into());
        } else if content_type.starts_with("multipart/form-data") {
            // Multipart bodies are streamed to their handler; plain upload forms carry the
            // token in the action URL's query string instead.
            provided = form_field(req.query_string().as_bytes(), FORM_FIELD);
        }
    }
    match (expected, provided) {
        (Some(expected), Some(provided)) if bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) => {
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        _ => Ok(refuse(req, "The form has expired or did not come from this site. Reload the page and try again.")),
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn refuse<B>(req: ServiceRequest, reason: &str) -> ServiceResponse<EitherBody<B>> {
    tracing::warn!(path = req.path(), reason, "refused a state-changing request");
    req.into_response(ErrorPage::for_status(StatusCode::FORBIDDEN, reason)).map_into_right_body()
}

/// Browsers say where a request came from; anything but this site is refused.
fn check_origin(req: &ServiceRequest) -> Result<(), &'static str> {
    let cross_site = "Cross-site requests are not allowed.";
    if let Some(site) = req.headers().get("Sec-Fetch-Site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(cross_site);
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin != own_origin(req) {
            return Err(cross_site);
        }
    }
    Ok(())
}

fn own_origin(req: &ServiceRequest) -> String {
    if let Some(state) = req.app_data::<Data<AppState>>() {
        if let Some(url) = &state.settings.public_url {
            return url.origin().ascii_serialization();
        }
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}
