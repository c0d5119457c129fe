//! The clients attached to a campaign (issue 12 part 2, issue 19 item 16): attaching a
//! target (every client in scope, the client list's filter, or ticked clients) in one
//! set-based insert, the opt-out counts, the audience page's rows and taking a client out.
//! See the notes of `campaigns::audience` for the rules.

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::campaigns::{Campaign, CampaignScope, CampaignStatus};
use crate::clients::query::ClientFilter;
use crate::db::schema::{campaign_clients, clients};
use crate::error::AppError;
use crate::web::numbers::thousands;

/// How many clients (of a set) opted out of each channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct OptOuts {
    pub whatsapp: i64,
    pub sms: i64,
    pub email: i64,
}

impl OptOuts {
    /// "40 have opted out of WhatsApp and will be skipped", for the campaign's channels.
    pub fn lines(&self, campaign: &Campaign) -> Vec<String> {
        campaign
            .channels
            .iter()
            .filter_map(|c| {
                let (n, label) = match c.as_str() {
                    "whatsapp" => (self.whatsapp, "WhatsApp"),
                    "sms" => (self.sms, "SMS"),
                    "email" => (self.email, "email"),
                    _ => return None,
                };
                Some(match n {
                    0 => format!("None has opted out of {label}"),
                    1 => format!("1 has opted out of {label} and will be skipped"),
                    n => format!("{} have opted out of {label} and will be skipped", thousands(n)),
                })
            })
            .collect()
    }
}

const OPT_OUT_COUNTS: &str = "count(*), \
     count(*) FILTER (WHERE clients.opt_out_whatsapp_at IS NOT NULL), \
     count(*) FILTER (WHERE clients.opt_out_sms_at IS NOT NULL), \
     count(*) FILTER (WHERE clients.opt_out_email_at IS NOT NULL)";

/// The opted-out counts of a campaign's attached clients, per channel.
pub fn attached_opt_outs(conn: &mut PgConnection, w: i64, campaign_id: i64) -> QueryResult<OptOuts> {
    let (_, whatsapp, sms, email): (i64, i64, i64, i64) = clients::table
        .filter(clients::workspace_id.eq(w))
        .filter(
            sql::<diesel::sql_types::Bool>(
                "EXISTS (SELECT 1 FROM campaign_clients cc WHERE cc.workspace_id = clients.workspace_id AND cc.client_id = clients.id AND cc.campaign_id = ",
            )
            .bind::<BigInt, _>(campaign_id)
            .sql(")"),
        )
        .select(sql::<(BigInt, BigInt, BigInt, BigInt)>(OPT_OUT_COUNTS))
        .get_result(conn)?;
    Ok(OptOuts { whatsapp, sms, email })
}

/// Which clients to attach.
#[derive(Clone, Debug)]
pub enum Target {
    All,
    Filter(ClientFilter),
    Selected(Vec<i64>),
}

impl Target {
    pub fn mode(&self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Filter(_) => "filter",
            Target::Selected(_) => "selected",
        }
    }

    /// The clients of the target this user may see.
    fn query(&self, scope: &CampaignScope) -> clients::BoxedQuery<'static, Pg> {
        let clients_scope = scope.clients();
        match self {
            Target::All => clients_scope.clients(),
            Target::Filter(filter) => filter.query(&clients_scope),
            Target::Selected(ids) => clients_scope.clients().filter(clients::id.eq_any(ids.clone())),
        }
    }
}

/// What attaching did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// Clients of the target in scope.
    pub matched: i64,
    /// Newly attached.
    pub attached: i64,
    /// Ids given (selected) that are not clients this user may see.
    pub not_yours: i64,
    pub opt_outs: OptOuts,
}

impl Outcome {
    /// "1,200 attached, 3 already there; 40 have opted out of WhatsApp and will be skipped."
    pub fn sentence(&self, campaign: &Campaign) -> String {
        let mut out = format!("{} attached, {} already there", thousands(self.attached), thousands(self.matched - self.attached));
        if self.not_yours > 0 {
            out.push_str(&format!(", {} not yours (ignored)", thousands(self.not_yours)));
        }
        let opted: Vec<String> = self.opt_outs.lines(campaign).into_iter().filter(|l| !l.starts_with("None")).collect();
        if !opted.is_empty() {
            out.push_str("; ");
            out.push_str(&opted.join("; "));
        }
        out.push('.');
        out
    }
}

