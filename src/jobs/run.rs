//! What a worker needs to run a job (its environment and how it fails), and the `noop` job.
//! The dispatch from kind to handler is the [`Registry`](crate::jobs::Registry).

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Pool;
use crate::jobs::queue::Job;
use crate::jobs::{JobHandler, Kind};

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

/// The `noop` job: does nothing, or sleeps or fails on request (benchmarks and fault tests).
pub struct Noop;

impl Noop {
    pub const KIND: Kind = Kind::new("noop");
}

impl JobHandler for Noop {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, _env: &JobEnv, job: &Job) -> Result<(), JobError> {
        noop(job)
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
