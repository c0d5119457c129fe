//! Issue 10 item 7: the first-run questions on `/setup` (time zone, phone country) and the
//! dashboard's getting-started checklist.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{PASSWORD, TestApp, assert_redirects_to, spawn_app, spawn_app_with};

const ACCOUNT: [(&str, &str); 4] = [("workspace", "Acme"), ("name", "Ann"), ("email", "ann@acme.test"), ("password", PASSWORD)];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    ACCOUNT.iter().copied().chain(extra.iter().copied()).collect()
}

fn squash(html: &str) -> String {
    html.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn setup_offers_a_searchable_zone_list_and_a_country_select_and_stores_both() {
    let app = spawn_app().await;
    let browser = app.browser();
    let form = browser.get_html("/setup").await;
    // The zone is typed into an input backed by a datalist of canonical zones with their
    // country and offset; UTC is the default without JavaScript.
    assert!(form.contains(r#"<input id="time_zone" name="time_zone" list="time_zone-list" value="UTC" required"#), "{form}");
    assert!(form.contains("data-zone-from-browser"), "the browser may replace the default zone");
    assert!(form.contains(r#"<option value="Europe/Istanbul" data-country="TR">Istanbul, Türkiye (UTC+03:00)</option>"#), "{form}");
    assert!(!form.contains(r#"<option value="US/Pacific""#), "aliases are not offered");
    assert!(form.contains(r#"<select id="default_country" name="default_country" data-follows-zone="time_zone">"#), "{form}");
    assert!(form.contains(r#"<option value="TR">Türkiye</option>"#) && form.contains(r#"<option value="GB">United Kingdom</option>"#));

    let ok = browser.post("/setup", &with(&[("time_zone", "Europe/Istanbul"), ("default_country", "TR")])).await;
    assert_redirects_to(&ok, "/");
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE time_zone = 'Europe/Istanbul' AND default_country = 'TR'"), 1);
    let settings = browser.get_html("/settings/workspace").await;
    assert!(settings.contains(r#"<input id="ws-zone" name="time_zone" list="ws-zone-list" value="Europe/Istanbul""#), "{settings}");
    assert!(settings.contains(r#"<option value="TR" selected>Türkiye</option>"#), "{settings}");
    assert!(!settings.contains("data-zone-from-browser"), "a stored zone is never replaced by the browser's");
}

#[tokio::test]
async fn a_bad_zone_is_a_field_error_and_creates_nothing() {
    let app = spawn_app().await;
    let browser = app.browser();
    let bad = browser.post("/setup", &with(&[("time_zone", "Mars/Olympus_Mons"), ("default_country", "TR")])).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = bad.text().await.unwrap();
    let error = r#"<p class="field-error" id="time_zone-error">&#34;Mars/Olympus_Mons&#34; is not a time zone; pick one from the list, or type a city or a country.</p>"#;
    assert!(body.contains(error), "{body}");
    assert!(body.contains(r#"value="Mars/Olympus_Mons""#) && body.contains(r#"aria-invalid="true" aria-describedby="time_zone-error""#));
    assert!(body.contains(r#"<option value="TR" selected>Türkiye</option>"#), "the country stays chosen");
    assert_eq!(app.count("SELECT count(*) FROM workspaces"), 0);
    assert_eq!(app.count("SELECT count(*) FROM users"), 0);
}

#[tokio::test]
async fn without_a_country_the_zone_s_country_is_used_and_utc_needs_one() {
    let app = spawn_app().await;
    let browser = app.browser();
    let bad = browser.post("/setup", &with(&[("time_zone", "UTC"), ("default_country", "")])).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains(r#"<p class="field-error" id="default_country-error">Choose the country most of your clients"#));
    let bad = browser.post("/setup", &with(&[("time_zone", "UTC"), ("default_country", "ZZ")])).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM workspaces"), 0);
    let ok = browser.post("/setup", &with(&[("time_zone", "Europe/Berlin")])).await;
    assert_redirects_to(&ok, "/");
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE time_zone = 'Europe/Berlin' AND default_country = 'DE'"), 1);
}

#[tokio::test]
async fn the_workspace_settings_use_the_same_picker_and_validate_the_zone() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let page = admin.get_html("/settings/workspace").await;
    assert!(page.contains(r#"<datalist id="ws-zone-list">"#) && !page.contains(r#"<select id="ws-zone""#), "{page}");
    let fields = [("name", "Acme"), ("time_zone", "Nowhere/Town"), ("default_country", "US"), ("daily_jobs_at", "07:00"), ("hand_status_days", "30")];
    let bad = admin.post("/settings/workspace", &fields).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("is not a time zone; pick one from the list"));
    let ok = admin.post("/settings/workspace", &[("name", "Acme"), ("time_zone", " Asia/Tokyo "), ("default_country", "JP"), ("daily_jobs_at", "07:00"), ("hand_status_days", "30")]).await;
    assert_redirects_to(&ok, "/settings/workspace");
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE time_zone = 'Asia/Tokyo' AND default_country = 'JP'"), 1);
}

fn steps(html: &str) -> Vec<String> {
    let html = squash(html);
    html.split("<li data-step=\"").skip(1).map(|s| s.split('>').next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_new_workspace_shows_the_checklist_and_each_step_ticks_off() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let home = admin.get_html("/").await;
    assert_eq!(steps(&home), ["clients\" class=\"todo\"", "colleague\" class=\"todo\"", "email\" class=\"todo\"", "twilio\" class=\"todo\""], "{home}");
    let flat = squash(&home);
    assert!(flat.contains(r#"<a href="/clients/import">Import clients</a>"#), "{flat}");
    assert!(flat.contains(r#"<a href="/settings/users">Invite a colleague</a>"#));
    assert!(flat.contains(r#"<a href="/settings/smtp">Set up email</a>"#));
    assert!(flat.contains(r#"<a href="/settings/twilio">Connect Twilio</a>"#) && !flat.contains("coming soon"), "{flat}");

    let r = admin.post("/clients", &[("name", "Amara Smith"), ("status", "warm")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = admin.get_html("/").await;
    assert_eq!(steps(&home)[0], "clients\" class=\"done\"");
    assert!(squash(&home).contains(r#"<a href="/clients/import">Import clients</a> <span class="visually-hidden">(done)</span>"#));
    assert_eq!(steps(&home)[1], "colleague\" class=\"todo\"");

    // Non-admins never see it.
    let (agent, _) = app.signed_in(Role::Agent).await;
    assert!(steps(&agent.get_html("/").await).is_empty());
    let (manager, _) = app.signed_in(Role::Manager).await;
    assert!(steps(&manager.get_html("/").await).is_empty());
    // The colleagues made that step done for the admin.
    assert_eq!(steps(&admin.get_html("/").await)[1], "colleague\" class=\"done\"");
}

async fn all_done(app: &TestApp) -> String {
    let (admin, _) = app.signed_in(Role::Admin).await;
    admin.post("/clients", &[("name", "Amara Smith"), ("status", "warm")]).await;
    let r = admin.post("/settings/users", &[("email", "bo@acme.test"), ("name", "Bo"), ("role", "agent"), ("password", PASSWORD)]).await;
    assert_redirects_to(&r, "/settings/users");
    // Twilio connected (its settings form has tests of its own).
    use diesel::RunQueryDsl;
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed) SELECT id, 'AC' || repeat('0', 32), '\\x00' FROM workspaces")
        .execute(&mut app.conn())
        .unwrap();
    admin.get_html("/").await
}

#[tokio::test]
async fn the_checklist_disappears_once_every_available_step_is_done() {
    let app = spawn_app_with(|s| s.smtp_url = Some("smtp://127.0.0.1:2525?from=crm%40acme.test".parse().unwrap())).await;
    let home = all_done(&app).await;
    assert!(steps(&home).is_empty() && !home.contains("setup-checklist"), "{home}");
    // Without an email server the email step still shows.
    let app = spawn_app().await;
    let home = all_done(&app).await;
    assert_eq!(steps(&home), ["clients\" class=\"done\"", "colleague\" class=\"done\"", "email\" class=\"todo\"", "twilio\" class=\"done\""]);
}

#[tokio::test]
async fn an_old_zone_name_a_browser_reports_is_stored_under_its_current_name() {
    let app = spawn_app().await;
    let ok = app.browser().post("/setup", &with(&[("time_zone", "Asia/Calcutta"), ("default_country", "")])).await;
    assert_redirects_to(&ok, "/");
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE time_zone = 'Asia/Kolkata' AND default_country = 'IN'"), 1);
}

/// Issue 19.15: the field says "type a city or a country": "London" is Europe/London, and a
/// form sent back for another answer keeps the typed password.
#[tokio::test]
async fn setup_reads_a_city_as_its_zone_and_a_refused_form_keeps_the_typed_password() {
    let app = spawn_app().await;
    let browser = app.browser();
    let bad = browser.post("/setup", &with(&[("time_zone", "Londn"), ("default_country", "GB")])).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = bad.text().await.unwrap();
    assert!(!body.contains("Istanbul\n") && !body.contains("such as Europe/Istanbul"), "no unrelated example");
    assert!(body.contains(&format!(r#"autocomplete="new-password" value="{PASSWORD}">"#)), "the password stays typed: {body}");
    assert!(body.contains(r#"<option value="GB" selected>United Kingdom</option>"#));
    // A refused password is not shown again.
    let short = browser.post("/setup", &[("workspace", "Acme"), ("name", "Ann"), ("email", "ann@acme.test"), ("password", "short"), ("time_zone", "London")]).await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!short.text().await.unwrap().contains(r#"value="short""#));
    let ok = browser.post("/setup", &with(&[("time_zone", "London")])).await;
    assert_redirects_to(&ok, "/");
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE time_zone = 'Europe/London' AND default_country = 'GB'"), 1);
}
