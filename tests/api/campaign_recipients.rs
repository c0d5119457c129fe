//! The recipients dashboard of a campaign batch and the campaigns tile (issue 12 parts 6
//! and 7), against the real app: counters kept by the triggers through shuffled duplicate
//! status reports (the in-process provider double posts them to the signed webhook), the
//! page's figures, filters and pages, the failed CSV, the re-target, replies from inbound
//! messages, the tile, and who may see what.

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Binary, Text};
use futures_util::StreamExt;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use reqwest::StatusCode;
use switchboard::authz::Role;

use switchboard::messaging::{Channel, InboundMessage, MessageStatus};

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN};
use crate::support::provider_double::{ProviderDouble, inbound_message};
use crate::support::{Browser, PASSWORD, TestApp, app_with_double_with, location, spawn_app_with};

const OUR_NUMBER: &str = "+14155550100";

fn sql(app: &TestApp, query: &str) {
    diesel::sql_query(query).execute(&mut app.conn()).unwrap_or_else(|e| panic!("{query}: {e}"));
}

fn text(app: &TestApp, query: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        t: Option<String>,
    }
    diesel::sql_query(format!("SELECT ({query})::text AS t")).get_result::<T>(&mut app.conn()).unwrap().t.unwrap_or_else(|| "NULL".into())
}

/// A workspace with Twilio set up (the token the double signs with), an admin signed in, and
/// the webhook key.
struct Ws {
    id: i64,
    key: String,
    admin: Browser,
}

async fn workspace(app: &TestApp, name: &str) -> Ws {
    let email = format!("admin-{}@{}.test", uuid::Uuid::new_v4().simple(), name.to_lowercase());
    let user = app.create_user(name, &email, Role::Admin);
    let id = user.workspace_id;
    let at_rest = switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes());
    diesel::sql_query("INSERT INTO twilio_settings (workspace_id, account_sid, auth_token_sealed, whatsapp_from, sms_from) VALUES ($1, $2, $3, ARRAY[$4], $4)")
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(ACCOUNT_SID)
        .bind::<Binary, _>(switchboard::crypto::seal(&at_rest, AUTH_TOKEN.as_bytes()))
        .bind::<Text, _>(OUR_NUMBER)
        .execute(&mut app.conn())
        .unwrap();
    let key = switchboard::messaging::account::webhook_key(&mut app.conn(), id).unwrap();
    Ws { id, key, admin: sign_in(app, &email).await }
}

async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    assert_eq!(browser.login(email, PASSWORD).await.status(), StatusCode::SEE_OTHER, "{email} signs in");
    browser
}

/// The provider double reports `step` (a status word) for the message `sid`, with `code` for a
/// failure, to the workspace's status webhook; the app's answer.
async fn report(double: &ProviderDouble, base: &str, key: &str, sid: &str, step: &str, code: Option<i32>) -> StatusCode {
    double.report_status(base, key, sid, MessageStatus::parse(step).expect("a status word"), code).await
}

fn campaign(app: &TestApp, w: i64, name: &str, status: &str) -> i64 {
    sql(app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, '{name}', ARRAY['whatsapp', 'sms', 'email'], '{status}')"));
    app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {w}"))
}

fn batch(app: &TestApp, w: i64, campaign: i64, channel: &str, status: &str, send_at: &str) -> i64 {
    sql(
        app,
        &format!(
            "INSERT INTO campaign_batches (workspace_id, campaign_id, channel, mode, body, status, send_at, variables, sender) \
             VALUES ({w}, {campaign}, '{channel}', 'text', 'Hello {{{{1}}}}', '{status}', {send_at}, '{{\"1\": {{\"field\": \"name\"}}}}', '{OUR_NUMBER}')"
        ),
    );
    app.count(&format!("SELECT max(id) FROM campaign_batches WHERE workspace_id = {w}"))
}

fn client(app: &TestApp, w: i64, name: &str, phone: &str) -> i64 {
    diesel::sql_query("INSERT INTO clients (workspace_id, name, phone, email) VALUES ($1, $2, $3, $4)")
        .bind::<BigInt, _>(w)
        .bind::<Text, _>(name)
        .bind::<Text, _>(phone)
        .bind::<Text, _>(format!("c{}@example.com", uuid::Uuid::new_v4().simple()))
        .execute(&mut app.conn())
        .unwrap();
    app.count(&format!("SELECT id FROM clients WHERE workspace_id = {w} AND phone = '{phone}'"))
}

fn recipient(app: &TestApp, w: i64, batch: i64, client: i64, status: &str) {
    sql(app, &format!("INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status) VALUES ({w}, {batch}, {client}, '{status}')"));
}

fn recipients_path(campaign: i64, segment: &str, batch: i64) -> String {
    format!("/campaigns/{campaign}/{segment}/{batch}/recipients")
}

/// The recipients' statuses and replies counted directly, as the counters should have them.
fn counted(app: &TestApp, w: i64, batch: i64) -> String {
    text(
        app,
        &format!(
            "SELECT string_agg(key || '=' || n, ',' ORDER BY key) FROM (\
               SELECT status AS key, count(*) AS n FROM campaign_recipients WHERE workspace_id = {w} AND batch_id = {batch} GROUP BY status \
               UNION ALL SELECT 'reply:' || reply, count(*) FROM campaign_recipients WHERE workspace_id = {w} AND batch_id = {batch} AND reply IS NOT NULL GROUP BY reply) c"
        ),
    )
}

fn counters(app: &TestApp, w: i64, batch: i64) -> String {
    text(app, &format!("SELECT string_agg(key || '=' || n, ',' ORDER BY key) FROM campaign_batch_counts WHERE workspace_id = {w} AND batch_id = {batch} AND n <> 0"))
}

fn figure(html: &str, key: &str) -> String {
    let marker = format!("data-count=\"{key}\">");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {key} count in the page")) + marker.len();
    html[at..].split('<').next().unwrap().to_string()
}

fn rows(html: &str) -> usize {
    html.matches("<tr data-client=").count()
}

