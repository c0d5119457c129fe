//! Sending messages from the client page (issue 11 parts 3 and 4): the form's refusals,
//! the `send-message` job against the fake Twilio (each answer it can give), at most one
//! send when the answer is lost, reconciliation, resending an unknown message.
//!
//! The tests of Twilio's side (the form fields it gets, its 429 and 5xx answers, an answer
//! lost on the socket, its message lookups, a worker process killed mid-send) run against
//! the HTTP fake; the others (refusals, a refusal for good, the shared rate, resending, the
//! timeline, STOP / START) against the in-process provider double (`setup_double`).

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::db::schema::{twilio_settings, whatsapp_templates};
use switchboard::authz::Role;

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Fault};
use switchboard::messaging::{Channel, InboundMessage};

use crate::support::provider_double::{Failure, ProviderDouble, inbound_message};
use crate::support::{Browser, TestApp, app_with_double_with, spawn_app_on_with, spawn_app_on_with_double, spawn_app_with};

pub const PUBLIC_URL: &str = "https://crm.example.test";
pub const CLIENT_PHONE: &str = "+14155550123";
pub const WHATSAPP_FROM: &str = "+14155550100";
pub const SMS_FROM: &str = "+14155550199";

/// An app, its provider (the HTTP fake Twilio, or the in-process double), an admin and a client.
pub struct Setup<P = FakeTwilio> {
    pub app: TestApp,
    pub fake: P,
    pub browser: Browser,
    pub workspace_id: i64,
    pub client_id: i64,
}

pub fn sql(app: &TestApp, query: &str) {
    diesel::sql_query(query).execute(&mut app.conn()).unwrap();
}

#[derive(QueryableByName)]
struct S {
    #[diesel(sql_type = diesel::sql_types::Text)]
    s: String,
}

pub fn text(app: &TestApp, query: &str) -> String {
    diesel::sql_query(format!("SELECT ({query})::text AS s")).get_result::<S>(&mut app.conn()).map(|r| r.s).unwrap_or_default()
}

/// Polls until `condition` (SQL) holds, up to 20 s.
pub async fn wait_for(app: &TestApp, condition: &str) {
    for _ in 0..200 {
        if app.count(&format!("SELECT count(*) FROM (SELECT 1 WHERE {condition}) c")) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {condition}");
}

/// An app on the fake Twilio, an admin signed in, and a client "Amara Okafor" with a phone.
pub async fn setup(configured: bool) -> Setup {
    setup_with(configured, |_| {}).await
}

/// The fake Twilio's address and the public URL in an app's settings.
pub fn on_fake(s: &mut switchboard::config::Settings, fake: &FakeTwilio) {
    let base = url::Url::parse(&fake.base()).unwrap();
    s.twilio_api_base = base.clone();
    s.twilio_content_base = base;
    s.public_url = Some(url::Url::parse(PUBLIC_URL).unwrap());
}

/// The public URL in the settings of an app on the provider double.
pub fn on_double(s: &mut switchboard::config::Settings) {
    s.public_url = Some(url::Url::parse(PUBLIC_URL).unwrap());
}

pub async fn setup_with(configured: bool, more: impl FnOnce(&mut switchboard::config::Settings)) -> Setup {
    let fake = FakeTwilio::start();
    let app = spawn_app_with(|s| {
        on_fake(s, &fake);
        more(s);
    })
    .await;
    signed_in_with_client(app, fake, configured).await
}

/// [`setup`] on the in-process provider double instead of the fake Twilio.
pub async fn setup_double(configured: bool) -> Setup<ProviderDouble> {
    setup_double_with(configured, |_| {}).await
}

/// [`setup_with`] on the in-process provider double instead of the fake Twilio.
pub async fn setup_double_with(configured: bool, more: impl FnOnce(&mut switchboard::config::Settings)) -> Setup<ProviderDouble> {
    let (app, double) = app_with_double_with(|s| {
        on_double(s);
        more(s);
    })
    .await;
    signed_in_with_client(app, double, configured).await
}

async fn signed_in_with_client<P>(app: TestApp, fake: P, configured: bool) -> Setup<P> {
    let (browser, user) = app.signed_in(Role::Admin).await;
    let workspace_id = user.workspace_id;
    if configured {
        configure(&app, workspace_id);
    }
    sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({workspace_id}, 'Amara Okafor', '{CLIENT_PHONE}')"));
    let client_id = app.count(&format!("SELECT max(id) FROM clients WHERE workspace_id = {workspace_id}"));
    Setup { app, fake, browser, workspace_id, client_id }
}

/// Twilio settings as the settings page saves them (the token sealed with the app's key).
pub fn configure(app: &TestApp, workspace_id: i64) {
    let key = switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes());
    diesel::insert_into(twilio_settings::table)
        .values((
            twilio_settings::workspace_id.eq(workspace_id),
            twilio_settings::account_sid.eq(ACCOUNT_SID),
            twilio_settings::auth_token_sealed.eq(switchboard::crypto::seal(&key, AUTH_TOKEN.as_bytes())),
            twilio_settings::whatsapp_from.eq(vec![WHATSAPP_FROM.to_string(), "+14155550101".to_string()]),
            twilio_settings::sms_from.eq(Some(SMS_FROM)),
            twilio_settings::sms_rate.eq(50.0),
        ))
        .execute(&mut app.conn())
        .unwrap();
}

