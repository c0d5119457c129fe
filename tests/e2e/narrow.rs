//! A phone-sized window (390×844): the signed-in pages never scroll sideways, and the
//! navigation wraps rather than running off the screen (issue 10).

use serde_json::json;
use switchboard::authz::Role;

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

/// What a list looks like, measured in the page: for each element `css` names, whether a word
/// of its text was split over two lines (a Range over the word has more than one line box),
/// its height in lines, and whether it leaves the window; and whether the page scrolls sideways.
const LIST_MEASURE: &str = "
    const [css, extra] = arguments;
    const width = window.innerWidth;
    const split = [], tall = [], off = [];
    for (const e of document.querySelectorAll(css)) {
      const r = e.getBoundingClientRect();
      if (!r.width) continue;
      if (r.left < -0.5 || r.right > width + 0.5) off.push(e.textContent.trim());
      const line = parseFloat(getComputedStyle(e).lineHeight) || 20;
      if (r.height > line * 3 + 1) tall.push(e.textContent.trim() + ' ' + r.height);
      const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
      for (let t = walker.nextNode(); t; t = walker.nextNode()) {
        const re = /[^\\s-]+/g; // a line may end after a hyphen
        for (let m = re.exec(t.data); m; m = re.exec(t.data)) {
          const range = document.createRange();
          range.setStart(t, m.index); range.setEnd(t, m.index + m[0].length);
          const tops = new Set([...range.getClientRects()].filter(q => q.width > 0).map(q => Math.round(q.top)));
          if (tops.size > 1) split.push(m[0]);
        }
      }
    }
    const hidden = [...document.querySelectorAll(extra)].filter(e => { const r = e.getBoundingClientRect(); const box = e.closest('.card, main').getBoundingClientRect(); 
      return !r.width || r.left < -0.5 || r.right > Math.min(width, box.right) + 0.5 || e.scrollWidth > e.clientWidth + 1; }).map(e => e.textContent.trim() + ' ' + JSON.stringify([e.getBoundingClientRect().left, e.getBoundingClientRect().right, e.scrollWidth, e.clientWidth, e.closest('.card, main').getBoundingClientRect().right]));
    return { width, scroll: document.documentElement.scrollWidth, count: document.querySelectorAll(css).length, split, tall, off, hidden };";

