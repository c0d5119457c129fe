//! The inbox list `GET /chat`: the chats this user may see, newest activity first (the
//! "Awaiting reply" tab: the longest waiting first, with how long), one page
//! at a time in SQL, each with its last message, the reader's unread count (from
//! `chats.inbound_count` and `chat_reads.read_count`, never by counting messages), the
//! assignee and the age; filtered by tab and searched by client name or phone, and by the
//! text of the chat's messages (issue 22: a term of 3 characters or more, through the
//! trigram index `messages_body_trgm_idx`; the newest matching message is the row's preview
//! and the conversation opens at it).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

use crate::authz::rules::chat_visible_sql;
use crate::chat::ChatScope;
use crate::chat::authors;
use crate::clients::domain::phone_digits;
use crate::db::like_contains;
use crate::messaging::{Channel, Direction};
use crate::messaging::media::Kind;

pub const PER_PAGE: i64 = 50;

/// The inbox's tabs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Open,
    Closed,
    Mine,
    Unassigned,
    /// Open chats whose last message is the client's, the longest waiting first.
    Awaiting,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Open, Tab::Awaiting, Tab::Mine, Tab::Unassigned, Tab::Closed];

    pub fn parse(value: &str) -> Option<Tab> {
        match value.trim() {
            "" | "open" => Some(Tab::Open),
            "closed" => Some(Tab::Closed),
            "mine" => Some(Tab::Mine),
            "unassigned" => Some(Tab::Unassigned),
            "awaiting" => Some(Tab::Awaiting),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Open => "open",
            Tab::Closed => "closed",
            Tab::Mine => "mine",
            Tab::Unassigned => "unassigned",
            Tab::Awaiting => "awaiting",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tab::Open => "Open",
            Tab::Closed => "Closed",
            Tab::Mine => "Mine",
            Tab::Unassigned => "Unassigned",
            Tab::Awaiting => "Awaiting reply",
        }
    }

    /// What the list says when nothing matches.
    pub fn empty_text(self, searching: bool) -> &'static str {
        match (self, searching) {
            (_, true) => "No chat matches this search.",
            (Tab::Open, false) => "No open chats. A client's message opens one, or open one from a client's page.",
            (Tab::Closed, false) => "No closed chats.",
            (Tab::Mine, false) => "No open chats are assigned to you.",
            (Tab::Unassigned, false) => "Every open chat has an assignee.",
            (Tab::Awaiting, false) => "No client is waiting for a reply.",
        }
    }
}

/// One row of the inbox.
#[derive(Clone, Debug, QueryableByName)]
pub struct Row {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub client_id: i64,
    #[diesel(sql_type = Text)]
    pub client_name: String,
    #[diesel(sql_type = Text)]
    pub channel: Channel,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_body: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_message_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_direction: Option<Direction>,
    /// The last message's first attachment: its type (found, else declared) and file name.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_media_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_media_name: Option<String>,
    /// The newest of the chat's messages whose text matches the search, and its text.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub hit_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub hit_body: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub unread: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub assignee: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub last_message_at: DateTime<Utc>,
}

impl Row {
    /// The last message on one line, shortened; what its attachment is when it has no text.
    pub fn preview(&self) -> String {
        let line: String = self.last_body.as_deref().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
        let line = match &self.last_media_type {
            Some(media) if line.is_empty() => Kind::of(media).label(self.last_media_name.as_deref()),
            _ => line,
        };
        if line.chars().count() > 80 { format!("{}…", line.chars().take(79).collect::<String>()) } else { line }
    }

    pub fn outbound(&self) -> bool {
        self.last_direction == Some(Direction::Outbound)
    }

    /// The matching message's text around the term, in parts to mark (`term` the search).
    pub fn hit_parts(&self, term: &str) -> Vec<(String, bool)> {
        let text = crate::web::highlight::snippet(self.hit_body.as_deref().unwrap_or(""), term, 80);
        crate::web::highlight::parts(&text, term)
    }

    /// Where the row leads: the conversation, at the matching message when there is one.
    pub fn href(&self, term: &str) -> String {
        match self.hit_id {
            None => format!("/chat/{}", self.id),
            Some(hit) => {
                let q: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
                format!("/chat/{}?at={hit}&q={q}#message-{hit}", self.id)
            }
        }
    }


