//! The email opt-out an unsubscribe link records (its pages: `campaigns::unsubscribe`), and
//! the link's token: `{workspace}.{client}.{mac}`, the MAC an HMAC-SHA256 of the two ids under
//! the at-rest key (derived from the secret key), so a link opts out its own client only and
//! cannot be forged or guessed.

use chrono::Utc;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::audit::{self, Action, Actor, Entry};
use crate::db::schema::{clients, workspaces};
use crate::error::AppError;
use crate::web::ctx::RequestMeta;

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

/// Where the unsubscribe link records the opt-out.
pub const UNSUBSCRIBE_SOURCE: &str = "unsubscribe link";

/// The (workspace, client, workspace's name) a token names: 404 for a forged token or a
/// client or workspace that no longer exists.
pub fn target(conn: &mut PgConnection, key: &[u8; 32], token: &str) -> Result<(i64, i64, String), AppError> {
    let (ws, client_id) = read_unsubscribe_token(key, token).ok_or(AppError::NotFound)?;
    let workspace: String = workspaces::table.find(ws).select(workspaces::name).first(conn).optional()?.ok_or(AppError::NotFound)?;
    clients::table.find((ws, client_id)).select(clients::id).first::<i64>(conn).optional()?.ok_or(AppError::NotFound)?;
    Ok((ws, client_id, workspace))
}

/// Records the token's client's opt-out from email (source [`UNSUBSCRIBE_SOURCE`]), audited
/// as the system with the request's `meta`, unless they opted out already (the first time is
/// kept). Returns the workspace's name.
pub fn record(tx: &mut PgConnection, key: &[u8; 32], token: &str, meta: &RequestMeta) -> Result<String, AppError> {
    let (ws, client_id, workspace) = target(tx, key, token)?;
    let changed = diesel::update(clients::table.find((ws, client_id)))
        .filter(clients::opt_out_email_at.is_null())
        .set((clients::opt_out_email_at.eq(Some(Utc::now())), clients::opt_out_email_source.eq(UNSUBSCRIBE_SOURCE), clients::updated_at.eq(diesel::dsl::now)))
        .execute(tx)?;
    if changed > 0 {
        let entry = Entry::new(ws, Actor::System, Action::ClientsOptedOut, "clients", client_id)
            .from_request(meta)
            .before(json!({ "opt_out_email": false }))
            .after(json!({ "opt_out_email": true, "source": UNSUBSCRIBE_SOURCE }));
        audit::record(tx, &entry)?;
    }
    Ok(workspace)
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
