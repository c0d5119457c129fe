use reqwest::StatusCode;
use diesel::RunQueryDsl;
use switchboard::users::role::Role;

use crate::support::{assert_redirects_to, location, spawn_app};

#[tokio::test]
async fn logging_a_call_adds_it_to_the_timeline_and_moves_last_contacted() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id: i64 = location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    let path = format!("/clients/{id}/communications");
    assert_redirects_to(&admin.post(&path, &[("kind", "call"), ("occurred_at", "2026-11-20T10:00"), ("notes", "Asked for a quote")]).await, &format!("/clients/{id}"));
    assert_redirects_to(&admin.post(&path, &[("kind", "email"), ("occurred_at", "2026-11-01T10:00"), ("notes", "Older email")]).await, &format!("/clients/{id}"));
    let html = admin.get_html(&format!("/clients/{id}")).await;
    assert!(html.find("Asked for a quote").unwrap() < html.find("Older email").unwrap(), "newest first");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM clients WHERE id = {id} AND last_contacted_at = '2026-11-20T10:00:00Z'")),
        1,
        "an older communication does not move last contacted back"
    );
    let bad = admin.post(&path, &[("kind", "fax"), ("notes", "x")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("Kind must be call, email, meeting or note."));
    let bad_time = admin.post(&path, &[("kind", "call"), ("occurred_at", "soon")]).await;
    assert_eq!(bad_time.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM communications"), 2);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'communications.logged'"), 2);
}

