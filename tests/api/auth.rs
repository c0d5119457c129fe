use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{PASSWORD, assert_redirects_to, spawn_app};

#[tokio::test]
async fn the_login_page_has_a_form_with_csrf_token_and_labels() {
    let app = spawn_app().await;
    let html = app.browser().get_html("/login").await;
    assert!(html.contains(r#"name="csrf_token""#));
    assert!(html.contains(r#"<label for="email">"#) && html.contains(r#"<label for="password">"#));
}

#[tokio::test]
async fn signing_in_issues_a_new_session_id_and_the_pre_login_cookie_no_longer_works() {
    let app = spawn_app().await;
    let user = app.create_user("Acme", "ann@acme.test", Role::Admin);
    let browser = app.browser();
    browser.csrf().await; // creates the anonymous session
    let before = browser.cookie_header().expect("pre-login cookie");
    let response = browser.login(&user.email, PASSWORD).await;
    assert_redirects_to(&response, "/");
    let after = browser.cookie_header().expect("session cookie");
    assert_ne!(before, after, "the session id must change at sign-in");
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    // The old cookie carries nothing: it is an anonymous visitor.
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = replay.get(browser.url("/")).header("Cookie", before).send().await.unwrap();
    assert_redirects_to(&response, "/login");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_user("Acme", "ann@acme.test", Role::Admin);
    let browser = app.browser();
    let known = browser.login("ann@acme.test", "not the password").await;
    let known_status = known.status();
    let known_body = known.text().await.unwrap();
    let unknown = browser.login("nobody@acme.test", "not the password").await;
    assert_eq!(known_status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.status(), known_status);
    let unknown_body = unknown.text().await.unwrap();
    assert_eq!(
        known_body.replace("ann@acme.test", "EMAIL"),
        unknown_body.replace("nobody@acme.test", "EMAIL"),
        "bodies differ only by the email typed"
    );
    assert!(known_body.contains("Email or password is incorrect."));
}

#[tokio::test]
async fn the_eleventh_failed_login_for_an_account_from_one_address_gets_429_with_retry_after() {
    let app = spawn_app().await;
    app.create_user("Acme", "ann@acme.test", Role::Admin);
    let browser = app.browser();
    for attempt in 1..=10 {
        let r = browser.login("ann@acme.test", "wrong").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}");
    }
    // Even the right password is refused while throttled.
    let r = browser.login("ann@acme.test", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
    let body = r.text().await.unwrap();
    assert!(body.contains(&format!("Try again in {retry} s")) || body.contains("Try again in"), "{body}");
    // After the window the account can sign in again.
    app.clock.advance(chrono::Duration::minutes(16));
    assert_redirects_to(&browser.login("ann@acme.test", PASSWORD).await, "/");
}

#[tokio::test]
async fn one_ip_failing_across_many_accounts_is_throttled_too() {
    let app = spawn_app().await;
    let browser = app.browser();
    for i in 0..switchboard::auth::throttle::IP_MAX_FAILURES {
        browser.login(&format!("user{i}@acme.test"), "wrong").await;
    }
    let r = browser.login("someone-else@acme.test", "wrong").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn stored_hashes_are_argon2id_with_asvs_parameters_and_long_passwords_work() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (i, length) in [64usize, 1000].into_iter().enumerate() {
        let password = "p".repeat(length);
        let email = format!("long{i}@acme.test");
        let r = admin
            .post("/settings/users", &[("email", &email), ("name", "Long"), ("role", "agent"), ("password", &password)])
            .await;
        assert_redirects_to(&r, "/settings/users");
        let hash_ok = app.count(&format!(
            "SELECT count(*) FROM users WHERE email = '{email}' AND password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'"
        ));
        assert_eq!(hash_ok, 1);
        let browser = app.browser();
        assert_redirects_to(&browser.login(&email, &password).await, "/");
    }
}

#[tokio::test]
async fn a_megabyte_password_is_refused_with_413_before_hashing() {
    let app = spawn_app().await;
    let browser = app.browser();
    let huge = "x".repeat(1024 * 1024);
    let r = browser.login("ann@acme.test", &huge).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("SELECT count(*) FROM login_failures"), 0, "nothing recorded");
}

#[tokio::test]
async fn a_deactivated_user_cannot_sign_in() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "gone@acme.test", Role::Agent);
    admin.post(&format!("/settings/users/{}/active", agent.id), &[("active", "false")]).await;
    let r = app.browser().login("gone@acme.test", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn sign_in_only_follows_local_next_paths() {
    let app = spawn_app().await;
    app.create_user("Acme", "ann@acme.test", Role::Admin);
    let b = app.browser();
    let r = b.post("/login", &[("email", "ann@acme.test"), ("password", PASSWORD), ("next", "/audit-logs")]).await;
    assert_redirects_to(&r, "/audit-logs");
    let b = app.browser();
    let r = b.post("/login", &[("email", "ann@acme.test"), ("password", PASSWORD), ("next", "//evil.example/")]).await;
    assert_redirects_to(&r, "/");
}

#[tokio::test]
async fn first_run_setup_creates_the_admin_once_and_then_disappears() {
    let app = spawn_app().await;
    let browser = app.browser();
    let login = browser.get_html("/login").await;
    assert!(login.contains("/setup"), "login page points to setup while there are no users");
    let form = browser.get_html("/setup").await;
    assert!(form.contains("Workspace name"));
    let bad = browser.post("/setup", &[("workspace", ""), ("name", "Ann"), ("email", "nope"), ("password", "short")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = bad.text().await.unwrap();
    assert!(body.contains("Workspace name is required.") && body.contains("Enter an email address"));
    assert_eq!(app.count("SELECT count(*) FROM users"), 0);
    let ok = browser
        .post("/setup", &[("workspace", "Acme"), ("name", "Ann"), ("email", "Ann@Acme.test"), ("password", PASSWORD), ("time_zone", "UTC"), ("default_country", "GB")])
        .await;
    assert_redirects_to(&ok, "/");
    assert!(browser.get_html("/").await.contains("Welcome, Ann"));
    assert_eq!(app.count("SELECT count(*) FROM users WHERE role = 'admin' AND email = 'ann@acme.test'"), 1);
    assert_eq!(app.browser().get("/setup").await.status(), StatusCode::NOT_FOUND);
    let again = app.browser().post("/setup", &[("workspace", "Evil"), ("name", "E"), ("email", "e@e.io"), ("password", PASSWORD)]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT count(*) FROM users"), 1);
}
