//! Askama templates into responses.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;

use crate::error::AppError;

pub fn html<T: Template>(template: &T) -> Result<HttpResponse, AppError> {
    html_status(StatusCode::OK, template)
}

pub fn html_status<T: Template>(status: StatusCode, template: &T) -> Result<HttpResponse, AppError> {
    let body = template.render()?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}

/// After a successful non-GET: 303 for plain requests; htmx follows it the same way.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}
