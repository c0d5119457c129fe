use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::spawn_app;

#[tokio::test]
async fn another_workspaces_ids_give_404_on_every_route_that_takes_an_id() {
    let app = spawn_app().await;
    // Workspace B with a user, a department and audit entries.
    let theirs = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let b_agent = app.create_user("Beta", "agent@beta.test", Role::Agent);
    let b_department = {
        switchboard::departments::insert(&mut app.conn(), theirs.workspace_id, "Beta sales").unwrap().id
    };
    let b_audit = app.count(&format!("SELECT max(id) FROM audit_logs WHERE workspace_id = {}", theirs.workspace_id));
    let bw = theirs.workspace_id;
    let b_job = switchboard::jobs::enqueue(&mut app.conn(), &switchboard::jobs::NewJob::new(bw, switchboard::jobs::run::Noop::KIND, serde_json::json!({})).at(chrono::Utc::now() + chrono::Duration::days(1))).unwrap().unwrap();
    diesel::sql_query(format!("INSERT INTO notifications (workspace_id, user_id, kind, title) VALUES ({bw}, {}, 'note', 'Beta note')", theirs.id)).execute(&mut app.conn()).unwrap();
    let b_note = app.count("SELECT max(id) FROM notifications");
    let (admin, _) = app.signed_in(Role::Admin).await;

    assert_eq!(admin.get(&format!("/audit-logs/{b_audit}")).await.status(), StatusCode::NOT_FOUND);
    for (path, fields) in [
        (format!("/settings/users/{}/role", b_agent.id), vec![("role", "admin")]),
        (format!("/settings/users/{}/active", b_agent.id), vec![("active", "false")]),
        (format!("/settings/users/{}/departments", b_agent.id), vec![]),
        (format!("/settings/departments/{b_department}"), vec![("name", "Mine now")]),
        (format!("/settings/departments/{b_department}/delete"), vec![]),
        (format!("/settings/jobs/{b_job}/cancel"), vec![]),
        (format!("/settings/jobs/{b_job}/retry"), vec![]),
        (format!("/notifications/{b_note}/read"), vec![]),
    ] {
        let r = admin.post(&path, &fields).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "POST {path}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("Beta"), "no data of the other workspace leaks");
    }
    // Nothing of B changed.
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE id = {b_job} AND status = 'queued'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM notifications WHERE id = {b_note} AND read_at IS NULL")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND role = 'agent' AND active", b_agent.id)), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM departments WHERE id = {b_department} AND name = 'Beta sales'")), 1);
    // A department of B cannot be given to a user of A.
    let mine = app.create_user("Acme", "mine@acme.test", Role::Agent);
    let r = admin.post(&format!("/settings/users/{}/departments", mine.id), &[("department_ids", &b_department.to_string())]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM user_departments"), 0);
}

#[tokio::test]
async fn lists_show_only_the_signed_in_workspace() {
    let app = spawn_app().await;
    app.create_user_named("Beta", "secret@beta.test", "Beta Person", Role::Admin);
    let (admin, _) = app.signed_in(Role::Admin).await;
    let users = admin.get_html("/settings/users").await;
    assert!(!users.contains("secret@beta.test"));
    let audit = admin.get_html("/audit-logs").await;
    assert!(!audit.contains("secret@beta.test") && !audit.contains("Beta"));
    let csv = admin.get("/audit-logs/export.csv").await.text().await.unwrap();
    assert!(!csv.contains("secret@beta.test"));
}

#[tokio::test]
async fn non_numeric_ids_are_404_not_400() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    assert_eq!(admin.get("/audit-logs/abc").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.post("/settings/departments/abc", &[("name", "x")]).await.status(), StatusCode::NOT_FOUND);
}
