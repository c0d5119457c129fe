//! The main flows by keyboard alone (issue 10): the client list (skip link, search, rows
//! before the bulk bar, a bulk action) and an import (choose the file, map, start), with a
//! visible focus ring on everything that takes focus. No mouse clicks in these tests.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use serde_json::json;
use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

const TAB: char = '\u{E004}';
pub const ENTER: char = '\u{E007}';
const SPACE: char = ' ';
const DOWN: char = '\u{E015}';

pub async fn press(chrome: &Chrome, key: char) {
    let keys = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    chrome.client.perform_actions(keys).await.expect("key press");
}

pub async fn type_text(chrome: &Chrome, text: &str) {
    let mut keys = KeyActions::new("keyboard".into());
    for c in text.chars() {
        keys = keys.then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
    }
    chrome.client.perform_actions(keys).await.expect("typing");
}

/// What has focus: its id, or its tag and name, and whether a focus ring shows.
const FOCUSED: &str = "
    const e = document.activeElement; const s = getComputedStyle(e);
    const ring = (s.boxShadow && s.boxShadow !== 'none') || (s.outlineStyle !== 'none' && s.outlineWidth !== '0px');
    return { id: e.id || (e.tagName.toLowerCase() + ':' + (e.name || e.getAttribute('href') || '')), ring, inBulk: !!e.closest('#bulk'),
             row: !!e.closest('#clients-rows tbody') };";

/// Tabs until `done` says the focused element is the one wanted (at most `limit` presses),
/// checking that every stop shows a focus ring; returns the stops.
async fn tab_until(chrome: &Chrome, limit: usize, done: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
    let mut stops = Vec::new();
    for _ in 0..limit {
        press(chrome, TAB).await;
        let focused = chrome.eval(FOCUSED).await;
        assert_eq!(focused["ring"], json!(true), "no visible focus on {focused}");
        stops.push(focused.clone());
        if done(&focused) {
            return stops;
        }
    }
    panic!("never reached after {limit} tabs: {stops:?}");
}

#[tokio::test]
async fn the_client_list_works_from_the_keyboard() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    {
        use diesel::prelude::*;
        diesel::sql_query(format!(
            "INSERT INTO clients (workspace_id, name) SELECT {}, 'Client ' || g FROM generate_series(1, 5) g",
            admin.workspace_id
        ))
        .execute(&mut app.conn())
        .unwrap();
    }
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/clients", app.base)).await;
    chrome.wait_for_heading("Clients").await;

    // The first stop is the skip link; it takes focus past the navigation into the page.
    let first = tab_until(&chrome, 1, |_| true).await;
    assert_eq!(first[0]["id"], json!("a:#main"));
    assert_eq!(chrome.text(".skip-link").await, "Skip to clients");
    press(&chrome, ENTER).await;
    assert_eq!(chrome.eval("return document.activeElement.id;").await, json!("main"));

    // From there: the search box, then on to the rows, which come before the bulk form.
    let stops = tab_until(&chrome, 5, |f| f["id"] == json!("client-q")).await;
    assert!(stops.len() <= 5);
    type_text(&chrome, "Client 3").await;
    chrome.wait_for_text("#clients-count", "1 client").await;
    let stops = tab_until(&chrome, 30, |f| f["row"] == json!(true) && f["id"] == json!("input:client_ids")).await;
    assert!(stops.iter().all(|f| f["inBulk"] == json!(false)), "the bulk form comes after the rows: {stops:?}");
    // Tick the row with the space bar: the bulk bar appears and is next in the tab order.
    press(&chrome, SPACE).await;
    let bulk = tab_until(&chrome, 15, |f| f["id"] == json!("bulk-action")).await;
    assert!(bulk.last().unwrap()["inBulk"] == json!(true));
    // Choose "Add tag" with the arrow keys, type the tag, submit with Enter.
    press(&chrome, DOWN).await;
    press(&chrome, DOWN).await;
    assert_eq!(chrome.eval("return document.getElementById('bulk-action').value;").await, json!("tag"));
    tab_until(&chrome, 10, |f| f["id"] == json!("bulk-tag")).await;
    type_text(&chrome, "keyboard").await;
    press(&chrome, ENTER).await;
    chrome.wait_for_text("#flash", "Tagged 1 client.").await;
    assert_eq!(app.count("SELECT count(*) FROM client_tags ct JOIN clients c ON c.id = ct.client_id WHERE c.name = 'Client 3'"), 1);
    chrome.finish().await;
}

/// A search's status counts replace the tabs once they arrive (issue 20); a keyboard user on
/// a tab at that moment keeps their place (the focus went to the page's body).
#[tokio::test]
async fn the_status_tabs_keep_the_focus_when_their_counts_arrive() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    {
        use diesel::prelude::*;
        diesel::sql_query(format!("INSERT INTO clients (workspace_id, name, status) SELECT {}, 'Client ' || g, 'hot' FROM generate_series(1, 3) g", admin.workspace_id))
            .execute(&mut app.conn())
            .unwrap();
    }
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/clients?q=client", app.base)).await;
    chrome.wait_for_text("#client-tabs", "Hot 3").await;
    // Tab to "Hot" as a person would, then let the counts arrive again over it.
    tab_until(&chrome, 40, |f| f["id"] == json!("tab-hot") || f["id"].as_str().is_some_and(|id| id.contains("status=hot"))).await;
    let focused = chrome
        .eval("return htmx.ajax('GET', '/clients/counts?q=client', {target: '#client-tabs', swap: 'outerHTML'}).then(() => document.activeElement.textContent);")
        .await;
    assert_eq!(focused, json!("Hot 3"), "the focus stays on the tab");
    chrome.finish().await;
}

#[tokio::test]
async fn an_import_works_from_the_keyboard() {
    let app = spawn_app().await;
    app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let dir = std::env::temp_dir().join(format!("switchboard-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keyboard.csv");
    std::fs::write(&file, "Name,Email\nAda Lovelace,ada@example.com\nBroken,not-an-email\nGrace Hopper,grace@example.com\n").unwrap();
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/clients/import", app.base)).await;
    chrome.wait_for_heading("Import clients").await;
    // The file field is reached by Tab; WebDriver types the path into it as a person picks a file.
    tab_until(&chrome, 25, |f| f["id"] == json!("import-file")).await;
    chrome.client.active_element().await.unwrap().send_keys(&file.display().to_string()).await.unwrap();
    let submit = tab_until(&chrome, 5, |f| f["id"].as_str().is_some_and(|id| id.starts_with("button:"))).await;
    assert!(!submit.is_empty());
    press(&chrome, ENTER).await;
    chrome.wait_for_heading("Import of keyboard.csv").await;
    // Mapping: reach the "skip invalid rows" choice, pick it with the space bar, start with Enter.
    tab_until(&chrome, 40, |f| f["id"] == json!("input:mode")).await;
    for _ in 0..3 {
        if chrome.eval("return document.activeElement.value;").await == json!("skip_invalid") {
            break;
        }
        press(&chrome, DOWN).await;
    }
    press(&chrome, SPACE).await;
    assert_eq!(chrome.eval("return document.querySelector('input[name=mode]:checked').value;").await, json!("skip_invalid"));
    tab_until(&chrome, 10, |f| f["id"].as_str().is_some_and(|id| id.starts_with("button:"))).await;
    press(&chrome, ENTER).await;
    chrome.wait_for_text("#import-progress", "Import finished.").await;
    assert_eq!(app.count("SELECT count(*) FROM clients"), 2);
    let _ = std::fs::remove_dir_all(dir);
    chrome.finish().await;
}
