//! `GET /events` (issue 13 part 4): live events over server-sent events, read as raw bytes
//! from the real app, fed by inbound messages (the in-process provider double posts them
//! to the signed webhook) and notifications.

use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Binary, Text};
use futures_util::StreamExt;
use reqwest::StatusCode;
use switchboard::authz::Role;

use switchboard::messaging::Channel;

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN};
use crate::support::provider_double::{ProviderDouble, inbound_message};
use crate::support::{Browser, PASSWORD, TestApp, app_with_double, spawn_app, spawn_app_on_with, spawn_app_with};

const OUR_NUMBER: &str = "+14155550100";
/// How long an event may take to reach a stream before the test fails.
const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sse {
    pub(crate) id: Option<i64>,
    pub(crate) event: String,
    pub(crate) data: String,
}

/// A raw event stream: frames parsed as a browser's EventSource parses them.
pub(crate) struct Stream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Send>>,
    buffer: String,
    ended: bool,
}

impl Stream {
    fn of(response: reqwest::Response) -> Self {
        Stream { body: Box::pin(response.bytes_stream()), buffer: String::new(), ended: false }
    }

    /// The next block (event, `retry:`, or `: ping` comment as event ":"), `None` at the end
    /// of the stream; panics past the deadline.
    async fn next_block(&mut self, deadline: Duration) -> Option<Sse> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut sse = Sse { id: None, event: String::new(), data: String::new() };
                for line in block.lines().filter(|l| !l.is_empty()) {
                    if let Some(rest) = line.strip_prefix(": ") {
                        sse.event = ":".into();
                        sse.data = rest.into();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        sse.id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        sse.event = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        sse.data = v.into();
                    } else if let Some(v) = line.strip_prefix("retry: ") {
                        sse.event = "retry".into();
                        sse.data = v.into();
                    } else {
                        panic!("unexpected line {line:?} in {block:?}");
                    }
                }
                return Some(sse);
            }
            if self.ended {
                assert!(self.buffer.is_empty(), "partial frame at the end: {:?}", self.buffer);
                return None;
            }
            match tokio::time::timeout_at(until, self.body.next()).await {
                Err(_) => panic!("nothing within {deadline:?}; so far {:?}", self.buffer),
                Ok(Some(chunk)) => self.buffer.push_str(std::str::from_utf8(&chunk.expect("stream chunk")).unwrap()),
                Ok(None) => self.ended = true,
            }
        }
    }

    /// The next event (pings skipped).
    pub(crate) async fn next_event(&mut self) -> Sse {
        loop {
            let block = self.next_block(DEADLINE).await.expect("the stream ended");
            if block.event != ":" {
                return block;
            }
        }
    }

    /// Events up to and including the first named `name`.
    pub(crate) async fn until(&mut self, name: &str) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next_event().await;
            let done = event.event == name;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Whether the stream ends within `deadline` (pings and `retry:` only until then).
    async fn ends_within(&mut self, deadline: Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                assert!(block.starts_with(": ") || block.starts_with("retry: "), "unexpected {block:?}");
            }
            if self.ended {
                return true;
            }
            match tokio::time::timeout_at(until, self.body.next()).await {
                Err(_) => return false,
                Ok(Some(chunk)) => self.buffer.push_str(std::str::from_utf8(&chunk.expect("stream chunk")).unwrap()),
                Ok(None) => self.ended = true,
            }
        }
    }

    /// Whether the stream ends (not just pings) within the deadline.
    async fn ends(&mut self) -> bool {
        loop {
            match self.next_block(DEADLINE).await {
                None => return true,
                Some(b) if b.event == ":" => continue,
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
    }
}

async fn connect(browser: &Browser, last_event_id: Option<i64>) -> reqwest::Response {
    let mut request = browser.client.get(browser.url("/events")).header("Accept-Encoding", "gzip");
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    request.send().await.expect("GET /events")
}

/// An open stream, past its `retry:` line.
pub(crate) async fn open(browser: &Browser, last_event_id: Option<i64>) -> Stream {
    let response = connect(browser, last_event_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.get("content-encoding").is_none(), "not compressed (compression would hold events back)");
    let mut stream = Stream::of(response);
    assert_eq!(stream.next_block(DEADLINE).await, Some(Sse { id: None, event: "retry".into(), data: "2000".into() }));
    stream
}

pub(crate) async fn sign_in(app: &TestApp, workspace: &str, role: Role) -> (Browser, i64) {
    let email = format!("{}-{}@{}.test", role.as_str(), uuid::Uuid::new_v4().simple(), workspace.to_lowercase());
    let user = app.create_user(workspace, &email, role);
    let browser = app.browser();
    assert_eq!(browser.login(&email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user.id)
}

/// Twilio set up for the workspace (the token the provider double signs with); its webhook key.
pub(crate) fn twilio(app: &TestApp, workspace_id: i64) -> String {
    let at_rest = switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes());
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from) VALUES ($1, $2, $3, ARRAY[$4], $4)")
        .bind::<BigInt, _>(workspace_id)
        .bind::<Text, _>(ACCOUNT_SID)
        .bind::<Binary, _>(switchboard::crypto::seal(&at_rest, AUTH_TOKEN.as_bytes()))
        .bind::<Text, _>(OUR_NUMBER)
        .execute(&mut app.conn())
        .unwrap();
    switchboard::messaging::account::webhook_key(&mut app.conn(), workspace_id).unwrap()
}

