//! Background jobs in PostgreSQL: a typed enqueue that joins the caller's transaction (the
//! outbox), workers that claim with `FOR UPDATE SKIP LOCKED` under a lease, retries with
//! exponential backoff and jitter, dead jobs kept for a person to retry, and a daily
//! scheduler that enqueues each workspace's daily jobs once per local day. The kinds and the
//! scheduled work belong to the features, which register them at start-up ([`Registry`],
//! built by `registry::jobs`): nothing here names a feature.
//!
//! No crate: the queue crates for Rust either target sqlx or keep their own schema and
//! runtime; this is a table, three SQL statements and a thread pool, and it shares the
//! app's Diesel connections and transactions.

pub mod admin;
pub mod prune;
pub mod query;
pub mod queue;
pub mod registry;
pub mod run;
pub mod scheduler;
pub mod worker;

pub use registry::{JobHandler, Registry};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::jobs;

/// The LISTEN/NOTIFY channel that wakes workers.
pub const CHANNEL: &str = "switchboard_jobs";

/// What a job does: the text stored in `jobs.kind`. Each feature names its kinds beside the
/// handler that runs them (`email::send::SendEmail::KIND`), and registers the handler at
/// start-up (`registry::jobs`); this module knows none of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kind(&'static str);

impl Kind {
    /// The kind stored as `name` (existing rows keep their text, so a name never changes).
    pub const fn new(name: &'static str) -> Kind {
        Kind(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

crate::text_enum! {
    /// Where a job is in its life, stored as text under the `jobs_status_check` CHECK.
    ///
    /// queued → running → done; a failed attempt makes it `failed` (retried after a backoff)
    /// or, out of attempts, `dead`; `waiting` is a retry that used up no attempt (no SMTP
    /// server yet). A person may retry a waiting, failed, dead or cancelled job, and cancel a
    /// queued, waiting or failed one. `ALL` is in the order the jobs page shows them.
    pub enum JobStatus {
        Queued => "queued",
        Running => "running",
        Waiting => "waiting",
        Failed => "failed",
        Dead => "dead",
        Done => "done",
        Cancelled => "cancelled",
    }
}

impl JobStatus {
    /// Not finished: a worker has it or will claim it.
    pub const UNFINISHED: [JobStatus; 4] = [JobStatus::Queued, JobStatus::Waiting, JobStatus::Failed, JobStatus::Running];

    /// The status after a failed attempt: dead when the failure is `permanent` or, when it
    /// `counts`, on the last attempt; failed (retried after a backoff) when it counts;
    /// waiting (retried without using an attempt) when it does not.
    pub fn after_failure(attempts: i32, max_attempts: i32, permanent: bool, counts: bool) -> JobStatus {
        if permanent || (counts && attempts >= max_attempts) {
            JobStatus::Dead
        } else if counts {
            JobStatus::Failed
        } else {
            JobStatus::Waiting
        }
    }

    /// The status after a person retries the job (queued again), if it may be retried.
    pub fn retry(self) -> Option<JobStatus> {
        matches!(self, JobStatus::Waiting | JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled).then_some(JobStatus::Queued)
    }

    /// The status after a person cancels the job, if it may be cancelled.
    pub fn cancel(self) -> Option<JobStatus> {
        matches!(self, JobStatus::Queued | JobStatus::Waiting | JobStatus::Failed).then_some(JobStatus::Cancelled)
    }

    /// Whether the jobs page offers "Retry".
    pub fn can_retry(&self) -> bool {
        self.retry().is_some()
    }

    /// Whether the jobs page offers "Cancel".
    pub fn can_cancel(&self) -> bool {
        self.cancel().is_some()
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub workspace_id: i64,
    pub kind: Kind,
    pub payload: serde_json::Value,
    pub run_at: Option<DateTime<Utc>>,
    /// The same key twice in a workspace is one job.
    pub key: Option<String>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(workspace_id: i64, kind: Kind, payload: impl Serialize) -> Self {
        NewJob { workspace_id, kind, payload: serde_json::to_value(payload).unwrap_or_default(), run_at: None, key: None, max_attempts: 5 }
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn at(mut self, when: DateTime<Utc>) -> Self {
        self.run_at = Some(when);
        self
    }

    pub fn attempts(mut self, max: i32) -> Self {
        self.max_attempts = max.clamp(1, 100);
        self
    }
}

/// Enqueues with the caller's connection: inside a transaction the job exists only if the
/// transaction commits, and workers are woken at commit. `None` when the key already exists.
pub fn enqueue(conn: &mut PgConnection, job: &NewJob) -> QueryResult<Option<i64>> {
    let id = diesel::insert_into(jobs::table)
        .values((
            jobs::workspace_id.eq(job.workspace_id),
            jobs::kind.eq(job.kind.as_str()),
            jobs::payload.eq(&job.payload),
            jobs::run_at.eq(job.run_at.unwrap_or_else(Utc::now)),
            jobs::max_attempts.eq(job.max_attempts),
            jobs::idempotency_key.eq(&job.key),
        ))
        .on_conflict_do_nothing()
        .returning(jobs::id)
        .get_result(conn)
        .optional()?;
    if id.is_some() {
        wake(conn)?;
    }
    Ok(id)
}

/// Enqueues many in multi-row inserts; returns how many were new.
pub fn enqueue_many(conn: &mut PgConnection, batch: &[NewJob]) -> QueryResult<usize> {
    let now = Utc::now();
    let mut added = 0;
    for chunk in batch.chunks(5_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|job| {
                (
                    jobs::workspace_id.eq(job.workspace_id),
                    jobs::kind.eq(job.kind.as_str()),
                    jobs::payload.eq(&job.payload),
                    jobs::run_at.eq(job.run_at.unwrap_or(now)),
                    jobs::max_attempts.eq(job.max_attempts),
                    jobs::idempotency_key.eq(&job.key),
                )
            })
            .collect();
        added += diesel::insert_into(jobs::table).values(rows).on_conflict_do_nothing().execute(conn)?;
    }
    if added > 0 {
        wake(conn)?;
    }
    Ok(added)
}

/// Wakes the workers (at commit, when called inside a transaction).
pub fn wake(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("SELECT pg_notify('{CHANNEL}', '')")).execute(conn).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_statuses_round_trip_and_say_what_a_person_may_do() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!(JobStatus::parse("finished"), None);
        assert_eq!(JobStatus::parse("Queued"), None, "stored in lower case only");
        let retryable: Vec<_> = JobStatus::ALL.into_iter().filter(JobStatus::can_retry).map(JobStatus::as_str).collect();
        assert_eq!(retryable, ["waiting", "failed", "dead", "cancelled"]);
        let cancellable: Vec<_> = JobStatus::ALL.into_iter().filter(JobStatus::can_cancel).map(JobStatus::as_str).collect();
        assert_eq!(cancellable, ["queued", "waiting", "failed"]);
        assert_eq!(JobStatus::Dead.retry(), Some(JobStatus::Queued));
        assert_eq!(JobStatus::Failed.cancel(), Some(JobStatus::Cancelled));
        assert_eq!(JobStatus::Running.retry(), None, "a running job belongs to its worker");
        assert_eq!(JobStatus::Done.cancel(), None);
        assert_eq!(JobStatus::after_failure(1, 5, false, true), JobStatus::Failed);
        assert_eq!(JobStatus::after_failure(5, 5, false, true), JobStatus::Dead, "out of attempts");
        assert_eq!(JobStatus::after_failure(1, 5, true, true), JobStatus::Dead, "permanent");
        assert_eq!(JobStatus::after_failure(5, 5, false, false), JobStatus::Waiting, "an attempt that does not count never kills");
    }
}
