//! actix-session's store backed by the `sessions` table. The cookie holds a random key; the
//! table holds its SHA-256 and the state, plus copies of who/where/when for
//! `/account/sessions` and for "sign out everywhere".
//!
//! Only a signed-in session gets a row. A visitor's session (the CSRF token of the sign-in
//! form, a flash message) lives in the cookie itself: its "key" is `a.` and the hex of
//! `{exp, state}`. The session middleware signs the cookie, so a visitor cannot change it,
//! and a cookie state naming a user is refused all the same. Looking at `/login` a million
//! times therefore writes nothing (a signed double-submit cookie for the form's CSRF token).

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use actix_web::web;
use anyhow::anyhow;
use chrono::{DateTime, TimeZone, Utc};
use diesel::prelude::*;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::db::Pool;
use crate::db::schema::sessions;
use crate::web::current_user::CurrentUser;
use crate::web::session as keys;

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct PgSessionStore {
    pool: Pool,
    clock: Clock,
}

impl PgSessionStore {
    pub fn new(pool: Pool, clock: Clock) -> Self {
        Self { pool, clock }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PgConnection, DateTime<Utc>) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let pool = self.pool.clone();
        let now = self.clock.now();
        let result = web::block(move || {
            let mut conn = pool.get().map_err(crate::db::Unavailable::from)?;
            f(&mut conn, now)
        })
        .await
        .map_err(|e| anyhow!("session store task failed: {e}"))?;
        // actix-session turns any store error into an opaque 500; the last-resort handler
        // answers 503 instead when the pool was the cause.
        if result.as_ref().is_err_and(|e| e.downcast_ref::<crate::db::Unavailable>().is_some()) {
            crate::db::note_unavailable();
        }
        result
    }
}

pub fn hash_key(key: &str) -> String {
    crate::crypto::sha256_hex(key)
}

/// Columns copied out of the state (values are JSON-encoded by actix-session).
struct Columns {
    workspace_id: Option<i64>,
    user_id: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: Option<DateTime<Utc>>,
    last_seen_at: Option<DateTime<Utc>>,
    state: serde_json::Value,
}

impl Columns {
    fn of(state: &State) -> Self {
        // Values the store adds on load (`_user`) are never saved.
        let saved: State = state.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())).collect();
        let int = |k: &str| state.get(k).and_then(|v| v.parse::<i64>().ok());
        let text = |k: &str| state.get(k).and_then(|v| serde_json::from_str::<String>(v).ok());
        let time = |k: &str| int(k).and_then(|s| Utc.timestamp_opt(s, 0).single());
        Self {
            workspace_id: int(keys::WORKSPACE_ID),
            user_id: int(keys::USER_ID),
            ip: text(keys::IP),
            user_agent: text(keys::USER_AGENT),
            created_at: time(keys::CREATED),
            last_seen_at: time(keys::SEEN),
            state: serde_json::to_value(saved).unwrap_or_default(),
        }
    }
}

fn expiry(now: DateTime<Utc>, ttl: &Duration) -> DateTime<Utc> {
    now + chrono::Duration::seconds(ttl.whole_seconds())
}

/// Prefix of a visitor's session key, which carries its state (never a 64-character row key).
const ANONYMOUS: &str = "a.";
/// Longest anonymous key kept in the cookie; a bigger state gets a row instead.
const MAX_ANONYMOUS_KEY: usize = 3_000;

#[derive(Serialize, Deserialize)]
struct Anonymous {
    /// Unix seconds after which the state is void.
    exp: i64,
    state: State,
}

fn signed_in(state: &State) -> bool {
    state.contains_key(keys::USER_ID) || state.contains_key(keys::WORKSPACE_ID)
}

/// The key that carries an anonymous `state`; `None` when the state names a user or is too
/// big for a cookie.
fn anonymous_key(state: &State, ttl: &Duration, now: DateTime<Utc>) -> Option<SessionKey> {
    if signed_in(state) {
        return None;
    }
    let state = state.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())).collect();
    let json = serde_json::to_vec(&Anonymous { exp: expiry(now, ttl).timestamp(), state }).ok()?;
    let key = format!("{ANONYMOUS}{}", hex::encode(json));
    (key.len() <= MAX_ANONYMOUS_KEY).then(|| SessionKey::try_from(key).ok()).flatten()
}

