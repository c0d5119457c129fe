//! Test support shared by the API and browser tests: one throwaway PostgreSQL cluster per
//! test binary, a migrated template database, and per test a fresh database cloned from it
//! (dropped when the test ends), the real application on a random port, and cookie-aware
//! browsers that handle CSRF.
#![allow(dead_code)]

pub mod fake_twilio;
pub mod provider_double;
pub mod smtp;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use switchboard::clock::Clock;
use switchboard::config::Settings;
use switchboard::db::local_cluster::{ClusterOptions, LocalCluster};
use switchboard::db::{self, Pool};
use switchboard::messaging::Providers;
use switchboard::startup::{Application, Resources};
use switchboard::users::model::User;
use switchboard::authz::Role;
use switchboard::users::service::{self, NewAccount};

use crate::support::provider_double::ProviderDouble;

const TEMPLATE_DB: &str = "switchboard_tpl";
pub const PASSWORD: &str = "a perfectly fine password";

struct TestCluster {
    cluster: LocalCluster,
}

/// Removes clusters left behind by earlier test processes that are gone.
fn sweep_stale_dirs(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix("switchboard-test-").and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let root = std::env::temp_dir();
        sweep_stale_dirs(&root);
        let dir: PathBuf = root.join(format!("switchboard-test-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        let cluster = LocalCluster::start(&dir, None, &ClusterOptions::throwaway())
            .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL cluster: {e:#}"));
        cluster.create_database(TEMPLATE_DB).expect("create template database");
        let mut conn = PgConnection::establish(&cluster.url(TEMPLATE_DB)).expect("connect to template");
        switchboard::db::migrate::run_pending(&mut conn).expect("migrate template");
        drop(conn);
        TestCluster { cluster }
    })
}

/// A database of the test cluster, cloned from the migrated template. It is dropped when
/// the last holder lets go of it: each app on it holds an `Arc`, so two apps on one database
/// share it, and a test that panics drops it while unwinding.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Never a panic here: a second panic while a failing test unwinds aborts the whole run.
        if let Err(e) = drop_database(&self.name) {
            eprintln!("cannot drop the test database {}: {e}", self.name);
        }
    }
}

/// `DROP DATABASE … WITH (FORCE)`: the sessions still connected (the app's pool, its job
/// workers and event listener, which are stopping on their own threads) are ended first.
fn drop_database(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = PgConnection::establish(&cluster().cluster.url("postgres"))?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn)?;
    Ok(())
}

/// A new database cloned from the migrated template.
pub fn fresh_database() -> Arc<TestDatabase> {
    let c = cluster();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::establish(&c.cluster.url("postgres")).expect("connect to postgres db");
    diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")).execute(&mut conn).expect("create test db");
    Arc::new(TestDatabase { url: c.cluster.url(&name), name })
}

/// Whether the test cluster holds a database of this name.
pub fn database_exists(name: &str) -> bool {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let mut conn = PgConnection::establish(&cluster().cluster.url("postgres")).expect("connect to postgres db");
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Exists>(&mut conn)
        .expect("pg_database")
        .exists
}

pub struct TestApp {
    pub base: String,
    pub port: u16,
    pub pool: Pool,
    pub clock: Clock,
    pub database_url: String,
    handle: actix_web::dev::ServerHandle,
    resources: Option<Resources>,
    /// Dropped last, after the stop commands went out: the last app on it drops the database.
    pub database: Arc<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the HTTP and job workers wind down on their own.
        drop(self.handle.stop(false));
        if let Some(resources) = self.resources.take() {
            std::thread::spawn(move || resources.shutdown());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let database = tokio::task::spawn_blocking(fresh_database).await.expect("fresh database");
    spawn_app_on_with(&database, configure).await
}

/// Another instance on the database of an app already running (two instances, one database):
/// the database is dropped when the last of them is.
pub async fn spawn_app_on(database: &Arc<TestDatabase>) -> TestApp {
    spawn_app_on_with(database, |_| {}).await
}

/// An instance on `database`; `configure` may still change its URL (e.g. to add options).
pub async fn spawn_app_on_with(database: &Arc<TestDatabase>, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on_providing(database, Providers::default(), configure).await
}

/// An app whose messaging provider is the in-process double (see `provider_double`).
pub async fn app_with_double() -> (TestApp, ProviderDouble) {
    app_with_double_with(|_| {}).await
}

/// [`app_with_double`] with settings of its own.
pub async fn app_with_double_with(configure: impl FnOnce(&mut Settings)) -> (TestApp, ProviderDouble) {
    let double = ProviderDouble::new();
    let database = tokio::task::spawn_blocking(fresh_database).await.expect("fresh database");
    let app = spawn_app_on_with_double(&database, &double, configure).await;
    (app, double)
}

/// Another instance on `database` sending through `double` (two instances, one provider).
pub async fn spawn_app_on_with_double(database: &Arc<TestDatabase>, double: &ProviderDouble, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on_providing(database, double.providers(), |s| {
        configure(s);
        double.set_public_url(s.public_url.as_ref().map(|u| u.to_string()));
    })
    .await
}

/// An instance on `database` whose messages go through `providers`.
pub async fn spawn_app_on_providing(database: &Arc<TestDatabase>, providers: Providers, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::from_lookup(|_| None).expect("default settings");
    settings.database_url = Some(SecretString::from(database.url.clone()));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = std::env::temp_dir().join("switchboard-test-data");
    settings.secret_key = Some(SecretString::from("test-secret-key-".repeat(4)));
    settings.http_workers = Some(1);
    settings.pool_size = 4;
    settings.run_scheduler = false;
    // The SMTP sink and the fakes listen on 127.0.0.1.
    settings.smtp_allow_private = true;
    configure(&mut settings);
    let database_url = settings.database_url.as_ref().map(|url| url.expose_secret().to_string()).unwrap_or_default();
    let clock = Clock::default();
    let app = Application::build_with(settings, clock.clone(), providers).await.expect("build app");
    let port = app.port();
    let pool = app.pool.clone();
    let (server, resources) = app.into_parts();
    let handle = server.handle();
    // The server runs on a thread of its own, not on the test's runtime: when the test ends
    // the stop command is still carried out, so the server lets go of its database pool.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("server runtime");
        let _ = runtime.block_on(server);
    });
    TestApp { base: format!("http://127.0.0.1:{port}"), port, pool, clock, database_url, handle, resources: Some(resources), database: database.clone() }
}

