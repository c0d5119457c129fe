use diesel::prelude::*;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{TestApp, spawn_app};

fn counter_total(app: &TestApp) -> i64 {
    app.count("SELECT coalesce(sum(n), 0) FROM client_counts")
}

#[tokio::test]
async fn the_dashboard_shell_loads_its_tiles_lazily() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let html = admin.get_html("/").await;
    for tile in ["clients", "follow-ups", "communications", "my-follow-ups"] {
        assert!(html.contains(&format!(r#"hx-get="/dashboard/{tile}" hx-trigger="load""#)), "{tile}");
        assert_eq!(admin.get(&format!("/dashboard/{tile}")).await.status(), StatusCode::OK, "{tile}");
    }
    assert_eq!(app.browser().get("/dashboard/clients").await.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn client_counters_follow_every_kind_of_change_and_respect_roles() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let sales = switchboard::departments::insert(&mut app.conn(), me.workspace_id, "Sales").unwrap().id;
    switchboard::users::model::set_departments(&mut app.conn(), me.workspace_id, manager_user.id, &[sales]).unwrap();
    for (name, status, assignee, dept) in [("A", "hot", Some(agent_user.id), None), ("B", "hot", None, Some(sales)), ("C", "warm", None, None), ("D", "inactive", Some(agent_user.id), None)] {
        let assignee = assignee.map(|a| a.to_string()).unwrap_or_default();
        let dept = dept.map(|d| d.to_string());
        let mut fields = vec![("name", name), ("status", status), ("assigned_to", assignee.as_str())];
        if let Some(dept) = &dept {
            fields.push(("department_ids", dept));
        }
        let r = admin.post("/clients", &fields).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}: {}", r.text().await.unwrap());
    }
    // Bulk status, a delete and raw SQL all keep the counters right.
    admin.post("/clients/bulk", &[("action", "status"), ("status", "warm"), ("target", "all"), ("q", "c")]).await;
    let d = app.count("SELECT id FROM clients WHERE name = 'D'");
    admin.post(&format!("/clients/{d}/delete"), &[]).await;
    diesel::sql_query(format!("UPDATE clients SET status = 'inactive' WHERE name = 'C' AND workspace_id = {}", me.workspace_id)).execute(&mut app.conn()).unwrap();
    assert_eq!(counter_total(&app), app.count("SELECT count(*) FROM clients"));
    let exact = app.count("SELECT count(*) FROM client_counts k WHERE n <> (SELECT count(*) FROM clients c WHERE c.workspace_id = k.workspace_id AND coalesce(c.assigned_to, 0) = k.assigned_to AND c.status = k.status)");
    assert_eq!(exact, 0, "every counter equals a real count");

    let tile = |html: String| html.split_whitespace().collect::<Vec<_>>().join(" ");
    let all = tile(admin.get_html("/dashboard/clients").await);
    assert!(all.contains(r#"<p class="big"><a href="/clients">3</a></p>"#), "{all}");
    assert!(all.contains(r#"hot</span> 2"#) && all.contains(r#"inactive</span> 1"#), "{all}");
    let mine = tile(agent.get_html("/dashboard/clients").await);
    assert!(mine.contains(r#"<p class="big"><a href="/clients">1</a></p>"#) && mine.contains(r#"hot</span> 1"#), "{mine}");
    let dept = tile(manager.get_html("/dashboard/clients").await);
    assert!(dept.contains(r#"<p class="big"><a href="/clients">1</a></p>"#), "{dept}");
}

#[tokio::test]
async fn follow_up_and_communication_tiles_count_what_is_due_and_logged() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let id: i64 = crate::support::location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    let fmt = |d: chrono::Duration| (app.clock.now() + d).format("%Y-%m-%dT%H:%M").to_string();
    for (due, notes) in [(fmt(-chrono::Duration::hours(2)), "late"), (fmt(chrono::Duration::hours(3)), "soon"), (fmt(chrono::Duration::days(5)), "later")] {
        admin.post(&format!("/clients/{id}/follow-ups"), &[("due_at", &due), ("notes", notes), ("assigned_to", &me.id.to_string())]).await;
    }
    for _ in 0..3 {
        admin.post(&format!("/clients/{id}/communications"), &[("kind", "call")]).await;
    }
    admin.post(&format!("/clients/{id}/communications"), &[("kind", "note"), ("occurred_at", &fmt(-chrono::Duration::days(30)))]).await;
    let squash = |html: String| html.split_whitespace().collect::<Vec<_>>().join(" ");
    let follow = squash(admin.get_html("/dashboard/follow-ups").await);
    assert!(follow.contains("Pending <strong>3</strong>") && follow.contains(r#"<strong class="overdue">1</strong>"#) && follow.contains("Due in 24 h <strong>1</strong>"), "{follow}");
    let chart = admin.get_html("/dashboard/communications").await;
    assert!(chart.contains("3 in all"), "only the last 7 days count: {chart}");
    assert_eq!(chart.matches("<rect").count(), 7);
    let mine = admin.get_html("/dashboard/my-follow-ups").await;
    assert!(mine.find("late").unwrap() < mine.find("soon").unwrap());
    // An agent's chart counts only their clients.
    let (agent, _) = app.signed_in(Role::Agent).await;
    assert!(agent.get_html("/dashboard/communications").await.contains("0 in all"));
    assert!(squash(agent.get_html("/dashboard/follow-ups").await).contains("Pending <strong>0</strong>"));
}

#[tokio::test]
async fn follow_up_tile_counts_match_the_table_at_every_hour_edge() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let id: i64 = crate::support::location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    // 600 follow-ups every 7 minutes from 40 hours ago to 30 hours ahead, split between two owners.
    diesel::sql_query(format!(
        "INSERT INTO follow_ups (workspace_id, client_id, assigned_to, due_at) \
         SELECT {w}, {id}, CASE WHEN g % 2 = 0 THEN {me} ELSE {agent} END, now() - interval '40 hours' + g * interval '7 minutes' \
         FROM generate_series(1, 600) g",
        w = me.workspace_id,
        me = me.id,
        agent = agent_user.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    diesel::sql_query("UPDATE follow_ups SET status = 'completed' WHERE id % 5 = 0").execute(&mut app.conn()).unwrap();
    let squash = |html: String| html.split_whitespace().collect::<Vec<_>>().join(" ");
    for (browser, owner) in [(&admin, None), (&agent, Some(agent_user.id))] {
        let scope = owner.map(|o| format!(" AND assigned_to = {o}")).unwrap_or_default();
        let pending = app.count(&format!("SELECT count(*) FROM follow_ups WHERE status = 'pending'{scope}"));
        let overdue = app.count(&format!("SELECT count(*) FROM follow_ups WHERE status = 'pending' AND due_at < now(){scope}"));
        let soon = app.count(&format!("SELECT count(*) FROM follow_ups WHERE status = 'pending' AND due_at >= now() AND due_at < now() + interval '24 hours'{scope}"));
        let tile = squash(browser.get_html("/dashboard/follow-ups").await);
        assert!(tile.contains(&format!("Pending <strong>{pending}</strong>")), "{tile} vs {pending}");
        assert!(tile.contains(&format!(r#"<strong class="overdue">{overdue}</strong>"#)), "{tile} vs {overdue}");
        assert!(tile.contains(&format!("Due in 24 h <strong>{soon}</strong>")), "{tile} vs {soon}");
    }
}

#[tokio::test]
async fn follow_up_tile_counts_match_the_table_at_day_hour_minute_and_second_edges() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let id: i64 = crate::support::location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    // A follow-up every 41 s from three days before the app's clock to four days after it,
    // so every day, hour and minute edge has some on both sides; a fifth are completed.
    let start = app.clock.now() - chrono::Duration::days(3);
    diesel::sql_query(format!(
        "INSERT INTO follow_ups (workspace_id, client_id, assigned_to, due_at) \
         SELECT {w}, {id}, CASE WHEN g % 3 = 0 THEN {me} ELSE {agent} END, '{start}'::timestamptz + g * interval '41 seconds' \
         FROM generate_series(1, 14750) g",
        w = me.workspace_id,
        me = me.id,
        agent = agent_user.id,
        start = start.to_rfc3339()
    ))
    .execute(&mut app.conn())
    .unwrap();
    diesel::sql_query("UPDATE follow_ups SET status = 'completed' WHERE id % 5 = 0").execute(&mut app.conn()).unwrap();
    let squash = |html: String| html.split_whitespace().collect::<Vec<_>>().join(" ");
    // Move every follow-up earlier by steps that put the clock just before and after
    // minute, hour and day edges (which also runs the counters' update trigger).
    for step in [0, 17, 59 * 60 + 43, 3 * 3600 + 1, 11 * 3600 + 59 * 60 + 59, 86_400 - 1, 2, 86_400 + 41] {
        diesel::sql_query(format!("UPDATE follow_ups SET due_at = due_at - interval '{step} seconds'")).execute(&mut app.conn()).unwrap();
        for (browser, owner) in [(&admin, None), (&agent, Some(agent_user.id))] {
            let scope = owner.map(|o| format!(" AND assigned_to = {o}")).unwrap_or_default();
            let count = |cond: &str| app.count(&format!("SELECT count(*) FROM follow_ups WHERE status = 'pending' {cond}{scope}"));
            let expected = |now: String| {
                let overdue = count(&format!("AND due_at < '{now}'"));
                let soon = count(&format!("AND due_at >= '{now}' AND due_at < '{now}'::timestamptz + interval '24 hours'"));
                (count(""), overdue, soon)
            };
            // The clock runs on: when a due time falls between the instants before and after
            // the request, ask again.
            let (tile, (pending, overdue, soon)) = loop {
                let before = expected(app.clock.now().to_rfc3339());
                let tile = squash(browser.get_html("/dashboard/follow-ups").await);
                if expected(app.clock.now().to_rfc3339()) == before {
                    break (tile, before);
                }
            };
            let case = format!("after step {step} for {owner:?}: {tile}");
            assert!(tile.contains(&format!("Pending <strong>{pending}</strong>")), "pending {pending} {case}");
            assert!(tile.contains(&format!(r#"<strong class="overdue">{overdue}</strong>"#)), "overdue {overdue} {case}");
            assert!(tile.contains(&format!("Due in 24 h <strong>{soon}</strong>")), "soon {soon} {case}");
        }
    }
}

#[tokio::test]
async fn a_tile_answers_a_full_page_without_htmx_and_its_fragment_with_htmx() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (tile, title) in switchboard::dashboard::TILES {
        // The <noscript> "Show" link opens the tile in the base layout.
        let page = admin.get_html(&format!("/dashboard/{tile}")).await;
        assert!(page.starts_with("<!doctype html>"), "{tile}: {page}");
        assert!(page.contains(&format!("<title>{title} · Switchboard</title>")), "{tile}");
        assert!(page.contains(r#"<link rel="stylesheet""#), "{tile}");
        assert!(page.contains(&format!(r#"<h1 id="h-{tile}">{title}</h1>"#)), "{tile}");
        assert!(page.contains(&format!(r#"<div class="tile-body" id="tile-{tile}">"#)), "{tile}: the tile itself, unescaped");
        assert!(page.contains(r#"<a href="/">← Dashboard</a>"#), "{tile}");
        let fragment = admin.htmx_get(&format!("/dashboard/{tile}")).await.text().await.unwrap();
        assert!(fragment.starts_with(&format!(r#"<div class="tile-body" id="tile-{tile}">"#)), "{tile}: {fragment}");
        assert!(!fragment.contains("<html"), "{tile}");
    }
}

/// Issue 10 item 15: every figure links to the list it counts, filtered and scoped as the
/// tile is; a zero is not shown in alarm red.
#[tokio::test]
async fn each_tile_figure_links_to_the_list_it_counts_and_zero_is_not_red() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let squash = |html: String| html.split_whitespace().collect::<Vec<_>>().join(" ");
    let empty = squash(admin.get_html("/dashboard/follow-ups").await);
    assert!(empty.contains(r#"<a href="/follow-ups?view=overdue">Overdue <strong>0</strong></a>"#), "{empty}");
    assert!(!empty.contains("class=\"overdue\""), "overdue 0 is neutral: {empty}");

    let r = admin.post("/clients", &[("name", "Ada"), ("status", "hot"), ("assigned_to", &agent_user.id.to_string())]).await;
    let id: i64 = crate::support::location(&r).trim_start_matches("/clients/").parse().unwrap();
    let fmt = |d: chrono::Duration| (app.clock.now() + d).format("%Y-%m-%dT%H:%M").to_string();
    let (late, soon, later) = (fmt(-chrono::Duration::hours(2)), fmt(chrono::Duration::hours(3)), fmt(chrono::Duration::days(5)));
    for (due, notes, owner) in [(&late, "late one", agent_user.id), (&soon, "soon one", agent_user.id), (&later, "later one", agent_user.id), (&soon, "admins own", me.id)] {
        let r = admin.post(&format!("/clients/{id}/follow-ups"), &[("due_at", due), ("notes", notes), ("assigned_to", &owner.to_string())]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let tile = squash(admin.get_html("/dashboard/follow-ups").await);
    for figure in [
        r#"<a href="/follow-ups?view=pending">Pending <strong>4</strong></a>"#,
        r#"<a href="/follow-ups?view=overdue">Overdue <strong class="overdue">1</strong></a>"#,
        r#"<a href="/follow-ups?view=due-soon">Due in 24 h <strong>2</strong></a>"#,
    ] {
        assert!(tile.contains(figure), "{figure} missing from {tile}");
    }
    let clients = squash(admin.get_html("/dashboard/clients").await);
    assert!(clients.contains(r#"<a href="/clients?status=hot"><span class="pill hot">hot</span> 1</a>"#), "{clients}");

    // Each list holds what its figure counts.
    let rows = |html: &str| ["late one", "soon one", "later one", "admins own"].into_iter().filter(|n| html.contains(n)).collect::<Vec<_>>();
    assert_eq!(rows(&admin.get_html("/follow-ups?view=pending").await), ["late one", "soon one", "later one", "admins own"]);
    assert_eq!(rows(&admin.get_html("/follow-ups?view=due-soon").await), ["soon one", "admins own"]);
    assert_eq!(rows(&admin.get_html("/follow-ups?view=overdue").await), ["late one"]);
    // An agent's tile counts the follow-ups assigned to them; so do the lists it links to.
    let theirs = squash(agent.get_html("/dashboard/follow-ups").await);
    assert!(theirs.contains("Pending <strong>3</strong>") && theirs.contains("Due in 24 h <strong>1</strong>"), "{theirs}");
    assert_eq!(rows(&agent.get_html("/follow-ups?view=pending").await), ["late one", "soon one", "later one"]);
    assert_eq!(rows(&agent.get_html("/follow-ups?view=due-soon").await), ["soon one"]);
    assert_eq!(admin.get("/follow-ups?view=later").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