/// Attaches the target's clients in one set-based insert; the caller's transaction.
pub fn attach(tx: &mut PgConnection, scope: &CampaignScope, campaign: &Campaign, target: &Target) -> Result<Outcome, AppError> {
    // Read under a share lock: completing (which locks the row for update) waits for this
    // attach to commit, or this attach sees the campaign completed.
    let status: String = crate::db::schema::campaigns::table
        .filter(crate::db::schema::campaigns::workspace_id.eq(campaign.workspace_id))
        .filter(crate::db::schema::campaigns::id.eq(campaign.id))
        .select(crate::db::schema::campaigns::status)
        .for_share()
        .first(tx)?;
    if status == CampaignStatus::Completed.as_str() {
        return Err(AppError::Conflict("The campaign is completed, so no clients can be attached to it.".into()));
    }
    let (matched, whatsapp, sms, email): (i64, i64, i64, i64) =
        target.query(scope).select(sql::<(BigInt, BigInt, BigInt, BigInt)>(OPT_OUT_COUNTS)).get_result(tx)?;
    let ids = target.query(scope).select((scope.workspace_id.into_sql::<BigInt>(), campaign.id.into_sql::<BigInt>(), clients::id));
    let attached = diesel::insert_into(campaign_clients::table)
        .values(ids)
        .into_columns((campaign_clients::workspace_id, campaign_clients::campaign_id, campaign_clients::client_id))
        .on_conflict_do_nothing()
        .execute(tx)? as i64;
    let not_yours = match target {
        Target::Selected(ids) => {
            let mut given = ids.clone();
            given.sort_unstable();
            given.dedup();
            given.len() as i64 - matched
        }
        _ => 0,
    };
    Ok(Outcome { matched, attached, not_yours, opt_outs: OptOuts { whatsapp, sms, email } })
}

/// Attaches `target` (checked after the campaign is found, so another's campaign is 404
/// first) to campaign `id`, audited; returns the campaign and what attaching did.
pub fn attach_audited(tx: &mut PgConnection, scope: &CampaignScope, id: i64, target: Result<Target, AppError>, entry: Entry) -> Result<(Campaign, Outcome), AppError> {
    let campaign = scope.find(tx, id)?;
    let target = target?;
    let outcome = attach(tx, scope, &campaign, &target)?;
    audit::record(
        tx,
        &entry.after(json!({
            "name": campaign.name,
            "mode": target.mode(),
            "matched": outcome.matched,
            "attached": outcome.attached,
            "already": outcome.matched - outcome.attached,
            "not_yours": outcome.not_yours,
        })),
    )?;
    Ok((campaign, outcome))
}

/// The filter in words: "Clients matching “smi”, status hot, tag vip".
fn describe(conn: &mut PgConnection, w: i64, filter: &ClientFilter) -> QueryResult<String> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(q) = &filter.q {
        parts.push(format!("matching “{q}”"));
    }
    if let Some(s) = filter.status {
        parts.push(format!("status {}", s.as_str()));
    }
    if let Some(d) = filter.department {
        let name = crate::departments::find(conn, w, d)?.map_or_else(|| "(unknown)".to_string(), |d| d.name);
        parts.push(format!("department {name}"));
    }
    if let Some(t) = filter.tag {
        let name = crate::clients::tags::find_name(conn, w, t)?.unwrap_or_else(|| "(unknown)".into());
        parts.push(format!("tag {name}"));
    }
    match filter.assignee {
        Some(None) => parts.push("unassigned".into()),
        Some(Some(u)) => {
            let name = crate::users::model::find(conn, w, u)?.map_or_else(|| "(unknown)".to_string(), |u| u.name);
            parts.push(format!("assigned to {name}"));
        }
        None => {}
    }
    if let Some(i) = filter.import {
        parts.push(format!("created by import #{i}"));
    }
    Ok(if parts.is_empty() { "Every client you can see".into() } else { format!("Clients {}", parts.join(", ")) })
}

