//! A phone-sized window (390×844): the signed-in pages never scroll sideways, and the
//! navigation wraps rather than running off the screen (issue 10).

use switchboard::users::role::Role;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

const OVERFLOW: &str = "
    const width = window.innerWidth;
    const wide = [...document.querySelectorAll('header.topbar a, header.topbar button, header.topbar .who')]
        .filter(e => e.getBoundingClientRect().right > width + 0.5 || e.getBoundingClientRect().left < -0.5)
        .map(e => e.textContent.trim());
    const clipped = [document.documentElement, document.body].some(e => getComputedStyle(e).overflowX === 'hidden' || getComputedStyle(e).overflowX === 'clip');
    return { width, scroll: document.documentElement.scrollWidth, wide, clipped };";

#[tokio::test]
async fn at_390_pixels_the_navigation_wraps_and_nothing_scrolls_sideways() {
    let app = spawn_app().await;
    app.create_user_named("Acme Wholesale Trading", "ann@acme.test", "Annabelle Administrator", Role::Admin);
    let chrome = Chrome::start().await;
    chrome.client.set_window_size(390, 844).await.expect("resize");
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    for (path, heading) in [("/", "Dashboard"), ("/clients", "Clients"), ("/clients/import", "Import clients"), ("/notifications", "Notifications"), ("/follow-ups", "Follow-ups")] {
        chrome.goto(&format!("{}{path}", app.base)).await;
        chrome.wait_for_heading(heading).await;
        let seen = chrome.eval(OVERFLOW).await;
        let width = seen["width"].as_i64().unwrap();
        assert!(width <= 400, "the window is phone-sized: {seen}");
        assert!(seen["scroll"].as_i64().unwrap() <= width, "{path} scrolls sideways: {seen}");
        assert_eq!(seen["wide"], serde_json::json!([]), "{path}: header items off screen: {seen}");
        assert_eq!(seen["clipped"], serde_json::json!(false), "{path}: overflow hidden instead of fitting: {seen}");
    }
    // Every navigation link is still there and can be used.
    chrome.click("nav a[href='/settings']").await;
    chrome.wait_for_heading("Settings").await;
    chrome.client.clone().close().await.unwrap();
}
