//! CSRF protection for every state-changing request: a per-session token sent as the
//! `csrf_token` form field or the `X-CSRF-Token` header, plus Origin / Sec-Fetch-Site checks.
//! A multipart upload carries the field first, before the file; a token is never read from
//! the query string (URLs end up in logs, history and Referer headers). A visitor's session,
//! and so the sign-in form's token, lives in the signed session cookie (`session_store`).

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Poll;

use actix_session::{Session, SessionExt};
use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use futures_util::{StreamExt, TryStreamExt};
use subtle::ConstantTimeEq;

use crate::web::error_pages::ErrorPage;
use crate::web::state::AppState;
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

/// Requests no browser session drives, so no CSRF token: a POST to one of the signed
/// webhook routes (`/webhooks/twilio/{key}/status`, `/webhooks/twilio/{key}/inbound`,
/// `/webhooks/meta/{key}`), and an `/api/v1/` request that carries `Authorization: Bearer`
/// (a header no cross-site form can send); and `POST /unsubscribe/{token}`, the one-click
/// unsubscribe of campaign emails (issue 12). Anything else under those prefixes, a route
/// signed in by cookie included, is checked like every other.
fn exempt(method: &Method, path: &str, authorization: Option<&str>) -> bool {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let webhook = *method == Method::POST
        && match segments.as_slice() {
            ["webhooks", "twilio", key, "status" | "inbound"] | ["webhooks", "meta", key] => !key.is_empty(),
            // A campaign email's one-click unsubscribe (RFC 8058): the mail provider POSTs
            // with no session; the token is the client's HMAC and does nothing else.
            ["unsubscribe", token] => !token.is_empty(),
            _ => false,
        };
    let bearer = authorization
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty());
    webhook || (path.starts_with("/api/v1/") && bearer)
}

pub async fn protect<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || exempt(req.method(), req.path(), authorization) {
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
            // Read within this route's form limit (the resource's own payload limit is not
            // known yet: this runs before routing).
            let limit = crate::web::state::form_limit(req.app_data(), req.path());
            let body = match crate::web::forms::read_limited(req.take_payload(), crate::web::forms::declared_length(req.headers()), limit).await {
                Ok(body) => body,
                Err(e) => {
                    let (status, message) = match e {
                        crate::web::forms::BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
                        crate::web::forms::BodyError::Broken => (StatusCode::BAD_REQUEST, "The form could not be read."),
                    };
                    let response = ErrorPage::for_status(status, message);
                    return Ok(req.into_response(response).map_into_right_body());
                }
            };
            provided = form_field(&body, FORM_FIELD);
            req.set_payload(body.into());
        } else if content_type.starts_with("multipart/form-data") {
            provided = first_multipart_field(&mut req).await;
        }
    }
    match (expected, provided) {
        (Some(expected), Some(provided)) if bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) => {
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        _ => Ok(refuse(req, "The form has expired or did not come from this site. Reload the page and try again.")),
    }
}

/// Most bytes read to find the token at the head of a multipart body.
const MULTIPART_HEAD_BYTES: usize = 64 * 1024;

/// The `csrf_token` field when it is the first part of a multipart body (upload forms put
/// the hidden field before the file input). The bytes read to find it are put back in front
/// of the rest of the body, so the handler still streams the whole of it.
async fn first_multipart_field(req: &mut ServiceRequest) -> Option<String> {
    let body = Rc::new(RefCell::new(Some(req.take_payload())));
    let read: Rc<RefCell<Vec<Bytes>>> = Rc::default();
    let tee = {
        let (body, read) = (body.clone(), read.clone());
        let mut total = 0;
        futures_util::stream::poll_fn(move |cx| {
            if total > MULTIPART_HEAD_BYTES {
                return Poll::Ready(Some(Err(PayloadError::Overflow)));
            }
            let mut body = body.borrow_mut();
            let Some(body) = body.as_mut() else { return Poll::Ready(None) };
            let next = body.poll_next_unpin(cx);
            if let Poll::Ready(Some(Ok(bytes))) = &next {
                total += bytes.len();
                read.borrow_mut().push(bytes.clone());
            }
            next
        })
    };
    let mut multipart = actix_multipart::Multipart::new(req.headers(), tee);
    let token = async {
        let mut field = multipart.try_next().await.ok()??;
        if field.name() != Some(FORM_FIELD) {
            return None;
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.try_next().await.ok()? {
            value.extend_from_slice(&chunk);
            if value.len() > 256 {
                return None;
            }
        }
        String::from_utf8(value).ok()
    }
    .await;
    drop(multipart);
    let rest = body.borrow_mut().take().unwrap_or(Payload::None);
    let head: Vec<Result<Bytes, PayloadError>> = read.take().into_iter().map(Ok).collect();
    let whole: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(futures_util::stream::iter(head).chain(rest));
    req.set_payload(Payload::from(whole));
    token
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn refuse<B>(req: ServiceRequest, reason: &str) -> ServiceResponse<EitherBody<B>> {
    tracing::warn!(path = %crate::telemetry::redact_target(req.path()), reason, "refused a state-changing request");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signed_webhooks_and_bearer_api_requests_skip_the_check() {
        let post = Method::POST;
        for (method, path, auth, skipped) in [
            (&post, "/webhooks/twilio/k3y/status", None, true),
            (&post, "/webhooks/twilio/k3y/inbound", None, true),
            (&post, "/webhooks/meta/k3y", None, true),
            (&post, "/webhooks/twilio//status", None, false),
            (&post, "/webhooks/twilio/k3y/status/", None, false),
            (&post, "/webhooks/twilio/k3y/other", None, false),
            (&post, "/webhooks/meta/k3y/extra", None, false),
            (&post, "/webhooks/meta/", None, false),
            (&post, "/webhooks/settings", None, false),
            (&post, "/unsubscribe/7.42.00ff", None, true),
            (&post, "/unsubscribe/", None, false),
            (&post, "/unsubscribe/7.42.00ff/x", None, false),
            (&Method::DELETE, "/webhooks/meta/k3y", None, false),
            (&post, "/api/v1/clients", Some("Bearer sb_123"), true),
            (&Method::DELETE, "/api/v1/clients/1", Some("bearer sb_123"), true),
            (&post, "/api/v1/clients", None, false),
            (&post, "/api/v1/clients", Some("Bearer "), false),
            (&post, "/api/v1/clients", Some("Basic eDp5"), false),
            (&post, "/api/v2/clients", Some("Bearer sb_123"), false),
            (&post, "/api/tokens", Some("Bearer sb_123"), false),
            (&post, "/clients", Some("Bearer sb_123"), false),
        ] {
            assert_eq!(exempt(method, path, auth), skipped, "{method} {path} {auth:?}");
        }
    }
}
