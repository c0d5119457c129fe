//! The worker threads of one instance: each claims a few due jobs at a time, runs them and
//! records the outcome. A listener thread (LISTEN on its own connection, polled every 50 ms
//! because Diesel's notifications are non-blocking) wakes idle workers at once; without it
//! they still poll every second. A heartbeat thread keeps the leases of running jobs alive;
//! if the whole process dies the leases run out and other workers take the jobs over.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::prelude::*;
use rand::Rng;
use secrecy::ExposeSecret;

use crate::jobs::queue::{self, Job};
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{CHANNEL, Registry, scheduler};

#[derive(Clone, Debug)]
pub struct Options {
    pub workers: usize,
    pub lease_secs: i32,
    /// Jobs claimed per round trip.
    pub batch: i64,
    pub poll: Duration,
    /// Also run the daily scheduler (safe on every instance: its jobs are keyed per day).
    pub scheduler: bool,
}

impl Options {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Options { workers: settings.job_workers, lease_secs: settings.job_lease_secs, batch: 8, poll: Duration::from_secs(1), scheduler: settings.run_scheduler }
    }
}

#[derive(Default)]
struct Wake {
    generation: Mutex<u64>,
    cv: Condvar,
}

impl Wake {
    fn notify(&self) {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let guard = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let seen = *guard;
        let _ = self.cv.wait_timeout_while(guard, timeout, |g| *g == seen);
    }
}

/// Running workers; dropping this stops them after their current jobs.
pub struct Workers {
    stop: Arc<AtomicBool>,
    wake: Arc<Wake>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts the workers, running jobs with `registry`'s handlers (and its schedule, when
    /// `options.scheduler`).
    pub fn start(env: Arc<JobEnv>, registry: Arc<Registry>, options: Options) -> Workers {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Wake::default());
        let prefix = format!(
            "{}:{}:{}",
            std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into()),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut threads = Vec::new();
        // A thread the system refuses is logged and left out: fewer workers, not a crash.
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| match std::thread::Builder::new().name(name.clone()).spawn(f) {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::error!(error = %e, thread = %name, "cannot start a job thread");
                None
            }
        };
        for n in 0..options.workers {
            let (env, registry, stop, wake, options) = (env.clone(), registry.clone(), stop.clone(), wake.clone(), options.clone());
            let id = format!("{prefix}-{n}");
            threads.extend(spawn(format!("job-worker-{n}"), Box::new(move || work(&env, &registry, &id, &options, &stop, &wake))));
        }
        if options.workers > 0 {
            let (e, s, w) = (env.clone(), stop.clone(), wake.clone());
            threads.extend(spawn("job-listener".into(), Box::new(move || listen(&e, &s, &w))));
            let (e, s, prefix, lease, private) = (env.clone(), stop.clone(), prefix.clone(), options.lease_secs, registry.private_fields());
            threads.extend(spawn("job-heartbeat".into(), Box::new(move || heartbeat(&e, &prefix, lease, &private, &s))));
        }
        if options.scheduler {
            let (env, registry, stop) = (env.clone(), registry.clone(), stop.clone());
            threads.extend(spawn("job-scheduler".into(), Box::new(move || schedule(&env, &registry, &stop))));
        }
        tracing::info!(workers = options.workers, worker_prefix = %prefix, "job workers started");
        Workers { stop, wake, threads }
    }

    /// Stops claiming, lets running jobs finish, joins every thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sleeps up to `total`, returning early when stopping.
fn nap(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        slept += step;
    }
}

fn work(env: &JobEnv, registry: &Registry, worker: &str, options: &Options, stop: &AtomicBool, wake: &Wake) {
    let private = registry.private_fields();
    while !stop.load(Ordering::SeqCst) {
        let claimed = env.pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
            queue::claim(&mut conn, worker, options.lease_secs, options.batch).map_err(|e| e.to_string())
        });
        let jobs = match claimed {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(worker, error = %e, "cannot claim jobs; retrying");
                nap(stop, Duration::from_secs(1));
                continue;
            }
        };
        if jobs.is_empty() {
            wake.wait(options.poll);
            continue;
        }
        let mut done = Vec::with_capacity(jobs.len());
        for job in &jobs {
            match execute(env, registry, job) {
                Ok(()) => done.push((job.workspace_id, job.id)),
                Err(error) => record_failure(env, worker, job, error, &private),
            }
        }
        if let Err(e) = env.pool.get().map_err(|e| e.to_string()).and_then(|mut c| queue::complete(&mut c, worker, &done, &private).map_err(|e| e.to_string())) {
            // The lease runs out and another worker runs them again: at least once.
            tracing::error!(worker, error = %e, "cannot mark jobs done");
        }
    }
}

