use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{TestApp, assert_redirects_to, spawn_app};

fn seed_clients(app: &TestApp, workspace_id: i64, names: &[&str], assigned_to: Option<i64>) -> Vec<i64> {
    use switchboard::clients::model::{ClientFields, insert};
    names
        .iter()
        .map(|name| {
            let fields = ClientFields {
                name: name.to_string(),
                email: None,
                phone: None,
                phone_formatted: None,
                company: None,
                status: "warm".into(),
                assigned_to,
                notes: String::new(),
            };
            insert(&mut app.conn(), workspace_id, &fields, switchboard::clients::model::StatusSource::Rule).unwrap().id
        })
        .collect()
}

#[tokio::test]
async fn bulk_assign_two_selected_clients_audits_each() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "agent@acme.test", Role::Agent);
    let ids = seed_clients(&app, me.workspace_id, &["One", "Two", "Three"], None);
    let (a, b) = (ids[0].to_string(), ids[1].to_string());
    let r = admin
        .post("/clients/bulk", &[("action", "assign"), ("assign_to", &agent.id.to_string()), ("target", "selected"), ("client_ids", &a), ("client_ids", &b)])
        .await;
    assert_redirects_to(&r, "/clients");
    assert!(admin.get_html("/clients").await.contains("Assigned 2 clients."));
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE assigned_to = {}", agent.id)), 2);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.bulk_assign'"), 2);
}

#[tokio::test]
async fn bulk_status_on_all_matching_the_filter_changes_only_those() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    seed_clients(&app, me.workspace_id, &["Smith A", "Smith B", "Jones"], None);
    let r = admin.post("/clients/bulk", &[("action", "status"), ("status", "hot"), ("target", "all"), ("q", "smith")]).await;
    assert_redirects_to(&r, "/clients?q=smith");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE status = 'hot'"), 2);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Jones' AND status = 'warm'"), 1);
    let r = admin.post("/clients/bulk", &[("action", "tag"), ("tag", "VIP"), ("target", "all")]).await;
    assert_redirects_to(&r, "/clients");
    assert_eq!(app.count("SELECT count(*) FROM client_tags"), 3);
    admin.post("/clients/bulk", &[("action", "untag"), ("tag", "vip"), ("target", "all"), ("q", "jones")]).await;
    assert_eq!(app.count("SELECT count(*) FROM client_tags"), 2);
}

/// The list shows tags from the ids kept on each client's row (issue 20); every write of
/// the links keeps them equal, and a row without them (NULL) is read from the links.
#[tokio::test]
async fn the_list_shows_the_tags_the_form_and_the_bulk_actions_leave() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let ids = seed_clients(&app, me.workspace_id, &["Smith A", "Smith B", "Jones"], None);
    let chips = |html: &str, name: &str| html.matches(&format!(">{name}</span>")).count();
    admin.post("/clients/bulk", &[("action", "tag"), ("tag", "VIP"), ("target", "all")]).await;
    admin.post("/clients/bulk", &[("action", "tag"), ("tag", "north"), ("target", "all"), ("q", "smith")]).await;
    let html = admin.get_html("/clients").await;
    assert_eq!((chips(&html, "VIP"), chips(&html, "north")), (3, 2), "{html}");
    admin.post("/clients/bulk", &[("action", "untag"), ("tag", "vip"), ("target", "selected"), ("client_ids", &ids[0].to_string())]).await;
    let html = admin.get_html("/clients").await;
    assert_eq!((chips(&html, "VIP"), chips(&html, "north")), (2, 2));
    // The client form sets the tags by name.
    let r = admin.post(&format!("/clients/{}", ids[2]), &[("name", "Jones"), ("status", "warm"), ("tags", "north, south"), ("version", "1")]).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let html = admin.get_html("/clients").await;
    assert_eq!((chips(&html, "VIP"), chips(&html, "north"), chips(&html, "south")), (1, 3, 1), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE tag_ids IS NULL"), 0);
    assert_eq!(app.stale_tag_ids(), 0);
    // A row whose ids were never computed shows its links.
    diesel::sql_query(format!("UPDATE clients SET tag_ids = NULL WHERE id = {}", ids[2])).execute(&mut app.conn()).unwrap();
    let html = admin.get_html("/clients").await;
    assert_eq!((chips(&html, "VIP"), chips(&html, "north"), chips(&html, "south")), (1, 3, 1));
}

