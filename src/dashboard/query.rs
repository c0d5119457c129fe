//! The tiles' queries. Admin and agent client counts and the workspace's communication
//! chart read trigger-maintained counters (see the dashboard migration); managers' counts
//! go through their client scope.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;

use crate::authz::{Role, Scope};
use crate::db::schema::{client_counts, clients, communication_counts, communications, follow_ups};
use crate::web::time::Zone;

#[derive(Clone, Copy, Debug, Default)]
pub struct StatusCounts {
    pub hot: i64,
    pub warm: i64,
    pub inactive: i64,
}

impl StatusCounts {
    pub fn total(&self) -> i64 {
        self.hot + self.warm + self.inactive
    }

    /// Adds a counter row's count to its status.
    pub fn add(&mut self, status: &str, n: i64) {
        match status {
            "hot" => self.hot += n,
            "warm" => self.warm += n,
            "inactive" => self.inactive += n,
            _ => {}
        }
    }

    fn from_rows(rows: Vec<(String, i64)>) -> Self {
        let mut counts = StatusCounts::default();
        for (status, n) in rows {
            counts.add(&status, n);
        }
        counts
    }
}

pub fn client_status_counts(conn: &mut PgConnection, scope: &Scope) -> QueryResult<StatusCounts> {
    let rows: Vec<(String, i64)> = match scope.role {
        Role::Manager => ["hot", "warm", "inactive"]
            .into_iter()
            .map(|status| Ok((status.to_string(), scope.clients().filter(clients::status.eq(status)).count().get_result(conn)?)))
            .collect::<QueryResult<_>>()?,
        Role::Admin | Role::Agent => counter_rows(scope).select((client_counts::status, client_counts::n)).load(conn)?,
    };
    Ok(StatusCounts::from_rows(rows))
}

/// The counter rows whose sum is an admin's or an agent's status counts: one per (assignee,
/// status), so a handful per workspace; an agent's are those of their own clients. (A
/// manager's counts are not counter rows: see `client_status_counts`.)
pub fn counter_rows(scope: &Scope) -> client_counts::BoxedQuery<'static, diesel::pg::Pg> {
    let query = client_counts::table.filter(client_counts::workspace_id.eq(scope.workspace_id)).into_boxed();
    if scope.role == Role::Agent { query.filter(client_counts::assigned_to.eq(scope.user_id)) } else { query }
}

pub struct FollowUpCounts {
    pub pending: i64,
    pub overdue: i64,
    pub due_soon: i64,
}

/// Pending follow-ups: all of the workspace for admins, of their clients for managers,
/// their own for agents.
fn follow_ups_in_scope(scope: &Scope) -> follow_ups::BoxedQuery<'static, diesel::pg::Pg> {
    let query = follow_ups::table
        .filter(follow_ups::workspace_id.eq(scope.workspace_id))
        .filter(follow_ups::status.eq("pending"))
        .into_boxed();
    match scope.role {
        Role::Admin => query,
        Role::Agent => query.filter(follow_ups::assigned_to.eq(scope.user_id)),
        Role::Manager => query.filter(follow_ups::client_id.eq_any(scope.clients().select(clients::id))),
    }
}

