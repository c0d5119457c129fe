//! Campaigns (issue 12 parts 1-2): creating with field errors, the managers' department
//! rules, the lifecycle and its 409s, completing cancels what is left, attaching all /
//! filter / selected within the user's scope, the client list's "Add to campaign", and 404
//! for another workspace's or another department's campaign on every route.

use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{TestApp, assert_redirects_to, location, spawn_app};

const SENDER: &str = "+14155550100";

fn sql(app: &TestApp, statement: &str) {
    diesel::sql_query(statement).execute(&mut app.conn()).unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Twilio connected with two WhatsApp senders (the token is never read here).
fn connect_twilio(app: &TestApp, w: i64) {
    sql(
        app,
        &format!(
            "INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from) \
             VALUES ({w}, 'AC00000000000000000000000000000000', '\\x00'::bytea, ARRAY['{SENDER}', '+14155550101'])"
        ),
    );
}

/// Runs an `INSERT … RETURNING id`.
fn insert_id(app: &TestApp, statement: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    diesel::sql_query(statement).get_result::<Id>(&mut app.conn()).unwrap_or_else(|e| panic!("{statement}: {e}")).id
}

fn department(app: &TestApp, w: i64, name: &str) -> i64 {
    switchboard::departments::insert(&mut app.conn(), w, name).unwrap().id
}

/// A client with a status, departments and an assignee.
fn client(app: &TestApp, w: i64, name: &str, status: &str, departments: &[i64], assigned_to: Option<i64>) -> i64 {
    use switchboard::clients::model::{ClientFields, StatusSource, insert};
    let fields = ClientFields { name: name.into(), email: None, phone: None, phone_formatted: None, company: None, status: status.into(), assigned_to, notes: String::new() };
    let id = insert(&mut app.conn(), w, &fields, StatusSource::Hand).unwrap().id;
    for d in departments {
        sql(app, &format!("INSERT INTO client_departments (workspace_id, client_id, department_id) VALUES ({w}, {id}, {d})"));
    }
    id
}

/// A campaign straight in the database (status, departments).
fn campaign(app: &TestApp, w: i64, name: &str, status: &str, departments: &[i64]) -> i64 {
    let id = insert_id(app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, '{name}', ARRAY['whatsapp', 'sms'], '{status}') RETURNING id"));
    for d in departments {
        sql(app, &format!("INSERT INTO campaign_departments (workspace_id, campaign_id, department_id) VALUES ({w}, {id}, {d})"));
    }
    id
}

fn attached(app: &TestApp, campaign: i64) -> Vec<i64> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        client_id: i64,
    }
    diesel::sql_query(format!("SELECT client_id FROM campaign_clients WHERE campaign_id = {campaign} ORDER BY client_id"))
        .load::<Row>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|r| r.client_id)
        .collect()
}

fn campaign_id_of(r: &reqwest::Response) -> i64 {
    let at = location(r);
    at.strip_prefix("/campaigns/").and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("expected /campaigns/ID, got {} {at}", r.status()))
}

