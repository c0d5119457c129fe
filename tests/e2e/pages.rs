//! Every main page, looked at the way a reviewer would (issue 10): a screenshot of each at
//! desktop (1366×900) and phone (390×844) widths under `target/screenshots/`, and on each
//! page no sideways scrolling at 390 px, no console errors, and no serious or critical
//! accessibility violation found by axe-core.

use std::time::Duration;

use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

const WIDTHS: [(u32, u32, &str); 2] = [(1366, 900, "desktop"), (390, 844, "phone")];

/// What the page looks like: its heading, whether it scrolls sideways.
const MEASURE: &str = "
    const h1 = document.querySelector('main h1');
    return { heading: h1 ? h1.textContent.trim() : null, width: window.innerWidth,
             scroll: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight };";

struct Findings(Vec<String>);

impl Findings {
    /// Opens `path`, waits for its heading, and checks it at both widths.
    async fn check(&mut self, chrome: &Chrome, base: &str, name: &str, path: &str) {
        for (width, height, label) in WIDTHS {
            chrome.client.set_window_size(width, height).await.expect("resize");
            chrome.goto(&format!("{base}{path}")).await;
            chrome.wait_for("main h1").await;
            // htmx-loaded parts (dashboard tiles, import progress) settle first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let seen = chrome.eval(MEASURE).await;
            if label == "phone" && seen["scroll"].as_i64() > seen["width"].as_i64() {
                self.0.push(format!("{path} scrolls sideways at {width} px: {seen}"));
            }
            for error in chrome.console_errors().await {
                self.0.push(format!("{path} ({label}) console: {error}"));
            }
            for violation in chrome.axe_violations().await {
                self.0.push(format!("{path} ({label}) axe: {violation}"));
            }
            // The whole page, not just the window, so long pages can be reviewed.
            let full = seen["height"].as_u64().unwrap_or(height as u64).clamp(height as u64, 4000) as u32;
            chrome.client.set_window_size(width, full).await.expect("resize");
            chrome.screenshot(&format!("{name}-{label}")).await;
        }
    }
}

