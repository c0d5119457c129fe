//! A conversation's messages as its page shows them (`chat/bubble.html`): the text, the time,
//! the delivery tick, the attachments and, on outbound ones, who wrote it; and its notes
//! (`chat/note.html`), placed among the messages by time ([`lines`]).

use chrono::{DateTime, Utc};
use diesel::{PgConnection, QueryResult};

use crate::chat::authors::{self, Author};
use crate::chat::notes::Written;
use crate::chat::{Chat, conversation};
use crate::messaging::Direction;
use crate::messaging::media::{self, Attachment};
use crate::messaging::store::Message;
use crate::web::time::Zone;

/// A message as the conversation shows it.
pub struct Bubble {
    pub id: i64,
    pub outbound: bool,
    pub body: String,
    /// The text in parts, the search's matches marked ([`crate::web::highlight::parts`]).
    pub parts: Vec<(String, bool)>,
    /// The message a search opened the conversation at.
    pub hit: bool,
    /// Who wrote it ("Lena", "Campaign: Spring offer", "Flow step"), on outbound bubbles.
    pub author: Option<String>,
    pub at: DateTime<Utc>,
    /// "today 18:53", "6 Dec 18:53" (`Zone::when`), with the exact time for its title.
    pub time: String,
    pub exact: String,
    pub tick: &'static str,
    pub tick_class: &'static str,
    pub tick_label: &'static str,
    pub error: Option<String>,
    /// Already on the page: the live refresh replaces it in place (`hx-swap-oob`).
    pub replace: bool,
    pub attachments: Vec<Attachment>,
    /// The reader is an admin: a failed attachment shows the provider's link.
    pub admin: bool,
}

/// What the bubbles of some messages need beside the rows: their attachments and authors,
/// each read in one statement.
pub struct Extras {
    attachments: Vec<Attachment>,
    authors: Vec<(i64, Author)>,
}

impl Extras {
    pub fn of(conn: &mut PgConnection, chat: &Chat, rows: &[Message]) -> QueryResult<Extras> {
        let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
        Ok(Extras { attachments: media::of_messages(conn, chat.workspace_id, &ids)?, authors: authors::of_messages(conn, chat.workspace_id, &ids)? })
    }

    /// The oldest of `rows` that may still change on the page: a tick that may move, or an
    /// attachment still downloading (the live refresh shows it again once it is stored).
    pub fn oldest_changing(&self, rows: &[Message]) -> Option<i64> {
        let downloading = self.attachments.iter().filter(|a| a.downloading()).map(|a| a.message_id).min();
        [conversation::oldest_moving(rows), downloading].into_iter().flatten().min()
    }
}

/// How the bubbles are shown: to an admin or not, in which zone, when, up to which id they
/// are already on the page (the live refresh replaces those in place), and the search the
/// conversation was opened from (its term marked, its message the hit).
pub struct View<'a> {
    pub admin: bool,
    pub zone: &'a Zone,
    pub now: DateTime<Utc>,
    pub replace_upto: i64,
    pub search: Option<(&'a str, i64)>,
}

pub fn bubbles(rows: &[Message], extras: &Extras, view: &View) -> Vec<Bubble> {
    rows.iter()
        .map(|m| {
            let (tick, tick_class, tick_label) = conversation::ticks(m);
            let error = m.status.is_failure().then(|| {
                crate::messaging::errors::failure_line(m.error_code, m.error_message.as_deref()).unwrap_or_else(|| "Not delivered.".to_string())
            });
            let outbound = m.direction == Direction::Outbound;
            Bubble {
                id: m.id,
                outbound,
                body: m.body.clone(),
                parts: crate::web::highlight::parts(&m.body, view.search.map_or("", |(term, _)| term)),
                hit: view.search.is_some_and(|(_, hit)| hit == m.id),
                author: extras.authors.iter().find(|(id, _)| *id == m.id).filter(|_| outbound).map(|(_, a)| a.label()),
                at: m.created_at,
                time: view.zone.when(view.now, m.created_at),
                exact: view.zone.time(m.created_at),
                tick,
                tick_class,
                tick_label,
                error,
                replace: m.id <= view.replace_upto,
                attachments: extras.attachments.iter().filter(|a| a.message_id == m.id).cloned().collect(),
                admin: view.admin,
            }
        })
        .collect()
}

/// Whether an attachment shown is still downloading: the refresher then also asks every
/// few seconds, so the photo appears even when its event came while a refresh was under way
/// (htmx drops a trigger on an element whose request is in flight).
pub fn downloading(bubbles: &[Bubble]) -> bool {
    bubbles.iter().any(|b| b.attachments.iter().any(Attachment::downloading))
}

/// A note as the conversation shows it.
pub struct NoteView {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub at: DateTime<Utc>,
    pub time: String,
    pub exact: String,
}

pub fn note_views(notes: &[Written], view: &View) -> Vec<NoteView> {
    notes
        .iter()
        .map(|(n, author)| NoteView {
            id: n.id,
            author: author.clone().unwrap_or_else(|| "A former user".to_string()),
            body: n.body.clone(),
            at: n.created_at,
            time: view.zone.when(view.now, n.created_at),
            exact: view.zone.time(n.created_at),
        })
        .collect()
}

/// One item of the conversation: a message or a note.
pub enum Line<'a> {
    Message(&'a Bubble),
    Note(&'a NoteView),
}

/// The messages and notes in the order they were written (a message first at the same time).
pub fn lines<'a>(bubbles: &'a [Bubble], notes: &'a [NoteView]) -> Vec<Line<'a>> {
    let mut out: Vec<Line<'a>> = bubbles.iter().map(Line::Message).chain(notes.iter().map(Line::Note)).collect();
    out.sort_by_key(|line| match line {
        Line::Message(b) => (b.at, 0, b.id),
        Line::Note(n) => (n.at, 1, n.id),
    });
    out
}
