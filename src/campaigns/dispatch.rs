//! Dispatch (issue 12 part 5): the `dispatch-batch` job sends a batch's queued recipients
//! through the message core, one at a time, throttled per sender.
//!
//! - One job per batch, keyed `dispatch-batch:{batch_id}` and due at the batch's `send_at`:
//!   two instances or two clicks make one job, and a scheduled batch starts on time once
//!   (whichever instance's worker claims it).
//! - The job works in groups. One transaction readies a group: one read of up to 50 queued
//!   recipients `FOR UPDATE SKIP LOCKED` (several jobs or instances may share a batch;
//!   those without a message first), one read of their clients, one multi-row insert of
//!   their messages (`queued`; a recipient given back earlier keeps the one it has) and one
//!   update linking them. After the commit the group is sent, up to four provider calls in
//!   flight (one below 100/s): each message is claimed (`queued` → `sending`) just before
//!   it goes through the send path every send takes (`messaging::send::outbound_for` and
//!   `settle`; see `send_group` for the group's slots and its bulk record). The
//!   recipient row is unique per (batch, client) and the claim happens once, so a recipient
//!   is never sent twice, whatever dies when; what a stop leaves unclaimed is `queued` with
//!   its recipient, never leased, and the next dispatch sends it with its message.
//! - A group is at most about a second of the sender's rate (50, or the rate if lower).
//! - The campaign's status is read before each group and again before a claim when the last
//!   read is older than 100 ms: a paused campaign stops new claims on every instance within
//!   that (plus the throttle slots already reserved, ≤ 1 s, and the provider calls in
//!   flight); the job ends. Starting the campaign again calls [`resume`], which enqueues a
//!   new dispatch for each batch with queued recipients; they continue where it stopped.
//!   Completing calls [`cancel_rest`].
//! - A run sends for [`SLICE`] (3 s, plus the group under way) and then hands its worker
//!   back: it enqueues its successor, due now, keyed `dispatch-batch:{batch}:after:{job}`
//!   (keyed by the run, so a run repeated after its worker died makes no second successor;
//!   a resume's key counts them and stays new), and ends. Jobs already waiting run before
//!   the successor (the queue takes them by due time), so a 100k batch never holds a
//!   worker for minutes.
//! - A recipient who opted out (or lost their phone number / email address) between the
//!   batch's creation and their turn is skipped with the reason, never sent.
//! - Email batches: each recipient becomes a `send-email` job (the existing SMTP path) with
//!   their unsubscribe link; the recipient is `sending` until SMTP takes it, then `sent`.
//! - Flow batches send the snapshot's first step (the batch's `template_id`) the same way,
//!   and mark the recipient at that step (`flow_replies::started`); the next steps are sent
//!   by the replies (`flow_replies`).
//! - A flaky provider (issue 18) costs the message, not the batch: a retryable refusal (a
//!   5xx, a 429 without Retry-After) gives the message back with an attempt counted on it
//!   (`messages.send_attempts`) and its own backoff (`retry_at`: 1 s, 2 s, 4 s, … a
//!   minute), and the group goes on; the [`MESSAGE_ATTEMPTS`]th refusal fails it with the
//!   provider's reason. A 429 with Retry-After is a wait for the sender (held that long on
//!   every instance), not an attempt. A run that made progress never spends the job's
//!   attempts; only one that called the provider and got nothing through, ending on
//!   [`REFUSAL_STREAK`] refusals in a row, does (the job then backs off). While recipients
//!   wait for their retry the job waits for the first of them (no attempt), so a batch with
//!   queued recipients always has its dispatch scheduled.
//! - Should it not (its jobs dead, a bug), the `check-batches` job (`campaigns::stalls`)
//!   resumes the batch or fails its queued recipients.
//! - No queued recipient left: the batch is `done`.

