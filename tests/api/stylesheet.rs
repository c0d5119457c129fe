//! The served stylesheet and the markup it styles: rules that broke the day-one pages
//! (issue 10): white-on-white link buttons, radios sized like text fields.

use diesel::prelude::*;
use switchboard::authz::Role;

use crate::support::{Browser, spawn_app};

/// The stylesheet the login page links to, as served.
async fn served_css(b: &Browser) -> String {
    let html = b.get_html("/login").await;
    let href = html.split("href=\"").filter_map(|s| s.split('"').next()).find(|s| s.ends_with("app.css")).expect("stylesheet link");
    let r = b.get(href).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    r.text().await.unwrap()
}

/// Every rule as (selector, declarations), comments dropped, `@media` blocks flattened.
fn rules(css: &str) -> Vec<(String, String)> {
    let mut text = String::new();
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start..].split_once("*/").map_or("", |(_, after)| after);
    }
    text.push_str(rest);
    text.split('}')
        .filter_map(|piece| piece.rsplit_once('{'))
        .map(|(prelude, body)| (prelude.rsplit('{').next().unwrap_or("").trim().to_string(), body.trim().to_string()))
        .filter(|(selector, _)| !selector.is_empty())
        .collect()
}

/// The declarations of the rule whose selector list is exactly `selector`.
fn rule<'a>(all: &'a [(String, String)], selector: &str) -> &'a str {
    &all.iter().find(|(s, _)| s == selector).unwrap_or_else(|| panic!("no rule for {selector}")).1
}

#[tokio::test]
async fn text_input_sizing_never_matches_checkboxes_or_radios() {
    let app = spawn_app().await;
    let all = rules(&served_css(&app.browser()).await);
    let mut sized = 0;
    for (selectors, body) in &all {
        if !body.split(';').any(|d| d.trim() == "width: 100%") {
            continue;
        }
        for selector in selectors.split(',').map(str::trim).filter(|s| s.split([' ', '>']).next_back().is_some_and(|l| l.starts_with("input"))) {
            sized += 1;
            assert!(
                selector.contains(":not([type=checkbox])") && selector.contains(":not([type=radio])"),
                "{selector} gives checkboxes or radios width: 100%"
            );
        }
    }
    assert!(sized > 0, "text inputs are still sized to their form");
    // Nor do they get a text field's padding and box; they sit next to their label.
    let choice = rule(&all, "input[type=checkbox], input[type=radio]");
    assert!(choice.contains("width: auto") && choice.contains("padding: 0"), "{choice}");
    let generic = all.iter().find(|(_, b)| b.contains("padding: 7px 9px") && b.contains("border: 1px solid #b8c0cc")).expect("text field rule");
    assert!(!generic.0.split(',').any(|s| s.trim() == "input"), "the text-field box applies to every input: {}", generic.0);
}

#[tokio::test]
async fn link_buttons_are_readable_and_notification_cards_open_their_notification() {
    let app = spawn_app().await;
    let b = app.browser();
    let all = rules(&served_css(&b).await);
    // `button` paints white text on the accent; a link button has no background, so it needs its own colour.
    assert!(rule(&all, "button.link").contains("color: var(--accent)"), "button.link keeps the button's #fff on a white card");

    let (me, user) = app.signed_in(Role::Agent).await;
    diesel::sql_query(format!(
        "INSERT INTO notifications (workspace_id, user_id, kind, title, body, link, read_at) VALUES \
         ({w}, {u}, 'note', 'Linked one', 'Body', '/follow-ups', NULL), \
         ({w}, {u}, 'note', 'Plain unread', 'Body', NULL, NULL), \
         ({w}, {u}, 'note', 'Plain read', 'Body', NULL, now())",
        w = user.workspace_id,
        u = user.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let id = |title: &str| app.count(&format!("SELECT id FROM notifications WHERE title = '{title}'"));
    let html = me.get_html("/notifications").await;
    let card = |n: i64| {
        let start = html.find(&format!("id=\"notification-{n}\"")).unwrap_or_else(|| panic!("card {n} in {html}"));
        html[start..].split("</li>").next().unwrap().to_string()
    };
    let linked = card(id("Linked one"));
    assert!(linked.contains(&format!("action=\"/notifications/{}/read\"", id("Linked one"))), "{linked}");
    assert!(linked.contains("class=\"link card-open\"") && linked.contains("Open"), "{linked}");
    let plain = card(id("Plain unread"));
    assert!(plain.contains(&format!("action=\"/notifications/{}/read\"", id("Plain unread"))) && plain.contains("Mark"), "{plain}");
    let read = card(id("Plain read"));
    assert!(!read.contains("<form"), "a read notification without a link has nothing to do: {read}");
    // No action form is left outside the cards.
    let after_list = html.split("<ul class=\"notifications\"").nth(1).and_then(|list| list.split("</ul>").nth(1)).expect("the list");
    assert!(!after_list.contains("/read\""), "forms outside the cards: {after_list}");
    // The card is the click target: its button's box stretches over the whole card.
    assert!(rule(&all, ".notifications li").contains("position: relative"));
    let overlay = rule(&all, ".notifications .card-open::after");
    assert!(overlay.contains("position: absolute") && overlay.contains("inset: 0"), "{overlay}");
    // Opening it from the card still marks it read and follows the link.
    let r = me.post(&format!("/notifications/{}/read", id("Linked one")), &[]).await;
    assert_eq!(crate::support::location(&r), "/follow-ups");
}

/// Issue 19.12: a component's own classes are styled only inside the component (or on one
/// kind of element), so the same word used by another component cannot pick the look up:
/// `.phone` was the WhatsApp preview's and made the client list's phone cells beige and
/// cut; `.bubble-body` was both the preview's and the chat's; `.hint` hid any hint on phones.
#[tokio::test]
async fn component_classes_are_styled_only_inside_their_component() {
    let app = spawn_app().await;
    let all = rules(&served_css(&app.browser()).await);
    let mut leaks = Vec::new();
    for (selectors, _) in &all {
        for selector in selectors.split(',').map(str::trim) {
            let compounds: Vec<&str> = selector.split([' ', '>', '+', '~']).filter(|s| !s.is_empty()).collect();
            // One compound that starts with a class: it matches that class anywhere.
            let [only] = compounds.as_slice() else { continue };
            if !only.starts_with('.') {
                continue;
            }
            let classes: Vec<&str> = only.split([':', '[']).next().unwrap_or("").split('.').filter(|c| !c.is_empty()).collect();
            for class in ["phone", "hint", "chat-bubble", "bubble-body", "bubble-buttons", "bubble-media", "bubble-meta"] {
                if classes.contains(&class) {
                    leaks.push(selector.to_string());
                }
            }
        }
    }
    assert_eq!(leaks, Vec::<String>::new(), "component classes styled wherever they appear");
}
