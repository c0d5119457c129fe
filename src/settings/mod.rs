//! `/settings` (admin): the index, the workspace's own settings and tags. Users and
//! departments have modules of their own.

pub mod design;
pub mod tags;
pub mod workspace;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::error::AppError;
use crate::users::role::Role;
use crate::web::ctx::{Ctx, Layout};
use crate::web::render::respond;

#[derive(Template)]
#[template(path = "settings/index.html", blocks = ["content"])]
struct SettingsPage {
    layout: Layout,
}

crate::pages!(SettingsPage);

pub async fn settings_index(ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    respond(&ctx.meta.htmx, StatusCode::OK, &SettingsPage { layout: ctx.layout("Settings", "settings") })
}
