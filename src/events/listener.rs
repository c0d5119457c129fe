//! The instance's listener: a thread of its own with its own PostgreSQL connection (not
//! from the pool) that `LISTEN`s on [`CHANNEL`], polls for
//! notifications every ~10 ms, and fans each wake-up's events out through the hub (with the
//! same connection: fetching the rows and deciding who may see them are a few indexed
//! queries, and the streams only ever get a `try_send`, so nothing here waits on a browser).
//!
//! A cheap `SELECT 1` every few seconds notices a dead connection; after any error it
//! reconnects with backoff and then ends every stream, so browsers reconnect with
//! `Last-Event-ID` and replay what was announced while nobody listened.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use crate::events::hub::Hub;
use crate::events::hub::Coalescer;
use crate::events::{BATCH_CHANNEL, CHANNEL, SESSION_CHANNEL, parse_payload, parse_session_payload};

const POLL: Duration = Duration::from_millis(10);
const PROBE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(database_url: SecretString, hub: Arc<Hub>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("events-listener".into()).spawn(move || run(&database_url, &hub, &flag))?;
        Ok(Listener { stop, thread: Some(thread) })
    }

    /// Stops the thread (within one poll) and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL.max(Duration::from_millis(50)).min(until.saturating_duration_since(Instant::now())));
    }
}

fn run(url: &SecretString, hub: &Hub, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(100);
    let mut connected_before = false;
    while !stop.load(Ordering::Relaxed) {
        let connected = PgConnection::establish(url.expose_secret()).map_err(|e| e.to_string()).and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {BATCH_CHANNEL}; LISTEN {SESSION_CHANNEL}")).map_err(|e| e.to_string()).map(|_| c)
        });
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(e) => {
                // Never the URL: it holds the database password.
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "events listener cannot connect; retrying");
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if connected_before {
            // Whatever was announced while we were away reaches the streams by replay.
            hub.close_all();
            tracing::info!("events listener reconnected; open streams ended so they replay");
        }
        connected_before = true;
        backoff = Duration::from_millis(100);
        if let Err(e) = listen(&mut conn, hub, stop) {
            tracing::warn!(error = %e, "events listener lost its connection; reconnecting");
        }
    }
}

fn listen(conn: &mut PgConnection, hub: &Hub, stop: &AtomicBool) -> QueryResult<()> {
    let mut probed = Instant::now();
    let mut batch = Vec::new();
    let mut changed_batches = Vec::new();
    let mut coalescer = Coalescer::default();
    while !stop.load(Ordering::Relaxed) {
        let mut ended_sessions = Vec::new();
        for notification in conn.notifications_iter() {
            let notification = notification?;
            if notification.channel == SESSION_CHANNEL {
                ended_sessions.extend(parse_session_payload(&notification.payload));
            } else if let Some(ids) = parse_payload(&notification.payload) {
                if notification.channel == BATCH_CHANNEL {
                    changed_batches.push(ids);
                } else {
                    batch.push(ids);
                }
            }
        }
        // Ended sessions first: nothing more goes to their streams.
        if !ended_sessions.is_empty() {
            let ended = hub.end_sessions(&ended_sessions);
            if ended > 0 {
                tracing::info!(ended, "event streams of ended sessions closed");
            }
        }
        let woke = !batch.is_empty() || !changed_batches.is_empty() || !ended_sessions.is_empty();
        if !batch.is_empty() {
            if let Err(e) = hub.dispatch(conn, &batch) {
                // The rows stay in the table: the streams replay them after reconnecting.
                hub.close_all();
                return Err(e);
            }
            batch.clear();
        }
        // After the wake-up's events: a batch changed in the same transaction as an event
        // is announced after it.
        changed_batches.sort_unstable();
        changed_batches.dedup();
        let now = Instant::now();
        let mut deliver: Vec<(i64, i64)> = changed_batches.drain(..).filter(|&key| coalescer.changed(key, now)).collect();
        deliver.extend(coalescer.due(now));
        for (ws, batch_id) in deliver {
            if let Err(e) = hub.deliver_batch(conn, ws, batch_id) {
                hub.close_all();
                return Err(e);
            }
        }
        if woke {
            continue;
        }
        if probed.elapsed() >= PROBE {
            diesel::sql_query("SELECT 1").execute(conn)?;
            probed = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
