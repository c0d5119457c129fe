use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{PASSWORD, assert_redirects_to, spawn_app};

fn actions(app: &crate::support::TestApp) -> Vec<String> {
    use switchboard::db::schema::audit_logs::dsl::*;
    audit_logs.order(id.asc()).select(action).load(&mut app.conn()).unwrap()
}

#[tokio::test]
async fn login_logout_failed_login_and_user_changes_are_audited() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "agent@acme.test", Role::Agent);
    app.browser().login("agent@acme.test", "wrong").await;
    admin.post(&format!("/settings/users/{}/role", agent.id), &[("role", "manager")]).await;
    admin.post(&format!("/settings/users/{}/active", agent.id), &[("active", "false")]).await;
    admin.post("/logout", &[]).await;
    let all = actions(&app);
    for expected in ["auth.login", "auth.login_failed", "users.role_changed", "users.deactivated", "auth.logout", "users.created"] {
        assert!(all.iter().any(|a| a == expected), "{expected} missing from {all:?}");
    }
    let ip = app.count("SELECT count(*) FROM audit_logs WHERE action = 'auth.login' AND ip = '127.0.0.1' AND request_id IS NOT NULL");
    assert_eq!(ip, 1);
}

#[tokio::test]
async fn the_audit_table_refuses_updates_and_deletes() {
    let app = spawn_app().await;
    app.create_user("Acme", "a@acme.test", Role::Admin);
    let mut conn = app.conn();
    for sql in ["UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs", "TRUNCATE audit_logs"] {
        let err = diesel::sql_query(sql).execute(&mut conn).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert!(app.count("SELECT count(*) FROM audit_logs") >= 2);
}

#[tokio::test]
async fn a_change_and_its_audit_row_fail_together() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "agent@acme.test", Role::Agent);
    // Make the audit insert for role changes fail.
    diesel::sql_query("ALTER TABLE audit_logs ADD CONSTRAINT test_no_role_changes CHECK (action <> 'users.role_changed')")
        .execute(&mut app.conn())
        .unwrap();
    let r = admin.post(&format!("/settings/users/{}/role", agent.id), &[("role", "manager")]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().await.unwrap();
    assert!(body.contains("Something went wrong") && !body.contains("test_no_role_changes"), "opaque error page");
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND role = 'agent'", agent.id)), 1, "role unchanged");
}

#[tokio::test]
async fn the_list_filters_and_paginates_and_the_detail_shows_the_diff() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "agent@acme.test", Role::Agent);
    for i in 0..60 {
        let role = if i % 2 == 0 { "manager" } else { "agent" };
        admin.post(&format!("/settings/users/{}/role", agent.id), &[("role", role)]).await;
    }
    let page1 = admin.get_html("/audit-logs?action=users.role").await;
    assert_eq!(page1.matches("<td>users.role_changed</td>").count(), 50);
    assert!(page1.contains("rel=\"next\""));
    let page2 = admin.get_html(&format!("/audit-logs?action=users.role&user={}&page=2", me.id)).await;
    assert_eq!(page2.matches("<td>users.role_changed</td>").count(), 10);
    assert!(page2.contains("Page 2") && page2.contains("rel=\"prev\"") && !page2.contains("rel=\"next\""));
    let past_end = admin.get_html("/audit-logs?page=999").await;
    assert!(past_end.contains("No entries match."));
    let module = admin.get_html("/audit-logs?module=auth").await;
    assert!(module.contains("auth.login") && !module.contains("<td>users.role_changed</td>"));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dated = admin.get_html(&format!("/audit-logs?from={today}&to={today}&action=users.role")).await;
    assert_eq!(dated.matches("<td>users.role_changed</td>").count(), 50);
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let none = admin.get_html(&format!("/audit-logs?to={yesterday}")).await;
    assert!(none.contains("No entries match."));

    let id = app.count("SELECT max(id) FROM audit_logs WHERE action = 'users.role_changed'");
    let detail = admin.get_html(&format!("/audit-logs/{id}")).await;
    assert!(detail.contains("<del>manager</del>") && detail.contains("<ins>agent</ins>"), "{detail}");
}

