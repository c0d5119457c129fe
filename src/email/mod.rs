//! Email: SMTP settings per workspace (falling back to `SMTP_URL`), messages rendered from
//! Askama templates (plain text + HTML), and the `send-email` job. Requests never send mail;
//! they enqueue the job.

pub mod handlers;
pub mod messages;
pub mod send;
pub mod smtp;

use serde::{Deserialize, Serialize};

use crate::jobs::{self, Kind, NewJob};

/// The `send-email` job's payload: a rendered message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Enqueues `email` in the caller's transaction.
pub fn enqueue(conn: &mut diesel::PgConnection, workspace_id: i64, email: &Email, key: Option<String>) -> diesel::QueryResult<Option<i64>> {
    let mut job = NewJob::new(workspace_id, Kind::SendEmail, email).attempts(8);
    if let Some(key) = key {
        job = job.key(key);
    }
    jobs::enqueue(conn, &job)
}
