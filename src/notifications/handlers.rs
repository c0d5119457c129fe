//! `/notifications` (list, unread first), `POST /notifications/{id}/read`,
//! `POST /notifications/read-all`, `GET /notifications/badge` (the polled nav badge), and
//! `POST /account/notifications` (which kinds the user receives, from `/account`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;

use crate::audit::Action;
use crate::error::AppError;
use crate::notifications::{self, Notification};
use crate::web::state::AppState;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{HtmlForm, Query};
use crate::web::render::{html_status, respond, see_other};

#[derive(Template)]
#[template(path = "notifications/index.html", blocks = ["content"])]
struct NotificationsPage {
    layout: Layout,
    rows: Vec<Notification>,
    unread: i64,
    page: i64,
    more: bool,
}
crate::pages!(NotificationsPage);

#[derive(Template)]
#[template(path = "notifications/badge.html")]
struct Badge {
    unread: i64,
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
}

pub async fn list_notifications(ctx: Ctx, state: Data<AppState>, Query(q): Query<PageQuery>) -> Result<HttpResponse, AppError> {
    let (w, me, page) = (ctx.workspace_id(), ctx.user_id(), crate::web::forms::page_number(q.page));
    let (rows, more, unread) = state.db(move |conn| {
        let (rows, more) = notifications::page(conn, w, me, page)?;
        Ok((rows, more, notifications::unread_count(conn, w, me)?))
    })
    .await?;
    respond(&ctx.meta.htmx, StatusCode::OK, &NotificationsPage { layout: ctx.layout("Notifications", "notifications"), rows, unread, page, more })
}

pub async fn badge(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (w, me) = (ctx.workspace_id(), ctx.user_id());
    let unread = state.db(move |conn| Ok(notifications::unread_count(conn, w, me)?)).await?;
    html_status(StatusCode::OK, &Badge { unread })
}

/// Marks it read and follows its link (or back to the list).
pub async fn read_notification(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let (w, me, id) = (ctx.workspace_id(), ctx.user_id(), path.into_inner());
    let found = state.db(move |conn| {
        let found = notifications::find(conn, w, me, id)?.ok_or(AppError::NotFound)?;
        notifications::mark_read(conn, w, me, Some(id))?;
        Ok(found)
    })
    .await?;
    let to = found.link.filter(|l| l.starts_with('/') && !l.starts_with("//")).unwrap_or_else(|| "/notifications".into());
    Ok(see_other(&to))
}

pub async fn read_all(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (w, me) = (ctx.workspace_id(), ctx.user_id());
    state.db(move |conn| Ok(notifications::mark_read(conn, w, me, None)?)).await?;
    Ok(see_other("/notifications"))
}

#[derive(Deserialize)]
pub struct ChoicesForm {
    /// The kinds ticked (received); every other kind is turned off.
    #[serde(default)]
    kinds: Vec<String>,
}

/// `POST /account/notifications`: the kinds ticked stay on, the others are turned off, for
/// this user in this workspace; an unknown kind is 422 with the reason, nothing saved.
pub async fn save_choices(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<ChoicesForm>) -> Result<HttpResponse, AppError> {
    if let Some(unknown) = form.kinds.iter().find(|k| !notifications::KINDS.iter().any(|(kind, _)| kind == k)) {
        return Err(AppError::Validation(format!("“{}” is not a kind of notification.", unknown.chars().take(40).collect::<String>())));
    }
    let off: Vec<&'static str> = notifications::KINDS.iter().map(|(kind, _)| *kind).filter(|kind| !form.kinds.iter().any(|k| k == kind)).collect();
    let (w, me) = (ctx.workspace_id(), ctx.user_id());
    let entry = ctx.audit(Action::UsersNotificationsChanged, "users", me);
    state.db(move |conn| {
        conn.transaction(|tx| {
            let before = notifications::muted(tx, w, me)?;
            let mut wanted: Vec<&str> = off.clone();
            wanted.sort_unstable();
            if before.iter().map(String::as_str).eq(wanted.iter().copied()) {
                return Ok::<_, AppError>(());
            }
            notifications::set_muted(tx, w, me, &off)?;
            crate::audit::record(tx, &entry.before(serde_json::json!({ "off": before })).after(serde_json::json!({ "off": off })))?;
            Ok(())
        })
    })
    .await?;
    flash::success(&ctx.session, "Your notification choices are saved.");
    Ok(see_other("/account"))
}
