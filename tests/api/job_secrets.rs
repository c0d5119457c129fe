//! Secrets in the job queue: reset and invitation links never sit in `jobs.payload` in clear,
//! a payload holds nothing of the message once sent or dead, and finished jobs are pruned
//! after `SWITCHBOARD_JOB_RETENTION_DAYS`.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use switchboard::jobs::{self, NewJob};
use switchboard::jobs::prune::PruneJobs;
use switchboard::authz::Role;

use crate::support::smtp::SmtpSink;
use crate::support::{TestApp, spawn_app_with};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn payloads(app: &TestApp) -> Vec<String> {
    #[derive(QueryableByName)]
    struct P {
        #[diesel(sql_type = diesel::sql_types::Text)]
        payload: String,
    }
    diesel::sql_query("SELECT payload::text AS payload FROM jobs WHERE kind = 'send-email' ORDER BY id")
        .load::<P>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|p| p.payload)
        .collect()
}

async fn wait_for(app: &TestApp, condition: &str, n: i64) {
    for _ in 0..200 {
        if app.count(&format!("SELECT count(*) FROM jobs WHERE {condition}")) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no job with {condition}");
}

/// No link to use a token (the tokens themselves are checked once the mail shows them).
fn assert_no_link(payloads: &[String], path: &str) {
    assert!(!payloads.is_empty());
    for p in payloads {
        assert!(!p.contains(path), "a link in clear: {p}");
    }
}

fn assert_scrubbed(app: &TestApp) {
    for p in payloads(app) {
        let value: serde_json::Value = serde_json::from_str(&p).unwrap();
        for key in ["sealed", "text", "html"] {
            assert!(value.get(key).is_none(), "{key} left in a finished job's payload: {p}");
        }
    }
}

#[tokio::test]
async fn reset_and_invitation_links_are_sealed_in_the_queue_and_gone_once_sent() {
    // Nobody listens on the SMTP port at first, so the emails wait in the queue.
    let port = free_port();
    let app = spawn_app_with(|s| s.smtp_url = Some(format!("smtp://127.0.0.1:{port}").parse().unwrap())).await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let r = app.browser().post("/password/forgot", &[("email", me.email.as_str())]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = admin.post("/settings/users", &[("email", "new@acme.test"), ("name", "New Person"), ("role", "agent"), ("password", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    wait_for(&app, "kind = 'send-email' AND status = 'failed' AND attempts >= 1", 2).await;
    let waiting = payloads(&app);
    assert_eq!(waiting.len(), 2);
    assert_no_link(&waiting, "/password/reset/");
    assert_no_link(&waiting, "/invitations/");

    let sink = SmtpSink::start_on(port);
    diesel::sql_query("UPDATE jobs SET run_at = now() WHERE status = 'failed'").execute(&mut app.conn()).unwrap();
    let mail = sink.wait_for(2).await;
    let reset = mail.iter().find_map(|m| m.link("/password/reset/")).expect("the reset email still carries its link");
    let invite = mail.iter().find_map(|m| m.link("/invitations/")).expect("the invitation still carries its link");
    wait_for(&app, "kind = 'send-email' AND status = 'done'", 2).await;
    let sent = payloads(&app);
    for token in [reset.rsplit('/').next().unwrap(), invite.rsplit('/').next().unwrap()] {
        assert_eq!(token.len(), 64, "{token}");
        assert!(waiting.iter().all(|p| !p.contains(token)), "token {token} in clear while waiting: {waiting:?}");
        assert!(sent.iter().all(|p| !p.contains(token)), "token {token} in {sent:?}");
    }
    assert_scrubbed(&app);
    // The links work.
    assert!(app.browser().get_html(&format!("/password/reset/{}", reset.rsplit('/').next().unwrap())).await.contains("Choose a new password"));
}

#[tokio::test]
async fn a_dead_email_job_keeps_no_message() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| s.smtp_url = Some(url.parse().unwrap())).await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    sink.refuse.lock().unwrap().push(me.email.clone());
    app.browser().post("/password/forgot", &[("email", me.email.as_str())]).await;
    wait_for(&app, "kind = 'send-email' AND status = 'dead'", 1).await;
    assert_scrubbed(&app);
    assert_no_link(&payloads(&app), "/password/reset/");
    // Nothing is left to send, and the jobs page says so instead of queueing it again.
    let id = app.count("SELECT id FROM jobs WHERE kind = 'send-email' AND status = 'dead'");
    let r = admin.post(&format!("/settings/jobs/{id}/retry"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("cannot be sent again"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE id = {id} AND status = 'dead'")), 1);
}

#[tokio::test]
async fn finished_jobs_are_pruned_after_the_retention_days_by_the_daily_prune_job() {
    let app = spawn_app_with(|s| s.job_retention_days = 7).await;
    let (_, me) = app.signed_in(Role::Admin).await;
    let other = app.create_user("Globex", "boss@globex.test", Role::Admin).workspace_id;
    let w = me.workspace_id;
    for ws in [w, other] {
        diesel::sql_query(format!(
            "INSERT INTO jobs (workspace_id, kind, status, finished_at, run_at, payload) VALUES \
             ({ws}, 'noop', 'done',      now() - interval '3 days', now() - interval '3 days', '{{\"tag\": \"old-done\"}}'), \
             ({ws}, 'noop', 'cancelled', now() - interval '3 days', now() - interval '3 days', '{{\"tag\": \"old-cancelled\"}}'), \
             ({ws}, 'noop', 'dead',      now() - interval '3 days', now() - interval '3 days', '{{\"tag\": \"old-dead\"}}'), \
             ({ws}, 'noop', 'done',      now() + interval '2 days', now(), '{{\"tag\": \"recent-done\"}}'), \
             ({ws}, 'noop', 'failed',    NULL, now() + interval '30 days', '{{\"tag\": \"failed\"}}')"
        ))
        .execute(&mut app.conn())
        .unwrap();
    }
    let tagged = |ws: i64| app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {ws} AND payload ? 'tag'"));
    let run_prune = || async {
        let id = jobs::enqueue(&mut app.conn(), &NewJob::new(w, PruneJobs::KIND, json!({}))).unwrap().unwrap();
        for _ in 0..200 {
            if app.count(&format!("SELECT count(*) FROM jobs WHERE id = {id} AND status = 'done'")) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the prune job did not finish");
    };
    run_prune().await;
    assert_eq!(tagged(w), 5, "3 days is within the 7 days kept");
    // Five days later by the app's clock, the old finished ones are past the retention.
    app.clock.advance(chrono::Duration::days(5));
    run_prune().await;
    assert_eq!(tagged(w), 2);
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {w} AND payload->>'tag' IN ('recent-done', 'failed')")), 2, "recent and unfinished jobs stay");
    assert_eq!(tagged(other), 5, "each workspace's own daily job prunes it");
    // The daily scheduler enqueues the prune job with the others.
    assert!(switchboard::registry::jobs().daily_kinds().contains(&PruneJobs::KIND));
}

#[test]
fn the_retention_comes_from_the_environment() {
    let s = switchboard::config::Settings::from_lookup(|n| (n == "SWITCHBOARD_JOB_RETENTION_DAYS").then(|| "30".to_string())).unwrap();
    assert_eq!(s.job_retention_days, 30);
    let s = switchboard::config::Settings::from_lookup(|_| None).unwrap();
    assert_eq!(s.job_retention_days, 7);
    let err = switchboard::config::Settings::from_lookup(|n| (n == "SWITCHBOARD_JOB_RETENTION_DAYS").then(|| "0".to_string())).unwrap_err();
    assert!(err.to_string().contains("SWITCHBOARD_JOB_RETENTION_DAYS"));
}
