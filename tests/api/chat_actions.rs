//! Issue 13 parts 3 and 5 against the real app: assigning, closing and reopening a chat (who
//! may, 404 / 403 / 422 / 409 with reasons), the audit rows, the `chat` events written by the
//! chats triggers, and the assignee's notifications (assigned; new message, collapsed while
//! unread; an inbound to a closed chat reopens it, delivered by the in-process provider
//! double).

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Binary, Text};
use reqwest::StatusCode;
use switchboard::users::model::User;
use switchboard::authz::Role;

use switchboard::messaging::Channel;

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN};
use crate::support::provider_double::{ProviderDouble, inbound_message};
use crate::support::{Browser, PASSWORD, TestApp, app_with_double, assert_redirects_to, spawn_app};

const OUR_NUMBER: &str = "+14155550100";

fn text(app: &TestApp, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        t: String,
    }
    diesel::sql_query(format!("SELECT ({sql})::text AS t")).get_result::<Row>(&mut app.conn()).expect("text query").t
}

fn exec(app: &TestApp, sql: &str) {
    diesel::sql_query(sql).execute(&mut app.conn()).expect(sql);
}

async fn sign_in(app: &TestApp, workspace: &str, name: &str, role: Role) -> (Browser, User) {
    let email = format!("{}-{}@{}.test", role.as_str(), uuid::Uuid::new_v4().simple(), workspace.to_lowercase());
    let user = app.create_user_named(workspace, &email, name, role);
    let browser = app.browser();
    assert_eq!(browser.login(&email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user)
}

/// A client (owned by `owner`) with a WhatsApp chat opened by an inbound message written
/// straight into `messages` (the chats trigger opens the chat); returns (client, chat).
fn client_with_chat(app: &TestApp, ws: i64, name: &str, phone: &str, owner: Option<i64>) -> (i64, i64) {
    let owner = owner.map_or("NULL".to_string(), |o| o.to_string());
    exec(app, &format!("INSERT INTO clients (workspace_id, name, phone, assigned_to) VALUES ({ws}, '{name}', '{phone}', {owner})"));
    let client = app.count(&format!("SELECT id FROM clients WHERE workspace_id = {ws} AND phone = '{phone}'"));
    exec(
        app,
        &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) \
             VALUES ({ws}, {client}, 'whatsapp', 'inbound', '{phone}', '{OUR_NUMBER}', 'Hello', 'received')"
        ),
    );
    let chat = app.count(&format!("SELECT id FROM chats WHERE workspace_id = {ws} AND client_id = {client}"));
    (client, chat)
}

fn chat_events(app: &TestApp, chat: i64) -> i64 {
    app.count(&format!("SELECT count(*) FROM events WHERE kind = 'chat' AND chat_id = {chat}"))
}

async fn htmx_post(browser: &Browser, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    browser.htmx_post_to(path, "chat-actions", fields).await
}

