//! WhatsApp flows (issue 12 part 4, the editor): built with plain forms, checked for
//! buttons that lead nowhere, unapproved templates, unreachable steps and loops without a
//! way out; admins and managers only, scoped to the workspace.

use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{TestApp, assert_redirects_to, location, spawn_app};

fn template(app: &TestApp, w: i64, sid: &str, name: &str, status: &str, buttons: &str) -> i64 {
    diesel::sql_query(format!(
        "INSERT INTO whatsapp_templates (workspace_id, provider_id, name, body, approval_status, buttons) VALUES ({w}, '{sid}', '{name}', 'Hi', '{status}', '{buttons}'::jsonb)"
    ))
    .execute(&mut app.conn())
    .unwrap();
    app.count(&format!("SELECT id FROM whatsapp_templates WHERE provider_id = '{sid}' AND workspace_id = {w}"))
}

#[tokio::test]
async fn a_flow_is_built_step_by_step_and_ready_only_when_every_button_leads_somewhere() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let ask = template(&app, w, "HXask", "ask_interest", "approved", r#"[{"id": "yes", "title": "Yes please"}, {"id": "no", "title": "No thanks"}]"#);
    let thanks = template(&app, w, "HXthanks", "thanks", "approved", "[]");
    let promo = template(&app, w, "HXpromo", "promo", "rejected", "[]");

    let page = admin.get_html("/whatsapp-flows").await;
    assert!(page.contains("No flows yet"), "{page}");
    assert!(page.contains(&format!(r#"<option value="{ask}">ask_interest</option>"#)) && !page.contains(&format!(r#"value="{promo}""#)), "only approved templates start a flow");
    let r = admin.post("/whatsapp-flows", &[("name", "Spring offer"), ("template_id", &promo.to_string())]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose an approved template to start the flow."));
    assert_eq!(app.count("SELECT count(*) FROM whatsapp_flows"), 0);

    let r = admin.post("/whatsapp-flows", &[("name", "Spring offer"), ("template_id", &ask.to_string())]).await;
    let path = location(&r);
    let id = app.count("SELECT max(id) FROM whatsapp_flows");
    assert_eq!(path, format!("/whatsapp-flows/{id}"));
    let page = admin.get_html(&path).await;
    assert!(page.contains("Not ready to send yet"), "{page}");
    assert!(page.contains("Step 1: the button “No thanks” does not say where it leads."), "{page}");

    assert_redirects_to(&admin.post(&format!("{path}/steps"), &[("template_id", &thanks.to_string())]).await, &path);
    assert_eq!(admin.post(&format!("{path}/steps"), &[("template_id", &promo.to_string())]).await.status(), StatusCode::BAD_REQUEST, "only approved steps");
    let page = admin.get_html(&path).await;
    assert!(page.contains("Step 2 is never reached: no button leads to it."), "{page}");
    // "Yes please" → step 2, "No thanks" ends it.
    // An empty name is a 422 with the reason, and nothing is saved.
    let r = admin.post(&path, &[("name", " "), ("next_0_0", "s2"), ("next_0_1", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Name"), "the reason names the field");
    assert_redirects_to(&admin.post(&path, &[("name", "Spring offer"), ("next_0_0", "s2"), ("next_0_1", "")]).await, &path);
    let page = admin.get_html(&path).await;
    assert!(page.contains("Ready to send: every button leads to a step or ends the flow."), "{page}");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM whatsapp_flows WHERE id = {id} AND steps = '[{{\"key\": \"s1\", \"next\": {{\"no\": null, \"yes\": \"s2\"}}, \"template_id\": {ask}}}, {{\"key\": \"s2\", \"next\": {{}}, \"template_id\": {thanks}}}]'::jsonb")),
        1
    );
    assert!(admin.get_html("/whatsapp-flows").await.contains(">ready<"));
    // A button can only lead to a step of this flow: anything else is the end.
    admin.post(&path, &[("name", "Spring offer"), ("next_0_0", "s99"), ("next_0_1", "")]).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM whatsapp_flows WHERE id = {id} AND steps->0->'next'->>'yes' IS NULL")), 1);
    admin.post(&path, &[("name", "Spring offer"), ("next_0_0", "s2"), ("next_0_1", "")]).await;
    // Removing the step a button led to leaves the button asking again.
    assert_redirects_to(&admin.post(&format!("{path}/steps/s2/delete"), &[]).await, &path);
    let page = admin.get_html(&path).await;
    assert!(page.contains("Step 1: the button “Yes please” does not say where it leads."), "{page}");
    assert_eq!(admin.post(&format!("{path}/steps/s7/delete"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action IN ('flows.created', 'flows.updated')"), 4);
}

#[tokio::test]
async fn flows_are_for_admins_and_managers_of_their_own_workspace() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let ask = template(&app, me.workspace_id, "HXask", "ask", "approved", "[]");
    let r = admin.post("/whatsapp-flows", &[("name", "Ours"), ("template_id", &ask.to_string())]).await;
    let path = location(&r);
    let (manager, _) = app.signed_in(Role::Manager).await;
    assert_eq!(manager.get(&path).await.status(), StatusCode::OK);
    let (agent, _) = app.signed_in(Role::Agent).await;
    for p in ["/whatsapp-flows".to_string(), path.clone()] {
        assert_eq!(agent.get(&p).await.status(), StatusCode::FORBIDDEN, "{p}");
    }
    let theirs = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let beta = app.browser();
    beta.login(&theirs.email, crate::support::PASSWORD).await;
    assert_eq!(beta.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(beta.post(&path, &[("name", "Taken")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(beta.post(&format!("{path}/steps/s1/delete"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM whatsapp_flows WHERE name = 'Ours'"), 1);
}
