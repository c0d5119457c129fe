use chrono::Duration;
use reqwest::StatusCode;
use switchboard::users::role::Role;

use crate::support::{PASSWORD, assert_redirects_to, spawn_app, spawn_app_with};

#[tokio::test]
async fn after_logout_the_old_cookie_is_refused_and_the_session_row_is_gone() {
    let app = spawn_app().await;
    let (browser, user) = app.signed_in(Role::Agent).await;
    let cookie = browser.cookie_header().unwrap();
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {}", user.id)), 1);
    assert_redirects_to(&browser.post("/logout", &[]).await, "/login");
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {}", user.id)), 0);
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = replay.get(browser.url("/")).header("Cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_redirects_to(&r, "/login");
}

#[tokio::test]
async fn thirty_one_idle_minutes_end_the_session() {
    let app = spawn_app().await;
    let (browser, _) = app.signed_in(Role::Agent).await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(browser.get("/").await.status(), StatusCode::OK, "29 idle minutes are fine");
    app.clock.advance(Duration::minutes(31));
    assert_redirects_to(&browser.get("/").await, "/login");
    assert_redirects_to(&browser.get("/").await, "/login");
}

#[tokio::test]
async fn twelve_hours_after_sign_in_the_session_ends_even_while_active() {
    let app = spawn_app().await;
    let (browser, _) = app.signed_in(Role::Agent).await;
    for _ in 0..24 {
        app.clock.advance(Duration::minutes(29));
        assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    }
    // 11 h 36 min so far; 25 more minutes pass the 12 h mark.
    app.clock.advance(Duration::minutes(25));
    assert_redirects_to(&browser.get("/").await, "/login");
}

#[tokio::test]
async fn an_htmx_request_without_a_session_gets_hx_redirect_to_login() {
    let app = spawn_app().await;
    let r = app.browser().htmx_get("/audit-logs").await;
    assert_eq!(r.headers()["hx-redirect"], "/login");
}

#[tokio::test]
async fn deactivating_a_user_kills_all_their_sessions_at_once() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "agent@acme.test", Role::Agent);
    let laptop = app.browser();
    let phone = app.browser();
    assert_redirects_to(&laptop.login("agent@acme.test", PASSWORD).await, "/");
    assert_redirects_to(&phone.login("agent@acme.test", PASSWORD).await, "/");
    let r = admin.post(&format!("/settings/users/{}/active", agent.id), &[("active", "false")]).await;
    assert_redirects_to(&r, "/settings/users");
    assert_redirects_to(&laptop.get("/").await, "/login");
    assert_redirects_to(&phone.get("/").await, "/login");
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {}", agent.id)), 0);
}

#[tokio::test]
async fn changing_the_password_signs_out_the_other_sessions_but_keeps_this_one() {
    let app = spawn_app().await;
    let (browser, user) = app.signed_in(Role::Agent).await;
    let other = app.browser();
    assert_redirects_to(&other.login(&user.email, PASSWORD).await, "/");
    let wrong = browser
        .post("/account/password", &[("current_password", "nope"), ("new_password", "new password 1"), ("confirm_password", "new password 1")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().await.unwrap().contains("The current password is not right."));
    let r = browser
        .post("/account/password", &[("current_password", PASSWORD), ("new_password", "new password 1"), ("confirm_password", "new password 1")])
        .await;
    assert_redirects_to(&r, "/account/sessions");
    assert_eq!(browser.get("/").await.status(), StatusCode::OK, "this session lives on");
    assert_redirects_to(&other.get("/").await, "/login");
    assert_eq!(app.browser().login(&user.email, PASSWORD).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirects_to(&app.browser().login(&user.email, "new password 1").await, "/");
}

#[tokio::test]
async fn the_sessions_page_lists_each_session_and_sign_out_everywhere_ends_them_all() {
    let app = spawn_app().await;
    let (browser, user) = app.signed_in(Role::Manager).await;
    let other = app.browser();
    other.login(&user.email, PASSWORD).await;
    let html = browser.get_html("/account/sessions").await;
    assert_eq!(html.matches("<tr>").count() - 1, 2, "two sessions listed (plus the header row)");
    assert!(html.contains("127.0.0.1"));
    let r = browser.post("/account/sessions/revoke-all", &[]).await;
    assert_redirects_to(&r, "/login");
    assert_redirects_to(&browser.get("/").await, "/login");
    assert_redirects_to(&other.get("/").await, "/login");
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {}", user.id)), 0);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_path_root() {
    let app = spawn_app().await;
    let r = app.browser().get("/login").await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("switchboard="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure_with_the_host_prefix() {
    let app = spawn_app_with(|s| s.public_url = Some("https://crm.example.com".parse().unwrap())).await;
    let r = app.browser().get("/login").await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-switchboard="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain="), "{cookie}");
    assert!(r.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn a_role_change_counts_on_the_next_request_and_the_loaded_user_is_never_stored() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    assert_eq!(agent.get("/audit-logs").await.status(), StatusCode::FORBIDDEN);
    admin.post(&format!("/settings/users/{}/role", agent_user.id), &[("role", "manager")]).await;
    assert_eq!(agent.get("/audit-logs").await.status(), StatusCode::OK, "no stale role from the session");
    app.clock.advance(Duration::minutes(2)); // makes the next request write the session back
    assert_eq!(agent.get("/").await.status(), StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) FROM sessions WHERE state ? '_user'"), 0);
    assert!(app.count("SELECT count(*) FROM sessions WHERE state ? 'uid'") >= 2);
}
