//! The email opt-out an unsubscribe link records (`campaigns::unsubscribe`).

use chrono::Utc;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Action, Actor, Entry};
use crate::campaigns::unsubscribe::read_unsubscribe_token;
use crate::db::schema::{clients, workspaces};
use crate::error::AppError;
use crate::web::ctx::RequestMeta;

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
