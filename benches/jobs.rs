//! Job queue benchmark (`cargo bench --bench jobs`): on a fresh private PostgreSQL cluster
//! (durable settings, as the app runs it), times
//! - enqueueing 100,000 jobs (`jobs::enqueue_many`, one transaction),
//! - running 20,000 no-op jobs with 1, 4 and 16 workers (claim 8 at a time, mark done),
//! - the client-status rule on CLIENTS seeded clients (default 100,000;
//!   `CLIENTS=1000000 cargo bench --bench jobs` for the figure): the first run after
//!   seeding (most statuses change), a run with nothing to change, and the next day's run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use switchboard::clock::Clock;
use switchboard::config::Settings;
use switchboard::db::local_cluster::{ClusterOptions, DB_NAME, LocalCluster};
use switchboard::jobs::run::{JobEnv, Noop};
use switchboard::jobs::worker::{Options, Workers};
use switchboard::jobs::{self, NewJob};

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT ({sql})::bigint AS n")).get_result::<N>(conn).unwrap().n
}

fn main() -> anyhow::Result<()> {
    let clients: i64 = std::env::var("CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-jobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let cluster = LocalCluster::start(&dir, None, &ClusterOptions::app())?;
    cluster.create_database(DB_NAME)?;
    let url = cluster.url(DB_NAME);
    let pool = switchboard::db::connect(&url, 20)?;
    switchboard::db::migrate::run_pending(&mut *pool.get()?)?;
    let mut conn = pool.get()?;
    let ws = switchboard::workspaces::create(&mut conn, "Bench")?;

    let batch: Vec<NewJob> = (0..100_000).map(|i| NewJob::new(ws.id, Noop::KIND, json!({ "n": i })).at(chrono::Utc::now() + chrono::Duration::days(365))).collect();
    let started = Instant::now();
    conn.transaction(|tx| jobs::enqueue_many(tx, &batch))?;
    println!("enqueue 100000 jobs: {} ms", started.elapsed().as_millis());
    diesel::sql_query("DELETE FROM jobs").execute(&mut conn)?;

    let mut settings = Settings::from_lookup(|_| None)?;
    settings.database_url = Some(url.clone().into());
    for workers in [1usize, 4, 16] {
        let n = 20_000;
        let batch: Vec<NewJob> = (0..n).map(|_| NewJob::new(ws.id, Noop::KIND, json!({}))).collect();
        jobs::enqueue_many(&mut conn, &batch)?;
        diesel::sql_query("VACUUM ANALYZE jobs").execute(&mut conn)?;
        let env = Arc::new(JobEnv { pool: pool.clone(), database_url: url.clone().into(), settings: settings.clone(), clock: Clock::default(), at_rest_key: [0; 32] });
        let started = Instant::now();
        let mut running = Workers::start(env, std::sync::Arc::new(switchboard::registry::jobs()), Options { workers, lease_secs: 60, batch: 8, poll: Duration::from_millis(200), scheduler: false });
        while count(&mut conn, "SELECT count(*) FROM jobs WHERE status <> 'done'") > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let elapsed = started.elapsed();
        running.stop();
        println!("{n} no-op jobs with {workers:>2} workers: {} ms, {:.0} jobs/s", elapsed.as_millis(), n as f64 / elapsed.as_secs_f64());
        diesel::sql_query("DELETE FROM jobs").execute(&mut conn)?;
    }

    let started = Instant::now();
    let hash = switchboard::users::password::hash("bench password")?;
    switchboard::seed::run(&pool, "Bench", clients, &hash)?;
    println!("seed of {clients} clients: {} s", started.elapsed().as_secs());
    // Clients seeded as hand-set long ago, so the rule may change any of them.
    diesel::sql_query("UPDATE clients SET status_source = 'rule'").execute(&mut conn)?;
    diesel::sql_query("VACUUM ANALYZE").execute(&mut conn)?;
    let started = Instant::now();
    let changed = switchboard::clients::status_rule::apply(&pool, ws.id, chrono::Utc::now(), 14)?;
    println!("client-status on {clients} clients: {changed} changed, {} ms", started.elapsed().as_millis());
    let started = Instant::now();
    let again = switchboard::clients::status_rule::apply(&pool, ws.id, chrono::Utc::now(), 14)?;
    println!("client-status again (nothing to change): {again} changed, {} ms", started.elapsed().as_millis());
    // A typical day: the next day's run, where clients cross the 7- and 30-day lines.
    let started = Instant::now();
    let next_day = switchboard::clients::status_rule::apply(&pool, ws.id, chrono::Utc::now() + chrono::Duration::days(1), 14)?;
    println!("client-status the next day: {next_day} changed, {} ms", started.elapsed().as_millis());
    drop(conn);
    drop(pool);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
