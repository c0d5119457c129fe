//! What the campaign pages read: the list with its counts, a campaign's overview (its
//! departments, audience, batches and held flow answers) and the choices of the campaign form.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::authz::Role;
use crate::campaigns::attached::{self, OptOuts};
use crate::campaigns::{Campaign, CampaignScope, CampaignStatus};
use crate::db::schema::{campaign_batches, campaign_clients, campaign_departments, campaigns, departments};

/// A row of the campaign list.
pub struct ListRow {
    pub campaign: Campaign,
    pub clients: i64,
    pub batches: i64,
}

/// `(campaign id, count)` for the ids, from a grouped count over `table`.
fn counts_by_campaign(conn: &mut PgConnection, table: &str, w: i64, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        campaign_id: i64,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT campaign_id, count(*) AS n FROM {table} WHERE workspace_id = $1 AND campaign_id = ANY($2) GROUP BY campaign_id"
    ))
    .bind::<BigInt, _>(w)
    .bind::<diesel::sql_types::Array<BigInt>, _>(ids)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.campaign_id, r.n)).collect())
}

/// One page (`PER_PAGE` a page, newest first) of the campaigns in scope with their counts,
/// and whether there is a next page.
pub fn list(conn: &mut PgConnection, scope: &CampaignScope, page: i64, per_page: i64) -> QueryResult<(Vec<ListRow>, bool)> {
    let mut found: Vec<Campaign> = scope
        .campaigns()
        .order((campaigns::created_at.desc(), campaigns::id.desc()))
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
        .select(Campaign::as_select())
        .load(conn)?;
    let more = found.len() as i64 > per_page;
    found.truncate(per_page as usize);
    let ids: Vec<i64> = found.iter().map(|c| c.id).collect();
    let clients = counts_by_campaign(conn, "campaign_clients", scope.workspace_id, &ids)?;
    let batches = counts_by_campaign(conn, "campaign_batches", scope.workspace_id, &ids)?;
    let of = |list: &[(i64, i64)], id: i64| list.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n);
    let rows = found.into_iter().map(|c| ListRow { clients: of(&clients, c.id), batches: of(&batches, c.id), campaign: c }).collect::<Vec<_>>();
    Ok((rows, more))
}

/// (department id, name) pairs and WhatsApp sender numbers.
pub type Choices = (Vec<(i64, String)>, Vec<String>);

/// What the form may offer this user: departments and the workspace's WhatsApp senders.
pub fn form_choices(conn: &mut PgConnection, scope: &CampaignScope) -> QueryResult<Choices> {
    let mut query = departments::table.filter(departments::workspace_id.eq(scope.workspace_id)).into_boxed();
    if scope.role != Role::Admin {
        let mine = crate::users::model::department_ids_of(conn, scope.workspace_id, scope.user_id)?;
        query = query.filter(departments::id.eq_any(mine));
    }
    let departments = query.order(departments::name).select((departments::id, departments::name)).load(conn)?;
    let senders = crate::messaging::account::stored(conn, scope.workspace_id)?.map(|s| s.whatsapp_from).unwrap_or_default();
    Ok((departments, senders))
}

/// A batch as the campaign page lists it: (id, channel, mode, status, send at).
pub type BatchLine = (i64, String, String, String, DateTime<Utc>);

/// What the campaign page shows.
pub struct Overview {
    pub campaign: Campaign,
    pub departments: Vec<String>,
    pub attached: i64,
    pub opt_outs: OptOuts,
    /// The newest 200 batches.
    pub batches: Vec<BatchLine>,
    /// Recipients still queued or sending, per batch.
    pub awaiting: HashMap<i64, i64>,
    /// Flow answers held while paused (sent on resume).
    pub held: i64,
}

/// Campaign `id`'s page (404 outside `scope`).
pub fn overview(conn: &mut PgConnection, scope: &CampaignScope, id: i64) -> Result<Overview, crate::error::AppError> {
    let campaign = scope.find(conn, id)?;
    let w = scope.workspace_id;
    let departments: Vec<String> = campaign_departments::table
        .inner_join(departments::table.on(departments::workspace_id.eq(campaign_departments::workspace_id).and(departments::id.eq(campaign_departments::department_id))))
        .filter(campaign_departments::workspace_id.eq(w))
        .filter(campaign_departments::campaign_id.eq(id))
        .order(departments::name)
        .select(departments::name)
        .load(conn)?;
    let attached = attached_count(conn, w, id)?;
    let opt_outs = attached::attached_opt_outs(conn, w, id)?;
    let batches = campaign_batches::table
        .filter(campaign_batches::workspace_id.eq(w))
        .filter(campaign_batches::campaign_id.eq(id))
        .order((campaign_batches::created_at.desc(), campaign_batches::id.desc()))
        .limit(200)
        .select((campaign_batches::id, campaign_batches::channel, campaign_batches::mode, campaign_batches::status, campaign_batches::send_at))
        .load::<BatchLine>(conn)?;
    let ids: Vec<i64> = batches.iter().map(|b| b.0).collect();
    let awaiting = awaiting_by_batch(conn, w, &ids)?;
    let held = if campaign.status == CampaignStatus::Paused { crate::campaigns::flow_replies::held_count(conn, w, id)? } else { 0 };
    Ok(Overview { campaign, departments, attached, opt_outs, batches, awaiting, held })
}

/// How many clients are attached to the campaign.
pub fn attached_count(conn: &mut PgConnection, w: i64, campaign_id: i64) -> QueryResult<i64> {
    campaign_clients::table.filter(campaign_clients::workspace_id.eq(w)).filter(campaign_clients::campaign_id.eq(campaign_id)).count().get_result(conn)
}

/// Recipients still queued or sending per batch, from the batch counters.
pub fn awaiting_by_batch(conn: &mut PgConnection, workspace_id: i64, batch_ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
    #[derive(QueryableByName)]
    struct Awaiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        batch_id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows: Vec<Awaiting> = diesel::sql_query(
        "SELECT batch_id, sum(n)::bigint AS n FROM campaign_batch_counts \
         WHERE workspace_id = $1 AND batch_id = ANY($2) AND key IN ('queued', 'sending') GROUP BY batch_id",
    )
    .bind::<diesel::sql_types::BigInt, _>(workspace_id)
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(batch_ids)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.batch_id, r.n)).collect())
}

/// The campaign's department ids.
pub fn department_ids(conn: &mut PgConnection, w: i64, id: i64) -> QueryResult<Vec<i64>> {
    campaign_departments::table
        .filter(campaign_departments::workspace_id.eq(w))
        .filter(campaign_departments::campaign_id.eq(id))
        .order(campaign_departments::department_id)
        .select(campaign_departments::department_id)
        .load(conn)
}

/// The channels of the campaign's batches (those a draft's edit may not drop).
pub fn batch_channels(conn: &mut PgConnection, w: i64, id: i64) -> QueryResult<Vec<String>> {
    campaign_batches::table
        .filter(campaign_batches::workspace_id.eq(w))
        .filter(campaign_batches::campaign_id.eq(id))
        .select(campaign_batches::channel)
        .distinct()
        .load(conn)
}
