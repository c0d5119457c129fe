//! One error type for every handler and the model functions they call. Which status and
//! page answer each kind is `web::error_pages`' business; unexpected errors show an opaque
//! message there and log the full chain.

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

impl From<crate::db::RunError> for AppError {
    fn from(e: crate::db::RunError) -> Self {
        match e {
            crate::db::RunError::Unavailable => Self::Unavailable,
            other => Self::Unexpected(anyhow::Error::new(other)),
        }
    }
}
