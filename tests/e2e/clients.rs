use switchboard::authz::Role;
use serde_json::json;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

#[tokio::test]
async fn search_a_client_by_typing_open_it_log_a_call_and_complete_a_follow_up() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    {
        use diesel::prelude::*;
        diesel::sql_query(format!(
            "INSERT INTO clients (workspace_id, name, assigned_to) VALUES ({0}, 'Grace Hopper', {1}), ({0}, 'Alan Turing', {1}), ({0}, 'Ada Lovelace', {1})",
            admin.workspace_id, admin.id
        ))
        .execute(&mut app.conn())
        .unwrap();
    }
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;

    chrome.click("nav a[href='/clients']").await;
    chrome.wait_for_heading("Clients").await;
    // Typing searches as you type; the URL follows.
    chrome.wait_for("#client-q").await.send_keys("hop").await.unwrap();
    let mut rows = String::new();
    for _ in 0..50 {
        rows = chrome.text("#clients-rows").await;
        if !rows.contains("Alan Turing") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(rows.contains("Grace Hopper") && !rows.contains("Alan Turing"), "{rows}");
    assert!(chrome.path().await.contains("q=hop"));
    // The search's counts follow its rows (issue 20): the tabs, the count line and the
    // select-all label fill in without a reload.
    chrome.wait_for_text("#client-tabs", "All 1").await;
    chrome.wait_for_text("#clients-count", "1 client").await;
    assert!(chrome.text("#client-tabs").await.contains("Inactive 0"));
    chrome.screenshot("clients-search-counted-desktop").await;
    chrome.client.set_window_size(390, 844).await.expect("resize");
    chrome.screenshot("clients-search-counted-phone").await;
    chrome.client.set_window_size(1366, 900).await.expect("resize");

    chrome.click("#clients-rows tbody a").await;
    chrome.wait_for_heading("Grace Hopper").await;
    // Log a call through htmx: the form opens from its button; the timeline and the
    // last-contacted field are swapped in place, and the page says so.
    assert_eq!(chrome.text("#last-contacted").await, "never");
    chrome.eval("window.__marker = 1; return null;").await;
    chrome.click("#log-activity summary").await;
    chrome.fill("#comm-when", "2026-11-20 16:45").await;
    chrome.fill("#comm-notes", "Talked about compilers").await;
    chrome.click("form[action$='/communications'] button").await;
    chrome.wait_for_text("#client-timeline", "Talked about compilers").await;
    assert!(chrome.text("#client-timeline").await.contains("Call logged."));
    assert_eq!(chrome.text("#last-contacted").await, "2026-11-20 16:45", "updated in place");
    assert_eq!(chrome.eval("return window.__marker || null;").await, serde_json::json!(1), "no page reload");

    chrome.click("#add-follow-up summary").await;
    chrome.fill("#fu-notes", "Send the paper").await;
    chrome.click("form[action$='/follow-ups'] button").await;
    chrome.click("form[action^='/follow-ups/'] button").await;
    for _ in 0..50 {
        if app.count("SELECT count(*) FROM follow_ups WHERE status = 'completed'") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM follow_ups WHERE status = 'completed' AND notes = 'Send the paper'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Grace Hopper' AND last_contacted_at IS NOT NULL"), 1);
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}

#[tokio::test]
async fn filter_by_status_and_bulk_assign_two_clients() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let agent = app.create_user_named("Acme", "bo@acme.test", "Bo Agent", Role::Agent);
    {
        use diesel::prelude::*;
        diesel::sql_query(format!(
            "INSERT INTO clients (workspace_id, name, status) VALUES ({0}, 'Hot One', 'hot'), ({0}, 'Hot Two', 'hot'), ({0}, 'Cold Three', 'inactive')",
            admin.workspace_id
        ))
        .execute(&mut app.conn())
        .unwrap();
    }
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/clients", app.base)).await;
    chrome.wait_for_heading("Clients").await;

    // Choosing a status filters in place (htmx) and the URL keeps the state.
    chrome.click("#client-status option[value='hot']").await;
    let mut rows = String::new();
    for _ in 0..50 {
        rows = chrome.text("#clients-rows").await;
        if !rows.contains("Cold Three") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(rows.contains("Hot One") && rows.contains("Hot Two") && !rows.contains("Cold Three"), "{rows}");
    assert!(chrome.path().await.contains("status=hot"));

    // Tick both rows and assign them to Bo.
    chrome.click("#clients-rows input[name=client_ids]").await;
    chrome.click("#clients-rows tr:nth-child(2) input[name=client_ids]").await;
    chrome.click("#bulk-action option[value='assign']").await;
    chrome.click(&format!("#bulk-assign option[value='{}']", agent.id)).await;
    chrome.click("#bulk button[type=submit]").await;
    chrome.wait_for_text("#flash", "Assigned 2 clients.").await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE assigned_to = {} AND status = 'hot'", agent.id)), 2);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE assigned_to IS NOT NULL"), 2);
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}

