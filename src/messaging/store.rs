//! The messages table. Three rules live here and nowhere else:
//!
//! - A status only moves forward (`message_status_rank`), whatever order callbacks arrive
//!   in and however often; each status's first time is kept.
//! - A status callback for a provider id not recorded yet is kept
//!   (`early_status_callbacks`) and applied when the id is recorded. Both sides take the
//!   same transaction-scoped advisory lock on (workspace, provider id), so a callback can
//!   never slip between "not found" and "recorded".
//! - A status callback only ever reports on our outbound messages: an inbound-only status
//!   (`received`, from Twilio's `received` / `receiving`) changes nothing, kept or applied
//!   (issue 18 item 11: it overwrote a one-off message's status and broke a campaign's).
//! - An outbound message is claimed once (`queued` → `sending`, with a lease) before its
//!   send; a claim whose lease ran out is reconciled with the provider, never resent.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use crate::db::schema::{early_status_callbacks, message_resends, messages, users};
use crate::messaging::{Channel, Direction, MessageStatus, StatusReport};

#[derive(Clone, Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = messages)]
pub struct Message {
    pub workspace_id: i64,
    pub id: i64,
    pub client_id: Option<i64>,
    pub channel: Channel,
    pub direction: Direction,
    pub provider_id: Option<String>,
    pub sender: String,
    pub recipient: String,
    pub body: String,
    pub template_id: Option<i64>,
    pub variables: serde_json::Value,
    pub button_payload: Option<String>,
    pub status: MessageStatus,
    pub error_code: Option<i32>,
    pub error_message: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

/// An outbound message to write (`queued`); its send job is enqueued in the same transaction.
#[derive(Clone, Debug)]
pub struct NewOutbound {
    pub workspace_id: i64,
    pub client_id: Option<i64>,
    pub channel: Channel,
    pub sender: String,
    pub recipient: String,
    pub body: String,
    pub template_id: Option<i64>,
    pub variables: serde_json::Value,
    pub created_by: Option<i64>,
    /// The campaign batch it is sent for (its status then moves the batch's recipient).
    pub batch_id: Option<i64>,
}

pub fn insert_outbound(conn: &mut PgConnection, new: &NewOutbound) -> QueryResult<Message> {
    insert_rows(conn, std::slice::from_ref(new))?.pop().ok_or(diesel::result::Error::NotFound)
}

/// Several outbound messages in one statement (a campaign dispatch's group); returns
/// `(client_id, message id)` for each, in no particular order.
pub fn insert_outbound_many(conn: &mut PgConnection, news: &[NewOutbound]) -> QueryResult<Vec<(Option<i64>, i64)>> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    Ok(insert_rows(conn, news)?.into_iter().map(|m| (m.client_id, m.id)).collect())
}

/// The messages, `queued`, in one INSERT.
fn insert_rows(conn: &mut PgConnection, news: &[NewOutbound]) -> QueryResult<Vec<Message>> {
    let rows: Vec<_> = news
        .iter()
        .map(|new| {
            (
                messages::workspace_id.eq(new.workspace_id),
                messages::client_id.eq(new.client_id),
                messages::channel.eq(new.channel),
                messages::direction.eq(Direction::Outbound),
                messages::sender.eq(&new.sender),
                messages::recipient.eq(&new.recipient),
                messages::body.eq(&new.body),
                messages::template_id.eq(new.template_id),
                messages::variables.eq(&new.variables),
                messages::status.eq(MessageStatus::Queued),
                messages::created_by.eq(new.created_by),
                messages::batch_id.eq(new.batch_id),
            )
        })
        .collect();
    diesel::insert_into(messages::table).values(rows).returning(Message::as_returning()).get_results(conn)
}

