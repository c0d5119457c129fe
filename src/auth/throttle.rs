//! Login throttling: 10 failures in 15 minutes for one email, or from one IP, and the next
//! attempt gets 429 with the seconds to wait. Counts live in Postgres, so every instance
//! sees the same numbers. (A crate such as `governor` keeps them in process memory, which
//! would let a second instance reset the count; the table is simpler and shared.)

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::db::schema::login_failures;

pub const MAX_FAILURES: i64 = 10;
pub const WINDOW_MINUTES: i64 = 15;

/// `Some(seconds)` to wait when the email or the IP has used up its attempts.
pub fn retry_after(conn: &mut PgConnection, email: &str, ip: &str, now: DateTime<Utc>) -> QueryResult<Option<u64>> {
    let since = now - Duration::minutes(WINDOW_MINUTES);
    let mut wait: Option<u64> = None;
    for by_email in [true, false] {
        let base = login_failures::table.filter(login_failures::created_at.gt(since)).into_boxed();
        let base = if by_email { base.filter(login_failures::email.eq(email)) } else { base.filter(login_failures::ip.eq(ip)) };
        let times: Vec<DateTime<Utc>> = base
            .select(login_failures::created_at)
            .order(login_failures::created_at.desc())
            .limit(MAX_FAILURES)
            .load(conn)?;
        if times.len() as i64 >= MAX_FAILURES {
            // Free again when the oldest of the last MAX_FAILURES leaves the window.
            let oldest = times[times.len() - 1];
            let seconds = (oldest + Duration::minutes(WINDOW_MINUTES) - now).num_seconds().max(1) as u64;
            wait = Some(wait.map_or(seconds, |w| w.max(seconds)));
        }
    }
    Ok(wait)
}

pub fn record_failure(conn: &mut PgConnection, email: &str, ip: &str, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((login_failures::email.eq(email), login_failures::ip.eq(ip), login_failures::created_at.eq(now)))
        .execute(conn)?;
    // Old rows are useless; drop them as we go.
    diesel::delete(login_failures::table.filter(login_failures::created_at.lt(now - Duration::days(1)))).execute(conn)?;
    Ok(())
}

/// A successful login clears the account's failures (not the IP's).
pub fn clear_email(conn: &mut PgConnection, email: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email))).execute(conn).map(|_| ())
}
