//! Inputs that used to crash a request (issue 9, part 7): control characters in forms and
//! queries, names that Rust and PostgreSQL lower-case differently, pages past the end,
//! `next` paths that break the redirect or leave the site, and deserializer messages.
//! Each case states the answer it expects and checks what was (not) written.

use std::time::Duration;

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{Browser, TestApp, assert_redirects_to, location, spawn_app};

/// Tables a request could write to (sessions aside: every request touches its own).
const TABLES: [&str; 17] = [
    "workspaces", "users", "user_departments", "departments", "audit_logs", "clients", "client_departments", "tags", "client_tags",
    "communications", "follow_ups", "imports", "import_chunks", "jobs", "notifications", "login_failures", "rate_events",
];

/// A fingerprint of every row of every table in `TABLES`: equal before and after a request
/// only when it inserted, updated and deleted nothing.
fn snapshot(app: &TestApp) -> Vec<(&'static str, i64)> {
    TABLES
        .iter()
        .map(|t| (*t, app.count(&format!("SELECT hashtext(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"))))
        .collect()
}

fn assert_nothing_written(app: &TestApp, before: &[(&'static str, i64)], case: &str) {
    for ((table, was), (_, now)) in before.iter().zip(snapshot(app)) {
        assert_eq!(*was, now, "{case}: the table {table} changed");
    }
}

fn id_after(response: &reqwest::Response, prefix: &str) -> i64 {
    location(response).trim_start_matches(prefix).parse().unwrap_or_else(|_| panic!("redirect to {prefix}…, got {:?}", location(response)))
}

async fn new_client(admin: &Browser, fields: &[(&str, &str)]) -> i64 {
    let r = admin.post("/clients", fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "create client {fields:?}: {}", r.text().await.unwrap_or_default());
    id_after(&r, "/clients/")
}

fn version(app: &TestApp, client: i64) -> String {
    app.count(&format!("SELECT version FROM clients WHERE id = {client}")).to_string()
}

enum Call<'a> {
    Get(String),
    Post(String, Vec<(&'a str, &'a str)>),
}

#[tokio::test]
async fn control_characters_in_any_form_or_query_get_400_and_write_nothing() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let client = new_client(&admin, &[("name", "Ada")]).await;
    let r = admin.post(&format!("/clients/{client}/follow-ups"), &[("due_at", "2030-01-01T10:00"), ("notes", "Call")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let follow_up = app.count("SELECT max(id) FROM follow_ups");
    new_client(&admin, &[("name", "Bo"), ("tags", "vip")]).await;
    let tag = app.count("SELECT max(id) FROM tags");
    let upload = admin.upload("/clients/import", "clients.csv", b"name,email\nZed,zed@example.com\n".to_vec()).await;
    assert_eq!(upload.status(), StatusCode::SEE_OTHER);
    let import = id_after(&upload, "/imports/");
    let v = version(&app, client);
    let (c, fu, t, imp) = (client.to_string(), follow_up.to_string(), tag.to_string(), import.to_string());
    let anonymous = app.browser();
    let _ = me;

    let signed_in = [
        ("search", Call::Get("/clients?q=%00".into())),
        ("search with another C0 control", Call::Get("/clients?q=smi%01th".into())),
        ("search with DEL", Call::Get("/clients?q=%7F".into())),
        ("tab in a one-line query", Call::Get("/clients?q=a%09b".into())),
        ("export filter", Call::Get("/clients/export.csv?q=%00".into())),
        ("inline check", Call::Get("/clients/check?email=a%00%40b.io".into())),
        ("audit filter", Call::Get("/audit-logs?action=%00".into())),
        ("audit export", Call::Get("/audit-logs/export.csv?action=clients%00".into())),
        ("follow-ups view", Call::Get("/follow-ups?view=mine%00".into())),
        ("jobs filter", Call::Get("/settings/jobs?status=failed%00".into())),
        ("a key, not a value", Call::Get("/clients?q%00=x".into())),
        ("client notes", Call::Post("/clients".into(), vec![("name", "Cy"), ("notes", "a\0b")])),
        ("client name", Call::Post("/clients".into(), vec![("name", "C\0y")])),
        ("client edit", Call::Post(format!("/clients/{c}"), vec![("name", "Ada"), ("version", &v), ("notes", "\0")])),
        ("communication notes", Call::Post(format!("/clients/{c}/communications"), vec![("kind", "note"), ("notes", "x\0")])),
        ("follow-up notes", Call::Post(format!("/clients/{c}/follow-ups"), vec![("due_at", "2030-01-02T10:00"), ("notes", "\0")])),
        ("follow-up status", Call::Post(format!("/follow-ups/{fu}"), vec![("status", "completed"), ("next", "/follow-ups\0")])),
        ("import tag", Call::Post(format!("/imports/{imp}/start"), vec![("map", "name"), ("map", "email"), ("key", "email"), ("tag", "fair\0")])),
        ("bulk tag", Call::Post("/clients/bulk".into(), vec![("action", "tag"), ("target", "selected"), ("client_ids", &c), ("tag", "x\0")])),
        ("tag rename", Call::Post(format!("/settings/tags/{t}"), vec![("name", "v\0ip")])),
        ("department", Call::Post("/settings/departments".into(), vec![("name", "Sa\0les")])),
        ("invitation", Call::Post("/settings/users".into(), vec![("email", "cy@acme.test"), ("name", "Cy\0"), ("role", "agent")])),
        ("workspace", Call::Post("/settings/workspace".into(), vec![("name", "Acme\0"), ("time_zone", "UTC"), ("default_country", "US")])),
        ("password change", Call::Post("/account/password".into(), vec![("current_password", "x\0"), ("new_password", "y"), ("confirm_password", "y")])),
        ("lone carriage return", Call::Post(format!("/clients/{c}/communications"), vec![("kind", "note"), ("notes", "a\rb")])),
    ];
    for (case, call) in signed_in {
        let before = snapshot(&app);
        let response = match &call {
            Call::Get(path) => admin.get(path).await,
            Call::Post(path, fields) => admin.post(path, fields).await,
        };
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert!(response.text().await.unwrap().contains("control characters"), "{case}: the page says why");
        assert_nothing_written(&app, &before, case);
    }

    let before = snapshot(&app);
    for (case, fields) in [
        ("email before sign-in", [("email", "ann\0@acme.test"), ("password", "whatever it is")]),
        ("password before sign-in", [("email", "ann@acme.test"), ("password", "pass\0word")]),
    ] {
        let response = anonymous.post("/login", &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert_nothing_written(&app, &before, case);
    }
    assert_eq!(anonymous.get("/login?next=%2F%09%2Fevil.example%2F").await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn text_fields_keep_their_tabs_and_line_breaks() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let client = new_client(&admin, &[("name", "Ada"), ("notes", "first\r\nsecond")]).await;
    let r = admin.post(&format!("/clients/{client}/communications"), &[("kind", "note"), ("notes", "line one\r\nline\ttwo")]).await;
    assert_redirects_to(&r, &format!("/clients/{client}"));
    assert_eq!(app.count("SELECT count(*) FROM communications WHERE notes = E'line one\\r\\nline\\ttwo'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE notes LIKE E'first%second'"), 1);
}

#[tokio::test]
async fn names_are_compared_as_postgresql_lower_cases_them() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let same_tag = |name: &str| app.count(&format!("SELECT count(*) FROM tags WHERE lower(name) = lower('{name}')"));

    // Tags typed on the client form: the second client reuses the first one's tag.
    let first = new_client(&admin, &[("name", "First"), ("tags", "İnci")]).await;
    let second = new_client(&admin, &[("name", "Second"), ("tags", "İnci, ΟΔΟΣ")]).await;
    new_client(&admin, &[("name", "Third"), ("tags", "ΟΔΟΣ")]).await;
    let v = version(&app, first);
    let edit = admin.post(&format!("/clients/{first}"), &[("name", "First"), ("version", &v), ("tags", "İnci, ΟΔΟΣ")]).await;
    assert_redirects_to(&edit, &format!("/clients/{first}"));
    assert_eq!((same_tag("İnci"), same_tag("ΟΔΟΣ")), (1, 1), "one tag each");
    assert_eq!(app.count("SELECT count(*) FROM client_tags"), 5);

    // Renaming another tag to a taken name is a form error, not a crash.
    new_client(&admin, &[("name", "Fourth"), ("tags", "Other")]).await;
    let other = app.count("SELECT id FROM tags WHERE name = 'Other'");
    let rename = admin.post(&format!("/settings/tags/{other}"), &[("name", "İnci")]).await;
    assert_eq!(rename.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(rename.text().await.unwrap().contains("already exists"));

    // Bulk untag finds the tag the way it was stored.
    let (a, b) = (first.to_string(), second.to_string());
    let untag = admin.post("/clients/bulk", &[("action", "untag"), ("target", "selected"), ("client_ids", &a), ("client_ids", &b), ("tag", "İnci")]).await;
    assert_eq!(untag.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM client_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = 'İnci'"), 0);

    // Departments.
    for name in ["İzmir", "ΟΔΟΣ"] {
        assert_eq!(admin.post("/settings/departments", &[("name", name)]).await.status(), StatusCode::SEE_OTHER, "{name}");
        let again = admin.post("/settings/departments", &[("name", name)]).await;
        assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name} twice");
        assert!(again.text().await.unwrap().contains("already exists"));
    }
    let izmir = app.count("SELECT id FROM departments WHERE name = 'İzmir'");
    assert_eq!(admin.post("/settings/departments", &[("name", "Ankara")]).await.status(), StatusCode::SEE_OTHER);
    let ankara = app.count("SELECT id FROM departments WHERE name = 'Ankara'");
    let rename = admin.post(&format!("/settings/departments/{ankara}"), &[("name", "İzmir")]).await;
    assert_eq!(rename.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count(&format!("SELECT count(*) FROM departments WHERE id IN ({izmir}, {ankara})")), 2);

    // User and client emails.
    for _ in 0..2 {
        admin.post("/settings/users", &[("email", "ΟΔΟΣ@acme.test"), ("name", "Odos"), ("role", "agent")]).await;
        admin.post("/clients", &[("name", "Inci"), ("email", "İnci@Example.com")]).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM users WHERE name = 'Odos'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Inci'"), 1);

    // An import's default tag and tag column reuse the existing tags.
    let upload = admin.upload("/clients/import", "clients.csv", "name,email,tags\nZed,zed@example.com,İnci;ΟΔΟΣ\n".as_bytes().to_vec()).await;
    let import = id_after(&upload, "/imports/");
    let start = admin.post(&format!("/imports/{import}/start"), &[("map", "name"), ("map", "email"), ("map", "tags"), ("key", "email"), ("tag", "İnci")]).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "{}", start.text().await.unwrap_or_default());
    for _ in 0..600 {
        if app.count(&format!("SELECT count(*) FROM imports WHERE id = {import} AND status IN ('done', 'failed')")) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count(&format!("SELECT count(*) FROM imports WHERE id = {import} AND status = 'done'")), 1);
    assert_eq!((same_tag("İnci"), same_tag("ΟΔΟΣ")), (1, 1), "the import created no look-alike tags");
    assert_eq!(app.count("SELECT count(*) FROM client_tags ct JOIN clients c ON c.id = ct.client_id WHERE c.name = 'Zed'"), 2);
}

#[tokio::test]
async fn pages_past_the_end_of_every_paginated_list_never_fail() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let client = new_client(&admin, &[("name", "Ada")]).await;
    let max = i64::MAX.to_string();
    let min = i64::MIN.to_string();
    let cases = [
        (format!("/notifications?page={max}"), StatusCode::OK),
        (format!("/notifications?page={min}"), StatusCode::OK),
        (format!("/settings/jobs?page={max}"), StatusCode::OK),
        (format!("/settings/jobs?status=done&page={max}"), StatusCode::OK),
        (format!("/clients/{client}?timeline_page={max}"), StatusCode::OK),
        (format!("/clients?page={max}"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("/audit-logs?page={max}"), StatusCode::UNPROCESSABLE_ENTITY),
        ("/notifications?page=99999999999999999999".to_string(), StatusCode::BAD_REQUEST),
    ];
    for (path, expected) in cases {
        let before = snapshot(&app);
        let response = admin.get(&path).await;
        assert_eq!(response.status(), expected, "{path}");
        assert_nothing_written(&app, &before, &path);
    }
}

#[tokio::test]
async fn deserializer_messages_never_reach_the_page() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let client = new_client(&admin, &[("name", "Ada")]).await;
    let anonymous = app.browser();
    let token = anonymous.csrf().await;
    let responses = [
        ("page too large", admin.get("/notifications?page=99999999999999999999").await),
        ("page not a number", admin.get(&format!("/clients/{client}?timeline_page=two")).await),
        ("a repeated query key", admin.get("/settings/jobs?page=1&page=2").await),
        (
            "a repeated form field",
            anonymous.post_raw("/login", &[("csrf_token", &token), ("email", "a@acme.test"), ("email", "b@acme.test"), ("password", "x")]).await,
        ),
    ];
    for (case, response) in responses {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let body = response.text().await.unwrap();
        assert!(body.contains("id=\"error-message\""), "{case}: the normal error page");
        for leak in ["deserialize", "Deserialize", "too large", "duplicate field", "Parse error", "invalid digit", "unsupported value"] {
            assert!(!body.contains(leak), "{case}: the page shows {leak:?}: {body}");
        }
    }
}

#[tokio::test]
async fn an_unsafe_next_is_refused_before_anything_is_written() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    for (next, expected) in [
        ("/clients\r\nSet-Cookie: planted=1", "/"),
        ("/\t/evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/clients?q=a b", "/clients?q=a%20b"),
    ] {
        let browser = app.browser();
        let r = browser.post("/login", &[("email", &me.email), ("password", crate::support::PASSWORD), ("next", next)]).await;
        assert_redirects_to(&r, expected);
    }
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'auth.login'"), 5, "each sign-in happened once");

    let client = new_client(&admin, &[("name", "Ada")]).await;
    for (i, next) in ["/follow-ups?view=mine\r\nX-Planted: 1", "/follow-ups/\t/evil.example/"].into_iter().enumerate() {
        let r = admin.post(&format!("/clients/{client}/follow-ups"), &[("due_at", "2030-01-01T10:00"), ("notes", "Call")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let follow_up = app.count("SELECT max(id) FROM follow_ups");
        let r = admin.post(&format!("/follow-ups/{follow_up}"), &[("status", "completed"), ("next", next)]).await;
        assert_redirects_to(&r, &format!("/clients/{client}"));
        assert_eq!(app.count("SELECT count(*) FROM follow_ups WHERE status = 'completed'"), i as i64 + 1);
        assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'follow_ups.status_changed'"), i as i64 + 1);
    }
}
