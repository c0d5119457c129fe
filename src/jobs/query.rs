//! What people see of the queue and do to it: counts and pages by status, one job locked
//! for a change, retry and cancel, and a kind's unfinished jobs.

use diesel::prelude::*;

use crate::db::schema::jobs;
use crate::jobs::queue::Job;
use crate::jobs::{JobStatus, Kind, wake};

/// How many of the workspace's jobs are in each status (statuses with none are missing).
pub fn count_by_status(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<(JobStatus, i64)>> {
    jobs::table
        .filter(jobs::workspace_id.eq(workspace_id))
        .group_by(jobs::status)
        .select((jobs::status, diesel::dsl::count_star()))
        .load(conn)
}

/// Page `page` (1-based) of the workspace's jobs in `status`, last changed first, with up to
/// `per_page + 1` rows so the caller can tell whether another page follows.
pub fn list_by_status(conn: &mut PgConnection, workspace_id: i64, status: JobStatus, page: i64, per_page: i64) -> QueryResult<Vec<Job>> {
    jobs::table
        .filter(jobs::workspace_id.eq(workspace_id))
        .filter(jobs::status.eq(status))
        .order((jobs::updated_at.desc(), jobs::id.desc()))
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
        .select(Job::as_select())
        .load(conn)
}

/// The job, row-locked until the transaction ends.
pub fn find_for_update(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Job>> {
    jobs::table
        .filter(jobs::workspace_id.eq(workspace_id))
        .filter(jobs::id.eq(id))
        .select(Job::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// Queues the job again now, with its attempts back, and wakes the workers (at commit).
pub fn requeue(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<()> {
    diesel::update(jobs::table.filter(jobs::workspace_id.eq(workspace_id)).filter(jobs::id.eq(id)))
        .set((
            jobs::status.eq(JobStatus::Queued),
            jobs::attempts.eq(0),
            jobs::run_at.eq(diesel::dsl::now),
            jobs::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    wake(conn)
}

pub fn cancel(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<()> {
    diesel::update(jobs::table.filter(jobs::workspace_id.eq(workspace_id)).filter(jobs::id.eq(id)))
        .set((jobs::status.eq(JobStatus::Cancelled), jobs::finished_at.eq(diesel::dsl::now), jobs::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .map(|_| ())
}

/// How many of the workspace's `kind` jobs are not finished yet.
pub fn count_unfinished(conn: &mut PgConnection, workspace_id: i64, kind: Kind) -> QueryResult<i64> {
    jobs::table
        .filter(jobs::workspace_id.eq(workspace_id))
        .filter(jobs::kind.eq(kind.as_str()))
        .filter(jobs::status.eq_any(JobStatus::UNFINISHED))
        .count()
        .get_result(conn)
}

/// The workspace's `kind` jobs that wait for a retry (waiting or failed) run now instead.
pub fn run_retries_now(conn: &mut PgConnection, workspace_id: i64, kind: Kind) -> QueryResult<usize> {
    diesel::update(
        jobs::table
            .filter(jobs::workspace_id.eq(workspace_id))
            .filter(jobs::kind.eq(kind.as_str()))
            .filter(jobs::status.eq_any([JobStatus::Waiting, JobStatus::Failed])),
    )
    .set(jobs::run_at.eq(diesel::dsl::now))
    .execute(conn)
}
