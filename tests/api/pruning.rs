//! Tables that grow with outside traffic stay bounded: status callbacks for unknown message
//! ids are forgotten after a day, and refused password-reset requests write nothing.

use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::auth::recovery;
use switchboard::authz::Role;

use crate::client_ip::{behind_proxy, browser_via};
use crate::support::{TestApp, spawn_app};

async fn wait_for(app: &TestApp, condition: &str) {
    for _ in 0..200 {
        if app.count(&format!("SELECT count(*) FROM jobs WHERE {condition}")) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no job where {condition}");
}

#[tokio::test]
async fn the_hourly_prune_forgets_status_callbacks_parked_for_over_a_day() {
    let app = spawn_app().await;
    let acme = app.create_user("Acme", "ann@acme.test", Role::Admin).workspace_id;
    let globex = app.create_user("Globex", "bob@globex.test", Role::Admin).workspace_id;
    for (ws, sid, age) in [(acme, "SMold", "25 hours"), (acme, "SMnew", "23 hours"), (globex, "SMgold", "2 days"), (globex, "SMgnew", "1 minute")] {
        diesel::sql_query(format!(
            "INSERT INTO early_status_callbacks (workspace_id, provider_id, status, received_at) VALUES ({ws}, '{sid}', 'delivered', now() - interval '{age}')"
        ))
        .execute(&mut app.conn())
        .unwrap();
    }
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut app.conn(), chrono::Utc::now()).unwrap();
    wait_for(&app, &format!("kind = 'prune-events' AND workspace_id = {acme} AND status = 'done'")).await;
    wait_for(&app, &format!("kind = 'prune-events' AND workspace_id = {globex} AND status = 'done'")).await;
    let left = app.count("SELECT count(*) FROM early_status_callbacks");
    assert_eq!(left, 2, "the day-old ones are gone, the recent ones kept");
    assert_eq!(app.count("SELECT count(*) FROM early_status_callbacks WHERE provider_id IN ('SMnew', 'SMgnew')"), 2);
}

#[tokio::test]
async fn refused_reset_requests_write_nothing_and_old_rate_events_are_pruned() {
    let app = behind_proxy().await;
    app.create_user("Acme", "ann@acme.test", Role::Agent);
    let attacker = browser_via(&app, "203.0.113.66");
    let mut refused = 0;
    for i in 0..400 {
        // Half for one account, half for a new address each time.
        let email = if i % 2 == 0 { "ann@acme.test".to_string() } else { format!("someone{i}@acme.test") };
        let status = attacker.post("/password/forgot", &[("email", email.as_str())]).await.status();
        refused += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(refused, 400 - recovery::PER_IP as usize, "past the address's limit every request is refused");
    assert_eq!(app.count("SELECT count(*) FROM rate_events WHERE bucket = 'forgot:ip:203.0.113.66'"), recovery::PER_IP);
    let rows = app.count("SELECT count(*) FROM rate_events");
    assert_eq!(rows, 3 * recovery::PER_IP, "one row per bucket (address, pair, email) for each request let through, none for the {refused} refused");
    // A refused request writes nothing.
    let before = app.count("SELECT count(*) FROM rate_events");
    assert_eq!(attacker.post("/password/forgot", &[("email", "other@acme.test")]).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("SELECT count(*) FROM rate_events"), before);
    // Rows older than a day go with the scheduler's tick, recent ones stay.
    diesel::sql_query("INSERT INTO rate_events (bucket, created_at) VALUES ('forgot:ip:192.0.2.1', now() - interval '25 hours')").execute(&mut app.conn()).unwrap();
    switchboard::jobs::scheduler::tick(&switchboard::registry::jobs(), &mut app.conn(), chrono::Utc::now()).unwrap();
    assert_eq!(app.count("SELECT count(*) FROM rate_events WHERE bucket = 'forgot:ip:192.0.2.1'"), 0, "the old row is gone");
    assert_eq!(app.count("SELECT count(*) FROM rate_events"), before, "the recent ones stay");
}
