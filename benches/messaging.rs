//! Messaging benchmark (`cargo bench --bench messaging`): the release app on its own private
//! PostgreSQL cluster (as `cargo run --release` runs it) and the tests' fake Twilio.
//!
//! - Signed status callbacks: CALLBACKS messages (default 5,000) each get queued → sent →
//!   delivered → read, every callback twice, all shuffled, posted by 32 client threads on
//!   keep-alive connections; throughput and p50/p99 latency, beside the signed-in floor
//!   (`GET /healthz` with a session cookie) measured the same way in the same run, and the
//!   check that no callback was lost (every message ends `read` with each status's time).
//! - Dispatch: send jobs through the message core to the fake Twilio, with one worker and
//!   the throttle out of the way (1,000/s), then with the throttle on at RATE per second
//!   (default 20) and four workers: the rate the fake saw against the configured one.

#[path = "../tests/support/fake_twilio.rs"]
mod fake_twilio;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rand::seq::SliceRandom;
use secrecy::SecretString;
use switchboard::clock::Clock;
use switchboard::config::Settings;
use switchboard::startup::Application;

use fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio};

const CONNECTIONS: usize = 32;
const SECRET: &str = "bench-secret-key-bench-secret-key-bench-secret-key";

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT ({sql})::bigint AS n")).get_result::<N>(conn).unwrap().n
}

struct Load {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// Runs `requests` on CONNECTIONS threads, each with its own keep-alive client.
fn run_load(requests: Vec<reqwest::blocking::RequestBuilder>) -> Load {
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
fn client(cookies: bool) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().pool_max_idle_per_host(CONNECTIONS).cookie_store(cookies).timeout(Duration::from_secs(30)).build().unwrap()
}

fn main() -> anyhow::Result<()> {
    let callbacks_of: i64 = std::env::var("CALLBACKS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let rate: f64 = std::env::var("RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(20.0);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-messaging-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let fake = FakeTwilio::start();
    let runtime = tokio::runtime::Runtime::new()?;
    let mut settings = Settings::from_lookup(|_| None)?;
    settings.addr = "127.0.0.1:0".parse()?;
    settings.data_dir = dir.clone();
    settings.secret_key = Some(SecretString::from(SECRET.to_string()));
    settings.job_workers = 0;
    settings.run_scheduler = false;
    settings.twilio_api_base = url::Url::parse(&fake.base())?;
    settings.twilio_content_base = url::Url::parse(&fake.base())?;
    let app = runtime.block_on(Application::build(settings.clone(), Clock::default()))?;
    let port = app.port();
    let base = format!("http://127.0.0.1:{port}");
    let pool = app.pool.clone();
    let (server, resources) = app.into_parts();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let _ = rt.block_on(server);
    });