pub fn find(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Message>> {
    messages::table.find((workspace_id, id)).select(Message::as_select()).first(conn).optional()
}

/// The message, locked until the transaction ends (a resend decides on it).
pub fn find_for_update(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Message>> {
    messages::table.find((workspace_id, id)).select(Message::as_select()).for_update().first(conn).optional()
}

/// Who resent the message and when (the name "someone" when the user is gone).
pub fn resent_by(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<(String, DateTime<Utc>)>> {
    message_resends::table
        .left_join(users::table.on(users::workspace_id.eq(message_resends::workspace_id).and(users::id.nullable().eq(message_resends::resent_by))))
        .filter(message_resends::workspace_id.eq(workspace_id))
        .filter(message_resends::message_id.eq(id))
        .select((users::name.nullable(), message_resends::resent_at))
        .first::<(Option<String>, DateTime<Utc>)>(conn)
        .optional()
        .map(|found| found.map(|(name, at)| (name.unwrap_or_else(|| "someone".into()), at)))
}

/// Records that `id` was resent as `copy` (once: the key is the old message).
pub fn record_resend(conn: &mut PgConnection, workspace_id: i64, id: i64, copy: i64, by: i64) -> QueryResult<()> {
    diesel::insert_into(message_resends::table)
        .values((
            message_resends::workspace_id.eq(workspace_id),
            message_resends::message_id.eq(id),
            message_resends::new_message_id.eq(copy),
            message_resends::resent_by.eq(by),
        ))
        .execute(conn)
        .map(|_| ())
}

/// `queued` → `sending` under a lease of `lease_secs`; `None` when the message is not
/// queued (already claimed, sent, or cancelled).
pub fn claim(conn: &mut PgConnection, workspace_id: i64, id: i64, lease_secs: i32) -> QueryResult<Option<Message>> {
    diesel::sql_query(
        "UPDATE messages SET status = 'sending', attempt_at = now(), lease_until = now() + make_interval(secs => $3) \
         WHERE workspace_id = $1 AND id = $2 AND status = 'queued' RETURNING *",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(id)
    .bind::<Integer, _>(lease_secs)
    .get_result(conn)
    .optional()
}

/// `sending` → `queued` again: the provider certainly did not take it (a 429, a refused
/// connection), so the next attempt may send.
pub fn release(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<usize> {
    diesel::sql_query("UPDATE messages SET status = 'queued', lease_until = NULL WHERE workspace_id = $1 AND id = $2 AND status = 'sending'")
        .bind::<BigInt, _>(workspace_id)
        .bind::<BigInt, _>(id)
        .execute(conn)
}

/// What [`give_back`] did with a campaign message the provider refused for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GivenBack {
    /// `queued` again, one more attempt counted, not to be tried before its `retry_at`.
    Later,
    /// That was its last attempt: `failed`, with the provider's reason.
    Failed,
}

#[derive(QueryableByName)]
struct GivenBackRow {
    #[diesel(sql_type = Text)]
    status: String,
}

/// A campaign message's retryable refusal (a 5xx, a 429 without Retry-After): `sending` →
/// `queued` with one more attempt counted (`send_attempts`) and `retry_at` its own backoff
/// (1 s, 2 s, 4 s, … up to a minute), or, when that was attempt number `limit`, `failed`
/// with "Not sent after N attempts: `<reason>`". One statement, so no other dispatch can claim
/// the message between "given back" and "failed". `None`: it was not `sending`.
pub fn give_back(conn: &mut PgConnection, workspace_id: i64, id: i64, limit: i32, reason: &str) -> QueryResult<Option<GivenBack>> {
    let row: Option<GivenBackRow> = diesel::sql_query(
        "UPDATE messages SET send_attempts = send_attempts + 1, lease_until = NULL, \
           status = CASE WHEN send_attempts + 1 >= $3 THEN 'failed' ELSE 'queued' END, \
           retry_at = CASE WHEN send_attempts + 1 >= $3 THEN NULL \
             ELSE clock_timestamp() + make_interval(secs => least(60, 2 ^ send_attempts)) END, \
           failed_at = CASE WHEN send_attempts + 1 >= $3 THEN coalesce(failed_at, now()) ELSE failed_at END, \
           error_message = CASE WHEN send_attempts + 1 >= $3 THEN 'Not sent after ' || (send_attempts + 1) || ' attempts: ' || $4 ELSE error_message END \
         WHERE workspace_id = $1 AND id = $2 AND status = 'sending' RETURNING status",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(id)
    .bind::<Integer, _>(limit)
    .bind::<Text, _>(reason)
    .get_result(conn)
    .optional()?;
    Ok(row.map(|r| if r.status == "failed" { GivenBack::Failed } else { GivenBack::Later }))
}

/// A send the provider refused for good, or that was refused before it was tried.
pub fn fail(conn: &mut PgConnection, workspace_id: i64, id: i64, code: Option<i32>, reason: &str) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE messages SET status = 'failed', failed_at = coalesce(failed_at, now()), lease_until = NULL, \
           error_code = $3, error_message = $4 \
         WHERE workspace_id = $1 AND id = $2 AND status IN ('queued', 'sending', 'unknown')",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(id)
    .bind::<Nullable<Integer>, _>(code)
    .bind::<Text, _>(reason)
    .execute(conn)
}

/// A send whose outcome could not be established: a person decides.
pub fn mark_unknown(conn: &mut PgConnection, workspace_id: i64, id: i64, reason: &str) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE messages SET status = 'unknown', lease_until = NULL, error_message = $3 \
         WHERE workspace_id = $1 AND id = $2 AND status = 'sending'",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(reason)
    .execute(conn)
}

/// Takes the lock that orders "record a provider id" against "a callback for it arrived".
fn lock_provider_id(conn: &mut PgConnection, workspace_id: i64, provider_id: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2::text, 17))")
        .bind::<Text, _>(provider_id)
        .bind::<BigInt, _>(workspace_id)
        .execute(conn)
        .map(|_| ())
}

/// Records what the provider answered for a claimed message (its id and first status) and
/// applies any callbacks that arrived for that id before. Runs in its own transaction.
/// `false` when the message was no longer `sending` under a claim (nothing written).
pub fn record_accepted(conn: &mut PgConnection, workspace_id: i64, id: i64, provider_id: &str, status: MessageStatus) -> QueryResult<bool> {
    conn.transaction(|conn| {
        lock_provider_id(conn, workspace_id, provider_id)?;
        let updated = diesel::sql_query(
            "UPDATE messages SET provider_id = $3, lease_until = NULL, \
               status = CASE WHEN message_status_rank($4) > message_status_rank(status) THEN $4 ELSE status END \
             WHERE workspace_id = $1 AND id = $2 AND status IN ('sending', 'unknown') AND provider_id IS NULL",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(provider_id)
        .bind::<Text, _>(status.as_str())
        .execute(conn)?;
        if updated == 0 {
            return Ok(false);
        }
        apply_early_callbacks(conn, workspace_id, provider_id)?;
        Ok(true)
    })
}

/// Applies the callbacks kept for `provider_id`, oldest first, and forgets them.
fn apply_early_callbacks(conn: &mut PgConnection, workspace_id: i64, provider_id: &str) -> QueryResult<()> {
    let early: Vec<(String, Option<i32>, Option<String>)> = diesel::delete(
        early_status_callbacks::table
            .filter(early_status_callbacks::workspace_id.eq(workspace_id))
            .filter(early_status_callbacks::provider_id.eq(provider_id)),
    )
    .returning((early_status_callbacks::status, early_status_callbacks::error_code, early_status_callbacks::error_message))
    .get_results(conn)?;
    for (status, error_code, error_message) in early {
        if let Some(status) = MessageStatus::parse(&status).filter(|s| !s.is_inbound_only()) {
            update_status(conn, workspace_id, &StatusReport { provider_id: provider_id.to_string(), status, error_code, error_message })?;
        }
    }
    Ok(())
}

/// What a status callback did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The message moved to the reported status.
    Moved,
    /// The message is already there or further along (a duplicate or a late callback).
    Unchanged,
    /// No message has this provider id yet: kept until one does.
    Kept,
    /// An inbound-only status, which no outbound message can take: nothing written.
    Refused,
}

/// Applies a status callback: forward only, each status's first time kept, the error code
/// and text of a failure recorded. Runs in its own transaction.
pub fn apply_status(conn: &mut PgConnection, workspace_id: i64, report: &StatusReport) -> QueryResult<Applied> {
    if report.status.is_inbound_only() {
        return Ok(Applied::Refused);
    }
    // The common case, one statement: the send is recorded, so no early callback can be
    // involved and no lock is needed (a row that has its provider id keeps it).
    if let Some(moved) = update_status(conn, workspace_id, report)? {
        return Ok(if moved { Applied::Moved } else { Applied::Unchanged });
    }
    // Not recorded (yet): under the lock `record_accepted` takes, look again, else keep it.
    conn.transaction(|conn| {
        lock_provider_id(conn, workspace_id, &report.provider_id)?;
        match update_status(conn, workspace_id, report)? {
            Some(true) => Ok(Applied::Moved),
            Some(false) => Ok(Applied::Unchanged),
            None => {
                diesel::insert_into(early_status_callbacks::table)
                    .values((
                        early_status_callbacks::workspace_id.eq(workspace_id),
                        early_status_callbacks::provider_id.eq(&report.provider_id),
                        early_status_callbacks::status.eq(report.status.as_str()),
                        early_status_callbacks::error_code.eq(report.error_code),
                        early_status_callbacks::error_message.eq(&report.error_message),
                    ))
                    .execute(conn)?;
                Ok(Applied::Kept)
            }
        }
    })
}

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    moved: bool,
}

