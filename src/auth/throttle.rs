//! Sign-in throttling that an attacker cannot turn against the account's owner.
//!
//! - Per (account, IP): 10 failures in 15 minutes, then 429 until the oldest leaves the window.
//! - Per IP: 30 failures in 15 minutes across all accounts, then 429.
//! - Per account, only a slow-down: once an account has 10 failures in 15 minutes from
//!   anywhere, the addresses that have themselves failed on it 3 times share one attempt
//!   per 30 s for it. An address that has not failed (the owner at their desk) is never
//!   slowed, so nobody can lock a colleague out by failing on their account.
//!
//! An attempt is counted as a failure *before* the password is checked (and the row removed
//! when it turns out right), under advisory locks on the account and the IP, so parallel
//! requests cannot all slip past the limits. Counts live in PostgreSQL, so every instance sees
//! the same numbers. (A crate such as `governor` keeps them in process memory, which would let
//! a second instance reset the count; the table is simpler and shared.)

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use crate::db::schema::{login_failures, rate_events};

pub const WINDOW_MINUTES: i64 = 15;
/// Failures one address may have on one account in the window.
pub const PAIR_MAX_FAILURES: i64 = 10;
/// Failures one address may have across all accounts in the window (an office behind one
/// NAT address shares it).
pub const IP_MAX_FAILURES: i64 = 30;
/// Failures on an account, from anywhere, after which repeat offenders are slowed down.
pub const ACCOUNT_SLOW_AFTER: i64 = 10;
/// Failures of one address on the account that make it a repeat offender.
pub const SLOW_AFTER_OWN_FAILURES: i64 = 3;
/// Repeat offenders share one attempt per this many seconds on an account being attacked.
pub const SLOW_LANE_SECS: i64 = 30;

/// Advisory-lock class (first key of the two-key form) for throttling locks.
const LOCK_CLASS: i32 = 0x5448; // "TH"

/// Serialises throttling decisions on `key` until the transaction ends.
pub fn lock(conn: &mut PgConnection, key: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind::<Integer, _>(LOCK_CLASS)
        .bind::<Text, _>(key)
        .execute(conn)
        .map(|_| ())
}

/// How many events `bucket` has had since `since`.
pub fn count_events(conn: &mut PgConnection, bucket: &str, since: DateTime<Utc>) -> QueryResult<i64> {
    rate_events::table.filter(rate_events::bucket.eq(bucket)).filter(rate_events::created_at.gt(since)).count().get_result(conn)
}

/// Counts one event in `bucket` at `now`.
pub fn record_event(conn: &mut PgConnection, bucket: &str, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::insert_into(rate_events::table).values((rate_events::bucket.eq(bucket), rate_events::created_at.eq(now))).execute(conn).map(|_| ())
}

/// Drops every bucket's events older than `before` (they no longer count anywhere).
pub fn forget_events_before(conn: &mut PgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(rate_events::table.filter(rate_events::created_at.lt(before))).execute(conn)
}

/// Drops the events past any window (a day, password-reset throttling's) on each scheduler
/// tick, however quiet the reset form is.
pub fn forget_stale_events(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    forget_events_before(conn, now - Duration::days(1))
}

/// Seconds until `times` (newest first, at most `limit` of them) drops below `limit`.
fn wait_for(times: &[DateTime<Utc>], limit: i64, window: Duration, now: DateTime<Utc>) -> Option<u64> {
    (times.len() as i64 >= limit).then(|| {
        let oldest = times[times.len() - 1];
        (oldest + window - now).num_seconds().max(1) as u64
    })
}

/// An attempt that may go ahead: its provisional failure row.
#[derive(Clone, Copy, Debug)]
pub struct Attempt(i64);

