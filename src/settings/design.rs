//! `/settings/design` (admin): the living style guide. Each component of
//! templates/macros.html rendered with sample content, so a change to one is seen
//! everywhere it is used, and the screenshot test captures them all.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::authz::Role;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::render::respond;

#[derive(Template)]
#[template(path = "settings/design.html", blocks = ["content"])]
struct DesignPage {
    layout: Layout,
    /// A field error, shown the way a failed form shows it.
    email_error: Option<&'static str>,
    no_error: Option<&'static str>,
}

crate::pages!(DesignPage);

pub async fn design(ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let page = DesignPage {
        layout: ctx.layout("Design", "settings"),
        email_error: Some("Enter an email address like name@example.com."),
        no_error: None,
    };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}
