//! WhatsApp templates (issue 11 part 7): the sync job against the fake Twilio (several
//! pages, updates, removed ones disabled, one sync at a time), the list's filters and
//! pages, the preview filled from a client, and who may see them.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::messaging::templates;
use switchboard::authz::Role;

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio};
use crate::support::{Browser, TestApp, assert_redirects_to, spawn_app_with};

async fn app_with(fake: &FakeTwilio) -> TestApp {
    let base = fake.base();
    spawn_app_with(move |s| {
        s.twilio_api_base = base.parse().unwrap();
        s.twilio_content_base = base.parse().unwrap();
    })
    .await
}

async fn connect(admin: &Browser) {
    let r = admin
        .post(
            "/settings/twilio",
            &[("account_sid", ACCOUNT_SID), ("auth_token", AUTH_TOKEN), ("whatsapp_from", "+14155550100"), ("whatsapp_rate", "10"), ("sms_rate", "1"), ("inbound_unknown", "create")],
        )
        .await;
    assert_redirects_to(&r, "/settings/twilio");
}

async fn wait_synced(app: &TestApp, done: i64) {
    for _ in 0..300 {
        if app.count("SELECT count(*) FROM jobs WHERE kind = 'sync-templates' AND status = 'done'") == done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sync never finished: {}", app.count("SELECT count(*) FROM jobs WHERE kind = 'sync-templates'"));
}

fn sql(app: &TestApp, query: &str) {
    diesel::sql_query(query).execute(&mut app.conn()).unwrap();
}

#[test]
fn render_fills_each_placeholder_and_keeps_unknown_ones() {
    let vars = vec![("1".to_string(), "Amara".to_string()), ("2".to_string(), "Tuesday".to_string())];
    assert_eq!(templates::render("Hi {{1}}, see you {{2}}. {{3}} {{x}} {{", &vars), "Hi Amara, see you Tuesday. {{3}} {{x}} {{");
    assert_eq!(templates::render("{{1}}{{1}}", &vars), "AmaraAmara");
}

#[tokio::test]
async fn a_sync_reads_every_page_updates_and_disables_what_is_gone() {
    let fake = FakeTwilio::start();
    // 1,050: three pages of the provider's 500.
    for i in 0..1050 {
        let status = match i % 3 {
            0 => "approved",
            1 => "pending",
            _ => "rejected",
        };
        fake.add_template(FakeTwilio::template(&format!("HX{i:032}"), &format!("t{i:03}"), "Hello {{1}}, your code is {{2}}", status, &["Yes", "No"]));
    }
    let app = app_with(&fake).await;
    let (admin, user) = app.signed_in(Role::Admin).await;
    let w = user.workspace_id;
    // Without Twilio the button explains and nothing is queued.
    let page = admin.get_html("/whatsapp-templates").await;
    assert!(page.contains("Twilio, which is not connected yet"), "{page}");
    assert!(!page.contains("Sync now"));
    assert_redirects_to(&admin.post("/whatsapp-templates/sync", &[]).await, "/whatsapp-templates");
    assert!(admin.get_html("/whatsapp-templates").await.contains("Twilio is not connected, so there is nothing to sync"));
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'sync-templates'"), 0);

    connect(&admin).await;
    // One the provider no longer has, and an old copy of one it has.
    sql(&app, &format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, approval_status) VALUES ({w}, 'HXgone', 'gone', 'approved')"));
    sql(&app, &format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, approval_status) VALUES ({w}, 'HX{:032}', 'old name', 'pending')", 0));
    assert_redirects_to(&admin.post("/whatsapp-templates/sync", &[]).await, "/whatsapp-templates");
    wait_synced(&app, 1).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM whatsapp_templates WHERE workspace_id = {w}")), 1051);
    assert_eq!(fake.requests("GET /v1/ContentAndApprovals"), 3, "every page read");
    assert_eq!(app.count("SELECT count(*) FROM whatsapp_templates WHERE provider_id = 'HXgone' AND approval_status = 'disabled'"), 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM whatsapp_templates WHERE provider_id = 'HX{:032}' AND name = 't000' AND approval_status = 'approved' AND language = 'en' \
             AND body = 'Hello {{{{1}}}}, your code is {{{{2}}}}' AND variables = '{{\"1\": \"sample 1\", \"2\": \"sample 2\"}}'::jsonb \
             AND buttons = '[{{\"id\": \"yes\", \"title\": \"Yes\"}}, {{\"id\": \"no\", \"title\": \"No\"}}]'::jsonb AND category = 'UTILITY'",
            0
        )),
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM whatsapp_templates WHERE approval_status = 'rejected' AND rejection_reason = 'Promotional content'"), 350);
    let page = admin.get_html("/whatsapp-templates").await;
    assert!(page.contains("Last synced "), "{page}");
    assert!(page.contains("Sync now"));

    // A second sync is queued again once the first is done (the key is let go).
    fake.add_template(FakeTwilio::template(&format!("HX{:032}", 999), "zz new", "New {{1}}", "approved", &[]));
    assert_redirects_to(&admin.post("/whatsapp-templates/sync", &[]).await, "/whatsapp-templates");
    wait_synced(&app, 2).await;
    assert_eq!(app.count("SELECT count(*) FROM whatsapp_templates WHERE name = 'zz new' AND approval_status = 'approved'"), 1);
    assert_eq!(fake.requests("GET /v1/ContentAndApprovals"), 6);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'templates.sync_requested'"), 2);
}

