//! Connection pool, the `run` helper that moves Diesel work off the actix workers, and the
//! private PostgreSQL cluster.

pub mod local_cluster;
pub mod migrate;
pub mod schema;
pub mod text_enum;

use std::time::Duration;

use actix_web::web;
use anyhow::Context;
use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, PooledConnection};

pub type Pool = diesel::r2d2::Pool<ConnectionManager<PgConnection>>;
pub type Conn = PooledConnection<ConnectionManager<PgConnection>>;

/// Builds the pool and checks that the database answers. Checkouts wait at most 5 s, so an
/// unreachable database gives a fast 503 instead of a hung request.
pub fn connect(url: &str, max_size: u32) -> anyhow::Result<Pool> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    diesel::r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(true)
        .build(manager)
        .context("cannot connect to the database")
}

/// No connection could be checked out in time: the pool is exhausted or the database is
/// unreachable. Requests answer 503 with `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("no database connection within the checkout timeout: {0}")]
pub struct Unavailable(#[from] diesel::r2d2::PoolError);

tokio::task_local! {
    /// Raised when a checkout fails while a request runs, so a failure that a layer reports
    /// as an opaque error (the session middleware's 500) can still be answered as a 503.
    static CHECKOUT_FAILED: std::cell::Cell<bool>;
}

/// Notes a failed checkout for the request being served (nothing outside a request).
pub fn note_unavailable() {
    let _ = CHECKOUT_FAILED.try_with(|failed| failed.set(true));
}

/// Runs a request's future and says whether any checkout failed while it ran.
pub async fn watch_checkouts<F: std::future::Future>(future: F) -> (F::Output, bool) {
    CHECKOUT_FAILED
        .scope(std::cell::Cell::new(false), async move {
            let output = future.await;
            (output, CHECKOUT_FAILED.with(std::cell::Cell::get))
        })
        .await
}

/// `SELECT 1`: the database answers (readiness).
pub fn ping(conn: &mut PgConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}

/// Tables a job vacuums after rewriting many of their rows: a fixed list, so no name from
/// input ever reaches the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vacuumed {
    Clients,
    ClientTags,
}

impl Vacuumed {
    fn table(self) -> &'static str {
        match self {
            Vacuumed::Clients => "clients",
            Vacuumed::ClientTags => "client_tags",
        }
    }
}

/// Rows a bulk change must have written before it vacuums: below this the pages it dirtied
/// cost the list's index-only scans little, and autovacuum's own threshold (50 rows plus a
/// fifth of the table) is left to it.
pub const VACUUM_AFTER_ROWS: usize = 1_000;

/// `VACUUM (ANALYZE)` of `table`, right after a job rewrote many of its rows, on a
/// connection outside any transaction (PostgreSQL refuses VACUUM inside one). Every update
/// of a client is a new row version in each index that includes its status, and clears its
/// page's all-visible bit, so until a vacuum the list's index-only scans fetch heap pages,
/// skip dead index entries and a search reads the trigram index's pending list; autovacuum
/// comes only after a fifth of the table is dead, and then slowly. This sets the visibility
/// map again, removes the dead entries, flushes the pending list and refreshes the planner's
/// statistics at once.
pub fn vacuum_analyze(conn: &mut PgConnection, table: Vacuumed) -> diesel::QueryResult<()> {
    vacuum(conn, table, "ANALYZE")
}

/// `vacuum_analyze` of each table after a job's bulk change, which is committed by then: a
/// failure is only logged (autovacuum comes later).
pub fn vacuum_analyze_after(conn: &mut PgConnection, tables: &[Vacuumed]) {
    for &table in tables {
        if let Err(e) = vacuum_analyze(conn, table) {
            tracing::warn!(error = %e, ?table, "vacuum after a bulk change failed; autovacuum will do it later");
        }
    }
}

/// The same vacuum after a bulk change made in a request (a bulk action), on the blocking
/// thread pool so the person has the answer at once, and with `SKIP_LOCKED`: when a vacuum
/// of the table already runs (another bulk action's, autovacuum's) this one gives way
/// instead of holding a connection while it waits (rows changed after that one began are
/// left to the next vacuum). Must be called inside the actix runtime.
pub fn vacuum_analyze_later(pool: &Pool, table: Vacuumed) {
    let pool = pool.clone();
    drop(actix_web::rt::task::spawn_blocking(move || {
        let done = pool
            .get()
            .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))
            .and_then(|mut conn| vacuum(&mut conn, table, "ANALYZE, SKIP_LOCKED"));
        if let Err(e) = done {
            tracing::warn!(error = %e, ?table, "vacuum after a bulk action failed; autovacuum will do it later");
        }
    }));
}

fn vacuum(conn: &mut PgConnection, table: Vacuumed, options: &'static str) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    let started = std::time::Instant::now();
    diesel::sql_query(format!("VACUUM ({options}) {}", table.table())).execute(conn)?;
    tracing::info!(table = table.table(), ms = started.elapsed().as_millis() as u64, "vacuumed after a bulk change");
    Ok(())
}

/// Escapes `\`, `%` and `_` so user text matches literally in `LIKE … ESCAPE '\'`.
pub fn escape_like(value: &str) -> String {
    value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// `%text%` for `LIKE … ESCAPE '\'` over a lower-cased search column: the text, lower-cased,
/// anywhere.
pub fn like_contains(value: &str) -> String {
    format!("%{}%", escape_like(&value.to_lowercase()))
}

diesel::define_sql_function! {
    /// PostgreSQL's `lower()`. Case-insensitive names and emails are compared as
    /// `lower(column).eq(lower(value))`, the folding of their `lower(…)` unique indexes; Rust's
    /// `to_lowercase` folds some letters (`İ`, final `ς`) differently and must not decide.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Why [`run`] did not run its work; `error.rs` maps it to the page a request answers.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No connection within the checkout timeout (the request answers 503).
    #[error("no database connection within the checkout timeout")]
    Unavailable,
    /// The blocking thread pool could not run the work (it is shutting down).
    #[error("blocking task failed: {0}")]
    Blocking(String),
}

/// Runs `f` with a pooled connection on the blocking thread pool. The error is the
/// caller's (`f`'s), which says how to carry a [`RunError`]; handlers call it through
/// `AppState::db`, which fixes it to the page error.
pub async fn run<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<RunError> + Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    let outcome = web::block(move || {
        let _entered = span.enter();
        let mut conn = pool.get().inspect_err(|e| tracing::error!(error = %e, "database pool checkout failed")).ok()?;
        Some(f(&mut conn))
    })
    .await
    .map_err(|e| RunError::Blocking(e.to_string()))?;
    outcome.unwrap_or_else(|| {
        note_unavailable();
        Err(RunError::Unavailable.into())
    })
}
