//! The chat inbox (issue 13 parts 1 and 2) against the real app, PostgreSQL and the
//! in-process provider double (`support::provider_double`): the list's scope per role, tabs, search, pages and unread counts; opening a chat;
//! the conversation's order, older pages, live refresh and read marks; replies inside and
//! outside WhatsApp's 24-hour window, SMS, opt-outs, and the reply reaching the provider.

use reqwest::StatusCode;
use switchboard::authz::Role;

use switchboard::messaging::Channel;

use crate::messaging_send::{CLIENT_PHONE, SMS_FROM, add_template, configure, setup_double, sql, text, wait_for};
use crate::support::provider_double::inbound_message;
use crate::support::{Browser, PASSWORD, TestApp, assert_redirects_to, location};

/// A client in the workspace (optionally assigned), returning its id.
fn client(app: &TestApp, w: i64, name: &str, phone: &str, assigned_to: Option<i64>) -> i64 {
    let assigned = assigned_to.map_or("NULL".to_string(), |u| u.to_string());
    sql(app, &format!("INSERT INTO clients (workspace_id, name, phone, assigned_to) VALUES ({w}, '{name}', '{phone}', {assigned})"));
    app.count(&format!("SELECT max(id) FROM clients WHERE workspace_id = {w}"))
}

/// An inbound message from the client (`ago` seconds ago), as the inbound webhook records
/// it; the triggers open the chat. Returns the chat id.
fn inbound(app: &TestApp, w: i64, client_id: i64, channel: &str, body: &str, ago: i64) -> i64 {
    sql(
        app,
        &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
             SELECT {w}, {client_id}, '{channel}', 'inbound', phone, '+14155550100', '{body}', 'received', now() - interval '{ago} seconds' FROM clients WHERE id = {client_id}"
        ),
    );
    chat_of(app, client_id, channel)
}

fn chat_of(app: &TestApp, client_id: i64, channel: &str) -> i64 {
    app.count(&format!("SELECT id FROM chats WHERE client_id = {client_id} AND channel = '{channel}'"))
}

