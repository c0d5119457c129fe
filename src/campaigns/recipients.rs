//! A batch's recipients (issue 12 part 6): the batch as its recipients page shows it, the
//! counters (`campaign_batch_counts`, kept by triggers: figures never count
//! `campaign_recipients` per poll) and their rates, a page of rows, the failed recipients'
//! export rows, the re-target of the failed recipients, and the replies: an inbound message
//! from a recent recipient sets the reply of that recipient once ([`record_reply`]). The
//! pages are `campaigns::recipient_pages`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use serde_json::json;

use crate::audit::{self, Entry};
use crate::campaigns::{BatchChannel, BatchStatus, Campaign, CampaignScope, CampaignStatus, RecipientStatus};
use crate::error::AppError;
use crate::messaging::InboundMessage;
use crate::messaging::inbound::{Keyword, keyword, normalise};

pub const PAGE_SIZE: i64 = 50;

/// The statuses the dashboard counts, in its order, with their labels.
pub const STATUS_KEYS: [(&str, &str); 9] = [
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
    ("cancelled", "Cancelled"),
    ("unknown", "Unknown"),
];
pub const REPLY_KEYS: [(&str, &str); 3] = [("yes", "Yes"), ("no", "No"), ("other", "Other")];
/// A recipient's opt-out keyword is recorded as this reply (issue 19.2): counted and listed
/// beside the replies, never in the reply rate (it answers nothing).
pub const OPT_OUT: &str = "opt_out";
/// What the Reply filter offers: the answers and the opt-outs.
pub const REPLY_FILTERS: [(&str, &str); 4] = [("yes", "Yes"), ("no", "No"), ("other", "Other"), (OPT_OUT, "Opted out")];

/// A batch as its recipients page shows it (dispatch reads the whole row, `batches::Batch`).
#[derive(Clone, Debug, QueryableByName)]
pub struct BatchSummary {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub campaign_id: i64,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Text)]
    pub mode: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub send_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub retarget_of: Option<i64>,
    /// Flow batches: the flow as it was sent.
    #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
    pub flow_snapshot: Option<serde_json::Value>,
    /// What the check did when the batch was left with nothing scheduled ("Resumed by the
    /// check at …", "Failed: …"; `stalls::check_job`).
    #[diesel(sql_type = Nullable<Text>)]
    pub stall_note: Option<String>,
}

impl BatchSummary {
    /// Still moving: the page refreshes on the batch's live events (and a slow poll).
    pub fn live(&self) -> bool {
        matches!(BatchStatus::parse(&self.status), Some(BatchStatus::Scheduled | BatchStatus::Sending))
    }
}

/// The campaign and its batch, if this user may see them and the segment is the batch's
/// channel; 404 otherwise.
pub fn find(conn: &mut PgConnection, scope: &CampaignScope, campaign_id: i64, segment: &str, batch_id: i64) -> Result<(Campaign, BatchSummary, BatchChannel), AppError> {
    let channel = BatchChannel::from_segment(segment).ok_or(AppError::NotFound)?;
    let campaign = scope.find(conn, campaign_id)?;
    let batch = diesel::sql_query(
        "SELECT id, campaign_id, channel, mode, status, send_at, retarget_of, flow_snapshot, stall_note FROM campaign_batches \
         WHERE workspace_id = $1 AND campaign_id = $2 AND id = $3 AND channel = $4",
    )
    .bind::<BigInt, _>(scope.workspace_id)
    .bind::<BigInt, _>(campaign.id)
    .bind::<BigInt, _>(batch_id)
    .bind::<Text, _>(channel.as_str())
    .get_result::<BatchSummary>(conn)
    .optional()?
    .ok_or(AppError::NotFound)?;
    Ok((campaign, batch, channel))
}

