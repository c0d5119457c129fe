//! Embedded Diesel migrations, applied at start-up under an advisory lock so that several
//! instances starting at once do not race.

use anyhow::Context;
use diesel::PgConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

// Cargo cannot see the SQL files behind this macro: after editing a migration,
// `touch src/db/migrate.rs` so the binary embeds the new text.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary constant naming the "migrations" advisory lock.
const MIGRATION_LOCK: i64 = 0x5357_4d49_4752; // "SWMIGR"

pub fn run_pending(conn: &mut PgConnection) -> anyhow::Result<usize> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .execute(conn)
        .context("cannot take the migration lock")?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .execute(conn)
        .context("cannot release the migration lock")?;
    result
}