#[tokio::test]
async fn every_main_page_fits_a_phone_has_no_console_errors_and_passes_axe() {
    let app = spawn_app().await;
    let chrome = Chrome::start().await;
    let mut findings = Findings(Vec::new());
    // Before anyone exists: the first-run page; then the signed-out pages.
    findings.check(&chrome, &app.base, "setup", "/setup").await;
    let ann = app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    findings.check(&chrome, &app.base, "login", "/login").await;
    findings.check(&chrome, &app.base, "password-forgot", "/password/forgot").await;

    // A workspace with some life in it: clients, follow-ups, activity, tags, departments.
    let hash = switchboard::users::password::hash(PASSWORD).unwrap();
    switchboard::seed::run(&app.pool, "Acme", 300, &hash).expect("seed");
    let client = app.count(&format!("SELECT min(id) FROM clients WHERE workspace_id = {}", ann.workspace_id));
    let entry = app.count(&format!("SELECT max(id) FROM audit_logs WHERE workspace_id = {}", ann.workspace_id));
    let tag = app.count(&format!("SELECT min(id) FROM tags WHERE workspace_id = {}", ann.workspace_id));
    // A campaign with its audience and a half-sent SMS batch, and a WhatsApp flow (issue 12).
    let w = ann.workspace_id;
    for sql in [
        format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, 'Spring offer', ARRAY['sms', 'email'], 'active')"),
        format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) SELECT {w}, (SELECT max(id) FROM campaigns), id FROM clients WHERE workspace_id = {w}"),
        format!("INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body, status) SELECT {w}, max(id), 'sms', 'text', 'Hi {{{{name}}}}', 'sending' FROM campaigns"),
        format!(
            "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, error_code, error_message) \
             SELECT {w}, (SELECT max(id) FROM campaign_batches), id, (ARRAY['queued', 'delivered', 'read', 'failed'])[1 + id % 4], \
               CASE WHEN id % 4 = 3 THEN 30003 END, CASE WHEN id % 4 = 3 THEN 'Unreachable destination handset' END FROM clients WHERE workspace_id = {w}"
        ),
        format!("INSERT INTO whatsapp_templates (workspace_id, provider_id, name, body, approval_status, buttons) VALUES ({w}, 'HXask', 'ask_interest', 'Interested, {{{{1}}}}?', 'approved', '[{{\"id\": \"yes\", \"title\": \"Yes\"}}]')"),
        format!("INSERT INTO whatsapp_flows (workspace_id, name, steps) SELECT {w}, 'Spring flow', jsonb_build_array(jsonb_build_object('key', 's1', 'template_id', id)) FROM whatsapp_templates WHERE workspace_id = {w}"),
        // Chats (issue 13): twenty clients wrote, some answered, one message failed.
        format!("UPDATE clients SET phone = '+1415555' || lpad(id::text, 4, '0') WHERE workspace_id = {w} AND id IN (SELECT id FROM clients WHERE workspace_id = {w} ORDER BY id LIMIT 20)"),
        format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at)              SELECT {w}, id, 'whatsapp', 'inbound', phone, '+14155550100', 'Hello, is the spring offer still on? I would like to know more about it.', 'received', now() - (id % 50) * interval '7 minutes'              FROM clients WHERE workspace_id = {w} AND phone LIKE '+1415555%'"
        ),
        format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, error_code, error_message)              SELECT {w}, id, 'whatsapp', 'outbound', '+14155550100', phone, 'Yes, until Sunday.', (ARRAY['delivered', 'read', 'failed'])[1 + id % 3],                CASE WHEN id % 3 = 2 THEN 63016 END, CASE WHEN id % 3 = 2 THEN 'Outside the allowed window' END              FROM clients WHERE workspace_id = {w} AND phone LIKE '+1415555%' AND id % 2 = 0"
        ),
    ] {
        diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut app.conn()).unwrap();
    }
    let campaign = app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {w}"));
    let batch = app.count(&format!("SELECT max(id) FROM campaign_batches WHERE workspace_id = {w}"));
    let flow = app.count(&format!("SELECT max(id) FROM whatsapp_flows WHERE workspace_id = {w}"));
    let chat = app.count(&format!("SELECT min(id) FROM chats WHERE workspace_id = {w} AND client_id % 2 = 0"));
    // A canned reply of the workspace and a note in the chat (issue 22).
    let canned = {
        diesel::RunQueryDsl::execute(diesel::sql_query(format!("INSERT INTO canned_replies (workspace_id, title, shortcut, body) VALUES ({w}, 'Spring offer details', 'spring', 'Hi {{{{first_name}}}}, the spring offer runs until Sunday: 20% off every plan.')")), &mut app.conn()).unwrap();
        diesel::RunQueryDsl::execute(diesel::sql_query(format!("INSERT INTO chat_notes (workspace_id, chat_id, author_id, body) VALUES ({w}, {chat}, {}, 'Prefers a call after 5 pm.')", ann.id)), &mut app.conn()).unwrap();
        app.count(&format!("SELECT max(id) FROM canned_replies WHERE workspace_id = {w}"))
    };

    chrome.client.set_window_size(1366, 900).await.expect("resize");
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    let import = import_a_small_file(&chrome, &app.base).await;

    let pages = [
        ("dashboard", "/".to_string()),
        ("clients", "/clients".to_string()),
        ("clients-search", "/clients?q=smi".to_string()),
        ("client", format!("/clients/{client}")),
        ("client-edit", format!("/clients/{client}/edit")),
        ("client-new", "/clients/new".to_string()),
        ("import-upload", "/clients/import".to_string()),
        ("import-report", import),
        ("follow-ups", "/follow-ups".to_string()),
        ("follow-ups-completed", "/follow-ups?view=completed".to_string()),
        ("notifications", "/notifications".to_string()),
        ("audit-logs", "/audit-logs".to_string()),
        ("audit-log-entry", format!("/audit-logs/{entry}")),
        ("account", "/account".to_string()),
        ("account-sessions", "/account/sessions".to_string()),
        ("settings", "/settings".to_string()),
        ("settings-workspace", "/settings/workspace".to_string()),
        ("settings-users", "/settings/users".to_string()),
        ("settings-departments", "/settings/departments".to_string()),
        ("settings-tags", "/settings/tags".to_string()),
        ("settings-tags-edit", format!("/settings/tags?edit={tag}")),
        ("settings-smtp", "/settings/smtp".to_string()),
        ("settings-jobs", "/settings/jobs".to_string()),
        ("settings-design", "/settings/design".to_string()),
        ("settings-twilio", "/settings/twilio".to_string()),
        ("whatsapp-templates", "/whatsapp-templates".to_string()),
        ("whatsapp-flows", "/whatsapp-flows".to_string()),
        ("whatsapp-flow", format!("/whatsapp-flows/{flow}")),
        ("chat", "/chat".to_string()),
        ("chat-conversation", format!("/chat/{chat}")),
        ("chat-awaiting", "/chat?status=awaiting".to_string()),
        ("chat-search", "/chat?q=spring".to_string()),
        ("canned-replies", "/canned-replies".to_string()),
        ("canned-reply-edit", format!("/canned-replies/{canned}/edit")),
        ("campaigns", "/campaigns".to_string()),
        ("campaign", format!("/campaigns/{campaign}")),
        ("campaign-sms-batch-new", format!("/campaigns/{campaign}/sms-messages")),
        ("campaign-recipients", format!("/campaigns/{campaign}/sms-messages/{batch}/recipients")),
    ];
    for (name, path) in &pages {
        findings.check(&chrome, &app.base, name, path).await;
    }
    assert!(findings.0.is_empty(), "{} finding(s):\n{}", findings.0.len(), findings.0.join("\n"));
    chrome.finish().await;
}

/// Uploads a five-row file with one bad row through the import page; returns the report's path.
async fn import_a_small_file(chrome: &Chrome, base: &str) -> String {
    let dir = std::env::temp_dir().join(format!("switchboard-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fair-leads.csv");
    std::fs::write(
        &file,
        "Name,Email,Phone\nIrene Adler,irene@example.com,+44 20 7946 0011\nJohn Watson,john@example.com,\n\
         Mary Morstan,mary@example.com,+44 20 7946 0012\nNo Email,not-an-email,\nMycroft Holmes,mycroft@example.com,\n",
    )
    .unwrap();
    chrome.goto(&format!("{base}/clients/import")).await;
    chrome.wait_for("#import-file").await.send_keys(&file.display().to_string()).await.unwrap();
    chrome.click("#upload-form button[type=submit]").await;
    chrome.wait_for_heading("Import of fair-leads.csv").await;
    chrome.click("input[name=mode][value=skip_invalid]").await;
    chrome.click("#mapping button[type=submit]").await;
    chrome.wait_for_text("#import-progress", "Import finished.").await;
    let path = chrome.path().await;
    let _ = std::fs::remove_dir_all(dir);
    path
}