#[tokio::test]
async fn creating_a_campaign_checks_every_field_before_writing_and_audits_it() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let sales = department(&app, w, "Sales");

    let form = admin.get_html("/campaigns/new").await;
    assert!(form.contains("name=\"channels\" value=\"whatsapp\"") && form.contains("Sales"), "{form}");

    // Nothing typed: a name and a channel are needed.
    let r = admin.post("/campaigns", &[("name", "  ")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Name is required."), "{html}");
    assert!(html.contains("Choose at least one channel."), "{html}");
    // A channel that does not exist, a department of no one, a name too long.
    let long = "x".repeat(201);
    let r = admin.post("/campaigns", &[("name", &long), ("channels", "fax"), ("department_ids", "999999")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Name must be at most 200 characters."), "{html}");
    assert!(html.contains("Choose channels from the list: WhatsApp, SMS or email."), "{html}");
    assert!(html.contains("Choose departments from the list."), "{html}");
    // WhatsApp without Twilio: no sender to choose.
    let r = admin.post("/campaigns", &[("name", "Spring"), ("channels", "whatsapp")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("No WhatsApp sender is set up"));
    connect_twilio(&app, w);
    let r = admin.post("/campaigns", &[("name", "Spring"), ("channels", "whatsapp")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Choose the WhatsApp number to send from."), "{html}");
    assert!(html.contains("value=\"Spring\""), "what was typed stays: {html}");
    let r = admin.post("/campaigns", &[("name", "Spring"), ("channels", "whatsapp"), ("whatsapp_from", "+14155559999")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose one of this workspace’s WhatsApp numbers."));
    assert_eq!(app.count("SELECT count(*) FROM campaigns"), 0, "nothing written while a field is wrong");

    let r = admin
        .post(
            "/campaigns",
            &[("name", "Spring sale"), ("channels", "sms"), ("channels", "whatsapp"), ("channels", "sms"), ("department_ids", &sales.to_string()), ("whatsapp_from", SENDER)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = campaign_id_of(&r);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM campaigns WHERE id = {id} AND workspace_id = {w} AND name = 'Spring sale' AND channels = ARRAY['whatsapp', 'sms'] \
             AND whatsapp_from = '{SENDER}' AND status = 'draft' AND created_by = {}",
            me.id
        )),
        1
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_departments WHERE campaign_id = {id} AND department_id = {sales}")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.created' AND entity_id = '{id}' AND after->>'name' = 'Spring sale'")), 1);
    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(page.contains("Campaign created."), "{page}");
    assert!(page.contains("<h1 hx-disable>Spring sale</h1>") && page.contains("WhatsApp, SMS") && page.contains("Departments: Sales"), "{page}");
    assert!(page.contains(&format!("WhatsApp from {SENDER}")), "{page}");
    // The list: the campaign, its status pill and its counts.
    let list = admin.get_html("/campaigns").await;
    assert!(list.contains(&format!("href=\"/campaigns/{id}\"")) && list.contains("<span class=\"pill \">draft</span>"), "{list}");
    assert!(list.contains("href=\"/campaigns\" aria-current=\"page\">Campaigns</a>"), "nav link: {list}");
    let audit = admin.get_html("/audit-logs").await;
    assert!(audit.contains("created campaign <strong>Spring sale</strong>"), "{audit}");
    // POST /campaigns/new creates too.
    let r = admin.post("/campaigns/new", &[("name", "Email only"), ("channels", "email")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM campaigns WHERE name = 'Email only' AND whatsapp_from IS NULL"), 1);
}

#[tokio::test]
async fn managers_create_campaigns_only_for_their_own_departments_and_see_only_those() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let (agent, _) = app.signed_in(Role::Agent).await;
    let mine = department(&app, w, "Mine");
    let theirs = department(&app, w, "Theirs");
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[mine]).unwrap();

    let r = manager.post("/campaigns", &[("name", "M"), ("channels", "sms")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose at least one of your departments."));
    let r = manager.post("/campaigns", &[("name", "M"), ("channels", "sms"), ("department_ids", &mine.to_string()), ("department_ids", &theirs.to_string())]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose only your own departments."));
    assert_eq!(app.count("SELECT count(*) FROM campaigns"), 0);
    let form = manager.get_html("/campaigns/new").await;
    assert!(form.contains("Mine") && !form.contains("Theirs"), "a manager is offered their departments only");
    let r = manager.post("/campaigns", &[("name", "Mine only"), ("channels", "sms"), ("department_ids", &mine.to_string())]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let own = campaign_id_of(&r);

    // The admin's campaigns: one of another department, one of both, one of none.
    let other = campaign(&app, w, "Other dept", "draft", &[theirs]);
    let both = campaign(&app, w, "Both depts", "draft", &[mine, theirs]);
    let none = campaign(&app, w, "No dept", "draft", &[]);
    let list = manager.get_html("/campaigns").await;
    assert!(list.contains("Mine only") && !list.contains("Other dept") && !list.contains("Both depts") && !list.contains("No dept"), "{list}");
    assert_eq!(manager.get(&format!("/campaigns/{own}")).await.status(), StatusCode::OK);
    for id in [other, both, none] {
        assert_eq!(manager.get(&format!("/campaigns/{id}")).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(admin.get(&format!("/campaigns/{id}")).await.status(), StatusCode::OK);
    }
    // Agents have no campaign pages, nor the nav link.
    for path in ["/campaigns".to_string(), "/campaigns/new".to_string(), format!("/campaigns/{own}")] {
        assert_eq!(agent.get(&path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(agent.post("/campaigns", &[("name", "A"), ("channels", "sms")]).await.status(), StatusCode::FORBIDDEN);
    assert!(!agent.get_html("/").await.contains("href=\"/campaigns\""));
    assert_eq!(app.count("SELECT count(*) FROM campaigns WHERE name = 'A'"), 0);
}

#[tokio::test]
async fn the_lifecycle_moves_draft_active_paused_completed_and_refuses_the_rest_with_409_and_a_reason() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let id = campaign(&app, w, "Life", "draft", &[]);
    let path = |t: &str| format!("/campaigns/{id}/{t}");
    let status = || app.count(&format!("SELECT CASE status WHEN 'draft' THEN 0 WHEN 'active' THEN 1 WHEN 'paused' THEN 2 ELSE 3 END FROM campaigns WHERE id = {id}"));

    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(page.contains(&format!("action=\"{}\"", path("start"))) && page.contains(&format!("action=\"{}\"", path("complete"))), "{page}");
    assert!(!page.contains(&format!("action=\"{}\"", path("pause"))), "a draft has no Pause: {page}");

    let r = admin.post(&path("pause"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("A draft has not started, so it cannot be paused."));
    assert_eq!(status(), 0);

    assert_redirects_to(&admin.post(&path("start"), &[]).await, &format!("/campaigns/{id}"));
    assert_eq!(status(), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {id} AND started_at IS NOT NULL")), 1);
    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(page.contains("Campaign started.") && page.contains("<span class=\"pill ok\">active</span>"), "{page}");
    assert!(page.contains(&format!("action=\"{}\"", path("pause"))) && !page.contains(&format!("action=\"{}\"", path("start"))), "{page}");
    let r = admin.post(&path("start"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("The campaign is already running."));

    assert_redirects_to(&admin.post(&path("pause"), &[]).await, &format!("/campaigns/{id}"));
    assert_eq!(status(), 2);
    let r = admin.post(&path("pause"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("The campaign is already paused."));
    assert!(admin.get_html(&format!("/campaigns/{id}")).await.contains(">Resume</button>"));
    assert_redirects_to(&admin.post(&path("start"), &[]).await, &format!("/campaigns/{id}"));
    assert_eq!(status(), 1);

    assert_redirects_to(&admin.post(&path("complete"), &[]).await, &format!("/campaigns/{id}"));
    assert_eq!(status(), 3);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {id} AND completed_at IS NOT NULL")), 1);
    for (t, reason) in [
        ("start", "A completed campaign cannot be started again; create a new one."),
        ("pause", "A completed campaign cannot be paused."),
        ("complete", "The campaign is already completed."),
    ] {
        let r = admin.post(&path(t), &[]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{t}");
        assert!(r.text().await.unwrap().contains(reason), "{t}");
    }
    // With htmx, the reason alone goes to the page's flash region.
    let token = admin.csrf().await;
    let r = admin.client.post(admin.url(&path("start"))).header("HX-Request", "true").header("X-CSRF-Token", token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.headers().get("hx-retarget").unwrap(), "#flash");
    let body = r.text().await.unwrap();
    assert!(body.contains("A completed campaign cannot be started again") && !body.contains("<html"), "{body}");
    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(!page.contains("/start\"") && !page.contains("/pause\"") && !page.contains("/complete\""), "no lifecycle buttons once completed");
    assert!(!page.contains("Attach all my clients"), "{page}");

    for (action, n) in [("campaigns.started", 2), ("campaigns.paused", 1), ("campaigns.completed", 1)] {
        assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = '{action}' AND entity_id = '{id}'")), n, "{action}");
    }
    let audit = admin.get_html("/audit-logs").await;
    assert!(audit.contains("started campaign <strong>Life</strong>"), "{audit}");
    assert!(audit.contains("resumed campaign <strong>Life</strong>"), "{audit}");
    assert!(audit.contains("paused campaign <strong>Life</strong>"), "{audit}");
    assert!(audit.contains("completed campaign <strong>Life</strong>"), "{audit}");
}

#[tokio::test]
async fn completing_cancels_scheduled_and_sending_batches_and_their_queued_recipients() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let id = campaign(&app, w, "Ending", "active", &[]);
    let other = campaign(&app, w, "Untouched", "active", &[]);
    let clients: Vec<i64> = (0..3).map(|i| client(&app, w, &format!("C{i}"), "warm", &[], None)).collect();
    let batch = |campaign: i64, status: &str| {
        insert_id(&app, &format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body, status) VALUES ({w}, {campaign}, 'sms', 'text', 'hi', '{status}') RETURNING id"))
    };
    let scheduled = batch(id, "scheduled");
    let sending = batch(id, "sending");
    let done = batch(id, "done");
    let elsewhere = batch(other, "sending");
    let recipient = |b: i64, c: i64, status: &str| {
        sql(&app, &format!("INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status) VALUES ({w}, {b}, {c}, '{status}')"));
    };
    for c in &clients {
        recipient(scheduled, *c, "queued");
        recipient(elsewhere, *c, "queued");
    }
    recipient(sending, clients[0], "sent");
    recipient(sending, clients[1], "queued");
    recipient(sending, clients[2], "failed");
    recipient(done, clients[0], "delivered");

    assert_redirects_to(&admin.post(&format!("/campaigns/{id}/complete"), &[]).await, &format!("/campaigns/{id}"));
    let batch_status = |b: i64| app.count(&format!("SELECT CASE status WHEN 'cancelled' THEN 1 WHEN 'done' THEN 2 WHEN 'sending' THEN 3 ELSE 0 END FROM campaign_batches WHERE id = {b}"));
    assert_eq!((batch_status(scheduled), batch_status(sending), batch_status(done), batch_status(elsewhere)), (1, 1, 2, 3));
    let recipients = |b: i64, s: &str| app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = '{s}'"));
    assert_eq!(recipients(scheduled, "cancelled"), 3);
    assert_eq!((recipients(sending, "cancelled"), recipients(sending, "sent"), recipients(sending, "failed")), (1, 1, 1));
    assert_eq!(recipients(done, "delivered"), 1);
    assert_eq!(recipients(elsewhere, "queued"), 3, "another campaign's batch is untouched");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients r JOIN campaign_batches b ON b.id = r.batch_id WHERE b.campaign_id = {id} AND r.status = 'queued'")), 0);
    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(page.contains("Campaign completed: 2 batches and 4 queued messages cancelled."), "{page}");
    // The batches list links to each batch's recipients page.
    assert!(page.contains(&format!("href=\"/campaigns/{id}/sms-messages/{scheduled}/recipients\"")), "{page}");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.completed' AND entity_id = '{id}' AND (after->>'recipients_cancelled')::int = 4 AND (after->>'batches_cancelled')::int = 2")),
        1
    );
}

#[tokio::test]
async fn attaching_all_filter_or_selected_takes_only_the_users_clients_once_and_counts_opt_outs() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let agent = app.create_user("Acme", "agent-x@acme.test", Role::Agent);
    let mine = department(&app, w, "Mine");
    let theirs = department(&app, w, "Theirs");
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[mine]).unwrap();
    let a1 = client(&app, w, "Ann Smith", "hot", &[mine], None);
    let a2 = client(&app, w, "Bob Smithers", "warm", &[mine], None);
    let a3 = client(&app, w, "Cat Jones", "hot", &[mine], Some(agent.id));
    let b1 = client(&app, w, "Dan Smith", "hot", &[theirs], Some(agent.id));
    let b2 = client(&app, w, "Eve Smith", "hot", &[theirs], Some(manager_user.id));
    sql(&app, &format!("UPDATE clients SET opt_out_whatsapp_at = now() WHERE id IN ({a1}, {a2})"));
    sql(&app, &format!("UPDATE clients SET opt_out_sms_at = now() WHERE id = {a3}"));
    let c = campaign(&app, w, "Spring", "draft", &[mine]);

    // filter: the words page first, nothing attached yet.
    let words = manager.get_html(&format!("/campaigns/{c}/attach-clients?mode=filter&q=smi&status=hot")).await;
    assert!(words.contains("<strong hx-disable>Clients matching “smi”, status hot</strong>: 2."), "{words}");
    assert!(words.contains("1 has opted out of WhatsApp and will be skipped."), "{words}");
    assert!(words.contains("name=\"mode\" value=\"filter\"") && words.contains("name=\"q\" value=\"smi\"") && words.contains(">Confirm</button>"), "{words}");
    assert!(attached(&app, c).is_empty());
    let r = manager.post(&format!("/campaigns/{c}/attach-clients"), &[("mode", "filter"), ("q", "smi"), ("status", "hot")]).await;
    assert_redirects_to(&r, &format!("/campaigns/{c}"));
    // Dan (the agent's, another department) is not the manager's; Eve is assigned to them.
    assert_eq!(attached(&app, c), vec![a1, b2]);
    let page = manager.get_html(&format!("/campaigns/{c}")).await;
    assert!(page.contains("2 attached, 0 already there; 1 has opted out of WhatsApp and will be skipped."), "{page}");
    // The words of a department, tag and assignee filter.
    let tag = insert_id(&app, &format!("INSERT INTO tags (workspace_id, name) VALUES ({w}, 'vip') RETURNING id"));
    let words = manager.get_html(&format!("/campaigns/{c}/attach-clients?mode=filter&department={mine}&tag={tag}&assignee={}", agent.id)).await;
    assert!(words.contains("Clients department Mine, tag vip, assigned to Test User</strong>: 0."), "{words}");
    let r = manager.get(&format!("/campaigns/{c}/attach-clients?mode=filter&status=cold")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // all: every client the manager may see; those already there stay once.
    let words = manager.get_html(&format!("/campaigns/{c}/attach-clients?mode=all")).await;
    assert!(words.contains("<strong hx-disable>Every client you can see</strong>: 4."), "{words}");
    assert_redirects_to(&manager.post(&format!("/campaigns/{c}/attach-clients"), &[("mode", "all")]).await, &format!("/campaigns/{c}"));
    assert_eq!(attached(&app, c), vec![a1, a2, a3, b2]);
    let page = manager.get_html(&format!("/campaigns/{c}")).await;
    assert!(page.contains("2 attached, 2 already there; 2 have opted out of WhatsApp and will be skipped; 1 has opted out of SMS and will be skipped."), "{page}");
    assert!(page.contains("<strong>4</strong> clients attached."), "{page}");
    assert!(page.contains("2 have opted out of WhatsApp and will be skipped"), "{page}");
    manager.post(&format!("/campaigns/{c}/attach-clients"), &[("mode", "all")]).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_clients WHERE campaign_id = {c}")), 4, "attached twice stays once");
    assert!(manager.get_html(&format!("/campaigns/{c}")).await.contains("0 attached, 4 already there"));

    // selected: ids outside the scope (another department's, another workspace's, none) are not yours.
    let c2 = campaign(&app, w, "Second", "active", &[mine]);
    let stranger = app.create_user("Elsewhere", "x@else.test", Role::Admin);
    let foreign = client(&app, stranger.workspace_id, "Foreign", "hot", &[], None);
    let r = manager
        .post(
            &format!("/campaigns/{c2}/attach-clients"),
            &[("mode", "selected"), ("client_ids", &a2.to_string()), ("client_ids", &b1.to_string()), ("client_ids", &foreign.to_string()), ("client_ids", "987654321"), ("client_ids", &a2.to_string())],
        )
        .await;
    assert_redirects_to(&r, &format!("/campaigns/{c2}"));
    assert_eq!(attached(&app, c2), vec![a2]);
    assert!(manager.get_html(&format!("/campaigns/{c2}")).await.contains("1 attached, 0 already there, 3 not yours (ignored); 1 has opted out of WhatsApp and will be skipped."));
    let r = manager.post(&format!("/campaigns/{c2}/attach-clients"), &[("mode", "selected")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = manager.post(&format!("/campaigns/{c2}/attach-clients"), &[("mode", "everyone")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The admin's "all" is the workspace.
    let c3 = campaign(&app, w, "Third", "draft", &[]);
    admin.post(&format!("/campaigns/{c3}/attach-clients"), &[("mode", "all")]).await;
    assert_eq!(attached(&app, c3), vec![a1, a2, a3, b1, b2]);

    // A completed campaign refuses attaching.
    sql(&app, &format!("UPDATE campaigns SET status = 'completed' WHERE id = {c2}"));
    let r = manager.post(&format!("/campaigns/{c2}/attach-clients"), &[("mode", "all")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("The campaign is completed, so no clients can be attached to it."));
    assert_eq!(manager.get(&format!("/campaigns/{c2}/attach-clients?mode=all")).await.status(), StatusCode::CONFLICT);
    assert_eq!(attached(&app, c2), vec![a2]);

    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.audience_attached' AND entity_id = '{c}'")), 3);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_logs WHERE action = 'campaigns.audience_attached' AND entity_id = '{c2}' AND after->>'mode' = 'selected' AND (after->>'not_yours')::int = 3"
        )),
        1
    );
    let audit = admin.get_html("/audit-logs").await;
    assert!(audit.contains("attached 2 clients to campaign <strong>Spring</strong> (2 already there)"), "{audit}");
}

#[tokio::test]
async fn the_client_lists_bulk_bar_adds_ticked_or_all_matching_clients_to_a_campaign() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let open = campaign(&app, w, "Open one", "active", &[]);
    campaign(&app, w, "Finished one", "completed", &[]);
    let x = client(&app, w, "Xena Smith", "hot", &[], Some(agent_user.id));
    let y = client(&app, w, "Yuri Smith", "warm", &[], None);
    client(&app, w, "Zoe Jones", "warm", &[], None);

    let list = admin.get_html("/clients").await;
    assert!(list.contains("<option value=\"campaign\">Add to campaign</option>"), "{list}");
    assert!(list.contains(&format!("<option value=\"{open}\">Open one</option>")) && !list.contains("Finished one"), "{list}");
    assert!(!agent.get_html("/clients").await.contains("Add to campaign"), "agents have no campaigns");

    let r = admin.post("/clients/bulk", &[("action", "campaign"), ("campaign_id", &open.to_string()), ("target", "selected"), ("client_ids", &x.to_string())]).await;
    assert_redirects_to(&r, &format!("/campaigns/{open}"));
    assert_eq!(attached(&app, open), vec![x]);
    assert!(admin.get_html(&format!("/campaigns/{open}")).await.contains("1 attached, 0 already there."));

    // All matching: to the Confirm page with the filter in words, then attached.
    let r = admin.post("/clients/bulk", &[("action", "campaign"), ("campaign_id", &open.to_string()), ("target", "all-matching"), ("q", "smith"), ("filter_status", "")]).await;
    assert_redirects_to(&r, &format!("/campaigns/{open}/attach-clients?mode=filter&q=smith"));
    let words = admin.get_html(&location(&r)).await;
    assert!(words.contains("<strong hx-disable>Clients matching “smith”</strong>: 2."), "{words}");
    admin.post(&format!("/campaigns/{open}/attach-clients"), &[("mode", "filter"), ("q", "smith")]).await;
    assert_eq!(attached(&app, open), vec![x, y]);

    let r = agent.post("/clients/bulk", &[("action", "campaign"), ("campaign_id", &open.to_string()), ("target", "selected"), ("client_ids", &x.to_string())]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin.post("/clients/bulk", &[("action", "campaign"), ("campaign_id", ""), ("target", "selected"), ("client_ids", &x.to_string())]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin.post("/clients/bulk", &[("action", "campaign"), ("campaign_id", "999999"), ("target", "selected"), ("client_ids", &x.to_string())]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_campaign_route_is_404_for_another_workspaces_or_departments_campaign_and_403_for_agents() {
    let app = spawn_app().await;
    let (_, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let (agent, _) = app.signed_in(Role::Agent).await;
    let mine = department(&app, w, "Mine");
    let theirs = department(&app, w, "Theirs");
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[mine]).unwrap();
    let other_dept = campaign(&app, w, "Theirs", "active", &[theirs]);
    let stranger = app.create_user("Elsewhere", "boss@else.test", Role::Admin);
    let foreign = campaign(&app, stranger.workspace_id, "Foreign", "active", &[]);
    let outsider = app.browser();
    assert_eq!(outsider.login("boss@else.test", crate::support::PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let gets = |id: i64| vec![format!("/campaigns/{id}"), format!("/campaigns/{id}/attach-clients?mode=all"), format!("/campaigns/{id}/edit"), format!("/campaigns/{id}/clients")];
    let posts = |id: i64| {
        vec![
            format!("/campaigns/{id}/start"),
            format!("/campaigns/{id}/pause"),
            format!("/campaigns/{id}/complete"),
            format!("/campaigns/{id}/attach-clients"),
            format!("/campaigns/{id}"),
            format!("/campaigns/{id}/delete"),
            format!("/campaigns/{id}/duplicate"),
            format!("/campaigns/{id}/test-send"),
            format!("/campaigns/{id}/clients/{}/remove", me.id),
        ]
    };
    let before = crate::walk::fingerprint(&app);
    for (who, id) in [(&manager, other_dept), (&outsider, other_dept)] {
        for path in gets(id) {
            assert_eq!(who.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
        for path in posts(id) {
            let r = who.post(&path, &[("mode", "all"), ("name", "Renamed"), ("channels", "sms"), ("confirm", "yes"), ("phone", "+14155550177")]).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
    for path in gets(foreign) {
        assert_eq!(manager.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in gets(other_dept).into_iter().chain(gets(foreign)) {
        assert_eq!(agent.get(&path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    for path in posts(other_dept) {
        assert_eq!(agent.post(&path, &[("mode", "all")]).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(crate::walk::fingerprint(&app), before, "refusals change nothing");
}

#[tokio::test]
async fn the_list_is_paginated_newest_first_with_counts_of_clients_and_batches() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    sql(&app, &format!("INSERT INTO campaigns (workspace_id, name, channels, created_at) SELECT {w}, 'Campaign ' || g, ARRAY['sms'], now() - g * interval '1 minute' FROM generate_series(1, 26) g"));
    let newest = app.count("SELECT id FROM campaigns WHERE name = 'Campaign 1'");
    let c1 = client(&app, w, "One", "warm", &[], None);
    let c2 = client(&app, w, "Two", "warm", &[], None);
    sql(&app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({w}, {newest}, {c1}), ({w}, {newest}, {c2})"));
    sql(&app, &format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body) VALUES ({w}, {newest}, 'sms', 'text', 'hi')"));
    let first = admin.get_html("/campaigns").await;
    assert_eq!(first.matches("<tr id=\"campaign-").count(), 25);
    assert!(first.contains("Campaign 25<") && !first.contains("Campaign 26<"), "newest first");
    assert!(first.contains("href=\"/campaigns?page=2\" rel=\"next\""), "{first}");
    let row = first.split(&format!("<tr id=\"campaign-{newest}\">")).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("<td class=\"num\" data-label=\"Clients\">2</td>") && row.contains("<td class=\"num\" data-label=\"Batches\">1</td>") && row.contains("SMS"), "{row}");
    let second = admin.get_html("/campaigns?page=2").await;
    assert_eq!(second.matches("<tr id=\"campaign-").count(), 1);
    assert!(second.contains("Campaign 26<") && second.contains("href=\"/campaigns\" rel=\"prev\""), "{second}");
    let empty = spawn_app().await;
    let (fresh, _) = empty.signed_in(Role::Admin).await;
    assert!(fresh.get_html("/campaigns").await.contains("No campaigns yet."));
}

#[tokio::test]
async fn a_manager_neither_sees_nor_runs_a_campaign_whose_audience_holds_clients_outside_their_scope() {
    // Issue 18.1: an admin fills a Sales campaign with every client; the Sales manager could
    // list the outsiders as recipients, export them and send to them.
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let at_rest = switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes());
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, sms_from) VALUES ($1, 'AC00000000000000000000000000000000', $2, $3)")
        .bind::<diesel::sql_types::BigInt, _>(w)
        .bind::<diesel::sql_types::Binary, _>(switchboard::crypto::seal(&at_rest, b"token"))
        .bind::<diesel::sql_types::Text, _>(SENDER)
        .execute(&mut app.conn())
        .unwrap();
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let sales = department(&app, w, "Sales");
    let support = department(&app, w, "Support");
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[sales]).unwrap();
    let insider = client(&app, w, "Ines Insider", "hot", &[sales], None);
    let theirs = client(&app, w, "Tom Theirs", "hot", &[], Some(manager_user.id));
    let outsider = client(&app, w, "Olga Outsider", "hot", &[support], None);
    for (id, phone) in [(insider, "+14155550131"), (theirs, "+14155550132"), (outsider, "+14155550133")] {
        sql(&app, &format!("UPDATE clients SET phone = '{phone}', email = 'c{id}@x.test' WHERE id = {id}"));
    }
    assert_eq!(manager.get(&format!("/clients/{outsider}")).await.status(), StatusCode::NOT_FOUND);

    // A campaign whose audience is all the manager's (a department's client and their own).
    let r = admin.post("/campaigns", &[("name", "Sales only"), ("channels", "sms"), ("department_ids", &sales.to_string())]).await;
    let fine = campaign_id_of(&r);
    admin.post(&format!("/campaigns/{fine}/attach-clients"), &[("mode", "selected"), ("client_ids", &insider.to_string()), ("client_ids", &theirs.to_string())]).await;
    assert_eq!(manager.get(&format!("/campaigns/{fine}")).await.status(), StatusCode::OK);

    // The same, filled by the admin with every client.
    let r = admin.post("/campaigns", &[("name", "Sales plus"), ("channels", "sms"), ("department_ids", &sales.to_string())]).await;
    let c = campaign_id_of(&r);
    assert_redirects_to(&admin.post(&format!("/campaigns/{c}/attach-clients"), &[("mode", "all")]).await, &format!("/campaigns/{c}"));
    assert_eq!(attached(&app, c), vec![insider, theirs, outsider]);
    let r = admin.post(&format!("/campaigns/{c}/sms-messages"), &[("body", "Hi {{name}}"), ("send_at", "2031-03-04 09:30")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let recipients_page = location(&r);
    assert!(admin.get_html(&recipients_page).await.contains("Olga Outsider"));

    let before = crate::walk::fingerprint(&app);
    let list = manager.get_html("/campaigns").await;
    assert!(list.contains("Sales only") && !list.contains("Sales plus"), "{list}");
    for path in [
        format!("/campaigns/{c}"),
        recipients_page.clone(),
        format!("{recipients_page}.csv?status=failed"),
        format!("/campaigns/{c}/sms-messages"),
        format!("/campaigns/{c}/attach-clients?mode=all"),
    ] {
        assert_eq!(manager.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in [format!("/campaigns/{c}/sms-messages"), format!("/campaigns/{c}/start"), format!("/campaigns/{c}/attach-clients"), format!("{recipients_page}/retarget")] {
        let r = manager.post(&path, &[("body", "Hi {{name}} {{phone}} {{email}}"), ("mode", "all")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(crate::walk::fingerprint(&app), before, "the manager changed nothing");

    // A client who leaves the manager's departments takes the campaign out of their scope.
    sql(&app, &format!("DELETE FROM client_departments WHERE client_id = {insider}"));
    assert_eq!(manager.get(&format!("/campaigns/{fine}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get(&format!("/campaigns/{fine}")).await.status(), StatusCode::OK);
}

/// A batch of the campaign straight in the database, with recipients (client, status).
fn batch_with(app: &TestApp, w: i64, campaign: i64, channel: &str, recipients: &[(i64, &str)]) -> i64 {
    let b = insert_id(app, &format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body) VALUES ({w}, {campaign}, '{channel}', 'text', 'Hi') RETURNING id"));
    for (client, status) in recipients {
        sql(app, &format!("INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status) VALUES ({w}, {b}, {client}, '{status}')"));
    }
    b
}

#[tokio::test]
async fn a_draft_is_edited_with_the_new_campaign_forms_checks_and_only_while_it_is_a_draft() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    connect_twilio(&app, w);
    let sales = department(&app, w, "Sales");
    let support = department(&app, w, "Support");
    let id = campaign(&app, w, "Spring", "draft", &[sales]);

    let form = admin.get_html(&format!("/campaigns/{id}/edit")).await;
    assert!(form.contains("value=\"Spring\"") && form.contains(&format!("action=\"/campaigns/{id}\"")) && form.contains("Save changes"), "{form}");
    assert!(form.contains(&format!("value=\"{sales}\" checked")), "the departments are ticked: {form}");
    assert!(admin.get_html(&format!("/campaigns/{id}")).await.contains(&format!("href=\"/campaigns/{id}/edit\"")));

    // The new-campaign form's checks; nothing written while a field is wrong.
    let r = admin.post(&format!("/campaigns/{id}"), &[("name", " "), ("channels", "fax")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Name is required.") && html.contains("Choose channels from the list"), "{html}");
    let r = admin.post(&format!("/campaigns/{id}"), &[("name", "Summer"), ("channels", "whatsapp")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose the WhatsApp number to send from."));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {id} AND name = 'Spring'")), 1);

    let (s, p) = (support.to_string(), SENDER.to_string());
    let r = admin.post(&format!("/campaigns/{id}"), &[("name", "Summer"), ("channels", "whatsapp"), ("whatsapp_from", &p), ("department_ids", &s)]).await;
    assert_redirects_to(&r, &format!("/campaigns/{id}"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {id} AND name = 'Summer' AND channels = ARRAY['whatsapp'] AND whatsapp_from = '{SENDER}' AND status = 'draft'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_departments WHERE campaign_id = {id} AND department_id = {support}")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_departments WHERE campaign_id = {id}")), 1, "the departments are replaced");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.updated' AND entity_id = '{id}' AND before->>'name' = 'Spring' AND after->>'name' = 'Summer'")), 1);
    assert!(admin.get_html("/audit-logs").await.contains("edited campaign <strong>Summer</strong> (renamed from <strong>Spring</strong>)"));

    // A channel with a batch stays.
    batch_with(&app, w, id, "whatsapp", &[]);
    let r = admin.post(&format!("/campaigns/{id}"), &[("name", "Summer"), ("channels", "sms"), ("department_ids", &s)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("This campaign has a WhatsApp batch, so WhatsApp stays among its channels."));

    // Started: no longer editable.
    sql(&app, &format!("UPDATE campaigns SET status = 'active' WHERE id = {id}"));
    let r = admin.get(&format!("/campaigns/{id}/edit")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Only a draft can be edited: this campaign is active."));
    let r = admin.post(&format!("/campaigns/{id}"), &[("name", "Autumn"), ("channels", "whatsapp"), ("whatsapp_from", &p), ("department_ids", &s)]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT count(*) FROM campaigns WHERE name = 'Autumn'"), 0);
    assert!(!admin.get_html(&format!("/campaigns/{id}")).await.contains(&format!("href=\"/campaigns/{id}/edit\"")));

    // A manager edits their own department's draft, and only into their departments.
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[sales]).unwrap();
    let theirs = campaign(&app, w, "Sales draft", "draft", &[sales]);
    let both = format!("{sales}");
    let r = manager.post(&format!("/campaigns/{theirs}"), &[("name", "Sales draft"), ("channels", "sms"), ("department_ids", &both), ("department_ids", &s)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose only your own departments."));
    let r = manager.post(&format!("/campaigns/{theirs}"), &[("name", "Sales SMS"), ("channels", "sms"), ("department_ids", &both)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {theirs} AND name = 'Sales SMS'")), 1);
}

#[tokio::test]
async fn a_draft_without_batches_is_deleted_once_confirmed_and_anything_else_is_409_with_the_reason() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let sales = department(&app, w, "Sales");
    let amara = client(&app, w, "Amara", "warm", &[], None);
    let id = campaign(&app, w, "Wrong draft", "draft", &[sales]);
    sql(&app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({w}, {id}, {amara})"));
    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(page.contains(&format!("action=\"/campaigns/{id}/delete\"")) && page.contains("Yes, delete this draft"), "{page}");

    // Not confirmed: refused, nothing deleted.
    let r = admin.post(&format!("/campaigns/{id}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Tick “Yes, delete this draft” to delete it."));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {id}")), 1);

    // A started campaign, and a draft with a batch: 409 with the reason.
    let started = campaign(&app, w, "Started", "active", &[]);
    let r = admin.post(&format!("/campaigns/{started}/delete"), &[("confirm", "yes")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Only a draft can be deleted: this campaign is active."));
    let batched = campaign(&app, w, "Batched", "draft", &[]);
    batch_with(&app, w, batched, "sms", &[(amara, "queued")]);
    let r = admin.post(&format!("/campaigns/{batched}/delete"), &[("confirm", "yes")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("This draft has 1 batch, so it cannot be deleted: complete it instead."));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id IN ({started}, {batched})")), 2);

    let r = admin.post(&format!("/campaigns/{id}/delete"), &[("confirm", "yes")]).await;
    assert_redirects_to(&r, "/campaigns");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {id}")), 0);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_clients WHERE campaign_id = {id}")), 0);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {amara}")), 1, "the clients stay");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.deleted' AND entity_id = '{id}' AND before->>'name' = 'Wrong draft' AND (before->>'clients')::int = 1")), 1);
    assert!(admin.get_html("/campaigns").await.contains("Campaign “Wrong draft” deleted."));
    assert!(admin.get_html("/audit-logs").await.contains("deleted draft campaign <strong>Wrong draft</strong>"));
    assert_eq!(admin.post(&format!("/campaigns/{id}/delete"), &[("confirm", "yes")]).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn duplicating_copies_settings_departments_and_audience_into_a_new_draft_never_its_batches_or_counters() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let sales = department(&app, w, "Sales");
    let (amara, ben) = (client(&app, w, "Amara", "warm", &[], None), client(&app, w, "Ben", "warm", &[], None));
    let source = campaign(&app, w, "Spring", "completed", &[sales]);
    sql(&app, &format!("UPDATE campaigns SET whatsapp_from = '{SENDER}', started_at = now(), completed_at = now() WHERE id = {source}"));
    sql(&app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({w}, {source}, {amara}), ({w}, {source}, {ben})"));
    batch_with(&app, w, source, "whatsapp", &[(amara, "delivered"), (ben, "failed")]);

    // Twice with the same form (a double click): one copy.
    let token = crate::double_submit::form_token(&admin, &format!("/campaigns/{source}"), &format!("/campaigns/{source}/duplicate")).await;
    let r = admin.post(&format!("/campaigns/{source}/duplicate"), &[("form_token", &token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let copy = campaign_id_of(&r);
    let html = admin.get_html(&format!("/campaigns/{copy}")).await;
    assert!(html.contains("Copied as a new draft with the same settings and 2 clients; batches and messages are not copied."), "{html}");
    let again = admin.post(&format!("/campaigns/{source}/duplicate"), &[("form_token", &token)]).await;
    assert_redirects_to(&again, &format!("/campaigns/{copy}"));
    assert_eq!(app.count("SELECT count(*) FROM campaigns"), 2);

    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM campaigns WHERE id = {copy} AND workspace_id = {w} AND name = 'Copy of Spring' AND status = 'draft' AND channels = ARRAY['whatsapp', 'sms'] \
             AND whatsapp_from = '{SENDER}' AND started_at IS NULL AND completed_at IS NULL AND created_by = {}",
            me.id
        )),
        1
    );
    assert_eq!(attached(&app, copy), attached(&app, source));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_departments WHERE campaign_id = {copy} AND department_id = {sales}")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_batches WHERE campaign_id = {copy}")), 0, "no batches, so no recipients, messages or counters");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_batches WHERE campaign_id = {source}")), 1, "the source keeps its own");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.duplicated' AND entity_id = '{copy}' AND (after->>'source_id')::bigint = {source}")), 1);
    assert!(admin.get_html("/audit-logs").await.contains("copied campaign <strong>Spring</strong> as draft <strong>Copy of Spring</strong> (2 clients)"));
}

#[tokio::test]
async fn the_audience_is_listed_50_a_page_searchable_and_a_client_is_removed_only_until_a_message_went_to_them() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let id = campaign(&app, w, "Spring", "active", &[]);
    sql(&app, &format!(
        "INSERT INTO clients (workspace_id, name, phone) SELECT {w}, 'Client ' || lpad(n::text, 2, '0'), '+1415555' || lpad(n::text, 4, '0') FROM generate_series(1, 55) n"
    ));
    sql(&app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) SELECT {w}, {id}, id FROM clients WHERE workspace_id = {w}"));
    let outside = client(&app, w, "Not attached", "warm", &[], None);
    let by_name = |n: &str| app.count(&format!("SELECT id FROM clients WHERE workspace_id = {w} AND name = '{n}'"));
    let rows = |html: &str| html.matches("<tr data-client=").count();

    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(page.contains(&format!("href=\"/campaigns/{id}/clients\"")), "{page}");
    let one = admin.get_html(&format!("/campaigns/{id}/clients")).await;
    assert_eq!(rows(&one), 50, "50 a page");
    assert!(one.contains("Client 01") && one.contains("Client 50") && !one.contains("Client 51"), "by name");
    assert!(one.contains(&format!("href=\"/campaigns/{id}/clients?page=2\"")), "{one}");
    let two = admin.get_html(&format!("/campaigns/{id}/clients?page=2")).await;
    assert_eq!(rows(&two), 5);
    let found = admin.get_html(&format!("/campaigns/{id}/clients?q=client+07")).await;
    assert_eq!(rows(&found), 1, "{found}");
    assert!(found.contains("Client 07"));
    let by_phone = admin.get_html(&format!("/campaigns/{id}/clients?q=%2B1+415+555+0033")).await;
    assert_eq!(rows(&by_phone), 1, "{by_phone}");
    assert!(by_phone.contains("Client 33"));
    assert_eq!(rows(&admin.get_html(&format!("/campaigns/{id}/clients?q=nobody")).await), 0);

    // Client 01 was sent the batch's message; Client 02 is still queued.
    let (sent, queued) = (by_name("Client 01"), by_name("Client 02"));
    let b = batch_with(&app, w, id, "sms", &[(sent, "delivered"), (queued, "queued")]);
    let list = admin.get_html(&format!("/campaigns/{id}/clients")).await;
    assert!(!list.contains(&format!("/campaigns/{id}/clients/{sent}/remove")) && list.contains("Sent: stays"), "{list}");
    assert!(list.contains(&format!("/campaigns/{id}/clients/{queued}/remove")));
    let r = admin.post(&format!("/campaigns/{id}/clients/{sent}/remove"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Client 01 was already sent a message of this campaign, so they stay in its audience"));
    let r = admin.post(&format!("/campaigns/{id}/clients/{queued}/remove"), &[]).await;
    assert_redirects_to(&r, &format!("/campaigns/{id}/clients"));
    assert!(!attached(&app, id).contains(&queued) && attached(&app, id).contains(&sent));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND client_id = {queued} AND status = 'cancelled' AND error_message = 'Removed from the audience.'")), 1);
    assert_eq!(app.count(&format!("SELECT coalesce(sum(n), 0) FROM campaign_batch_counts WHERE batch_id = {b} AND key = 'queued'")), 0, "the counters follow");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.audience_removed' AND entity_id = '{id}' AND (after->>'client_id')::bigint = {queued}")), 1);
    assert!(admin.get_html(&format!("/campaigns/{id}/clients")).await.contains("Client 02 removed from the audience; their queued message is cancelled."));
    assert!(admin.get_html("/audit-logs").await.contains("removed <strong>Client 02</strong> from campaign <strong>Spring</strong>"));
    // A client not attached, or no longer: 404. A completed campaign: 409.
    assert_eq!(admin.post(&format!("/campaigns/{id}/clients/{outside}/remove"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.post(&format!("/campaigns/{id}/clients/{queued}/remove"), &[]).await.status(), StatusCode::NOT_FOUND);
    sql(&app, &format!("UPDATE campaigns SET status = 'completed' WHERE id = {id}"));
    let r = admin.post(&format!("/campaigns/{id}/clients/{}/remove", by_name("Client 03")), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("The campaign is completed, so its audience stays as it was."));
    // Another workspace's campaign is 404.
    let stranger = app.create_user("Elsewhere", "boss@else.test", Role::Admin);
    let foreign = campaign(&app, stranger.workspace_id, "Foreign", "draft", &[]);
    assert_eq!(admin.get(&format!("/campaigns/{foreign}/clients")).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_test_send_goes_to_the_typed_phone_through_the_send_path_and_is_not_counted_in_the_campaign() {
    use crate::messaging_send::{WHATSAPP_FROM, add_template, configure, setup_double_with, text, wait_for};
    use switchboard::messaging::Channel;
    let s = setup_double_with(false, |c| c.job_workers = 1).await;
    let (app, admin, w) = (&s.app, &s.browser, s.workspace_id);
    let id = campaign(app, w, "Spring", "draft", &[]);
    sql(app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({w}, {id}, {})", s.client_id));
    let path = format!("/campaigns/{id}/test-send");
    let me = "+14155550177";
    assert!(admin.get_html(&format!("/campaigns/{id}")).await.contains(&format!("action=\"{path}\"")));

    let refused = |r: reqwest::Response, reason: &'static str| async move {
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{reason}");
        let html = r.text().await.unwrap();
        assert!(html.contains(reason), "{reason}: {html}");
    };
    refused(admin.post(&path, &[("phone", me)]).await, "This campaign has no WhatsApp or SMS batch yet").await;
    let template = add_template(app, w, "HXhello", "hello", "Hi {{1}}, spring is here", "pending");
    let batch = insert_id(
        app,
        &format!(
            "INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, template_id, variables, body, sender) \
             VALUES ({w}, {id}, 'whatsapp', 'template', {template}, '{{\"1\": {{\"field\": \"name\"}}}}', '', '{WHATSAPP_FROM}') RETURNING id"
        ),
    );
    sql(app, &format!("INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status) VALUES ({w}, {batch}, {}, 'queued')", s.client_id));
    refused(admin.post(&path, &[("phone", "")]).await, "Type the phone number to send the test to.").await;
    refused(admin.post(&path, &[("phone", "12")]).await, "not a phone number").await;
    refused(admin.post(&path, &[("phone", me)]).await, "Twilio is not configured").await;
    configure(app, w);
    refused(admin.post(&path, &[("phone", me)]).await, "The template hello is not approved by WhatsApp (pending).").await;
    assert_eq!(app.count("SELECT count(*) FROM messages"), 0, "nothing written while refused");
    sql(app, &format!("UPDATE whatsapp_templates SET approval_status = 'approved' WHERE id = {template}"));

    let r = admin.post(&path, &[("phone", me)]).await;
    assert_redirects_to(&r, &format!("/campaigns/{id}"));
    wait_for(app, "EXISTS (SELECT 1 FROM messages WHERE provider_id IS NOT NULL)").await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 1);
    let name = text(app, &format!("SELECT name FROM users WHERE workspace_id = {w}"));
    assert_eq!((sent[0].channel, sent[0].to.as_str()), (Channel::WhatsApp, me));
    assert_eq!((sent[0].channel, sent[0].from.as_str()), (Channel::WhatsApp, WHATSAPP_FROM));
    assert_eq!(sent[0].template.as_deref(), Some("HXhello"));
    assert_eq!(sent[0].variables, [("1".to_string(), name)], "filled in with the sender's own name");
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE client_id IS NULL AND batch_id IS NULL AND direction = 'outbound'"), 1, "no client's, no batch's");
    assert_eq!(app.count(&format!("SELECT coalesce(sum(n), 0) FROM campaign_batch_counts WHERE batch_id = {batch} AND key <> 'queued'")), 0, "not in the campaign's counters");
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {batch} AND status = 'queued'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaigns WHERE id = {id} AND status = 'draft'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.test_sent' AND entity_id = '{id}' AND after->>'recipient' = '{me}'")), 1);
    let page = admin.get_html(&format!("/campaigns/{id}")).await;
    assert!(page.contains(&format!("Test message queued to {me}; it is not counted in the campaign.")), "{page}");
    assert!(admin.get_html("/audit-logs").await.contains(&format!("sent a test of campaign <strong>Spring</strong> to <strong>{me}</strong>")));
}
