//! Twilio's webhooks against the real app (issue 11 parts 5 and 6): signatures made with
//! the test support's own signer (written from Twilio's documentation, not the app's code),
//! status callbacks that arrive twice, out of order or before their send is recorded, and
//! inbound messages, opt-outs and unknown numbers.

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Binary, Text};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use reqwest::StatusCode;
use switchboard::messaging::MessageStatus;
use switchboard::messaging::store;
use switchboard::authz::Role;

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, twilio_signature};
use crate::support::{TestApp, spawn_app, spawn_app_with};

const TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;
const OUR_NUMBER: &str = "+14155550100";

/// A workspace with Twilio set up (the fake's account and token), and its webhook key.
struct Ws {
    id: i64,
    key: String,
}

fn workspace(app: &TestApp, name: &str, token: Option<&str>) -> Ws {
    workspace_sealed(app, name, token, &"test-secret-key-".repeat(4))
}

/// As [`workspace`], the token sealed under this `SWITCHBOARD_SECRET_KEY`.
fn workspace_sealed(app: &TestApp, name: &str, token: Option<&str>, secret_key: &str) -> Ws {
    let user = app.create_user(name, &format!("admin-{}@{}.test", uuid::Uuid::new_v4().simple(), name.to_lowercase()), Role::Admin);
    let id = user.workspace_id;
    if let Some(token) = token {
        let at_rest = switchboard::crypto::derive(secret_key.as_bytes());
        diesel::sql_query(
            "INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from) VALUES ($1, $2, $3, ARRAY[$4], $4)",
        )
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(ACCOUNT_SID)
        .bind::<Binary, _>(switchboard::crypto::seal(&at_rest, token.as_bytes()))
        .bind::<Text, _>(OUR_NUMBER)
        .execute(&mut app.conn())
        .unwrap();
    }
    let key = switchboard::messaging::account::webhook_key(&mut app.conn(), id).unwrap();
    Ws { id, key }
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// POSTs the form to `path` on the app with this signature (or none).
async fn post(app: &TestApp, path: &str, form: &[(String, String)], signature: Option<&str>) -> reqwest::Response {
    post_to(&app.base, path, form, signature).await
}

async fn post_to(base: &str, path: &str, form: &[(String, String)], signature: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(format!("{base}{path}")).form(form);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.expect("webhook request")
}

/// POSTs the form signed with `token` over the URL the app is reached at.
async fn post_signed(app: &TestApp, path: &str, form: &[(String, String)], token: &str) -> reqwest::Response {
    let signature = twilio_signature(token, &format!("{}{path}", app.base), form);
    post(app, path, form, Some(&signature)).await
}

fn status_path(ws: &Ws) -> String {
    format!("/webhooks/twilio/{}/status", ws.key)
}

fn inbound_path(ws: &Ws) -> String {
    format!("/webhooks/twilio/{}/inbound", ws.key)
}

fn status_form(sid: &str, status: &str, error_code: Option<&str>) -> Vec<(String, String)> {
    let mut f = form(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("From", "whatsapp:+14155550100"),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("To", "whatsapp:+14155550123"),
    ]);
    if let Some(code) = error_code {
        f.push(("ErrorCode".into(), code.into()));
    }
    f
}

fn sms_from(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    form(&[("AccountSid", ACCOUNT_SID), ("MessageSid", sid), ("SmsMessageSid", sid), ("From", from), ("To", OUR_NUMBER), ("Body", body), ("NumMedia", "0")])
}

/// Rows of every table a webhook may write, to prove a refused one wrote none.
fn written(app: &TestApp) -> [i64; 6] {
    [
        app.count("SELECT count(*) FROM messages"),
        app.count("SELECT count(*) FROM early_status_callbacks"),
        app.count("SELECT count(*) FROM clients"),
        app.count("SELECT count(*) FROM audit_logs"),
        app.count("SELECT count(*) FROM communications"),
        app.count("SELECT count(*) FROM sessions"),
    ]
}

/// An outbound message as a send records it, with this provider id (or none yet).
fn outbound(app: &TestApp, ws: &Ws, provider_id: Option<&str>, status: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    diesel::sql_query(
        "INSERT INTO messages (workspace_id, channel, direction, provider_id, sender, recipient, body, status, attempt_at, lease_until) \
         VALUES ($1, 'whatsapp', 'outbound', $2, '+14155550100', '+14155550123', 'Hello', $3, now(), now() + interval '1 minute') RETURNING id",
    )
    .bind::<BigInt, _>(ws.id)
    .bind::<diesel::sql_types::Nullable<Text>, _>(provider_id)
    .bind::<Text, _>(status)
    .get_result::<Id>(&mut app.conn())
    .unwrap()
    .id
}

fn client_with_phone(app: &TestApp, ws: &Ws, name: &str, phone: &str) -> i64 {
    diesel::sql_query(format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({}, '{name}', '{phone}')", ws.id)).execute(&mut app.conn()).unwrap();
    app.count(&format!("SELECT id FROM clients WHERE workspace_id = {} AND phone = '{phone}'", ws.id))
}

fn text(app: &TestApp, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        t: Option<String>,
    }
    diesel::sql_query(format!("SELECT ({sql})::text AS t")).get_result::<T>(&mut app.conn()).unwrap().t.unwrap_or_else(|| "NULL".into())
}

/// (what, path, form, signature, the reason the 403 gives).
type Refused<'a> = (&'a str, String, Vec<(String, String)>, Option<String>, &'a str);

