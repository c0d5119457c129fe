use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{spawn_app};

fn department_count(app: &crate::support::TestApp) -> i64 {
    app.count("SELECT count(*) FROM departments")
}

#[tokio::test]
async fn a_post_without_a_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let r = admin.post_raw("/settings/departments", &[("name", "Sales")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Reload the page"));
    assert_eq!(department_count(&app), 0);
}

#[tokio::test]
async fn a_token_from_another_session_is_refused() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let stranger_token = app.browser().csrf().await;
    let r = admin.post_raw("/settings/departments", &[("csrf_token", &stranger_token), ("name", "Sales")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(department_count(&app), 0);
}

#[tokio::test]
async fn the_token_works_as_an_x_csrf_token_header_for_htmx() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let token = admin.csrf().await;
    let r = admin
        .client
        .post(admin.url("/settings/departments"))
        .header("X-CSRF-Token", token)
        .header("HX-Request", "true")
        .form(&[("name", "Sales")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(department_count(&app), 1);
}

#[tokio::test]
async fn a_cross_site_post_with_a_valid_cookie_and_token_is_refused() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let token = admin.csrf().await;
    for (header, value) in [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site"), ("Origin", "null")] {
        let r = admin
            .client
            .post(admin.url("/settings/departments"))
            .header(header, value)
            .form(&[("csrf_token", token.as_str()), ("name", "Sales")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{header}: {value}");
    }
    assert_eq!(department_count(&app), 0);
    // The same request from our own origin goes through.
    let r = admin
        .client
        .post(admin.url("/settings/departments"))
        .header("Origin", app.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("csrf_token", token.as_str()), ("name", "Sales")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_get_to_a_mutating_route_is_405_and_changes_nothing() {
    let app = spawn_app().await;
    let (admin, user) = app.signed_in(Role::Admin).await;
    let other = app.create_user("Acme", "other@acme.test", Role::Agent);
    for path in [
        "/logout".to_string(),
        "/account/sessions/revoke-all".to_string(),
        format!("/settings/users/{}/role", other.id),
        format!("/settings/users/{}/active", other.id),
        format!("/settings/users/{}/departments", other.id),
        "/settings/departments/1".to_string(),
        "/settings/departments/1/delete".to_string(),
    ] {
        let r = admin.get(&path).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "GET {path}");
        assert!(r.text().await.unwrap().contains("does not accept"), "a readable page for GET {path}");
    }
    assert_eq!(admin.get("/").await.status(), StatusCode::OK, "still signed in");
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {}", user.id)), 1);
}

#[tokio::test]
async fn cookie_authenticated_posts_under_webhooks_and_api_are_still_csrf_checked() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    // Only the exact signed-webhook routes, and API requests carrying a bearer token, skip
    // the CSRF check; anything else under those prefixes is a browser request like any other.
    for path in ["/api/v1/clients", "/api/anything", "/webhooks/twilio/key/other", "/webhooks/twilio/key/status/extra", "/webhooks/meta/key/x", "/webhooks/x"] {
        let r = admin.post_raw(path, &[("name", "x")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "POST {path} with only a cookie is CSRF-checked");
    }
    // The signed webhooks answer for themselves (Twilio's: 403 for the missing signature),
    // never with the CSRF refusal.
    for path in ["/webhooks/twilio/key/status", "/webhooks/twilio/key/inbound", "/webhooks/meta/key"] {
        let r = admin.post_raw(path, &[("name", "x")]).await;
        let twilio = path.starts_with("/webhooks/twilio/");
        let body = r.text().await.unwrap();
        assert!(!body.contains("did not come from this site"), "POST {path} is a signed webhook, not CSRF-checked: {body}");
        assert_eq!(body.contains("X-Twilio-Signature is missing"), twilio, "POST {path}: {body}");
    }
    let r = admin.client.post(admin.url("/api/v1/clients")).header("Authorization", "Bearer sb_test").form(&[("name", "x")]).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::FORBIDDEN, "a bearer-token API request is not CSRF-checked");
    let r = admin.client.post(admin.url("/api/v1/clients")).header("Authorization", "Basic eDp5").form(&[("name", "x")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "only a bearer token exempts an API request");
}

fn upload_form(token: Option<&str>, file_first: bool) -> reqwest::multipart::Form {
    let file = || reqwest::multipart::Part::bytes(b"name,email\nAda,ada@example.com\n".to_vec()).file_name("c.csv").mime_str("text/csv").unwrap();
    let form = reqwest::multipart::Form::new();
    match (token, file_first) {
        (Some(t), false) => form.text("csrf_token", t.to_string()).part("file", file()),
        (Some(t), true) => form.part("file", file()).text("csrf_token", t.to_string()),
        (None, _) => form.part("file", file()),
    }
}

#[tokio::test]
async fn the_upload_form_sends_its_csrf_token_as_a_field_before_the_file_never_in_the_url() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let html = admin.get_html("/clients/import").await;
    let form = &html[html.find("id=\"upload-form\"").expect("upload form")..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(!html.contains("csrf_token="), "no token in any URL");
    let (token_at, file_at) = (form.find("name=\"csrf_token\"").expect("hidden token field"), form.find("type=\"file\"").unwrap());
    assert!(token_at < file_at, "the token field comes before the file");
    let token = admin.csrf().await;
    let imports = || app.count("SELECT count(*) FROM imports");

    let r = admin.client.post(admin.url(&format!("/clients/import?csrf_token={token}"))).multipart(upload_form(None, false)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a token in the query string is not accepted");
    let r = admin.client.post(admin.url("/clients/import")).multipart(upload_form(Some(&token), true)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the token must come before the file");
    let stranger = app.browser().csrf().await;
    let r = admin.client.post(admin.url("/clients/import")).multipart(upload_form(Some(&stranger), false)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another session's token");
    assert_eq!(imports(), 0, "nothing refused was kept");

    let r = admin.client.post(admin.url("/clients/import")).multipart(upload_form(Some(&token), false)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the plain form without JavaScript");
    let r = admin.client.post(admin.url("/clients/import")).header("X-CSRF-Token", &token).multipart(upload_form(None, false)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "htmx sends the header");
    assert_eq!(imports(), 2);
}
