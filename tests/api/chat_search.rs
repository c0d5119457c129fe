//! Conversation search (issue 22 part 7) against the real app and PostgreSQL: `GET /chat?q=`
//! matches the text of the chats' messages as well as names and phones, scoped like the
//! inbox (role, tab, workspace), with the newest matching message as the row's preview (the
//! term marked) and a link that opens the conversation at it, marked and outlined.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::messaging_send::sql;
use crate::support::{Browser, PASSWORD, TestApp, spawn_app};

async fn sign_in(app: &TestApp, workspace: &str, email: &str, role: Role) -> (Browser, i64, i64) {
    let user = app.create_user_named(workspace, email, "Someone", role);
    let browser = app.browser();
    assert_eq!(browser.login(email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user.id, user.workspace_id)
}

/// A client with WhatsApp messages (inbound, one a minute, oldest first); its chat's id.
fn chat_with(app: &TestApp, ws: i64, name: &str, phone: &str, owner: Option<i64>, bodies: &[&str]) -> i64 {
    let owner = owner.map_or("NULL".to_string(), |o| o.to_string());
    sql(app, &format!("INSERT INTO clients (workspace_id, name, phone, assigned_to) VALUES ({ws}, '{name}', '{phone}', {owner})"));
    for (i, body) in bodies.iter().enumerate() {
        let ago = bodies.len() - i;
        sql(app, &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
             SELECT {ws}, id, 'whatsapp', 'inbound', phone, '+14155550100', '{body}', 'received', now() - interval '{ago} minutes' FROM clients WHERE phone = '{phone}' AND workspace_id = {ws}"
        ));
    }
    app.count(&format!("SELECT ch.id FROM chats ch JOIN clients c ON c.id = ch.client_id WHERE c.phone = '{phone}' AND c.workspace_id = {ws}"))
}

