//! Askama templates into responses.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::{DynTemplate, Template};

use crate::web::htmx::Htmx;

use crate::error::AppError;

pub fn html_status<T: Template>(status: StatusCode, template: &T) -> Result<HttpResponse, AppError> {
    let body = template.render()?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}

/// A page template whose `content` block is its htmx fragment.
pub trait Page: Template {
    fn fragment(&self) -> Box<dyn DynTemplate + '_>;
}

/// Declares that each listed template (with `blocks = ["content"]`) is a `Page`.
#[macro_export]
macro_rules! pages {
    ($($page:ty),+ $(,)?) => {
        $(impl $crate::web::render::Page for $page {
            fn fragment(&self) -> Box<dyn askama::DynTemplate + '_> {
                Box::new(self.as_content())
            }
        })+
    };
}

/// Renders a `Page` whole or as its fragment, by the one rule in `page`.
pub fn respond(htmx: &Htmx, status: StatusCode, full: &impl Page) -> Result<HttpResponse, AppError> {
    page(htmx, status, full, full.fragment().as_ref())
}

/// The one place that picks a full page or its `content` block: a full page for plain
/// requests, boosted navigation and history restores; the fragment for other htmx requests.
pub fn page(
    htmx: &Htmx,
    status: StatusCode,
    full: &dyn DynTemplate,
    fragment: &dyn DynTemplate,
) -> Result<HttpResponse, AppError> {
    let body = if htmx.wants_fragment() { fragment.dyn_render()? } else { full.dyn_render()? };
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}

/// After a successful non-GET: 303 for plain requests; htmx follows it the same way.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}
