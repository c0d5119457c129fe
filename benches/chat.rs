//! Chat inbox benchmark (`cargo bench --bench chat`; `CHATS=2000 MESSAGES=20000 cargo bench
//! --bench chat` for a quick run): the release app on its own private cluster.
//!
//! CHATS clients (default 10,000) each with an inbound WhatsApp message, seeded set-based
//! (the `messages` triggers open one chat each), every tenth assigned to an agent and every
//! third read by the admin; then MESSAGES messages in all (default 1,000,000: the rest spread
//! over the chats, both directions, written with the triggers off and the chats' counters set
//! after, as a year of history would be). Then at 32 connections beside the signed-in floor
//! (`GET /healthz` with the session cookie) in the same run: the inbox's first page, a tab, a
//! name search, the list region, an agent's list (the role condition), the conversation
//! search (issue 22: a common term in a sixth of the messages, a rare one in one in 10,000,
//! and an agent's), a conversation and a conversation opened at a search's hit.

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
    // The history: MESSAGES in all, the triggers off (no event or notification per row), then
    // each chat's counters and last messages as the triggers would have left them.
    let total: i64 = std::env::var("MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let more = (total - n).max(0);
    let history = Instant::now();
    diesel::sql_query("SET session_replication_role = replica").execute(&mut conn)?;
    diesel::sql_query(format!(
        "INSERT INTO messages (workspace_id, client_id, channel, direction, sender, recipient, body, status, created_at) \
         SELECT {w}, c.id, 'whatsapp', CASE WHEN g % 2 = 0 THEN 'inbound' ELSE 'outbound' END, \
                CASE WHEN g % 2 = 0 THEN c.phone ELSE '+14155550100' END, CASE WHEN g % 2 = 0 THEN '+14155550100' ELSE c.phone END, \
                (ARRAY['Is the order on its way?', 'It arrived broken, can I get a refund', 'Thanks a lot for your help', \
                       'Where is my parcel now', 'Can you call me tomorrow morning', 'We ship within two days'])[1 + g % 6] \
                || ' #' || g || CASE WHEN g % 10000 = 0 THEN ' kangaroo' ELSE '' END, \
                CASE WHEN g % 2 = 0 THEN 'received' ELSE 'read' END, now() - interval '400 days' + g * interval '30 seconds' \
         FROM generate_series(1, {more}) g JOIN clients c ON c.workspace_id = {w} AND c.id = (SELECT min(id) FROM clients WHERE workspace_id = {w}) + g % {n}"
    ))
    .execute(&mut conn)?;
    diesel::sql_query("SET session_replication_role = DEFAULT").execute(&mut conn)?;
    diesel::sql_query(format!(
        "UPDATE chats ch SET inbound_count = x.inbound, last_message_id = x.last_id, last_message_at = x.last_at, last_inbound_at = x.last_in \
         FROM (SELECT client_id, count(*) FILTER (WHERE direction = 'inbound') AS inbound, \
                      (array_agg(id ORDER BY created_at DESC, id DESC))[1] AS last_id, max(created_at) AS last_at, \
                      max(created_at) FILTER (WHERE direction = 'inbound') AS last_in \
               FROM messages WHERE workspace_id = {w} GROUP BY client_id) x \
         WHERE ch.workspace_id = {w} AND ch.client_id = x.client_id"
    ))
    .execute(&mut conn)?;
    println!("history: {more} more messages in {} ms", history.elapsed().as_millis());
    diesel::sql_query(format!("UPDATE chats SET assignee_id = {} WHERE workspace_id = {w} AND id % 4 = 0", admin.id)).execute(&mut conn)?;
    diesel::sql_query(format!(
        "INSERT INTO chat_reads (workspace_id, chat_id, user_id, read_count) SELECT {w}, id, {}, inbound_count FROM chats WHERE workspace_id = {w} AND id % 3 = 0",
        admin.id
    ))
    .execute(&mut conn)?;
    diesel::sql_query("VACUUM ANALYZE").execute(&mut conn)?;
    let chats = count(&mut conn, &format!("SELECT count(*) FROM chats WHERE workspace_id = {w}"));
    let messages = count(&mut conn, &format!("SELECT count(*) FROM messages WHERE workspace_id = {w}"));
    println!("setup: {chats} chats, {messages} messages in {} ms", started.elapsed().as_millis());
    // A conversation, and one of its messages with the rare term (a search's hit).
    let (busy, hit) = {
        let hit = count(&mut conn, &format!("SELECT min(id) FROM messages WHERE workspace_id = {w} AND body LIKE '%kangaroo%'"));
        let chat = count(&mut conn, &format!("SELECT ch.id FROM chats ch JOIN messages m ON m.workspace_id = ch.workspace_id AND m.client_id = ch.client_id WHERE m.id = {hit}"));
        (chat, hit)
    };

    let browser = client(true);
    common::sign_in(&browser, &base, "admin@bench.example", "bench password 1")?;
    let agent_browser = client(true);
    common::sign_in(&agent_browser, &base, "agent@bench.example", "bench password 1")?;
    let requests = 3_000;
    let _ = run_load((0..300).map(|_| browser.get(format!("{base}/healthz"))).collect());
    let floor = run_load((0..requests).map(|_| browser.get(format!("{base}/healthz"))).collect());
    common::print("signed-in floor GET /healthz:", &floor, requests);
    let conversation = format!("/chat/{busy}");
    let at_hit = format!("/chat/{busy}?at={hit}&q=kangaroo");
    let pages: [(&str, &reqwest::blocking::Client, &str); 11] = [
        ("GET /chat (admin, first page)", &browser, "/chat"),
        ("GET /chat?status=unassigned", &browser, "/chat?status=unassigned"),
        ("GET /chat?q=client%20123", &browser, "/chat?q=client%20123"),
        ("GET /chat (list region, sse refetch)", &browser, "/chat?status=open"),
        ("GET /chat (agent)", &agent_browser, "/chat"),
        ("GET /chat?q=parcel (text, 1 in 6 messages)", &browser, "/chat?q=parcel"),
        ("GET /chat?q=kangaroo (text, 1 in 10,000)", &browser, "/chat?q=kangaroo"),
        ("GET /chat?q=kangaroo (agent)", &agent_browser, "/chat?q=kangaroo"),
        ("GET /chat?q=zzzqqq (text, no match)", &browser, "/chat?q=zzzqqq"),
        ("GET /chat/{id} (a conversation)", &browser, &conversation),
        ("GET /chat/{id}?at=..&q=kangaroo (at the hit)", &browser, &at_hit),
    ];
    for (label, who, path) in pages {
        let url = format!("{base}{path}");
        let region = label.contains("region");
        // A text search over the whole history is slower: a tenth of the requests.
        let requests = if label.contains("(text") { requests / 10 } else { requests };
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
