//! The daily status rule, set-based SQL over id-range chunks of a workspace's clients: hot after 3 or more
//! communications in the last 7 days, inactive after 30 days without one (counting from
//! creation for clients never contacted), warm otherwise. A status set by hand is left
//! alone for the workspace's `hand_status_days`. Every change is audited as "system".
//! A communication is any `communications` row: logged ones, and WhatsApp and SMS messages
//! in both directions (inbound when received, outbound when the provider accepts them:
//! see the `2026-12-06-040100_outbound_messages_are_communications` migration).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use crate::db::{self, Pool};
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{JobHandler, Kind};

pub const HOT_COMMUNICATIONS: i64 = 3;
pub const HOT_DAYS: i32 = 7;
pub const INACTIVE_DAYS: i32 = 30;

/// Clients per transaction: short transactions keep row locks brief for people editing.
pub const CHUNK: i64 = 20_000;
/// Chunks applied at once, each on its own connection.
pub const PARALLEL: usize = 2;

/// Applies the rule at `now` in id-range chunks, `PARALLEL` at a time; returns how many
/// clients changed status. Each chunk commits on its own (its changes and their audit rows
/// together), so a failure part-way leaves earlier chunks done and a re-run finishes the rest.
/// A run that changed at least `db::VACUUM_AFTER_ROWS` clients then vacuums the table.
pub fn apply(pool: &Pool, workspace_id: i64, now: DateTime<Utc>, hand_days: i32) -> QueryResult<usize> {
    #[derive(QueryableByName)]
    struct Bounds {
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        lo: Option<i64>,
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        hi: Option<i64>,
    }
    let mut conn = pool.get().map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
    let bounds: Bounds = diesel::sql_query("SELECT min(id) AS lo, max(id) AS hi FROM clients WHERE workspace_id = $1")
        .bind::<BigInt, _>(workspace_id)
        .get_result(&mut conn)?;
    drop(conn);
    let (Some(lo), Some(hi)) = (bounds.lo, bounds.hi) else { return Ok(0) };
    let chunks = (hi - lo) / CHUNK + 1;
    let next = AtomicI64::new(0);
    let changed = AtomicUsize::new(0);
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                let mut conn = match pool.get() {
                    Ok(c) => c,
                    Err(e) => {
                        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(diesel::result::Error::QueryBuilderError(Box::new(e)));
                        return;
                    }
                };
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= chunks || failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let from = lo + n * CHUNK;
                    match apply_range(&mut conn, workspace_id, now, hand_days, from, from + CHUNK - 1) {
                        Ok(k) => {
                            changed.fetch_add(k, Ordering::SeqCst);
                        }
                        Err(e) => {
                            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let changed = changed.into_inner();
    if changed >= db::VACUUM_AFTER_ROWS {
        tidy(pool);
    }
    Ok(changed)
}

/// Vacuums the clients after a run that changed many statuses (see `db::vacuum_analyze`),
/// so the list and search are back at their steady speed at once rather than when
/// autovacuum comes. The changes are committed by then: a failure is only logged.
fn tidy(pool: &Pool) {
    match pool.get() {
        Ok(mut conn) => db::vacuum_analyze_after(&mut conn, &[db::Vacuumed::Clients]),
        Err(e) => tracing::warn!(error = %e, "no connection to vacuum after the status rule; autovacuum will do it later"),
    }
}

/// The rule for clients with ids in `from..=to`, in one transaction.
fn apply_range(conn: &mut PgConnection, workspace_id: i64, now: DateTime<Utc>, hand_days: i32, from: i64, to: i64) -> QueryResult<usize> {
    conn.transaction(|tx| {
        diesel::sql_query(
            "WITH hot AS ( \
               SELECT client_id FROM communications \
               WHERE workspace_id = $1 AND client_id BETWEEN $7 AND $8 \
                 AND occurred_at > $2 - make_interval(days => $4) AND occurred_at <= $2 \
               GROUP BY client_id HAVING count(*) >= $5), \
             target AS ( \
               SELECT c.id, c.status AS old_status, \
                 CASE WHEN h.client_id IS NOT NULL THEN 'hot' \
                      WHEN coalesce(c.last_contacted_at, c.created_at) < $2 - make_interval(days => $6) THEN 'inactive' \
                      ELSE 'warm' END AS new_status \
               FROM clients c LEFT JOIN hot h ON h.client_id = c.id \
               WHERE c.workspace_id = $1 AND c.id BETWEEN $7 AND $8 \
                 AND (c.status_source = 'rule' OR c.status_changed_at < $2 - make_interval(days => $3))), \
             changed AS (SELECT * FROM target WHERE new_status <> old_status), \
             updated AS ( \
               UPDATE clients c SET status = ch.new_status, status_source = 'rule', status_changed_at = $2, version = c.version + 1 \
               FROM changed ch WHERE c.workspace_id = $1 AND c.id = ch.id RETURNING c.id) \
             INSERT INTO audit_logs (workspace_id, actor_kind, actor_user_id, actor_label, action, module, entity_id, before, after) \
             SELECT $1, 'system', NULL, 'system', $9, 'clients', ch.id::text, \
                    jsonb_build_object('status', ch.old_status), jsonb_build_object('status', ch.new_status) \
             FROM changed ch JOIN updated u ON u.id = ch.id",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<Timestamptz, _>(now)
        .bind::<Integer, _>(hand_days)
        .bind::<Integer, _>(HOT_DAYS)
        .bind::<BigInt, _>(HOT_COMMUNICATIONS)
        .bind::<Integer, _>(INACTIVE_DAYS)
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .bind::<Text, _>(crate::audit::Action::ClientsStatusRule.as_str())
        .execute(tx)
    })
}

/// The daily `client-status` job (see [`job`]).
pub struct ClientStatus;

impl ClientStatus {
    pub const KIND: Kind = Kind::new("client-status");
}

impl JobHandler for ClientStatus {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, job)
    }
}

/// The `client-status` job.
pub fn job(env: &JobEnv, job: &Job) -> Result<(), JobError> {
    let ws = crate::workspaces::find(&mut *env.pool.get()?, job.workspace_id)?;
    let changed = apply(&env.pool, ws.id, env.clock.now(), ws.hand_status_days)?;
    tracing::info!(workspace_id = ws.id, changed, "client-status rule applied");
    Ok(())
}
