//! Issue 12 parts 1-2 in the browser: create a campaign, attach the clients of the client
//! list's filter through the bulk bar's "Add to campaign" and its Confirm page, start it;
//! the campaign pages fit 1366 and 390 px without sideways scroll (screenshots under
//! target/screenshots).

use switchboard::users::role::Role;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

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
    assert!(words.contains("Clients status hot: about 2."), "{words}");
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
    chrome.client.clone().close().await.unwrap();
}
