//! Batches (issue 12 part 3): one send of one message to every client attached to the
//! campaign, now or at `send_at`. The batch row and what makes it: its recipients and its
//! dispatch. The pages are `campaigns::batch_pages`, the form's check
//! `campaigns::batch_check`, the message bodies `campaigns::render`.
//!
//! Creating a batch is one transaction: the batch row; ONE set-based `INSERT … SELECT` of a
//! recipient per attached client (`queued`, or `skipped` with the reason: "Opted out of
//! WhatsApp on 2026-11-02", "No phone number", "No email address" — opted-out clients stay
//! attached and are skipped per channel); its dispatch job (`campaigns::dispatch`). The
//! campaign must have the channel and not be completed (409 with the reason).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::campaigns::batch_check::NewBatch;
use crate::campaigns::render::variables_for;
use crate::clients::fields;
use crate::campaigns::{BatchChannel, BatchStatus, Campaign, CampaignScope, CampaignStatus, dispatch};
use crate::clients::model::Client;
use crate::db::schema::{campaign_batches, campaign_clients, clients, whatsapp_templates, workspaces};
use crate::error::AppError;
use crate::messaging::templates;

pub use crate::campaigns::render::render_email;

/// A batch as dispatch reads it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = campaign_batches)]
pub struct Batch {
    pub workspace_id: i64,
    pub id: i64,
    pub campaign_id: i64,
    pub channel: BatchChannel,
    pub mode: String,
    pub template_id: Option<i64>,
    pub variables: Value,
    pub subject: Option<String>,
    pub body: String,
    /// An email batch's optional HTML body (the plain `body` is always sent beside it).
    pub html_body: Option<String>,
    pub sender: Option<String>,
    pub send_at: DateTime<Utc>,
    pub status: BatchStatus,
    pub created_by: Option<i64>,
}

pub fn load(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Batch>> {
    campaign_batches::table.find((workspace_id, id)).select(Batch::as_select()).first(conn).optional()
}

pub fn workspace_zone(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<String> {
    workspaces::table.find(workspace_id).select(workspaces::time_zone).first(conn)
}

pub fn channel_label(channel: BatchChannel) -> &'static str {
    match channel {
        BatchChannel::WhatsApp => "WhatsApp",
        BatchChannel::Sms => "SMS",
        BatchChannel::Email => "email",
    }
}

/// Why a client gets nothing from a batch on `channel`, if so. The same rules as the
/// set-based insert's (`recipients_sql`), for a client whose turn has come.
pub fn skip_reason(channel: BatchChannel, client: &Client, zone: &str) -> Option<String> {
    let zone = crate::web::time::Zone::named(zone);
    let opted = match channel {
        BatchChannel::WhatsApp => client.opt_out_whatsapp_at,
        BatchChannel::Sms => client.opt_out_sms_at,
        BatchChannel::Email => client.opt_out_email_at,
    };
    if let Some(at) = opted {
        return Some(format!("Opted out of {} on {}", channel_label(channel), zone.date(at)));
    }
    let blank = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().is_empty();
    match channel {
        BatchChannel::Email if blank(&client.email) => Some("No email address".into()),
        BatchChannel::WhatsApp | BatchChannel::Sms if blank(&client.phone) => Some("No phone number".into()),
        _ => None,
    }
}

/// Who a new batch's recipients are.
#[derive(Clone, Copy, Debug)]
pub enum RecipientSource {
    /// The campaign's attached clients (`$3` = the campaign).
    Attached,
    /// The failed recipients of an earlier batch (`$3` = that batch): a re-target.
    FailedOf,
}

/// One recipient per client of `source`, in one statement, each queued or skipped with the
/// reason. `$1` workspace, `$2` the new batch, `$3` campaign or earlier batch (see
/// [`RecipientSource`]), `$4` the workspace's zone (the opt-out date in the reason).
pub fn recipients_sql(channel: BatchChannel, source: RecipientSource) -> String {
    let (opt_out, address, missing) = match channel {
        BatchChannel::WhatsApp => ("opt_out_whatsapp_at", "phone", "No phone number"),
        BatchChannel::Sms => ("opt_out_sms_at", "phone", "No phone number"),
        BatchChannel::Email => ("opt_out_email_at", "email", "No email address"),
    };
    let label = channel_label(channel);
    let (from, which) = match source {
        RecipientSource::Attached => ("campaign_clients cc", "cc.campaign_id = $3"),
        RecipientSource::FailedOf => ("campaign_recipients cc", "cc.batch_id = $3 AND cc.status = 'failed'"),
    };
    format!(
        "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, skip_reason) \
         SELECT cc.workspace_id, $2, cc.client_id, \
           CASE WHEN c.{opt_out} IS NOT NULL OR coalesce(btrim(c.{address}), '') = '' THEN 'skipped' ELSE 'queued' END, \
           CASE WHEN c.{opt_out} IS NOT NULL THEN 'Opted out of {label} on ' || to_char(c.{opt_out} AT TIME ZONE $4, 'YYYY-MM-DD') \
                WHEN coalesce(btrim(c.{address}), '') = '' THEN '{missing}' END \
         FROM {from} JOIN clients c ON c.workspace_id = cc.workspace_id AND c.id = cc.client_id \
         WHERE cc.workspace_id = $1 AND {which} ORDER BY cc.client_id"
    )
}

/// The body and template variables of a WhatsApp or SMS batch's message to `client`.
pub fn render_message(conn: &mut PgConnection, batch: &Batch, client: &Client) -> QueryResult<(String, Value)> {
    match batch.template_id {
        Some(template_id) => {
            let body: String = whatsapp_templates::table.find((batch.workspace_id, template_id)).select(whatsapp_templates::body).first(conn)?;
            let vars = variables_for(&batch.variables, client);
            let object: serde_json::Map<String, Value> = vars.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            Ok((templates::render(&body, &vars), Value::Object(object)))
        }
        None => Ok((fields::fill(&batch.body, client), json!({}))),
    }
}

/// The campaign if it may get a batch on `channel` (409 with the reason otherwise).
pub fn sendable(conn: &mut PgConnection, scope: &CampaignScope, id: i64, channel: BatchChannel) -> Result<Campaign, AppError> {
    let campaign = scope.find(conn, id)?;
    if campaign.status == CampaignStatus::Completed {
        return Err(AppError::Conflict("This campaign is completed: it sends nothing more.".into()));
    }
    if !campaign.has_channel(channel) {
        return Err(AppError::Conflict(format!("This campaign does not send {}: add the channel to the campaign first.", channel_label(channel))));
    }
    Ok(campaign)
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = BigInt)]
    skipped: i64,
}

