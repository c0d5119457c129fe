//! The daily status rule, one set-based statement per workspace: hot after 3 or more
//! communications in the last 7 days, inactive after 30 days without one (counting from
//! creation for clients never contacted), warm otherwise. A status set by hand is left
//! alone for the workspace's `hand_status_days`. Every change is audited as "system".

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamptz};

use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};

pub const HOT_COMMUNICATIONS: i64 = 3;
pub const HOT_DAYS: i32 = 7;
pub const INACTIVE_DAYS: i32 = 30;

/// Applies the rule at `now`; returns how many clients changed status.
pub fn apply(conn: &mut PgConnection, workspace_id: i64, now: DateTime<Utc>, hand_days: i32) -> QueryResult<usize> {
    conn.transaction(|tx| {
        diesel::sql_query(
            "WITH hot AS ( \
               SELECT client_id FROM communications \
               WHERE workspace_id = $1 AND occurred_at > $2 - make_interval(days => $4) AND occurred_at <= $2 \
               GROUP BY client_id HAVING count(*) >= $5), \
             target AS ( \
               SELECT c.id, c.status AS old_status, \
                 CASE WHEN h.client_id IS NOT NULL THEN 'hot' \
                      WHEN coalesce(c.last_contacted_at, c.created_at) < $2 - make_interval(days => $6) THEN 'inactive' \
                      ELSE 'warm' END AS new_status \
               FROM clients c LEFT JOIN hot h ON h.client_id = c.id \
               WHERE c.workspace_id = $1 AND (c.status_source = 'rule' OR c.status_changed_at < $2 - make_interval(days => $3))), \
             changed AS (SELECT * FROM target WHERE new_status <> old_status), \
             updated AS ( \
               UPDATE clients c SET status = ch.new_status, status_source = 'rule', status_changed_at = $2, version = c.version + 1 \
               FROM changed ch WHERE c.workspace_id = $1 AND c.id = ch.id RETURNING c.id) \
             INSERT INTO audit_logs (workspace_id, actor_kind, actor_user_id, actor_label, action, module, entity_id, before, after) \
             SELECT $1, 'system', NULL, 'system', 'clients.status_rule', 'clients', ch.id::text, \
                    jsonb_build_object('status', ch.old_status), jsonb_build_object('status', ch.new_status) \
             FROM changed ch JOIN updated u ON u.id = ch.id",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<Timestamptz, _>(now)
        .bind::<Integer, _>(hand_days)
        .bind::<Integer, _>(HOT_DAYS)
        .bind::<BigInt, _>(HOT_COMMUNICATIONS)
        .bind::<Integer, _>(INACTIVE_DAYS)
        .execute(tx)
    })
}

/// The `client-status` job.
pub fn job(env: &JobEnv, job: &Job) -> Result<(), JobError> {
    let mut conn = env.pool.get()?;
    let ws = crate::workspaces::find(&mut conn, job.workspace_id)?;
    let changed = apply(&mut conn, ws.id, env.clock.now(), ws.hand_status_days)?;
    tracing::info!(workspace_id = ws.id, changed, "client-status rule applied");
    Ok(())
}