#[tokio::test]
async fn follow_ups_are_added_listed_by_view_and_completed() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let id: i64 = location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    let path = format!("/clients/{id}/follow-ups");
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M").to_string();
    let next_week = (chrono::Utc::now() + chrono::Duration::days(7)).format("%Y-%m-%dT%H:%M").to_string();
    assert_redirects_to(&admin.post(&path, &[("due_at", &yesterday), ("notes", "Call back"), ("assigned_to", &me.id.to_string())]).await, &format!("/clients/{id}"));
    assert_redirects_to(&admin.post(&path, &[("due_at", &next_week), ("notes", "Send contract")]).await, &format!("/clients/{id}"));
    assert_eq!(admin.post(&path, &[("due_at", "never")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(admin.post(&path, &[("due_at", &next_week), ("assigned_to", "999999")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let mine = admin.get_html("/follow-ups?view=mine").await;
    assert!(mine.contains("Call back") && mine.contains("Send contract"));
    let overdue = admin.get_html("/follow-ups?view=overdue").await;
    assert!(overdue.contains("Call back") && !overdue.contains("Send contract"));
    assert_eq!(admin.get("/follow-ups?view=everything").await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let fu = app.count("SELECT id FROM follow_ups WHERE notes = 'Call back'");
    let r = admin.post(&format!("/follow-ups/{fu}"), &[("status", "completed"), ("next", "/follow-ups?view=overdue")]).await;
    assert_redirects_to(&r, "/follow-ups?view=overdue");
    assert!(!admin.get_html("/follow-ups?view=overdue").await.contains("Call back"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM follow_ups WHERE id = {fu} AND status = 'completed' AND completed_at IS NOT NULL")), 1);
    assert_eq!(admin.post(&format!("/follow-ups/{fu}"), &[("status", "done")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn activity_on_a_client_the_user_cannot_see_is_404() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (agent, _) = app.signed_in(Role::Agent).await;
    let id: i64 = location(&admin.post("/clients", &[("name", "Not yours")]).await).trim_start_matches("/clients/").parse().unwrap();
    admin.post(&format!("/clients/{id}/follow-ups"), &[("due_at", "2026-12-01T10:00")]).await;
    let fu = app.count("SELECT id FROM follow_ups");
    assert_eq!(agent.post(&format!("/clients/{id}/communications"), &[("kind", "call")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(agent.post(&format!("/clients/{id}/communications"), &[("kind", "fax")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(agent.post(&format!("/clients/{id}/follow-ups"), &[("due_at", "2026-12-01T10:00")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(agent.post(&format!("/follow-ups/{fu}"), &[("status", "cancelled")]).await.status(), StatusCode::NOT_FOUND);
    assert!(!agent.get_html("/follow-ups?view=today").await.contains("Not yours"));
    assert_eq!(app.count("SELECT count(*) FROM follow_ups WHERE status = 'pending'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM communications"), 0);
}

#[tokio::test]
async fn the_today_view_uses_the_workspace_day_and_mine_only_my_follow_ups() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let colleague = app.create_user_named("Acme", "colleague@acme.test", "Colleague", Role::Agent);
    // Fourteen hours ahead of UTC, so the workspace's day is not UTC's day.
    let zone_form = [("name", "Acme"), ("time_zone", "Pacific/Kiritimati"), ("default_country", "KI")];
    assert_redirects_to(&admin.post("/settings/workspace", &zone_form).await, "/settings/workspace");
    let zone: chrono_tz::Tz = "Pacific/Kiritimati".parse().unwrap();
    let today = app.clock.now().with_timezone(&zone).date_naive();
    let at = |day: chrono::NaiveDate, time: &str| format!("{}T{time}", day.format("%Y-%m-%d"));
    let id: i64 = location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    let path = format!("/clients/{id}/follow-ups");
    for (due, notes, owner) in [
        (at(today, "00:01"), "Early today", me.id),
        (at(today, "23:59"), "Late today", colleague.id),
        (at(today.pred_opt().unwrap(), "23:59"), "Last night", me.id),
        (at(today.succ_opt().unwrap(), "00:01"), "Tomorrow morning", colleague.id),
    ] {
        let r = admin.post(&path, &[("due_at", due.as_str()), ("notes", notes), ("assigned_to", &owner.to_string())]).await;
        assert_redirects_to(&r, &format!("/clients/{id}"));
    }
    let html = admin.get_html("/follow-ups?view=today").await;
    for (notes, shown) in [("Early today", true), ("Late today", true), ("Last night", false), ("Tomorrow morning", false)] {
        assert_eq!(html.contains(notes), shown, "{notes} in today's view");
    }
    let html = admin.get_html("/follow-ups").await;
    for (notes, shown) in [("Early today", true), ("Late today", false), ("Last night", true), ("Tomorrow morning", false)] {
        assert_eq!(html.contains(notes), shown, "{notes} in my view (the default)");
    }
    assert!(html.find("Last night").unwrap() < html.find("Early today").unwrap(), "by due time");
}

#[tokio::test]
async fn the_follow_ups_list_pages_in_sql_with_done_and_reopen_on_each_row() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let id: i64 = location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    // 120 follow-ups of mine, one a minute from tomorrow on.
    diesel::sql_query(format!(
        "INSERT INTO follow_ups (workspace_id, client_id, assigned_to, due_at, notes) \
         SELECT {w}, {id}, {me}, now() + interval '1 day' + g * interval '1 minute', 'Task ' || lpad(g::text, 3, '0') \
         FROM generate_series(1, 120) g",
        w = me.workspace_id,
        me = me.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let rows = |html: &str| html.matches("<tr id=\"follow-up-").count();
    let first = admin.get_html("/follow-ups?view=mine").await;
    assert_eq!(rows(&first), 50, "a page holds 50 rows");
    assert!(first.contains("Task 001") && first.contains("Task 050") && !first.contains("Task 051"));
    assert!(first.contains("href=\"/follow-ups?view=mine&amp;page=2\""), "a link to the next page");
    assert!(!first.contains("Done: "), "no wall of buttons below the table");
    let third = admin.get_html("/follow-ups?view=mine&page=3").await;
    assert_eq!(rows(&third), 20);
    assert!(third.contains("Task 101") && third.contains("Task 120") && !third.contains("page=4"));

    // Each row carries its own Done form, which comes back to the same page.
    let fu = app.count("SELECT id FROM follow_ups WHERE notes = 'Task 101'");
    let row = third.split(&format!("<tr id=\"follow-up-{fu}\"")).nth(1).unwrap().split("</tr>").next().unwrap().replace("&#38;", "&amp;");
    assert!(row.contains(&format!("action=\"/follow-ups/{fu}\"")) && row.contains("value=\"completed\""), "{row}");
    assert!(row.contains("value=\"/follow-ups?view=mine&amp;page=3\""), "{row}");
    let r = admin.post(&format!("/follow-ups/{fu}"), &[("status", "completed"), ("next", "/follow-ups?view=mine&page=3")]).await;
    assert_redirects_to(&r, "/follow-ups?view=mine&page=3");

    // Completed ones are listed as completed, and can be reopened from their row.
    let done = admin.get_html("/follow-ups?view=completed").await;
    let row = done.split(&format!("<tr id=\"follow-up-{fu}\"")).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(done.contains(&format!("<tr id=\"follow-up-{fu}\" class=\"completed\"")), "{done}");
    assert!(row.contains("value=\"pending\"") && row.contains(">Reopen<"), "{row}");
    admin.post(&format!("/follow-ups/{fu}"), &[("status", "pending"), ("next", "/follow-ups?view=completed")]).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM follow_ups WHERE id = {fu} AND status = 'pending' AND completed_at IS NULL")), 1);
    assert!(!admin.get_html("/follow-ups?view=completed").await.contains("Task 101"));
}

#[tokio::test]
async fn the_client_timeline_has_done_and_reopen_on_each_follow_up_and_no_buttons_outside_it() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id: i64 = location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    let due = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%dT%H:%M").to_string();
    admin.post(&format!("/clients/{id}/follow-ups"), &[("due_at", &due), ("notes", "Send the offer")]).await;
    let fu = app.count("SELECT id FROM follow_ups WHERE notes = 'Send the offer'");
    let item = |html: &str| html.split(&format!("id=\"follow_up-{fu}\"")).nth(1).unwrap().split("</li>").next().unwrap().to_string();
    let page = admin.get_html(&format!("/clients/{id}")).await;
    let pending = item(&page);
    assert!(pending.contains(&format!("action=\"/follow-ups/{fu}\"")) && pending.contains("value=\"completed\"") && pending.contains(">Done<"), "{pending}");
    let after_timeline = page.split("</ol>").nth(1).unwrap_or_default();
    assert!(!after_timeline.contains(&format!("/follow-ups/{fu}")), "no follow-up buttons below the timeline");
    admin.post(&format!("/follow-ups/{fu}"), &[("status", "completed")]).await;
    let page = admin.get_html(&format!("/clients/{id}")).await;
    assert!(page.contains(&format!("class=\"timeline-follow_up completed\" id=\"follow_up-{fu}\"")), "completed looks completed");
    let done = item(&page);
    assert!(done.contains("value=\"pending\"") && done.contains(">Reopen<"), "{done}");
    admin.post(&format!("/follow-ups/{fu}"), &[("status", "pending")]).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM follow_ups WHERE id = {fu} AND status = 'pending'")), 1);
}
