//! A workspace admin's SMTP server must be on the public internet (issue 18, item 12):
//! loopback, link-local, private and other special addresses are refused when saving (after
//! resolving the name) and again when connecting, unless SWITCHBOARD_SMTP_ALLOW_PRIVATE.

use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::smtp::SmtpSink;
use crate::support::{TestApp, spawn_app_with};

fn fields(host: &str) -> Vec<(&str, &str)> {
    vec![("host", host), ("port", "2525"), ("tls_mode", "none"), ("username", ""), ("password", ""), ("from_address", "crm@acme.test")]
}

fn dead_email_error(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        error: String,
    }
    let row: Row = diesel::sql_query("SELECT coalesce(max(last_error), '') AS error FROM jobs WHERE kind = 'send-email' AND status = 'dead'")
        .get_result(&mut app.conn())
        .unwrap();
    row.error
}

async fn refusing() -> TestApp {
    spawn_app_with(|s| s.smtp_allow_private = false).await
}

#[tokio::test]
async fn internal_addresses_are_refused_when_saving_with_the_reason() {
    let app = refusing().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for host in [
        "127.0.0.1",
        "169.254.169.254",
        "10.0.0.1",
        "localhost",
        "192.168.1.20",
        "172.16.5.4",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "fd00::25",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "127.1",
    ] {
        let r = admin.post("/settings/smtp", &fields(host)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{host}");
        let body = r.text().await.unwrap();
        assert!(body.contains("not on the public internet") && body.contains("SWITCHBOARD_SMTP_ALLOW_PRIVATE"), "{host}: the reason is on the page");
    }
    assert_eq!(app.count("SELECT count(*) FROM smtp_settings"), 0, "nothing saved");
    // A public address is fine (saving connects nowhere).
    assert_eq!(admin.post("/settings/smtp", &fields("203.0.113.9")).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM smtp_settings WHERE host = '203.0.113.9'"), 1);
}

#[tokio::test]
async fn the_operator_may_allow_internal_addresses() {
    let app = spawn_app_with(|s| s.smtp_allow_private = true).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for host in ["127.0.0.1", "10.0.0.1", "localhost"] {
        assert_eq!(admin.post("/settings/smtp", &fields(host)).await.status(), StatusCode::SEE_OTHER, "{host}");
    }
}

#[tokio::test]
async fn a_saved_internal_address_is_refused_again_at_connect_time() {
    // As if the name had resolved to a public address when saved and to 127.0.0.1 now.
    let sink = SmtpSink::start();
    let app = refusing().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let ws = me.workspace_id;
    diesel::sql_query(format!(
        "INSERT INTO smtp_settings (workspace_id, host, port, tls_mode, from_address) VALUES ({ws}, 'localhost', {}, 'none', 'crm@acme.test')",
        sink.port
    ))
    .execute(&mut app.conn())
    .unwrap();
    assert_eq!(admin.post("/settings/smtp/test", &[]).await.status(), StatusCode::SEE_OTHER);
    let mut error = String::new();
    for _ in 0..100 {
        error = dead_email_error(&app);
        if !error.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(error.contains("not on the public internet"), "the job died with the reason: {error:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 0, "nothing reached the internal server");
}
