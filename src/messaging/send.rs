//! The `send-message` job: sends one queued message at most once.
//!
//! The job claims the message (`queued` → `sending` under a lease) before calling the
//! provider, so a second run of the same job (its worker died, the job was retried) finds
//! nothing to claim and sends nothing. What the provider answered decides the rest:
//! accepted → its id is recorded; a refusal that is safe to retry → the claim is given back
//! and the job retried (after the provider's Retry-After); a refusal for good → failed with
//! the provider's code and text; an unknown outcome → left `sending` for reconciliation
//! (`messaging::reconcile`), never sent again blindly.

use std::time::Duration;

use diesel::prelude::*;
use serde::Deserialize;
use url::Url;

use crate::config::Settings;
use crate::db::schema::whatsapp_templates;
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError, payload};
use crate::jobs::{JobHandler, Kind};
use crate::messaging::account::{self, Account};
use crate::messaging::store::{self, Message};
use crate::messaging::throttle::{self, Reservation};
use crate::messaging::{Content, OutboundMessage, Provider, ProviderError, Providers, Sender};

/// How long a claim holds before reconciliation may look at the message.
pub const LEASE_SECS: i32 = 120;
/// The longest a worker waits for a throttle slot; further away, the job comes back later.
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct SendPayload {
    message_id: i64,
}

/// Where providers report statuses: `SWITCHBOARD_PUBLIC_URL`, else the listen address.
// `http://` and a socket address (an IPv4 or bracketed IPv6 address and a port) parse.
#[allow(clippy::expect_used)]
pub fn public_base(settings: &Settings) -> Url {
    settings.public_url.clone().unwrap_or_else(|| Url::parse(&settings.base_url()).expect("the listen address is a URL"))
}

/// The stored sender as the provider takes it: messaging-service SIDs are pools.
pub fn sender_of(stored: &str) -> Sender {
    if stored.starts_with("MG") { Sender::Pool(stored.to_string()) } else { Sender::Number(stored.to_string()) }
}

fn content(conn: &mut PgConnection, message: &Message) -> Result<Content, JobError> {
    let Some(template_id) = message.template_id else { return Ok(Content::Text(message.body.clone())) };
    let provider_id: Option<String> = whatsapp_templates::table
        .filter(whatsapp_templates::workspace_id.eq(message.workspace_id))
        .filter(whatsapp_templates::id.eq(template_id))
        .select(whatsapp_templates::provider_id)
        .first(conn)
        .optional()?;
    let Some(provider_id) = provider_id else { return Err(JobError::Permanent("the message's template no longer exists".into())) };
    let mut variables: Vec<(String, String)> = message
        .variables
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    variables.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
    Ok(Content::Template { provider_id, variables })
}

/// The `send-message` job: sends one queued message (see [`job`]) through its workspace's
/// provider.
pub struct SendMessage {
    pub providers: Providers,
}

impl SendMessage {
    pub const KIND: Kind = Kind::new("send-message");
}

impl JobHandler for SendMessage {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, &self.providers, job)
    }
}

pub fn job(env: &JobEnv, providers: &Providers, job: &Job) -> Result<(), JobError> {
    let p: SendPayload = payload(job)?;
    let ws = job.workspace_id;
    let mut conn = env.pool.get()?;
    let account = match Account::load(&mut conn, &env.at_rest_key, ws) {
        Ok(Some(account)) => account,
        Ok(None) => {
            store::fail(&mut conn, ws, p.message_id, None, "Twilio is not configured.")?;
            return Ok(());
        }
        Err(why) => return Err(JobError::Wait(why.to_string(), Duration::from_secs(300))),
    };
    let Some(message) = store::claim(&mut conn, ws, p.message_id, LEASE_SECS)? else {
        // Claimed by another run, already sent, or failed: nothing to do.
        return Ok(());
    };
    drop(conn);
    let provider = providers.for_account(&account, &env.settings);
    send_claimed(env, &account, provider.as_ref(), message, (job.attempts >= job.max_attempts).then_some(job.attempts))
}

/// A claimed message (`sending`, under its lease) → its throttle slot → the provider → what
/// the provider answered recorded (accepted / failed / released for a retry / left for
/// reconciliation). The one path every send takes: the client page's `send-message` job and
/// a campaign batch's dispatch. `last_attempt`: `Some(attempts)` on the job's last attempt,
/// when a retryable refusal fails the message instead of giving it back. A campaign
/// dispatch keeps one `provider` per run, so its sends share one HTTP client and its
/// kept-alive connections (a client per send spent a thread and a TCP connection on each
/// message).
pub fn send_claimed(env: &JobEnv, account: &Account, provider: &dyn Provider, message: Message, last_attempt: Option<i32>) -> Result<(), JobError> {
    let ws = message.workspace_id;
    let mut conn = env.pool.get()?;
    let key = account::webhook_key(&mut conn, ws)?;
    let outbound = outbound_for(&mut conn, &message, &status_url(env, &key))?;
    match throttle::reserve(&mut conn, ws, outbound.from.key(), account.rate(message.channel), MAX_THROTTLE_WAIT)? {
        Reservation::Wait(d) => std::thread::sleep(d),
        Reservation::Busy(d) => {
            store::release(&mut conn, ws, message.id)?;
            return Err(JobError::Wait(format!("sender {} is at its rate limit", outbound.from.key()), d));
        }
    }
    // No connection is held during the provider's answer.
    drop(conn);
    let answer = provider.send(&outbound);
    let mut conn = env.pool.get()?;
    if let Some((id, provider_id, status)) = settle(&mut conn, &message, answer, last_attempt)? {
        store::record_accepted(&mut conn, ws, id, &provider_id, status)?;
        tracing::info!(message_id = id, provider_id = %provider_id, "message accepted");
    }
    Ok(())
}

