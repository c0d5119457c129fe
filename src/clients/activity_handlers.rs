//! `POST /clients/{id}/communications`, `POST /clients/{id}/follow-ups`,
//! `POST /follow-ups/{id}`, `GET /follow-ups?view=mine|pending|overdue|due-soon|today|completed&page=N`.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::clients::activity::{self, FOLLOW_UP_STATUSES, FollowUpRow, FollowUpView, KINDS};
use crate::clients::handlers::{Activity, show_client_page, timeline_in_place};
use crate::error::AppError;
use crate::notifications;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, HtmlForm, OnceForm, Query};
use crate::web::once::Claim;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct CommunicationForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    occurred_at: String,
    #[serde(default)]
    notes: String,
}

pub async fn log_communication(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<CommunicationForm>) -> Result<HttpResponse, AppError> {
    let (scope, client_id) = (ctx.scope(), path.into_inner());
    let now = state.clock.now();
    let problem = if !KINDS.contains(&form.kind.as_str()) {
        Some("Kind must be call, email, meeting or note.".to_string())
    } else if form.notes.chars().count() > 10_000 {
        Some("Notes must be at most 10000 characters.".to_string())
    } else {
        None
    };
    let occurred_at = if form.occurred_at.trim().is_empty() { Ok(now) } else { ctx.zone().parse_input(&form.occurred_at, "When") };
    let entry = ctx.audit(Action::CommunicationsLogged, "clients", client_id);
    let outcome = match (problem, occurred_at) {
        (Some(p), _) => Err(p),
        (None, Err(e)) => Err(e.to_string()),
        (None, Ok(at)) => Ok(at),
    };
    let at = match outcome {
        Ok(at) => at,
        Err(problem) => {
            // The client must still be visible before we say anything about the form.
            state.db(move |conn| crate::clients::model::visible(conn, &scope, client_id)?.ok_or(AppError::NotFound).map(|_| ())).await?;
            return show_client_page(&ctx, &state, client_id, 1, refused(problem, "log-activity"), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let kind = form.kind.clone();
    let notice = logged(&kind);
    state.db(move |conn| {
        conn.transaction(|tx| {
            crate::clients::model::visible(tx, &scope, client_id)?.ok_or(AppError::NotFound)?;
            if once.claim(tx, scope.workspace_id, scope.user_id)? != Claim::First {
                return Ok(());
            }
            let id = activity::log_communication(tx, scope.workspace_id, client_id, scope.user_id, &kind, at, &form.notes)?;
            audit::record(tx, &entry.after(json!({ "communication_id": id, "kind": kind, "occurred_at": at, "notes": form.notes })))?;
            Ok(())
        })
    })
    .await?;
    saved(&ctx, &state, client_id, notice).await
}

/// "Call logged." and so on.
fn logged(kind: &str) -> String {
    let mut name = kind.to_string();
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{name} logged.")
}

/// The timeline's answer to a refused form, with that form left open.
fn refused(problem: String, open_form: &'static str) -> Activity {
    Activity { error: Some(problem), notice: None, open_form, typed: Default::default() }
}

/// After a saved communication or follow-up: htmx gets the timeline and the last-contacted
/// field in place, saying what was saved; a plain form goes back to the page with a flash.
async fn saved(ctx: &Ctx, state: &AppState, client_id: i64, notice: String) -> Result<HttpResponse, AppError> {
    if ctx.meta.htmx.wants_fragment() {
        return timeline_in_place(ctx, state, client_id, notice).await;
    }
    flash::success(&ctx.session, notice);
    Ok(see_other(&format!("/clients/{client_id}")))
}

#[derive(Deserialize)]
pub struct FollowUpForm {
    #[serde(default)]
    due_at: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    assigned_to: String,
}

pub async fn add_follow_up(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<FollowUpForm>) -> Result<HttpResponse, AppError> {
    let (scope, client_id) = (ctx.scope(), path.into_inner());
    let due = ctx.zone().parse_input(&form.due_at, "Due").map_err(|e| e.to_string());
    let owner = if form.assigned_to.trim().is_empty() { Ok(scope.user_id) } else { form.assigned_to.trim().parse::<i64>().map_err(|_| "Choose an owner from the list.".to_string()) };
    let entry = ctx.audit(Action::FollowUpsCreated, "clients", client_id);
    let notes = form.notes.clone();
    let (actor, zone) = (ctx.user.name.clone(), ctx.zone());
    let result = state.db(move |conn| {
        conn.transaction(|tx| {
            let client = crate::clients::model::visible(tx, &scope, client_id)?.ok_or(AppError::NotFound)?;
            let (due, owner) = match (due, owner) {
                (Ok(d), Ok(o)) => (d, o),
                (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
            };
            if notes.chars().count() > 10_000 {
                return Ok(Err("Notes must be at most 10000 characters.".to_string()));
            }
            let owner_ok = crate::users::model::find(tx, scope.workspace_id, owner)?.is_some_and(|u| u.active);
            if !owner_ok {
                return Ok(Err("Choose an active owner from the list.".to_string()));
            }
            if once.claim(tx, scope.workspace_id, scope.user_id)? != Claim::First {
                return Ok(Ok(()));
            }
            let id = activity::add_follow_up(tx, scope.workspace_id, client_id, owner, scope.user_id, due, &notes)?;
            audit::record(tx, &entry.after(json!({ "follow_up_id": id, "due_at": due, "assigned_to": owner, "notes": notes })))?;
            if owner != scope.user_id {
                let body = format!("{actor} assigned you a follow-up with {}, due {}.", client.name, zone.time(due));
                notifications::notify_collapsed(
                    tx,
                    &notifications::NewNotification {
                        workspace_id: scope.workspace_id,
                        user_id: owner,
                        kind: notifications::FOLLOW_UP_ASSIGNED,
                        title: "A follow-up was assigned to you",
                        body: &body,
                        link: Some("/follow-ups?view=mine"),
                        dedupe_key: None,
                    },
                )?;
            }
            Ok(Ok(()))
        })
    })
    .await?;
    match result {
        Ok(()) => saved(&ctx, &state, client_id, "Follow-up added.".to_string()).await,
        Err(problem) => show_client_page(&ctx, &state, client_id, 1, refused(problem, "add-follow-up"), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

#[derive(Deserialize)]
pub struct FollowUpStatusForm {
    #[serde(default)]
    status: String,
    next: Option<String>,
}

pub async fn update_follow_up(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<FollowUpStatusForm>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ctx.scope(), path.into_inner());
    if !FOLLOW_UP_STATUSES.contains(&form.status.as_str()) {
        return Err(AppError::Validation("Status must be pending, completed or cancelled.".into()));
    }
    // Where to go afterwards is settled before anything is written.
    let next = form.next.as_deref().and_then(forms::local_path).filter(|n| n.starts_with("/follow-ups"));
    let entry = ctx.audit(Action::FollowUpsStatusChanged, "clients", id);
    let status = form.status.clone();
    let client_id = state.db(move |conn| {
        conn.transaction(|tx| {
            let before = activity::find_follow_up(tx, scope.workspace_id, id)?.ok_or(AppError::NotFound)?;
            // Visible only through its client.
            crate::clients::model::visible(tx, &scope, before.client_id)?.ok_or(AppError::NotFound)?;
            activity::set_follow_up_status(tx, scope.workspace_id, id, &status)?;
            // About the client, like the other follow-up entries (and so in the same audit scope).
            let entry = audit::Entry { entity_id: Some(before.client_id.to_string()), ..entry };
            audit::record(tx, &entry.before(json!({ "follow_up_id": id, "status": before.status })).after(json!({ "follow_up_id": id, "status": status })))?;
            Ok(before.client_id)
        })
    })
    .await?;
    Ok(see_other(&next.unwrap_or_else(|| format!("/clients/{client_id}"))))
}

#[derive(Deserialize)]
pub struct FollowUpsQuery {
    view: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "clients/follow_ups.html", blocks = ["content"])]
struct FollowUpsPage {
    layout: Layout,
    view: String,
    rows: Vec<FollowUpRow>,
    now: DateTime<Utc>,
    page: i64,
    has_next: bool,
}

impl FollowUpsPage {
    /// This list's own address, for the rows' forms to come back to.
    fn here(&self) -> String {
        if self.page > 1 { format!("/follow-ups?view={}&page={}", self.view, self.page) } else { format!("/follow-ups?view={}", self.view) }
    }
}

crate::pages!(FollowUpsPage);

pub async fn list_follow_ups(ctx: Ctx, state: Data<AppState>, Query(q): Query<FollowUpsQuery>) -> Result<HttpResponse, AppError> {
    let view = match q.view.as_deref() {
        None => FollowUpView::Mine,
        Some(v) => FollowUpView::parse(v).ok_or_else(|| AppError::Validation("View must be mine, pending, overdue, due-soon, today or completed.".into()))?,
    };
    let number = forms::page_number(q.page);
    let (scope, now, zone) = (ctx.scope(), state.clock.now(), ctx.zone());
    let (rows, has_next) = state.db(move |conn| Ok(activity::list_follow_ups(conn, &scope, view, number, now, zone)?)).await?;
    let page = FollowUpsPage { layout: ctx.layout("Follow-ups", "follow-ups"), view: view.as_str().to_string(), rows, now, page: number, has_next };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}
