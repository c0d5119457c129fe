//! The job kinds and scheduled work an instance knows, registered by the features at
//! start-up (`registry::jobs`), as crates.io's background worker registers its job types:
//! each handler names its kind and runs it, and the scheduler enqueues what the features
//! asked for. Adding a kind touches its feature and one registration line, nothing here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::jobs::Kind;
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};

/// Runs the jobs of one kind. A feature implements it on a unit struct beside its job code,
/// with the kind as the struct's `KIND` constant for its enqueuers.
pub trait JobHandler: Send + Sync {
    /// The kind it runs (the text stored in `jobs.kind`).
    fn kind(&self) -> Kind;

    /// Runs one job of this kind to its end.
    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError>;

    /// Why a person may not retry `job` from the jobs page, if its payload cannot run again
    /// (a dead job's payload is scrubbed of what it must not keep); the page refuses the
    /// retry with this sentence. By default any retryable job may be retried.
    fn retry_refusal(&self, _job: &Job) -> Option<String> {
        None
    }

    /// The payload fields a done or dead job of this kind no longer keeps (an email's body
    /// may carry a sign-in link), besides `sealed`, which no kind keeps.
    fn private_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// What a scheduler tick calls besides the workspaces' hourly and daily jobs, with the tick's
/// time.
pub type Task = fn(&mut PgConnection, DateTime<Utc>) -> QueryResult<usize>;

/// The handlers by kind, and the scheduled work (see `jobs::scheduler::tick`).
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Box<dyn JobHandler>>,
    /// Housekeeping on every tick (what they return, rows deleted, is not counted).
    pub(super) cleanups: Vec<Task>,
    /// Enqueue what is due on every tick; return how many jobs were new.
    pub(super) due: Vec<Task>,
    pub(super) hourly: Vec<Kind>,
    pub(super) daily: Vec<Kind>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Runs `handler`'s kind. A kind registered twice is a mistake in the registration list.
    pub fn job(mut self, handler: impl JobHandler + 'static) -> Self {
        let kind = handler.kind().as_str();
        let before = self.handlers.insert(kind, Box::new(handler));
        assert!(before.is_none(), "job kind {kind:?} registered twice");
        self
    }

    /// Housekeeping on every scheduler tick (every 30 s on each instance that runs the
    /// scheduler), such as an indexed delete of expired rows.
    pub fn cleanup(mut self, task: Task) -> Self {
        self.cleanups.push(task);
        self
    }

    /// Enqueues what is due on every scheduler tick, keyed so that instances ticking at once
    /// make one job; the task returns how many jobs were new.
    pub fn enqueue_due(mut self, task: Task) -> Self {
        self.due.push(task);
        self
    }

    /// One `kind` job per workspace and hour (UTC), payload `{}`, three attempts.
    pub fn hourly(mut self, kind: Kind) -> Self {
        self.hourly.push(kind);
        self
    }

    /// One `kind` job per workspace and local day, once the workspace's local time passes
    /// its `daily_jobs_at`, payload `{"date": …}`, five attempts.
    pub fn daily(mut self, kind: Kind) -> Self {
        self.daily.push(kind);
        self
    }

    /// The handler of the kind stored as `kind`.
    pub fn handler(&self, kind: &str) -> Option<&dyn JobHandler> {
        self.handlers.get(kind).map(|h| h.as_ref())
    }

    /// What each kind drops from a finished job's payload besides `sealed`, as the queue's
    /// statements bind it: `{"kind": ["field", …]}` for the kinds that drop more.
    pub fn private_fields(&self) -> serde_json::Value {
        let kinds = self.handlers.values().filter(|h| !h.private_fields().is_empty()).map(|h| (h.kind().as_str().to_string(), serde_json::json!(h.private_fields())));
        serde_json::Value::Object(kinds.collect())
    }

    /// Every registered kind, in no particular order.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.handlers.values().map(|h| h.kind())
    }

    pub fn hourly_kinds(&self) -> &[Kind] {
        &self.hourly
    }

    pub fn daily_kinds(&self) -> &[Kind] {
        &self.daily
    }

    /// Runs one job to its end with its kind's handler; a kind nobody registered never will
    /// run, so it fails permanently.
    pub fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        match self.handler(&job.kind) {
            Some(handler) => handler.run(env, job),
            None => Err(JobError::Permanent(format!("unknown job kind {:?}", job.kind))),
        }
    }
}
