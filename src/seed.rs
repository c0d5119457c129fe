//! `switchboard seed --workspace NAME --clients N`: realistic demo and benchmark data,
//! generated inside PostgreSQL with set-based INSERT … SELECT over generate_series (no row
//! travels through the app), in batches so progress shows and memory stays flat.

use std::time::Instant;

use anyhow::Context;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::authz::Role;
use crate::users::model::NewUser;
use crate::workspaces;

const BATCH: i64 = 100_000;
const FIRST: &str = "ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth','David','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Charles','Karen','Maria','Ana','Luis','Sofia','Wei','Yuki','Amara','Noah','Olivia','Liam','Emma','Ava','Lucas','Mia','Ethan','Chloe','Mateo','Zara','Omar','Priya']";
const LAST: &str = "ARRAY['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Rodriguez','Martinez','Hernandez','Lopez','Gonzalez','Wilson','Anderson','Thomas','Taylor','Moore','Jackson','Martin','Lee','Perez','Thompson','White','Harris','Sanchez','Clark','Ramirez','Lewis','Robinson','Walker','Young','Allen','King','Wright','Scott','Torres','Nguyen','Hill','Flores','Smithers','Okafor','Tanaka','Kowalski','Novak','Silva','Costa','Haddad','Khan','Ivanova']";
const COMPANY: &str = "ARRAY['Acme','Globex','Initech','Umbrella','Stark','Wayne','Hooli','Vandelay','Wonka','Cyberdyne','Soylent','Tyrell','Monarch','Gringotts','Oscorp','Aperture','Massive Dynamic','Pied Piper','Dunder Mifflin','Prestige Worldwide']";

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Seeds on two connections at once (one batch each), which keeps both cores busy.
pub fn run(pool: &crate::db::Pool, workspace: &str, clients: i64, password_hash: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let conn = &mut *pool.get()?;
    let ws = match workspaces::find_by_name(conn, workspace)? {
        Some(w) => w,
        None => workspaces::create(conn, workspace)?,
    };
    let w = ws.id;
    // Staff: 2 managers and 8 agents, 4 departments, 12 tags (created once).
    for (i, role) in std::iter::repeat_n(Role::Manager, 2).chain(std::iter::repeat_n(Role::Agent, 8)).enumerate() {
        let email = format!("{}{}@seed.example", role.as_str(), i + 1);
        if !crate::users::model::email_taken(conn, w, &email)? {
            let name = format!("Seed {} {}", role.as_str(), i + 1);
            NewUser { workspace_id: w, email: &email, name: &name, role, password_hash }.insert(conn)?;
        }
    }
    for name in ["Sales", "Support", "Partnerships", "Enterprise"] {
        diesel::sql_query("INSERT INTO departments (workspace_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind::<BigInt, _>(w)
            .bind::<Text, _>(name)
            .execute(conn)?;
    }
    for name in ["vip", "newsletter", "trial", "churn-risk", "partner", "lead", "renewal", "upsell", "event-2026", "referral", "priority", "cold-list"] {
        diesel::sql_query("INSERT INTO tags (workspace_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind::<BigInt, _>(w)
            .bind::<Text, _>(name)
            .execute(conn)?;
    }
    // Staff of the seed get the departments round-robin.
    diesel::sql_query(
        "INSERT INTO user_departments (workspace_id, user_id, department_id) \
         SELECT u.workspace_id, u.id, d.id FROM \
           (SELECT workspace_id, id, row_number() OVER (ORDER BY id) AS n FROM users WHERE workspace_id = $1 AND email LIKE '%@seed.example') u \
           JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM departments WHERE workspace_id = $1) d \
             ON d.n = u.n % (SELECT count(*) FROM departments WHERE workspace_id = $1) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(w)
    .execute(conn)?;

    let offset: i64 = diesel::sql_query("SELECT coalesce(max(id), 0) AS id FROM clients WHERE workspace_id = $1")
        .bind::<BigInt, _>(w)
        .get_result::<Id>(conn)?
        .id;
    let batches = (clients + BATCH - 1) / BATCH;
    let next = std::sync::atomic::AtomicI64::new(0);
    let done = std::sync::atomic::AtomicI64::new(0);
    std::thread::scope(|threads| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                threads.spawn(|| -> anyhow::Result<()> {
                    let mut conn = pool.get()?;
                    // Room for the trigram index's pending list during the bulk load.
                    diesel::sql_query("SET maintenance_work_mem = '256MB'").execute(&mut conn)?;
                    loop {
                        let batch = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if batch >= batches {
                            return Ok(());
                        }
                        let from = offset + batch * BATCH + 1;
                        let to = offset + ((batch + 1) * BATCH).min(clients);
                        conn.transaction(|tx| seed_batch(tx, w, from, to)).with_context(|| format!("seeding clients {from}..{to}"))?;
                        let total = done.fetch_add(to - from + 1, std::sync::atomic::Ordering::SeqCst) + to - from + 1;
                        eprintln!("seeded {total}/{clients} clients ({:.1} s)", started.elapsed().as_secs_f64());
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| anyhow::anyhow!("a seeding thread panicked"))??;
        }
        Ok(())
    })?;
    // A visibility map for clients, so the list's index-only scans stay index-only; the
    // counters' dead versions cleaned; fresh statistics everywhere else (autovacuum does the
    // rest later).
    diesel::sql_query("VACUUM ANALYZE clients, client_counts, communication_counts, follow_up_counts").execute(conn)?;
    diesel::sql_query("ANALYZE client_departments, client_tags, communications, follow_ups").execute(conn)?;
    let entry = Entry::new(w, Actor::System, Action::SeedRun, "seed", w).after(serde_json::json!({ "clients": clients }));
    audit::record(conn, &entry)?;
    println!("Seeded {clients} clients into {:?} in {:.1} s.", ws.name, started.elapsed().as_secs_f64());
    Ok(())
}

/// Clients `from..=to` (a sequence number, not the id) with departments, tags,
/// 0–5 communications (the newest at the client's last-contacted time) and 0–2 follow-ups each.
/// Names are 40 first names × 26 middle initials × 50 last names (52,000 of them). With 2,000
/// (no initial), a million clients held each name 500 times, so in name order the first
/// "… Smith" came after a fifth of the workspace: a name-ordered search then walked 20,000
/// index entries for its first page at 1M against 1,850 at 100k, a cost of the data, not of
/// the size (issue 20).
fn seed_batch(conn: &mut PgConnection, w: i64, from: i64, to: i64) -> QueryResult<()> {
    let sql = format!(
        "WITH staff AS (SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE workspace_id = $1 AND active), \
         tags_of AS (SELECT array_agg(id ORDER BY id) AS ids FROM tags WHERE workspace_id = $1), \
         inserted AS ( \
           INSERT INTO clients (workspace_id, name, email, phone, phone_formatted, company, status, assigned_to, created_at, last_contacted_at, tag_ids) \
           SELECT $1, \
             ({FIRST})[1 + g % 40] || ' ' || chr(65 + ((g / 2000) % 26)::int) || '. ' || ({LAST})[1 + (g / 40) % 50], \
             CASE WHEN g % 10 <> 0 THEN lower(({FIRST})[1 + g % 40] || '.' || ({LAST})[1 + (g / 40) % 50]) || '.' || g || '@example.com' END, \
             CASE WHEN g % 7 <> 0 THEN '+1' || (2012000000 + g)::text END, \
             CASE WHEN g % 7 <> 0 THEN regexp_replace((2012000000 + g)::text, '^(...)(...)(....)$', '+1 \\1 \\2 \\3') END, \
             CASE WHEN g % 4 <> 0 THEN ({COMPANY})[1 + (g * 31) % 20] || CASE WHEN g % 3 = 0 THEN ' Ltd' ELSE ' Inc' END END, \
             (ARRAY['hot','warm','warm','inactive'])[1 + g % 4], \
             CASE WHEN g % 20 <> 0 THEN staff.ids[1 + g % cardinality(staff.ids)] END, \
             now() - ((g % 730) || ' days')::interval, \
             CASE WHEN g % 5 <> 0 THEN now() - ((g % 90) || ' days')::interval - ((g * 37) % 1440) * interval '1 minute' END, \
             ARRAY(SELECT DISTINCT tags_of.ids[1 + (g * k) % cardinality(tags_of.ids)] \
                   FROM generate_series(1, CASE WHEN cardinality(tags_of.ids) > 0 THEN (g % 3)::int ELSE 0 END) k ORDER BY 1) \
           FROM generate_series($2::bigint, $3::bigint) g, staff, tags_of \
           ON CONFLICT DO NOTHING \
           RETURNING id, last_contacted_at, tag_ids \
         ), \
         departments_of AS (SELECT array_agg(id ORDER BY id) AS ids FROM departments WHERE workspace_id = $1), \
         d AS ( \
           INSERT INTO client_departments (workspace_id, client_id, department_id) \
           SELECT $1, i.id, departments_of.ids[1 + i.id % cardinality(departments_of.ids)] FROM inserted i, departments_of \
         ), \
         t AS ( \
           INSERT INTO client_tags (workspace_id, client_id, tag_id) \
           SELECT $1, i.id, unnest(i.tag_ids) FROM inserted i \
         ), \
         c AS ( \
           INSERT INTO communications (workspace_id, client_id, kind, occurred_at, notes) \
           SELECT $1, i.id, (ARRAY['call','email','meeting','note'])[1 + (i.id + k) % 4], \
                  i.last_contacted_at - (k - 1) * ((i.id % 7) + 1) * interval '1 day' \
                    - (k - 1) * ((i.id * 37) % 600) * interval '1 minute', \
                  'Seeded conversation ' || k \
           FROM inserted i, generate_series(1, CASE WHEN i.last_contacted_at IS NULL THEN 0 ELSE 1 + (i.id % 5)::int END) k \
         ) \
         INSERT INTO follow_ups (workspace_id, client_id, assigned_to, due_at, notes) \
         SELECT $1, i.id, staff.ids[1 + i.id % cardinality(staff.ids)], \
                now() + ((((i.id * k) % 30) - 10) || ' days')::interval + ((i.id * 53 + k * 7) % 1440) * interval '1 minute', \
                'Seeded follow-up ' || k \
         FROM inserted i, staff, generate_series(1, (i.id % 3)::int) k"
    );
    diesel::sql_query(sql).bind::<BigInt, _>(w).bind::<BigInt, _>(from).bind::<BigInt, _>(to).execute(conn).map(|_| ())
}
