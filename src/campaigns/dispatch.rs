//! Dispatch (issue 12 part 5): the `dispatch-batch` job sends a batch's queued recipients
//! through the message core, one at a time, throttled per sender.
//!
//! - One job per batch, keyed `dispatch-batch:{batch_id}` and due at the batch's `send_at`:
//!   two instances or two clicks make one job, and a scheduled batch starts on time once
//!   (whichever instance's worker claims it).
//! - Each step takes the next queued recipient `FOR UPDATE SKIP LOCKED` (several jobs or
//!   instances may share a batch), and in one transaction writes its message (or reuses the
//!   one it has, given back after a refused slot), links it and claims it; after the commit
//!   the claimed message goes through `messaging::send::send_claimed`, the path every send
//!   takes. The recipient row is unique per (batch, client) and the claim happens once, so
//!   a recipient is never sent twice, whatever dies when.
//! - Before every step the campaign's status is read (one primary-key read): a paused
//!   campaign stops new sends on every instance within one step (at most one throttle
//!   slot, ≤ 1 s, plus the provider call in flight); the job ends. Starting the campaign
//!   again calls [`resume`], which enqueues a new dispatch for each batch with queued
//!   recipients; they continue where it stopped. Completing calls [`cancel_rest`].
//! - A recipient who opted out (or lost their phone number / email address) between the
//!   batch's creation and their turn is skipped with the reason, never sent.
//! - Email batches: each recipient becomes a `send-email` job (the existing SMTP path) with
//!   their unsubscribe link; the recipient is `sending` until SMTP takes it, then `sent`.
//! - Flow batches send the snapshot's first step (the batch's `template_id`) the same way,
//!   and mark the recipient at that step (`flow_replies::started`); the next steps are sent
//!   by the replies (`flow_replies`).
//! - No queued recipient left: the batch is `done`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use serde::Deserialize;
use serde_json::json;

use crate::campaigns::batches::{self, Batch};
use crate::campaigns::{BatchChannel, CampaignStatus};
use crate::db::schema::{campaign_batches, campaigns, clients};
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError, payload};
use crate::jobs::{self, Kind, NewJob};
use crate::messaging::account::Account;
use crate::messaging::send::{LEASE_SECS, send_claimed};
use crate::messaging::store::{self, Message, NewOutbound};
use crate::messaging::Channel;

/// Attempts a dispatch job gets (a provider's 429 / 5xx count; a busy throttle does not).
pub const DISPATCH_ATTEMPTS: i32 = 50;

#[derive(Deserialize)]
struct DispatchPayload {
    batch_id: i64,
}

/// Enqueues the batch's dispatch, due at `send_at`, in the caller's transaction; the same
/// batch twice is one job.
pub fn enqueue(conn: &mut PgConnection, workspace_id: i64, batch_id: i64, send_at: DateTime<Utc>) -> QueryResult<()> {
    enqueue_keyed(conn, workspace_id, batch_id, send_at, format!("dispatch-batch:{batch_id}"))
}

fn enqueue_keyed(conn: &mut PgConnection, workspace_id: i64, batch_id: i64, send_at: DateTime<Utc>, key: String) -> QueryResult<()> {
    let job = NewJob::new(workspace_id, Kind::DispatchBatch, json!({ "batch_id": batch_id })).key(key).at(send_at).attempts(DISPATCH_ATTEMPTS);
    jobs::enqueue(conn, &job).map(|_| ())
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Timestamptz)]
    send_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    resumes: i64,
}

