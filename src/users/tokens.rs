//! Single-use tokens sent by email: password reset (1 hour), invitation (7 days) and a new
//! email address to confirm (24 hours, the address on the token). Only
//! their SHA-256 is stored; the raw value exists only in the link.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::crypto;
use crate::db::schema::auth_tokens;
use crate::users::model::{self as user_model, User};

pub const RESET_TTL_HOURS: i64 = 1;
pub const INVITE_TTL_DAYS: i64 = 7;
pub const EMAIL_CHANGE_TTL_HOURS: i64 = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Reset,
    Invite,
    /// Confirms `new_email`.
    Email,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Invite => "invite",
            Purpose::Email => "email",
        }
    }
}

/// A new token for the user; returns the raw value for the link (never stored).
pub fn issue(conn: &mut PgConnection, user: &User, purpose: Purpose, now: DateTime<Utc>) -> QueryResult<String> {
    let raw = crypto::random_hex(32);
    let ttl = match purpose {
        Purpose::Reset => Duration::hours(RESET_TTL_HOURS),
        Purpose::Invite => Duration::days(INVITE_TTL_DAYS),
        Purpose::Email => Duration::hours(EMAIL_CHANGE_TTL_HOURS),
    };
    diesel::insert_into(auth_tokens::table)
        .values((
            auth_tokens::workspace_id.eq(user.workspace_id),
            auth_tokens::user_id.eq(user.id),
            auth_tokens::purpose.eq(purpose.as_str()),
            auth_tokens::token_hash.eq(crypto::sha256_hex(&raw)),
            auth_tokens::expires_at.eq(now + ttl),
        ))
        .execute(conn)?;
    Ok(raw)
}

/// The token's id and its active user when it is unused, unexpired and for `purpose`. The
/// row is locked (inside a transaction), so two uses of one link cannot both succeed.
pub fn find_valid(conn: &mut PgConnection, raw: &str, purpose: Purpose, now: DateTime<Utc>) -> QueryResult<Option<(i64, User)>> {
    let found = auth_tokens::table
        .filter(auth_tokens::token_hash.eq(crypto::sha256_hex(raw)))
        .filter(auth_tokens::purpose.eq(purpose.as_str()))
        .filter(auth_tokens::used_at.is_null())
        .filter(auth_tokens::expires_at.gt(now))
        .select((auth_tokens::workspace_id, auth_tokens::id, auth_tokens::user_id))
        .for_update()
        .first::<(i64, i64, i64)>(conn)
        .optional()?;
    let Some((workspace_id, id, user_id)) = found else { return Ok(None) };
    let user = user_model::find(conn, workspace_id, user_id)?.filter(|u| u.active);
    Ok(user.map(|u| (id, u)))
}

/// Marks the token used.
pub fn spend(conn: &mut PgConnection, workspace_id: i64, id: i64, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::update(auth_tokens::table.filter(auth_tokens::workspace_id.eq(workspace_id)).filter(auth_tokens::id.eq(id)))
        .set(auth_tokens::used_at.eq(now))
        .execute(conn)
}

/// A token confirming `new_email` for the user. Earlier unused ones are spent: only the
/// newest address asked for can be confirmed.
pub fn issue_email_change(conn: &mut PgConnection, user: &User, new_email: &str, now: DateTime<Utc>) -> QueryResult<String> {
    spend_email_changes(conn, user.workspace_id, user.id, now)?;
    let raw = crypto::random_hex(32);
    diesel::insert_into(auth_tokens::table)
        .values((
            auth_tokens::workspace_id.eq(user.workspace_id),
            auth_tokens::user_id.eq(user.id),
            auth_tokens::purpose.eq(Purpose::Email.as_str()),
            auth_tokens::token_hash.eq(crypto::sha256_hex(&raw)),
            auth_tokens::expires_at.eq(now + Duration::hours(EMAIL_CHANGE_TTL_HOURS)),
            auth_tokens::new_email.eq(new_email),
        ))
        .execute(conn)?;
    Ok(raw)
}

/// Spends every unused email-change token of the user (a new request, or a cancel).
pub fn spend_email_changes(conn: &mut PgConnection, workspace_id: i64, user_id: i64, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::update(
        auth_tokens::table
            .filter(auth_tokens::workspace_id.eq(workspace_id))
            .filter(auth_tokens::user_id.eq(user_id))
            .filter(auth_tokens::purpose.eq(Purpose::Email.as_str()))
            .filter(auth_tokens::used_at.is_null()),
    )
    .set(auth_tokens::used_at.eq(now))
    .execute(conn)
}

/// The address waiting for confirmation, if any.
pub fn pending_email(conn: &mut PgConnection, workspace_id: i64, user_id: i64, now: DateTime<Utc>) -> QueryResult<Option<String>> {
    auth_tokens::table
        .filter(auth_tokens::workspace_id.eq(workspace_id))
        .filter(auth_tokens::user_id.eq(user_id))
        .filter(auth_tokens::purpose.eq(Purpose::Email.as_str()))
        .filter(auth_tokens::used_at.is_null())
        .filter(auth_tokens::expires_at.gt(now))
        .order(auth_tokens::id.desc())
        .select(auth_tokens::new_email)
        .first::<Option<String>>(conn)
        .optional()
        .map(Option::flatten)
}

/// The address a valid email-change token confirms, with the token's id and user (locked,
/// see [`find_valid`]).
pub fn find_email_change(conn: &mut PgConnection, raw: &str, now: DateTime<Utc>) -> QueryResult<Option<(i64, User, String)>> {
    let Some((id, user)) = find_valid(conn, raw, Purpose::Email, now)? else { return Ok(None) };
    let email: Option<String> =
        auth_tokens::table.filter(auth_tokens::workspace_id.eq(user.workspace_id)).filter(auth_tokens::id.eq(id)).select(auth_tokens::new_email).first(conn)?;
    Ok(email.map(|e| (id, user, e)))
}
