//! The campaign's own types: its lifecycle (`CampaignStatus`, `Transition`), the channels
//! and statuses of batches and recipients, the `campaigns` row, and the transaction the
//! pages open around the model functions.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::campaigns;
use crate::error::AppError;

crate::text_enum! {
    /// draft → active ⇄ paused → completed (draft → completed too: abandoned).
    pub enum CampaignStatus {
        Draft => "draft",
        Active => "active",
        Paused => "paused",
        Completed => "completed",
    }
}

/// What a person asks of a campaign's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Start,
    Pause,
    Complete,
}

impl Transition {
    pub fn parse(value: &str) -> Option<Transition> {
        match value {
            "start" => Some(Transition::Start),
            "pause" => Some(Transition::Pause),
            "complete" => Some(Transition::Complete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Pause => "pause",
            Transition::Complete => "complete",
        }
    }
}

/// Why a campaign cannot take a transition from its status (answered 409).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionRefused {
    #[error("The campaign is already running.")]
    AlreadyRunning,
    #[error("A completed campaign cannot be started again; create a new one.")]
    CompletedCannotStart,
    #[error("The campaign is already paused.")]
    AlreadyPaused,
    #[error("A draft has not started, so it cannot be paused.")]
    DraftCannotPause,
    #[error("A completed campaign cannot be paused.")]
    CompletedCannotPause,
    #[error("The campaign is already completed.")]
    AlreadyCompleted,
}

impl CampaignStatus {
    /// The status after `t`, or why it cannot happen (answered 409).
    pub fn after(self, t: Transition) -> Result<CampaignStatus, TransitionRefused> {
        use CampaignStatus::*;
        match (self, t) {
            (Draft | Paused, Transition::Start) => Ok(Active),
            (Active, Transition::Start) => Err(TransitionRefused::AlreadyRunning),
            (Completed, Transition::Start) => Err(TransitionRefused::CompletedCannotStart),
            (Active, Transition::Pause) => Ok(Paused),
            (Paused, Transition::Pause) => Err(TransitionRefused::AlreadyPaused),
            (Draft, Transition::Pause) => Err(TransitionRefused::DraftCannotPause),
            (Completed, Transition::Pause) => Err(TransitionRefused::CompletedCannotPause),
            (Draft | Active | Paused, Transition::Complete) => Ok(Completed),
            (Completed, Transition::Complete) => Err(TransitionRefused::AlreadyCompleted),
        }
    }

    /// Batches send only while the campaign is active.
    pub fn sends(self) -> bool {
        self == CampaignStatus::Active
    }
}

crate::text_enum! {
    /// The channel of a batch.
    pub enum BatchChannel {
        WhatsApp => "whatsapp",
        Sms => "sms",
        Email => "email",
    }
}

impl BatchChannel {
    /// The path segment of its pages: `/campaigns/{id}/{segment}/{batch}/recipients`.
    pub fn segment(self) -> &'static str {
        match self {
            BatchChannel::WhatsApp => "whatsapp-messages",
            BatchChannel::Sms => "sms-messages",
            BatchChannel::Email => "emails",
        }
    }

    pub fn from_segment(segment: &str) -> Option<BatchChannel> {
        BatchChannel::ALL.into_iter().find(|c| c.segment() == segment)
    }
}

crate::text_enum! {
    pub enum BatchStatus {
        Scheduled => "scheduled",
        Sending => "sending",
        Done => "done",
        Cancelled => "cancelled",
    }
}

crate::text_enum! {
    /// A recipient's place; a campaign message's status moves it (a trigger on messages).
    pub enum RecipientStatus {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
        Skipped => "skipped",
        Cancelled => "cancelled",
        Unknown => "unknown",
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = campaigns)]
pub struct Campaign {
    pub workspace_id: i64,
    pub id: i64,
    pub name: String,
    pub channels: Vec<String>,
    pub whatsapp_from: Option<String>,
    pub status: CampaignStatus,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Campaign {
    pub fn has_channel(&self, channel: BatchChannel) -> bool {
        self.channels.iter().any(|c| c == channel.as_str())
    }
}

/// Runs `f` in one transaction (the pages' way to call several model functions at once).
pub fn transaction<T>(conn: &mut PgConnection, f: impl FnOnce(&mut PgConnection) -> Result<T, AppError>) -> Result<T, AppError> {
    conn.transaction(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_allows_what_a_campaign_can_do_and_says_why_not() {
        use CampaignStatus::*;
        assert_eq!(Draft.after(Transition::Start), Ok(Active));
        assert_eq!(Active.after(Transition::Pause), Ok(Paused));
        assert_eq!(Paused.after(Transition::Start), Ok(Active));
        assert_eq!(Paused.after(Transition::Complete), Ok(Completed));
        assert!(Draft.after(Transition::Pause).is_err());
        assert!(Completed.after(Transition::Start).is_err());
        assert!(Active.after(Transition::Start).is_err());
        assert_eq!(BatchChannel::from_segment("sms-messages"), Some(BatchChannel::Sms));
        assert_eq!(BatchChannel::Email.segment(), "emails");
        assert!(Active.sends() && !Paused.sends());
    }
}