/// Called by the campaign's start transition (draft → active, paused → active), in its
/// transaction: a dispatch for every batch of the campaign that still has queued
/// recipients, due at its `send_at` (or now, if that has passed). Each resume is a job of
/// its own (the first dispatch's job may be done); one resume per transition, since a
/// second start of an active campaign is refused.
pub fn resume(conn: &mut PgConnection, workspace_id: i64, campaign_id: i64) -> QueryResult<usize> {
    let due: Vec<Due> = diesel::sql_query(
        "SELECT b.id, greatest(b.send_at, now()) AS send_at, \
           (SELECT count(*) FROM jobs j WHERE j.workspace_id = b.workspace_id AND j.kind = 'dispatch-batch' \
              AND j.idempotency_key LIKE 'dispatch-batch:' || b.id || ':%') AS resumes \
         FROM campaign_batches b \
         WHERE b.workspace_id = $1 AND b.campaign_id = $2 AND b.status IN ('scheduled', 'sending') \
           AND EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.workspace_id = b.workspace_id AND r.batch_id = b.id AND r.status = 'queued')",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(campaign_id)
    .load(conn)?;
    for batch in &due {
        enqueue_keyed(conn, workspace_id, batch.id, batch.send_at, format!("dispatch-batch:{}:{}", batch.id, batch.resumes + 1))?;
    }
    Ok(due.len())
}

/// Called by the campaign's complete transition, in its transaction: what has not been
/// sent yet is cancelled (recipients still queued, their messages given back), and the
/// unfinished batches with them. Returns the recipients cancelled.
pub fn cancel_rest(conn: &mut PgConnection, workspace_id: i64, campaign_id: i64) -> QueryResult<usize> {
    // Messages written for a recipient but given back (queued): failed as cancelled, so
    // nothing can send them; the trigger would move the recipient to failed, so the
    // recipients are cancelled after.
    diesel::sql_query(
        "UPDATE messages m SET status = 'failed', failed_at = now(), error_message = 'Cancelled: the campaign was completed.' \
         FROM campaign_recipients r JOIN campaign_batches b ON b.workspace_id = r.workspace_id AND b.id = r.batch_id \
         WHERE b.workspace_id = $1 AND b.campaign_id = $2 AND r.status = 'queued' AND r.message_id IS NOT NULL \
           AND m.workspace_id = r.workspace_id AND m.id = r.message_id AND m.status = 'queued'",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(campaign_id)
    .execute(conn)?;
    let cancelled = diesel::sql_query(
        "UPDATE campaign_recipients r SET status = 'cancelled', error_code = NULL, error_message = NULL, updated_at = now() \
         FROM campaign_batches b WHERE b.workspace_id = r.workspace_id AND b.id = r.batch_id \
           AND b.workspace_id = $1 AND b.campaign_id = $2 AND (r.status = 'queued' OR (r.status = 'failed' AND r.error_message = 'Cancelled: the campaign was completed.'))",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(campaign_id)
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE campaign_batches SET status = 'cancelled', finished_at = now() \
         WHERE workspace_id = $1 AND campaign_id = $2 AND status IN ('scheduled', 'sending')",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(campaign_id)
    .execute(conn)?;
    Ok(cancelled)
}

/// What one step found.
enum Step {
    /// A claimed message to send.
    Send(Box<Message>),
    /// Someone handled without a provider call (skipped, or an email handed to its job).
    Handled,
    /// No queued recipient is left (or none this job may take: others hold them).
    Empty,
}

#[derive(QueryableByName)]
struct Picked {
    #[diesel(sql_type = BigInt)]
    client_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    message_id: Option<i64>,
}

pub fn job(env: &JobEnv, job: &Job) -> Result<(), JobError> {
    let p: DispatchPayload = payload(job)?;
    let ws = job.workspace_id;
    let mut conn = env.pool.get()?;
    let Some(batch) = batches::load(&mut conn, ws, p.batch_id)? else { return Ok(()) };
    let account = match batch.channel {
        BatchChannel::Email => None,
        _ => match Account::load(&mut conn, &env.at_rest_key, ws) {
            Ok(Some(account)) => Some(account),
            Ok(None) => return Err(JobError::Wait("Twilio is not configured; the batch waits.".into(), Duration::from_secs(300))),
            Err(why) => return Err(JobError::Wait(why, Duration::from_secs(300))),
        },
    };
    let zone = batches::workspace_zone(&mut conn, ws)?;
    // Once per run, not per recipient: the batch is sending from its first step on.
    diesel::update(campaign_batches::table.find((ws, batch.id)))
        .filter(campaign_batches::status.eq("scheduled"))
        .set((campaign_batches::status.eq("sending"), campaign_batches::started_at.eq(Some(Utc::now()))))
        .execute(&mut conn)?;
    drop(conn);
    let last_attempt = (job.attempts >= job.max_attempts).then_some(job.attempts);
    loop {
        let mut conn = env.pool.get()?;
        let status: CampaignStatus = campaigns::table.find((ws, batch.campaign_id)).select(campaigns::status).first(&mut conn)?;
        match status {
            CampaignStatus::Active => {}
            CampaignStatus::Completed => {
                conn.transaction(|tx| cancel_rest(tx, ws, batch.campaign_id))?;
                return Ok(());
            }
            // Paused (or back to draft): the start transition resumes.
            _ => return Ok(()),
        }
        match conn.transaction(|tx| step(env, tx, &batch, &zone))? {
            Step::Send(message) => {
                drop(conn);
                send_claimed(env, account.as_ref().expect("a message batch has its account"), *message, last_attempt)?;
            }
            Step::Handled => {}
            Step::Empty => {
                diesel::sql_query(
                    "UPDATE campaign_batches b SET status = 'done', finished_at = now() \
                     WHERE b.workspace_id = $1 AND b.id = $2 AND b.status IN ('scheduled', 'sending') \
                       AND NOT EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.workspace_id = b.workspace_id AND r.batch_id = b.id AND r.status = 'queued')",
                )
                .bind::<BigInt, _>(ws)
                .bind::<BigInt, _>(batch.id)
                .execute(&mut conn)?;
                return Ok(());
            }
        }
    }
}

/// Takes the next queued recipient and readies it, in the caller's transaction.
fn step(env: &JobEnv, tx: &mut PgConnection, batch: &Batch, zone: &str) -> Result<Step, JobError> {
    let ws = batch.workspace_id;
    let picked: Option<Picked> = diesel::sql_query(
        "SELECT client_id, message_id FROM campaign_recipients WHERE workspace_id = $1 AND batch_id = $2 AND status = 'queued' \
         ORDER BY client_id LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch.id)
    .get_result(tx)
    .optional()?;
    let Some(picked) = picked else { return Ok(Step::Empty) };
    let client: crate::clients::model::Client = clients::table.find((ws, picked.client_id)).select(crate::clients::model::Client::as_select()).first(tx)?;
    // Still sendable? (An opt-out since the batch was made wins.)
    if let Some(reason) = batches::skip_reason(batch.channel, &client, zone) {
        set_recipient(tx, ws, batch.id, client.id, "skipped", Some(&reason))?;
        return Ok(Step::Handled);
    }
    if batch.channel == BatchChannel::Email {
        let email = batches::render_email(env, batch, &client);
        crate::email::enqueue_for_campaign(tx, ws, &email, batch.id, client.id)?;
        set_recipient(tx, ws, batch.id, client.id, "sending", None)?;
        return Ok(Step::Handled);
    }
    let message_id = match picked.message_id {
        Some(id) => id,
        None => {
            let (body, variables) = batches::render_message(tx, batch, &client)?;
            let new = NewOutbound {
                workspace_id: ws,
                client_id: Some(client.id),
                channel: if batch.channel == BatchChannel::WhatsApp { Channel::WhatsApp } else { Channel::Sms },
                sender: batch.sender.clone().unwrap_or_default(),
                recipient: client.phone.clone().unwrap_or_default().trim().to_string(),
                body,
                template_id: batch.template_id,
                variables,
                created_by: batch.created_by,
                batch_id: Some(batch.id),
            };
            let message = store::insert_outbound(tx, &new)?;
            if batch.mode == "flow" {
                // The flow's first step (its template is the batch's): the recipient is there.
                crate::campaigns::flow_replies::started(tx, ws, batch.id, client.id)?;
            }
            diesel::sql_query("UPDATE campaign_recipients SET message_id = $4 WHERE workspace_id = $1 AND batch_id = $2 AND client_id = $3")
                .bind::<BigInt, _>(ws)
                .bind::<BigInt, _>(batch.id)
                .bind::<BigInt, _>(client.id)
                .bind::<BigInt, _>(message.id)
                .execute(tx)?;
            message.id
        }
    };
    match store::claim(tx, ws, message_id, LEASE_SECS)? {
        Some(message) => Ok(Step::Send(Box::new(message))),
        None => {
            // The message moved on without its recipient (cannot happen while the trigger
            // holds): the recipient follows it rather than being taken again.
            diesel::sql_query(
                "UPDATE campaign_recipients r SET status = coalesce(recipient_status_of(m.status), 'unknown'), updated_at = now() \
                 FROM messages m WHERE m.workspace_id = r.workspace_id AND m.id = r.message_id \
                   AND r.workspace_id = $1 AND r.batch_id = $2 AND r.client_id = $3",
            )
            .bind::<BigInt, _>(ws)
            .bind::<BigInt, _>(batch.id)
            .bind::<BigInt, _>(client.id)
            .execute(tx)?;
            Ok(Step::Handled)
        }
    }
}

fn set_recipient(tx: &mut PgConnection, ws: i64, batch_id: i64, client_id: i64, status: &str, reason: Option<&str>) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE campaign_recipients SET status = $4, skip_reason = coalesce($5, skip_reason), updated_at = now() \
         WHERE workspace_id = $1 AND batch_id = $2 AND client_id = $3",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .bind::<BigInt, _>(client_id)
    .bind::<Text, _>(status)
    .bind::<Nullable<Text>, _>(reason)
    .execute(tx)
}

/// The send-email job reports back: SMTP took a campaign email (`sent`), or refused it for
/// good (`failed`, with SMTP's answer).
pub fn email_outcome(conn: &mut PgConnection, ws: i64, batch_id: i64, client_id: i64, error: Option<&str>) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE campaign_recipients SET status = CASE WHEN $4::text IS NULL THEN 'sent' ELSE 'failed' END, error_message = $4, updated_at = now() \
         WHERE workspace_id = $1 AND batch_id = $2 AND client_id = $3 AND status IN ('queued', 'sending')",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .bind::<BigInt, _>(client_id)
    .bind::<Nullable<Text>, _>(error)
    .execute(conn)
}
