//! Settings → Twilio (issue 11 part 2): validation of every field, the sealed token that is
//! never shown nor audited, "blank keeps the token", the connection check against the fake
//! Twilio, the webhook URLs, admin only, and the first-run checklist step.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio};
use crate::support::{TestApp, assert_redirects_to, spawn_app_with};

const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

async fn app_with(fake_base: &str) -> TestApp {
    let base = fake_base.to_string();
    spawn_app_with(move |s| {
        s.twilio_api_base = base.parse().unwrap();
        s.twilio_content_base = base.parse().unwrap();
        s.public_url = Some("https://crm.acme.test".parse().unwrap());
    })
    .await
}

fn good(token: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("account_sid", ACCOUNT_SID),
        ("auth_token", token),
        ("whatsapp_from", "+1 415 555 0100\r\n\r\n whatsapp:+14155550101"),
        ("sms_from", "+1 (415) 555-0102"),
        ("messaging_service_sid", SERVICE),
        ("whatsapp_rate", "10"),
        ("sms_rate", "0.5"),
        ("inbound_unknown", "ignore"),
    ]
}

fn error_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}-help\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no error for {id}: {html}")) + marker.len();
    html[start..].split("</p>").next().unwrap().to_string()
}

#[tokio::test]
async fn every_field_is_checked_before_anything_is_written() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake.base()).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let bad = [
        ("account_sid", "AC123"),
        ("auth_token", ""),
        ("whatsapp_from", "+14155550100\n0415 555 0101\nnope"),
        ("sms_from", "12345"),
        ("messaging_service_sid", "MGxyz"),
        ("whatsapp_rate", "0"),
        ("sms_rate", "1001"),
        ("inbound_unknown", "delete"),
    ];
    let r = admin.post("/settings/twilio", &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(error_of(&html, "tw-sid").starts_with("The Account SID is AC followed by 32"), "{html}");
    assert_eq!(error_of(&html, "tw-token"), "Enter the auth token (Twilio Console → Account info).");
    assert_eq!(error_of(&html, "tw-whatsapp"), "Not a number in E.164, like +14155550123: line 2 (0415 555 0101), line 3 (nope).");
    assert_eq!(error_of(&html, "tw-sms"), "Write the SMS number in E.164, like +14155550123.");
    assert!(error_of(&html, "tw-service").starts_with("A Messaging Service SID is MG"));
    assert!(error_of(&html, "tw-wa-rate").starts_with("Use a number of messages per second above 0"));
    assert!(error_of(&html, "tw-sms-rate").starts_with("Use a number of messages per second above 0"));
    assert!(html.contains("Choose whether a message from an unknown number creates a client or is ignored."));
    // What was typed comes back, so it can be corrected.
    assert!(html.contains("value=\"AC123\""), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM twilio_settings"), 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'twilio.settings_saved'"), 0);
}

#[tokio::test]
async fn the_token_is_sealed_never_shown_never_audited_and_blank_keeps_it() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake.base()).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let r = admin.post("/settings/twilio", &good(AUTH_TOKEN)).await;
    assert_redirects_to(&r, "/settings/twilio");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM twilio_settings WHERE account_sid = '{ACCOUNT_SID}' AND whatsapp_from = ARRAY['+14155550100', '+14155550101'] \
             AND sms_from = '+14155550102' AND messaging_service_sid = '{SERVICE}' AND whatsapp_rate = 10 AND sms_rate = 0.5 AND inbound_unknown = 'ignore'"
        )),
        1
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM twilio_settings WHERE position('{AUTH_TOKEN}'::bytea in auth_token_sealed) = 0")), 1, "sealed");
    let page = admin.get_html("/settings/twilio").await;
    assert!(page.contains("Twilio settings saved."), "{page}");
    assert!(page.contains("Auth token (saved; leave blank to keep it)"));
    assert!(!page.contains(AUTH_TOKEN), "the token is never shown");
    assert!(page.contains("+14155550100\n+14155550101</textarea>"), "{page}");
    assert!(page.contains("value=\"0.5\""));
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE position('{AUTH_TOKEN}' in coalesce(before::text, '') || coalesce(after::text, '')) > 0")), 0);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_logs WHERE action = 'twilio.settings_saved' AND after->'changed' = \
             '[\"account_sid\", \"auth_token\", \"whatsapp_from\", \"sms_from\", \"messaging_service_sid\", \"whatsapp_rate\", \"sms_rate\", \"inbound_unknown\"]'::jsonb"
        ),
        1
    );

    // Blank keeps the saved token; only the changed field is audited.
    let sealed_before = app.count("SELECT count(*) FROM twilio_settings WHERE auth_token_sealed IS NOT NULL");
    let mut keep = good("");
    keep[6] = ("sms_rate", "2");
    assert_redirects_to(&admin.post("/settings/twilio", &keep).await, "/settings/twilio");
    assert_eq!(sealed_before, 1);
    assert_eq!(app.count("SELECT count(*) FROM twilio_settings WHERE sms_rate = 2"), 1);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'twilio.settings_saved' AND after->'changed' = '[\"sms_rate\"]'::jsonb"), 1);
    // The kept token still works: the check connects.
    assert_redirects_to(&admin.post("/settings/twilio/check", &[]).await, "/settings/twilio");
    let page = admin.get_html("/settings/twilio").await;
    assert!(page.contains("Connected to Acme Messaging (active)."), "{page}");
    let audit = admin.get_html("/audit-logs").await;
    assert!(audit.contains("saved the Twilio settings (sms rate)"), "{audit}");
    assert!(!audit.contains(AUTH_TOKEN));
}