fn execute(env: &JobEnv, registry: &Registry, job: &Job) -> Result<(), JobError> {
    let span = tracing::info_span!("job", kind = %job.kind, job_id = job.id, workspace_id = job.workspace_id, attempt = job.attempts);
    let _entered = span.enter();
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| registry.run(env, job)))
        .unwrap_or_else(|_| Err(JobError::Retry("the job panicked".into())));
    match &outcome {
        Ok(()) => tracing::debug!(ms = started.elapsed().as_millis() as u64, "job done"),
        // Waiting (no SMTP yet) is expected: said once at INFO, then only at DEBUG.
        Err(JobError::Wait(reason, _)) if job.last_error.as_deref() == Some(reason.as_str()) => tracing::debug!(reason, "job still waits"),
        Err(JobError::Wait(reason, delay)) => tracing::info!(reason, retry_in_secs = delay.as_secs(), "job waits"),
        Err(e) => tracing::warn!(error = ?e, "job failed"),
    }
    outcome
}

fn record_failure(env: &JobEnv, worker: &str, job: &Job, error: JobError, private: &serde_json::Value) {
    let jitter: f64 = rand::rng().random();
    let (message, retry_in, permanent, count) = match error {
        JobError::Retry(m) => (m, queue::backoff(job.attempts, jitter), false, true),
        JobError::Permanent(m) => (m, 0.0, true, true),
        JobError::Wait(m, delay) => (m, delay.as_secs_f64(), false, false),
        JobError::RetryAfter(m, delay) => (m, delay.as_secs_f64(), false, true),
    };
    let result = env.pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
        queue::fail(&mut conn, worker, job, queue::Failure { error: &message, retry_in, permanent, count }, private).map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        tracing::error!(job_id = job.id, error = %e, "cannot record a job failure");
    }
}

fn listen(env: &JobEnv, stop: &AtomicBool, wake: &Wake) {
    while !stop.load(Ordering::SeqCst) {
        let mut conn = match PgConnection::establish(env.database_url.expose_secret()) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "job listener cannot connect; workers poll meanwhile");
                nap(stop, Duration::from_secs(2));
                continue;
            }
        };
        if diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).is_err() {
            nap(stop, Duration::from_secs(2));
            continue;
        }
        // Anything enqueued while we were not listening.
        wake.notify();
        'poll: while !stop.load(Ordering::SeqCst) {
            let mut woke = false;
            for note in conn.notifications_iter() {
                match note {
                    Ok(_) => woke = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "job listener lost its connection; reconnecting");
                        break 'poll;
                    }
                }
            }
            if woke {
                wake.notify();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn heartbeat(env: &JobEnv, prefix: &str, lease_secs: i32, private: &serde_json::Value, stop: &AtomicBool) {
    let every = Duration::from_millis((lease_secs as u64 * 1000 / 3).max(200));
    while !stop.load(Ordering::SeqCst) {
        nap(stop, every);
        if let Ok(mut conn) = env.pool.get() {
            if let Err(e) = queue::heartbeat(&mut conn, prefix, lease_secs).and_then(|_| queue::bury_expired(&mut conn, private)) {
                tracing::warn!(error = %e, "job heartbeat failed");
            }
        }
    }
}

fn schedule(env: &JobEnv, registry: &Registry, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match env.pool.get() {
            Ok(mut conn) => {
                if let Err(e) = scheduler::tick(registry, &mut conn, env.clock.now()) {
                    tracing::warn!(error = %e, "scheduler tick failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "scheduler cannot get a connection"),
        }
        nap(stop, Duration::from_secs(30));
    }
}