/// The state an anonymous key carries, unless it expired or (never from us) names a user.
fn anonymous_state(key: &str, now: DateTime<Utc>) -> Option<State> {
    let json = hex::decode(key.strip_prefix(ANONYMOUS)?).ok()?;
    let anonymous: Anonymous = serde_json::from_slice(&json).ok()?;
    (anonymous.exp > now.timestamp() && !signed_in(&anonymous.state)).then_some(anonymous.state)
}

fn is_anonymous(key: &SessionKey) -> bool {
    key.as_ref().starts_with(ANONYMOUS)
}

fn insert(conn: &mut PgConnection, state: &State, ttl: &Duration, now: DateTime<Utc>) -> anyhow::Result<SessionKey> {
    if let Some(key) = anonymous_key(state, ttl, now) {
        return Ok(key);
    }
    let key = Alphanumeric.sample_string(&mut rand::rng(), 64);
    let c = Columns::of(state);
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(hash_key(&key)),
            sessions::workspace_id.eq(c.workspace_id),
            sessions::user_id.eq(c.user_id),
            sessions::state.eq(c.state),
            sessions::ip.eq(c.ip),
            sessions::user_agent.eq(c.user_agent),
            sessions::created_at.eq(c.created_at.unwrap_or(now)),
            sessions::last_seen_at.eq(c.last_seen_at.unwrap_or(now)),
            sessions::expires_at.eq(expiry(now, ttl)),
        ))
        .execute(conn)?;
    SessionKey::try_from(key).map_err(|e| anyhow!("bad session key: {e}"))
}

impl SessionStore for PgSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        if is_anonymous(session_key) {
            return Ok(anonymous_state(session_key.as_ref(), self.clock.now()));
        }
        let hash = hash_key(session_key.as_ref());
        self.blocking(move |conn, now| {
            let current = serde_json::to_string(&hash)?;
            let row: Option<(serde_json::Value, Option<i64>, Option<i64>)> = sessions::table
                .filter(sessions::key_hash.eq(hash))
                .filter(sessions::expires_at.gt(now))
                .select((sessions::state, sessions::workspace_id, sessions::user_id))
                .first(conn)
                .optional()?;
            let Some((state, workspace_id, user_id)) = row else { return Ok(None) };
            let mut state = serde_json::from_value::<State>(state).unwrap_or_default();
            // Which row this is, so the sessions page can mark "This device".
            state.insert(keys::KEY_HASH.to_string(), current);
            // The signed-in user comes along on the same connection: one trip for both.
            if let (Some(workspace_id), Some(user_id)) = (workspace_id, user_id) {
                if let Some(user) = CurrentUser::find_active(conn, workspace_id, user_id)? {
                    state.insert(keys::CURRENT_USER.to_string(), serde_json::to_string(&user)?);
                }
            }
            Ok(Some(state))
        })
        .await
        .map_err(LoadError::Other)
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let ttl = *ttl;
        self.blocking(move |conn, now| insert(conn, &state, &ttl, now)).await.map_err(SaveError::Other)
    }

    async fn update(&self, session_key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        let ttl = *ttl;
        if is_anonymous(&session_key) {
            return self.blocking(move |conn, now| insert(conn, &state, &ttl, now)).await.map_err(UpdateError::Other);
        }
        let hash = hash_key(session_key.as_ref());
        self.blocking(move |conn, now| {
            if !signed_in(&state) {
                // A row left from before visitors' sessions moved into the cookie.
                diesel::delete(sessions::table.filter(sessions::key_hash.eq(&hash))).execute(conn)?;
                return insert(conn, &state, &ttl, now);
            }
            let c = Columns::of(&state);
            let updated = diesel::update(sessions::table.filter(sessions::key_hash.eq(&hash)))
                .set((
                    sessions::workspace_id.eq(c.workspace_id),
                    sessions::user_id.eq(c.user_id),
                    sessions::state.eq(c.state),
                    sessions::ip.eq(c.ip),
                    sessions::user_agent.eq(c.user_agent),
                    sessions::last_seen_at.eq(c.last_seen_at.unwrap_or(now)),
                    sessions::expires_at.eq(expiry(now, &ttl)),
                ))
                .execute(conn)?;
            if updated == 1 {
                return Ok(session_key);
            }
            // The row is gone: the session was revoked while this request ran. Never bring
            // a revoked sign-in back; keep only the anonymous part in a new session.
            let mut anonymous = state;
            for k in [keys::USER_ID, keys::WORKSPACE_ID, keys::CREATED, keys::SEEN, keys::IP, keys::USER_AGENT] {
                anonymous.remove(k);
            }
            insert(conn, &anonymous, &ttl, now)
        })
        .await
        .map_err(UpdateError::Other)
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        if is_anonymous(session_key) {
            return Ok(());
        }
        let ttl = *ttl;
        let hash = hash_key(session_key.as_ref());
        self.blocking(move |conn, now| {
            diesel::update(sessions::table.filter(sessions::key_hash.eq(hash)))
                .set(sessions::expires_at.eq(expiry(now, &ttl)))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        if is_anonymous(session_key) {
            return Ok(());
        }
        let hash = hash_key(session_key.as_ref());
        self.blocking(move |conn, _| {
            diesel::delete(sessions::table.filter(sessions::key_hash.eq(hash))).execute(conn)?;
            Ok(())
        })
        .await
    }
}

/// A session as `/account/sessions` lists it.
#[derive(Debug, Queryable)]
pub struct SessionRow {
    pub id: i64,
    pub key_hash: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub fn list_for_user(conn: &mut PgConnection, workspace_id: i64, user_id: i64, now: DateTime<Utc>) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .order(sessions::last_seen_at.desc())
        .select((sessions::id, sessions::key_hash, sessions::ip, sessions::user_agent, sessions::created_at, sessions::last_seen_at))
        .load(conn)
}

/// Ends one session of this user, never `keep` (the key hash of the session asking).
/// Another user's or workspace's session id deletes nothing (0).
pub fn revoke(conn: &mut PgConnection, workspace_id: i64, user_id: i64, id: i64, keep: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table)
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::id.eq(id))
        .filter(sessions::key_hash.ne(keep))
        .execute(conn)
}