pub fn add_template(app: &TestApp, workspace_id: i64, sid: &str, name: &str, body: &str, status: &str) -> i64 {
    diesel::insert_into(whatsapp_templates::table)
        .values((
            whatsapp_templates::workspace_id.eq(workspace_id),
            whatsapp_templates::provider_id.eq(sid),
            whatsapp_templates::name.eq(name),
            whatsapp_templates::language.eq("en"),
            whatsapp_templates::body.eq(body),
            whatsapp_templates::approval_status.eq(status),
        ))
        .returning(whatsapp_templates::id)
        .get_result(&mut app.conn())
        .unwrap()
}

fn status_url(s: &Setup) -> String {
    let key = text(&s.app, &format!("SELECT webhook_key FROM workspaces WHERE id = {}", s.workspace_id));
    format!("{PUBLIC_URL}/webhooks/twilio/{key}/status")
}

pub async fn send_sms<P>(s: &Setup<P>, body: &str) -> i64 {
    let response = s.browser.htmx_post(&format!("/clients/{}/messages", s.client_id), &[("channel", "sms"), ("body", body)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Message queued."), "{html}");
    s.app.count(&format!("SELECT max(id) FROM messages WHERE workspace_id = {}", s.workspace_id))
}

#[tokio::test]
async fn a_text_and_a_template_reach_twilio_and_get_their_sids() {
    let s = setup(true).await;
    let template = add_template(&s.app, s.workspace_id, "HX0123", "order_update", "Hi {{1}}, order {{2}} shipped.", "approved");
    // The page offers both channels, the approved template and var_1 prefilled with the name.
    let page = s.browser.get_html(&format!("/clients/{}", s.client_id)).await;
    assert!(page.contains("Send a message"));
    assert!(page.contains(&format!("<option value=\"{template}\">order_update (en)</option>")), "{page}");
    assert!(page.contains("name=\"var_1\" type=\"text\" maxlength=\"1000\" value=\"Amara Okafor\""));
    assert!(page.contains("name=\"var_2\""));

    let sms = send_sms(&s, "Your order shipped").await;
    // Written queued with its job; the running worker may have taken it already.
    let status = text(&s.app, &format!("SELECT status FROM messages WHERE id = {sms}"));
    assert!(["queued", "sending", "accepted", "sent"].contains(&status.as_str()), "{status}");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'send-message' AND payload = '{{\"message_id\": {sms}}}'")), 1);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {sms} AND provider_id IS NOT NULL)")).await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].from.as_str(), sent[0].to.as_str(), sent[0].body.as_deref()), (SMS_FROM, CLIENT_PHONE, Some("Your order shipped")));
    assert_eq!(sent[0].status_callback.as_deref(), Some(status_url(&s).as_str()));
    assert_eq!(text(&s.app, &format!("SELECT provider_id || ' ' || status FROM messages WHERE id = {sms}")), format!("{} accepted", sent[0].sid));

    // A plain (non-htmx) post redirects with a flash; the second WhatsApp number is chosen.
    let response = s
        .browser
        .post(
            &format!("/clients/{}/messages", s.client_id),
            &[("channel", "whatsapp"), ("template_id", &template.to_string()), ("var_1", "Amara"), ("var_2", "A-42"), ("from", "+14155550101")],
        )
        .await;
    crate::support::assert_redirects_to(&response, &format!("/clients/{}", s.client_id));
    let wa = s.app.count(&format!("SELECT max(id) FROM messages WHERE workspace_id = {}", s.workspace_id));
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {wa} AND provider_id IS NOT NULL)")).await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[1].from.as_str(), sent[1].to.as_str()), ("whatsapp:+14155550101", "whatsapp:+14155550123"));
    assert_eq!(sent[1].content_sid.as_deref(), Some("HX0123"));
    assert_eq!(sent[1].content_variables.as_deref(), Some(r#"{"1":"Amara","2":"A-42"}"#));
    assert_eq!(sent[1].status_callback.as_deref(), Some(status_url(&s).as_str()));
    assert_eq!(text(&s.app, &format!("SELECT body || '|' || variables::text FROM messages WHERE id = {wa}")), r#"Hi Amara, order A-42 shipped.|{"1": "Amara", "2": "A-42"}"#);
    assert_eq!(text(&s.app, &format!("SELECT provider_id FROM messages WHERE id = {wa}")), sent[1].sid);

    // Both are on the timeline, newest first, with their ticks; the audit has no token.
    let page = s.browser.get_html(&format!("/clients/{}", s.client_id)).await;
    let (wa_at, sms_at) = (page.find(&format!("id=\"message-{wa}\"")).unwrap(), page.find(&format!("id=\"message-{sms}\"")).unwrap());
    assert!(wa_at < sms_at, "newest first");
    assert!(page.contains("<strong>WhatsApp sent</strong> <span class=\"pill message-status accepted\">accepted</span>"));
    assert!(page.contains("Hi Amara, order A-42 shipped."));
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'messages.queued'"), 2);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM audit_logs WHERE after::text LIKE '%{AUTH_TOKEN}%'")), 0);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM jobs WHERE payload::text LIKE '%{AUTH_TOKEN}%'")), 0);
    assert!(!page.contains(AUTH_TOKEN));
}

