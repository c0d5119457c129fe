//! The daily jobs with an injected clock: the client-status rule and follow-up reminders
//! (in-app and by email), and the notifications pages.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use switchboard::jobs::{self, Kind, NewJob};
use switchboard::clients::status_rule::ClientStatus;
use switchboard::notifications::reminders::FollowUpReminders;
use switchboard::authz::Role;

use crate::support::smtp::SmtpSink;
use crate::support::{TestApp, location, spawn_app, spawn_app_with};

fn sql(app: &TestApp, query: &str) {
    diesel::sql_query(query).execute(&mut app.conn()).unwrap();
}

async fn run_job(app: &TestApp, workspace_id: i64, kind: Kind, payload: serde_json::Value) {
    let id = jobs::enqueue(&mut app.conn(), &NewJob::new(workspace_id, kind, payload)).unwrap().unwrap();
    for _ in 0..200 {
        if app.count(&format!("SELECT count(*) FROM jobs WHERE id = {id} AND status = 'done'")) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{kind:?} job did not finish");
}

#[tokio::test]
async fn the_status_rule_marks_hot_inactive_and_warm_and_respects_hand_set_statuses() {
    let app = spawn_app().await;
    let (_, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    // Days are counted from the app's clock, which we move a day ahead.
    app.clock.advance(chrono::Duration::days(1));
    let now = "(now() + interval '1 day')";
    sql(&app, &format!(
        "INSERT INTO clients (workspace_id, name, status, status_source, status_changed_at, created_at, last_contacted_at) VALUES \
         ({w}, 'Busy',      'warm', 'rule', now() - interval '90 days', now() - interval '90 days', {now} - interval '1 day'), \
         ({w}, 'Quiet',     'warm', 'rule', now() - interval '90 days', now() - interval '90 days', {now} - interval '40 days'), \
         ({w}, 'Cooled',    'hot',  'rule', now() - interval '90 days', now() - interval '90 days', {now} - interval '10 days'), \
         ({w}, 'Handheld',  'hot',  'hand', {now} - interval '2 days',  now() - interval '90 days', {now} - interval '40 days'), \
         ({w}, 'Lapsed',    'hot',  'hand', {now} - interval '20 days', now() - interval '90 days', {now} - interval '40 days'), \
         ({w}, 'Newcomer',  'warm', 'rule', now(), now(), NULL), \
         ({w}, 'Forgotten', 'warm', 'rule', now() - interval '90 days', now() - interval '90 days', NULL)"
    ));
    sql(&app, &format!(
        "INSERT INTO communications (workspace_id, client_id, kind, occurred_at) \
         SELECT {w}, id, 'call', {now} - make_interval(days => g) FROM clients, generate_series(1, 3) g WHERE name = 'Busy'"
    ));
    sql(&app, &format!("INSERT INTO communications (workspace_id, client_id, kind, occurred_at) SELECT {w}, id, 'call', {now} - interval '10 days' FROM clients WHERE name = 'Cooled'"));
    run_job(&app, w, ClientStatus::KIND, json!({})).await;
    let status = |name: &str| {
        #[derive(QueryableByName)]
        struct R {
            #[diesel(sql_type = diesel::sql_types::Text)]
            status: String,
        }
        diesel::sql_query(format!("SELECT status FROM clients WHERE name = '{name}'")).get_result::<R>(&mut app.conn()).unwrap().status
    };
    assert_eq!(status("Busy"), "hot", "3 communications in 7 days");
    assert_eq!(status("Quiet"), "inactive", "nothing for 30 days");
    assert_eq!(status("Cooled"), "warm", "was hot by rule, not any more");
    assert_eq!(status("Handheld"), "hot", "set by hand 2 days ago: kept");
    assert_eq!(status("Lapsed"), "inactive", "set by hand 20 days ago: the rule applies again");
    assert_eq!(status("Newcomer"), "warm", "new clients are not inactive");
    assert_eq!(status("Forgotten"), "inactive", "never contacted, created 90 days ago");
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.status_rule' AND actor_kind = 'system'"), 5);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.status_rule' AND before->>'status' = 'hot' AND after->>'status' = 'warm'"), 1);
    // The dashboard counters follow, and a second run changes nothing.
    assert_eq!(app.count(&format!("SELECT coalesce(sum(n), 0) FROM client_counts WHERE workspace_id = {w} AND status = 'inactive'")), 3);
    run_job(&app, w, ClientStatus::KIND, json!({})).await;
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.status_rule'"), 5);
}

#[tokio::test]
async fn one_reminder_per_owner_per_day_in_app_and_by_email_with_a_working_link() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(url.parse().unwrap());
        s.public_url = Some("http://crm.acme.test/".parse().unwrap());
    })
    .await;
    let (owner_browser, owner) = app.signed_in(Role::Agent).await;
    let (_, idle) = app.signed_in(Role::Agent).await;
    let w = owner.workspace_id;
    sql(&app, &format!("INSERT INTO clients (workspace_id, name) VALUES ({w}, 'Ada'), ({w}, 'Bob <b>')"));
    sql(&app, &format!(
        "INSERT INTO follow_ups (workspace_id, client_id, assigned_to, due_at, notes, status) \
         SELECT {w}, c.id, {o}, t.due, t.notes, t.status FROM clients c, (VALUES \
           (now() - interval '3 days', 'Overdue call', 'pending'), \
           (date_trunc('day', now()) + interval '12 hours', 'Call today', 'pending'), \
           (now() + interval '3 days', 'Later', 'pending'), \
           (now() - interval '1 day', 'Done already', 'completed')) AS t(due, notes, status) WHERE c.name = 'Ada'",
        o = owner.id
    ));
    let today = Utc::now().date_naive();
    run_job(&app, w, FollowUpReminders::KIND, json!({ "date": today })).await;
    let mail = sink.wait_for(1).await;
    assert_eq!(mail.len(), 1, "only the owner with due follow-ups");
    assert_eq!(mail[0].to, vec![owner.email.clone()]);
    let text = mail[0].decoded();
    assert!(text.contains("Overdue call") && text.contains("Call today") && !text.contains("Later") && !text.contains("Done already"), "{text}");
    let link = mail[0].link("/follow-ups").expect("a link to the follow-ups");
    assert_eq!(link, "http://crm.acme.test/follow-ups?view=mine");
    assert_eq!(owner_browser.get("/follow-ups?view=mine").await.status(), StatusCode::OK);
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {} AND kind = 'follow-up-reminder'", owner.id)), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {}", idle.id)), 0);
    // The same day again: nothing new.
    run_job(&app, w, FollowUpReminders::KIND, json!({ "date": today })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM notifications"), 1);
    // The badge and the list show it; opening it marks it read and follows its link.
    let badge = owner_browser.get_html("/notifications/badge").await;
    assert!(badge.contains(">1<"), "{badge}");
    let list = owner_browser.get_html("/notifications").await;
    assert!(list.contains("1 follow-up due today, 1 overdue") && list.contains("Mark all 1 read"));
    let id = app.count("SELECT id FROM notifications");
    let r = owner_browser.post(&format!("/notifications/{id}/read"), &[]).await;
    assert_eq!(location(&r), "/follow-ups?view=mine");
    assert!(owner_browser.get_html("/notifications/badge").await.contains("badge empty"));
}

