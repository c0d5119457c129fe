//! Issue 11 parts 2 and 7 in the browser: Twilio connected through the settings form
//! against the fake Twilio, the connection checked, templates synced, and a preview filled
//! from a client picked with the search box, at desktop and phone widths.

use std::time::Duration;

use switchboard::users::role::Role;

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
    let mut synced = false;
    for _ in 0..100 {
        if app.count("SELECT count(*) FROM jobs WHERE kind = 'sync-templates' AND status = 'done'") == 1 {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(synced, "the sync job finished");
    chrome.goto(&format!("{}/whatsapp-templates", app.base)).await;
    chrome.wait_for_text("table.templates", "order_ready").await;
    chrome.wait_for_text("table.templates", "big_sale").await;
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
    chrome.client.clone().close().await.unwrap();
}
