use chrono::Duration;
use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{PASSWORD, assert_redirects_to, spawn_app, spawn_app_with};
use crate::walk::browser_with_agent;

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

#[tokio::test]
async fn a_thousand_anonymous_login_pages_leave_the_sessions_table_unchanged() {
    let app = spawn_app().await;
    let user = app.create_user("Acme", "ann@acme.test", Role::Admin);
    let rows = || app.count("SELECT count(*) FROM sessions");
    let before = rows();
    // A flood without cookies, and a browser that keeps its cookie and reloads.
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let browser = app.browser();
    for i in 0..1_000 {
        let r = if i % 2 == 0 { bare.get(browser.url("/login")).send().await.unwrap() } else { browser.get("/login").await };
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(rows(), before, "no row for a visitor who only looked at the sign-in page");
    // The form the visitor holds still signs in, and only then is a row written.
    assert_redirects_to(&browser.login(&user.email, PASSWORD).await, "/");
    assert_eq!(rows(), before + 1);
}

#[tokio::test]
async fn every_anonymous_form_stays_csrf_protected_without_a_session_row() {
    let app = spawn_app().await;
    let rows = || app.count("SELECT count(*) FROM sessions");
    for path in ["/login", "/setup", "/password/forgot", "/password/reset/0123abcd", "/invitations/0123abcd"] {
        let visitor = app.browser();
        let own = visitor.csrf().await;
        let stranger = app.browser().csrf().await;
        assert_ne!(own, stranger, "each visitor gets a token of their own");
        let fields = [("email", "nobody@acme.test"), ("password", "x")];
        assert_eq!(visitor.post_raw(path, &fields).await.status(), StatusCode::FORBIDDEN, "POST {path} without a token");
        let mut with_stranger = vec![("csrf_token", stranger.as_str())];
        with_stranger.extend_from_slice(&fields);
        assert_eq!(visitor.post_raw(path, &with_stranger).await.status(), StatusCode::FORBIDDEN, "POST {path} with another visitor's token");
        // Nor does a token work without the cookie it belongs to.
        let bare = crate::support::Browser::new(&app.base);
        let mut with_own = vec![("csrf_token", own.as_str())];
        with_own.extend_from_slice(&fields);
        assert_eq!(bare.post_raw(path, &with_own).await.status(), StatusCode::FORBIDDEN, "POST {path} with a token but no cookie");
        let r = visitor.post_raw(path, &with_own).await;
        assert_ne!(r.status(), StatusCode::FORBIDDEN, "POST {path} with the visitor's own token");
    }
    assert_eq!(rows(), 0, "no anonymous session rows");
}

#[tokio::test]
async fn an_anonymous_cookie_forged_to_carry_a_user_id_signs_nobody_in() {
    let app = spawn_app().await;
    let user = app.create_user("Acme", "ann@acme.test", Role::Admin);
    let browser = app.browser();
    browser.csrf().await;
    let cookie = browser.cookie_header().expect("the anonymous cookie");
    // Whatever the cookie holds, changing a byte breaks its signature.
    let mut forged = cookie.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let state = format!(r#"{{"uid":"{}","wid":"{}","created":"9999999999","seen":"9999999999"}}"#, user.id, user.workspace_id);
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for value in [String::from_utf8(forged).unwrap(), format!("switchboard=a.{}", state)] {
        let r = replay.get(browser.url("/")).header("Cookie", value.clone()).send().await.unwrap();
        assert_redirects_to(&r, "/login");
    }
}

#[tokio::test]
async fn the_scheduler_purges_expired_sessions_without_anyone_signing_in() {
    let app = spawn_app().await;
    let (_browser, user) = app.signed_in(Role::Agent).await;
    let (_other, _) = app.signed_in(Role::Agent).await;
    diesel::sql_query(format!("UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE user_id = {}", user.id))
        .execute(&mut app.conn())
        .unwrap();
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut app.conn(), app.clock.now()).unwrap();
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {}", user.id)), 0, "the expired one is gone");
    assert_eq!(app.count("SELECT count(*) FROM sessions"), 1, "the live one stays");
}

const FIREFOX_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IPHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";

fn session_ids(app: &crate::support::TestApp, user_id: i64) -> Vec<i64> {
    use diesel::sql_types::BigInt;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    diesel::sql_query(format!("SELECT id FROM sessions WHERE user_id = {user_id} ORDER BY id"))
        .load::<Row>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn the_sessions_page_names_browser_and_system_and_marks_this_device() {
    let app = spawn_app().await;
    let user = app.create_user("Acme", "agent@acme.test", Role::Agent);
    let laptop = browser_with_agent(&app.base, FIREFOX_WINDOWS);
    let phone = browser_with_agent(&app.base, SAFARI_IPHONE);
    assert_redirects_to(&laptop.login(&user.email, PASSWORD).await, "/");
    assert_redirects_to(&phone.login(&user.email, PASSWORD).await, "/");
    let html = laptop.get_html("/account/sessions").await;
    assert!(html.contains("Firefox 133 on Windows"), "{html}");
    assert!(html.contains("Safari 17 on iPhone"), "{html}");
    assert_eq!(html.matches("This device").count(), 1, "{html}");
    let this = html.find("Firefox 133 on Windows").unwrap();
    let mark = html.find("This device").unwrap();
    assert!(mark > this && mark < html.find("Safari 17 on iPhone").unwrap(), "the laptop's row is marked: {html}");
    // One revoke button per other session, and "everywhere else".
    assert_eq!(html.matches("/revoke\"").count(), 1, "{html}");
    assert!(html.contains("action=\"/account/sessions/revoke-others\""), "{html}");
}

#[tokio::test]
async fn one_session_can_be_revoked_and_another_users_session_is_404() {
    let app = spawn_app().await;
    let user = app.create_user("Acme", "agent@acme.test", Role::Agent);
    let laptop = browser_with_agent(&app.base, FIREFOX_WINDOWS);
    let phone = browser_with_agent(&app.base, SAFARI_IPHONE);
    let tablet = browser_with_agent(&app.base, CHROME_ANDROID);
    for b in [&laptop, &phone, &tablet] {
        assert_redirects_to(&b.login(&user.email, PASSWORD).await, "/");
    }
    let ids = session_ids(&app, user.id);
    assert_eq!(ids.len(), 3);
    // A colleague (same workspace) cannot end them.
    let (colleague, _) = app.signed_in(Role::Admin).await;
    for id in &ids {
        assert_eq!(colleague.post(&format!("/account/sessions/{id}/revoke"), &[]).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(session_ids(&app, user.id), ids, "nothing ended");
    // Without the CSRF token: refused.
    assert_eq!(laptop.post_raw(&format!("/account/sessions/{}/revoke", ids[1]), &[]).await.status(), StatusCode::FORBIDDEN);
    // The laptop ends the phone's session (the second sign-in), only that one.
    assert_redirects_to(&laptop.post(&format!("/account/sessions/{}/revoke", ids[1]), &[]).await, "/account/sessions");
    assert_eq!(session_ids(&app, user.id), vec![ids[0], ids[2]]);
    assert_redirects_to(&phone.get("/").await, "/login");
    assert_eq!(tablet.get("/").await.status(), StatusCode::OK);
    assert_eq!(laptop.get("/").await.status(), StatusCode::OK);
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'auth.session_revoked' AND entity_id = '{}'", user.id)),
        1
    );
    // Its own session is not revoked this way (Sign out is for that).
    assert_eq!(laptop.post(&format!("/account/sessions/{}/revoke", ids[0]), &[]).await.status(), StatusCode::NOT_FOUND);
    // "Everywhere else" keeps only the laptop.
    assert_redirects_to(&laptop.post("/account/sessions/revoke-others", &[]).await, "/account/sessions");
    assert_eq!(session_ids(&app, user.id), vec![ids[0]]);
    assert_redirects_to(&tablet.get("/").await, "/login");
    assert_eq!(laptop.get("/").await.status(), StatusCode::OK);
}