/// Ends every session of this user except `keep`.
pub fn revoke_others(conn: &mut PgConnection, workspace_id: i64, user_id: i64, keep: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table)
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::key_hash.ne(keep))
        .execute(conn)
}

/// Sessions past their expiry; the scheduler calls it on every tick.
pub fn delete_expired(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.lt(now))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> State {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_visitors_state_travels_in_its_key_until_it_expires() {
        let now = Utc::now();
        let visitor = state(&[(keys::CSRF, "\"abc\""), (keys::CURRENT_USER, "{}")]);
        let key = anonymous_key(&visitor, &Duration::hours(12), now).expect("an anonymous key");
        assert!(is_anonymous(&key));
        let back = anonymous_state(key.as_ref(), now).unwrap();
        assert_eq!(back, state(&[(keys::CSRF, "\"abc\"")]), "values added on load are not kept");
        assert_eq!(anonymous_state(key.as_ref(), now + chrono::Duration::hours(13)), None, "expired");
    }

    #[test]
    fn a_state_naming_a_user_never_travels_in_a_key() {
        let now = Utc::now();
        for named in [state(&[(keys::USER_ID, "1")]), state(&[(keys::WORKSPACE_ID, "1")])] {
            assert!(anonymous_key(&named, &Duration::hours(12), now).is_none());
            let forged = format!("{ANONYMOUS}{}", hex::encode(serde_json::to_vec(&Anonymous { exp: now.timestamp() + 60, state: named }).unwrap()));
            assert_eq!(anonymous_state(&forged, now), None);
        }
        assert_eq!(anonymous_state("a.not hex", now), None);
    }

    #[test]
    fn a_state_too_big_for_a_cookie_gets_a_row_instead() {
        let big = state(&[(keys::FLASH, &"x".repeat(MAX_ANONYMOUS_KEY))]);
        assert!(anonymous_key(&big, &Duration::hours(12), Utc::now()).is_none());
    }
}
