//! Builds the application: database (own cluster or `DATABASE_URL`), migrations, secret key,
//! listener and HTTP server. `main` and the tests use the same path.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_web::cookie::{Key, SameSite, time::Duration};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tracing_actix_web::TracingLogger;

use crate::auth::session_store::PgSessionStore;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::local_cluster::{ClusterOptions, DB_NAME, LocalCluster};
use crate::db::{self, Pool};
use crate::jobs::Registry;
use crate::jobs::run::JobEnv;
use crate::jobs::worker::{Options, Workers};
use crate::messaging::Providers;
use crate::{crypto, registry, routes, web as sbweb};
use std::sync::Arc;

use crate::web::state::AppState;

/// The database the app talks to, and the private cluster behind it when there is one.
pub struct Database {
    pub url: SecretString,
    pub cluster: Option<LocalCluster>,
}

impl Database {
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.database_url {
            Some(url) => Ok(Self { url: url.clone(), cluster: None }),
            None => {
                let cluster = LocalCluster::start(&settings.data_dir, settings.pg_bin.as_deref(), &ClusterOptions::app())?;
                Ok(Self { url: SecretString::from(cluster.url(DB_NAME)), cluster: Some(cluster) })
            }
        }
    }

    /// Pool plus pending migrations applied.
    pub fn connect_and_migrate(&self, pool_size: u32) -> anyhow::Result<Pool> {
        let pool = db::connect(self.url.expose_secret(), pool_size).map_err(|e| {
            let hint = if self.cluster.is_some() { "the private cluster" } else { "DATABASE_URL" };
            anyhow::anyhow!("{e:#} ({hint})")
        })?;
        let mut conn = pool.get().context("cannot get a database connection")?;
        let applied = db::migrate::run_pending(&mut conn)?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        Ok(pool)
    }
}

pub struct Application {
    port: u16,
    server: Server,
    pub pool: Pool,
    pub resources: Resources,
}

/// What runs beside the HTTP server: the job workers (stopped first) and the database
/// (the private cluster stops when this is dropped).
pub struct Resources {
    pub workers: Option<Workers>,
    /// The live-event listener (stopped first, with its streams ended).
    pub events: Option<crate::events::listener::Listener>,
    pub hub: Option<Arc<crate::events::hub::Hub>>,
    pub database: Database,
}

impl Resources {
    /// Stops the workers (letting running jobs finish), then the private cluster.
    pub fn shutdown(mut self) {
        if let Some(hub) = self.hub.take() {
            hub.close_all();
        }
        if let Some(mut listener) = self.events.take() {
            listener.stop();
        }
        if let Some(mut workers) = self.workers.take() {
            workers.stop();
        }
        drop(self.database);
    }
}

/// The job environment for `database`.
pub fn job_env(pool: Pool, database: &Database, settings: &Settings, clock: Clock) -> anyhow::Result<Arc<JobEnv>> {
    let secret = secret_bytes(settings)?;
    Ok(Arc::new(JobEnv { pool, database_url: database.url.clone(), settings: settings.clone(), clock, at_rest_key: crypto::derive(&secret) }))
}

impl Application {
    /// The application, sending through Twilio.
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        Application::build_with(settings, clock, Providers::default()).await
    }

    /// The application, its messages sent through `providers` (the tests' in-process double).
    pub async fn build_with(settings: Settings, clock: Clock, providers: Providers) -> anyhow::Result<Self> {
        // Bind first: a busy port should fail before anything else starts.
        let listener = TcpListener::bind(settings.addr).map_err(|e| {
            anyhow::anyhow!("cannot listen on SWITCHBOARD_ADDR={}: {e} (is another program using the port?)", settings.addr)
        })?;
        let port = listener.local_addr()?.port();
        // The real address (port 0 picks one): links and webhook URLs without a public URL use it.
        let mut settings = settings;
        settings.addr = listener.local_addr()?;
        let open_settings = settings.clone();
        let database = tokio::task::spawn_blocking(move || Database::open(&open_settings)).await??;
        let pool_size = settings.pool_size;
        let (pool, database) = tokio::task::spawn_blocking(move || database.connect_and_migrate(pool_size).map(|p| (p, database))).await??;
        let secret = secret_bytes(&settings)?;
        let key = Key::derive_from(&secret);
        let at_rest_key = crypto::derive(&secret);
        // The job kinds and scheduled work the features registered: the workers run them,
        // the jobs page asks them whether a job may run again.
        let registry = Arc::new(registry::jobs_with(&providers));
        let workers = (settings.job_workers > 0)
            .then(|| {
                job_env(pool.clone(), &database, &settings, clock.clone()).map(|env| Workers::start(env, registry.clone(), Options::from_settings(&settings)))
            })
            .transpose()?;
        let hub = Arc::new(crate::events::hub::Hub::new(settings.max_streams));
        let events = crate::events::listener::Listener::start(database.url.clone(), hub.clone())?;
        let state = AppState { pool: pool.clone(), clock, settings, at_rest_key, form_limits: routes::form_limits() };
        let server = run(listener, state, key, hub.clone(), registry, providers)?;
        Ok(Self { port, server, pool, resources: Resources { workers, events: Some(events), hub: Some(hub), database } })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (actix finishes in-flight requests first).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application { server, resources, .. } = self;
        let result = server.await;
        tokio::task::spawn_blocking(move || resources.shutdown()).await.ok();
        result
    }

    /// Serves until stopped, handing back the workers and database so the caller decides
    /// when they stop.
    pub fn into_parts(self) -> (Server, Resources) {
        (self.server, self.resources)
    }
}

