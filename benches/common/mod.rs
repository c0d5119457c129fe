//! What the Rust benchmarks share: the release app on its own private cluster, a signed-in
//! client, and a load runner with throughput and latency percentiles.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;

pub const CONNECTIONS: usize = 32;
pub const SECRET: &str = "bench-secret-key-bench-secret-key-bench-secret-key";

pub fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT ({sql})::bigint AS n")).get_result::<N>(conn).unwrap().n
}

pub struct Load {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub failures: usize,
}

/// Runs `requests` on CONNECTIONS threads, each with its own keep-alive client.
pub fn run_load(requests: Vec<reqwest::blocking::RequestBuilder>) -> Load {
    let total = requests.len();
    let queue: Arc<Mutex<Vec<reqwest::blocking::RequestBuilder>>> = Arc::new(Mutex::new(requests.into_iter().rev().collect()));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (queue, latencies, failures) = (queue.clone(), latencies.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let Some(request) = queue.lock().unwrap().pop() else { break };
                    let t = Instant::now();
                    match request.send() {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes();
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    mine.push(t.elapsed());
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let wall = started.elapsed();
    let mut all = latencies.lock().unwrap().clone();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Load { per_second: total as f64 / wall.as_secs_f64(), p50_ms: at(0.50), p99_ms: at(0.99), failures: failures.load(Ordering::Relaxed) }
}

/// One client per connection thread would be best; reqwest's blocking client pools
/// keep-alive connections, so one shared client with CONNECTIONS idle slots does the same.
pub fn client(cookies: bool) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().pool_max_idle_per_host(CONNECTIONS).cookie_store(cookies).timeout(Duration::from_secs(30)).build().unwrap()
}


/// Signs in through the login form; the client keeps the session cookie.
pub fn sign_in(client: &reqwest::blocking::Client, base: &str, email: &str, password: &str) -> anyhow::Result<()> {
    let login = client.get(format!("{base}/login")).send()?.text()?;
    let csrf = login.split("name=\"csrf-token\" content=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_string();
    let signed_in = client.post(format!("{base}/login")).form(&[("csrf_token", csrf.as_str()), ("email", email), ("password", password)]).send()?;
    anyhow::ensure!(signed_in.status().is_success() || signed_in.status().is_redirection(), "sign-in failed: {}", signed_in.status());
    Ok(())
}

/// The CSRF token of a signed-in page (for form posts).
pub fn csrf(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<String> {
    let page = client.get(url).send()?.text()?;
    Ok(page.split("name=\"csrf-token\" content=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_string())
}

pub fn print(label: &str, load: &Load, n: usize) {
    println!("{label:<44} {:>8.0} req/s  p50 {:>6.1} ms  p99 {:>6.1} ms  ({n} requests, {} failed)", load.per_second, load.p50_ms, load.p99_ms, load.failures);
}

/// The release app serving on 127.0.0.1 (its own private cluster under `dir`), with no
/// job workers of its own: each benchmark starts the workers it measures.
pub struct App {
    pub base: String,
    pub port: u16,
    pub pool: switchboard::db::Pool,
    pub resources: switchboard::startup::Resources,
    pub settings: switchboard::config::Settings,
}

pub fn start(dir: &std::path::Path, configure: impl FnOnce(&mut switchboard::config::Settings)) -> anyhow::Result<App> {
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let mut settings = switchboard::config::Settings::from_lookup(|_| None)?;
    settings.addr = "127.0.0.1:0".parse()?;
    settings.data_dir = dir.to_path_buf();
    settings.secret_key = Some(secrecy::SecretString::from(SECRET.to_string()));
    settings.job_workers = 0;
    settings.run_scheduler = false;
    configure(&mut settings);
    let runtime = tokio::runtime::Runtime::new()?;
    let app = runtime.block_on(switchboard::startup::Application::build(settings.clone(), switchboard::clock::Clock::default()))?;
    let port = app.port();
    let pool = app.pool.clone();
    let (server, resources) = app.into_parts();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let _ = rt.block_on(server);
        drop(runtime);
    });
    settings.addr = format!("127.0.0.1:{port}").parse()?;
    Ok(App { base: format!("http://127.0.0.1:{port}"), port, pool, resources, settings })
}

/// An admin of a new workspace "Bench" (password `bench password 1`).
pub fn admin(conn: &mut PgConnection) -> anyhow::Result<switchboard::users::model::User> {
    let account = switchboard::users::service::NewAccount {
        workspace: "Bench".into(),
        email: "admin@bench.example".into(),
        name: "Admin".into(),
        role: switchboard::authz::Role::Admin,
        password_hash: switchboard::users::password::hash("bench password 1")?,
    };
    Ok(switchboard::users::service::create_in_workspace(conn, &account, None, None)?.0)
}

/// Twilio settings sealed as the app seals them, pointing at `rate` per second per sender.
pub fn twilio(conn: &mut PgConnection, workspace_id: i64, rate: f64) -> anyhow::Result<()> {
    let sealed = switchboard::crypto::seal(&switchboard::crypto::derive(SECRET.as_bytes()), crate::fake_twilio::AUTH_TOKEN.as_bytes());
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from, whatsapp_rate, sms_rate) VALUES ($1, $2, $3, '{+14155550100}', '+14155550101', $4, $4)")
        .bind::<diesel::sql_types::BigInt, _>(workspace_id)
        .bind::<diesel::sql_types::Text, _>(crate::fake_twilio::ACCOUNT_SID)
        .bind::<diesel::sql_types::Bytea, _>(&sealed)
        .bind::<diesel::sql_types::Double, _>(rate)
        .execute(conn)?;
    Ok(())
}
