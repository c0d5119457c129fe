//! What every request handler shares: the pool, the clock, the settings, the at-rest key and
//! the body limits of the route table. Built once at start-up (`startup`), read through
//! `web::Data<AppState>`.

use actix_web::dev::ResourceDef;

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{self, Pool};
use crate::error::AppError;

pub struct AppState {
    pub pool: Pool,
    pub clock: Clock,
    pub settings: Settings,
    /// Seals secrets stored in the database (see `crypto`).
    pub at_rest_key: [u8; 32],
    /// The largest form each route accepts (`routes::form_limits`).
    pub form_limits: FormLimits,
}

/// Largest urlencoded form or JSON body accepted (413 past it), unless the route table gives
/// a resource more (`routes::form_limits`).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The body limit of a posted form: [`MAX_FORM_BYTES`], and larger ones for the resources the
/// route table names. Read before routing (the CSRF check reads the form), so it matches the
/// path itself instead of relying on the resource's own configuration.
#[derive(Clone, Debug, Default)]
pub struct FormLimits {
    larger: Vec<(ResourceDef, usize)>,
}

impl AppState {
    /// Runs `f` with a pooled connection off the actix workers ([`db::run`]), its errors
    /// the page's.
    pub async fn db<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut diesel::PgConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        db::run(&self.pool, f).await
    }
}

impl FormLimits {
    /// `limit` for the paths that match `pattern` (a route pattern such as
    /// `/campaigns/{id:\d+}/emails`).
    pub fn with(mut self, pattern: &str, limit: usize) -> Self {
        self.larger.push((ResourceDef::new(pattern), limit));
        self
    }

    /// The limit of a form posted to `path`.
    pub fn of(&self, path: &str) -> usize {
        self.larger.iter().find(|(def, _)| def.is_match(path)).map_or(MAX_FORM_BYTES, |&(_, limit)| limit)
    }
}

/// The form limit of a request to `path`, from the app's state (the default where a bare
/// service has none).
pub fn form_limit(state: Option<&actix_web::web::Data<AppState>>, path: &str) -> usize {
    state.map_or(MAX_FORM_BYTES, |state| state.form_limits.of(path))
}
