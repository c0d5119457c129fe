//! Dashboard tiles, each its own fragment loaded lazily (`hx-trigger="load"`), so one slow
//! query never holds up the page. Their queries are in `dashboard::query`. Without htmx (the
//! dashboard's `<noscript>` links), a tile's URL answers a full page holding just that tile.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use askama::Template;
use chrono::{DateTime, Utc};

use crate::dashboard::query::{self, Bar, FollowUpCounts, MyFollowUp, StatusCounts};
use crate::error::AppError;
use crate::web::ctx::Ctx;
use crate::web::ctx::Layout;
use crate::web::render::page;
use crate::web::state::AppState;

/// One tile in the base layout, for a plain request.
#[derive(Template)]
#[template(path = "dashboard/tile_page.html")]
struct TilePage<T: Template> {
    layout: Layout,
    id: &'static str,
    title: &'static str,
    tile: T,
}

/// The tile's fragment for htmx, or its full page, by the one rule in `render::page`.
pub fn respond<T: Template>(ctx: &Ctx, id: &'static str, tile: T) -> Result<HttpResponse, AppError> {
    let title = crate::dashboard::tile_title(id);
    let full = TilePage { layout: ctx.layout(title, "dashboard"), id, title, tile };
    page(&ctx.meta.htmx, StatusCode::OK, &full, &full.tile)
}

#[derive(Template)]
#[template(path = "dashboard/tile_clients.html")]
struct ClientsTile {
    counts: StatusCounts,
}

#[derive(Template)]
#[template(path = "dashboard/tile_follow_ups.html")]
struct FollowUpsTile {
    counts: FollowUpCounts,
}

#[derive(Template)]
#[template(path = "dashboard/tile_communications.html")]
struct CommunicationsTile {
    bars: Vec<Bar>,
    total: i64,
}

#[derive(Template)]
#[template(path = "dashboard/tile_my_follow_ups.html")]
struct MyFollowUpsTile {
    rows: Vec<MyFollowUp>,
    now: DateTime<Utc>,
    zone: crate::web::time::Zone,
}

pub async fn clients_tile(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let counts = state.db(move |conn| Ok(query::client_status_counts(conn, &scope)?)).await?;
    respond(&ctx, "clients", ClientsTile { counts })
}

pub async fn follow_ups_tile(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (scope, now) = (ctx.scope(), state.clock.now());
    let counts = state.db(move |conn| Ok(query::follow_up_counts(conn, &scope, now)?)).await?;
    respond(&ctx, "follow-ups", FollowUpsTile { counts })
}

pub async fn communications_tile(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let (scope, zone, now) = (ctx.scope(), ctx.zone(), state.clock.now());
    let bars = state.db(move |conn| Ok(query::communication_bars(conn, &scope, zone, now)?)).await?;
    let total = bars.iter().map(|b| b.n).sum();
    respond(&ctx, "communications", CommunicationsTile { bars, total })
}

pub async fn my_follow_ups_tile(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let rows = state.db(move |conn| Ok(query::my_follow_ups(conn, &scope)?)).await?;
    let tile = MyFollowUpsTile { rows, now: state.clock.now(), zone: ctx.zone() };
    respond(&ctx, "my-follow-ups", tile)
}