#[tokio::test]
async fn the_connection_check_says_what_is_wrong() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake.base()).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    // Nothing saved yet.
    let page = admin.get_html("/settings/twilio").await;
    assert!(!page.contains("Check connection"));
    assert_redirects_to(&admin.post("/settings/twilio/check", &[]).await, "/settings/twilio");
    assert!(admin.get_html("/settings/twilio").await.contains("Save the Account SID and auth token first."));

    admin.post("/settings/twilio", &good("wrong-token")).await;
    admin.post("/settings/twilio/check", &[]).await;
    let page = admin.get_html("/settings/twilio").await;
    assert!(page.contains("Not connected. The auth token is wrong for this Account SID."), "{page}");
    assert!(!page.contains("wrong-token"));
}

#[tokio::test]
async fn an_unreachable_twilio_is_named() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = app_with(&format!("http://127.0.0.1:{closed}")).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    admin.post("/settings/twilio", &good(AUTH_TOKEN)).await;
    assert_redirects_to(&admin.post("/settings/twilio/check", &[]).await, "/settings/twilio");
    let page = admin.get_html("/settings/twilio").await;
    assert!(page.contains("Not connected. The provider could not be reached:"), "{page}");
}

#[tokio::test]
async fn the_webhook_urls_are_shown_on_the_page_and_the_settings_index() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake.base()).await;
    let (admin, user) = app.signed_in(Role::Admin).await;
    let key: String = {
        use diesel::prelude::*;
        use switchboard::db::schema::workspaces;
        workspaces::table.find(user.workspace_id).select(workspaces::webhook_key).first(&mut app.conn()).unwrap()
    };
    for path in ["/settings/twilio", "/settings"] {
        let page = admin.get_html(path).await;
        for kind in ["status", "inbound"] {
            let url = format!("https://crm.acme.test/webhooks/twilio/{key}/{kind}");
            assert!(page.contains(&format!("class=\"copy-link\" readonly rows=\"2\" spellcheck=\"false\">{url}</textarea>")), "{path} lacks {url}: {page}");
        }
    }
}

#[tokio::test]
async fn only_admins_see_or_change_twilio_settings() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake.base()).await;
    for role in [Role::Manager, Role::Agent] {
        let (b, _) = app.signed_in(role).await;
        assert_eq!(b.get("/settings/twilio").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(b.post("/settings/twilio", &good(AUTH_TOKEN)).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(b.post("/settings/twilio/check", &[]).await.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(app.count("SELECT count(*) FROM twilio_settings"), 0);
}

#[tokio::test]
async fn connect_twilio_is_a_real_checklist_step() {
    let fake = FakeTwilio::start();
    let app = app_with(&fake.base()).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let home = admin.get_html("/").await;
    assert!(home.contains("data-step=\"twilio\" class=\"todo\""), "{home}");
    assert!(!home.contains("coming soon"));
    admin.post("/settings/twilio", &good(AUTH_TOKEN)).await;
    let home = admin.get_html("/").await;
    assert!(home.contains("data-step=\"twilio\" class=\"done\""), "{home}");
}
