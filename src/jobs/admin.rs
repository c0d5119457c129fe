//! `/settings/jobs` (admin): the workspace's jobs by state with their errors, and retry /
//! cancel.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::authz::Role;
use crate::error::AppError;
use crate::jobs::{JobStatus, Registry, query};
use crate::jobs::queue::Job;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::Query;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

const PER_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "settings/jobs.html", blocks = ["content"])]
struct JobsPage {
    layout: Layout,
    state: JobStatus,
    counts: Vec<(JobStatus, i64)>,
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
    let status = match q.status.as_deref() {
        None => JobStatus::Failed,
        Some(s) => JobStatus::parse(s).ok_or_else(|| {
            let all: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
            AppError::Validation(format!("Status must be one of {}.", all.join(", ")))
        })?,
    };
    let (w, page) = (ctx.workspace_id(), crate::web::forms::page_number(q.page));
    let (counts, mut rows) =
        state.db(move |conn| Ok((query::count_by_status(conn, w)?, query::list_by_status(conn, w, status, page, PER_PAGE)?))).await?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    let counts = JobStatus::ALL.iter().map(|s| (*s, counts.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0))).collect();
    respond(&ctx.meta.htmx, StatusCode::OK, &JobsPage { layout: ctx.layout("Jobs", "settings"), state: status, counts, rows, page, more })
}

/// What a person does to a job from the jobs page.
#[derive(Clone, Copy)]
enum Change {
    /// Waiting, failed, dead or cancelled → queued now, with its attempts back.
    Retry,
    /// Queued, waiting or failed → cancelled.
    Cancel,
}

impl Change {
    fn action(self) -> crate::audit::Action {
        match self {
            Change::Retry => crate::audit::Action::JobsRetry,
            Change::Cancel => crate::audit::Action::JobsCancel,
        }
    }

    fn done(self) -> &'static str {
        match self {
            Change::Retry => "retried",
            Change::Cancel => "cancelled",
        }
    }
}

/// Waiting, failed, dead or cancelled → queued now, with its attempts back.
pub async fn retry_job(ctx: Ctx, state: Data<AppState>, registry: Data<Registry>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    change(ctx, state, registry, path.into_inner(), Change::Retry).await
}

/// Queued, waiting or failed → cancelled.
pub async fn cancel_job(ctx: Ctx, state: Data<AppState>, registry: Data<Registry>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    change(ctx, state, registry, path.into_inner(), Change::Cancel).await
}

async fn change(ctx: Ctx, state: Data<AppState>, registry: Data<Registry>, id: i64, what: Change) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let w = ctx.workspace_id();
    let entry = ctx.audit(what.action(), "jobs", id);
    let status = state.db(move |conn| {
        conn.transaction(|tx| {
            let job = query::find_for_update(tx, w, id)?.ok_or(AppError::NotFound)?;
            let refused = || AppError::Conflict(format!("A {} job cannot be {}.", job.status, what.done()));
            match what {
                Change::Retry => {
                    // The job's kind says when its payload can no longer run (an email's
                    // message is removed when it dies).
                    if let Some(why) = registry.handler(&job.kind).and_then(|handler| handler.retry_refusal(&job)) {
                        return Err(AppError::Conflict(why));
                    }
                    job.status.retry().ok_or_else(refused)?;
                    query::requeue(tx, w, id)?;
                }
                Change::Cancel => {
                    job.status.cancel().ok_or_else(refused)?;
                    query::cancel(tx, w, id)?;
                }
            }
            audit::record(tx, &entry.before(json!({ "status": job.status.as_str(), "kind": job.kind, "last_error": job.last_error })))?;
            Ok(job.status)
        })
    })
    .await?;
    flash::success(&ctx.session, match what {
        Change::Retry => format!("Job {id} queued again."),
        Change::Cancel => format!("Job {id} cancelled."),
    });
    Ok(see_other(&format!("/settings/jobs?status={status}")))
}