#[tokio::test]
async fn unsigned_forged_or_misdirected_callbacks_are_403_and_write_nothing() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let globex = workspace(&app, "Globex", Some("0ther0ther0ther0ther0ther0ther00"));
    let bare = workspace(&app, "Initech", None);
    // Saved under another SWITCHBOARD_SECRET_KEY: the token cannot be opened to check with.
    let rekeyed = workspace_sealed(&app, "Hooli", Some(AUTH_TOKEN), "a-different-secret-key-a-different-secret-key");
    outbound(&app, &acme, Some("SM100"), "accepted");
    let good = status_form("SM100", "delivered", None);
    let inbound = sms_from("SM200", "+14155550199", "Hello");
    let base = app.base.clone();
    let sign = |token: &str, path: &str, f: &[(String, String)]| twilio_signature(token, &format!("{base}{path}"), f);
    let mut tampered = good.clone();
    tampered[4].1 = "read".into();
    let cases: Vec<Refused> = vec![
        ("no signature", status_path(&acme), good.clone(), None, "missing"),
        ("a wrong signature", status_path(&acme), good.clone(), Some("bm90IGEgc2lnbmF0dXJlIGF0IGFsbA==".into()), "does not match"),
        ("another workspace's token", status_path(&acme), good.clone(), Some(sign("0ther0ther0ther0ther0ther0ther00", &status_path(&acme), &good)), "does not match"),
        ("a tampered parameter", status_path(&acme), tampered.clone(), Some(sign(AUTH_TOKEN, &status_path(&acme), &good)), "does not match"),
        ("an unknown key", "/webhooks/twilio/0000000000000000/status".into(), good.clone(), Some(sign(AUTH_TOKEN, "/webhooks/twilio/0000000000000000/status", &good)), "Unknown webhook key"),
        ("a workspace without Twilio", status_path(&bare), good.clone(), Some(sign(AUTH_TOKEN, &status_path(&bare), &good)), "not set up"),
        ("a token sealed under another secret key", status_path(&rekeyed), good.clone(), Some(sign(AUTH_TOKEN, &status_path(&rekeyed), &good)), "cannot be read"),
        ("a signature for the inbound path", status_path(&acme), good.clone(), Some(sign(AUTH_TOKEN, &inbound_path(&acme), &good)), "does not match"),
        ("a signature for another query", format!("{}?x=2", status_path(&acme)), good.clone(), Some(sign(AUTH_TOKEN, &format!("{}?x=1", status_path(&acme)), &good)), "does not match"),
        ("a signature for the other workspace's key", status_path(&globex), good.clone(), Some(sign(AUTH_TOKEN, &status_path(&globex), &good)), "does not match"),
        ("an unsigned inbound message", inbound_path(&acme), inbound.clone(), None, "missing"),
        ("an inbound message signed with another token", inbound_path(&acme), inbound.clone(), Some(sign("0ther0ther0ther0ther0ther0ther00", &inbound_path(&acme), &inbound)), "does not match"),
    ];
    let before = written(&app);
    for (what, path, f, signature, reason) in cases {
        let r = post(&app, &path, &f, signature.as_deref()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        assert!(r.headers().get("set-cookie").is_none(), "{what}: no session");
        let body = r.text().await.unwrap();
        assert!(body.contains(reason), "{what}: {body:?}");
        assert_eq!(written(&app), before, "{what}: nothing written");
    }
    assert_eq!(text(&app, "SELECT status FROM messages WHERE provider_id = 'SM100'"), "accepted");
    // The same callback, signed properly, goes through: the refusals were for the reasons named.
    let r = post_signed(&app, &status_path(&acme), &good, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers().get("set-cookie").is_none(), "no session for a webhook");
    assert_eq!(text(&app, "SELECT status FROM messages WHERE provider_id = 'SM100'"), "delivered");
    // Signed, but not a status callback: 400 with the reason, nothing written.
    let before = written(&app);
    let r = post_signed(&app, &status_path(&acme), &form(&[("MessageSid", "SM100")]), AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("MessageStatus is missing"));
    assert_eq!(written(&app), before);
}

#[tokio::test]
async fn the_public_url_is_signed_with_or_without_its_default_port() {
    for (public, signed_over) in [
        ("https://crm.example.com", "https://crm.example.com:443"),
        ("https://crm.example.com", "https://crm.example.com"),
        ("https://crm.example.com:443/", "https://crm.example.com"),
        ("http://crm.example.com", "http://crm.example.com:80"),
    ] {
        let app = spawn_app_with(|s| s.public_url = Some(url::Url::parse(public).unwrap())).await;
        let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
        outbound(&app, &acme, Some("SM1"), "accepted");
        let f = status_form("SM1", "sent", None);
        let path = format!("{}?attempt=1", status_path(&acme));
        let r = post(&app, &path, &f, Some(&twilio_signature(AUTH_TOKEN, &format!("{signed_over}{path}"), &f))).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "public {public}, signed over {signed_over}");
        assert_eq!(text(&app, "SELECT status FROM messages WHERE provider_id = 'SM1'"), "sent");
        // The address the request reached, another path or another query: refused.
        let before = written(&app);
        let d = status_form("SM1", "delivered", None);
        for (what, url) in [
            ("the listen address", format!("{}{path}", app.base)),
            ("another path", format!("{signed_over}{}?attempt=1", inbound_path(&acme))),
            ("another query", format!("{signed_over}{}?attempt=2", status_path(&acme))),
            ("the other scheme (a proxy's http)", format!("{}{path}", swap_scheme(signed_over))),
        ] {
            let r = post(&app, &path, &d, Some(&twilio_signature(AUTH_TOKEN, &url, &d))).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "public {public}, signed over {what}");
            assert_eq!(written(&app), before);
        }
        assert_eq!(text(&app, "SELECT status FROM messages WHERE provider_id = 'SM1'"), "sent");
    }
}

fn swap_scheme(url: &str) -> String {
    match url.strip_prefix("https://") {
        Some(rest) => format!("http://{rest}"),
        None => url.replacen("http://", "https://", 1),
    }
}

