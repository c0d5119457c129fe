//! An in-process messaging provider for the tests (issue 21 part 5): it implements
//! `messaging::Provider` itself, so the app's sends, lookups, template lists and connection
//! checks reach it through `messaging::Providers` (plugged in with
//! `Application::build_with`, see `support::app_with_double`) with no HTTP between them.
//! It records every send (channel, sender, recipient, text or template and its variables,
//! the status URL), gives provider ids (`DBL…`), can be told to fail the ways the trait
//! can (retry later, rate-limited with a Retry-After, refused with a code, outcome unknown
//! whether or not it took the message, a slow answer), and delivers status reports and
//! inbound messages through the app's own webhook.
//!
//! The webhook deliveries speak Twilio's webhook form, signed with the fake's token
//! (`fake_twilio::AUTH_TOKEN`, which the tests seal into `twilio_settings`): that webhook is
//! the app's only way in for now (a second provider's would be added here).
//!
//! Which tests use what, and why:
//! - This double: the tests whose subject is what the app does around the provider, not
//!   what goes over the wire — `campaign_batches` (batches, dispatch at the sender's rate,
//!   pausing, completing, two instances, a Retry-After hold, a status report before the
//!   bulk record), `campaign_flows` (button taps driving steps), `campaign_recipients` and
//!   `campaign_live` (counters, replies and live events fed by status reports and replies),
//!   `chat_inbox` and `chat_actions` (replies, the 24-hour window, assignment), `events`,
//!   `notifications` (an unassigned chat, a failed send), `double_submit`, the campaign
//!   test send in `campaigns`, and in `messaging_send` the refusals, a refusal for good,
//!   the shared sender rate, resending, the timeline and STOP / START.
//! - The HTTP fake (`fake_twilio`), where Twilio's side is the subject: `twilio_provider`
//!   (REST shapes, Basic auth, HTTP faults, timeouts), `twilio_webhooks` (signatures,
//!   parameter parsing), `twilio_settings` (the connection check's answers),
//!   `whatsapp_templates` (the Content API's pages); in `messaging_send` the form fields
//!   Twilio gets, its 429 / 5xx answers, an answer lost on the socket and reconciliation by
//!   its message list; in `campaign_batches` the 503-every-third-call run (Twilio's words
//!   end up in the failed messages); every test that runs a `switchboard worker` process
//!   (another process cannot share an in-process double); the browser tests and benches.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use switchboard::messaging::account::webhook_url;
use switchboard::messaging::{
    Accepted, AccountInfo, Download, DownloadError, Channel, CheckError, Content, InboundMessage, MessageStatus, OutboundMessage, Provider, ProviderError, ProviderMessage,
    ProviderTemplate, Providers, Sender,
};

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, twilio_signature};

/// What the double does with a send instead of taking it at once.
#[derive(Clone, Debug)]
pub enum Failure {
    /// Nothing taken; trying again is safe (`ProviderError::Retry`, no Retry-After).
    Retry,
    /// Nothing taken; rate-limited, not before `after` (`ProviderError::Retry` with it).
    RateLimited { after: Duration },
    /// Refused for good with this code and text (`ProviderError::Permanent`).
    Refuse { code: i32, reason: String },
    /// The outcome is unknown (`ProviderError::Unknown`); `taken`: the message was recorded
    /// all the same (an answer lost), so a lookup finds it.
    Unknown { taken: bool },
    /// Taken, answered after this long (a send in flight while the test acts).
    Slow(Duration),
}

/// A message the double took.
#[derive(Clone, Debug)]
pub struct Sent {
    pub provider_id: String,
    pub channel: Channel,
    /// The sender's key: a number, or a pool's id.
    pub from: String,
    pub pooled: bool,
    /// E.164.
    pub to: String,
    pub body: Option<String>,
    /// The template's provider id, and the values of its placeholders.
    pub template: Option<String>,
    pub variables: Vec<(String, String)>,
    pub status_url: String,
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    sent: Vec<Sent>,
    failures: VecDeque<Failure>,
    /// Send calls so far, and the failure every Nth of them gets (when none is queued).
    calls: u64,
    every: Option<(u64, Failure)>,
    refused_every: u64,
    lookups: u64,
    templates: Vec<ProviderTemplate>,
    check: Option<Result<AccountInfo, CheckError>>,
    /// The accounts the app made a provider for (their SIDs), in order.
    accounts: Vec<String>,
    /// `SWITCHBOARD_PUBLIC_URL` of the app (what the webhooks are signed over).
    public_url: Option<String>,
    /// Recipients (E.164) a send to is refused with 21610, as an unsubscribed number is.
    unsubscribed: HashSet<String>,
}

