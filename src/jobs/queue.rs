//! The queue's statements: claim (new, retrying, or lease expired), extend leases, finish.
//!
//! Statuses that pick rows are SQL literals (the `JobStatus` strings), not parameters: the
//! partial indexes (`jobs_ready_idx`, `jobs_lease_idx`, `jobs_finished_idx`) serve a
//! statement only when the planner sees the same literals as the index's WHERE. A status
//! decided in Rust (after a failure, `JobStatus::after_failure`) is bound.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Jsonb, Text};

use crate::db::schema::jobs;
use crate::jobs::JobStatus;

#[derive(Clone, Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub workspace_id: i64,
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub status: JobStatus,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What a job keeps of its payload once it is done or dead: nothing sealed, and none of the
/// fields its kind calls private (`JobHandler::private_fields`, bound as parameter `$n`, the
/// registry's `{"kind": ["field", …]}`).
fn scrubbed_payload(n: usize) -> String {
    format!("payload - 'sealed' - ARRAY(SELECT jsonb_array_elements_text(COALESCE(${n}::jsonb -> kind, '[]'::jsonb)))")
}

/// Claims up to `limit` runnable jobs for `worker`, leased for `lease_secs`: queued or
/// retrying jobs that are due, and running jobs whose lease ran out (their worker died).
pub fn claim(conn: &mut PgConnection, worker: &str, lease_secs: i32, limit: i64) -> QueryResult<Vec<Job>> {
    diesel::sql_query(
        "WITH due AS (SELECT workspace_id, id, run_at FROM jobs WHERE status IN ('queued', 'waiting', 'failed') AND run_at <= now() \
                       ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
              expired AS (SELECT workspace_id, id, locked_until AS run_at FROM jobs WHERE status = 'running' AND locked_until < now() \
                          AND attempts < max_attempts \
                          ORDER BY locked_until LIMIT $3 FOR UPDATE SKIP LOCKED), \
              picked AS (SELECT * FROM due UNION ALL SELECT * FROM expired ORDER BY run_at LIMIT $3) \
         UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, locked_by = $1, \
           locked_until = now() + make_interval(secs => $2), updated_at = now() \
         FROM picked c WHERE j.workspace_id = c.workspace_id AND j.id = c.id \
         RETURNING j.*",
    )
    .bind::<Text, _>(worker)
    .bind::<Integer, _>(lease_secs)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// Extends the leases of the jobs `worker` is running.
pub fn heartbeat(conn: &mut PgConnection, worker_prefix: &str, lease_secs: i32) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => $2) \
         WHERE status = 'running' AND starts_with(locked_by, $1)",
    )
    .bind::<Text, _>(worker_prefix)
    .bind::<Integer, _>(lease_secs)
    .execute(conn)
}

/// Jobs whose lease ran out on their last attempt (their worker died every time) are dead,
/// not claimed again: a job that kills its worker must not loop forever.
pub fn bury_expired(conn: &mut PgConnection, private: &serde_json::Value) -> QueryResult<usize> {
    diesel::sql_query(format!(
        "UPDATE jobs SET status = 'dead', finished_at = now(), updated_at = now(), locked_by = NULL, locked_until = NULL, \
           last_error = 'The worker running it stopped (lease expired) on every attempt.', payload = {} \
         WHERE status = 'running' AND locked_until < now() AND attempts >= max_attempts",
        scrubbed_payload(1)
    ))
    .bind::<Jsonb, _>(private)
    .execute(conn)
}

/// Marks jobs done, but only where this worker still holds them.
pub fn complete(conn: &mut PgConnection, worker: &str, done: &[(i64, i64)], private: &serde_json::Value) -> QueryResult<usize> {
    if done.is_empty() {
        return Ok(0);
    }
    let (ws, ids): (Vec<i64>, Vec<i64>) = done.iter().copied().unzip();
    diesel::sql_query(format!(
        "UPDATE jobs j SET status = 'done', finished_at = now(), updated_at = now(), locked_by = NULL, locked_until = NULL, \
           payload = {} \
         FROM unnest($2::bigint[], $3::bigint[]) AS d(workspace_id, id) \
         WHERE j.workspace_id = d.workspace_id AND j.id = d.id AND j.status = 'running' AND j.locked_by = $1",
        scrubbed_payload(4)
    ))
    .bind::<Text, _>(worker)
    .bind::<diesel::sql_types::Array<BigInt>, _>(ws)
    .bind::<diesel::sql_types::Array<BigInt>, _>(ids)
    .bind::<Jsonb, _>(private)
    .execute(conn)
}

/// A failed attempt: retried after `retry_in` seconds, or dead when out of attempts (or
/// when `permanent`). `count` false gives the attempt back and marks the job waiting rather
/// than failed (e.g. SMTP not set up yet).
pub struct Failure<'a> {
    pub error: &'a str,
    pub retry_in: f64,
    pub permanent: bool,
    pub count: bool,
}

/// Records `failure` of `job`; a dead job's payload loses its `private` fields.
pub fn fail(conn: &mut PgConnection, worker: &str, job: &Job, failure: Failure, private: &serde_json::Value) -> QueryResult<usize> {
    let Failure { error, retry_in, permanent, count } = failure;
    let status = JobStatus::after_failure(job.attempts, job.max_attempts, permanent, count);
    let dead = status == JobStatus::Dead;
    let error: String = error.chars().take(2_000).collect();
    diesel::sql_query(format!(
        "UPDATE jobs SET status = $8, last_error = $3, \
           run_at = now() + make_interval(secs => $5), attempts = attempts - CASE WHEN $6 THEN 0 ELSE 1 END, \
           finished_at = CASE WHEN $4 THEN now() END, updated_at = now(), locked_by = NULL, locked_until = NULL, \
           payload = CASE WHEN $4 THEN {} ELSE payload END \
         WHERE workspace_id = $1 AND id = $2 AND status = 'running' AND locked_by = $7",
        scrubbed_payload(9)
    ))
    .bind::<BigInt, _>(job.workspace_id)
    .bind::<BigInt, _>(job.id)
    .bind::<Text, _>(error)
    .bind::<diesel::sql_types::Bool, _>(dead)
    .bind::<diesel::sql_types::Double, _>(retry_in)
    .bind::<diesel::sql_types::Bool, _>(count)
    .bind::<Text, _>(worker)
    .bind::<Text, _>(status)
    .bind::<Jsonb, _>(private)
    .execute(conn)
}

/// Seconds until retry number `attempt` (1-based): 2^attempt seconds up to an hour, times
/// a jitter between 0.5 and 1.5 so failed jobs do not come back in step.
pub fn backoff(attempt: i32, jitter: f64) -> f64 {
    let base = 2f64.powi(attempt.clamp(1, 12)).min(3_600.0);
    base * (0.5 + jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(super::backoff(1, 0.5), 2.0);
        assert_eq!(super::backoff(3, 0.5), 8.0);
        assert_eq!(super::backoff(30, 0.5), 3_600.0);
        assert_eq!(super::backoff(2, 0.0), 2.0);
        assert_eq!(super::backoff(2, 1.0), 6.0);
    }
}
