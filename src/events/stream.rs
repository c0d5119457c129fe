//! `GET /events`: the signed-in user's live events as server-sent events.
//!
//! First `retry: 2000`; then, with `Last-Event-ID` (or `?last_event_id=` for tests), the
//! events after it that this user may see, from the table (the last hour, at most
//! [`REPLAY_LIMIT`]); then live ones from the hub. A `: ping` comment every
//! `SWITCHBOARD_SSE_PING_SECS`, each time after checking the session still exists. A
//! session that ends (its row deleted: sign-out, revoke, sign out everywhere, deactivation)
//! ends its streams at once on every instance, through [`crate::events::SESSION_CHANNEL`];
//! the ping's check is the fallback (an expiry nobody has deleted yet). Limits: [`hub::PER_USER`] streams per user
//! (a further one ends the user's oldest: moving from page to page opens a stream per page
//! before the old ones are noticed gone, which only happens at their next write) and
//! `SWITCHBOARD_MAX_STREAMS` per instance (503 with Retry-After).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::db;
use crate::error::AppError;
use crate::events::hub::{self, Frame, Hub, Refusal};
use crate::events::query;
use crate::web::ctx::Ctx;
use crate::web::forms::Query;
use crate::web::state::AppState;

/// At most this many events are replayed after a reconnect (older ones: reload the page).
pub const REPLAY_LIMIT: i64 = 500;
/// Seconds a refused stream is told to wait (Retry-After on the 503).
pub const RETRY_AFTER_SECS: u64 = 10;

#[derive(Deserialize)]
pub struct EventsQuery {
    last_event_id: Option<i64>,
}

fn refuse(status: StatusCode, reason: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header(("Cache-Control", "no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header(("Retry-After", RETRY_AFTER_SECS.to_string()));
    }
    response.content_type("text/plain; charset=utf-8").body(format!("{reason}\n"))
}

pub async fn events(
    ctx: Result<Ctx, AppError>,
    req: HttpRequest,
    state: Data<AppState>,
    hub: Data<Arc<Hub>>,
    Query(q): Query<EventsQuery>,
) -> Result<HttpResponse, AppError> {
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(AppError::Unauthorized { .. }) => return Ok(refuse(StatusCode::UNAUTHORIZED, "Sign in to receive live updates.")),
        Err(e) => return Err(e),
    };
    let Some(key_hash) = crate::web::session::key_hash(&ctx.session) else {
        return Ok(refuse(StatusCode::UNAUTHORIZED, "Sign in to receive live updates."));
    };
    let last = req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok()).or(q.last_event_id);
    let (ws, me, role) = (ctx.workspace_id(), ctx.user_id(), ctx.role());
    let subscription = match hub.subscribe(ws, me, &key_hash) {
        Ok(s) => s,
        Err(Refusal::InstanceFull) => {
            tracing::warn!(limit = state.settings.max_streams, "event stream refused: SWITCHBOARD_MAX_STREAMS reached");
            return Ok(refuse(StatusCode::SERVICE_UNAVAILABLE, "This server has as many live-update streams open as it allows; retrying shortly."));
        }
    };
    // Subscribed before reading the table: whatever commits meanwhile arrives live, and the
    // ids already replayed are skipped when it does.
    let mut pending: VecDeque<Bytes> = VecDeque::from([Bytes::from_static(b"retry: 2000\n\n")]);
    let mut replayed = HashSet::new();
    // Subscribed before checking the session again: a sign-out that committed after this
    // request loaded its session and before the hub knew the stream is seen here, one that
    // commits later reaches the hub.
    let key = key_hash.clone();
    let (valid, rows) = state.db(move |conn| {
        let valid = query::session_valid(conn, &key, ws, me)?;
        let rows = match last {
            Some(after) if valid => query::replay(conn, ws, me, role, after, REPLAY_LIMIT)?,
            _ => Vec::new(),
        };
        Ok((valid, rows))
    })
    .await?;
    if !valid {
        return Ok(refuse(StatusCode::UNAUTHORIZED, "Sign in to receive live updates."));
    }
    for event in rows {
        replayed.insert(event.id);
        pending.push_back(hub::frame(&event));
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + state.settings.sse_ping, state.settings.sse_ping);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let live = Live { subscription, pending, replayed, ping, state: state.clone(), key_hash, ws, me };
    let body = futures_util::stream::unfold(live, |mut live| async move { live.next().await.map(|b| (Ok::<_, actix_web::Error>(b), live)) });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

struct Live {
    subscription: hub::Subscription,
    pending: VecDeque<Bytes>,
    replayed: HashSet<i64>,
    ping: tokio::time::Interval,
    state: Data<AppState>,
    key_hash: String,
    ws: i64,
    me: i64,
}

impl Live {
    /// The next bytes to write, or `None` to end the stream.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(b) = self.pending.pop_front() {
            return Some(b);
        }
        loop {
            tokio::select! {
                frame = self.subscription.rx.recv() => {
                    let (id, bytes): Frame = frame?;
                    if !self.replayed.is_empty() && self.replayed.remove(&id) {
                        continue;
                    }
                    return Some(bytes);
                }
                _ = self.ping.tick() => {
                    let (pool, key, ws, me) = (self.state.pool.clone(), self.key_hash.clone(), self.ws, self.me);
                    let valid = db::run::<_, AppError, _>(&pool, move |conn| Ok(query::session_valid(conn, &key, ws, me)?)).await;
                    // A database hiccup ends the stream too: the browser reconnects and replays.
                    return if valid.unwrap_or(false) { Some(Bytes::from_static(b": ping\n\n")) } else { None };
                }
            }
        }
    }
}
