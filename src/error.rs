//! One error type for every handler. It picks the status and renders an HTML error page;
//! unexpected errors show an opaque message and log the full chain.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::web::assets::Assets;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// Not signed in (or the session ended): the caller is sent to the login page.
    #[error("sign-in required")]
    Unauthorized { htmx: bool },
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Validation(String),
    #[error("too many attempts; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("the database is unavailable")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl AppError {
    pub fn forbidden() -> Self {
        Self::Forbidden("You do not have permission to do that.".into())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound,
            other => Self::Unexpected(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("template rendering failed"))
    }
}

#[derive(Template)]
#[template(path = "errors/page.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub title: &'a str,
    pub message: &'a str,
    pub assets: &'static Assets,
}

impl ErrorPage<'_> {
    pub fn for_status(status: StatusCode, message: &str) -> HttpResponse {
        let title = status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage { status: status.as_u16(), title, message, assets: Assets::get() };
        let body = page.render().unwrap_or_else(|_| format!("{} {title}", status.as_u16()));
        HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body)
    }
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
        if let Self::RateLimited { retry_after } = self {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after));
        }
        response
    }
}