    pub fn channel_label(&self) -> &'static str {
        self.channel.label()
    }
}

/// The list's query, checked.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub tab: Tab,
    pub q: Option<String>,
    pub page: i64,
}

/// How a message-text search reads the messages (see [`page`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextSearch {
    Rare,
    Common,
}

/// A term the planner expects in at least this many of the workspace's messages is common.
const COMMON_TERM: i64 = 2_000;

/// Whether the planner expects at least `n` of the workspace's chat messages to match
/// `pattern`, through `EXPLAIN`: no message is read, so a rare term costs nothing more than
/// its search. Asked as `body ILIKE`: the column's statistics apply the pattern to a sample
/// of texts, where `lower(body)` has none (the planner ignores a partial index's).
fn matches_at_least(conn: &mut PgConnection, workspace_id: i64, pattern: &str, n: i64) -> QueryResult<bool> {
    let row: Number = diesel::sql_query(
        "SELECT estimated_rows(format('SELECT 1 FROM messages m WHERE m.workspace_id = %s AND m.client_id IS NOT NULL AND m.body ILIKE %L', $1, $2)) AS n",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(pattern)
    .get_result(conn)?;
    Ok(row.n >= n)
}

/// "You", "Lena Ortiz", "Campaign: Spring offer"…: who wrote each row's last message, as
/// `reader` reads it (none for the client's), in the rows' order; one statement.
pub fn author_prefixes(conn: &mut PgConnection, workspace_id: i64, rows: &[Row], reader: i64) -> QueryResult<Vec<Option<String>>> {
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.last_message_id).collect();
    let authors = authors::of_messages(conn, workspace_id, &ids)?;
    Ok(rows
        .iter()
        .map(|r| r.last_message_id.and_then(|id| authors.iter().find(|(m, _)| *m == id)).and_then(|(_, a)| a.prefix(reader)))
        .collect())
}

/// The condition on `chats` of what this user may see, the user written in as a number
/// (an integer from the session, nothing typed by anyone).
fn visible_sql(scope: &ChatScope) -> String {
    chat_visible_sql(scope.role).replace("$USER", &scope.user_id.to_string())
}

