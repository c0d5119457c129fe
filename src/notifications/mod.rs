//! In-app notifications per user: the list (unread first), mark read, and the unread badge
//! in the navigation (polled by htmx, and moved live by the user's `badge` event). Jobs
//! create them; `dedupe_key` keeps repeats out.
//!
//! Who is told of what ([`KINDS`]; each user may turn any kind off on `/account`, every kind
//! is on by default, `notification_mutes` holds the ones turned off):
//! - a chat assigned to you; a new message in a chat assigned to you;
//! - a new message in an unassigned chat: the admins and the managers of the client's
//!   departments (those who see the chat);
//! - a message you sent by hand that failed (the `messages_notify_failed` trigger, whatever
//!   path failed it); a campaign's failed recipients: the admins, per batch
//!   (`campaign_recipients_notify_failed`);
//! - an import you started that finished or failed (`imports_notify_finished`);
//! - a follow-up someone else assigned to you; the daily follow-up reminder.
//!
//! All but "chat assigned" and the reminder are collapsed: while the user has an unread one
//! of the same kind and link, a repeat updates it (text and time) instead of adding another
//! (the SQL function `notify_collapsed`, shared by the code and the triggers).

pub mod handlers;
pub mod reminders;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use crate::db::schema::{notification_mutes, notifications};

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

/// A chat was assigned to the user (`chat::model::assign`).
pub const CHAT_ASSIGNED: &str = "chat_assigned";
/// A new message in a chat assigned to the user (`chat::notify`).
pub const CHAT_MESSAGE: &str = "chat_message";
/// A new message in an unassigned chat the user may see (`chat::notify`).
pub const CHAT_UNASSIGNED_MESSAGE: &str = "chat_unassigned";
/// Someone mentioned the user in a chat's note (`chat::notes`).
pub const CHAT_MENTION: &str = "chat_mention";

/// Every kind a user may receive, with its label on `/account`.
pub const KINDS: &[(&str, &str)] = &[
    (CHAT_ASSIGNED, "A chat is assigned to me"),
    (CHAT_MESSAGE, "A new message in a chat assigned to me"),
    (CHAT_UNASSIGNED_MESSAGE, "A new message in an unassigned chat I can see (admins, department managers)"),
    (CHAT_MENTION, "Someone mentions me in a chat's note"),
    (SEND_FAILED, "A message I sent failed"),
    (CAMPAIGN_FAILED, "Campaign sends failed (admins)"),
    (IMPORT_FINISHED, "An import I started finished or failed"),
    (FOLLOW_UP_ASSIGNED, "Someone assigns me a follow-up"),
    (FOLLOW_UP_REMINDER, "The daily reminder of my due follow-ups"),
];

/// Kinds written by the database's triggers (see the module doc).
pub const SEND_FAILED: &str = "send_failed";
pub const CAMPAIGN_FAILED: &str = "campaign_failed";
pub const IMPORT_FINISHED: &str = "import_finished";
pub const FOLLOW_UP_ASSIGNED: &str = "follow_up_assigned";
pub const FOLLOW_UP_REMINDER: &str = "follow-up-reminder";

/// The kinds the user turned off.
pub fn muted(conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<Vec<String>> {
    notification_mutes::table
        .filter(notification_mutes::workspace_id.eq(workspace_id))
        .filter(notification_mutes::user_id.eq(user_id))
        .order(notification_mutes::kind)
        .select(notification_mutes::kind)
        .load(conn)
}

/// Turns off exactly `off` (known kinds only) for the user, every other kind on.
pub fn set_muted(conn: &mut PgConnection, workspace_id: i64, user_id: i64, off: &[&str]) -> QueryResult<()> {
    diesel::delete(notification_mutes::table.filter(notification_mutes::workspace_id.eq(workspace_id)).filter(notification_mutes::user_id.eq(user_id))).execute(conn)?;
    let rows: Vec<_> = off
        .iter()
        .map(|k| (notification_mutes::workspace_id.eq(workspace_id), notification_mutes::user_id.eq(user_id), notification_mutes::kind.eq(*k)))
        .collect();
    diesel::insert_into(notification_mutes::table).values(rows).execute(conn)?;
    Ok(())
}

fn is_muted(conn: &mut PgConnection, workspace_id: i64, user_id: i64, kind: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        notification_mutes::table
            .filter(notification_mutes::workspace_id.eq(workspace_id))
            .filter(notification_mutes::user_id.eq(user_id))
            .filter(notification_mutes::kind.eq(kind)),
    ))
    .get_result(conn)
}

#[derive(QueryableByName)]
struct Added {
    #[diesel(sql_type = Bool)]
    added: bool,
}

/// A collapsed notification (see the module doc): updates the user's unread one of this
/// kind and link, or adds one (and their `badge` event); nothing when the user is
/// deactivated or turned the kind off. `true` when one was added.
pub fn notify_collapsed(conn: &mut PgConnection, n: &NewNotification) -> QueryResult<bool> {
    let row: Added = diesel::sql_query("SELECT notify_collapsed($1, $2, $3, $4, $5, $6) AS added")
        .bind::<BigInt, _>(n.workspace_id)
        .bind::<BigInt, _>(n.user_id)
        .bind::<Text, _>(n.kind)
        .bind::<Text, _>(n.title)
        .bind::<Text, _>(n.body)
        .bind::<Text, _>(n.link.unwrap_or("/notifications"))
        .get_result(conn)?;
    Ok(row.added)
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

/// Adds a notification; `false` when one with the same dedupe key exists or the user turned
/// its kind off. A new one also writes the user's `badge` live event
/// (`{"notifications": <unread>}`), announced when the caller's transaction commits.
pub fn notify(conn: &mut PgConnection, n: &NewNotification) -> QueryResult<bool> {
    if is_muted(conn, n.workspace_id, n.user_id, n.kind)? {
        return Ok(false);
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn kinds_are_unique() {
        let mut kinds: Vec<&str> = super::KINDS.iter().map(|(k, _)| *k).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), super::KINDS.len());
    }
}
