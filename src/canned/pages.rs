//! `/canned-replies`: the replies a person sees (the workspace's and their own), a page of
//! 50 at a time; `POST /canned-replies` a new one; `GET /canned-replies/{id}/edit` and
//! `POST /canned-replies/{id}` change one; `POST /canned-replies/{id}/delete` removes it.
//! Another person's own reply, and another workspace's, are 404; the workspace's replies
//! are 403 to change for anyone but an admin.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;

use crate::audit::Action;
use crate::authz::{Role, Scope};
use crate::canned::model::{self, BODY_MAX, CannedError, CannedForm, CannedReply, Draft, SHORTCUT_MAX, TITLE_MAX};
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{FormErrors, HtmlForm, Query, page_number};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

impl From<CannedError> for AppError {
    fn from(e: CannedError) -> Self {
        match e {
            CannedError::NotFound => AppError::NotFound,
            CannedError::NotAdmin => AppError::Forbidden(e.to_string()),
            CannedError::ShortcutTaken(_) => AppError::Validation(e.to_string()),
            CannedError::Db(e) => e.into(),
        }
    }
}

#[derive(Template)]
#[template(path = "canned/index.html", blocks = ["content"])]
struct ListPage {
    layout: Layout,
    rows: Vec<CannedReply>,
    /// The reader: which rows they may change.
    scope: Scope,
    admin: bool,
    page: i64,
    more: bool,
    form: CannedForm,
    errors: FormErrors,
    limits: (usize, usize, usize),
}
crate::pages!(ListPage);

impl ListPage {
    fn editable(&self, reply: &CannedReply) -> bool {
        reply.editable_by(&self.scope)
    }

    fn prev_href(&self) -> String {
        if self.page > 1 { format!("/canned-replies?page={}", self.page - 1) } else { String::new() }
    }

    fn next_href(&self) -> String {
        if self.more { format!("/canned-replies?page={}", self.page + 1) } else { String::new() }
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    page: Option<i64>,
}

async fn list_with(ctx: &Ctx, state: &AppState, status: StatusCode, page: i64, form: CannedForm, errors: FormErrors) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let (rows, more) = state.db(move |conn| Ok(model::page(conn, &scope, page)?)).await?;
    let admin = ctx.role() == Role::Admin;
    let page = ListPage { layout: ctx.layout("Canned replies", "chat"), rows, scope, admin, page, more, form, errors, limits: (TITLE_MAX, SHORTCUT_MAX, BODY_MAX) };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn list(ctx: Ctx, state: Data<AppState>, Query(q): Query<ListQuery>) -> Result<HttpResponse, AppError> {
    list_with(&ctx, &state, StatusCode::OK, page_number(q.page), CannedForm::default(), FormErrors::default()).await
}

/// A taken shortcut, said next to the shortcut field.
fn taken(e: CannedError) -> FormErrors {
    let mut errors = FormErrors::default();
    errors.add("shortcut", e);
    errors
}

pub async fn create(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<CannedForm>) -> Result<HttpResponse, AppError> {
    if form.is_shared() && ctx.role() != Role::Admin {
        return Err(CannedError::NotAdmin.into());
    }
    let draft = match Draft::parse(&form) {
        Ok(draft) => draft,
        Err(errors) => return list_with(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, 1, form, errors).await,
    };
    let (scope, entry) = (ctx.scope(), ctx.audit(Action::CannedRepliesCreated, "canned_replies", ""));
    let written = state.db(move |conn| Ok(conn.transaction(|tx| model::create(tx, &scope, &draft, entry)))).await?;
    match written {
        Ok(reply) => {
            flash::success(&ctx.session, format!("Canned reply /{} saved.", reply.shortcut));
            Ok(see_other("/canned-replies"))
        }
        Err(e @ CannedError::ShortcutTaken(_)) => list_with(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, 1, form, taken(e)).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "canned/edit.html", blocks = ["content"])]
struct EditPage {
    layout: Layout,
    id: i64,
    admin: bool,
    form: CannedForm,
    errors: FormErrors,
    limits: (usize, usize, usize),
}
crate::pages!(EditPage);

fn edit_page(ctx: &Ctx, id: i64, form: CannedForm, errors: FormErrors) -> EditPage {
    EditPage { layout: ctx.layout("Edit canned reply", "chat"), id, admin: ctx.role() == Role::Admin, form, errors, limits: (TITLE_MAX, SHORTCUT_MAX, BODY_MAX) }
}

pub async fn edit(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ctx.scope(), path.into_inner());
    let reply = state.db(move |conn| Ok(model::find(conn, &scope, id)?)).await?.ok_or(AppError::NotFound)?;
    if !reply.editable_by(&scope) {
        return Err(CannedError::NotAdmin.into());
    }
    respond(&ctx.meta.htmx, StatusCode::OK, &edit_page(&ctx, id, CannedForm::of(&reply), FormErrors::default()))
}

pub async fn update(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<CannedForm>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ctx.scope(), path.into_inner());
    let draft = match Draft::parse(&form) {
        Ok(draft) => draft,
        Err(errors) => {
            // Refused for its fields only if the person may change it at all.
            let reply = state.db(move |conn| Ok(model::find(conn, &scope, id)?)).await?.ok_or(AppError::NotFound)?;
            if !reply.editable_by(&scope) {
                return Err(CannedError::NotAdmin.into());
            }
            return respond(&ctx.meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &edit_page(&ctx, id, form, errors));
        }
    };
    let entry = ctx.audit(Action::CannedRepliesUpdated, "canned_replies", id);
    let written = state.db(move |conn| Ok(conn.transaction(|tx| model::update(tx, &scope, id, &draft, entry)))).await?;
    match written {
        Ok(reply) => {
            flash::success(&ctx.session, format!("Canned reply /{} saved.", reply.shortcut));
            Ok(see_other("/canned-replies"))
        }
        Err(e @ CannedError::ShortcutTaken(_)) => respond(&ctx.meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &edit_page(&ctx, id, form, taken(e))),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ctx.scope(), path.into_inner());
    let entry = ctx.audit(Action::CannedRepliesDeleted, "canned_replies", id);
    let reply = state.db(move |conn| Ok(conn.transaction(|tx| model::delete(tx, &scope, id, entry))?)).await?;
    flash::success(&ctx.session, format!("Canned reply /{} deleted.", reply.shortcut));
    Ok(see_other("/canned-replies"))
}