/// What the Confirm page shows before attaching a filter (or every client).
pub struct Preview {
    pub campaign: Campaign,
    pub mode: &'static str,
    /// The filter in words.
    pub words: String,
    pub count: crate::web::numbers::Count,
    pub opt_outs: OptOuts,
}

/// The Confirm page's figures for `target` (checked after the campaign is found: another's
/// is 404 whatever the filter says); ticked clients are attached from the client list.
pub fn preview(conn: &mut PgConnection, scope: &CampaignScope, id: i64, target: Result<Target, AppError>) -> Result<Preview, AppError> {
    let campaign = scope.find(conn, id)?;
    if campaign.status == CampaignStatus::Completed {
        return Err(AppError::Conflict("The campaign is completed, so no clients can be attached to it.".into()));
    }
    let target = match target? {
        Target::Selected(_) => return Err(AppError::Validation("Tick clients on the client list, then choose “Add to campaign”.".into())),
        t => t,
    };
    let filter = match &target {
        Target::Filter(f) => f.clone(),
        _ => ClientFilter::default(),
    };
    let words = describe(conn, scope.workspace_id, &filter)?;
    let clients_scope = scope.clients();
    let count = filter.tab_counts(conn, &clients_scope)?.of(filter.status);
    let (_, whatsapp, sms, email): (i64, i64, i64, i64) =
        target.query(scope).select(sql::<(BigInt, BigInt, BigInt, BigInt)>(OPT_OUT_COUNTS)).get_result(conn)?;
    Ok(Preview { campaign, mode: target.mode(), words, count, opt_outs: OptOuts { whatsapp, sms, email } })
}

/// The audience page's rows a page (issue 19 item 16).
pub const AUDIENCE_PER_PAGE: i64 = 50;

/// An attached client on the audience page.
#[derive(Clone, Debug, QueryableByName)]
pub struct AudienceRow {
    #[diesel(sql_type = BigInt)]
    pub client_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub phone: Option<String>,
    /// A batch of the campaign already sent (or is sending) this client a message.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub sent: bool,
}

/// A recipient row of the campaign that a message went to, or is going to.
const SENT_TO_CLIENT: &str = "EXISTS (SELECT 1 FROM campaign_recipients r JOIN campaign_batches b ON b.workspace_id = r.workspace_id AND b.id = r.batch_id \
     WHERE r.workspace_id = cc.workspace_id AND b.campaign_id = cc.campaign_id AND r.client_id = cc.client_id \
       AND (r.message_id IS NOT NULL OR r.status NOT IN ('queued', 'skipped', 'cancelled')))";

/// One page of the campaign's attached clients, by name, matching `q` in the name (case
/// folded) or the phone's digits; and whether there is a next page.
pub fn list_attached(conn: &mut PgConnection, w: i64, campaign_id: i64, q: &str, page: i64) -> QueryResult<(Vec<AudienceRow>, bool)> {
    let q = q.trim();
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let mut rows: Vec<AudienceRow> = diesel::sql_query(format!(
        "SELECT c.id AS client_id, c.name, c.phone, {SENT_TO_CLIENT} AS sent \
         FROM campaign_clients cc JOIN clients c ON c.workspace_id = cc.workspace_id AND c.id = cc.client_id \
         WHERE cc.workspace_id = $1 AND cc.campaign_id = $2 \
           AND ($3 = '' OR strpos(lower(c.name), lower($3)) > 0 \
                OR ($4 <> '' AND strpos(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g'), $4) > 0)) \
         ORDER BY lower(c.name), c.id LIMIT $5 OFFSET $6"
    ))
    .bind::<BigInt, _>(w)
    .bind::<BigInt, _>(campaign_id)
    .bind::<diesel::sql_types::Text, _>(q)
    .bind::<diesel::sql_types::Text, _>(&digits)
    .bind::<BigInt, _>(AUDIENCE_PER_PAGE + 1)
    .bind::<BigInt, _>((page - 1) * AUDIENCE_PER_PAGE)
    .load(conn)?;
    let more = rows.len() as i64 > AUDIENCE_PER_PAGE;
    rows.truncate(AUDIENCE_PER_PAGE as usize);
    Ok((rows, more))
}