#[tokio::test]
async fn bad_filters_get_a_422_with_the_reason() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (query, reason) in [("from=yesterday", "From must be a date"), ("page=-1", "Page must be"), ("user=bob", "User must be chosen")] {
        let r = admin.get(&format!("/audit-logs?{query}")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(r.text().await.unwrap().contains(reason), "{query}");
    }
    let r = admin.get("/audit-logs?action=%25%27%22_").await;
    assert_eq!(r.status(), StatusCode::OK, "wildcards and quotes are plain text");
}

#[tokio::test]
async fn htmx_gets_only_the_results_fragment() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let r = admin.htmx_get("/audit-logs?module=auth").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["vary"], "HX-Request");
    let body = r.text().await.unwrap();
    assert!(body.trim_start().starts_with("<div id=\"audit-results\">"), "{body}");
    assert!(!body.contains("<html"));
    let boosted = admin.client.get(admin.url("/audit-logs")).header("HX-Request", "true").header("HX-Boosted", "true").send().await.unwrap();
    assert!(boosted.text().await.unwrap().contains("<html"), "boosted navigation gets the full page");
}

#[tokio::test]
async fn the_csv_export_streams_the_filtered_rows_with_formulas_neutralised() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let formula = r#"=HYPERLINK("http://x","y")"#;
    let r = admin.post("/settings/users", &[("email", "f@acme.test"), ("name", formula), ("role", "agent"), ("password", PASSWORD)]).await;
    assert_redirects_to(&r, "/settings/users");
    let r = admin.get("/audit-logs/export.csv?action=users.created").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"audit-log-") && disposition.ends_with(".csv\""), "{disposition}");
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "id,created_at,actor_kind,actor,action,module,entity_id,before,after,ip,request_id");
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().all(|l| l.contains("users.created")), "only the filtered action");
    assert!(csv.contains("HYPERLINK"), "the JSON cell keeps the name, quoted");
    // A cell that begins with a formula character gets a leading quote.
    app.create_user("Acme", "=cmd@acme.test", Role::Agent);
    app.browser().login("=cmd@acme.test", PASSWORD).await;
    let csv = admin.get("/audit-logs/export.csv?action=auth.login").await.text().await.unwrap();
    assert!(csv.contains(",'=cmd@acme.test,"), "{csv}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    for record in reader.records() {
        let record = record.unwrap();
        for cell in record.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "dangerous cell {cell:?}");
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'audit.exported'"), 2, "each export is audited");
}

#[tokio::test]
async fn an_export_of_many_rows_arrives_complete() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    diesel::sql_query(format!(
        "INSERT INTO audit_logs (workspace_id, actor_kind, actor_user_id, actor_label, action, module) \
         SELECT {}, 'user', {}, 'bulk', 'test.bulk', 'test' FROM generate_series(1, 2500)",
        me.workspace_id, me.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let csv = admin.get("/audit-logs/export.csv?action=test.bulk").await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2501, "header plus every row across several chunks");
}

/// Issue 10 item 11: the trail reads as sentences, by name, with the record linked.
async fn named_browser(app: &crate::support::TestApp, email: &str, name: &str, role: Role) -> (crate::support::Browser, switchboard::users::model::User) {
    let user = app.create_user_named("Acme", email, name, role);
    let browser = app.browser();
    assert_eq!(browser.login(email, PASSWORD).await.status(), StatusCode::SEE_OTHER);
    (browser, user)
}

fn created_id(r: &reqwest::Response) -> i64 {
    crate::support::location(r).trim_start_matches("/clients/").parse().unwrap()
}