#[tokio::test]
async fn shuffled_duplicate_status_callbacks_end_at_the_highest_status() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let id = outbound(&app, &acme, Some("SMdup"), "accepted");
    let mut statuses = vec!["queued", "queued", "sent", "sent", "delivered", "delivered", "read", "read", "sent", "delivered"];
    statuses.shuffle(&mut rand::rngs::StdRng::seed_from_u64(11));
    let forms: Vec<Vec<(String, String)>> = statuses.iter().map(|s| status_form("SMdup", s, None)).collect();
    // All ten at once, as Twilio's retries and out-of-order deliveries arrive.
    let path = status_path(&acme);
    let answers = futures_util::future::join_all(forms.iter().map(|f| post_signed(&app, &path, f, AUTH_TOKEN))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::NO_CONTENT), "{:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    let m = store::find(&mut app.conn(), acme.id, id).unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Read);
    assert!(m.sent_at.is_some() && m.delivered_at.is_some() && m.read_at.is_some(), "{m:?}");
    assert!(m.sent_at <= m.delivered_at && m.delivered_at <= m.read_at);
    assert_eq!((m.error_code, m.failed_at), (None, None));
    assert_eq!(app.count("SELECT count(*) FROM early_status_callbacks"), 0);
    assert_eq!(app.count("SELECT count(*) FROM messages"), 1);
}

#[tokio::test]
async fn callbacks_before_the_send_is_recorded_are_kept_and_applied_when_it_is() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let id = outbound(&app, &acme, None, "sending");
    for status in ["delivered", "sent"] {
        let r = post_signed(&app, &status_path(&acme), &status_form("SMearly", status, None), AUTH_TOKEN).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{status} before the SID is recorded");
    }
    assert_eq!(app.count(&format!("SELECT count(*) FROM early_status_callbacks WHERE workspace_id = {} AND provider_id = 'SMearly'", acme.id)), 2);
    assert_eq!(text(&app, &format!("SELECT status FROM messages WHERE id = {id}")), "sending", "nothing applied yet");
    // The send's worker records the id Twilio gave it.
    assert!(store::record_accepted(&mut app.conn(), acme.id, id, "SMearly", MessageStatus::Accepted).unwrap());
    let m = store::find(&mut app.conn(), acme.id, id).unwrap().unwrap();
    assert_eq!((m.status, m.provider_id.as_deref()), (MessageStatus::Delivered, Some("SMearly")));
    assert!(m.sent_at.is_some() && m.delivered_at.is_some() && m.lease_until.is_none(), "{m:?}");
    assert_eq!(app.count("SELECT count(*) FROM early_status_callbacks"), 0, "applied and forgotten");
    // Later callbacks go straight to the message.
    assert_eq!(post_signed(&app, &status_path(&acme), &status_form("SMearly", "read", None), AUTH_TOKEN).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(text(&app, &format!("SELECT status FROM messages WHERE id = {id}")), "read");
    assert_eq!(app.count("SELECT count(*) FROM early_status_callbacks"), 0);
}

#[tokio::test]
async fn a_failure_keeps_its_error_code_and_a_later_delivered_does_not_move_it() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let id = outbound(&app, &acme, Some("SMfail"), "accepted");
    let mut failed = status_form("SMfail", "failed", Some("30003"));
    failed.push(("ErrorMessage".into(), "Unreachable destination handset".into()));
    assert_eq!(post_signed(&app, &status_path(&acme), &failed, AUTH_TOKEN).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(post_signed(&app, &status_path(&acme), &status_form("SMfail", "delivered", None), AUTH_TOKEN).await.status(), StatusCode::NO_CONTENT);
    let m = store::find(&mut app.conn(), acme.id, id).unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Failed);
    assert_eq!((m.error_code, m.error_message.as_deref()), (Some(30003), Some("Unreachable destination handset")));
    assert!(m.failed_at.is_some());
}

#[tokio::test]
async fn an_inbound_message_from_a_client_lands_once_and_counts_as_a_communication() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let client = client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let sessions = app.count("SELECT count(*) FROM sessions");
    let f = sms_from("SMin1", "+14155550123", "Is my order ready? ☕ 100% <sure> & \u{1}");
    let r = post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/xml"));
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(r.text().await.unwrap(), TWIML);
    assert_eq!(
        text(&app, "SELECT concat_ws('|', client_id, channel, direction, status, sender, recipient, body, button_payload IS NULL) FROM messages WHERE provider_id = 'SMin1'"),
        format!("{client}|sms|inbound|received|+14155550123|{OUR_NUMBER}|Is my order ready? ☕ 100% <sure> & |t"),
        "the control character \\u{{1}} is dropped (issue 18 item 10)"
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {client} AND last_contacted_at > now() - interval '1 minute'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM communications WHERE client_id = {client} AND kind = 'sms' AND user_id IS NULL")), 1);
    assert_eq!(app.count(&format!("SELECT coalesce(sum(n), 0) FROM communication_counts WHERE workspace_id = {}", acme.id)), 1, "the dashboard's counter");
    let (timeline, _) = switchboard::clients::timeline::page(&mut app.conn(), acme.id, client, 1).unwrap();
    assert_eq!(timeline.len(), 1, "the message once on the timeline, not again as the communication it counts as");
    // Twilio retries the same message: nothing more.
    let before = written(&app);
    let r = post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), TWIML);
    assert_eq!(written(&app), before);
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE provider_id = 'SMin1'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM sessions"), sessions, "no session created");
    // Three inbound messages in a week make the client hot under the daily rule.
    for sid in ["SMin2", "SMin3"] {
        assert_eq!(post_signed(&app, &inbound_path(&acme), &sms_from(sid, "+14155550123", "more"), AUTH_TOKEN).await.status(), StatusCode::OK);
    }
    switchboard::clients::status_rule::apply(&app.pool, acme.id, chrono::Utc::now() + chrono::Duration::seconds(1), 0).unwrap();
    assert_eq!(text(&app, &format!("SELECT status FROM clients WHERE id = {client}")), "hot");
}

