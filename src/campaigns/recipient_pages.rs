//! The recipients dashboard of one batch (issue 12 part 6):
//! `GET /campaigns/{id}/{segment}/{batch}/recipients` (counts, progress, rates and a
//! filterable list paginated in SQL; while the batch is scheduled or sending its live part
//! refetches itself on the `batch-<id>` server-sent event, see crate::events, and every 15 s
//! as a fallback; once it is done, on the events only while recipients await an outcome), `GET …/recipients.csv?status=failed` (the failed recipients, streamed and
//! formula-safe) and `POST …/recipients/retarget` (a new batch for exactly the failed
//! recipients, dispatched). A flow batch's page also shows how many recipients reached each
//! step of its flow (counters `step:<key>`, kept by the `campaign_flow_reached` trigger) and
//! each recipient's current step. The queries are `campaigns::recipients`.
//!
//! Every route answers 404 for another workspace's or another department's campaign, for a
//! batch of another campaign and for a segment that is not the batch's channel; agents get
//! 403 (campaigns are a manager's decision).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use serde::Deserialize;

use crate::audit::Action;
use crate::campaigns::model::transaction;
use crate::campaigns::recipients::{self, BatchSummary, Counts, PAGE_SIZE, REPLY_FILTERS, REPLY_KEYS, Row, STATUS_KEYS, batch_state};
use crate::campaigns::{BatchChannel, Campaign, CampaignScope, CampaignStatus, RecipientStatus};
use crate::clients::domain::PhoneE164;
use crate::csv_safe;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::forms::{self, Query};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

/// `?status=failed&reply=yes&page=2` (empty means any).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    reply: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

struct Checked {
    status: Option<RecipientStatus>,
    reply: Option<&'static str>,
    page: i64,
}

impl Filter {
    fn check(&self) -> Result<Checked, AppError> {
        let status = match self.status.as_deref().unwrap_or("") {
            "" => None,
            s => Some(RecipientStatus::parse(s).ok_or_else(|| AppError::BadRequest(format!("Unknown recipient status {s:?}.")))?),
        };
        let reply = match self.reply.as_deref().unwrap_or("") {
            "" => None,
            r => Some(REPLY_FILTERS.iter().map(|(k, _)| *k).find(|k| *k == r).ok_or_else(|| AppError::BadRequest(format!("Unknown reply {r:?}.")))?),
        };
        Ok(Checked { status, reply, page: forms::page_number(self.page) })
    }
}

#[derive(Template)]
#[template(path = "campaigns/recipients.html", blocks = ["content"])]
struct RecipientsPage {
    layout: Layout,
    campaign: Campaign,
    batch: BatchSummary,
    channel: BatchChannel,
    counts: Counts,
    rows: Vec<Row>,
    status: String,
    reply: String,
    prev_href: String,
    next_href: String,
    /// This page's own address (what the poll asks for).
    here: String,
    statuses: [(&'static str, &'static str); 9],
    replies: [(&'static str, &'static str); 3],
    reply_filters: [(&'static str, &'static str); 4],
    /// Flow batches: each step of the snapshot in flow order, as (key, label).
    steps: Vec<(String, String)>,
}
crate::pages!(RecipientsPage);

impl RecipientsPage {
    fn base(&self) -> String {
        format!("/campaigns/{}/{}/{}/recipients", self.campaign.id, self.channel.segment(), self.batch.id)
    }
    /// The lifecycle button this page offers: (transition, label, button kind).
    fn lifecycle(&self) -> Option<(&'static str, &'static str, &'static str)> {
        match self.campaign.status {
            CampaignStatus::Active => Some(("pause", "Pause", "secondary")),
            CampaignStatus::Paused => Some(("start", "Resume", "")),
            CampaignStatus::Draft => Some(("start", "Start", "")),
            CampaignStatus::Completed => None,
        }
    }
    fn retarget_href(&self) -> String {
        format!("{}/retarget", self.base())
    }
    fn batch_href(&self, batch_id: &i64) -> String {
        format!("/campaigns/{}/{}/{}/recipients", self.campaign.id, self.channel.segment(), batch_id)
    }
    fn pill_kind(&self, status: &str) -> &'static str {
        match status {
            "delivered" | "read" => "ok",
            "failed" | "unknown" => "hot",
            "skipped" | "cancelled" => "inactive",
            _ => "",
        }
    }
    /// The progress line's words after the count (see [`batch_state`]).
    fn state_words(&self) -> String {
        batch_state(self.campaign.status, &self.batch.status, self.counts.get("queued") + self.counts.get("sending"))
    }
    /// How many recipients reached (were sent) a step, from its counter.
    fn reached(&self, key: &str) -> i64 {
        self.counts.get(&format!("step:{key}"))
    }
    /// A recipient's step as the page names it.
    fn step_label(&self, key: &str) -> String {
        self.steps.iter().find(|(k, _)| k == key).map(|(_, label)| label.clone()).unwrap_or_else(|| key.to_string())
    }
    fn is_flow(&self) -> bool {
        !self.steps.is_empty()
    }
    fn columns(&self) -> usize {
        if self.is_flow() { 6 } else { 5 }
    }
    fn channel_label(&self) -> &'static str {
        match self.channel {
            BatchChannel::WhatsApp => "WhatsApp",
            BatchChannel::Sms => "SMS",
            BatchChannel::Email => "Email",
        }
    }
}

