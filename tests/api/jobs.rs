//! The job queue under the faults it must survive: a worker killed mid-job, two instances
//! on one database, a job that always fails, a rolled-back enqueue; and the jobs page.

use std::process::{Command, Stdio};
use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use switchboard::jobs::{self, NewJob};
use switchboard::jobs::run::Noop;
use switchboard::authz::Role;

use crate::support::{PASSWORD, TestApp, spawn_app, spawn_app_on_with, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn workspace_of(app: &TestApp) -> i64 {
    app.create_user("Acme", &format!("owner-{}@acme.test", uuid::Uuid::new_v4().simple()), Role::Admin).workspace_id
}

fn enqueue(app: &TestApp, job: NewJob) -> i64 {
    jobs::enqueue(&mut app.conn(), &job).unwrap().expect("a new job")
}

fn status(app: &TestApp, id: i64) -> String {
    diesel::sql_query(format!("SELECT status AS s FROM jobs WHERE id = {id}"))
        .get_result::<S>(&mut app.conn())
        .map(|r| r.s)
        .unwrap_or_default()
}

#[derive(QueryableByName)]
struct S {
    #[diesel(sql_type = diesel::sql_types::Text)]
    s: String,
}

/// Waits up to `secs` for the job to reach `want`; a failed job is made due at once, so
/// backoff does not slow the test.
async fn wait_status(app: &TestApp, id: i64, want: &str, secs: u64) {
    for _ in 0..secs * 10 {
        let now = status(app, id);
        if now == want {
            return;
        }
        if now == "failed" {
            diesel::sql_query(format!("UPDATE jobs SET run_at = now() WHERE id = {id} AND status = 'failed'")).execute(&mut app.conn()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} is {:?}, never became {want}", status(app, id));
}

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_never_exists() {
    let app = spawn_app().await;
    let w = workspace_of(&app);
    let result: Result<(), diesel::result::Error> = app.conn().transaction(|tx| {
        jobs::enqueue(tx, &NewJob::new(w, Noop::KIND, json!({})))?;
        // The handler fails after enqueueing.
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(result.is_err());
    assert_eq!(app.count("SELECT count(*) FROM jobs"), 0);
    // Committed, it runs; the same idempotency key twice is one job.
    let id = enqueue(&app, NewJob::new(w, Noop::KIND, json!({})).key("once"));
    assert_eq!(jobs::enqueue(&mut app.conn(), &NewJob::new(w, Noop::KIND, json!({})).key("once")).unwrap(), None);
    wait_status(&app, id, "done", 10).await;
}

#[tokio::test]
async fn a_job_that_always_fails_goes_dead_stays_visible_and_blocks_nothing() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let bad = enqueue(&app, NewJob::new(me.workspace_id, Noop::KIND, json!({ "fail": "the printer is on fire" })).attempts(3));
    let good: Vec<i64> = (0..20).map(|_| enqueue(&app, NewJob::new(me.workspace_id, Noop::KIND, json!({})))).collect();
    wait_status(&app, bad, "dead", 30).await;
    for id in good {
        wait_status(&app, id, "done", 10).await;
    }
    assert_eq!(app.count(&format!("SELECT attempts FROM jobs WHERE id = {bad}")), 3);
    let page = admin.get_html("/settings/jobs?status=dead").await;
    assert!(page.contains(&format!("id=\"job-{bad}\"")) && page.contains("the printer is on fire"), "dead jobs are listed with their error");
    // Retry puts it back in the queue with fresh attempts; cancel stops a waiting one.
    let r = admin.post(&format!("/settings/jobs/{bad}/retry"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'jobs.retry' AND entity_id = '{bad}'")), 1);
    let later = enqueue(&app, NewJob::new(me.workspace_id, Noop::KIND, json!({})).at(chrono::Utc::now() + chrono::Duration::hours(1)));
    assert_eq!(admin.post(&format!("/settings/jobs/{later}/cancel"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(status(&app, later), "cancelled");
    assert_eq!(admin.post(&format!("/settings/jobs/{later}/cancel"), &[]).await.status(), StatusCode::CONFLICT);
    // Admins only, and only their workspace's jobs.
    let (agent, _) = app.signed_in(Role::Agent).await;
    assert_eq!(agent.get("/settings/jobs").await.status(), StatusCode::FORBIDDEN);
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let b = app.browser();
    b.login(&beta.email, PASSWORD).await;
    assert_eq!(b.post(&format!("/settings/jobs/{later}/retry"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert!(!b.get_html("/settings/jobs?status=cancelled").await.contains(&format!("id=\"job-{later}\"")));
}

fn worker_process(database_url: &str) -> std::process::Child {
    Command::new(BIN)
        .arg("worker")
        .env("DATABASE_URL", database_url)
        .env("SWITCHBOARD_WORKERS", "1")
        .env("SWITCHBOARD_JOB_LEASE_SECS", "2")
        .env("SWITCHBOARD_SECRET_KEY", "worker-test-secret-key-".repeat(2))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchboard worker")
}

#[tokio::test]
async fn a_killed_workers_job_runs_again_after_its_lease_and_completes() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let w = workspace_of(&app);
    let mut first = worker_process(&app.database_url);
    let id = enqueue(&app, NewJob::new(w, Noop::KIND, json!({ "sleep_ms": 4000 })));
    wait_status(&app, id, "running", 30).await;
    // SIGKILL: no chance to clean up.
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(status(&app, id), "running", "the dead worker still holds the lease");
    let mut second = worker_process(&app.database_url);
    wait_status(&app, id, "done", 40).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(app.count(&format!("SELECT attempts FROM jobs WHERE id = {id}")), 2, "ran once more, not more");
}

#[tokio::test]
async fn two_instances_on_one_database_run_each_daily_job_once_per_day() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let w = workspace_of(&app);
    diesel::sql_query(format!("UPDATE workspaces SET daily_jobs_at = '00:00' WHERE id = {w}")).execute(&mut app.conn()).unwrap();
    // Many scheduler ticks at once, as from many instances: one job per kind and day.
    let now = chrono::Utc::now();
    let ticks: Vec<_> = (0..8)
        .map(|_| {
            let pool = app.pool.clone();
            std::thread::spawn(move || switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut pool.get().unwrap(), now).unwrap())
        })
        .collect();
    let added: usize = ticks.into_iter().map(|t| t.join().unwrap()).sum();
    // The daily jobs, and the hourly prune-events (once per hour, so once here too).
    let daily = switchboard::registry::jobs().daily_kinds().len() as i64 + 1;
    assert_eq!(added as i64, daily);
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {w}")), daily);
    // Two real instances with workers and schedulers on the same database.
    let one = spawn_app_on_with(&app.database, |s| s.run_scheduler = true).await;
    let two = spawn_app_on_with(&app.database, |s| s.run_scheduler = true).await;
    for _ in 0..100 {
        if app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {w} AND status = 'done'")) == daily {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {w} AND status = 'done'")), daily);
    assert_eq!(app.count(&format!("SELECT sum(attempts) FROM jobs WHERE workspace_id = {w}")), daily, "each ran once");
    // The next day brings the next set.
    let tomorrow = now + chrono::Duration::days(1);
    assert_eq!(switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut app.conn(), tomorrow).unwrap() as i64, daily);
    drop((one, two));
}

#[tokio::test]
async fn a_job_whose_worker_dies_on_every_attempt_ends_dead_instead_of_looping() {
    let app = spawn_app_with(|s| s.job_lease_secs = 2).await;
    let w = workspace_of(&app);
    diesel::sql_query(format!(
        "INSERT INTO jobs (workspace_id, kind, status, attempts, max_attempts, locked_by, locked_until) \
         VALUES ({w}, 'noop', 'running', 3, 3, 'gone-host:1:x-0', now() - interval '1 minute')"
    ))
    .execute(&mut app.conn())
    .unwrap();
    let id = app.count("SELECT max(id) FROM jobs");
    wait_status(&app, id, "dead", 10).await;
    assert_eq!(app.count(&format!("SELECT attempts FROM jobs WHERE id = {id}")), 3, "not run a fourth time");
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE id = {id} AND last_error LIKE '%lease expired%'")), 1);
}

#[tokio::test]
async fn the_jobs_page_counts_every_status_and_offers_only_the_changes_each_allows() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    // One job in each status a person can act on, none of them due (no worker takes them).
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut ids = Vec::new();
    for status in ["queued", "waiting", "failed", "dead", "done", "cancelled", "dead"] {
        let id = enqueue(&app, NewJob::new(me.workspace_id, Noop::KIND, json!({})).at(later));
        diesel::sql_query(format!("UPDATE jobs SET status = '{status}' WHERE id = {id}")).execute(&mut app.conn()).unwrap();
        ids.push((status, id));
    }
    let page = admin.get_html("/settings/jobs?status=queued").await;
    for (status, count) in [("queued", 1), ("running", 0), ("waiting", 1), ("failed", 1), ("dead", 2), ("done", 1), ("cancelled", 1)] {
        assert!(page.contains(&format!("id=\"count-{status}\">{count}</span>")), "{status} counted {count}:\n{page}");
    }
    assert!(page.contains("aria-current=\"page\">queued"), "the shown status is marked");
    for (status, id) in ids {
        let row = admin.get_html(&format!("/settings/jobs?status={status}")).await;
        let row = row.split(&format!("id=\"job-{id}\"")).nth(1).expect("the job is listed under its status");
        let row = &row[..row.find("</tr>").unwrap()];
        let retry = row.contains(&format!("/settings/jobs/{id}/retry"));
        let cancel = row.contains(&format!("/settings/jobs/{id}/cancel"));
        assert_eq!(retry, ["waiting", "failed", "dead", "cancelled"].contains(&status), "Retry offered for a {status} job");
        assert_eq!(cancel, ["queued", "waiting", "failed"].contains(&status), "Cancel offered for a {status} job");
    }
    assert_eq!(admin.get("/settings/jobs?status=finished").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn every_job_status_is_stored_under_the_check_and_read_back_as_itself() {
    use switchboard::db::schema::jobs as job_rows;
    use switchboard::jobs::{JobStatus, query};
    let app = spawn_app().await;
    let w = workspace_of(&app);
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    for status in JobStatus::ALL {
        let id = enqueue(&app, NewJob::new(w, Noop::KIND, json!({})).at(later));
        let set = diesel::update(job_rows::table.filter(job_rows::workspace_id.eq(w)).filter(job_rows::id.eq(id)))
            .set(job_rows::status.eq(status))
            .execute(&mut app.conn());
        assert_eq!(set.as_ref().ok(), Some(&1), "{status} is allowed by the CHECK: {set:?}");
        assert_eq!(self::status(&app, id), status.as_str(), "stored as its text");
        let job = query::find_for_update(&mut app.conn(), w, id).unwrap().expect("the job");
        assert_eq!(job.status, status);
        let listed = query::list_by_status(&mut app.conn(), w, status, 1, 50).unwrap();
        assert_eq!(listed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id], "listed under {status} only");
    }
    let counts = query::count_by_status(&mut app.conn(), w).unwrap();
    assert_eq!(counts.len(), JobStatus::ALL.len(), "{counts:?}");
    assert!(counts.iter().all(|(_, n)| *n == 1), "{counts:?}");
    let refused = diesel::sql_query(format!("UPDATE jobs SET status = 'paused' WHERE workspace_id = {w}")).execute(&mut app.conn());
    assert!(refused.is_err(), "the CHECK refuses a status the enum does not know");
}
