//! `/settings/tags`: the workspace's tags with how many clients carry each; rename, delete.
//! Tags are created inline on the client form and by bulk actions.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::clients::tags;
use crate::db;
use crate::error::AppError;
use crate::startup::AppState;
use crate::users::role::Role;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, HtmlForm};
use crate::web::render::{respond, see_other};

#[derive(Template)]
#[template(path = "settings/tags.html", blocks = ["content"])]
struct TagsPage {
    layout: Layout,
    tags: Vec<(i64, String, i64)>,
    error: Option<String>,
}

crate::pages!(TagsPage);

async fn page(ctx: &Ctx, state: &AppState, status: StatusCode, error: Option<String>) -> Result<HttpResponse, AppError> {
    let w = ctx.workspace_id();
    let tags = db::run(&state.pool, move |conn| Ok(tags::list_with_client_counts(conn, w)?)).await?;
    respond(&ctx.meta.htmx, status, &TagsPage { layout: ctx.layout("Tags", "settings"), tags, error })
}

pub async fn list_tags(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    page(&ctx, &state, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct TagForm {
    #[serde(default)]
    name: String,
}

pub async fn rename_tag(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<TagForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (w, id) = (ctx.workspace_id(), path.into_inner());
    let name = match forms::required_text(&form.name, "Tag", 50) {
        Ok(name) => name,
        Err(e) => return page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(e)).await,
    };
    let entry = ctx.audit("tags.renamed", "tags", id);
    let new_name = name.clone();
    let renamed = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let before = tags::find_name(tx, w, id)?.ok_or(AppError::NotFound)?;
            if tags::name_taken(tx, w, &new_name, id)? {
                return Ok(false);
            }
            tags::rename(tx, w, id, &new_name)?;
            audit::record(tx, &entry.before(json!({ "name": before })).after(json!({ "name": new_name })))?;
            Ok(true)
        })
    })
    .await?;
    if !renamed {
        return page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(format!("A tag named {name} already exists."))).await;
    }
    flash::success(&ctx.session, format!("Tag renamed to {name}."));
    Ok(see_other("/settings/tags"))
}

pub async fn delete_tag(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (w, id) = (ctx.workspace_id(), path.into_inner());
    let entry = ctx.audit("tags.deleted", "tags", id);
    let name = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let name = tags::find_name(tx, w, id)?.ok_or(AppError::NotFound)?;
            tags::delete(tx, w, id)?;
            audit::record(tx, &entry.before(json!({ "name": name })))?;
            Ok(name)
        })
    })
    .await?;
    flash::success(&ctx.session, format!("Tag {name} deleted."));
    Ok(see_other("/settings/tags"))
}