impl TestApp {
    /// A new browser with its own cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    pub fn conn(&self) -> db::Conn {
        self.pool.get().expect("test db connection")
    }

    /// Creates a user (and the workspace if needed) straight in the database.
    pub fn create_user(&self, workspace: &str, email: &str, role: Role) -> User {
        self.create_user_named(workspace, email, "Test User", role)
    }

    pub fn create_user_named(&self, workspace: &str, email: &str, name: &str, role: Role) -> User {
        let account = NewAccount {
            workspace: workspace.into(),
            email: email.into(),
            name: name.into(),
            role,
            password_hash: switchboard::users::password::hash(PASSWORD).unwrap(),
        };
        service::create_in_workspace(&mut self.conn(), &account, None, None).expect("create user").0
    }

    /// A browser signed in as a new user of the given role in workspace "Acme".
    pub async fn signed_in(&self, role: Role) -> (Browser, User) {
        let email = format!("{}-{}@acme.test", role.as_str(), uuid::Uuid::new_v4().simple());
        let user = self.create_user("Acme", &email, role);
        let browser = self.browser();
        let response = browser.login(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login as {role} failed");
        (browser, user)
    }

    /// Clients whose kept tag ids (computed, not NULL) differ from their tag links.
    pub fn stale_tag_ids(&self) -> i64 {
        self.count(
            "SELECT count(*) FROM clients c WHERE c.tag_ids IS NOT NULL AND c.tag_ids IS DISTINCT FROM \
             ARRAY(SELECT t.tag_id FROM client_tags t WHERE t.workspace_id = c.workspace_id AND t.client_id = c.id ORDER BY t.tag_id)",
        )
    }

    pub fn count(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT ({sql})::bigint AS n")).get_result::<Count>(&mut self.conn()).expect("count query").n
    }
}

pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
}

impl Browser {
    /// A browser with an empty cookie jar that does not follow redirects.
    pub fn new(base: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Browser { base: base.to_string(), client, jar }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    pub async fn htmx_get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).header("HX-Request", "true").send().await.expect("htmx GET")
    }

    /// A form post as htmx sends it: HX-Request, the CSRF token in its header, and the
    /// client page's timeline as the target.
    pub async fn htmx_post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.htmx_post_to(path, "client-timeline", fields).await
    }

    /// A form post as htmx sends it, swapping into the element with id `target`.
    pub async fn htmx_post_to(&self, path: &str, target: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf().await;
        self.client
            .post(self.url(path))
            .header("HX-Request", "true")
            .header("HX-Target", target)
            .header("X-CSRF-Token", token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_html_form::to_string(fields).unwrap())
            .send()
            .await
            .expect("htmx POST")
    }

    /// The session's CSRF token, as a page shows it.
    pub async fn csrf(&self) -> String {
        let html = self.get("/login").await.text().await.unwrap();
        csrf_in(&html).expect("csrf token on /login")
    }

    /// A form post with the session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// A form post exactly as given (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = serde_html_form::to_string(fields).unwrap();
        self.client
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST")
    }

    /// A multipart upload of `bytes` as the field `file`, after a `csrf_token` field, as the
    /// upload form sends it (the hidden field comes before the file input).
    pub async fn upload(&self, path: &str, filename: &str, bytes: Vec<u8>) -> Response {
        let token = self.csrf().await;
        let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()).mime_str("text/csv").unwrap();
        let form = reqwest::multipart::Form::new().text("csrf_token", token).part("file", part);
        self.client.post(self.url(path)).multipart(form).send().await.expect("upload")
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/login", &[("email", email), ("password", password)]).await
    }

    /// The raw `Cookie` header this browser would send.
    pub fn cookie_header(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.base).unwrap();
        self.jar.cookies(&url).map(|v| v.to_str().unwrap().to_string())
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf-token\" content=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub fn location(response: &Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

pub fn assert_redirects_to(response: &Response, path: &str) {
    assert!(response.status().is_redirection(), "expected a redirect to {path}, got {}", response.status());
    assert_eq!(location(response), path);
}

/// The app, its Twilio API and Content API pointed at this fake.
pub async fn app_talking_to(fake: &fake_twilio::FakeTwilio) -> TestApp {
    let base = url::Url::parse(&fake.base()).unwrap();
    spawn_app_with(|s| {
        s.twilio_api_base = base.clone();
        s.twilio_content_base = base;
    })
    .await
}
