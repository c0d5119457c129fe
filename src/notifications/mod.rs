//! In-app notifications per user: the list (unread first), mark read, and the unread badge
//! in the navigation (polled by htmx). Jobs create them; `dedupe_key` keeps repeats out.

pub mod handlers;
pub mod reminders;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::notifications;

pub const PER_PAGE: i64 = 30;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub workspace_id: i64,
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub dedupe_key: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub struct NewNotification<'a> {
    pub workspace_id: i64,
    pub user_id: i64,
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub link: Option<&'a str>,
    pub dedupe_key: Option<&'a str>,
}

/// Adds a notification; `false` when one with the same dedupe key exists. A new one also
/// writes the user's `badge` live event (`{"notifications": <unread>}`), announced when the
/// caller's transaction commits.
pub fn notify(conn: &mut PgConnection, n: &NewNotification) -> QueryResult<bool> {
    let added = diesel::insert_into(notifications::table)
        .values((
            notifications::workspace_id.eq(n.workspace_id),
            notifications::user_id.eq(n.user_id),
            notifications::kind.eq(n.kind),
            notifications::title.eq(n.title),
            notifications::body.eq(n.body),
            notifications::link.eq(n.link),
            notifications::dedupe_key.eq(n.dedupe_key),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if added == 1 {
        let unread = unread_count(conn, n.workspace_id, n.user_id)?;
        crate::events::emit(
            conn,
            &crate::events::NewEvent {
                workspace_id: n.workspace_id,
                kind: "badge",
                client_id: None,
                chat_id: None,
                user_id: Some(n.user_id),
                data: serde_json::json!({ "notifications": unread }),
            },
        )?;
    }
    Ok(added == 1)
}

fn mine(workspace_id: i64, user_id: i64) -> notifications::BoxedQuery<'static, diesel::pg::Pg> {
    notifications::table.filter(notifications::workspace_id.eq(workspace_id)).filter(notifications::user_id.eq(user_id)).into_boxed()
}

/// A page of the user's notifications, unread first, newest first.
pub fn page(conn: &mut PgConnection, workspace_id: i64, user_id: i64, page: i64) -> QueryResult<(Vec<Notification>, bool)> {
    let mut rows: Vec<Notification> = mine(workspace_id, user_id)
        .order((notifications::read_at.is_not_null(), notifications::created_at.desc(), notifications::id.desc()))
        .limit(PER_PAGE + 1)
        .offset((page.clamp(1, crate::web::forms::MAX_PAGE) - 1) * PER_PAGE)
        .select(Notification::as_select())
        .load(conn)?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    Ok((rows, more))
}

pub fn unread_count(conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<i64> {
    mine(workspace_id, user_id).filter(notifications::read_at.is_null()).count().get_result(conn)
}

/// Marks one (or, with `None`, every) unread notification of the user read.
pub fn mark_read(conn: &mut PgConnection, workspace_id: i64, user_id: i64, id: Option<i64>) -> QueryResult<usize> {
    let unread = notifications::table
        .filter(notifications::workspace_id.eq(workspace_id))
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null());
    let set = notifications::read_at.eq(diesel::dsl::now);
    match id {
        Some(id) => diesel::update(unread.filter(notifications::id.eq(id))).set(set).execute(conn),
        None => diesel::update(unread).set(set).execute(conn),
    }
}

pub fn find(conn: &mut PgConnection, workspace_id: i64, user_id: i64, id: i64) -> QueryResult<Option<Notification>> {
    mine(workspace_id, user_id).filter(notifications::id.eq(id)).select(Notification::as_select()).first(conn).optional()
}