/// Issue 10 item 9: the bulk bar appears with a ticked row and shows the chosen action's
/// controls only; the select-all box ticks the page and then offers every matching client;
/// `/` focuses the search unless one is typing in a field.
#[tokio::test]
async fn ticking_shows_the_bulk_bar_select_all_ticks_the_page_and_slash_focuses_the_search() {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    {
        use diesel::prelude::*;
        diesel::sql_query(format!("INSERT INTO clients (workspace_id, name) SELECT {}, 'Client ' || g FROM generate_series(1, 3) g", admin.workspace_id))
            .execute(&mut app.conn())
            .unwrap();
        // A campaign, so the bar offers "Add to campaign".
        diesel::sql_query(format!("INSERT INTO campaigns (workspace_id, name, channels) VALUES ({}, 'Spring', ARRAY['sms'])", admin.workspace_id))
            .execute(&mut app.conn())
            .unwrap();
    }
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/clients", app.base)).await;
    chrome.wait_for_heading("Clients").await;
    let shown = |css: &str| format!("var e = document.querySelector('{css}'); return !!(e && e.getClientRects().length);");
    let checked = "return document.querySelectorAll('#clients-rows input[name=client_ids]:checked').length;";

    // Issue 19.12: the phone column took the WhatsApp preview's `.phone` look (beige, padded).
    let cell = chrome.eval("var s = getComputedStyle(document.querySelector('#clients-rows td.phone')); return [s.backgroundColor, s.paddingLeft];").await;
    assert_ne!(cell[0], json!("rgb(229, 221, 213)"), "the phone cell is not the preview's beige: {cell}");
    assert_ne!(cell[1], json!("16px"), "nor its padding: {cell}");
    assert_eq!(chrome.eval(&shown("#bulk")).await, json!(false), "no bulk bar before anything is ticked");
    assert_eq!(chrome.eval(&shown("#select-matching")).await, json!(false));
    chrome.click("#clients-rows input[name=client_ids]").await;
    assert_eq!(chrome.eval(&shown("#bulk")).await, json!(true), "a ticked row shows the bulk bar");
    assert_eq!(chrome.eval(&shown("#bulk-status")).await, json!(true));
    assert_eq!(chrome.eval(&shown("#bulk-tag")).await, json!(false), "only the chosen action's controls");
    chrome.click("#bulk-action option[value='tag']").await;
    assert_eq!(chrome.eval(&shown("#bulk-tag")).await, json!(true));
    assert_eq!(chrome.eval(&shown("#bulk-status")).await, json!(false));
    // Issue 19.13: "Add to campaign" showed every action's fields, the delete confirmation too.
    chrome.click("#bulk-action option[value='campaign']").await;
    assert_eq!(chrome.eval(&shown("#bulk-campaign")).await, json!(true));
    for other in ["#bulk-tag", "#bulk-status", "#bulk-assign", "#bulk input[name=confirm]"] {
        assert_eq!(chrome.eval(&shown(other)).await, json!(false), "{other} hidden with Add to campaign");
    }
    chrome.click("#bulk-action option[value='tag']").await;
    chrome.click("#clients-rows input[name=client_ids]").await;
    assert_eq!(chrome.eval(&shown("#bulk")).await, json!(false), "unticked: the bar goes");

    chrome.click("#select-page").await;
    assert_eq!(chrome.eval(checked).await, json!(3), "select-all ticks the page");
    assert_eq!(chrome.eval(&shown("#select-matching")).await, json!(true), "then offers all matching");
    chrome.click("#select-matching").await;
    chrome.fill("#bulk-tag", "vip").await;
    chrome.click("#bulk button[type=submit]").await;
    chrome.wait_for_text("#flash", "Tagged 3 clients.").await;
    chrome.click("#select-page").await;
    chrome.click("#select-page").await;
    assert_eq!(chrome.eval(checked).await, json!(0), "unticking it unticks the page");

    // "/" anywhere but a field focuses the search; in the field it is typed.
    chrome.eval("document.activeElement.blur(); return null;").await;
    let slash = || KeyActions::new("keyboard".into()).then(KeyAction::Down { value: '/' }).then(KeyAction::Up { value: '/' });
    chrome.client.perform_actions(slash()).await.unwrap();
    assert_eq!(chrome.eval("return document.activeElement.id;").await, json!("client-q"));
    assert_eq!(chrome.eval("return document.getElementById('client-q').value;").await, json!(""));
    chrome.client.perform_actions(slash()).await.unwrap();
    assert_eq!(chrome.eval("return document.getElementById('client-q').value;").await, json!("/"), "typing in a field is left alone");
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}

