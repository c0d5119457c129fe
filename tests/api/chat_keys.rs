//! The chat's keyboard (issue 22 part 8), server side: the conversation says which key sends
//! (`data-enter-sends`, the person's choice on `/account`, audited) and links the open chats
//! above and below it in that reader's inbox (`k`, `j`), never one they may not see.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::messaging_send::{sql, text};
use crate::support::{Browser, PASSWORD, TestApp, spawn_app};

fn inbound(app: &TestApp, ws: i64, name: &str, phone: &str, assigned_to: Option<i64>, ago: i64) -> i64 {
    let assigned = assigned_to.map_or("NULL".to_string(), |u| u.to_string());
    sql(app, &format!("INSERT INTO clients (workspace_id, name, phone, assigned_to) VALUES ({ws}, '{name}', '{phone}', {assigned})"));
    sql(app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
         SELECT {ws}, id, 'sms', 'inbound', phone, '+14155550100', 'Hello', 'received', now() - interval '{ago} seconds' FROM clients WHERE phone = '{phone}'"
    ));
    app.count(&format!("SELECT ch.id FROM chats ch JOIN clients c ON c.id = ch.client_id WHERE c.phone = '{phone}'"))
}

async fn sign_in(app: &TestApp, email: &str, role: Role) -> (Browser, i64) {
    let user = app.create_user_named("Acme", email, "Someone", role);
    let browser = app.browser();
    assert_eq!(browser.login(email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user.id)
}

/// The conversation's links to the chats above (`k`) and below (`j`).
fn steps(html: &str) -> (Option<i64>, Option<i64>) {
    let link = |key: &str| {
        html.split(&format!("\" data-key=\"{key}\"")).next().filter(|before| before.len() < html.len()).map(|before| before.rsplit("/chat/").next().unwrap().parse().unwrap())
    };
    (link("k"), link("j"))
}

#[tokio::test]
async fn the_conversation_links_the_readers_neighbouring_chats_and_says_which_key_sends() {
    let app = spawn_app().await;
    let (admin, admin_id) = sign_in(&app, "ada@acme.test", Role::Admin).await;
    let (agent, agent_id) = sign_in(&app, "ann@acme.test", Role::Agent).await;
    let ws = app.count(&format!("SELECT workspace_id FROM users WHERE id = {admin_id}"));
    // Newest first: d (Ann's), c (nobody's), b (Ann's), a (Ann's, closed).
    let a = inbound(&app, ws, "A", "+14155550201", Some(agent_id), 400);
    let b = inbound(&app, ws, "B", "+14155550202", Some(agent_id), 300);
    let c = inbound(&app, ws, "C", "+14155550203", None, 200);
    let d = inbound(&app, ws, "D", "+14155550204", Some(agent_id), 100);
    sql(&app, &format!("UPDATE chats SET status = 'closed' WHERE id = {a}"));

    assert_eq!(steps(&admin.get_html(&format!("/chat/{c}")).await), (Some(d), Some(b)));
    assert_eq!(steps(&admin.get_html(&format!("/chat/{d}")).await), (None, Some(c)));
    assert_eq!(steps(&admin.get_html(&format!("/chat/{b}")).await), (Some(c), None), "a closed chat is not a step");
    // Ann does not see C: from D her next chat down is B.
    assert_eq!(steps(&agent.get_html(&format!("/chat/{d}")).await), (None, Some(b)));
    assert_eq!(steps(&agent.get_html(&format!("/chat/{b}")).await), (Some(d), None));

    // Enter sends until Ann chooses Ctrl+Enter on her account page.
    let page = agent.get_html(&format!("/chat/{b}")).await;
    assert!(page.contains("data-enter-sends=\"true\"") && page.contains("<kbd>Enter</kbd> sends"), "{page}");
    assert!(agent.get_html("/account").await.contains("<option value=\"enter\" selected>"));
    let r = agent.post("/account/chat-keys", &[("send_with", "ctrl-enter")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = agent.get_html(&format!("/chat/{b}")).await;
    assert!(page.contains("data-enter-sends=\"false\"") && page.contains("<kbd>Ctrl</kbd>+<kbd>Enter</kbd> sends"), "{page}");
    assert!(agent.get_html("/account").await.contains("<option value=\"ctrl-enter\" selected>"));
    assert!(admin.get_html(&format!("/chat/{b}")).await.contains("data-enter-sends=\"true\""), "her choice only");
    assert_eq!(agent.post("/account/chat-keys", &[("send_with", "shift")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Saving the same choice again changes nothing and records nothing more.
    agent.post("/account/chat-keys", &[("send_with", "ctrl-enter")]).await;
    assert_eq!(text(&app, &format!("SELECT string_agg(action || ':' || (after->>'enter_sends'), ',') FROM audit_logs WHERE action = 'users.chat_keys_changed' AND entity_id = '{agent_id}'")), "users.chat_keys_changed:false");
    // The inbox's page carries the shortcuts' list.
    let inbox = agent.get_html("/chat").await;
    assert!(inbox.contains("<dialog id=\"chat-keys\"") && inbox.contains("data-hotkey=\"/\""));
}

#[tokio::test]
async fn awaiting_reply_lists_the_chats_whose_last_message_is_the_clients_the_longest_waiting_first() {
    let app = spawn_app().await;
    let (admin, admin_id) = sign_in(&app, "ada@acme.test", Role::Admin).await;
    let (agent, agent_id) = sign_in(&app, "ann@acme.test", Role::Agent).await;
    let ws = app.count(&format!("SELECT workspace_id FROM users WHERE id = {admin_id}"));
    let a = inbound(&app, ws, "A", "+14155550201", Some(agent_id), 4000);
    let b = inbound(&app, ws, "B", "+14155550202", None, 300);
    let c = inbound(&app, ws, "C", "+14155550203", Some(agent_id), 200);
    // C was answered by a person; A's only outbound is a campaign's, which answers nothing.
    sql(&app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_by) \
         SELECT {ws}, client_id, 'sms', 'outbound', '+14155550100', '+14155550203', 'On it', 'sent', {admin_id} FROM chats WHERE id = {c}"
    ));
    sql(&app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({ws}, 'Promo', ARRAY['sms'], 'active')"));
    sql(&app, &format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body) SELECT {ws}, max(id), 'sms', 'text', 'Promo' FROM campaigns"));
    sql(&app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, batch_id) \
         SELECT {ws}, client_id, 'sms', 'outbound', '+14155550100', '+14155550201', 'Promo', 'sent', (SELECT max(id) FROM campaign_batches) FROM chats WHERE id = {a}"
    ));

    let html = admin.get_html("/chat?status=awaiting").await;
    let rows: Vec<i64> = html.split("<li class=\"chat-row").skip(1).map(|r| r.split("id=\"chat-").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()).collect();
    assert_eq!(rows, vec![a, b], "{html}");
    assert!(html.contains(">waiting 1 h</time>") && html.contains(">waiting 5 min</time>"), "{html}");
    assert!(html.contains("aria-current=\"page\">Awaiting reply</a>"));
    let theirs = agent.get_html("/chat?status=awaiting").await;
    assert!(theirs.contains(&format!("id=\"chat-{a}\"")) && !theirs.contains(&format!("id=\"chat-{b}\"")), "{theirs}");
    sql(&app, &format!("UPDATE chats SET status = 'closed' WHERE id IN ({a}, {b})"));
    assert!(admin.get_html("/chat?status=awaiting").await.contains("No client is waiting for a reply."));
}