#[tokio::test]
async fn an_unknown_number_creates_a_client_or_is_ignored() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    // A WhatsApp button reply from someone new.
    let f = form(&[
        ("MessageSid", "SMnew"),
        ("From", "whatsapp:+447700900123"),
        ("To", "whatsapp:+14155550100"),
        ("Body", "Yes, confirm"),
        ("ButtonPayload", "confirm-42"),
        ("ButtonText", "Yes, confirm"),
        ("ProfileName", "Bola Ade"),
        ("NumMedia", "0"),
    ]);
    let r = post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    let client = app.count(&format!("SELECT id FROM clients WHERE workspace_id = {} AND phone = '+447700900123'", acme.id));
    assert_eq!(text(&app, &format!("SELECT concat_ws('|', name, source, status_source) FROM clients WHERE id = {client}")), "Bola Ade|inbound|rule");
    assert_eq!(
        text(&app, "SELECT concat_ws('|', client_id, channel, status, body, button_payload) FROM messages WHERE provider_id = 'SMnew'"),
        format!("{client}|whatsapp|received|Yes, confirm|confirm-42")
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_logs WHERE workspace_id = {} AND actor_kind = 'webhook' AND action = 'clients.created' AND entity_id = '{client}' AND after->>'source' = 'inbound'",
            acme.id
        )),
        1
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM communications WHERE client_id = {client} AND kind = 'whatsapp'")), 1);
    // The audit trail says who did it.
    let (admin, _) = app.signed_in(Role::Admin).await;
    let page = admin.get_html("/audit-logs").await;
    assert!(page.contains("A webhook") && page.contains("created client"), "{page}");
    // Without a profile name the number is the name.
    assert_eq!(post_signed(&app, &inbound_path(&acme), &sms_from("SMnew2", "+447700900124", "hi"), AUTH_TOKEN).await.status(), StatusCode::OK);
    assert_eq!(text(&app, "SELECT name FROM clients WHERE phone = '+447700900124'"), "+447700900124");
    // A sender that is no phone number (an alphanumeric sender id) cannot be a client.
    let before = written(&app);
    let r = post_signed(&app, &inbound_path(&acme), &sms_from("SMbrand", "MyBrand", "promo"), AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(written(&app), before);
    // The workspace ignores unknown numbers: nothing written.
    diesel::sql_query(format!("UPDATE twilio_settings SET inbound_unknown = 'ignore' WHERE workspace_id = {}", acme.id)).execute(&mut app.conn()).unwrap();
    let before = written(&app);
    let r = post_signed(&app, &inbound_path(&acme), &sms_from("SMignored", "+447700900999", "who is this"), AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), TWIML);
    assert_eq!(written(&app), before);
    // A known client still gets through.
    assert_eq!(post_signed(&app, &inbound_path(&acme), &sms_from("SMknown", "+447700900124", "again"), AUTH_TOKEN).await.status(), StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE provider_id = 'SMknown'"), 1);
}

