use reqwest::StatusCode;
use diesel::RunQueryDsl;
use switchboard::authz::Role;

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

#[tokio::test]
async fn logging_a_call_with_htmx_answers_the_timeline_and_the_last_contacted_field_in_place() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id: i64 = location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    let path = format!("/clients/{id}/communications");
    let r = admin.htmx_post(&path, &[("kind", "call"), ("occurred_at", "2026-11-20 10:05"), ("notes", "Asked for a quote")]).await;
    assert_eq!(r.status(), StatusCode::OK, "no redirect for htmx");
    let html = r.text().await.unwrap();
    assert!(html.starts_with("<section class=\"card\" id=\"client-timeline\">"), "{html}");
    assert!(html.contains("<p class=\"flash success\" role=\"status\">Call logged.</p>"), "{html}");
    assert!(html.contains("Asked for a quote"), "the timeline shows the new call");
    assert!(html.contains("<dd id=\"last-contacted\" hx-swap-oob=\"true\">2026-11-20 10:05</dd>"), "{html}");
    assert!(!html.contains("<h1"), "only the timeline and the field, not the page");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {id} AND last_contacted_at = '2026-11-20T10:05:00Z'")), 1);

    // A meeting says so; a bad time is refused in place with the form left open.
    let r = admin.htmx_post(&path, &[("kind", "meeting"), ("occurred_at", "2026-11-21T09:00")]).await;
    assert!(r.text().await.unwrap().contains(">Meeting logged.<"));
    let r = admin.htmx_post(&path, &[("kind", "call"), ("occurred_at", "2026-11-21 9pm")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("When must be a date and 24-hour time like 2026-01-31 14:30."), "{html}");
    assert!(html.contains("<details class=\"disclosure\" id=\"log-activity\" open>"), "{html}");
    assert_eq!(app.count("SELECT count(*) FROM communications"), 2);

    // Without JavaScript: a redirect back with a flash that says what was logged.
    assert_redirects_to(&admin.post(&path, &[("kind", "email"), ("occurred_at", "2026-11-22 08:00")]).await, &format!("/clients/{id}"));
    let page = admin.get_html(&format!("/clients/{id}")).await;
    assert!(page.contains("Email logged."), "{page}");
    assert!(page.contains("<dd id=\"last-contacted\">2026-11-22 08:00</dd>"), "{page}");
}

#[tokio::test]
async fn the_client_page_folds_its_forms_behind_buttons_and_types_times_in_24_hours() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id: i64 = location(&admin.post("/clients", &[("name", "Ada")]).await).trim_start_matches("/clients/").parse().unwrap();
    let minute = || app.clock.now().format("%Y-%m-%d %H:%M").to_string();
    let before = minute();
    let page = admin.get_html(&format!("/clients/{id}")).await;
    let after = minute();
    assert!(page.contains("<details class=\"disclosure\" id=\"log-activity\">\n      <summary class=\"button\">Log a call / email / meeting</summary>"), "{page}");
    assert!(page.contains("<details class=\"disclosure\" id=\"add-follow-up\">\n      <summary class=\"button secondary\">Add a follow-up</summary>"), "{page}");
    assert!(!page.contains("datetime-local"), "the browser's locale may show 12-hour times");
    for (field, name) in [("comm-when", "occurred_at"), ("fu-due", "due_at")] {
        let input = page.split(&format!("id=\"{field}\"")).nth(1).unwrap().split('>').next().unwrap();
        assert!(input.contains(&format!("name=\"{name}\" type=\"text\"")), "{input}");
        assert!(input.contains(&format!("value=\"{before}\"")) || input.contains(&format!("value=\"{after}\"")), "prefilled in the workspace's zone: {input}");
        assert!(input.contains("placeholder=\"YYYY-MM-DD HH:MM\""), "{input}");
    }

    // Follow-ups take the same format, and a bad one says how to write it.
    let path = format!("/clients/{id}/follow-ups");
    assert_redirects_to(&admin.post(&path, &[("due_at", "2030-01-02 17:45"), ("notes", "Send it")]).await, &format!("/clients/{id}"));
    assert_eq!(app.count("SELECT count(*) FROM follow_ups WHERE due_at = '2030-01-02T17:45:00Z'"), 1);
    let bad = admin.post(&path, &[("due_at", "2030-01-02 25:00")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    assert!(html.contains("Due must be a date and 24-hour time like 2026-01-31 14:30."), "{html}");
    assert!(html.contains("<details class=\"disclosure\" id=\"add-follow-up\" open>"), "{html}");
    let r = admin.htmx_post(&path, &[("due_at", "2030-01-03 08:00"), ("notes", "Call again")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(">Follow-up added.<") && html.contains("Call again"), "{html}");
}
