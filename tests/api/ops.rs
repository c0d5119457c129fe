use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let b = app.browser();
    let r = b.get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok");
    assert_eq!(b.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    let db_name = app.database_url.split('/').nth(3).unwrap().split('?').next().unwrap().to_string();
    let admin_url = app.database_url.replace(&format!("/{db_name}?"), "/postgres?");
    let mut conn = PgConnection::establish(&admin_url).unwrap();
    diesel::sql_query(format!("DROP DATABASE {db_name} WITH (FORCE)")).execute(&mut conn).unwrap();
    let b = app.browser();
    assert_eq!(b.get("/healthz").await.status(), StatusCode::OK, "the process is still up");
    let r = b.get("/readyz").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = b.get("/login").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("not reachable"));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_the_security_headers() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for path in ["/login", "/", "/settings/users", "/no-such-page"] {
        let r = admin.get(path).await;
        let h = r.headers();
        assert!(h.contains_key("x-request-id"), "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in ["script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["content-type"], "text/html; charset=utf-8", "{path}");
    }
}

#[tokio::test]
async fn unknown_pages_get_a_readable_404_page() {
    let app = spawn_app().await;
    let r = app.browser().get("/nothing/here").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("does not exist"));
}

#[tokio::test]
async fn oversized_forms_are_refused_with_413() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let big = "n".repeat(100 * 1024);
    let r = admin.post("/settings/departments", &[("name", &big)]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("SELECT count(*) FROM departments"), 0);
}

#[tokio::test]
async fn static_assets_are_served_with_hashed_urls_and_immutable_caching() {
    let app = spawn_app().await;
    let b = app.browser();
    let html = b.get_html("/login").await;
    let htmx_src = html.split("src=\"").filter_map(|s| s.split('"').next()).find(|s| s.contains("htmx-2.0")).expect("htmx script");
    let r = b.get(htmx_src).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(r.text().await.unwrap().contains("htmx"));
    assert!(html.contains("htmx-ext-sse-2."));
    let stale = b.get("/static/0000000000/app.css").await;
    assert_eq!(stale.headers()["cache-control"], "no-cache");
    assert_eq!(b.get("/static/0000000000/nope.js").await.status(), StatusCode::NOT_FOUND);
    // htmx runs without eval and without injected styles.
    assert!(html.contains(r#""allowEval":false"#) && html.contains(r#""includeIndicatorStyles":false"#));
}

#[tokio::test]
async fn migrations_can_be_reverted_and_applied_again() {
    use diesel_migrations::MigrationHarness;
    let app = spawn_app().await;
    let mut conn = PgConnection::establish(&app.database_url).unwrap();
    conn.revert_all_migrations(switchboard::db::migrate::MIGRATIONS).expect("down.sql of every migration works");
    conn.run_pending_migrations(switchboard::db::migrate::MIGRATIONS).expect("and up again");
}

#[tokio::test]
async fn every_page_answers_htmx_with_its_content_fragment_and_boosts_with_the_full_page() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for path in [
        "/", "/settings", "/settings/users", "/settings/departments", "/account/sessions", "/account/password", "/login",
        "/clients", "/clients/new", "/follow-ups", "/settings/workspace", "/settings/tags", "/clients/import", "/notifications",
        "/settings/smtp", "/settings/jobs", "/password/forgot",
    ] {
        let fragment = admin.htmx_get(path).await.text().await.unwrap();
        assert!(!fragment.contains("<html") && fragment.contains("<h1>"), "{path} fragment: {fragment}");
        let full = admin.client.get(admin.url(path)).header("HX-Request", "true").header("HX-Boosted", "true").send().await.unwrap();
        assert!(full.text().await.unwrap().contains("<html"), "{path} boosted");
        let restore = admin
            .client
            .get(admin.url(path))
            .header("HX-Request", "true")
            .header("HX-History-Restore-Request", "true")
            .send()
            .await
            .unwrap();
        assert!(restore.text().await.unwrap().contains("<html"), "{path} history restore");
    }
}

#[tokio::test]
async fn start_up_fails_with_a_clear_message_for_a_busy_port_or_a_bad_database_url() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let mut settings = switchboard::config::Settings::from_lookup(|_| None).unwrap();
    settings.addr = addr;
    settings.database_url = Some("postgres://nobody@127.0.0.1:1/none".to_string().into());
    let err = switchboard::startup::Application::build(settings.clone(), Default::default()).await.err().unwrap();
    assert!(format!("{err:#}").contains("SWITCHBOARD_ADDR"), "{err:#}");
    settings.addr = "127.0.0.1:0".parse().unwrap();
    let err = switchboard::startup::Application::build(settings, Default::default()).await.err().unwrap();
    assert!(format!("{err:#}").contains("DATABASE_URL"), "{err:#}");
}
