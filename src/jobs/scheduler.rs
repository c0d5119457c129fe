//! The daily jobs: each workspace's client-status, follow-up-reminders and prune-jobs, enqueued once its
//! local time passes `daily_jobs_at`, keyed by kind and local date, so any number of
//! instances ticking at once still make one job per day; a tick after downtime catches up
//! on the day. Each tick also enqueues the minute's reconciliation, chat digests and batch
//! checks where there is something to do.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::jobs::{self, Kind, NewJob};
use crate::workspaces;

pub const DAILY: [Kind; 3] = [Kind::ClientStatus, Kind::FollowUpReminders, Kind::PruneJobs];

/// Enqueues what is due at `now`; returns how many jobs were new.
pub fn tick(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    // Expired sessions go whether or not anyone signs in (an indexed range delete).
    crate::auth::session_store::delete_expired(conn, now)?;
    // So are one-time form keys older than a day (an indexed range delete).
    crate::web::once::prune(conn)?;
    // So do rate events past any window (password-reset throttling), however quiet the
    // reset form is.
    crate::auth::throttle::forget_events_before(conn, now - chrono::Duration::days(1))?;
    let mut added = crate::messaging::reconcile::enqueue_due(conn, now)?;
    // Each subscriber's hourly chat digest (issue 13), one job per user and hour.
    added += crate::chat::digest::enqueue_due(conn, now)?;
    // Campaign batches left "sending" with nothing scheduled (issue 18): resumed or failed.
    added += crate::campaigns::dispatch::enqueue_checks(conn, now)?;
    let hour = now.format("%Y-%m-%dT%H");
    for ws in workspaces::all(conn)? {
        // Hourly, whatever the workspace's time: the live events replay only an hour back.
        let prune = NewJob::new(ws.id, Kind::PruneEvents, json!({})).key(format!("prune-events:{hour}")).attempts(3);
        added += usize::from(jobs::enqueue(conn, &prune)?.is_some());
        let local = now.with_timezone(&ws.zone());
        if local.time() < ws.daily_jobs_at {
            continue;
        }
        let date = local.date_naive();
        for kind in DAILY {
            let job = NewJob::new(ws.id, kind, json!({ "date": date })).key(format!("{}:{date}", kind.as_str())).attempts(5);
            added += usize::from(jobs::enqueue(conn, &job)?.is_some());
        }
    }
    Ok(added)
}