/// What a batch is doing, in words (issue 19 item 7): a batch of a draft campaign waits for
/// the start and one of a paused campaign waits for the resume (neither is "sending"); a
/// done batch whose recipients still await their outcome (queued or sending: not yet taken
/// by the provider's answer) says how many, rather than "done".
pub fn batch_state(campaign: CampaignStatus, batch: &str, awaiting: i64) -> String {
    let batch = BatchStatus::parse(batch);
    let moving = matches!(batch, Some(BatchStatus::Scheduled | BatchStatus::Sending));
    match (campaign, batch) {
        (CampaignStatus::Draft, _) if moving => "the batch waits for the campaign to start".into(),
        (CampaignStatus::Paused, _) if moving => "the batch waits for the campaign to resume".into(),
        (_, Some(BatchStatus::Scheduled)) => "batch scheduled".into(),
        (_, Some(BatchStatus::Sending)) => "batch sending".into(),
        (_, Some(BatchStatus::Done)) if awaiting > 0 => format!("all handed to the provider, {} awaiting an outcome", crate::web::numbers::thousands(awaiting)),
        (_, Some(BatchStatus::Done)) => "batch done".into(),
        (_, Some(BatchStatus::Cancelled)) => "batch cancelled".into(),
        (_, None) => "batch status unknown".into(),
    }
}

/// A batch's counters (`campaign_batch_counts`): recipients by status, replies by kind.
#[derive(Clone, Debug, Default)]
pub struct Counts(BTreeMap<String, i64>);

/// A counter row: its key and count (batch and hourly counters alike).
#[derive(QueryableByName)]
pub(crate) struct KeyN {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

impl Counts {
    pub fn load(conn: &mut PgConnection, workspace_id: i64, batch_id: i64) -> QueryResult<Counts> {
        let rows: Vec<KeyN> = diesel::sql_query("SELECT key, n FROM campaign_batch_counts WHERE workspace_id = $1 AND batch_id = $2")
            .bind::<BigInt, _>(workspace_id)
            .bind::<BigInt, _>(batch_id)
            .load(conn)?;
        Ok(Counts(rows.into_iter().map(|r| (r.key, r.n)).collect()))
    }

    /// The counters of every batch that started (or was due) since `since`, summed: of the
    /// campaigns `campaign_ids` when given, else of the whole workspace. The campaigns
    /// tile's 7-day rates are these counters' rates, so they agree with the batch pages.
    pub fn of_batches_since(conn: &mut PgConnection, workspace_id: i64, campaign_ids: Option<Vec<i64>>, since: DateTime<Utc>) -> QueryResult<Counts> {
        let rows: Vec<KeyN> = diesel::sql_query(
            "SELECT k.key, sum(k.n)::bigint AS n FROM campaign_batch_counts k \
             JOIN campaign_batches b ON b.workspace_id = k.workspace_id AND b.id = k.batch_id \
             WHERE k.workspace_id = $1 AND COALESCE(b.started_at, b.send_at) >= $2 \
               AND ($3::bigint[] IS NULL OR b.campaign_id = ANY($3)) GROUP BY k.key",
        )
        .bind::<BigInt, _>(workspace_id)
        .bind::<Timestamptz, _>(since)
        .bind::<Nullable<diesel::sql_types::Array<BigInt>>, _>(campaign_ids)
        .load(conn)?;
        Ok(Counts(rows.into_iter().map(|r| (r.key, r.n)).collect()))
    }

    pub fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn reply(&self, kind: &str) -> i64 {
        self.get(&format!("reply:{kind}"))
    }

    pub fn total(&self) -> i64 {
        STATUS_KEYS.iter().map(|(k, _)| self.get(k)).sum()
    }

    /// Everything but queued and sending.
    pub fn done(&self) -> i64 {
        self.total() - self.get("queued") - self.get("sending")
    }

    pub fn percent(&self) -> i64 {
        let total = self.total();
        if total == 0 { 0 } else { self.done() * 100 / total }
    }

    /// Delivered (or read) over every message with an outcome: sent + delivered + read + failed.
    pub fn delivery_rate(&self) -> String {
        rate(self.get("delivered") + self.get("read"), self.get("sent") + self.get("delivered") + self.get("read") + self.get("failed"))
    }