/// A page of the inbox (`PER_PAGE` rows) and whether there is a next one.
pub fn page(conn: &mut PgConnection, scope: &ChatScope, filter: &Filter) -> QueryResult<(Vec<Row>, bool)> {
    let visible = visible_sql(scope);
    let tab = match filter.tab {
        Tab::Open => "chats.status = 'open'",
        Tab::Closed => "chats.status = 'closed'",
        Tab::Mine => "chats.status = 'open' AND chats.assignee_id = $2",
        Tab::Unassigned => "chats.status = 'open' AND chats.assignee_id IS NULL",
        // The chat's last message is the client's (campaign sends do not move it).
        Tab::Awaiting => "chats.status = 'open' AND m.direction = 'inbound'",
    };
    let order = if filter.tab == Tab::Awaiting { "chats.last_message_at, chats.id" } else { "chats.last_message_at DESC, chats.id DESC" };
    let q = filter.q.as_deref();
    let digits = q.and_then(phone_digits);
    let name_pattern = match (&digits, q) {
        (None, Some(q)) => Some(like_contains(q)),
        _ => None,
    };
    // A phone search: the numbers ending in those digits.
    let phone_pattern = digits.map(|d| format!("{}%", d.chars().rev().collect::<String>()));
    // Message text: a term the trigram index can serve (3 characters or more). Its joins are
    // written only for such a search: even unused they cost the planner milliseconds a page.
    let text_pattern = name_pattern.as_ref().filter(|_| q.is_some_and(|q| q.trim().chars().count() >= 3)).cloned();
    let strategy = match &text_pattern {
        None => None,
        Some(pattern) => Some(if matches_at_least(conn, scope.workspace_id, pattern, COMMON_TERM)? { TextSearch::Common } else { TextSearch::Rare }),
    };
    let (hits, hit_columns, hit_joins, hit_match) = match strategy {
        // $7: the text pattern. A rare term: every match, through the trigram index, grouped
        // into the newest match of each chat (by id).
        Some(TextSearch::Rare) => (
            "WITH hits AS (SELECT m.client_id, m.channel, max(m.id) AS hit_id FROM messages m \
             WHERE m.workspace_id = $1 AND m.client_id IS NOT NULL AND lower(m.body) LIKE $7 GROUP BY m.client_id, m.channel) ",
            "h.hit_id, hm.body AS hit_body",
            "LEFT JOIN hits h ON h.client_id = chats.client_id AND h.channel = chats.channel \
             LEFT JOIN messages hm ON hm.workspace_id = chats.workspace_id AND hm.id = h.hit_id",
            " OR h.hit_id IS NOT NULL",
        ),
        // A common term (by the planner's estimate): most chats have a match among their newest messages, so each chat
        // in the list's order reads its own messages newest first (`messages_client_idx`)
        // until one matches, and the page fills after a few chats.
        Some(TextSearch::Common) => (
            "",
            "h.hit_id, h.hit_body",
            "LEFT JOIN LATERAL (SELECT x.id AS hit_id, x.body AS hit_body FROM messages x \
             WHERE x.workspace_id = chats.workspace_id AND x.client_id = chats.client_id AND x.channel = chats.channel AND lower(x.body) LIKE $7 \
             ORDER BY x.created_at DESC, x.id DESC LIMIT 1) h ON TRUE",
            " OR h.hit_id IS NOT NULL",
        ),
        None => ("", "NULL::bigint AS hit_id, NULL::text AS hit_body", "", ""),
    };
    // $1 workspace, $2 user, $3 name pattern (or NULL), $4 phone digits pattern (or NULL),
    // $5 limit, $6 offset.
    let query = format!(
        "{hits}SELECT chats.id, chats.client_id, c.name AS client_name, chats.channel, chats.status, \
                chats.last_message_id, m.body AS last_body, m.direction AS last_direction, \
                coalesce(md.content_type, md.declared_type, CASE WHEN md.id IS NOT NULL THEN '' END) AS last_media_type, md.filename AS last_media_name, \
                {hit_columns}, \
                greatest(chats.inbound_count - coalesce(r.read_count, 0), 0) AS unread, \
                u.name AS assignee, chats.last_message_at \
         FROM chats \
         JOIN clients c ON c.workspace_id = chats.workspace_id AND c.id = chats.client_id \
         LEFT JOIN messages m ON m.workspace_id = chats.workspace_id AND m.id = chats.last_message_id \
         LEFT JOIN media md ON md.workspace_id = chats.workspace_id AND md.message_id = chats.last_message_id AND md.position = 0 \
         LEFT JOIN chat_reads r ON r.workspace_id = chats.workspace_id AND r.chat_id = chats.id AND r.user_id = $2 \
         LEFT JOIN users u ON u.workspace_id = chats.workspace_id AND u.id = chats.assignee_id \
         {hit_joins} \
         WHERE chats.workspace_id = $1 AND {tab} AND {visible} \
           AND ($3::text IS NULL OR c.search LIKE $3 ESCAPE '\\'{hit_match}) \
           AND ($4::text IS NULL OR reverse(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g')) LIKE $4) \
         ORDER BY {order} \
         LIMIT $5 OFFSET $6"
    );
    let mut statement = diesel::sql_query(query)
        .into_boxed()
        .bind::<BigInt, _>(scope.workspace_id)
        .bind::<BigInt, _>(scope.user_id)
        .bind::<Nullable<Text>, _>(name_pattern)
        .bind::<Nullable<Text>, _>(phone_pattern)
        .bind::<BigInt, _>(PER_PAGE + 1)
        .bind::<BigInt, _>((filter.page.max(1) - 1) * PER_PAGE);
    if let Some(text) = text_pattern {
        statement = statement.bind::<Text, _>(text);
    }
    let mut rows: Vec<Row> = statement.load(conn)?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    Ok((rows, more))
}

#[derive(QueryableByName)]
struct Neighbour {
    #[diesel(sql_type = Nullable<BigInt>)]
    newer: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    older: Option<i64>,
}

