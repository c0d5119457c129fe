//! The send rate per sender, shared by every instance: GCRA (the generic cell rate
//! algorithm) with its one number, the theoretical arrival time, kept in `send_throttles`.
//! A sender sending at `rate` messages per second has one slot every `1 / rate` seconds; a
//! worker reserves the next free slot in one UPDATE (the row lock orders instances) and
//! sleeps until it. A slot further ahead than `max_wait` is not reserved: the caller puts
//! its job back for later rather than holding a worker.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text, Timestamptz};

#[derive(QueryableByName)]
struct Slot {
    #[diesel(sql_type = Timestamptz)]
    slot: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
}

/// The outcome of asking for a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Send after waiting this long (zero: now).
    Wait(Duration),
    /// Nothing reserved: the next free slot is this far away.
    Busy(Duration),
}

/// Reserves the next slot for `sender` at `rate` per second, if it is at most `max_wait` away.
pub fn reserve(conn: &mut PgConnection, workspace_id: i64, sender: &str, rate: f64, max_wait: Duration) -> QueryResult<Reservation> {
    let interval = 1.0 / rate.max(0.001);
    // The row exists from the first send on; creating it here keeps `reserve` one call.
    diesel::sql_query(
        "INSERT INTO send_throttles (workspace_id, sender, tat) VALUES ($1, $2, clock_timestamp()) ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(sender)
    .execute(conn)?;
    let reserved: Option<Slot> = diesel::sql_query(
        "UPDATE send_throttles SET tat = greatest(tat, clock_timestamp()) + make_interval(secs => $3) \
         WHERE workspace_id = $1 AND sender = $2 AND tat <= clock_timestamp() + make_interval(secs => $4) \
         RETURNING tat - make_interval(secs => $3) AS slot, clock_timestamp() AS now",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(sender)
    .bind::<Double, _>(interval)
    .bind::<Double, _>(max_wait.as_secs_f64())
    .get_result(conn)
    .optional()?;
    if let Some(s) = reserved {
        return Ok(Reservation::Wait((s.slot - s.now).to_std().unwrap_or_default()));
    }
    let next: Slot = diesel::sql_query(
        "SELECT tat AS slot, clock_timestamp() AS now FROM send_throttles WHERE workspace_id = $1 AND sender = $2",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(sender)
    .get_result(conn)?;
    Ok(Reservation::Busy((next.slot - next.now).to_std().unwrap_or_default()))
}

/// Slots for a group: the first is `first` from now, the next ones `interval` apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slots {
    pub first: Duration,
    pub interval: Duration,
}

impl Slots {
    /// How long from the reservation until slot `i` (0-based).
    pub fn at(&self, i: usize) -> Duration {
        self.first + self.interval.mul_f64(i as f64)
    }
}

/// Reserves `n` consecutive slots for `sender` at `rate` per second in one statement (the
/// theoretical arrival time moves `n` intervals at once), if the first is at most `max_wait`
/// away; `Err(d)`: nothing reserved, the next free slot is `d` away. A slot its caller does
/// not use (a pause, a message another dispatch took) is simply not used: the sender then
/// sends below its rate for that slot, never above it.
pub fn reserve_many(conn: &mut PgConnection, workspace_id: i64, sender: &str, rate: f64, n: usize, max_wait: Duration) -> QueryResult<Result<Slots, Duration>> {
    let interval = 1.0 / rate.max(0.001);
    let n = n.max(1);
    let reserved: Option<Slot> = diesel::sql_query(
        "INSERT INTO send_throttles AS t (workspace_id, sender, tat) VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3 * $5)) \
         ON CONFLICT (workspace_id, sender) DO UPDATE SET tat = greatest(t.tat, clock_timestamp()) + make_interval(secs => $3 * $5) \
           WHERE t.tat <= clock_timestamp() + make_interval(secs => $4) \
         RETURNING t.tat - make_interval(secs => $3 * $5) AS slot, clock_timestamp() AS now",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(sender)
    .bind::<Double, _>(interval)
    .bind::<Double, _>(max_wait.as_secs_f64())
    .bind::<Double, _>(n as f64)
    .get_result(conn)
    .optional()?;
    if let Some(s) = reserved {
        return Ok(Ok(Slots { first: (s.slot - s.now).to_std().unwrap_or_default(), interval: Duration::from_secs_f64(interval) }));
    }
    let next: Slot = diesel::sql_query(
        "SELECT tat AS slot, clock_timestamp() AS now FROM send_throttles WHERE workspace_id = $1 AND sender = $2",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(sender)
    .get_result(conn)?;
    Ok(Err((next.slot - next.now).to_std().unwrap_or_default()))
}

/// Holds `sender` back for `pause` (the provider answered 429 with a Retry-After): no
/// instance reserves a slot for it before then.
pub fn hold(conn: &mut PgConnection, workspace_id: i64, sender: &str, pause: Duration) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE send_throttles SET tat = greatest(tat, clock_timestamp() + make_interval(secs => $3)) \
         WHERE workspace_id = $1 AND sender = $2",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<Text, _>(sender)
    .bind::<Double, _>(pause.as_secs_f64())
    .execute(conn)
}