#[tokio::test]
async fn counters_follow_shuffled_duplicate_callbacks_and_the_page_shows_them() {
    let (app, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let b = batch(&app, w, c, "whatsapp", "sending", "now()");
    let mut clients = Vec::new();
    for i in 0..55 {
        clients.push(client(&app, w, &format!("Client {i:02}"), &format!("+1415555{:04}", 1000 + i)));
    }
    // 30 campaign messages, accepted by Twilio, their recipients sending.
    for (i, id) in clients.iter().take(30).enumerate() {
        sql(
            &app,
            &format!(
                "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, batch_id) \
                 VALUES ({w}, {id}, 'whatsapp', 'outbound', 'SMc{i:02}', '{OUR_NUMBER}', '+1415555{:04}', 'Hello', 'accepted', {b})",
                1000 + i
            ),
        );
        sql(
            &app,
            &format!(
                "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, message_id) \
                 SELECT {w}, {b}, {id}, 'sending', id FROM messages WHERE workspace_id = {w} AND provider_id = 'SMc{i:02}'"
            ),
        );
    }
    // What Twilio says of each: 10 delivered, 10 read, 7 undelivered (30008), 3 only sent;
    // every callback ten times, all shuffled, eight at a time.
    let mut callbacks = Vec::new();
    for i in 0..30 {
        let steps: &[&str] = match i {
            0..10 => &["sent", "delivered"],
            10..20 => &["sent", "delivered", "read"],
            20..27 => &["sent", "undelivered"],
            _ => &["sent"],
        };
        for step in steps {
            for _ in 0..10 {
                let sid = format!("SMc{i:02}");
                let code = (*step == "undelivered").then_some(30008);
                callbacks.push((sid, *step, code));
            }
        }
    }
    callbacks.shuffle(&mut rand::rngs::StdRng::seed_from_u64(12));
    let (base, key) = (app.base.clone(), ws.key.clone());
    let statuses: Vec<StatusCode> =
        futures_util::stream::iter(callbacks.iter().map(|(sid, step, code)| { let (double, base, key) = (double.clone(), base.clone(), key.clone()); async move { report(&double, &base, &key, sid, step, *code).await } }))
            .buffer_unordered(8)
            .collect()
            .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::NO_CONTENT), "{statuses:?}");

    // The counters are exactly the rows.
    assert_eq!(counters(&app, w, b), counted(&app, w, b));
    assert_eq!(counters(&app, w, b), "delivered=10,failed=7,read=10,sent=3");
    // The trigger moved each recipient with its message, the error code too.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM campaign_recipients r JOIN messages m ON m.workspace_id = r.workspace_id AND m.id = r.message_id \
             WHERE r.batch_id = {b} AND r.status = recipient_status_of(m.status) AND r.error_code IS NOT DISTINCT FROM m.error_code"
        )),
        30
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_recipients WHERE batch_id = {b} AND status = 'failed' AND error_code = 30008")), 7);

    // The page's figures.
    let page = recipients_path(c, "whatsapp-messages", b);
    let html = ws.admin.get_html(&page).await;
    for (key, n) in [("queued", "0"), ("sending", "0"), ("sent", "3"), ("delivered", "10"), ("read", "10"), ("failed", "7"), ("skipped", "0"), ("reply:yes", "0")] {
        assert_eq!(figure(&html, key), n, "{key}");
    }
    assert!(html.contains(r#"<progress id="batch-progress" max="30" value="30">100%</progress>"#), "{html}");
    // (10 + 10) / (3 + 10 + 10 + 7) and 0 replies of 23.
    assert!(html.contains(r#"<strong id="delivery-rate">66.7%</strong>"#) && html.contains(r#"<strong id="reply-rate">0.0%</strong>"#));
    assert_eq!(rows(&html), 30);
    assert!(html.contains(r#"<a href="/clients/"#) && html.contains("Client 00"));
    // Sending: it refreshes on the batch's live events (and every 15 s); done: on the
    // events still, and every 60 s (issue 19.2: late receipts and replies).
    assert!(html.contains(&format!(r#"hx-trigger="sse:batch-{b}, every 15s""#)));
    sql(&app, &format!("UPDATE campaign_batches SET status = 'done' WHERE id = {b}"));
    let done = ws.admin.get_html(&page).await;
    assert!(done.contains(&format!(r#"<div id="recipients-live" data-batch-status="done" hx-get="{page}" hx-trigger="sse:batch-{b}, every 60s" "#)), "{done}");
    assert!(!done.contains("every 15s"));

    // Filters.
    let failed = ws.admin.get_html(&format!("{page}?status=failed")).await;
    assert_eq!(rows(&failed), 7);
    assert!(failed.contains("Not delivered, for a reason the carrier did not give (error 30008)") && failed.contains(r#"<option value="failed" selected>"#));
    sql(&app, &format!("UPDATE campaign_recipients SET reply = 'yes' WHERE batch_id = {b} AND client_id IN ({}, {})", clients[0], clients[10]));
    let yes = ws.admin.get_html(&format!("{page}?status=read&reply=yes")).await;
    assert_eq!(rows(&yes), 1);
    assert!(yes.contains(&format!("data-client=\"{}\"", clients[10])));
    assert_eq!(ws.admin.get(&format!("{page}?status=lost")).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(counters(&app, w, b), counted(&app, w, b));

    // Pages of 50, in SQL: an SMS batch of all 55 clients, scheduled.
    let sms = batch(&app, w, c, "sms", "scheduled", "now() + interval '1 hour'");
    sql(&app, &format!("INSERT INTO campaign_recipients (workspace_id, batch_id, client_id) SELECT {w}, {sms}, id FROM clients WHERE workspace_id = {w}"));
    let sms_page = recipients_path(c, "sms-messages", sms);
    let first = ws.admin.get_html(&sms_page).await;
    assert_eq!((rows(&first), figure(&first, "queued")), (50, "55".to_string()));
    assert!(first.contains(&format!(r#"href="{sms_page}?page=2" rel="next""#)) && !first.contains(r#"rel="prev""#));
    assert!(first.contains(&format!(r#"hx-trigger="sse:batch-{sms}, every 15s""#)), "a scheduled batch refreshes");
    let second = ws.admin.get_html(&format!("{sms_page}?page=2")).await;
    assert_eq!(rows(&second), 5);
    assert!(second.contains(&format!(r#"href="{sms_page}" rel="prev""#)) && !second.contains(r#"rel="next""#));
    assert!(second.contains(&format!("data-client=\"{}\"", clients[54])));
    // The poll (htmx) answers the fragment with the live part.
    let r = ws.admin.htmx_get(&sms_page).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fragment = r.text().await.unwrap();
    assert!(fragment.contains(r#"id="recipients-live""#) && !fragment.contains("<html"));
}

#[tokio::test]
async fn the_failed_csv_is_formula_safe_and_retarget_makes_one_batch_of_exactly_the_failed() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let b = batch(&app, w, c, "whatsapp", "done", "now()");
    let evil = client(&app, w, "=HYPERLINK(\"http://evil.example\",\"x\")", "+14155551001");
    let ann = client(&app, w, "Ann Lee", "+14155551002");
    let out = client(&app, w, "Opted Out", "+14155551003");
    let ok = client(&app, w, "Delivered Dan", "+14155551004");
    for id in [evil, ann, out] {
        recipient(&app, w, b, id, "queued");
    }
    recipient(&app, w, b, ok, "queued");
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'failed', error_code = 63016, error_message = 'Outside the 24 h window' WHERE batch_id = {b} AND client_id <> {ok}"));
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'delivered' WHERE batch_id = {b} AND client_id = {ok}"));
    sql(&app, &format!("UPDATE clients SET opt_out_whatsapp_at = now(), opt_out_whatsapp_source = 'inbound STOP' WHERE id = {out}"));

    let page = recipients_path(c, "whatsapp-messages", b);
    let r = ws.admin.get(&format!("{page}.csv?status=failed")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(&format!("campaign-{c}-batch-{b}-failed.csv")));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(lines[0], "name,phone,email,error code,error");
    // Cells a spreadsheet would run are quoted with a leading apostrophe; phones are written
    // as the client export writes them (spaced, no apostrophe: issue 19 item 11).
    assert!(lines[1].starts_with("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",+1 415 555 1001,c"), "{}", lines[1]);
    assert!(!csv.contains("\n=") && !csv.contains(",=") && !csv.contains("\"="), "formula neutralised: {csv}");
    assert!(lines[1].ends_with(",63016,Outside WhatsApp's 24-hour window: only an approved template can be sent (error 63016)"), "{}", lines[1]);
    assert!(lines[2].starts_with("Ann Lee,") && !csv.contains("Delivered Dan"));
    assert_eq!(ws.admin.get(&format!("{page}.csv?status=sent")).await.status(), StatusCode::BAD_REQUEST);

    // Re-target: one new batch, its recipients exactly the failed (the opted-out skipped).
    let html = ws.admin.get_html(&page).await;
    assert!(html.contains(&format!(r#"action="{page}/retarget""#)));
    let r = ws.admin.post(&format!("{page}/retarget"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let nb = app.count(&format!("SELECT id FROM campaign_batches WHERE workspace_id = {w} AND retarget_of = {b}"));
    assert_eq!(location(&r), recipients_path(c, "whatsapp-messages", nb));
    assert_eq!(
        text(&app, &format!("SELECT concat_ws('|', campaign_id, channel, mode, body, variables::text, sender, status) FROM campaign_batches WHERE id = {nb}")),
        format!("{c}|whatsapp|text|Hello {{{{1}}}}|{{\"1\": {{\"field\": \"name\"}}}}|{OUR_NUMBER}|scheduled")
    );
    assert_eq!(
        text(&app, &format!("SELECT string_agg(client_id || ':' || status || ':' || coalesce(skip_reason, ''), ',' ORDER BY client_id) FROM campaign_recipients WHERE batch_id = {nb}")),
        // The reason a new batch gives (the day in the workspace's zone, UTC here).
        format!("{evil}:queued:,{ann}:queued:,{out}:skipped:Opted out of WhatsApp on {}", text(&app, &format!("SELECT to_char(opt_out_whatsapp_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM clients WHERE id = {out}")))
    );
    assert_eq!(counters(&app, w, nb), "queued=2,skipped=1");
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE workspace_id = {w} AND kind = 'dispatch-batch'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch' AND idempotency_key = 'dispatch-batch:{nb}' AND payload->>'batch_id' = '{nb}'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE workspace_id = {w} AND action = 'campaigns.batch_retargeted' AND after->>'batch_id' = '{nb}'")), 1);
    // A second click: 409 with the reason, no second batch or job.
    let r = ws.admin.post(&format!("{page}/retarget"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains(&format!("already re-targeted as batch #{nb}")));
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_batches WHERE workspace_id = {w}")), 2);
    let new_page = ws.admin.get_html(&recipients_path(c, "whatsapp-messages", nb)).await;
    assert!(new_page.contains(&format!(r#"<a href="{page}">batch #{b}</a>"#)));
    // Two clicks at once on another batch: one re-target, one job.
    let b3 = batch(&app, w, c, "whatsapp", "done", "now()");
    recipient(&app, w, b3, ann, "queued");
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'failed' WHERE batch_id = {b3}"));
    let p3 = format!("{}/retarget", recipients_path(c, "whatsapp-messages", b3));
    let (r1, r2) = tokio::join!(ws.admin.post(&p3, &[]), ws.admin.post(&p3, &[]));
    let mut statuses = [r1.status(), r2.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_batches WHERE retarget_of = {b3}")), 1);
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch'"), 2);
    sql(&app, &format!("DELETE FROM jobs WHERE kind = 'dispatch-batch' AND payload->>'batch_id' <> '{nb}'"));
    sql(&app, &format!("DELETE FROM campaign_batches WHERE retarget_of = {b3}"));
    sql(&app, &format!("DELETE FROM campaign_batches WHERE id = {b3}"));
    // Nothing failed in the new batch: 409, nothing made.
    let r = ws.admin.post(&format!("{}/retarget", recipients_path(c, "whatsapp-messages", nb)), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.count(&format!("SELECT count(*) FROM campaign_batches WHERE workspace_id = {w}")), 2);
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch'"), 1);
}

async fn call(browser: &Browser, method: &str, path: String) -> StatusCode {
    if method == "GET" { browser.get(&path).await.status() } else { browser.post(&path, &[]).await.status() }
}

/// A WhatsApp message from `from` to our number; a button tap when `payload` is given.
fn inbound(sid: &str, from: &str, body: &str, payload: Option<&str>) -> InboundMessage {
    let mut message = inbound_message(sid, Channel::WhatsApp, from, OUR_NUMBER, body);
    if let Some(p) = payload {
        message.button_payload = Some(p.to_string());
        message.button_text = Some(body.to_string());
    }
    message
}

#[tokio::test]
async fn replies_are_counted_once_on_the_clients_latest_batch_of_the_week() {
    let (app, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let old = batch(&app, w, c, "whatsapp", "done", "now() - interval '3 days'");
    let latest = batch(&app, w, c, "whatsapp", "done", "now() - interval '1 day'");
    let sms = batch(&app, w, c, "sms", "done", "now() - interval '1 hour'");
    let stale = batch(&app, w, c, "whatsapp", "done", "now() - interval '8 days'");
    let ana = client(&app, w, "Ana", "+14155552001");
    let ben = client(&app, w, "Ben", "+14155552002");
    let cy = client(&app, w, "Cy", "+14155552003");
    let dee = client(&app, w, "Dee", "+14155552004");
    let eve = client(&app, w, "Eve", "+14155552005");
    for id in [ana, ben, cy, dee, eve] {
        recipient(&app, w, old, id, "delivered");
        recipient(&app, w, latest, id, "read");
        recipient(&app, w, sms, id, "delivered");
    }
    let old_timer = client(&app, w, "Old Timer", "+14155552006");
    recipient(&app, w, stale, old_timer, "delivered");
    for (sid, from, body, payload) in [
        ("SMr1", "+14155552001", "Sí", None),
        ("SMr2", "+14155552001", "no", None),
        ("SMr3", "+14155552002", "Nein", None),
        ("SMr4", "+14155552003", "Sounds good", Some("yes")),
        ("SMr5", "+14155552004", "STOP", None),
        ("SMr6", "+14155552005", "maybe next week", None),
        ("SMr7", "+14155552006", "yes", None),
    ] {
        let r = double.deliver_inbound(&app.base, &ws.key, &inbound(sid, from, body, payload)).await;
        assert_eq!(r, StatusCode::OK, "{sid}");
    }
    let replies = |batch: i64| text(&app, &format!("SELECT coalesce(string_agg(client_id || ':' || reply, ',' ORDER BY client_id), '') FROM campaign_recipients WHERE batch_id = {batch} AND reply IS NOT NULL"));
    // Ana's first reply counts (her second does not); Dee's STOP is the batch's opt-out (issue
    // 19.2: listed and counted beside the replies, never in the reply rate).
    assert_eq!(replies(latest), format!("{ana}:yes,{ben}:no,{cy}:yes,{dee}:opt_out,{eve}:other"));
    assert_eq!(replies(old), "");
    assert_eq!(replies(sms), "", "WhatsApp replies are not the SMS batch's");
    assert_eq!(replies(stale), "", "a batch older than 7 days takes no reply");
    assert_eq!(counters(&app, w, latest), "read=5,reply:no=1,reply:opt_out=1,reply:other=1,reply:yes=2");
    assert_eq!(counters(&app, w, latest), counted(&app, w, latest));
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {dee} AND opt_out_whatsapp_at IS NOT NULL")), 1);
    let html = ws.admin.get_html(&recipients_path(c, "whatsapp-messages", latest)).await;
    assert_eq!((figure(&html, "reply:yes"), figure(&html, "reply:no"), figure(&html, "reply:other")), ("2".into(), "1".into(), "1".into()));
    assert_eq!(figure(&html, "reply:opt_out"), "1");
    let opted = ws.admin.get_html(&format!("{}?reply=opt_out", recipients_path(c, "whatsapp-messages", latest))).await;
    assert!(opted.contains("Dee") && opted.contains(r#"<td data-label="Reply">opted out</td>"#) && !opted.contains("Ana"), "{opted}");
    // 4 replies of 5 read.
    assert!(html.contains(r#"<strong id="reply-rate">80.0%</strong>"#));
    assert_eq!(app.count(&format!("SELECT coalesce(sum(n), 0) FROM campaign_hourly_counts WHERE workspace_id = {w} AND key = 'replied'")), 4);

    // Ana's timeline: the campaign's send, named and linked to its recipients page, with her
    // reply; her reply itself is the inbound message.
    sql(
        &app,
        &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, batch_id, created_at) \
             VALUES ({w}, {ana}, 'whatsapp', 'outbound', 'SMsend', '{OUR_NUMBER}', '+14155552001', 'Spring is here', 'read', {latest}, now() - interval '1 day')"
        ),
    );
    sql(&app, &format!("UPDATE campaign_recipients SET message_id = (SELECT id FROM messages WHERE provider_id = 'SMsend') WHERE batch_id = {latest} AND client_id = {ana}"));
    let timeline = ws.admin.get_html(&format!("/clients/{ana}")).await;
    let link = format!(r#"Campaign: <a href="{}">Spring sale</a> · replied <strong class="campaign-reply">yes</strong>"#, recipients_path(c, "whatsapp-messages", latest));
    assert!(timeline.contains(&link), "{timeline}");
    assert_eq!(timeline.matches("Campaign: ").count(), 1, "only the campaign's message says so");
    assert!(timeline.contains("Sí") && timeline.contains("Spring is here"));
}

#[tokio::test]
async fn the_campaigns_tile_shows_the_counters_to_admins_and_managers() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    campaign(&app, w, "Summer", "active");
    campaign(&app, w, "Draft one", "draft");
    let b = batch(&app, w, c, "whatsapp", "sending", "now()");
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = client(&app, w, &format!("T{i}"), &format!("+1415555300{i}"));
        recipient(&app, w, b, id, "sending");
        ids.push(id);
    }
    // Eight of them accepted by the provider (their ids recorded): today's sends.
    for (i, id) in ids[..8].iter().enumerate() {
        sql(&app, &format!("INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, batch_id) VALUES ({w}, {id}, 'whatsapp', 'outbound', 'SMt{i}', '{OUR_NUMBER}', '+1415555300{i}', 'Hi', 'accepted', {b})"));
    }
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'sent' WHERE batch_id = {b} AND client_id IN ({})", ids[..8].iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")));
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'failed' WHERE batch_id = {b} AND client_id IN ({}, {})", ids[8], ids[9]));
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'delivered' WHERE batch_id = {b} AND client_id IN ({})", ids[..6].iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")));
    sql(&app, &format!("UPDATE campaign_recipients SET reply = 'yes' WHERE batch_id = {b} AND client_id IN ({}, {})", ids[0], ids[1]));
    // An old hour's counters, outside the 7 days.
    sql(&app, &format!("INSERT INTO campaign_hourly_counts (workspace_id, campaign_id, hour, key, n) VALUES ({w}, {c}, date_trunc('hour', now()) - interval '8 days', 'delivered', 100)"));
    let hourly = |key: &str| app.count(&format!("SELECT coalesce(sum(n), 0) FROM campaign_hourly_counts WHERE workspace_id = {w} AND key = '{key}' AND hour > now() - interval '7 days'"));
    assert_eq!((hourly("accepted"), hourly("sent"), hourly("delivered"), hourly("replied")), (8, 0, 0, 2));

    let r = ws.admin.htmx_get("/dashboard/campaigns").await;
    assert_eq!(r.status(), StatusCode::OK);
    let tile = r.text().await.unwrap();
    assert!(!tile.contains("<html"));
    assert!(tile.contains(r#"<strong data-figure="active">2</strong>"#), "{tile}");
    assert!(tile.contains(r#"<strong data-figure="sends-today">8</strong>"#));
    // The batch page's rates: 6 delivered / (2 sent + 6 + 2 failed); 2 replies / 8 sent.
    assert!(tile.contains(r#"<strong data-figure="delivery-rate">60.0%</strong>"#), "{tile}");
    assert!(tile.contains(r#"<strong data-figure="reply-rate">25.0%</strong>"#));
    // Without htmx: a page holding the tile.
    let full = ws.admin.get_html("/dashboard/campaigns").await;
    assert!(full.contains("<html") && full.contains(r#"<h1 id="h-campaigns">Campaigns</h1>"#) && full.contains(r#"data-figure="active">2<"#));
    assert!(ws.admin.get_html("/").await.contains(r#"hx-get="/dashboard/campaigns""#));

    // A manager counts only the campaigns wholly in their departments.
    sql(&app, &format!("INSERT INTO departments (workspace_id, name) VALUES ({w}, 'North')"));
    let north = app.count(&format!("SELECT id FROM departments WHERE workspace_id = {w} AND name = 'North'"));
    sql(&app, &format!("INSERT INTO campaign_departments (workspace_id, campaign_id, department_id) VALUES ({w}, {c}, {north})"));
    let email = format!("manager-{}@acme.test", uuid::Uuid::new_v4().simple());
    let manager = app.create_user("Acme", &email, Role::Manager);
    sql(&app, &format!("INSERT INTO user_departments (workspace_id, user_id, department_id) VALUES ({w}, {}, {north})", manager.id));
    let mb = sign_in(&app, &email).await;
    let tile = mb.htmx_get("/dashboard/campaigns").await.text().await.unwrap();
    assert!(tile.contains(r#"data-figure="active">1<"#), "{tile}");
    assert!(tile.contains(r#"<strong data-figure="sends-today">8</strong>"#), "{tile}");
    // …and only their campaigns' sends and rates: the unscoped "Summer" campaign's sends
    // count for the admin, not for the manager.
    let summer = app.count(&format!("SELECT id FROM campaigns WHERE workspace_id = {w} AND name = 'Summer'"));
    let sb = batch(&app, w, summer, "sms", "sending", "now()");
    for i in 0..4 {
        let id = client(&app, w, &format!("S{i}"), &format!("+1415555400{i}"));
        recipient(&app, w, sb, id, "sending");
    }
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'failed' WHERE batch_id = {sb}"));
    let tile = mb.htmx_get("/dashboard/campaigns").await.text().await.unwrap();
    assert!(tile.contains(r#"<strong data-figure="sends-today">8</strong>"#), "{tile}");
    assert!(tile.contains(r#"<strong data-figure="delivery-rate">60.0%</strong>"#), "{tile}");
    let tile = ws.admin.htmx_get("/dashboard/campaigns").await.text().await.unwrap();
    // 6 delivered / (2 sent + 6 + 2 + 4 failed).
    assert!(tile.contains(r#"<strong data-figure="delivery-rate">42.9%</strong>"#), "{tile}");
    assert!(mb.get_html("/").await.contains(r#"hx-get="/dashboard/campaigns""#));
    // Agents: no tile, 403.
    let (agent, _) = app.signed_in(Role::Agent).await;
    assert_eq!(agent.get("/dashboard/campaigns").await.status(), StatusCode::FORBIDDEN);
    assert!(!agent.get_html("/").await.contains("/dashboard/campaigns"));
}

#[tokio::test]
async fn every_recipients_route_is_404_outside_the_users_campaigns_and_403_for_agents() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let other = workspace(&app, "Globex").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let b = batch(&app, w, c, "whatsapp", "done", "now()");
    let c2 = campaign(&app, w, "Another", "active");
    let b2 = batch(&app, w, c2, "whatsapp", "done", "now()");
    let cl = client(&app, w, "Ann", "+14155554001");
    recipient(&app, w, b, cl, "failed");
    recipient(&app, w, b2, cl, "failed");
    sql(&app, &format!("INSERT INTO departments (workspace_id, name) VALUES ({w}, 'North'), ({w}, 'South')"));
    let north = app.count(&format!("SELECT id FROM departments WHERE workspace_id = {w} AND name = 'North'"));
    let south = app.count(&format!("SELECT id FROM departments WHERE workspace_id = {w} AND name = 'South'"));
    sql(&app, &format!("INSERT INTO campaign_departments (workspace_id, campaign_id, department_id) VALUES ({w}, {c}, {north}), ({w}, {c2}, {north}), ({w}, {c2}, {south})"));
    let email = format!("manager-{}@acme.test", uuid::Uuid::new_v4().simple());
    let manager = app.create_user("Acme", &email, Role::Manager);
    sql(&app, &format!("INSERT INTO user_departments (workspace_id, user_id, department_id) VALUES ({w}, {}, {north})", manager.id));
    let mb = sign_in(&app, &email).await;
    let (agent, _) = app.signed_in(Role::Agent).await;
    let agent_email = format!("agent-{}@acme.test", uuid::Uuid::new_v4().simple());
    app.create_user("Acme", &agent_email, Role::Agent);
    let own_agent = sign_in(&app, &agent_email).await;

    let routes = |c: i64, seg: &str, b: i64| {
        let p = recipients_path(c, seg, b);
        [("GET", p.clone()), ("GET", format!("{p}.csv?status=failed")), ("POST", format!("{p}/retarget"))]
    };
    let before = app.count("SELECT count(*) FROM campaign_batches");
    // The manager sees the North campaign…
    for (m, p) in routes(c, "whatsapp-messages", b).into_iter().take(2) {
        assert_eq!(call(&mb, m, p.clone()).await, StatusCode::OK, "{m} {p}");
    }
    // …not the one that is partly South's; nobody sees another workspace's, a batch under
    // another campaign or under the wrong channel.
    for (who, browser, c, seg, b) in [
        ("manager, partly another department", &mb, c2, "whatsapp-messages", b2),
        ("another workspace's admin", &other.admin, c, "whatsapp-messages", b),
        ("admin, batch of another campaign", &ws.admin, c, "whatsapp-messages", b2),
        ("admin, wrong channel", &ws.admin, c, "sms-messages", b),
        ("admin, unknown channel", &ws.admin, c, "pigeons", b),
    ] {
        for (m, p) in routes(c, seg, b) {
            assert_eq!(call(browser, m, p.clone()).await, StatusCode::NOT_FOUND, "{who}: {m} {p}");
        }
    }
    for browser in [&agent, &own_agent] {
        for (m, p) in routes(c, "whatsapp-messages", b) {
            assert_eq!(call(browser, m, p.clone()).await, StatusCode::FORBIDDEN, "agent: {m} {p}");
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM campaign_batches"), before, "no refused re-target made a batch");
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'dispatch-batch'"), 0);
}

#[tokio::test]
async fn a_sending_batch_can_be_paused_and_resumed_from_its_recipients_page_and_the_campaign_page_links_new_batches() {
    let app = spawn_app_with(|_| {}).await;
    let ws = workspace(&app, "Pausing").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring", "active");
    let b = batch(&app, w, c, "sms", "sending", "now()");
    let page_path = recipients_path(c, "sms-messages", b);

    // Active: the page says so and offers Pause, which comes back to this page.
    let html = ws.admin.get_html(&page_path).await;
    assert!(html.contains("id=\"campaign-state\""), "{html}");
    assert!(html.contains(&format!("action=\"/campaigns/{c}/pause\"")), "{html}");
    assert!(html.contains(&format!("name=\"back\" value=\"{page_path}\"")), "{html}");
    let response = ws.admin.post(&format!("/campaigns/{c}/pause"), &[("back", page_path.as_str())]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), page_path);
    assert_eq!(text(&app, &format!("SELECT status FROM campaigns WHERE id = {c}")), "paused");

    // Paused: the page says nothing goes out and offers Resume; the live poll keeps going.
    let html = ws.admin.get_html(&page_path).await;
    assert!(html.contains("Campaign paused: nothing is sent until it is resumed."), "{html}");
    assert!(html.contains(&format!("action=\"/campaigns/{c}/start\"")), "{html}");
    assert!(html.contains(">Resume</button>"), "{html}");
    let response = ws.admin.post(&format!("/campaigns/{c}/start"), &[("back", page_path.as_str())]).await;
    assert_eq!(location(&response), page_path);
    assert_eq!(text(&app, &format!("SELECT status FROM campaigns WHERE id = {c}")), "active");

    // A `back` that is not one of this campaign's pages goes to the campaign page.
    for back in ["https://evil.test/", "//evil.test/x", "/clients", &format!("/campaigns/{}/x", c + 1)] {
        let response = ws.admin.post(&format!("/campaigns/{c}/pause"), &[("back", back)]).await;
        assert_eq!(location(&response), format!("/campaigns/{c}"), "{back}");
        ws.admin.post(&format!("/campaigns/{c}/start"), &[]).await;
    }

    // The campaign page links a new batch for each of its channels while it is open.
    let html = ws.admin.get_html(&format!("/campaigns/{c}")).await;
    for segment in ["whatsapp-messages", "sms-messages", "emails"] {
        assert!(html.contains(&format!("href=\"/campaigns/{c}/{segment}\"")), "{segment}: {html}");
    }
    sql(&app, &format!("UPDATE campaigns SET status = 'completed' WHERE id = {c}"));
    let html = ws.admin.get_html(&format!("/campaigns/{c}")).await;
    assert!(!html.contains(&format!("href=\"/campaigns/{c}/sms-messages\"")), "{html}");
    let html = ws.admin.get_html(&page_path).await;
    assert!(html.contains("Campaign completed."), "{html}");
    assert!(!html.contains(&format!("action=\"/campaigns/{c}/pause\"")), "{html}");
}

/// Issue 19 item 9: a reply is read as opt-out words are (NFKC, case and punctuation folded,
/// the first word or the whole message), in English, Spanish, Portuguese, French, German and
/// Turkish; a word that also opens ordinary sentences ("si" is "if") counts only alone.
#[tokio::test]
async fn replies_match_yes_and_no_by_first_word_in_six_languages() {
    let (app, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let b = batch(&app, w, c, "whatsapp", "done", "now() - interval '1 hour'");
    let cases: [(&str, Option<&str>, &str); 22] = [
        ("YES please", None, "yes"),
        ("Yes, please!", None, "yes"),
        ("ＹＥＳ", None, "yes"),
        ("y", None, "yes"),
        ("No thanks", None, "no"),
        ("Sí, claro", None, "yes"),
        ("si", None, "yes"),
        ("Si puedo mañana", None, "other"),
        ("Sim, obrigado", None, "yes"),
        ("Não, obrigado", None, "no"),
        ("nao", None, "no"),
        ("Oui merci", None, "yes"),
        ("Non merci", None, "no"),
        ("Ja, gerne", None, "yes"),
        ("Nein danke", None, "no"),
        ("Evet lütfen", None, "yes"),
        ("Hayır, teşekkürler", None, "no"),
        ("HAYIR", None, "no"),
        ("yesterday was fine", None, "other"),
        ("maybe next week", None, "other"),
        ("Sounds good", Some("YES_PLEASE"), "yes"),
        ("Not now", Some("no-thanks"), "no"),
    ];
    let mut expected = Vec::new();
    for (i, (body, payload, kind)) in cases.iter().enumerate() {
        let phone = format!("+1415555{:04}", 3000 + i);
        let id = client(&app, w, &format!("Client {i:02}"), &phone);
        recipient(&app, w, b, id, "read");
        expected.push(format!("{id}:{kind}"));
        let r = double.deliver_inbound(&app.base, &ws.key, &inbound(&format!("SMk{i}"), &phone, body, *payload)).await;
        assert_eq!(r, StatusCode::OK, "{body:?}");
    }
    let replies = text(&app, &format!("SELECT string_agg(client_id || ':' || coalesce(reply, '-'), ',' ORDER BY client_id) FROM campaign_recipients WHERE batch_id = {b}"));
    let got: Vec<&str> = replies.split(',').collect();
    for (i, (body, _, _)) in cases.iter().enumerate() {
        assert_eq!(got[i], expected[i], "{body:?}");
    }
    assert_eq!(counters(&app, w, b), counted(&app, w, b));
}

/// Issue 19 item 11: a failure reads as a short human line with its code, where Twilio sent
/// no text too, on the recipients page, in the failed CSV (whose phones are written as the
/// client export writes them: no apostrophe) and on the client's timeline.
#[tokio::test]
async fn failures_read_as_a_human_line_wherever_their_code_shows() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let b = batch(&app, w, c, "whatsapp", "done", "now()");
    let ann = client(&app, w, "Ann Lee", "+14155551002");
    let bo = client(&app, w, "Bo Chan", "+447700900123");
    let cy = client(&app, w, "Cy Odd", "+14155551004");
    for id in [ann, bo, cy] {
        recipient(&app, w, b, id, "failed");
    }
    sql(&app, &format!("UPDATE campaign_recipients SET error_code = 63024 WHERE batch_id = {b} AND client_id = {ann}"));
    sql(&app, &format!("UPDATE campaign_recipients SET error_code = 30006, error_message = 'Landline or unreachable carrier' WHERE batch_id = {b} AND client_id = {bo}"));
    sql(&app, &format!("UPDATE campaign_recipients SET error_code = 99999 WHERE batch_id = {b} AND client_id = {cy}"));
    let whatsapp_line = "WhatsApp says this number cannot receive messages (error 63024)";
    let landline_line = "A landline, or a carrier that cannot receive text messages (error 30006)";
    let unknown_line = "Not delivered (error 99999)";

    let page = recipients_path(c, "whatsapp-messages", b);
    let html = ws.admin.get_html(&page).await;
    for line in [whatsapp_line, landline_line, unknown_line] {
        assert!(html.contains(line), "{line:?} on the recipients page: {html}");
    }

    let csv = ws.admin.get(&format!("{page}.csv?status=failed")).await.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[1], format!("Ann Lee,+1 415 555 1002,{},63024,{whatsapp_line}", text(&app, &format!("SELECT email FROM clients WHERE id = {ann}"))));
    assert!(lines[2].starts_with("Bo Chan,+44 7700 900123,") && lines[2].ends_with(&format!(",30006,\"{landline_line}\"")), "{}", lines[2]);
    assert!(!csv.contains("'+"), "phones without an apostrophe: {csv}");

    sql(
        &app,
        &format!(
            "INSERT INTO messages (workspace_id, client_id, channel, direction, provider_id, sender, recipient, body, status, error_code, batch_id) \
             VALUES ({w}, {bo}, 'sms', 'outbound', 'SMland', '{OUR_NUMBER}', '+447700900123', 'Spring is here', 'undelivered', 30006, NULL)"
        ),
    );
    let timeline = ws.admin.get_html(&format!("/clients/{bo}")).await;
    assert!(timeline.contains(landline_line), "{timeline}");
}

/// Issue 19 item 7: the batch's state in words that match what is happening: a draft
/// campaign's batch waits for the start (not "sending"), a done batch whose recipients await
/// their outcome says so (not "done"), and an exact count is not "about".
#[tokio::test]
async fn batch_wording_says_what_waits_and_exact_counts_are_exact() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let draft = campaign(&app, w, "Draft one", "draft");
    let waiting = batch(&app, w, draft, "whatsapp", "sending", "now()");
    let active = campaign(&app, w, "Live one", "active");
    let handed = batch(&app, w, active, "whatsapp", "done", "now()");
    for i in 0..10 {
        let id = client(&app, w, &format!("Client {i:02}"), &format!("+1415555{:04}", 4000 + i));
        recipient(&app, w, waiting, id, "queued");
        recipient(&app, w, handed, id, "sending");
        sql(&app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({w}, {draft}, {id})"));
    }
    sql(&app, &format!("UPDATE campaign_recipients SET status = 'delivered' WHERE batch_id = {handed} AND client_id = (SELECT min(client_id) FROM campaign_recipients WHERE batch_id = {handed})"));

    let html = ws.admin.get_html(&recipients_path(draft, "whatsapp-messages", waiting)).await;
    assert!(html.contains("done (0%) · the batch waits for the campaign to start"), "{html}");
    assert!(!html.contains("batch sending"), "{html}");
    let campaign_page = ws.admin.get_html(&format!("/campaigns/{draft}")).await;
    assert!(campaign_page.contains("waits for the campaign to start"), "{campaign_page}");
    assert!(!campaign_page.contains(">sending<"), "{campaign_page}");

    let html = ws.admin.get_html(&recipients_path(active, "whatsapp-messages", handed)).await;
    assert!(html.contains("done (10%) · all handed to the provider, 9 awaiting an outcome"), "{html}");
    assert!(!html.contains("batch done"), "{html}");
    let campaign_page = ws.admin.get_html(&format!("/campaigns/{active}")).await;
    assert!(campaign_page.contains("all handed to the provider, 9 awaiting an outcome"), "{campaign_page}");

    let words = ws.admin.get_html(&format!("/campaigns/{active}/attach-clients?mode=all")).await;
    assert!(words.contains("<strong hx-disable>Every client you can see</strong>: 10."), "{words}");
    assert!(!words.contains("about"), "{words}");
}

/// Issue 19 item 5: "Sends today" counts the messages the provider accepted (one that goes
/// straight to delivered, or still awaits its callback, counts; one refused at the send does
/// not), and the tile's 7-day rates are the batch pages' rates over the week's batches, with
/// status callbacks arriving out of order.
#[tokio::test]
async fn the_campaigns_tile_agrees_with_the_batch_pages_when_callbacks_arrive_out_of_order() {
    let (app, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let wa = batch(&app, w, c, "whatsapp", "done", "now() - interval '1 hour'");
    let sms = batch(&app, w, c, "sms", "done", "now()");
    let mut phones = Vec::new();
    for (b, channel, n, prefix) in [(wa, "whatsapp", 10, "SMa"), (sms, "sms", 4, "SMb")] {
        for i in 0..n {
            let phone = format!("+1415555{:04}", if b == wa { 5000 } else { 6000 } + i);
            let id = client(&app, w, &format!("{prefix}{i}"), &phone);
            phones.push(phone.clone());
            sql(
                &app,
                &format!(
                    "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, batch_id) \
                     VALUES ({w}, {id}, '{channel}', 'outbound', '{OUR_NUMBER}', '{phone}', 'Hello', 'sending', {b})"
                ),
            );
            sql(
                &app,
                &format!(
                    "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, message_id) \
                     SELECT {w}, {b}, {id}, 'sending', max(id) FROM messages WHERE workspace_id = {w} AND client_id = {id}"
                ),
            );
            if b == wa && i == 9 {
                // Refused at the send: never accepted, failed.
                sql(&app, &format!("UPDATE messages SET status = 'failed', failed_at = now(), error_code = 21211 WHERE workspace_id = {w} AND client_id = {id}"));
            } else {
                // Accepted: the provider's id recorded, as the send does.
                sql(&app, &format!("UPDATE messages SET provider_id = '{prefix}{i}', status = 'accepted' WHERE workspace_id = {w} AND client_id = {id}"));
            }
        }
    }
    // Out of order: straight to delivered, read before sent, undelivered, nothing yet.
    let callbacks: [(&str, &[&str]); 10] = [
        ("SMa0", &["delivered"]),
        ("SMa1", &["delivered", "sent"]),
        ("SMa2", &["delivered"]),
        ("SMa3", &["read", "sent"]),
        ("SMa4", &["read", "delivered"]),
        ("SMa5", &["undelivered"]),
        ("SMb0", &["sent"]),
        ("SMb1", &["delivered", "sent"]),
        ("SMb2", &["failed"]),
        ("SMb3", &["undelivered", "sent"]),
    ];
    for (sid, steps) in callbacks {
        for step in steps {
            let code = matches!(*step, "undelivered" | "failed").then_some(30006);
            assert_eq!(report(&double, &app.base, &ws.key, sid, step, code).await, StatusCode::NO_CONTENT, "{sid} {step}");
        }
    }
    // A reply on each channel.
    assert_eq!(double.deliver_inbound(&app.base, &ws.key, &inbound("SMr1", &phones[0], "YES please", None)).await, StatusCode::OK);
    let sms_reply = inbound_message("SMr2", Channel::Sms, &phones[11], OUR_NUMBER, "no");
    assert_eq!(double.deliver_inbound(&app.base, &ws.key, &sms_reply).await, StatusCode::OK);

    // The batch pages' figures, summed: the tile's rates are these.
    let mut sum = std::collections::BTreeMap::<&str, i64>::new();
    for (b, segment) in [(wa, "whatsapp-messages"), (sms, "sms-messages")] {
        let html = ws.admin.get_html(&recipients_path(c, segment, b)).await;
        for key in ["sent", "delivered", "read", "failed", "reply:yes", "reply:no", "reply:other"] {
            *sum.entry(key).or_default() += figure(&html, key).parse::<i64>().unwrap();
        }
    }
    let reached = sum["sent"] + sum["delivered"] + sum["read"];
    let delivery = switchboard::campaigns::recipients::rate(sum["delivered"] + sum["read"], reached + sum["failed"]);
    let replies = switchboard::campaigns::recipients::rate(sum["reply:yes"] + sum["reply:no"] + sum["reply:other"], reached);
    // 3 delivered + 2 read of 5 + 2 failed on WhatsApp, 1 delivered of 1 sent + 1 + 2 failed on SMS.
    assert_eq!((delivery.as_str(), replies.as_str()), ("54.5%", "28.6%"), "{sum:?}");

    let tile = ws.admin.htmx_get("/dashboard/campaigns").await.text().await.unwrap();
    // 9 accepted on WhatsApp (3 still awaiting their callback), 4 on SMS; the refused one is no send.
    assert!(tile.contains(r#"<strong data-figure="sends-today">13</strong>"#), "{tile}");
    assert!(tile.contains(&format!(r#"<strong data-figure="delivery-rate">{delivery}</strong>"#)), "{tile}");
    assert!(tile.contains(&format!(r#"<strong data-figure="reply-rate">{replies}</strong>"#)), "{tile}");
}

/// A reply answers a message the client received: a recipient whose message failed takes
/// none (it would count a reply over no reached message: "Reply rate 166.7%"); the reply goes
/// to the week's latest batch that did reach them, if any.
#[tokio::test]
async fn a_recipient_whose_message_failed_takes_no_reply_so_the_reply_rate_stays_within_reached_messages() {
    let (app, double) = app_with_double_with(|s| s.job_workers = 0).await;
    let ws = workspace(&app, "Acme").await;
    let w = ws.id;
    let c = campaign(&app, w, "Spring sale", "active");
    let earlier = batch(&app, w, c, "whatsapp", "done", "now() - interval '2 days'");
    let latest = batch(&app, w, c, "whatsapp", "done", "now() - interval '1 hour'");
    let ana = client(&app, w, "Ana", "+14155552001");
    let ben = client(&app, w, "Ben", "+14155552002");
    recipient(&app, w, earlier, ana, "delivered");
    recipient(&app, w, latest, ana, "failed");
    recipient(&app, w, latest, ben, "failed");
    for (sid, from) in [("SMf1", "+14155552001"), ("SMf2", "+14155552002")] {
        let r = double.deliver_inbound(&app.base, &ws.key, &inbound(sid, from, "yes", None)).await;
        assert_eq!(r, StatusCode::OK, "{sid}");
    }
    assert_eq!(counters(&app, w, latest), "failed=2");
    assert_eq!(counters(&app, w, earlier), "delivered=1,reply:yes=1");
    let html = ws.admin.get_html(&recipients_path(c, "whatsapp-messages", latest)).await;
    assert!(html.contains(r#"<strong id="reply-rate">–</strong>"#), "{html}");
}
