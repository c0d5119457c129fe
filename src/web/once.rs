//! One-time forms (issue 18): a form that sends or creates carries a `form_token`, a nonce
//! made fresh for every page shown ([`crate::web::ctx::Layout::once`]). The submission's
//! key is that nonce with a digest of what was submitted (the path and every field but the
//! CSRF token), so two different forms on one page, or a second message typed into a form
//! that stays on the page, are two submissions; the same form sent twice (a double click, a
//! retry, five tabs) is one.
//!
//! A handler claims the key in the transaction that does the work, once its input is valid
//! ([`Once::claim`]), and records where the result can be seen ([`Once::done`]). PostgreSQL's
//! primary key does the rest: a concurrent repeat's claim waits for the first transaction,
//! then finds its row and answers with the first result; if the first rolled back, the repeat
//! does the work. Rows are kept for a day (`jobs::scheduler`'s prune).
//!
//! A request without the field (a script, an old page) is not deduplicated.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use sha2::{Digest, Sha256};

/// The hidden field's name.
pub const FIELD: &str = "form_token";

/// A submission's one-time key, when the form carried a token.
#[derive(Clone, Debug, Default)]
pub struct Once(Option<Key>);

#[derive(Clone, Debug)]
struct Key {
    token: String,
    digest: Vec<u8>,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This is the first: do the work.
    First,
    /// Already done: where its result is shown, when the first recorded it.
    Repeat(Option<String>),
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Nullable<Text>)]
    result: Option<String>,
}

impl Once {
    /// The key of a urlencoded form `body` posted to `path` (none without a usable token).
    pub fn of(path: &str, body: &[u8]) -> Once {
        let mut token = None;
        let mut hash = Sha256::new();
        hash.update(path.as_bytes());
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                FIELD => token = Some(value.into_owned()),
                crate::web::csrf::FORM_FIELD => {}
                _ => {
                    // Length-prefixed, so no two different forms hash alike.
                    for part in [name.as_bytes(), value.as_bytes()] {
                        hash.update((part.len() as u64).to_be_bytes());
                        hash.update(part);
                    }
                }
            }
        }
        let token = token.filter(|t| (16..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()));
        Once(token.map(|token| Key { token, digest: hash.finalize().to_vec() }))
    }

    /// Claims the submission for `user_id` in the caller's transaction: [`Claim::First`] when
    /// nobody has (or the form had no token), else the first's result. Waits while another
    /// transaction holds the same claim.
    pub fn claim(&self, conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<Claim> {
        let Some(key) = &self.0 else { return Ok(Claim::First) };
        let inserted = keyed("INSERT INTO form_submissions (workspace_id, user_id, token, digest) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", workspace_id, user_id, key)
            .execute(conn)?;
        if inserted == 1 {
            return Ok(Claim::First);
        }
        let found: Option<Found> = keyed(&format!("SELECT result FROM form_submissions WHERE {KEY}"), workspace_id, user_id, key).get_result(conn).optional()?;
        Ok(Claim::Repeat(found.and_then(|f| f.result)))
    }

    /// Records where the claimed submission's result is shown (a path on this site), in the
    /// same transaction as the claim.
    pub fn done(&self, conn: &mut PgConnection, workspace_id: i64, user_id: i64, result: &str) -> QueryResult<()> {
        let Some(key) = &self.0 else { return Ok(()) };
        keyed(&format!("UPDATE form_submissions SET result = $5 WHERE {KEY}"), workspace_id, user_id, key)
            .bind::<Text, _>(result)
            .execute(conn)
            .map(|_| ())
    }
}

impl Once {
    /// Gives the claim back when the submission was refused after all (a check that reads the
    /// database, made after the claim so repeats wait for it): the form may be sent again.
    pub fn release(&self, conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<()> {
        let Some(key) = &self.0 else { return Ok(()) };
        keyed(&format!("DELETE FROM form_submissions WHERE {KEY}"), workspace_id, user_id, key)
            .execute(conn)
            .map(|_| ())
    }
}

/// The condition on a submission's key, `$1` to `$4` as [`keyed`] binds them.
const KEY: &str = "workspace_id = $1 AND user_id = $2 AND token = $3 AND digest = $4";

/// `sql` with the key bound as `$1` (workspace), `$2` (user), `$3` (token), `$4` (digest).
fn keyed<'a>(sql: &str, workspace_id: i64, user_id: i64, key: &'a Key) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<BigInt, _>(workspace_id)
        .bind::<BigInt, _>(user_id)
        .bind::<Text, _>(&key.token)
        .bind::<Binary, _>(&key.digest)
}

/// Deletes the keys older than a day (a page left open longer sends anew).
pub fn prune(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM form_submissions WHERE created_at < now() - interval '1 day'").execute(conn)
}

/// A fresh token for the forms of one page.
pub fn new_token() -> String {
    crate::crypto::random_hex(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(once: &Once) -> Option<(String, Vec<u8>)> {
        once.0.as_ref().map(|k| (k.token.clone(), k.digest.clone()))
    }

    #[test]
    fn the_key_is_the_token_and_what_was_submitted_without_the_csrf_token() {
        let token = "0123456789abcdef0123456789abcdef";
        let a = Once::of("/clients/1/messages", format!("csrf_token=x&form_token={token}&body=Hi").as_bytes());
        let b = Once::of("/clients/1/messages", format!("form_token={token}&csrf_token=y&body=Hi").as_bytes());
        assert_eq!(key(&a), key(&b), "the CSRF token and the token's place do not matter");
        let other_body = Once::of("/clients/1/messages", format!("form_token={token}&body=Hi%21").as_bytes());
        let other_path = Once::of("/clients/2/messages", format!("form_token={token}&body=Hi").as_bytes());
        let shifted = Once::of("/clients/1/messages", format!("form_token={token}&bod=yHi").as_bytes());
        for other in [other_body, other_path, shifted] {
            assert_ne!(key(&a).unwrap().1, key(&other).unwrap().1);
        }
        assert!(key(&Once::of("/x", b"body=Hi")).is_none(), "no token, no key");
        assert!(key(&Once::of("/x", b"form_token=short")).is_none());
        assert!(key(&Once::of("/x", "form_token=0123456789abcdef'--".as_bytes())).is_none());
    }
}
