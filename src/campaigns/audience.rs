//! A campaign's audience (issue 12 part 2): `GET/POST /campaigns/{id}/attach-clients` with
//! `mode` = all | filter | selected, and the client list's bulk bar "Add to campaign".
//!
//! - `all`: every client in the user's client scope (`authz::Scope`).
//! - `filter`: the client list's own filters (`q`, `status`, `department`, `tag`, `assignee`),
//!   parsed and queried by `clients::query` itself. GET shows the filter back in words with a
//!   Confirm button; POST attaches.
//! - `selected`: repeated `client_ids`; only those in scope are attached, the others are
//!   ignored and counted as "not yours".
//!
//! One set-based `INSERT … SELECT … ON CONFLICT DO NOTHING`: a client attached twice stays
//! once. Opted-out clients are attached too (decision): they get a `skipped` recipient row with
//! the reason when a batch for that channel is made, and the counts say so up front. A
//! completed campaign refuses attaching (409).
//!
//! The handlers are here; the queries and changes are `campaigns::attached`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use futures_util::future::LocalBoxFuture;
use askama::Template;
use serde::Deserialize;

use crate::audit::Action;
use crate::campaigns::attached::{self, AudienceRow, Preview, Target};
use crate::campaigns::model::transaction;
use crate::campaigns::query::attached_count;
use crate::campaigns::{Campaign, CampaignScope, CampaignStatus};
use crate::clients::bulk::{BulkExtension, Selection};
use crate::clients::query::ClientQuery;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{HtmlForm, Query};
use crate::web::numbers::thousands;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

/// The attach form: the mode, the client list's filters, or the ticked ids.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AttachForm {
    #[serde(default)]
    pub mode: String,
    pub q: Option<String>,
    pub status: Option<String>,
    pub department: Option<String>,
    pub tag: Option<String>,
    pub assignee: Option<String>,
    /// The client list's `?import=ID`.
    pub import: Option<String>,
    #[serde(default)]
    pub client_ids: Vec<i64>,
}

impl AttachForm {
    fn list_query(&self) -> ClientQuery {
        ClientQuery {
            q: self.q.clone(),
            status: self.status.clone(),
            department: self.department.clone(),
            tag: self.tag.clone(),
            assignee: self.assignee.clone(),
            sort: None,
            page: None,
            import: self.import.clone(),
        }
    }

    fn target(&self) -> Result<Target, AppError> {
        match self.mode.as_str() {
            "all" => Ok(Target::All),
            "filter" => Ok(Target::Filter(self.list_query().parse().map_err(|e| AppError::Validation(e.to_string()))?)),
            "selected" if self.client_ids.is_empty() => Err(AppError::Validation("Tick at least one client.".into())),
            "selected" => Ok(Target::Selected(self.client_ids.clone())),
            _ => Err(AppError::Validation("Choose how to attach clients: all, filter or selected.".into())),
        }
    }

    /// The client list's query string of this filter (for the Confirm form and links back).
    pub fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        [("q", &self.q), ("status", &self.status), ("department", &self.department), ("tag", &self.tag), ("assignee", &self.assignee), ("import", &self.import)]
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(|v| (k, v.to_string())))
            .collect()
    }
}

#[derive(Template)]
#[template(path = "campaigns/attach.html", blocks = ["content"])]
struct ConfirmPage {
    layout: Layout,
    campaign: Campaign,
    mode: String,
    words: String,
    count: String,
    pairs: Vec<(&'static str, String)>,
    opt_out_lines: Vec<String>,
}
crate::pages!(ConfirmPage);

/// `GET /campaigns/{id}/attach-clients?mode=filter&…` (or `mode=all`): the filter in words,
/// how many clients it holds, and a Confirm button that posts it.
pub async fn confirm_attach(ctx: Ctx, state: Data<AppState>, id: Path<i64>, Query(form): Query<AttachForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let form = if form.mode.is_empty() { AttachForm { mode: "filter".into(), ..form } } else { form };
    let pairs = form.filter_pairs();
    let target = form.target();
    let Preview { campaign, mode, words, count, opt_outs } = state.db(move |conn| attached::preview(conn, &scope, id, target)).await?;
    let page = ConfirmPage {
        layout: ctx.layout(format!("Attach clients to {}", campaign.name), "campaigns"),
        opt_out_lines: opt_outs.lines(&campaign).into_iter().filter(|l| !l.starts_with("None")).collect(),
        campaign,
        mode: mode.to_string(),
        words,
        // Exact counts are exact; a bounded one says it is more (issue 19 item 7).
        count: if count.more { format!("more than {}", crate::web::numbers::thousands(count.n)) } else { count.to_string() },
        pairs,
    };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

/// Attaches and says what happened on the campaign's page.
/// `target` is checked after the campaign is found, so another's campaign is 404 first.
async fn attach_and_report(ctx: &Ctx, state: &AppState, id: i64, target: Result<Target, AppError>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(ctx)?;
    let entry = ctx.audit(Action::CampaignsAudienceAttached, "campaigns", id);
    let (campaign, outcome) = state.db(move |conn| transaction(conn, |tx| attached::attach_audited(tx, &scope, id, target, entry))).await?;
    flash::success(&ctx.session, outcome.sentence(&campaign));
    Ok(see_other(&format!("/campaigns/{id}")))
}

/// `POST /campaigns/{id}/attach-clients`.
pub async fn attach_clients(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<AttachForm>) -> Result<HttpResponse, AppError> {
    CampaignScope::of(&ctx)?;
    attach_and_report(&ctx, &state, id.into_inner(), form.target()).await
}

/// The client list's bulk bar "Add to campaign" (issue 12; its form value `campaign`,
/// registered in `registry::client_bulk_actions`): the ticked clients are attached at once;
/// "all matching" goes to the campaign's Confirm page with the list's filter. Agents have no
/// campaigns (403).
pub struct AddToCampaign;

impl BulkExtension for AddToCampaign {
    fn action(&self) -> &'static str {
        "campaign"
    }

    fn run<'a>(&'a self, ctx: &'a Ctx, state: &'a AppState, selection: Selection) -> LocalBoxFuture<'a, Result<HttpResponse, AppError>> {
        Box::pin(from_client_list(ctx, state, selection))
    }
}

