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
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Deserialize;

use crate::authz::Role;
use crate::db;
use crate::error::AppError;
use crate::events::Event;
use crate::events::hub::{self, Frame, Hub, Refusal};
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
    let (valid, rows) = db::run(&state.pool, move |conn| {
        let valid = session_valid(conn, &key, ws, me)?;
        let rows = match last {
            Some(after) if valid => replay(conn, ws, me, role, after)?,
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
                    let valid = db::run(&pool, move |conn| Ok(session_valid(conn, &key, ws, me)?)).await;
                    // A database hiccup ends the stream too: the browser reconnects and replays.
                    return if valid.unwrap_or(false) { Some(Bytes::from_static(b": ping\n\n")) } else { None };
                }
            }
        }
    }
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The session still exists, has not expired, and its user is still active.
fn session_valid(conn: &mut PgConnection, key_hash: &str, ws: i64, me: i64) -> QueryResult<bool> {
    let row: N = diesel::sql_query(
        "SELECT count(*) AS n FROM sessions s JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id \
         WHERE s.key_hash = $1 AND s.workspace_id = $2 AND s.user_id = $3 AND s.expires_at > now() AND u.active",
    )
    .bind::<Text, _>(key_hash)
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(me)
    .get_result(conn)?;
    Ok(row.n > 0)
}

/// How far before the cursor's event a replay looks again. Ids are taken in insert order
/// but announced in commit order: a transaction that wrote an event earlier and committed
/// after the cursor's event was delivered has a lower id, and `id > last` alone would skip
/// it. Its event is dated by its transaction's start, at most this long before the
/// cursor's (the transactions that write events are short: a webhook, a send, a page's
/// action), so looking this far back finds it. The events the stream had already in that
/// window come again: pages only refetch on events, so a repeat costs a request.
pub const LOOK_BACK_SECS: i64 = 5;

/// The events after `after` this user may see (theirs, and the chats visible to them),
/// with those of the [`LOOK_BACK_SECS`] before it.
fn replay(conn: &mut PgConnection, ws: i64, me: i64, role: Role, after: i64) -> QueryResult<Vec<Event>> {
    let visible = crate::chat::visible_sql(role).replace("$USER", &me.to_string());
    let sql = format!(
        "SELECT e.workspace_id, e.id, e.kind, e.client_id, e.chat_id, e.user_id, e.data, e.created_at FROM events e \
         LEFT JOIN chats ON chats.workspace_id = e.workspace_id AND chats.id = e.chat_id \
         WHERE e.workspace_id = $1 AND e.created_at > now() - interval '1 hour' \
         AND (e.id > $2 OR (e.id < $2 AND e.created_at >= \
              (SELECT l.created_at FROM events l WHERE l.workspace_id = $1 AND l.id = $2) - make_interval(secs => {LOOK_BACK_SECS}))) \
         AND (e.user_id = $3 OR (e.user_id IS NULL AND chats.id IS NOT NULL AND {visible})) \
         ORDER BY e.id LIMIT {REPLAY_LIMIT}"
    );
    diesel::sql_query(sql).bind::<BigInt, _>(ws).bind::<BigInt, _>(after).bind::<BigInt, _>(me).load(conn)
}
