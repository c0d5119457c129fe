//! Issue 11 parts 2 and 7 in the browser: Twilio connected through the settings form
//! against the fake Twilio, the connection checked, templates synced, and a preview filled
//! from a client picked with the search box, at desktop and phone widths; then the template
//! sent to the client from its page, and the tick on its timeline moving to delivered as
//! Twilio's signed status callbacks arrive, without a reload.

use std::time::Duration;

use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio};
use crate::support::{PASSWORD, spawn_app_with};

#[tokio::test]
async fn connect_twilio_sync_templates_and_preview_one_for_a_client() {
    let fake = FakeTwilio::start();
    fake.add_template(FakeTwilio::template("HX00000000000000000000000000000001", "order_ready", "Hi {{1}}, your order {{2}} is ready.", "approved", &["Pick it up", "Deliver"]));
    fake.add_template(FakeTwilio::template("HX00000000000000000000000000000002", "big_sale", "Sale for {{1}}!", "rejected", &[]));
    let base = fake.base();
    let app = spawn_app_with(move |s| {
        s.twilio_api_base = base.parse().unwrap();
        s.twilio_content_base = base.parse().unwrap();
    })
    .await;
    app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    diesel::RunQueryDsl::execute(
        diesel::sql_query("INSERT INTO clients (workspace_id, name, phone) SELECT id, 'Amara Smith', '+14155550123' FROM workspaces"),
        &mut app.conn(),
    )
    .unwrap();
    let chrome = Chrome::start().await;
    chrome.client.set_window_size(1366, 900).await.expect("resize");
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;

    chrome.goto(&format!("{}/settings/twilio", app.base)).await;
    chrome.wait_for_heading("Twilio").await;
    chrome.fill("#tw-sid", ACCOUNT_SID).await;
    chrome.fill("#tw-token", AUTH_TOKEN).await;
    chrome.fill("#tw-whatsapp", "+1 415 555 0100").await;
    chrome.click("form[action='/settings/twilio'] button[type=submit]").await;
    chrome.wait_for_text(".flash", "Twilio settings saved.").await;
    assert_eq!(chrome.eval("return document.querySelector('#tw-token').value").await, "", "the token is not sent back");
    chrome.click("form[action='/settings/twilio/check'] button").await;
    chrome.wait_for_text(".flash", "Connected to Acme Messaging (active).").await;
    chrome.screenshot("twilio-settings-1366").await;

    chrome.click("nav a[href='/whatsapp-templates']").await;
    chrome.wait_for_heading("WhatsApp templates").await;
    chrome.click("form[action='/whatsapp-templates/sync'] button").await;
    chrome.wait_for_text(".flash", "Syncing templates from Twilio").await;
    // The page says when the sync is done, without a reload (issue 19.4: "Syncing…" stayed
    // and the Sync button was gone until a reload).
    chrome.eval("window.__marker = 1; return null;").await;
    chrome.wait_for_text("table.templates", "order_ready").await;
    chrome.wait_for_text("table.templates", "big_sale").await;
    chrome.wait_for("form[action='/whatsapp-templates/sync'] button").await;
    assert!(!chrome.text("#template-sync").await.contains("Syncing"), "the status line moved on");
    assert_eq!(chrome.eval("return window.__marker || null;").await, serde_json::json!(1), "no reload");
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'sync-templates' AND status = 'done'"), 1);
    chrome.screenshot("templates-1366").await;

    // By name: big_sale, then order_ready.
    chrome.click("table.templates tbody tr:nth-child(2) a").await;
    chrome.wait_for_text(".bubble-body", "Hi sample 1, your order sample 2 is ready.").await;
    chrome.fill("#client-search", "amara").await;
    chrome.wait_for_text("#client-results", "Amara Smith").await;
    chrome.click("#client-results a").await;
    chrome.wait_for_text(".bubble-body", "Hi Amara Smith, your order sample 2 is ready.").await;
    chrome.fill("#var-2", "A-42").await;
    chrome.wait_for_text(".bubble-body", "Hi Amara Smith, your order A-42 is ready.").await;
    assert_eq!(chrome.text(".bubble-buttons").await.split_whitespace().collect::<Vec<_>>().join(" "), "Pick it up Deliver");
    chrome.screenshot("template-preview-1366").await;
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    // The preview's trigger parses (it threw htmx:syntax:error without parentheses).
    assert_eq!(chrome.console_errors().await, Vec::<String>::new());

    // Send it to the client from the client page, then watch Twilio's status callbacks move
    // the message's tick on the open timeline, without a reload.
    let preview_path = chrome.path().await;
    let client = app.count("SELECT id FROM clients WHERE name = 'Amara Smith'");
    chrome.goto(&format!("{}/clients/{client}", app.base)).await;
    chrome.wait_for_heading("Amara Smith").await;
    chrome.click("#send-message summary").await;
    chrome.click("#msg-template option[value]:not([value=''])").await;
    chrome.wait_for_text("#message-preview", "Hi Amara Smith, your order {{2}} is ready.").await;
    chrome.fill("#msg-var-2", "A-42").await;
    chrome.wait_for_text("#message-preview", "Hi Amara Smith, your order A-42 is ready.").await;
    chrome.eval("window.__marker = 1; return null;").await;
    chrome.click("form.send-message button[type='submit']").await;
    chrome.wait_for_text("#client-timeline", "Message queued.").await;
    let mut sent = None;
    for _ in 0..100 {
        if let Some(m) = fake.messages().into_iter().next() {
            sent = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = sent.expect("the message reached Twilio");
    assert_eq!((sent.to.as_str(), sent.from.as_str()), ("whatsapp:+14155550123", "whatsapp:+14155550100"));
    assert_eq!(sent.content_sid.as_deref(), Some("HX00000000000000000000000000000001"));
    assert_eq!(sent.content_variables.as_deref(), Some(r#"{"1":"Amara Smith","2":"A-42"}"#));
    let callback = sent.status_callback.clone().expect("a StatusCallback URL");
    assert!(callback.starts_with(&format!("{}/webhooks/twilio/", app.base)) && callback.ends_with("/status"), "{callback}");
    // The send is recorded (the SID) before Twilio reports on it.
    for _ in 0..100 {
        if app.count(&format!("SELECT count(*) FROM messages WHERE provider_id = '{}'", sent.sid)) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tick = "#timeline-items .message-status";
    chrome.wait_for_text(tick, "accepted").await;
    for status in ["sent", "delivered"] {
        let (fake, url, sid) = (fake.clone(), callback.clone(), sent.sid.clone());
        let code = tokio::task::spawn_blocking(move || fake.send_status(&url, &sid, status, None)).await.unwrap();
        assert_eq!(code, 204, "Twilio's {status} callback");
    }
    chrome.wait_for_text(tick, "delivered ✓✓").await;
    assert_eq!(chrome.eval("return window.__marker || null;").await, serde_json::json!(1), "no page reload");
    chrome.screenshot("client-message-delivered-1366").await;
    // A delivered WhatsApp message may still be read (issue 19.1): the timeline keeps asking
    // until it is, then stops.
    let polling = "return document.getElementById('timeline-items').hasAttribute('hx-trigger');";
    assert_eq!(chrome.eval(polling).await, serde_json::json!(true));
    let (fake2, url, sid) = (fake.clone(), callback.clone(), sent.sid.clone());
    let code = tokio::task::spawn_blocking(move || fake2.send_status(&url, &sid, "read", None)).await.unwrap();
    assert_eq!(code, 204, "Twilio's read callback");
    chrome.wait_for_text(tick, "read").await;
    assert_eq!(chrome.eval(polling).await, serde_json::json!(false));
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.goto(&format!("{}{preview_path}", app.base)).await;

    chrome.client.set_window_size(390, 844).await.expect("resize");
    let preview = chrome.path().await;
    for (path, heading) in [("/settings/twilio", "Twilio"), ("/whatsapp-templates", "WhatsApp templates")] {
        chrome.goto(&format!("{}{path}", app.base)).await;
        chrome.wait_for_heading(heading).await;
        let seen = chrome.eval("return [window.innerWidth, document.documentElement.scrollWidth]").await;
        assert!(seen[1].as_i64().unwrap() <= seen[0].as_i64().unwrap(), "{path} scrolls sideways: {seen}");
    }
    chrome.screenshot("templates-390").await;
    chrome.goto(&format!("{}{preview}", app.base)).await;
    chrome.wait_for(".bubble-body").await;
    let seen = chrome.eval("return [window.innerWidth, document.documentElement.scrollWidth]").await;
    assert!(seen[1].as_i64().unwrap() <= seen[0].as_i64().unwrap(), "the preview scrolls sideways: {seen}");
    chrome.screenshot("template-preview-390").await;
    chrome.finish().await;
}