/// The client page with both forms open, and the import form, fit a phone (390 px) without
/// sideways scroll; screenshots at 1366 and 390 px go to the temp folder for a look.
#[tokio::test]
async fn the_client_page_forms_and_the_import_drop_zone_fit_a_phone() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    {
        use diesel::prelude::*;
        diesel::sql_query(format!("INSERT INTO clients (workspace_id, name, assigned_to) VALUES ({0}, 'Grace Hopper', {1})", admin.workspace_id, admin.id))
            .execute(&mut app.conn())
            .unwrap();
    }
    let id = app.count("SELECT id FROM clients");
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    for (width, height) in [(1366, 900), (390, 844)] {
        chrome.client.set_window_size(width, height).await.expect("resize");
        chrome.goto(&format!("{}/clients/{id}", app.base)).await;
        chrome.wait_for_heading("Grace Hopper").await;
        chrome.click("#log-activity summary").await;
        chrome.click("#add-follow-up summary").await;
        let seen = chrome.eval("return [document.documentElement.scrollWidth, window.innerWidth];").await;
        assert!(seen[0].as_i64() <= seen[1].as_i64(), "the client page scrolls sideways at {width}: {seen}");
        let shot = chrome.client.screenshot().await.expect("screenshot");
        std::fs::write(std::env::temp_dir().join(format!("client-page-{width}.png")), shot).unwrap();
        chrome.goto(&format!("{}/clients/import", app.base)).await;
        chrome.wait_for_heading("Import clients").await;
        let seen = chrome.eval("return [document.documentElement.scrollWidth, window.innerWidth, document.querySelector('.drop-zone').getBoundingClientRect().height];").await;
        assert!(seen[0].as_i64() <= seen[1].as_i64(), "the import page scrolls sideways at {width}: {seen}");
        assert!(seen[2].as_f64().unwrap() >= 120.0, "a large drop zone: {seen}");
        let shot = chrome.client.screenshot().await.expect("screenshot");
        std::fs::write(std::env::temp_dir().join(format!("import-page-{width}.png")), shot).unwrap();
    }
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}
