use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{PASSWORD, spawn_app};

fn parse(csv: &str) -> Vec<Vec<String>> {
    let body = csv.strip_prefix('\u{feff}').unwrap_or(csv);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

#[tokio::test]
async fn the_export_has_the_lists_filters_and_scope_and_neutralises_formulas() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (name, status, tags) in [("=HYPERLINK(\"http://x\",\"y\")", "hot", "vip"), ("+1 Plus", "hot", ""), ("@SUM(1)", "warm", ""), ("Plain, \"Quoted\"", "hot", "vip, trial")] {
        assert_eq!(admin.post("/clients", &[("name", name), ("status", status), ("tags", tags), ("company", "-2 Corp")]).await.status(), StatusCode::SEE_OTHER);
    }
    let r = admin.get("/clients/export.csv?status=hot").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"clients-20") && disposition.ends_with(".csv\""), "{disposition}");
    let rows = parse(&r.text().await.unwrap());
    assert_eq!(rows[0][..3], ["id", "name", "email"]);
    assert_eq!(rows.len(), 4, "header plus the three hot clients");
    let names: Vec<&str> = rows[1..].iter().map(|r| r[1].as_str()).collect();
    assert!(names.contains(&"'=HYPERLINK(\"http://x\",\"y\")") && names.contains(&"'+1 Plus") && names.contains(&"Plain, \"Quoted\""), "{names:?}");
    assert!(rows[1..].iter().all(|r| r[4] == "'-2 Corp"));
    assert!(rows[1..].iter().any(|r| r[8] == "trial; vip"));
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.exported' AND after->'filter'->>'status' = 'hot'"), 1);
    // The Excel flavour starts with a BOM; a bad filter is a 422.
    let bom = admin.get("/clients/export.csv?bom=1").await.bytes().await.unwrap();
    assert_eq!(&bom[..3], b"\xEF\xBB\xBF");
    assert_eq!(admin.get("/clients/export.csv?sort=price").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_agent_exports_only_their_clients_and_nobody_sees_another_workspace() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    admin.post("/clients", &[("name", "Agent Client"), ("assigned_to", &agent_user.id.to_string())]).await;
    admin.post("/clients", &[("name", "Admin Client")]).await;
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let b = app.browser();
    b.login(&beta.email, PASSWORD).await;
    b.post("/clients", &[("name", "Beta Secret")]).await;
    let mine = agent.get("/clients/export.csv").await.text().await.unwrap();
    assert!(mine.contains("Agent Client") && !mine.contains("Admin Client") && !mine.contains("Beta Secret"));
    let all = admin.get("/clients/export.csv").await.text().await.unwrap();
    assert!(all.contains("Agent Client") && all.contains("Admin Client") && !all.contains("Beta Secret"));
}

#[tokio::test]
async fn a_large_export_arrives_complete_across_chunks() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    diesel::sql_query(format!("INSERT INTO clients (workspace_id, name) SELECT {}, 'Client ' || g FROM generate_series(1, 12001) g", me.workspace_id))
        .execute(&mut app.conn())
        .unwrap();
    let csv = admin.get("/clients/export.csv").await.text().await.unwrap();
    let rows = parse(&csv);
    assert_eq!(rows.len(), 12_002);
    let ids: std::collections::HashSet<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), 12_001, "no row twice, none missing");
}
