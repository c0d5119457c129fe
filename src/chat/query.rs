//! The chat's reads beside the inbox list (`list`) and the conversation (`conversation`):
//! names of users and clients, the workspace's assignable people, the side panel's
//! follow-ups, and the rows the notifications and the reply need.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::chat::Chat;
use crate::clients::model::Client;
use crate::db::schema::{chats, clients, follow_ups, messages, users};
use crate::messaging::{Channel, Direction};

/// The active users of the workspace, by name: who a chat may be assigned to (the actions
/// partial's select).
pub fn assignees(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<(i64, String)>> {
    users::table
        .filter(users::workspace_id.eq(workspace_id))
        .filter(users::active.eq(true))
        .order((users::name, users::id))
        .select((users::id, users::name))
        .load(conn)
}

/// A user's name (`None` for no user, or none of this workspace).
pub fn user_name(conn: &mut PgConnection, workspace_id: i64, id: Option<i64>) -> QueryResult<Option<String>> {
    match id {
        None => Ok(None),
        Some(id) => users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id)).select(users::name).first(conn).optional(),
    }
}

/// A user of the workspace: name and whether active.
pub fn user_name_and_active(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<(String, bool)>> {
    users::table
        .filter(users::workspace_id.eq(workspace_id))
        .filter(users::id.eq(id))
        .select((users::name, users::active))
        .first(conn)
        .optional()
}

/// A client's name.
pub fn client_name(conn: &mut PgConnection, workspace_id: i64, client_id: i64) -> QueryResult<String> {
    clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq(client_id)).select(clients::name).first(conn)
}

/// The chat's client (the chat was found in the reader's scope; the client itself may be
/// one they may not open).
pub fn client_of(conn: &mut PgConnection, chat: &Chat) -> QueryResult<Client> {
    clients::table
        .filter(clients::workspace_id.eq(chat.workspace_id))
        .filter(clients::id.eq(chat.client_id))
        .select(Client::as_select())
        .first(conn)
}

/// The client's next pending follow-ups (due, notes), at most 10, soonest first.
pub fn pending_follow_ups(conn: &mut PgConnection, chat: &Chat) -> QueryResult<Vec<(DateTime<Utc>, String)>> {
    follow_ups::table
        .filter(follow_ups::workspace_id.eq(chat.workspace_id))
        .filter(follow_ups::client_id.eq(chat.client_id))
        .filter(follow_ups::status.eq("pending"))
        .order((follow_ups::due_at, follow_ups::id))
        .limit(10)
        .select((follow_ups::due_at, follow_ups::notes))
        .load(conn)
}

/// The chat of a client and channel, if there is one: its id and assignee.
pub fn chat_of_client(conn: &mut PgConnection, workspace_id: i64, client_id: i64, channel: Channel) -> QueryResult<Option<(i64, Option<i64>)>> {
    chats::table
        .filter(chats::workspace_id.eq(workspace_id))
        .filter(chats::client_id.eq(client_id))
        .filter(chats::channel.eq(channel))
        .select((chats::id, chats::assignee_id))
        .first(conn)
        .optional()
}

/// The number the client last wrote to in this chat, if they did.
pub fn last_number_written_to(conn: &mut PgConnection, chat: &Chat) -> QueryResult<Option<String>> {
    messages::table
        .filter(messages::workspace_id.eq(chat.workspace_id))
        .filter(messages::client_id.eq(chat.client_id))
        .filter(messages::channel.eq(chat.channel))
        .filter(messages::direction.eq(Direction::Inbound))
        .order((messages::created_at.desc(), messages::id.desc()))
        .select(messages::recipient)
        .first(conn)
        .optional()
}

/// Who hears of an unassigned chat's messages: the active admins, and the active managers
/// of one of the client's departments.
pub fn unassigned_chat_watchers(conn: &mut PgConnection, workspace_id: i64, client_id: i64) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Watcher {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let rows: Vec<Watcher> = diesel::sql_query(
        "SELECT u.id FROM users u WHERE u.workspace_id = $1 AND u.active AND (u.role = 'admin' OR (u.role = 'manager' AND EXISTS ( \
           SELECT 1 FROM user_departments ud JOIN client_departments cd ON cd.workspace_id = ud.workspace_id AND cd.department_id = ud.department_id \
           WHERE ud.workspace_id = u.workspace_id AND ud.user_id = u.id AND cd.client_id = $2))) ORDER BY u.id",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(client_id)
    .load(conn)?;
    Ok(rows.into_iter().map(|w| w.id).collect())
}

/// Whether Enter sends in this person's chat composer (else Ctrl+Enter does, and Enter adds
/// a line).
pub fn enter_sends(conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<bool> {
    users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(user_id)).select(users::chat_enter_sends).first(conn)
}

/// Sets it (audited when it changes); whether it changed.
pub fn set_enter_sends(tx: &mut PgConnection, workspace_id: i64, user_id: i64, on: bool, entry: crate::audit::Entry) -> QueryResult<bool> {
    let was = enter_sends(tx, workspace_id, user_id)?;
    if was == on {
        return Ok(false);
    }
    diesel::update(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(user_id))).set(users::chat_enter_sends.eq(on)).execute(tx)?;
    crate::audit::record(tx, &entry.before(serde_json::json!({ "enter_sends": was })).after(serde_json::json!({ "enter_sends": on })))?;
    Ok(true)
}
