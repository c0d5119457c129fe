use reqwest::StatusCode;
use switchboard::users::role::Role;

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
