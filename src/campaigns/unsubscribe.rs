//! The public unsubscribe link of campaign emails (issue 12 part 3),
//! `GET/POST /unsubscribe/{token}`: the token and its pages. The token is
//! `{workspace}.{client}.{mac}`, the MAC an HMAC-SHA256 of the two ids under the at-rest key
//! (derived from the secret key), so a link opts out its own client only and cannot be
//! forged or guessed. Opening the link asks to confirm (a link opened by a mail scanner
//! changes nothing); confirming records the opt-out (`campaigns::opt_out`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::campaigns::model::transaction;
use crate::campaigns::opt_out;
use crate::error::AppError;
use crate::web::ctx::{Layout, RequestMeta};
use crate::web::htmx::Htmx;
use crate::web::render::respond;
use crate::web::state::AppState;

// HMAC takes a key of any length (RFC 2104), so `new_from_slice` never fails for `Hmac`.
#[allow(clippy::expect_used)]
fn mac(key: &[u8; 32], workspace_id: i64, client_id: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("switchboard-unsubscribe-email:{workspace_id}:{client_id}").as_bytes());
    mac
}

pub fn unsubscribe_token(key: &[u8; 32], workspace_id: i64, client_id: i64) -> String {
    let tag = mac(key, workspace_id, client_id).finalize().into_bytes();
    format!("{workspace_id}.{client_id}.{}", hex::encode(&tag[..16]))
}

/// The (workspace, client) a token names, if its MAC holds.
pub fn read_unsubscribe_token(key: &[u8; 32], token: &str) -> Option<(i64, i64)> {
    let mut parts = token.split('.');
    let (ws, client, tag) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, hex::decode(parts.next()?).ok()?);
    if parts.next().is_some() || tag.len() != 16 {
        return None;
    }
    mac(key, ws, client).verify_truncated_left(&tag).ok().map(|_| (ws, client))
}

pub fn unsubscribe_url(base: &url::Url, key: &[u8; 32], workspace_id: i64, client_id: i64) -> String {
    format!("{}/unsubscribe/{}", base.as_str().trim_end_matches('/'), unsubscribe_token(key, workspace_id, client_id))
}

#[derive(Template)]
#[template(path = "campaigns/unsubscribe.html", blocks = ["content"])]
struct UnsubscribePage {
    layout: Layout,
    token: String,
    workspace: String,
    done: bool,
}
crate::pages!(UnsubscribePage);

impl UnsubscribePage {
    fn action(&self) -> String {
        format!("/unsubscribe/{}", self.token)
    }
}

/// Public (no session): asks to confirm (a link opened by a mail scanner changes nothing).
pub async fn unsubscribe_form(session: Session, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let key = state.at_rest_key;
    let t = token.clone();
    let (_, _, workspace) = state.db(move |conn| opt_out::target(conn, &key, &t)).await?;
    let page = UnsubscribePage { layout: Layout::anonymous(&session, "Unsubscribe"), token, workspace, done: false };
    respond(&htmx, StatusCode::OK, &page)
}

/// Records the opt-out from email (`unsubscribe link`), audited; the first opt-out's time
/// is kept when the link is used again.
pub async fn unsubscribe(session: Session, req: HttpRequest, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let key = state.at_rest_key;
    let meta = RequestMeta::of(&req);
    let t = token.clone();
    let workspace = state.db(move |conn| transaction(conn, |tx| opt_out::record(tx, &key, &t, &meta))).await?;
    let page = UnsubscribePage { layout: Layout::anonymous(&session, "Unsubscribed"), token, workspace, done: true };
    respond(&htmx, StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsubscribe_token_names_its_client_and_cannot_be_altered() {
        let key = crate::crypto::derive(b"a secret key of at least thirty-two characters");
        let token = unsubscribe_token(&key, 7, 42);
        assert!(token.starts_with("7.42.") && token.len() == "7.42.".len() + 32, "{token}");
        assert_eq!(read_unsubscribe_token(&key, &token), Some((7, 42)));
        let tag = &token["7.42.".len()..];
        assert_eq!(read_unsubscribe_token(&key, &format!("7.43.{tag}")), None, "another client");
        assert_eq!(read_unsubscribe_token(&key, &format!("8.42.{tag}")), None, "another workspace");
        assert_eq!(read_unsubscribe_token(&crate::crypto::derive(b"another key entirely, also long enough"), &token), None);
        assert_eq!(read_unsubscribe_token(&key, &format!("{token}.1")), None);
        assert_eq!(read_unsubscribe_token(&key, "garbage"), None);
    }
}
