//! Email through a real SMTP server on 127.0.0.1: settings, test email, a server that is
//! down then back, a permanent refusal, no server at all; password reset and invitations.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::smtp::SmtpSink;
use crate::support::{Browser, PASSWORD, TestApp, location, spawn_app, spawn_app_with};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn job_state(app: &TestApp, kind: &str) -> (String, i64, String) {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempts: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        error: String,
    }
    let r: Row = diesel::sql_query(format!("SELECT status, attempts, coalesce(last_error, '') AS error FROM jobs WHERE kind = '{kind}' ORDER BY id DESC LIMIT 1"))
        .get_result(&mut app.conn())
        .unwrap();
    (r.status, r.attempts as i64, r.error)
}

async fn wait_job(app: &TestApp, kind: &str, want: &str) -> (String, i64, String) {
    for _ in 0..200 {
        let state = job_state(app, kind).await;
        if state.0 == want {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {kind} job never became {want}: {:?}", job_state(app, kind).await);
}

/// Makes waiting or retrying email jobs due now (instead of after their backoff).
fn due_now(app: &TestApp) {
    diesel::sql_query("UPDATE jobs SET run_at = now() WHERE status = 'failed'").execute(&mut app.conn()).unwrap();
}

#[tokio::test]
async fn a_test_email_survives_the_smtp_server_being_down_and_arrives_when_it_is_back() {
    let port = free_port();
    let app = spawn_app_with(|s| s.smtp_url = Some(format!("smtp://127.0.0.1:{port}?from=crm%40acme.test").parse().unwrap())).await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let page = admin.get_html("/settings/smtp").await;
    assert!(page.contains("SMTP_URL"), "the page says where mail goes");
    let r = admin.post("/settings/smtp/test", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Nobody listens: the job fails, counts the attempt and waits for a retry.
    let (_, attempts, error) = wait_job(&app, "send-email", "failed").await;
    assert_eq!(attempts, 1);
    assert!(error.contains("SMTP"), "{error}");
    let sink = SmtpSink::start_on(port);
    due_now(&app);
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, vec![me.email.clone()]);
    assert_eq!(mail[0].from, "crm@acme.test");
    assert_eq!(mail[0].subject(), "Switchboard test email");
    assert!(mail[0].decoded().contains("Email works."));
    wait_job(&app, "send-email", "done").await;
}

#[tokio::test]
async fn without_smtp_mail_waits_without_using_attempts_and_goes_once_settings_are_saved() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    admin.post("/settings/smtp/test", &[]).await;
    let (_, attempts, error) = wait_job(&app, "send-email", "waiting").await;
    assert_eq!(attempts, 0, "waiting for a server does not use up attempts");
    assert!(error.contains("No SMTP server is configured"));
    let page = admin.get_html("/settings/smtp").await;
    assert!(page.contains("No SMTP server is set up") && page.contains("1 waiting now"), "a clear notice");
    // On the jobs page it is waiting, not failed.
    let jobs = admin.get_html("/settings/jobs").await;
    assert!(jobs.contains(r#"id="count-waiting">1<"#) && jobs.contains(r#"id="count-failed">0<"#), "counted as waiting: {jobs}");
    assert!(admin.get_html("/settings/jobs?status=waiting").await.contains("No SMTP server is configured"));
    // Bad settings are refused with reasons; good ones are saved with the password sealed.
    let r = admin.post("/settings/smtp", &[("host", "bad host"), ("port", "99999"), ("tls_mode", "ssl3"), ("from_address", "nope")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    for message in ["host name", "port is a number", "Choose STARTTLS", "Enter the sender"] {
        assert!(body.contains(message), "{message}");
    }
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let fields = [("host", "127.0.0.1"), ("port", port.as_str()), ("tls_mode", "none"), ("username", ""), ("password", "s3cret-pass"), ("from_address", "Acme CRM <crm@acme.test>")];
    assert_eq!(admin.post("/settings/smtp", &fields).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM smtp_settings WHERE position('s3cret-pass' in encode(password_sealed, 'escape')) = 0"), 1, "sealed, not plain");
    let page = admin.get_html("/settings/smtp").await;
    assert!(!page.contains("s3cret-pass") && page.contains("saved; leave blank to keep it"));
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, vec![me.email.clone()]);
    assert_eq!(mail[0].from, "crm@acme.test");
    wait_job(&app, "send-email", "done").await;
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'settings.smtp_saved' AND (after->>'password_changed')::bool"), 1);
    // Saving again without a password keeps the sealed one.
    let keep = [("host", "127.0.0.1"), ("port", port.as_str()), ("tls_mode", "none"), ("password", ""), ("from_address", "crm@acme.test")];
    assert_eq!(admin.post("/settings/smtp", &keep).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM smtp_settings WHERE password_sealed IS NOT NULL"), 1);
}

#[tokio::test]
async fn a_permanent_smtp_refusal_kills_the_job_and_keeps_the_reason() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| s.smtp_url = Some(url.parse().unwrap())).await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    sink.refuse.lock().unwrap().push(me.email.clone());
    admin.post("/settings/smtp/test", &[]).await;
    let (_, _, error) = wait_job(&app, "send-email", "dead").await;
    assert!(error.contains("550") || error.contains("refused"), "{error}");
    assert!(admin.get_html("/settings/jobs?status=dead").await.contains("No such user"));
}

async fn forgot(b: &Browser, email: &str) -> reqwest::Response {
    b.post("/password/forgot", &[("email", email)]).await
}

#[tokio::test]
async fn password_reset_by_email_is_single_use_ends_other_sessions_and_expires() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(url.parse().unwrap());
        s.public_url = Some("http://crm.acme.test".parse().unwrap());
    })
    .await;
    let (elsewhere, me) = app.signed_in(Role::Agent).await;
    let visitor = app.browser();
    // The same answer for a known and an unknown email.
    let known = forgot(&visitor, &me.email.to_uppercase()).await;
    assert_eq!(known.status(), StatusCode::OK);
    let known = known.text().await.unwrap();
    let unknown = forgot(&visitor, "nobody@acme.test").await.text().await.unwrap();
    let strip = |s: &str, e: &str| s.replace(e, "EMAIL").replace(&e.to_uppercase(), "EMAIL").lines().filter(|l| !l.contains("csrf")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&known, &me.email), strip(&unknown, "nobody@acme.test"));
    let mail = sink.wait_for(1).await;
    assert_eq!(mail.len(), 1, "only the known address gets mail");
    assert_eq!(mail[0].to, vec![me.email.clone()]);
    assert_eq!(mail[0].subject(), "Reset your Switchboard password");
    let link = mail[0].link("/password/reset/").expect("a reset link");
    assert!(link.starts_with("http://crm.acme.test/password/reset/"), "{link}");
    let path = link.trim_start_matches("http://crm.acme.test").to_string();
    let token = path.rsplit('/').next().unwrap().to_string();
    assert_eq!(app.count(&format!("SELECT count(*) FROM auth_tokens WHERE token_hash = '{token}'")), 0, "only the hash is stored");
    assert!(visitor.get_html(&path).await.contains("Choose a new password"));
    let r = visitor.post(&path, &[("password", "short"), ("confirm", "other")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = visitor.post(&path, &[("password", "a brand new password"), ("confirm", "a brand new password")]).await;
    assert_eq!(location(&r), "/login");
    assert_eq!(elsewhere.get("/clients").await.status(), StatusCode::FOUND, "other sessions ended");
    assert_eq!(app.browser().login(&me.email, "a brand new password").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.browser().login(&me.email, PASSWORD).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Used once, the link is dead.
    let again = visitor.get(&path).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert!(again.text().await.unwrap().contains("no longer works"));
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'auth.password_reset'"), 1);
    // A fresh link expires after an hour.
    forgot(&visitor, &me.email).await;
    let mail = sink.wait_for(2).await;
    let path = mail[1].link("/password/reset/").unwrap().trim_start_matches("http://crm.acme.test").to_string();
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(visitor.get(&path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forgot_password_is_throttled_per_ip() {
    let app = spawn_app().await;
    let b = app.browser();
    for i in 0..10 {
        assert_eq!(forgot(&b, &format!("someone{i}@acme.test")).await.status(), StatusCode::OK);
    }
    let r = forgot(&b, "someone-else@acme.test").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_invitation_email_lets_the_new_user_choose_a_name_and_password() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| s.smtp_url = Some(url.parse().unwrap())).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let r = admin.post("/settings/users", &[("email", "new@acme.test"), ("name", "New Person"), ("role", "agent"), ("password", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Until accepted, no password works.
    assert_eq!(app.browser().login("new@acme.test", "!invited").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["new@acme.test".to_string()]);
    assert!(mail[0].subject().contains("invited you to Acme"), "{}", mail[0].subject());
    let link = mail[0].link("/invitations/").expect("an invitation link");
    let path = format!("/invitations/{}", link.rsplit('/').next().unwrap());
    let visitor = app.browser();
    assert!(visitor.get_html(&path).await.contains("Join Switchboard"));
    let r = visitor.post(&path, &[("name", "Neu Person"), ("password", "my own password"), ("confirm", "my own password")]).await;
    assert_eq!(location(&r), "/login");
    assert_eq!(app.browser().login("new@acme.test", "my own password").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM users WHERE email = 'new@acme.test' AND name = 'Neu Person'"), 1);
    assert_eq!(visitor.get(&path).await.status(), StatusCode::NOT_FOUND, "single use");
    // A reset link is not an invitation link and the other way round.
    assert_eq!(visitor.get(&path.replace("/invitations/", "/password/reset/")).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn saving_smtp_settings_again_replaces_every_field_and_a_blank_username_clears_it() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let first = [("host", "smtp.acme.test"), ("port", "465"), ("tls_mode", "tls"), ("username", "mailer"), ("password", "s3cret-pass"), ("from_address", "crm@acme.test")];
    assert_eq!(admin.post("/settings/smtp", &first).await.status(), StatusCode::SEE_OTHER);
    let second = [("host", "mail.acme.test"), ("port", "587"), ("tls_mode", "starttls"), ("username", ""), ("password", ""), ("from_address", "team@acme.test")];
    assert_eq!(admin.post("/settings/smtp", &second).await.status(), StatusCode::SEE_OTHER);
    let w = me.workspace_id;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM smtp_settings WHERE workspace_id = {w} AND host = 'mail.acme.test' AND port = 587 AND tls_mode = 'starttls' \
             AND username IS NULL AND from_address = 'team@acme.test' AND password_sealed IS NOT NULL"
        )),
        1,
        "the second save replaced the fields, cleared the username and kept the password"
    );
    assert_eq!(app.count("SELECT count(*) FROM smtp_settings"), 1);
}

#[tokio::test]
async fn without_smtp_an_invitation_shows_its_link_once_to_the_admin_and_does_not_claim_it_was_sent() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let r = admin.post("/settings/users", &[("email", "new@acme.test"), ("name", "New Person"), ("role", "agent"), ("password", "")]).await;
    assert_eq!(r.status(), StatusCode::OK, "the page answers at once, with the link");
    let page = r.text().await.unwrap();
    assert!(!page.contains("on its way"), "nothing was sent: {page}");
    assert!(page.contains("No email server is set up"), "{page}");
    let link = page.split("value=\"").find(|v| v.contains("/invitations/")).expect("a link to copy").split('"').next().unwrap().to_string();
    // The link works for the invitee.
    let path = format!("/invitations/{}", link.rsplit('/').next().unwrap());
    assert_eq!(app.browser().get(&path).await.status(), StatusCode::OK);
    // Shown once: the users page does not show it again, and it is queued as well.
    assert!(!admin.get_html("/settings/users").await.contains("/invitations/"));
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-email'"), 1);
}

#[tokio::test]
async fn an_email_change_waits_for_the_link_mailed_to_the_new_address_and_applies_once() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(url.parse().unwrap());
        s.public_url = Some("http://crm.acme.test".parse().unwrap());
    })
    .await;
    let (me_browser, me) = app.signed_in(Role::Agent).await;
    app.create_user("Acme", "taken@acme.test", Role::Agent);
    let page = me_browser.get_html("/account").await;
    assert!(page.contains(&format!(r#"<strong hx-disable>{}</strong>"#, me.email)), "{page}");
    assert!(page.contains(r#"action="/account/password""#) && page.contains(r#"action="/account/name""#), "{page}");
    // The name.
    assert_eq!(location(&me_browser.post("/account/name", &[("name", "Ada Lovelace")]).await), "/account");
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND name = 'Ada Lovelace'", me.id)), 1);
    assert_eq!(me_browser.post("/account/name", &[("name", " ")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Refused addresses: not an email, one's own, another account's (any case).
    for (email, message) in [("nope", "Enter an email address"), (me.email.as_str(), "already your address"), ("Taken@Acme.test", "already has this address")] {
        let r = me_browser.post("/account/email", &[("email", email)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{email}");
        let body = r.text().await.unwrap();
        assert!(body.contains(message), "{email}: {body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM auth_tokens WHERE purpose = 'email'"), 0);
    // A free one: stored as pending, mailed to the new address, the old one stays.
    assert_eq!(location(&me_browser.post("/account/email", &[("email", "Ada@New.test")]).await), "/account");
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND email = '{}'", me.id, me.email)), 1, "not changed yet");
    let page = me_browser.get_html("/account").await;
    assert!(page.contains(r#"Waiting for confirmation at <strong hx-disable>ada@new.test</strong>"#), "{page}");
    let mail = sink.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["ada@new.test".to_string()]);
    assert_eq!(mail[0].subject(), "Confirm your new Switchboard email address");
    let link = mail[0].link("/account/email/").expect("a confirmation link");
    let path = link.trim_start_matches("http://crm.acme.test").to_string();
    let token = path.rsplit('/').next().unwrap().to_string();
    assert_eq!(app.count(&format!("SELECT count(*) FROM auth_tokens WHERE token_hash = '{token}'")), 0, "only the hash is stored");
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-email' AND payload::text LIKE '%/account/email/%'"), 0, "the link is sealed in the queue");
    // Opening the link (in any browser) shows the address; confirming applies it, once.
    let visitor = app.browser();
    let confirm = visitor.get_html(&path).await;
    assert!(confirm.contains(r#"<strong hx-disable>ada@new.test</strong>"#), "{confirm}");
    assert_eq!(location(&visitor.post(&path, &[]).await), "/account");
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND email = 'ada@new.test'", me.id)), 1);
    assert_eq!(visitor.post(&path, &[]).await.status(), StatusCode::NOT_FOUND, "single use");
    assert_eq!(visitor.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert!(!me_browser.get_html("/account").await.contains("Waiting for confirmation"));
    for action in ["users.name_changed", "users.email_change_requested", "users.email_changed"] {
        assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = '{action}' AND entity_id = '{}'", me.id)), 1, "{action}");
    }
    // Signing in takes the new address, not the old one.
    assert_eq!(location(&app.browser().login("ada@new.test", PASSWORD).await), "/");
    assert_eq!(app.browser().login(&me.email, PASSWORD).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
