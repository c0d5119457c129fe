//! Structured logs: JSON lines when not on a terminal, readable text when on one.
//! `RUST_LOG` sets the level (default `info`).
//!
//! Every request runs in one span (method, route, path, status, request id) and ends with
//! one event whose level says how unusual it was: ERROR for a 5xx, INFO for a 4xx, DEBUG
//! otherwise (a signed-out visitor sent to `/login` is routine). Paths that carry a secret
//! (`/password/reset/{token}`, `/invitations/{token}`, a `csrf_token` query parameter) are
//! logged with the secret cut out.

use std::io::IsTerminal;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if std::io::stderr().is_terminal() { builder.try_init() } else { builder.json().try_init() };
}

/// What replaces a secret in a logged path.
pub const REDACTED: &str = "[redacted]";

/// Path prefixes whose rest is a secret token.
const SECRET_PATHS: [&str; 2] = ["/password/reset/", "/invitations/"];
/// Query parameters that are secrets.
const SECRET_PARAMS: [&str; 1] = ["csrf_token"];

/// A path (and query) fit for the log.
pub fn redact_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut out = match SECRET_PATHS.iter().find(|prefix| path.len() > prefix.len() && path.starts_with(*prefix)) {
        Some(prefix) => format!("{prefix}{REDACTED}"),
        None => path.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if SECRET_PARAMS.contains(&name) => format!("{name}={REDACTED}"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// The root span of every request, for `TracingLogger`.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = redact_target(request.uri().path_and_query().map_or("", |p| p.as_str()));
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let request_id = request.extensions().get::<RequestId>().map(|id| id.to_string()).unwrap_or_default();
        let user_agent = request.headers().get("User-Agent").and_then(|v| v.to_str().ok()).unwrap_or("");
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %target,
            http.client_ip = %request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error().map(|e| e.to_string())),
            Err(e) => (e.as_response_error().status_code(), Some(e.to_string())),
        };
        span.record("http.status_code", status.as_u16());
        if let Some(error) = &error {
            span.record("exception.message", error.as_str());
        }
        let status = status.as_u16();
        let error = error.as_deref();
        match status {
            500.. => tracing::error!(status, error, "request failed"),
            400..500 => tracing::info!(status, error, "request refused"),
            _ => tracing::debug!(status, "request done"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_paths_and_queries_are_cut_out() {
        for (target, logged) in [
            ("/password/reset/3f9a0c", "/password/reset/[redacted]"),
            ("/invitations/3f9a0c", "/invitations/[redacted]"),
            ("/invitations/3f9a0c/extra?x=1", "/invitations/[redacted]?x=1"),
            ("/password/reset/", "/password/reset/"),
            ("/password/forgot", "/password/forgot"),
            ("/clients/import?csrf_token=abc", "/clients/import?csrf_token=[redacted]"),
            ("/clients?q=ann&csrf_token=abc&page=2", "/clients?q=ann&csrf_token=[redacted]&page=2"),
            ("/clients?q=csrf_token", "/clients?q=csrf_token"),
            ("/clients/12", "/clients/12"),
        ] {
            assert_eq!(redact_target(target), logged, "{target}");
        }
    }
}
