//! Live events (issue 13): what changed, for the server-sent-event streams of `GET /events`.
//!
//! Events are rows of `events`, written by triggers on `chats` and `messages` (whatever
//! path changed them) or by [`emit`], each announced with `NOTIFY switchboard_events,
//! '<workspace_id>:<event_id>'` at commit. Every instance listens and fans each event out
//! to the streams of the users who may see it; a reconnecting stream replays what came
//! after its `Last-Event-ID` from the table (kept for an hour).
//!
//! Kinds (the SSE event names): `chat` (a chat opened, reopened, closed, was assigned or
//! has a new last message), `message` (a new message in a chat), `status` (a message in a
//! chat changed status), `badge` (for one user: their unread notifications changed; data
//! `{"notifications": n}`). Events with a `chat_id` are sent twice, the second time named
//! `chat-<chat_id>`, so a conversation page listens to its own chat only.
//!
//! Campaign batches (the recipients dashboard): counters move thousands of times a second
//! while a batch sends, so they write no `events` rows. Triggers on `campaign_recipients`,
//! `campaign_flow_reached` and `campaign_batches` `NOTIFY switchboard_batches,
//! '<workspace_id>:<batch_id>'` once per batch and statement; each listener coalesces them
//! ([`hub::Coalescer`]: at most one per batch every 500 ms, always a trailing one after the
//! last change) into `batch-<batch_id>` (data `{"batch_id": n}`, no `id:`, never replayed)
//! for the admins and the covering managers with a stream open. A page that missed one
//! refetches at the next change or its slow fallback poll.

pub mod hub;
pub mod listener;
pub mod query;
pub mod stream;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text};

use crate::db::schema::{early_status_callbacks, events};
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{JobHandler, Kind};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "switchboard_events";
/// The channel of campaign batches' counter changes, `'<workspace_id>:<batch_id>'`, written
/// by the triggers of migration 2026-11-28-046000 (no `events` row: see the module notes).
pub const BATCH_CHANNEL: &str = "switchboard_batches";
/// The channel of ended sessions, `'<workspace_id>:<key_hash>'`, written by the trigger of
/// migration 2026-12-06-030000 whenever a signed-in session's row is deleted (sign-out,
/// revoke, sign out everywhere, password change or reset, deactivation, expiry): every
/// instance ends that session's streams at once.
pub const SESSION_CHANNEL: &str = "switchboard_sessions";

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = events, check_for_backend(Pg))]
pub struct Event {
    pub workspace_id: i64,
    pub id: i64,
    pub kind: String,
    pub client_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub user_id: Option<i64>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// An event the code writes itself (the triggers write the chat ones), in the caller's
/// transaction: announced when it commits. `user_id` set: for that user only; else for
/// everyone who may see the client / chat.
pub struct NewEvent<'a> {
    pub workspace_id: i64,
    pub kind: &'a str,
    pub client_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub user_id: Option<i64>,
    pub data: serde_json::Value,
}

#[derive(QueryableByName)]
struct Emitted {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

pub fn emit(conn: &mut PgConnection, event: &NewEvent) -> QueryResult<i64> {
    let row: Emitted = diesel::sql_query("SELECT emit_event($1, $2, $3, $4, $5, $6) AS id")
        .bind::<BigInt, _>(event.workspace_id)
        .bind::<Text, _>(event.kind)
        .bind::<Nullable<BigInt>, _>(event.client_id)
        .bind::<Nullable<BigInt>, _>(event.chat_id)
        .bind::<Nullable<BigInt>, _>(event.user_id)
        .bind::<Jsonb, _>(&event.data)
        .get_result(conn)?;
    Ok(row.id)
}

/// How long events are kept (and how far back a reconnecting stream replays).
pub const KEEP: chrono::Duration = chrono::Duration::hours(1);

/// Deletes the workspace's events older than [`KEEP`] before `now`.
pub fn prune(conn: &mut PgConnection, workspace_id: i64, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(events::table.filter(events::workspace_id.eq(workspace_id)).filter(events::created_at.lt(now - KEEP))).execute(conn)
}

/// How long a status callback for a message id nobody recorded is kept
/// (`early_status_callbacks`): the send it waits for records its id within seconds, or
/// never (a callback for a message that is not ours).
pub const KEEP_EARLY_CALLBACKS: chrono::Duration = chrono::Duration::days(1);

/// Deletes the workspace's parked status callbacks older than [`KEEP_EARLY_CALLBACKS`].
pub fn prune_early_callbacks(conn: &mut PgConnection, workspace_id: i64, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(
        early_status_callbacks::table
            .filter(early_status_callbacks::workspace_id.eq(workspace_id))
            .filter(early_status_callbacks::received_at.lt(now - KEEP_EARLY_CALLBACKS)),
    )
    .execute(conn)
}

/// The hourly `prune-events` job (see [`prune_job`]).
pub struct PruneEvents;

impl PruneEvents {
    pub const KIND: Kind = Kind::new("prune-events");
}

impl JobHandler for PruneEvents {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::prune_job(env, job)
    }
}

/// The hourly `prune-events` job: old live events, and status callbacks parked for over a
/// day (both tables grow with outside traffic).
pub fn prune_job(env: &crate::jobs::run::JobEnv, job: &crate::jobs::queue::Job) -> Result<(), crate::jobs::run::JobError> {
    let mut conn = env.pool.get()?;
    let now = env.clock.now();
    let deleted = prune(&mut conn, job.workspace_id, now)?;
    let callbacks = prune_early_callbacks(&mut conn, job.workspace_id, now)?;
    tracing::info!(workspace_id = job.workspace_id, deleted, callbacks, "old live events and parked status callbacks pruned");
    Ok(())
}

/// A [`SESSION_CHANNEL`] payload, `"<workspace_id>:<key_hash>"`.
pub fn parse_session_payload(payload: &str) -> Option<(i64, String)> {
    let (workspace, hash) = payload.split_once(':')?;
    if hash.is_empty() {
        return None;
    }
    Some((workspace.parse().ok()?, hash.to_string()))
}

/// A notification's payload, `"<workspace_id>:<event_id>"`.
pub fn parse_payload(payload: &str) -> Option<(i64, i64)> {
    let (workspace, id) = payload.split_once(':')?;
    Some((workspace.parse().ok()?, id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_the_workspace_and_the_event() {
        assert_eq!(parse_payload("12:345"), Some((12, 345)));
        assert_eq!(parse_payload("12"), None);
        assert_eq!(parse_payload("a:1"), None);
    }

    #[test]
    fn session_payloads_name_the_workspace_and_the_key_hash() {
        assert_eq!(parse_session_payload("12:ab3f"), Some((12, "ab3f".to_string())));
        assert_eq!(parse_session_payload("12:"), None);
        assert_eq!(parse_session_payload("x:ab"), None);
    }
}
