//! Helpers for the tests that walk the whole route table (`switchboard::routes::ROUTES`):
//! a workspace with one record of every kind, real ids for every `{param}` of the table, and
//! a fingerprint of the database to prove that a refused request changed nothing.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use reqwest::cookie::Jar;
use switchboard::users::model::User;
use switchboard::authz::Role;

use crate::support::{Browser, PASSWORD, TestApp, location};

/// Fields that would change something on most forms if a handler ever ran.
pub const FIELDS: &[(&str, &str)] = &[
    ("name", "Changed by a forged request"),
    ("status", "cancelled"),
    ("role", "admin"),
    ("active", "false"),
    ("action", "delete"),
    ("confirm", "delete"),
    ("target", "all"),
    ("kind", "note"),
    ("notes", "forged"),
    ("due_at", "2030-01-01T10:00"),
    ("host", "smtp.evil.example"),
    ("port", "25"),
    ("from_address", "evil@evil.example"),
    ("version", "1"),
];

/// A signed-in admin in a workspace holding one record of every kind, each free-text field
/// set to `text`, and the ids that fill the route table's `{param}`s.
pub struct World {
    pub admin: Browser,
    pub me: User,
    /// `{param}` fillers, keyed by the path segment before the parameter (`clients`,
    /// `imports`, …) or by the parameter's name (`hash`, `file`).
    pub ids: HashMap<&'static str, String>,
    /// The seeded client's email (its name is the text).
    pub client_email: String,
}

/// A browser whose `User-Agent` is `agent` (the sessions page shows it).
pub fn browser_with_agent(base: &str, agent: &str) -> Browser {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .build()
        .expect("http client");
    Browser { base: base.to_string(), client, jar }
}

fn after_slash(response: &reqwest::Response, prefix: &str) -> String {
    let at = location(response);
    assert!(at.starts_with(prefix), "expected a redirect to {prefix}…, got {} to {at:?}", response.status());
    at.trim_start_matches(prefix).to_string()
}

