//! The client IP behind a load balancer (`SWITCHBOARD_TRUSTED_PROXIES`): audit rows, the
//! session list and the throttles use the forwarded address only when the peer is trusted.

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::cookie::Jar;
use reqwest::header::{HeaderMap, HeaderValue};
use switchboard::auth::throttle;
use switchboard::authz::Role;

use crate::support::{Browser, PASSWORD, TestApp, assert_redirects_to, spawn_app, spawn_app_with};

/// A browser whose every request carries `X-Forwarded-For: xff`, as a proxy would add it.
pub fn browser_via(app: &TestApp, xff: &str) -> Browser {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Browser { base: app.base.clone(), client, jar }
}

pub async fn behind_proxy() -> TestApp {
    spawn_app_with(|s| s.trusted_proxies = switchboard::config::parse_trusted("127.0.0.0/8").unwrap()).await
}

fn login_ip(app: &TestApp, email: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ip: String,
    }
    use diesel::RunQueryDsl;
    let audit: Row = diesel::sql_query(format!(
        "SELECT coalesce(a.ip, '') AS ip FROM audit_logs a JOIN users u ON u.workspace_id = a.workspace_id AND u.id::text = a.entity_id \
         WHERE a.action = 'auth.login' AND u.email = '{email}' ORDER BY a.id DESC LIMIT 1"
    ))
    .get_result(&mut app.conn())
    .expect("an auth.login audit row");
    let session: Row = diesel::sql_query(format!(
        "SELECT coalesce(s.ip, '') AS ip FROM sessions s JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id \
         WHERE u.email = '{email}' ORDER BY s.created_at DESC LIMIT 1"
    ))
    .get_result(&mut app.conn())
    .expect("a signed-in session row");
    assert_eq!(audit.ip, session.ip, "the audit row and the session list agree");
    audit.ip
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn_app().await;
    app.create_user("Acme", "ann@acme.test", Role::Admin);
    let b = browser_via(&app, "1.2.3.4");
    assert_redirects_to(&b.login("ann@acme.test", PASSWORD).await, "/");
    assert_eq!(login_ip(&app, "ann@acme.test"), "127.0.0.1");
    let sessions = b.get_html("/account/sessions").await;
    assert!(!sessions.contains("1.2.3.4") && sessions.contains("127.0.0.1"), "{sessions}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_forwarded_address_is_the_client() {
    let app = behind_proxy().await;
    for (i, (xff, expected)) in [
        ("1.2.3.4, 5.6.7.8", "5.6.7.8"),
        ("1.2.3.4, 127.0.0.5", "1.2.3.4"),
        ("garbage", "127.0.0.1"),
        ("1.2.3.4, <script>, 127.0.0.5", "127.0.0.5"),
        ("2001:db8::7", "2001:db8::7"),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("user{i}@acme.test");
        app.create_user("Acme", &email, Role::Agent);
        let b = browser_via(&app, xff);
        assert_redirects_to(&b.login(&email, PASSWORD).await, "/");
        assert_eq!(login_ip(&app, &email), expected, "X-Forwarded-For: {xff}");
        assert!(b.get_html("/account/sessions").await.contains(expected), "the session list shows {expected}");
    }
}

#[tokio::test]
async fn two_users_behind_the_proxy_no_longer_share_a_throttle() {
    let app = behind_proxy().await;
    app.create_user("Acme", "ann@acme.test", Role::Agent);
    let noisy = browser_via(&app, "203.0.113.1");
    for i in 0..throttle::IP_MAX_FAILURES {
        let r = noisy.login(&format!("typo{i}@acme.test"), "wrong").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {i}");
    }
    assert_eq!(noisy.login("typo@acme.test", "wrong").await.status(), StatusCode::TOO_MANY_REQUESTS);
    // A colleague behind the same proxy is another client.
    let ann = browser_via(&app, "203.0.113.2");
    assert_redirects_to(&ann.login("ann@acme.test", PASSWORD).await, "/");
    // And nobody dodges the throttle by forging the header on a direct connection: without
    // trust the forged address is ignored, so the real one (the proxy) is what counts.
    let direct = spawn_app().await;
    let forger = browser_via(&direct, "198.51.100.1");
    for i in 0..throttle::IP_MAX_FAILURES {
        forger.login(&format!("typo{i}@acme.test"), "wrong").await;
    }
    let other_forged = browser_via(&direct, "198.51.100.2");
    assert_eq!(other_forged.login("typo@acme.test", "wrong").await.status(), StatusCode::TOO_MANY_REQUESTS);
}
