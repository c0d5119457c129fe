//! The `send-email` job: build the message and hand it to SMTP. Connection trouble and 4xx
//! replies are retried with backoff; 5xx replies are permanent (the job dies, the error is
//! kept); no SMTP configured means the mail waits (no attempt used) until there is.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use diesel::{PgConnection, QueryResult};
use lettre::{Message, Transport};

use crate::email::Email;
use crate::email::smtp;
use crate::jobs::queue::Job;
use crate::jobs::run::{self, JobEnv, JobError};
use crate::jobs::{JobHandler, JobStatus, Kind};

/// The `send-email` job (see [`job`]), with what a campaign email asks of the campaigns
/// (registered in `registry::jobs`, so email does not import them).
pub struct SendEmail {
    pub campaigns: CampaignMail,
}

/// A campaign email's part that belongs to the campaigns: its one-click unsubscribe link (a
/// capability of its client, computed when it is sent rather than stored in the payload),
/// and where its outcome goes (the recipient `sent`, or `failed` with SMTP's answer).
#[derive(Clone, Copy)]
pub struct CampaignMail {
    pub unsubscribe_url: fn(base: &url::Url, key: &[u8; 32], workspace_id: i64, client_id: i64) -> String,
    pub outcome: fn(conn: &mut PgConnection, workspace_id: i64, batch_id: i64, client_id: i64, error: Option<&str>) -> QueryResult<usize>,
}

impl SendEmail {
    pub const KIND: Kind = Kind::new("send-email");
}

impl JobHandler for SendEmail {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, job, self.campaigns)
    }

    /// A dead email's message is removed (it may have carried a sign-in link), so it cannot
    /// be sent again.
    fn retry_refusal(&self, job: &Job) -> Option<String> {
        let gone = job.status == JobStatus::Dead && serde_json::from_value::<crate::email::Payload>(job.payload.clone()).is_ok_and(|p| !p.has_message());
        gone.then(|| "This email's message was removed when it died (it may have carried a sign-in link); it cannot be sent again.".into())
    }

    /// The message itself (it may carry a reset or invitation link).
    fn private_fields(&self) -> &'static [&'static str] {
        &["text", "html"]
    }
}

pub fn job(env: &JobEnv, job: &Job, campaigns: CampaignMail) -> Result<(), JobError> {
    let payload: crate::email::Payload = run::payload(job)?;
    let email = payload.open(&env.at_rest_key).map_err(|e| JobError::Permanent(e.to_string()))?;
    let mut conn = env.pool.get()?;
    let config = smtp::config_for(&mut conn, job.workspace_id, env.settings.smtp_url.as_ref(), &env.at_rest_key).map_err(|e| JobError::Permanent(e.to_string()))?;
    drop(conn);
    let Some(config) = config else {
        return Err(JobError::Wait("No SMTP server is configured (Settings → Email, or SMTP_URL); the email waits.".into(), Duration::from_secs(300)));
    };
    // A campaign email carries its one-click unsubscribe (RFC 8058), computed here from the
    // recipient rather than stored in the payload (the link is its client's capability).
    let base = crate::messaging::send::public_base(&env.settings);
    let unsubscribe = payload.campaign.map(|c| (campaigns.unsubscribe_url)(&base, &env.at_rest_key, job.workspace_id, c.client_id));
    // Every way this can fail (a bad address, a bad transport setting, SMTP's answer) ends
    // in `outcome`, so a campaign recipient never stays `sending`.
    let outcome = (|| {
        let message = build_with(&config.from, &email, unsubscribe.as_deref())?;
        let transport = config.transport(env.settings.smtp_allow_private).map_err(|e| match e {
            smtp::TransportError::Permanent(why) => JobError::Permanent(why),
            smtp::TransportError::Retry(why) => JobError::Retry(format!("SMTP: {why}")),
        })?;
        match transport.send(&message) {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(JobError::Permanent(format!("SMTP refused the message: {e}"))),
            Err(e) => Err(JobError::Retry(format!("SMTP: {e}"))),
        }
    })();
    // A campaign email's recipient: sent once SMTP took it, failed when refused for good.
    if let Some(c) = payload.campaign {
        let error = match &outcome {
            Ok(()) => None,
            Err(JobError::Permanent(why)) => Some(why.clone()),
            // Out of attempts: the job dies, and so does this send.
            Err(JobError::Retry(why)) if job.attempts >= job.max_attempts => Some(why.clone()),
            Err(_) => return outcome,
        };
        let mut conn = env.pool.get()?;
        (campaigns.outcome)(&mut conn, job.workspace_id, c.batch_id, c.client_id, error.as_deref())?;
    }
    outcome
}

/// The message; with `unsubscribe`, the `List-Unsubscribe` header, and when the URL is
/// https also `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058; the URL
/// answers a POST with no session or CSRF token).
pub fn build_with(from: &str, email: &Email, unsubscribe: Option<&str>) -> Result<Message, JobError> {
    let from: Mailbox = from.parse().map_err(|e| JobError::Permanent(format!("bad sender address {from:?}: {e}")))?;
    let to: Mailbox = email.to.parse().map_err(|e| JobError::Permanent(format!("bad recipient address {:?}: {e}", email.to)))?;
    let mut builder = Message::builder().from(from).to(to).subject(&email.subject);
    if let Some(url) = unsubscribe {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")));
        // RFC 8058 one-click needs an https URL; a plain-http PUBLIC_URL (a test or a
        // laptop) gets the RFC 2369 link only.
        if url.starts_with("https://") {
            builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click".into()));
        }
    }
    builder
        .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
        .map_err(|e| JobError::Permanent(format!("cannot build the message: {e}")))
}
