//! Issue 19.18: the notifications nobody got (a message in an unassigned chat, a failed send,
//! a campaign's failed recipients, a finished or failed import, a follow-up assigned by
//! someone else), each collapsed while unread, each reaching the user's live badge, each
//! turned off per user on `/account`, and none reaching another workspace or a user who
//! may not see what it is about.

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::chat_actions::{inbound, twilio};
use switchboard::messaging::MessageStatus;

use crate::support::{TestApp, app_with_double, app_with_double_with, assert_redirects_to, spawn_app};

fn exec(app: &TestApp, sql: &str) {
    diesel::sql_query(sql).execute(&mut app.conn()).expect(sql);
}

fn notes(app: &TestApp, user: i64, kind: &str) -> i64 {
    app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {user} AND kind = '{kind}'"))
}

fn note_text(app: &TestApp, user: i64, kind: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    diesel::sql_query(format!("SELECT concat_ws('|', title, body, link) AS t FROM notifications WHERE user_id = {user} AND kind = '{kind}' ORDER BY id DESC LIMIT 1"))
        .get_result::<Row>(&mut app.conn())
        .expect("a notification")
        .t
}

fn department(app: &TestApp, ws: i64, name: &str) -> i64 {
    switchboard::departments::insert(&mut app.conn(), ws, name).unwrap().id
}

fn badge_events(app: &TestApp, user: i64) -> i64 {
    app.count(&format!("SELECT count(*) FROM events WHERE kind = 'badge' AND user_id = {user}"))
}

/// Every kind a user may choose (as `/account` lists them).
const KINDS: [&str; 9] = ["chat_assigned", "chat_message", "chat_unassigned", "chat_mention", "send_failed", "campaign_failed", "import_finished", "follow_up_assigned", "follow-up-reminder"];

/// Every kind but `off`, as the `/account` form posts them.
fn all_kinds_but(off: &str) -> Vec<(&'static str, &'static str)> {
    KINDS.iter().filter(|k| **k != off).map(|k| ("kinds", *k)).collect()
}