#[tokio::test]
async fn stop_opts_the_client_out_of_that_channel_and_start_opts_back_in() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let client = client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let r = post_signed(&app, &inbound_path(&acme), &sms_from("SMstop", "+14155550123", "  stop \n"), AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        text(&app, &format!("SELECT concat_ws('|', opt_out_sms_at IS NOT NULL, opt_out_sms_source, opt_out_whatsapp_at IS NULL) FROM clients WHERE id = {client}")),
        "t|inbound STOP|t"
    );
    let audit = |source: &str| {
        app.count(&format!(
            "SELECT count(*) FROM audit_logs WHERE workspace_id = {} AND actor_kind = 'webhook' AND action = 'clients.updated' AND entity_id = '{client}' \
             AND after->>'source' = '{source}' AND after->>'channel' = 'sms'",
            acme.id
        ))
    };
    assert_eq!(audit("inbound STOP"), 1);
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE provider_id = 'SMstop'"), 1, "the STOP itself is kept");
    // A second STOP changes nothing more.
    post_signed(&app, &inbound_path(&acme), &sms_from("SMstop2", "+14155550123", "UNSUBSCRIBE"), AUTH_TOKEN).await;
    assert_eq!(text(&app, &format!("SELECT opt_out_sms_source FROM clients WHERE id = {client}")), "inbound STOP");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE entity_id = '{client}' AND actor_kind = 'webhook'")), 1);
    // "please stop calling" is a message, not a keyword.
    post_signed(&app, &inbound_path(&acme), &sms_from("SMtext", "+14155550123", "please START again"), AUTH_TOKEN).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {client} AND opt_out_sms_at IS NOT NULL")), 1);
    let r = post_signed(&app, &inbound_path(&acme), &sms_from("SMstart", "+14155550123", "Start"), AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(text(&app, &format!("SELECT concat_ws('|', opt_out_sms_at IS NULL, opt_out_sms_source IS NULL) FROM clients WHERE id = {client}")), "t|t");
    assert_eq!(audit("inbound START"), 1);
    // WhatsApp STOP opts out of WhatsApp only.
    let wa = form(&[("MessageSid", "SMwastop"), ("From", "whatsapp:+14155550123"), ("To", "whatsapp:+14155550100"), ("Body", "QUIT")]);
    post_signed(&app, &inbound_path(&acme), &wa, AUTH_TOKEN).await;
    assert_eq!(
        text(&app, &format!("SELECT concat_ws('|', opt_out_whatsapp_source, opt_out_sms_at IS NULL) FROM clients WHERE id = {client}")),
        "inbound QUIT|t"
    );
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_writes_nothing() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let big = "x".repeat(65 * 1024);
    let f = sms_from("SMbig", "+14155550123", &big);
    let before = written(&app);
    let r = post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = post_signed(&app, &status_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(written(&app), before);
}

#[tokio::test]
async fn each_callback_is_one_info_line_without_its_body_or_the_token() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let acme = workspace_sealed(&app, "Acme", Some(AUTH_TOKEN), crate::logs::SECRET_KEY);
    client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    outbound(&app, &acme, Some("SMlogged"), "accepted");
    let server = crate::logs::serve_logged(&app, "debug", None).await;
    let base = server.base.clone();
    let signed = |path: &str, f: &[(String, String)]| twilio_signature(AUTH_TOKEN, &format!("{base}{path}"), f);
    let body = "my-private-words-4711";
    let inbound = sms_from("SMloggedin", "+14155550123", body);
    let r = post_to(&base, &inbound_path(&acme), &inbound, Some(&signed(&inbound_path(&acme), &inbound))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let status = status_form("SMlogged", "delivered", None);
    let r = post_to(&base, &status_path(&acme), &status, Some(&signed(&status_path(&acme), &status))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = post_to(&base, &status_path(&acme), &status, Some("Zm9yZ2Vk")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let log = server.stop();
    let info = crate::logs::lines_at(&log, "INFO");
    let handled: Vec<&&str> = info.iter().filter(|l| l.contains("\"message\":\"twilio webhook\"")).collect();
    assert_eq!(handled.len(), 2, "{log}");
    assert!(handled.iter().any(|l| l.contains("SMloggedin") && l.contains("\"webhook\":\"inbound\"")), "{handled:?}");
    assert!(handled.iter().any(|l| l.contains("SMlogged") && l.contains("\"status\":\"delivered\"")), "{handled:?}");
    assert_eq!(info.iter().filter(|l| l.contains("twilio webhook refused")).count(), 1, "{log}");
    assert!(!log.contains(body), "the message body is not logged");
    assert!(!log.contains(AUTH_TOKEN), "the auth token is not logged");
    assert!(crate::logs::lines_at(&log, "ERROR").is_empty() && crate::logs::lines_at(&log, "WARN").is_empty(), "{log}");
}

#[tokio::test]
async fn the_same_new_inbound_message_delivered_at_once_makes_one_client_and_one_message() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    // A pooled (messaging service) shape: extra parameters are signed like any other.
    let mut f = sms_from("SMrace", "+447700900555", "hello");
    f.push(("MessagingServiceSid".into(), "MG0123456789abcdef0123456789abcdef".into()));
    let path = inbound_path(&acme);
    let answers = futures_util::future::join_all((0..6).map(|_| post_signed(&app, &path, &f, AUTH_TOKEN))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK), "{:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE phone = '+447700900555' AND source = 'inbound'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE provider_id = 'SMrace'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM communications WHERE kind = 'sms'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE actor_kind = 'webhook' AND action = 'clients.created'"), 1);
}

/// A WhatsApp message from `from` (E.164), optionally a quick-reply button tap.
fn whatsapp_from(sid: &str, from: &str, body: &str, button: Option<(&str, &str)>) -> Vec<(String, String)> {
    let from = format!("whatsapp:{from}");
    let to = format!("whatsapp:{OUR_NUMBER}");
    let mut f = form(&[("AccountSid", ACCOUNT_SID), ("MessageSid", sid), ("From", &from), ("To", &to), ("Body", body), ("NumMedia", "0")]);
    if let Some((payload, text)) = button {
        f.push(("ButtonPayload".into(), payload.into()));
        f.push(("ButtonText".into(), text.into()));
    }
    f
}

#[tokio::test]
async fn control_characters_in_a_signed_inbound_message_are_stripped_and_the_message_kept() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let client = client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let f = whatsapp_from("SMnul", "+14155550123", "hel\0lo\u{7}\tworld\r\nbye\u{1b}[0m\u{85}", Some(("pay\0load\u{1}", "Y\0es\u{7f}")));
    let r = post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(
        text(&app, "SELECT concat_ws('|', body, button_payload, status) FROM messages WHERE provider_id = 'SMnul'"),
        "hello\tworld\r\nbye[0m|payload|received",
        "tab, CR and LF kept; NUL, BEL, ESC, DEL and C1 controls gone"
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM communications WHERE client_id = {client} AND kind = 'whatsapp'")), 1);
    // A button tap with an empty body is noted by its text, cleaned too.
    let f = whatsapp_from("SMnul2", "+14155550123", "", Some(("p", "Y\0es")));
    assert_eq!(post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await.status(), StatusCode::OK);
    assert_eq!(app.count(&format!("SELECT count(*) FROM communications WHERE client_id = {client} AND notes = 'Yes'")), 1);
}

/// A campaign batch on WhatsApp with one recipient whose message has `provider_id` and
/// `status`: (message id, batch id).
fn campaign_message(app: &TestApp, ws: &Ws, client: i64, provider_id: &str, status: &str) -> (i64, i64) {
    let ws = ws.id;
    diesel::sql_query(format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({ws}, 'Spring offer', ARRAY['whatsapp'], 'active')"))
        .execute(&mut app.conn())
        .unwrap();
    let campaign = app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {ws}"));
    diesel::sql_query(format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, status) VALUES ({ws}, {campaign}, 'whatsapp', 'text', 'sending')"))
        .execute(&mut app.conn())
        .unwrap();
    let batch = app.count(&format!("SELECT max(id) FROM campaign_batches WHERE workspace_id = {ws}"));
    diesel::sql_query(format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, batch_id) \
         VALUES ({ws}, {client}, 'whatsapp', 'outbound', '{provider_id}', '{OUR_NUMBER}', '+14155550123', 'Hello', '{status}', {batch})"
    ))
    .execute(&mut app.conn())
    .unwrap();
    let message = app.count(&format!("SELECT id FROM messages WHERE workspace_id = {ws} AND provider_id = '{provider_id}'"));
    diesel::sql_query(format!("INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, message_id) VALUES ({ws}, {batch}, {client}, '{status}', {message})"))
        .execute(&mut app.conn())
        .unwrap();
    (message, batch)
}

