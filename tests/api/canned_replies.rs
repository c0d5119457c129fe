//! Canned replies (issue 22 part 3) against the real app and PostgreSQL: the workspace's
//! (admins only) and each person's own; who sees and changes which (another person's own and
//! another workspace's are 404, the workspace's 403 to change for non-admins); checks with
//! field errors and nothing written; the audit trail; and the composers' picker, filtered by
//! what follows the "/", its text filled with the client's fields, scoped like the chat and
//! the client.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::messaging_send::{sql, text};
use crate::support::{Browser, PASSWORD, TestApp, location, spawn_app};

async fn sign_in(app: &TestApp, workspace: &str, email: &str, name: &str, role: Role) -> (Browser, i64) {
    let user = app.create_user_named(workspace, email, name, role);
    let browser = app.browser();
    assert_eq!(browser.login(email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user.id)
}

async fn save(browser: &Browser, path: &str, title: &str, shortcut: &str, body: &str, shared: bool) -> reqwest::Response {
    let mut fields = vec![("title", title), ("shortcut", shortcut), ("body", body)];
    if shared {
        fields.push(("shared", "1"));
    }
    browser.post(path, &fields).await
}

fn id_of(app: &TestApp, shortcut: &str) -> i64 {
    app.count(&format!("SELECT id FROM canned_replies WHERE shortcut = '{shortcut}' ORDER BY id DESC LIMIT 1"))
}

/// The shortcuts a page or picker lists, in order.
fn shortcuts(html: &str) -> Vec<String> {
    html.split("<td class=\"stack-title\" hx-disable><kbd>/").skip(1).chain(html.split("</strong> <kbd>/").skip(1)).map(|s| s.split('<').next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn admins_write_the_workspaces_replies_everyone_their_own_and_no_one_sees_anothers() {
    let app = spawn_app().await;
    let (admin, _) = sign_in(&app, "Acme", "ada@acme.test", "Ada Admin", Role::Admin).await;
    let (ann, ann_id) = sign_in(&app, "Acme", "ann@acme.test", "Ann Agent", Role::Agent).await;
    let (bob, _) = sign_in(&app, "Acme", "bob@acme.test", "Bob Agent", Role::Agent).await;
    let (beta, _) = sign_in(&app, "Beta", "boss@beta.test", "Beta Boss", Role::Admin).await;

    let r = save(&admin, "/canned-replies", "Delivery delay", "/Ship", "Hi {{first_name}}, your order ships Friday.", true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/canned-replies");
    let ship = id_of(&app, "ship");
    assert_eq!(save(&ann, "/canned-replies", "My thanks", "thanks", "Thank you, {{name}}!", false).await.status(), StatusCode::SEE_OTHER);
    let thanks = id_of(&app, "thanks");
    assert_eq!(app.count(&format!("SELECT count(*) FROM canned_replies WHERE id = {thanks} AND owner_id = {ann_id}")), 1);

    // Ann sees the workspace's and her own; Bob only the workspace's; Beta none of these.
    let page = ann.get_html("/canned-replies").await;
    assert_eq!(shortcuts(&page), vec!["ship", "thanks"], "{page}");
    assert!(page.contains(&format!("href=\"/canned-replies/{thanks}/edit\"")) && !page.contains(&format!("href=\"/canned-replies/{ship}/edit\"")), "she edits only her own");
    assert_eq!(shortcuts(&bob.get_html("/canned-replies").await), vec!["ship"]);
    assert!(beta.get_html("/canned-replies").await.contains("No canned replies yet."));

    // An agent may not write, change or delete the workspace's: 403, nothing written.
    let before = text(&app, "SELECT string_agg(id || shortcut || title || body || coalesce(owner_id, 0), ',' ORDER BY id) FROM canned_replies");
    let r = save(&ann, "/canned-replies", "Sneaky", "sneaky", "x", true).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(ann.get(&format!("/canned-replies/{ship}/edit")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(save(&ann, &format!("/canned-replies/{ship}"), "Changed", "ship", "Changed", false).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(ann.post(&format!("/canned-replies/{ship}/delete"), &[]).await.status(), StatusCode::FORBIDDEN);
    // Bob, and Beta's admin, do not find Ann's own; Beta's admin not the workspace's either.
    for (who, browser, id) in [("bob", &bob, thanks), ("beta", &beta, thanks), ("beta", &beta, ship)] {
        assert_eq!(browser.get(&format!("/canned-replies/{id}/edit")).await.status(), StatusCode::NOT_FOUND, "{who} {id}");
        assert_eq!(save(browser, &format!("/canned-replies/{id}"), "Mine now", "mine", "x", false).await.status(), StatusCode::NOT_FOUND, "{who} {id}");
        assert_eq!(browser.post(&format!("/canned-replies/{id}/delete"), &[]).await.status(), StatusCode::NOT_FOUND, "{who} {id}");
    }
    assert_eq!(text(&app, "SELECT string_agg(id || shortcut || title || body || coalesce(owner_id, 0), ',' ORDER BY id) FROM canned_replies"), before);

    // Checks: every field said at once, the form kept; a taken shortcut by its field.
    let r = save(&admin, "/canned-replies", "", "ship it", "", true).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Title is required.") && html.contains("Text is required.") && html.contains("Shortcut: up to 30 letters"), "{html}");
    assert!(html.contains("value=\"ship it\""));
    let r = save(&admin, "/canned-replies", "Again", "SHIP", "Another", true).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("The shortcut /ship is already taken."));
    // Ann's own may share a shortcut with the workspace's; Bob's own may share Ann's.
    assert_eq!(save(&ann, "/canned-replies", "My ship", "ship", "Mine", false).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(save(&bob, "/canned-replies", "Bob thanks", "thanks", "Ta", false).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM canned_replies"), 4);

    // Ann changes and deletes her own; the admin changes the workspace's.
    let r = save(&ann, &format!("/canned-replies/{thanks}"), "Thanks", "ty", "Thanks a lot, {{first_name}}.", false).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(text(&app, &format!("SELECT shortcut || '|' || body FROM canned_replies WHERE id = {thanks}")), "ty|Thanks a lot, {{first_name}}.");
    let r = save(&ann, &format!("/canned-replies/{thanks}"), "Thanks", "", "x", false).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Shortcut is required."));
    assert_eq!(save(&admin, &format!("/canned-replies/{ship}"), "Delivery delay", "ship", "Hi {{first_name}}, it ships Monday.", true).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(ann.post(&format!("/canned-replies/{thanks}/delete"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT count(*) FROM canned_replies WHERE id = {thanks}")), 0);

    // Audited: who wrote, changed and deleted what.
    assert_eq!(
        text(&app, "SELECT string_agg(action || ':' || coalesce(after->>'shortcut', before->>'shortcut'), ',' ORDER BY id) FROM audit_logs WHERE module = 'canned_replies'"),
        "canned_replies.created:ship,canned_replies.created:thanks,canned_replies.created:ship,canned_replies.created:thanks,canned_replies.updated:ty,canned_replies.updated:ship,canned_replies.deleted:ty"
    );
    let trail = admin.get_html("/audit-logs?module=canned_replies").await;
    assert!(trail.contains("wrote canned reply") && trail.contains("deleted canned reply"), "{trail}");
}

#[tokio::test]
async fn the_picker_lists_what_follows_the_slash_filled_for_the_client_and_scoped_like_the_chat() {
    let app = spawn_app().await;
    let (admin, _) = sign_in(&app, "Acme", "ada@acme.test", "Ada Admin", Role::Admin).await;
    let (ann, ann_id) = sign_in(&app, "Acme", "ann@acme.test", "Ann Agent", Role::Agent).await;
    let (beta, _) = sign_in(&app, "Beta", "boss@beta.test", "Beta Boss", Role::Admin).await;
    let w = app.count("SELECT id FROM workspaces WHERE name = 'Acme'");
    sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone, company, assigned_to) VALUES ({w}, 'Amara <b>Okafor</b>', '+14155550101', 'Okafor & Sons', {ann_id})"));
    let amara = app.count(&format!("SELECT max(id) FROM clients WHERE workspace_id = {w}"));
    sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Ben Bello', '+14155550102')"));
    let ben = app.count(&format!("SELECT max(id) FROM clients WHERE workspace_id = {w}"));
    for client in [amara, ben] {
        sql(&app, &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) SELECT {w}, {client}, 'whatsapp', 'inbound', phone, '+14155550100', 'Hello', 'received' FROM clients WHERE id = {client}"
        ));
    }
    let chat = |client: i64| app.count(&format!("SELECT id FROM chats WHERE client_id = {client}"));
    save(&admin, "/canned-replies", "Delivery delay", "ship", "Hi {{first_name}}, your order for {{ company }} ships Friday.", true).await;
    save(&admin, "/canned-replies", "Opening hours", "hours", "We are open 9–17. Shipping questions: /ship.", true).await;
    save(&ann, "/canned-replies", "Shipping cost", "cost", "Shipping is free, {{name}}.", false).await;
    save(&admin, "/canned-replies", "Admin's own", "mine", "Only for Ada.", false).await;

    // "/" alone: everything Ann sees, her own first; never the admin's own.
    let all = ann.get_html(&format!("/chat/{}/canned-replies?q=", chat(amara))).await;
    assert_eq!(shortcuts(&all), vec!["cost", "hours", "ship"], "{all}");
    assert!(!all.contains("Only for Ada."));
    assert!(all.contains("aria-selected=\"true\"") && all.matches("role=\"option\"").count() == 3);
    // "/sh": the shortcut that starts with it first, then titles and texts containing it.
    let sh = ann.get_html(&format!("/chat/{}/canned-replies?q=sh", chat(amara))).await;
    assert_eq!(shortcuts(&sh), vec!["ship", "cost", "hours"], "{sh}");
    // The text filled for the chat's client, escaped.
    assert!(sh.contains("data-text=\"Hi Amara, your order for Okafor &#38; Sons ships Friday.\"") || sh.contains("data-text=\"Hi Amara, your order for Okafor &amp; Sons ships Friday.\""), "{sh}");
    assert!(sh.contains("Shipping is free, Amara &#60;b&#62;Okafor&#60;/b&#62;.") || sh.contains("Shipping is free, Amara &lt;b&gt;Okafor&lt;/b&gt;."), "{sh}");
    assert!(!sh.contains("<b>Okafor"));
    let none = ann.get_html(&format!("/chat/{}/canned-replies?q=zzz", chat(amara))).await;
    assert!(none.contains("No canned reply matches /zzz."), "{none}");
    // On the client page (SMS bodies) the same, for that client.
    let page = ann.get_html(&format!("/clients/{amara}/canned-replies?q=ship")).await;
    assert_eq!(shortcuts(&page), vec!["ship", "cost", "hours"]);

    // Ben is not Ann's client: his chat and his page are 404 to her; Beta's admin finds
    // neither chat nor client.
    assert_eq!(ann.get(&format!("/chat/{}/canned-replies?q=", chat(ben))).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(ann.get(&format!("/clients/{ben}/canned-replies?q=")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(beta.get(&format!("/chat/{}/canned-replies?q=", chat(amara))).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(beta.get(&format!("/clients/{amara}/canned-replies?q=")).await.status(), StatusCode::NOT_FOUND);

    // The composers carry the picker.
    let conversation = ann.get_html(&format!("/chat/{}", chat(amara))).await;
    assert!(conversation.contains(&format!("<div class=\"canned\" data-canned=\"/chat/{}/canned-replies\">", chat(amara))), "{conversation}");
    assert!(conversation.contains("<ul class=\"canned-picker\" role=\"listbox\" aria-label=\"Canned replies\" hidden></ul>"));
}
