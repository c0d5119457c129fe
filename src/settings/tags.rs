//! `/settings/tags`: the workspace's tags with their colour and how many clients carry each;
//! create, rename/recolour, delete. Tags are also created inline on the client form and by
//! bulk actions (in the default colour).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::clients::tags;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, HtmlForm, Query};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "settings/tags.html", blocks = ["content"])]
struct TagsPage {
    layout: Layout,
    tags: Vec<tags::TagRow>,
    error: Option<String>,
    /// The tag shown as a rename form (`?edit=ID`, or a refused rename).
    editing: Option<i64>,
    /// The create form, as sent back after a refusal.
    new_name: String,
    new_colour: String,
}

crate::pages!(TagsPage);

async fn page_with(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    editing: Option<i64>,
    (new_name, new_colour): (String, String),
) -> Result<HttpResponse, AppError> {
    let w = ctx.workspace_id();
    let tags = state.db(move |conn| Ok(tags::list_with_client_counts(conn, w)?)).await?;
    respond(&ctx.meta.htmx, status, &TagsPage { layout: ctx.layout("Tags", "settings"), tags, error, editing, new_name, new_colour })
}

/// `?edit=ID` shows that row as a rename form (the Edit link without JavaScript).
#[derive(Deserialize)]
pub struct EditQuery {
    edit: Option<i64>,
}

pub async fn list_tags(ctx: Ctx, state: Data<AppState>, Query(q): Query<EditQuery>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    page_with(&ctx, &state, StatusCode::OK, None, q.edit, (String::new(), tags::COLOURS[0].to_string())).await
}

#[derive(Deserialize)]
pub struct TagForm {
    #[serde(default)]
    name: String,
    /// A palette name; absent keeps the colour (rename) or takes the default (create).
    colour: Option<String>,
}

/// The palette name sent, or `default` when none was; anything else is refused.
fn parse_colour(sent: Option<&str>, default: &str) -> Result<String, UnknownColour> {
    match sent {
        None => Ok(default.to_string()),
        Some(c) => tags::colour(c).map(str::to_string).ok_or(UnknownColour),
    }
}

/// A colour that is not in the palette.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Choose one of the listed colours.")]
struct UnknownColour;

pub async fn create_tag(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<TagForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let w = ctx.workspace_id();
    let sent = (form.name.chars().take(50).collect::<String>(), tags::colour(form.colour.as_deref().unwrap_or("")).unwrap_or(tags::COLOURS[0]).to_string());
    let checked = forms::required_text(&form.name, "Tag", 50).map_err(|e| e.to_string()).and_then(|name| Ok((name, parse_colour(form.colour.as_deref(), tags::COLOURS[0]).map_err(|e| e.to_string())?)));
    let (name, colour) = match checked {
        Ok(ok) => ok,
        Err(e) => return page_with(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(e), None, sent).await,
    };
    let entry = ctx.audit(Action::TagsCreated, "tags", "");
    let (new_name, new_colour) = (name.clone(), colour.clone());
    let created = state.db(move |conn| {
        conn.transaction(|tx| {
            if tags::find_id(tx, w, &new_name)?.is_some() {
                return Ok(false);
            }
            let Some(id) = tags::create(tx, w, &new_name, &new_colour)? else { return Ok(false) };
            let entry = audit::Entry { entity_id: Some(id.to_string()), ..entry.after(json!({ "name": new_name, "colour": new_colour })) };
            audit::record(tx, &entry)?;
            Ok::<_, AppError>(true)
        })
    })
    .await?;
    if !created {
        return page_with(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(format!("A tag named {name} already exists.")), None, sent).await;
    }
    flash::success(&ctx.session, format!("Tag {name} created."));
    Ok(see_other("/settings/tags"))
}

pub async fn rename_tag(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<TagForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (w, id) = (ctx.workspace_id(), path.into_inner());
    let editing = |e: String| page_with(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(e), Some(id), (String::new(), tags::COLOURS[0].to_string()));
    let name = match forms::required_text(&form.name, "Tag", 50) {
        Ok(name) => name,
        Err(e) => return editing(e.to_string()).await,
    };
    // Checked against the palette here; an absent colour keeps the tag's own (below).
    if let Err(e) = parse_colour(form.colour.as_deref(), tags::COLOURS[0]) {
        return editing(e.to_string()).await;
    }
    let entry = ctx.audit(Action::TagsRenamed, "tags", id);
    let (new_name, sent_colour) = (name.clone(), form.colour.clone());
    let renamed = state.db(move |conn| {
        conn.transaction(|tx| {
            let (before, before_colour) = tags::find(tx, w, id)?.ok_or(AppError::NotFound)?;
            if tags::name_taken(tx, w, &new_name, id)? {
                return Ok(false);
            }
            let colour = parse_colour(sent_colour.as_deref(), &before_colour).unwrap_or(before_colour.clone());
            tags::rename(tx, w, id, &new_name)?;
            tags::set_colour(tx, w, id, &colour)?;
            let entry = entry.before(json!({ "name": before, "colour": before_colour })).after(json!({ "name": new_name, "colour": colour }));
            audit::record(tx, &entry)?;
            Ok(true)
        })
    })
    .await?;
    if !renamed {
        return editing(format!("A tag named {name} already exists.")).await;
    }
    flash::success(&ctx.session, format!("Tag renamed to {name}."));
    Ok(see_other("/settings/tags"))
}

pub async fn delete_tag(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (w, id) = (ctx.workspace_id(), path.into_inner());
    let entry = ctx.audit(Action::TagsDeleted, "tags", id);
    let name = state.db(move |conn| {
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