#[tokio::test]
async fn an_inbound_only_status_on_an_outbound_message_is_200_and_changes_nothing() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let client = client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let one_off = outbound(&app, &acme, Some("SMoneoff"), "delivered");
    let (campaign_msg, batch) = campaign_message(&app, &acme, client, "SMcampaign", "sent");
    for status in ["received", "receiving"] {
        for sid in ["SMoneoff", "SMcampaign", "SMnotyet"] {
            let r = post_signed(&app, &status_path(&acme), &status_form(sid, status, None), AUTH_TOKEN).await;
            assert_eq!(r.status(), StatusCode::OK, "{status} on {sid}: {}", r.text().await.unwrap());
        }
    }
    assert_eq!(text(&app, &format!("SELECT status FROM messages WHERE id = {one_off}")), "delivered");
    assert_eq!(text(&app, &format!("SELECT status FROM messages WHERE id = {campaign_msg}")), "sent");
    assert_eq!(text(&app, &format!("SELECT status FROM campaign_recipients WHERE batch_id = {batch}")), "sent");
    assert_eq!(app.count("SELECT count(*) FROM early_status_callbacks"), 0, "not kept for a send recorded later");
    // The messages still move on a genuine outbound status.
    let r = post_signed(&app, &status_path(&acme), &status_form("SMcampaign", "delivered", None), AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(text(&app, &format!("SELECT status FROM campaign_recipients WHERE batch_id = {batch}")), "delivered");
}

/// The opt-out column's source and the word the audit entry names, for `channel`.
fn opted_out(app: &TestApp, ws: &Ws, client: i64, channel: &str) -> String {
    text(
        app,
        &format!(
            "SELECT concat_ws('|', c.opt_out_{channel}_at IS NOT NULL, c.opt_out_{channel}_source, \
               (SELECT string_agg(a.after->>'word', ',' ORDER BY a.id) FROM audit_logs a WHERE a.workspace_id = {} AND a.entity_id = '{client}' \
                  AND a.actor_kind = 'webhook' AND a.action = 'clients.updated' AND a.after->>'channel' = '{channel}')) \
             FROM clients c WHERE c.id = {client}",
            ws.id
        ),
    )
}

#[tokio::test]
async fn every_opt_out_word_of_the_issue_opts_out_on_both_channels_and_the_audit_names_it() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let words = [
        ("STOP.", "STOP"),
        ("stop!", "STOP"),
        ("Stop please", "STOP"),
        ("OPTOUT", "OPTOUT"),
        ("REVOKE", "REVOKE"),
        ("opt out", "OPT OUT"),
        ("\u{FF33}\u{FF34}\u{FF2F}\u{FF30}", "STOP"),
        ("st\u{200B}op", "STOP"),
        ("\u{FEFF}STOP\u{200D}", "STOP"),
        ("STOPP", "STOPP"),
        ("ARRET", "ARRET"),
        ("Arrêt", "ARRET"),
        ("PARAR", "PARAR"),
        ("baja", "BAJA"),
        ("Unsubscribe!!", "UNSUBSCRIBE"),
        ("Opt-Out", "OPT OUT"),
    ];
    for (i, (word, named)) in words.iter().enumerate() {
        for (channel, prefix) in [("sms", "SMS"), ("whatsapp", "WA")] {
            let phone = format!("+1415777{:02}{}", i, if channel == "sms" { 1 } else { 2 });
            let client = client_with_phone(&app, &acme, "Opt Out", &phone);
            let sid = format!("{prefix}opt{i}");
            let f = if channel == "sms" { sms_from(&sid, &phone, word) } else { whatsapp_from(&sid, &phone, word, None) };
            let r = post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
            assert_eq!(r.status(), StatusCode::OK, "{word:?} on {channel}");
            assert_eq!(opted_out(&app, &acme, client, channel), format!("t|inbound {named}|{named}"), "{word:?} on {channel}");
            let other = if channel == "sms" { "whatsapp" } else { "sms" };
            assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {client} AND opt_out_{other}_at IS NULL")), 1, "{word:?}: that channel only");
        }
    }
    // Ordinary messages that merely contain such words opt nobody out.
    let client = client_with_phone(&app, &acme, "Chatty", "+14157770999");
    for (i, body) in ["Please don't stop the deliveries", "End of the month works", "Cancel my appointment on Friday", "quite happy", "stopped by yesterday", "baja california trip"]
        .iter()
        .enumerate()
    {
        post_signed(&app, &inbound_path(&acme), &sms_from(&format!("SMchat{i}"), "+14157770999", body), AUTH_TOKEN).await;
        assert_eq!(opted_out(&app, &acme, client, "sms"), "f", "{body:?}");
    }
}

