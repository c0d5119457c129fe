//! A chat's row, who may see it, and the changes a person makes to a chat (issue 13 part
//! 3): open, assign, close and reopen. Each change runs in the caller's transaction, for the
//! actor's scope, and answers what happened; the handlers (`pages`, `actions`) say it.
//!
//! Rules of the changes:
//! - The chat must be visible to the actor ([`ChatScope`]); otherwise not found, also for
//!   another workspace's id.
//! - Assign (`None` = unassign):
//!   - agents may assign a chat they see only to themselves, or unassign themselves;
//!   - managers and admins may assign to any active user of the workspace (assigning makes
//!     the chat visible to the assignee, by [`ChatScope`]'s rule); a deactivated user, or an
//!     id that is no user of this workspace (another workspace's included), is refused;
//!     anyone may be unassigned;
//!   - assigning to the current assignee changes nothing (no audit, no event).
//! - Close / reopen: anyone who sees the chat; closing a closed chat or reopening an open one
//!   is refused.
//! - Each writes the chat row (its trigger writes the `chat` event), the audit entry (module
//!   `clients`, entity the client, before/after with the chat, channel, status, assignee and
//!   client name), and for an assignment the assignee's notification (none when they assigned
//!   it to themselves).

use chrono::{DateTime, Duration, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::authz::rules::chat_visible_sql;
use crate::authz::{Role, Scope};
use crate::chat::{notify, query};
use crate::db::schema::chats;
use crate::error::AppError;
use crate::messaging::Channel;
use crate::notifications::NewNotification;
use crate::web::ctx::Ctx;

crate::text_enum! {
    pub enum ChatStatus {
        Open => "open",
        Closed => "closed",
    }
}

/// WhatsApp's customer service window: free text may be sent until this long after the
/// client's last message; outside it only an approved template.
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = chats, check_for_backend(Pg))]
pub struct Chat {
    pub workspace_id: i64,
    pub id: i64,
    pub client_id: i64,
    pub channel: Channel,
    pub status: ChatStatus,
    pub assignee_id: Option<i64>,
    pub last_message_id: Option<i64>,
    pub last_message_at: DateTime<Utc>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub inbound_count: i64,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Chat {
    /// Until when free text may be sent: WhatsApp's 24 hours after the client's last
    /// message; SMS has no window (`None` = always).
    pub fn window_until(&self) -> Option<DateTime<Utc>> {
        match self.channel {
            Channel::Sms => None,
            Channel::WhatsApp => Some(self.last_inbound_at.map_or(DateTime::<Utc>::MIN_UTC, |at| at + SERVICE_WINDOW)),
        }
    }

    /// Whether free text may be sent now.
    pub fn free_text_allowed(&self, now: DateTime<Utc>) -> bool {
        self.window_until().is_none_or(|until| now < until)
    }
}

/// Which chats a user may see; every chat query starts here.
#[derive(Clone, Copy, Debug)]
pub struct ChatScope {
    pub workspace_id: i64,
    pub user_id: i64,
    pub role: Role,
}

impl ChatScope {
    pub fn of(ctx: &Ctx) -> Self {
        ChatScope { workspace_id: ctx.workspace_id(), user_id: ctx.user_id(), role: ctx.role() }
    }

    pub fn chats(&self) -> chats::BoxedQuery<'static, Pg> {
        let query = chats::table.filter(chats::workspace_id.eq(self.workspace_id)).into_boxed();
        if self.role == Role::Admin {
            return query;
        }
        // The condition names the user more than once; the id is an integer from the
        // session, written into the SQL as a number (nothing typed by anyone).
        query.filter(sql::<Bool>(&chat_visible_sql(self.role).replace("$USER", &self.user_id.to_string())))
    }

    /// The chat, if this user may see it (else `None`: the caller answers 404).
    pub fn find(&self, conn: &mut PgConnection, id: i64) -> QueryResult<Option<Chat>> {
        self.chats().filter(chats::id.eq(id)).select(Chat::as_select()).first(conn).optional()
    }

