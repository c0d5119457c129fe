//! No cliff after bulk changes (issue 20, part 3): a job that rewrites many clients (the
//! daily status rule, an import) or a bulk action leaves the table vacuumed, so the list's index-only scans
//! read no heap page right after it, without waiting for autovacuum (switched off here, so
//! only the job can have vacuumed).

use std::time::Duration;

use diesel::prelude::*;
use serde_json::json;
use switchboard::jobs::{self, NewJob};
use switchboard::clients::status_rule::ClientStatus;
use switchboard::authz::Role;

use crate::imports::import;
use crate::support::{TestApp, fresh_database, spawn_app_on_with};

/// Heap pages an index-only scan of the list's name order fetched for the workspace's
/// clients (0 when every page of the table is all-visible).
fn heap_fetches(app: &TestApp, workspace_id: i64) -> i64 {
    let mut conn = app.conn();
    diesel::sql_query(
        "CREATE OR REPLACE FUNCTION pg_temp.heap_fetches(q text) RETURNS bigint LANGUAGE plpgsql AS $$ \
         DECLARE plan json; \
         BEGIN \
           SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off; \
           EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO plan; \
           IF plan->0->'Plan'->>'Node Type' <> 'Index Only Scan' THEN \
             RAISE EXCEPTION 'not an index-only scan: %', plan; \
           END IF; \
           RETURN (plan->0->'Plan'->>'Heap Fetches')::bigint; \
         END $$",
    )
    .execute(&mut conn)
    .unwrap();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let q = format!("SELECT id, status FROM clients WHERE workspace_id = {workspace_id} ORDER BY sort_name, id");
    conn.transaction(|tx| diesel::sql_query("SELECT pg_temp.heap_fetches($1) AS n").bind::<diesel::sql_types::Text, _>(&q).get_result::<N>(tx))
        .unwrap()
        .n
}

/// The app on a fresh database with synchronous commits, as on its own cluster and any
/// production one: the test cluster commits asynchronously, and VACUUM cannot mark a page
/// all-visible before the WAL writer has flushed the commits of its rows (up to 0.6 s later).
async fn spawn_durable() -> TestApp {
    let database = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    let url = format!("{}&options=-c%20synchronous_commit%3Don", database.url);
    spawn_app_on_with(&database, |s| s.database_url = Some(url.into())).await
}