#[tokio::test]
async fn after_stop_a_yes_button_or_a_yes_text_keeps_the_client_out_and_only_start_opts_in() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let client = client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let path = inbound_path(&acme);
    assert_eq!(post_signed(&app, &path, &whatsapp_from("WAstop", "+14155550123", "STOP", None), AUTH_TOKEN).await.status(), StatusCode::OK);
    assert_eq!(post_signed(&app, &path, &sms_from("SMstop", "+14155550123", "Stop."), AUTH_TOKEN).await.status(), StatusCode::OK);
    assert_eq!(opted_out(&app, &acme, client, "whatsapp"), "t|inbound STOP|STOP");
    assert_eq!(opted_out(&app, &acme, client, "sms"), "t|inbound STOP|STOP");
    let stays_out: Vec<Vec<(String, String)>> = vec![
        whatsapp_from("WAyesbtn", "+14155550123", "Yes", Some(("yes", "Yes"))),
        whatsapp_from("WAyes", "+14155550123", "yes", None),
        whatsapp_from("WAYES", "+14155550123", "YES!", None),
        // A button whose title or payload is an opt-in word is still a button.
        whatsapp_from("WAstartbtn", "+14155550123", "START", Some(("START", "START"))),
        whatsapp_from("WAunstopbtn", "+14155550123", "Unstop", Some(("unstop", "Unstop"))),
        sms_from("SMyes", "+14155550123", "yes"),
        sms_from("SMY", "+14155550123", "Y"),
        sms_from("SMstartsentence", "+14155550123", "start sending me offers again? no thanks"),
    ];
    for f in &stays_out {
        assert_eq!(post_signed(&app, &path, f, AUTH_TOKEN).await.status(), StatusCode::OK);
        assert_eq!(opted_out(&app, &acme, client, "whatsapp"), "t|inbound STOP|STOP", "{f:?}");
        assert_eq!(opted_out(&app, &acme, client, "sms"), "t|inbound STOP|STOP", "{f:?}");
    }
    // An explicit START (typed, any case, punctuation ignored) opts back in, on its channel.
    assert_eq!(post_signed(&app, &path, &whatsapp_from("WAstart", "+14155550123", "Start!", None), AUTH_TOKEN).await.status(), StatusCode::OK);
    assert_eq!(opted_out(&app, &acme, client, "whatsapp"), "f|STOP,START");
    assert_eq!(opted_out(&app, &acme, client, "sms"), "t|inbound STOP|STOP");
    assert_eq!(post_signed(&app, &path, &sms_from("SMunstop", "+14155550123", "UNSTOP"), AUTH_TOKEN).await.status(), StatusCode::OK);
    assert_eq!(opted_out(&app, &acme, client, "sms"), "f|STOP,UNSTOP");
}