    /// Whether this user may see the chat of `client_id` on `channel` (a message's chat).
    pub fn sees_chat_of(&self, conn: &mut PgConnection, client_id: i64, channel: Channel) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(self.chats().filter(chats::client_id.eq(client_id)).filter(chats::channel.eq(channel)))).get_result(conn)
    }

    /// The visible chat, locked for a change.
    fn lock(&self, conn: &mut PgConnection, id: i64) -> Result<Chat, ChatError> {
        self.find(conn, id)?.ok_or(ChatError::NotFound)?;
        Ok(chats::table
            .filter(chats::workspace_id.eq(self.workspace_id))
            .filter(chats::id.eq(id))
            .select(Chat::as_select())
            .for_update()
            .first(conn)?)
    }
}

/// Why a change to a chat was refused (nothing written).
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The chat (or client) is not one the actor may see.
    #[error("not found")]
    NotFound,
    #[error("{0} has no phone number.")]
    NoPhone(String),
    #[error("Agents may assign a chat only to themselves.")]
    AgentAssignsOthers,
    #[error("Agents may unassign only themselves.")]
    AgentUnassignsOthers,
    #[error("That user is not a member of this workspace.")]
    NoSuchUser,
    #[error("{0} is deactivated; a chat can only be assigned to an active user.")]
    Deactivated(String),
    #[error("This chat is already closed.")]
    AlreadyClosed,
    #[error("This chat is already open.")]
    AlreadyOpen,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl From<ChatError> for AppError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::NotFound => AppError::NotFound,
            ChatError::AgentAssignsOthers | ChatError::AgentUnassignsOthers => AppError::Forbidden(e.to_string()),
            ChatError::NoPhone(_) | ChatError::NoSuchUser | ChatError::Deactivated(_) => AppError::Validation(e.to_string()),
            ChatError::AlreadyClosed | ChatError::AlreadyOpen => AppError::Conflict(e.to_string()),
            ChatError::Db(e) => e.into(),
        }
    }
}

/// The chat of a client they may see (`scope`) on a channel, opened by a person: the
/// existing one, or a new one (audited with `entry`). Returns the chat's id.
pub fn open(tx: &mut PgConnection, scope: &Scope, client_id: i64, channel: Channel, entry: Entry) -> Result<i64, ChatError> {
    let client = crate::clients::model::visible(tx, scope, client_id)?.ok_or(ChatError::NotFound)?;
    if client.phone.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(ChatError::NoPhone(client.name));
    }
    let existing: Option<i64> = chats::table
        .filter(chats::workspace_id.eq(scope.workspace_id))
        .filter(chats::client_id.eq(client_id))
        .filter(chats::channel.eq(channel))
        .select(chats::id)
        .first(tx)
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id: i64 = diesel::insert_into(chats::table)
        .values((chats::workspace_id.eq(scope.workspace_id), chats::client_id.eq(client_id), chats::channel.eq(channel)))
        .on_conflict((chats::workspace_id, chats::client_id, chats::channel))
        .do_update()
        .set(chats::client_id.eq(client_id))
        .returning(chats::id)
        .get_result(tx)?;
    audit::record(tx, &entry.after(json!({ "chat_id": id, "channel": channel.as_str() })))?;
    Ok(id)
}

/// What an assignment did.
pub enum Assigned {
    /// The chat already had that assignee (named, `None` = nobody): nothing written.
    Unchanged { chat: Chat, assignee: Option<String> },
    /// The new assignee (named, `None` = unassigned), and whether the actor still sees the
    /// chat (an agent who unassigned a chat of someone else's client does not).
    Changed { chat: Chat, assignee: Option<String>, visible: bool },
}

fn client_name(conn: &mut PgConnection, chat: &Chat) -> QueryResult<String> {
    query::client_name(conn, chat.workspace_id, chat.client_id)
}

fn audit_json(conn: &mut PgConnection, chat: &Chat, client: &str) -> QueryResult<Value> {
    Ok(json!({
        "chat_id": chat.id,
        "channel": chat.channel.as_str(),
        "status": chat.status.as_str(),
        "assignee_id": chat.assignee_id,
        "assignee": query::user_name(conn, chat.workspace_id, chat.assignee_id)?,
        "name": client,
    }))
}