/// Vacuums `clients` until the list's index-only scan over `rows` clients fetches (almost)
/// no heap page: the starting point of each test. Under the whole suite a vacuum sometimes
/// cannot mark fresh rows all-visible at once (another backend of the shared test cluster
/// holds the horizon back), so it is retried for up to 10 s.
async fn vacuumed(app: &TestApp, workspace_id: i64, rows: i64) {
    let mut fetches = 0;
    for _ in 0..50 {
        diesel::sql_query("VACUUM (ANALYZE) clients").execute(&mut app.conn()).unwrap();
        fetches = heap_fetches(app, workspace_id);
        if fetches * 20 <= rows {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the test's own VACUUM left {fetches} heap fetches for {rows} clients");
}

/// How many times `table` was vacuumed by hand (autovacuum is off for it here).
fn vacuum_count(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = '{table}'"))
}

/// `table` was vacuumed since its count was `before` (waiting up to 10 s), and the list's
/// index-only scan now fetches almost no heap page (printed: whether a vacuum can mark the
/// rows all-visible depends on the other backends of the shared test cluster, so only the
/// vacuum itself is asserted; without it every rewritten row is fetched).
async fn assert_vacuumed(app: &TestApp, table: &str, before: i64, workspace_id: i64, what: &str) {
    for _ in 0..100 {
        if vacuum_count(app, table) > before {
            eprintln!("{what}: {table} vacuumed; the list's index-only scan fetches {} heap tuples", heap_fetches(app, workspace_id));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {table} was not vacuumed within 10 s (heap fetches: {})", heap_fetches(app, workspace_id));
}

fn no_autovacuum(app: &TestApp) {
    let mut conn = app.conn();
    for table in ["clients", "client_tags"] {
        diesel::sql_query(format!("ALTER TABLE {table} SET (autovacuum_enabled = false)")).execute(&mut conn).unwrap();
    }
}

async fn wait_done(app: &TestApp, job_id: i64) {
    for _ in 0..600 {
        if app.count(&format!("SELECT count(*) FROM jobs WHERE id = {job_id} AND status = 'done'")) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job_id} did not finish within a minute");
}

#[actix_web::test]
async fn the_status_rule_vacuums_the_clients_it_rewrote() {
    let app = spawn_durable().await;
    no_autovacuum(&app);
    let me = app.create_user("Acme", "admin@acme.test", Role::Admin);
    let w = me.workspace_id;
    // 3,000 clients the rule set warm, never contacted, created two months ago: all turn inactive.
    diesel::sql_query(format!(
        "INSERT INTO clients (workspace_id, name, status, status_source, status_changed_at, created_at) \
         SELECT {w}, 'Client ' || n, 'warm', 'rule', now() - interval '60 days', now() - interval '60 days' \
         FROM generate_series(1, 3000) n"
    ))
    .execute(&mut app.conn())
    .unwrap();
    vacuumed(&app, w, 3000).await;
    let before = vacuum_count(&app, "clients");

    let id = jobs::enqueue(&mut app.conn(), &NewJob::new(w, ClientStatus::KIND, json!({}))).unwrap().unwrap();
    wait_done(&app, id).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {w} AND status = 'inactive'")), 3000);
    assert_vacuumed(&app, "clients", before, w, "after the status run").await;

    // A run that changes nothing does not vacuum: nothing to do.
    let before = vacuum_count(&app, "clients");
    let again = jobs::enqueue(&mut app.conn(), &NewJob::new(w, ClientStatus::KIND, json!({})).key("again")).unwrap().unwrap();
    wait_done(&app, again).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(vacuum_count(&app, "clients"), before, "a run that changed nothing");
}

#[actix_web::test]
async fn an_import_vacuums_the_clients_and_tags_it_wrote() {
    let app = spawn_durable().await;
    no_autovacuum(&app);
    let (admin, me) = app.signed_in(Role::Admin).await;
    let mut csv = String::from("name,email,tags\n");
    for i in 0..2_000 {
        csv.push_str(&format!("Client {i},client{i}@example.com,vip;batch{}\n", i % 7));
    }
    let before = (vacuum_count(&app, "clients"), vacuum_count(&app, "client_tags"));
    let (import_id, status) = import(&app, &admin, csv, &[("map", "name"), ("map", "email"), ("map", "tags"), ("key", "email")]).await;
    assert_eq!(status, "done");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {}", me.workspace_id)), 2_000);
    // The import's row says done inside its transaction; its job ends after the vacuum.
    let job = app.count(&format!("SELECT id FROM jobs WHERE idempotency_key = 'import:{import_id}'"));
    wait_done(&app, job).await;
    assert_vacuumed(&app, "clients", before.0, me.workspace_id, "after the import").await;
    assert_vacuumed(&app, "client_tags", before.1, me.workspace_id, "after the import").await;
}

/// A durable app without autovacuum, an admin signed in, and `n` warm clients, vacuumed.
async fn admin_with_clients(n: i64) -> (TestApp, crate::support::Browser, i64) {
    let app = spawn_durable().await;
    no_autovacuum(&app);
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    diesel::sql_query(format!("INSERT INTO clients (workspace_id, name, status) SELECT {w}, 'Client ' || n, 'warm' FROM generate_series(1, {n}) n"))
        .execute(&mut app.conn())
        .unwrap();
    vacuumed(&app, w, n).await;
    (app, admin, w)
}

#[actix_web::test]
async fn a_bulk_status_change_of_many_clients_is_vacuumed_after_the_answer() {
    let (app, admin, w) = admin_with_clients(1500).await;
    let before = vacuum_count(&app, "clients");

    let r = admin.post("/clients/bulk", &[("action", "status"), ("status", "hot"), ("target", "all")]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {w} AND status = 'hot'")), 1500);
    // The vacuum runs after the answer.
    assert_vacuumed(&app, "clients", before, w, "after the bulk action").await;
}

#[actix_web::test]
async fn a_bulk_tag_of_many_clients_vacuums_the_clients_too() {
    let (app, admin, w) = admin_with_clients(1500).await;
    let before = (vacuum_count(&app, "clients"), vacuum_count(&app, "client_tags"));

    let r = admin.post("/clients/bulk", &[("action", "tag"), ("tag", "vip"), ("target", "all")]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {w} AND cardinality(tag_ids) = 1")), 1500);
    // The rows keep the tag ids for the list, so the clients are rewritten and vacuumed too.
    assert_vacuumed(&app, "clients", before.0, w, "after the bulk tag").await;
    assert_vacuumed(&app, "client_tags", before.1, w, "after the bulk tag").await;
}
