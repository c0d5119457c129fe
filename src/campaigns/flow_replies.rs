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
//! Decisions: a button that ends the flow records the answer and sends nothing; while the
//! campaign is not active (paused or completed), or once the client opted out of WhatsApp or
//! has no phone number, an answer is recorded (so it never sends later) and nothing is sent.
//! The reply itself is counted yes / no / other as any reply (`recipients::record_reply`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text};
use serde_json::json;

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::campaigns::batches;
use crate::campaigns::flows::Snapshot;
use crate::clients::model::Client;
use crate::db::schema::clients;
use crate::jobs::{self, Kind, NewJob};
use crate::messaging::client_messages::SEND_ATTEMPTS;
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
    /// The answer was recorded; nothing to send (the end, a stopped campaign, an opt-out).
    Recorded,
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
         ORDER BY m.id DESC LIMIT 1",
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
    if answered.campaign_status != "active" {
        return Ok(Some(Outcome::Recorded));
    }
    let Some(batch) = batches::load(tx, ws, answered.batch_id)? else { return Ok(Some(Outcome::Recorded)) };
    let client: Client = clients::table.find((ws, client_id)).select(Client::as_select()).first(tx)?;
    let zone = batches::workspace_zone(tx, ws)?;
    if batches::skip_reason(batch.channel, &client, &zone).is_some() {
        return Ok(Some(Outcome::Recorded));
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
    jobs::enqueue(tx, &NewJob::new(ws, Kind::SendMessage, json!({ "message_id": message.id })).attempts(SEND_ATTEMPTS))?;
    diesel::sql_query(
        "WITH answer AS (UPDATE campaign_flow_answers SET sent_message_id = $5 WHERE workspace_id = $1 AND message_id = $6), \
         moved AS (UPDATE campaign_recipients SET flow_step = $4, updated_at = now() WHERE workspace_id = $1 AND batch_id = $2 AND client_id = $3) \
         INSERT INTO campaign_flow_reached (workspace_id, batch_id, client_id, step_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch.id)
    .bind::<BigInt, _>(client.id)
    .bind::<Text, _>(&next.key)
    .bind::<BigInt, _>(message.id)
    .bind::<BigInt, _>(answered.message_id)
    .execute(tx)?;
    let entry = Entry::new(ws, Actor::Webhook, Action::CampaignsFlowStepSent, "campaigns", batch.campaign_id).after(json!({
        "batch_id": batch.id,
        "client_id": client.id,
        "answered_step": step.key,
        "button": button,
        "step": next.key,
        "template_id": next.template_id,
        "message_id": message.id,
    }));
    audit::record(tx, &entry)?;
    Ok(Some(Outcome::Sent { step: next.key.clone(), message_id: message.id }))
}