async fn edit_client(b: &crate::support::Browser, id: i64, fields: &[(&str, &str)]) {
    let form = b.get_html(&format!("/clients/{id}/edit")).await;
    let version = form.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let mut fields = fields.to_vec();
    fields.push(("version", &version));
    let r = b.post(&format!("/clients/{id}"), &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn the_trail_reads_as_sentences_by_name_with_the_record_linked() {
    let app = spawn_app().await;
    let (ana, _) = named_browser(&app, "ana@acme.test", "Ana Lopez", Role::Admin).await;
    let r = ana.post("/clients", &[("name", "Amara Smith"), ("status", "warm"), ("assigned_to", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let amara = created_id(&r);
    edit_client(&ana, amara, &[("name", "Amara Smith"), ("status", "hot"), ("assigned_to", "")]).await;
    let r = ana.post("/clients", &[("name", "Gone Ltd"), ("assigned_to", "")]).await;
    let gone = created_id(&r);
    assert_eq!(ana.post(&format!("/clients/{gone}/delete"), &[]).await.status(), StatusCode::SEE_OTHER);
    let agent = app.create_user_named("Acme", "bo@acme.test", "Bo Diaz", Role::Agent);
    ana.post(&format!("/settings/users/{}/role", agent.id), &[("role", "manager")]).await;

    let html = ana.get_html("/audit-logs").await;
    let link = format!("<a href=\"/clients/{amara}\">Amara Smith</a>");
    for sentence in [
        format!("<strong>Ana Lopez</strong> changed the status of {link} from warm to hot"),
        format!("<strong>Ana Lopez</strong> created client {link}"),
        "<strong>Ana Lopez</strong> signed in".to_string(),
        // Deleted: its recorded name, unlinked.
        "<strong>Ana Lopez</strong> deleted client <strong>Gone Ltd</strong>".to_string(),
        "<strong>Ana Lopez</strong> changed the role of <a href=\"/settings/users\">Bo Diaz</a> from agent to manager".to_string(),
    ] {
        assert!(html.contains(&sentence), "{sentence} missing from {html}");
    }
    assert!(!html.contains(&format!("href=\"/clients/{gone}\"")), "a deleted client is not linked");
    assert!(html.contains("<td>clients.updated</td>"), "the action name stays alongside");

    // The entry's page leads with the same sentence; the dashboard's recent activity too.
    let id = app.count("SELECT max(id) FROM audit_logs WHERE action = 'clients.updated'");
    let detail = ana.get_html(&format!("/audit-logs/{id}")).await;
    assert!(detail.contains(&format!("<h1 hx-disable><span class=\"audit-sentence\"><strong>Ana Lopez</strong> changed the status of {link} from warm to hot</span></h1>")), "{detail}");
    let home = ana.get_html("/").await;
    assert!(home.contains(&format!("<strong>Ana Lopez</strong> changed the status of {link} from warm to hot")), "{home}");
    assert!(home.contains("<strong>Ana Lopez</strong> deleted client <strong>Gone Ltd</strong>"), "{home}");
}

#[tokio::test]
async fn a_manager_never_sees_the_name_or_link_of_a_client_outside_their_scope() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (manager, manager_user) = named_browser(&app, "mia@acme.test", "Mia Chen", Role::Manager).await;
    let w = me.workspace_id;
    let dept_a = switchboard::departments::insert(&mut app.conn(), w, "Dept A").unwrap().id;
    let dept_b = switchboard::departments::insert(&mut app.conn(), w, "Dept B").unwrap().id;
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[dept_a]).unwrap();
    let (a, b) = (dept_a.to_string(), dept_b.to_string());
    let r = manager.post("/clients", &[("name", "Kept Client"), ("department_ids", &a), ("assigned_to", "")]).await;
    let kept = created_id(&r);
    let r = manager.post("/clients", &[("name", "Moved Client"), ("department_ids", &a), ("assigned_to", "")]).await;
    let moved = created_id(&r);
    // The admin moves one to another department and renames it there.
    edit_client(&admin, moved, &[("name", "Secret New Name"), ("department_ids", &b), ("assigned_to", "")]).await;

    for page in ["/audit-logs", "/"] {
        let html = manager.get_html(page).await;
        assert!(html.contains(&format!("<strong>Mia Chen</strong> created client <a href=\"/clients/{kept}\">Kept Client</a>")), "{page}: {html}");
        // Their own entry stays theirs to read, but the client is no longer theirs: the name it
        // recorded, unlinked, and never its current name.
        assert!(html.contains("<strong>Mia Chen</strong> created client <strong>Moved Client</strong>"), "{page}: {html}");
        assert!(!html.contains(&format!("href=\"/clients/{moved}\"")), "{page}");
        assert!(!html.contains("Secret New Name"), "{page}");
        // Users are not linked for a manager (the users page is the admins').
        assert!(!html.contains("href=\"/settings/users\""), "{page}");
    }
    let admin_view = admin.get_html("/audit-logs").await;
    assert!(admin_view.contains(&format!("created client <a href=\"/clients/{moved}\">Secret New Name</a>")), "{admin_view}");
}
