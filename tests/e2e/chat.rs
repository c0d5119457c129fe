//! Issue 13 in the browser, two users at once: a signed inbound callback reaches the
//! admin's open inbox and the agent's open conversation over server-sent events without a
//! reload; the agent's reply reaches the fake Twilio with the right From and To; once
//! WhatsApp's 24-hour window has closed the composer offers only a template, which goes
//! out as one. Screenshots of the inbox and the conversation at 1366 and 390 px.
//!
//! Issue 22: the agent answers the photo with a canned reply by keyboard alone ("/", the
//! picker, Enter to insert it, Enter to send); the inbox and a conversation answer to j, k,
//! a, e and ?, and Ctrl+Enter sends for a person who chose it.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::keyboard::{ENTER, press, type_text};
use crate::support::app_talking_to;
use crate::support::fake_twilio::{ACCOUNT_SID, FakeTwilio, sealed_token_sql};
use crate::support::{PASSWORD, TestApp};

const OUR_NUMBER: &str = "+14155550100";
const CLIENT: &str = "+14155550123";

fn run_sql(app: &TestApp, statement: &str) {
    diesel::sql_query(statement).execute(&mut app.conn()).unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// A signed inbound WhatsApp message from the client, as Twilio posts it.
fn inbound(fake: &FakeTwilio, app: &TestApp, key: &str, sid: &str, body: &str) {
    inbound_with(fake, app, key, sid, body, &[]);
}

/// [`inbound`] with attachments: (media URL, declared type).
fn inbound_with(fake: &FakeTwilio, app: &TestApp, key: &str, sid: &str, body: &str, media: &[(String, &str)]) {
    let count = media.len().to_string();
    let mut form: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("From", &format!("whatsapp:{CLIENT}")),
        ("To", &format!("whatsapp:{OUR_NUMBER}")),
        ("Body", body),
        ("NumMedia", &count),
        ("ProfileName", "Grace"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (i, (url, declared)) in media.iter().enumerate() {
        form.push((format!("MediaUrl{i}"), url.clone()));
        form.push((format!("MediaContentType{i}"), declared.to_string()));
    }
    let code = fake.post_signed(&format!("{}/webhooks/twilio/{key}/inbound", app.base), &form);
    assert!((200..300).contains(&code), "inbound {sid}: {code}");
}

/// Waits until `css` contains `needle`; the time it took.
async fn shows_within(chrome: &Chrome, css: &str, needle: &str, deadline: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let text = chrome.client.execute(&format!("const e = document.querySelector({css:?}); return e ? e.textContent : '';"), vec![]).await.unwrap();
        if text.as_str().unwrap_or("").contains(needle) {
            return start.elapsed();
        }
        assert!(start.elapsed() < deadline, "{css} never showed {needle:?} within {deadline:?}: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_callback_reaches_two_open_pages_live_and_replies_follow_the_24_hour_window() {
    let fake = FakeTwilio::start();
    let app = app_talking_to(&fake).await;
    let ann = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let ben = app.create_user_named("Acme", "ben@acme.test", "Ben Agent", Role::Agent);
    let w = ann.workspace_id;
    let sealed = sealed_token_sql();
    run_sql(&app, &format!("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from) VALUES ({w}, '{ACCOUNT_SID}', {sealed}, '{{{OUR_NUMBER}}}')"));
    run_sql(&app, &format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, language, body, approval_status) VALUES ({w}, 'HX0000000000000000000000000000b001', 'follow_up', 'en', 'Hi {{{{1}}}}, are you still interested?', 'approved')"));
    run_sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone, assigned_to) VALUES ({w}, 'Grace Hopper', '{CLIENT}', {})", ben.id));
    let key = switchboard::messaging::account::webhook_key(&mut app.conn(), w).unwrap();

    // The client writes first: the chat opens.
    inbound(&fake, &app, &key, "SM00000000000000000000000000000001", "Hello there");
    let chat = app.count(&format!("SELECT id FROM chats WHERE workspace_id = {w}"));

    let admin = Chrome::start().await;
    admin.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    admin.goto(&format!("{}/chat", app.base)).await;
    admin.wait_for_text("#chat-list", "Hello there").await;
    let agent = Chrome::start().await;
    agent.sign_in(&app.base, "ben@acme.test", PASSWORD).await;
    agent.goto(&format!("{}/chat/{chat}", app.base)).await;
    agent.wait_for_text("#messages", "Hello there").await;
    for page in [&admin, &agent] {
        page.eval("window.notReloaded = true; return true;").await;
    }

    // A first live message proves both streams are open (no time asserted)…
    inbound(&fake, &app, &key, "SM00000000000000000000000000000002", "Are you there?");
    shows_within(&admin, "#chat-list", "Are you there?", Duration::from_secs(20)).await;
    shows_within(&agent, "#messages", "Are you there?", Duration::from_secs(20)).await;
    // …then the next one reaches both open pages within a second, without a reload.
    inbound(&fake, &app, &key, "SM00000000000000000000000000000003", "Is my order ready?");
    let inbox = shows_within(&admin, "#chat-list", "Is my order ready?", Duration::from_secs(1)).await;
    let conversation = shows_within(&agent, "#messages", "Is my order ready?", Duration::from_secs(1)).await;
    eprintln!("live: inbox {inbox:?}, conversation {conversation:?}");
    for page in [&admin, &agent] {
        assert_eq!(page.eval("return window.notReloaded === true;").await, serde_json::json!(true), "no reload");
    }
    // A photo of a receipt arrives: the agent's open conversation shows it once fetched.
    let photo = fake.add_media("ME00000000000000000000000000000001", include_bytes!("photo.png"), "image/png");
    inbound_with(&fake, &app, &key, "MM00000000000000000000000000000004", "Here is the receipt", &[(photo, "image/png")]);
    shows_within(&agent, "#messages", "Here is the receipt", Duration::from_secs(20)).await;
    let img = agent.wait_for("#messages .attachment-image img").await;
    assert!(img.attr("src").await.unwrap().unwrap_or_default().starts_with("/media/"));
    let mut width = serde_json::Value::Null;
    for _ in 0..100 {
        width = agent.eval("const i = document.querySelector('#messages .attachment-image img'); return i && i.complete ? i.naturalWidth : 0;").await;
        if width == serde_json::json!(160) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(width, serde_json::json!(160), "the photo is loaded from /media/{{id}} and decoded");
    shows_within(&admin, "#chat-list", "Here is the receipt", Duration::from_secs(20)).await;
    for width in [1366, 390] {
        admin.client.set_window_size(width, 900).await.unwrap();
        admin.screenshot(&format!("chat-inbox-live-{width}")).await;
        agent.client.set_window_size(width, 900).await.unwrap();
        agent.screenshot(&format!("chat-conversation-live-{width}")).await;
    }
    agent.client.set_window_size(1280, 900).await.unwrap();

    // The agent answers with a canned reply, by keyboard alone: "/" and the start of its
    // shortcut open the picker, Enter inserts it filled for Grace, Enter sends it. It reaches
    // Twilio from our number to the client.
    run_sql(&app, &format!("INSERT INTO canned_replies (workspace_id, title, shortcut, body) VALUES ({w}, 'Shipping today', 'ship', 'Yes {{{{first_name}}}}, it ships today'), ({w}, 'Opening hours', 'hours', 'We are open 9 to 5.')"));
    agent.wait_for("#reply-body").await.send_keys("/sh").await.unwrap();
    agent.wait_for_text(".canned-picker", "Shipping today").await;
    agent.screenshot("chat-canned-picker-1280").await;
    press(&agent, ENTER).await;
    let typed = agent.eval("return document.querySelector('#reply-body').value;").await;
    assert_eq!(typed, serde_json::json!("Yes Grace, it ships today"), "the chosen reply, filled for the client");
    assert_eq!(agent.eval("return document.querySelector('.canned-picker').hidden;").await, serde_json::json!(true));
    press(&agent, ENTER).await;
    shows_within(&agent, "#messages", "Yes Grace, it ships today", Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        if let Some(m) = fake.messages().into_iter().find(|m| m.body.as_deref() == Some("Yes Grace, it ships today")) {
            break m;
        }
        assert!(Instant::now() < deadline, "the reply never reached the fake");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((sent.from.as_str(), sent.to.as_str()), (format!("whatsapp:{OUR_NUMBER}").as_str(), format!("whatsapp:{CLIENT}").as_str()));

    // A day later the window has closed: only a template may go.
    run_sql(&app, &format!("UPDATE chats SET last_inbound_at = now() - interval '25 hours' WHERE id = {chat}"));
    agent.goto(&format!("{}/chat/{chat}", app.base)).await;
    let rule = agent.text("#composer-rule").await;
    assert!(rule.contains("template"), "{rule}");
    assert_eq!(agent.eval("return document.querySelector('#reply-body') === null;").await, serde_json::json!(true), "no free text outside the window");
    let template = app.count(&format!("SELECT id FROM whatsapp_templates WHERE workspace_id = {w}"));
    agent.client.execute(&format!("const s = document.querySelector('#reply-template'); s.value = '{template}'; s.dispatchEvent(new Event('change', {{bubbles: true}})); return true;"), vec![]).await.unwrap();
    agent.fill("#reply-var-1", "Grace").await;
    agent.click("#composer button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        if let Some(m) = fake.messages().into_iter().find(|m| m.content_sid.is_some()) {
            break m;
        }
        assert!(Instant::now() < deadline, "the template never reached the fake");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sent.content_sid.as_deref(), Some("HX0000000000000000000000000000b001"));
    assert_eq!(sent.to, format!("whatsapp:{CLIENT}"));
    assert!(sent.content_variables.as_deref().unwrap_or("").contains("Grace"), "{:?}", sent.content_variables);
    assert!(admin.console_errors().await.is_empty(), "{:?}", admin.console_errors().await);
    assert!(agent.console_errors().await.is_empty(), "{:?}", agent.console_errors().await);
}

/// An app on the fake Twilio with a workspace whose SMS number is set up, and its admin Ann.
async fn sms_workspace() -> (FakeTwilio, TestApp, switchboard::users::model::User) {
    let fake = FakeTwilio::start();
    let app = app_talking_to(&fake).await;
    let ann = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let (w, sealed) = (ann.workspace_id, sealed_token_sql());
    run_sql(&app, &format!("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, sms_from) VALUES ({w}, '{ACCOUNT_SID}', {sealed}, '{OUR_NUMBER}')"));
    (fake, app, ann)
}

#[tokio::test]
async fn the_sms_reply_box_counts_segments_as_the_client_pages_box_does() {
    // Issue 19.10: the chat's SMS box had no live count (its target vanished at the first
    // keystroke), so an em dash silently doubled the cost.
    let (_fake, app, ann) = sms_workspace().await;
    let w = ann.workspace_id;
    run_sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Grace Hopper', '{CLIENT}')"));
    run_sql(&app, &format!("INSERT INTO chats (workspace_id, client_id, channel) SELECT {w}, id, 'sms' FROM clients WHERE workspace_id = {w}"));
    let chat = app.count(&format!("SELECT id FROM chats WHERE workspace_id = {w}"));
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/chat/{chat}", app.base)).await;
    chrome.wait_for_text("#sms-segments", "0 segments · GSM-7, 160 characters each").await;
    chrome.fill("#reply-body", &"a".repeat(161)).await;
    chrome.wait_for_text("#sms-segments", "2 segments · GSM-7, 153 characters each").await;
    chrome.fill("#reply-body", "Your order ships today — thanks").await;
    chrome.wait_for_text("#sms-segments", "1 segment · UCS-2 (emoji or non-Latin), 70 each").await;
    assert_eq!(chrome.console_errors().await, Vec::<String>::new());
    chrome.finish().await;
}

/// Waits until the query counts more than zero.
async fn until(app: &TestApp, query: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.count(query) == 0 {
        assert!(Instant::now() < deadline, "never true: {query}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What has focus: its text.
async fn focused(chrome: &Chrome) -> String {
    chrome.eval("return document.activeElement.textContent.trim();").await.as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn the_inbox_and_a_conversation_answer_to_the_keyboard() {
    let (_fake, app, ann) = sms_workspace().await;
    let w = ann.workspace_id;
    // Three SMS chats: Cleo wrote last, then Ben, then Ada.
    for (name, phone, ago) in [("Ada Lovelace", "+14155550201", 300), ("Ben Bello", "+14155550202", 200), ("Cleo Cruz", "+14155550203", 100)] {
        run_sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, '{name}', '{phone}')"));
        run_sql(&app, &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
             SELECT {w}, id, 'sms', 'inbound', phone, '{OUR_NUMBER}', 'Hello from {name}', 'received', now() - interval '{ago} seconds' FROM clients WHERE phone = '{phone}'"
        ));
    }
    let chat = |phone: &str| app.count(&format!("SELECT ch.id FROM chats ch JOIN clients c ON c.id = ch.client_id WHERE c.phone = '{phone}'"));
    let (ben, cleo) = (chat("+14155550202"), chat("+14155550203"));

    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/chat", app.base)).await;
    chrome.wait_for_text("#chat-list", "Hello from Ada").await;
    // j and k walk the rows; Enter opens the focused one.
    press(&chrome, 'j').await;
    assert_eq!(focused(&chrome).await, "Cleo Cruz");
    press(&chrome, 'j').await;
    press(&chrome, 'j').await;
    assert_eq!(focused(&chrome).await, "Ada Lovelace");
    press(&chrome, 'k').await;
    assert_eq!(focused(&chrome).await, "Ben Bello");
    press(&chrome, ENTER).await;
    chrome.wait_for_text("#messages", "Hello from Ben Bello").await;
    // From a conversation, k goes up the inbox to the newer chat and j down again.
    press(&chrome, 'k').await;
    chrome.wait_for_text("#messages", "Hello from Cleo Cruz").await;
    assert!(chrome.path().await.ends_with(&format!("/chat/{cleo}")));
    press(&chrome, 'j').await;
    chrome.wait_for_text("#messages", "Hello from Ben Bello").await;
    // a assigns the chat to me, e closes it.
    press(&chrome, 'a').await;
    until(&app, &format!("SELECT count(*) FROM chats WHERE id = {ben} AND assignee_id = {}", ann.id)).await;
    chrome.wait_for_text("#chat-actions", "Close").await;
    press(&chrome, 'e').await;
    until(&app, &format!("SELECT count(*) FROM chats WHERE id = {ben} AND status = 'closed'")).await;
    // ? lists the shortcuts; Escape closes the list.
    press(&chrome, '?').await;
    assert_eq!(chrome.eval("return document.getElementById('chat-keys').open;").await, serde_json::json!(true));
    chrome.screenshot("chat-keyboard-shortcuts-1280").await;
    press(&chrome, '\u{E00C}').await;
    assert_eq!(chrome.eval("return document.getElementById('chat-keys').open;").await, serde_json::json!(false));

    // Ann prefers Ctrl+Enter: Enter adds a line, Ctrl+Enter sends.
    run_sql(&app, &format!("UPDATE users SET chat_enter_sends = false WHERE id = {}", ann.id));
    chrome.goto(&format!("{}/chat/{cleo}", app.base)).await;
    chrome.wait_for("#reply-body").await.send_keys("Line one").await.unwrap();
    press(&chrome, ENTER).await;
    type_text(&chrome, "line two").await;
    assert_eq!(chrome.eval("return document.querySelector('#reply-body').value;").await, serde_json::json!("Line one\nline two"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM messages WHERE workspace_id = {w} AND direction = 'outbound'")), 0, "Enter did not send");
    let control = '\u{E009}';
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: control })
        .then(KeyAction::Down { value: ENTER })
        .then(KeyAction::Up { value: ENTER })
        .then(KeyAction::Up { value: control });
    chrome.client.perform_actions(keys).await.unwrap();
    until(&app, &format!("SELECT count(*) FROM messages WHERE workspace_id = {w} AND direction = 'outbound' AND body = E'Line one\\nline two'")).await;

    // The Note tab: the reply form gives way to the note form; the note shows among the
    // messages, in its own colour, and is never sent.
    chrome.wait_for_text("#messages", "Line one").await;
    assert_eq!(chrome.eval("return getComputedStyle(document.querySelector('#note-composer')).display;").await, serde_json::json!("none"));
    chrome.click("label[for=tab-note]").await;
    assert_eq!(chrome.eval("return getComputedStyle(document.querySelector('#composer')).display;").await, serde_json::json!("none"));
    chrome.fill("#note-body", "Cleo prefers calls after 5 pm").await;
    chrome.click("#note-composer button[type=submit]").await;
    chrome.wait_for_text("#messages .bubble.note", "Cleo prefers calls after 5 pm").await;
    chrome.wait_for_text("#note-said", "Note added.").await;
    for width in [1280, 390] {
        chrome.client.set_window_size(width, 900).await.unwrap();
        chrome.screenshot(&format!("chat-note-{width}")).await;
    }
    assert_eq!(app.count(&format!("SELECT count(*) FROM messages WHERE workspace_id = {w} AND body LIKE 'Cleo prefers%'")), 0);
    assert_eq!(chrome.console_errors().await, Vec::<String>::new());
    chrome.finish().await;
}