#[tokio::test]
async fn an_unassigned_chat_tells_the_admins_and_its_departments_managers_once_while_unread_and_no_one_else() {
    let (app, double) = app_with_double().await;
    let (ana_browser, ana) = app.signed_in(Role::Admin).await;
    let ws = ana.workspace_id;
    let mia = app.create_user_named(&ana_workspace(&app, ws), "mia@acme.test", "Mia Sales", Role::Manager);
    let max = app.create_user_named(&ana_workspace(&app, ws), "max@acme.test", "Max Support", Role::Manager);
    let ben = app.create_user_named(&ana_workspace(&app, ws), "ben@acme.test", "Ben Agent", Role::Agent);
    let (gus_browser, gus) = globex_admin(&app).await;
    assert_ne!(gus.workspace_id, ws, "another workspace");
    let (sales, support) = (department(&app, ws, "Sales"), department(&app, ws, "Support"));
    exec(&app, &format!("INSERT INTO user_departments (workspace_id, user_id, department_id) VALUES ({ws}, {}, {sales}), ({ws}, {}, {support})", mia.id, max.id));
    let t = twilio(&app, ws);
    exec(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({ws}, 'Amara Smith', '+14155550123')"));
    let client = app.count("SELECT id FROM clients WHERE name = 'Amara Smith'");
    exec(&app, &format!("INSERT INTO client_departments (workspace_id, client_id, department_id) VALUES ({ws}, {client}, {sales})"));

    inbound(&double, &app, &t, "SM1", "+14155550123", "Hi there").await;
    inbound(&double, &app, &t, "SM2", "+14155550123", "Anyone?").await;
    let chat = app.count("SELECT id FROM chats");
    // The admin and the Sales manager: one each, carrying the latest text; nobody else.
    for who in [ana.id, mia.id] {
        assert_eq!(notes(&app, who, "chat_unassigned"), 1);
        assert_eq!(note_text(&app, who, "chat_unassigned"), format!("New message from Amara Smith (unassigned chat)|WhatsApp: Anyone?|/chat/{chat}"));
        assert_eq!(badge_events(&app, who), 1, "the live badge moved once");
    }
    for who in [max.id, ben.id, gus.id] {
        assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {who}")), 0);
    }
    // Scoped reads: the list shows it to Ana only; Gus cannot open or read Ana's.
    assert!(ana_browser.get_html("/notifications").await.contains("New message from Amara Smith (unassigned chat)"));
    assert!(!gus_browser.get_html("/notifications").await.contains("Amara Smith"));
    let anas = app.count(&format!("SELECT id FROM notifications WHERE user_id = {}", ana.id));
    assert_eq!(gus_browser.post(&format!("/notifications/{anas}/read"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE id = {anas} AND read_at IS NULL")), 1);

    // Ana turns the kind off on /account (every kind is on by default).
    let page = ana_browser.get_html("/account").await;
    for kind in KINDS {
        assert!(page.contains(&format!(r#"name="kinds" value="{kind}" checked"#)), "{kind} is on by default");
    }
    let r = ana_browser.post("/account/notifications", &all_kinds_but("chat_unassigned")).await;
    assert_redirects_to(&r, "/account");
    let page = ana_browser.get_html("/account").await;
    assert!(page.contains(r#"name="kinds" value="chat_unassigned">"#) && page.contains(r#"value="send_failed" checked"#), "{page}");
    assert_eq!(app.count(&format!("SELECT count(*) FROM notification_mutes WHERE workspace_id = {ws} AND user_id = {} AND kind = 'chat_unassigned'", ana.id)), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'users.notifications_changed' AND actor_user_id = {}", ana.id)), 1);
    // An unknown kind is refused with the reason, nothing changed.
    let r = ana_browser.post("/account/notifications", &[("kinds", "everything")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("is not a kind of notification"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM notification_mutes WHERE user_id = {}", ana.id)), 1);

    exec(&app, "UPDATE notifications SET read_at = now()");
    inbound(&double, &app, &t, "SM3", "+14155550123", "Hello??").await;
    assert_eq!(notes(&app, ana.id, "chat_unassigned"), 1, "turned off: no new one");
    assert_eq!(notes(&app, mia.id, "chat_unassigned"), 2, "read, so the next message adds one");
    // Once assigned, only the assignee hears.
    exec(&app, &format!("UPDATE chats SET assignee_id = {} WHERE id = {chat}", ben.id));
    inbound(&double, &app, &t, "SM4", "+14155550123", "Thanks").await;
    assert_eq!(notes(&app, mia.id, "chat_unassigned"), 2);
    assert_eq!(notes(&app, ben.id, "chat_message"), 1);
}

/// An admin signed in to another workspace.
async fn globex_admin(app: &TestApp) -> (crate::support::Browser, switchboard::users::model::User) {
    let gus = app.create_user_named("Globex", "gus@globex.test", "Gus Globex", Role::Admin);
    let browser = app.browser();
    assert_eq!(browser.login("gus@globex.test", crate::support::PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, gus)
}

/// The workspace's name, for `create_user_named`.
fn ana_workspace(app: &TestApp, ws: i64) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    diesel::sql_query(format!("SELECT name AS t FROM workspaces WHERE id = {ws}")).get_result::<Row>(&mut app.conn()).unwrap().t
}

#[tokio::test]
async fn a_failed_send_tells_its_sender_and_campaign_failures_the_admins_once_per_batch() {
    let (app, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let (_, ana) = app.signed_in(Role::Admin).await;
    let ws = ana.workspace_id;
    let name = ana_workspace(&app, ws);
    let ben = app.create_user_named(&name, "ben@acme.test", "Ben Agent", Role::Agent);
    let mia = app.create_user_named(&name, "mia@acme.test", "Mia Manager", Role::Manager);
    let (_, gus) = globex_admin(&app).await;
    let t = twilio(&app, ws);
    exec(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({ws}, 'Amara Smith', '+14155550123'), ({ws}, 'Bo Lee', '+14155550124'), ({ws}, 'Cy Young', '+14155550125')"));
    let client = |n: &str| app.count(&format!("SELECT id FROM clients WHERE name = '{n}'"));
    let amara = client("Amara Smith");
    let sent = |sid: &str, by: i64| {
        exec(
            &app,
            &format!(
                "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, created_by) \
                 VALUES ({ws}, {amara}, 'whatsapp', 'outbound', '{sid}', '+14155550100', '+14155550123', 'Hello', 'sent', {by})"
            ),
        )
    };
    sent("SMf1", ben.id);
    sent("SMf2", ben.id);

    // The provider says undelivered (its status report): Ben, who sent it, is told.
    for sid in ["SMf1", "SMf2"] {
        let r = double.report_status(&app.base, &t.key, sid, MessageStatus::Undelivered, Some(30006)).await;
        assert!(r.is_success(), "{r}");
    }
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE status = 'undelivered'"), 2);
    assert_eq!(notes(&app, ben.id, "send_failed"), 1, "collapsed per client while unread");
    let text = note_text(&app, ben.id, "send_failed");
    assert!(text.starts_with("A message to Amara Smith was not delivered|WhatsApp: ") && text.ends_with(&format!("|/clients/{amara}")), "{text}");
    assert_eq!(badge_events(&app, ben.id), 1);
    for who in [ana.id, mia.id, gus.id] {
        assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {who}")), 0, "nobody else hears of Ben's send");
    }

    // A campaign batch: recipients failing tell every admin of the workspace, one
    // notification per batch with the batch's count; cancelled ones by completing tell nobody.
    exec(&app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({ws}, 'Spring sale', ARRAY['sms'], 'active')"));
    let campaign = app.count("SELECT id FROM campaigns");
    exec(&app, &format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body, status) VALUES ({ws}, {campaign}, 'sms', 'text', 'Hi', 'done')"));
    let batch = app.count("SELECT id FROM campaign_batches");
    exec(&app, &format!("INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status) SELECT {ws}, {batch}, id, 'sending' FROM clients WHERE workspace_id = {ws}"));
    exec(&app, &format!("UPDATE campaign_recipients SET status = 'failed', error_code = 30006 WHERE batch_id = {batch} AND client_id <> {}", client("Cy Young")));
    exec(&app, &format!("UPDATE campaign_recipients SET status = 'failed', error_message = 'Cancelled: the campaign was completed.' WHERE batch_id = {batch} AND client_id = {}", client("Cy Young")));
    assert_eq!(notes(&app, ana.id, "campaign_failed"), 1);
    assert_eq!(
        note_text(&app, ana.id, "campaign_failed"),
        format!("Failed sends in campaign Spring sale|2 recipients of batch #{batch} failed.|/campaigns/{campaign}/sms-messages/{batch}/recipients?status=failed")
    );
    exec(&app, &format!("UPDATE campaign_recipients SET status = 'sent' WHERE batch_id = {batch} AND client_id = {}", client("Cy Young")));
    exec(&app, &format!("UPDATE campaign_recipients SET status = 'failed', error_message = 'Timed out' WHERE batch_id = {batch} AND client_id = {}", client("Cy Young")));
    assert_eq!(notes(&app, ana.id, "campaign_failed"), 1, "collapsed per batch");
    assert!(note_text(&app, ana.id, "campaign_failed").contains("3 recipients of batch"));
    for who in [ben.id, mia.id, gus.id] {
        assert_eq!(notes(&app, who, "campaign_failed"), 0, "admins of this workspace only");
    }
}

#[tokio::test]
async fn the_user_who_started_an_import_hears_it_finished_or_failed() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (_, other_admin) = app.signed_in(Role::Admin).await;
    let fields = [("map", "name"), ("map", "email"), ("map", "phone"), ("key", "email")];
    let (id, status) = crate::imports::import(&app, &admin, "name,email,phone\nAda,ada@example.com,\nBob,bob@example.com,\n", &fields).await;
    assert_eq!(status, "done");
    assert_eq!(notes(&app, me.id, "import_finished"), 1);
    assert_eq!(note_text(&app, me.id, "import_finished"), format!("Import finished: clients.csv|2 created, 0 updated, 0 rejected.|/imports/{id}"));
    assert!(badge_events(&app, me.id) >= 1);
    let (failed, status) = crate::imports::import(&app, &admin, "name,email,phone\nAda,x@example.com,\nAda Again,X@example.com,\n", &fields).await;
    assert_eq!(status, "failed");
    assert_eq!(notes(&app, me.id, "import_finished"), 2, "another import: its own notification");
    let text = note_text(&app, me.id, "import_finished");
    assert!(text.starts_with("Import failed: clients.csv|1 row was rejected") && text.ends_with(&format!("|/imports/{failed}")), "{text}");
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE user_id = {}", other_admin.id)), 0);
}

#[tokio::test]
async fn a_follow_up_assigned_by_someone_else_tells_the_assignee_but_not_one_assigned_to_oneself() {
    let app = spawn_app().await;
    let (admin, ana) = app.signed_in(Role::Admin).await;
    let ws = ana.workspace_id;
    let ben = app.create_user_named(&ana_workspace(&app, ws), "ben@acme.test", "Ben Agent", Role::Agent);
    exec(&app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({ws}, 'Amara Smith', '+14155550123')"));
    let client = app.count("SELECT id FROM clients");
    let path = format!("/clients/{client}/follow-ups");
    let r = admin.post(&path, &[("due_at", "2030-01-02T10:00"), ("notes", "Call back"), ("assigned_to", &ben.id.to_string())]).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(notes(&app, ben.id, "follow_up_assigned"), 1);
    let text = note_text(&app, ben.id, "follow_up_assigned");
    assert!(text.starts_with("A follow-up was assigned to you|") && text.contains("a follow-up with Amara Smith") && text.ends_with("|/follow-ups?view=mine"), "{text}");
    assert_eq!(badge_events(&app, ben.id), 1);
    let r = admin.post(&path, &[("due_at", "2030-01-03T10:00"), ("notes", "Again"), ("assigned_to", &ben.id.to_string())]).await;
    assert!(r.status().is_redirection());
    assert_eq!(notes(&app, ben.id, "follow_up_assigned"), 1, "collapsed while unread");
    let r = admin.post(&path, &[("due_at", "2030-01-04T10:00"), ("notes", "Mine"), ("assigned_to", &ana.id.to_string())]).await;
    assert!(r.status().is_redirection());
    assert_eq!(notes(&app, ana.id, "follow_up_assigned"), 0, "not when assigning to oneself");
}
