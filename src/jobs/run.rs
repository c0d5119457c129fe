//! What a worker needs to run a job, and the dispatch from kind to handler.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Pool;
use crate::jobs::Kind;
use crate::jobs::queue::Job;

/// Shared by every worker of an instance.
pub struct JobEnv {
    pub pool: Pool,
    pub database_url: SecretString,
    pub settings: Settings,
    pub clock: Clock,
    /// Key for secrets stored encrypted (SMTP passwords), derived from the secret key.
    pub at_rest_key: [u8; 32],
}

/// Why a job did not finish.
#[derive(Debug)]
pub enum JobError {
    /// Worth another attempt after a backoff (network, a 4xx SMTP reply, a busy database).
    Retry(String),
    /// Will never work (a 5xx SMTP reply, a bad payload): dead at once, kept for a person.
    Permanent(String),
    /// Not possible yet and not the job's fault (no SMTP configured): try again after the
    /// delay without using up an attempt.
    Wait(String, Duration),
    /// Worth another attempt, not before the delay (a provider's Retry-After); uses an
    /// attempt like `Retry`.
    RetryAfter(String, Duration),
}

impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        JobError::Retry(format!("database: {e}"))
    }
}

impl From<diesel::r2d2::PoolError> for JobError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        JobError::Retry(format!("database pool: {e}"))
    }
}

pub fn payload<T: for<'de> Deserialize<'de>>(job: &Job) -> Result<T, JobError> {
    serde_json::from_value(job.payload.clone()).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))
}

/// Runs one job to its end.
pub fn run(env: &JobEnv, job: &Job) -> Result<(), JobError> {
    match Kind::parse(&job.kind) {
        Some(Kind::Noop) => noop(job),
        Some(Kind::Import) => crate::imports::run::job(env, job),
        Some(Kind::SendEmail) => crate::email::send::job(env, job),
        Some(Kind::ClientStatus) => crate::clients::status_rule::job(env, job),
        Some(Kind::FollowUpReminders) => crate::notifications::reminders::job(env, job),
        Some(Kind::PruneJobs) => crate::jobs::queue::prune_job(env, job),
        Some(Kind::SyncTemplates) => crate::messaging::templates::job(env, job),
        Some(Kind::SendMessage) => crate::messaging::send::job(env, job),
        Some(Kind::ReconcileMessages) => crate::messaging::reconcile::job(env, job),
        Some(Kind::DispatchBatch) => crate::campaigns::dispatch::job(env, job),
        Some(Kind::ChatDigest) => crate::chat::digest::job(env, job),
        Some(Kind::PruneEvents) => crate::events::prune_job(env, job),
        Some(Kind::CheckBatches) => crate::campaigns::dispatch::check_job(env, job),
        None => Err(JobError::Permanent(format!("unknown job kind {:?}", job.kind))),
    }
}

#[derive(Deserialize, Default)]
struct NoopPayload {
    #[serde(default)]
    sleep_ms: u64,
    /// Always fail with this message (for the dead-job path).
    #[serde(default)]
    fail: Option<String>,
}

fn noop(job: &Job) -> Result<(), JobError> {
    let p: NoopPayload = payload(job)?;
    if p.sleep_ms > 0 {
        std::thread::sleep(Duration::from_millis(p.sleep_ms.min(600_000)));
    }
    match p.fail {
        Some(message) => Err(JobError::Retry(message)),
        None => Ok(()),
    }
}