fn listed(html: &str) -> Vec<i64> {
    html.split("<li class=\"chat-row").skip(1).map(|row| row.split("id=\"chat-").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn message_text_is_searched_within_the_readers_chats_and_opens_the_conversation_at_the_match() {
    let app = spawn_app().await;
    let (admin, _, ws) = sign_in(&app, "Acme", "ada@acme.test", Role::Admin).await;
    let (ann, ann_id, _) = sign_in(&app, "Acme", "ann@acme.test", Role::Agent).await;
    let (beta, _, beta_ws) = sign_in(&app, "Beta", "boss@beta.test", Role::Admin).await;
    // Amara (Ann's client): the match, then 20 more messages. Ben (nobody's): a match.
    let mut amara_bodies = vec!["Hello", "My PARCEL arrived broken, 50% off?"];
    let later: Vec<String> = (1..=20).map(|i| format!("Later message {i}")).collect();
    amara_bodies.extend(later.iter().map(String::as_str));
    let amara = chat_with(&app, ws, "Amara Okafor", "+14155550201", Some(ann_id), &amara_bodies);
    let ben = chat_with(&app, ws, "Ben Bello", "+14155550202", None, &["Where is the parcel?"]);
    let cleo = chat_with(&app, ws, "Cleo Cruz", "+14155550203", None, &["Hi there"]);
    let theirs = chat_with(&app, beta_ws, "Their Client", "+14155550209", None, &["their parcel"]);
    let hit = app.count(&format!("SELECT id FROM messages WHERE body LIKE 'My PARCEL%' AND workspace_id = {ws}"));

    // The admin finds both chats by text, newest activity first; the match marked.
    let html = admin.get_html("/chat?q=parcel").await;
    assert_eq!(listed(&html), vec![ben, amara], "{html}");
    assert!(html.contains("My <mark>PARCEL</mark> arrived broken, 50% off?"), "{html}");
    assert!(html.contains(&format!("href=\"/chat/{amara}?at={hit}&#38;q=parcel#message-{hit}\"")), "{html}");
    assert!(!html.contains("their parcel"));
    // LIKE's wildcards are text: "50%" matches only itself.
    assert_eq!(listed(&admin.get_html("/chat?q=50%25%20off").await), vec![amara]);
    assert_eq!(listed(&admin.get_html("/chat?q=s%25e").await), Vec::<i64>::new(), "not “s, anything, e”");
    // Ann sees only her client's chat; Beta's admin only theirs.
    assert_eq!(listed(&ann.get_html("/chat?q=parcel").await), vec![amara]);
    assert_eq!(listed(&beta.get_html("/chat?q=parcel").await), vec![theirs]);
    // Names and phones still match; a term under 3 characters only names and phones.
    assert_eq!(listed(&admin.get_html("/chat?q=cleo").await), vec![cleo]);
    assert_eq!(listed(&admin.get_html("/chat?q=hi").await), Vec::<i64>::new());
    // The tab applies: a closed chat is found only under Closed.
    sql(&app, &format!("UPDATE chats SET status = 'closed' WHERE id = {ben}"));
    assert_eq!(listed(&admin.get_html("/chat?q=parcel").await), vec![amara]);
    assert_eq!(listed(&admin.get_html("/chat?status=closed&q=parcel").await), vec![ben]);

    // The link opens the conversation at the match: it is outlined and marked, with the
    // messages around it and a link to the newer ones beyond the page.
    let page = admin.get_html(&format!("/chat/{amara}?at={hit}&q=parcel")).await;
    assert!(page.contains(&format!("<li id=\"message-{hit}\" class=\"bubble inbound hit\"")), "{page}");
    assert!(page.contains("My <mark>PARCEL</mark> arrived broken"), "{page}");
    assert!(page.contains("Hello") && page.contains("Later message 15") && !page.contains("Later message 16"), "15 after the match");
    assert!(page.contains(&format!("<li class=\"newer\" id=\"newer-messages\"><a href=\"/chat/{amara}\">Newer messages</a></li>")));
    // Another chat's message id shows nothing of it; another workspace's chat is a 404.
    let elsewhere = admin.get_html(&format!("/chat/{cleo}?at={hit}&q=parcel")).await;
    assert!(!elsewhere.contains("PARCEL"));
    assert_eq!(beta.get(&format!("/chat/{amara}?at={hit}&q=parcel")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(ann.get(&format!("/chat/{ben}?at={hit}&q=parcel")).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_common_term_reads_each_chats_newest_messages_and_finds_the_same_newest_match() {
    // Over 2,000 matching messages (the planner's estimate, after ANALYZE): the search walks
    // the chats in the list's order instead of gathering every match; the answer is the same.
    let app = spawn_app().await;
    let (admin, _, ws) = sign_in(&app, "Acme", "ada@acme.test", Role::Admin).await;
    let (ann, ann_id, _) = sign_in(&app, "Acme", "ann@acme.test", Role::Agent).await;
    let amara = chat_with(&app, ws, "Amara Okafor", "+14155550201", Some(ann_id), &["Hello"]);
    let ben = chat_with(&app, ws, "Ben Bello", "+14155550202", None, &["Hello"]);
    let cleo = chat_with(&app, ws, "Cleo Cruz", "+14155550203", None, &["Nothing to see"]);
    sql(&app, &format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
         SELECT {ws}, c.id, 'whatsapp', 'inbound', c.phone, '+14155550100', 'Refund number ' || g, 'received', now() - interval '2 days' + g * interval '1 second' \
         FROM generate_series(1, 2600) g JOIN clients c ON c.workspace_id = {ws} AND c.phone = CASE WHEN g % 2 = 0 THEN '+14155550201' ELSE '+14155550202' END"
    ));
    sql(&app, "ANALYZE messages");
    // The newest activity: Cleo (no match), then Ben, then Amara.
    sql(&app, &format!("UPDATE chats SET last_message_at = now() - interval '1 minute' * (CASE id WHEN {cleo} THEN 1 WHEN {ben} THEN 2 ELSE 3 END)"));
    let newest = |phone: &str| app.count(&format!("SELECT max(m.id) FROM messages m JOIN clients c ON c.id = m.client_id WHERE c.phone = '{phone}' AND m.body LIKE 'Refund%'"));
    let html = admin.get_html("/chat?q=refund").await;
    assert_eq!(listed(&html), vec![ben, amara], "{html}");
    assert!(html.contains(&format!("href=\"/chat/{ben}?at={}&#38;q=refund#message-{}\"", newest("+14155550202"), newest("+14155550202"))), "{html}");
    assert!(html.contains("<mark>Refund</mark> number 2599"), "{html}");
    assert_eq!(listed(&ann.get_html("/chat?q=refund").await), vec![amara]);
}
