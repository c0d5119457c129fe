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
    assert!(steps.contains("Import clients") && steps.contains("Connect Twilio"), "{steps}");
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
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
    chrome.finish().await;
}

const SIDEWAYS: &str = "return [window.innerWidth, document.documentElement.scrollWidth];";

/// /setup, the dashboard with its checklist and the workspace settings at 1366 and 390 px:
/// nothing scrolls sideways; screenshots go to target/screenshots/ for a reviewer.
#[tokio::test]
async fn the_first_run_pages_fit_a_phone_and_a_laptop() {
    let app = spawn_app().await;
    let chrome = Chrome::start_in_zone(Some("America/Argentina/Buenos_Aires")).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let shots = [("setup", "/setup", "Welcome to Switchboard"), ("dashboard", "/", "Dashboard"), ("workspace", "/settings/workspace", "Workspace")];
    for (name, path, heading) in shots {
        if name == "dashboard" {
            chrome.client.set_window_size(1366, 900).await.expect("resize");
            chrome.goto(&format!("{}/setup", app.base)).await;
            chrome.fill("#workspace", "Acme Wholesale Trading").await;
            chrome.fill("#name", "Ann Admin").await;
            chrome.fill("#email", "ann@acme.test").await;
            chrome.fill("#password", PASSWORD).await;
            chrome.click("button[type=submit]").await;
            chrome.wait_for_heading("Dashboard").await;
        }
        for (width, height) in [(1366, 900), (390, 844)] {
            chrome.client.set_window_size(width, height).await.expect("resize");
            chrome.goto(&format!("{}{path}", app.base)).await;
            chrome.wait_for_heading(heading).await;
            let seen = chrome.eval(SIDEWAYS).await;
            assert!(seen[1].as_i64().unwrap() <= seen[0].as_i64().unwrap(), "{path} scrolls sideways at {width}: {seen}");
            std::fs::write(dir.join(format!("first-run-{name}-{width}.png")), chrome.client.screenshot().await.unwrap()).unwrap();
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE time_zone = 'America/Argentina/Buenos_Aires' AND default_country = 'AR'"), 1);
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}