#[tokio::test]
async fn one_sync_is_queued_at_a_time_and_the_page_says_syncing() {
    let fake = FakeTwilio::start();
    let app = spawn_app_with({
        let base = fake.base();
        move |s| {
            s.twilio_api_base = base.parse().unwrap();
            s.twilio_content_base = base.parse().unwrap();
            s.job_workers = 0;
        }
    })
    .await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    connect(&admin).await;
    assert_redirects_to(&admin.post("/whatsapp-templates/sync", &[]).await, "/whatsapp-templates");
    let page = admin.get_html("/whatsapp-templates").await;
    assert!(page.contains("Syncing templates from Twilio…") && page.contains("<strong>Syncing…</strong>"), "{page}");
    assert!(!page.contains("Sync now"));
    assert_redirects_to(&admin.post("/whatsapp-templates/sync", &[]).await, "/whatsapp-templates");
    assert!(admin.get_html("/whatsapp-templates").await.contains("A sync is already under way."));
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'sync-templates' AND status = 'queued'"), 1);
    // The payload carries nothing secret.
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE position('{AUTH_TOKEN}' in payload::text) > 0")), 0);
}

fn seed_templates(app: &TestApp, w: i64) {
    sql(
        app,
        &format!(
            "INSERT INTO whatsapp_templates (workspace_id, provider_id, name, language, body, variables, buttons, media, approval_status, rejection_reason) \
             SELECT {w}, 'HXp' || i, 'promo ' || lpad(i::text, 3, '0'), CASE WHEN i % 2 = 0 THEN 'en' ELSE 'es' END, 'Hi {{{{1}}}}, {{{{2}}}} is ready', \
             '{{\"1\": \"Customer\", \"2\": \"Your order\"}}', '[{{\"id\": \"ok\", \"title\": \"Great, thanks\"}}]', ARRAY['https://example.com/p.jpg'], \
             CASE WHEN i <= 60 THEN 'approved' WHEN i <= 70 THEN 'pending' ELSE 'rejected' END, CASE WHEN i > 70 THEN 'Too promotional' ELSE '' END \
             FROM generate_series(1, 75) i"
        ),
    );
}

