//! The messaging core: every call to a messaging provider goes through [`Provider`], and
//! every webhook a provider sends is read into the shared types here, so campaigns and chat
//! never speak a provider's dialect. Twilio ([`twilio`]) is the first provider; Meta's
//! WhatsApp Cloud API will be the second, so nothing here is named after a Twilio field.
//!
//! - [`provider`]: the [`Provider`] trait, its types, and [`Providers`], the factory the app
//!   chooses at start-up (Twilio; the tests' in-process double).
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
pub mod media;
pub mod provider;
pub mod reconcile;
pub mod segments;
pub mod send;
pub mod store;
pub mod templates;
pub mod throttle;
pub mod twilio;
pub mod webhooks;

pub use provider::{
    Accepted, AccountInfo, CheckError, Content, Download, DownloadError, InboundMedia, InboundMessage, OutboundMessage, Provider, ProviderError, ProviderMessage, ProviderTemplate, Providers, Sender,
    StatusReport,
};

crate::text_enum! {
    /// The channel a message goes over.
    pub enum Channel {
        WhatsApp => "whatsapp",
        Sms => "sms",
    }
}

impl Channel {
    /// The channel as people read it: "WhatsApp" / "SMS".
    pub fn label(self) -> &'static str {
        match self {
            Channel::WhatsApp => "WhatsApp",
            Channel::Sms => "SMS",
        }
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
