//! The optional email digest of unread chat messages (issue 13): a user turns it on on
//! `/account` (off by default; a `chat_digests` row = hourly; the form is `chat::settings`,
//! the change [`set`]). Every scheduler tick enqueues one `chat-digest` job per subscribed user and hour, keyed `chat-digest:<user>:<hour>`, so
//! any number of instances make one. The job lists the chats assigned to the user (still
//! active) that have unread messages (the chat's `inbound_count` above the user's
//! `chat_reads.read_count`) which arrived after the last digest, and the notes that mentioned
//! the user since then whose notification is still unread (issue 22); none → no email. The
//! email goes through the email queue in the same transaction that moves `since` on.

use askama::Template;
use chrono::{DateTime, Timelike, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit;
use crate::db::schema::{chat_digests, notifications};
use crate::email::{self, Email};
use crate::jobs::queue::Job;
use crate::jobs::run::{self, JobEnv, JobError};
use crate::jobs::{self, JobHandler, Kind, NewJob};
use crate::messaging::Channel;

/// Chats listed in one email (the count covers the rest).
const LISTED: i64 = 50;

/// Whether the user has the hourly digest on.
pub fn is_on(conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(chat_digests::table.filter(chat_digests::workspace_id.eq(workspace_id)).filter(chat_digests::user_id.eq(user_id))))
        .get_result(conn)
}

/// Turns the user's hourly digest on or off (audited with `entry`, before/after); returns
/// whether anything changed (already so: nothing written).
pub fn set(tx: &mut PgConnection, workspace_id: i64, user_id: i64, on: bool, entry: audit::Entry) -> QueryResult<bool> {
    let was = is_on(tx, workspace_id, user_id)?;
    if was == on {
        return Ok(false);
    }
    if on {
        diesel::insert_into(chat_digests::table).values((chat_digests::workspace_id.eq(workspace_id), chat_digests::user_id.eq(user_id))).execute(tx)?;
    } else {
        diesel::delete(chat_digests::table.filter(chat_digests::workspace_id.eq(workspace_id)).filter(chat_digests::user_id.eq(user_id))).execute(tx)?;
    }
    let label = |on: bool| if on { "hourly" } else { "off" };
    audit::record(tx, &entry.before(json!({ "chat_digest": label(was) })).after(json!({ "chat_digest": label(on) })))?;
    Ok(true)
}

#[derive(Serialize, Deserialize)]
struct Payload {
    user_id: i64,
    /// The hour this digest is for (its key).
    hour: DateTime<Utc>,
}

/// Enqueues this hour's digest job of every subscribed user (keyed per user and hour);
/// returns how many were new.
pub fn enqueue_due(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    let hour = now.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap_or(now);
    let subscribers: Vec<(i64, i64)> = chat_digests::table.select((chat_digests::workspace_id, chat_digests::user_id)).load(conn)?;
    let mut added = 0;
    for (w, user_id) in subscribers {
        let job = NewJob::new(w, ChatDigest::KIND, Payload { user_id, hour }).key(format!("chat-digest:{user_id}:{}", hour.format("%Y-%m-%dT%H"))).attempts(5);
        added += usize::from(jobs::enqueue(conn, &job)?.is_some());
    }
    Ok(added)
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    chat_id: i64,
    #[diesel(sql_type = Text)]
    client: String,
    #[diesel(sql_type = Text)]
    channel: Channel,
    #[diesel(sql_type = BigInt)]
    unread: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

pub struct DigestItem {
    pub client: String,
    pub channel: &'static str,
    pub unread: i64,
    pub link: String,
}

/// A note that mentioned the user: who and where ("Lena Ortiz mentioned you", "In the
/// WhatsApp chat with Amara Smith: …"), and its link.
pub struct DigestMention {
    pub title: String,
    pub text: String,
    pub link: String,
}

pub struct Digest {
    pub name: String,
    pub items: Vec<DigestItem>,
    pub mentions: Vec<DigestMention>,
    /// Chats with unread messages in all (only the first `LISTED` are listed).
    pub total: i64,
    pub link: String,
}

#[derive(Template)]
#[template(path = "emails/chat_digest.txt")]
struct DigestTxt<'a> {
    m: &'a Digest,
}

#[derive(Template)]
#[template(path = "emails/chat_digest.html")]
struct DigestHtml<'a> {
    m: &'a Digest,
}

