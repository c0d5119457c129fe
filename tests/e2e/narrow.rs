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
    // Settings tables with a row each, so their rename and delete cells are measured too.
    for sql in [
        "INSERT INTO tags (workspace_id, name) SELECT id, 'event-2026-newsletter' FROM workspaces",
        "INSERT INTO departments (workspace_id, name) SELECT id, 'Wholesale and export' FROM workspaces",
    ] {
        diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut app.conn()).unwrap();
    }
    let pages = [
        ("/", "Dashboard"),
        ("/clients", "Clients"),
        ("/clients/import", "Import clients"),
        ("/notifications", "Notifications"),
        ("/follow-ups", "Follow-ups"),
        ("/follow-ups?view=completed", "Follow-ups"),
        ("/settings/tags", "Tags"),
        ("/settings/departments", "Departments"),
        ("/settings/users", "Users"),
        ("/audit-logs", "Audit log"),
    ];
    for (path, heading) in pages {
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
    chrome.finish().await;
}

#[tokio::test]
async fn a_click_anywhere_on_a_notification_card_opens_it_and_its_button_is_readable() {
    let app = spawn_app().await;
    let ann = app.create_user_named("Acme", "ann@acme.test", "Ann Agent", Role::Agent);
    {
        use diesel::prelude::*;
        diesel::sql_query(format!(
            "INSERT INTO notifications (workspace_id, user_id, kind, title, body, link) VALUES ({}, {}, 'note', 'Calls due', 'Two calls today.', '/follow-ups')",
            ann.workspace_id, ann.id
        ))
        .execute(&mut app.conn())
        .unwrap();
    }
    let chrome = Chrome::start().await;
    chrome.client.set_window_size(390, 844).await.expect("resize");
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/notifications", app.base)).await;
    chrome.wait_for_heading("Notifications").await;
    let colours = chrome
        .eval("var b = document.querySelector('.notifications .card-open'); return [getComputedStyle(b).color, getComputedStyle(b.closest('li')).backgroundColor];")
        .await;
    assert_ne!(colours[0], colours[1], "the button's text has the card's colour: {colours}");
    assert_eq!(colours[0], serde_json::json!("rgb(31, 95, 209)"));
    // The body text and the heading are covered by the card's button: a click there opens it.
    let hit = chrome
        .eval("return ['h2', 'p.notes', 'p.muted'].map(function (css) { var r = document.querySelector('.notifications li ' + css).getBoundingClientRect(); \
            var e = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); return e && e.classList.contains('card-open'); });")
        .await;
    assert_eq!(hit, serde_json::json!([true, true, true]));
    chrome.click(".notifications .card-open").await;
    chrome.wait_for_heading("Follow-ups").await;
    assert_eq!(chrome.path().await, "/follow-ups");
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {} AND read_at IS NULL", ann.id)), 0);
    chrome.finish().await;
}

/// Issue 10 item 15: at 1366 and 390 pixels the dashboard's tiles are as tall as their own
/// content (not the tallest tile's), and the chart's labels neither overlap nor leave the tile.
#[tokio::test]
async fn dashboard_tiles_fit_their_content_and_the_chart_labels_stay_readable() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    for sql in [
        format!("INSERT INTO clients (workspace_id, name, status) VALUES ({}, 'Amara Smith', 'hot')", admin.workspace_id),
        format!(
            "INSERT INTO communications (workspace_id, client_id, kind, occurred_at, notes, user_id) \
             SELECT c.workspace_id, c.id, 'call', now() - make_interval(days => g % 7), '', {} FROM clients c, generate_series(1, 40) g",
            admin.id
        ),
    ] {
        diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut app.conn()).unwrap();
    }
    const MEASURE: &str = "
        const tiles = [...document.querySelectorAll('.tiles-grid > .tile')].map(t => t.getBoundingClientRect().height);
        const labels = [...document.querySelectorAll('.bar-labels li')].map(l => l.getBoundingClientRect());
        const chart = document.querySelector('.bar-chart').getBoundingClientRect();
        const overlaps = labels.slice(1).filter((r, i) => r.left < labels[i].right - 0.5).length;
        const outside = labels.filter(r => r.left < chart.left - 0.5 || r.right > chart.right + 0.5).length;
        const tooWide = [...document.querySelectorAll('.bar-labels li > *')].filter(e => e.scrollWidth > e.clientWidth + 0.5).length;
        const size = parseFloat(getComputedStyle(document.querySelector('.bar-labels span')).fontSize);
        return { tiles, count: labels.length, overlaps, outside, tooWide, size, scroll: document.documentElement.scrollWidth, width: window.innerWidth };";
    for (width, height) in [(1366, 900), (390, 844)] {
        chrome.client.set_window_size(width, height).await.expect("resize");
        chrome.goto(&format!("{}/", app.base)).await;
        chrome.wait_for(".bar-labels li").await;
        chrome.wait_for("#tile-my-follow-ups").await;
        let seen = chrome.eval(MEASURE).await;
        if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
            std::fs::write(format!("{dir}/dashboard-{width}.png"), chrome.client.screenshot().await.unwrap()).unwrap();
        }
        assert_eq!(seen["count"], 7, "{width}: {seen}");
        assert_eq!(seen["overlaps"], 0, "{width}: chart labels overlap: {seen}");
        assert_eq!(seen["outside"], 0, "{width}: chart labels leave the tile: {seen}");
        assert_eq!(seen["tooWide"], 0, "{width}: a chart label is cut: {seen}");
        assert!(seen["size"].as_f64().unwrap() >= 11.5, "{width}: chart labels too small: {seen}");
        assert!(seen["scroll"].as_i64().unwrap() <= seen["width"].as_i64().unwrap(), "{width}: scrolls sideways: {seen}");
        let tiles: Vec<f64> = seen["tiles"].as_array().unwrap().iter().map(|h| h.as_f64().unwrap()).collect();
        let (low, high) = tiles.iter().fold((f64::MAX, 0f64), |(l, h), t| (l.min(*t), h.max(*t)));
        assert!(high - low > 40.0, "{width}: tiles are stretched to one height: {seen}");
        // The pages the figures and the recent activity link to.
        for page in ["/follow-ups?view=due-soon", "/audit-logs"] {
            chrome.goto(&format!("{}{page}", app.base)).await;
            chrome.wait_for("h1").await;
            if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
                let name = page.replace(['/', '?', '='], "_");
                std::fs::write(format!("{dir}/{name}-{width}.png"), chrome.client.screenshot().await.unwrap()).unwrap();
            }
            let seen = chrome.eval("return { scroll: document.documentElement.scrollWidth, width: window.innerWidth };").await;
            assert!(seen["scroll"].as_i64().unwrap() <= seen["width"].as_i64().unwrap(), "{page} at {width} scrolls sideways: {seen}");
        }
    }
    chrome.finish().await;
}
