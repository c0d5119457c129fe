//! One-shot messages shown on the next page.

use actix_session::Session;
use serde::{Deserialize, Serialize};

use crate::web::session::FLASH;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `info` or `error`; also the CSS class.
    pub kind: String,
    pub text: String,
}

pub fn push(session: &Session, kind: &str, text: impl Into<String>) {
    let mut all: Vec<Flash> = session.get(FLASH).ok().flatten().unwrap_or_default();
    all.push(Flash { kind: kind.to_string(), text: text.into() });
    let _ = session.insert(FLASH, all);
}

pub fn success(session: &Session, text: impl Into<String>) {
    push(session, "success", text);
}

pub fn take(session: &Session) -> Vec<Flash> {
    if session.get::<serde_json::Value>(FLASH).ok().flatten().is_none() {
        return Vec::new();
    }
    session.remove_as::<Vec<Flash>>(FLASH).and_then(Result::ok).unwrap_or_default()
}
