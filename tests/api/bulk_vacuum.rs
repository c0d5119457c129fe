//! No cliff after bulk changes (issue 20, part 3): a job that rewrites many clients (the
//! daily status rule, an import) or a bulk action leaves the table vacuumed, so the list's index-only scans
//! read no heap page right after it, without waiting for autovacuum (switched off here, so
//! only the job can have vacuumed).

use std::time::Duration;

use diesel::prelude::*;
use serde_json::json;
use switchboard::jobs::{self, Kind, NewJob};
use switchboard::users::role::Role;

use crate::imports::import;
use crate::support::{TestApp, fresh_database, spawn_app_on};

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
    let url = tokio::task::spawn_blocking(fresh_database).await.unwrap();
    spawn_app_on(&format!("{url}&options=-c%20synchronous_commit%3Don")).await
}

/// The list's index-only scan over `rows` clients fetches (almost) no heap page: at most
/// one in twenty rows. VACUUM leaves a page it cannot lock at once (the checkpointer or a
/// reader holds it, as happens when the whole suite runs) to the next vacuum, and without
/// the vacuum every rewritten row is fetched (or two: the dead version too).
fn assert_all_visible(app: &TestApp, workspace_id: i64, rows: i64, what: &str) {
    let fetches = heap_fetches(app, workspace_id);
    assert!(fetches * 20 <= rows, "{what}: the list's index-only scan fetched {fetches} heap tuples for {rows} clients");
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
    diesel::sql_query("VACUUM (ANALYZE) clients").execute(&mut app.conn()).unwrap();
    assert_all_visible(&app, w, 3000, "after VACUUM");

    let id = jobs::enqueue(&mut app.conn(), &NewJob::new(w, Kind::ClientStatus, json!({}))).unwrap().unwrap();
    wait_done(&app, id).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {w} AND status = 'inactive'")), 3000);
    assert_all_visible(&app, w, 3000, "after the status run");

    // A run that changes nothing leaves the table as it was (and does not vacuum: nothing to do).
    let again = jobs::enqueue(&mut app.conn(), &NewJob::new(w, Kind::ClientStatus, json!({})).key("again")).unwrap().unwrap();
    wait_done(&app, again).await;
    assert_all_visible(&app, w, 3000, "after a run that changed nothing");
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
    let (import_id, status) = import(&app, &admin, csv, &[("map", "name"), ("map", "email"), ("map", "tags"), ("key", "email")]).await;
    assert_eq!(status, "done");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {}", me.workspace_id)), 2_000);
    // The import's row says done inside its transaction; its job ends after the vacuum.
    let job = app.count(&format!("SELECT id FROM jobs WHERE idempotency_key = 'import:{import_id}'"));
    wait_done(&app, job).await;
    assert_all_visible(&app, me.workspace_id, 2000, "after the import");
    assert_eq!(
        app.count("SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('clients', 'client_tags') AND last_vacuum IS NOT NULL"),
        2,
        "both tables were vacuumed"
    );
}

#[actix_web::test]
async fn a_bulk_status_change_of_many_clients_is_vacuumed_after_the_answer() {
    let app = spawn_durable().await;
    no_autovacuum(&app);
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    diesel::sql_query(format!("INSERT INTO clients (workspace_id, name, status) SELECT {w}, 'Client ' || n, 'warm' FROM generate_series(1, 1500) n"))
        .execute(&mut app.conn())
        .unwrap();
    diesel::sql_query("VACUUM (ANALYZE) clients").execute(&mut app.conn()).unwrap();
    assert_all_visible(&app, w, 1500, "after VACUUM");

    let r = admin.post("/clients/bulk", &[("action", "status"), ("status", "hot"), ("target", "all")]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {w} AND status = 'hot'")), 1500);
    // The vacuum runs after the answer: give it a few seconds.
    for _ in 0..100 {
        if heap_fetches(&app, w) * 20 <= 1500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_all_visible(&app, w, 1500, "10 s after the bulk action");
}