async fn refused<P>(s: &Setup<P>, client_id: i64, fields: &[(&str, &str)], reason: &str) {
    let response = s.browser.htmx_post(&format!("/clients/{client_id}/messages"), fields).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
    let html = response.text().await.unwrap();
    assert!(html.contains(reason), "expected {reason:?} in {html}");
    assert!(html.contains("<details class=\"disclosure\" id=\"send-message\" open>"), "the form stays open");
    assert_eq!(s.app.count("SELECT count(*) FROM messages"), 0, "{fields:?}");
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'send-message'"), 0);
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'messages.queued'"), 0);
}

#[tokio::test]
async fn refused_messages_say_why_and_queue_nothing() {
    let s = setup_double(false).await;
    let sms = [("channel", "sms"), ("body", "Hello")];
    refused(&s, s.client_id, &sms, "Twilio is not configured").await;
    let page = s.browser.get_html(&format!("/clients/{}", s.client_id)).await;
    assert!(page.contains("Twilio is not configured. <a href=\"/settings\">Set it up in Settings</a>"));
    configure(&s.app, s.workspace_id);
    let approved = add_template(&s.app, s.workspace_id, "HX1", "welcome", "Welcome {{1}}, see you {{2}}", "approved").to_string();
    let pending = add_template(&s.app, s.workspace_id, "HX2", "promo", "Sale!", "pending").to_string();
    refused(&s, s.client_id, &[("channel", "whatsapp"), ("template_id", &pending)], "The template promo is not approved by WhatsApp (pending).").await;
    refused(&s, s.client_id, &[("channel", "whatsapp"), ("template_id", &approved), ("var_1", "Amara")], "Fill in variable {{2}} of the template.").await;
    refused(&s, s.client_id, &[("channel", "whatsapp"), ("template_id", &approved), ("var_1", "Amara"), ("var_2", "  ")], "Fill in variable {{2}}").await;
    refused(&s, s.client_id, &[("channel", "whatsapp")], "Choose an approved template.").await;
    refused(&s, s.client_id, &[("channel", "sms"), ("body", "  ")], "Write the message.").await;
    refused(&s, s.client_id, &[("channel", "sms"), ("body", &"a".repeat(1_601))], "An SMS must be at most 1600 characters.").await;
    refused(&s, s.client_id, &[("channel", "fax"), ("body", "Hi")], "Channel must be WhatsApp or SMS.").await;
    sql(&s.app, &format!("UPDATE clients SET opt_out_sms_at = now(), opt_out_sms_source = 'manual' WHERE id = {}", s.client_id));
    refused(&s, s.client_id, &sms, "Amara Okafor opted out of SMS messages.").await;
    sql(&s.app, &format!("UPDATE clients SET opt_out_whatsapp_at = now(), opt_out_whatsapp_source = 'manual' WHERE id = {}", s.client_id));
    refused(&s, s.client_id, &[("channel", "whatsapp"), ("template_id", &approved), ("var_1", "A"), ("var_2", "B")], "Amara Okafor opted out of WhatsApp messages.").await;
    sql(&s.app, &format!("INSERT INTO clients (workspace_id, name) VALUES ({}, 'No Phone')", s.workspace_id));
    let no_phone = s.app.count("SELECT max(id) FROM clients");
    refused(&s, no_phone, &sms, "No Phone has no phone number.").await;
    sql(&s.app, &format!("UPDATE twilio_settings SET sms_from = NULL WHERE workspace_id = {}", s.workspace_id));
    refused(&s, no_phone, &sms, "No SMS sender is set up").await;
    // Another workspace's client is not found, whatever the form says.
    let other = s.app.create_user("Beta", "boss@beta.test", Role::Admin);
    sql(&s.app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({}, 'Theirs', '+14155550777')", other.workspace_id));
    let theirs = s.app.count("SELECT max(id) FROM clients");
    let response = s.browser.htmx_post(&format!("/clients/{theirs}/messages"), &sms).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.browser.get(&format!("/clients/{theirs}/messages/segments?body=x")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.app.count("SELECT count(*) FROM messages"), 0);
    assert_eq!(s.fake.messages().len(), 0);
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_sent_once() {
    let s = setup(true).await;
    s.fake.push_fault(Fault::TooManyRequests { retry_after: 2 });
    let started = chrono::Utc::now();
    let id = send_sms(&s, "Hello after a 429").await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {id} AND status = 'accepted')")).await;
    // Another message from the same sender also waits out the Retry-After.
    let other = send_sms(&s, "Right behind it").await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {other} AND status = 'accepted')")).await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 2);
    for m in &sent {
        assert!(m.created_at >= started + chrono::Duration::milliseconds(1_900), "sent {} after the 429, before its Retry-After", m.created_at - started);
    }
    assert_eq!(s.fake.requests(&format!("POST /2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")), 3, "one 429, two sends");
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'done' AND attempts = 2 AND payload->>'message_id' = '{id}')")).await;
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let s = setup(true).await;
    s.fake.push_fault(Fault::ServerError);
    let id = send_sms(&s, "Hello after a 500").await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {id} AND status = 'accepted')")).await;
    assert_eq!(s.fake.messages().len(), 1);
    wait_for(&s.app, "EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'done' AND attempts = 2)").await;
}

