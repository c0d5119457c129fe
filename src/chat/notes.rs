//! Internal notes in a conversation (issue 22 part 4): written by a person who sees the chat,
//! never sent to the client, shown among the messages in their own colour, audited. An
//! `@name` in a note notifies that person (in-app, and in their chat digest) with a link to
//! the note, if they may see the chat; whoever may not is named back to the writer instead.
//!
//! A mention is `@` and a person's full name ("@Lena Ortiz", any case), or `@` and their
//! first name when no other active person of the workspace has it ("@Lena").

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::authz::Role;
use crate::chat::{Chat, ChatScope, notify, query};
use crate::db::schema::{chat_notes, users};
use crate::notifications::NewNotification;

pub const BODY_MAX: usize = 4096;
/// At most this many notes come with one page or live refresh.
pub const PAGE_MAX: i64 = 200;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = chat_notes, check_for_backend(Pg))]
pub struct Note {
    pub workspace_id: i64,
    pub id: i64,
    pub chat_id: i64,
    pub author_id: Option<i64>,
    pub body: String,
    pub mentions: Vec<i64>,
    pub created_at: DateTime<Utc>,
}

/// A note and its author's name.
pub type Written = (Note, Option<String>);

fn of_chat(chat: &Chat) -> chat_notes::BoxedQuery<'static, Pg> {
    chat_notes::table.filter(chat_notes::workspace_id.eq(chat.workspace_id)).filter(chat_notes::chat_id.eq(chat.id)).into_boxed()
}

fn with_authors(conn: &mut PgConnection, notes: Vec<Note>) -> QueryResult<Vec<Written>> {
    let ids: Vec<i64> = notes.iter().filter_map(|n| n.author_id).collect();
    let names: Vec<(i64, String)> = match notes.first() {
        None => Vec::new(),
        Some(n) => users::table.filter(users::workspace_id.eq(n.workspace_id)).filter(users::id.eq_any(ids)).select((users::id, users::name)).load(conn)?,
    };
    Ok(notes
        .into_iter()
        .map(|n| {
            let name = n.author_id.and_then(|a| names.iter().find(|(id, _)| *id == a).map(|(_, name)| name.clone()));
            (n, name)
        })
        .collect())
}

