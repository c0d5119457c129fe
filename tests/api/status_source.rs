//! Only a status a person deliberately picks is hand-set (kept from the daily rule for a
//! while): the client form defaults to "Automatic (by activity)", an unchanged status on
//! edit stays as it was, and imports hand-set only statuses the file gives.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use switchboard::jobs::{self, NewJob};
use switchboard::clients::status_rule::ClientStatus;
use switchboard::authz::Role;

use crate::support::{Browser, TestApp, location, spawn_app};

fn source(app: &TestApp, id: i64) -> (String, String) {
    #[derive(QueryableByName)]
    struct R {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status_source: String,
    }
    let r: R = diesel::sql_query(format!("SELECT status, status_source FROM clients WHERE id = {id}")).get_result(&mut app.conn()).unwrap();
    (r.status, r.status_source)
}

async fn run_status_rule(app: &TestApp, workspace_id: i64) {
    let id = jobs::enqueue(&mut app.conn(), &NewJob::new(workspace_id, ClientStatus::KIND, json!({}))).unwrap().unwrap();
    for _ in 0..200 {
        if app.count(&format!("SELECT count(*) FROM jobs WHERE id = {id} AND status = 'done'")) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the client-status job did not finish");
}

/// The form's fields as a browser would submit them: every input's value and each select's
/// selected option (or its first one).
fn form_fields(html: &str) -> Vec<(String, String)> {
    let form = &html[html.find("<form method=\"post\" action=\"/clients").expect("the client form")..];
    let form = &form[..form.find("</form>").unwrap()];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        Some(tag[start..start + tag[start..].find('"')?].to_string())
    };
    let mut fields = Vec::new();
    for piece in form.split('<').skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        if tag.starts_with("input ") {
            let (Some(name), kind) = (attr(tag, "name"), attr(tag, "type").unwrap_or_default()) else { continue };
            if (kind == "checkbox" || kind == "radio") && !tag.contains(" checked") {
                continue;
            }
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
    }
    for chunk in form.split("<select").skip(1) {
        let name = attr(chunk, "name").unwrap();
        let options: Vec<&str> = chunk[..chunk.find("</select>").unwrap()].split("<option").skip(1).collect();
        if name == "department_ids" {
            for o in options.iter().filter(|o| o[..o.find('>').unwrap()].contains("selected")) {
                fields.push((name.clone(), attr(o, "value").unwrap()));
            }
            continue;
        }
        let chosen = options.iter().find(|o| o[..o.find('>').unwrap()].contains("selected")).or(options.first()).unwrap();
        fields.push((name, attr(chosen, "value").unwrap_or_default()));
    }
    for chunk in form.split("<textarea").skip(1) {
        let name = attr(chunk, "name").unwrap();
        let body = &chunk[chunk.find('>').unwrap() + 1..chunk.find("</textarea>").unwrap()];
        fields.push((name, body.to_string()));
    }
    fields
}

async fn submit(b: &Browser, page: &str, action: &str, overrides: &[(&str, &str)]) -> reqwest::Response {
    let html = b.get_html(page).await;
    let mut fields: Vec<(String, String)> = form_fields(&html).into_iter().filter(|(k, _)| k != "csrf_token").collect();
    for (k, v) in overrides {
        fields.retain(|(name, _)| name != k);
        fields.push((k.to_string(), v.to_string()));
    }
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post(action, &refs).await
}

fn id_of(r: &reqwest::Response) -> i64 {
    location(r).trim_start_matches("/clients/").parse().unwrap()
}

#[tokio::test]
async fn a_client_created_and_edited_with_the_forms_defaults_follows_the_status_rule() {
    let app = spawn_app().await;
    // The rule and the logged calls go by the app's clock, a day ahead of the database's.
    app.clock.advance(chrono::Duration::days(1));
    let (admin, me) = app.signed_in(Role::Admin).await;
    let new_form = admin.get_html("/clients/new").await;
    assert!(new_form.contains("Automatic (by activity)"), "the form offers the rule as the default");
    // Created with the form as it comes: the status follows activity.
    let r = submit(&admin, "/clients/new", "/clients", &[("name", "Default Dora")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let auto = id_of(&r);
    assert_eq!(source(&app, auto).1, "rule");
    // A status picked on purpose is hand-set.
    let r = submit(&admin, "/clients/new", "/clients", &[("name", "Picked Pete"), ("status", "inactive")]).await;
    let picked = id_of(&r);
    assert_eq!(source(&app, picked), ("inactive".into(), "hand".into()));
    // Editing another field leaves the status alone and does not hand-set it.
    let r = submit(&admin, &format!("/clients/{auto}/edit"), &format!("/clients/{auto}"), &[("company", "Dora Ltd")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    assert_eq!(source(&app, auto), ("warm".into(), "rule".into()));
    let r = submit(&admin, &format!("/clients/{picked}/edit"), &format!("/clients/{picked}"), &[("company", "Pete Ltd")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(source(&app, picked), ("inactive".into(), "hand".into()), "a hand-set status stays hand-set");

    // Three calls this week make the automatic client hot, not the hand-set one.
    for id in [auto, picked] {
        for _ in 0..3 {
            assert_eq!(admin.post(&format!("/clients/{id}/communications"), &[("kind", "call")]).await.status(), StatusCode::SEE_OTHER);
        }
    }
    run_status_rule(&app, me.workspace_id).await;
    assert_eq!(source(&app, auto), ("hot".into(), "rule".into()));
    assert_eq!(source(&app, picked), ("inactive".into(), "hand".into()));

    // Choosing "Automatic" again hands the status back to the rule.
    let r = submit(&admin, &format!("/clients/{picked}/edit"), &format!("/clients/{picked}"), &[("status", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(source(&app, picked).1, "rule");
    run_status_rule(&app, me.workspace_id).await;
    assert_eq!(source(&app, picked), ("hot".into(), "rule".into()));
}

#[tokio::test]
async fn imports_hand_set_a_status_only_when_the_file_has_a_status_column() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (csv, fields, name, expected) in [
        ("Name,Email\r\nNo Column,nc@example.com\r\n", vec![("map", "name"), ("map", "email")], "No Column", ("warm", "rule")),
        ("Name,Email,Stage\r\nWith Column,wc@example.com,hot\r\nEmpty Cell,ec@example.com,\r\n", vec![("map", "name"), ("map", "email"), ("map", "status")], "With Column", ("hot", "hand")),
    ] {
        let r = admin.upload("/clients/import", "clients.csv", csv.as_bytes().to_vec()).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let import = location(&r).trim_start_matches("/imports/").to_string();
        let mut all = fields.clone();
        all.extend([("key", "email"), ("on_existing", "update"), ("mode", "all_or_nothing"), ("assignee", ""), ("encoding", "utf-8"), ("delimiter", "comma")]);
        assert_eq!(admin.post(&format!("/imports/{import}/start"), &all).await.status(), StatusCode::SEE_OTHER);
        for _ in 0..600 {
            if app.count(&format!("SELECT count(*) FROM imports WHERE id = {import} AND status IN ('done', 'failed')")) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let id = app.count(&format!("SELECT id FROM clients WHERE name = '{name}'"));
        assert_eq!(source(&app, id), (expected.0.to_string(), expected.1.to_string()), "{name}");
    }
    let empty = app.count("SELECT id FROM clients WHERE name = 'Empty Cell'");
    assert_eq!(source(&app, empty), ("warm".into(), "rule".into()), "an empty status cell is no choice");
}