#[tokio::test]
async fn bulk_delete_needs_confirmation_and_a_manager() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let ids = seed_clients(&app, me.workspace_id, &["One", "Two"], Some(agent_user.id));
    let one = ids[0].to_string();
    let r = admin.post("/clients/bulk", &[("action", "delete"), ("client_ids", &one)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Tick the confirmation box"));
    let r = agent.post("/clients/bulk", &[("action", "delete"), ("confirm", "delete"), ("client_ids", &one)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = agent.post("/clients/bulk", &[("action", "assign"), ("assign_to", &me.id.to_string()), ("client_ids", &one)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM clients"), 2);
    let r = admin.post("/clients/bulk", &[("action", "delete"), ("confirm", "delete"), ("target", "all")]).await;
    assert_redirects_to(&r, "/clients");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.bulk_delete' AND before->>'name' IS NOT NULL"), 2);
}

#[tokio::test]
async fn a_ticked_delete_confirmation_is_refused_with_any_other_action() {
    // Issue 19.13: without CSS every action's fields show, the delete confirmation among them;
    // ticked beside another action it must not be sent as if it meant something.
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let ids = seed_clients(&app, me.workspace_id, &["One", "Two"], None);
    let one = ids[0].to_string();
    for (action, field, value) in [("tag", "tag", "vip"), ("status", "status", "hot"), ("campaign", "campaign_id", "1")] {
        let r = admin.post("/clients/bulk", &[("action", action), (field, value), ("confirm", "delete"), ("client_ids", &one)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        assert!(r.text().await.unwrap().contains("The delete confirmation is ticked"), "{action}");
    }
    assert_eq!(app.count("SELECT count(*) FROM client_tags"), 0);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE status = 'hot'"), 0);
}

#[tokio::test]
async fn a_bulk_action_is_all_or_nothing_and_ignores_ids_the_user_cannot_see() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let mine = seed_clients(&app, me.workspace_id, &["Agent's"], Some(agent_user.id));
    let others = seed_clients(&app, me.workspace_id, &["Not the agent's"], None);
    let foreign = seed_clients(&app, beta.workspace_id, &["Beta's"], None);
    let r = agent
        .post(
            "/clients/bulk",
            &[("action", "status"), ("status", "inactive"), ("client_ids", &mine[0].to_string()), ("client_ids", &others[0].to_string()), ("client_ids", &foreign[0].to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE status = 'inactive'"), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {} AND status = 'inactive'", mine[0])), 1);
    // A failure in the middle (audit insert refused) rolls the whole action back.
    diesel::sql_query("ALTER TABLE audit_logs ADD CONSTRAINT test_no_bulk CHECK (action <> 'clients.bulk_status') NOT VALID").execute(&mut app.conn()).unwrap();
    let r = admin.post("/clients/bulk", &[("action", "status"), ("status", "hot"), ("target", "all")]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE status = 'hot'"), 0);
    // Bad input is a 422 with the reason.
    for fields in [vec![("action", "explode"), ("target", "all")], vec![("action", "status"), ("status", "cold"), ("target", "all")], vec![("action", "status"), ("status", "hot")]] {
        assert_eq!(admin.post("/clients/bulk", &fields).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
    }
    let r = admin.post("/clients/bulk", &[("action", "assign"), ("assign_to", &beta.id.to_string()), ("target", "all")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a user of another workspace cannot be assigned");
}

/// A form post as the boosted bulk form sends it through htmx.
async fn htmx_post(browser: &crate::support::Browser, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let token = browser.csrf().await;
    let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    browser
        .client
        .post(browser.url(path))
        .header("HX-Request", "true")
        .header("HX-Boosted", "true")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_html_form::to_string(&all).unwrap())
        .send()
        .await
        .expect("htmx POST")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn a_bulk_error_from_htmx_is_a_message_for_the_flash_region_not_a_page() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let one = seed_clients(&app, me.workspace_id, &["One"], None)[0].to_string();
    let cases: [(&[(&str, &str)], &str); 2] = [
        (&[("action", "status"), ("status", "hot"), ("target", "selected")], "Select at least one client, or choose all matching."),
        (&[("action", "delete"), ("target", "selected"), ("client_ids", &one)], "Tick the confirmation box to delete clients."),
    ];
    for (fields, message) in cases {
        let r = htmx_post(&admin, "/clients/bulk", fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        // htmx swaps 422 responses: into the flash region, the list and its ticks stay.
        assert_eq!(header(&r, "HX-Retarget"), "#flash");
        assert_eq!(header(&r, "HX-Reswap"), "innerHTML");
        assert_eq!(header(&r, "HX-Push-Url"), "false", "the address stays /clients");
        let body = r.text().await.unwrap();
        assert_eq!(body.trim(), format!(r#"<p id="error-message" class="flash error" role="alert">{message}</p>"#));
    }
    assert_eq!(app.count("SELECT count(*) FROM clients"), 1);
    // Without htmx, the same error is the full error page.
    let r = admin.post("/clients/bulk", &[("action", "status"), ("status", "hot"), ("target", "selected")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.headers().get("HX-Retarget").is_none());
    let body = r.text().await.unwrap();
    assert!(body.starts_with("<!doctype html>") && body.contains(r#"<p id="error-message" class="error-message">Select at least one client"#), "{body}");
}

#[tokio::test]
async fn every_error_page_from_htmx_is_a_message_fragment() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Agent).await;
    // An AppError (a missing record), and the router's own 404 rendered by the error handlers.
    for path in ["/clients/999999999", "/no/such/page"] {
        let r = admin.htmx_get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&r, "HX-Retarget"), "#flash", "{path}");
        let body = r.text().await.unwrap();
        assert_eq!(body.trim(), r#"<p id="error-message" class="flash error" role="alert">The page or record you asked for does not exist.</p>"#, "{path}");
    }
    let r = admin.get("/no/such/page").await;
    assert!(r.text().await.unwrap().starts_with("<!doctype html>"));
}