/// `SWITCHBOARD_SECRET_KEY`, or a key generated once into `data_dir/secret_key` (mode 0600).
/// The cookie key and the at-rest key are both derived from it.
pub fn secret_bytes(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    match &settings.secret_key {
        Some(secret) => Ok(secret.expose_secret().as_bytes().to_vec()),
        None => load_or_create_secret(&settings.data_dir),
    }
}

fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("secret_key");
    if let Ok(existing) = fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing.into_bytes());
        }
    }
    fs::create_dir_all(data_dir).with_context(|| format!("SWITCHBOARD_DATA_DIR={} is not usable", data_dir.display()))?;
    let secret = crypto::random_hex(64);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    tracing::info!(path = %path.display(), "generated a new secret key");
    Ok(secret.into_bytes())
}

/// The HTTP server over `state` and what else the handlers share: the live-event hub, the
/// job registry (the jobs page), the inbound consumers (the webhook), the client list's
/// bulk actions of other features and the messaging providers (the connection check).
fn run(
    listener: TcpListener,
    state: AppState,
    key: Key,
    hub: Arc<crate::events::hub::Hub>,
    registry: Arc<Registry>,
    providers: Providers,
) -> anyhow::Result<Server> {
    let hub = web::Data::new(hub);
    let inbound = web::Data::new(crate::registry::inbound());
    let bulk_actions = web::Data::new(crate::registry::client_bulk_actions());
    let providers = web::Data::new(providers);
    let registry = web::Data::from(registry);
    let secure = state.settings.secure_cookies();
    let http_workers = state.settings.http_workers;
    let store = PgSessionStore::new(state.pool.clone(), state.clock.clone());
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        let session = SessionMiddleware::builder(store.clone(), key.clone())
            .cookie_name(if secure { "__Host-switchboard".into() } else { "switchboard".into() })
            .cookie_secure(secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".into())
            .cookie_content_security(CookieContentSecurity::Signed)
            .session_lifecycle(BrowserSession::default().state_ttl(Duration::hours(12)))
            .build();
        App::new()
            .app_data(state.clone())
            .app_data(hub.clone())
            .app_data(inbound.clone())
            .app_data(bulk_actions.clone())
            .app_data(providers.clone())
            .app_data(registry.clone())
            .app_data(web::PayloadConfig::new(sbweb::state::MAX_FORM_BYTES))
            // Handlers read forms and queries through web::forms (control characters refused
            // there); should actix's own extractors run, their errors still get the plain page.
            .app_data(web::FormConfig::default().limit(sbweb::state::MAX_FORM_BYTES).error_handler(|_, _| crate::error::AppError::BadRequest(sbweb::forms::UNREADABLE_FORM.into()).into()))
            .app_data(web::JsonConfig::default().limit(sbweb::state::MAX_FORM_BYTES))
            .app_data(web::PathConfig::default().error_handler(|_, _| crate::error::AppError::NotFound.into()))
            .app_data(web::QueryConfig::default().error_handler(|_, _| crate::error::AppError::BadRequest(sbweb::forms::UNREADABLE_QUERY.into()).into()))
            .configure(routes::configure)
            .wrap(from_fn(sbweb::csrf::protect))
            .wrap(from_fn(sbweb::error_pages::signed_in_error_pages))
            .wrap(session)
            .wrap(from_fn(sbweb::error_pages::checkout_failures))
            .wrap(sbweb::headers::empty_error_pages())
            .wrap(from_fn(sbweb::error_pages::htmx_errors))
            .wrap(sbweb::headers::security_headers(secure))
            .wrap(from_fn(sbweb::headers::request_id_header))
            .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
    })
    .listen(listener)?
    .shutdown_timeout(10);
    if let Some(n) = http_workers {
        server = server.workers(n);
    }
    Ok(server.run())
}
