//! `/notifications` (list, unread first), `POST /notifications/{id}/read`,
//! `POST /notifications/read-all`, `GET /notifications/badge` (the polled nav badge).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use serde::Deserialize;

use crate::db;
use crate::error::AppError;
use crate::notifications::{self, Notification};
use crate::startup::AppState;
use crate::web::ctx::{Ctx, Layout};
use crate::web::forms::Query;
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
    let (rows, more, unread) = db::run(&state.pool, move |conn| {
        let (rows, more) = notifications::page(conn, w, me, page)?;
        Ok((rows, more, notifications::unread_count(conn, w, me)?))
    })
    .await?;
    respond(&ctx.meta.htmx, StatusCode::OK, &NotificationsPage { layout: ctx.layout("Notifications", "notifications"), rows, unread, page, more })
}

pub async fn badge(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (w, me) = (ctx.workspace_id(), ctx.user_id());
    let unread = db::run(&state.pool, move |conn| Ok(notifications::unread_count(conn, w, me)?)).await?;
    html_status(StatusCode::OK, &Badge { unread })
}

/// Marks it read and follows its link (or back to the list).
pub async fn read_notification(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let (w, me, id) = (ctx.workspace_id(), ctx.user_id(), path.into_inner());
    let found = db::run(&state.pool, move |conn| {
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
    db::run(&state.pool, move |conn| Ok(notifications::mark_read(conn, w, me, None)?)).await?;
    Ok(see_other("/notifications"))
}
