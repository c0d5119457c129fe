use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

#[tokio::test]
async fn first_run_setup_then_sign_out_and_sign_in_again() {
    let app = spawn_app().await;
    let chrome = Chrome::start().await;
    chrome.goto(&format!("{}/login", app.base)).await;
    chrome.click("a[href='/setup']").await;
    chrome.wait_for_heading("Welcome to Switchboard").await;
    chrome.fill("#workspace", "Acme").await;
    chrome.fill("#name", "Ann Admin").await;
    chrome.fill("#email", "ann@acme.test").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("#default_country option[value='GB']").await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_heading("Dashboard").await;
    assert_eq!(chrome.path().await, "/");
    // Sign out, then back in.
    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_heading("Sign in").await;
    chrome.fill("#email", "ann@acme.test").await;
    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_heading("Dashboard").await;
    let welcome = chrome.wait_for("p.lead").await.text().await.unwrap();
    assert!(welcome.contains("Ann Admin") && welcome.contains("Acme"), "{welcome}");
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}

#[tokio::test]
async fn a_wrong_password_shows_the_error_and_htmx_boosts_navigation_without_csp_violations() {
    let app = spawn_app().await;
    app.create_user_named("Acme", "mia@acme.test", "Mia Manager", Role::Admin);
    let chrome = Chrome::start().await;
    chrome.goto(&format!("{}/login", app.base)).await;
    // htmx 2.0.x and its SSE extension are loaded from our own origin.
    chrome.wait_for("#email").await;
    let version = chrome.eval("return (window.htmx && htmx.version) || null;").await;
    assert!(version.as_str().is_some_and(|v| v.starts_with("2.0.")), "htmx version {version}");
    assert_eq!(chrome.eval("return htmx.config.allowEval;").await, serde_json::json!(false));

    chrome.fill("#email", "mia@acme.test").await;
    chrome.fill("#password", "wrong password").await;
    chrome.click("button[type=submit]").await;
    let error = chrome.wait_for("#login-error").await.text().await.unwrap();
    assert_eq!(error, "Email or password is incorrect.");

    chrome.fill("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_for_heading("Dashboard").await;
    // A boosted link swaps the body without a page load: a marker set on window survives.
    chrome.eval("window.__marker = 'still here'; return null;").await;
    chrome.click("nav a[href='/audit-logs']").await;
    chrome.wait_for_heading("Audit log").await;
    assert_eq!(chrome.path().await, "/audit-logs");
    assert_eq!(chrome.eval("return window.__marker || null;").await, serde_json::json!("still here"));
    // The module filter updates the results in place and the URL follows.
    chrome.fill("#f-module", "auth").await;
    chrome.click(".filters button[type=submit]").await;
    for _ in 0..50 {
        if chrome.path().await.contains("module=auth") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(chrome.path().await.contains("module=auth"));
    chrome.wait_for_text("#audit-results", "auth.login").await;
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}
