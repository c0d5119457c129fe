//! The chat inbox (issue 13): one chat per client and channel (WhatsApp, SMS), opened by an
//! inbound message or by a person, with an assignee, open/closed, and per-reader unread
//! counts. The `chats` row is kept by triggers on `messages` (migration
//! 2026-11-28-040000_create_chats): an inbound message opens or reopens its chat and opens
//! WhatsApp's 24-hour window; an outbound one moves an existing chat's last message. The
//! same triggers write the live events (`crate::events`).
//!
//! Who sees a chat: admins every chat of the workspace; managers the chats of clients they
//! may see (their departments, or assigned to them) and chats assigned to them; agents the
//! chats of their clients and chats assigned to them.

pub mod actions;
pub mod digest;
pub mod inbound;

use chrono::{DateTime, Duration, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::authz::Role;
use crate::db::schema::chats;
use crate::messaging::Channel;
use crate::web::ctx::Ctx;

pub mod conversation;
pub mod list;
pub mod pages;
pub mod reply;

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

/// The SQL condition "this user may see the chat", over the `chats` row in scope (used by
/// [`ChatScope`] and, with a user id column instead of a bound id, by the event fan-out).
pub fn visible_sql(role: Role) -> &'static str {
    match role {
        Role::Admin => "TRUE",
        Role::Agent => {
            "(chats.assignee_id = $USER OR EXISTS (SELECT 1 FROM clients c WHERE c.workspace_id = chats.workspace_id \
             AND c.id = chats.client_id AND c.assigned_to = $USER))"
        }
        Role::Manager => {
            "(chats.assignee_id = $USER OR EXISTS (SELECT 1 FROM clients c WHERE c.workspace_id = chats.workspace_id \
             AND c.id = chats.client_id AND (c.assigned_to = $USER OR EXISTS (SELECT 1 FROM client_departments cd \
             JOIN user_departments ud ON ud.workspace_id = cd.workspace_id AND ud.department_id = cd.department_id \
             WHERE cd.workspace_id = c.workspace_id AND cd.client_id = c.id AND ud.user_id = $USER))))"
        }
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
        query.filter(sql::<Bool>(&visible_sql(self.role).replace("$USER", &self.user_id.to_string())))
    }

    /// The chat, if this user may see it (else `None`: the caller answers 404).
    pub fn find(&self, conn: &mut PgConnection, id: i64) -> QueryResult<Option<Chat>> {
        self.chats().filter(chats::id.eq(id)).select(Chat::as_select()).first(conn).optional()
    }
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

    #[test]
    fn every_user_placeholder_is_in_the_condition() {
        assert_eq!(visible_sql(Role::Admin), "TRUE");
        assert_eq!(visible_sql(Role::Agent).matches("$USER").count(), 2);
        assert_eq!(visible_sql(Role::Manager).matches("$USER").count(), 3);
    }
}
