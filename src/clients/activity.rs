//! Logging communications and managing follow-ups.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::authz::{Role, Scope};
use crate::db::schema::{clients, communications, follow_ups, users};
use crate::web::time::Zone;

pub const KINDS: [&str; 4] = ["call", "email", "meeting", "note"];
pub const FOLLOW_UP_STATUSES: [&str; 3] = ["pending", "completed", "cancelled"];

/// Inserts the communication and moves the client's last-contacted time forward.
pub fn log_communication(
    conn: &mut PgConnection,
    workspace_id: i64,
    client_id: i64,
    user_id: i64,
    kind: &str,
    occurred_at: DateTime<Utc>,
    notes: &str,
) -> QueryResult<i64> {
    record_communication(conn, workspace_id, client_id, Some(user_id), kind, occurred_at, notes)
}

/// As [`log_communication`], for one nobody logged by hand (`user_id` `None`): an inbound
/// WhatsApp or SMS message (kind `whatsapp` / `sms`), so the status rule and the dashboard
/// count it like any other communication.
pub fn record_communication(
    conn: &mut PgConnection,
    workspace_id: i64,
    client_id: i64,
    user_id: Option<i64>,
    kind: &str,
    occurred_at: DateTime<Utc>,
    notes: &str,
) -> QueryResult<i64> {
    let id = diesel::insert_into(communications::table)
        .values((
            communications::workspace_id.eq(workspace_id),
            communications::client_id.eq(client_id),
            communications::user_id.eq(user_id),
            communications::kind.eq(kind),
            communications::occurred_at.eq(occurred_at),
            communications::notes.eq(notes),
        ))
        .returning(communications::id)
        .get_result(conn)?;
    diesel::update(clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq(client_id)))
        .set(clients::last_contacted_at.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>(
            "GREATEST(last_contacted_at, ",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(occurred_at)
        .sql(")")))
        .execute(conn)?;
    Ok(id)
}

pub fn add_follow_up(
    conn: &mut PgConnection,
    workspace_id: i64,
    client_id: i64,
    assigned_to: i64,
    created_by: i64,
    due_at: DateTime<Utc>,
    notes: &str,
) -> QueryResult<i64> {
    diesel::insert_into(follow_ups::table)
        .values((
            follow_ups::workspace_id.eq(workspace_id),
            follow_ups::client_id.eq(client_id),
            follow_ups::assigned_to.eq(assigned_to),
            follow_ups::created_by.eq(created_by),
            follow_ups::due_at.eq(due_at),
            follow_ups::notes.eq(notes),
        ))
        .returning(follow_ups::id)
        .get_result(conn)
}

#[derive(Clone, Debug, Queryable)]
pub struct FollowUp {
    pub id: i64,
    pub client_id: i64,
    pub assigned_to: i64,
    pub due_at: DateTime<Utc>,
    pub notes: String,
    pub status: String,
}

pub fn find_follow_up(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<FollowUp>> {
    follow_ups::table
        .filter(follow_ups::workspace_id.eq(workspace_id))
        .filter(follow_ups::id.eq(id))
        .select((follow_ups::id, follow_ups::client_id, follow_ups::assigned_to, follow_ups::due_at, follow_ups::notes, follow_ups::status))
        .first(conn)
        .optional()
}

pub fn set_follow_up_status(conn: &mut PgConnection, workspace_id: i64, id: i64, status: &str) -> QueryResult<()> {
    let completed_at = (status == "completed").then(Utc::now);
    diesel::update(follow_ups::table.filter(follow_ups::workspace_id.eq(workspace_id)).filter(follow_ups::id.eq(id)))
        .set((follow_ups::status.eq(status), follow_ups::completed_at.eq(completed_at)))
        .execute(conn)
        .map(|_| ())
}

/// Which follow-ups `/follow-ups` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowUpView {
    /// Pending, assigned to me.
    Mine,
    /// Due before now.
    Overdue,
    /// Due today in the workspace's time zone.
    Today,
    /// Completed, assigned to me, the most recently completed first.
    Completed,
    /// Every pending one (the dashboard's "Pending" figure).
    Pending,
    /// Due in the next 24 hours (the dashboard's "Due in 24 h" figure).
    DueSoon,
}

