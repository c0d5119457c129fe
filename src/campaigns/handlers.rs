//! Campaign pages (issue 12 part 1): the list, the new-campaign form, the campaign page with
//! its lifecycle buttons, audience card and batches, and `start|pause|complete`.
//!
//! Decisions (see also the module notes in `campaigns`): agents have no campaign pages (403,
//! `CampaignScope::of`); every route answers 404 for another workspace's campaign and, for a
//! manager, for a campaign with a department that is not theirs. Completing a campaign also
//! cancels what is left of it in the same transaction: its scheduled or sending batches and
//! their queued recipients. The dispatcher sees the status and stops on its own.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::campaigns::audience::{self, OptOuts};
use crate::campaigns::{BatchChannel, Campaign, CampaignScope, CampaignStatus, Transition};
use crate::db;
use crate::db::schema::{campaign_batches, campaign_clients, campaign_departments, campaigns, departments};
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm, OnceForm, Query};
use crate::web::numbers::{filters, thousands};
use crate::web::once::Claim;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

pub const PER_PAGE: i64 = 25;

/// The pill class of a campaign status.
pub fn status_pill(status: &CampaignStatus) -> &'static str {
    match status {
        CampaignStatus::Active => "ok",
        CampaignStatus::Paused => "warm",
        CampaignStatus::Draft => "",
        CampaignStatus::Completed => "inactive",
    }
}

/// A channel in words.
pub fn channel_label(channel: &str) -> &'static str {
    match channel {
        "whatsapp" => "WhatsApp",
        "sms" => "SMS",
        "email" => "Email",
        _ => "?",
    }
}

pub struct ListRow {
    pub campaign: Campaign,
    pub clients: i64,
    pub batches: i64,
}

#[derive(Template)]
#[template(path = "campaigns/index.html", blocks = ["content"])]
struct IndexPage {
    layout: Layout,
    rows: Vec<ListRow>,
    prev_href: String,
    next_href: String,
}
crate::pages!(IndexPage);

#[derive(Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    page: Option<i64>,
}

fn page_href(page: i64) -> String {
    if page > 1 { format!("/campaigns?page={page}") } else { "/campaigns".into() }
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

pub async fn list_campaigns(ctx: Ctx, state: Data<AppState>, Query(q): Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let page = forms::page_number(q.page);
    let (rows, more) = db::run(&state.pool, move |conn| {
        let mut found: Vec<Campaign> = scope
            .campaigns()
            .order((campaigns::created_at.desc(), campaigns::id.desc()))
            .limit(PER_PAGE + 1)
            .offset((page - 1) * PER_PAGE)
            .select(Campaign::as_select())
            .load(conn)?;
        let more = found.len() as i64 > PER_PAGE;
        found.truncate(PER_PAGE as usize);
        let ids: Vec<i64> = found.iter().map(|c| c.id).collect();
        let clients = counts_by_campaign(conn, "campaign_clients", scope.workspace_id, &ids)?;
        let batches = counts_by_campaign(conn, "campaign_batches", scope.workspace_id, &ids)?;
        let of = |list: &[(i64, i64)], id: i64| list.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n);
        let rows = found.into_iter().map(|c| ListRow { clients: of(&clients, c.id), batches: of(&batches, c.id), campaign: c }).collect::<Vec<_>>();
        Ok((rows, more))
    })
    .await?;
    let page = IndexPage {
        layout: ctx.layout("Campaigns", "campaigns"),
        rows,
        prev_href: if page > 1 { page_href(page - 1) } else { String::new() },
        next_href: if more { page_href(page + 1) } else { String::new() },
    };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

#[derive(Clone, Default, Deserialize)]
pub struct CampaignForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub department_ids: Vec<String>,
    #[serde(default)]
    pub whatsapp_from: String,
}

#[derive(Template)]
#[template(path = "campaigns/new.html", blocks = ["content"])]
pub(crate) struct NewPage {
    pub layout: Layout,
    /// `None` for a new campaign; the campaign's id when editing a draft.
    pub editing: Option<i64>,
    pub form: CampaignForm,
    pub errors: FormErrors,
    /// The departments this user may choose: all for admins, their own for managers.
    pub departments: Vec<(i64, String)>,
    pub senders: Vec<String>,
    pub department_required: bool,
}
crate::pages!(NewPage);

