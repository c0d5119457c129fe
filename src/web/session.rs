//! Names of the values kept in a session, and small typed accessors.
//! The state itself lives server-side in Postgres (`auth::session_store`).

use actix_session::Session;

pub const USER_ID: &str = "uid";
pub const WORKSPACE_ID: &str = "wid";
/// Unix seconds when the user signed in (absolute timeout).
pub const CREATED: &str = "created";
/// Unix seconds of the last request (idle timeout); refreshed at most once a minute.
pub const SEEN: &str = "seen";
pub const IP: &str = "ip";
pub const USER_AGENT: &str = "ua";
pub const CSRF: &str = "csrf";
pub const FLASH: &str = "flash";
/// The signed-in user as the session store loaded them with the session (fresh on every
/// request, so a role change or deactivation counts at once). Keys starting with `_` are
/// added on load and never saved.
pub const CURRENT_USER: &str = "_user";
/// The key hash of this session's row, added on load (never saved).
pub const KEY_HASH: &str = "_key";

/// The key hash of the session asking, when it has a row.
pub fn key_hash(session: &Session) -> Option<String> {
    session.get::<String>(KEY_HASH).ok().flatten()
}

/// Idle timeout: 30 minutes without a request ends the session.
pub const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
/// Absolute timeout: 12 hours after sign-in, whatever happens.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
/// How stale `SEEN` may get before a request writes it again.
pub const SEEN_REFRESH_SECS: i64 = 60;

pub fn get_i64(session: &Session, key: &str) -> Option<i64> {
    session.get::<i64>(key).ok().flatten()
}