async fn sign_in(app: &TestApp, email: &str, name: &str, role: Role) -> (Browser, i64) {
    let user = app.create_user_named("Acme", email, name, role);
    let browser = app.browser();
    assert_eq!(browser.login(email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user.id)
}

/// The chat ids the list shows, in order.
fn listed(html: &str) -> Vec<i64> {
    html.split("<li class=\"chat-row").skip(1).map(|row| row.split("id=\"chat-").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn each_role_lists_the_chats_it_may_see_by_tab_and_no_other_workspaces() {
    let s = setup_double(true).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    let (agent, agent_id) = sign_in(app, "ann@acme.test", "Ann Agent", Role::Agent).await;
    let (_, bob_id) = sign_in(app, "bob@acme.test", "Bob Agent", Role::Agent).await;
    let (manager, manager_id) = sign_in(app, "mia@acme.test", "Mia Manager", Role::Manager).await;
    let dept = switchboard::departments::insert(&mut app.conn(), w, "Sales").unwrap().id;
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_id, &[dept]).unwrap();

    let anns = client(app, w, "Ada Ann", "+14155550201", Some(agent_id));
    let bobs = client(app, w, "Ben Bob", "+14155550202", Some(bob_id));
    let sales = client(app, w, "Cleo Sales", "+14155550203", None);
    sql(app, &format!("INSERT INTO client_departments (workspace_id, client_id, department_id) VALUES ({w}, {sales}, {dept})"));
    let nobody = client(app, w, "Dan Nobody", "+14155550204", None);
    let c_ann = inbound(app, w, anns, "whatsapp", "hello from Ada", 400);
    let c_bob = inbound(app, w, bobs, "sms", "hello from Ben", 300);
    let c_sales = inbound(app, w, sales, "whatsapp", "hello from Cleo", 200);
    let c_nobody = inbound(app, w, nobody, "whatsapp", "hello from Dan", 100);
    // Bob's client's chat is assigned to Ann: she sees it too.
    sql(app, &format!("UPDATE chats SET assignee_id = {agent_id} WHERE id = {c_bob}"));
    // Another workspace's chat.
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let theirs = client(app, beta.workspace_id, "Theirs", "+14155550777", None);
    let c_theirs = inbound(app, beta.workspace_id, theirs, "whatsapp", "secret", 50);

    let html = admin.get_html("/chat").await;
    assert_eq!(listed(&html), vec![c_nobody, c_sales, c_bob, c_ann], "newest activity first, the whole workspace");
    assert!(!html.contains("Theirs") && !html.contains("secret"));
    assert!(html.contains(r#"<a class="chat-client" href="/chat/"#));
    assert!(html.contains("↙</span> hello from Dan"), "inbound marker and preview");
    assert!(html.contains(r#"<span class="chat-assignee" hx-disable>Ann Agent</span>"#));
    assert!(html.contains(r#"<span class="chat-assignee" hx-disable>Unassigned</span>"#));
    assert!(html.contains(">1 min ago</time>") && html.contains(">6 min ago</time>"), "{html}");
    assert!(html.contains(r#"<div id="chat-list" hx-get="/chat?status=open" hx-trigger="sse:chat" hx-swap="outerHTML""#), "{html}");
    assert_eq!(listed(&agent.get_html("/chat").await), vec![c_bob, c_ann], "agent: own clients and chats assigned to them");
    assert_eq!(listed(&manager.get_html("/chat").await), vec![c_sales], "manager: their departments' clients");

    // Tabs.
    sql(app, &format!("UPDATE chats SET status = 'closed', closed_at = now() WHERE id = {c_nobody}"));
    sql(app, &format!("UPDATE chats SET assignee_id = {} WHERE id = {c_sales}", s.app.count("SELECT min(id) FROM users WHERE role = 'admin'")));
    assert_eq!(listed(&admin.get_html("/chat?status=closed").await), vec![c_nobody]);
    assert_eq!(listed(&admin.get_html("/chat?status=open").await), vec![c_sales, c_bob, c_ann]);
    assert_eq!(listed(&admin.get_html("/chat?status=mine").await), vec![c_sales]);
    assert_eq!(listed(&agent.get_html("/chat?status=mine").await), vec![c_bob]);
    assert_eq!(listed(&admin.get_html("/chat?status=unassigned").await), vec![c_ann]);
    let empty = manager.get_html("/chat?status=closed").await;
    assert!(empty.contains("No closed chats."), "{empty}");
    assert_eq!(listed(&agent.get_html("/chat?status=unassigned").await), vec![c_ann]);
    assert!(manager.get_html("/chat?status=unassigned").await.contains("Every open chat has an assignee."));
    assert_eq!(admin.get("/chat?status=bogus").await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The list region alone, for the live refresh.
    let fragment = admin
        .client
        .get(admin.url("/chat?status=open"))
        .header("HX-Request", "true")
        .header("HX-Target", "chat-list")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(fragment.trim_start().starts_with("<div id=\"chat-list\""), "{fragment}");
    assert!(!fragment.contains("<form method=\"get\" action=\"/chat\""));

    // Another workspace's chat, and a colleague's chat for an agent, are 404 on every route.
    for (who, browser, id) in [("admin", admin, c_theirs), ("agent", &agent, c_sales), ("manager", &manager, c_ann)] {
        for path in [format!("/chat/{id}"), format!("/chat/{id}/messages"), format!("/chat/{id}/messages?after=0")] {
            assert_eq!(browser.get(&path).await.status(), StatusCode::NOT_FOUND, "{who} {path}");
        }
        let r = browser.post(&format!("/chat/{id}/messages"), &[("body", "hi")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{who} reply");
    }
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), 0);
    assert_eq!(app.count("SELECT count(*) FROM chat_reads"), 0, "a refused read marks nothing");
}

#[tokio::test]
async fn unread_counts_are_per_reader_and_a_message_after_the_render_stays_unread() {
    let s = setup_double(true).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    let (other, _) = sign_in(app, "zed@acme.test", "Zed Admin", Role::Admin).await;
    inbound(app, w, s.client_id, "whatsapp", "one", 30);
    let chat = inbound(app, w, s.client_id, "whatsapp", "two", 20);
    let unread_of = |html: &str| html.split("<span class=\"chat-unread\">").nth(1).map(|b| b.split("</span></span>").next().unwrap().to_string()).unwrap();
    assert!(unread_of(&admin.get_html("/chat").await).contains(">2<"));
    assert_eq!(admin.get_html("/chat/badge").await.matches(">1<").count(), 1, "one chat with unread messages");

    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains("one") && page.contains("two"));
    let me = app.count("SELECT min(id) FROM users WHERE email LIKE 'admin-%'");
    assert_eq!(app.count(&format!("SELECT read_count FROM chat_reads WHERE chat_id = {chat} AND user_id = {me}")), 2);
    assert!(unread_of(&admin.get_html("/chat").await).contains("badge empty"));
    assert!(admin.get_html("/chat/badge").await.contains("class=\"badge empty\""));
    assert!(unread_of(&other.get_html("/chat").await).contains(">2<"), "the other reader has read nothing");

    // A message that arrives after the page was read: the mark was the count rendered (2),
    // so it stays unread; a mark with an older count never moves the read count back.
    let rendered = switchboard::chat::ChatScope { workspace_id: w, user_id: me, role: Role::Admin }.find(&mut app.conn(), chat).unwrap().unwrap();
    inbound(app, w, s.client_id, "whatsapp", "three", 0);
    switchboard::chat::conversation::mark_read(&mut app.conn(), &rendered, me, rendered.inbound_count).unwrap();
    assert_eq!(app.count(&format!("SELECT inbound_count - read_count FROM chats JOIN chat_reads r ON r.chat_id = chats.id AND r.user_id = {me} WHERE chats.id = {chat}")), 1);
    assert!(unread_of(&admin.get_html("/chat").await).contains(">1<"));
    switchboard::chat::conversation::mark_read(&mut app.conn(), &rendered, me, 0).unwrap();
    assert_eq!(app.count(&format!("SELECT read_count FROM chat_reads WHERE chat_id = {chat} AND user_id = {me}")), 2);
}

#[tokio::test]
async fn search_by_name_or_phone_and_pages_of_fifty() {
    let s = setup_double(false).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    sql(
        app,
        &format!(
            "WITH c AS (INSERT INTO clients (workspace_id, name, phone) SELECT {w}, 'Person ' || n, '+1415556' || lpad(n::text, 4, '0') FROM generate_series(1, 55) n RETURNING id, phone) \
             INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
             SELECT {w}, id, 'sms', 'inbound', phone, '+14155550199', 'hi', 'received', now() - (id || ' seconds')::interval FROM c"
        ),
    );
    let first = listed(&admin.get_html("/chat").await);
    assert_eq!(first.len(), 50);
    let page = admin.get_html("/chat").await;
    assert!(page.contains(r#"<a href="/chat?status=open&#38;page=2" rel="next">"#), "{}", &page[page.find("class=\"pager\"").unwrap_or(0)..]);
    let second = listed(&admin.get_html("/chat?page=2").await);
    assert_eq!(second.len(), 5);
    assert!(first.iter().all(|id| !second.contains(id)));
    // Newest activity first: the chat of the client with the smallest id is the newest.
    let order: Vec<i64> = (0..55).map(|k| app.count(&format!("SELECT id FROM chats ORDER BY last_message_at DESC, id DESC OFFSET {k} LIMIT 1"))).collect();
    assert_eq!([first, second].concat(), order);

    // Search by name (case-insensitive), by phone digits (any punctuation), none.
    let found = admin.get_html("/chat?q=person%2042").await;
    assert_eq!(listed(&found).len(), 1);
    assert!(found.contains(">Person 42</a>"));
    let by_phone = admin.get_html("/chat?q=%28415%29%20556-0007").await;
    assert_eq!(listed(&by_phone).len(), 1);
    assert!(by_phone.contains(">Person 7</a>"), "{by_phone}");
    let none = admin.get_html("/chat?q=nobody").await;
    assert!(listed(&none).is_empty());
    assert!(none.contains("No chat matches this search."));
    assert_eq!(admin.get(&format!("/chat?q={}", "x".repeat(101))).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_person_opens_a_chat_from_the_client_page() {
    let s = setup_double(true).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    let page = admin.get_html(&format!("/clients/{}", s.client_id)).await;
    assert!(page.contains("Open WhatsApp chat") && page.contains("Open SMS chat"));
    let id = s.client_id.to_string();
    let r = admin.post("/chat", &[("client_id", &id), ("channel", "sms")]).await;
    let chat = chat_of(app, s.client_id, "sms");
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    assert_eq!(text(app, &format!("SELECT concat_ws('|', status, inbound_count, assignee_id IS NULL) FROM chats WHERE id = {chat}")), "open|0|t");
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'chats.opened'"), 1);
    // Again: the same chat.
    let r = admin.post("/chat", &[("client_id", &id), ("channel", "sms")]).await;
    assert_eq!(location(&r), format!("/chat/{chat}"));
    assert_eq!(app.count("SELECT count(*) FROM chats"), 1);
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains("No messages yet."));
    assert!(page.contains("SMS: free text."));
    // A client without a phone gets no buttons and no chat; another workspace's client, or
    // one an agent may not see, is not found.
    sql(app, &format!("INSERT INTO clients (workspace_id, name) VALUES ({w}, 'No Phone')"));
    let no_phone = app.count("SELECT max(id) FROM clients");
    assert!(!admin.get_html(&format!("/clients/{no_phone}")).await.contains("Open SMS chat"));
    assert_eq!(admin.post("/chat", &[("client_id", &no_phone.to_string()), ("channel", "sms")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let theirs = client(app, beta.workspace_id, "Theirs", "+14155550777", None);
    assert_eq!(admin.post("/chat", &[("client_id", &theirs.to_string()), ("channel", "sms")]).await.status(), StatusCode::NOT_FOUND);
    let (agent, _) = sign_in(app, "ann@acme.test", "Ann Agent", Role::Agent).await;
    assert_eq!(agent.post("/chat", &[("client_id", &id), ("channel", "whatsapp")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM chats"), 1);
}

#[tokio::test]
async fn the_conversation_shows_the_newest_thirty_in_order_and_loads_older_pages() {
    let s = setup_double(true).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    for n in 1..=35 {
        inbound(app, w, s.client_id, "sms", &format!("msg-{n:02}"), 1000 - n);
    }
    let chat = chat_of(app, s.client_id, "sms");
    let id_of = |n: i64| app.count(&format!("SELECT id FROM messages WHERE body = 'msg-{n:02}'"));
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(!page.contains("msg-05<"), "only the newest 30");
    let positions: Vec<usize> = (6..=35).map(|n| page.find(&format!(">msg-{n:02}<")).unwrap_or_else(|| panic!("msg-{n:02} missing"))).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "oldest at the top, newest at the bottom");
    let sentinel = format!(r#"<a href="/chat/{chat}?before={}" hx-get="/chat/{chat}/messages?before={}" hx-trigger="click, chat:top""#, id_of(6), id_of(6));
    assert!(page.contains(&sentinel), "{page}");
    assert!(page.contains(&format!(r#"<li id="chat-live" class="live" hx-get="/chat/{chat}/messages?after={}&amp;note=0" hx-trigger="sse:chat-{chat}" hx-swap="outerHTML""#, id_of(35))), "{page}");
    // A new message: the refresh brings it, and a refresher after it.
    inbound(app, w, s.client_id, "sms", "msg-36", 0);
    let live = admin.get_html(&format!("/chat/{chat}/messages?after={}", id_of(35))).await;
    assert!(live.contains(">msg-36<") && !live.contains("msg-35"), "{live}");
    assert!(live.find(">msg-36<").unwrap() < live.find(&format!(r#"<li id="chat-live" class="live" hx-get="/chat/{chat}/messages?after={}""#, id_of(36))).unwrap());
    // The older page: the first five, in order, with no sentinel past the first message.
    let older = admin.get_html(&format!("/chat/{chat}/messages?before={}", id_of(6))).await;
    let positions: Vec<usize> = (1..=5).map(|n| older.find(&format!(">msg-{n:02}<")).unwrap()).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]));
    assert!(!older.contains("msg-06") && !older.contains("Older messages"));
    // Delivery ticks: read in colour, failed with its code and the code's human line.
    sql(app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, error_code, error_message) VALUES \
         ({w}, {c}, 'sms', 'outbound', '{SMS_FROM}', '{CLIENT_PHONE}', 'was read', 'read', NULL, NULL), \
         ({w}, {c}, 'sms', 'outbound', '{SMS_FROM}', '{CLIENT_PHONE}', 'did fail', 'failed', 30003, 'Unreachable destination handset')",
        c = s.client_id
    ));
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains(r#"<span class="ticks read" title="Read" aria-label="Read">✓✓</span>"#));
    assert!(page.contains(r#"<span class="ticks failed" title="Failed" aria-label="Failed">✕</span>"#));
    assert!(page.contains(r#"<p class="bubble-error" role="note" hx-disable>Unreachable: the phone is off, out of coverage or cannot take messages now (error 30003)</p>"#), "{page}");
    // Without JavaScript: the same page through the link.
    assert!(admin.get_html(&format!("/chat/{chat}?before={}", id_of(6))).await.contains(">msg-01<"));
}

/// A form post with htmx, as the composer sends it.
async fn reply(browser: &Browser, chat: i64, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let r = browser.htmx_post(&format!("/chat/{chat}/messages"), fields).await;
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn whatsapp_free_text_only_inside_the_window_and_the_reply_reaches_twilio_from_the_number_written_to() {
    let s = setup_double(true).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    let template = add_template(app, w, "HX0123", "order_update", "Hi {{1}}, order {{2}} shipped.", "approved");
    // The client wrote to our second WhatsApp number, through the signed webhook.
    let key = text(app, &format!("SELECT webhook_key FROM workspaces WHERE id = {w}"));
    let r = s.fake.deliver_inbound(&app.base, &key, &inbound_message("SMin1", Channel::WhatsApp, "+14155550123", "+14155550101", "Where is my order?")).await;
    assert!(r.is_success(), "{}", r);
    let chat = chat_of(app, s.client_id, "whatsapp");
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains("Free text until "), "{page}");
    assert!(page.contains(r#"<textarea id="reply-body" name="body""#));

    let (status, html) = reply(admin, chat, &[("body", "It ships today.")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let sent_id = app.count("SELECT max(id) FROM messages WHERE direction = 'outbound'");
    assert!(html.contains(&format!(r#"<li id="message-{sent_id}" class="bubble outbound">"#)), "appears at once: {html}");
    assert!(html.contains(r#"<span class="ticks pending" title="Sending" aria-label="Sending">⏳</span>"#));
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'send-message' AND payload->>'message_id' = '{sent_id}'")), 1);
    // Filed under the client, like the client page's sends.
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'messages.queued' AND module = 'clients' AND entity_id = '{}'", s.client_id)), 1);
    wait_for(app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {sent_id} AND provider_id IS NOT NULL)")).await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].channel, sent[0].from.as_str(), sent[0].to.as_str(), sent[0].body.as_deref()), (Channel::WhatsApp, "+14155550101", "+14155550123", Some("It ships today.")));
    assert!(sent[0].template.is_none());
    // The live refresh re-ticks it in place (out of band) and moves the refresher on.
    let live = admin.get_html(&format!("/chat/{chat}/messages?after={sent_id}")).await;
    assert!(live.contains(&format!(r#"<li id="message-{sent_id}" class="bubble outbound" hx-swap-oob="true">"#)), "{live}");
    assert!(live.contains(r#"<span class="ticks sent" title="Sent" aria-label="Sent">✓</span>"#), "{live}");
    assert!(live.contains(&format!(r#"<li id="chat-live" class="live" hx-get="/chat/{chat}/messages?after={sent_id}&amp;pending={sent_id}""#)), "{live}");
    // Read (issue 19.1): final now, still re-ticked, as the page says it shows it moving; the
    // next refresher has nothing pending.
    sql(app, &format!("UPDATE messages SET status = 'read' WHERE id = {sent_id}"));
    let live = admin.get_html(&format!("/chat/{chat}/messages?after={sent_id}&pending={sent_id}")).await;
    assert!(live.contains(r#"<span class="ticks read" title="Read" aria-label="Read">✓✓</span>"#), "{live}");
    assert!(live.contains(&format!(r#"<li id="chat-live" class="live" hx-get="/chat/{chat}/messages?after={sent_id}""#)), "{live}");

    // 25 hours later the window is closed: free text is refused with the reason, a template goes.
    sql(app, &format!("UPDATE chats SET last_inbound_at = now() - interval '25 hours' WHERE id = {chat}"));
    let (status, html) = reply(admin, chat, &[("body", "Still there?")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("The 24-hour window closed at "), "{html}");
    assert!(html.contains(": send an approved template."));
    assert!(html.contains(">Still there?</textarea>") || !html.contains("reply-body"), "the typed text is kept or the field is gone");
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), 1, "nothing queued");
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-message'"), 1);
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(!page.contains(r#"<textarea id="reply-body""#), "no free text box outside the window");
    let t = template.to_string();
    let (status, html) = reply(admin, chat, &[("template_id", &t), ("var_1", "Amara")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Fill in variable {{2}} of the template."));
    let (status, _) = reply(admin, chat, &[("template_id", &t), ("var_1", "Amara"), ("var_2", "A-42")]).await;
    assert_eq!(status, StatusCode::OK);
    wait_for(app, "(SELECT count(*) FROM messages WHERE direction = 'outbound' AND provider_id IS NOT NULL) = 2").await;
    let sent = s.fake.messages();
    assert_eq!((sent[1].channel, sent[1].from.as_str(), sent[1].to.as_str(), sent[1].template.as_deref()), (Channel::WhatsApp, "+14155550101", "+14155550123", Some("HX0123")));
    assert_eq!(text(app, "SELECT body FROM messages WHERE direction = 'outbound' ORDER BY id DESC LIMIT 1"), "Hi Amara, order A-42 shipped.");
    // The outbound messages moved the chat's last message.
    assert_eq!(app.count(&format!("SELECT last_message_id FROM chats WHERE id = {chat}")), app.count("SELECT max(id) FROM messages"));
}

#[tokio::test]
async fn sms_replies_are_free_text_and_opted_out_clients_are_refused() {
    let s = setup_double(false).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    let chat = inbound(app, w, s.client_id, "sms", "hi", 90_000);
    let (status, html) = reply(admin, chat, &[("body", "Hello")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Twilio is not configured"));
    configure(app, w);
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains("SMS: free text.") && page.contains(r#"id="sms-segments""#));
    let (status, _) = reply(admin, chat, &[("body", "  ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Plain form post: redirect back with a flash.
    let r = admin.post(&format!("/chat/{chat}/messages"), &[("body", "Your SMS reply")]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    wait_for(app, "EXISTS (SELECT 1 FROM messages WHERE direction = 'outbound' AND provider_id IS NOT NULL)").await;
    let sent = s.fake.messages();
    assert_eq!((sent[0].channel, sent[0].from.as_str(), sent[0].to.as_str(), sent[0].body.as_deref()), (Channel::Sms, SMS_FROM, CLIENT_PHONE, Some("Your SMS reply")));

    sql(app, &format!("UPDATE clients SET opt_out_sms_at = now(), opt_out_sms_source = 'manual' WHERE id = {}", s.client_id));
    let (status, html) = reply(admin, chat, &[("body", "Hello again")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Amara Okafor opted out of SMS messages."), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-message'"), 1);
}

#[tokio::test]
async fn an_agent_replies_in_a_chat_assigned_to_them_of_a_client_they_do_not_own() {
    let s = setup_double(true).await;
    let (app, w) = (&s.app, s.workspace_id);
    let (agent, agent_id) = sign_in(app, "ann@acme.test", "Ann Agent", Role::Agent).await;
    let chat = inbound(app, w, s.client_id, "sms", "anyone there?", 60);
    sql(app, &format!("INSERT INTO follow_ups (workspace_id, client_id, assigned_to, due_at, notes) VALUES ({w}, {}, {agent_id}, now() + interval '1 day', 'Call back about the order')", s.client_id));
    assert_eq!(agent.get(&format!("/chat/{chat}")).await.status(), StatusCode::NOT_FOUND, "not theirs yet");
    sql(app, &format!("UPDATE chats SET assignee_id = {agent_id} WHERE id = {chat}"));
    let page = agent.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains("<h2>Amara Okafor</h2>"), "the card without a link to a client page they may not open");
    assert!(!page.contains("Call back about the order") && !page.contains("id=\"chat-follow-ups\""), "no follow-ups of a client they may not see");
    assert!(page.contains(r#"<dt>Chat assignee</dt><dd id="chat-assignee" hx-disable>Ann Agent</dd>"#));
    let (status, html) = reply(&agent, chat, &[("body", "Yes, Ann here.")]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(text(app, "SELECT concat_ws('|', body, created_by) FROM messages WHERE direction = 'outbound'"), format!("Yes, Ann here.|{agent_id}"));
    // The admin sees the client's card with its link and the open follow-up.
    let page = s.browser.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains(&format!("<h2><a href=\"/clients/{}\">Amara Okafor</a></h2>", s.client_id)));
    assert!(page.contains("<span hx-disable>Call back about the order</span>"));
}

#[tokio::test]
async fn an_overlong_template_variable_is_refused_with_the_reason_on_the_client_page_and_in_chat() {
    // Issue 18.9: a 20,000-character variable gave a 500 (the maxlength is only in the browser).
    let s = setup_double(true).await;
    let (app, w, admin) = (&s.app, s.workspace_id, &s.browser);
    let t = add_template(app, w, "HX0123", "order_update", "Hi {{1}}, order {{2}} shipped.", "approved").to_string();
    let long = "x".repeat(20_000);
    let r = admin
        .htmx_post(&format!("/clients/{}/messages", s.client_id), &[("channel", "whatsapp"), ("template_id", &t), ("var_1", &long), ("var_2", "A-42")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Variable {{1}} is longer than 1000 characters."));
    let chat = inbound(app, w, s.client_id, "whatsapp", "Hello?", 60);
    let (status, html) = reply(admin, chat, &[("template_id", &t), ("var_1", "Amara"), ("var_2", &long)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Variable {{2}} is longer than 1000 characters."), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), 0, "nothing queued");
}
