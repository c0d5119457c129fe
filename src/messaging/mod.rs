//! The messaging core: every call to a messaging provider goes through [`Provider`], and
//! every webhook a provider sends is read into the shared types here, so campaigns and chat
//! never speak a provider's dialect. Twilio ([`twilio`]) is the first provider; Meta's
//! WhatsApp Cloud API will be the second, so nothing here is named after a Twilio field.
//!
//! - [`store`]: the messages table: outbound rows and their claim, statuses that only move
//!   forward, callbacks that arrive before their send is recorded.
//! - [`throttle`]: the per-sender send rate, shared by every instance through PostgreSQL.
//! - [`webhooks`]: Twilio's signed status and inbound webhooks; [`inbound`] records a
//!   message a client sent and hands it to the consumers the features registered
//!   (`registry::inbound`).
//! - [`compose`]: the check and queueing of a message a person wrote (client page, chat).

pub mod account;
pub mod compose;
pub mod errors;
pub mod fragments;
pub mod inbound;
pub mod reconcile;
pub mod segments;
pub mod send;
pub mod store;
pub mod templates;
pub mod throttle;
pub mod twilio;
pub mod webhooks;

use std::time::Duration;

use chrono::{DateTime, Utc};

crate::text_enum! {
    /// The channel a message goes over.
    pub enum Channel {
        WhatsApp => "whatsapp",
        Sms => "sms",
    }
}

crate::text_enum! {
    pub enum Direction {
        Outbound => "outbound",
        Inbound => "inbound",
    }
}

crate::text_enum! {
    /// Where a message is. Outbound: `queued` (written, its send job waiting) → `sending`
    /// (a worker claimed it) → `accepted` (the provider took it) → `sent` → `delivered` →
    /// `read`, or the terminal
    /// `undelivered` / `failed`; `unknown` when a send's outcome could not be established
    /// (a person decides whether to resend). Inbound messages are `received`.
    pub enum MessageStatus {
        Queued => "queued",
        Sending => "sending",
        Accepted => "accepted",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Undelivered => "undelivered",
        Failed => "failed",
        Unknown => "unknown",
        Received => "received",
    }
}

impl MessageStatus {
    /// The order statuses may move in: a callback only ever moves a message to a higher rank
    /// (a late `sent` after `delivered` changes nothing). Failures are terminal. The same
    /// order is the SQL function `message_status_rank`, which the updates use.
    pub fn rank(self) -> i32 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sending | MessageStatus::Unknown => 1,
            MessageStatus::Accepted => 2,
            MessageStatus::Sent => 3,
            MessageStatus::Delivered => 4,
            MessageStatus::Read => 5,
            MessageStatus::Undelivered | MessageStatus::Failed => 6,
            MessageStatus::Received => 7,
        }
    }

    /// A status only an inbound message has: never one of our sends'.
    pub fn is_inbound_only(self) -> bool {
        self == MessageStatus::Received
    }

    pub fn is_failure(self) -> bool {
        matches!(self, MessageStatus::Undelivered | MessageStatus::Failed)
    }

    /// What the timeline's tick shows.
    pub fn label(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Accepted => "accepted",
            MessageStatus::Sent => "sent ✓",
            MessageStatus::Delivered => "delivered ✓✓",
            MessageStatus::Read => "read ✓✓",
            MessageStatus::Undelivered => "not delivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Unknown => "unknown — check before resending",
            MessageStatus::Received => "received",
        }
    }
}

/// A message to send. Addresses are E.164 (`+14155550123`); the provider adds its own
/// channel prefixes.
#[derive(Clone, Debug)]
pub struct OutboundMessage {
    pub channel: Channel,
    /// A sender number, or a provider-side sender pool (Twilio: a messaging service).
    pub from: Sender,
    pub to: String,
    pub content: Content,
    /// Where the provider reports this message's status.
    pub status_url: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    Number(String),
    Pool(String),
}

