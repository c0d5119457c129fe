//! Who reads which audit entries: admins the whole workspace; managers the entries about
//! their departments' clients, their departments' users and their own actions — in the
//! list, the detail, the CSV export and the dashboard's recent activity.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{TestApp, location, spawn_app};

fn ids(app: &TestApp, condition: &str) -> Vec<i64> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    diesel::sql_query(format!("SELECT id FROM audit_logs WHERE {condition} ORDER BY id"))
        .load::<Id>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn link(id: i64) -> String {
    format!("href=\"/audit-logs/{id}\"")
}

#[tokio::test]
async fn a_manager_reads_only_the_audit_entries_of_their_departments_and_their_own() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let w = me.workspace_id;
    let dept_a = switchboard::departments::insert(&mut app.conn(), w, "Dept A").unwrap().id;
    let dept_b = switchboard::departments::insert(&mut app.conn(), w, "Dept B").unwrap().id;
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[dept_a]).unwrap();
    let colleague = app.create_user("Acme", "colleague@acme.test", Role::Agent);
    switchboard::users::model::set_departments(&mut app.conn(), w, colleague.id, &[dept_a]).unwrap();
    let stranger = app.create_user("Acme", "stranger@acme.test", Role::Agent);
    switchboard::users::model::set_departments(&mut app.conn(), w, stranger.id, &[dept_b]).unwrap();

    let create = |name: &'static str, dept: i64| {
        let admin = &admin;
        async move {
            let r = admin.post("/clients", &[("name", name), ("department_ids", &dept.to_string()), ("assigned_to", "")]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            location(&r).trim_start_matches("/clients/").parse::<i64>().unwrap()
        }
    };
    let a = create("Alice Visible", dept_a).await;
    let b = create("Bertha Secret", dept_b).await;
    // The admin changes B's client (before/after values), adds and completes a follow-up on
    // it, and changes both agents' roles.
    let r = admin.get_html(&format!("/clients/{b}/edit")).await;
    let version = r.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = admin
        .post(&format!("/clients/{b}"), &[("name", "Bertha Secret"), ("company", "Hidden Corp"), ("department_ids", &dept_b.to_string()), ("version", &version)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let due = (app.clock.now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M").to_string();
    admin.post(&format!("/clients/{b}/follow-ups"), &[("due_at", &due), ("notes", "call B"), ("assigned_to", &me.id.to_string())]).await;
    let follow_up = app.count(&format!("SELECT max(id) FROM follow_ups WHERE client_id = {b}"));
    assert_eq!(admin.post(&format!("/follow-ups/{follow_up}"), &[("status", "completed")]).await.status(), StatusCode::SEE_OTHER);
    for user in [colleague.id, stranger.id] {
        admin.post(&format!("/settings/users/{user}/role"), &[("role", "manager")]).await;
    }
    // The manager logs a call on A's client.
    manager.post(&format!("/clients/{a}/communications"), &[("kind", "call"), ("notes", "hello")]).await;
    // Many entries about B come last, so a page filled before scoping would be empty.
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO audit_logs (workspace_id, actor_kind, actor_user_id, actor_label, action, module, entity_id, after) \
             SELECT {w}, 'user', {}, 'admin', 'clients.updated', 'clients', '{b}', '{{\"name\": \"Bertha Secret\"}}' FROM generate_series(1, 120)",
            me.id
        )),
        &mut app.conn(),
    )
    .unwrap();

    let visible = ids(&app, &format!(
        "(module = 'clients' AND entity_id = '{a}' AND action <> 'follow_ups.status_changed') OR actor_user_id = {m} OR (module IN ('users', 'auth') AND entity_id IN ('{c}', '{m}'))",
        m = manager_user.id,
        c = colleague.id
    ));
    let hidden = ids(&app, &format!(
        "((module = 'clients' AND entity_id = '{b}') OR action = 'follow_ups.status_changed' \
           OR (module IN ('users', 'auth') AND entity_id IN ('{s}', '{me}'))) AND actor_user_id IS DISTINCT FROM {m}",
        s = stranger.id,
        me = me.id,
        m = manager_user.id
    ));
    assert!(visible.len() >= 4 && hidden.len() > 120, "visible {visible:?}, hidden {}", hidden.len());

    let mut seen = String::new();
    let mut page = 1;
    loop {
        let html = manager.get_html(&format!("/audit-logs?page={page}")).await;
        seen.push_str(&html);
        if !html.contains("rel=\"next\"") {
            break;
        }
        page += 1;
        assert!(page < 10, "the manager's entries fit in a few pages");
    }
    assert_eq!(page, 1, "fewer than 50 entries for the manager");
    for id in &visible {
        assert!(seen.contains(&link(*id)), "the manager sees entry {id}");
    }
    for id in &hidden {
        assert!(!seen.contains(&link(*id)), "the manager must not see entry {id}");
    }

    // The detail: 404 for an entry outside the manager's scope, 200 inside it.
    for id in &hidden {
        assert_eq!(manager.get(&format!("/audit-logs/{id}")).await.status(), StatusCode::NOT_FOUND, "entry {id}");
    }
    for id in &visible {
        assert_eq!(manager.get(&format!("/audit-logs/{id}")).await.status(), StatusCode::OK, "entry {id}");
    }

    // The export applies the same scope.
    let csv = manager.get("/audit-logs/export.csv").await.text().await.unwrap();
    assert!(csv.contains("Alice Visible"), "{csv}");
    assert!(!csv.contains("Bertha Secret") && !csv.contains("Hidden Corp"), "{csv}");
    let exported: Vec<i64> = csv.lines().skip(1).filter_map(|l| l.split(',').next()?.parse().ok()).collect();
    for id in &hidden {
        assert!(!exported.contains(id), "exported hidden entry {id}");
    }
    for id in &visible {
        assert!(exported.contains(id), "export lacks entry {id}");
    }

    // The dashboard's recent activity too.
    let home = manager.get_html("/").await;
    assert!(!home.contains("Bertha") && !hidden.iter().any(|id| home.contains(&link(*id))), "recent activity is scoped");

    // With more clients in scope than `FEW_CLIENTS`, the other way of reading the clients
    // part gives the same answer.
    let fillers = switchboard::audit_log::query::FEW_CLIENTS + 50;
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "WITH c AS (INSERT INTO clients (workspace_id, name) SELECT {w}, 'Filler ' || g FROM generate_series(1, {fillers}) g RETURNING id) \
             INSERT INTO client_departments (workspace_id, client_id, department_id) SELECT {w}, id, {dept_a} FROM c"
        )),
        &mut app.conn(),
    )
    .unwrap();
    let many = manager.get_html("/audit-logs").await;
    for id in &visible {
        assert!(many.contains(&link(*id)), "with many clients the manager sees entry {id}");
    }
    for id in &hidden {
        assert!(!many.contains(&link(*id)), "with many clients the manager must not see entry {id}");
    }
    let csv = manager.get("/audit-logs/export.csv").await.text().await.unwrap();
    assert!(csv.contains("Alice Visible") && !csv.contains("Bertha Secret"));
    assert_eq!(manager.get(&format!("/audit-logs/{}", hidden[0])).await.status(), StatusCode::NOT_FOUND);

    // The admin sees everything.
    let all = admin.get_html("/audit-logs?module=clients").await;
    assert!(all.contains(&link(*hidden.last().unwrap())));
    let csv = admin.get("/audit-logs/export.csv").await.text().await.unwrap();
    assert!(csv.contains("Bertha Secret") && csv.contains("Alice Visible"));
    assert_eq!(admin.get(&format!("/audit-logs/{}", hidden[0])).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn my_open_follow_ups_tile_names_only_clients_the_user_may_open() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let w = me.workspace_id;
    let dept_a = switchboard::departments::insert(&mut app.conn(), w, "Dept A").unwrap().id;
    let dept_b = switchboard::departments::insert(&mut app.conn(), w, "Dept B").unwrap().id;
    switchboard::users::model::set_departments(&mut app.conn(), w, manager_user.id, &[dept_a]).unwrap();
    let due = (app.clock.now() + chrono::Duration::hours(5)).format("%Y-%m-%dT%H:%M").to_string();
    for (name, dept) in [("Alice Visible", dept_a), ("Bertha Secret", dept_b)] {
        let r = admin.post("/clients", &[("name", name), ("department_ids", &dept.to_string()), ("assigned_to", "")]).await;
        let id = location(&r).trim_start_matches("/clients/").to_string();
        // The admin gives the manager a follow-up on each client.
        let r = admin.post(&format!("/clients/{id}/follow-ups"), &[("due_at", &due), ("notes", name), ("assigned_to", &manager_user.id.to_string())]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let b = app.count("SELECT id FROM clients WHERE name = 'Bertha Secret'");
    assert_eq!(manager.get(&format!("/clients/{b}")).await.status(), StatusCode::NOT_FOUND, "the manager cannot open B's client");
    let tile = manager.get_html("/dashboard/my-follow-ups").await;
    assert!(tile.contains("Alice Visible"), "{tile}");
    assert!(!tile.contains("Bertha") && !tile.contains(&format!("/clients/{b}")), "{tile}");
    // The same rows as /follow-ups?view=mine.
    let page = manager.get_html("/follow-ups?view=mine").await;
    assert!(page.contains("Alice Visible") && !page.contains("Bertha"));
}