/// Issue 19.14 (and 19.12, the client list in the visual check): at 390 and 1366 pixels the
/// client list, the campaign list, a flow batch's recipients and the chat list keep every
/// name whole (no word split over two lines, no name taller than three lines), keep the
/// phone, status and step cells on screen and uncut, and never scroll sideways; at phone
/// width a list row is a stacked card (name, phone, status); the flow's step labels do not
/// overlap. Screenshots go to target/screenshots/lists-*.png.
#[tokio::test]
async fn lists_stack_at_phone_width_and_never_split_a_name_or_cut_a_column() {
    let app = spawn_app().await;
    let admin = app.create_user_named("Acme Wholesale Trading", "ann@acme.test", "Annabelle Administrator", Role::Admin);
    let w = admin.workspace_id;
    let names = ["Maximiliane Oppenheimer-Castellanos", "Amara Smith", "Bartholomew Featherstonehaugh", "Zoë Wojciechowska-Kowalczyk", "Li Wei"];
    let mut sql = Vec::new();
    for (i, name) in names.iter().enumerate() {
        sql.push(format!(
            "INSERT INTO clients (workspace_id, name, email, phone, company, status, last_contacted_at) VALUES ({w}, '{name}', 'client{i}.with.a.long.address@wholesale-partners.example.com', '+4420794600{i:02}', 'Featherstonehaugh Import & Export Ltd', 'hot', now())"
        ));
    }
    sql.extend([
        format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, body, approval_status) VALUES ({w}, 'HXa', 'spring_offer_interest', 'Interested?', 'approved'), ({w}, 'HXb', 'spring_offer_details_and_prices', 'Details', 'approved'), ({w}, 'HXc', 'spring_offer_reminder', 'Reminder', 'approved')"),
        format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, 'Spring offer for wholesale partners in the north', ARRAY['whatsapp', 'sms'], 'active')"),
        format!(
            "INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, status, flow_snapshot) SELECT {w}, max(id), 'whatsapp', 'flow', 'done', \
             jsonb_build_object('flow_id', 1, 'name', 'Spring', 'steps', (SELECT jsonb_agg(jsonb_build_object('key', 's' || id, 'template_id', id, 'template_name', name, 'buttons', '[]'::jsonb, 'next', '{{}}'::jsonb) ORDER BY id) FROM whatsapp_templates WHERE workspace_id = {w})) FROM campaigns WHERE workspace_id = {w}"
        ),
        format!(
            "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, error_code, error_message, reply, flow_step) \
             SELECT {w}, (SELECT max(id) FROM campaign_batches), c.id, CASE WHEN c.id % 2 = 0 THEN 'failed' ELSE 'read' END, \
               CASE WHEN c.id % 2 = 0 THEN 63016 END, CASE WHEN c.id % 2 = 0 THEN 'Failed to send freeform message because you are outside the allowed window' END, \
               'yes', 's' || (SELECT max(id) FROM whatsapp_templates WHERE workspace_id = {w}) FROM clients c WHERE c.workspace_id = {w}"
        ),
        format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) \
             SELECT {w}, id, 'whatsapp', 'inbound', phone, '+14155550100', 'Hello, is the spring offer still on? I would like to know more about the prices.', 'received' FROM clients WHERE workspace_id = {w}"
        ),
    ]);
    for statement in sql {
        diesel::RunQueryDsl::execute(diesel::sql_query(statement), &mut app.conn()).unwrap();
    }
    let campaign = app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {w}"));
    let batch = app.count(&format!("SELECT max(id) FROM campaign_batches WHERE workspace_id = {w}"));
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    // (page, heading, name cells, cells that must be on screen and uncut)
    let recipients = format!("/campaigns/{campaign}/whatsapp-messages/{batch}/recipients");
    let lists = [
        ("clients", "/clients", "Clients", "#clients-rows td:nth-child(2) a", "#clients-rows td.phone, #clients-rows td .pill"),
        ("campaigns", "/campaigns", "Campaigns", "table.campaigns td:first-child a", "table.campaigns td .pill"),
        ("recipients", recipients.as_str(), "WhatsApp batch #", "#recipients td:first-child a", "#recipients td[data-label='Step'], #recipients td .pill, #flow-steps li"),
        ("chat", "/chat", "Chat", ".chat-row .chat-client", ".chat-row .pill"),
    ];
    for (width, label) in [(1366, "desktop"), (390, "phone")] {
        chrome.client.set_window_size(width, 900).await.expect("resize");
        for (name, path, heading, names_css, cells_css) in lists {
            chrome.goto(&format!("{}{path}", app.base)).await;
            chrome.wait_for("main h1").await;
            assert!(chrome.text("main h1").await.starts_with(heading), "{path}");
            let seen = chrome.client.execute(LIST_MEASURE, vec![json!(names_css), json!(cells_css)]).await.expect("measure");
            let height = chrome.eval("return document.documentElement.scrollHeight;").await.as_u64().unwrap_or(900).clamp(900, 4000) as u32;
            chrome.client.set_window_size(width, height).await.expect("resize");
            chrome.screenshot(&format!("lists-{name}-{label}")).await;
            chrome.client.set_window_size(width, 900).await.expect("resize");
            assert!(seen["count"].as_u64().unwrap() >= 1, "{path} at {width}: the names were found: {seen}");
            assert_eq!(seen["split"], json!([]), "{path} at {width}: a word is split over two lines: {seen}");
            assert_eq!(seen["tall"], json!([]), "{path} at {width}: a name is taller than three lines: {seen}");
            assert_eq!(seen["off"], json!([]), "{path} at {width}: a name is off screen: {seen}");
            assert_eq!(seen["hidden"], json!([]), "{path} at {width}: a cell is off screen or cut: {seen}");
            assert!(seen["scroll"].as_i64().unwrap() <= seen["width"].as_i64().unwrap(), "{path} at {width} scrolls sideways: {seen}");
        }
    }
    // The flow's step labels each stay in their own box, at both widths.
    for width in [1366, 390] {
        chrome.client.set_window_size(width, 900).await.expect("resize");
        chrome.goto(&format!("{}{recipients}", app.base)).await;
        chrome.wait_for("#flow-steps li").await;
        let overlaps = chrome
            .eval("const r = [...document.querySelectorAll('#flow-steps li')].map(l => l.getBoundingClientRect()); \
                   return r.flatMap((a, i) => r.slice(i + 1).filter(b => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)).length;")
            .await;
        assert_eq!(overlaps, json!(0), "{width}: step labels overlap");
    }
    // At phone width a client row is a card: name, then phone, then the rest; status beside the name.
    chrome.client.set_window_size(390, 844).await.expect("resize");
    chrome.goto(&format!("{}/clients", app.base)).await;
    chrome.wait_for("#clients-rows td.phone").await;
    let row = chrome
        .eval("const tr = document.querySelector('#clients-rows tbody tr'); const top = css => tr.querySelector(css).getBoundingClientRect().top; \
               return { display: getComputedStyle(tr).display, nameAbovePhone: top('td:nth-child(2)') < top('td.phone'), phoneAboveEmail: top('td.phone') < top('td:nth-child(3)'), statusBesideName: Math.abs(top('td .pill') - top('td:nth-child(2) a')) < 12, \
               overlapping: ['input', 'td:nth-child(2) a', 'td .pill', 'td.phone'].map(css => tr.querySelector(css).getBoundingClientRect()).flatMap((a, i, all) => all.slice(i + 1).filter(b => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)).length };")
        .await;
    assert_eq!(row, json!({ "display": "grid", "nameAbovePhone": true, "phoneAboveEmail": true, "statusBesideName": true, "overlapping": 0 }));
    chrome.finish().await;
}
