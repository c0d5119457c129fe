//! `/settings/departments` (admin): list, create, rename, delete.

use diesel::Connection;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use serde::Deserialize;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::departments::{self, Department};
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, HtmlForm, Query};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "settings/departments.html", blocks = ["content"])]
struct DepartmentsPage {
    layout: Layout,
    departments: Vec<(Department, i64)>,
    name: String,
    error: Option<String>,
    /// The department shown as a rename form (`?edit=ID`, or a refused rename).
    editing: Option<i64>,
}

crate::pages!(DepartmentsPage);

async fn render(ctx: &Ctx, state: &AppState, status: StatusCode, name: String, error: Option<String>) -> Result<HttpResponse, AppError> {
    render_editing(ctx, state, status, name, error, None).await
}

async fn render_editing(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    name: String,
    error: Option<String>,
    editing: Option<i64>,
) -> Result<HttpResponse, AppError> {
    let workspace_id = ctx.workspace_id();
    let departments = state.db(move |conn| Ok(departments::list_with_member_counts(conn, workspace_id)?)).await?;
    respond(&ctx.meta.htmx, status, &DepartmentsPage { layout: ctx.layout("Departments", "settings"), departments, name, error, editing })
}

/// `?edit=ID` shows that row as a rename form (the Edit link without JavaScript).
#[derive(Deserialize)]
pub struct EditQuery {
    edit: Option<i64>,
}

pub async fn list_departments(ctx: Ctx, state: Data<AppState>, Query(q): Query<EditQuery>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    render_editing(&ctx, &state, StatusCode::OK, String::new(), None, q.edit).await
}

#[derive(Deserialize)]
pub struct DepartmentForm {
    #[serde(default)]
    name: String,
}

fn parse_name(form: &DepartmentForm) -> Result<String, forms::TextError> {
    forms::required_text(&form.name, "Department name", 100)
}

pub async fn create_department(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<DepartmentForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let name = match parse_name(&form) {
        Ok(name) => name,
        Err(e) => return render(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, form.name, Some(e.to_string())).await,
    };
    let workspace_id = ctx.workspace_id();
    let entry = ctx.audit(Action::DepartmentsCreated, "departments", "");
    let lookup = name.clone();
    let created = state.db(move |conn| {
        conn.transaction(|tx| {
            if departments::name_taken(tx, workspace_id, &lookup, None)? {
                return Ok(None);
            }
            let d = departments::insert(tx, workspace_id, &lookup)?;
            audit::record(tx, &audit::Entry { entity_id: Some(d.id.to_string()), ..entry.after(d.audit_json()) })?;
            Ok(Some(d))
        })
    })
    .await?;
    match created {
        Some(d) => {
            flash::success(&ctx.session, format!("Department {} created.", d.name));
            Ok(see_other("/settings/departments"))
        }
        None => {
            let error = format!("A department named {name} already exists.");
            render(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, name, Some(error)).await
        }
    }
}

pub async fn rename_department(
    ctx: Ctx,
    state: Data<AppState>,
    path: Path<i64>,
    HtmlForm(form): HtmlForm<DepartmentForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (workspace_id, id) = (ctx.workspace_id(), path.into_inner());
    let name = match parse_name(&form) {
        Ok(name) => name,
        Err(e) => return render_editing(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, String::new(), Some(e.to_string()), Some(id)).await,
    };
    let entry = ctx.audit(Action::DepartmentsRenamed, "departments", id);
    let lookup = name.clone();
    let renamed = state.db(move |conn| {
        conn.transaction(|tx| {
            let before = departments::find(tx, workspace_id, id)?.ok_or(AppError::NotFound)?;
            if departments::name_taken(tx, workspace_id, &lookup, Some(id))? {
                return Ok(false);
            }
            let after = departments::rename(tx, workspace_id, id, &lookup)?;
            audit::record(tx, &entry.before(before.audit_json()).after(after.audit_json()))?;
            Ok(true)
        })
    })
    .await?;
    if !renamed {
        let error = format!("A department named {name} already exists.");
        return render_editing(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, String::new(), Some(error), Some(id)).await;
    }
    flash::success(&ctx.session, format!("Department renamed to {name}."));
    Ok(see_other("/settings/departments"))
}

pub async fn delete_department(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (workspace_id, id) = (ctx.workspace_id(), path.into_inner());
    let entry = ctx.audit(Action::DepartmentsDeleted, "departments", id);
    let deleted = state.db(move |conn| {
        conn.transaction(|tx| {
            let before = departments::find(tx, workspace_id, id)?.ok_or(AppError::NotFound)?;
            departments::delete(tx, workspace_id, id)?;
            audit::record(tx, &entry.before(before.audit_json()))?;
            Ok(before)
        })
    })
    .await?;
    flash::success(&ctx.session, format!("Department {} deleted.", deleted.name));
    Ok(see_other("/settings/departments"))
}
