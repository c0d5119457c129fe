//! `/`: the signed-in home page: a shell whose tiles load themselves, and recent activity
//! for admins and managers.

pub mod checklist;
pub mod query;
pub mod tiles;

use actix_web::HttpResponse;
use actix_web::web::Data;
use askama::Template;

use crate::audit_log::{self, sentence::Described};
use crate::authz::Role;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::render::respond;
use crate::web::state::AppState;
use actix_web::http::StatusCode;

#[derive(Template)]
#[template(path = "dashboard/index.html", blocks = ["content"])]
struct DashboardPage {
    layout: Layout,
    recent: Vec<Described>,
    tiles: Vec<(&'static str, &'static str)>,
    /// Admins of a workspace still being set up; empty for everyone else.
    checklist: Vec<checklist::Step>,
}

pub const TILES: [(&str, &str); 4] = [
    ("clients", "Clients by status"),
    ("follow-ups", "Follow-ups"),
    ("communications", "Communications, last 7 days"),
    ("my-follow-ups", "My open follow-ups"),
];

/// Admins' and managers' extra tile (issue 12): campaigns (`campaigns::tiles`).
pub const CAMPAIGN_TILE: (&str, &str) = ("campaigns", "Campaigns");

/// A tile's title by its id.
pub fn tile_title(id: &'static str) -> &'static str {
    TILES.iter().chain([&CAMPAIGN_TILE]).find(|(tile_id, _)| *tile_id == id).map_or(id, |(_, title)| *title)
}

crate::pages!(DashboardPage);

pub async fn dashboard(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let recent = if ctx.role().at_least(Role::Manager) {
        state.db(move |conn| {
            let rows = audit_log::query::recent(conn, &scope, 10)?;
            Ok(audit_log::sentence::described(conn, &scope, rows)?)
        })
        .await?
    } else {
        Vec::new()
    };
    let checklist = if ctx.role().at_least(Role::Admin) {
        let (workspace_id, user_id, smtp_from_env) = (ctx.workspace_id(), ctx.user_id(), state.settings.smtp_url.is_some());
        state.db(move |conn| Ok(checklist::steps(conn, workspace_id, user_id, smtp_from_env)?)).await?
    } else {
        Vec::new()
    };
    let mut tiles = TILES.to_vec();
    if ctx.role().at_least(Role::Manager) {
        tiles.push(CAMPAIGN_TILE);
    }
    let page = DashboardPage { layout: ctx.layout("Dashboard", "dashboard"), recent, tiles, checklist };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}