/// Seeds the world through the app where a form exists, straight into the database where
/// none does. `text` goes into every name, note and free-text field; `short` into fields of
/// at most 50 characters (tags).
pub async fn seed(app: &TestApp, text: &str, short: &str) -> World {
    let email = format!("admin-{}@acme.test", uuid::Uuid::new_v4().simple());
    let me = app.create_user_named("Acme", &email, text, Role::Admin);
    let w = me.workspace_id;
    let admin = browser_with_agent(&app.base, text);
    assert_eq!(admin.login(&email, PASSWORD).await.status(), StatusCode::SEE_OTHER, "admin signs in");

    let r = admin.post("/settings/departments", &[("name", text)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "department created");
    let department = app.count(&format!("SELECT max(id) FROM departments WHERE workspace_id = {w}")).to_string();
    let colleague = app.create_user_named("Acme", &format!("agent-{}@acme.test", uuid::Uuid::new_v4().simple()), text, Role::Agent);
    // Renamed once every user is in (users are created by workspace name).
    diesel::sql_query(format!("UPDATE workspaces SET name = {} WHERE id = {w}", quote(text))).execute(&mut app.conn()).unwrap();
    let r = admin.post(&format!("/settings/users/{}/departments", colleague.id), &[("department_ids", department.as_str())]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "colleague joins the department");

    let client_email = format!("c-{}@example.com", uuid::Uuid::new_v4().simple());
    let r = admin
        .post(
            "/clients",
            &[
                ("name", text),
                ("email", &client_email),
                ("company", text),
                ("notes", text),
                ("tags", short),
                ("status", "hot"),
                ("assigned_to", &colleague.id.to_string()),
                ("department_ids", &department),
            ],
        )
        .await;
    let client = after_slash(&r, "/clients/");
    let r = admin.post(&format!("/clients/{client}/communications"), &[("kind", "note"), ("notes", text)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "communication logged");
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M").to_string();
    let r = admin
        .post(&format!("/clients/{client}/follow-ups"), &[("due_at", &yesterday), ("assigned_to", &me.id.to_string()), ("notes", text)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "follow-up added");
    let follow_up = app.count(&format!("SELECT max(id) FROM follow_ups WHERE workspace_id = {w}")).to_string();
    let tag = app.count(&format!("SELECT max(id) FROM tags WHERE workspace_id = {w}")).to_string();

    // A file whose header and cells are the text, left at the preview.
    let cell = format!("\"{}\"", text.replace('"', "\"\""));
    let csv = format!("name,{cell}\n{cell},{cell}\n");
    // Quotes would end the multipart file name early.
    let r = upload_named(&admin, &format!("{}.csv", text.replace('"', "")), csv.into_bytes()).await;
    let import = after_slash(&r, "/imports/");

    let job = switchboard::jobs::enqueue(
        &mut app.conn(),
        &switchboard::jobs::NewJob::new(w, switchboard::jobs::run::Noop::KIND, serde_json::json!({})).at(chrono::Utc::now() + chrono::Duration::days(1)),
    )
    .unwrap()
    .unwrap();
    diesel::sql_query(format!("UPDATE jobs SET last_error = {} WHERE id = {job}", quote(text))).execute(&mut app.conn()).unwrap();
    diesel::sql_query(format!(
        "INSERT INTO notifications (workspace_id, user_id, kind, title, body, link) VALUES ({w}, {}, 'note', {t}, {t}, '/clients/{client}')",
        me.id,
        t = quote(text)
    ))
    .execute(&mut app.conn())
    .unwrap();
    let notification = app.count(&format!("SELECT max(id) FROM notifications WHERE workspace_id = {w}")).to_string();
    let audit = app.count(&format!("SELECT max(id) FROM audit_logs WHERE workspace_id = {w} AND action = 'clients.created'")).to_string();

    diesel::sql_query(format!(
        "INSERT INTO whatsapp_templates (workspace_id, provider_id, name, body, variables, rejection_reason) VALUES ({w}, 'HXwalk', {t}, {t}, jsonb_build_object('1', {t}), {t})",
        t = quote(text)
    ))
    .execute(&mut app.conn())
    .unwrap();
    let template = app.count(&format!("SELECT max(id) FROM whatsapp_templates WHERE workspace_id = {w}")).to_string();
    diesel::sql_query(format!(
        "INSERT INTO whatsapp_flows (workspace_id, name, steps) VALUES ({w}, {t}, jsonb_build_array(jsonb_build_object('key', 's1', 'template_id', {template})))",
        t = quote(text)
    ))
    .execute(&mut app.conn())
    .unwrap();
    let flow = app.count(&format!("SELECT max(id) FROM whatsapp_flows WHERE workspace_id = {w}")).to_string();
    let session = app.count(&format!("SELECT max(id) FROM sessions WHERE workspace_id = {w} AND user_id = {}", me.id)).to_string();
    // A message whose outcome is unknown (so its resend route has something to resend).
    diesel::sql_query(format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) \
         VALUES ({w}, {client}, 'sms', 'outbound', '+14155550199', '+14155550123', {t}, 'unknown')",
        t = quote(text)
    ))
    .execute(&mut app.conn())
    .unwrap();
    let message = app.count(&format!("SELECT max(id) FROM messages WHERE workspace_id = {w}")).to_string();
    // An inbound WhatsApp message from the client: its chat (issue 13), opened by the trigger.
    diesel::sql_query(format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status) \
         VALUES ({w}, {client}, 'whatsapp', 'inbound', '+14155550123', '+14155550100', {t}, 'received')",
        t = quote(text)
    ))
    .execute(&mut app.conn())
    .unwrap();
    let chat = app.count(&format!("SELECT max(id) FROM chats WHERE workspace_id = {w}")).to_string();
    // A photo that message carried, stored (issue 22).
    diesel::sql_query(format!(
        "WITH m AS (INSERT INTO media (workspace_id, message_id, position, provider_url, content_type, size_bytes, status) \
           SELECT {w}, max(id), 0, 'https://api.twilio.com/media/ME1', 'image/png', 4, 'stored' FROM messages WHERE workspace_id = {w} RETURNING id) \
         INSERT INTO media_chunks (workspace_id, media_id, seq, data) SELECT {w}, m.id, 0, '\\x89504e47'::bytea FROM m"
    ))
    .execute(&mut app.conn())
    .unwrap();
    let media = app.count(&format!("SELECT max(id) FROM media WHERE workspace_id = {w}")).to_string();
    // A campaign on every channel, with the client attached (issue 12's batch routes).
    diesel::sql_query(format!(
        "INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, {t}, ARRAY['whatsapp', 'sms', 'email'], 'active')",
        t = quote(&text.chars().take(200).collect::<String>())
    ))
    .execute(&mut app.conn())
    .unwrap();
    let campaign = app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {w}")).to_string();
    diesel::sql_query(format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({w}, {campaign}, {client})"))
        .execute(&mut app.conn())
        .unwrap();
    // The client's unsubscribe link, as its campaign emails carry it.
    let unsubscribe = switchboard::campaigns::opt_out::unsubscribe_token(
        &switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes()),
        w,
        client.parse().unwrap(),
    );
    // A WhatsApp batch with one failed recipient (so its re-target would change something).
    diesel::sql_query(format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body) VALUES ({w}, {campaign}, 'whatsapp', 'text', {t})", t = quote(text)))
        .execute(&mut app.conn())
        .unwrap();
    let batch = app.count(&format!("SELECT max(id) FROM campaign_batches WHERE workspace_id = {w}")).to_string();
    diesel::sql_query(format!(
        "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, error_code, error_message) VALUES ({w}, {batch}, {client}, 'failed', 63016, {t})",
        t = quote(text)
    ))
    .execute(&mut app.conn())
    .unwrap();
    // The workspace's canned reply (issue 22 part 3), its text full of `text`.
    let title: String = text.chars().take(100).collect();
    let r = admin.post("/canned-replies", &[("title", title.as_str()), ("shortcut", "walk"), ("body", &format!("Hi {{{{first_name}}}}, {text}")), ("shared", "1")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "canned reply saved");
    let canned = app.count(&format!("SELECT max(id) FROM canned_replies WHERE workspace_id = {w}")).to_string();
    let ids = HashMap::from([
        ("canned-replies", canned),
        ("campaigns", campaign),
        ("unsubscribe", unsubscribe),
        ("channel", "whatsapp-messages".to_string()),
        ("batch", batch),
        ("sessions", session),
        ("clients", client),
        ("imports", import),
        ("follow-ups", follow_up),
        ("messages", message),
        ("chat", chat),
        ("media", media),
        ("notifications", notification),
        ("jobs", job.to_string()),
        ("tags", tag),
        ("users", colleague.id.to_string()),
        ("departments", department),
        ("audit-logs", audit),
        ("whatsapp-templates", template),
        ("whatsapp-flows", flow),
        // A flow's step key.
        ("steps", "s1".to_string()),
        // One-time links: any token (an unknown one shows the "link expired" page).
        ("reset", "0123456789abcdef".to_string()),
        ("invitations", "0123456789abcdef".to_string()),
        ("email", "0123456789abcdef".to_string()),
        // The workspace's webhook key (Twilio's signed webhooks).
        ("twilio", switchboard::messaging::account::webhook_key(&mut app.conn(), w).expect("webhook key")),
        ("hash", "0".to_string()),
        ("file", "app.css".to_string()),
    ]);
    World { admin, me, ids, client_email }
}

