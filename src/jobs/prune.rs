//! Pruning finished jobs: the daily `prune-jobs` job deletes each workspace's done, cancelled
//! and dead jobs past `SWITCHBOARD_JOB_RETENTION_DAYS`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{JobHandler, Kind};

/// Jobs deleted per statement by `prune`, so no transaction holds many row locks for long.
pub const PRUNE_BATCH: i64 = 5_000;

/// Deletes the workspace's done, cancelled and dead jobs that finished more than `days`
/// before `now`; returns how many. Batches skip rows another instance is deleting, so any
/// number of instances may prune at once.
pub fn prune(conn: &mut PgConnection, workspace_id: i64, now: DateTime<Utc>, days: i32) -> QueryResult<usize> {
    let mut deleted = 0;
    loop {
        let n = diesel::sql_query(
            "DELETE FROM jobs WHERE (workspace_id, id) IN ( \
               SELECT workspace_id, id FROM jobs WHERE workspace_id = $1 AND status IN ('done', 'cancelled', 'dead') \
                 AND finished_at < $2 - make_interval(days => $3) \
               LIMIT $4 FOR UPDATE SKIP LOCKED)",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .bind::<Integer, _>(days)
        .bind::<BigInt, _>(PRUNE_BATCH)
        .execute(conn)?;
        deleted += n;
        if (n as i64) < PRUNE_BATCH {
            return Ok(deleted);
        }
    }
}

/// The daily `prune-jobs` job: the workspace's finished jobs past
/// `SWITCHBOARD_JOB_RETENTION_DAYS`.
pub struct PruneJobs;

impl PruneJobs {
    pub const KIND: Kind = Kind::new("prune-jobs");
}

impl JobHandler for PruneJobs {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        let deleted = prune(&mut *env.pool.get()?, job.workspace_id, env.clock.now(), env.settings.job_retention_days)?;
        tracing::info!(workspace_id = job.workspace_id, deleted, days = env.settings.job_retention_days, "finished jobs pruned");
        Ok(())
    }
}
