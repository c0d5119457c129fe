//! `/audit-logs`: list with filters, one entry with its diff, CSV export (admin: the whole
//! workspace; manager: what `query` scopes to them).

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use askama::Template;

use crate::audit_log::query::{self, AuditFilter, AuditLog, AuditQuery, DiffLine};
use crate::audit_log::sentence::{self, Described, Piece};
use crate::authz::Role;
use crate::csv_safe;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::forms::Query;
use crate::web::render::{html_status, respond};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "audit/index.html", blocks = ["content", "results"])]
struct AuditIndexPage {
    layout: Layout,
    query: AuditQuery,
    filter: AuditFilter,
    error: Option<String>,
    users: Vec<query::UserChoice>,
    rows: Vec<Described>,
    export_query: String,
    prev_query: Option<String>,
    next_query: Option<String>,
}

impl AuditIndexPage {
    fn selected_user(&self, id: &i64) -> bool {
        self.filter.user == Some(*id)
    }
}

fn with_page(query: &AuditQuery, page: i64) -> String {
    let q = AuditQuery { page: Some(page.to_string()), ..query.clone() };
    encode(&q)
}

fn encode(q: &AuditQuery) -> String {
    let pairs = [("user", &q.user), ("action", &q.action), ("module", &q.module), ("from", &q.from), ("to", &q.to), ("page", &q.page)];
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

pub async fn list_audit_logs(ctx: Ctx, state: Data<AppState>, Query(q): Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let (workspace_id, scope) = (ctx.workspace_id(), ctx.scope());
    let zone = ctx.zone();
    let parsed = q.parse().map(|f| AuditFilter { zone, ..f });
    let filter = parsed.clone().unwrap_or_default();
    let run_filter = parsed.as_ref().ok().cloned();
    let (users, (rows, has_next)) = state.db(move |conn| {
        let users = query::user_choices(conn, workspace_id)?;
        let (rows, has_next) = match run_filter {
            Some(f) => f.list(conn, &scope)?,
            None => (Vec::new(), false),
        };
        Ok((users, (sentence::described(conn, &scope, rows)?, has_next)))
    })
    .await?;
    let page = filter.page;
    let page_view = AuditIndexPage {
        layout: ctx.layout("Audit log", "audit"),
        export_query: encode(&AuditQuery { page: None, ..q.clone() }),
        prev_query: (page > 1).then(|| with_page(&q, page - 1)),
        next_query: has_next.then(|| with_page(&q, page + 1)),
        error: parsed.err().map(|e| e.to_string()),
        query: q,
        filter,
        users,
        rows,
    };
    let status = if page_view.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    if ctx.meta.htmx.wants_fragment() {
        html_status(status, &page_view.as_results())
    } else {
        html_status(status, &page_view)
    }
}

crate::pages!(AuditIndexPage, AuditShowPage);

#[derive(Template)]
#[template(path = "audit/show.html", blocks = ["content"])]
struct AuditShowPage {
    layout: Layout,
    entry: AuditLog,
    sentence: Vec<Piece>,
    diff: Vec<DiffLine>,
}

pub async fn show_audit_log(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let (scope, id) = (ctx.scope(), path.into_inner());
    // An entry outside the reader's scope is as absent as one that does not exist.
    let described = state.db(move |conn| {
        let Some(entry) = query::find(conn, &scope, id)? else { return Ok(None) };
        Ok(sentence::described(conn, &scope, vec![entry])?.pop())
    })
    .await?
    .ok_or(AppError::NotFound)?;
    let Described { entry, sentence } = described;
    let diff = query::diff(entry.before.as_ref(), entry.after.as_ref());
    let page = AuditShowPage { layout: ctx.layout(format!("Audit entry {id}"), "audit"), entry, sentence, diff };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

const EXPORT_CHUNK: i64 = 1000;
const EXPORT_HEADER: [&str; 11] =
    ["id", "created_at", "actor_kind", "actor", "action", "module", "entity_id", "before", "after", "ip", "request_id"];

fn export_row(row: &AuditLog) -> Vec<u8> {
    let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let cells = [
        row.id.to_string(),
        row.created_at.to_rfc3339(),
        row.actor_kind.clone(),
        row.actor_label.clone(),
        row.action.clone(),
        row.module.clone(),
        row.entity_id.clone().unwrap_or_default(),
        json(&row.before),
        json(&row.after),
        row.ip.clone().unwrap_or_default(),
        row.request_id.clone().unwrap_or_default(),
    ];
    csv_safe::record(cells.iter().map(String::as_str))
}

/// Streams the filtered trail in chunks (keyset on id), so memory stays flat however long it is.
pub async fn export_audit_logs(ctx: Ctx, state: Data<AppState>, Query(q): Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let filter = AuditFilter { zone: ctx.zone(), ..q.parse().map_err(|e| AppError::Validation(e.to_string()))? };
    let scope = ctx.scope();
    let entry = ctx.audit(crate::audit::Action::AuditExported, "audit", "export").after(serde_json::json!({ "filter": encode(&q) }));
    state.db(move |conn| Ok(crate::audit::record(conn, &entry)?)).await?;
    let filename = format!("audit-log-{}.csv", chrono::Utc::now().format("%Y-%m-%d"));
    Ok(csv_safe::streamed_response(&filename, csv_safe::Dialect::default(), &EXPORT_HEADER, state.pool.clone(), move |conn, cursor| {
        let rows = filter.chunk(conn, &scope, cursor, EXPORT_CHUNK)?;
        let next = (rows.len() as i64 == EXPORT_CHUNK).then(|| rows.last().map(|r| r.id)).flatten();
        Ok((rows.iter().flat_map(export_row).collect(), next))
    }))
}