#[derive(Clone, Default)]
pub struct ProviderDouble {
    state: Arc<Mutex<State>>,
    ids: Arc<AtomicU64>,
    /// Sends taken (recorded), whatever happened to the answer.
    pub accepted: Arc<AtomicU64>,
}

/// The provider the app gets for an account: the double's records, shared by every account.
struct Connected {
    double: ProviderDouble,
}

impl ProviderDouble {
    pub fn new() -> ProviderDouble {
        ProviderDouble::default()
    }

    /// What the app is built with (`Application::build_with`).
    pub fn providers(&self) -> Providers {
        let double = self.clone();
        Providers::new(move |account, _settings| {
            double.lock().accounts.push(account.stored.account_sid.clone());
            Arc::new(Connected { double: double.clone() })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The public URL the app signs its webhooks' URLs with (`support::app_with_double`).
    pub fn set_public_url(&self, url: Option<String>) {
        self.lock().public_url = url;
    }

    /// The next send gets `failure` (queued failures come first, in order).
    pub fn push_failure(&self, failure: Failure) {
        self.lock().failures.push_back(failure);
    }

    /// A flaky provider: every `n`th send call (the `n`th, `2n`th, …) gets `failure`, for as
    /// long as the double lives; queued failures come first.
    pub fn fail_every(&self, n: u64, failure: Failure) {
        self.lock().every = Some((n.max(1), failure));
    }

    /// No more failures every Nth call (the count of calls goes on).
    pub fn reliable(&self) {
        self.lock().every = None;
    }

    /// Send calls answered with the failure of [`ProviderDouble::fail_every`].
    pub fn refused_every(&self) -> u64 {
        self.lock().refused_every
    }

    /// Send calls so far, failed or not.
    pub fn send_calls(&self) -> u64 {
        self.lock().calls
    }

    /// Reconciliation lookups (`find_sent`) so far.
    pub fn lookups(&self) -> u64 {
        self.lock().lookups
    }

    /// Sends to `to` (E.164) are refused with 21610 from now on.
    pub fn unsubscribe(&self, to: &str) {
        self.lock().unsubscribed.insert(to.to_string());
    }

    pub fn add_template(&self, template: ProviderTemplate) {
        self.lock().templates.push(template);
    }

    /// What the connection check answers (by default, a connected "Acme Messaging").
    pub fn answer_check(&self, answer: Result<AccountInfo, CheckError>) {
        self.lock().check = Some(answer);
    }

    /// The account SIDs the app made a provider for.
    pub fn accounts(&self) -> Vec<String> {
        self.lock().accounts.clone()
    }

    /// Every message taken, in the order taken.
    pub fn messages(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// How many messages were taken for `to` (E.164) on `channel`.
    pub fn sends_to(&self, channel: Channel, to: &str) -> usize {
        self.lock().sent.iter().filter(|m| m.channel == channel && m.to == to).count()
    }

    /// How many messages were taken for `to` (E.164), on either channel.
    pub fn sends_to_number(&self, to: &str) -> usize {
        self.lock().sent.iter().filter(|m| m.to == to).count()
    }

    /// Sets a taken message's status (what a later lookup answers).
    pub fn set_status(&self, provider_id: &str, status: MessageStatus) {
        if let Some(m) = self.lock().sent.iter_mut().find(|m| m.provider_id == provider_id) {
            m.status = status;
        }
    }

    fn take(&self, message: &OutboundMessage) -> Sent {
        let n = self.ids.fetch_add(1, Ordering::SeqCst) + 1;
        let (body, template, variables) = match &message.content {
            Content::Text(body) => (Some(body.clone()), None, Vec::new()),
            Content::Template { provider_id, variables } => (None, Some(provider_id.clone()), variables.clone()),
        };
        let sent = Sent {
            provider_id: format!("DBL{n:010}"),
            channel: message.channel,
            from: message.from.key().to_string(),
            pooled: matches!(message.from, Sender::Pool(_)),
            to: message.to.clone(),
            body,
            template,
            variables,
            status_url: message.status_url.clone(),
            status: MessageStatus::Accepted,
            created_at: Utc::now(),
        };
        self.lock().sent.push(sent.clone());
        self.accepted.fetch_add(1, Ordering::SeqCst);
        sent
    }

    fn next_failure(&self) -> Option<Failure> {
        let mut state = self.lock();
        state.calls += 1;
        if let Some(queued) = state.failures.pop_front() {
            return Some(queued);
        }
        let every = match &state.every {
            Some((n, failure)) if state.calls % n == 0 => Some(failure.clone()),
            _ => None,
        };
        if every.is_some() {
            state.refused_every += 1;
        }
        every
    }

    /// Reports `status` for a taken message to the status URL it was sent with, as the
    /// provider reports it (through the app's status webhook). Returns the app's answer.
    pub async fn deliver_status(&self, app_base: &str, provider_id: &str, status: MessageStatus, error_code: Option<i32>) -> StatusCode {
        let url = self.lock().sent.iter().find(|m| m.provider_id == provider_id).map(|m| m.status_url.clone());
        let url = url.unwrap_or_else(|| panic!("the double took no message {provider_id}"));
        self.set_status(provider_id, status);
        post_webhook(app_base, &url, &status_form(provider_id, status, error_code)).await
    }

    /// Reports `status` for the message `provider_id` (whoever sent it: a test may write its
    /// sends straight into the database) to the status webhook of the workspace whose
    /// webhook key is `key`. Returns the app's answer.
    pub async fn report_status(&self, app_base: &str, key: &str, provider_id: &str, status: MessageStatus, error_code: Option<i32>) -> StatusCode {
        let url = self.webhook(app_base, key, "status");
        post_webhook(app_base, &url, &status_form(provider_id, status, error_code)).await
    }

    /// The URL of a workspace's webhook as the app gives it (its public URL, else its own).
    fn webhook(&self, app_base: &str, key: &str, kind: &str) -> String {
        let base = self.lock().public_url.clone().unwrap_or_else(|| app_base.to_string());
        webhook_url(&url::Url::parse(&base).expect("the app's URL"), key, kind)
    }

    /// Delivers a message a client sent to the workspace whose webhook key is `key`, as the
    /// provider delivers it (through the app's inbound webhook). Returns the app's answer.
    pub async fn deliver_inbound(&self, app_base: &str, key: &str, message: &InboundMessage) -> StatusCode {
        let url = self.webhook(app_base, key, "inbound");
        let address = |number: &str| match message.channel {
            Channel::WhatsApp => format!("whatsapp:{number}"),
            Channel::Sms => number.to_string(),
        };
        let mut form = vec![
            ("AccountSid", ACCOUNT_SID.to_string()),
            ("MessageSid", message.provider_id.clone()),
            ("From", address(&message.from)),
            ("To", address(&message.to)),
            ("Body", message.body.clone()),
            ("NumMedia", message.media.len().to_string()),
        ];
        let optional = [("ButtonPayload", &message.button_payload), ("ButtonText", &message.button_text), ("OriginalRepliedMessageSid", &message.replied_to), ("ProfileName", &message.profile_name)];
        form.extend(optional.into_iter().filter_map(|(name, value)| value.clone().map(|v| (name, v))));
        let media: Vec<(String, String)> = message
            .media
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                let declared = m.declared_type.clone().map(|t| (format!("MediaContentType{i}"), t));
                std::iter::once((format!("MediaUrl{i}"), m.url.clone())).chain(declared)
            })
            .collect();
        let mut form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        form.extend(media);
        post_signed(app_base, &url, &form).await
    }
}

/// An inbound message from `from` to `to` on `channel` with `body` and nothing else.
pub fn inbound_message(provider_id: &str, channel: Channel, from: &str, to: &str, body: &str) -> InboundMessage {
    InboundMessage {
        provider_id: provider_id.into(),
        channel,
        from: from.into(),
        to: to.into(),
        body: body.into(),
        button_payload: None,
        button_text: None,
        replied_to: None,
        media: Vec::new(),
        profile_name: None,
    }
}

/// A status report's fields, as the app's status webhook reads them.
fn status_form(provider_id: &str, status: MessageStatus, error_code: Option<i32>) -> Vec<(&'static str, String)> {
    let mut form = vec![("AccountSid", ACCOUNT_SID.to_string()), ("MessageSid", provider_id.to_string()), ("MessageStatus", status.as_str().to_string())];
    if let Some(code) = error_code {
        form.push(("ErrorCode", code.to_string()));
    }
    form
}

async fn post_webhook(app_base: &str, url: &str, form: &[(&str, String)]) -> StatusCode {
    let form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    post_signed(app_base, url, &form).await
}

/// POSTs `form` to the path of `url` on the app at `app_base`, signed over `url` (the URL the
/// app was told, which is what it checks the signature against) with the account's token.
async fn post_signed(app_base: &str, url: &str, form: &[(String, String)]) -> StatusCode {
    let parsed = url::Url::parse(url).expect("a webhook URL");
    let target = &parsed[url::Position::BeforePath..];
    let signature = twilio_signature(AUTH_TOKEN, url, form);
    reqwest::Client::new()
        .post(format!("{}{target}", app_base.trim_end_matches('/')))
        .header("X-Twilio-Signature", signature)
        .form(form)
        .send()
        .await
        .expect("webhook POST")
        .status()
}

impl Provider for Connected {
    fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError> {
        let failure = self.double.next_failure();
        match &failure {
            Some(Failure::Retry) => return Err(ProviderError::Retry { reason: "The provider is unavailable (test double)".into(), after: None }),
            Some(Failure::RateLimited { after }) => return Err(ProviderError::Retry { reason: "Too many requests (test double)".into(), after: Some(*after) }),
            Some(Failure::Refuse { code, reason }) => return Err(ProviderError::Permanent { code: Some(*code), reason: reason.clone() }),
            Some(Failure::Unknown { taken: false }) => return Err(ProviderError::Unknown("no answer (test double)".into())),
            _ => {}
        }
        if self.double.lock().unsubscribed.contains(&message.to) {
            return Err(ProviderError::Permanent { code: Some(21610), reason: "Attempt to send to unsubscribed recipient".into() });
        }
        let sent = self.double.take(message);
        match failure {
            Some(Failure::Unknown { taken: true }) => return Err(ProviderError::Unknown("the answer was lost (test double)".into())),
            Some(Failure::Slow(delay)) => std::thread::sleep(delay),
            _ => {}
        }
        Ok(Accepted { provider_id: sent.provider_id, status: MessageStatus::Accepted })
    }

    fn fetch(&self, provider_id: &str) -> Result<ProviderMessage, ProviderError> {
        let state = self.double.lock();
        let sent = state.sent.iter().find(|m| m.provider_id == provider_id);
        sent.map(provider_message).ok_or_else(|| ProviderError::Permanent { code: Some(20404), reason: "The requested resource was not found".into() })
    }

    fn find_sent(&self, channel: Channel, from: &Sender, to: &str, since: DateTime<Utc>) -> Result<Vec<ProviderMessage>, ProviderError> {
        let mut state = self.double.lock();
        state.lookups += 1;
        let since = since - chrono::Duration::seconds(5);
        Ok(state
            .sent
            .iter()
            .rev()
            .filter(|m| m.channel == channel && m.to == to && m.from == from.key() && m.created_at >= since)
            .map(provider_message)
            .collect())
    }

    fn list_templates(&self) -> Result<Vec<ProviderTemplate>, ProviderError> {
        Ok(self.double.lock().templates.clone())
    }

    fn check(&self) -> Result<AccountInfo, CheckError> {
        let answer = self.double.lock().check.clone();
        answer.unwrap_or_else(|| Ok(AccountInfo { name: "Acme Messaging".into(), status: "active".into() }))
    }

    /// The double holds no files: attachments are fetched from the fake Twilio server
    /// (tests/api/chat_media.rs) by the real provider.
    fn download(&self, url: &str, _max_bytes: u64) -> Result<Download, DownloadError> {
        Err(DownloadError::Failed(format!("{url}: no files in the test double")))
    }
}

fn provider_message(m: &Sent) -> ProviderMessage {
    ProviderMessage {
        provider_id: m.provider_id.clone(),
        from: m.from.clone(),
        to: m.to.clone(),
        body: m.body.clone().unwrap_or_default(),
        status: m.status,
        created_at: Some(m.created_at),
        error_code: None,
        error_message: None,
    }
}