/// Where the provider reports the statuses of a workspace's messages (its webhook key).
pub fn status_url(env: &JobEnv, webhook_key: &str) -> String {
    account::webhook_url(&public_base(&env.settings), webhook_key, "status")
}

/// What goes to the provider for a claimed message; a template gone since is a failed
/// message (and a permanent error).
pub fn outbound_for(conn: &mut PgConnection, message: &Message, status_url: &str) -> Result<OutboundMessage, JobError> {
    let content = match content(conn, message) {
        Ok(content) => content,
        Err(e) => {
            store::fail(conn, message.workspace_id, message.id, None, "The message's template no longer exists.")?;
            return Err(e);
        }
    };
    Ok(OutboundMessage {
        channel: message.channel,
        from: sender_of(&message.sender),
        to: message.recipient.clone(),
        content,
        status_url: status_url.to_string(),
    })
}

/// What a campaign dispatch did with a claimed message the provider refused for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A 429 with Retry-After: the message is given back with no attempt counted, and its
    /// sender held that long on every instance (`throttle::hold`).
    Throttled(Duration),
    /// Given back with an attempt counted, tried again after its own backoff.
    Later,
    /// Its last attempt: failed with the provider's reason.
    Failed,
}

/// A campaign dispatch's retryable refusal (`ProviderError::Retry`) of a claimed message:
/// unlike [`settle`], which gives the claim back and retries the whole job, the attempt is
/// counted on the message (up to `attempts`, `store::give_back`) and the other messages go
/// on; a Retry-After is a wait for the sender, not an attempt.
pub fn refused_for_now(conn: &mut PgConnection, message: &Message, reason: &str, after: Option<Duration>, attempts: i32) -> QueryResult<Refused> {
    let ws = message.workspace_id;
    if let Some(after) = after {
        store::release(conn, ws, message.id)?;
        throttle::hold(conn, ws, &message.sender, after)?;
        return Ok(Refused::Throttled(after));
    }
    Ok(match store::give_back(conn, ws, message.id, attempts, reason)? {
        Some(store::GivenBack::Failed) => {
            tracing::info!(message_id = message.id, reason, attempts, "message not sent after its last attempt");
            Refused::Failed
        }
        _ => Refused::Later,
    })
}

/// Records what the provider answered for a claimed message, except an acceptance, which
/// is returned for the caller to record (one at a time with `store::record_accepted`, or a
/// dispatch's sends in bulk with `store::record_accepted_many`): a refusal that is safe to
/// retry gives the claim back (and holds the sender for a Retry-After), a refusal for good
/// fails the message, an unknown outcome leaves it `sending` for reconciliation.
pub fn settle(conn: &mut PgConnection, message: &Message, answer: Result<crate::messaging::Accepted, ProviderError>, last_attempt: Option<i32>) -> Result<Option<store::Accepted>, JobError> {
    let ws = message.workspace_id;
    match answer {
        Ok(accepted) => Ok(Some((message.id, accepted.provider_id, accepted.status))),
        Err(ProviderError::Retry { reason, after }) => {
            store::release(conn, ws, message.id)?;
            if let Some(after) = after {
                // Every instance's sends from this sender wait out the Retry-After, not just this one.
                throttle::hold(conn, ws, &message.sender, after)?;
            }
            if let Some(attempts) = last_attempt {
                store::fail(conn, ws, message.id, None, &format!("Not sent after {attempts} attempts: {reason}"))?;
            }
            Err(match after {
                Some(after) => JobError::RetryAfter(reason, after),
                None => JobError::Retry(reason),
            })
        }
        Err(ProviderError::Permanent { code, reason }) => {
            store::fail(conn, ws, message.id, code, &reason)?;
            tracing::info!(message_id = message.id, code, reason, "message refused by the provider");
            Ok(None)
        }
        Err(ProviderError::Unknown(reason)) => {
            // Left `sending`: when the lease runs out, reconciliation asks the provider.
            tracing::warn!(message_id = message.id, reason, "send outcome unknown; left for reconciliation");
            Ok(None)
        }
    }
}