pub fn follow_up_counts(conn: &mut PgConnection, scope: &Scope, now: DateTime<Utc>) -> QueryResult<FollowUpCounts> {
    let soon = now + Duration::hours(24);
    let exact = |conn: &mut PgConnection, from: DateTime<Utc>, to: DateTime<Utc>| -> QueryResult<i64> {
        if from >= to {
            return Ok(0);
        }
        follow_ups_in_scope(scope).filter(follow_ups::due_at.ge(from)).filter(follow_ups::due_at.lt(to)).count().get_result(conn)
    };
    if scope.role == Role::Manager {
        return Ok(FollowUpCounts {
            pending: follow_ups_in_scope(scope).count().get_result(conn)?,
            overdue: follow_ups_in_scope(scope).filter(follow_ups::due_at.lt(now)).count().get_result(conn)?,
            due_soon: exact(conn, now, soon)?,
        });
    }
    // Counter rows for whole days, hours and minutes; the table only for the edge minutes.
    let owner = (scope.role == Role::Agent).then_some(scope.user_id);
    let (due_before_now, due_before_soon) = (Edges::of(now), Edges::of(soon));
    #[derive(QueryableByName)]
    struct Sums {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        pending: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        before_now: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        before_soon: i64,
    }
    // Five index ranges of the counters' primary key: every day (the pending total and the
    // days before each edge), then for each edge the hours of its day and the minutes of
    // its hour that come before it.
    let sums: Sums = diesel::sql_query(
        "WITH c AS ( \
           SELECT grain, bucket, n FROM follow_up_counts \
            WHERE workspace_id = $1 AND ($2::bigint IS NULL OR assigned_to = $2) AND grain = 1 \
           UNION ALL SELECT grain, bucket, n FROM follow_up_counts \
            WHERE workspace_id = $1 AND ($2::bigint IS NULL OR assigned_to = $2) AND grain = 2 AND bucket >= $3 AND bucket < $4 \
           UNION ALL SELECT grain, bucket, n FROM follow_up_counts \
            WHERE workspace_id = $1 AND ($2::bigint IS NULL OR assigned_to = $2) AND grain = 3 AND bucket >= $4 AND bucket < $5 \
           UNION ALL SELECT grain, bucket, n FROM follow_up_counts \
            WHERE workspace_id = $1 AND ($2::bigint IS NULL OR assigned_to = $2) AND grain = 2 AND bucket >= $6 AND bucket < $7 \
              AND NOT (bucket >= $3 AND bucket < $4) \
           UNION ALL SELECT grain, bucket, n FROM follow_up_counts \
            WHERE workspace_id = $1 AND ($2::bigint IS NULL OR assigned_to = $2) AND grain = 3 AND bucket >= $7 AND bucket < $8 \
              AND NOT (bucket >= $4 AND bucket < $5)) \
         SELECT coalesce(sum(n) FILTER (WHERE grain = 1), 0)::bigint AS pending, \
                coalesce(sum(n) FILTER (WHERE grain = 1 AND bucket < $3 OR grain = 2 AND bucket >= $3 AND bucket < $4 \
                                        OR grain = 3 AND bucket >= $4 AND bucket < $5), 0)::bigint AS before_now, \
                coalesce(sum(n) FILTER (WHERE grain = 1 AND bucket < $6 OR grain = 2 AND bucket >= $6 AND bucket < $7 \
                                        OR grain = 3 AND bucket >= $7 AND bucket < $8), 0)::bigint AS before_soon \
         FROM c",
    )
    .bind::<diesel::sql_types::BigInt, _>(scope.workspace_id)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(owner)
    .bind::<diesel::sql_types::Timestamptz, _>(due_before_now.day)
    .bind::<diesel::sql_types::Timestamptz, _>(due_before_now.hour)
    .bind::<diesel::sql_types::Timestamptz, _>(due_before_now.minute)
    .bind::<diesel::sql_types::Timestamptz, _>(due_before_soon.day)
    .bind::<diesel::sql_types::Timestamptz, _>(due_before_soon.hour)
    .bind::<diesel::sql_types::Timestamptz, _>(due_before_soon.minute)
    .get_result(conn)?;
    let overdue = sums.before_now + exact(conn, due_before_now.minute, now)?;
    let due_by_soon = sums.before_soon + exact(conn, due_before_soon.minute, soon)?;
    Ok(FollowUpCounts { pending: sums.pending, overdue, due_soon: due_by_soon - overdue })
}

/// The UTC day, hour and minute an instant falls in: the counters' buckets.
struct Edges {
    day: DateTime<Utc>,
    hour: DateTime<Utc>,
    minute: DateTime<Utc>,
}