impl NewPage {
    fn action(&self) -> String {
        self.editing.map_or_else(|| "/campaigns".to_string(), |id| format!("/campaigns/{id}"))
    }
    fn back_href(&self) -> String {
        self.editing.map_or_else(|| "/campaigns".to_string(), |id| format!("/campaigns/{id}"))
    }
    fn channel_checked(&self, channel: &str) -> bool {
        self.form.channels.iter().any(|c| c == channel)
    }
    fn department_checked(&self, id: &i64) -> bool {
        self.form.department_ids.iter().any(|d| d.trim() == id.to_string())
    }
}

/// (department id, name) pairs and WhatsApp sender numbers.
type Choices = (Vec<(i64, String)>, Vec<String>);

/// What the form may offer this user: departments and the workspace's WhatsApp senders.
pub(crate) fn form_choices(conn: &mut PgConnection, scope: &CampaignScope) -> QueryResult<Choices> {
    let mut query = departments::table.filter(departments::workspace_id.eq(scope.workspace_id)).into_boxed();
    if scope.role != Role::Admin {
        let mine = crate::users::model::department_ids_of(conn, scope.workspace_id, scope.user_id)?;
        query = query.filter(departments::id.eq_any(mine));
    }
    let departments = query.order(departments::name).select((departments::id, departments::name)).load(conn)?;
    let senders = crate::messaging::account::stored(conn, scope.workspace_id)?.map(|s| s.whatsapp_from).unwrap_or_default();
    Ok((departments, senders))
}

async fn new_page(ctx: &Ctx, state: &AppState, scope: CampaignScope, form: CampaignForm, errors: FormErrors, status: StatusCode) -> Result<HttpResponse, AppError> {
    let (departments, senders) = db::run(&state.pool, move |conn| Ok(form_choices(conn, &scope)?)).await?;
    let page = NewPage { layout: ctx.layout("New campaign", "campaigns"), editing: None, form, errors, departments, senders, department_required: scope.role != Role::Admin };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn new_campaign_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    new_page(&ctx, &state, scope, CampaignForm { channels: vec!["whatsapp".into()], ..Default::default() }, FormErrors::default(), StatusCode::OK).await
}

/// A checked campaign, ready to insert.
pub(crate) struct NewCampaign {
    pub name: String,
    pub channels: Vec<String>,
    pub departments: Vec<i64>,
    pub whatsapp_from: Option<String>,
}

/// Every field checked before anything is written; errors by field.
pub(crate) fn validate(conn: &mut PgConnection, scope: &CampaignScope, form: &CampaignForm) -> QueryResult<Result<NewCampaign, FormErrors>> {
    let mut errors = FormErrors::default();
    let name = errors.take("name", forms::required_text(&form.name, "Name", 200));
    let mut channels: Vec<String> = Vec::new();
    for c in &form.channels {
        match BatchChannel::parse(c.trim()) {
            Some(ch) if !channels.iter().any(|x| x == ch.as_str()) => channels.push(ch.as_str().to_string()),
            Some(_) => {}
            None => errors.add("channels", "Choose channels from the list: WhatsApp, SMS or email."),
        }
    }
    if channels.is_empty() {
        errors.add("channels", "Choose at least one channel.");
    }
    // Keep the order of the list (whatsapp, sms, email).
    channels.sort_by_key(|c| BatchChannel::ALL.iter().position(|x| x.as_str() == c));
    let ids: Result<Vec<i64>, _> = form.department_ids.iter().map(|d| d.trim()).filter(|d| !d.is_empty()).map(str::parse::<i64>).collect();
    let departments = match ids {
        Err(_) => {
            errors.add("department_ids", "Choose departments from the list.");
            Vec::new()
        }
        Ok(ids) => match crate::departments::check_ids(conn, scope.workspace_id, &ids)? {
            Err(e) => {
                errors.add("department_ids", e);
                Vec::new()
            }
            Ok(ids) => ids,
        },
    };
    if scope.role != Role::Admin && errors.get("department_ids").is_none() {
        let mine = crate::users::model::department_ids_of(conn, scope.workspace_id, scope.user_id)?;
        if departments.is_empty() {
            errors.add("department_ids", "Choose at least one of your departments.");
        } else if departments.iter().any(|d| !mine.contains(d)) {
            errors.add("department_ids", "Choose only your own departments.");
        }
    }
    let whatsapp_from = if channels.iter().any(|c| c == "whatsapp") {
        let senders = crate::messaging::account::stored(conn, scope.workspace_id)?.map(|s| s.whatsapp_from).unwrap_or_default();
        let chosen = form.whatsapp_from.trim();
        if senders.is_empty() {
            errors.add("whatsapp_from", "No WhatsApp sender is set up: an admin adds a WhatsApp number in Settings → Twilio.");
            None
        } else if chosen.is_empty() {
            errors.add("whatsapp_from", "Choose the WhatsApp number to send from.");
            None
        } else if !senders.iter().any(|s| s == chosen) {
            errors.add("whatsapp_from", "Choose one of this workspace’s WhatsApp numbers.");
            None
        } else {
            Some(chosen.to_string())
        }
    } else {
        None
    };
    Ok(match name {
        Some(name) if errors.is_empty() => Ok(NewCampaign { name, channels, departments, whatsapp_from }),
        _ => Err(errors),
    })
}