/// The notes written in `[from, until)` (either end open), oldest first: those that belong
/// among a page of messages.
pub fn between(conn: &mut PgConnection, chat: &Chat, from: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> QueryResult<Vec<Written>> {
    let mut query = of_chat(chat);
    if let Some(from) = from {
        query = query.filter(chat_notes::created_at.ge(from));
    }
    if let Some(until) = until {
        query = query.filter(chat_notes::created_at.lt(until));
    }
    let notes = query.order((chat_notes::created_at, chat_notes::id)).limit(PAGE_MAX).select(Note::as_select()).load(conn)?;
    with_authors(conn, notes)
}

/// The notes that belong among a page of messages `rows` (oldest first): from the page's
/// first message when older pages exist (else from the start), until `until` (the message
/// after the page, if it is not the newest).
pub fn around(conn: &mut PgConnection, chat: &Chat, rows: &[crate::messaging::store::Message], older: bool, until: Option<DateTime<Utc>>) -> QueryResult<Vec<Written>> {
    let from = if older { rows.first().map(|m| m.created_at) } else { None };
    between(conn, chat, from, until)
}

/// The notes after note `after`, oldest first: the live refresh's.
pub fn after(conn: &mut PgConnection, chat: &Chat, after: i64) -> QueryResult<Vec<Written>> {
    let notes = of_chat(chat).filter(chat_notes::id.gt(after)).order((chat_notes::created_at, chat_notes::id)).limit(PAGE_MAX).select(Note::as_select()).load(conn)?;
    with_authors(conn, notes)
}

/// Whether `rest` starts with `name` (any case) and the mention ends there.
fn names(rest: &str, name: &str) -> bool {
    let n = name.chars().count();
    let head: String = rest.chars().take(n).collect();
    head.to_lowercase() == name.to_lowercase() && !rest.chars().nth(n).is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Who `@` names in `body`, of `people` (id, full name), each once, in the order named.
pub fn mentioned(body: &str, people: &[(i64, String)]) -> Vec<i64> {
    let first = |name: &str| name.split_whitespace().next().unwrap_or("").to_string();
    let mut found = Vec::new();
    for (at, _) in body.match_indices('@') {
        let rest = &body[at + 1..];
        // The longest full name first ("@Lena Ortiz" over a "Lena" who is someone else).
        let mut by_length: Vec<&(i64, String)> = people.iter().filter(|(_, name)| !name.trim().is_empty()).collect();
        by_length.sort_by_key(|(_, name)| std::cmp::Reverse(name.chars().count()));
        let full = by_length.iter().find(|(_, name)| names(rest, name.trim())).map(|(id, _)| *id);
        let by_first = || {
            let matching: Vec<i64> = people.iter().filter(|(_, name)| !first(name).is_empty() && names(rest, &first(name))).map(|(id, _)| *id).collect();
            (matching.len() == 1).then(|| matching[0])
        };
        if let Some(id) = full.or_else(by_first).filter(|id| !found.contains(id)) {
            found.push(id);
        }
    }
    found
}

/// Why a note was refused (nothing written).
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("not found")]
    NotFound,
    #[error("Write the note first.")]
    Empty,
    #[error("A note must be at most {BODY_MAX} characters.")]
    TooLong,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// What writing a note did: the note, who was told of it, and who was named but may not
/// see the chat (not told).
pub struct Added {
    pub note: Note,
    pub told: Vec<String>,
    pub unseen: Vec<String>,
}

/// Writes a note in chat `chat_id` (visible to the writer), tells the people it mentions who
/// may see the chat, and audits it (`entry`). `author` names the writer in the notifications.
pub fn add(tx: &mut PgConnection, scope: &ChatScope, author: &str, chat_id: i64, body: &str, entry: Entry) -> Result<Added, NoteError> {
    let chat = scope.find(tx, chat_id)?.ok_or(NoteError::NotFound)?;
    let body = body.trim();
    if body.is_empty() {
        return Err(NoteError::Empty);
    }
    if body.chars().count() > BODY_MAX {
        return Err(NoteError::TooLong);
    }
    let people: Vec<(i64, String, Role)> = users::table
        .filter(users::workspace_id.eq(scope.workspace_id))
        .filter(users::active.eq(true))
        .select((users::id, users::name, users::role))
        .load(tx)?;
    let named: Vec<(i64, String)> = people.iter().map(|(id, name, _)| (*id, name.clone())).collect();
    let (mut told, mut unseen) = (Vec::new(), Vec::new());
    for id in mentioned(body, &named).into_iter().filter(|id| *id != scope.user_id) {
        let Some((_, name, role)) = people.iter().find(|(p, _, _)| *p == id) else { continue };
        let sees = ChatScope { workspace_id: scope.workspace_id, user_id: id, role: *role }.find(tx, chat.id)?.is_some();
        if sees { told.push((id, name.clone())) } else { unseen.push(name.clone()) }
    }
    let note: Note = diesel::insert_into(chat_notes::table)
        .values((
            chat_notes::workspace_id.eq(scope.workspace_id),
            chat_notes::chat_id.eq(chat.id),
            chat_notes::author_id.eq(scope.user_id),
            chat_notes::body.eq(body),
            chat_notes::mentions.eq(told.iter().map(|(id, _)| *id).collect::<Vec<_>>()),
        ))
        .returning(Note::as_returning())
        .get_result(tx)?;
    let client = query::client_name(tx, chat.workspace_id, chat.client_id)?;
    let link = format!("/chat/{}#note-{}", chat.id, note.id);
    let title = format!("{author} mentioned you");
    let preview: String = body.chars().take(140).collect();
    let text = format!("In the {} chat with {client}: {preview}", chat.channel.label());
    for (user, _) in &told {
        crate::notifications::notify(
            tx,
            &NewNotification { workspace_id: scope.workspace_id, user_id: *user, kind: notify::MENTION, title: &title, body: &text, link: Some(&link), dedupe_key: None },
        )?;
    }
    let mentions: Vec<&str> = told.iter().map(|(_, name)| name.as_str()).collect();
    audit::record(
        tx,
        &entry.after(json!({ "chat_id": chat.id, "channel": chat.channel.as_str(), "name": client, "note_id": note.id, "body": body, "mentions": mentions })),
    )?;
    Ok(Added { note, told: told.into_iter().map(|(_, name)| name).collect(), unseen })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> Vec<(i64, String)> {
        vec![(1, "Lena Ortiz".into()), (2, "Lena Park".into()), (3, "Ben Ray".into()), (4, "Ana".into())]
    }

    #[test]
    fn a_full_name_or_a_first_name_no_one_else_has_is_a_mention() {
        assert_eq!(mentioned("@lena ortiz can you check? cc @Ben", &people()), vec![1, 3]);
        assert_eq!(mentioned("@Lena please", &people()), Vec::<i64>::new(), "two Lenas: the first name alone names nobody");
        assert_eq!(mentioned("@Ana, @ana and @Ana again", &people()), vec![4], "each once");
        assert_eq!(mentioned("mail ben@example.com, @Benjamin, @Ray", &people()), Vec::<i64>::new(), "a word must end where the name ends");
        assert_eq!(mentioned("@Lena Parker", &people()), Vec::<i64>::new());
        assert_eq!(mentioned("(@Ben Ray)", &people()), vec![3]);
    }
}