/// `None`: no message has the id; `Some(moved)` otherwise. The per-status times are set
/// the first time each status is reported, even when the status itself does not move
/// (a `delivered` that arrives after `read` still dates the delivery). They are the wall
/// clock once the row is locked (`now()` is a transaction's start, so a callback that
/// waited for another could date itself before it), and never before an earlier stage's.
fn update_status(conn: &mut PgConnection, workspace_id: i64, report: &StatusReport) -> QueryResult<Option<bool>> {
    let failure = report.status.is_failure();
    diesel::sql_query(
        "WITH old AS (SELECT id, status, clock_timestamp() AS at FROM messages WHERE workspace_id = $1 AND provider_id = $2 FOR UPDATE) \
         UPDATE messages m SET \
           status = CASE WHEN message_status_rank($3) > message_status_rank(old.status) THEN $3 ELSE old.status END, \
           sent_at = CASE WHEN $3 IN ('sent', 'delivered', 'read') THEN coalesce(m.sent_at, old.at) ELSE m.sent_at END, \
           delivered_at = CASE WHEN $3 IN ('delivered', 'read') THEN coalesce(m.delivered_at, greatest(old.at, m.sent_at)) ELSE m.delivered_at END, \
           read_at = CASE WHEN $3 = 'read' THEN coalesce(m.read_at, greatest(old.at, m.delivered_at, m.sent_at)) ELSE m.read_at END, \
           failed_at = CASE WHEN $6 THEN coalesce(m.failed_at, old.at) ELSE m.failed_at END, \
           error_code = CASE WHEN $6 AND message_status_rank($3) > message_status_rank(old.status) THEN $4 ELSE m.error_code END, \
           error_message = CASE WHEN $6 AND message_status_rank($3) > message_status_rank(old.status) THEN $5 ELSE m.error_message END, \
           lease_until = NULL \
         FROM old WHERE m.workspace_id = $1 AND m.id = old.id \
         RETURNING message_status_rank($3) > message_status_rank(old.status) AS moved",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(&report.provider_id)
    .bind::<Text, _>(report.status.as_str())
    .bind::<Nullable<Integer>, _>(report.error_code)
    .bind::<Nullable<Text>, _>(&report.error_message)
    .bind::<diesel::sql_types::Bool, _>(failure)
    .get_result::<Moved>(conn)
    .optional()
    .map(|row| row.map(|r| r.moved))
}

/// One accepted send to record: (message id, provider id, first status).
pub type Accepted = (i64, String, MessageStatus);

#[derive(QueryableByName)]
struct Recorded {
    #[diesel(sql_type = Text)]
    provider_id: String,
}

#[derive(QueryableByName)]
struct Early {
    #[diesel(sql_type = Text)]
    provider_id: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Integer>)]
    error_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    error_message: Option<String>,
}

