//! Internal notes and mentions (issue 22 part 4) against the real app, PostgreSQL and the
//! provider double: a note is never sent, shows among the messages in time order (and live),
//! is audited, leaves the inbox as it was; an `@name` notifies that person when they may see
//! the chat (the writer is told who was not), and reaches their hourly digest.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::messaging_send::{setup_double_with, sql, text};
use crate::support::{Browser, PASSWORD, TestApp};

async fn sign_in(app: &TestApp, email: &str, name: &str, role: Role) -> (Browser, i64) {
    let user = app.create_user_named("Acme", email, name, role);
    let browser = app.browser();
    assert_eq!(browser.login(email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user.id)
}

fn inbound(app: &TestApp, ws: i64, client: i64, body: &str) {
    sql(app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) \
         SELECT {ws}, {client}, 'whatsapp', 'inbound', phone, '+14155550100', '{body}', 'received' FROM clients WHERE id = {client}"
    ));
}

/// The conversation's items in order: "m:<body>" for a message, "n:<body>" for a note.
fn items(html: &str) -> Vec<String> {
    html.split("<li id=\"").skip(1)
        .filter_map(|li| {
            let kind = if li.starts_with("note-") { "n" } else if li.starts_with("message-") { "m" } else { return None };
            let body = li.split("<p class=\"bubble-body\" hx-disable>").nth(1)?.split("</p>").next()?;
            Some(format!("{kind}:{body}"))
        })
        .collect()
}

