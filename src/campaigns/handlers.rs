//! Campaign pages (issue 12 part 1): the list, the new-campaign form, the campaign page with
//! its lifecycle buttons, audience card and batches, and `start|pause|complete`.
//!
//! Decisions (see also the module notes in `campaigns`): agents have no campaign pages (403,
//! `CampaignScope::of`); every route answers 404 for another workspace's campaign and, for a
//! manager, for a campaign with a department that is not theirs. Completing a campaign also
//! cancels what is left of it in the same transaction: its scheduled or sending batches and
//! their queued recipients. The dispatcher sees the status and stops on its own.
//!
//! The handlers only read the request, call the model inside `state.db` and render: the
//! reads are `campaigns::query`, the changes `campaigns::changes` and
//! `campaigns::lifecycle`, the form's check `campaigns::campaign_form`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use serde::Deserialize;

use crate::audit::Action;
use crate::authz::Role;
use crate::campaigns::attached::OptOuts;
use crate::campaigns::campaign_form::{CampaignForm, validate};
use crate::campaigns::model::transaction;
use crate::campaigns::query::{self, ListRow, Overview};
use crate::campaigns::{BatchChannel, Campaign, CampaignScope, CampaignStatus, Transition, changes, lifecycle};
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

pub async fn list_campaigns(ctx: Ctx, state: Data<AppState>, Query(q): Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let page = forms::page_number(q.page);
    let (rows, more) = state.db(move |conn| Ok(query::list(conn, &scope, page, PER_PAGE)?)).await?;
    let page = IndexPage {
        layout: ctx.layout("Campaigns", "campaigns"),
        rows,
        prev_href: if page > 1 { page_href(page - 1) } else { String::new() },
        next_href: if more { page_href(page + 1) } else { String::new() },
    };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
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

async fn new_page(ctx: &Ctx, state: &AppState, scope: CampaignScope, form: CampaignForm, errors: FormErrors, status: StatusCode) -> Result<HttpResponse, AppError> {
    let (departments, senders) = state.db(move |conn| Ok(query::form_choices(conn, &scope)?)).await?;
    let page = NewPage { layout: ctx.layout("New campaign", "campaigns"), editing: None, form, errors, departments, senders, department_required: scope.role != Role::Admin };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn new_campaign_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    new_page(&ctx, &state, scope, CampaignForm { channels: vec!["whatsapp".into()], ..Default::default() }, FormErrors::default(), StatusCode::OK).await
}

pub async fn create_campaign(ctx: Ctx, state: Data<AppState>, OnceForm(form, once): OnceForm<CampaignForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let entry = ctx.audit(Action::CampaignsCreated, "campaigns", "");
    let f = form.clone();
    let created = state.db(move |conn| {
        transaction(conn, |tx| {
            let checked = match validate(tx, &scope, &f)? {
                Ok(c) => c,
                Err(errors) => return Ok(Err(errors)),
            };
            if let Claim::Repeat(first) = once.claim(tx, scope.workspace_id, scope.user_id)? {
                return Ok(Ok(Err(first)));
            }
            let id = changes::create(tx, &scope, &checked, entry)?;
            once.done(tx, scope.workspace_id, scope.user_id, &format!("/campaigns/{id}"))?;
            Ok(Ok(Ok(id)))
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
    let Overview { campaign, departments, attached, opt_outs, batches, awaiting, held } = state.db(move |conn| query::overview(conn, &scope, id)).await?;
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

/// `POST /campaigns/{id}/start|pause|complete`: 409 with the reason when the lifecycle does
/// not allow it (`lifecycle::transition`).
async fn transition(ctx: Ctx, state: Data<AppState>, id: i64, t: Transition, back: &str) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let entry = ctx.audit(lifecycle::action(t), "campaigns", id);
    let done = state.db(move |conn| transaction(conn, |tx| lifecycle::transition(tx, &scope, id, t, entry))).await?;
    let message = match (done.status, done.batches_cancelled, done.recipients_cancelled, done.held_sent) {
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

pub async fn start_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<BackForm>) -> Result<HttpResponse, AppError> {
    transition(ctx, state, id.into_inner(), Transition::Start, &form.back).await
}

pub async fn pause_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<BackForm>) -> Result<HttpResponse, AppError> {
    transition(ctx, state, id.into_inner(), Transition::Pause, &form.back).await
}

pub async fn complete_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<BackForm>) -> Result<HttpResponse, AppError> {
    transition(ctx, state, id.into_inner(), Transition::Complete, &form.back).await
}