async fn from_client_list(ctx: &Ctx, state: &AppState, selection: Selection) -> Result<HttpResponse, AppError> {
    CampaignScope::of(ctx)?;
    let id: i64 = selection.choice.trim().parse().map_err(|_| AppError::Validation("Choose a campaign to add the clients to.".into()))?;
    match selection.all_matching {
        Some(list) => {
            let filter = AttachForm {
                mode: "filter".into(),
                q: list.q,
                status: list.status,
                department: list.department,
                tag: list.tag,
                assignee: list.assignee,
                import: list.import,
                client_ids: Vec::new(),
            };
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("mode", "filter");
            for (k, v) in filter.filter_pairs() {
                query.append_pair(k, &v);
            }
            Ok(see_other(&format!("/campaigns/{id}/attach-clients?{}", query.finish())))
        }
        None if selection.client_ids.is_empty() => Err(AppError::Validation("Select at least one client, or choose all matching.".into())),
        None => attach_and_report(ctx, state, id, Ok(Target::Selected(selection.client_ids))).await,
    }
}

#[derive(Template)]
#[template(path = "campaigns/audience.html", blocks = ["content"])]
struct AudiencePage {
    layout: Layout,
    campaign: Campaign,
    rows: Vec<AudienceRow>,
    q: String,
    attached: i64,
    prev_href: String,
    next_href: String,
}
crate::pages!(AudiencePage);

impl AudiencePage {
    fn removable(&self, row: &AudienceRow) -> bool {
        self.campaign.status != CampaignStatus::Completed && !row.sent
    }
    fn attached_text(&self) -> String {
        thousands(self.attached)
    }
    fn remove_href(&self, row: &AudienceRow) -> String {
        format!("/campaigns/{}/clients/{}/remove", self.campaign.id, row.client_id)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AudienceQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

fn audience_href(id: i64, q: &str, page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.trim().is_empty() {
        query.append_pair("q", q.trim());
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    let query = query.finish();
    if query.is_empty() { format!("/campaigns/{id}/clients") } else { format!("/campaigns/{id}/clients?{query}") }
}

/// `GET /campaigns/{id}/clients`: the attached clients, 50 a page, searchable by name or
/// phone, each with Remove while it is allowed (see `attached::remove`).
pub async fn list_audience(ctx: Ctx, state: Data<AppState>, id: Path<i64>, Query(query): Query<AudienceQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let page = crate::web::forms::page_number(query.page);
    let q: String = query.q.chars().take(200).collect();
    let search = q.clone();
    let (campaign, rows, more, attached) = state.db(move |conn| {
        let campaign = scope.find(conn, id)?;
        let (rows, more) = attached::list_attached(conn, scope.workspace_id, id, &search, page)?;
        let attached = attached_count(conn, scope.workspace_id, id)?;
        Ok((campaign, rows, more, attached))
    })
    .await?;
    let page_view = AudiencePage {
        layout: ctx.layout(format!("Audience of {}", campaign.name), "campaigns"),
        prev_href: if page > 1 { audience_href(id, &q, page - 1) } else { String::new() },
        next_href: if more { audience_href(id, &q, page + 1) } else { String::new() },
        campaign,
        rows,
        q,
        attached,
    };
    respond(&ctx.meta.htmx, StatusCode::OK, &page_view)
}

/// `POST /campaigns/{id}/clients/{client_id}/remove`.
pub async fn remove_client(ctx: Ctx, state: Data<AppState>, path: Path<(i64, i64)>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let (id, client_id) = path.into_inner();
    let entry = ctx.audit(Action::CampaignsAudienceRemoved, "campaigns", id);
    let (name, cancelled) = state.db(move |conn| transaction(conn, |tx| attached::remove_audited(tx, &scope, id, client_id, entry))).await?;
    let message = match cancelled {
        0 => format!("{name} removed from the audience."),
        _ => format!("{name} removed from the audience; their queued message is cancelled."),
    };
    flash::success(&ctx.session, message);
    Ok(see_other(&format!("/campaigns/{id}/clients")))
}
