//! Chat inbox benchmark (`cargo bench --bench chat`; `CHATS=2000 cargo bench --bench chat`
//! for a quick run): the release app on its own private cluster.
//!
//! CHATS clients (default 10,000) each with an inbound WhatsApp message, seeded set-based
//! (the `messages` triggers open one chat each), every tenth assigned to an agent and every
//! third read by the admin; then the inbox list at 32 connections beside the signed-in floor
//! (`GET /healthz` with the session cookie) in the same run: the first page, a tab, a search,
//! and an agent's list (the role condition).

#[path = "../tests/support/fake_twilio.rs"]
mod fake_twilio;
mod common;

use std::time::Instant;

use diesel::prelude::*;

use common::{client, count, run_load};

fn main() -> anyhow::Result<()> {
    let n: i64 = std::env::var("CHATS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-chat-{}", std::process::id()));
    let app = common::start(&dir, |_| {})?;
    let base = app.base.clone();
    let mut conn = app.pool.get()?;
    let admin = common::admin(&mut conn)?;
    let w = admin.workspace_id;
    let agent = switchboard::users::service::create_in_workspace(
        &mut conn,
        &switchboard::users::service::NewAccount {
            workspace: "Bench".into(),
            email: "agent@bench.example".into(),
            name: "Agent".into(),
            role: switchboard::authz::Role::Agent,
            password_hash: switchboard::users::password::hash("bench password 1")?,
        },
        None,
        None,
    )?
    .0;
    let started = Instant::now();
    diesel::sql_query(format!(
        "INSERT INTO clients (workspace_id, name, phone, assigned_to) \
         SELECT {w}, 'Client ' || g, '+1415' || lpad(g::text, 7, '0'), CASE WHEN g % 10 = 0 THEN {agent} END FROM generate_series(1, {n}) g",
        agent = agent.id
    ))
    .execute(&mut conn)?;
    diesel::sql_query(format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
         SELECT {w}, id, 'whatsapp', 'inbound', phone, '+14155550100', 'Hello, is my order ' || id || ' on its way?', 'received', now() - (id % 5000) * interval '1 minute' \
         FROM clients WHERE workspace_id = {w}"
    ))
    .execute(&mut conn)?;
    diesel::sql_query(format!("UPDATE chats SET assignee_id = {} WHERE workspace_id = {w} AND id % 4 = 0", admin.id)).execute(&mut conn)?;
    diesel::sql_query(format!(
        "INSERT INTO chat_reads (workspace_id, chat_id, user_id, read_count) SELECT {w}, id, {}, inbound_count FROM chats WHERE workspace_id = {w} AND id % 3 = 0",
        admin.id
    ))
    .execute(&mut conn)?;
    diesel::sql_query("VACUUM ANALYZE").execute(&mut conn)?;
    let chats = count(&mut conn, &format!("SELECT count(*) FROM chats WHERE workspace_id = {w}"));
    println!("setup: {chats} chats (one inbound message each) in {} ms", started.elapsed().as_millis());

    let browser = client(true);
    common::sign_in(&browser, &base, "admin@bench.example", "bench password 1")?;
    let agent_browser = client(true);
    common::sign_in(&agent_browser, &base, "agent@bench.example", "bench password 1")?;
    let requests = 3_000;
    let _ = run_load((0..300).map(|_| browser.get(format!("{base}/healthz"))).collect());
    let floor = run_load((0..requests).map(|_| browser.get(format!("{base}/healthz"))).collect());
    common::print("signed-in floor GET /healthz:", &floor, requests);
    let pages: [(&str, &reqwest::blocking::Client, &str); 5] = [
        ("GET /chat (admin, first page)", &browser, "/chat"),
        ("GET /chat?status=unassigned", &browser, "/chat?status=unassigned"),
        ("GET /chat?q=client%20123", &browser, "/chat?q=client%20123"),
        ("GET /chat (list region, sse refetch)", &browser, "/chat?status=open"),
        ("GET /chat (agent)", &agent_browser, "/chat"),
    ];
    for (label, who, path) in pages {
        let url = format!("{base}{path}");
        let region = label.contains("region");
        let load = run_load(
            (0..requests)
                .map(|_| {
                    let r = who.get(&url);
                    if region { r.header("HX-Request", "true").header("HX-Target", "chat-list").header("X-Background", "1") } else { r }
                })
                .collect(),
        );
        common::print(label, &load, requests);
        println!("  / floor: {:.2} (throughput), p99 {:.2}x the floor's", load.per_second / floor.per_second, load.p99_ms / floor.p99_ms);
    }
    drop(conn);
    app.resources.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