/// Decides whether `email` may be tried from `ip` now. `Ok(attempt)`: go ahead (the attempt
/// already counts as a failure; call [`succeeded`] when the password is right).
/// `Err(seconds)`: answer 429 and say when to come back.
pub fn admit(conn: &mut PgConnection, email: &str, ip: &str, now: DateTime<Utc>) -> QueryResult<Result<Attempt, u64>> {
    conn.transaction(|tx| {
        // Always the account first, then the IP: no two transactions wait on each other.
        lock(tx, &format!("login-email:{email}"))?;
        lock(tx, &format!("login-ip:{ip}"))?;
        let window = Duration::minutes(WINDOW_MINUTES);
        let since = now - window;
        let recent = login_failures::table.filter(login_failures::created_at.gt(since));
        let by_ip: Vec<DateTime<Utc>> = recent
            .filter(login_failures::ip.eq(ip))
            .select(login_failures::created_at)
            .order(login_failures::created_at.desc())
            .limit(IP_MAX_FAILURES)
            .load(tx)?;
        let by_pair: Vec<DateTime<Utc>> = recent
            .filter(login_failures::email.eq(email))
            .filter(login_failures::ip.eq(ip))
            .select(login_failures::created_at)
            .order(login_failures::created_at.desc())
            .limit(PAIR_MAX_FAILURES)
            .load(tx)?;
        let wait = [wait_for(&by_ip, IP_MAX_FAILURES, window, now), wait_for(&by_pair, PAIR_MAX_FAILURES, window, now)].into_iter().flatten().max();
        if let Some(seconds) = wait {
            return Ok(Err(seconds));
        }
        if by_pair.len() as i64 >= SLOW_AFTER_OWN_FAILURES {
            let on_account: i64 = recent.filter(login_failures::email.eq(email)).count().get_result(tx)?;
            if on_account >= ACCOUNT_SLOW_AFTER {
                let bucket = format!("login-slow:{email}");
                let last: Option<DateTime<Utc>> = rate_events::table
                    .filter(rate_events::bucket.eq(&bucket))
                    .select(diesel::dsl::max(rate_events::created_at))
                    .first(tx)?;
                if let Some(last) = last.filter(|t| *t + Duration::seconds(SLOW_LANE_SECS) > now) {
                    return Ok(Err((last + Duration::seconds(SLOW_LANE_SECS) - now).num_seconds().max(1) as u64));
                }
                diesel::insert_into(rate_events::table).values((rate_events::bucket.eq(&bucket), rate_events::created_at.eq(now))).execute(tx)?;
                diesel::delete(rate_events::table.filter(rate_events::bucket.eq(&bucket)).filter(rate_events::created_at.lt(now - window))).execute(tx)?;
            }
        }
        let id = diesel::insert_into(login_failures::table)
            .values((login_failures::email.eq(email), login_failures::ip.eq(ip), login_failures::created_at.eq(now)))
            .returning(login_failures::id)
            .get_result(tx)?;
        // Old rows are useless; drop them as we go.
        diesel::delete(login_failures::table.filter(login_failures::created_at.lt(now - Duration::days(1)))).execute(tx)?;
        Ok(Ok(Attempt(id)))
    })
}

/// The password was right: the attempt was no failure, and this address's earlier failures
/// on the account are forgiven. Other addresses' failures stay (an attacker's count is not
/// reset by the owner signing in).
pub fn succeeded(conn: &mut PgConnection, attempt: Attempt, email: &str, ip: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::id.eq(attempt.0))).execute(conn)?;
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email)).filter(login_failures::ip.eq(ip))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_ends_when_the_oldest_counted_failure_leaves_the_window() {
        let now = Utc::now();
        let window = Duration::minutes(15);
        let times: Vec<_> = (0..3).map(|i| now - Duration::minutes(i * 4)).collect();
        assert_eq!(wait_for(&times, 4, window, now), None);
        assert_eq!(wait_for(&times, 3, window, now), Some(7 * 60));
        assert_eq!(wait_for(&[now - window], 1, window, now), Some(1), "never zero");
    }
}