use std::sync::{Arc, Mutex, PoisonError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use serde::Deserialize;
use serde_json::json;

use crate::campaigns::batches::{self, Batch};
use crate::campaigns::{BatchChannel, CampaignStatus};
use crate::clients::model::Client;
use crate::db::schema::{campaign_batches, campaigns, clients};
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError, payload};
use crate::jobs::{self, JobHandler, Kind, NewJob};
use crate::messaging::account::Account;
use crate::messaging::send::{self, LEASE_SECS, MAX_THROTTLE_WAIT};
use crate::messaging::throttle;
use crate::messaging::store::{self, NewOutbound};
use crate::messaging::{Channel, Provider, ProviderError, Providers};

/// Attempts a dispatch job gets. Only a run that called the provider and got nothing
/// through ([`REFUSAL_STREAK`] refusals in a row) spends one; a run that made progress, a
/// busy throttle, a provider's Retry-After and recipients waiting for their retry do not.
pub const DISPATCH_ATTEMPTS: i32 = 50;
/// Attempts a campaign message gets: a retryable refusal (a 5xx, a 429 without
/// Retry-After) gives it back for a later try after its own backoff; the last one fails it
/// with the provider's reason. A 429 with Retry-After is no attempt (the sender waits).
pub const MESSAGE_ATTEMPTS: i32 = 5;
/// Retryable refusals in a row (no send taken between them) that end a group: a run that
/// got nothing through spends one of the job's attempts (and its backoff); one that did
/// waits [`REFUSED_PAUSE`] without spending any.
pub const REFUSAL_STREAK: usize = 3;
pub const REFUSED_PAUSE: Duration = Duration::from_secs(5);
/// Most recipients readied per transaction (fewer for a sender slower than 50/s: a group
/// is about a second of sends at most).
pub const GROUP: i64 = 50;
/// How long one run of the job sends before it hands its worker back (a successor job,
/// due at once, continues).
pub const SLICE: Duration = Duration::from_secs(3);
/// How old the campaign status read may be before the next claim.
pub const STATUS_EVERY: Duration = Duration::from_millis(100);
/// Most provider calls in flight for one dispatch.
pub const MAX_IN_FLIGHT: usize = 4;
/// Accepted sends recorded together (or when the oldest waiting has waited [`RECORD_AFTER`],
/// and at a group's end).
pub const RECORD_EVERY: usize = 20;
pub const RECORD_AFTER: Duration = Duration::from_millis(100);

#[derive(Deserialize)]
struct DispatchPayload {
    batch_id: i64,
}

/// Enqueues the batch's dispatch, due at `send_at`, in the caller's transaction; the same
/// batch twice is one job.
pub fn enqueue(conn: &mut PgConnection, workspace_id: i64, batch_id: i64, send_at: DateTime<Utc>) -> QueryResult<()> {
    enqueue_keyed(conn, workspace_id, batch_id, send_at, format!("dispatch-batch:{batch_id}"))
}

/// [`enqueue`] under `key` (the check's resumes are keyed per resume).
pub fn enqueue_keyed(conn: &mut PgConnection, workspace_id: i64, batch_id: i64, send_at: DateTime<Utc>, key: String) -> QueryResult<()> {
    let job = NewJob::new(workspace_id, DispatchBatch::KIND, json!({ "batch_id": batch_id })).key(key).at(send_at).attempts(DISPATCH_ATTEMPTS);
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

#[derive(QueryableByName)]
struct Picked {
    #[diesel(sql_type = BigInt)]
    client_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    message_id: Option<i64>,
}

/// The `dispatch-batch` job: sends a campaign batch's queued recipients (see [`job`])
/// through the workspace's provider.
pub struct DispatchBatch {
    pub providers: Providers,
}

impl DispatchBatch {
    pub const KIND: Kind = Kind::new("dispatch-batch");
}

impl JobHandler for DispatchBatch {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, &self.providers, job)
    }
}

