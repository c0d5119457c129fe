//! Who wrote what (issue 22 part 5) against the real app, PostgreSQL and the provider double:
//! every outbound bubble names its author (the person, "Campaign: <name>", "Flow step"); the
//! inbox preview says "You:" for the reader's own message and the author's name for anyone
//! else's; a campaign send stays in the conversation but neither moves its chat up the inbox
//! nor replaces the client's last message as its preview.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::messaging_send::{add_template, setup_double_with, sql, text, wait_for};
use crate::support::{PASSWORD, TestApp};

/// An inbound message from the client `ago` seconds ago; returns its chat's id.
fn inbound(app: &TestApp, ws: i64, client: i64, body: &str, ago: i64) -> i64 {
    sql(
        app,
        &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
             SELECT {ws}, {client}, 'whatsapp', 'inbound', phone, '+14155550100', '{body}', 'received', now() - interval '{ago} seconds' FROM clients WHERE id = {client}"
        ),
    );
    app.count(&format!("SELECT id FROM chats WHERE client_id = {client} AND channel = 'whatsapp'"))
}

/// The chat ids the inbox shows, in order.
fn listed(html: &str) -> Vec<i64> {
    html.split("<li class=\"chat-row").skip(1).map(|row| row.split("id=\"chat-").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()).collect()
}

/// The preview line of chat `id` in the inbox.
fn preview(html: &str, id: i64) -> String {
    let row = html.split(&format!("id=\"chat-{id}\"")).nth(1).unwrap();
    let line = row.split("<p class=\"chat-preview\" hx-disable>").nth(1).unwrap().split("</p>").next().unwrap();
    line.replace("<span class=\"direction\">", "").replace("</span>", "")
}

/// The authors the conversation's bubbles name, in order (inbound bubbles name none).
fn authors(html: &str) -> Vec<String> {
    html.split("<span class=\"bubble-author\" hx-disable>").skip(1).map(|s| s.split("</span>").next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn bubbles_and_previews_name_their_author_and_a_campaign_send_leaves_the_inbox_as_it_was() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let (app, ws, admin) = (&s.app, s.workspace_id, &s.browser);
    let lena = app.create_user_named("Acme", "lena@acme.test", "Lena Ortiz", Role::Manager);
    let colleague = app.browser();
    assert_eq!(colleague.login("lena@acme.test", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    sql(app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({ws}, 'Ben Bello', '+14155550125')"));
    let ben = app.count(&format!("SELECT max(id) FROM clients WHERE workspace_id = {ws}"));
    // Lena's department holds both clients, so she sees their chats.
    let dept = switchboard::departments::insert(&mut app.conn(), ws, "Sales").unwrap().id;
    switchboard::users::model::set_departments(&mut app.conn(), ws, lena.id, &[dept]).unwrap();
    sql(app, &format!("INSERT INTO client_departments (workspace_id, client_id, department_id) VALUES ({ws}, {}, {dept}), ({ws}, {ben}, {dept})", s.client_id));

    let amara_chat = inbound(app, ws, s.client_id, "Where is my order?", 300);
    let ben_chat = inbound(app, ws, ben, "Is the offer still on?", 200);
    assert_eq!(listed(&admin.get_html("/chat").await), vec![ben_chat, amara_chat]);

    // Lena answers Amara: her chat comes first; the admin reads "Lena Ortiz:", Lena "You:".
    let r = colleague.htmx_post(&format!("/chat/{amara_chat}/messages"), &[("body", "It left the warehouse today.")]).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let inbox = admin.get_html("/chat").await;
    assert_eq!(listed(&inbox), vec![amara_chat, ben_chat]);
    assert_eq!(preview(&inbox, amara_chat), "↗ Lena Ortiz: It left the warehouse today.");
    assert_eq!(preview(&inbox, ben_chat), "↙ Is the offer still on?");
    assert_eq!(preview(&colleague.get_html("/chat").await, amara_chat), "↗ You: It left the warehouse today.");

    // A campaign sends Ben its template: it is in his conversation, signed by the campaign,
    // but his chat keeps its place and his question stays its preview.
    sql(app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({ws}, 'Spring offer', ARRAY['whatsapp'], 'active')"));
    let campaign = app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {ws}"));
    sql(app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({ws}, {campaign}, {ben})"));
    let template = add_template(app, ws, "HXhello", "hello", "Hello {{1}}", "approved").to_string();
    let r = admin.post(&format!("/campaigns/{campaign}/whatsapp-messages"), &[("mode", "template"), ("template_id", &template), ("var_1", "name")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    wait_for(app, &format!("EXISTS (SELECT 1 FROM messages WHERE client_id = {ben} AND batch_id IS NOT NULL AND provider_id IS NOT NULL)")).await;
    let inbox = admin.get_html("/chat").await;
    assert_eq!(listed(&inbox), vec![amara_chat, ben_chat], "the campaign send does not move Ben's chat up");
    assert_eq!(preview(&inbox, ben_chat), "↙ Is the offer still on?");
    let conversation = admin.get_html(&format!("/chat/{ben_chat}")).await;
    assert!(conversation.contains("Hello Ben Bello"), "{conversation}");
    assert_eq!(authors(&conversation), vec!["Campaign: Spring offer"]);

    // Lena's reply to Ben is signed by her, for every reader, and moves his chat up.
    let r = colleague.htmx_post(&format!("/chat/{ben_chat}/messages"), &[("body", "Yes, until Friday.")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let conversation = admin.get_html(&format!("/chat/{ben_chat}")).await;
    assert_eq!(authors(&conversation), vec!["Campaign: Spring offer", "Lena Ortiz"]);
    assert_eq!(authors(&colleague.get_html(&format!("/chat/{ben_chat}")).await), vec!["Campaign: Spring offer", "Lena Ortiz"]);
    assert_eq!(listed(&admin.get_html("/chat").await), vec![ben_chat, amara_chat]);
    // The live refresh names the author too.
    let first = app.count(&format!("SELECT min(id) FROM messages WHERE client_id = {ben}"));
    let live = admin.get_html(&format!("/chat/{ben_chat}/messages?after={first}")).await;
    assert_eq!(authors(&live), vec!["Campaign: Spring offer", "Lena Ortiz"]);
    assert_eq!(text(app, &format!("SELECT string_agg(body, '|' ORDER BY id) FROM messages WHERE client_id = {ben}")), "Is the offer still on?|Hello Ben Bello|Yes, until Friday.");
}