    /// Replies over the messages that reached the provider without failing (sent, delivered
    /// or read).
    pub fn reply_rate(&self) -> String {
        rate(REPLY_KEYS.iter().map(|(k, _)| self.reply(k)).sum(), self.get("sent") + self.get("delivered") + self.get("read"))
    }
}

/// `part / whole` as a percentage with one decimal, or "–" when there is nothing to divide.
pub fn rate(part: i64, whole: i64) -> String {
    if whole <= 0 { "–".to_string() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}

#[derive(Clone, Debug, QueryableByName)]
pub struct Row {
    #[diesel(sql_type = BigInt)]
    pub client_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub skip_reason: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub error_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error_message: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reply: Option<String>,
    /// Flow batches: the step the recipient was last sent.
    #[diesel(sql_type = Nullable<Text>)]
    pub flow_step: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

impl Row {
    /// The error as people read it: the table's line for the provider's code (see
    /// crate::messaging::errors), else the provider's text.
    pub fn error_line(&self) -> Option<String> {
        crate::messaging::errors::failure_line(self.error_code, self.error_message.as_deref())
    }
}

/// One page (`PAGE_SIZE` + 1 rows, to tell whether there is a next page) of the batch's
/// recipients, by client, of a status and a reply when given.
pub fn page_rows(conn: &mut PgConnection, workspace_id: i64, batch_id: i64, status: Option<RecipientStatus>, reply: Option<&str>, page: i64) -> QueryResult<Vec<Row>> {
    diesel::sql_query(
        "SELECT r.client_id, c.name, r.status, r.skip_reason, r.error_code, r.error_message, \
           CASE r.reply WHEN 'opt_out' THEN 'opted out' ELSE r.reply END AS reply, r.flow_step, r.updated_at \
         FROM campaign_recipients r JOIN clients c ON c.workspace_id = r.workspace_id AND c.id = r.client_id \
         WHERE r.workspace_id = $1 AND r.batch_id = $2 AND ($3::text IS NULL OR r.status = $3) AND ($4::text IS NULL OR r.reply = $4) \
         ORDER BY r.client_id LIMIT $5 OFFSET $6",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(batch_id)
    .bind::<Nullable<Text>, _>(status.map(|s| s.as_str()))
    .bind::<Nullable<Text>, _>(reply)
    .bind::<BigInt, _>(PAGE_SIZE + 1)
    .bind::<BigInt, _>((page - 1) * PAGE_SIZE)
    .load(conn)
}

/// A failed recipient as the export writes it.
#[derive(QueryableByName)]
pub struct FailedRow {
    #[diesel(sql_type = BigInt)]
    pub client_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub phone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub error_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error_message: Option<String>,
}

/// The next 1 000 failed recipients of the batch after client `after`, by client.
pub fn failed_rows(conn: &mut PgConnection, w: i64, batch_id: i64, after: i64) -> QueryResult<Vec<FailedRow>> {
    diesel::sql_query(
        "SELECT r.client_id, c.name, c.phone, c.email, r.error_code, r.error_message \
         FROM campaign_recipients r JOIN clients c ON c.workspace_id = r.workspace_id AND c.id = r.client_id \
         WHERE r.workspace_id = $1 AND r.batch_id = $2 AND r.status = 'failed' AND r.client_id > $3 ORDER BY r.client_id LIMIT 1000",
    )
    .bind::<BigInt, _>(w)
    .bind::<BigInt, _>(batch_id)
    .bind::<BigInt, _>(after)
    .load(conn)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// A re-target: the new batch of the failed recipients.
#[derive(Clone, Copy, Debug)]
pub struct Retargeted {
    pub campaign_id: i64,
    pub channel: BatchChannel,
    pub batch_id: i64,
}

/// "Re-target failed" of campaign `id`'s batch `batch_id` (its page's `segment`, 404 as
/// [`find`]), in the caller's transaction: a new batch with the old one's settings
/// (`retarget_of`), sent at `now`, one recipient per failed recipient (set-based; a client
/// opted out of the channel since is `skipped` with the reason, as when any batch is made;
/// `zone` names the opt-out date), and its dispatch job; audited (`entry`). 409 when nothing failed, the campaign is
/// completed or the batch was re-targeted already (and that re-target is not cancelled).
pub fn retarget(tx: &mut PgConnection, scope: &CampaignScope, (id, segment, batch_id): (i64, &str, i64), now: DateTime<Utc>, zone: &str, entry: Entry) -> Result<Retargeted, AppError> {
    let (campaign, batch, channel) = find(tx, scope, id, segment, batch_id)?;
    if campaign.status == CampaignStatus::Completed {
        return Err(AppError::Conflict("A completed campaign sends no more batches.".into()));
    }
    // One re-target at a time per batch.
    diesel::sql_query("SELECT id FROM campaign_batches WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
        .bind::<BigInt, _>(scope.workspace_id)
        .bind::<BigInt, _>(batch.id)
        .execute(tx)?;
    // A double click (or two people) must not send the failed recipients twice: one
    // live re-target per batch; retry what fails again from the re-target's own page.
    let earlier: Option<Id> = diesel::sql_query(
        "SELECT id FROM campaign_batches WHERE workspace_id = $1 AND retarget_of = $2 AND status <> 'cancelled' ORDER BY id LIMIT 1",
    )
    .bind::<BigInt, _>(scope.workspace_id)
    .bind::<BigInt, _>(batch.id)
    .get_result(tx)
    .optional()?;
    if let Some(earlier) = earlier {
        return Err(AppError::Conflict(format!("The failed recipients of this batch were already re-targeted as batch #{}.", earlier.id)));
    }
    let new_id = diesel::sql_query(
        "INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, template_id, flow_id, flow_snapshot, variables, \
           subject, body, html_body, sender, send_at, status, retarget_of, created_by) \
         SELECT workspace_id, campaign_id, channel, mode, template_id, flow_id, flow_snapshot, variables, \
           subject, body, html_body, sender, $3, 'scheduled', id, $4 \
         FROM campaign_batches WHERE workspace_id = $1 AND id = $2 RETURNING id",
    )
    .bind::<BigInt, _>(scope.workspace_id)
    .bind::<BigInt, _>(batch.id)
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(scope.user_id)
    .get_result::<Id>(tx)?
    .id;
    // The same rows a new batch gets: queued, or skipped with the reason (an opt-out
    // or a missing address since the failure).
    let added = diesel::sql_query(crate::campaigns::batches::recipients_sql(channel, crate::campaigns::batches::RecipientSource::FailedOf))
        .bind::<BigInt, _>(scope.workspace_id)
        .bind::<BigInt, _>(new_id)
        .bind::<BigInt, _>(batch.id)
        .bind::<Text, _>(zone)
        .execute(tx)?;
    if added == 0 {
        return Err(AppError::Conflict("No recipient of this batch failed: there is nothing to re-target.".into()));
    }
    crate::campaigns::dispatch::enqueue(tx, scope.workspace_id, new_id, now)?;
    let entry = entry.after(json!({ "batch_id": new_id, "retarget_of": batch.id, "channel": channel.as_str(), "recipients": added }));
    audit::record(tx, &entry)?;
    Ok(Retargeted { campaign_id: campaign.id, channel, batch_id: new_id })
}

/// Reply words (issue 19 item 9) in English, Spanish, Portuguese, French, German and
/// Turkish, matched on the text as opt-out words are ([`normalise`]: NFKC, case and
/// punctuation folded). A word here counts as the whole message or as its first word
/// ("YES please", "Não, obrigado", "Hayır teşekkürler").
pub const YES_FIRST: [&str; 9] = ["yes", "yeah", "yep", "yup", "sí", "sim", "oui", "ja", "evet"];
pub const NO_FIRST: [&str; 9] = ["no", "nope", "nah", "não", "nao", "non", "nein", "hayır", "hayir"];
/// Reply words that count only as the whole message: "y" and "n", and "si" (Spanish and
/// French "if": "Si puedo mañana" is no yes).
pub const YES_WHOLE: [&str; 2] = ["y", "si"];
pub const NO_WHOLE: [&str; 1] = ["n"];

/// What a reply says: yes, no or other (see [`YES_FIRST`]).
pub fn reply_kind(text: &str) -> &'static str {
    let text = normalise(text);
    let first = text.split(' ').next().unwrap_or("");
    let says = |first_words: &[&str], whole: &[&str]| first_words.contains(&first) || whole.contains(&text.as_str());
    if says(&YES_FIRST, &YES_WHOLE) {
        "yes"
    } else if says(&NO_FIRST, &NO_WHOLE) {
        "no"
    } else {
        "other"
    }
}

/// An inbound message from a client who was a recipient (sent to: not queued, skipped,
/// cancelled or failed, so a reply always answers a message that reached them and the reply
/// rate never exceeds 100 %) of a campaign batch on this channel in the 7 days before `now` sets the reply
/// of the most recent such batch's recipient, once (only while its reply is empty: a second
/// message changes nothing, nor does it fall back to an older batch). A button's payload
/// (else its text) speaks before the body; an opt-out keyword is recorded as [`OPT_OUT`].
/// Returns whether a reply was recorded.
pub fn record_reply(conn: &mut PgConnection, workspace_id: i64, client_id: i64, msg: &InboundMessage, now: DateTime<Utc>) -> QueryResult<bool> {
    let (payload, button) = (msg.button_payload.as_deref(), msg.button_text.as_deref());
    let said = payload.filter(|p| !p.trim().is_empty()).or(button.filter(|t| !t.trim().is_empty())).unwrap_or(&msg.body);
    let channel = msg.channel.as_str();
    let kind = if matches!(keyword(&msg.body), Some((Keyword::OptOut, _))) { OPT_OUT } else { reply_kind(said) };
    let changed = diesel::sql_query(
        "UPDATE campaign_recipients r SET reply = $4, updated_at = $5 \
         FROM (SELECT r2.batch_id FROM campaign_recipients r2 \
               JOIN campaign_batches b ON b.workspace_id = r2.workspace_id AND b.id = r2.batch_id \
               WHERE r2.workspace_id = $1 AND r2.client_id = $2 AND b.channel = $3 \
                 AND r2.status NOT IN ('queued', 'skipped', 'cancelled', 'failed') \
                 AND COALESCE(b.started_at, b.send_at) > $5 - interval '7 days' \
               ORDER BY COALESCE(b.started_at, b.send_at) DESC, b.id DESC LIMIT 1) latest \
         WHERE r.workspace_id = $1 AND r.client_id = $2 AND r.batch_id = latest.batch_id AND r.reply IS NULL",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(client_id)
    .bind::<Text, _>(channel)
    .bind::<Text, _>(kind)
    .bind::<Timestamptz, _>(now)
    .execute(conn)?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_yes_no_or_other() {
        for yes in ["yes", "Y", " Sí ", "si!", "OUI", "ja."] {
            assert_eq!(reply_kind(yes), "yes", "{yes:?}");
        }
        for no in ["no", "NON", "Nein"] {
            assert_eq!(reply_kind(no), "no", "{no:?}");
        }
        for (text, kind) in [("YES please", "yes"), ("Não, obrigado", "no"), ("HAYIR", "no"), ("ＥＶＥＴ", "yes"), ("Si puedo", "other"), ("yesterday", "other")] {
            assert_eq!(reply_kind(text), kind, "{text:?}");
        }
        assert_eq!(rate(1, 3), "33.3%");
        assert_eq!(rate(0, 0), "–");
    }
}