    // A workspace with an admin, Twilio settings (the token sealed as the app seals it) and
    // messages Twilio has accepted.
    let mut conn = pool.get()?;
    let password = "bench password 1";
    let account = switchboard::users::service::NewAccount {
        workspace: "Bench".into(),
        email: "admin@bench.example".into(),
        name: "Admin".into(),
        role: switchboard::users::role::Role::Admin,
        password_hash: switchboard::auth::password::hash(password)?,
    };
    let admin = switchboard::users::service::create_in_workspace(&mut conn, &account, None, None)?.0;
    let w = admin.workspace_id;
    let sealed = switchboard::crypto::seal(&switchboard::crypto::derive(SECRET.as_bytes()), AUTH_TOKEN.as_bytes());
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from, whatsapp_rate, sms_rate) VALUES ($1, $2, $3, '{+14155550100}', '+14155550101', 1000, 1000)")
        .bind::<diesel::sql_types::BigInt, _>(w)
        .bind::<diesel::sql_types::Text, _>(ACCOUNT_SID)
        .bind::<diesel::sql_types::Bytea, _>(&sealed)
        .execute(&mut conn)?;
    diesel::sql_query(format!(
        "INSERT INTO clients (workspace_id, name, phone) SELECT {w}, 'Client ' || g, '+1415600' || lpad(g::text, 4, '0') FROM generate_series(1, 9000) g"
    ))
    .execute(&mut conn)?;
    diesel::sql_query(format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status) \
         SELECT {w}, c.id, 'sms', 'outbound', 'SMbench' || c.id, '+14155550101', c.phone, 'Hello', 'accepted' FROM clients c \
         WHERE c.workspace_id = {w} ORDER BY c.id LIMIT {callbacks_of}"
    ))
    .execute(&mut conn)?;
    let key = switchboard::messaging::account::webhook_key(&mut conn, w)?;
    let status_url = format!("{base}/webhooks/twilio/{key}/status");

    // The signed-in floor: a session cookie from the login form.
    let floor_client = client(true);
    let login = floor_client.get(format!("{base}/login")).send()?.text()?;
    let csrf = login.split("name=\"csrf-token\" content=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_string();
    let signed_in = floor_client.post(format!("{base}/login")).form(&[("csrf_token", csrf.as_str()), ("email", "admin@bench.example"), ("password", password)]).send()?;
    anyhow::ensure!(signed_in.status().is_success() || signed_in.status().is_redirection(), "sign-in failed: {}", signed_in.status());

    // Callbacks: four statuses per message, each twice, shuffled.
    let ids: Vec<i64> = {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            client_id: i64,
        }
        diesel::sql_query(format!("SELECT client_id FROM messages WHERE workspace_id = {w}")).load::<Id>(&mut conn)?.into_iter().map(|r| r.client_id).collect()
    };
    let mut forms: Vec<Vec<(String, String)>> = Vec::new();
    for id in &ids {
        for status in ["queued", "sent", "delivered", "read"] {
            let form = vec![
                ("AccountSid".to_string(), ACCOUNT_SID.to_string()),
                ("ApiVersion".into(), "2010-04-01".into()),
                ("From".into(), "+14155550101".into()),
                ("MessageSid".into(), format!("SMbench{id}")),
                ("MessageStatus".into(), status.into()),
                ("SmsSid".into(), format!("SMbench{id}")),
                ("SmsStatus".into(), status.into()),
                ("To".into(), format!("+1415600{:04}", id % 10_000)),
            ];
            forms.push(form.clone());
            forms.push(form);
        }
    }
    forms.shuffle(&mut rand::rng());
    let callback_client = client(false);
    let callbacks: Vec<_> = forms
        .iter()
        .map(|form| {
            let signature = fake_twilio::twilio_signature(AUTH_TOKEN, &status_url, form);
            callback_client.post(&status_url).header("X-Twilio-Signature", signature).form(form)
        })
        .collect();
    let n = callbacks.len();
    let floor: Vec<_> = (0..n).map(|_| floor_client.get(format!("{base}/healthz"))).collect();

    // Warm both paths, then measure the floor and the callbacks back to back.
    let _ = run_load((0..500).map(|_| floor_client.get(format!("{base}/healthz"))).collect());
    let floor = run_load(floor);
    let cb = run_load(callbacks);
    let lost = count(
        &mut conn,
        &format!("SELECT count(*) FROM messages WHERE workspace_id = {w} AND (status <> 'read' OR sent_at IS NULL OR delivered_at IS NULL OR read_at IS NULL)"),
    );
    println!("signed-in floor GET /healthz:   {:>8.0} req/s  p50 {:>6.1} ms  p99 {:>6.1} ms  ({} requests, {} failed)", floor.per_second, floor.p50_ms, floor.p99_ms, n, floor.failures);
    println!(
        "signed status callbacks:        {:>8.0} req/s  p50 {:>6.1} ms  p99 {:>6.1} ms  ({} callbacks for {} messages, {} failed, {} messages not read)",
        cb.per_second,
        cb.p50_ms,
        cb.p99_ms,
        n,
        ids.len(),
        cb.failures,
        lost
    );
    println!("callbacks / floor: {:.2} (throughput), p99 {:.2}x the floor's", cb.per_second / floor.per_second, cb.p99_ms / floor.p99_ms);

    // Dispatch: queued messages and their send jobs, as the client page writes them.
    let env = Arc::new(switchboard::jobs::run::JobEnv {
        pool: pool.clone(),
        database_url: resources.database.url.clone(),
        settings: Settings { addr: format!("127.0.0.1:{port}").parse()?, ..settings.clone() },
        clock: Clock::default(),
        at_rest_key: switchboard::crypto::derive(SECRET.as_bytes()),
    });
    let queue = |conn: &mut PgConnection, n: i64| -> anyhow::Result<()> {
        diesel::sql_query(format!(
            "WITH m AS (INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) \
               SELECT {w}, c.id, 'sms', 'outbound', '+14155550101', c.phone, 'Your order is ready', 'queued' FROM clients c \
               WHERE c.workspace_id = {w} ORDER BY c.id DESC LIMIT {n} RETURNING id) \
             INSERT INTO jobs (workspace_id, kind, payload, run_at, max_attempts) SELECT {w}, 'send-message', json_build_object('message_id', id), now(), 5 FROM m"
        ))
        .execute(conn)?;
        diesel::sql_query(format!("DELETE FROM messages WHERE workspace_id = {w} AND status <> 'queued' AND provider_id NOT LIKE 'SMbench%'")).execute(conn)?;
        Ok(())
    };
    let options = |workers: usize| switchboard::jobs::worker::Options { workers, lease_secs: 60, batch: 8, poll: Duration::from_millis(100), scheduler: false };
    let wait_for = |target: u64| {
        while fake.accepted.load(Ordering::SeqCst) < target {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // Throttle out of the way (1,000/s per sender), one worker.
    let n = 2_000;
    queue(&mut conn, n)?;
    let before = fake.accepted.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut workers = switchboard::jobs::worker::Workers::start(env.clone(), options(1));
    wait_for(before + n as u64);
    let one_worker = n as f64 / started.elapsed().as_secs_f64();
    workers.stop();
    diesel::sql_query(format!("DELETE FROM messages WHERE workspace_id = {w} AND provider_id NOT LIKE 'SMbench%'")).execute(&mut conn)?;
    // Throttle on: RATE per second, four workers, about fifteen seconds of sending.
    diesel::sql_query(format!("UPDATE twilio_settings SET sms_rate = {rate} WHERE workspace_id = {w}")).execute(&mut conn)?;
    let n = ((rate * 15.0) as i64).max(20);
    queue(&mut conn, n)?;
    let before = fake.accepted.load(Ordering::SeqCst);
    let mut workers = switchboard::jobs::worker::Workers::start(env, options(4));
    wait_for(before + n as u64);
    workers.stop();
    let times: Vec<_> = fake.messages().iter().skip(before as usize).map(|m| m.created_at).collect();
    let span = (*times.iter().max().unwrap() - *times.iter().min().unwrap()).num_milliseconds() as f64 / 1000.0;
    let held = (n - 1) as f64 / span;
    println!("dispatch, throttle at 1000/s, 1 worker: {one_worker:>8.0} msg/s  ({} messages to the fake Twilio)", 2_000);
    println!(
        "dispatch, throttle at {rate}/s, 4 workers: {held:>8.2} msg/s  ({n} messages over {span:.2} s; {:+.1} % from the configured rate)",
        (held / rate - 1.0) * 100.0
    );
    resources.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