impl Sender {
    /// How a sender is written in the messages table and the throttle.
    pub fn key(&self) -> &str {
        match self {
            Sender::Number(n) | Sender::Pool(n) => n,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Content {
    Text(String),
    /// An approved template by its provider id, with values for its numbered placeholders.
    Template { provider_id: String, variables: Vec<(String, String)> },
}

/// The provider took a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub provider_id: String,
    pub status: MessageStatus,
}

/// A message as the provider describes it (fetch, reconciliation lookups).
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderMessage {
    pub provider_id: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub status: MessageStatus,
    pub created_at: Option<DateTime<Utc>>,
    pub error_code: Option<i32>,
    pub error_message: Option<String>,
}

/// Why a provider call did not succeed, sorted by what the caller may do next.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderError {
    /// Nothing was done; trying again later is safe (429, 5xx before acceptance, the
    /// connection refused). `after`: the provider's Retry-After.
    Retry { reason: String, after: Option<Duration> },
    /// The provider refused for good (invalid number, unsubscribed, outside the 24-hour
    /// window, bad credentials): recorded with its code and text, never retried.
    Permanent { code: Option<i32>, reason: String },
    /// The request may have been carried out (a timeout after it was sent, an answer that
    /// was lost): a send must be reconciled, never repeated blindly.
    Unknown(String),
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::Retry { reason, .. } => write!(f, "{reason} (will retry)"),
            ProviderError::Permanent { code: Some(code), reason } => write!(f, "{reason} (error {code})"),
            ProviderError::Permanent { code: None, reason } => write!(f, "{reason}"),
            ProviderError::Unknown(reason) => write!(f, "{reason} (outcome unknown)"),
        }
    }
}

/// A template as the provider lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderTemplate {
    pub provider_id: String,
    pub name: String,
    pub language: String,
    pub body: String,
    /// Placeholder → sample value, in placeholder order.
    pub variables: Vec<(String, String)>,
    pub media: Vec<String>,
    /// Quick-reply buttons: (id, title).
    pub buttons: Vec<(String, String)>,
    /// approved | pending | rejected | paused | disabled | unsubmitted
    pub approval_status: String,
    pub category: String,
    pub rejection_reason: String,
}

/// What a connection check found.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountInfo {
    pub name: String,
    pub status: String,
}

/// Why a connection check failed, in words a person can act on.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckError {
    UnknownAccount,
    BadToken,
    Unreachable(String),
    Other(String),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::UnknownAccount => write!(f, "No account has this Account SID."),
            CheckError::BadToken => write!(f, "The auth token is wrong for this Account SID."),
            CheckError::Unreachable(why) => write!(f, "The provider could not be reached: {why}."),
            CheckError::Other(why) => write!(f, "The provider answered unexpectedly: {why}."),
        }
    }
}

/// Every call to a messaging provider. Blocking: jobs call it on their own threads;
/// handlers call it through `web::block`.
pub trait Provider: Send + Sync {
    fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError>;
    fn fetch(&self, provider_id: &str) -> Result<ProviderMessage, ProviderError>;
    /// Messages from `from` to `to` created since `since` (reconciling a send whose outcome
    /// is unknown).
    fn find_sent(&self, channel: Channel, from: &Sender, to: &str, since: DateTime<Utc>) -> Result<Vec<ProviderMessage>, ProviderError>;
    fn list_templates(&self) -> Result<Vec<ProviderTemplate>, ProviderError>;
    fn check(&self) -> Result<AccountInfo, CheckError>;
}

/// A status report from a provider's webhook.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusReport {
    pub provider_id: String,
    pub status: MessageStatus,
    pub error_code: Option<i32>,
    pub error_message: Option<String>,
}

/// A message a client sent us, from a provider's webhook.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundMessage {
    pub provider_id: String,
    pub channel: Channel,
    /// E.164.
    pub from: String,
    pub to: String,
    pub body: String,
    /// A quick-reply button's payload and its title, when the message is a button reply.
    pub button_payload: Option<String>,
    pub button_text: Option<String>,
    /// The provider id of the message this one answers (Twilio's `OriginalRepliedMessageSid`,
    /// sent with a quick-reply button tap): how a flow finds the step that was answered.
    pub replied_to: Option<String>,
    pub media: Vec<String>,
    pub profile_name: Option<String>,
}
