//! Issue 19 items 1–3 in the browser: what an open page shows follows what happened,
//! without a reload. A message's every status (read included) reaches the open
//! conversation and the open client page; a finished batch's recipients page counts replies
//! and late statuses; the conversation's header, side panel, composer rule and the nav's
//! chat badge follow the actions taken and the messages that arrive.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::app_talking_to;
use crate::support::fake_twilio::{ACCOUNT_SID, FakeTwilio, sealed_token_sql};
use crate::support::{PASSWORD, TestApp};

const OUR_NUMBER: &str = "+14155550100";
const CLIENT: &str = "+14155550123";

fn run_sql(app: &TestApp, statement: &str) {
    diesel::sql_query(statement).execute(&mut app.conn()).unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Twilio set up for the workspace (WhatsApp from our number); its webhook key.
fn twilio(app: &TestApp, w: i64) -> String {
    let sealed = sealed_token_sql();
    run_sql(app, &format!("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from) VALUES ({w}, '{ACCOUNT_SID}', {sealed}, '{{{OUR_NUMBER}}}')"));
    switchboard::messaging::account::webhook_key(&mut app.conn(), w).unwrap()
}

/// A signed inbound WhatsApp message from `from`, as Twilio posts it.
fn inbound(fake: &FakeTwilio, app: &TestApp, key: &str, from: &str, sid: &str, body: &str) {
    let form: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("From", &format!("whatsapp:{from}")),
        ("To", &format!("whatsapp:{OUR_NUMBER}")),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let code = fake.post_signed(&format!("{}/webhooks/twilio/{key}/inbound", app.base), &form);
    assert!((200..300).contains(&code), "inbound {sid}: {code}");
}

/// A signed status callback for the message `sid`, as Twilio posts it.
fn status(fake: &FakeTwilio, app: &TestApp, key: &str, sid: &str, status: &str) {
    let form: Vec<(String, String)> =
        [("AccountSid", ACCOUNT_SID), ("MessageSid", sid), ("MessageStatus", status)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let code = fake.post_signed(&format!("{}/webhooks/twilio/{key}/status", app.base), &form);
    assert!((200..300).contains(&code), "status {sid} {status}: {code}");
}

/// The text content of the first element matching `css` ("" when there is none).
async fn content(chrome: &Chrome, css: &str) -> String {
    let value = chrome.client.execute(&format!("const e = document.querySelector({css:?}); return e ? e.textContent : '';"), vec![]).await.unwrap();
    value.as_str().unwrap_or("").to_string()
}

/// Waits until the text of `css` satisfies `ok`.
async fn until_text(chrome: &Chrome, css: &str, what: &str, within: Duration, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let text = content(chrome, css).await;
        if ok(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "{css} never {what} within {within:?}; it read: {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `css` shows the attribute `attr` equal to `value`.
async fn until_attr(chrome: &Chrome, css: &str, attr: &str, value: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let seen = chrome.eval(&format!("const e = document.querySelector({css:?}); return e ? e.getAttribute({attr:?}) : null;")).await;
        if seen.as_str() == Some(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{css}'s {attr} never read {value:?} within {within:?}; it read {seen}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sid of the first message the fake took with this body.
async fn sent_sid(fake: &FakeTwilio, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(m) = fake.messages().into_iter().find(|m| m.body.as_deref() == Some(body)) {
            return m.sid;
        }
        assert!(Instant::now() < deadline, "{body:?} never reached the fake");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_status_of_a_shown_message_reaches_the_open_conversation_and_client_page() {
    // Issue 19.1: ✓ and ✓✓ moved live, "read" never did (the client page polled only while
    // a message was before "delivered").
    let fake = FakeTwilio::start();
    let app = app_talking_to(&fake).await;
    let ann = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let w = ann.workspace_id;
    let key = twilio(&app, w);
    run_sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Grace Hopper', '{CLIENT}')"));
    let client = app.count(&format!("SELECT id FROM clients WHERE workspace_id = {w}"));
    inbound(&fake, &app, &key, CLIENT, "SM00000000000000000000000000000001", "Hello there");
    let chat = app.count(&format!("SELECT id FROM chats WHERE workspace_id = {w}"));

    let conversation = Chrome::start().await;
    conversation.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    conversation.goto(&format!("{}/chat/{chat}", app.base)).await;
    conversation.wait_for_text("#messages", "Hello there").await;
    conversation.fill("#reply-body", "Your order ships today").await;
    conversation.click("#composer button[type=submit]").await;
    conversation.wait_for_text("#messages", "Your order ships today").await;
    let sid = sent_sid(&fake, "Your order ships today").await;
    // Recorded once the provider's answer is in (just after the fake took it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let id = app.count(&format!("SELECT coalesce(max(id), 0) FROM messages WHERE workspace_id = {w} AND provider_id = '{sid}'"));
        if id > 0 {
            break id;
        }
        assert!(Instant::now() < deadline, "{sid} never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let page = Chrome::start().await;
    page.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    page.goto(&format!("{}/clients/{client}", app.base)).await;
    page.wait_for_text("#timeline-items", "Your order ships today").await;
    for chrome in [&conversation, &page] {
        chrome.eval("window.notReloaded = true; return true;").await;
    }

    let bubble = format!("#message-{message} .ticks");
    let pill = format!("#message-{message} .message-status");
    for (state, label) in [("sent", "Sent"), ("delivered", "Delivered"), ("read", "Read")] {
        status(&fake, &app, &key, &sid, state);
        until_attr(&conversation, &bubble, "title", label, Duration::from_secs(10)).await;
        until_text(&page, &pill, &format!("read {state}"), Duration::from_secs(10), |t| t.starts_with(state)).await;
    }
    for chrome in [&conversation, &page] {
        assert_eq!(chrome.eval("return window.notReloaded === true;").await, serde_json::json!(true), "no reload");
    }
    conversation.finish().await;
    page.finish().await;
}

#[tokio::test]
async fn a_finished_batchs_recipients_page_counts_replies_and_late_statuses_live() {
    // Issue 19.2: once the batch was done and every recipient had an outcome, the page had
    // no trigger at all: a "yes" and a late "read" showed only after a reload.
    let fake = FakeTwilio::start();
    let app = app_talking_to(&fake).await;
    let ann = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let w = ann.workspace_id;
    let key = twilio(&app, w);
    run_sql(&app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, 'Spring', ARRAY['whatsapp'], 'active')"));
    let campaign = app.count(&format!("SELECT id FROM campaigns WHERE workspace_id = {w}"));
    run_sql(
        &app,
        &format!(
            "INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body, status, send_at, started_at, variables, sender) \
             VALUES ({w}, {campaign}, 'whatsapp', 'text', 'Hello', 'done', now() - interval '1 hour', now() - interval '1 hour', '{{}}', '{OUR_NUMBER}')"
        ),
    );
    let batch = app.count(&format!("SELECT id FROM campaign_batches WHERE workspace_id = {w}"));
    for i in 0..2 {
        let phone = format!("+1415600000{i}");
        run_sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Client {i}', '{phone}')"));
        run_sql(
            &app,
            &format!(
                "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, batch_id) \
                 SELECT {w}, id, 'whatsapp', 'outbound', 'SM6000{i}', '{OUR_NUMBER}', phone, 'Hello', 'accepted', {batch} FROM clients WHERE workspace_id = {w} AND phone = '{phone}'"
            ),
        );
        run_sql(
            &app,
            &format!(
                "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, message_id) \
                 SELECT {w}, {batch}, client_id, 'sending', id FROM messages WHERE workspace_id = {w} AND provider_id = 'SM6000{i}'"
            ),
        );
        status(&fake, &app, &key, &format!("SM6000{i}"), "delivered");
    }

    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/campaigns/{campaign}/whatsapp-messages/{batch}/recipients", app.base)).await;
    chrome.wait_for_heading(&format!("WhatsApp batch #{batch}: recipients")).await;
    chrome.eval("window.notReloaded = true; return true;").await;
    until_text(&chrome, "[data-count='delivered']", "read 2", Duration::from_secs(5), |t| t.trim() == "2").await;
    assert_eq!(content(&chrome, "[data-count='reply:yes']").await.trim(), "0");

    // A "yes" typed by a recipient: the count and the row's Reply, well before the slow
    // fallback poll would have come.
    inbound(&fake, &app, &key, "+14156000000", "SM00000000000000000000000000000010", "Yes");
    until_text(&chrome, "[data-count='reply:yes']", "read 1", Duration::from_secs(5), |t| t.trim() == "1").await;
    let client0 = app.count(&format!("SELECT id FROM clients WHERE workspace_id = {w} AND phone = '+14156000000'"));
    until_text(&chrome, &format!("#recipients tr[data-client='{client0}'] td:nth-child(4)"), "read yes", Duration::from_secs(5), |t| t.trim() == "yes").await;
    // A late read receipt of the other recipient.
    status(&fake, &app, &key, "SM60001", "read");
    until_text(&chrome, "[data-count='read']", "read 1", Duration::from_secs(5), |t| t.trim() == "1").await;
    // The page keeps listening: a second reply still arrives.
    inbound(&fake, &app, &key, "+14156000001", "SM00000000000000000000000000000011", "No");
    until_text(&chrome, "[data-count='reply:no']", "read 1", Duration::from_secs(5), |t| t.trim() == "1").await;
    assert_eq!(chrome.eval("return window.notReloaded === true;").await, serde_json::json!(true), "no reload");
    chrome.finish().await;
}

#[tokio::test]
async fn the_conversations_header_side_panel_window_and_badge_follow_actions_and_messages() {
    // Issue 19.3: after Assign the side panel said "Unassigned", after Reopen the "closed"
    // pill stayed, "Free text until …" did not move with a new message, and the chat being
    // read stayed counted in the nav badge.
    let fake = FakeTwilio::start();
    let app = app_talking_to(&fake).await;
    let ann = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    app.create_user_named("Acme", "ben@acme.test", "Ben Agent", Role::Agent);
    let w = ann.workspace_id;
    let key = twilio(&app, w);
    run_sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Grace Hopper', '{CLIENT}')"));
    inbound(&fake, &app, &key, CLIENT, "SM00000000000000000000000000000001", "Hello there");
    let chat = app.count(&format!("SELECT id FROM chats WHERE workspace_id = {w}"));
    // The client wrote 20 hours ago, and the chat was closed since.
    run_sql(&app, &format!("UPDATE messages SET created_at = now() - interval '20 hours' WHERE workspace_id = {w}"));
    run_sql(&app, &format!("UPDATE chats SET last_inbound_at = now() - interval '20 hours', status = 'closed', closed_at = now() WHERE id = {chat}"));

    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/chat/{chat}", app.base)).await;
    chrome.wait_for_text("#messages", "Hello there").await;
    chrome.eval("window.notReloaded = true; return true;").await;
    let heading = ".page-head h1";
    assert!(content(&chrome, heading).await.contains("closed"), "the closed chat says so");

    // Reopen: the header's "closed" goes.
    chrome.click("#chat-actions form[action$='/reopen'] button").await;
    chrome.wait_for_text("#flash", "reopened").await;
    until_text(&chrome, heading, "lost its closed pill", Duration::from_secs(5), |t| !t.contains("closed")).await;

    // Assign: the side panel names the assignee.
    let ben = app.count(&format!("SELECT id FROM users WHERE workspace_id = {w} AND email = 'ben@acme.test'"));
    chrome.eval(&format!("document.querySelector('#chat-{chat}-assignee').value = '{ben}'; return true;")).await;
    chrome.click("#chat-actions .chat-assign button").await;
    chrome.wait_for_text("#flash", "Ben Agent").await;
    until_text(&chrome, ".client-card", "named Ben Agent", Duration::from_secs(5), |t| t.contains("Ben Agent") && !t.contains("Unassigned")).await;

    // A new message from the client: the window moves to 24 hours from now, and the chat
    // being read is not counted in the nav badge.
    let rule = content(&chrome, "#composer-rule").await;
    assert!(rule.starts_with("Free text until"), "{rule}");
    inbound(&fake, &app, &key, CLIENT, "SM00000000000000000000000000000002", "Still there?");
    chrome.wait_for_text("#messages", "Still there?").await;
    until_text(&chrome, "#composer-rule", "moved", Duration::from_secs(5), |t| t.starts_with("Free text until") && t != rule).await;
    // Give a stale badge refresh time to land, then the badge must count nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(content(&chrome, "#chat-badge").await.trim(), "", "the open chat is read");
    assert_eq!(chrome.eval("return document.querySelector('#chat-badge').classList.contains('empty');").await, serde_json::json!(true));
    assert_eq!(chrome.eval("return window.notReloaded === true;").await, serde_json::json!(true), "no reload");
    chrome.finish().await;
}
