//! Placeholder for the batch dispatcher (issue 12, another part): only its seam, so the
//! recipients dashboard's "Re-target failed" can enqueue a batch. The real dispatcher
//! replaces this file on merge; until then the job waits without using an attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{self, Kind, NewJob};

/// Enqueues the batch's `dispatch-batch` job (keyed by the batch: once), inside the
/// caller's transaction.
pub fn enqueue(conn: &mut PgConnection, workspace_id: i64, batch_id: i64, send_at: DateTime<Utc>) -> QueryResult<()> {
    let job = NewJob::new(workspace_id, Kind::DispatchBatch, json!({ "batch_id": batch_id })).key(format!("dispatch-batch:{batch_id}")).at(send_at);
    jobs::enqueue(conn, &job)?;
    Ok(())
}

pub fn job(_env: &JobEnv, _job: &Job) -> Result<(), JobError> {
    Err(JobError::Wait("dispatch is not built on this branch".into(), Duration::from_secs(60)))
}
