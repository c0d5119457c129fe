//! The chat notifications (issue 13 part 5): their kinds, and who hears of a client's
//! message. An assignment's notification is written by [`model::assign`](crate::chat::model::assign).

use diesel::prelude::*;

use crate::chat::query;
use crate::messaging::Channel;
use crate::notifications::NewNotification;

/// Notification kinds.
pub const ASSIGNED: &str = crate::notifications::CHAT_ASSIGNED;
pub const NEW_MESSAGE: &str = crate::notifications::CHAT_MESSAGE;
pub const UNASSIGNED_MESSAGE: &str = crate::notifications::CHAT_UNASSIGNED_MESSAGE;
pub const MENTION: &str = crate::notifications::CHAT_MENTION;

/// After an inbound message is recorded (same transaction): tells the chat's assignee, if
/// any and active; an unassigned chat's message goes to the admins and to the managers of
/// the client's departments (who see the chat, by [`ChatScope`](crate::chat::ChatScope)'s rule). Each notification
/// is collapsed ([`notify_collapsed`](crate::notifications::notify_collapsed)): while the
/// user's "new message" notification for the chat is unread, it is updated (text and time)
/// instead of adding another, so a chatty client does not flood the list. The inbound's
/// trigger has just updated the chat row, so concurrent inbounds of the same chat wait for
/// this transaction: no duplicate.
pub fn on_inbound(conn: &mut PgConnection, workspace_id: i64, client_id: i64, channel: Channel, text: &str) -> QueryResult<()> {
    let Some((chat_id, assignee)) = query::chat_of_client(conn, workspace_id, client_id, channel)? else { return Ok(()) };
    let client = query::client_name(conn, workspace_id, client_id)?;
    let link = format!("/chat/{chat_id}");
    let preview: String = text.chars().take(140).collect();
    let body = format!("{}: {preview}", channel.label());
    let (kind, title, told) = match assignee {
        Some(user) => (NEW_MESSAGE, format!("New message from {client}"), vec![user]),
        None => (UNASSIGNED_MESSAGE, format!("New message from {client} (unassigned chat)"), query::unassigned_chat_watchers(conn, workspace_id, client_id)?),
    };
    for user in told {
        crate::notifications::notify_collapsed(
            conn,
            &NewNotification { workspace_id, user_id: user, kind, title: &title, body: &body, link: Some(&link), dedupe_key: None },
        )?;
    }
    Ok(())
}
