//! CHECKLIST 35: the connection pool is exhausted (every connection held elsewhere). Signed-in
//! and anonymous requests get a generic 503 page with `Retry-After` before the client gives
//! up, the process stays up, nothing half-done is kept, and the app recovers by itself once
//! connections are free again — sessions included.

use std::time::Duration;

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{Browser, spawn_app_with};

/// A browser sharing `signed_in`'s cookies whose requests give up after 30 s.
fn patient(signed_in: &Browser) -> Browser {
    let client = reqwest::Client::builder()
        .cookie_provider(signed_in.jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Browser { base: signed_in.base.clone(), client, jar: signed_in.jar.clone() }
}

async fn assert_generic_503(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    let retry_after = response.headers().get("retry-after").unwrap_or_else(|| panic!("{what}: Retry-After")).to_str().unwrap().to_string();
    assert!(retry_after.parse::<u32>().is_ok_and(|s| (1..=120).contains(&s)), "{what}: Retry-After {retry_after:?} in seconds");
    assert!(response.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"), "{what}: a page");
    let body = response.text().await.unwrap();
    assert!(body.contains("try again"), "{what}: the page says to try again: {body}");
    for internal in ["r2d2", "timed out", "pool", "session store", "panicked"] {
        assert!(!body.contains(internal), "{what}: no internals ({internal}) on the page");
    }
}

#[tokio::test]
async fn an_exhausted_pool_gives_a_generic_503_with_retry_after_and_the_app_recovers_with_nothing_lost() {
    let app = spawn_app_with(|s| {
        s.pool_size = 2;
        s.job_workers = 0;
    })
    .await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    assert_eq!(admin.post("/clients", &[("name", "Before")]).await.status(), StatusCode::SEE_OTHER);
    let token = admin.csrf().await;
    let admin = patient(&admin);
    let anonymous = patient(&app.browser());

    // Every connection of the app's pool is taken.
    let pool = app.pool.clone();
    let held = tokio::task::spawn_blocking(move || (0..pool.max_size()).map(|_| pool.get().expect("a connection")).collect::<Vec<_>>())
        .await
        .unwrap();

    assert_generic_503(admin.get("/clients").await, "a signed-in page").await;
    let r = admin.client.post(admin.url("/clients")).header("X-CSRF-Token", &token).form(&[("name", "During")]).send().await.unwrap();
    assert_generic_503(r, "a signed-in form post").await;
    assert_generic_503(anonymous.get("/login").await, "the sign-in page").await;
    let health = anonymous.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK, "the process stays up");

    drop(held);
    let r = admin.get("/clients").await;
    assert_eq!(r.status(), StatusCode::OK, "recovered, and still signed in");
    assert!(r.text().await.unwrap().contains("Before"));
    let r = admin.client.post(admin.url("/clients")).header("X-CSRF-Token", &token).form(&[("name", "After")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the same session and token work again");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name IN ('Before', 'After')"), 2, "nothing lost");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'During'"), 0, "the refused post left nothing behind");
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.created'"), 2, "and no audit row of it");
    assert_eq!(anonymous.get("/login").await.status(), StatusCode::OK);
}