impl Edges {
    fn of(t: DateTime<Utc>) -> Self {
        use chrono::{DurationRound, TimeDelta};
        let floor = |unit: TimeDelta| t.duration_trunc(unit).unwrap_or(t);
        Edges { day: floor(TimeDelta::days(1)), hour: floor(TimeDelta::hours(1)), minute: floor(TimeDelta::minutes(1)) }
    }
}

pub struct Bar {
    pub day: String,
    /// The day's label in two short lines ("Mon", "23"), so seven fit a phone-wide tile.
    pub weekday: String,
    pub date: String,
    pub n: i64,
    pub x: i64,
    pub y: i64,
    pub height: i64,
}

pub const CHART_HEIGHT: i64 = 120;

/// Communications per local day for the last 7 days (today included), as SVG bars.
pub fn communication_bars(conn: &mut PgConnection, scope: &Scope, zone: Zone, now: DateTime<Utc>) -> QueryResult<Vec<Bar>> {
    let today = zone.day_of(now);
    let first = today - Duration::days(6);
    let (since, until) = (zone.start_of(first), zone.start_of(today + Duration::days(1)));
    // (instant, count) pairs: hourly counters for admins, single communications otherwise.
    let rows: Vec<(DateTime<Utc>, i64)> = match scope.role {
        Role::Admin => communication_counts::table
            .filter(communication_counts::workspace_id.eq(scope.workspace_id))
            .filter(communication_counts::hour.ge(since))
            .filter(communication_counts::hour.lt(until))
            .select((communication_counts::hour, communication_counts::n))
            .load(conn)?,
        _ => communications::table
            .filter(communications::workspace_id.eq(scope.workspace_id))
            .filter(communications::occurred_at.ge(since))
            .filter(communications::occurred_at.lt(until))
            .filter(communications::client_id.eq_any(scope.clients().select(clients::id)))
            .select(communications::occurred_at)
            .load::<DateTime<Utc>>(conn)?
            .into_iter()
            .map(|t| (t, 1))
            .collect(),
    };
    let mut counts: Vec<(NaiveDate, i64)> = (0..7).map(|i| (first + Duration::days(i), 0)).collect();
    for (t, n) in rows {
        let day = zone.day_of(t);
        if let Some(slot) = counts.iter_mut().find(|(d, _)| *d == day) {
            slot.1 += n;
        }
    }
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    Ok(counts
        .into_iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let height = n * CHART_HEIGHT / max;
            Bar { day: day.format("%a %d").to_string(), weekday: day.format("%a").to_string(), date: day.format("%-d").to_string(), n, x: i as i64 * 50 + 10, y: CHART_HEIGHT - height + 10, height }
        })
        .collect())
}

#[derive(Queryable)]
pub struct MyFollowUp {
    pub id: i64,
    pub client_id: i64,
    pub client_name: String,
    pub due_at: DateTime<Utc>,
    pub notes: String,
}

/// The user's own pending follow-ups, on clients they may open (the scope of `/follow-ups`):
/// a follow-up someone gave them on a client outside their scope does not name that client.
pub fn my_follow_ups(conn: &mut PgConnection, scope: &Scope) -> QueryResult<Vec<MyFollowUp>> {
    follow_ups::table
        .inner_join(clients::table.on(clients::workspace_id.eq(follow_ups::workspace_id).and(clients::id.eq(follow_ups::client_id))))
        .filter(follow_ups::workspace_id.eq(scope.workspace_id))
        .filter(follow_ups::assigned_to.eq(scope.user_id))
        .filter(follow_ups::status.eq("pending"))
        .filter(follow_ups::client_id.eq_any(scope.clients().select(clients::id)))
        .order((follow_ups::due_at, follow_ups::id))
        .limit(10)
        .select((follow_ups::id, follow_ups::client_id, clients::name, follow_ups::due_at, follow_ups::notes))
        .load(conn)
}