#[tokio::test]
async fn a_refusal_for_good_fails_the_message_with_twilios_code_and_is_not_retried() {
    let s = setup_double(true).await;
    s.fake.push_failure(Failure::Refuse { code: 21211, reason: "The 'To' number +14155550123 is not a valid phone number.".into() });
    let id = send_sms(&s, "Hello").await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {id} AND status = 'failed')")).await;
    assert_eq!(
        text(&s.app, &format!("SELECT error_code || ' ' || error_message FROM messages WHERE id = {id}")),
        "21211 The 'To' number +14155550123 is not a valid phone number."
    );
    wait_for(&s.app, "EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'done' AND attempts = 1)").await;
    assert_eq!(s.fake.messages().len(), 0);
    let page = s.browser.get_html(&format!("/clients/{}", s.client_id)).await;
    assert!(page.contains("<span class=\"pill message-status failed\">failed</span>"));
    assert!(page.contains("Not a valid phone number (error 21211)"));
}

pub async fn reconcile_now<P>(s: &Setup<P>) {
    // The scheduler's tick enqueues it once a lease ran out (and only then).
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut s.app.conn(), chrono::Utc::now()).unwrap();
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'reconcile-messages'"), 0, "no lease has run out");
    sql(&s.app, "UPDATE messages SET lease_until = now() - interval '1 second' WHERE status = 'sending'");
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut s.app.conn(), chrono::Utc::now()).unwrap();
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut s.app.conn(), chrono::Utc::now()).unwrap();
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'reconcile-messages'"), 1, "one a minute");
    wait_for(&s.app, "EXISTS (SELECT 1 FROM jobs WHERE kind = 'reconcile-messages' AND status = 'done')").await;
}

