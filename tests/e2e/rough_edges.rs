//! Issue 19 item 19 in Chromium, at 1366 and 390 pixels: the client page's send form takes
//! its card's width and keeps what was typed after a refusal; the timeline writes today's
//! times as "today 18:53"; error pages keep the navigation for a signed-in person; the
//! webhook URLs are shown whole, with a Copy button.

use diesel::prelude::*;
use serde_json::json;
use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::PASSWORD;
use crate::support::fake_twilio::{ACCOUNT_SID, FakeTwilio, sealed_token_sql};
use crate::support::spawn_app_with;

#[tokio::test]
async fn the_send_form_is_wide_and_keeps_its_values_times_read_today_errors_keep_the_nav_and_webhooks_copy() {
    let fake = FakeTwilio::start();
    let base = url::Url::parse(&fake.base()).unwrap();
    let app = spawn_app_with(|s| {
        s.twilio_api_base = base.clone();
        s.twilio_content_base = base;
    })
    .await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let w = admin.workspace_id;
    let sealed = sealed_token_sql();
    for statement in [
        format!("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from) VALUES ({w}, '{ACCOUNT_SID}', {sealed}, '{{+14155550100}}', '+14155550199')"),
        format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, language, body, approval_status) VALUES ({w}, 'HX77', 'welcome', 'en', 'Welcome {{{{1}}}}, your code is {{{{2}}}}.', 'approved')"),
        format!("INSERT INTO clients (workspace_id, name, phone, opt_out_sms_at) VALUES ({w}, 'Grace Hopper', '+14155550123', now())"),
        format!("INSERT INTO communications (workspace_id, client_id, kind, occurred_at, notes, user_id) SELECT {w}, max(id), 'call', now() - interval '1 minute', 'Called about the order', {} FROM clients", admin.id),
    ] {
        diesel::sql_query(statement).execute(&mut app.conn()).unwrap();
    }
    let client = app.count("SELECT max(id) FROM clients");
    let template = app.count("SELECT max(id) FROM whatsapp_templates");
    let chrome = Chrome::start().await;
    chrome.client.set_window_size(1366, 900).await.expect("resize");
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/clients/{client}", app.base)).await;
    chrome.wait_for_heading("Grace Hopper").await;

    // Today's call reads "today HH:MM", the exact time in its title and datetime.
    let when = chrome.eval("var t = document.querySelector('#client-timeline .timeline time[datetime]'); return [t.textContent.trim(), t.title, t.getAttribute('datetime')];").await;
    assert!(when[0].as_str().unwrap().starts_with("today "), "{when}");
    assert!(when[1].as_str().unwrap().len() == 16 && when[2].as_str().unwrap().contains('T'), "{when}");

    // The open send form takes the card's width, not a third of it.
    chrome.click("#send-message summary").await;
    let widths = chrome.eval("return [document.querySelector('form.send-message').getBoundingClientRect().width, document.querySelector('#client-timeline').clientWidth];").await;
    let (form, card) = (widths[0].as_f64().unwrap(), widths[1].as_f64().unwrap());
    assert!(form > card * 0.8, "the send form is {form} px of a {card} px card");
    chrome.screenshot("client-send-form-desktop").await;

    // A refused template send keeps the template and the variables typed.
    chrome.eval(&format!("var s = document.getElementById('msg-template'); s.value = '{template}'; return null;")).await;
    chrome.fill("#msg-var-1", "Grace").await;
    chrome.click("form.send-message button[type='submit']").await;
    chrome.wait_for_text("#client-timeline", "Fill in variable {{2}} of the template.").await;
    let kept = chrome.eval("return [document.getElementById('msg-template').value, document.getElementById('msg-var-1').value, document.getElementById('send-message').open];").await;
    assert_eq!(kept, json!([template.to_string(), "Grace", true]), "the refused form keeps what was typed");
    // So does a refused SMS: the channel and the body.
    chrome.click("#send-message input[name='channel'][value='sms']").await;
    chrome.fill("#msg-body", "Your order is ready — pick it up today").await;
    chrome.click("form.send-message button[type='submit']").await;
    chrome.wait_for_text("#client-timeline", "Grace Hopper opted out of SMS messages.").await;
    let kept = chrome.eval("return [document.querySelector(\"#send-message input[name='channel']:checked\").value, document.getElementById('msg-body').value];").await;
    assert_eq!(kept, json!(["sms", "Your order is ready — pick it up today"]));
    assert_eq!(app.count("SELECT count(*) FROM messages"), 0);

    // Error pages keep the navigation while signed in.
    for path in ["/clients/987654", "/no-such-page"] {
        chrome.goto(&format!("{}{path}", app.base)).await;
        chrome.wait_for_heading("Not Found").await;
        let nav = chrome.eval("return [...document.querySelectorAll('header.topbar nav a')].map(a => a.getAttribute('href'));").await;
        assert!(nav.as_array().unwrap().contains(&json!("/clients")), "{path}: {nav}");
        assert!(chrome.text("#error-message").await.contains("does not exist"));
    }
    chrome.screenshot("error-404-signed-in").await;

    // The webhook URLs are whole on the page at both widths, and the Copy button copies.
    let key: String = {
        use switchboard::db::schema::workspaces;
        workspaces::table.find(w).select(workspaces::webhook_key).first(&mut app.conn()).unwrap()
    };
    for (width, label) in [(1366, "desktop"), (390, "phone")] {
        chrome.client.set_window_size(width, 900).await.expect("resize");
        chrome.goto(&format!("{}/settings/twilio", app.base)).await;
        chrome.wait_for_heading("Twilio").await;
        let seen = chrome
            .eval("return ['webhook-status', 'webhook-inbound'].map(function (id) { var f = document.getElementById(id); var b = document.querySelector('button[data-copy=\"' + id + '\"]'); \
                return { value: f.value, cut: f.scrollHeight > f.clientHeight + 1 || f.scrollWidth > f.clientWidth + 1, right: f.getBoundingClientRect().right, button: !!(b && b.getClientRects().length) && b.getBoundingClientRect().right <= window.innerWidth }; });")
            .await;
        for (i, kind) in ["status", "inbound"].iter().enumerate() {
            assert_eq!(seen[i]["value"], json!(format!("{}/webhooks/twilio/{key}/{kind}", app.base)));
            assert_eq!(seen[i]["cut"], json!(false), "{label}: the {kind} URL is cut off: {seen}");
            assert_eq!(seen[i]["button"], json!(true), "{label}: no Copy button for {kind}: {seen}");
        }
        let scroll = chrome.eval("return document.documentElement.scrollWidth <= window.innerWidth;").await;
        assert_eq!(scroll, json!(true), "{label}: the page scrolls sideways");
        chrome.eval("document.getElementById('webhooks').scrollIntoView(); return null;").await;
        chrome.screenshot(&format!("settings-twilio-webhooks-{label}")).await;
    }
    chrome.click("button[data-copy='webhook-status']").await;
    chrome.wait_for_text("button[data-copy='webhook-status']", "Copied").await;
    let selected = chrome.eval("var f = document.getElementById('webhook-status'); return f.selectionEnd - f.selectionStart === f.value.length;").await;
    assert_eq!(selected, json!(true), "the whole URL is selected");
    // Saved and shown again in place (a boosted swap): the fields stay fitted and no inline
    // style is applied (htmx copies attributes across a swap; the CSP refuses style ones).
    chrome.eval("document.getElementById('webhook-status').dataset.before = '1'; return null;").await;
    chrome.click("form[action='/settings/twilio'] button[type='submit']").await;
    for _ in 0..50 {
        if chrome.eval("var f = document.getElementById('webhook-status'); return !!f && !f.dataset.before && !!document.querySelector('button[data-copy=\"webhook-status\"]:not([hidden])');").await == json!(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}
