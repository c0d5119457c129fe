//! Email: SMTP settings per workspace (falling back to `SMTP_URL`), messages rendered from
//! Askama templates (plain text + HTML), and the `send-email` job. Requests never send mail;
//! they enqueue the job.

pub mod handlers;
pub mod messages;
pub mod send;
pub mod smtp;
pub mod smtp_target;

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::email::send::SendEmail;
use crate::jobs::{self, NewJob};

/// A rendered message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The `send-email` job's payload. The recipient and subject are in clear; the body is
/// either in clear (`text`, `html`: reminders, test mail) or, for mail carrying a secret
/// link (reset, invitation), only `sealed`: the whole `Email` as JSON sealed with the
/// at-rest key, hex-encoded. The queue drops the body once the job is done or dead.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payload {
    pub to: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// A campaign email: the recipient row the job reports to (sent / failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignRecipient>,
}

/// Which campaign recipient a `send-email` job is for.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct CampaignRecipient {
    pub batch_id: i64,
    pub client_id: i64,
}

impl Payload {
    pub fn plain(email: &Email) -> Self {
        Payload { to: email.to.clone(), subject: email.subject.clone(), text: Some(email.text.clone()), html: Some(email.html.clone()), sealed: None, campaign: None }
    }

    pub fn sealed(key: &[u8; 32], email: &Email) -> Self {
        let json = serde_json::to_vec(email).unwrap_or_default();
        Payload { to: email.to.clone(), subject: email.subject.clone(), text: None, html: None, sealed: Some(hex::encode(crypto::seal(key, &json))), campaign: None }
    }

    /// Whether the message is still there to send (it is dropped when the job ends).
    pub fn has_message(&self) -> bool {
        self.sealed.is_some() || (self.text.is_some() && self.html.is_some())
    }

    /// The message to send; an error says why there is none.
    pub fn open(&self, key: &[u8; 32]) -> Result<Email, Unopened> {
        if let Some(sealed) = &self.sealed {
            let bytes = hex::decode(sealed).map_err(|_| Unopened::NotHex)?;
            let json = crypto::open(key, &bytes).ok_or(Unopened::WrongKey)?;
            return serde_json::from_slice(&json).map_err(Unopened::NotAnEmail);
        }
        match (&self.text, &self.html) {
            (Some(text), Some(html)) => Ok(Email { to: self.to.clone(), subject: self.subject.clone(), text: text.clone(), html: html.clone() }),
            _ => Err(Unopened::Removed),
        }
    }
}

/// Why a `send-email` job has no message to send (the dead job's reason).
#[derive(Debug, thiserror::Error)]
pub enum Unopened {
    #[error("the sealed message is not hex")]
    NotHex,
    #[error("the sealed message does not open with this secret key (was SWITCHBOARD_SECRET_KEY changed?)")]
    WrongKey,
    #[error("the sealed message is not an email: {0}")]
    NotAnEmail(serde_json::Error),
    #[error("the message was removed from the queue when the job ended; send it again (e.g. ask for a new link)")]
    Removed,
}

fn enqueue_payload(conn: &mut diesel::PgConnection, workspace_id: i64, payload: &Payload, key: Option<String>) -> diesel::QueryResult<Option<i64>> {
    let mut job = NewJob::new(workspace_id, SendEmail::KIND, payload).attempts(8);
    if let Some(key) = key {
        job = job.key(key);
    }
    jobs::enqueue(conn, &job)
}

/// Enqueues `email`, which carries no secret, in the caller's transaction.
pub fn enqueue(conn: &mut diesel::PgConnection, workspace_id: i64, email: &Email, key: Option<String>) -> diesel::QueryResult<Option<i64>> {
    enqueue_payload(conn, workspace_id, &Payload::plain(email), key)
}

/// Enqueues a campaign batch's email to one recipient (once per batch and client), in the
/// caller's transaction; the job marks the recipient sent when SMTP takes it.
pub fn enqueue_for_campaign(conn: &mut diesel::PgConnection, workspace_id: i64, email: &Email, batch_id: i64, client_id: i64) -> diesel::QueryResult<Option<i64>> {
    let payload = Payload { campaign: Some(CampaignRecipient { batch_id, client_id }), ..Payload::plain(email) };
    enqueue_payload(conn, workspace_id, &payload, Some(format!("campaign-email:{batch_id}:{client_id}")))
}

/// Enqueues `email`, which carries a secret (a reset or invitation link), sealed with
/// `at_rest_key`: the queue never holds the link in clear.
pub fn enqueue_sealed(conn: &mut diesel::PgConnection, at_rest_key: &[u8; 32], workspace_id: i64, email: &Email) -> diesel::QueryResult<Option<i64>> {
    enqueue_payload(conn, workspace_id, &Payload::sealed(at_rest_key, email), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email { to: "ann@acme.test".into(), subject: "Reset".into(), text: "https://x/password/reset/abc".into(), html: "<a>abc</a>".into() }
    }

    #[test]
    fn a_sealed_payload_hides_the_body_and_opens_only_with_its_key() {
        let key = crypto::derive(b"a secret key of at least thirty-two characters");
        let payload = Payload::sealed(&key, &email());
        let json = serde_json::to_string(&payload).unwrap();
        assert!(!json.contains("password/reset") && !json.contains("abc</a>"), "{json}");
        assert!(json.contains("ann@acme.test") && json.contains("Reset"));
        let back: Payload = serde_json::from_str(&json).unwrap();
        assert_eq!(back.open(&key).unwrap().text, "https://x/password/reset/abc");
        assert!(back.open(&crypto::derive(b"another key entirely, also long enough")).unwrap_err().to_string().contains("SECRET_KEY"));
    }

    #[test]
    fn a_scrubbed_payload_says_the_message_is_gone() {
        let key = crypto::derive(b"a secret key of at least thirty-two characters");
        let plain = Payload::plain(&email());
        assert!(plain.has_message());
        assert_eq!(plain.open(&key).unwrap().html, "<a>abc</a>");
        let scrubbed: Payload = serde_json::from_str(r#"{"to": "ann@acme.test", "subject": "Reset"}"#).unwrap();
        assert!(!scrubbed.has_message());
        assert!(scrubbed.open(&key).unwrap_err().to_string().contains("removed"));
    }
}