#[tokio::test]
async fn a_lost_answer_leaves_the_message_sending_and_reconciliation_adopts_the_sid() {
    let s = setup(true).await;
    s.fake.push_fault(Fault::AcceptAndLoseAnswer);
    let id = send_sms(&s, "Hello, lost answer").await;
    wait_for(&s.app, "EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'done')").await;
    assert_eq!(text(&s.app, &format!("SELECT status || ' ' || coalesce(provider_id, '-') FROM messages WHERE id = {id}")), "sending -");
    reconcile_now(&s).await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(s.fake.accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "never sent twice");
    assert_eq!(text(&s.app, &format!("SELECT status || ' ' || provider_id FROM messages WHERE id = {id}")), format!("accepted {}", sent[0].sid));
}

#[tokio::test]
async fn a_send_twilio_has_no_record_of_becomes_unknown_and_a_person_may_resend_it() {
    let s = setup(true).await;
    // A worker claimed it and died before reaching Twilio.
    sql(&s.app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, attempt_at, lease_until) \
         VALUES ({}, {}, 'sms', 'outbound', '{SMS_FROM}', '{CLIENT_PHONE}', 'Never arrived', 'sending', now(), now() + interval '2 minutes')",
        s.workspace_id, s.client_id
    ));
    let id = s.app.count("SELECT max(id) FROM messages");
    reconcile_now(&s).await;
    assert_eq!(text(&s.app, &format!("SELECT status || ': ' || error_message FROM messages WHERE id = {id}")), "unknown: Twilio has no record of it; check before resending");
    assert_eq!(s.fake.messages().len(), 0);
    let page = s.browser.get_html(&format!("/clients/{}", s.client_id)).await;
    assert!(page.contains("unknown — check before resending"));
    // Not while the client is opted out of the channel.
    sql(&s.app, &format!("UPDATE clients SET opt_out_sms_at = now(), opt_out_sms_source = 'manual' WHERE id = {}", s.client_id));
    let response = s.browser.htmx_post(&format!("/clients/{}/messages/{id}/resend", s.client_id), &[]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("Amara Okafor opted out of SMS messages."));
    assert_eq!(s.app.count("SELECT count(*) FROM messages"), 1);
    sql(&s.app, &format!("UPDATE clients SET opt_out_sms_at = NULL, opt_out_sms_source = NULL WHERE id = {}", s.client_id));
    assert!(page.contains(&format!("action=\"/clients/{}/messages/{id}/resend\"", s.client_id)));
    // Resending is explicit: a new message, audited; the unknown one stays as it was.
    let response = s.browser.htmx_post(&format!("/clients/{}/messages/{id}/resend", s.client_id), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Message queued."));
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id > {id} AND status = 'accepted' AND body = 'Never arrived')")).await;
    assert_eq!(s.fake.messages().len(), 1);
    assert_eq!(text(&s.app, &format!("SELECT status FROM messages WHERE id = {id}")), "unknown");
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'messages.resent'"), 1);
    // Only an unknown message can be resent.
    let again = s.browser.htmx_post(&format!("/clients/{}/messages/{}/resend", s.client_id, id + 1), &[]).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.app.count("SELECT count(*) FROM messages"), 2);
}