/// An upload whose file name is sent exactly as given (reqwest would otherwise
/// percent-encode odd characters into `filename*`, which hides them from the app), with the
/// CSRF token in the `X-CSRF-Token` header.
pub async fn upload_named(browser: &Browser, filename: &str, bytes: Vec<u8>) -> reqwest::Response {
    let token = browser.csrf().await;
    let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()).mime_str("text/csv").unwrap();
    let form = reqwest::multipart::Form::new().percent_encode_noop().part("file", part);
    browser.client.post(browser.url("/clients/import")).header("X-CSRF-Token", token).multipart(form).send().await.expect("upload")
}

/// A SQL string literal.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The route's path with every `{param}` replaced by a real id of the world. A new route
/// whose parameter has no filler fails here, naming what to add to `seed`.
pub fn concrete(path: &str, ids: &HashMap<&'static str, String>) -> String {
    let mut out = Vec::new();
    let mut previous = "";
    for segment in path.split('/') {
        if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let name = param.split(':').next().unwrap_or(param);
            let value = ids
                .get(previous)
                .or_else(|| ids.get(name))
                .unwrap_or_else(|| panic!("route {path}: no test fixture for {{{name}}} after /{previous}/; add one to tests/api/walk.rs"));
            out.push(value.clone());
        } else {
            out.push(segment.to_string());
        }
        previous = segment;
    }
    out.join("/")
}

/// A digest of every table's rows except `sessions` (touched by every request), to prove
/// that a refused request changed nothing.
pub fn fingerprint(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct Digest {
        #[diesel(sql_type = diesel::sql_types::Text)]
        digest: String,
    }
    diesel::sql_query(
        "SELECT coalesce(string_agg(c.relname || ':' || (xpath('/row/d/text()', query_to_xml(\
             format('SELECT md5(coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) AS d FROM %I t', c.relname), \
             false, true, '')))[1]::text, ';' ORDER BY c.relname), '') AS digest \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT IN ('sessions', '__diesel_schema_migrations')",
    )
    .get_result::<Digest>(&mut app.conn())
    .expect("database fingerprint")
    .digest
}
