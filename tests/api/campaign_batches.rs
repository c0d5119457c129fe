//! Campaign batches and their dispatch (issue 12 parts 3 and 5), against the in-process
//! provider double, the tests' SMTP server and the job workers (in process or a second
//! instance). The tests that kill a `switchboard worker` process mid-batch, and the one of
//! Twilio's 503 answers (its words are in the failed messages), keep the HTTP fake Twilio.
//!
//! The campaign lifecycle's pages are another part of issue 12: here a campaign is written
//! straight into the database, and its start / pause / complete transitions are the status
//! update plus `dispatch::resume` / `dispatch::cancel_rest`, the calls those transitions make.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::campaigns::{dispatch, stalls};
use switchboard::authz::Role;

use switchboard::messaging::MessageStatus;

use crate::messaging_send::{Setup, WHATSAPP_FROM, add_template, on_double, setup_double_with, setup_with, sql, text, wait_for, worker_process};
use crate::support::fake_twilio::FakeTwilio;
use crate::support::provider_double::{Failure, ProviderDouble};
use crate::support::smtp::SmtpSink;
use crate::support::{TestApp, location, spawn_app_on_with, spawn_app_on_with_double, spawn_app_with};


/// A campaign on `channels` in `status`; returns its id.
fn campaign(app: &TestApp, ws: i64, status: &str, channels: &str) -> i64 {
    sql(app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({ws}, 'Spring offer', ARRAY[{channels}], '{status}')"));
    app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {ws}"))
}

/// `n` clients "Client 0001"… with phones +1415600NNNN and emails, attached to the campaign.
fn attach_new_clients(app: &TestApp, ws: i64, campaign: i64, n: i64) {
    sql(app, &format!(
        "WITH c AS (INSERT INTO clients (workspace_id, name, phone, email, company) \
           SELECT {ws}, 'Client ' || lpad(g::text, 4, '0'), '+1415600' || lpad(g::text, 4, '0'), 'c' || g || '@example.com', 'Acme' \
           FROM generate_series(1, {n}) g RETURNING id) \
         INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) SELECT {ws}, {campaign}, id FROM c"
    ));
}

fn attach(app: &TestApp, ws: i64, campaign: i64, client: i64) {
    sql(app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({ws}, {campaign}, {client}) ON CONFLICT DO NOTHING"));
}

fn new_client(app: &TestApp, ws: i64, columns: &str, values: &str) -> i64 {
    sql(app, &format!("INSERT INTO clients (workspace_id, {columns}) VALUES ({ws}, {values})"));
    app.count(&format!("SELECT max(id) FROM clients WHERE workspace_id = {ws}"))
}

fn batch_id(response: &reqwest::Response, campaign: i64, segment: &str) -> i64 {
    let at = location(response);
    let prefix = format!("/campaigns/{campaign}/{segment}/");
    assert!(at.starts_with(&prefix) && at.ends_with("/recipients"), "{at}");
    at[prefix.len()..at.len() - "/recipients".len()].parse().unwrap()
}

fn recipients(app: &TestApp, batch: i64) -> String {
    text(app, &format!(
        "SELECT string_agg(c.name || ': ' || r.status || coalesce(' (' || r.skip_reason || ')', ''), '; ' ORDER BY c.name) \
         FROM campaign_recipients r JOIN clients c ON c.workspace_id = r.workspace_id AND c.id = r.client_id WHERE r.batch_id = {batch}"
    ))
}

/// The recipients of the sends the provider took, in order: the fake Twilio's addresses
/// (the tests that need a worker process or Twilio's answers) or the double's numbers.
trait Recipients {
    fn recipients(&self) -> Vec<String>;
}

impl Recipients for FakeTwilio {
    fn recipients(&self) -> Vec<String> {
        self.messages().into_iter().map(|m| m.to).collect()
    }
}

impl Recipients for ProviderDouble {
    fn recipients(&self) -> Vec<String> {
        self.messages().into_iter().map(|m| m.to).collect()
    }
}

/// Sends so far to the campaign's clients (the provider's record).
fn sent(fake: &impl Recipients) -> usize {
    fake.recipients().iter().filter(|to| to.contains("+1415600")).count()
}

/// An active WhatsApp campaign with `clients` new clients attached, an approved "Hello {{1}}"
/// template, and the sender's rate set to `rate` per second: (campaign, template).
fn hello_campaign<P>(s: &Setup<P>, rate: u32, clients: i64) -> (i64, i64) {
    let ws = s.workspace_id;
    sql(&s.app, &format!("UPDATE twilio_settings SET whatsapp_rate = {rate} WHERE workspace_id = {ws}"));
    let c = campaign(&s.app, ws, "active", "'whatsapp'");
    let template = add_template(&s.app, ws, "HXhello", "hello", "Hello {{1}}", "approved");
    attach_new_clients(&s.app, ws, c, clients);
    (c, template)
}

async fn whatsapp_batch<P>(s: &Setup<P>, campaign: i64, template: i64, send_at: &str) -> i64 {
    let t = template.to_string();
    let r = s.browser.post(&format!("/campaigns/{campaign}/whatsapp-messages"), &[("mode", "template"), ("template_id", &t), ("var_1", "name"), ("send_at", send_at)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    batch_id(&r, campaign, "whatsapp-messages")
}

#[tokio::test]
async fn a_whatsapp_batch_stores_its_variables_and_one_recipient_per_attached_client_with_skip_reasons() {
    let s = setup_double_with(true, |c| c.job_workers = 0).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws, "draft", "'whatsapp', 'sms'");
    let template = add_template(&s.app, ws, "HXoffer", "offer", "Hello {{1}}, see you {{2}}", "approved");
    let pending = add_template(&s.app, ws, "HXpending", "pending_offer", "Hi {{1}}", "pending");
    attach(&s.app, ws, c, s.client_id);
    attach(&s.app, ws, c, s.client_id); // twice: still once
    let opted = new_client(&s.app, ws, "name, phone, opt_out_whatsapp_at", "'Bola Opted', '+14155550124', '2026-11-02 10:00+00'");
    let phoneless = new_client(&s.app, ws, "name", "'Chidi Nophone'");
    attach(&s.app, ws, c, opted);
    attach(&s.app, ws, c, phoneless);

    let html = s.browser.get_html(&format!("/campaigns/{c}/whatsapp-messages")).await;
    assert!(html.contains(&format!("<form method=\"post\" action=\"/campaigns/{c}/whatsapp-messages\" id=\"batch-form\"")), "{html}");
    assert!(html.contains(&format!("<option value=\"{template}\">offer (en)</option>")), "{html}");
    assert!(!html.contains("pending_offer"), "only approved templates are offered");
    assert!(html.contains("Goes to the 3 clients attached to this campaign"), "{html}");
    assert!(html.contains("name=\"var_2\""));

    // The live preview, for the first attached client.
    let preview = s.browser.htmx_get(&format!("/campaigns/{c}/whatsapp-messages/preview?template_id={template}&var_1=name&var_2=%3Cb%3EFriday")).await.text().await.unwrap();
    assert_eq!(preview, "<p class=\"message-preview\" id=\"batch-preview\" hx-disable><span class=\"muted\">As Amara Okafor will see it:</span> Hello Amara Okafor, see you &lt;b&gt;Friday</p>");

    // Refusals: 422 with the reason, nothing written.
    for (fields, reason) in [
        (vec![("mode", "flow"), ("flow_id", "1")], "Choose a flow."),
        (vec![("mode", "template"), ("template_id", &*pending.to_string()), ("var_1", "name")], "Choose an approved template."),
        (vec![("mode", "template"), ("template_id", &*template.to_string()), ("var_1", "name")], "Fill in variable {{2}}"),
        (vec![("mode", "template"), ("template_id", &*template.to_string()), ("var_1", "name"), ("var_2", "x"), ("send_at", "tomorrow")], "Send at must be a date and 24-hour time"),
        (vec![("mode", "template"), ("template_id", &*template.to_string()), ("var_1", "name"), ("var_2", "x"), ("send_at", "2020-01-01 10:00")], "Send at is in the past"),
    ] {
        let r = s.browser.post(&format!("/campaigns/{c}/whatsapp-messages"), &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("<p class=\"flash error\" role=\"alert\">{}", reason.replace('"', "&quot;"))) || html.contains(reason), "{reason}: {html}");
    }
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_batches"), 0);

    let t = template.to_string();
    let r = s.browser.post(&format!("/campaigns/{c}/whatsapp-messages"), &[("mode", "template"), ("template_id", &t), ("var_1", "name"), ("var_2", "Friday 10:00"), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b = batch_id(&r, c, "whatsapp-messages");
    assert_eq!(
        text(&s.app, &format!("SELECT concat_ws(' | ', channel, mode, template_id, variables, sender, status, send_at <= now()) FROM campaign_batches WHERE id = {b}")),
        format!("whatsapp | template | {template} | {{\"1\": {{\"field\": \"name\"}}, \"2\": {{\"text\": \"Friday 10:00\"}}}} | {WHATSAPP_FROM} | scheduled | t")
    );
    assert_eq!(recipients(&s.app, b), "Amara Okafor: queued; Bola Opted: skipped (Opted out of WhatsApp on 2026-11-02); Chidi Nophone: skipped (No phone number)");
    assert_eq!(text(&s.app, &format!("SELECT string_agg(key || '=' || n, ',' ORDER BY key) FROM campaign_batch_counts WHERE batch_id = {b} AND n > 0")), "queued=1,skipped=2");
    // Its dispatch: one job keyed by the batch, due now; enqueueing again adds none.
    assert_eq!(text(&s.app, "SELECT kind || ' ' || idempotency_key || ' ' || (payload->>'batch_id') FROM jobs WHERE kind = 'dispatch-batch'"), format!("dispatch-batch dispatch-batch:{b} {b}"));
    dispatch::enqueue(&mut s.app.conn(), ws, b, chrono::Utc::now()).unwrap();
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch'"), 1);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.batch_created' AND entity_id = '{c}' AND after->>'batch_id' = '{b}' AND after->>'queued' = '1' AND after->>'skipped' = '2'")), 1);

    // A scheduled batch: the local time in the workspace's zone, the job due then.
    sql(&s.app, &format!("UPDATE workspaces SET time_zone = 'Africa/Lagos' WHERE id = {ws}"));
    let r = s.browser.post(&format!("/campaigns/{c}/sms-messages"), &[("body", "Hi {{name}} from {{company}}"), ("send_at", "2031-03-04 09:30")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let sms = batch_id(&r, c, "sms-messages");
    assert_eq!(text(&s.app, &format!("SELECT to_char(send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' ' || body FROM campaign_batches WHERE id = {sms}")), "2031-03-04 08:30 Hi {{name}} from {{company}}");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM jobs WHERE idempotency_key = 'dispatch-batch:{sms}' AND run_at = (SELECT send_at FROM campaign_batches WHERE id = {sms})")), 1);
    assert_eq!(recipients(&s.app, sms), "Amara Okafor: queued; Bola Opted: queued; Chidi Nophone: skipped (No phone number)");
    let segments = s.browser.htmx_get(&format!("/campaigns/{c}/sms-messages/segments?body=Hello+%F0%9F%98%80")).await.text().await.unwrap();
    assert!(segments.contains(">1 segment · UCS-2 (emoji or non-Latin), 70 each<"), "{segments}");

    // No email channel on this campaign; a completed campaign takes no batch.
    let r = s.browser.post(&format!("/campaigns/{c}/emails"), &[("subject", "Hi"), ("body", "Hello")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("This campaign does not send email"));
    sql(&s.app, &format!("UPDATE campaigns SET status = 'completed' WHERE id = {c}"));
    let r = s.browser.post(&format!("/campaigns/{c}/sms-messages"), &[("body", "Late")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_batches"), 2);
}

#[tokio::test]
async fn batch_routes_are_403_for_agents_and_404_for_another_department_or_workspace() {
    let s = setup_double_with(true, |c| c.job_workers = 0).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws, "active", "'whatsapp', 'sms', 'email'");
    sql(&s.app, &format!("INSERT INTO departments (workspace_id, name) VALUES ({ws}, 'North'), ({ws}, 'South')"));
    let north = s.app.count(&format!("SELECT id FROM departments WHERE workspace_id = {ws} AND name = 'North'"));
    let south = s.app.count(&format!("SELECT id FROM departments WHERE workspace_id = {ws} AND name = 'South'"));
    sql(&s.app, &format!("INSERT INTO campaign_departments (workspace_id, campaign_id, department_id) VALUES ({ws}, {c}, {north})"));
    let (agent, _) = s.app.signed_in(Role::Agent).await;
    let (north_manager, nm) = s.app.signed_in(Role::Manager).await;
    let (south_manager, sm) = s.app.signed_in(Role::Manager).await;
    sql(&s.app, &format!("INSERT INTO user_departments (workspace_id, user_id, department_id) VALUES ({ws}, {}, {north}), ({ws}, {}, {south})", nm.id, sm.id));
    let other = spawn_app_on_with(&s.app.database, |_| {}).await;
    let (stranger, _) = {
        let email = format!("admin-{}@beta.test", uuid::Uuid::new_v4().simple());
        other.create_user("Beta", &email, Role::Admin);
        let b = other.browser();
        b.login(&email, crate::support::PASSWORD).await;
        (b, ())
    };
    for segment in ["whatsapp-messages", "sms-messages", "emails"] {
        let path = format!("/campaigns/{c}/{segment}");
        assert_eq!(agent.get(&path).await.status(), StatusCode::FORBIDDEN, "agent GET {path}");
        assert_eq!(agent.post(&path, &[("body", "x"), ("subject", "x")]).await.status(), StatusCode::FORBIDDEN, "agent POST {path}");
        assert_eq!(south_manager.get(&path).await.status(), StatusCode::NOT_FOUND, "another department's manager GET {path}");
        assert_eq!(south_manager.post(&path, &[("body", "x"), ("subject", "x")]).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(stranger.get(&path).await.status(), StatusCode::NOT_FOUND, "another workspace GET {path}");
        assert_eq!(stranger.post(&path, &[("body", "x"), ("subject", "x")]).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(north_manager.get(&path).await.status(), StatusCode::OK, "the department's manager GET {path}");
    }
    for path in [format!("/campaigns/{c}/whatsapp-messages/preview"), format!("/campaigns/{c}/sms-messages/segments?body=x")] {
        assert_eq!(agent.get(&path).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(south_manager.get(&path).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(stranger.get(&path).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_batches"), 0);
    let r = north_manager.post(&format!("/campaigns/{c}/sms-messages"), &[("body", "Hello {{name}}")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_hundred_recipients_are_sent_at_the_senders_rate_once_each_and_the_skipped_never() {
    let s = setup_double_with(true, |c| c.job_workers = 2).await;
    let ws = s.workspace_id;
    let (c, template) = hello_campaign(&s, 20, 100);
    let opted = new_client(&s.app, ws, "name, phone, opt_out_whatsapp_at", "'Bola Opted', '+14155550124', '2026-11-02 10:00+00'");
    let phoneless = new_client(&s.app, ws, "name", "'Chidi Nophone'");
    attach(&s.app, ws, c, opted);
    attach(&s.app, ws, c, phoneless);
    let b = whatsapp_batch(&s, c, template, "").await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    let messages = s.fake.messages();
    assert_eq!(messages.len(), 100, "the 100 sendable clients, and nobody else");
    assert_eq!(s.fake.sends_to_number("+14155550124"), 0, "opted out: never sent");
    for n in 1..=100 {
        assert_eq!(s.fake.sends_to_number(&format!("+1415600{n:04}")), 1, "client {n} once");
    }
    let first = messages.iter().find(|m| m.to.ends_with("+14156000001")).unwrap();
    assert_eq!(first.variables, [("1".to_string(), "Client 0001".to_string())]);
    let start = messages.iter().map(|m| m.created_at).min().unwrap();
    let end = messages.iter().map(|m| m.created_at).max().unwrap();
    let span = (end - start).num_milliseconds() as f64 / 1000.0;
    let expected = 99.0 / 20.0;
    assert!((span - expected).abs() <= expected * 0.05, "100 sends at 20/s span {span} s, expected {expected} s ± 5 %");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'sending' AND message_id IS NOT NULL")), 100, "accepted by Twilio (sending until its callback)");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'accepted' AND provider_id IS NOT NULL")), 100);
    assert_eq!(
        text(&s.app, &format!("SELECT string_agg(skip_reason, '; ' ORDER BY skip_reason) FROM campaign_recipients WHERE batch_id = {b} AND status = 'skipped' AND message_id IS NULL")),
        "No phone number; Opted out of WhatsApp on 2026-11-02"
    );
}

#[tokio::test]
async fn a_client_who_opts_out_after_the_batch_was_made_is_skipped_when_their_turn_comes() {
    let s = setup_double_with(true, |c| c.job_workers = 0).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws, "active", "'sms'");
    attach(&s.app, ws, c, s.client_id);
    let femi = new_client(&s.app, ws, "name, phone, company", "'Femi Ade', '+14155550125', 'Ade Ltd'");
    attach(&s.app, ws, c, femi);
    let r = s.browser.post(&format!("/campaigns/{c}/sms-messages"), &[("body", "Hello {{name}} of {{ company }}, {{1}}")]).await;
    let b = batch_id(&r, c, "sms-messages");
    sql(&s.app, &format!("UPDATE clients SET opt_out_sms_at = '2026-11-20 12:00+00' WHERE id = {}", s.client_id));
    let _worker = spawn_app_on_with_double(&s.app.database, &s.fake, on_double).await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    assert_eq!(recipients(&s.app, b), "Amara Okafor: skipped (Opted out of SMS on 2026-11-20); Femi Ade: sending");
    let messages = s.fake.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!((messages[0].to.as_str(), messages[0].body.as_deref()), ("+14155550125", Some("Hello Femi Ade of Ade Ltd, {{1}}")));
}

/// Paused on purpose part-way: the count of sends once in-flight ones have landed.
/// The campaign started again as the start transition does it: active, and its dispatch resumed.
fn start_again<P>(s: &Setup<P>, ws: i64, c: i64) {
    let mut conn = s.app.conn();
    conn.transaction(|tx| {
        diesel::sql_query(format!("UPDATE campaigns SET status = 'active' WHERE id = {c}")).execute(tx)?;
        assert_eq!(dispatch::resume(tx, ws, c)?, 1);
        QueryResult::Ok(())
    })
    .unwrap();
}

/// Clients 1..=n (phones +1415600NNNN) each got exactly one send.
fn each_sent_once<P: Recipients>(s: &Setup<P>, n: usize) {
    let sent = s.fake.recipients();
    for i in 1..=n {
        assert_eq!(sent.iter().filter(|to| to.ends_with(&format!("+1415600{i:04}"))).count(), 1, "client {i} exactly once");
    }
}

async fn pause_and_settle<P: Recipients>(s: &Setup<P>, campaign: i64, after: usize) -> usize {
    while sent(&s.fake) < after {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sql(&s.app, &format!("UPDATE campaigns SET status = 'paused' WHERE id = {campaign}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    sent(&s.fake)
}

#[tokio::test]
async fn pausing_stops_new_sends_within_a_second_on_both_instances_and_resuming_continues_without_repeats() {
    let s = setup_double_with(true, |c| c.job_workers = 2).await;
    let ws = s.workspace_id;
    let _second = spawn_app_on_with_double(&s.app.database, &s.fake, |c| {
        on_double(c);
        c.job_workers = 2;
    })
    .await;
    let (c, template) = hello_campaign(&s, 10, 30);
    let b = whatsapp_batch(&s, c, template, "").await;
    let at_pause = pause_and_settle(&s, c, 8).await;
    assert!(at_pause < 30, "paused part-way ({at_pause} sent)");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sent(&s.fake), at_pause, "no new send more than a second after the pause");
    wait_for(&s.app, "NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'dispatch-batch' AND status <> 'done')").await;
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'queued'")), 30 - at_pause as i64);

    // Start again (the transition's own call): it continues where it stopped.
    start_again(&s, ws, c);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    assert_eq!(sent(&s.fake), 30);
    each_sent_once(&s, 30);
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch'"), 2, "the first dispatch and the resume");
}

#[tokio::test]
async fn completing_cancels_what_is_left_and_nothing_more_is_sent() {
    let s = setup_double_with(true, |c| c.job_workers = 2).await;
    let ws = s.workspace_id;
    let (c, template) = hello_campaign(&s, 10, 30);
    let b = whatsapp_batch(&s, c, template, "").await;
    while sent(&s.fake) < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        let mut conn = s.app.conn();
        conn.transaction(|tx| {
            diesel::sql_query(format!("UPDATE campaigns SET status = 'completed' WHERE id = {c}")).execute(tx)?;
            dispatch::cancel_rest(tx, ws, c).map(|_| ())
        })
        .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_complete = sent(&s.fake);
    wait_for(&s.app, "NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'dispatch-batch' AND status <> 'done')").await;
    assert_eq!(sent(&s.fake), at_complete, "nothing sent after completing");
    assert_eq!(text(&s.app, &format!("SELECT status FROM campaign_batches WHERE id = {b}")), "cancelled");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'cancelled'")), 30 - at_complete as i64);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'queued'")), 0);
}

#[tokio::test]
async fn a_scheduled_batch_starts_on_time_once_with_two_instances() {
    let s = setup_double_with(true, |c| c.job_workers = 2).await;
    let ws = s.workspace_id;
    let _second = spawn_app_on_with_double(&s.app.database, &s.fake, |c| {
        on_double(c);
        c.job_workers = 2;
    })
    .await;
    let c = campaign(&s.app, ws, "active", "'whatsapp'");
    let template = add_template(&s.app, ws, "HXhello", "hello", "Hello {{1}}", "approved");
    attach_new_clients(&s.app, ws, c, 5);
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let b = whatsapp_batch(&s, c, template, &at.format("%Y-%m-%d %H:%M:%S").to_string()).await;
    let due = chrono::DateTime::parse_from_rfc3339(&text(&s.app, &format!("SELECT to_char(send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM campaign_batches WHERE id = {b}"))).unwrap();
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    let messages = s.fake.messages();
    assert_eq!(messages.len(), 5, "each client once, whichever instance ran it");
    for n in 1..=5 {
        assert_eq!(messages.iter().filter(|m| m.to.ends_with(&format!("+1415600{n:04}"))).count(), 1);
    }
    assert!(messages.iter().all(|m| m.created_at >= due), "nothing before send_at ({due})");
    // One start, whichever instance claimed it. A run on a slow machine may hand its worker
    // back after its 3 s slice with a successor (`dispatch-batch:{b}:after:{job}`) that finds
    // nothing left; that is not a second start.
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch' AND idempotency_key = 'dispatch-batch:{b}'")), 1);
    // Such a successor may still be running when the batch is done (seen under a full
    // suite's load); it ends done too, never failed or dead.
    wait_for(&s.app, "NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'dispatch-batch' AND status <> 'done')").await;
}

#[tokio::test]
async fn a_worker_killed_mid_batch_leaves_every_recipient_sent_exactly_once() {
    use crate::support::fake_twilio::Fault;
    use std::sync::atomic::Ordering;
    let s = setup_with(true, |c| c.job_workers = 0).await;
    let (c, template) = hello_campaign(&s, 20, 30);
    let b = whatsapp_batch(&s, c, template, "").await;
    let mut first = worker_process(&s);
    while s.fake.accepted.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The next send hangs at Twilio after it took it: the worker dies with it in flight.
    s.fake.push_fault(Fault::Slow(Duration::from_secs(5)));
    let before = s.fake.accepted.load(Ordering::SeqCst);
    while s.fake.accepted.load(Ordering::SeqCst) <= before || s.app.count("SELECT count(*) FROM messages WHERE status = 'sending'") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let killed_at = s.fake.accepted.load(Ordering::SeqCst);
    assert!(killed_at < 30, "killed mid-batch ({killed_at} sent)");
    // The in-flight message's lease runs out (shortened here); a second process takes the
    // dispatch over, never touches the claimed one, and its reconciliation adopts Twilio's record.
    sql(&s.app, "UPDATE messages SET lease_until = now() - interval '1 second' WHERE status = 'sending'");
    let mut second = worker_process(&s);
    wait_for(&s.app, &format!("(SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'accepted') = 30")).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let messages = s.fake.messages();
    assert_eq!(messages.len(), 30, "30 sends in all");
    for n in 1..=30 {
        assert_eq!(messages.iter().filter(|m| m.to.ends_with(&format!("+1415600{n:04}"))).count(), 1, "client {n} exactly once");
    }
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'sending'")), 30);
}

#[tokio::test]
async fn an_email_batch_goes_through_smtp_with_a_working_unsubscribe_link() {
    let sink = SmtpSink::start();
    let app = email_app(&sink, "http://crm.acme.test/").await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let ws = admin.workspace_id;
    let c = campaign(&app, ws, "active", "'email'");
    let ada = new_client(&app, ws, "name, email, company", "'Ada Obi', 'ada@example.com', 'Obi & Co'");
    let gone = new_client(&app, ws, "name, email, opt_out_email_at", "'Gone Away', 'gone@example.com', '2026-10-01 12:00+00'");
    let none = new_client(&app, ws, "name", "'No Mail'");
    for client in [ada, gone, none] {
        attach(&app, ws, c, client);
    }
    let html = browser.get_html(&format!("/campaigns/{c}/emails")).await;
    assert!(html.contains("An unsubscribe link is added to every email."), "{html}");
    let r = browser.post(&format!("/campaigns/{c}/emails"), &[("subject", "News for {{company}}"), ("body", "Dear {{name}},\n\nOur <spring> offer."), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b = batch_id(&r, c, "emails");
    let mail = sink.wait_for(1).await;
    wait_for(&app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    wait_for(&app, &format!("EXISTS (SELECT 1 FROM campaign_recipients WHERE batch_id = {b} AND client_id = {ada} AND status = 'sent')")).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, vec!["ada@example.com".to_string()]);
    assert_eq!(mail[0].subject(), "News for Obi & Co");
    let body = mail[0].decoded();
    assert!(body.contains("Dear Ada Obi,") && body.contains("Our &lt;spring&gt; offer."), "{body}");
    assert_eq!(recipients(&app, b), "Ada Obi: sent; Gone Away: skipped (Opted out of email on 2026-10-01); No Mail: skipped (No email address)");
    let link = mail[0].link("/unsubscribe/").expect("an unsubscribe link");
    let path = link.trim_start_matches("http://crm.acme.test");
    assert!(path.starts_with(&format!("/unsubscribe/{ws}.{ada}.")), "{link}");
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-email' AND payload::text LIKE '%unsubscribe%'"), 0, "the body is dropped from the finished job");

    // The link, in a browser with no session: a confirmation, then the opt-out.
    let stranger = app.browser();
    let page = stranger.get_html(path).await;
    assert!(page.contains(&format!("<form method=\"post\" action=\"{path}\"")), "{page}");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {ada} AND opt_out_email_at IS NOT NULL")), 0, "opening the link changes nothing");
    let r = stranger.post(path, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("You will receive no more emails from"));
    assert_eq!(text(&app, &format!("SELECT opt_out_email_source FROM clients WHERE id = {ada} AND opt_out_email_at IS NOT NULL")), "unsubscribe link");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'clients.opted_out' AND entity_id = '{ada}' AND after->>'source' = 'unsubscribe link'")), 1);
    // Used again: still opted out, audited once.
    assert_eq!(stranger.post(path, &[]).await.status(), StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.opted_out'"), 1);
    // A forged or altered token opts out nobody.
    let forged = format!("/unsubscribe/{ws}.{gone}.{}", &path[path.len() - 32..]);
    assert_eq!(stranger.get(&forged).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(stranger.post(&forged, &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(stranger.get("/unsubscribe/garbage").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn twenty_thousand_recipients_are_written_in_one_statement() {
    let s = setup_double_with(true, |c| c.job_workers = 0).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws, "draft", "'sms'");
    sql(&s.app, &format!(
        "WITH c AS (INSERT INTO clients (workspace_id, name, phone, opt_out_sms_at) \
           SELECT {ws}, 'Client ' || g, '+1415' || lpad(g::text, 7, '0'), CASE WHEN g % 100 = 0 THEN now() END \
           FROM generate_series(1, 20000) g RETURNING id) \
         INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) SELECT {ws}, {c}, id FROM c"
    ));
    let started = Instant::now();
    let r = s.browser.post(&format!("/campaigns/{c}/sms-messages"), &[("body", "Hello {{name}}")]).await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b = batch_id(&r, c, "sms-messages");
    eprintln!("creating a batch of 20000 recipients took {took:?}");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'queued'")), 19800);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'skipped' AND skip_reason LIKE 'Opted out of SMS on %'")), 200);
    assert_eq!(text(&s.app, &format!("SELECT string_agg(key || '=' || n, ',' ORDER BY key) FROM campaign_batch_counts WHERE batch_id = {b} AND n > 0")), "queued=19800,skipped=200");
}

#[tokio::test]
async fn without_twilio_a_message_batch_is_refused_with_the_reason() {
    let s = setup_double_with(false, |c| c.job_workers = 0).await;
    let c = campaign(&s.app, s.workspace_id, "active", "'sms'");
    attach(&s.app, s.workspace_id, c, s.client_id);
    let r = s.browser.post(&format!("/campaigns/{c}/sms-messages"), &[("body", "Hello {{name}}")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("<p class=\"flash error\" role=\"alert\">Twilio is not configured: add the account in Settings → Twilio first.</p>"), "{html}");
    assert!(html.contains(">Hello {{name}}</textarea>"), "what was typed is kept: {html}");
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_batches"), 0);
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch'"), 0);
}

/// One part of a multipart message (`text/plain`, `text/html`), quoted-printable undone.
fn mime_part(mail: &crate::support::smtp::Received, content_type: &str) -> String {
    let decoded = mail.decoded();
    let outer = header(mail, "Content-Type").unwrap();
    let boundary = outer.split("boundary=").nth(1).expect("a multipart message").trim_matches('"');
    let start = decoded.find(&format!("Content-Type: {content_type}")).unwrap_or_else(|| panic!("no {content_type} part: {decoded}"));
    let part = &decoded[start..];
    let body = &part[part.find("\r\n\r\n").expect("part headers end") + 4..];
    body[..body.find(&format!("\r\n--{boundary}")).expect("part ends at its boundary")].to_string()
}

/// A header of the message, unfolded.
fn header(mail: &crate::support::smtp::Received, name: &str) -> Option<String> {
    let head = &mail.data[..mail.data.find("\r\n\r\n").unwrap()];
    head.replace("\r\n ", " ").replace("\r\n\t", " ").lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

/// The app sending through `sink`, reached at `public_url` (the links in its emails).
async fn email_app(sink: &SmtpSink, public_url: &str) -> TestApp {
    let url = sink.url();
    spawn_app_with(|s| {
        s.smtp_url = Some(url.parse().unwrap());
        s.public_url = Some(public_url.parse().unwrap());
    })
    .await
}

#[tokio::test]
async fn an_email_batch_with_an_html_body_sends_both_parts_with_the_fields_escaped() {
    let sink = SmtpSink::start();
    let app = email_app(&sink, "https://crm.acme.test/").await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let ws = admin.workspace_id;
    let c = campaign(&app, ws, "active", "'email'");
    let evil = new_client(&app, ws, "name, email, company", "'<b>x</b>', 'x@example.com', 'Obi & Co'");
    attach(&app, ws, c, evil);
    let form = browser.get_html(&format!("/campaigns/{c}/emails")).await;
    assert!(form.contains("<textarea id=\"batch-html-body\" name=\"html_body\" rows=\"10\" maxlength=\"200000\" aria-describedby=\"batch-html-body-help\"></textarea>"), "{form}");
    let html_body = "<h1>Hello {{ name }}</h1>\n<p>From {{company}}. <a href=\"https://shop.acme.test/\">Shop</a></p>\n<p>Had enough? {{unsubscribe}}</p>";
    let r = browser
        .post(&format!("/campaigns/{c}/emails"), &[("subject", "News"), ("body", "Dear {{name}},\n\nSee the shop."), ("html_body", html_body), ("send_at", "")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b = batch_id(&r, c, "emails");
    assert_eq!(text(&app, &format!("SELECT html_body FROM campaign_batches WHERE id = {b}")), html_body, "stored as written");
    let mail = sink.wait_for(1).await;
    wait_for(&app, &format!("EXISTS (SELECT 1 FROM campaign_recipients WHERE batch_id = {b} AND client_id = {evil} AND status = 'sent')")).await;
    assert_eq!(mail.len(), 1);
    assert!(header(&mail[0], "Content-Type").unwrap().starts_with("multipart/alternative;"), "{}", mail[0].data);
    let link_prefix = format!("https://crm.acme.test/unsubscribe/{ws}.{evil}.");
    let plain = mime_part(&mail[0], "text/plain");
    assert!(plain.starts_with("Dear <b>x</b>,\r\n\r\nSee the shop.\r\n\r\n--\r\nTo stop receiving these emails, unsubscribe: https://crm.acme.test/unsubscribe/"), "{plain}");
    let html = mime_part(&mail[0], "text/html");
    let link = mail[0].link("/unsubscribe/").unwrap();
    assert!(link.starts_with(&link_prefix), "{link}");
    assert_eq!(
        html.trim_end(),
        format!(
            "<!doctype html><html><body><h1>Hello &lt;b&gt;x&lt;/b&gt;</h1>\r\n<p>From Obi &amp; Co. <a href=\"https://shop.acme.test/\">Shop</a></p>\r\n<p>Had enough? <a href=\"{link}\">unsubscribe</a></p></body></html>"
        ),
        "the name is text, not markup; the link is where {{{{unsubscribe}}}} was, with no footer"
    );
    assert!(!html.contains("<b>x</b>"), "{html}");
    // RFC 8058 one-click unsubscribe headers.
    assert_eq!(header(&mail[0], "List-Unsubscribe"), Some(format!("<{link}>")));
    assert_eq!(header(&mail[0], "List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));

    // Without {{unsubscribe}} the link is appended as a footer (before </body> of a whole document).
    sql(&app, &format!("UPDATE clients SET name = 'Bob' WHERE id = {evil}"));
    let r = browser
        .post(&format!("/campaigns/{c}/emails"), &[("subject", "More"), ("body", "Hi {{name}}"), ("html_body", "<html><body><p>Hi {{name}}</p></body></html>"), ("send_at", "")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = sink.wait_for(2).await;
    let html = mime_part(&mail[1], "text/html");
    assert_eq!(
        html.trim_end(),
        format!("<html><body><p>Hi Bob</p><hr><p style=\"font-size:12px\">To stop receiving these emails, <a href=\"{link}\">unsubscribe</a>.</p></body></html>")
    );
}

#[tokio::test]
async fn a_plain_only_email_batch_keeps_its_html_part_and_one_click_post_opts_out() {
    let sink = SmtpSink::start();
    let app = email_app(&sink, "https://crm.acme.test/").await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let ws = admin.workspace_id;
    let c = campaign(&app, ws, "active", "'email'");
    let ada = new_client(&app, ws, "name, email", "'Ada Obi', 'ada@example.com'");
    attach(&app, ws, c, ada);
    let r = browser.post(&format!("/campaigns/{c}/emails"), &[("subject", "News"), ("body", "Dear {{name}},\n\nOur <spring> offer."), ("html_body", "  "), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b = batch_id(&r, c, "emails");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_batches WHERE id = {b} AND html_body IS NULL")), 1, "a blank HTML body is none");
    let mail = sink.wait_for(1).await;
    let link = mail[0].link("/unsubscribe/").unwrap();
    let html = mime_part(&mail[0], "text/html");
    assert_eq!(
        html.trim_end(),
        format!("<!doctype html><html><body><p>Dear Ada Obi,</p>\r\n<p>Our &lt;spring&gt; offer.</p>\r\n<hr><p style=\"font-size:12px\">To stop receiving these emails, <a href=\"{link}\">unsubscribe</a>.</p></body></html>")
    );
    assert_eq!(header(&mail[0], "List-Unsubscribe"), Some(format!("<{link}>")));
    assert_eq!(header(&mail[0], "List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    wait_for(&app, "EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-email' AND status = 'done')").await;
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE payload::text LIKE '%/unsubscribe/%'"), 0, "the link is not left in a job payload");

    // One-click (RFC 8058): the mail provider POSTs `List-Unsubscribe=One-Click` with no
    // session, no cookie and no CSRF token.
    let path = link.trim_start_matches("https://crm.acme.test");
    let r = reqwest::Client::new()
        .post(app.browser().url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(text(&app, &format!("SELECT opt_out_email_source FROM clients WHERE id = {ada} AND opt_out_email_at IS NOT NULL")), "unsubscribe link");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'clients.opted_out' AND entity_id = '{ada}' AND after->>'source' = 'unsubscribe link'")), 1);
    // Other routes still want the token: the exemption is this path only.
    let r = reqwest::Client::new().post(app.browser().url(&format!("{path}/x"))).body("").send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK);
    // A mail that is not a campaign's carries no unsubscribe header.
    assert_eq!(browser.post("/settings/smtp/test", &[]).await.status(), StatusCode::SEE_OTHER);
    let mail = sink.wait_for(2).await;
    assert_eq!(header(&mail[1], "List-Unsubscribe"), None);
}

#[tokio::test]
async fn over_plain_http_the_link_header_is_sent_without_the_one_click_header() {
    let sink = SmtpSink::start();
    let app = email_app(&sink, "http://crm.acme.test/").await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let ws = admin.workspace_id;
    let c = campaign(&app, ws, "active", "'email'");
    let ada = new_client(&app, ws, "name, email", "'Ada Obi', 'ada@example.com'");
    attach(&app, ws, c, ada);
    let r = browser.post(&format!("/campaigns/{c}/emails"), &[("subject", "News"), ("body", "Hello"), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = sink.wait_for(1).await;
    let link = mail[0].link("/unsubscribe/").unwrap();
    assert!(link.starts_with(&format!("http://crm.acme.test/unsubscribe/{ws}.{ada}.")), "{link}");
    assert_eq!(header(&mail[0], "List-Unsubscribe"), Some(format!("<{link}>")));
    assert_eq!(header(&mail[0], "List-Unsubscribe-Post"), None, "RFC 8058 wants https");
}

#[tokio::test]
async fn a_refused_email_batch_keeps_the_html_typed_as_text_and_writes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let ws = admin.workspace_id;
    let c = campaign(&app, ws, "active", "'email'");
    let ada = new_client(&app, ws, "name, email", "'Ada Obi', 'ada@example.com'");
    attach(&app, ws, c, ada);
    let r = browser.post(&format!("/campaigns/{c}/emails"), &[("subject", ""), ("body", "Hello"), ("html_body", "<p>Hi</p></textarea><script>x()</script>"), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("<p class=\"flash error\" role=\"alert\">Write the subject.</p>"), "{html}");
    assert!(html.contains("aria-describedby=\"batch-html-body-help\">&#60;p&#62;Hi&#60;/p&#62;&#60;/textarea&#62;&#60;script&#62;x()&#60;/script&#62;</textarea>"), "kept, escaped: {html}");
    assert!(!html.contains("<script>x()"), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM campaign_batches"), 0);
    assert_eq!(app.count("SELECT count(*) FROM jobs"), 0);
}

#[tokio::test]
async fn a_long_html_email_fits_its_form_while_other_forms_keep_the_64_kib_limit() {
    let app = spawn_app_with(|_| {}).await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let ws = admin.workspace_id;
    let c = campaign(&app, ws, "active", "'email'");
    let ada = new_client(&app, ws, "name, email", "'Ada Obi', 'ada@example.com'");
    attach(&app, ws, c, ada);
    // 150,000 characters of HTML: over the general form limit, within the email's own.
    let html_body = format!("<p>{}</p>", "Spring news. ".repeat(11_500));
    assert!(html_body.len() > 140_000);
    let r = browser.post(&format!("/campaigns/{c}/emails"), &[("subject", "News"), ("body", "Hello"), ("html_body", html_body.as_str()), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    assert_eq!(app.count(&format!("SELECT length(html_body) FROM campaign_batches WHERE campaign_id = {c}")), html_body.len() as i64);
    // Past the email's own limit: 413 with the reason, nothing written.
    // (Each refused post on a browser of its own: the server answers before reading the
    // body and closes that connection.)
    let huge = "x".repeat(1_100_000);
    let browser = app.browser();
    browser.login(&admin.email, crate::support::PASSWORD).await;
    let r = browser.post(&format!("/campaigns/{c}/emails"), &[("subject", "News"), ("body", "Hello"), ("html_body", huge.as_str()), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_batches WHERE campaign_id = {c}")), 1);
    // Any other form is still refused past 64 KiB.
    let browser = app.browser();
    browser.login(&admin.email, crate::support::PASSWORD).await;
    let r = browser.post("/campaigns", &[("name", html_body.as_str())]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A group of 50 is readied (messages written and linked) before its sends; a pause part-way
/// through a group leaves the rest `queued` (never claimed, so no lease for reconciliation to
/// find), and the resume sends exactly those, with the messages already written.
#[tokio::test]
async fn a_group_paused_part_way_leaves_its_unsent_messages_queued_and_the_resume_sends_them_once() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let ws = s.workspace_id;
    // 100/s: a group of 50 takes half a second.
    let (c, template) = hello_campaign(&s, 100, 120);
    let b = whatsapp_batch(&s, c, template, "").await;
    let at_pause = pause_and_settle(&s, c, 10).await;
    assert!(at_pause < 50, "paused inside the first group ({at_pause} sent)");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sent(&s.fake), at_pause, "no new send more than a second after the pause");
    wait_for(&s.app, "NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'dispatch-batch' AND status <> 'done')").await;
    let unsent = 50 - at_pause as i64;
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b}")), 50, "one group written");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'queued' AND lease_until IS NULL AND provider_id IS NULL")), unsent);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'sending'")), 0, "nothing claimed and left");
    assert_eq!(
        s.app.count(&format!(
            "SELECT count(*) FROM campaign_recipients r JOIN messages m ON m.workspace_id = r.workspace_id AND m.id = r.message_id \
             WHERE r.batch_id = {b} AND r.status = 'queued' AND m.status = 'queued'"
        )),
        unsent,
        "each unsent message still linked to its queued recipient"
    );
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'queued' AND message_id IS NULL")), 70);
    assert_eq!(s.app.count(&format!("SELECT n FROM campaign_batch_counts WHERE batch_id = {b} AND key = 'queued'")), 120 - at_pause as i64);

    start_again(&s, ws, c);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    assert_eq!(sent(&s.fake), 120);
    each_sent_once(&s, 120);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b}")), 120, "the group's messages reused, none written twice");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'accepted' AND provider_id IS NOT NULL")), 120);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'sending' AND message_id IS NOT NULL")), 120);
    assert_eq!(s.app.count(&format!("SELECT n FROM campaign_batch_counts WHERE batch_id = {b} AND key = 'sending'")), 120, "counts equal rows");
    assert_eq!(s.app.count(&format!("SELECT coalesce(sum(n), 0)::bigint FROM campaign_batch_counts WHERE batch_id = {b} AND key = 'queued'")), 0);
}

/// One job worker, a batch longer than a dispatch run's slice: the dispatch hands the worker
/// back after `dispatch::SLICE` and a successor continues, so a job enqueued meanwhile runs
/// in between instead of waiting for the whole batch.
#[tokio::test]
async fn a_long_batch_hands_its_worker_back_so_another_job_runs_in_between() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let ws = s.workspace_id;
    let (c, template) = hello_campaign(&s, 20, 100); // 5 s at 20/s
    let b = whatsapp_batch(&s, c, template, "").await;
    while sent(&s.fake) < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        let mut conn = s.app.conn();
        switchboard::jobs::enqueue(&mut conn, &switchboard::jobs::NewJob::new(ws, switchboard::jobs::run::Noop::KIND, serde_json::json!({ "sleep_ms": 1500 }))).unwrap();
    }
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'noop' AND status = 'done'"), 1);
    // The other job holds the one worker for 1.5 s: the batch's sends stop for that long
    // between two of its runs (the worker records jobs done a few at a time, so the gap in
    // the sends is what shows the interleaving).
    let gaps = format!(
        "SELECT count(*) FROM (SELECT attempt_at - lag(attempt_at) OVER (ORDER BY attempt_at) AS gap FROM messages WHERE batch_id = {b}) g \
         WHERE gap >= interval '1.4 seconds'"
    );
    assert_eq!(s.app.count(&gaps), 1, "one pause in the sends, while the other job ran");
    let first = s.app.count(&format!("SELECT min(id) FROM jobs WHERE kind = 'dispatch-batch' AND idempotency_key = 'dispatch-batch:{b}'"));
    assert_eq!(
        text(&s.app, "SELECT string_agg(idempotency_key, ', ' ORDER BY id) FROM (SELECT id, idempotency_key FROM jobs WHERE kind = 'dispatch-batch' ORDER BY id LIMIT 2) j"),
        format!("dispatch-batch:{b}, dispatch-batch:{b}:after:{first}"),
        "the first run's successor, keyed by the run"
    );
    assert_eq!(
        s.app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch' AND idempotency_key LIKE 'dispatch-batch:{b}:after:%'")),
        s.app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch'") - 1,
        "every later run a successor"
    );
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch' AND status <> 'done'"), 0);
    assert_eq!(sent(&s.fake), 100);
    each_sent_once(&s, 100);
}


/// Accepted sends are recorded in bulk (every `dispatch::RECORD_EVERY`, or after
/// `dispatch::RECORD_AFTER`, and at the group's end). A callback for a send taken by Twilio
/// but not recorded yet (here: the group's first send hangs at Twilio, so the group's end
/// waits) is kept, and the bulk record applies it: every message ends `delivered`, nothing
/// is left kept, and the recipients and their counters follow.
#[tokio::test]
async fn a_callback_that_arrives_before_the_bulk_record_is_applied_by_it() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let (c, template) = hello_campaign(&s, 1000, 10);
    s.fake.push_failure(Failure::Slow(Duration::from_secs(3)));
    let started = Instant::now();
    let b = whatsapp_batch(&s, c, template, "").await;
    while sent(&s.fake) < 10 {
        assert!(started.elapsed() < Duration::from_secs(20), "the group reached Twilio");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The hung send is taken by Twilio and not recorded until its answer comes.
    let unrecorded_before = s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND provider_id IS NULL"));
    assert!(unrecorded_before >= 1, "the hung send is not recorded yet");
    for m in s.fake.messages() {
        assert_eq!(s.fake.deliver_status(&s.app.base, &m.provider_id, MessageStatus::Delivered, None).await, StatusCode::NO_CONTENT, "callback for {}", m.provider_id);
    }
    let kept = s.app.count("SELECT count(*) FROM early_status_callbacks");
    assert!(kept >= 1 && kept <= unrecorded_before, "callbacks for unrecorded sends kept ({kept}, {unrecorded_before} unrecorded)");
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    assert_eq!(s.app.count("SELECT count(*) FROM early_status_callbacks"), 0, "every kept callback applied");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'delivered' AND provider_id IS NOT NULL AND lease_until IS NULL AND delivered_at IS NOT NULL")), 10);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'delivered'")), 10);
    assert_eq!(s.app.count(&format!("SELECT n FROM campaign_batch_counts WHERE batch_id = {b} AND key = 'delivered'")), 10, "counts equal rows");
    assert_eq!(sent(&s.fake), 10, "each once");
}

/// A worker killed while a group's accepted sends wait for their bulk record: Twilio took
/// them, the database has no SID for them (still `sending` under their lease). The next
/// worker's reconciliation adopts each SID from Twilio; nothing is sent twice.
#[tokio::test]
async fn a_worker_killed_before_the_bulk_record_leaves_sends_that_reconciliation_adopts_never_resent() {
    use crate::support::fake_twilio::Fault;
    let s = setup_with(true, |c| c.job_workers = 0).await;
    let (c, template) = hello_campaign(&s, 1000, 10);
    let b = whatsapp_batch(&s, c, template, "").await;
    // The group's first send hangs at Twilio after it took it; the rest of the group goes
    // through the other call in flight, and its record waits for the group's end.
    s.fake.push_fault(Fault::Slow(Duration::from_secs(10)));
    let mut first = worker_process(&s);
    let started = Instant::now();
    while sent(&s.fake) < 10 {
        assert!(started.elapsed() < Duration::from_secs(20), "the group reached Twilio");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let unrecorded = s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'sending' AND provider_id IS NULL"));
    assert!(unrecorded >= 2, "the hung send and at least one waiting for the bulk record ({unrecorded})");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND (status = 'accepted') = (provider_id IS NULL)")), 0, "recorded means accepted with its SID");
    sql(&s.app, "UPDATE messages SET lease_until = now() - interval '1 second' WHERE status = 'sending'");
    let mut second = worker_process(&s);
    wait_for(&s.app, &format!("(SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'accepted' AND provider_id IS NOT NULL) = 10")).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let messages = s.fake.messages();
    assert_eq!(messages.len(), 10, "10 sends in all");
    for n in 1..=10 {
        let to = format!("+1415600{n:04}");
        let at_twilio: Vec<_> = messages.iter().filter(|m| m.to.ends_with(&to)).collect();
        assert_eq!(at_twilio.len(), 1, "client {n} exactly once");
        assert_eq!(text(&s.app, &format!("SELECT m.provider_id FROM messages m JOIN clients c ON c.id = m.client_id WHERE m.batch_id = {b} AND c.phone = '{to}'")), at_twilio[0].sid, "client {n}'s SID adopted");
    }
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'sending'")), 10);
}

#[tokio::test]
async fn an_email_that_cannot_be_addressed_fails_its_recipient_instead_of_leaving_it_sending() {
    let sink = SmtpSink::start();
    let app = email_app(&sink, "https://crm.acme.test/").await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let ws = admin.workspace_id;
    let c = campaign(&app, ws, "active", "'email'");
    // An address no mailbox parser takes (written straight into the table).
    let bad = new_client(&app, ws, "name, email", "'Bad Address', 'not an address'");
    attach(&app, ws, c, bad);
    let r = browser.post(&format!("/campaigns/{c}/emails"), &[("subject", "News"), ("body", "Hello"), ("send_at", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    wait_for(&app, &format!("EXISTS (SELECT 1 FROM campaign_recipients WHERE client_id = {bad} AND status = 'failed')")).await;
    assert!(text(&app, &format!("SELECT error_message FROM campaign_recipients WHERE client_id = {bad}")).contains("bad recipient address"));
    assert_eq!(sink.received().len(), 0);
}

/// Polls until `condition` (SQL) holds, up to `secs` seconds (a flaky provider's batch takes
/// longer than `wait_for`'s 20 s).
async fn wait_long(app: &TestApp, condition: &str, secs: u64) {
    let started = Instant::now();
    while app.count(&format!("SELECT count(*) FROM (SELECT 1 WHERE {condition}) c")) != 1 {
        assert!(started.elapsed() < Duration::from_secs(secs), "timed out after {secs} s waiting for {condition}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What every flaky-provider batch must end as: done, every recipient's message taken by
/// Twilio or failed (none queued, none left claimed), each number sent at most once and the
/// accepted ones exactly once, every dispatch job done on its first attempt (the runs made
/// progress, so none spent the batch's budget; none dead).
async fn ends_sent_or_failed_once<P: Recipients>(s: &Setup<P>, b: i64, n: usize, max_attempts: i32) {
    wait_for(&s.app, "NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'dispatch-batch' AND status <> 'done')").await;
    assert_eq!(text(&s.app, &format!("SELECT status FROM campaign_batches WHERE id = {b}")), "done");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status NOT IN ('sending', 'sent', 'delivered', 'read', 'failed')")), 0);
    let others = text(&s.app, &format!("SELECT string_agg(id || ' ' || status || ' ' || send_attempts || ' ' || coalesce(error_message, '-') || ' ' || coalesce(provider_id, '-'), '; ') FROM messages WHERE batch_id = {b} AND status NOT IN ('accepted', 'failed')"));
    let jobs = text(&s.app, "SELECT string_agg(id || ' ' || coalesce(idempotency_key, '-') || ' ' || status || ' ' || attempts || ' ' || coalesce(last_error, '-'), E'\n' ORDER BY id) FROM jobs WHERE kind = 'dispatch-batch'");
    let at_twilio: Vec<String> = s.fake.recipients();
    let phones = text(&s.app, &format!("SELECT string_agg(recipient, ' ') FROM messages WHERE batch_id = {b} AND status NOT IN ('accepted', 'failed')"));
    let taken: Vec<&str> = phones.split(' ').filter(|p| at_twilio.iter().any(|t| t.ends_with(p))).collect();
    assert_eq!(others, "", "every message taken or failed; at Twilio: {taken:?}; jobs:\n{jobs}");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b}")), n as i64, "one message per recipient");
    let sent = s.fake.recipients();
    for i in 1..=n {
        let phone = format!("+1415600{i:04}");
        let at_twilio = sent.iter().filter(|to| to.ends_with(&phone)).count();
        let accepted = s.app.count(&format!("SELECT count(*) FROM messages m JOIN clients c ON c.workspace_id = m.workspace_id AND c.id = m.client_id WHERE m.batch_id = {b} AND c.phone = '{phone}' AND m.status = 'accepted' AND m.provider_id IS NOT NULL"));
        assert!(at_twilio <= 1, "client {i} got {at_twilio} messages");
        assert_eq!(at_twilio as i64, accepted, "client {i}: accepted in the database exactly when Twilio has it");
    }
    // Runs that got something through spend nothing. With 503s, at the tail, when only
    // refused messages are left, a run whose calls are all refused (three in a row) may spend
    // one: the caller allows a few there, far from the 50 a batch has (4 was seen under load).
    let spent = text(
        &s.app,
        &format!("SELECT string_agg(id || ' ' || coalesce(idempotency_key, '-') || ' ' || attempts || ' ' || coalesce(last_error, '-'), E'\n' ORDER BY id) FROM jobs WHERE kind = 'dispatch-batch' AND (attempts > {max_attempts} OR status = 'dead')"),
    );
    assert_eq!(spent, "", "no dispatch job spent more than {max_attempts} attempt(s)");
}

/// Issue 18 item 4: a provider refusing every third call (503, no Retry-After). Before, each
/// refusal ended the whole run and cost the batch's job an attempt and a growing backoff:
/// the jobs died and recipients stayed queued for good. Now a refused message is given back
/// with an attempt counted on it and retried after its own backoff while the others go on.
#[tokio::test]
async fn a_provider_refusing_every_third_call_leaves_every_recipient_sent_or_failed_once_and_the_batch_done() {
    use crate::support::fake_twilio::Fault;
    // Two workers with four provider calls in flight each: a pool the size of that (the
    // tests' pool of 4 would time connections out under load, which is another test).
    let s = setup_with(true, |c| {
        c.job_workers = 2;
        c.pool_size = 12;
    })
    .await;
    let (c, template) = hello_campaign(&s, 400, 263);
    s.fake.fail_every(3, Fault::Unavailable);
    let started = Instant::now();
    let b = whatsapp_batch(&s, c, template, "").await;
    wait_long(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')"), 90).await;
    eprintln!("263 recipients, 503 on every third call: done in {:?}", started.elapsed());
    ends_sent_or_failed_once(&s, b, 263, 8).await;
    assert!(s.fake.refused_every() >= 80, "the fake refused every third call ({})", s.fake.refused_every());
    assert!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'accepted' AND send_attempts >= 1")) >= 40, "refused messages were retried and taken");
    // A message refused on each of its attempts fails with the provider's reason.
    assert_eq!(
        s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND status = 'failed' AND (error_message NOT LIKE 'Not sent after % attempts: Twilio answered 503%' OR send_attempts < {})", dispatch::MESSAGE_ATTEMPTS)),
        0
    );
}

/// A 429 with Retry-After holds the sender for that long and costs the message no attempt:
/// every recipient is sent once, and the sends wait out each Retry-After.
#[tokio::test]
async fn a_429_with_retry_after_holds_the_sender_without_costing_the_message_an_attempt() {
    let s = setup_double_with(true, |c| c.job_workers = 2).await;
    let (c, template) = hello_campaign(&s, 100, 12);
    s.fake.fail_every(3, Failure::RateLimited { after: Duration::from_secs(1) });
    let started = Instant::now();
    let b = whatsapp_batch(&s, c, template, "").await;
    wait_long(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')"), 60).await;
    eprintln!("12 recipients, 429 + Retry-After 1 on every third call: done in {:?}", started.elapsed());
    ends_sent_or_failed_once(&s, b, 12, 1).await;
    assert_eq!(sent(&s.fake), 12, "every recipient taken: a throttle wait is no attempt");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND send_attempts > 0")), 0);
    // 18 calls for 12 sends: the 5 refusals before the last send each held the sender 1 s.
    let messages = s.fake.messages();
    let start = messages.iter().map(|m| m.created_at).min().unwrap();
    let end = messages.iter().map(|m| m.created_at).max().unwrap();
    let span = (end - start).num_milliseconds() as f64 / 1000.0;
    assert!(span >= 4.5, "the sends waited out each Retry-After (span {span} s)");
}

/// The check job (scheduled with the others) finds a batch left "sending" with nothing
/// scheduled (its dispatch jobs dead) in an active campaign: it resumes it, and the page says
/// so; one the check has already resumed `stalls::CHECK_RESUMES` times is failed with the
/// reason instead, and the page says that.
#[tokio::test]
async fn the_check_resumes_a_sending_batch_with_nothing_scheduled_or_fails_it_with_the_reason() {
    let s = setup_double_with(true, |c| c.job_workers = 0).await;
    let ws = s.workspace_id;
    let (c, template) = hello_campaign(&s, 100, 5);
    let stalled = whatsapp_batch(&s, c, template, "").await;
    let other = campaign(&s.app, ws, "active", "'sms'");
    let kept_out: Vec<i64> = (1..=3).map(|i| new_client(&s.app, ws, "name, phone", &format!("'Late {i}', '+1415700000{i}'"))).collect();
    for client in &kept_out {
        attach(&s.app, ws, other, *client);
    }
    let r = s.browser.post(&format!("/campaigns/{other}/sms-messages"), &[("body", "Hello {{name}}")]).await;
    let given_up = batch_id(&r, other, "sms-messages");
    // Both dispatches died an hour ago (out of attempts) with every recipient still queued.
    sql(&s.app, "UPDATE jobs SET status = 'dead', attempts = max_attempts, finished_at = now() - interval '1 hour', last_error = 'Twilio answered 429' WHERE kind = 'dispatch-batch'");
    sql(&s.app, &format!("UPDATE campaign_batches SET status = 'sending', started_at = now() - interval '1 hour' WHERE id IN ({stalled}, {given_up})"));
    sql(&s.app, &format!("UPDATE campaign_batches SET stall_resumes = {} WHERE id = {given_up}", stalls::CHECK_RESUMES));
    // A paused campaign's batch waits for its start, and is left alone.
    let paused = campaign(&s.app, ws, "paused", "'sms'");
    attach(&s.app, ws, paused, s.client_id);
    sql(&s.app, &format!("UPDATE campaigns SET status = 'active' WHERE id = {paused}"));
    let r = s.browser.post(&format!("/campaigns/{paused}/sms-messages"), &[("body", "Later")]).await;
    let waiting = batch_id(&r, paused, "sms-messages");
    sql(&s.app, &format!("UPDATE campaigns SET status = 'paused' WHERE id = {paused}"));
    sql(&s.app, &format!("UPDATE jobs SET status = 'dead', finished_at = now() - interval '1 hour' WHERE kind = 'dispatch-batch' AND payload->>'batch_id' = '{waiting}'"));
    sql(&s.app, &format!("UPDATE campaign_batches SET status = 'sending' WHERE id = {waiting}"));

    let added = switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut s.app.conn(), chrono::Utc::now()).unwrap();
    assert!(added >= 1);
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'check-batches' AND status = 'queued'"), 1, "one check for the workspace");
    let _worker = spawn_app_on_with_double(&s.app.database, &s.fake, on_double).await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {stalled} AND status = 'done')")).await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {given_up} AND status = 'done')")).await;
    each_sent_once(&s, 5);
    assert_eq!(sent(&s.fake), 5);
    for phone in ["+14157000001", "+14157000002", "+14157000003"] {
        assert_eq!(s.fake.sends_to_number(phone), 0, "a failed batch sends nothing more");
    }
    assert_eq!(text(&s.app, &format!("SELECT stall_resumes FROM campaign_batches WHERE id = {stalled}")), "1");
    let html = s.browser.get_html(&format!("/campaigns/{c}/whatsapp-messages/{stalled}/recipients")).await;
    assert!(html.contains("Resumed by the check at "), "{html}");
    let reason = format!("Failed: the batch's dispatch stopped with recipients left after {} resumes by the check.", stalls::CHECK_RESUMES);
    assert_eq!(
        s.app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {given_up} AND status = 'failed' AND error_message = 'Not sent: the batch''s dispatch kept stopping.'")),
        3
    );
    let html = s.browser.get_html(&format!("/campaigns/{other}/sms-messages/{given_up}/recipients")).await;
    assert!(html.contains(&reason.replace('\'', "&#39;")) || html.contains(&reason), "{html}");
    assert_eq!(text(&s.app, &format!("SELECT status || ' ' || coalesce(stall_note, '-') FROM campaign_batches WHERE id = {waiting}")), "sending -", "a paused campaign's batch is left for its start");
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'check-batches' AND status = 'done'"), 1);
}
