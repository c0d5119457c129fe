//! Sending from the client page in Chromium (issue 11 part 3): the template preview and the
//! SMS segment count follow what is typed, and a send lands on the timeline in place, once
//! for a double click.

use diesel::prelude::*;
use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::app_talking_to;
use crate::support::fake_twilio::{ACCOUNT_SID, FakeTwilio, sealed_token_sql};
use crate::support::PASSWORD;

#[tokio::test]
async fn preview_a_template_count_sms_segments_and_send_from_the_client_page() {
    let fake = FakeTwilio::start();
    let app = app_talking_to(&fake).await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let w = admin.workspace_id;
    let sealed = sealed_token_sql();
    for statement in [
        format!("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from) VALUES ({w}, '{ACCOUNT_SID}', {sealed}, '{{+14155550100}}', '+14155550199')"),
        format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, language, body, approval_status) VALUES ({w}, 'HX77', 'welcome', 'en', 'Welcome {{{{1}}}}, your code is {{{{2}}}}.', 'approved')"),
        format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Grace Hopper', '+14155550123')"),
    ] {
        diesel::sql_query(statement).execute(&mut app.conn()).unwrap();
    }
    let client = app.count("SELECT max(id) FROM clients");
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/clients/{client}", app.base)).await;
    chrome.wait_for_heading("Grace Hopper").await;

    chrome.click("#send-message summary").await;
    chrome.click("#msg-template option[value]:not([value=''])").await;
    chrome.wait_for_text("#message-preview", "Welcome Grace Hopper, your code is {{2}}.").await;
    chrome.fill("#msg-var-2", "4711").await;
    chrome.wait_for_text("#message-preview", "Welcome Grace Hopper, your code is 4711.").await;

    // SMS: the WhatsApp half hides, the count follows the typing.
    chrome.click("#send-message input[name='channel'][value='sms']").await;
    assert_eq!(chrome.eval("return getComputedStyle(document.querySelector('.channel-whatsapp')).display;").await, serde_json::json!("none"));
    chrome.fill("#msg-body", &"a".repeat(161)).await;
    chrome.wait_for_text("#sms-segments", "2 segments · GSM-7, 153 characters each").await;
    chrome.fill("#msg-body", "Привет, Grace").await;
    chrome.wait_for_text("#sms-segments", "1 segment · UCS-2 (emoji or non-Latin), 70 each").await;

    chrome.eval("window.__marker = 1; return null;").await;
    // A double click (issue 18.2): the button is disabled by the first, so the second does
    // nothing; the server's one-time form token would answer it with the first anyway.
    let busy = chrome
        .eval("var b = document.querySelector(\"form.send-message button[type='submit']\"); b.click(); var busy = b.disabled; b.click(); return busy;")
        .await;
    assert_eq!(busy, serde_json::json!(true), "the submit button is disabled while the form is in flight");
    chrome.wait_for_text("#client-timeline", "Message queued.").await;
    assert!(chrome.text("#client-timeline").await.contains("Привет, Grace"));
    assert_eq!(chrome.eval("return window.__marker || null;").await, serde_json::json!(1), "no page reload");
    for _ in 0..100 {
        if fake.messages().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(fake.messages()[0].body.as_deref(), Some("Привет, Grace"));
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), 1, "one message for the double click");
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}
