//! The `reconcile-messages` job: messages left `sending` past their lease (a send whose
//! answer was lost, a worker that died mid-send) are looked up at the provider. A message
//! the provider has (same sender, recipient, since the attempt, not recorded for another
//! message, and the same body for a text) is adopted; none → `unknown`, for a person to
//! check before resending. Never sent again from here.
//!
//! Rows are taken `FOR UPDATE SKIP LOCKED`, one at a time, so two instances never
//! reconcile one message twice.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::schema::messages;
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{self, JobHandler, Kind, NewJob};
use crate::messaging::account::Account;
use crate::messaging::send::sender_of;
use crate::messaging::store::{self, Message};
use crate::messaging::{MessageStatus, Provider, ProviderMessage, Providers};

pub const NOT_FOUND: &str = "Twilio has no record of it; check before resending";

/// Enqueues a `reconcile-messages` job (keyed per minute) for each workspace with messages
/// stuck in `sending`; returns how many were new.
pub fn enqueue_due(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    let workspaces: Vec<i64> = messages::table
        .filter(messages::status.eq(MessageStatus::Sending))
        .filter(messages::lease_until.lt(now))
        .select(messages::workspace_id)
        .distinct()
        .load(conn)?;
    let minute = now.format("%Y-%m-%dT%H:%M");
    let mut added = 0;
    for ws in workspaces {
        let job = NewJob::new(ws, ReconcileMessages::KIND, serde_json::json!({})).key(format!("reconcile-messages:{minute}")).attempts(3);
        added += usize::from(jobs::enqueue(conn, &job)?.is_some());
    }
    Ok(added)
}

/// What reconciling one message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Adopted(String),
    Unknown,
    /// The provider could not be asked: left for the next run.
    Skipped,
}

/// The `reconcile-messages` job: looks up messages stuck in `sending` at the provider (see [`job`]).
pub struct ReconcileMessages {
    pub providers: Providers,
}

impl ReconcileMessages {
    pub const KIND: Kind = Kind::new("reconcile-messages");
}

impl JobHandler for ReconcileMessages {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, &self.providers, job)
    }
}

pub fn job(env: &JobEnv, providers: &Providers, job: &Job) -> Result<(), JobError> {
    let ws = job.workspace_id;
    let mut conn = env.pool.get()?;
    let account = match Account::load(&mut conn, &env.at_rest_key, ws) {
        Ok(Some(account)) => account,
        Ok(None) => return Ok(()),
        Err(why) => return Err(JobError::Permanent(why.to_string())),
    };
    let provider = providers.for_account(&account, &env.settings);
    let mut after_id = 0;
    loop {
        let next = conn.transaction(|tx| -> Result<Option<(i64, Outcome)>, JobError> {
            let row: Option<Message> = diesel::sql_query(
                "SELECT * FROM messages WHERE status = 'sending' AND lease_until < now() AND workspace_id = $1 AND id > $2 \
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .bind::<BigInt, _>(ws)
            .bind::<BigInt, _>(after_id)
            .get_result(tx)
            .optional()?;
            let Some(message) = row else { return Ok(None) };
            let outcome = reconcile_one(tx, provider.as_ref(), &message)?;
            Ok(Some((message.id, outcome)))
        })?;
        match next {
            None => return Ok(()),
            Some((id, outcome)) => {
                tracing::info!(message_id = id, outcome = ?outcome, "message reconciled");
                after_id = id;
            }
        }
    }
}

/// Reconciles one locked `sending` message.
pub fn reconcile_one(tx: &mut PgConnection, provider: &dyn Provider, message: &Message) -> QueryResult<Outcome> {
    let since = message.attempt_at.unwrap_or(message.created_at) - Duration::seconds(60);
    let found = match provider.find_sent(message.channel, &sender_of(&message.sender), &message.recipient, since) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(message_id = message.id, error = %e, "cannot ask the provider; reconciling later");
            return Ok(Outcome::Skipped);
        }
    };
    let mut candidates: Vec<ProviderMessage> = Vec::new();
    for m in found {
        if message.template_id.is_none() && m.body != message.body {
            continue;
        }
        let taken: i64 = messages::table
            .filter(messages::workspace_id.eq(message.workspace_id))
            .filter(messages::provider_id.eq(&m.provider_id))
            .count()
            .get_result(tx)?;
        if taken == 0 {
            candidates.push(m);
        }
    }
    candidates.sort_by_key(|m| m.created_at);
    match candidates.into_iter().next() {
        Some(m) => {
            let status = if m.status.rank() >= MessageStatus::Accepted.rank() && m.status != MessageStatus::Received { m.status } else { MessageStatus::Accepted };
            store::record_accepted(tx, message.workspace_id, message.id, &m.provider_id, status)?;
            Ok(Outcome::Adopted(m.provider_id))
        }
        None => {
            store::mark_unknown(tx, message.workspace_id, message.id, NOT_FOUND)?;
            Ok(Outcome::Unknown)
        }
    }
}

