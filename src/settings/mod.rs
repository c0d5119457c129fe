//! `/settings` (admin): the index, the workspace's own settings, tags, Twilio and the synced
//! WhatsApp templates (`/whatsapp-templates`, also for managers). Users and
//! departments have modules of their own.

pub mod design;
pub mod tags;
pub mod twilio;
pub mod whatsapp_templates;
pub mod workspace;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use askama::Template;

use crate::authz::Role;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::render::respond;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "settings/index.html", blocks = ["content"])]
struct SettingsPage {
    layout: Layout,
    status_url: String,
    inbound_url: String,
}

crate::pages!(SettingsPage);

pub async fn settings_index(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (w, st) = (ctx.workspace_id(), state.clone());
    let (status_url, inbound_url) = state.db(move |conn| Ok(twilio::webhook_urls(conn, &st, w)?)).await?;
    respond(&ctx.meta.htmx, StatusCode::OK, &SettingsPage { layout: ctx.layout("Settings", "settings"), status_url, inbound_url })
}