impl FollowUpView {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpView::Mine => "mine",
            FollowUpView::Overdue => "overdue",
            FollowUpView::Today => "today",
            FollowUpView::Completed => "completed",
            FollowUpView::Pending => "pending",
            FollowUpView::DueSoon => "due-soon",
        }
    }

    pub fn parse(value: &str) -> Option<FollowUpView> {
        [FollowUpView::Mine, FollowUpView::Overdue, FollowUpView::Today, FollowUpView::Completed, FollowUpView::Pending, FollowUpView::DueSoon]
            .into_iter()
            .find(|v| v.as_str() == value)
    }
}

#[derive(Queryable)]
pub struct FollowUpRow {
    pub id: i64,
    pub client_id: i64,
    pub client_name: String,
    pub due_at: DateTime<Utc>,
    pub notes: String,
    pub owner: String,
    pub status: String,
}

impl FollowUpRow {
    pub fn is_completed(&self) -> bool {
        self.status == "completed"
    }
}

pub const FOLLOW_UPS_PER_PAGE: i64 = 50;

/// One page of the view's follow-ups among the clients the user may see (pending ones by due
/// time, completed ones most recent first), and whether another page follows. `page` starts
/// at 1 (`forms::page_number`).
pub fn list_follow_ups(
    conn: &mut PgConnection,
    scope: &Scope,
    view: FollowUpView,
    page: i64,
    now: DateTime<Utc>,
    zone: Zone,
) -> QueryResult<(Vec<FollowUpRow>, bool)> {
    let status = if view == FollowUpView::Completed { "completed" } else { "pending" };
    let query = follow_ups::table
        .inner_join(clients::table.on(clients::workspace_id.eq(follow_ups::workspace_id).and(clients::id.eq(follow_ups::client_id))))
        .inner_join(users::table.on(users::workspace_id.eq(follow_ups::workspace_id).and(users::id.eq(follow_ups::assigned_to))))
        .filter(follow_ups::workspace_id.eq(scope.workspace_id))
        .filter(follow_ups::status.eq(status))
        .filter(follow_ups::client_id.eq_any(scope.clients().select(clients::id)))
        .into_boxed();
    // The dashboard's figures count an agent's own follow-ups (`dashboard::query`); the
    // lists they link to hold the same ones.
    let query = match view {
        FollowUpView::Pending | FollowUpView::Overdue | FollowUpView::DueSoon if scope.role == Role::Agent => {
            query.filter(follow_ups::assigned_to.eq(scope.user_id))
        }
        _ => query,
    };
    let today = zone.day_of(now);
    let query = match view {
        FollowUpView::Overdue => query.filter(follow_ups::due_at.lt(now)).order((follow_ups::due_at, follow_ups::id)),
        FollowUpView::Today => query
            .filter(follow_ups::due_at.ge(zone.start_of(today)))
            .filter(follow_ups::due_at.lt(zone.start_of(today + Duration::days(1))))
            .order((follow_ups::due_at, follow_ups::id)),
        FollowUpView::Pending => query.order((follow_ups::due_at, follow_ups::id)),
        FollowUpView::DueSoon => query
            .filter(follow_ups::due_at.ge(now))
            .filter(follow_ups::due_at.lt(now + Duration::hours(24)))
            .order((follow_ups::due_at, follow_ups::id)),
        FollowUpView::Mine => query.filter(follow_ups::assigned_to.eq(scope.user_id)).order((follow_ups::due_at, follow_ups::id)),
        FollowUpView::Completed => query
            .filter(follow_ups::assigned_to.eq(scope.user_id))
            .order((follow_ups::completed_at.desc().nulls_last(), follow_ups::id.desc())),
    };
    let mut rows = query
        .limit(FOLLOW_UPS_PER_PAGE + 1)
        .offset((page - 1) * FOLLOW_UPS_PER_PAGE)
        .select((follow_ups::id, follow_ups::client_id, clients::name, follow_ups::due_at, follow_ups::notes, users::name, follow_ups::status))
        .load::<FollowUpRow>(conn)?;
    let has_next = rows.len() as i64 > FOLLOW_UPS_PER_PAGE;
    rows.truncate(FOLLOW_UPS_PER_PAGE as usize);
    Ok((rows, has_next))
}
