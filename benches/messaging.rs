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

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rand::seq::SliceRandom;
use switchboard::clock::Clock;

use fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio};

mod common;

use common::{SECRET, client, count, run_load};

fn main() -> anyhow::Result<()> {
    let callbacks_of: i64 = std::env::var("CALLBACKS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let rate: f64 = std::env::var("RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(20.0);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-messaging-{}", std::process::id()));
    let fake = FakeTwilio::start();
    let fake_base = url::Url::parse(&fake.base())?;
    let common::App { base, pool, resources, settings, .. } = common::start(&dir, |s| {
        s.twilio_api_base = fake_base.clone();
        s.twilio_content_base = fake_base;
    })?;

    // A workspace with an admin, Twilio settings (the token sealed as the app seals it) and
    // messages Twilio has accepted.
    let mut conn = pool.get()?;
    let password = "bench password 1";
    let w = common::admin(&mut conn)?.workspace_id;
    common::twilio(&mut conn, w, 1000.0)?;
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
    common::sign_in(&floor_client, &base, "admin@bench.example", password)?;

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
        settings: settings.clone(),
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
    let mut workers = switchboard::jobs::worker::Workers::start(env.clone(), std::sync::Arc::new(switchboard::registry::jobs()), options(1));
    wait_for(before + n as u64);
    let one_worker = n as f64 / started.elapsed().as_secs_f64();
    workers.stop();
    diesel::sql_query(format!("DELETE FROM messages WHERE workspace_id = {w} AND provider_id NOT LIKE 'SMbench%'")).execute(&mut conn)?;
    // Throttle on: RATE per second, four workers, about fifteen seconds of sending.
    diesel::sql_query(format!("UPDATE twilio_settings SET sms_rate = {rate} WHERE workspace_id = {w}")).execute(&mut conn)?;
    let n = ((rate * 15.0) as i64).max(20);
    queue(&mut conn, n)?;
    let before = fake.accepted.load(Ordering::SeqCst);
    let mut workers = switchboard::jobs::worker::Workers::start(env, std::sync::Arc::new(switchboard::registry::jobs()), options(4));
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
