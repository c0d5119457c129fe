//! Flow batches after their first step (issue 12 part 4): a recipient's quick-reply button
//! tap sends them the step the button leads to.
//!
//! Twilio's inbound webhook for a button tap carries `ButtonPayload` (the button's id),
//! `ButtonText` (its title) and `OriginalRepliedMessageSid` (the message answered). The
//! answered message (ours, outbound, of a flow batch, to this client; without
//! `OriginalRepliedMessageSid`, the latest such message sent in the last 7 days) gives the batch and the
//! step it carried: the first step for the recipient's own message, else the step an earlier
//! answer sent it for (`campaign_flow_answers.sent_message_id`). The button is found in the
//! batch's snapshot of that step (by payload, else by title); a tap that matches no button
//! is only a reply.
//!
//! Once, structurally: the answer is a row keyed by the answered message, inserted
//! `ON CONFLICT DO NOTHING` in the inbound message's transaction, which also writes the next
//! step's message and its `send-message` job. Twilio calling back twice (the same
//! `MessageSid`: the inbound insert already drops the copy), two instances taking two
//! callbacks at once (the second insert waits for the first to commit, then does nothing),
//! or a second tap on the same message: one send. The send is a normal outbound message with
//! its `batch_id`, through the message core and its throttle; the recipient's `flow_step`
//! moves to the new step and the step's "reached" counter (`campaign_flow_reached`, one row
//! per recipient and step, counted by trigger) grows once per recipient. The recipient's
//! status stays that of the first step's message.
//!
//! Decisions: a button that ends the flow records the answer and sends nothing. While the
//! campaign is paused, the answer is recorded and held (`held_at`, said on the campaign
//! page), and resuming sends its next step, in the resume's transaction under the campaign's
//! row lock, so once however often Resume is clicked or on whichever instance (issue 19 item
//! 8); completing the campaign drops what is held. Once the client opted out of WhatsApp or
//! has no phone number (then, or when resumed), an answer is recorded and nothing is sent.
//! The reply itself is counted yes / no / other as any reply (`recipients::record_reply`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text};
use serde_json::json;

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::campaigns::batches;
use crate::campaigns::flows::{Snapshot, SnapshotStep};
use crate::clients::model::Client;
use crate::db::schema::clients;
use crate::jobs::{self, NewJob};
use crate::messaging::compose::SEND_ATTEMPTS;
use crate::messaging::send::SendMessage;
use crate::messaging::store::{self, NewOutbound};
use crate::messaging::{Channel, InboundMessage};

