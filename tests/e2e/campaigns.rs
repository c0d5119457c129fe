//! Issue 12 parts 1-2 in the browser: create a campaign, attach the clients of the client
//! list's filter through the bulk bar's "Add to campaign" and its Confirm page, start it;
//! the campaign pages fit 1366 and 390 px without sideways scroll (screenshots under
//! target/screenshots).
//!
//! And the issue's end-to-end run: the same, then a WhatsApp template batch sent by the
//! app's own job worker to the fake Twilio, which posts signed status callbacks back; the
//! recipients page fills to delivered by its own polling; a throttled second batch paused
//! mid-send and resumed, each recipient sent exactly once.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::app_talking_to;
use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, sealed_token_sql};
use crate::support::{PASSWORD, TestApp, spawn_app};

const SIDEWAYS: &str = "return [document.documentElement.scrollWidth, window.innerWidth];";

#[tokio::test]
async fn create_a_campaign_attach_the_filtered_clients_from_the_client_list_and_start_it() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let w = admin.workspace_id;
    {
        use diesel::prelude::*;
        for statement in [
            format!("INSERT INTO clients (workspace_id, name, status) VALUES ({w}, 'Hot One', 'hot'), ({w}, 'Hot Two', 'hot'), ({w}, 'Cold Three', 'inactive')"),
            format!("UPDATE clients SET opt_out_whatsapp_at = now() WHERE workspace_id = {w} AND name = 'Hot Two'"),
            format!(
                "INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from) \
                 VALUES ({w}, 'AC00000000000000000000000000000000', '\\x00'::bytea, ARRAY['+14155550100'])"
            ),
            format!("INSERT INTO departments (workspace_id, name) VALUES ({w}, 'Sales')"),
        ] {
            diesel::sql_query(statement).execute(&mut app.conn()).unwrap();
        }
    }
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;

    // Create: the nav link, the form, a field error, then a campaign.
    chrome.click("nav a[href='/campaigns']").await;
    chrome.wait_for_heading("Campaigns").await;
    chrome.click("main a[href='/campaigns/new']").await;
    chrome.wait_for_heading("New campaign").await;
    chrome.fill("#campaign-name", "Spring sale").await;
    chrome.click("form.campaign-form button[type=submit]").await;
    chrome.wait_for_text("#main", "Choose the WhatsApp number to send from.").await;
    chrome.click("#campaign-whatsapp-from option[value='+14155550100']").await;
    chrome.click("form.campaign-form button[type=submit]").await;
    chrome.wait_for_heading("Spring sale").await;
    chrome.wait_for_text("#flash", "Campaign created.").await;
    let campaign = app.count("SELECT max(id) FROM campaigns");

    // The client list's filter, everything matching, "Add to campaign".
    chrome.goto(&format!("{}/clients", app.base)).await;
    chrome.wait_for_heading("Clients").await;
    chrome.click("#client-status option[value='hot']").await;
    for _ in 0..50 {
        if !chrome.text("#clients-rows").await.contains("Cold Three") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    chrome.click("#select-page").await;
    chrome.click("#select-matching").await;
    chrome.click("#bulk-action option[value='campaign']").await;
    chrome.click(&format!("#bulk-campaign option[value='{campaign}']")).await;
    chrome.click("#bulk button[type=submit]").await;
    chrome.wait_for_heading("Attach clients").await;
    let words = chrome.text("#attach-confirm").await;
    assert!(words.contains("Clients status hot: 2."), "{words}");
    assert!(words.contains("1 has opted out of WhatsApp and will be skipped."), "{words}");
    assert_eq!(app.count("SELECT count(*) FROM campaign_clients"), 0, "nothing attached before Confirm");
    chrome.click("#attach-confirm button[type=submit]").await;
    chrome.wait_for_heading("Spring sale").await;
    chrome.wait_for_text("#flash", "2 attached, 0 already there; 1 has opted out of WhatsApp and will be skipped.").await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_clients WHERE campaign_id = {campaign}")), 2);
    assert!(chrome.text("#campaign-audience").await.contains("2 clients attached."));

    // Start it.
    chrome.click(&format!("form[action='/campaigns/{campaign}/start'] button")).await;
    chrome.wait_for_text("#flash", "Campaign started.").await;
    assert!(chrome.text("#campaign-summary").await.contains("active"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {campaign} AND status = 'active'")), 1);

    for (width, height) in [(1366, 900), (390, 844)] {
        chrome.client.set_window_size(width, height).await.expect("resize");
        for (path, heading, name) in [
            (format!("/campaigns/{campaign}"), "Spring sale", "campaign"),
            ("/campaigns".to_string(), "Campaigns", "campaigns"),
            ("/campaigns/new".to_string(), "New campaign", "campaign-new"),
            (format!("/campaigns/{campaign}/attach-clients?mode=filter&status=hot"), "Attach clients", "campaign-attach"),
        ] {
            chrome.goto(&format!("{}{path}", app.base)).await;
            chrome.wait_for_heading(heading).await;
            let seen = chrome.eval(SIDEWAYS).await;
            assert!(seen[0].as_i64() <= seen[1].as_i64(), "{path} scrolls sideways at {width}: {seen}");
            chrome.screenshot(&format!("{name}-{width}")).await;
            assert_eq!(chrome.axe_violations().await, Vec::<String>::new(), "{path} at {width}");
        }
    }
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}

fn run_sql(app: &TestApp, statement: &str) {
    diesel::sql_query(statement).execute(&mut app.conn()).unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// The number in the recipients page's counter `key` (`delivered`, `queued`…).
async fn page_count(chrome: &Chrome, key: &str) -> i64 {
    let text = chrome.text(&format!("#recipients-live [data-count='{key}']")).await;
    text.trim().parse().unwrap_or_else(|_| panic!("counter {key} reads {text:?}"))
}

/// Waits (polling the page, which refreshes itself on the batch's live events) until the counter `key` reads `n`.
async fn wait_for_count(chrome: &Chrome, key: &str, n: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let seen = page_count(chrome, key).await;
        if seen == n {
            return;
        }
        assert!(Instant::now() < deadline, "the page's {key} count stayed at {seen}, not {n}:\n{}", chrome.text("#recipients-live").await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends the fake took for numbers starting with `prefix` (`whatsapp:+1415600`).
fn sends(fake: &FakeTwilio, prefix: &str) -> usize {
    fake.messages().iter().filter(|m| m.to.starts_with(prefix)).count()
}

async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Picks the approved template on the WhatsApp batch form, maps {{1}} to the client's name,
/// checks the live preview shows `preview`, and creates the batch; returns its recipients
/// page's path and the batch id.
async fn whatsapp_batch(chrome: &Chrome, app: &TestApp, campaign: i64, preview: &str) -> (String, i64) {
    chrome.goto(&format!("{}/campaigns/{campaign}/whatsapp-messages", app.base)).await;
    chrome.wait_for_heading("New WhatsApp batch").await;
    chrome.click("#batch-template option[value]:not([value=''])").await;
    chrome.fill("#batch-var-1", "name").await;
    chrome.wait_for_text("#batch-preview", preview).await;
    chrome.click("#batch-form button[type=submit]").await;
    let batch = {
        let mut id = 0;
        until("the batch row", Duration::from_secs(10), || {
            id = app.count(&format!("SELECT coalesce(max(id), 0) FROM campaign_batches WHERE campaign_id = {campaign}"));
            id > 0
        })
        .await;
        id
    };
    chrome.wait_for_heading(&format!("WhatsApp batch #{batch}: recipients")).await;
    let path = chrome.path().await;
    assert_eq!(path, format!("/campaigns/{campaign}/whatsapp-messages/{batch}/recipients"));
    (path, batch)
}

#[tokio::test]
async fn a_whatsapp_template_batch_fills_to_delivered_and_a_throttled_one_pauses_and_resumes() {
    let fake = FakeTwilio::start();
    let app = app_talking_to(&fake).await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let w = admin.workspace_id;
    let sealed = sealed_token_sql();
    for statement in [
        format!("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, whatsapp_rate) VALUES ({w}, '{ACCOUNT_SID}', {sealed}, '{{+14155550100}}', 50)"),
        format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, language, body, approval_status) VALUES ({w}, 'HX0000000000000000000000000000a001', 'spring_offer', 'en', 'Hi {{{{1}}}}, the spring sale starts today.', 'approved')"),
        format!("INSERT INTO clients (workspace_id, name, phone, status) VALUES ({w}, 'Ada Hot', '+14155550101', 'hot'), ({w}, 'Ben Hot', '+14155550102', 'hot'), ({w}, 'Cy Hot', '+14155550103', 'hot'), ({w}, 'Dee Cold', '+14155550104', 'inactive')"),
    ] {
        run_sql(&app, &statement);
    }
    // Twilio delivers every message the app has recorded (its SID stored), posting signed
    // `sent` then `delivered` callbacks to the message's StatusCallback.
    let pool = app.pool.clone();
    let deliveries = fake.auto_deliver(move |m| {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let Ok(mut conn) = pool.get() else { return false };
        diesel::sql_query("SELECT count(*) AS n FROM messages WHERE provider_id = $1")
            .bind::<diesel::sql_types::Text, _>(&m.sid)
            .get_result::<N>(&mut conn)
            .is_ok_and(|r| r.n == 1)
    });

    let chrome = Chrome::start().await;
    chrome.client.set_window_size(1366, 900).await.expect("resize");
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;

    // Create the campaign.
    chrome.goto(&format!("{}/campaigns/new", app.base)).await;
    chrome.wait_for_heading("New campaign").await;
    chrome.fill("#campaign-name", "Spring sale").await;
    chrome.click("#campaign-whatsapp-from option[value='+14155550100']").await;
    chrome.click("form.campaign-form button[type=submit]").await;
    chrome.wait_for_heading("Spring sale").await;
    let campaign = app.count("SELECT max(id) FROM campaigns");

    // Attach the hot clients: the client list's filter, the bulk bar, the filter in words, Confirm.
    chrome.goto(&format!("{}/clients", app.base)).await;
    chrome.wait_for_heading("Clients").await;
    chrome.click("#client-status option[value='hot']").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while chrome.text("#clients-rows").await.contains("Dee Cold") {
        assert!(Instant::now() < deadline, "the filter never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    chrome.click("#select-page").await;
    chrome.click("#select-matching").await;
    chrome.click("#bulk-action option[value='campaign']").await;
    chrome.click(&format!("#bulk-campaign option[value='{campaign}']")).await;
    chrome.click("#bulk button[type=submit]").await;
    chrome.wait_for_heading("Attach clients").await;
    let words = chrome.text("#attach-confirm").await;
    assert!(words.contains("Clients status hot: 3."), "{words}");
    chrome.click("#attach-confirm button[type=submit]").await;
    chrome.wait_for_heading("Spring sale").await;
    chrome.wait_for_text("#flash", "3 attached, 0 already there").await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_clients WHERE campaign_id = {campaign}")), 3);
    chrome.click(&format!("form[action='/campaigns/{campaign}/start'] button")).await;
    chrome.wait_for_text("#flash", "Campaign started.").await;

    // The template batch: the preview shows the first attached client's name.
    let (_, batch) = whatsapp_batch(&chrome, &app, campaign, "Hi Ada Hot, the spring sale starts today.").await;
    chrome.wait_for_text("#flash", &format!("Batch {batch}: sending to 3 recipients now.")).await;
    chrome.eval("window.__marker = 1; return null;").await;
    // The page fills by itself (on the batch's `batch-<id>` live events) until every recipient is delivered.
    wait_for_count(&chrome, "delivered", 3, Duration::from_secs(40)).await;
    assert_eq!(chrome.eval("return window.__marker || null;").await, serde_json::json!(1), "filled in place, no reload");
    for key in ["queued", "sending", "sent", "failed", "skipped"] {
        assert_eq!(page_count(&chrome, key).await, 0, "{key}");
    }
    assert_eq!((chrome.text("#batch-done").await, chrome.text("#batch-total").await), ("3".to_string(), "3".to_string()));
    let progress = chrome.eval("const p = document.getElementById('batch-progress'); return [p.value, p.max];").await;
    assert_eq!(progress, serde_json::json!([3, 3]));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {batch} AND status = 'delivered'")), 3, "the page's numbers are the rows'");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {batch}")), 3);
    let sent = fake.messages();
    assert_eq!(sent.len(), 3);
    let mut to: Vec<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["whatsapp:+14155550101", "whatsapp:+14155550102", "whatsapp:+14155550103"]);
    let ada = sent.iter().find(|m| m.to == "whatsapp:+14155550101").unwrap();
    assert_eq!(ada.content_variables.as_deref(), Some(r#"{"1":"Ada Hot"}"#));
    assert!(!chrome.client.source().await.unwrap().contains(AUTH_TOKEN), "the token is never on a page");

    // A throttled second batch: 20 recipients at 1 message a second (room to pause mid-send).
    run_sql(&app, &format!("UPDATE twilio_settings SET whatsapp_rate = 1 WHERE workspace_id = {w}"));
    run_sql(&app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status, whatsapp_from) VALUES ({w}, 'Summer sale', ARRAY['whatsapp'], 'active', '+14155550100')"));
    let summer = app.count("SELECT max(id) FROM campaigns");
    run_sql(&app, &format!(
        "WITH c AS (INSERT INTO clients (workspace_id, name, phone) \
           SELECT {w}, 'Client ' || lpad(g::text, 2, '0'), '+14156000' || lpad(g::text, 3, '0') FROM generate_series(1, 20) g RETURNING id) \
         INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) SELECT {w}, {summer}, id FROM c"
    ));
    let prefix = "whatsapp:+14156000";
    let (recipients, second) = whatsapp_batch(&chrome, &app, summer, "Hi Client 01, the spring sale starts today.").await;
    until("the first throttled sends", Duration::from_secs(20), || sends(&fake, prefix) >= 2).await;
    // Mid-send on the page too (its next live event).
    let deadline = Instant::now() + Duration::from_secs(10);
    while chrome.text("#batch-done").await.trim() == "0" {
        assert!(Instant::now() < deadline, "the page never showed progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(chrome.eval("return document.getElementById('recipients-live').dataset.batchStatus;").await, serde_json::json!("sending"));
    for width in [1366, 390] {
        chrome.client.set_window_size(width, if width == 390 { 844 } else { 900 }).await.expect("resize");
        chrome.wait_for("#batch-progress").await;
        chrome.screenshot(&format!("campaign-recipients-sending-{width}")).await;
    }
    chrome.client.set_window_size(1366, 900).await.expect("resize");

    // Pause while it is sending.
    chrome.goto(&format!("{}/campaigns/{summer}", app.base)).await;
    chrome.wait_for_heading("Summer sale").await;
    chrome.click(&format!("form[action='/campaigns/{summer}/pause'] button")).await;
    chrome.wait_for_text("#flash", "Campaign paused: no new messages go out until you resume it.").await;
    assert!(chrome.text("#campaign-summary").await.contains("paused"));
    assert_eq!(chrome.text(&format!("form[action='/campaigns/{summer}/start'] button")).await, "Resume");
    // The dispatch ends (a send in flight finishes first); then nothing more goes out.
    until("the paused dispatch to end", Duration::from_secs(10), || {
        app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch' AND status IN ('queued', 'running', 'failed') AND payload->>'batch_id' = '{second}'")) == 0
    })
    .await;
    let at_pause = sends(&fake, prefix);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sends(&fake, prefix), at_pause, "no send while paused");
    assert!((2..20).contains(&at_pause), "paused mid-send: {at_pause} of 20");
    let queued = app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {second} AND status = 'queued'"));
    assert_eq!(queued, 20 - at_pause as i64, "the rest waits, queued");
    chrome.goto(&format!("{}{recipients}", app.base)).await;
    wait_for_count(&chrome, "queued", queued, Duration::from_secs(10)).await;

    // Resume: the rest goes out, each recipient exactly once.
    chrome.goto(&format!("{}/campaigns/{summer}", app.base)).await;
    chrome.wait_for_heading("Summer sale").await;
    chrome.click(&format!("form[action='/campaigns/{summer}/start'] button")).await;
    chrome.wait_for_text("#flash", "Campaign started.").await;
    chrome.goto(&format!("{}{recipients}", app.base)).await;
    wait_for_count(&chrome, "delivered", 20, Duration::from_secs(60)).await;
    assert_eq!((chrome.text("#batch-done").await, chrome.text("#batch-total").await), ("20".to_string(), "20".to_string()));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {second} AND status = 'delivered'")), 20);
    assert_eq!(sends(&fake, prefix), 20);
    // Done: the page keeps listening (late receipts and replies, issue 19.2), its fallback
    // poll slower.
    assert_eq!(
        chrome.eval("const l = document.getElementById('recipients-live'); return [l.dataset.batchStatus, l.getAttribute('hx-trigger')];").await,
        serde_json::json!(["done", format!("sse:batch-{second}, every 60s")])
    );
    for n in 1..=20 {
        assert_eq!(fake.sends_to(&format!("{prefix}{n:03}")), 1, "client {n} exactly once");
    }
    for width in [1366, 390] {
        chrome.client.set_window_size(width, if width == 390 { 844 } else { 900 }).await.expect("resize");
        chrome.wait_for("#batch-progress").await;
        let seen = chrome.eval(SIDEWAYS).await;
        assert!(seen[0].as_i64() <= seen[1].as_i64(), "the recipients page scrolls sideways at {width}: {seen}");
        chrome.screenshot(&format!("campaign-recipients-done-{width}")).await;
    }
    assert_eq!(*deliveries.refused.lock().unwrap(), Vec::<String>::new(), "every signed callback was taken");
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}

/// Issue 19 item 16 in the browser: a draft edited, its audience listed, searched and
/// trimmed, then duplicated, and the copy deleted after its confirmation.
#[tokio::test]
async fn edit_a_draft_trim_its_audience_duplicate_it_and_delete_the_copy() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let w = admin.workspace_id;
    for statement in [
        format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Hot One', '+14155550101'), ({w}, 'Hot Two', '+14155550102'), ({w}, 'Cold Three', '+14155550103')"),
        format!("INSERT INTO campaigns (workspace_id, name, channels) VALUES ({w}, 'Sprng sale', ARRAY['sms'])"),
        format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) SELECT {w}, (SELECT max(id) FROM campaigns), id FROM clients WHERE workspace_id = {w}"),
    ] {
        run_sql(&app, &statement);
    }
    let campaign = app.count("SELECT max(id) FROM campaigns");
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;

    // Edit the draft: the typo in its name.
    chrome.goto(&format!("{}/campaigns/{campaign}", app.base)).await;
    chrome.wait_for_heading("Sprng sale").await;
    chrome.click(&format!("#campaign-manage a[href='/campaigns/{campaign}/edit']")).await;
    chrome.wait_for_heading("Edit “Sprng sale”").await;
    chrome.fill("#campaign-name", "Spring sale").await;
    chrome.click("form.campaign-form button[type=submit]").await;
    chrome.wait_for_heading("Spring sale").await;
    chrome.wait_for_text("#flash", "Campaign saved.").await;

    // The audience: listed, searched, one removed.
    chrome.click(&format!("#campaign-audience a[href='/campaigns/{campaign}/clients']")).await;
    chrome.wait_for_heading("Audience of Spring sale").await;
    let list = chrome.text("#campaign-audience-list").await;
    assert!(list.contains("3 clients attached.") && list.contains("Cold Three") && list.contains("Hot Two"), "{list}");
    chrome.fill("#audience-q", "cold").await;
    chrome.click("#campaign-audience-list form[role=search] button").await;
    for _ in 0..50 {
        if !chrome.text("#campaign-audience-list").await.contains("Hot One") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = chrome.text("#campaign-audience-list table").await;
    assert!(found.contains("Cold Three") && !found.contains("Hot One"), "{found}");
    chrome.eval("window.confirm = () => true; return true;").await;
    chrome.click("#campaign-audience-list tr[data-client] form button").await;
    chrome.wait_for_text("#flash", "Cold Three removed from the audience.").await;
    assert!(chrome.text("#campaign-audience-list").await.contains("2 clients attached."));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_clients WHERE campaign_id = {campaign}")), 2);

    // Duplicate it, then delete the copy (the box ticked first).
    chrome.goto(&format!("{}/campaigns/{campaign}", app.base)).await;
    chrome.wait_for_heading("Spring sale").await;
    chrome.click(&format!("form[action='/campaigns/{campaign}/duplicate'] button")).await;
    chrome.wait_for_heading("Copy of Spring sale").await;
    chrome.wait_for_text("#flash", "Copied as a new draft with the same settings and 2 clients").await;
    let copy = app.count("SELECT max(id) FROM campaigns");
    assert!(copy != campaign);
    assert!(chrome.text("#campaign-audience").await.contains("2 clients attached."));
    for (width, height) in [(1366, 900), (390, 844)] {
        chrome.client.set_window_size(width, height).await.expect("resize");
        for (path, heading, name) in [
            (format!("/campaigns/{copy}"), "Copy of Spring sale", "campaign-draft"),
            (format!("/campaigns/{copy}/edit"), "Edit “Copy of Spring sale”", "campaign-edit"),
            (format!("/campaigns/{copy}/clients"), "Audience of Copy of Spring sale", "campaign-audience"),
        ] {
            chrome.goto(&format!("{}{path}", app.base)).await;
            chrome.wait_for_heading(heading).await;
            let seen = chrome.eval(SIDEWAYS).await;
            assert!(seen[0].as_i64() <= seen[1].as_i64(), "{path} scrolls sideways at {width}: {seen}");
            chrome.screenshot(&format!("{name}-{width}")).await;
            assert_eq!(chrome.axe_violations().await, Vec::<String>::new(), "{path} at {width}");
        }
    }
    chrome.goto(&format!("{}/campaigns/{copy}", app.base)).await;
    chrome.wait_for_heading("Copy of Spring sale").await;
    chrome.click("#campaign-delete input[name=confirm]").await;
    chrome.click("#campaign-delete button[type=submit]").await;
    chrome.wait_for_heading("Campaigns").await;
    chrome.wait_for_text("#flash", "Campaign “Copy of Spring sale” deleted.").await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {copy}")), 0);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {campaign}")), 1);
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}
