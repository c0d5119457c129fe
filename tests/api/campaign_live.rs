//! The recipients dashboard live (issue 13 part 4): a batch's counter changes reach the
//! `GET /events` streams of who may see its campaign as `batch-<id>`, coalesced, read as raw
//! bytes from the real app and fed by status reports and replies (the in-process provider
//! double posts them to the signed webhook) and SQL updates.

use diesel::sql_types::{BigInt, Binary, Text};
use diesel::{Connection, RunQueryDsl};
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::events::{Sse, notify, open, sign_in, workspace_of};
use switchboard::messaging::{Channel, MessageStatus};

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN};
use crate::support::provider_double::{ProviderDouble, inbound_message};
use crate::support::{PASSWORD, TestApp, app_with_double_with, spawn_app_on_with, spawn_app_with};

const OUR_NUMBER: &str = "+14155550100";

fn sql(app: &TestApp, query: &str) {
    diesel::sql_query(query).execute(&mut app.conn()).unwrap_or_else(|e| panic!("{query}: {e}"));
}

/// Twilio set up for the workspace (the token the double signs with); its webhook key.
fn twilio(app: &TestApp, w: i64) -> String {
    let at_rest = switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes());
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from) VALUES ($1, $2, $3, ARRAY[$4], $4)")
        .bind::<BigInt, _>(w)
        .bind::<Text, _>(ACCOUNT_SID)
        .bind::<Binary, _>(switchboard::crypto::seal(&at_rest, AUTH_TOKEN.as_bytes()))
        .bind::<Text, _>(OUR_NUMBER)
        .execute(&mut app.conn())
        .unwrap();
    switchboard::messaging::account::webhook_key(&mut app.conn(), w).unwrap()
}

fn department(app: &TestApp, w: i64, name: &str) -> i64 {
    sql(app, &format!("INSERT INTO departments (workspace_id, name) VALUES ({w}, '{name}')"));
    app.count(&format!("SELECT id FROM departments WHERE workspace_id = {w} AND name = '{name}'"))
}

/// An active campaign of these departments with a sending WhatsApp batch.
fn campaign_batch(app: &TestApp, w: i64, name: &str, departments: &[i64]) -> (i64, i64) {
    sql(app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, '{name}', ARRAY['whatsapp'], 'active')"));
    let c = app.count(&format!("SELECT id FROM campaigns WHERE workspace_id = {w} AND name = '{name}'"));
    for d in departments {
        sql(app, &format!("INSERT INTO campaign_departments (workspace_id, campaign_id, department_id) VALUES ({w}, {c}, {d})"));
    }
    sql(
        app,
        &format!(
            "INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body, status, send_at, variables, sender) \
             VALUES ({w}, {c}, 'whatsapp', 'text', 'Hello', 'sending', now(), '{{}}', '{OUR_NUMBER}')"
        ),
    );
    (c, app.count(&format!("SELECT max(id) FROM campaign_batches WHERE workspace_id = {w} AND campaign_id = {c}")))
}