/// Takes a client out of the campaign's audience, in the caller's transaction: refused
/// (409) once the campaign is completed or a message of it went to the client; recipient
/// rows still queued for them are cancelled ("Removed from the audience."), so nothing is
/// sent. Returns (client's name, recipients cancelled).
pub fn remove(tx: &mut PgConnection, campaign: &Campaign, client_id: i64) -> Result<(String, usize), AppError> {
    let w = campaign.workspace_id;
    let status: String = crate::db::schema::campaigns::table
        .filter(crate::db::schema::campaigns::workspace_id.eq(w))
        .filter(crate::db::schema::campaigns::id.eq(campaign.id))
        .select(crate::db::schema::campaigns::status)
        .for_share()
        .first(tx)?;
    if status == CampaignStatus::Completed.as_str() {
        return Err(AppError::Conflict("The campaign is completed, so its audience stays as it was.".into()));
    }
    let attached: Option<String> = campaign_clients::table
        .inner_join(clients::table.on(clients::workspace_id.eq(campaign_clients::workspace_id).and(clients::id.eq(campaign_clients::client_id))))
        .filter(campaign_clients::workspace_id.eq(w))
        .filter(campaign_clients::campaign_id.eq(campaign.id))
        .filter(campaign_clients::client_id.eq(client_id))
        .select(clients::name)
        .for_update()
        .first(tx)
        .optional()?;
    let Some(name) = attached else { return Err(AppError::NotFound) };
    // The client's recipient rows, locked: the dispatcher takes a queued one under lock.
    #[derive(QueryableByName)]
    struct Sent {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        sent: bool,
    }
    let rows: Vec<Sent> = diesel::sql_query(
        "SELECT (r.message_id IS NOT NULL OR r.status NOT IN ('queued', 'skipped', 'cancelled')) AS sent \
         FROM campaign_recipients r JOIN campaign_batches b ON b.workspace_id = r.workspace_id AND b.id = r.batch_id \
         WHERE r.workspace_id = $1 AND b.campaign_id = $2 AND r.client_id = $3 FOR UPDATE OF r",
    )
    .bind::<BigInt, _>(w)
    .bind::<BigInt, _>(campaign.id)
    .bind::<BigInt, _>(client_id)
    .load(tx)?;
    if rows.iter().any(|r| r.sent) {
        return Err(AppError::Conflict(format!(
            "{name} was already sent a message of this campaign, so they stay in its audience (and its figures). Start a new campaign without them instead."
        )));
    }
    let cancelled = diesel::sql_query(
        "UPDATE campaign_recipients r SET status = 'cancelled', error_message = 'Removed from the audience.', updated_at = now() \
         FROM campaign_batches b WHERE b.workspace_id = r.workspace_id AND b.id = r.batch_id \
           AND r.workspace_id = $1 AND b.campaign_id = $2 AND r.client_id = $3 AND r.status = 'queued'",
    )
    .bind::<BigInt, _>(w)
    .bind::<BigInt, _>(campaign.id)
    .bind::<BigInt, _>(client_id)
    .execute(tx)?;
    diesel::delete(
        campaign_clients::table
            .filter(campaign_clients::workspace_id.eq(w))
            .filter(campaign_clients::campaign_id.eq(campaign.id))
            .filter(campaign_clients::client_id.eq(client_id)),
    )
    .execute(tx)?;
    Ok((name, cancelled))
}

/// Takes client `client_id` out of campaign `id`'s audience ([`remove`]), audited; returns
/// (client's name, recipients cancelled).
pub fn remove_audited(tx: &mut PgConnection, scope: &CampaignScope, id: i64, client_id: i64, entry: Entry) -> Result<(String, usize), AppError> {
    let campaign = scope.find(tx, id)?;
    let (name, cancelled) = remove(tx, &campaign, client_id)?;
    audit::record(tx, &entry.after(json!({ "name": campaign.name, "client_id": client_id, "client_name": name, "recipients_cancelled": cancelled })))?;
    Ok((name, cancelled))
}