/// Assigns chat `id` to `target` (or with `None` unassigns it), by the rules at the top of
/// this module; `actor_name` signs the assignee's notification.
pub fn assign(tx: &mut PgConnection, scope: &ChatScope, actor_name: &str, id: i64, target: Option<i64>, entry: Entry) -> Result<Assigned, ChatError> {
    let before = scope.lock(tx, id)?;
    if scope.role == Role::Agent {
        match target {
            Some(user) if user == scope.user_id => {}
            None if before.assignee_id == Some(scope.user_id) || before.assignee_id.is_none() => {}
            Some(_) => return Err(ChatError::AgentAssignsOthers),
            None => return Err(ChatError::AgentUnassignsOthers),
        }
    }
    let target_name = match target {
        None => None,
        Some(user) => match query::user_name_and_active(tx, scope.workspace_id, user)? {
            None => return Err(ChatError::NoSuchUser),
            Some((name, false)) => return Err(ChatError::Deactivated(name)),
            Some((name, true)) => Some(name),
        },
    };
    let client = client_name(tx, &before)?;
    let what = format!("the {} chat with {client}", before.channel.label());
    if before.assignee_id == target {
        return Ok(Assigned::Unchanged { chat: before, assignee: target_name });
    }
    let chat: Chat = diesel::update(chats::table.filter(chats::workspace_id.eq(scope.workspace_id)).filter(chats::id.eq(id)))
        .set(chats::assignee_id.eq(target))
        .returning(Chat::as_returning())
        .get_result(tx)?;
    let (b, a) = (audit_json(tx, &before, &client)?, audit_json(tx, &chat, &client)?);
    audit::record(tx, &entry.before(b).after(a))?;
    if let Some(user) = target.filter(|u| *u != scope.user_id) {
        let link = format!("/chat/{id}");
        let body = format!("{actor_name} assigned you {what}.");
        crate::notifications::notify(
            tx,
            &NewNotification { workspace_id: scope.workspace_id, user_id: user, kind: notify::ASSIGNED, title: "Chat assigned to you", body: &body, link: Some(&link), dedupe_key: None },
        )?;
    }
    let visible = scope.find(tx, id)?.is_some();
    Ok(Assigned::Changed { chat, assignee: target_name, visible })
}

/// Closes (`close`) or reopens chat `id`; returns the chat as it is now.
pub fn set_status(tx: &mut PgConnection, scope: &ChatScope, id: i64, close: bool, entry: Entry) -> Result<Chat, ChatError> {
    let before = scope.lock(tx, id)?;
    match (close, before.status) {
        (true, ChatStatus::Closed) => return Err(ChatError::AlreadyClosed),
        (false, ChatStatus::Open) => return Err(ChatError::AlreadyOpen),
        _ => {}
    }
    let (status, closed_at) = if close { (ChatStatus::Closed, Some(Utc::now())) } else { (ChatStatus::Open, None) };
    let chat: Chat = diesel::update(chats::table.filter(chats::workspace_id.eq(scope.workspace_id)).filter(chats::id.eq(id)))
        .set((chats::status.eq(status), chats::closed_at.eq(closed_at)))
        .returning(Chat::as_returning())
        .get_result(tx)?;
    let client = client_name(tx, &before)?;
    let (b, a) = (audit_json(tx, &before, &client)?, audit_json(tx, &chat, &client)?);
    audit::record(tx, &entry.before(b).after(a))?;
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(channel: Channel, last_inbound_at: Option<DateTime<Utc>>) -> Chat {
        let now = Utc::now();
        Chat {
            workspace_id: 1,
            id: 1,
            client_id: 1,
            channel,
            status: ChatStatus::Open,
            assignee_id: None,
            last_message_id: None,
            last_message_at: now,
            last_inbound_at,
            inbound_count: 0,
            created_at: now,
            closed_at: None,
        }
    }

    #[test]
    fn whatsapp_free_text_only_within_24_hours_of_the_clients_last_message() {
        let now = Utc::now();
        assert!(chat(Channel::WhatsApp, Some(now - Duration::hours(23))).free_text_allowed(now));
        assert!(!chat(Channel::WhatsApp, Some(now - Duration::hours(24))).free_text_allowed(now));
        assert!(!chat(Channel::WhatsApp, None).free_text_allowed(now));
        assert_eq!(chat(Channel::WhatsApp, Some(now)).window_until(), Some(now + SERVICE_WINDOW));
    }

    #[test]
    fn sms_is_always_free_text() {
        let now = Utc::now();
        assert!(chat(Channel::Sms, None).free_text_allowed(now));
        assert_eq!(chat(Channel::Sms, None).window_until(), None);
    }
}
