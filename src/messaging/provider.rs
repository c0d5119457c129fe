//! The provider seam: the [`Provider`] trait every messaging provider implements, the
//! shared types it speaks in (no provider's dialect), and [`Providers`], the factory the app
//! chooses at start-up that gives a workspace's account its provider (Twilio unless a test
//! double or a second provider is plugged in). Re-exported from `messaging`, so
//! `crate::messaging::Provider` and friends keep working. Imports nothing from `jobs/` or
//! `web/`: `jobs::run::JobEnv` and `web::state::AppState` hold a [`Providers`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::messaging::account::Account;
use crate::messaging::twilio::Twilio;
use crate::messaging::{Channel, MessageStatus};

/// Makes the provider of a workspace's account. Cloned into every request's state and
/// every job's environment; the default is Twilio at `TWILIO_API_BASE` /
/// `TWILIO_CONTENT_BASE`.
#[derive(Clone)]
pub struct Providers {
    make: Arc<MakeProvider>,
}

/// How [`Providers`] makes the provider of an account.
type MakeProvider = dyn Fn(&Account, &Settings) -> Arc<dyn Provider> + Send + Sync;

impl Providers {
    /// Twilio, with the account's SID and token (what the app runs with).
    pub fn twilio() -> Providers {
        Providers::new(|account, settings| {
            Arc::new(Twilio::new(&settings.twilio_api_base, &settings.twilio_content_base, &account.stored.account_sid, account.auth_token.clone()))
        })
    }

    /// Another way of making a provider (a test double, a second provider).
    pub fn new(make: impl Fn(&Account, &Settings) -> Arc<dyn Provider> + Send + Sync + 'static) -> Providers {
        Providers { make: Arc::new(make) }
    }

    /// The provider of `account`.
    pub fn for_account(&self, account: &Account, settings: &Settings) -> Arc<dyn Provider> {
        (self.make)(account, settings)
    }
}

impl Default for Providers {
    fn default() -> Providers {
        Providers::twilio()
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Providers")
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
    /// An inbound message's attachment at `url` (as the webhook gave it), with the
    /// account's credentials; refused past `max_bytes` without reading further.
    fn download(&self, url: &str, max_bytes: u64) -> Result<Download, DownloadError>;
}

/// An attachment's bytes and the type its server declared.
#[derive(Clone, Debug, PartialEq)]
pub struct Download {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// The file's name, when its server gave one.
    pub filename: Option<String>,
}

/// Why an attachment was not fetched.
#[derive(Clone, Debug, PartialEq)]
pub enum DownloadError {
    /// Larger than the limit: not worth another attempt.
    TooLarge,
    /// The provider says it is not there or not ours (a 4xx): not worth another attempt.
    Refused(String),
    /// Not there, refused or unreachable: worth another attempt.
    Failed(String),
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
    pub media: Vec<InboundMedia>,
    pub profile_name: Option<String>,
}

/// An attachment of an inbound message as the provider announces it: where to fetch it
/// and the type the sender declared (to be checked against the content once fetched).
#[derive(Clone, Debug, PartialEq)]
pub struct InboundMedia {
    pub url: String,
    pub declared_type: Option<String>,
}