pub fn job(env: &JobEnv, providers: &Providers, job: &Job) -> Result<(), JobError> {
    let started = Instant::now();
    let p: DispatchPayload = payload(job)?;
    let ws = job.workspace_id;
    let mut conn = env.pool.get()?;
    let Some(batch) = batches::load(&mut conn, ws, p.batch_id)? else { return Ok(()) };
    let account = match batch.channel {
        BatchChannel::Email => None,
        _ => match Account::load(&mut conn, &env.at_rest_key, ws) {
            Ok(Some(account)) => Some(account),
            Ok(None) => return Err(JobError::Wait("Twilio is not configured; the batch waits.".into(), Duration::from_secs(300))),
            Err(why) => return Err(JobError::Wait(why.to_string(), Duration::from_secs(300))),
        },
    };
    let zone = batches::workspace_zone(&mut conn, ws)?;
    // Once per run, not per recipient: the batch is sending from its first step on.
    diesel::update(campaign_batches::table.find((ws, batch.id)))
        .filter(campaign_batches::status.eq("scheduled"))
        .set((campaign_batches::status.eq("sending"), campaign_batches::started_at.eq(Some(Utc::now()))))
        .execute(&mut conn)?;
    drop(conn);
    // Provider calls in flight: one below 100/s (a throttled sender's slots are spaced out
    // anyway, and a pause then stops at once), one per 100/s up to four at 400/s and more
    // (with a group's slots reserved at once and its records in bulk, the calls no longer
    // queue on the throttle row: four in flight measured 869 msg/s, two 670).
    let in_flight = account.as_ref().map_or(1, |a| ((a.rate(message_channel(batch.channel)) / 100.0) as usize).clamp(1, MAX_IN_FLIGHT));
    // A group takes at most about a second at the sender's rate, so a run ends close to
    // its slice.
    let group_size = account.as_ref().map_or(GROUP, |a| (a.rate(message_channel(batch.channel)) as i64).clamp(1, GROUP));
    // One provider for the run (one HTTP client, its connections to Twilio kept alive) and
    // the status URL read once.
    let run = match account {
        Some(account) => {
            let mut conn = env.pool.get()?;
            let key = crate::messaging::account::webhook_key(&mut conn, ws)?;
            Some(Run { provider: providers.for_account(&account, &env.settings), status_url: send::status_url(env, &key), account })
        }
        None => None,
    };
    // What this run's provider calls came to: a run that made progress never spends the
    // job's attempts; one that only met a streak of refusals does (see `Progress::failure`).
    let mut progress = Progress::default();
    loop {
        let mut conn = env.pool.get()?;
        match campaign_status(&mut conn, ws, batch.campaign_id)? {
            CampaignStatus::Active => {}
            CampaignStatus::Completed => {
                conn.transaction(|tx| cancel_rest(tx, ws, batch.campaign_id))?;
                return Ok(());
            }
            // Paused (or back to draft): the start transition resumes.
            _ => return Ok(()),
        }
        if started.elapsed() >= SLICE {
            if let Some(failure) = progress.failure(None) {
                return Err(failure);
            }
            // The worker goes back to the queue: this run's successor, due now, queues
            // behind the jobs already waiting. Keyed by this job's id, so a run of this job
            // repeated (its worker died after this commit) enqueues no second successor.
            enqueue_keyed(&mut conn, ws, batch.id, Utc::now(), format!("dispatch-batch:{}:after:{}", batch.id, job.id))?;
            return Ok(());
        }
        let group = conn.transaction(|tx| ready_group(env, tx, &batch, &zone, group_size))?;
        let ready = match group {
            Some(ready) => ready,
            None => match retry_wait(&mut conn, ws, batch.id)? {
                // Nobody queued: the batch is done.
                Waiting::Nobody => break,
                // The next message given back is due soon: wait for it in this run.
                Waiting::For(d) if d <= MAX_THROTTLE_WAIT && started.elapsed() + d < SLICE => {
                    drop(conn);
                    std::thread::sleep(d);
                    continue;
                }
                // Later: the job comes back then, no attempt used (so the batch always has
                // its dispatch scheduled while recipients are left).
                Waiting::For(d) => {
                    let reason = "The recipients left wait to be tried again after a refusal.".to_string();
                    return Err(progress.failure(Some(d)).unwrap_or(JobError::Wait(reason, d)));
                }
                // Taken by another dispatch's transaction this instant (it sends them), or
                // due just now: look again.
                Waiting::Locked => {
                    drop(conn);
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        drop(conn);
        if ready.is_empty() {
            continue;
        }
        let Some(run) = run.as_ref() else {
            return Err(JobError::Permanent("a message batch reached its sends without its account".into()));
        };
        match send_group(env, run, &batch, &ready, in_flight, progress.streak)? {
            Group::Busy(d) => {
                let reason = format!("sender {} is at its rate limit", run_sender(&batch));
                return Err(progress.failure(Some(d)).unwrap_or(JobError::Wait(reason, d)));
            }
            Group::Sent(sent) => {
                progress.add(&sent);
                if sent.inactive {
                    // Paused or completed mid-group: the status read at the top decides.
                    continue;
                }
                if progress.streak >= REFUSAL_STREAK {
                    // The provider refuses everything just now: a run with progress waits a
                    // moment (no attempt); one without spends an attempt and its backoff.
                    let reason = format!("{} refusals in a row; last: {}", progress.streak, progress.last_refusal.clone().unwrap_or_default());
                    return Err(progress.failure(None).unwrap_or(JobError::Wait(reason, REFUSED_PAUSE)));
                }
                // A Retry-After (429): the next group's reservation waits it out (the sender
                // is held), or the job does when it is further than MAX_THROTTLE_WAIT.
            }
        }
    }
    let mut conn = env.pool.get()?;
    diesel::sql_query(
        "UPDATE campaign_batches b SET status = 'done', finished_at = now() \
         WHERE b.workspace_id = $1 AND b.id = $2 AND b.status IN ('scheduled', 'sending') \
           AND NOT EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.workspace_id = b.workspace_id AND r.batch_id = b.id AND r.status = 'queued')",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch.id)
    .execute(&mut conn)?;
    Ok(())
}

fn campaign_status(conn: &mut PgConnection, ws: i64, campaign_id: i64) -> QueryResult<CampaignStatus> {
    campaigns::table.find((ws, campaign_id)).select(campaigns::status).first(conn)
}

fn message_channel(channel: BatchChannel) -> Channel {
    if channel == BatchChannel::WhatsApp { Channel::WhatsApp } else { Channel::Sms }
}

/// Takes up to `size` queued recipients and readies them, in the caller's transaction:
/// the skipped are marked, emails handed to their jobs, and every message recipient has a
/// `queued` message linked to it. Returns the messages to send (`None`: nobody is left that
/// this job may take).
fn ready_group(env: &JobEnv, tx: &mut PgConnection, batch: &Batch, zone: &str, size: i64) -> Result<Option<Vec<i64>>, JobError> {
    let ws = batch.workspace_id;
    // Recipients without a message first: those with one are being sent by another
    // dispatch (it readied them), or were given back and are taken when the fresh ones
    // run out. Either way the claim decides who sends, once.
    let pick = |tx: &mut PgConnection, prepared: bool, limit: i64| -> QueryResult<Vec<Picked>> {
        diesel::sql_query(format!(
            "SELECT r.client_id, r.message_id FROM campaign_recipients r WHERE r.workspace_id = $1 AND r.batch_id = $2 AND r.status = 'queued' \
               AND r.message_id IS {} NULL {} ORDER BY r.client_id LIMIT $3 FOR UPDATE OF r SKIP LOCKED",
            if prepared { "NOT" } else { "" },
            // A message given back after a refusal waits for its own retry time.
            if prepared { "AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = r.workspace_id AND m.id = r.message_id AND m.retry_at > now())" } else { "" }
        ))
        .bind::<BigInt, _>(ws)
        .bind::<BigInt, _>(batch.id)
        .bind::<BigInt, _>(limit)
        .load(tx)
    };
    let mut picked = pick(tx, false, size)?;
    if (picked.len() as i64) < size {
        picked.extend(pick(tx, true, size - picked.len() as i64)?);
    }
    if picked.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = picked.iter().map(|p| p.client_id).collect();
    let clients: Vec<Client> = clients::table.filter(clients::workspace_id.eq(ws)).filter(clients::id.eq_any(&ids)).select(Client::as_select()).load(tx)?;
    let mut ready = Vec::with_capacity(picked.len());
    let mut news = Vec::new();
    for p in &picked {
        let Some(client) = clients.iter().find(|c| c.id == p.client_id) else { continue };
        // Still sendable? (An opt-out since the batch was made wins.)
        if let Some(reason) = batches::skip_reason(batch.channel, client, zone) {
            set_recipient(tx, ws, batch.id, client.id, "skipped", Some(&reason))?;
            continue;
        }
        if batch.channel == BatchChannel::Email {
            let email = batches::render_email(env, batch, client).map_err(|e| JobError::Permanent(format!("rendering the email: {e}")))?;
            crate::email::enqueue_for_campaign(tx, ws, &email, batch.id, client.id)?;
            set_recipient(tx, ws, batch.id, client.id, "sending", None)?;
            continue;
        }
        match p.message_id {
            // Given back (a refused slot, a pause, a dispatch that stopped): sent as it is.
            Some(id) => ready.push(id),
            None => {
                let (body, variables) = batches::render_message(tx, batch, client)?;
                news.push(NewOutbound {
                    workspace_id: ws,
                    client_id: Some(client.id),
                    channel: message_channel(batch.channel),
                    sender: batch.sender.clone().unwrap_or_default(),
                    recipient: client.phone.clone().unwrap_or_default().trim().to_string(),
                    body,
                    template_id: batch.template_id,
                    variables,
                    created_by: batch.created_by,
                    batch_id: Some(batch.id),
                });
            }
        }
    }
    // One insert for the group's new messages, one update linking them.
    let written = store::insert_outbound_many(tx, &news)?;
    if !written.is_empty() {
        let (client_ids, message_ids): (Vec<i64>, Vec<i64>) = written.iter().map(|(c, m)| (c.unwrap_or_default(), *m)).unzip();
        diesel::sql_query(
            "UPDATE campaign_recipients r SET message_id = v.message_id FROM unnest($3::bigint[], $4::bigint[]) AS v(client_id, message_id) \
             WHERE r.workspace_id = $1 AND r.batch_id = $2 AND r.client_id = v.client_id",
        )
        .bind::<BigInt, _>(ws)
        .bind::<BigInt, _>(batch.id)
        .bind::<Array<BigInt>, _>(&client_ids)
        .bind::<Array<BigInt>, _>(&message_ids)
        .execute(tx)?;
        if batch.mode == "flow" {
            // The flow's first step (its template is the batch's): these recipients are there.
            for client_id in &client_ids {
                crate::campaigns::flow_replies::started(tx, ws, batch.id, *client_id)?;
            }
        }
        let mut in_order: Vec<(i64, i64)> = written.iter().map(|(c, m)| (c.unwrap_or_default(), *m)).collect();
        in_order.sort_unstable();
        ready.extend(in_order.into_iter().map(|(_, m)| m));
    }
    Ok(Some(ready))
}

/// Sends a readied group, `in_flight` provider calls at a time.
///
/// - The group's throttle slots are reserved in one statement before anything is claimed
///   (`throttle::reserve_many`: the sender's next `n` slots); each send waits for its own
///   slot, so the sender's rate holds across instances as with one reservation per send. A
///   first slot further away than `MAX_THROTTLE_WAIT` claims nothing: the job waits.
/// - Each message is claimed (`queued` → `sending`, its own statement) just before its
///   provider call, so what is not claimed stays `queued` with its recipient: nothing of a
///   group waits on a lease when a pause, an error or a SIGKILL stops it, and the next
///   dispatch takes it (once: a claim happens once).
/// - What the provider accepted is recorded in bulk ([`RECORD_EVERY`] sends, or the
///   oldest waiting for [`RECORD_AFTER`], and whatever is left when the group ends, however it ends):
///   `store::record_accepted_many`, one transaction. A record lost to a SIGKILL leaves its
///   messages `sending` under their lease; reconciliation adopts the provider's SIDs, and
///   nothing is sent again. A status callback that comes before the record is kept and
///   applied by it (the same advisory lock as one at a time).
/// - The campaign's status is read again when the last read is older than
///   [`STATUS_EVERY`]: a pause stops new claims on every instance within that, plus the
///   wait for the slot already reserved (≤ 1 s) and the provider calls in flight.
/// - A retryable refusal is the message's, not the group's (`send::refused_for_now`): a 5xx
///   (or a 429 without Retry-After) gives it back with an attempt counted and its own
///   backoff, and the group goes on; its [`MESSAGE_ATTEMPTS`]th fails it with the provider's
///   reason. A 429 with Retry-After gives it back with no attempt, holds the sender that
///   long on every instance, and ends the group (a send that waited for its slot meanwhile
///   gives its claim back unsent); the next group's reservation waits out the hold.
///   [`REFUSAL_STREAK`] refusals in a row (counting from `streak`) end the group too.
///
/// `Group::Busy(d)`: nothing claimed, the sender's next slot is `d` away.
fn send_group(env: &JobEnv, run: &Run, batch: &Batch, ready: &[i64], in_flight: usize, streak: usize) -> Result<Group, JobError> {
    let ws = batch.workspace_id;
    let channel = message_channel(batch.channel);
    let slots = {
        let mut conn = env.pool.get()?;
        match throttle::reserve_many(&mut conn, ws, &run_sender(batch), run.account.rate(channel), ready.len(), MAX_THROTTLE_WAIT)? {
            Ok(slots) => slots,
            Err(d) => return Ok(Group::Busy(d)),
        }
    };
    let reserved_at = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let inactive = AtomicBool::new(false);
    let checked = Mutex::new(Instant::now());
    let failure: Mutex<Option<JobError>> = Mutex::new(None);
    let accepted: Mutex<(Vec<store::Accepted>, Instant)> = Mutex::new((Vec::new(), Instant::now()));
    let calls = AtomicUsize::new(0);
    let settled = AtomicUsize::new(0);
    let streak = AtomicUsize::new(streak);
    let held = AtomicBool::new(false);
    let last_refusal: Mutex<Option<String>> = Mutex::new(None);
    let record = |all: bool| -> Result<(), JobError> {
        let due = {
            let mut pending = accepted.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.0.is_empty() || !(all || pending.0.len() >= RECORD_EVERY || pending.1.elapsed() >= RECORD_AFTER) {
                return Ok(());
            }
            std::mem::take(&mut pending.0)
        };
        let mut conn = env.pool.get()?;
        store::record_accepted_many(&mut conn, ws, &due)?;
        Ok(())
    };
    let still_active = || -> Result<bool, JobError> {
        let mut at = checked.lock().unwrap_or_else(PoisonError::into_inner);
        if at.elapsed() >= STATUS_EVERY {
            let mut conn = env.pool.get()?;
            if campaign_status(&mut conn, ws, batch.campaign_id)? != CampaignStatus::Active {
                return Ok(false);
            }
            *at = Instant::now();
        }
        Ok(true)
    };
    let sender = || {
        while !stop.load(Ordering::SeqCst) {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(&id) = ready.get(i) else { break };
            let outcome = (|| -> Result<(), JobError> {
                if !still_active()? {
                    inactive.store(true, Ordering::SeqCst);
                    stop.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                let mut conn = env.pool.get()?;
                // None: another dispatch claimed it (and sends it), or it was cancelled.
                let Some(message) = store::claim(&mut conn, ws, id, LEASE_SECS)? else { return Ok(()) };
                let outbound = send::outbound_for(&mut conn, &message, &run.status_url)?;
                // No connection is held while waiting for the slot and the provider's answer.
                drop(conn);
                if let Some(wait) = slots.at(i).checked_sub(reserved_at.elapsed()) {
                    std::thread::sleep(wait);
                }
                if stop.load(Ordering::SeqCst) && held.load(Ordering::SeqCst) {
                    // The provider asked the sender to wait while this one waited for its
                    // slot: given back unsent (the claim is certain not to have reached it).
                    written(env, |conn| store::release(conn, ws, message.id))?;
                    return Ok(());
                }
                calls.fetch_add(1, Ordering::SeqCst);
                match run.provider.send(&outbound) {
                    Ok(a) => {
                        tracing::info!(message_id = message.id, provider_id = %a.provider_id, "message accepted");
                        settled.fetch_add(1, Ordering::SeqCst);
                        streak.store(0, Ordering::SeqCst);
                        {
                            let mut pending = accepted.lock().unwrap_or_else(PoisonError::into_inner);
                            if pending.0.is_empty() {
                                pending.1 = Instant::now();
                            }
                            pending.0.push((message.id, a.provider_id, a.status));
                        }
                        record(false)
                    }
                    Err(ProviderError::Retry { reason, after }) => {
                        let refused = written(env, |conn| send::refused_for_now(conn, &message, &reason, after, MESSAGE_ATTEMPTS))?;
                        tracing::info!(message_id = message.id, reason, outcome = ?refused, "send refused for now");
                        *last_refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
                        if matches!(refused, send::Refused::Throttled(_)) {
                            held.store(true, Ordering::SeqCst);
                            stop.store(true, Ordering::SeqCst);
                        }
                        if streak.fetch_add(1, Ordering::SeqCst) + 1 >= REFUSAL_STREAK {
                            stop.store(true, Ordering::SeqCst);
                        }
                        Ok(())
                    }
                    Err(refused) => {
                        // Refused for good, or an unknown outcome (left for reconciliation):
                        // either way this message is through.
                        settled.fetch_add(1, Ordering::SeqCst);
                        streak.store(0, Ordering::SeqCst);
                        let mut conn = env.pool.get()?;
                        send::settle(&mut conn, &message, Err(refused), None).map(|_| ())
                    }
                }
            })();
            if let Err(e) = outcome {
                stop.store(true, Ordering::SeqCst);
                failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(e);
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..in_flight {
            s.spawn(sender);
        }
        sender();
    });
    // Whatever ended the group, what the provider took is recorded before the job returns.
    let recorded = record(true);
    if let Some(e) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(e);
    }
    recorded?;
    Ok(Group::Sent(Sent {
        calls: calls.into_inner(),
        settled: settled.into_inner(),
        streak: streak.into_inner(),
        inactive: inactive.into_inner(),
        last_refusal: last_refusal.into_inner().unwrap_or_else(PoisonError::into_inner),
    }))
}

/// Writes down what became of a claimed message the provider did not take (given back,
/// or failed): a pool checkout that timed out or a statement that lost a deadlock is tried
/// again, twice, before the error ends the group (the message then stays claimed until
/// reconciliation finds the provider never had it).
fn written<T>(env: &JobEnv, write: impl Fn(&mut PgConnection) -> QueryResult<T>) -> Result<T, JobError> {
    let attempt = || env.pool.get().map_err(JobError::from).and_then(|mut conn| write(&mut conn).map_err(JobError::from));
    attempt().or_else(|_| attempt()).or_else(|_| attempt())
}

/// How a group ended.
enum Group {
    /// Nothing claimed: the sender's next free slot is this far away (its rate, or a
    /// provider's Retry-After holding it).
    Busy(Duration),
    Sent(Sent),
}

/// What a group's provider calls came to.
struct Sent {
    calls: usize,
    /// Messages through: taken, refused for good, or an unknown outcome.
    settled: usize,
    /// Retryable refusals in a row at the group's end.
    streak: usize,
    /// Stopped because the campaign is no longer active.
    inactive: bool,
    last_refusal: Option<String>,
}

/// A run's groups added up: whether the run made progress decides whether an end without
/// it spends one of the job's attempts.
#[derive(Default)]
struct Progress {
    calls: usize,
    settled: usize,
    streak: usize,
    last_refusal: Option<String>,
}

impl Progress {
    fn add(&mut self, sent: &Sent) {
        self.calls += sent.calls;
        self.settled += sent.settled;
        self.streak = sent.streak;
        if sent.last_refusal.is_some() {
            self.last_refusal.clone_from(&sent.last_refusal);
        }
    }

    /// The error that spends an attempt, when the run called the provider, got nothing
    /// through and ended on a streak of [`REFUSAL_STREAK`] refusals (a provider that
    /// refuses everything: the job backs off, and dies out of attempts if it lasts; the
    /// check then resumes or fails the batch). `None`: the run made progress, or one
    /// refusal among successes: no attempt spent.
    fn failure(&self, after: Option<Duration>) -> Option<JobError> {
        if self.calls == 0 || self.settled > 0 || self.streak < REFUSAL_STREAK {
            return None;
        }
        let reason = format!("Every send of this run was refused ({} in a row); last: {}", self.streak, self.last_refusal.clone().unwrap_or_default());
        Some(match after {
            Some(d) => JobError::RetryAfter(reason, d),
            None => JobError::Retry(reason),
        })
    }
}

/// The batch's sender as the throttle keys it.
fn run_sender(batch: &Batch) -> String {
    send::sender_of(batch.sender.as_deref().unwrap_or_default()).key().to_string()
}

enum Waiting {
    /// No recipient is queued.
    Nobody,
    /// The next message given back is due this far from now.
    For(Duration),
    /// Queued recipients, none waiting for a retry: another dispatch's transaction holds
    /// them this instant, or they became due since.
    Locked,
}

#[derive(QueryableByName)]
struct Queued {
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    next_secs: Option<f64>,
}

/// Why [`ready_group`] found nobody to take while the batch may have recipients queued.
fn retry_wait(conn: &mut PgConnection, ws: i64, batch_id: i64) -> QueryResult<Waiting> {
    let q: Queued = diesel::sql_query(
        "SELECT count(*) AS queued, extract(epoch FROM min(m.retry_at) FILTER (WHERE m.retry_at > now()) - now())::float8 AS next_secs \
         FROM campaign_recipients r LEFT JOIN messages m ON m.workspace_id = r.workspace_id AND m.id = r.message_id \
         WHERE r.workspace_id = $1 AND r.batch_id = $2 AND r.status = 'queued'",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .get_result(conn)?;
    Ok(match (q.queued, q.next_secs) {
        (0, _) => Waiting::Nobody,
        (_, Some(secs)) => Waiting::For(Duration::from_secs_f64(secs.max(0.0)) + Duration::from_millis(10)),
        (_, None) => Waiting::Locked,
    })
}

/// What a run keeps for all its groups: the account, one provider (one HTTP client, its
/// connections kept alive) and the status callback URL (the webhook key read once).
struct Run {
    account: Account,
    provider: Arc<dyn Provider>,
    status_url: String,
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