/// Dispatch wrote the first step's message for this recipient: they are at the first step.
pub fn started(tx: &mut PgConnection, ws: i64, batch_id: i64, client_id: i64) -> QueryResult<()> {
    diesel::sql_query(
        "WITH first AS (SELECT flow_snapshot->'steps'->0->>'key' AS key FROM campaign_batches WHERE workspace_id = $1 AND id = $2), \
         moved AS (UPDATE campaign_recipients SET flow_step = (SELECT key FROM first) WHERE workspace_id = $1 AND batch_id = $2 AND client_id = $3) \
         INSERT INTO campaign_flow_reached (workspace_id, batch_id, client_id, step_key) \
         SELECT $1, $2, $3, key FROM first WHERE key IS NOT NULL ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .bind::<BigInt, _>(client_id)
    .execute(tx)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Answered {
    #[diesel(sql_type = BigInt)]
    message_id: i64,
    #[diesel(sql_type = BigInt)]
    batch_id: i64,
    #[diesel(sql_type = Jsonb)]
    snapshot: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    step_key: Option<String>,
    #[diesel(sql_type = Text)]
    campaign_status: String,
}

/// What a button tap did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The next step's message was written and its send job enqueued.
    Sent { step: String, message_id: i64 },
    /// The answer was recorded; nothing to send (the end, a completed campaign, an opt-out).
    Recorded,
    /// The campaign is paused: the answer is held, and resuming sends its next step.
    Held,
}

/// Called by `messaging::inbound::record` in its transaction, for every inbound message.
pub fn on_inbound(tx: &mut PgConnection, ws: i64, client_id: i64, msg: &InboundMessage) -> QueryResult<Option<Outcome>> {
    if msg.channel != Channel::WhatsApp || (msg.button_payload.is_none() && msg.button_text.is_none()) {
        return Ok(None);
    }
    let replied = msg.replied_to.as_deref().filter(|r| !r.trim().is_empty());
    let answered: Option<Answered> = diesel::sql_query(
        "SELECT m.id AS message_id, m.batch_id, b.flow_snapshot AS snapshot, c.status AS campaign_status, \
           coalesce((SELECT a.next_step FROM campaign_flow_answers a WHERE a.workspace_id = m.workspace_id AND a.sent_message_id = m.id), \
                    CASE WHEN r.message_id = m.id THEN b.flow_snapshot->'steps'->0->>'key' END) AS step_key \
         FROM messages m \
         JOIN campaign_batches b ON b.workspace_id = m.workspace_id AND b.id = m.batch_id AND b.mode = 'flow' AND b.flow_snapshot IS NOT NULL \
         JOIN campaign_recipients r ON r.workspace_id = m.workspace_id AND r.batch_id = m.batch_id AND r.client_id = $3 \
         JOIN campaigns c ON c.workspace_id = b.workspace_id AND c.id = b.campaign_id \
         WHERE m.workspace_id = $1 AND m.direction = 'outbound' AND m.client_id = $3 \
           AND (m.provider_id = $2 OR ($2 IS NULL AND m.provider_id IS NOT NULL AND m.created_at > now() - interval '7 days')) \
         ORDER BY m.id DESC LIMIT 1 FOR SHARE OF c",
    )
    .bind::<BigInt, _>(ws)
    .bind::<Nullable<Text>, _>(replied)
    .bind::<BigInt, _>(client_id)
    .get_result(tx)
    .optional()?;
    let Some(answered) = answered else { return Ok(None) };
    let Some(snapshot) = Snapshot::parse(&answered.snapshot) else { return Ok(None) };
    let Some(step) = answered.step_key.as_deref().and_then(|k| snapshot.step(k)) else { return Ok(None) };
    let Some((button, next)) = step.button(msg.button_payload.as_deref(), msg.button_text.as_deref()) else { return Ok(None) };
    let next = next.and_then(|k| snapshot.step(k));
    // The answer, once per answered message: whoever inserts it sends the next step.
    let inserted = diesel::sql_query(
        "INSERT INTO campaign_flow_answers (workspace_id, message_id, batch_id, client_id, step_key, button, next_step) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(answered.message_id)
    .bind::<BigInt, _>(answered.batch_id)
    .bind::<BigInt, _>(client_id)
    .bind::<Text, _>(&step.key)
    .bind::<Text, _>(button)
    .bind::<Nullable<Text>, _>(next.map(|n| n.key.as_str()))
    .execute(tx)?;
    if inserted == 0 {
        return Ok(None);
    }
    let Some(next) = next else { return Ok(Some(Outcome::Recorded)) };
    match answered.campaign_status.as_str() {
        "active" => {}
        "paused" => {
            // Held: resuming sends it (`send_held`). The campaign row is share-locked by
            // the query above, so a resume waits for this answer, or this answer sees the
            // campaign active.
            diesel::sql_query("UPDATE campaign_flow_answers SET held_at = now() WHERE workspace_id = $1 AND message_id = $2")
                .bind::<BigInt, _>(ws)
                .bind::<BigInt, _>(answered.message_id)
                .execute(tx)?;
            return Ok(Some(Outcome::Held));
        }
        _ => return Ok(Some(Outcome::Recorded)),
    }
    let answer = Answer { message_id: answered.message_id, batch_id: answered.batch_id, client_id, step_key: &step.key, button };
    Ok(Some(match send_step(tx, ws, &answer, next, Actor::Webhook)? {
        Some(message_id) => Outcome::Sent { step: next.key.clone(), message_id },
        None => Outcome::Recorded,
    }))
}

/// An answer whose next step is to be sent.
struct Answer<'a> {
    message_id: i64,
    batch_id: i64,
    client_id: i64,
    step_key: &'a str,
    button: &'a str,
}

/// Writes the `next` step's message for an answer and enqueues its send, moves the recipient
/// to it and records it; `None` when the client may not be sent it (opted out, no phone).
fn send_step(tx: &mut PgConnection, ws: i64, answer: &Answer, next: &SnapshotStep, actor: Actor) -> QueryResult<Option<i64>> {
    let Some(batch) = batches::load(tx, ws, answer.batch_id)? else { return Ok(None) };
    let client: Client = clients::table.find((ws, answer.client_id)).select(Client::as_select()).first(tx)?;
    let zone = batches::workspace_zone(tx, ws)?;
    if batches::skip_reason(batch.channel, &client, &zone).is_some() {
        return Ok(None);
    }
    // The step's template with the batch's variables, as dispatch renders the first.
    let at_step = batches::Batch { template_id: Some(next.template_id), ..batch.clone() };
    let (body, variables) = batches::render_message(tx, &at_step, &client)?;
    let new = NewOutbound {
        workspace_id: ws,
        client_id: Some(client.id),
        channel: Channel::WhatsApp,
        sender: batch.sender.clone().unwrap_or_default(),
        recipient: client.phone.clone().unwrap_or_default().trim().to_string(),
        body,
        template_id: Some(next.template_id),
        variables,
        created_by: batch.created_by,
        batch_id: Some(batch.id),
    };
    let message = store::insert_outbound(tx, &new)?;
    jobs::enqueue(tx, &NewJob::new(ws, SendMessage::KIND, json!({ "message_id": message.id })).attempts(SEND_ATTEMPTS))?;
    diesel::sql_query(
        "WITH answer AS (UPDATE campaign_flow_answers SET sent_message_id = $5, held_at = NULL WHERE workspace_id = $1 AND message_id = $6), \
         moved AS (UPDATE campaign_recipients SET flow_step = $4, updated_at = now() WHERE workspace_id = $1 AND batch_id = $2 AND client_id = $3) \
         INSERT INTO campaign_flow_reached (workspace_id, batch_id, client_id, step_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch.id)
    .bind::<BigInt, _>(client.id)
    .bind::<Text, _>(&next.key)
    .bind::<BigInt, _>(message.id)
    .bind::<BigInt, _>(answer.message_id)
    .execute(tx)?;
    let entry = Entry::new(ws, actor, Action::CampaignsFlowStepSent, "campaigns", batch.campaign_id).after(json!({
        "batch_id": batch.id,
        "client_id": client.id,
        "answered_step": answer.step_key,
        "button": answer.button,
        "step": next.key,
        "template_id": next.template_id,
        "message_id": message.id,
    }));
    audit::record(tx, &entry)?;
    Ok(Some(message.id))
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = BigInt)]
    message_id: i64,
    #[diesel(sql_type = BigInt)]
    batch_id: i64,
    #[diesel(sql_type = BigInt)]
    client_id: i64,
    #[diesel(sql_type = Text)]
    step_key: String,
    #[diesel(sql_type = Text)]
    button: String,
    #[diesel(sql_type = Text)]
    next_step: String,
    #[diesel(sql_type = Jsonb)]
    snapshot: serde_json::Value,
}