#[tokio::test]
async fn an_unknown_message_is_resent_once_however_often_and_concurrently_resend_is_pressed() {
    // Issue 18.3: 5 concurrent and 3 later resends queued 8 copies.
    let s = setup_double(true).await;
    sql(&s.app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, error_message) \
         VALUES ({}, {}, 'sms', 'outbound', '{SMS_FROM}', '{CLIENT_PHONE}', 'Maybe arrived', 'unknown', 'Twilio has no record of it; check before resending')",
        s.workspace_id, s.client_id
    ));
    let id = s.app.count("SELECT max(id) FROM messages");
    let path = format!("/clients/{}/messages/{id}/resend", s.client_id);
    s.browser.csrf().await; // the page the button is on has been shown (its token made)
    let presses = (0..5).map(|_| s.browser.htmx_post(&path, &[]));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(presses).await.into_iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|c| **c == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|c| *c == StatusCode::OK || *c == StatusCode::CONFLICT), "{statuses:?}");
    for _ in 0..3 {
        let later = s.browser.htmx_post(&path, &[]).await;
        assert_eq!(later.status(), StatusCode::CONFLICT);
        let said = later.text().await.unwrap();
        assert!(said.contains("already resent by"), "{said}");
    }
    assert_eq!(s.app.count("SELECT count(*) FROM messages WHERE body = 'Maybe arrived'"), 2, "the unknown one and one copy");
    let copy = s.app.count("SELECT max(id) FROM messages");
    assert_eq!(
        text(&s.app, &format!("SELECT new_message_id || ' ' || (resent_by IS NOT NULL) FROM message_resends WHERE message_id = {id}")),
        format!("{copy} true")
    );
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'messages.resent'"), 1);
    // The page says so instead of offering the button again.
    let page = s.browser.get_html(&format!("/clients/{}", s.client_id)).await;
    assert!(!page.contains(&format!("action=\"{path}\"")), "no second Resend button");
    assert!(page.contains("Resent by"), "the page names who resent it");
}

#[tokio::test]
async fn the_form_counts_segments_and_previews_the_template_as_you_type() {
    let s = setup_double(true).await;
    let t = add_template(&s.app, s.workspace_id, "HX9", "hello", "Hello {{1}} & welcome, {{2}}", "approved");
    let path = format!("/clients/{}/messages/segments?body={}", s.client_id, "a".repeat(161));
    let html = s.browser.htmx_get(&path).await.text().await.unwrap();
    assert_eq!(html, "<span class=\"muted segment-count\" id=\"sms-segments\" aria-live=\"polite\">2 segments · GSM-7, 153 characters each</span>");
    let html = s.browser.htmx_get(&format!("/clients/{}/messages/segments?body=%F0%9F%91%8B", s.client_id)).await.text().await.unwrap();
    assert!(html.contains(">1 segment · UCS-2 (emoji or non-Latin), 70 each<"), "{html}");
    let html = s.browser.htmx_get(&format!("/clients/{}/messages/preview?template_id={t}&var_1=%3Cb%3EAmara&var_2=", s.client_id)).await.text().await.unwrap();
    assert_eq!(html, "<p class=\"message-preview\" id=\"message-preview\" hx-disable>Hello &lt;b&gt;Amara &amp; welcome, {{2}}</p>");
}

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A `switchboard worker` process on the test database and the fake Twilio (one worker,
/// 2 s leases), for the tests that SIGKILL one mid-send.
pub fn worker_process(s: &Setup) -> std::process::Child {
    std::process::Command::new(BIN)
        .arg("worker")
        .env("DATABASE_URL", &s.app.database_url)
        .env("SWITCHBOARD_WORKERS", "1")
        .env("SWITCHBOARD_JOB_LEASE_SECS", "2")
        .env("SWITCHBOARD_SECRET_KEY", "test-secret-key-".repeat(4))
        .env("SWITCHBOARD_PUBLIC_URL", PUBLIC_URL)
        .env("TWILIO_API_BASE", s.fake.base())
        .env("TWILIO_CONTENT_BASE", s.fake.base())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start switchboard worker")
}

#[tokio::test]
async fn a_worker_killed_after_twilio_took_the_message_never_causes_a_second_send() {
    let s = setup_with(true, |s| s.job_workers = 0).await;
    s.fake.push_fault(Fault::Slow(Duration::from_secs(5)));
    let id = send_sms(&s, "Hello from a doomed worker").await;
    let mut first = worker_process(&s);
    for _ in 0..200 {
        if s.fake.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.fake.accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "Twilio took the message");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert_eq!(text(&s.app, &format!("SELECT status || ' ' || coalesce(provider_id, '-') FROM messages WHERE id = {id}")), "sending -");
    // The message's lease runs out (120 s, shortened here); a second process takes the job
    // over (its lease ran out too), finds the message claimed and sends nothing; its
    // scheduler's reconciliation adopts Twilio's record.
    sql(&s.app, "UPDATE messages SET lease_until = now() - interval '1 second' WHERE status = 'sending'");
    let mut second = worker_process(&s);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {id} AND status = 'accepted')")).await;
    wait_for(&s.app, "EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'done')").await;
    second.kill().unwrap();
    second.wait().unwrap();
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 1, "exactly one send");
    assert_eq!(s.fake.accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(text(&s.app, &format!("SELECT provider_id FROM messages WHERE id = {id}")), sent[0].sid);
}

