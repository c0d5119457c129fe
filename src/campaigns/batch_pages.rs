//! Batch pages (issue 12 part 3): `GET/POST /campaigns/{id}/whatsapp-messages`,
//! `…/sms-messages` and `…/emails` — one send of one message to every client attached to the
//! campaign, now or at `send_at` (a local time in the workspace's zone, typed as the client
//! page's 24-hour field) — with the WhatsApp template's live preview for the first attached
//! client and the SMS body's segment count. The batch and its recipients are
//! `campaigns::batches`; the form and its check `campaigns::batch_check`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::Action;
use crate::campaigns::batch_check::{self, BatchForm};
use crate::campaigns::batches::{self, channel_label};
use crate::campaigns::model::transaction;
use crate::campaigns::query::attached_count;
use crate::campaigns::render::variables_for;
use crate::clients::fields::FIELDS;
use crate::campaigns::{BatchChannel, Campaign, CampaignScope, flow_store};
use crate::error::AppError;
use crate::messaging::compose::{TemplateChoice, approved_templates};
use crate::messaging::fragments::{Preview, SmsSegments};
use crate::messaging::{segments, templates};
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{OnceForm, Query};
use crate::web::once::{Claim, Once};
use crate::web::render::{html_status, respond, see_other};
use crate::web::state::AppState;

/// One variable input of the form.
pub struct VarInput {
    pub key: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "campaigns/batch_new.html", blocks = ["content"])]
struct NewBatchPage {
    layout: Layout,
    campaign: Campaign,
    channel: &'static str,
    segment: &'static str,
    audience: i64,
    templates: Vec<TemplateChoice>,
    /// The workspace's flows: (id, name, problems).
    flows: Vec<(i64, String, usize)>,
    vars: Vec<VarInput>,
    form: BatchForm,
    error: Option<String>,
    segments: String,
}
crate::pages!(NewBatchPage);

impl NewBatchPage {
    fn selected_template(&self, id: &i64) -> bool {
        self.form.template_id.trim() == id.to_string()
    }
    fn selected_flow(&self, id: &i64) -> bool {
        self.form.flow_id.trim() == id.to_string()
    }
}

fn batch_channel(channel: BatchChannel) -> &'static str {
    channel.as_str()
}

async fn show_form(ctx: &Ctx, state: &AppState, id: i64, channel: BatchChannel, form: BatchForm, error: Option<String>, status: StatusCode) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(ctx)?;
    let (campaign, audience, templates, flows) = state.db(move |conn| {
        let campaign = batches::sendable(conn, &scope, id, channel)?;
        let n = attached_count(conn, scope.workspace_id, id)?;
        let (templates, flows) =
            if channel == BatchChannel::WhatsApp { (approved_templates(conn, scope.workspace_id)?, flow_store::choices(conn, scope.workspace_id)?) } else { (Vec::new(), Vec::new()) };
        Ok::<_, AppError>((campaign, n, templates, flows))
    })
    .await?;
    let most = templates.iter().map(|t| t.placeholders().len()).max().unwrap_or(0).max(1);
    let vars = (1..=most).map(|n| VarInput { key: n.to_string(), value: form.var(&n.to_string()).to_string() }).collect();
    let segments = segments::count(&form.body).describe();
    let page = NewBatchPage {
        layout: ctx.layout(format!("New {} batch", channel_label(channel)), "campaigns"),
        campaign,
        channel: batch_channel(channel),
        segment: channel.segment(),
        audience,
        templates,
        flows,
        vars,
        form,
        error,
        segments,
    };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn whatsapp_form(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let form = BatchForm { mode: "template".into(), ..BatchForm::default() };
    show_form(&ctx, &state, path.into_inner(), BatchChannel::WhatsApp, form, None, StatusCode::OK).await
}

pub async fn sms_form(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    show_form(&ctx, &state, path.into_inner(), BatchChannel::Sms, BatchForm::default(), None, StatusCode::OK).await
}

pub async fn email_form(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    show_form(&ctx, &state, path.into_inner(), BatchChannel::Email, BatchForm::default(), None, StatusCode::OK).await
}

pub async fn create_whatsapp(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<BatchForm>) -> Result<HttpResponse, AppError> {
    create(ctx, state, path.into_inner(), BatchChannel::WhatsApp, form, once).await
}

pub async fn create_sms(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<BatchForm>) -> Result<HttpResponse, AppError> {
    create(ctx, state, path.into_inner(), BatchChannel::Sms, form, once).await
}