/// Called by the campaign's resume, in its transaction (the campaign row locked for
/// update): the answers held while it was paused are taken (cleared in the same statement,
/// so a second resume finds none) and their next steps sent. Returns how many were sent.
pub fn send_held(tx: &mut PgConnection, ws: i64, campaign_id: i64, actor: &Actor) -> QueryResult<usize> {
    let held: Vec<Held> = diesel::sql_query(
        "WITH taken AS (UPDATE campaign_flow_answers a SET held_at = NULL FROM campaign_batches b \
           WHERE b.workspace_id = a.workspace_id AND b.id = a.batch_id AND a.workspace_id = $1 AND b.campaign_id = $2 \
             AND a.held_at IS NOT NULL AND a.next_step IS NOT NULL AND a.sent_message_id IS NULL \
           RETURNING a.message_id, a.batch_id, a.client_id, a.step_key, a.button, a.next_step, a.created_at) \
         SELECT t.message_id, t.batch_id, t.client_id, t.step_key, t.button, t.next_step, b.flow_snapshot AS snapshot \
         FROM taken t JOIN campaign_batches b ON b.workspace_id = $1 AND b.id = t.batch_id AND b.flow_snapshot IS NOT NULL \
         ORDER BY t.created_at, t.message_id",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(campaign_id)
    .load(tx)?;
    let mut sent = 0;
    for h in &held {
        let Some(snapshot) = Snapshot::parse(&h.snapshot) else { continue };
        let Some(next) = snapshot.step(&h.next_step) else { continue };
        let answer = Answer { message_id: h.message_id, batch_id: h.batch_id, client_id: h.client_id, step_key: &h.step_key, button: &h.button };
        if send_step(tx, ws, &answer, next, actor.clone())?.is_some() {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Called when the campaign is completed, in its transaction: held answers are never sent.
pub fn drop_held(tx: &mut PgConnection, ws: i64, campaign_id: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE campaign_flow_answers a SET held_at = NULL FROM campaign_batches b \
         WHERE b.workspace_id = a.workspace_id AND b.id = a.batch_id AND a.workspace_id = $1 AND b.campaign_id = $2 AND a.held_at IS NOT NULL",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(campaign_id)
    .execute(tx)
}

/// How many answers wait for the campaign's resume (said on the campaign page).
pub fn held_count(conn: &mut PgConnection, ws: i64, campaign_id: i64) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query(
        "SELECT count(*) AS n FROM campaign_flow_answers a JOIN campaign_batches b ON b.workspace_id = a.workspace_id AND b.id = a.batch_id \
         WHERE a.workspace_id = $1 AND b.campaign_id = $2 AND a.held_at IS NOT NULL",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(campaign_id)
    .get_result(conn)?;
    Ok(n.n)
}
