//! CHECKLIST 14 on the client form: fields the form does not offer (`workspace_id`, `id`,
//! `version`, `status_source`, timestamps, opt-out sources, `import_id`, `role`) are ignored.
//! Each forged post is compared with the same post without the extra fields, so the test
//! holds whatever the server itself decides for those columns.

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{TestApp, location, spawn_app_with};

/// Columns a person cannot set through the form, as text, for one client.
fn protected(app: &TestApp, id: i64) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    diesel::sql_query(format!(
        "SELECT concat_ws('|', workspace_id, version, status_source, \
                status_changed_at > now() - interval '1 hour', created_at > now() - interval '1 hour', \
                updated_at > now() - interval '1 hour', import_id, last_contacted_at, \
                opt_out_email_source, opt_out_sms_at, opt_out_whatsapp_source) AS row \
         FROM clients WHERE id = {id}"
    ))
    .get_result::<Row>(&mut app.conn())
    .expect("client row")
    .row
}

fn client_id(response: &reqwest::Response) -> i64 {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "saved");
    location(response).trim_start_matches("/clients/").parse().expect("redirect to the client")
}

/// Everything a forged form adds, pointing at the other workspace where it can.
fn forged(other_workspace: i64, status_source: &str) -> Vec<(String, String)> {
    [
        ("workspace_id", other_workspace.to_string()),
        ("id", "424242".to_string()),
        ("version", "99".to_string()),
        ("status_source", status_source.to_string()),
        ("status_changed_at", "2001-01-01T00:00:00Z".to_string()),
        ("created_at", "2001-01-01T00:00:00Z".to_string()),
        ("updated_at", "2001-01-01T00:00:00Z".to_string()),
        ("import_id", "1".to_string()),
        ("last_contacted_at", "2001-01-01T00:00:00Z".to_string()),
        ("opt_out_email_source", "forged".to_string()),
        ("opt_out_sms_at", "2001-01-01T00:00:00Z".to_string()),
        ("opt_out_whatsapp_source", "forged".to_string()),
        ("role", "admin".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn with<'a>(base: &[(&'a str, &'a str)], extra: &'a [(String, String)]) -> Vec<(&'a str, &'a str)> {
    let mut all = base.to_vec();
    all.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    all
}

#[tokio::test]
async fn creating_a_client_ignores_workspace_id_version_status_source_and_other_columns_the_form_lacks() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let (admin, me) = app.signed_in(Role::Admin).await;
    let form = [("name", "Plain"), ("status", "hot"), ("notes", "n")];
    let plain = client_id(&admin.post("/clients", &form).await);
    for source in ["hand", "rule"] {
        let extra = forged(beta.workspace_id, source);
        let forged = client_id(&admin.post("/clients", &with(&form, &extra)).await);
        assert_ne!(forged, 424242, "the id is the database's");
        assert_eq!(protected(&app, forged), protected(&app, plain), "status_source={source}: the forged fields changed nothing");
    }
    assert!(protected(&app, plain).starts_with(&format!("{}|1|", me.workspace_id)), "in the signed-in workspace at version 1");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {}", beta.workspace_id)), 0, "nothing landed in the other workspace");
}

#[tokio::test]
async fn updating_a_client_ignores_the_same_fields_and_the_version_only_guards_against_lost_updates() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let (admin, me) = app.signed_in(Role::Admin).await;
    let plain = client_id(&admin.post("/clients", &[("name", "Plain"), ("status", "warm")]).await);
    let target = client_id(&admin.post("/clients", &[("name", "Target"), ("status", "warm")]).await);

    // The same edit to both, one with the forged fields; `version` is the form's own guard.
    let r = admin.post(&format!("/clients/{plain}"), &[("name", "Plain 2"), ("status", "warm"), ("version", "1")]).await;
    assert_eq!(client_id(&r), plain);
    let extra: Vec<(String, String)> = forged(beta.workspace_id, "rule").into_iter().filter(|(k, _)| k != "version").collect();
    let r = admin.post(&format!("/clients/{target}"), &with(&[("name", "Target 2"), ("status", "warm"), ("version", "1")], &extra)).await;
    assert_eq!(client_id(&r), target);
    assert_eq!(protected(&app, target), protected(&app, plain), "the forged fields changed nothing");
    assert!(protected(&app, target).starts_with(&format!("{}|2|", me.workspace_id)), "version moved by one, workspace kept");

    // A made-up version is a stale form, not a way to set the column.
    let r = admin.post(&format!("/clients/{target}"), &[("name", "Target 3"), ("status", "warm"), ("version", "99")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {target} AND name = 'Target 2' AND version = 2")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE workspace_id = {}", beta.workspace_id)), 0);
}

#[tokio::test]
async fn an_agent_cannot_assign_a_client_to_someone_else_or_raise_their_role_through_the_form() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let colleague = app.create_user("Acme", "colleague@acme.test", Role::Agent);
    let (agent, me) = app.signed_in(Role::Agent).await;
    let colleague_id = colleague.id.to_string();
    let id = client_id(&agent.post("/clients", &[("name", "Mine"), ("assigned_to", &colleague_id), ("role", "admin"), ("user_id", &colleague_id)]).await);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {id} AND assigned_to = {}", me.id)), 1, "kept by the agent");
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND role = 'agent'", me.id)), 1, "still an agent");
    assert_eq!(agent.get("/settings/users").await.status(), StatusCode::FORBIDDEN, "and treated as one");
}
