//! The scheduler's tick, every 30 s on each instance that runs it: the housekeeping and
//! enqueueing the features registered ([`Registry::cleanup`], [`Registry::enqueue_due`]),
//! then each workspace's hourly jobs and, once its local time passes `daily_jobs_at`, its
//! daily jobs. Hourly and daily jobs are keyed by kind and hour or local date, so any number
//! of instances ticking at once still make one job; a tick after downtime catches up on the
//! day.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::jobs::{self, NewJob, Registry};
use crate::workspaces;

/// Runs what `registry` schedules at `now`; returns how many jobs were new.
pub fn tick(registry: &Registry, conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    for cleanup in &registry.cleanups {
        cleanup(conn, now)?;
    }
    let mut added = 0;
    for due in &registry.due {
        added += due(conn, now)?;
    }
    let hour = now.format("%Y-%m-%dT%H");
    for ws in workspaces::all(conn)? {
        // Hourly, whatever the workspace's time.
        for kind in registry.hourly_kinds() {
            let job = NewJob::new(ws.id, *kind, json!({})).key(format!("{kind}:{hour}")).attempts(3);
            added += usize::from(jobs::enqueue(conn, &job)?.is_some());
        }
        let local = now.with_timezone(&ws.zone());
        if local.time() < ws.daily_jobs_at {
            continue;
        }
        let date = local.date_naive();
        for kind in registry.daily_kinds() {
            let job = NewJob::new(ws.id, *kind, json!({ "date": date })).key(format!("{kind}:{date}")).attempts(5);
            added += usize::from(jobs::enqueue(conn, &job)?.is_some());
        }
    }
    Ok(added)
}
