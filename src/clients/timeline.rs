//! The client's one timeline: communications and follow-ups (later messages and campaign
//! sends join as more arms of the UNION), newest first, paginated in SQL.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

pub const PER_PAGE: i64 = 20;

#[derive(Clone, Debug, QueryableByName)]
pub struct TimelineItem {
    /// `communication` or `follow_up`.
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// call/email/meeting/note, or the follow-up's status.
    #[diesel(sql_type = Text)]
    pub label: String,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub notes: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub person: Option<String>,
}

impl TimelineItem {
    pub fn is_pending_follow_up(&self) -> bool {
        self.source == "follow_up" && self.label == "pending"
    }

    pub fn is_completed_follow_up(&self) -> bool {
        self.source == "follow_up" && self.label == "completed"
    }
}

pub fn page(conn: &mut PgConnection, workspace_id: i64, client_id: i64, page: i64) -> QueryResult<(Vec<TimelineItem>, bool)> {
    let mut rows: Vec<TimelineItem> = diesel::sql_query(
        "SELECT * FROM ( \
           SELECT 'communication' AS source, c.id, c.kind AS label, c.occurred_at AS at, c.notes, u.name AS person \
           FROM communications c LEFT JOIN users u ON u.workspace_id = c.workspace_id AND u.id = c.user_id \
           WHERE c.workspace_id = $1 AND c.client_id = $2 \
           UNION ALL \
           SELECT 'follow_up', f.id, f.status, f.due_at, f.notes, u.name \
           FROM follow_ups f LEFT JOIN users u ON u.workspace_id = f.workspace_id AND u.id = f.assigned_to \
           WHERE f.workspace_id = $1 AND f.client_id = $2 \
         ) t ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(client_id)
    .bind::<BigInt, _>(PER_PAGE + 1)
    .bind::<BigInt, _>((page.max(1) - 1) * PER_PAGE)
    .load(conn)?;
    let has_next = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    Ok((rows, has_next))
}