/// HMAC-SHA256 of the URL and the sorted pairs, base64: how Twilio signs under a Webhook
/// Setting (twilio-node's WebhookSignatureValidation example: "only the hash changes").
fn sha256_signature(token: &str, url: &str, form: &[(String, String)]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut sorted: Vec<&(String, String)> = form.iter().collect();
    sorted.sort();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn post_with_headers(app: &TestApp, path: &str, form: &[(String, String)], headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(format!("{}{path}", app.base)).form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("webhook request")
}

#[tokio::test]
async fn a_callback_signed_with_hmac_sha256_under_the_signature_settings_header_is_accepted() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let message = outbound(&app, &acme, Some("SMsha256"), "accepted");
    let path = status_path(&acme);
    let f = status_form("SMsha256", "delivered", None);
    let sha256 = sha256_signature(AUTH_TOKEN, &format!("{}{path}", app.base), &f);
    let settings = "key=webhooks_sharedkey_01jx,algorithm=HMAC_SHA256";
    let before = written(&app);
    for (what, headers, reason) in [
        ("no settings header", vec![("X-Twilio-Signature", sha256.as_str())], "does not match."),
        ("an algorithm Twilio's helpers do not know", vec![("X-Twilio-Signature", sha256.as_str()), ("X-Twilio-Webhooks-Signature-Settings", "key=k,algorithm=HMAC_SHA512")], "names an algorithm"),
    ] {
        let r = post_with_headers(&app, &path, &f, &headers).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        assert!(r.text().await.unwrap().contains(reason), "{what}");
    }
    let forged = sha256_signature("0ther0ther0ther0ther0ther0ther00", &format!("{}{path}", app.base), &f);
    let r = post_with_headers(&app, &path, &f, &[("X-Twilio-Signature", &forged), ("X-Twilio-Webhooks-Signature-Settings", settings)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another token");
    assert_eq!(written(&app), before);
    let r = post_with_headers(&app, &path, &f, &[("X-Twilio-Signature", &sha256), ("X-Twilio-Webhooks-Signature-Settings", settings)]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", r.text().await.unwrap());
    assert_eq!(text(&app, &format!("SELECT status FROM messages WHERE id = {message}")), "delivered");
}

#[tokio::test]
async fn a_parameter_repeated_with_identical_values_is_accepted_signed_once_or_twice() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let path = inbound_path(&acme);
    let url = format!("{}{path}", app.base);
    for (sid, once) in [("SMtwice", false), ("SMonce", true)] {
        let mut f = sms_from(sid, "+14155550123", "hello");
        f.push(("Tag".into(), "vip".into()));
        f.push(("Tag".into(), "vip".into()));
        // twilio-python signs a repeated identical value once; the form still carries it twice.
        let signed_over: Vec<(String, String)> = if once { f[..f.len() - 1].to_vec() } else { f.clone() };
        let r = post(&app, &path, &f, Some(&twilio_signature(AUTH_TOKEN, &url, &signed_over))).await;
        assert_eq!(r.status(), StatusCode::OK, "signed {}", if once { "once" } else { "twice" });
        assert_eq!(app.count(&format!("SELECT count(*) FROM messages WHERE provider_id = '{sid}'")), 1);
    }
    // A value signed once that the form carries with another value is still refused.
    let mut f = sms_from("SMdiffer", "+14155550123", "hello");
    f.push(("Tag".into(), "vip".into()));
    let signed_over = f.clone();
    f.push(("Tag".into(), "gold".into()));
    assert_eq!(post(&app, &path, &f, Some(&twilio_signature(AUTH_TOKEN, &url, &signed_over))).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_json_callback_signed_by_its_body_sha256_is_accepted_and_read() {
    use sha2::Digest;
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let message = outbound(&app, &acme, Some("SMjson"), "accepted");
    let body = r#"{"MessageSid":"SMjson","MessageStatus":"delivered","ErrorCode":null}"#;
    let path = format!("{}?bodySHA256={}", status_path(&acme), hex::encode(sha2::Sha256::digest(body.as_bytes())));
    let signature = twilio_signature(AUTH_TOKEN, &format!("{}{path}", app.base), &[]);
    let send = |body: &'static str| {
        reqwest::Client::new()
            .post(format!("{}{path}", app.base))
            .header("Content-Type", "application/json")
            .header("X-Twilio-Signature", signature.clone())
            .body(body)
            .send()
    };
    let r = send(r#"{"MessageSid":"SMjson","MessageStatus":"read","ErrorCode":null}"#).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a body that does not hash to bodySHA256");
    let r = send(body).await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", r.text().await.unwrap());
    assert_eq!(text(&app, &format!("SELECT status FROM messages WHERE id = {message}")), "delivered");
}

/// Issue 19 item 6: a message is a communication in both directions. An outbound message
/// counts once, when the provider accepts it (its id recorded), whatever path sent it: the
/// client's last contact moves, the dashboard's counter counts it, three in a week make the
/// client hot; a send refused before the provider took it is none, and later callbacks add
/// nothing.
#[tokio::test]
async fn an_outbound_message_the_provider_accepts_is_a_communication_as_an_inbound_one_is() {
    let app = spawn_app().await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    let client = client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let send = |n: i64| {
        let id = outbound(&app, &acme, None, "sending");
        diesel::sql_query(format!("UPDATE messages SET client_id = {client}, body = 'Hello {n}' WHERE id = {id}")).execute(&mut app.conn()).unwrap();
        id
    };
    let communications = || app.count(&format!("SELECT count(*) FROM communications WHERE client_id = {client}"));
    let refused = send(0);
    store::fail(&mut app.conn(), acme.id, refused, Some(21211), "The 'To' number is not a valid phone number.").unwrap();
    assert_eq!(communications(), 0, "refused at the send: no communication");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {client} AND last_contacted_at IS NULL")), 1);

    let first = send(1);
    assert!(store::record_accepted(&mut app.conn(), acme.id, first, "SMout1", MessageStatus::Accepted).unwrap());
    assert_eq!(app.count(&format!("SELECT count(*) FROM communications WHERE client_id = {client} AND kind = 'whatsapp' AND notes = 'Hello 1'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {client} AND last_contacted_at > now() - interval '1 minute'")), 1);
    assert_eq!(app.count(&format!("SELECT coalesce(sum(n), 0) FROM communication_counts WHERE workspace_id = {}", acme.id)), 1, "the dashboard's counter");
    for status in ["sent", "delivered", "read"] {
        assert_eq!(post_signed(&app, &status_path(&acme), &status_form("SMout1", status, None), AUTH_TOKEN).await.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(communications(), 1, "callbacks add nothing");
    let (timeline, _) = switchboard::clients::timeline::page(&mut app.conn(), acme.id, client, 1).unwrap();
    assert_eq!(timeline.len(), 2, "each message once on the timeline, not again as its communication");

    for (n, sid) in [(2, "SMout2"), (3, "SMout3")] {
        let id = send(n);
        assert!(store::record_accepted(&mut app.conn(), acme.id, id, sid, MessageStatus::Accepted).unwrap());
    }
    assert_eq!(communications(), 3);
    switchboard::clients::status_rule::apply(&app.pool, acme.id, chrono::Utc::now() + chrono::Duration::seconds(1), 0).unwrap();
    assert_eq!(text(&app, &format!("SELECT status FROM clients WHERE id = {client}")), "hot");
}

/// Issue 22 part 1: an inbound message's attachments are recorded with the message (the
/// provider's URL, the declared type, in order), and the inbox and the conversation say what
/// they are rather than showing an empty bubble.
#[tokio::test]
async fn inbound_media_are_recorded_and_named_in_the_inbox_and_the_conversation() {
    // No job workers: the attachments stay waiting (fetching them is tests/api/chat_media.rs,
    // against the fake Twilio; these URLs are never called).
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let acme = workspace(&app, "Acme", Some(AUTH_TOKEN));
    client_with_phone(&app, &acme, "Amara Okafor", "+14155550123");
    let mut f = whatsapp_from("MMmedia1", "+14155550123", "", None);
    f.retain(|(k, _)| k != "NumMedia");
    f.extend(form(&[
        ("NumMedia", "2"),
        ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
        ("MediaContentType1", "application/pdf"),
    ]));
    let r = post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        text(&app, "SELECT string_agg(concat_ws('|', position, declared_type, status, right(provider_url, 3)), ',' ORDER BY position) FROM media"),
        "0|image/jpeg|pending|ME1,1|application/pdf|pending|ME2"
    );
    // Twilio retries: the attachments are not recorded twice.
    post_signed(&app, &inbound_path(&acme), &f, AUTH_TOKEN).await;
    assert_eq!(app.count("SELECT count(*) FROM media"), 2);
    let (admin, _) = app.signed_in(Role::Admin).await;
    let inbox = admin.get_html("/chat").await;
    assert!(inbox.contains("📷 Photo"), "{inbox}");
    let chat = app.count("SELECT id FROM chats");
    let page = admin.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains(r#"<p class="attachment attachment-image">📷 Photo <span class="muted">(downloading)</span></p>"#), "{page}");
    assert!(page.contains(r#"<p class="attachment attachment-document">📄 Document <span class="muted">(downloading)</span></p>"#), "{page}");
    // A caption is shown under its photo.
    let mut captioned = f.clone();
    captioned.iter_mut().for_each(|(k, v)| match k.as_str() {
        "MessageSid" => *v = "MMmedia2".into(),
        "Body" => *v = "The box arrived dented".into(),
        _ => {}
    });
    post_signed(&app, &inbound_path(&acme), &captioned, AUTH_TOKEN).await;
    let inbox = admin.get_html("/chat").await;
    assert!(inbox.contains("The box arrived dented"), "{inbox}");
}