#[tokio::test]
async fn two_instances_share_one_senders_rate() {
    let s = setup_double_with(true, |s| s.job_workers = 2).await;
    sql(&s.app, &format!("UPDATE twilio_settings SET sms_rate = 4 WHERE workspace_id = {}", s.workspace_id));
    let _second = spawn_app_on_with_double(&s.app.database, &s.fake, |c| {
        on_double(c);
        c.job_workers = 2;
    })
    .await;
    // 40 SMS from one sender, queued at once as the form queues them.
    {
        let mut conn = s.app.conn();
        conn.transaction(|tx| {
            for n in 0..40 {
                let new = switchboard::messaging::store::NewOutbound {
                    workspace_id: s.workspace_id,
                    client_id: Some(s.client_id),
                    channel: switchboard::messaging::Channel::Sms,
                    sender: SMS_FROM.into(),
                    recipient: CLIENT_PHONE.into(),
                    body: format!("Message {n}"),
                    template_id: None,
                    variables: serde_json::json!({}),
                    created_by: None,
                    batch_id: None,
                };
                let m = switchboard::messaging::store::insert_outbound(tx, &new)?;
                let job = switchboard::jobs::NewJob::new(s.workspace_id, switchboard::messaging::send::SendMessage::KIND, serde_json::json!({ "message_id": m.id }));
                switchboard::jobs::enqueue(tx, &job)?;
            }
            diesel::QueryResult::Ok(())
        })
        .unwrap();
    }
    for _ in 0..300 {
        if s.fake.messages().len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 40);
    wait_for(&s.app, "(SELECT count(*) FROM messages WHERE status = 'accepted') = 40").await;
    let first = sent.iter().map(|m| m.created_at).min().unwrap();
    let last = sent.iter().map(|m| m.created_at).max().unwrap();
    let span = (last - first).num_milliseconds() as f64 / 1000.0;
    let expected = 39.0 / 4.0;
    assert!((span - expected).abs() <= expected * 0.05, "40 sends at 4/s span {span} s, expected {expected} s ± 5 %");
}

#[tokio::test]
async fn a_send_out_of_attempts_fails_its_message_instead_of_leaving_it_queued() {
    let s = setup_with(true, |s| s.job_workers = 0).await;
    s.fake.push_fault(Fault::ServerError);
    let id = send_sms(&s, "Hello, last try").await;
    sql(&s.app, "UPDATE jobs SET max_attempts = 1 WHERE kind = 'send-message'");
    let _workers = spawn_app_on_with(&s.app.database, |c| on_fake(c, &s.fake)).await;
    wait_for(&s.app, "EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'dead')").await;
    assert_eq!(text(&s.app, &format!("SELECT status FROM messages WHERE id = {id}")), "failed");
    assert!(text(&s.app, &format!("SELECT error_message FROM messages WHERE id = {id}")).starts_with("Not sent after 1 attempts"));
    assert_eq!(s.fake.messages().len(), 0);
}

#[tokio::test]
async fn two_instances_reconciling_at_once_ask_twilio_once_per_message() {
    let s = setup_with(true, |s| s.job_workers = 2).await;
    let _second = spawn_app_on_with(&s.app.database, |c| {
        on_fake(c, &s.fake);
        c.job_workers = 2;
    })
    .await;
    for n in 0..6 {
        sql(&s.app, &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, attempt_at, lease_until) \
             VALUES ({}, {}, 'sms', 'outbound', '{SMS_FROM}', '{CLIENT_PHONE}', 'Stuck {n}', 'sending', now(), now() - interval '1 second')",
            s.workspace_id, s.client_id
        ));
    }
    // Four reconcile jobs (as if four ticks in different minutes) run on four workers at once.
    {
        let mut conn = s.app.conn();
        conn.transaction(|tx| {
            for n in 0..4 {
                let job = switchboard::jobs::NewJob::new(s.workspace_id, switchboard::messaging::reconcile::ReconcileMessages::KIND, serde_json::json!({})).key(format!("r{n}"));
                switchboard::jobs::enqueue(tx, &job)?;
            }
            diesel::QueryResult::Ok(())
        })
        .unwrap();
    }
    wait_for(&s.app, "(SELECT count(*) FROM jobs WHERE kind = 'reconcile-messages' AND status = 'done') = 4").await;
    assert_eq!(s.app.count("SELECT count(*) FROM messages WHERE status = 'unknown'"), 6);
    assert_eq!(s.fake.requests(&format!("GET /2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")), 6, "one lookup per message");
    assert_eq!(s.fake.messages().len(), 0);
}