/// `n` clients of the workspace as recipients of the batch, sending, each with its accepted
/// message `SM<tag><i>`.
fn recipients(app: &TestApp, w: i64, b: i64, tag: &str, n: usize) {
    for i in 0..n {
        let phone = format!("+1415{tag}{i:04}");
        sql(app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({w}, 'Client {tag}{i}', '{phone}')"));
        sql(
            app,
            &format!(
                "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, batch_id) \
                 SELECT {w}, id, 'whatsapp', 'outbound', 'SM{tag}{i:04}', '{OUR_NUMBER}', phone, 'Hello', 'accepted', {b} FROM clients WHERE workspace_id = {w} AND phone = '{phone}'"
            ),
        );
        sql(
            app,
            &format!(
                "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, message_id) \
                 SELECT {w}, {b}, client_id, 'sending', id FROM messages WHERE workspace_id = {w} AND provider_id = 'SM{tag}{i:04}'"
            ),
        );
    }
}

/// The provider double reports `status` for the message `sid` to the workspace's webhook.
async fn status_callback(double: &ProviderDouble, app: &TestApp, key: &str, sid: &str, status: &str) {
    let r = double.report_status(&app.base, key, sid, MessageStatus::parse(status).expect("a status word"), None).await;
    assert_eq!(r, StatusCode::NO_CONTENT);
}

fn batch_event(b: i64) -> Sse {
    Sse { id: None, event: format!("batch-{b}"), data: format!(r#"{{"batch_id":{b}}}"#) }
}

#[tokio::test]
async fn status_callbacks_batch_status_and_flow_steps_reach_admins_and_covering_managers_only() {
    // Set up on one instance; the streams on a second one started afterwards, so the
    // recipients' inserts (announced before it listened) never reach them.
    let (a, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let admin_email = format!("admin-{}@acme.test", uuid::Uuid::new_v4().simple());
    let acme = a.create_user("Acme", &admin_email, Role::Admin).workspace_id;
    let key = twilio(&a, acme);
    let (north, south) = (department(&a, acme, "North"), department(&a, acme, "South"));
    let (_, b) = campaign_batch(&a, acme, "North sale", &[north]);
    let (_, both) = campaign_batch(&a, acme, "Everywhere sale", &[north, south]);
    recipients(&a, acme, b, "55", 2);
    recipients(&a, acme, both, "66", 1);
    // Setting up wrote no live-event rows.
    assert_eq!(a.count(&format!("SELECT count(*) FROM events WHERE workspace_id = {acme}")), 0);

    let app = spawn_app_on_with(&a.database, |s| s.job_workers = 0).await;
    let admin = app.browser();
    assert_eq!(admin.login(&admin_email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let (north_manager, north_id) = sign_in(&app, "Acme", Role::Manager).await;
    let (south_manager, south_id) = sign_in(&app, "Acme", Role::Manager).await;
    let (agent, agent_id) = sign_in(&app, "Acme", Role::Agent).await;
    let (stranger, stranger_id) = sign_in(&app, "Globex", Role::Admin).await;
    let globex = workspace_of(&app, stranger_id);
    sql(&app, &format!("INSERT INTO user_departments (workspace_id, user_id, department_id) VALUES ({acme}, {north_id}, {north}), ({acme}, {south_id}, {south})"));

    let mut admin_stream = open(&admin, None).await;
    let mut north_stream = open(&north_manager, None).await;
    let mut south_stream = open(&south_manager, None).await;
    let mut agent_stream = open(&agent, None).await;
    let mut stranger_stream = open(&stranger, None).await;
    status_callback(&double, &a, &key, "SM550000", "delivered").await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'delivered'")), 1);
    assert_eq!(admin_stream.next_event().await, batch_event(b));
    assert_eq!(north_stream.next_event().await, batch_event(b));

    // Markers they do receive, sent after the batch's event was delivered: nothing before them.
    notify(&app, acme, agent_id, "for the agent");
    notify(&app, acme, south_id, "for the other department's manager");
    notify(&app, globex, stranger_id, "for the stranger");
    for (who, stream) in [("agent", &mut agent_stream), ("other department's manager", &mut south_stream), ("other workspace", &mut stranger_stream)] {
        let saw = stream.until("badge").await;
        assert_eq!(saw.len(), 1, "the {who} saw only their badge: {saw:?}");
    }

    // A campaign of North and South: the admin gets it, neither manager (neither covers it).
    status_callback(&double, &a, &key, "SM660000", "read").await;
    assert_eq!(admin_stream.next_event().await, batch_event(both));
    notify(&app, acme, north_id, "for the north manager");
    notify(&app, acme, south_id, "again for the other department's manager");
    let north_saw = north_stream.until("badge").await;
    assert_eq!(north_saw.len(), 1, "the north manager does not cover it: {north_saw:?}");
    assert_eq!(south_stream.until("badge").await.len(), 1);

    // The batch done (the page stops refreshing), a flow step reached: announced too.
    sql(&app, &format!("UPDATE campaign_batches SET status = 'done' WHERE id = {b}"));
    assert_eq!(admin_stream.next_event().await, batch_event(b));
    let client = app.count(&format!("SELECT min(client_id) FROM campaign_recipients WHERE batch_id = {both}"));
    sql(&app, &format!("INSERT INTO campaign_flow_reached (workspace_id, batch_id, client_id, step_key) VALUES ({acme}, {both}, {client}, 'start')"));
    assert_eq!(admin_stream.next_event().await, batch_event(both));
    // Still no event rows but the badges: batches are never written to the table.
    assert_eq!(app.count(&format!("SELECT count(*) FROM events WHERE workspace_id = {acme} AND kind <> 'badge'")), 0);
}

#[tokio::test]
async fn a_burst_of_changes_is_a_handful_of_events_and_the_last_comes_after_the_last_change() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let (admin, admin_id) = sign_in(&app, "Acme", Role::Admin).await;
    let acme = workspace_of(&app, admin_id);
    let (c, b) = campaign_batch(&app, acme, "Big sale", &[]);
    recipients(&app, acme, b, "77", 200);
    let mut stream = open(&admin, None).await;
    let clients: Vec<i64> = {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = BigInt)]
            client_id: i64,
        }
        diesel::sql_query(format!("SELECT client_id FROM campaign_recipients WHERE batch_id = {b} ORDER BY client_id"))
            .load::<Id>(&mut app.conn())
            .unwrap()
            .into_iter()
            .map(|r| r.client_id)
            .collect()
    };
    assert_eq!(clients.len(), 200);

    // 200 changes, one statement (and transaction) each, spread over at least 1.4 s (as
    // callbacks arrive: several coalescing intervals); the last one in the same transaction
    // as a notification of the admin's: its badge marks the last change.
    let started = std::time::Instant::now();
    let mut conn = app.conn();
    for client in &clients[..199] {
        diesel::sql_query(format!("UPDATE campaign_recipients SET status = 'delivered' WHERE batch_id = {b} AND client_id = {client}")).execute(&mut conn).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(7)).await;
    }
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        // The badge's notification first: announced (and handled) before the batch's.
        let n = switchboard::notifications::NewNotification { workspace_id: acme, user_id: admin_id, kind: "test", title: "last change", body: "", link: None, dedupe_key: None };
        assert!(switchboard::notifications::notify(conn, &n)?);
        diesel::sql_query(format!("UPDATE campaign_recipients SET status = 'delivered' WHERE batch_id = {b} AND client_id = {}", clients[199])).execute(conn)?;
        Ok(())
    })
    .unwrap();
    drop(conn);
    let burst = started.elapsed();

    let before = stream.until("badge").await;
    let during = before.len() - 1;
    assert!(before[..during].iter().all(|e| *e == batch_event(b)), "{before:?}");
    // The delivery after the last change (leading or trailing, it follows the badge).
    assert_eq!(stream.next_event().await, batch_event(b), "a delivery after the last change");
    let total = during + 1;
    // At most one per 500 ms over the burst and the trailing interval (plus one the
    // recipients' inserts may have left for the stream); at least one while it lasted.
    let most = (burst.as_millis() / 500) as usize + 4;
    assert!(during >= 1 && total <= most, "200 changes over {burst:?}: {total} events (at most {most}, some during)");
    // And then nothing more: a second marker is next.
    notify(&app, acme, admin_id, "after the burst");
    let after = stream.until("badge").await;
    assert_eq!(after.len(), 1, "no further batch event once quiet: {after:?}");

    // The refetch the last event causes sees the final counts.
    let page = format!("/campaigns/{c}/whatsapp-messages/{b}/recipients");
    let r = admin.htmx_get(&page).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"data-count="delivered">200</strong>"#) && html.contains(r#"data-count="sending">0</strong>"#), "{html}");
    assert!(html.contains(&format!(r#"hx-trigger="sse:batch-{b}, every 15s""#)), "the live part refreshes on the batch's events");
    // Once done, with every recipient's outcome known, the page still listens (late
    // receipts, replies: issue 19.2), with a slower fallback poll.
    sql(&app, &format!("UPDATE campaign_batches SET status = 'done' WHERE id = {b}"));
    let done = admin.get_html(&page).await;
    assert!(done.contains(r#"<div id="recipients-live" data-batch-status="done" hx-get="#), "{done}");
    assert!(done.contains(&format!(r#"hx-trigger="sse:batch-{b}, every 60s""#)) && !done.contains("every 15s"), "{done}");
    assert_eq!(app.count(&format!("SELECT count(*) FROM events WHERE workspace_id = {acme} AND kind <> 'badge'")), 0, "no event row per change");
}

#[tokio::test]
async fn a_managers_stream_gets_no_batch_events_of_a_campaign_whose_audience_exceeds_their_scope() {
    // Issue 18.1: the live part of "a manager sees only campaigns wholly in their scope".
    let (a, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let admin_email = format!("admin-{}@acme.test", uuid::Uuid::new_v4().simple());
    let acme = a.create_user("Acme", &admin_email, Role::Admin).workspace_id;
    let key = twilio(&a, acme);
    let north = department(&a, acme, "North");
    let (c, b) = campaign_batch(&a, acme, "North sale", &[north]);
    recipients(&a, acme, b, "88", 2);
    // One recipient is North's client; the other is nobody's, yet attached by the admin.
    sql(&a, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) SELECT {acme}, {c}, client_id FROM campaign_recipients WHERE batch_id = {b}"));
    sql(&a, &format!("INSERT INTO client_departments (workspace_id, client_id, department_id) SELECT {acme}, min(client_id), {north} FROM campaign_recipients WHERE batch_id = {b}"));

    let app = spawn_app_on_with(&a.database, |s| s.job_workers = 0).await;
    let admin = app.browser();
    assert_eq!(admin.login(&admin_email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let (north_manager, north_id) = sign_in(&app, "Acme", Role::Manager).await;
    sql(&app, &format!("INSERT INTO user_departments (workspace_id, user_id, department_id) VALUES ({acme}, {north_id}, {north})"));
    let mut admin_stream = open(&admin, None).await;
    let mut north_stream = open(&north_manager, None).await;
    status_callback(&double, &a, &key, "SM880000", "delivered").await;
    assert_eq!(admin_stream.next_event().await, batch_event(b));
    notify(&app, acme, north_id, "for the north manager");
    let saw = north_stream.until("badge").await;
    assert_eq!(saw.len(), 1, "the audience is not all the manager's: no batch event ({saw:?})");

    // The outsider joins North: the campaign is the manager's again, and so are its events.
    sql(&app, &format!("INSERT INTO client_departments (workspace_id, client_id, department_id) SELECT {acme}, max(client_id), {north} FROM campaign_recipients WHERE batch_id = {b}"));
    status_callback(&double, &a, &key, "SM880001", "delivered").await;
    assert_eq!(north_stream.next_event().await, batch_event(b));
}

/// An inbound WhatsApp message from `from`, delivered by the provider double.
async fn inbound(double: &ProviderDouble, app: &TestApp, key: &str, from: &str, sid: &str, body: &str) {
    let r = double.deliver_inbound(&app.base, key, &inbound_message(sid, Channel::WhatsApp, from, OUR_NUMBER, body)).await;
    assert!(r.is_success(), "inbound {sid}: {r}");
}

#[tokio::test]
async fn a_reply_and_a_late_receipt_to_a_done_batch_reach_the_stream() {
    // Issue 19.2: the recipients page of a finished batch listens for as long as it is open;
    // a reply and a late read receipt are what it listens for.
    let (app, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let admin_email = format!("admin-{}@acme.test", uuid::Uuid::new_v4().simple());
    let acme = app.create_user("Acme", &admin_email, Role::Admin).workspace_id;
    let key = twilio(&app, acme);
    let (_, b) = campaign_batch(&app, acme, "Spring sale", &[]);
    recipients(&app, acme, b, "77", 2);
    for sid in ["SM770000", "SM770001"] {
        status_callback(&double, &app, &key, sid, "delivered").await;
    }
    sql(&app, &format!("UPDATE campaign_batches SET status = 'done' WHERE id = {b}"));
    let admin = app.browser();
    assert_eq!(admin.login(&admin_email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let mut stream = open(&admin, None).await;

    inbound(&double, &app, &key, "+1415770000", "SM00000000000000000000000000007700", "Yes").await;
    assert_eq!(stream.until(&format!("batch-{b}")).await.last(), Some(&batch_event(b)), "the reply");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND reply = 'yes'")), 1);
    status_callback(&double, &app, &key, "SM770001", "read").await;
    assert_eq!(stream.until(&format!("batch-{b}")).await.last(), Some(&batch_event(b)), "the late receipt");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'read'")), 1);
    // An opt-out is the batch's too: counted as its own reply, so the page moves.
    inbound(&double, &app, &key, "+1415770001", "SM00000000000000000000000000007701", "STOP").await;
    assert_eq!(stream.until(&format!("batch-{b}")).await.last(), Some(&batch_event(b)), "the opt-out");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND reply = 'opt_out'")), 1);
}
