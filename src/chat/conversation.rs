//! A conversation's messages: both directions of one client and channel, read through the
//! index `messages_client_idx` (workspace, client, created_at DESC, id DESC), a page at a time
//! (the newest first, older ones by keyset `before`), the ones after a given message for
//! the live refresh, and marking a chat read for one reader.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::chat::Chat;
use crate::db::schema::messages;
use crate::messaging::store::Message;
use crate::messaging::{Direction, MessageStatus};

/// Messages per page of the conversation.
pub const PER_PAGE: i64 = 30;
/// At most this many messages in a live refresh (the rest come with a reload).
pub const REFRESH_MAX: i64 = 200;

fn of_chat(chat: &Chat) -> messages::BoxedQuery<'static, diesel::pg::Pg> {
    messages::table
        .filter(messages::workspace_id.eq(chat.workspace_id))
        .filter(messages::client_id.eq(chat.client_id))
        .filter(messages::channel.eq(chat.channel))
        .into_boxed()
}

/// A page of messages, oldest first: the newest `PER_PAGE`, or those just before message
/// `before`; and whether older ones exist.
pub fn page(conn: &mut PgConnection, chat: &Chat, before: Option<i64>) -> QueryResult<(Vec<Message>, bool)> {
    let mut query = of_chat(chat);
    if let Some(before) = before {
        let Some(at) = of_chat(chat).filter(messages::id.eq(before)).select(messages::created_at).first::<chrono::DateTime<chrono::Utc>>(conn).optional()? else {
            return Ok((Vec::new(), false));
        };
        query = query.filter(messages::created_at.lt(at).or(messages::created_at.eq(at).and(messages::id.lt(before))));
    }
    let mut rows: Vec<Message> = query.order((messages::created_at.desc(), messages::id.desc())).limit(PER_PAGE + 1).select(Message::as_select()).load(conn)?;
    let older = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    rows.reverse();
    Ok((rows, older))
}

/// A page of messages around message `at` (a search's hit), oldest first: the hit with up to
/// `PER_PAGE / 2` before it and as many after; whether older ones exist, and whether newer
/// ones exist beyond the page. Empty when `at` is not a message of this chat.
pub fn around(conn: &mut PgConnection, chat: &Chat, at: i64) -> QueryResult<(Vec<Message>, bool, bool)> {
    let Some(when) = of_chat(chat).filter(messages::id.eq(at)).select(messages::created_at).first::<chrono::DateTime<chrono::Utc>>(conn).optional()? else {
        return Ok((Vec::new(), false, false));
    };
    let half = PER_PAGE / 2;
    let mut before: Vec<Message> = of_chat(chat)
        .filter(messages::created_at.lt(when).or(messages::created_at.eq(when).and(messages::id.le(at))))
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(half + 1)
        .select(Message::as_select())
        .load(conn)?;
    let older = before.len() as i64 > half;
    before.truncate(half as usize);
    before.reverse();
    let mut after: Vec<Message> = of_chat(chat)
        .filter(messages::created_at.gt(when).or(messages::created_at.eq(when).and(messages::id.gt(at))))
        .order((messages::created_at, messages::id))
        .limit(half + 1)
        .select(Message::as_select())
        .load(conn)?;
    let newer = after.len() as i64 > half;
    after.truncate(half as usize);
    before.extend(after);
    Ok((before, older, newer))
}

/// An outbound message whose tick may still move: not yet read, failed or undelivered (nor
/// of unknown outcome). A page that shows one must re-render it at the next status change,
/// the one to a final status included (issue 19.1: "read" never arrived).
pub fn moving(message: &Message) -> bool {
    message.direction == Direction::Outbound
        && matches!(message.status, MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Accepted | MessageStatus::Sent | MessageStatus::Delivered)
}

/// The oldest of `rows` whose tick may still move ([`moving`]): what the page's live
/// refresh must show again.
pub fn oldest_moving(rows: &[Message]) -> Option<i64> {
    rows.iter().filter(|m| moving(m)).map(|m| m.id).min()
}

/// The live refresh after message `after`: the messages newer than it, and also every
/// message since `pending`, the oldest one the page shows whose tick may still move (the
/// page says which: judged by the statuses now, a message that has just become final would
/// be left out, and the page would never show its last tick), and since the oldest of the
/// last page still moving now (a page rendered without `pending`), oldest first. The page
/// swaps them in by id.
pub fn since(conn: &mut PgConnection, chat: &Chat, after: i64, pending: Option<i64>) -> QueryResult<Vec<Message>> {
    let (recent, _) = page(conn, chat, None)?;
    let from = [Some(after), pending.map(|id| id - 1), oldest_moving(&recent).map(|id| id - 1)].into_iter().flatten().min().unwrap_or(after);
    let mut rows: Vec<Message> =
        of_chat(chat).filter(messages::id.gt(from)).order((messages::created_at.desc(), messages::id.desc())).limit(REFRESH_MAX).select(Message::as_select()).load(conn)?;
    rows.reverse();
    Ok(rows)
}

/// Marks the chat read for a reader up to `inbound_count` (the count the page rendered, so a
/// message that arrived after the render stays unread). Never moves a read count back.
pub fn mark_read(conn: &mut PgConnection, chat: &Chat, user_id: i64, inbound_count: i64) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO chat_reads (workspace_id, chat_id, user_id, read_count, read_at) VALUES ($1, $2, $3, $4, now()) \
         ON CONFLICT (workspace_id, chat_id, user_id) DO UPDATE SET read_count = greatest(chat_reads.read_count, EXCLUDED.read_count), read_at = now()",
    )
    .bind::<BigInt, _>(chat.workspace_id)
    .bind::<BigInt, _>(chat.id)
    .bind::<BigInt, _>(user_id)
    .bind::<BigInt, _>(inbound_count)
    .execute(conn)?;
    Ok(())
}

/// How a message's delivery shows: the tick text, its class and its label.
pub fn ticks(message: &Message) -> (&'static str, &'static str, &'static str) {
    match message.status {
        MessageStatus::Queued | MessageStatus::Sending => ("⏳", "pending", "Sending"),
        MessageStatus::Accepted | MessageStatus::Sent => ("✓", "sent", "Sent"),
        MessageStatus::Delivered => ("✓✓", "delivered", "Delivered"),
        MessageStatus::Read => ("✓✓", "read", "Read"),
        MessageStatus::Undelivered | MessageStatus::Failed => ("✕", "failed", "Failed"),
        MessageStatus::Unknown => ("?", "unknown", "Outcome unknown"),
        MessageStatus::Received => ("", "received", "Received"),
    }
}