/// Sends the user's digest if there is anything in it; returns whether an email was queued.
pub fn send(conn: &mut PgConnection, workspace_id: i64, user_id: i64, hour: DateTime<Utc>, now: DateTime<Utc>, base_url: &str) -> QueryResult<bool> {
    conn.transaction(|tx| {
        let since: Option<DateTime<Utc>> = chat_digests::table
            .filter(chat_digests::workspace_id.eq(workspace_id))
            .filter(chat_digests::user_id.eq(user_id))
            .select(chat_digests::since)
            .for_update()
            .first(tx)
            .optional()?;
        // Turned off since the job was enqueued.
        let Some(since) = since else { return Ok(false) };
        let user: Option<(String, String)> = crate::db::schema::users::table
            .filter(crate::db::schema::users::workspace_id.eq(workspace_id))
            .filter(crate::db::schema::users::id.eq(user_id))
            .filter(crate::db::schema::users::active.eq(true))
            .select((crate::db::schema::users::name, crate::db::schema::users::email))
            .first(tx)
            .optional()?;
        let Some((name, address)) = user else { return Ok(false) };
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT c.id AS chat_id, cl.name AS client, c.channel, c.inbound_count - coalesce(r.read_count, 0) AS unread, count(*) OVER () AS total \
             FROM chats c \
             JOIN clients cl ON cl.workspace_id = c.workspace_id AND cl.id = c.client_id \
             LEFT JOIN chat_reads r ON r.workspace_id = c.workspace_id AND r.chat_id = c.id AND r.user_id = $2 \
             WHERE c.workspace_id = $1 AND c.assignee_id = $2 AND c.last_inbound_at > $3 \
               AND c.inbound_count > coalesce(r.read_count, 0) \
             ORDER BY c.last_inbound_at DESC, c.id DESC LIMIT $4",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<BigInt, _>(user_id)
        .bind::<Timestamptz, _>(since)
        .bind::<BigInt, _>(LISTED)
        .load(tx)?;
        let mentions: Vec<(String, String, Option<String>)> = notifications::table
            .filter(notifications::workspace_id.eq(workspace_id))
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::kind.eq(crate::chat::notify::MENTION))
            .filter(notifications::read_at.is_null())
            .filter(notifications::created_at.gt(since))
            .order((notifications::created_at.desc(), notifications::id.desc()))
            .limit(LISTED)
            .select((notifications::title, notifications::body, notifications::link))
            .load(tx)?;
        if rows.is_empty() && mentions.is_empty() {
            return Ok(false);
        }
        let base = base_url.trim_end_matches('/');
        let digest = Digest {
            name,
            mentions: mentions.into_iter().map(|(title, text, link)| DigestMention { title, text, link: format!("{base}{}", link.unwrap_or_default()) }).collect(),
            total: rows.first().map_or(0, |r| r.total),
            items: rows
                .iter()
                .map(|r| DigestItem {
                    client: r.client.clone(),
                    channel: r.channel.label(),
                    unread: r.unread,
                    link: format!("{base}/chat/{}", r.chat_id),
                })
                .collect(),
            link: format!("{base}/chat?status=mine"),
        };
        let render = |e: askama::Error| diesel::result::Error::QueryBuilderError(Box::new(e));
        let plural = |n: usize, one: &str, many: &str| if n == 1 { one.to_string() } else { format!("{n} {many}") };
        let subject = match (digest.total, digest.mentions.len()) {
            (0, m) => format!("You were mentioned in {}", plural(m, "a chat note", "chat notes")),
            (t, 0) => format!("{t} chat{} with unread messages", if t == 1 { "" } else { "s" }),
            (t, m) => format!("{t} chat{} with unread messages, {}", if t == 1 { "" } else { "s" }, plural(m, "1 mention", "mentions")),
        };
        let mail = Email { to: address, subject, text: DigestTxt { m: &digest }.render().map_err(render)?, html: DigestHtml { m: &digest }.render().map_err(render)? };
        email::enqueue(tx, workspace_id, &mail, Some(format!("chat-digest-email:{user_id}:{}", hour.format("%Y-%m-%dT%H"))))?;
        diesel::update(chat_digests::table.filter(chat_digests::workspace_id.eq(workspace_id)).filter(chat_digests::user_id.eq(user_id)))
            .set(chat_digests::since.eq(now))
            .execute(tx)?;
        Ok(true)
    })
}

/// The hourly `chat-digest` job: emails a user their chats with unread messages (see [`job`]).
pub struct ChatDigest;

impl ChatDigest {
    pub const KIND: Kind = Kind::new("chat-digest");
}

impl JobHandler for ChatDigest {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, job)
    }
}

/// The `chat-digest` job.
pub fn job(env: &JobEnv, job: &Job) -> Result<(), JobError> {
    let p: Payload = run::payload(job)?;
    let mut conn = env.pool.get()?;
    let sent = send(&mut conn, job.workspace_id, p.user_id, p.hour, env.clock.now(), &env.settings.base_url())?;
    tracing::info!(workspace_id = job.workspace_id, user_id = p.user_id, sent, "chat digest");
    Ok(())
}
