//! Static files embedded in the binary, served under a content-hashed URL with an
//! immutable cache header.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "static/"]
struct StaticFiles;

/// URLs of the assets every page links to.
#[derive(Debug)]
pub struct Assets {
    pub css: String,
    pub js: String,
    pub htmx: String,
    pub sse: String,
    pub icon: String,
    /// Marks the page as scripted before the first paint (not deferred; one line).
    pub js_on: String,
}

pub const HTMX: &str = "vendor/htmx-2.0.11.min.js";
pub const HTMX_SSE: &str = "vendor/htmx-ext-sse-2.2.4.js";

impl Assets {
    pub fn get() -> &'static Assets {
        static ASSETS: OnceLock<Assets> = OnceLock::new();
        ASSETS.get_or_init(|| Assets { css: url("app.css"), js: url("app.js"), htmx: url(HTMX), sse: url(HTMX_SSE), icon: url("favicon.svg"), js_on: url("js-on.js") })
    }
}

fn hash_of(path: &str) -> Option<String> {
    StaticFiles::get(path).map(|file| hex::encode(&file.metadata.sha256_hash()[..5]))
}

/// `/static/<content hash>/<path>`; a new file content gives a new URL.
pub fn url(path: &str) -> String {
    let hash = hash_of(path).unwrap_or_else(|| panic!("static/{path} is not embedded"));
    format!("/static/{hash}/{path}")
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

pub async fn serve(path: web::Path<(String, String)>) -> HttpResponse {
    let (hash, file) = path.into_inner();
    let Some(content) = StaticFiles::get(&file) else {
        return HttpResponse::NotFound().finish();
    };
    // A stale hash still gets the current file, but must not be cached for ever.
    let cache = if hash_of(&file).as_deref() == Some(hash.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .content_type(content_type(&file))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(content.data.into_owned())
}