/// The open chats this user may see just above (newer activity) and just below (older) the
/// chat at `(last_message_at, id)` in the inbox's order: where `k` and `j` go from a
/// conversation.
pub fn neighbours(conn: &mut PgConnection, scope: &ChatScope, at: DateTime<Utc>, id: i64) -> QueryResult<(Option<i64>, Option<i64>)> {
    let visible = visible_sql(scope);
    // $1 workspace, $2 the chat's last_message_at, $3 its id.
    let open = format!("chats.workspace_id = $1 AND chats.status = 'open' AND {visible}");
    let query = format!(
        "SELECT (SELECT chats.id FROM chats WHERE {open} AND (chats.last_message_at, chats.id) > ($2, $3) ORDER BY chats.last_message_at, chats.id LIMIT 1) AS newer, \
                (SELECT chats.id FROM chats WHERE {open} AND (chats.last_message_at, chats.id) < ($2, $3) ORDER BY chats.last_message_at DESC, chats.id DESC LIMIT 1) AS older"
    );
    let row: Neighbour = diesel::sql_query(query)
        .bind::<BigInt, _>(scope.workspace_id)
        .bind::<Timestamptz, _>(at)
        .bind::<BigInt, _>(id)
        .get_result(conn)?;
    Ok((row.newer, row.older))
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many open chats this user may see have messages they have not read (the nav badge).
pub fn unread_chats(conn: &mut PgConnection, scope: &ChatScope) -> QueryResult<i64> {
    let visible = visible_sql(scope);
    let query = format!(
        "SELECT count(*) AS n FROM chats \
         LEFT JOIN chat_reads r ON r.workspace_id = chats.workspace_id AND r.chat_id = chats.id AND r.user_id = $2 \
         WHERE chats.workspace_id = $1 AND chats.status = 'open' AND chats.inbound_count > coalesce(r.read_count, 0) AND {visible}"
    );
    let row: Number = diesel::sql_query(query).bind::<BigInt, _>(scope.workspace_id).bind::<BigInt, _>(scope.user_id).get_result(conn)?;
    Ok(row.n)
}

/// "just now", "3 min ago", "2 h ago", "yesterday", "4 days ago"; older: the date.
pub fn age(now: DateTime<Utc>, at: DateTime<Utc>, zone: &crate::web::time::Zone) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..60 => "just now".to_string(),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        86_400..172_800 => "yesterday".to_string(),
        172_800..604_800 => format!("{} days ago", seconds / 86_400),
        _ => zone.date(at),
    }
}

/// How long a client has waited for a reply: "under a minute", "12 min", "3 h", "2 days".
pub fn waited(now: DateTime<Utc>, since: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    match minutes {
        0 => "under a minute".to_string(),
        1..60 => format!("{minutes} min"),
        60..1_440 => format!("{} h", minutes / 60),
        1_440..2_880 => "1 day".to_string(),
        _ => format!("{} days", minutes / 1_440),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_wait_reads_in_the_largest_whole_unit() {
        let now = Utc::now();
        assert_eq!(waited(now, now - Duration::seconds(20)), "under a minute");
        assert_eq!(waited(now, now - Duration::minutes(12)), "12 min");
        assert_eq!(waited(now, now - Duration::minutes(200)), "3 h");
        assert_eq!(waited(now, now - Duration::hours(30)), "1 day");
        assert_eq!(waited(now, now - Duration::days(3)), "3 days");
    }

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        let now = Utc::now();
        let zone = crate::web::time::Zone::default();
        assert_eq!(age(now, now - Duration::seconds(5), &zone), "just now");
        assert_eq!(age(now, now - Duration::minutes(3), &zone), "3 min ago");
        assert_eq!(age(now, now - Duration::hours(2), &zone), "2 h ago");
        assert_eq!(age(now, now - Duration::hours(30), &zone), "yesterday");
        assert_eq!(age(now, now - Duration::days(4), &zone), "4 days ago");
    }

    #[test]
    fn tabs_parse_their_names() {
        for tab in Tab::ALL {
            assert_eq!(Tab::parse(tab.as_str()), Some(tab));
        }
        assert_eq!(Tab::parse(""), Some(Tab::Open));
        assert_eq!(Tab::parse("nope"), None);
    }
}