async fn note(browser: &Browser, chat: i64, body: &str) -> (StatusCode, String) {
    let r = browser.htmx_post_to(&format!("/chat/{chat}/notes"), "conversation", &[("body", body)]).await;
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_note_is_never_sent_shows_among_the_messages_and_tells_who_it_mentions_if_they_see_the_chat() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let (app, ws, admin) = (&s.app, s.workspace_id, &s.browser);
    let admin_name = text(app, &format!("SELECT name FROM users WHERE workspace_id = {ws} AND role = 'admin'"));
    let admin_id = app.count(&format!("SELECT id FROM users WHERE workspace_id = {ws} AND role = 'admin'"));
    let (ann, ann_id) = sign_in(app, "ann@acme.test", "Ann Agent", Role::Agent).await;
    let (bob, bob_id) = sign_in(app, "bob@acme.test", "Bob Builder", Role::Agent).await;
    sql(app, &format!("UPDATE clients SET assigned_to = {ann_id} WHERE id = {}", s.client_id));
    inbound(app, ws, s.client_id, "My parcel arrived broken");
    let chat = app.count(&format!("SELECT id FROM chats WHERE client_id = {}", s.client_id));
    let last_before = app.count(&format!("SELECT last_message_id FROM chats WHERE id = {chat}"));

    // Ann writes a note naming the admin (by full name) and Bob (by first name).
    let (status, page) = note(&ann, chat, &format!("@{admin_name} can we refund? cc @Bob")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("Note added. {admin_name} was told. Bob Builder cannot see this chat and was not told.")), "{page}");
    assert!(page.contains("id=\"tab-note\" value=\"note\" checked"), "the note tab stays open");
    let id = app.count(&format!("SELECT id FROM chat_notes WHERE chat_id = {chat}"));
    assert_eq!(text(app, &format!("SELECT mentions::text FROM chat_notes WHERE id = {id}")), format!("{{{admin_id}}}"));

    // Never sent: no outbound message, no send job, nothing at the provider; the inbox keeps
    // the client's message as the chat's last.
    assert_eq!(app.count(&format!("SELECT count(*) FROM messages WHERE workspace_id = {ws} AND direction = 'outbound'")), 0);
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-message'"), 0);
    assert!(s.fake.messages().is_empty());
    assert_eq!(app.count(&format!("SELECT last_message_id FROM chats WHERE id = {chat}")), last_before);

    // The admin is told, with a link to the note; Bob is not.
    assert_eq!(
        text(app, &format!("SELECT concat_ws('|', title, body, link) FROM notifications WHERE user_id = {admin_id} AND kind = 'chat_mention'")),
        format!("Ann Agent mentioned you|In the WhatsApp chat with Amara Okafor: @{admin_name} can we refund? cc @Bob|/chat/{chat}#note-{id}")
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {bob_id}")), 0);
    // Audited under the client; a live event for the chat's open pages.
    assert_eq!(
        text(app, "SELECT concat_ws('|', entity_id, after->>'note_id', after->'mentions'->>0) FROM audit_logs WHERE action = 'chats.note_added'"),
        format!("{}|{id}|{admin_name}", s.client_id)
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM events WHERE kind = 'note' AND chat_id = {chat} AND (data->>'note_id')::bigint = {id}")), 1);

    // Among the messages in time order, for everyone who sees the chat; live after it.
    inbound(app, ws, s.client_id, "Any news?");
    let conversation = admin.get_html(&format!("/chat/{chat}")).await;
    assert_eq!(items(&conversation), vec!["m:My parcel arrived broken".to_string(), format!("n:@{admin_name} can we refund? cc @Bob"), "m:Any news?".to_string()]);
    assert!(conversation.contains(&format!("<li id=\"note-{id}\" class=\"bubble note\">")));
    assert!(conversation.contains(&format!("&amp;note={id}")), "the refresher knows the newest note");
    let first = app.count(&format!("SELECT min(id) FROM messages WHERE client_id = {}", s.client_id));
    let live = admin.get_html(&format!("/chat/{chat}/messages?after={first}&note=0")).await;
    assert_eq!(items(&live), vec![format!("n:@{admin_name} can we refund? cc @Bob"), "m:Any news?".to_string()]);
    assert!(live.contains(&format!("&amp;note={id}")));
    let live = admin.get_html(&format!("/chat/{chat}/messages?after={first}&note={id}")).await;
    assert_eq!(items(&live), vec!["m:Any news?".to_string()]);

    // Refused: an empty note (422, nothing written); a chat Bob may not see, or another
    // workspace's, is 404.
    let (status, page) = note(&ann, chat, "   ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Write the note first."), "{page}");
    assert_eq!(note(&bob, chat, "sneaky").await.0, StatusCode::NOT_FOUND);
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let stranger = app.browser();
    assert_eq!(stranger.login(&beta.email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(note(&stranger, chat, "sneaky").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM chat_notes"), 1);
    // The same form sent twice writes one note.
    let token = ann.csrf().await;
    let form = [("csrf_token", token.as_str()), ("form_token", "noteonce00000001"), ("body", "Twice?")];
    for _ in 0..2 {
        let r = ann.client.post(ann.url(&format!("/chat/{chat}/notes"))).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(app.count("SELECT count(*) FROM chat_notes WHERE body = 'Twice?'"), 1);
}

#[tokio::test]
async fn a_mention_reaches_the_hourly_digest() {
    let sink = crate::support::smtp::SmtpSink::start();
    let url = sink.url();
    let app = crate::support::spawn_app_with(|s| s.smtp_url = Some(url.parse().unwrap())).await;
    let (ada, ada_id) = sign_in(&app, "ada@acme.test", "Ada Admin", Role::Admin).await;
    let (ann, _) = sign_in(&app, "ann@acme.test", "Ann Agent", Role::Agent).await;
    let ws = app.count(&format!("SELECT workspace_id FROM users WHERE id = {ada_id}"));
    sql(&app, &format!("INSERT INTO clients (workspace_id, name, phone, assigned_to) SELECT {ws}, 'Amara Okafor', '+14155550123', id FROM users WHERE email = 'ann@acme.test'"));
    let client = app.count(&format!("SELECT id FROM clients WHERE workspace_id = {ws}"));
    inbound(&app, ws, client, "Hello");
    let chat = app.count(&format!("SELECT id FROM chats WHERE client_id = {client}"));
    ada.post("/account/chat-digest", &[("chat_digest", "hourly")]).await;
    sql(&app, "UPDATE chat_digests SET since = now() - interval '1 hour'");
    assert_eq!(note(&ann, chat, "@Ada please call them back").await.0, StatusCode::OK);

    switchboard::chat::digest::enqueue_due(&mut app.conn(), chrono::Utc::now()).unwrap();
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].subject(), "You were mentioned in a chat note");
    let body = mail[0].decoded();
    assert!(body.contains("Ann Agent mentioned you. In the WhatsApp chat with Amara Okafor: @Ada please call them back"), "{body}");
    assert!(body.contains(&format!("/chat/{chat}#note-")), "{body}");
}