fn href(base: &str, status: &str, reply: &str, page: i64) -> String {
    let mut query = Vec::new();
    if !status.is_empty() {
        query.push(format!("status={status}"));
    }
    if !reply.is_empty() {
        query.push(format!("reply={reply}"));
    }
    if page > 1 {
        query.push(format!("page={page}"));
    }
    if query.is_empty() { base.to_string() } else { format!("{base}?{}", query.join("&")) }
}

pub async fn show(ctx: Ctx, state: Data<AppState>, path: Path<(i64, String, i64)>, filter: Query<Filter>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let (id, segment, batch_id) = path.into_inner();
    let checked = filter.0.check()?;
    let (campaign, batch, channel, counts, mut rows, checked) = state.db(move |conn| {
        let (campaign, batch, channel) = recipients::find(conn, &scope, id, &segment, batch_id)?;
        let counts = Counts::load(conn, scope.workspace_id, batch.id)?;
        let rows = recipients::page_rows(conn, scope.workspace_id, batch.id, checked.status, checked.reply, checked.page)?;
        Ok((campaign, batch, channel, counts, rows, checked))
    })
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let base = format!("/campaigns/{}/{}/{}/recipients", campaign.id, channel.segment(), batch.id);
    let (status, reply) = (checked.status.map(|s| s.as_str().to_string()).unwrap_or_default(), checked.reply.unwrap_or("").to_string());
    let steps = batch
        .flow_snapshot
        .as_ref()
        .and_then(crate::campaigns::flows::Snapshot::parse)
        .map(|snap| snap.steps.iter().enumerate().map(|(i, s)| (s.key.clone(), format!("Step {}: {}", i + 1, s.template_name))).collect())
        .unwrap_or_default();
    let page = RecipientsPage {
        steps,
        layout: ctx.layout(format!("Recipients – {}", campaign.name), "campaigns"),
        prev_href: if checked.page > 1 { href(&base, &status, &reply, checked.page - 1) } else { String::new() },
        next_href: if more { href(&base, &status, &reply, checked.page + 1) } else { String::new() },
        here: href(&base, &status, &reply, checked.page),
        campaign,
        batch,
        channel,
        counts,
        rows,
        status,
        reply,
        statuses: STATUS_KEYS,
        replies: REPLY_KEYS,
        reply_filters: REPLY_FILTERS,
    };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

/// `?status=failed`: the only export (the failed recipients, to fix their numbers).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CsvQuery {
    #[serde(default)]
    status: Option<String>,
}

pub const CSV_HEADER: [&str; 5] = ["name", "phone", "email", "error code", "error"];

pub async fn failed_csv(ctx: Ctx, state: Data<AppState>, path: Path<(i64, String, i64)>, query: Query<CsvQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    if !matches!(query.0.status.as_deref(), None | Some("") | Some("failed")) {
        return Err(AppError::BadRequest("Only the failed recipients can be downloaded: status=failed.".into()));
    }
    let (id, segment, batch_id) = path.into_inner();
    let (_, batch, _) = state.db(move |conn| recipients::find(conn, &scope, id, &segment, batch_id)).await?;
    let (w, b) = (scope.workspace_id, batch.id);
    let dialect = csv_safe::Dialect { bom: false, separator: b',' };
    Ok(csv_safe::streamed_response(&format!("campaign-{id}-batch-{b}-failed.csv"), dialect, &CSV_HEADER, state.pool.clone(), move |conn, cursor| {
        let rows = recipients::failed_rows(conn, w, b, cursor.unwrap_or(0))?;
        let mut out = Vec::new();
        for r in &rows {
            let code = r.error_code.map(|c| c.to_string()).unwrap_or_default();
            // Phones as the client export writes them (`+44 7700 900123`: text to a
            // spreadsheet, no apostrophe), the error as the page shows it.
            let phone = r.phone.as_deref().map(|p| PhoneE164::from_stored(p).international()).unwrap_or_default();
            let error = crate::messaging::errors::failure_line(r.error_code, r.error_message.as_deref()).unwrap_or_default();
            let cells = [r.name.as_str(), phone.as_str(), r.email.as_deref().unwrap_or(""), code.as_str(), error.as_str()];
            out.extend(csv_safe::record(cells));
        }
        let next = (rows.len() == 1_000).then(|| rows.last().map(|r| r.client_id)).flatten();
        Ok((out, next))
    }))
}

/// "Re-target failed" (`recipients::retarget`): a new batch for exactly the failed
/// recipients, and its page.
pub async fn retarget(ctx: Ctx, state: Data<AppState>, path: Path<(i64, String, i64)>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let (id, segment, batch_id) = path.into_inner();
    let now = state.clock.now();
    let zone = ctx.zone().name().to_string();
    let entry = ctx.audit(Action::CampaignsBatchRetargeted, "campaigns", id);
    let made = state.db(move |conn| transaction(conn, |tx| recipients::retarget(tx, &scope, (id, &segment, batch_id), now, &zone, entry))).await?;
    let location = format!("/campaigns/{}/{}/{}/recipients", made.campaign_id, made.channel.segment(), made.batch_id);
    Ok(see_other(&location))
}

