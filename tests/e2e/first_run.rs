//! Issue 10 item 7: `/setup` takes the browser's time zone and that zone's phone country.

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

#[tokio::test]
async fn setup_pre_fills_the_browser_s_zone_and_its_country() {
    let app = spawn_app().await;
    let chrome = Chrome::start_in_zone(Some("Europe/Istanbul")).await;
    chrome.goto(&format!("{}/setup", app.base)).await;
    chrome.wait_for_heading("Welcome to Switchboard").await;
    let zone = chrome.eval("return [Intl.DateTimeFormat().resolvedOptions().timeZone, document.getElementById('time_zone').value, document.getElementById('default_country').value];").await;
    assert_eq!(zone, serde_json::json!(["Europe/Istanbul", "Europe/Istanbul", "TR"]), "the browser's zone and its country are pre-filled");
    chrome.fill("#workspace", "Acme").await;
    chrome.fill("#name", "Ann Admin").await;
    chrome.fill("#email", "ann@acme.test").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_heading("Dashboard").await;
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE time_zone = 'Europe/Istanbul' AND default_country = 'TR'"), 1);
    let steps = chrome.wait_for("#setup-checklist").await.text().await.unwrap();
    assert!(steps.contains("Import clients") && steps.contains("coming soon"), "{steps}");
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn setup_keeps_a_valid_zone_in_the_machine_s_zone() {
    let app = spawn_app().await;
    let chrome = Chrome::start().await;
    chrome.goto(&format!("{}/setup", app.base)).await;
    chrome.wait_for_heading("Welcome to Switchboard").await;
    let zone = chrome.eval("return document.getElementById('time_zone').value;").await;
    let zone = zone.as_str().unwrap_or_default().to_string();
    assert!(!zone.is_empty() && zone.parse::<chrono_tz::Tz>().is_ok(), "{zone:?}");
    chrome.client.clone().close().await.unwrap();
}