fn client(app: &TestApp, workspace_id: i64, phone: &str, assigned_to: Option<i64>) -> i64 {
    let assigned = assigned_to.map_or("NULL".to_string(), |id| id.to_string());
    diesel::sql_query(format!("INSERT INTO clients (workspace_id, name, phone, assigned_to) VALUES ({workspace_id}, 'Client {phone}', '{phone}', {assigned})"))
        .execute(&mut app.conn())
        .unwrap();
    app.count(&format!("SELECT id FROM clients WHERE workspace_id = {workspace_id} AND phone = '{phone}'"))
}

/// An inbound SMS from `from`, delivered to `app` by the provider double.
async fn inbound(double: &ProviderDouble, app: &TestApp, key: &str, from: &str, sid: &str) {
    let r = double.deliver_inbound(&app.base, key, &inbound_message(sid, Channel::Sms, from, OUR_NUMBER, "hello")).await;
    assert_eq!(r, StatusCode::OK);
}

pub(crate) fn workspace_of(app: &TestApp, user_id: i64) -> i64 {
    app.count(&format!("SELECT workspace_id FROM users WHERE id = {user_id}"))
}

pub(crate) fn notify(app: &TestApp, workspace_id: i64, user_id: i64, title: &str) {
    let n = switchboard::notifications::NewNotification { workspace_id, user_id, kind: "test", title, body: "", link: None, dedupe_key: None };
    assert!(switchboard::notifications::notify(&mut app.conn(), &n).unwrap());
}

/// (id, kind, chat_id) of the events after `after`, as the table has them.
fn events_after(app: &TestApp, workspace_id: i64, after: i64) -> Vec<(i64, String)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        kind: String,
    }
    diesel::sql_query("SELECT id, kind FROM events WHERE workspace_id = $1 AND id > $2 ORDER BY id")
        .bind::<BigInt, _>(workspace_id)
        .bind::<BigInt, _>(after)
        .load::<Row>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.kind))
        .collect()
}

#[tokio::test]
async fn signed_out_is_401_with_a_reason() {
    let app = spawn_app().await;
    let browser = app.browser();
    let r = browser.client.get(browser.url("/events")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.text().await.unwrap(), "Sign in to receive live updates.\n");
}