#[tokio::test]
async fn the_timeline_pages_messages_of_both_directions_with_communications() {
    let s = setup_double(true).await;
    let (w, c) = (s.workspace_id, s.client_id);
    sql(&s.app, &format!(
        "INSERT INTO communications (workspace_id, client_id, kind, occurred_at, notes) \
         SELECT {w}, {c}, 'call', now() - make_interval(mins => g), 'Call ' || g FROM generate_series(1, 19) g"
    ));
    sql(&s.app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, created_at) VALUES \
         ({w}, {c}, 'whatsapp', 'inbound', 'SMin1', '{CLIENT_PHONE}', '{WHATSAPP_FROM}', 'Thanks!', 'received', now()), \
         ({w}, {c}, 'sms', 'outbound', 'SMout1', '{SMS_FROM}', '{CLIENT_PHONE}', 'Oldest text', 'delivered', now() - interval '1 day')"
    ));
    let page = s.browser.get_html(&format!("/clients/{c}")).await;
    assert!(page.contains("<strong>WhatsApp received</strong> <span class=\"pill message-status received\">received</span>"), "{page}");
    assert!(!page.contains("Oldest text"), "20 a page: the oldest is on page 2");
    let two = s.browser.get_html(&format!("/clients/{c}?timeline_page=2")).await;
    assert!(two.contains("<strong>SMS sent</strong> <span class=\"pill message-status delivered\">delivered ✓✓</span>"));
    assert!(two.contains("Oldest text"));
    assert!(!two.contains("Thanks!"));
}

/// Issue 11's opt-out loop end to end: the client texts STOP (a signed inbound webhook), the
/// next SMS from the client page is refused with the reason and nothing is queued; START opts
/// back in and the next one goes; both changes are audited with their source.
#[tokio::test]
async fn stop_refuses_the_next_send_and_start_allows_it_again() {
    let s = setup_double(true).await;
    let key = text(&s.app, &format!("SELECT webhook_key FROM workspaces WHERE id = {}", s.workspace_id));
    let inbound = |sid: &str, body: &str| inbound_message(sid, Channel::Sms, CLIENT_PHONE, SMS_FROM, body);
    let post = |message: InboundMessage| {
        let (double, base, key) = (s.fake.clone(), s.app.base.clone(), key.clone());
        async move { double.deliver_inbound(&base, &key, &message).await }
    };
    assert_eq!(post(inbound("SMstop1", "Stop")).await, StatusCode::OK);
    let messages = s.app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'");
    let jobs = s.app.count("SELECT count(*) FROM jobs WHERE kind = 'send-message'");
    let refused = s.browser.htmx_post(&format!("/clients/{}/messages", s.client_id), &[("channel", "sms"), ("body", "Your order shipped")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("opted out of SMS"), "the reason is shown: {html}");
    assert_eq!(s.app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), messages, "nothing queued");
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'send-message'"), jobs);
    // WhatsApp is another channel: STOP by SMS does not close it.
    assert_eq!(text(&s.app, &format!("SELECT (opt_out_whatsapp_at IS NULL)::text FROM clients WHERE id = {}", s.client_id)), "true");

    assert_eq!(post(inbound("SMstart1", "START")).await, StatusCode::OK);
    send_sms(&s, "Your order shipped").await;
    wait_for(&s.app, "EXISTS (SELECT 1 FROM messages WHERE direction = 'outbound' AND provider_id IS NOT NULL)").await;
    assert_eq!(s.fake.sends_to(Channel::Sms, CLIENT_PHONE), 1);
    let audited = |word: &str| {
        s.app.count(&format!(
            "SELECT count(*) FROM audit_logs WHERE action = 'clients.updated' AND entity_id = '{}' AND after::text ILIKE '%inbound {word}%'",
            s.client_id
        ))
    };
    assert_eq!((audited("Stop"), audited("START")), (1, 1), "both audited with their source");
}