/// [`record_accepted`] for several sends in one transaction (a campaign dispatch records
/// its sends in bulk): the advisory lock of every provider id (in one statement, in sorted
/// order), one UPDATE for all the messages, then the callbacks kept for the ids recorded,
/// applied oldest first. The same rules as one at a time: a message no longer `sending`
/// (or `unknown`) without a provider id is left alone; a callback that arrived before is
/// applied, one that arrives after finds the id. Returns how many messages were recorded.
/// A record lost to a crash leaves its message `sending` under its lease, and
/// reconciliation adopts the provider's record.
pub fn record_accepted_many(conn: &mut PgConnection, workspace_id: i64, sends: &[Accepted]) -> QueryResult<usize> {
    if sends.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = sends.iter().map(|s| s.0).collect();
    let sids: Vec<&str> = sends.iter().map(|s| s.1.as_str()).collect();
    let statuses: Vec<&str> = sends.iter().map(|s| s.2.as_str()).collect();
    conn.transaction(|conn| {
        diesel::sql_query(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(p || ':' || $2::text, 17))) \
             FROM (SELECT p FROM unnest($1::text[]) AS p ORDER BY p) AS s",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(&sids)
        .bind::<BigInt, _>(workspace_id)
        .execute(conn)?;
        let recorded: Vec<Recorded> = diesel::sql_query(
            "UPDATE messages m SET provider_id = v.provider_id, lease_until = NULL, \
               status = CASE WHEN message_status_rank(v.status) > message_status_rank(m.status) THEN v.status ELSE m.status END \
             FROM unnest($2::bigint[], $3::text[], $4::text[]) AS v(id, provider_id, status) \
             WHERE m.workspace_id = $1 AND m.id = v.id AND m.status IN ('sending', 'unknown') AND m.provider_id IS NULL \
             RETURNING m.provider_id",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<diesel::sql_types::Array<BigInt>, _>(&ids)
        .bind::<diesel::sql_types::Array<Text>, _>(&sids)
        .bind::<diesel::sql_types::Array<Text>, _>(&statuses)
        .load(conn)?;
        let recorded_ids: Vec<String> = recorded.into_iter().map(|r| r.provider_id).collect();
        let early: Vec<Early> = diesel::sql_query(
            "WITH gone AS (DELETE FROM early_status_callbacks WHERE workspace_id = $1 AND provider_id = ANY($2) \
               RETURNING id, provider_id, status, error_code, error_message) \
             SELECT provider_id, status, error_code, error_message FROM gone ORDER BY id",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<diesel::sql_types::Array<Text>, _>(&recorded_ids)
        .load(conn)?;
        for e in early {
            if let Some(status) = MessageStatus::parse(&e.status).filter(|s| !s.is_inbound_only()) {
                update_status(conn, workspace_id, &StatusReport { provider_id: e.provider_id, status, error_code: e.error_code, error_message: e.error_message })?;
            }
        }
        Ok(recorded_ids.len())
    })
}