#[tokio::test]
async fn the_signed_in_layout_connects_to_the_stream_and_the_sign_in_page_does_not() {
    let app = spawn_app().await;
    assert!(!app.browser().get_html("/login").await.contains("sse-connect"));
    let (browser, _) = app.signed_in(Role::Agent).await;
    let html = browser.get_html("/").await;
    assert!(html.contains(r#"<div class="app" hx-headers="#), "{html}");
    assert!(html.contains(r#" hx-ext="sse" sse-connect="/events">"#), "{html}");
    // The badges refresh on their events (the notifications badge on `badge`, the chat
    // badge on `chat`), with a slow poll behind the notifications one.
    assert!(html.contains(r#"id="unread-badge" class="badge empty" hx-get="/notifications/badge" hx-trigger="load, sse:badge""#), "{html}");
    assert!(html.contains(r#"id="chat-badge" class="badge empty" hx-get="/chat/badge" hx-trigger="load, sse:chat""#), "{html}");
    let badge = browser.get_html("/notifications/badge").await;
    assert!(badge.contains(r#"hx-trigger="sse:badge, every 60s""#), "{badge}");
}

#[tokio::test]
async fn an_inbound_message_reaches_an_admin_but_not_an_agent_without_the_client_nor_another_workspace() {
    let (app, double) = app_with_double().await;
    let (admin, admin_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, admin_id);
    let key = twilio(&app, acme);
    let (agent, agent_id) = sign_in(&app, "Acme", Role::Agent).await;
    let (stranger, stranger_id) = sign_in(&app, "Globex", Role::Admin).await;
    let globex = workspace_of(&app, stranger_id);
    let amara = client(&app, acme, "+14155550123", None);
    let mut admin_stream = open(&admin, None).await;
    let mut agent_stream = open(&agent, None).await;
    let mut stranger_stream = open(&stranger, None).await;

    inbound(&double, &app, &key, "+14155550123", "SMev1").await;
    let chat = app.count(&format!("SELECT id FROM chats WHERE workspace_id = {acme} AND client_id = {amara}"));
    let message = app.count("SELECT id FROM messages WHERE provider_id = 'SMev1'");
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(admin_stream.next_event().await);
    }
    let table = events_after(&app, acme, 0);
    // The chat opened, its message, and the admin's badge: the chat is unassigned, so the
    // admin is notified (issue 19.18), live like every notification.
    assert_eq!(table.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>(), ["chat", "message", "badge"], "the chat opened, then its message");
    let (chat_event, message_event, badge_event) = (table[0].0, table[1].0, table[2].0);
    let chat_data = format!(r#"{{"assignee_id":null,"chat_id":{chat},"status":"open"}}"#);
    let message_data = format!(r#"{{"chat_id":{chat},"direction":"inbound","message_id":{message},"status":"received"}}"#);
    assert_eq!(
        got,
        [
            Sse { id: Some(chat_event), event: "chat".into(), data: chat_data.clone() },
            Sse { id: Some(chat_event), event: format!("chat-{chat}"), data: chat_data },
            Sse { id: Some(message_event), event: "message".into(), data: message_data.clone() },
            Sse { id: Some(message_event), event: format!("chat-{chat}"), data: message_data },
            Sse { id: Some(badge_event), event: "badge".into(), data: r#"{"notifications":1}"#.into() },
        ]
    );

    // Markers they do receive, written after the message: nothing came before them.
    notify(&app, acme, agent_id, "for the agent");
    notify(&app, globex, stranger_id, "for the stranger");
    let agent_saw = agent_stream.until("badge").await;
    assert_eq!(agent_saw.len(), 1, "the agent saw only their badge: {agent_saw:?}");
    assert_eq!(agent_saw[0].data, r#"{"notifications":1}"#);
    let stranger_saw = stranger_stream.until("badge").await;
    assert_eq!(stranger_saw.len(), 1, "another workspace saw only its badge: {stranger_saw:?}");

    // Once the client is the agent's, the agent gets the chat's events.
    diesel::sql_query(format!("UPDATE clients SET assigned_to = {agent_id} WHERE id = {amara}")).execute(&mut app.conn()).unwrap();
    inbound(&double, &app, &key, "+14155550123", "SMev2").await;
    let agent_saw = agent_stream.until("message").await;
    assert_eq!(agent_saw.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["chat", &format!("chat-{chat}"), "message"]);
}

#[tokio::test]
async fn a_callback_received_by_one_instance_reaches_a_stream_on_another() {
    let (a, double) = app_with_double().await;
    let b = spawn_app_on_with(&a.database, |_| {}).await;
    let (_, admin_id) = sign_in(&a, "Acme", Role::Admin).await;
    let acme = workspace_of(&a, admin_id);
    let key = twilio(&a, acme);
    client(&a, acme, "+14155550123", None);
    let (on_b, _) = sign_in(&b, "Acme", Role::Admin).await;
    let mut stream = open(&on_b, None).await;
    inbound(&double, &a, &key, "+14155550123", "SMtwo1").await;
    let seen = stream.until("message").await;
    assert_eq!(seen.iter().map(|e| e.event.as_str()).filter(|e| !e.starts_with("chat-")).collect::<Vec<_>>(), ["chat", "message"]);
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_replays_everything_missed_in_order() {
    let (app, double) = app_with_double().await;
    let (admin, admin_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, admin_id);
    let key = twilio(&app, acme);
    client(&app, acme, "+14155550123", None);
    client(&app, acme, "+14155550124", None);
    let mut stream = open(&admin, None).await;
    inbound(&double, &app, &key, "+14155550123", "SMre1").await;
    let first = stream.until("message").await;
    let last_seen = first.last().unwrap().id.unwrap();
    drop(stream);
    // Missed while disconnected: two messages (one opening a second chat), and the admin's
    // badge for each unassigned chat's first unread notification (the first one's written
    // after the message the stream stopped at; issue 19.18).
    inbound(&double, &app, &key, "+14155550124", "SMre2").await;
    inbound(&double, &app, &key, "+14155550123", "SMre3").await;
    let missed = events_after(&app, acme, last_seen);
    assert_eq!(missed.len(), 6, "{missed:?}");
    assert_eq!(missed.iter().filter(|(_, k)| k == "badge").count(), 2, "{missed:?}");
    // The replay also repeats the events written in the seconds before the cursor (a
    // transaction that began earlier may have committed after it): here those of the first
    // message, which the stream had. Everything missed comes, in order, once.
    let repeated: Vec<(i64, String)> =
        events_after(&app, acme, 0).into_iter().filter(|(id, _)| *id <= last_seen && first.iter().any(|e| e.id == Some(*id))).collect();
    let expected: Vec<(i64, String)> = repeated.iter().filter(|(id, _)| *id != last_seen).cloned().chain(missed.iter().cloned()).collect();
    assert!(expected.len() > missed.len(), "the first message's chat event is in the look-back: {expected:?}");
    let mut stream = open(&admin, Some(last_seen)).await;
    let mut replayed = Vec::new();
    while replayed.len() < expected.len() {
        let e = stream.next_event().await;
        if !e.event.starts_with("chat-") {
            replayed.push((e.id.unwrap(), e.event));
        }
    }
    assert_eq!(replayed, expected);
    // Then live ones, none of the replayed again.
    inbound(&double, &app, &key, "+14155550124", "SMre4").await;
    let live: Vec<(i64, String)> =
        stream.until("message").await.into_iter().filter(|e| !e.event.starts_with("chat-")).map(|e| (e.id.unwrap(), e.event)).collect();
    assert_eq!(live, events_after(&app, acme, missed.last().unwrap().0));
}

#[tokio::test]
async fn an_event_whose_transaction_commits_after_a_later_one_was_delivered_is_replayed_after_a_reconnect() {
    let app = spawn_app().await;
    let (admin, admin_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, admin_id);
    let mut stream = open(&admin, None).await;
    // A transaction writes an event for the admin and stays open…
    let mut slow = app.conn();
    diesel::connection::SimpleConnection::batch_execute(&mut slow, "BEGIN").unwrap();
    diesel::sql_query(format!("SELECT emit_event({acme}, 'badge', NULL, NULL, {admin_id}, '{{\"notifications\": 1}}'::jsonb)")).execute(&mut slow).unwrap();
    let late = events_after(&app, acme, 0);
    assert!(late.is_empty(), "not visible before its commit");
    // …while a later-numbered one commits and is delivered.
    diesel::sql_query(format!("SELECT emit_event({acme}, 'badge', NULL, NULL, {admin_id}, '{{\"notifications\": 2}}'::jsonb)")).execute(&mut app.conn()).unwrap();
    let delivered = stream.next_event().await;
    assert_eq!((delivered.event.as_str(), delivered.data.as_str()), ("badge", r#"{"notifications":2}"#));
    let cursor = delivered.id.unwrap();
    // The stream drops; then the first transaction commits (its event numbered below the
    // cursor) and goes out live — another tab of the admin's shows it has been fanned out
    // before the first one reconnects.
    drop(stream);
    let mut other_tab = open(&admin, None).await;
    diesel::connection::SimpleConnection::batch_execute(&mut slow, "COMMIT").unwrap();
    assert_eq!(other_tab.next_event().await.data, r#"{"notifications":1}"#);
    let all = events_after(&app, acme, 0);
    assert_eq!(all.len(), 2);
    assert!(all[0].0 < cursor, "the late event has the lower id");
    // The reconnect gets it.
    let mut stream = open(&admin, Some(cursor)).await;
    let replayed = stream.next_event().await;
    assert_eq!((replayed.id, replayed.event.as_str(), replayed.data.as_str()), (Some(all[0].0), "badge", r#"{"notifications":1}"#));
}

#[tokio::test]
async fn a_stream_that_never_reads_does_not_hold_back_another() {
    let (app, double) = app_with_double().await;
    let (admin, admin_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, admin_id);
    let key = twilio(&app, acme);
    client(&app, acme, "+14155550123", None);
    let (other, _) = sign_in(&app, "Acme", Role::Admin).await;
    let _never_read = connect(&admin, None).await;
    let mut reader = open(&other, None).await;
    for i in 0..5 {
        inbound(&double, &app, &key, "+14155550123", &format!("SMslow{i}")).await;
        let seen = reader.until("message").await;
        let message = app.count(&format!("SELECT id FROM messages WHERE provider_id = 'SMslow{i}'"));
        assert!(seen.last().unwrap().data.contains(&format!(r#""message_id":{message}"#)));
    }
}

#[tokio::test]
async fn a_sixth_stream_of_a_user_ends_their_oldest_and_the_instance_limit_is_503() {
    let app = spawn_app_with(|s| {
        s.max_streams = 6;
        s.sse_ping = Duration::from_millis(200);
    })
    .await;
    let (browser, _) = app.signed_in(Role::Agent).await;
    let mut open_ones = Vec::new();
    for _ in 0..5 {
        open_ones.push(open(&browser, None).await);
    }
    // Page after page opens a stream each while the old pages' streams are not noticed
    // gone yet: a sixth ends the user's oldest (a live tab's browser reconnects and
    // replays) instead of being refused.
    let mut sixth = open(&browser, None).await;
    assert!(open_ones[0].ends().await, "the oldest stream ended");
    for still in open_ones.iter_mut().skip(1) {
        assert!(!still.ends_within(Duration::from_millis(300)).await, "the others stay open");
    }
    assert!(!sixth.ends_within(Duration::from_millis(300)).await);
    let (other, _) = app.signed_in(Role::Agent).await;
    open_ones.push(open(&other, None).await);
    let r = connect(&other, None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "10");
    assert_eq!(r.text().await.unwrap(), "This server has as many live-update streams open as it allows; retrying shortly.\n");
    // A closed stream frees its place (at its next ping at the latest).
    drop(open_ones.pop());
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let r = connect(&other, None).await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed stream's place was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_notification_is_a_badge_event_for_its_user_only() {
    let app = spawn_app().await;
    let (alice, alice_id) = sign_in(&app, "Acme", Role::Admin).await;
    let (bob, bob_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, alice_id);
    let mut alice_stream = open(&alice, None).await;
    let mut bob_stream = open(&bob, None).await;
    notify(&app, acme, alice_id, "one");
    notify(&app, acme, alice_id, "two");
    notify(&app, acme, bob_id, "for bob");
    let ids = events_after(&app, acme, 0);
    assert_eq!(ids.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>(), ["badge", "badge", "badge"]);
    assert_eq!(alice_stream.next_event().await, Sse { id: Some(ids[0].0), event: "badge".into(), data: r#"{"notifications":1}"#.into() });
    assert_eq!(alice_stream.next_event().await, Sse { id: Some(ids[1].0), event: "badge".into(), data: r#"{"notifications":2}"#.into() });
    assert_eq!(bob_stream.next_event().await, Sse { id: Some(ids[2].0), event: "badge".into(), data: r#"{"notifications":1}"#.into() });
    assert_eq!(app.count("SELECT count(*) FROM events WHERE user_id IS NOT NULL AND kind = 'badge'"), 3);
}

#[tokio::test]
async fn the_stream_pings_and_ends_after_its_session_is_revoked() {
    let app = spawn_app_with(|s| s.sse_ping = Duration::from_millis(200)).await;
    let email = format!("agent-{}@acme.test", uuid::Uuid::new_v4().simple());
    app.create_user("Acme", &email, Role::Agent);
    let first = app.browser();
    assert_eq!(first.login(&email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let mut stream = open(&first, None).await;
    assert_eq!(stream.next_block(DEADLINE).await, Some(Sse { id: None, event: ":".into(), data: "ping".into() }));
    assert_eq!(stream.next_block(DEADLINE).await, Some(Sse { id: None, event: ":".into(), data: "ping".into() }));
    let second = app.browser();
    assert_eq!(second.login(&email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(second.post("/account/sessions/revoke-others", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(stream.ends().await, "the revoked session's stream ended");
    let r = connect(&first, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_hourly_prune_deletes_events_older_than_an_hour_once_an_hour() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let (_, alice_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, alice_id);
    notify(&app, acme, alice_id, "old");
    notify(&app, acme, alice_id, "new");
    diesel::sql_query(format!("UPDATE events SET created_at = now() - interval '61 minutes' WHERE id = (SELECT min(id) FROM events WHERE workspace_id = {acme})"))
        .execute(&mut app.conn())
        .unwrap();
    let now = chrono::Utc::now();
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut app.conn(), now).unwrap();
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut app.conn(), now).unwrap();
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {acme} AND kind = 'prune-events'")), 1, "one per hour");
    assert_eq!(switchboard::events::prune(&mut app.conn(), acme, now).unwrap(), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM events WHERE workspace_id = {acme} AND created_at > now() - interval '1 hour'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM events WHERE workspace_id = {acme}")), 1);
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut app.conn(), now + chrono::Duration::hours(1)).unwrap();
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {acme} AND kind = 'prune-events'")), 2, "the next hour's");
}

#[tokio::test]
async fn a_user_demoted_while_streaming_stops_receiving_chats_they_may_no_longer_see() {
    let (app, double) = app_with_double().await;
    let (admin, admin_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, admin_id);
    let key = twilio(&app, acme);
    client(&app, acme, "+14155550123", None);
    let mut stream = open(&admin, None).await;
    inbound(&double, &app, &key, "+14155550123", "SMdem1").await;
    assert_eq!(stream.until("message").await.len(), 3, "chat, chat-N, message");
    assert!(stream.next_event().await.event.starts_with("chat-"), "the message's chat-N copy");
    diesel::sql_query(format!("UPDATE users SET role = 'agent' WHERE id = {admin_id}")).execute(&mut app.conn()).unwrap();
    inbound(&double, &app, &key, "+14155550123", "SMdem2").await;
    notify(&app, acme, admin_id, "marker");
    let seen = stream.until("badge").await;
    assert_eq!(seen.len(), 1, "nothing of the chat after the demotion: {seen:?}");
}

/// The same signed-in browser (its cookie jar) talking to another instance: cookies on
/// 127.0.0.1 do not depend on the port.
fn same_browser_on(browser: &Browser, app: &TestApp) -> Browser {
    Browser { base: app.base.clone(), client: browser.client.clone(), jar: browser.jar.clone() }
}

/// Well within the ping interval (15 s by default): the end is announced, not polled.
const AT_ONCE: Duration = Duration::from_secs(3);

#[tokio::test]
async fn signing_out_ends_the_sessions_streams_at_once_on_every_instance() {
    let a = spawn_app().await;
    let b = spawn_app_on_with(&a.database, |_| {}).await;
    let (browser, _) = sign_in(&a, "Acme", Role::Agent).await;
    let (bystander, _) = sign_in(&a, "Acme", Role::Agent).await;
    let mut on_a = open(&browser, None).await;
    let mut on_b = open(&same_browser_on(&browser, &b), None).await;
    let mut other = open(&bystander, None).await;
    assert_eq!(browser.post("/logout", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(on_a.ends_within(AT_ONCE).await, "the stream on the instance that signed out ended");
    assert!(on_b.ends_within(AT_ONCE).await, "the stream on the other instance ended");
    assert!(!other.ends_within(Duration::from_millis(500)).await, "another session's stream goes on");
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_stream_of_the_user_and_a_revoke_ends_that_sessions() {
    let a = spawn_app().await;
    let b = spawn_app_on_with(&a.database, |_| {}).await;
    let email = format!("agent-{}@acme.test", uuid::Uuid::new_v4().simple());
    let user = a.create_user("Acme", &email, Role::Agent);
    let (first, second, third) = (a.browser(), b.browser(), a.browser());
    for browser in [&first, &second, &third] {
        assert_eq!(browser.login(&email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    }
    let mut first_stream = open(&first, None).await;
    let mut second_stream = open(&second, None).await;
    let mut third_stream = open(&third, None).await;
    // A revoke from the sessions page ends that session's stream only.
    let third_id = a.count(&format!("SELECT max(id) FROM sessions WHERE user_id = {}", user.id));
    assert_eq!(first.post(&format!("/account/sessions/{third_id}/revoke"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(third_stream.ends_within(AT_ONCE).await, "the revoked session's stream ended");
    assert!(!first_stream.ends_within(Duration::from_millis(300)).await);
    assert_eq!(first.post("/account/sessions/revoke-all", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(first_stream.ends_within(AT_ONCE).await, "this session's stream ended");
    assert!(second_stream.ends_within(AT_ONCE).await, "the stream of the user's session on the other instance ended");
}

#[tokio::test]
async fn deactivating_a_user_ends_their_streams_at_once() {
    let app = spawn_app().await;
    let (admin, _) = sign_in(&app, "Acme", Role::Admin).await;
    let (agent, agent_id) = sign_in(&app, "Acme", Role::Agent).await;
    let mut stream = open(&agent, None).await;
    let r = admin.post(&format!("/settings/users/{agent_id}/active"), &[("active", "false")]).await;
    assert!(r.status().is_redirection() || r.status().is_success(), "{}", r.status());
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {agent_id} AND active")), 0, "deactivated");
    assert!(stream.ends_within(AT_ONCE).await, "the deactivated user's stream ended");
}
