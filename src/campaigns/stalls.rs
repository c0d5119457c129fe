//! Batches left with nothing scheduled (issue 18): the `check-batches` job, enqueued by the
//! scheduler's tick, finds batches `sending` (or `scheduled` past their time) in an active
//! campaign with no unfinished dispatch job, and resumes them (a dispatch due now), or,
//! after [`CHECK_RESUMES`] resumes, fails their queued recipients with the reason; the
//! recipients page says which (`stall_note`). Neither sends anything itself, so the
//! dispatch's claim still decides who sends: never twice.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::json;

use crate::campaigns::dispatch;
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{self, JobHandler, Kind, NewJob};

/// How many times the check resumes one batch left "sending" with nothing scheduled before
/// it fails the recipients left.
pub const CHECK_RESUMES: i32 = 3;

/// A batch left with nothing scheduled (issue 18): `scheduled` past its time or `sending`,
/// its campaign active, and no unfinished `dispatch-batch` job for it (its jobs dead, or
/// gone). A paused campaign's batches wait for its start (whose [`dispatch::resume`] enqueues them);
/// a completed one's are cancelled. Over `campaign_batches b`.
const STALLED: &str = "b.status IN ('scheduled', 'sending') AND b.send_at <= now() \
    AND EXISTS (SELECT 1 FROM campaigns c WHERE c.workspace_id = b.workspace_id AND c.id = b.campaign_id AND c.status = 'active') \
    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workspace_id = b.workspace_id AND j.kind = 'dispatch-batch' \
      AND j.status IN ('queued', 'waiting', 'failed', 'running') AND j.payload->>'batch_id' = b.id::text)";

/// What a recipient left queued reads once the check gives up on its batch.
pub const GIVEN_UP: &str = "Not sent: the batch's dispatch kept stopping.";

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Called by the scheduler's tick: a `check-batches` job (keyed per minute) for each
/// workspace with a batch left with nothing scheduled; returns how many were new.
pub fn enqueue_checks(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    let workspaces: Vec<Id> = diesel::sql_query(format!("SELECT DISTINCT b.workspace_id AS id FROM campaign_batches b WHERE {STALLED}")).load(conn)?;
    let minute = now.format("%Y-%m-%dT%H:%M");
    let mut added = 0;
    for ws in workspaces {
        let job = NewJob::new(ws.id, CheckBatches::KIND, json!({})).key(format!("check-batches:{minute}")).attempts(3);
        added += usize::from(jobs::enqueue(conn, &job)?.is_some());
    }
    Ok(added)
}

/// What the check did with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// A dispatch enqueued, due now.
    Resumed,
    /// Resumed [`CHECK_RESUMES`] times already: what is left failed, the batch done.
    Failed(usize),
}

/// The `check-batches` job: resumes or fails the batches left with nothing scheduled (see [`check_job`]).
pub struct CheckBatches;

impl CheckBatches {
    pub const KIND: Kind = Kind::new("check-batches");
}

impl JobHandler for CheckBatches {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::check_job(env, job)
    }
}

/// The `check-batches` job: each of the workspace's batches left with nothing scheduled is
/// resumed (a dispatch due now, keyed `dispatch-batch:{batch}:check:{n}`), or, once the
/// check has resumed it [`CHECK_RESUMES`] times, failed: its queued recipients (and their
/// unsent messages) fail with [`GIVEN_UP`] and the batch is done. Either way the batch's
/// `stall_note` says so on its recipients page. One transaction per batch, the batch row
/// locked and the condition read again under the lock.
pub fn check_job(env: &JobEnv, job: &Job) -> Result<(), JobError> {
    let ws = job.workspace_id;
    let mut conn = env.pool.get()?;
    let stalled: Vec<Id> = diesel::sql_query(format!("SELECT b.id FROM campaign_batches b WHERE b.workspace_id = $1 AND {STALLED} ORDER BY b.id"))
        .bind::<BigInt, _>(ws)
        .load(&mut conn)?;
    for batch in stalled {
        if let Some(done) = conn.transaction(|tx| check_one(tx, ws, batch.id))? {
            tracing::warn!(workspace_id = ws, batch_id = batch.id, outcome = ?done, "a batch was left with nothing scheduled");
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Stalled {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    stall_resumes: i32,
    #[diesel(sql_type = Text)]
    local_now: String,
}

fn check_one(tx: &mut PgConnection, ws: i64, batch_id: i64) -> QueryResult<Option<Checked>> {
    let row: Option<Stalled> = diesel::sql_query(format!(
        "SELECT b.stall_resumes, to_char(now() AT TIME ZONE w.time_zone, 'YYYY-MM-DD HH24:MI') || ' (' || w.time_zone || ')' AS local_now \
         FROM campaign_batches b JOIN workspaces w ON w.id = b.workspace_id \
         WHERE b.workspace_id = $1 AND b.id = $2 AND {STALLED} FOR UPDATE OF b SKIP LOCKED"
    ))
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .get_result(tx)
    .optional()?;
    let Some(row) = row else { return Ok(None) };
    if row.stall_resumes < CHECK_RESUMES {
        let n = row.stall_resumes + 1;
        dispatch::enqueue_keyed(tx, ws, batch_id, Utc::now(), format!("dispatch-batch:{batch_id}:check:{n}"))?;
        let note = format!("Resumed by the check at {}: its dispatch had stopped with nothing scheduled.", row.local_now);
        set_stall(tx, ws, batch_id, n, &note, false)?;
        return Ok(Some(Checked::Resumed));
    }
    // Unsent messages first (queued: none is being sent), then the recipients without one;
    // the trigger moves a message's recipient with it.
    let through_messages = diesel::sql_query(
        "UPDATE messages m SET status = 'failed', failed_at = now(), lease_until = NULL, error_message = $3 \
         FROM campaign_recipients r WHERE r.workspace_id = $1 AND r.batch_id = $2 AND r.status = 'queued' AND r.message_id IS NOT NULL \
           AND m.workspace_id = r.workspace_id AND m.id = r.message_id AND m.status = 'queued'",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .bind::<Text, _>(GIVEN_UP)
    .execute(tx)?;
    let failed = diesel::sql_query(
        "UPDATE campaign_recipients SET status = 'failed', error_code = NULL, error_message = $3, updated_at = now() \
         WHERE workspace_id = $1 AND batch_id = $2 AND status = 'queued'",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .bind::<Text, _>(GIVEN_UP)
    .execute(tx)?;
    let failed = failed + through_messages;
    let note = format!("Failed: the batch's dispatch stopped with recipients left after {CHECK_RESUMES} resumes by the check.");
    set_stall(tx, ws, batch_id, row.stall_resumes, &note, true)?;
    Ok(Some(Checked::Failed(failed)))
}

fn set_stall(tx: &mut PgConnection, ws: i64, batch_id: i64, resumes: i32, note: &str, done: bool) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE campaign_batches SET stall_resumes = $3, stall_note = $4, \
           status = CASE WHEN $5 THEN 'done' ELSE status END, finished_at = CASE WHEN $5 THEN now() ELSE finished_at END \
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .bind::<diesel::sql_types::Integer, _>(resumes)
    .bind::<Text, _>(note)
    .bind::<diesel::sql_types::Bool, _>(done)
    .execute(tx)
}
