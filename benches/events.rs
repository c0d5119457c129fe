//! Live-event benchmark (`cargo bench --bench events`): the release app on its own private
//! PostgreSQL cluster, STREAMS (default 1,000) concurrent `GET /events` streams held open on
//! raw TCP (200 signed-in users, 5 streams each: the per-user limit), then CALLBACKS (default
//! 20) signed inbound SMS callbacks one after the other; for each, the time from sending it
//! to the `message` event arriving on every stream. Prints p50/p99 of that fan-out latency
//! over all streams and callbacks, the process's RSS growth per stream (VmRSS before and
//! after connecting; the app runs in this process, so the figure includes the bench's own
//! small per-socket cost), and the signed-in floor (`GET /healthz` with a session) from the
//! same run.

#[path = "../tests/support/fake_twilio.rs"]
mod fake_twilio;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::cookie::CookieStore;

use fake_twilio::{ACCOUNT_SID, AUTH_TOKEN};

mod common;

use common::{client, run_load};

const PER_USER: usize = 5;

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let streams: usize = std::env::var("STREAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let callbacks: usize = std::env::var("CALLBACKS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-events-{}", std::process::id()));
    let common::App { base, port, pool, resources: _resources, .. } = common::start(&dir, |s| s.max_streams = streams + 100)?;
    let mut conn = pool.get()?;
    let admin = common::admin(&mut conn)?;
    let w = admin.workspace_id;
    common::twilio(&mut conn, w, 1000.0)?;
    diesel::sql_query(format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Amara', '+14155550123')")).execute(&mut conn)?;
    let key = switchboard::messaging::account::webhook_key(&mut conn, w)?;
    let inbound_url = format!("{base}/webhooks/twilio/{key}/inbound");

    // Users (admins: every chat is theirs to see), each signed in once; 5 streams a user.
    let users = streams.div_ceil(PER_USER);
    let hash = switchboard::users::password::hash("bench password 1")?;
    let mut cookies = Vec::new();
    for i in 0..users {
        let email = if i == 0 { "admin@bench.example".to_string() } else { format!("admin{i}@bench.example") };
        if i > 0 {
            let account = switchboard::users::service::NewAccount {
                workspace: "Bench".into(),
                email: email.clone(),
                name: format!("Admin {i}"),
                role: switchboard::authz::Role::Admin,
                password_hash: hash.clone(),
            };
            switchboard::users::service::create_in_workspace(&mut conn, &account, None, None)?;
        }
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let c = reqwest::blocking::Client::builder().cookie_provider(jar.clone()).redirect(reqwest::redirect::Policy::none()).build()?;
        common::sign_in(&c, &base, &email, "bench password 1")?;
        let cookie = jar.cookies(&base.parse()?).ok_or_else(|| anyhow::anyhow!("no session cookie for {email}"))?;
        cookies.push(cookie.to_str()?.to_string());
    }

    // The streams: raw TCP, one reader thread each (small stacks), reporting every
    // `message` event's arrival time.
    let rss_before = vm_rss_kib();
    let (arrived_tx, arrived) = mpsc::channel::<Instant>();
    let (ready_tx, ready) = mpsc::channel::<()>();
    for i in 0..streams {
        // Connected in waves of 100 (a thousand sign-in checks at once would only queue on
        // the pool).
        if i > 0 && i % 100 == 0 {
            for _ in 0..100 {
                ready.recv_timeout(Duration::from_secs(60))?;
            }
        }
        let cookie = cookies[i / PER_USER].clone();
        let (arrived_tx, ready_tx) = (arrived_tx.clone(), ready_tx.clone());
        std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            write!(s, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
            let mut buffer = Vec::with_capacity(4096);
            let mut chunk = [0u8; 4096];
            let mut ready = false;
            loop {
                let n = match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let now = Instant::now();
                buffer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buffer).into_owned();
                if !ready && !text.starts_with("HTTP/1.1 200") && text.contains("\r\n\r\n") {
                    eprintln!("stream {i} refused: {}", text.lines().next().unwrap_or_default());
                    let _ = ready_tx.send(());
                    return;
                }
                if !ready && text.contains("retry: 2000") {
                    ready = true;
                    let _ = ready_tx.send(());
                }
                // Complete frames only; the unfinished tail waits for the next read.
                if let Some(end) = text.rfind("\n\n") {
                    for _ in 0..text[..end + 2].matches("event: message\n").count() {
                        let _ = arrived_tx.send(now);
                    }
                    buffer.drain(..end + 2);
                }
            }
        })?;
    }
    for _ in 0..(streams - 1) % 100 + 1 {
        ready.recv_timeout(Duration::from_secs(60))?;
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = vm_rss_kib();

    // The signed-in floor, measured while the streams are open.
    let floor_client = client(true);
    common::sign_in(&floor_client, &base, "admin@bench.example", "bench password 1")?;
    let _ = run_load((0..200).map(|_| floor_client.get(format!("{base}/healthz"))).collect());
    let floor = run_load((0..2000).map(|_| floor_client.get(format!("{base}/healthz"))).collect());

    // Fan-out: one signed inbound callback at a time, every stream's arrival timed.
    let poster = client(false);
    let mut latencies = Vec::with_capacity(streams * callbacks);
    let mut lost = 0;
    for i in 0..callbacks {
        let sid = format!("SMbenchin{i}");
        let form: Vec<(String, String)> = [("AccountSid", ACCOUNT_SID), ("MessageSid", sid.as_str()), ("From", "+14155550123"), ("To", "+14155550101"), ("Body", "hello"), ("NumMedia", "0")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let signature = fake_twilio::twilio_signature(AUTH_TOKEN, &inbound_url, &form);
        let sent = Instant::now();
        let r = poster.post(&inbound_url).header("X-Twilio-Signature", signature).form(&form).send()?;
        anyhow::ensure!(r.status().is_success(), "callback {i}: {}", r.status());
        for _ in 0..streams {
            match arrived.recv_timeout(Duration::from_secs(10)) {
                Ok(at) => latencies.push(at.saturating_duration_since(sent)),
                Err(_) => {
                    lost += 1;
                }
            }
        }
    }
    latencies.sort();
    println!("streams open: {streams} ({users} users x {PER_USER}), callbacks: {callbacks}");
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB after connecting: {:.1} KiB per stream",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        (rss_after.saturating_sub(rss_before)) as f64 / streams as f64
    );
    println!(
        "fan-out callback -> event on every stream: p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms  ({} deliveries, {lost} missing)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        latencies.len()
    );
    println!("signed-in floor GET /healthz (streams open): {:>8.0} req/s  p50 {:>6.1} ms  p99 {:>6.1} ms", floor.per_second, floor.p50_ms, floor.p99_ms);
    let mut conn = pool.get()?;
    println!("events in the table: {}", common::count(&mut conn, &format!("SELECT count(*) FROM events WHERE workspace_id = {w}")));
    std::process::exit(0);
}
