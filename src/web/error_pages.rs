//! The answer to an [`AppError`]: its status, the HTML error page (signed in or not) and the
//! htmx fragment of its message; and the layers that draw the pages other layers leave empty
//! or opaque (a failed database checkout, an unknown address).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::error::AppError;
use crate::web::assets::Assets;

#[derive(Template)]
#[template(path = "errors/page.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub title: &'a str,
    pub message: &'a str,
    pub assets: &'static Assets,
}

impl ErrorPage<'_> {
    /// The full error page. The response keeps its message so that `htmx_errors` can answer
    /// an htmx request with just the message instead.
    pub fn for_status(status: StatusCode, message: &str) -> HttpResponse {
        let title = status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage { status: status.as_u16(), title, message, assets: Assets::get() };
        let body = page.render().unwrap_or_else(|_| format!("{} {title}", status.as_u16()));
        let mut response = HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body);
        response.extensions_mut().insert(ErrorMessage(message.to_string()));
        response
    }
}

/// The message of an error page, carried on its response for `htmx_errors`.
#[derive(Clone, Debug)]
struct ErrorMessage(String);

/// The error's message alone, for the page's flash region.
#[derive(Template)]
#[template(path = "errors/fragment.html")]
struct ErrorFragment<'a> {
    message: &'a str,
}

/// Where an htmx request's error message goes: the flash region of the page that sent it.
pub const ERROR_SLOT: &str = "#flash";

/// Answers an htmx request that failed with the error's message alone, swapped into the
/// page's flash region (`HX-Retarget`/`HX-Reswap`), so the page (a list, its filters and
/// ticks) stays as it was; htmx swaps 422 and 429 and `app.js` shows the others' message in
/// the same region. The address does not change (`HX-Push-Url: false`). Requests without htmx
/// keep the full error page. Wraps every layer that renders error pages.
pub async fn htmx_errors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let htmx = crate::web::htmx::Htmx::from_request(req.request()).request;
    let res = next.call(req).await?;
    let message = if htmx { res.response().extensions().get::<ErrorMessage>().cloned() } else { None };
    let Some(ErrorMessage(message)) = message else { return Ok(res.map_into_left_body()) };
    let (request, page) = res.into_parts();
    let body = ErrorFragment { message: &message }.render().unwrap_or_else(|_| String::new());
    // The page's status and headers (Retry-After, Allow, cookies) with the fragment as body.
    let mut response = page.set_body(body).map_into_boxed_body();
    for (name, value) in [("hx-retarget", ERROR_SLOT), ("hx-reswap", "innerHTML"), ("hx-push-url", "false")] {
        response.headers_mut().insert(header::HeaderName::from_static(name), header::HeaderValue::from_static(value));
    }
    Ok(ServiceResponse::new(request, response).map_into_right_body())
}

/// The error page of a signed-in person keeps the navigation, their name and Sign out
/// (issue 19: a 404, 403 or 500 left only "Back to Switchboard"). Answers with the same
/// status, headers and message (so `htmx_errors` still finds it); signed-out visitors keep
/// the plain page. Wraps the routes inside the session layer; also draws the empty 404 of
/// an unknown address, which the outer `empty_error_pages` would draw plain.
pub async fn signed_in_error_pages<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    use actix_session::SessionExt;
    let session = req.get_session();
    let res = next.call(req).await?;
    let status = res.status();
    let empty = matches!(res.response().body().size(), actix_web::body::BodySize::Sized(0) | actix_web::body::BodySize::None);
    let carried = res.response().extensions().get::<ErrorMessage>().cloned();
    let message = match carried {
        Some(ErrorMessage(m)) => m,
        None if empty && (status.is_client_error() || status.is_server_error()) => crate::web::headers::default_message(status).to_string(),
        None => return Ok(res.map_into_left_body()),
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let Some(layout) = crate::web::ctx::Layout::signed_in(&session, format!("{} {title}", status.as_u16())) else {
        return Ok(res.map_into_left_body());
    };
    let Ok(body) = (SignedInErrorPage { layout, title, message: &message }).render() else { return Ok(res.map_into_left_body()) };
    let (request, page) = res.into_parts();
    let mut response = page.set_body(body).map_into_boxed_body();
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    response.extensions_mut().insert(ErrorMessage(message));
    Ok(ServiceResponse::new(request, response).map_into_right_body())
}

#[derive(Template)]
#[template(path = "errors/signed_in.html")]
struct SignedInErrorPage<'a> {
    layout: crate::web::ctx::Layout,
    title: &'a str,
    message: &'a str,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Unauthorized { htmx: true } => {
                return HttpResponse::Ok().insert_header(("HX-Redirect", "/login")).finish();
            }
            Self::Unauthorized { htmx: false } => {
                return HttpResponse::Found().insert_header((header::LOCATION, "/login")).finish();
            }
            Self::Unexpected(e) => tracing::error!(error = ?e, "request failed"),
            Self::Unavailable => tracing::warn!("answering 503: database unavailable"),
            _ => {}
        }
        let message = match self {
            Self::NotFound => "The page or record you asked for does not exist.".to_string(),
            Self::Unexpected(_) => "Something went wrong on our side. It has been logged; please try again.".to_string(),
            Self::Unavailable => "The database is not reachable right now. Please try again in a moment.".to_string(),
            other => other.to_string(),
        };
        let mut response = ErrorPage::for_status(status, &message);
        let retry_after = match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::Unavailable => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

/// `Retry-After` of a 503: about one pool checkout timeout.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// Answers 503 with `Retry-After` when a database checkout failed during the request and a
/// layer outside the handlers reported it as an opaque error: actix-session turns any store
/// failure (the pool exhausted while loading or saving the session) into an empty 500.
/// Wraps the session middleware.
pub async fn checkout_failures<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let (result, unavailable) = crate::db::watch_checkouts(next.call(req)).await;
    match result {
        Ok(res) if unavailable && res.status() == StatusCode::INTERNAL_SERVER_ERROR => {
            let (request, _) = res.into_parts();
            Ok(ServiceResponse::new(request, AppError::Unavailable.error_response()).map_into_right_body())
        }
        Ok(res) => Ok(res.map_into_left_body()),
        // The session layer's error carries no request to answer with; the server renders
        // this one's page.
        Err(_) if unavailable => Err(AppError::Unavailable.into()),
        Err(e) => Err(e),
    }
}
