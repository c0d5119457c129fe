//! The client's one timeline: communications, follow-ups and messages (both directions;
//! later campaign sends join as more arms of the UNION), newest first, paginated in SQL.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

pub const PER_PAGE: i64 = 20;

#[derive(Clone, Debug, QueryableByName)]
pub struct TimelineItem {
    /// `communication`, `follow_up` or `message`.
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// call/email/meeting/note, the follow-up's status, or the message's status.
    #[diesel(sql_type = Text)]
    pub label: String,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub notes: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub person: Option<String>,
    /// Messages: whatsapp | sms.
    #[diesel(sql_type = Nullable<Text>)]
    pub channel: Option<String>,
    /// Messages: outbound | inbound.
    #[diesel(sql_type = Nullable<Text>)]
    pub direction: Option<String>,
    /// Messages: the provider's error code and text, or why the outcome is unknown.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    /// Messages: the provider's error code (read into `error` as a human line).
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    pub error_code: Option<i32>,
    /// Campaign messages (issue 12): the campaign's name, its recipients page (the batch's)
    /// and what the client replied to it.
    #[diesel(sql_type = Nullable<Text>)]
    pub campaign: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub campaign_href: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reply: Option<String>,
    /// Messages whose outcome was unknown: who resent it (issue 18: once only).
    #[diesel(sql_type = Nullable<Text>)]
    pub resent_by: Option<String>,
}

impl TimelineItem {
    pub fn is_pending_follow_up(&self) -> bool {
        self.source == "follow_up" && self.label == "pending"
    }

    pub fn is_completed_follow_up(&self) -> bool {
        self.source == "follow_up" && self.label == "completed"
    }

    pub fn is_message(&self) -> bool {
        self.source == "message"
    }

    /// An outbound message whose tick will still move: until it is read, failed or
    /// undelivered (or its outcome unknown). A WhatsApp message goes on from delivered to
    /// read (issue 19.1: the page stopped asking at delivered, so "read" never showed); an
    /// SMS ends at delivered (SMS has no read receipts).
    pub fn in_flight(&self) -> bool {
        self.is_message()
            && self.direction.as_deref() == Some("outbound")
            && match self.label.as_str() {
                "queued" | "sending" | "accepted" | "sent" => true,
                "delivered" => self.channel.as_deref() == Some("whatsapp"),
                _ => false,
            }
    }

    /// A message's status as its tick shows it.
    pub fn message_status(&self) -> &'static str {
        crate::messaging::MessageStatus::parse(&self.label).map_or("", |s| s.label())
    }

    /// "WhatsApp to" / "SMS from" and so on.
    pub fn message_heading(&self) -> String {
        let channel = if self.channel.as_deref() == Some("whatsapp") { "WhatsApp" } else { "SMS" };
        let way = if self.direction.as_deref() == Some("inbound") { "received" } else { "sent" };
        format!("{channel} {way}")
    }

    /// An outbound message whose outcome is unknown, not resent yet: a person may resend it.
    pub fn can_resend(&self) -> bool {
        self.is_message() && self.label == "unknown" && self.resent_by.is_none()
    }
}

/// Whether the page shows a message whose tick will still move (the timeline then asks for
/// itself again every few seconds, until every tick shown is final: a campaign's message has
/// no chat, so no live event tells the page of its statuses).
pub fn any_in_flight(items: &[TimelineItem]) -> bool {
    items.iter().any(TimelineItem::in_flight)
}

/// WhatsApp and SMS communications are the rows inbound messages add so the status rule and
/// the counters see them; the timeline shows the message itself instead.
pub fn page(conn: &mut PgConnection, workspace_id: i64, client_id: i64, page: i64) -> QueryResult<(Vec<TimelineItem>, bool)> {
    let mut rows: Vec<TimelineItem> = diesel::sql_query(
        "SELECT * FROM ( \
           SELECT 'communication' AS source, c.id, c.kind AS label, c.occurred_at AS at, c.notes, u.name AS person, \
             NULL::text AS channel, NULL::text AS direction, NULL::text AS error, NULL::int AS error_code, \
             NULL::text AS campaign, NULL::text AS campaign_href, NULL::text AS reply, NULL::text AS resent_by \
           FROM communications c LEFT JOIN users u ON u.workspace_id = c.workspace_id AND u.id = c.user_id \
           WHERE c.workspace_id = $1 AND c.client_id = $2 AND c.kind NOT IN ('whatsapp', 'sms') \
           UNION ALL \
           SELECT 'follow_up', f.id, f.status, f.due_at, f.notes, u.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
           FROM follow_ups f LEFT JOIN users u ON u.workspace_id = f.workspace_id AND u.id = f.assigned_to \
           WHERE f.workspace_id = $1 AND f.client_id = $2 \
           UNION ALL \
           SELECT 'message', m.id, m.status, m.created_at, m.body, u.name, m.channel, m.direction, \
             m.error_message, m.error_code, \
             cp.name, \
             '/campaigns/' || b.campaign_id || '/' || CASE b.channel WHEN 'whatsapp' THEN 'whatsapp-messages' WHEN 'sms' THEN 'sms-messages' ELSE 'emails' END || '/' || b.id || '/recipients', \
             CASE r.reply WHEN 'opt_out' THEN 'STOP (opted out)' ELSE r.reply END, \
             (SELECT coalesce(ru.name, 'someone') FROM message_resends mr LEFT JOIN users ru ON ru.workspace_id = mr.workspace_id AND ru.id = mr.resent_by \
              WHERE mr.workspace_id = m.workspace_id AND mr.message_id = m.id) \
           FROM messages m LEFT JOIN users u ON u.workspace_id = m.workspace_id AND u.id = m.created_by \
           LEFT JOIN campaign_batches b ON b.workspace_id = m.workspace_id AND b.id = m.batch_id \
           LEFT JOIN campaigns cp ON cp.workspace_id = b.workspace_id AND cp.id = b.campaign_id \
           LEFT JOIN campaign_recipients r ON r.workspace_id = m.workspace_id AND r.message_id = m.id \
           WHERE m.workspace_id = $1 AND m.client_id = $2 \
         ) t ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(client_id)
    .bind::<BigInt, _>(PER_PAGE + 1)
    .bind::<BigInt, _>((page.max(1) - 1) * PER_PAGE)
    .load(conn)?;
    let has_next = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    for row in rows.iter_mut().filter(|r| r.source == "message") {
        row.error = crate::messaging::errors::failure_line(row.error_code, row.error.as_deref());
    }
    Ok((rows, has_next))
}