/// Writes the batch, its recipients (one statement) and its dispatch, in the caller's
/// transaction. Returns (batch id, queued, skipped).
pub fn insert_batch(tx: &mut PgConnection, ws: i64, campaign_id: i64, new: &NewBatch, created_by: Option<i64>, zone: &str) -> QueryResult<(i64, i64, i64)> {
    let channel = new.channel;
    let batch_id: i64 = diesel::insert_into(campaign_batches::table)
        .values((
            campaign_batches::workspace_id.eq(ws),
            campaign_batches::campaign_id.eq(campaign_id),
            campaign_batches::channel.eq(channel.as_str()),
            campaign_batches::mode.eq(new.mode),
            campaign_batches::template_id.eq(new.template_id),
            campaign_batches::variables.eq(&new.variables),
            campaign_batches::subject.eq(&new.subject),
            campaign_batches::body.eq(&new.body),
            campaign_batches::html_body.eq(&new.html_body),
            campaign_batches::sender.eq(&new.sender),
            campaign_batches::send_at.eq(new.send_at),
            campaign_batches::created_by.eq(created_by),
            campaign_batches::flow_id.eq(new.flow_id),
            campaign_batches::flow_snapshot.eq(&new.flow_snapshot),
        ))
        .returning(campaign_batches::id)
        .get_result(tx)?;
    diesel::sql_query(recipients_sql(channel, RecipientSource::Attached))
        .bind::<BigInt, _>(ws)
        .bind::<BigInt, _>(batch_id)
        .bind::<BigInt, _>(campaign_id)
        .bind::<Text, _>(zone)
        .execute(tx)?;
    let counted: Counted = diesel::sql_query(
        "SELECT coalesce(sum(n) FILTER (WHERE key = 'queued'), 0)::int8 AS queued, coalesce(sum(n) FILTER (WHERE key = 'skipped'), 0)::int8 AS skipped \
         FROM campaign_batch_counts WHERE workspace_id = $1 AND batch_id = $2",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .get_result(tx)?;
    dispatch::enqueue(tx, ws, batch_id, new.send_at)?;
    Ok((batch_id, counted.queued, counted.skipped))
}


/// Writes a checked batch ([`insert_batch`]) for campaign `id`, audited (`entry`). Returns
/// (batch id, queued, skipped).
pub fn create(tx: &mut PgConnection, scope: &CampaignScope, id: i64, c: &NewBatch, zone: &str, entry: Entry) -> Result<(i64, i64, i64), AppError> {
    let (batch_id, queued, skipped) = insert_batch(tx, scope.workspace_id, id, c, Some(scope.user_id), zone)?;
    audit::record(
        tx,
        &entry.after(json!({
            "batch_id": batch_id,
            "channel": c.channel.as_str(),
            "mode": c.mode,
            "template_id": c.template_id,
            "flow_id": c.flow_id,
            "send_at": c.send_at,
            "queued": queued,
            "skipped": skipped,
        })),
    )?;
    Ok((batch_id, queued, skipped))
}

/// The campaign's first attached client (by id), if any: the one a preview shows.
pub fn first_attached_client(conn: &mut PgConnection, ws: i64, campaign_id: i64) -> QueryResult<Option<Client>> {
    campaign_clients::table
        .inner_join(clients::table.on(clients::workspace_id.eq(campaign_clients::workspace_id).and(clients::id.eq(campaign_clients::client_id))))
        .filter(campaign_clients::workspace_id.eq(ws))
        .filter(campaign_clients::campaign_id.eq(campaign_id))
        .order(campaign_clients::client_id)
        .select(Client::as_select())
        .first(conn)
        .optional()
}