#[tokio::test]
async fn the_list_filters_by_status_and_language_and_pages_in_sql() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake).await;
    let (manager, user) = app.signed_in(Role::Manager).await;
    seed_templates(&app, user.workspace_id);
    let page = manager.get_html("/whatsapp-templates").await;
    assert!(page.contains(r#"<a href="/whatsapp-templates" aria-current="page">Templates</a>"#), "{page}");
    assert_eq!(page.matches("<tr id=\"template-").count(), 50);
    assert!(page.contains("promo 001") && page.contains("promo 050") && !page.contains("promo 051"));
    assert!(page.contains(r#"<a href="/whatsapp-templates?page=2" rel="next">"#), "{page}");
    let second = manager.get_html("/whatsapp-templates?page=2").await;
    assert_eq!(second.matches("<tr id=\"template-").count(), 25);
    assert!(second.contains("promo 075") && second.contains(r#"rel="prev""#) && !second.contains(r#"rel="next""#));

    let approved_en = manager.get_html("/whatsapp-templates?status=approved&language=en").await;
    assert_eq!(approved_en.matches("<tr id=\"template-").count(), 30, "{approved_en}");
    assert!(approved_en.contains(r#"<span class="pill ok">approved</span>"#));
    assert!(approved_en.contains(r#"<option value="approved" selected>Approved</option>"#));
    assert!(approved_en.contains(r#"<option value="en" selected>en</option>"#));
    let rejected = manager.get_html("/whatsapp-templates?status=rejected").await;
    assert_eq!(rejected.matches("<tr id=\"template-").count(), 5);
    assert!(rejected.contains(r#"<span class="pill hot">rejected</span>"#));
    let pending_es = manager.get_html("/whatsapp-templates?status=pending&language=es").await;
    assert_eq!(pending_es.matches("<tr id=\"template-").count(), 5);
    let none = manager.get_html("/whatsapp-templates?language=fr").await;
    assert!(none.contains("No templates match."));
}

#[tokio::test]
async fn the_preview_fills_placeholders_from_a_client_and_typed_values() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake).await;
    let (admin, user) = app.signed_in(Role::Admin).await;
    let w = user.workspace_id;
    seed_templates(&app, w);
    let approved = app.count(&format!("SELECT id FROM whatsapp_templates WHERE workspace_id = {w} AND name = 'promo 001'"));
    let rejected = app.count(&format!("SELECT id FROM whatsapp_templates WHERE workspace_id = {w} AND name = 'promo 071'"));
    let r = admin.post("/clients", &[("name", "Amara Smith"), ("phone", "+14155550123"), ("status", "warm")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let client = app.count(&format!("SELECT id FROM clients WHERE workspace_id = {w} AND name = 'Amara Smith'"));

    let page = admin.get_html(&format!("/whatsapp-templates/{approved}")).await;
    assert!(page.contains(r#"<p class="bubble-body" hx-disable>Hi Customer, Your order is ready</p>"#), "{page}");
    assert!(page.contains(r#"<li hx-disable>Great, thanks</li>"#));
    assert!(page.contains("Media: <span hx-disable>https://example.com/p.jpg</span>"));
    assert!(!page.contains("only approved templates can be sent"));

    // The picker lists the workspace's clients that match.
    let picker = admin.get_html(&format!("/whatsapp-templates/{approved}/clients?q=amara")).await;
    assert!(picker.contains(&format!(r#"<a href="/whatsapp-templates/{approved}?client_id={client}" hx-disable>Amara Smith</a>"#)), "{picker}");
    assert!(admin.get_html(&format!("/whatsapp-templates/{approved}/clients?q=nobody")).await.contains("No client matches."));

    let page = admin.get_html(&format!("/whatsapp-templates/{approved}?client_id={client}")).await;
    assert!(page.contains(r#"<p class="bubble-body" hx-disable>Hi Amara Smith, Your order is ready</p>"#), "{page}");
    assert!(page.contains(r#"name="var_1" value="Amara Smith""#));
    assert!(page.contains(&format!(r#"<input type="hidden" name="client_id" value="{client}">"#)));
    let page = admin.get_html(&format!("/whatsapp-templates/{approved}?client_id={client}&var_2=Invoice+42")).await;
    assert!(page.contains(r#"<p class="bubble-body" hx-disable>Hi Amara Smith, Invoice 42 is ready</p>"#), "{page}");
    // htmx gets the fragment (the bubble is picked from it).
    let fragment = admin.htmx_get(&format!("/whatsapp-templates/{approved}?var_1=Bo")).await.text().await.unwrap();
    assert!(!fragment.contains("<html") && fragment.contains("Hi Bo, Your order is ready"), "{fragment}");

    let page = admin.get_html(&format!("/whatsapp-templates/{rejected}")).await;
    assert!(page.contains("This template is rejected: only approved templates can be sent. Reason: <span hx-disable>Too promotional</span>"), "{page}");
}

#[tokio::test]
async fn other_workspaces_templates_are_not_found_and_agents_are_refused() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let other = app.create_user("Globex", "boss@globex.test", Role::Admin);
    seed_templates(&app, other.workspace_id);
    let theirs = app.count(&format!("SELECT min(id) FROM whatsapp_templates WHERE workspace_id = {}", other.workspace_id));
    assert_eq!(admin.get(&format!("/whatsapp-templates/{theirs}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get(&format!("/whatsapp-templates/{theirs}/clients?q=a")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get("/whatsapp-templates/abc").await.status(), StatusCode::NOT_FOUND);
    assert!(admin.get_html("/whatsapp-templates").await.contains("No templates match."));

    let (agent, _) = app.signed_in(Role::Agent).await;
    assert!(!agent.get_html("/").await.contains("/whatsapp-templates"));
    assert_eq!(agent.get("/whatsapp-templates").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(agent.get(&format!("/whatsapp-templates/{theirs}")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(agent.post("/whatsapp-templates/sync", &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'sync-templates'"), 0);
}