pub async fn create_email(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<BatchForm>) -> Result<HttpResponse, AppError> {
    create(ctx, state, path.into_inner(), BatchChannel::Email, form, once).await
}

/// What a batch form's submission made: a batch, or nothing new (a repeat of a submission
/// already done, shown where the first one's result is).
enum Made {
    Batch { batch_id: i64, queued: i64, skipped: i64, send_at: DateTime<Utc> },
    Repeat(Option<String>),
}

async fn create(ctx: Ctx, state: Data<AppState>, id: i64, channel: BatchChannel, form: BatchForm, once: Once) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let zone = ctx.zone();
    let entry = ctx.audit(Action::CampaignsBatchCreated, "campaigns", id);
    let (key, f) = (state.at_rest_key, form.clone());
    let outcome = state.db(move |conn| {
        transaction(conn, |tx| {
            let campaign = batches::sendable(tx, &scope, id, channel)?;
            let c = match batch_check::check(tx, &key, scope.workspace_id, &campaign, channel, &f, zone)? {
                Ok(c) => c,
                Err(problem) => return Ok(Err(problem)),
            };
            if let Claim::Repeat(first) = once.claim(tx, scope.workspace_id, scope.user_id)? {
                return Ok(Ok(Made::Repeat(first)));
            }
            let (batch_id, queued, skipped) = batches::create(tx, &scope, id, &c, zone.name(), entry)?;
            once.done(tx, scope.workspace_id, scope.user_id, &format!("/campaigns/{id}/{}/{batch_id}/recipients", channel.segment()))?;
            Ok(Ok(Made::Batch { batch_id, queued, skipped, send_at: c.send_at }))
        })
    })
    .await?;
    match outcome {
        Ok(Made::Repeat(first)) => Ok(see_other(&first.unwrap_or_else(|| format!("/campaigns/{id}")))),
        Ok(Made::Batch { batch_id, queued, skipped, send_at }) => {
            let when = if send_at <= Utc::now() { "now".to_string() } else { format!("at {}", zone.time(send_at)) };
            let skipped = if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() };
            flash::success(&ctx.session, format!("Batch {batch_id}: sending to {queued} recipients {when}{skipped}."));
            Ok(see_other(&format!("/campaigns/{id}/{}/{batch_id}/recipients", channel.segment())))
        }
        Err(problem) => show_form(&ctx, &state, id, channel, form, Some(problem.to_string()), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

/// The template filled in for the first attached client (htmx swaps it under the form).
pub async fn preview(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<crate::messaging::compose::PreviewQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = path.into_inner();
    let template_id = q.template_id.trim().parse::<i64>().ok();
    let (template, client) = state.db(move |conn| {
        let campaign = scope.find(conn, id)?;
        let template = match template_id {
            Some(t) => approved_templates(conn, scope.workspace_id)?.into_iter().find(|x| x.id == t),
            None => None,
        };
        let client = batches::first_attached_client(conn, scope.workspace_id, campaign.id)?;
        Ok::<_, AppError>((template, client))
    })
    .await?;
    let (text, who) = match (template, client) {
        (None, _) => ("Choose a template to see the message.".to_string(), String::new()),
        (Some(t), client) => {
            let mut variables = serde_json::Map::new();
            for name in t.placeholders() {
                let value = q.rest.get(&format!("var_{name}")).map(|v| v.trim().to_string()).unwrap_or_default();
                if value.is_empty() {
                    continue;
                }
                let spec = if FIELDS.contains(&value.as_str()) { json!({ "field": value }) } else { json!({ "text": value }) };
                variables.insert(name, spec);
            }
            let variables = Value::Object(variables);
            match client {
                Some(c) => {
                    let vars = variables_for(&variables, &c);
                    (templates::render(&t.body, &vars), format!("As {} will see it:", c.name))
                }
                None => (templates::render(&t.body, &[]), "No client is attached yet.".to_string()),
            }
        }
    };
    html_status(StatusCode::OK, &Preview { id: "batch-preview", who: &who, text: &text })
}

#[derive(Deserialize)]
pub struct SegmentsQuery {
    #[serde(default)]
    body: String,
}

/// "2 segments · GSM-7, 153 characters each" for the SMS body typed so far.
pub async fn sms_segments(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<SegmentsQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = path.into_inner();
    state.db(move |conn| scope.find(conn, id).map(|_| ())).await?;
    html_status(StatusCode::OK, &SmsSegments::of(&q.body))
}

