//! The one rule for answering with a full page or a fragment (STYLE.md §2).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

#[derive(Clone, Debug, Default)]
pub struct Htmx {
    pub request: bool,
    pub boosted: bool,
    pub history_restore: bool,
    pub target: Option<String>,
}

impl Htmx {
    pub fn from_request(req: &HttpRequest) -> Self {
        let flag = |name: &str| req.headers().get(name).is_some_and(|v| v.as_bytes() == b"true");
        Self {
            request: flag("HX-Request"),
            boosted: flag("HX-Boosted"),
            history_restore: flag("HX-History-Restore-Request"),
            target: req.headers().get("HX-Target").and_then(|v| v.to_str().ok()).map(str::to_owned),
        }
    }

    /// A fragment for htmx requests, except boosted navigation and history restores, which
    /// swap the whole body and need the full page.
    pub fn wants_fragment(&self) -> bool {
        self.request && !self.boosted && !self.history_restore
    }
}

impl FromRequest for Htmx {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Htmx::from_request(req)))
    }
}