#[tokio::test]
async fn notifications_are_per_user_unread_first_and_can_all_be_marked_read() {
    let app = spawn_app().await;
    let (me_browser, me) = app.signed_in(Role::Agent).await;
    let (other_browser, other) = app.signed_in(Role::Agent).await;
    let w = me.workspace_id;
    sql(&app, &format!(
        "INSERT INTO notifications (workspace_id, user_id, kind, title, read_at, created_at) VALUES \
         ({w}, {m}, 'note', 'Old read one', now(), now() - interval '1 hour'), \
         ({w}, {m}, 'note', 'Older unread', NULL, now() - interval '2 hours'), \
         ({w}, {m}, 'note', '<script>alert(1)</script>', NULL, now()), \
         ({w}, {o}, 'note', 'Not yours', NULL, now())",
        m = me.id,
        o = other.id
    ));
    let list = me_browser.get_html("/notifications").await;
    let (unread, read) = (list.find("Older unread").unwrap(), list.find("Old read one").unwrap());
    assert!(unread < read, "unread first");
    assert!(!list.contains("Not yours") && !list.contains("<script>alert(1)"), "escaped, and only mine");
    let theirs = app.count(&format!("SELECT id FROM notifications WHERE user_id = {}", other.id));
    assert_eq!(me_browser.post(&format!("/notifications/{theirs}/read"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(me_browser.post("/notifications/read-all", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {} AND read_at IS NULL", me.id)), 0);
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {} AND read_at IS NULL", other.id)), 1);
    assert!(other_browser.get_html("/notifications/badge").await.contains(">1<"));
    // Signed out, the badge is no one's.
    assert_eq!(app.browser().get("/notifications/badge").await.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn a_reminder_counts_every_follow_up_but_lists_at_most_fifty() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| s.smtp_url = Some(url.parse().unwrap())).await;
    let (_, owner) = app.signed_in(Role::Manager).await;
    let w = owner.workspace_id;
    sql(&app, &format!("INSERT INTO clients (workspace_id, name) VALUES ({w}, 'Busy Client')"));
    sql(&app, &format!(
        "INSERT INTO follow_ups (workspace_id, client_id, assigned_to, due_at, notes) \
         SELECT {w}, c.id, {o}, now() - make_interval(days => g), 'Call number ' || g FROM clients c, generate_series(1, 60) g",
        o = owner.id
    ));
    run_job(&app, w, FollowUpReminders::KIND, json!({ "date": Utc::now().date_naive() })).await;
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].subject(), "60 overdue follow-ups");
    let text = mail[0].decoded();
    assert_eq!(text.matches("Call number").count(), 2 * 50, "fifty listed, in the text and the HTML part");
    assert!(text.contains("Call number 60") && !text.contains("Call number 10\r"), "the oldest first");
    assert_eq!(app.count("SELECT count(*) FROM notifications WHERE body = '0 due today, 60 overdue.'"), 1);
}
