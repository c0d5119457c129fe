//! Security headers on every response, and the request id echoed back.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::HttpMessage;
use tracing_actix_web::RequestId;

/// Scripts only from our own origin (no inline script, no eval); htmx runs with
/// `allowEval: false` and without its injected indicator styles.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

pub fn security_headers(https: bool) -> DefaultHeaders {
    let mut headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))
        // Pages hold personal data: never cache them (assets set their own header).
        .add(("Cache-Control", "no-store"))
        // The same URL answers a full page or an htmx fragment.
        .add(("Vary", "HX-Request"));
    if https {
        headers = headers.add(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"));
    }
    headers
}

pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// Responses that carry no body (the router's 404 and 405, extractor errors) get the same
/// readable error page as everything else.
pub fn empty_error_pages<B: MessageBody + 'static>() -> actix_web::middleware::ErrorHandlers<B> {
    actix_web::middleware::ErrorHandlers::new()
        .default_handler_client(render_if_empty)
        .default_handler_server(render_if_empty)
}

/// What an error page without a message of its own says.
pub fn default_message(status: actix_web::http::StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "The page or record you asked for does not exist.",
        405 => "This address does not accept that kind of request.",
        413 => "The request is too large.",
        _ => "The request could not be handled.",
    }
}

fn render_if_empty<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::body::BodySize;
    use actix_web::middleware::ErrorHandlerResponse;
    if !matches!(res.response().body().size(), BodySize::Sized(0) | BodySize::None) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = default_message(status);
    let allow = res.headers().get(actix_web::http::header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut page = crate::web::error_pages::ErrorPage::for_status(status, message);
    if let Some(allow) = allow {
        page.headers_mut().insert(actix_web::http::header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, page).map_into_right_body()))
}
