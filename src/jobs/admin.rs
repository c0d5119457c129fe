//! `/settings/jobs` (admin): the workspace's jobs by state with their errors, and retry /
//! cancel.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::db;
use crate::db::schema::jobs;
use crate::error::AppError;
use crate::jobs::queue::Job;
use crate::startup::AppState;
use crate::users::role::Role;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::Query;
use crate::web::render::{respond, see_other};

pub const STATES: [&str; 7] = ["queued", "running", "waiting", "failed", "dead", "done", "cancelled"];
const PER_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "settings/jobs.html", blocks = ["content"])]
struct JobsPage {
    layout: Layout,
    state: String,
    counts: Vec<(&'static str, i64)>,
    rows: Vec<Job>,
    page: i64,
    more: bool,
}
crate::pages!(JobsPage);

#[derive(Deserialize)]
pub struct JobsQuery {
    status: Option<String>,
    page: Option<i64>,
}

pub async fn list_jobs(ctx: Ctx, state: Data<AppState>, Query(q): Query<JobsQuery>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let status = q.status.unwrap_or_else(|| "failed".into());
    if !STATES.contains(&status.as_str()) {
        return Err(AppError::Validation(format!("Status must be one of {}.", STATES.join(", "))));
    }
    let (w, page) = (ctx.workspace_id(), crate::web::forms::page_number(q.page));
    let shown = status.clone();
    let (counts, mut rows) = db::run(&state.pool, move |conn| {
        let counts: Vec<(String, i64)> = jobs::table
            .filter(jobs::workspace_id.eq(w))
            .group_by(jobs::status)
            .select((jobs::status, diesel::dsl::count_star()))
            .load(conn)?;
        let rows = jobs::table
            .filter(jobs::workspace_id.eq(w))
            .filter(jobs::status.eq(&shown))
            .order((jobs::updated_at.desc(), jobs::id.desc()))
            .limit(PER_PAGE + 1)
            .offset((page - 1) * PER_PAGE)
            .select(Job::as_select())
            .load::<Job>(conn)?;
        Ok((counts, rows))
    })
    .await?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    let counts = STATES.iter().map(|s| (*s, counts.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0))).collect();
    respond(&ctx.meta.htmx, StatusCode::OK, &JobsPage { layout: ctx.layout("Jobs", "settings"), state: status, counts, rows, page, more })
}

/// Waiting, failed, dead or cancelled → queued now, with its attempts back.
pub async fn retry_job(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    change(ctx, state, path.into_inner(), "retry").await
}

/// Queued, waiting or failed → cancelled.
pub async fn cancel_job(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    change(ctx, state, path.into_inner(), "cancel").await
}

async fn change(ctx: Ctx, state: Data<AppState>, id: i64, what: &'static str) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let w = ctx.workspace_id();
    let entry = ctx.audit(&format!("jobs.{what}"), "jobs", id);
    let status = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let job = jobs::table.filter(jobs::workspace_id.eq(w)).filter(jobs::id.eq(id)).select(Job::as_select()).for_update().first(tx).optional()?;
            let job = job.ok_or(AppError::NotFound)?;
            let target = jobs::table.filter(jobs::workspace_id.eq(w)).filter(jobs::id.eq(id));
            let message_gone = job.kind == crate::jobs::Kind::SendEmail.as_str()
                && serde_json::from_value::<crate::email::Payload>(job.payload.clone()).is_ok_and(|p| !p.has_message());
            match (what, job.status.as_str()) {
                ("retry", "dead") if message_gone => {
                    return Err(AppError::Conflict("This email's message was removed when it died (it may have carried a sign-in link); it cannot be sent again.".into()));
                }
                ("retry", "waiting" | "failed" | "dead" | "cancelled") => {
                    diesel::update(target)
                        .set((jobs::status.eq("queued"), jobs::attempts.eq(0), jobs::run_at.eq(diesel::dsl::now), jobs::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>), jobs::updated_at.eq(diesel::dsl::now)))
                        .execute(tx)?;
                    crate::jobs::wake(tx)?;
                }
                ("cancel", "queued" | "waiting" | "failed") => {
                    diesel::update(target).set((jobs::status.eq("cancelled"), jobs::finished_at.eq(diesel::dsl::now), jobs::updated_at.eq(diesel::dsl::now))).execute(tx)?;
                }
                (_, other) => return Err(AppError::Conflict(format!("A {other} job cannot be {}.", if what == "retry" { "retried" } else { "cancelled" }))),
            }
            audit::record(tx, &entry.before(json!({ "status": job.status, "kind": job.kind, "last_error": job.last_error })))?;
            Ok(job.status)
        })
    })
    .await?;
    flash::success(&ctx.session, if what == "retry" { format!("Job {id} queued again.") } else { format!("Job {id} cancelled.") });
    Ok(see_other(&format!("/settings/jobs?status={status}")))
}