#[tokio::test]
async fn an_admin_assigns_a_chat_to_a_colleague_audited_with_an_event_and_a_notification() {
    let app = spawn_app().await;
    let (admin, ana) = sign_in(&app, "Acme", "Ana Lopez", Role::Admin).await;
    let ben = app.create_user_named("Acme", "ben@acme.test", "Ben Ray", Role::Agent);
    let ws = ana.workspace_id;
    let (client, chat) = client_with_chat(&app, ws, "Amara Smith", "+14155550123", None);
    let events = chat_events(&app, chat);

    // Without JavaScript: a redirect back to the chat, the flash on the next page.
    let r = admin.post(&format!("/chat/{chat}/assign"), &[("user_id", &ben.id.to_string())]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    assert_eq!(app.count(&format!("SELECT assignee_id FROM chats WHERE id = {chat}")), ben.id);
    assert!(admin.get_html("/account").await.contains("Assigned to Ben Ray."));
    // One `chat` event by the trigger, naming the assignee.
    assert_eq!(chat_events(&app, chat), events + 1);
    assert_eq!(
        text(&app, &format!("SELECT data->>'assignee_id' FROM events WHERE kind = 'chat' AND chat_id = {chat} ORDER BY id DESC LIMIT 1")),
        ben.id.to_string()
    );
    // Audited against the client, with before and after.
    assert_eq!(
        text(
            &app,
            "SELECT concat_ws('|', actor_user_id, module, entity_id, before->>'assignee', after->>'assignee', after->>'assignee_id', after->>'channel', after->>'name', after->>'chat_id') \
             FROM audit_logs WHERE action = 'chats.assigned'"
        ),
        format!("{}|clients|{client}|Ben Ray|{}|whatsapp|Amara Smith|{chat}", ana.id, ben.id)
    );
    // Ben hears of it, linked to the chat.
    assert_eq!(
        text(&app, &format!("SELECT concat_ws('|', kind, title, body, link, read_at IS NULL) FROM notifications WHERE user_id = {}", ben.id)),
        format!("chat_assigned|Chat assigned to you|Ana Lopez assigned you the WhatsApp chat with Amara Smith.|/chat/{chat}|t")
    );

    // With htmx: the partial (Ana selected), and the flash out of band.
    let r = htmx_post(&admin, &format!("/chat/{chat}/assign"), &[("user_id", &ana.id.to_string())]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<div id="chat-actions""#), "{html}");
    assert!(html.contains(&format!(r#"<option value="{}" selected>Ana Lopez</option>"#, ana.id)), "{html}");
    assert!(html.contains(&format!(r#"<option value="{}">Ben Ray</option>"#, ben.id)), "{html}");
    assert!(html.contains(r#"hx-swap-oob="true"><p class="flash success">Assigned to Ana Lopez.</p>"#), "{html}");
    assert!(html.contains(&format!(r#"action="/chat/{chat}/close""#)), "{html}");
    assert!(!html.contains("Assign to me"), "already hers: {html}");
    assert!(!html.contains("<html"), "a fragment");
    // Self-assignment: no notification for Ana.
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {}", ana.id)), 0);
    assert_eq!(chat_events(&app, chat), events + 2);

    // The same assignee again: nothing written.
    let audits = app.count("SELECT count(*) FROM audit_logs WHERE action = 'chats.assigned'");
    let r = admin.post(&format!("/chat/{chat}/assign"), &[("user_id", &ana.id.to_string())]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'chats.assigned'"), audits);
    assert_eq!(chat_events(&app, chat), events + 2);

    // Empty = unassign.
    let r = admin.post(&format!("/chat/{chat}/assign"), &[("user_id", "")]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM chats WHERE id = {chat} AND assignee_id IS NULL")), 1);
    assert_eq!(
        text(&app, "SELECT concat_ws('|', before->>'assignee', coalesce(after->>'assignee', '-')) FROM audit_logs WHERE action = 'chats.assigned' ORDER BY id DESC LIMIT 1"),
        "Ana Lopez|-"
    );
    assert_eq!(chat_events(&app, chat), events + 3);
    // The audit page reads it as a sentence.
    let page = admin.get_html("/audit-logs").await;
    assert!(page.contains("from the WhatsApp chat with"), "{page}");
    assert!(page.contains(" assigned the WhatsApp chat with "), "{page}");
}

#[tokio::test]
async fn agents_assign_only_themselves_and_see_only_their_chats() {
    let app = spawn_app().await;
    let (agent, amy) = sign_in(&app, "Acme", "Amy Agent", Role::Agent).await;
    let ws = amy.workspace_id;
    let colleague = app.create_user_named("Acme", "cole@acme.test", "Cole Agent", Role::Agent);
    let (_, mine) = client_with_chat(&app, ws, "Mine Ltd", "+14155550111", Some(amy.id));
    let (_, theirs) = client_with_chat(&app, ws, "Theirs Ltd", "+14155550112", Some(colleague.id));

    // A chat of someone else's client: 404 for every action, nothing written.
    for path in [format!("/chat/{theirs}/assign"), format!("/chat/{theirs}/close"), format!("/chat/{theirs}/reopen")] {
        let r = agent.post(&path, &[("user_id", &amy.id.to_string())]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Found before the form is read: a bad user id on an invisible chat is still 404.
    assert_eq!(agent.post(&format!("/chat/{theirs}/assign"), &[("user_id", "x")]).await.status(), StatusCode::NOT_FOUND);
    // Assigning a visible chat to a colleague: 403 with the reason.
    let r = agent.post(&format!("/chat/{mine}/assign"), &[("user_id", &colleague.id.to_string())]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Agents may assign a chat only to themselves."));
    assert_eq!(app.count("SELECT count(*) FROM chats WHERE assignee_id IS NOT NULL"), 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action LIKE 'chats.%'"), 0);
    // To themselves: fine; the partial offers no select of users to an agent, only "Unassign me".
    let r = htmx_post(&agent, &format!("/chat/{mine}/assign"), &[("user_id", &amy.id.to_string())]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Assigned to Amy Agent") && html.contains("Unassign me"), "{html}");
    assert!(!html.contains("<select") && !html.contains("Assign to me"), "{html}");
    assert_eq!(app.count(&format!("SELECT assignee_id FROM chats WHERE id = {mine}")), amy.id);
    assert_eq!(app.count("SELECT count(*) FROM notifications"), 0, "no notification for self-assignment");

    // A chat assigned to her (by a manager) becomes visible though the client is not hers;
    // she may unassign herself, then she no longer sees it: off to the inbox.
    exec(&app, &format!("UPDATE chats SET assignee_id = {} WHERE id = {theirs}", amy.id));
    let r = agent.post(&format!("/chat/{theirs}/assign"), &[("user_id", "")]).await;
    assert_redirects_to(&r, "/chat");
    assert_eq!(app.count(&format!("SELECT count(*) FROM chats WHERE id = {theirs} AND assignee_id IS NULL")), 1);
    assert_eq!(agent.post(&format!("/chat/{theirs}/close"), &[]).await.status(), StatusCode::NOT_FOUND);

    // Unassigning a colleague from a chat she sees: 403.
    exec(&app, &format!("UPDATE chats SET assignee_id = {} WHERE id = {mine}", colleague.id));
    let r = agent.post(&format!("/chat/{mine}/assign"), &[("user_id", "")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Agents may unassign only themselves."));
    assert_eq!(app.count(&format!("SELECT assignee_id FROM chats WHERE id = {mine}")), colleague.id);
}

#[tokio::test]
async fn managers_assign_active_users_of_their_workspace_only_and_other_workspaces_chats_are_404() {
    let app = spawn_app().await;
    let (manager, mona) = sign_in(&app, "Acme", "Mona Manager", Role::Manager).await;
    let (admin, _) = sign_in(&app, "Acme", "Ada Admin", Role::Admin).await;
    let ws = mona.workspace_id;
    let gone = app.create_user_named("Acme", "gone@acme.test", "Gus Gone", Role::Agent);
    exec(&app, &format!("UPDATE users SET active = false WHERE id = {}", gone.id));
    let stranger = app.create_user_named("Globex", "g@globex.test", "Gil Globex", Role::Agent);
    let (_, chat) = client_with_chat(&app, ws, "Mona Client", "+14155550121", Some(mona.id));
    let (_, globex_chat) = client_with_chat(&app, stranger.workspace_id, "Globex Client", "+14155550122", None);
    let (_, hidden) = client_with_chat(&app, ws, "Not Monas", "+14155550124", None);

    for (what, user_id, reason) in [
        ("a deactivated user", gone.id.to_string(), "Gus Gone is deactivated; a chat can only be assigned to an active user."),
        ("another workspace's user", stranger.id.to_string(), "That user is not a member of this workspace."),
        ("no user at all", "999999".to_string(), "That user is not a member of this workspace."),
        ("not a number", "ben".to_string(), "Choose a user from the list."),
    ] {
        let r = manager.post(&format!("/chat/{chat}/assign"), &[("user_id", &user_id)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert!(r.text().await.unwrap().contains(reason), "{what}");
    }
    assert_eq!(app.count("SELECT count(*) FROM chats WHERE assignee_id IS NOT NULL"), 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action LIKE 'chats.%'"), 0);
    // A chat of a client she may not see: 404; another workspace's chat: 404 even for an admin.
    assert_eq!(manager.post(&format!("/chat/{hidden}/assign"), &[("user_id", &mona.id.to_string())]).await.status(), StatusCode::NOT_FOUND);
    for path in [format!("/chat/{globex_chat}/assign"), format!("/chat/{globex_chat}/close")] {
        assert_eq!(admin.post(&path, &[("user_id", "")]).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(app.count(&format!("SELECT count(*) FROM chats WHERE id = {globex_chat} AND status = 'open'")), 1);
    // An active colleague: fine.
    let colleague = app.create_user_named("Acme", "col@acme.test", "Col League", Role::Agent);
    let r = manager.post(&format!("/chat/{chat}/assign"), &[("user_id", &colleague.id.to_string())]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {} AND kind = 'chat_assigned'", colleague.id)), 1);
}

#[tokio::test]
async fn close_and_reopen_refuse_the_state_they_are_in() {
    let app = spawn_app().await;
    let (admin, ana) = sign_in(&app, "Acme", "Ana Lopez", Role::Admin).await;
    let ws = ana.workspace_id;
    let (client, chat) = client_with_chat(&app, ws, "Amara Smith", "+14155550123", None);
    let events = chat_events(&app, chat);

    let r = admin.post(&format!("/chat/{chat}/reopen"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("This chat is already open."));
    assert_eq!(chat_events(&app, chat), events);

    let r = htmx_post(&admin, &format!("/chat/{chat}/close"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!(r#"action="/chat/{chat}/reopen""#)), "{html}");
    assert!(!html.contains(&format!(r#"action="/chat/{chat}/close""#)), "{html}");
    assert!(html.contains(r#"<p class="flash success">Chat closed.</p>"#), "{html}");
    assert_eq!(text(&app, &format!("SELECT concat_ws('|', status, closed_at IS NOT NULL) FROM chats WHERE id = {chat}")), "closed|t");
    assert_eq!(chat_events(&app, chat), events + 1);
    assert_eq!(text(&app, &format!("SELECT data->>'status' FROM events WHERE kind = 'chat' AND chat_id = {chat} ORDER BY id DESC LIMIT 1")), "closed");

    let r = admin.post(&format!("/chat/{chat}/close"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("This chat is already closed."));
    assert_eq!(chat_events(&app, chat), events + 1);

    let r = admin.post(&format!("/chat/{chat}/reopen"), &[]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    assert_eq!(text(&app, &format!("SELECT concat_ws('|', status, closed_at IS NULL) FROM chats WHERE id = {chat}")), "open|t");
    assert_eq!(chat_events(&app, chat), events + 2);
    assert_eq!(
        text(&app, "SELECT string_agg(concat_ws('|', action, entity_id, before->>'status', after->>'status'), ',' ORDER BY id) FROM audit_logs WHERE action LIKE 'chats.%'"),
        format!("chats.closed|{client}|open|closed,chats.reopened|{client}|closed|open")
    );
    // GET is not a route of these paths.
    assert_eq!(admin.get(&format!("/chat/{chat}/close")).await.status(), StatusCode::METHOD_NOT_ALLOWED);
}

pub(crate) struct Twilio {
    pub(crate) ws: i64,
    pub(crate) key: String,
}

pub(crate) fn twilio(app: &TestApp, ws: i64) -> Twilio {
    let at_rest = switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes());
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from) VALUES ($1, $2, $3, ARRAY[$4], $4)")
        .bind::<BigInt, _>(ws)
        .bind::<Text, _>(ACCOUNT_SID)
        .bind::<Binary, _>(switchboard::crypto::seal(&at_rest, AUTH_TOKEN.as_bytes()))
        .bind::<Text, _>(OUR_NUMBER)
        .execute(&mut app.conn())
        .unwrap();
    let key = switchboard::messaging::account::webhook_key(&mut app.conn(), ws).unwrap();
    Twilio { ws, key }
}

/// An inbound WhatsApp message from `from`, delivered by the provider double.
pub(crate) async fn inbound(double: &ProviderDouble, app: &TestApp, t: &Twilio, sid: &str, from: &str, body: &str) {
    let r = double.deliver_inbound(&app.base, &t.key, &inbound_message(sid, Channel::WhatsApp, from, OUR_NUMBER, body)).await;
    assert_eq!(r, StatusCode::OK, "inbound {sid}");
}

#[tokio::test]
async fn the_assignee_hears_of_new_messages_once_while_unread_and_a_closed_chat_reopens() {
    let (app, double) = app_with_double().await;
    let (admin, ana) = sign_in(&app, "Acme", "Ana Lopez", Role::Admin).await;
    let (ben_browser, ben) = sign_in(&app, "Acme", "Ben Ray", Role::Agent).await;
    let t = twilio(&app, ana.workspace_id);
    exec(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({}, 'Amara Smith', '+14155550123')", t.ws));

    // The first message opens the chat; nobody is assigned: only the admin is told (of an
    // unassigned chat, issue 19.18).
    inbound(&double, &app, &t, "SM1", "+14155550123", "Hi there").await;
    let chat = app.count("SELECT id FROM chats");
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {} AND kind = 'chat_unassigned'", ana.id)), 1);
    assert_eq!(app.count("SELECT count(*) FROM notifications WHERE kind <> 'chat_unassigned'"), 0);
    let r = admin.post(&format!("/chat/{chat}/assign"), &[("user_id", &ben.id.to_string())]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    let assigned = |app: &TestApp| app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {} AND kind = 'chat_assigned'", ben.id));
    assert_eq!(assigned(&app), 1);

    // Two messages: one unread notification, carrying the latest text.
    inbound(&double, &app, &t, "SM2", "+14155550123", "Are you there?").await;
    inbound(&double, &app, &t, "SM3", "+14155550123", "Hello??").await;
    let new_messages = format!("SELECT count(*) FROM notifications WHERE user_id = {} AND kind = 'chat_message'", ben.id);
    assert_eq!(app.count(&new_messages), 1);
    assert_eq!(
        text(&app, &format!("SELECT concat_ws('|', title, body, link) FROM notifications WHERE user_id = {} AND kind = 'chat_message'", ben.id)),
        format!("New message from Amara Smith|WhatsApp: Hello??|/chat/{chat}")
    );
    assert_eq!(app.count("SELECT count(*) FROM notifications WHERE kind = 'chat_message' AND user_id <> (SELECT assignee_id FROM chats)"), 0);
    // Read: the next message adds a new one.
    let id = app.count(&new_messages.replace("count(*)", "max(id)"));
    assert!(ben_browser.post(&format!("/notifications/{id}/read"), &[]).await.status().is_redirection());
    inbound(&double, &app, &t, "SM4", "+14155550123", "Thanks").await;
    assert_eq!(app.count(&new_messages), 2);
    assert_eq!(app.count(&format!("{new_messages} AND read_at IS NULL")), 1);

    // Closed, then the client writes: the trigger reopens it, Ben is told (collapsed into
    // the unread one), and the chat event says open.
    let r = admin.post(&format!("/chat/{chat}/close"), &[]).await;
    assert_redirects_to(&r, &format!("/chat/{chat}"));
    inbound(&double, &app, &t, "SM5", "+14155550123", "One more thing").await;
    assert_eq!(text(&app, &format!("SELECT concat_ws('|', status, closed_at IS NULL, assignee_id) FROM chats WHERE id = {chat}")), format!("open|t|{}", ben.id));
    assert_eq!(text(&app, &format!("SELECT data->>'status' FROM events WHERE kind = 'chat' AND chat_id = {chat} ORDER BY id DESC LIMIT 1")), "open");
    assert_eq!(app.count(&format!("{new_messages} AND read_at IS NULL AND body = 'WhatsApp: One more thing'")), 1);
    assert_eq!(app.count(&new_messages), 2);
    // A deactivated assignee is not told.
    exec(&app, &format!("UPDATE users SET active = false WHERE id = {}", ben.id));
    exec(&app, &format!("UPDATE notifications SET read_at = now() WHERE user_id = {}", ben.id));
    inbound(&double, &app, &t, "SM6", "+14155550123", "Anyone?").await;
    assert_eq!(app.count(&new_messages), 2);
    assert_eq!(assigned(&app), 1);
}

/// Waits (polling) until the query counts `want`; panics after 20 s.
async fn wait_count(app: &TestApp, sql: &str, want: i64) {
    for _ in 0..200 {
        if app.count(sql) == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{sql} never counted {want}: {}", app.count(sql));
}

#[tokio::test]
async fn the_hourly_digest_emails_unread_assigned_chats_once_per_user_hour() {
    let sink = crate::support::smtp::SmtpSink::start();
    let url = sink.url();
    let app = crate::support::spawn_app_with(|s| s.smtp_url = Some(url.parse().unwrap())).await;
    let (ben_browser, ben) = sign_in(&app, "Acme", "Ben Ray", Role::Agent).await;
    let (cara_browser, cara) = sign_in(&app, "Acme", "Cara Lee", Role::Agent).await;
    let ws = ben.workspace_id;

    // Off by default; turned on from /account, audited.
    let page = ben_browser.get_html("/account").await;
    assert!(page.contains(r#"<option value="off" selected>Off</option>"#), "{page}");
    assert!(page.contains("Email me a digest of unread chat messages assigned to me"));
    let r = ben_browser.post("/account/chat-digest", &[("chat_digest", "weekly")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM chat_digests"), 0);
    for browser in [&ben_browser, &cara_browser] {
        assert_redirects_to(&browser.post("/account/chat-digest", &[("chat_digest", "hourly")]).await, "/account");
    }
    let page = ben_browser.get_html("/account").await;
    assert!(page.contains(r#"<option value="hourly" selected>Hourly</option>"#), "{page}");
    assert!(page.contains("You will get an hourly email of unread chat messages assigned to you."));
    assert_eq!(
        text(&app, &format!("SELECT concat_ws('|', entity_id, before->>'chat_digest', after->>'chat_digest') FROM audit_logs WHERE action = 'users.chat_digest_changed' AND actor_user_id = {}", ben.id)),
        format!("{}|off|hourly", ben.id)
    );
    exec(&app, "UPDATE chat_digests SET since = now() - interval '1 hour'");

    // Ben: one chat with unread messages, one read, one of Cara's; Cara: nothing unread.
    let (_, unread) = client_with_chat(&app, ws, "Amara Smith", "+14155550123", None);
    let (_, read) = client_with_chat(&app, ws, "Read Ltd", "+14155550124", None);
    let (_, caras) = client_with_chat(&app, ws, "Caras Client", "+14155550125", None);
    exec(&app, &format!("UPDATE chats SET assignee_id = {} WHERE id IN ({unread}, {read})", ben.id));
    exec(&app, &format!("UPDATE chats SET assignee_id = {} WHERE id = {caras}", cara.id));
    exec(&app, &format!("INSERT INTO chat_reads (workspace_id, chat_id, user_id, read_count) SELECT workspace_id, id, assignee_id, inbound_count FROM chats WHERE id IN ({read}, {caras})"));

    // Two instances ticking in the same hour make one job per user.
    let now = chrono::Utc::now();
    assert_eq!(switchboard::chat::digest::enqueue_due(&mut app.conn(), now).unwrap(), 2);
    assert_eq!(switchboard::chat::digest::enqueue_due(&mut app.conn(), now).unwrap(), 0);
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'chat-digest' AND idempotency_key = 'chat-digest:{}:{}'", ben.id, now.format("%Y-%m-%dT%H"))), 1);
    wait_count(&app, "SELECT count(*) FROM jobs WHERE kind = 'chat-digest' AND status = 'done'", 2).await;
    wait_count(&app, "SELECT count(*) FROM jobs WHERE kind = 'send-email' AND status = 'done'", 1).await;
    let mail = sink.wait_for(1).await;
    assert_eq!(mail.len(), 1, "none for Cara");
    assert_eq!(mail[0].to, vec![ben.email.clone()]);
    assert_eq!(mail[0].subject(), "1 chat with unread messages");
    let body = mail[0].decoded();
    assert!(body.contains("Amara Smith (WhatsApp): 1 unread"), "{body}");
    assert!(body.contains(&format!("/chat/{unread}")), "{body}");
    assert!(!body.contains("Read Ltd") && !body.contains("Caras Client"), "{body}");
    // Ben's `since` moved on; Cara's did not.
    assert_eq!(app.count(&format!("SELECT count(*) FROM chat_digests WHERE user_id = {} AND since > now() - interval '5 minutes'", ben.id)), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM chat_digests WHERE user_id = {} AND since < now() - interval '5 minutes'", cara.id)), 1);

    // The next hour: nothing new since the last digest, so no email.
    assert_eq!(switchboard::chat::digest::enqueue_due(&mut app.conn(), now + chrono::Duration::hours(1)).unwrap(), 2);
    wait_count(&app, "SELECT count(*) FROM jobs WHERE kind = 'chat-digest' AND status = 'done'", 4).await;
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-email'"), 1);
    // Off again: no more jobs.
    assert_redirects_to(&ben_browser.post("/account/chat-digest", &[("chat_digest", "off")]).await, "/account");
    assert_eq!(switchboard::chat::digest::enqueue_due(&mut app.conn(), now + chrono::Duration::hours(2)).unwrap(), 1);
}

#[tokio::test]
async fn the_answers_and_the_live_refresh_carry_the_header_side_panel_rule_and_a_read_badge() {
    // Issue 19.3: what the conversation page says of the chat row comes again out of band,
    // and the badge refreshed on a conversation page counts that chat as read.
    let app = spawn_app().await;
    let (admin, ann) = sign_in(&app, "Acme", "Ann Admin", Role::Admin).await;
    let ws = ann.workspace_id;
    let (_, chat) = client_with_chat(&app, ws, "Grace Hopper", "+14155550123", None);
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains(&format!(r#"hx-get="/chat/badge?reading={chat}""#)), "{page}");
    assert!(page.contains(r#"<dd id="chat-assignee" hx-disable>Unassigned</dd>"#), "{page}");

    let r = htmx_post(&admin, &format!("/chat/{chat}/assign"), &[("user_id", &ann.id.to_string())]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<dd id="chat-assignee" hx-swap-oob="true" hx-disable>Ann Admin</dd>"#), "{html}");
    let r = htmx_post(&admin, &format!("/chat/{chat}/close"), &[]).await;
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<span id="chat-closed" hx-swap-oob="true"> <span class="pill inactive">closed</span></span>"#), "{html}");

    // A new message: the live refresh says the window's new end; the badge marks it read.
    exec(
        &app,
        &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) \
             SELECT {ws}, client_id, 'whatsapp', 'inbound', '+14155550123', '{OUR_NUMBER}', 'Again', 'received' FROM chats WHERE id = {chat}"
        ),
    );
    let live = admin.get_html(&format!("/chat/{chat}/messages?after=0")).await;
    assert!(live.contains(r#"<span id="chat-closed" hx-swap-oob="true"></span>"#), "the inbound reopened it: {live}");
    assert!(live.contains(r#"<p class="composer-rule muted" id="composer-rule" hx-swap-oob="true">Free text until "#), "{live}");
    exec(&app, &format!("INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) SELECT {ws}, client_id, 'whatsapp', 'inbound', '+14155550123', '{OUR_NUMBER}', 'More', 'received' FROM chats WHERE id = {chat}"));
    assert!(admin.get_html("/chat/badge").await.contains(">1<"), "unread elsewhere");
    let badge = admin.get_html(&format!("/chat/badge?reading={chat}")).await;
    assert!(badge.contains(r#"class="badge empty""#) && badge.contains(&format!(r#"hx-get="/chat/badge?reading={chat}""#)), "{badge}");
}