pub async fn create_campaign(ctx: Ctx, state: Data<AppState>, OnceForm(form, once): OnceForm<CampaignForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let entry = ctx.audit(Action::CampaignsCreated, "campaigns", "");
    let f = form.clone();
    let created = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let checked = match validate(tx, &scope, &f)? {
                Ok(c) => c,
                Err(errors) => return Ok(Err(errors)),
            };
            if let Claim::Repeat(first) = once.claim(tx, scope.workspace_id, scope.user_id)? {
                return Ok(Ok(Err(first)));
            }
            let id: i64 = diesel::insert_into(campaigns::table)
                .values((
                    campaigns::workspace_id.eq(scope.workspace_id),
                    campaigns::name.eq(&checked.name),
                    campaigns::channels.eq(&checked.channels),
                    campaigns::whatsapp_from.eq(&checked.whatsapp_from),
                    campaigns::created_by.eq(scope.user_id),
                ))
                .returning(campaigns::id)
                .get_result(tx)?;
            let rows: Vec<_> = checked
                .departments
                .iter()
                .map(|d| (campaign_departments::workspace_id.eq(scope.workspace_id), campaign_departments::campaign_id.eq(id), campaign_departments::department_id.eq(*d)))
                .collect();
            diesel::insert_into(campaign_departments::table).values(rows).execute(tx)?;
            let entry = audit::Entry { entity_id: Some(id.to_string()), ..entry }.after(json!({
                "name": checked.name, "channels": checked.channels, "department_ids": checked.departments, "whatsapp_from": checked.whatsapp_from,
            }));
            audit::record(tx, &entry)?;
            once.done(tx, scope.workspace_id, scope.user_id, &format!("/campaigns/{id}"))?;
            Ok::<_, AppError>(Ok(Ok(id)))
        })
    })
    .await?;
    match created {
        // A repeat of a form already sent: where the first one went.
        Ok(Err(first)) => Ok(see_other(first.as_deref().unwrap_or("/campaigns"))),
        Ok(Ok(id)) => {
            flash::success(&ctx.session, "Campaign created. Attach clients, then start it.");
            Ok(see_other(&format!("/campaigns/{id}")))
        }
        Err(errors) => new_page(&ctx, &state, scope, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

pub struct BatchRow {
    pub id: i64,
    pub channel: String,
    pub mode: String,
    pub status: String,
    pub send_at: String,
    /// The status in words, with the campaign's (see `recipients::batch_state`).
    pub state: String,
}

impl BatchRow {
    pub fn href(&self) -> String {
        let segment = BatchChannel::parse(&self.channel).map_or("", |c| c.segment());
        format!("/campaigns/{{}}/{segment}/{}/recipients", self.id)
    }
}

#[derive(Template)]
#[template(path = "campaigns/show.html", blocks = ["content"])]
struct ShowPage {
    layout: Layout,
    campaign: Campaign,
    departments: Vec<String>,
    attached: i64,
    opt_outs: OptOuts,
    batches: Vec<BatchRow>,
    /// Flow answers held while paused (sent on resume).
    held: i64,
}
crate::pages!(ShowPage);

impl ShowPage {
    fn can(&self, t: &str) -> bool {
        Transition::parse(t).is_some_and(|t| self.campaign.status.after(t).is_ok())
    }
    fn batch_href(&self, b: &BatchRow) -> String {
        b.href().replacen("{}", &self.campaign.id.to_string(), 1)
    }
    fn attached_text(&self) -> String {
        thousands(self.attached)
    }
    fn opt_out_lines(&self) -> Vec<String> {
        self.opt_outs.lines(&self.campaign)
    }
    fn action_href(&self, t: &str) -> String {
        format!("/campaigns/{}/{t}", self.campaign.id)
    }
    fn start_label(&self) -> &'static str {
        if self.campaign.status == CampaignStatus::Paused { "Resume" } else { "Start" }
    }
    fn open(&self) -> bool {
        self.campaign.status != CampaignStatus::Completed
    }
    fn draft(&self) -> bool {
        self.campaign.status == CampaignStatus::Draft
    }
    fn held_text(&self) -> String {
        match self.held {
            1 => "1 flow answer came in while the campaign was paused: its next step is sent when you resume.".into(),
            n => format!("{} flow answers came in while the campaign was paused: their next steps are sent when you resume.", thousands(n)),
        }
    }
    /// The channels a new batch may be made for, as (path segment, label).
    fn new_batch_links(&self) -> Vec<(&'static str, &'static str)> {
        let label = |c: BatchChannel| match c {
            BatchChannel::WhatsApp => "New WhatsApp batch",
            BatchChannel::Sms => "New SMS batch",
            BatchChannel::Email => "New email batch",
        };
        self.campaign.channels.iter().filter_map(|c| BatchChannel::parse(c)).map(|c| (c.segment(), label(c))).collect()
    }
}

pub async fn show_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let zone = ctx.zone();
    let (campaign, departments, attached, opt_outs, batches, awaiting, held) = db::run(&state.pool, move |conn| {
        let campaign = scope.find(conn, id)?;
        let w = scope.workspace_id;
        let departments: Vec<String> = campaign_departments::table
            .inner_join(departments::table.on(departments::workspace_id.eq(campaign_departments::workspace_id).and(departments::id.eq(campaign_departments::department_id))))
            .filter(campaign_departments::workspace_id.eq(w))
            .filter(campaign_departments::campaign_id.eq(id))
            .order(departments::name)
            .select(departments::name)
            .load(conn)?;
        let attached: i64 = campaign_clients::table
            .filter(campaign_clients::workspace_id.eq(w))
            .filter(campaign_clients::campaign_id.eq(id))
            .count()
            .get_result(conn)?;
        let opt_outs = audience::attached_opt_outs(conn, w, id)?;
        let batches = campaign_batches::table
            .filter(campaign_batches::workspace_id.eq(w))
            .filter(campaign_batches::campaign_id.eq(id))
            .order((campaign_batches::created_at.desc(), campaign_batches::id.desc()))
            .limit(200)
            .select((campaign_batches::id, campaign_batches::channel, campaign_batches::mode, campaign_batches::status, campaign_batches::send_at))
            .load::<(i64, String, String, String, chrono::DateTime<chrono::Utc>)>(conn)?;
        let ids: Vec<i64> = batches.iter().map(|b| b.0).collect();
        let awaiting = awaiting_by_batch(conn, w, &ids)?;
        let held = if campaign.status == CampaignStatus::Paused { crate::campaigns::flow_replies::held_count(conn, w, id)? } else { 0 };
        Ok((campaign, departments, attached, opt_outs, batches, awaiting, held))
    })
    .await?;
    let batches = batches
        .into_iter()
        .map(|(id, channel, mode, status, send_at)| {
            let state = crate::campaigns::recipients::batch_state(campaign.status, &status, awaiting.get(&id).copied().unwrap_or(0));
            BatchRow { id, channel, mode, status, send_at: zone.time(send_at), state }
        })
        .collect();
    let page = ShowPage { layout: ctx.layout(campaign.name.clone(), "campaigns"), campaign, departments, attached, opt_outs, batches, held };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

/// Recipients still queued or sending per batch, from the batch counters.
fn awaiting_by_batch(conn: &mut PgConnection, workspace_id: i64, batch_ids: &[i64]) -> QueryResult<std::collections::HashMap<i64, i64>> {
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

/// `POST /campaigns/{id}/start|pause|complete`: 409 with the reason when the lifecycle does
/// not allow it. The row is locked, so two clicks at once do one transition.
/// Where a lifecycle button comes back to: one of this campaign's own pages (its
/// recipients pages carry Pause / Resume), else the campaign page.
#[derive(Debug, Default, Deserialize)]
pub struct BackForm {
    #[serde(default)]
    back: String,
}

fn back_to(id: i64, back: &str) -> String {
    let campaign = format!("/campaigns/{id}");
    match forms::local_path(back) {
        Some(path) if path.starts_with(&format!("{campaign}/")) => path,
        _ => campaign,
    }
}

async fn transition(ctx: Ctx, state: Data<AppState>, id: i64, t: Transition, back: &str) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let action = match t {
        Transition::Start => Action::CampaignsStarted,
        Transition::Pause => Action::CampaignsPaused,
        Transition::Complete => Action::CampaignsCompleted,
    };
    let entry = ctx.audit(action, "campaigns", id);
    let cancelled = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let campaign = scope.find(tx, id)?;
            let w = scope.workspace_id;
            let current: String = campaigns::table
                .filter(campaigns::workspace_id.eq(w))
                .filter(campaigns::id.eq(id))
                .select(campaigns::status)
                .for_update()
                .first(tx)?;
            let current = CampaignStatus::parse(&current).unwrap_or(campaign.status);
            let next = current.after(t).map_err(|reason| AppError::Conflict(reason.to_string()))?;
            let now = diesel::dsl::now;
            let target = campaigns::table.filter(campaigns::workspace_id.eq(w)).filter(campaigns::id.eq(id));
            match next {
                CampaignStatus::Active => diesel::update(target)
                    .set((campaigns::status.eq(next.as_str()), campaigns::updated_at.eq(now), campaigns::started_at.eq(sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>("coalesce(started_at, now())"))))
                    .execute(tx)?,
                CampaignStatus::Completed => diesel::update(target)
                    .set((campaigns::status.eq(next.as_str()), campaigns::updated_at.eq(now), campaigns::completed_at.eq(now)))
                    .execute(tx)?,
                _ => diesel::update(target).set((campaigns::status.eq(next.as_str()), campaigns::updated_at.eq(now))).execute(tx)?,
            };
            let (batches, recipients) = if next == CampaignStatus::Completed { cancel_rest(tx, w, id)? } else { (0, 0) };
            let mut held_sent = 0;
            if next == CampaignStatus::Active {
                // Resuming: the batches with queued recipients go on where they stopped, and
                // the flow taps held while paused get their next steps (issue 19 item 8).
                crate::campaigns::dispatch::resume(tx, w, id)?;
                held_sent = crate::campaigns::flow_replies::send_held(tx, w, id, &entry.actor)?;
            }
            if next == CampaignStatus::Completed {
                crate::campaigns::flow_replies::drop_held(tx, w, id)?;
            }
            let mut after = json!({ "status": next.as_str() });
            if held_sent > 0 {
                after["held_steps_sent"] = json!(held_sent);
            }
            if next == CampaignStatus::Completed {
                after["batches_cancelled"] = json!(batches);
                after["recipients_cancelled"] = json!(recipients);
            }
            audit::record(tx, &entry.before(json!({ "status": current.as_str(), "name": campaign.name })).after(after))?;
            Ok::<_, AppError>((next, batches, recipients, held_sent))
        })
    })
    .await?;
    let message = match cancelled {
        (CampaignStatus::Active, _, _, 0) => "Campaign started.".to_string(),
        (CampaignStatus::Active, _, _, 1) => "Campaign started: the flow step answered while it was paused is sent.".to_string(),
        (CampaignStatus::Active, _, _, n) => format!("Campaign started: the {n} flow steps answered while it was paused are sent."),
        (CampaignStatus::Paused, ..) => "Campaign paused: no new messages go out until you resume it.".to_string(),
        (_, 0, _, _) => "Campaign completed.".to_string(),
        (_, b, r, _) => format!("Campaign completed: {b} batch{} and {} queued message{} cancelled.", if b == 1 { "" } else { "es" }, thousands(r), if r == 1 { "" } else { "s" }),
    };
    flash::success(&ctx.session, message);
    Ok(see_other(&back_to(id, back)))
}

/// Cancels what is left of a campaign (`dispatch::cancel_rest`: queued recipients, the
/// messages written for them, the unfinished batches). Returns (batches, recipients).
fn cancel_rest(tx: &mut PgConnection, w: i64, id: i64) -> QueryResult<(i64, i64)> {
    let batches: i64 = campaign_batches::table
        .filter(campaign_batches::workspace_id.eq(w))
        .filter(campaign_batches::campaign_id.eq(id))
        .filter(campaign_batches::status.eq_any(["scheduled", "sending"]))
        .count()
        .get_result(tx)?;
    let recipients = crate::campaigns::dispatch::cancel_rest(tx, w, id)?;
    Ok((batches, recipients as i64))
}

pub async fn start_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<BackForm>) -> Result<HttpResponse, AppError> {
    transition(ctx, state, id.into_inner(), Transition::Start, &form.back).await
}

pub async fn pause_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<BackForm>) -> Result<HttpResponse, AppError> {
    transition(ctx, state, id.into_inner(), Transition::Pause, &form.back).await
}

pub async fn complete_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<BackForm>) -> Result<HttpResponse, AppError> {
    transition(ctx, state, id.into_inner(), Transition::Complete, &form.back).await
}
