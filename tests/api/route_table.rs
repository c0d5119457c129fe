//! CHECKLIST 9–10 over every route of `switchboard::routes::ROUTES`, the table the app is
//! built from: a route added later is checked without anyone touching these tests.

use reqwest::{Method, StatusCode};
use switchboard::routes::ROUTES;

use switchboard::authz::Role;

use crate::support::spawn_app_with;
use crate::walk::{FIELDS, concrete, fingerprint, seed};

/// Routes that take unsafe methods without a session's CSRF token: signed webhooks and
/// bearer-token API routes, each checked by its own signature or token test instead
/// (`twilio_webhooks.rs`); and the one-click unsubscribe of campaign emails (RFC 8058: the
/// mail provider POSTs with no session; the HMAC token is the check, tested in
/// `campaign_batches.rs`).
const CSRF_EXEMPT: &[&str] = &["/webhooks/twilio/{workspace_key}/status", "/webhooks/twilio/{workspace_key}/inbound", "/unsubscribe/{token}"];

const SAFE: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

fn csrf_refusal(body: &str) -> bool {
    body.contains("did not come from this site")
}

#[tokio::test]
async fn every_unsafe_route_without_a_valid_csrf_token_is_403_and_nothing_changes() {
    // No job workers: nothing may change the database behind the walk's back.
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let world = seed(&app, "Walk", "walk").await;
    let admin = &world.admin;
    let stranger_token = app.browser().csrf().await;
    let before = fingerprint(&app);
    let mut checked = Vec::new();
    for route in ROUTES.iter().filter(|r| !CSRF_EXEMPT.contains(&r.path)) {
        let path = concrete(route.path, &world.ids);
        for method in route.methods().into_iter().filter(|m| !SAFE.contains(&m.as_str())) {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let url = admin.url(&path);
            let mut with_stranger = FIELDS.to_vec();
            with_stranger.push(("csrf_token", stranger_token.as_str()));
            let attempts = [
                ("no token", admin.client.request(method.clone(), &url).form(FIELDS)),
                ("another session's token", admin.client.request(method.clone(), &url).form(&with_stranger)),
                (
                    "another session's token in X-CSRF-Token from htmx",
                    admin.client.request(method.clone(), &url).header("HX-Request", "true").header("X-CSRF-Token", &stranger_token).form(FIELDS),
                ),
                (
                    "a multipart body without a token",
                    admin.client.request(method.clone(), &url).multipart(
                        reqwest::multipart::Form::new().text("name", "forged").part("file", reqwest::multipart::Part::bytes(b"name\nx\n".to_vec()).file_name("a.csv")),
                    ),
                ),
            ];
            for (how, request) in attempts {
                let r = request.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path} with {how}");
                assert!(csrf_refusal(&r.text().await.unwrap()), "{method} {path} with {how}: refused by the CSRF check, before any handler");
            }
            checked.push(format!("{method} {}", route.path));
        }
    }
    assert!(checked.iter().any(|c| c == "POST /logout") && checked.iter().any(|c| c == "DELETE /clients/{id}"), "the walk covers {checked:?}");
    assert_eq!(fingerprint(&app), before, "nothing changed in the database");
    assert_eq!(admin.get("/").await.status(), StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn every_route_answers_405_to_a_method_it_does_not_list_and_nothing_changes() {
    // No job workers: nothing may change the database behind the walk's back.
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let world = seed(&app, "Walk", "walk").await;
    let admin = &world.admin;
    let token = admin.csrf().await;
    let before = fingerprint(&app);
    let mut post_only = 0;
    for route in ROUTES {
        let path = concrete(route.path, &world.ids);
        let allowed = route.methods();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"].into_iter().filter(|m| !route.accepts(m)) {
            // Unsafe methods carry a valid token, so the 405 is the router's, not the CSRF check's.
            let r = admin
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), admin.url(&path))
                .header("X-CSRF-Token", &token)
                .form(FIELDS)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path} (the route lists {allowed:?})");
            let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            let mut listed: Vec<&str> = allow.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
            listed.sort_unstable();
            let mut expected: Vec<&str> = allowed.iter().map(String::as_str).collect();
            expected.sort_unstable();
            assert_eq!(listed, expected, "Allow header of {method} {path}");
            assert!(r.text().await.unwrap().contains("does not accept"), "a readable page for {method} {path}");
        }
        if !route.accepts("GET") {
            post_only += 1;
        }
    }
    assert!(post_only > 0, "the table has POST-only routes, and each got a GET above");
    assert_eq!(fingerprint(&app), before, "nothing changed in the database");
    assert_eq!(admin.get("/").await.status(), StatusCode::OK, "still signed in");
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {}", world.me.id)), 1, "the session survived every request");
}

#[test]
fn the_route_table_lists_every_path_once_with_its_methods() {
    let mut seen = std::collections::HashSet::new();
    for route in ROUTES {
        assert!(seen.insert(route.path), "{} is registered twice; the second would never be reached", route.path);
        let methods = route.methods();
        assert!(!methods.is_empty(), "{} lists no method", route.path);
        for m in &methods {
            assert!(["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()), "{}: unexpected method {m}", route.path);
        }
    }
    let login = ROUTES.iter().find(|r| r.path == "/login").expect("/login is in the table");
    assert_eq!(login.methods(), ["GET", "POST"]);
    let client = ROUTES.iter().find(|r| r.path == "/clients/{id}").expect("/clients/{id} is in the table");
    assert_eq!(client.methods(), ["GET", "POST", "DELETE"]);
}

/// CHECKLIST 12 for every route that takes an id, whatever its method: another workspace's
/// record is 404 (not 403), nothing of it leaks into the page, and nothing of it changes.
#[tokio::test]
async fn every_route_with_an_id_answers_404_for_another_workspaces_record_and_changes_nothing() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let theirs = seed(&app, "Beta secret", "beta-secret").await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    assert_ne!(me.workspace_id, theirs.me.workspace_id);
    let token = admin.csrf().await;
    let before = fingerprint(&app);
    let mut walked = Vec::new();
    for route in ROUTES.iter().filter(|r| r.path.contains("{id}")) {
        let path = concrete(route.path, &theirs.ids);
        for method in route.methods() {
            let mut request = admin.client.request(Method::from_bytes(method.as_bytes()).unwrap(), admin.url(&path));
            if !SAFE.contains(&method.as_str()) {
                request = request.header("X-CSRF-Token", &token).form(FIELDS);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path} of another workspace");
            let body = r.text().await.unwrap();
            assert!(!body.contains("Beta secret") && !body.contains("beta-secret"), "{method} {path}: nothing of the other workspace leaks");
            walked.push(format!("{method} {}", route.path));
        }
    }
    for expected in ["POST /follow-ups/{id}", "POST /settings/tags/{id}", "POST /settings/tags/{id}/delete", "GET /clients/{id}", "GET /imports/{id}/errors.csv"] {
        assert!(walked.iter().any(|w| w == expected), "{expected} walked: {walked:?}");
    }
    assert_eq!(fingerprint(&app), before, "nothing of either workspace changed");
}
