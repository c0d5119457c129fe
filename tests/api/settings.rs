use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{PASSWORD, assert_redirects_to, spawn_app};

#[tokio::test]
async fn an_admin_invites_a_user_who_can_then_sign_in() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    admin.post("/settings/departments", &[("name", "Sales")]).await;
    let sales = app.count("SELECT id FROM departments WHERE name = 'Sales'");
    let r = admin
        .post(
            "/settings/users",
            &[("email", "Bob@Acme.test"), ("name", "Bob"), ("role", "manager"), ("password", PASSWORD), ("department_ids", &sales.to_string())],
        )
        .await;
    assert_redirects_to(&r, "/settings/users");
    let html = admin.get_html("/settings/users").await;
    assert!(html.contains("bob@acme.test") && html.contains("Bob can now sign in"));
    assert_eq!(app.count("SELECT count(*) FROM user_departments"), 1);
    assert_redirects_to(&app.browser().login("bob@acme.test", PASSWORD).await, "/");
}

#[tokio::test]
async fn invite_errors_are_shown_next_to_the_fields_and_nothing_is_written() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let r = admin.post("/settings/users", &[("email", "bad"), ("name", ""), ("role", "root"), ("password", "x")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    for message in ["Enter an email address", "Name is required.", "Role must be admin, manager or agent", "at least 8 characters"] {
        assert!(body.contains(message), "missing {message:?}");
    }
    let r = admin.post("/settings/users", &[("email", &me.email), ("name", "Dup"), ("role", "agent"), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("already has an account"));
    assert_eq!(app.count("SELECT count(*) FROM users"), 1);
}

#[tokio::test]
async fn an_admin_changes_a_role_but_not_their_own() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "agent@acme.test", Role::Agent);
    let r = admin.post(&format!("/settings/users/{}/role", agent.id), &[("role", "manager")]).await;
    assert_redirects_to(&r, "/settings/users");
    assert_eq!(app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND role = 'manager'", agent.id)), 1);
    let r = admin.post(&format!("/settings/users/{}/role", me.id), &[("role", "agent")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = admin.post(&format!("/settings/users/{}/role", agent.id), &[("role", "owner")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn agents_and_managers_cannot_reach_the_admin_pages() {
    let app = spawn_app().await;
    let target = app.create_user("Acme", "target@acme.test", Role::Agent);
    for role in [Role::Agent, Role::Manager] {
        let (browser, _) = app.signed_in(role).await;
        for path in ["/settings", "/settings/users", "/settings/departments", "/settings/design"] {
            assert_eq!(browser.get(path).await.status(), StatusCode::FORBIDDEN, "{role} GET {path}");
        }
        let r = browser.post(&format!("/settings/users/{}/role", target.id), &[("role", "admin")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = browser.post("/settings/departments", &[("name", "Mine")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(app.count("SELECT count(*) FROM users WHERE role = 'admin'"), 0);
    assert_eq!(app.count("SELECT count(*) FROM departments"), 0);
    // Agents do not see the audit log; managers do.
    let (agent, _) = app.signed_in(Role::Agent).await;
    assert_eq!(agent.get("/audit-logs").await.status(), StatusCode::FORBIDDEN);
    let (manager, _) = app.signed_in(Role::Manager).await;
    assert_eq!(manager.get("/audit-logs").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn departments_are_created_renamed_and_deleted_with_unique_names() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    assert_redirects_to(&admin.post("/settings/departments", &[("name", "Sales")]).await, "/settings/departments");
    let dup = admin.post("/settings/departments", &[("name", "sales")]).await;
    assert_eq!(dup.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(dup.text().await.unwrap().contains("already exists"));
    let empty = admin.post("/settings/departments", &[("name", "  ")]).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let id = app.count("SELECT id FROM departments WHERE name = 'Sales'");
    assert_redirects_to(&admin.post(&format!("/settings/departments/{id}"), &[("name", "Support")]).await, "/settings/departments");
    assert!(admin.get_html("/settings/departments").await.contains("Support"));
    assert_redirects_to(&admin.post(&format!("/settings/departments/{id}/delete"), &[]).await, "/settings/departments");
    assert_eq!(app.count("SELECT count(*) FROM departments"), 0);
    assert_eq!(admin.post(&format!("/settings/departments/{id}/delete"), &[]).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_departments_can_be_set_and_unknown_ids_are_refused() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let agent = app.create_user("Acme", "agent@acme.test", Role::Agent);
    admin.post("/settings/departments", &[("name", "Sales")]).await;
    admin.post("/settings/departments", &[("name", "Support")]).await;
    let sales = app.count("SELECT id FROM departments WHERE name = 'Sales'").to_string();
    let support = app.count("SELECT id FROM departments WHERE name = 'Support'").to_string();
    let path = format!("/settings/users/{}/departments", agent.id);
    assert_redirects_to(&admin.post(&path, &[("department_ids", &sales), ("department_ids", &support)]).await, "/settings/users");
    assert_eq!(app.count("SELECT count(*) FROM user_departments"), 2);
    let r = admin.post(&path, &[("department_ids", "999999")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM user_departments"), 2, "a refused change leaves the old set");
}

#[tokio::test]
async fn user_supplied_text_is_escaped_everywhere_it_is_shown() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let nasty = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;
    let r = admin.post("/settings/users", &[("email", "x@acme.test"), ("name", nasty), ("role", "agent"), ("password", PASSWORD)]).await;
    assert_redirects_to(&r, "/settings/users");
    admin.post("/settings/departments", &[("name", nasty)]).await;
    let x = app.browser();
    x.login("x@acme.test", PASSWORD).await;
    let pages = [
        admin.get_html("/settings/users").await,
        admin.get_html("/settings/departments").await,
        x.get_html("/").await,
        admin.get_html("/audit-logs").await,
    ];
    for html in pages {
        assert!(!html.contains("<script>alert(1)"), "raw script tag rendered");
        assert!(!html.contains("<img src=x"), "raw img tag rendered");
    }
    let users_page = admin.get_html("/settings/users").await;
    assert!(users_page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "shown as text");
}

#[tokio::test]
async fn mass_assignment_of_workspace_and_state_fields_is_ignored() {
    let app = spawn_app().await;
    let other = app.create_user("Other", "boss@other.test", Role::Admin);
    let (admin, me) = app.signed_in(Role::Admin).await;
    let r = admin
        .post(
            "/settings/users",
            &[
                ("email", "new@acme.test"),
                ("name", "New"),
                ("role", "agent"),
                ("password", PASSWORD),
                ("workspace_id", &other.workspace_id.to_string()),
                ("active", "false"),
                ("id", "1"),
            ],
        )
        .await;
    assert_redirects_to(&r, "/settings/users");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM users WHERE email = 'new@acme.test' AND workspace_id = {} AND active", me.workspace_id)),
        1
    );
    // Extra fields on the login form do not pick a role or workspace either.
    let b = app.browser();
    b.post("/login", &[("email", "new@acme.test"), ("password", PASSWORD), ("role", "admin"), ("workspace_id", "1")]).await;
    let html = b.get_html("/").await;
    assert!(html.contains("as agent"));
}

#[tokio::test]
async fn the_workspace_time_zone_is_used_to_show_and_read_times() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let bad = admin.post("/settings/workspace", &[("name", "Acme"), ("time_zone", "Mars/Olympus"), ("default_country", "XX")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = bad.text().await.unwrap();
    assert!(body.contains("&#34;Mars/Olympus&#34; is not a time zone; pick one from the list") && body.contains("Choose a country from the list."), "{body}");
    let r = admin.post("/settings/workspace", &[("name", "Acme GmbH"), ("time_zone", "Europe/Berlin"), ("default_country", "de")]).await;
    assert_redirects_to(&r, "/settings/workspace");
    assert!(admin.get_html("/").await.contains("Acme GmbH"));
    // A time typed on the client page is Berlin time, stored in UTC and shown back in Berlin time.
    let client = crate::support::location(&admin.post("/clients", &[("name", "Ada"), ("phone", "030 123456")]).await);
    let id = client.trim_start_matches("/clients/");
    admin.post(&format!("/clients/{id}/communications"), &[("kind", "call"), ("occurred_at", "2026-11-20T10:00")]).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {id} AND last_contacted_at = '2026-11-20T09:00:00Z' AND phone = '+4930123456'")), 1);
    let html = admin.get_html(&client).await;
    assert!(html.contains("2026-11-20 10:00") && html.contains("Europe/Berlin"), "shown in local time");
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'workspaces.updated' AND after->>'time_zone' = 'Europe/Berlin'"), 1);
}

#[tokio::test]
async fn tags_are_listed_with_counts_renamed_and_deleted() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    admin.post("/clients", &[("name", "Ada"), ("tags", "vip, trial")]).await;
    admin.post("/clients", &[("name", "Bob"), ("tags", "vip")]).await;
    let html = admin.get_html("/settings/tags").await;
    assert!(html.contains(r#"<span class="chip tag-grey" hx-disable>vip</span></a>"#) && html.contains("<td>2</td>"), "{html}");
    let vip = app.count("SELECT id FROM tags WHERE name = 'vip'");
    let dup = admin.post(&format!("/settings/tags/{vip}"), &[("name", "TRIAL")]).await;
    assert_eq!(dup.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirects_to(&admin.post(&format!("/settings/tags/{vip}"), &[("name", "VIP")]).await, "/settings/tags");
    assert_redirects_to(&admin.post(&format!("/settings/tags/{vip}/delete"), &[]).await, "/settings/tags");
    assert_eq!(app.count("SELECT count(*) FROM client_tags"), 1);
    let other = app.create_user("Beta", "b@beta.test", Role::Admin);
    let foreign = {
        use diesel::prelude::*;
        diesel::sql_query(format!("INSERT INTO tags (workspace_id, name) VALUES ({}, 'theirs')", other.workspace_id)).execute(&mut app.conn()).unwrap();
        app.count("SELECT id FROM tags WHERE name = 'theirs'")
    };
    assert_eq!(admin.post(&format!("/settings/tags/{foreign}/delete"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.post(&format!("/settings/tags/{foreign}"), &[("name", "mine")]).await.status(), StatusCode::NOT_FOUND);
    let (agent, _) = app.signed_in(Role::Agent).await;
    assert_eq!(agent.get("/settings/tags").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(agent.get("/settings/workspace").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn workspace_automation_settings_are_saved_and_kept_when_left_empty() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    let fields = [("name", "Acme"), ("time_zone", "Asia/Tokyo"), ("default_country", "jp"), ("daily_jobs_at", "06:30"), ("hand_status_days", "3")];
    assert_redirects_to(&admin.post("/settings/workspace", &fields).await, "/settings/workspace");
    let saved = format!(
        "SELECT count(*) FROM workspaces WHERE id = {w} AND name = 'Acme' AND time_zone = 'Asia/Tokyo' AND default_country = 'JP' \
         AND daily_jobs_at = '06:30' AND hand_status_days = 3"
    );
    assert_eq!(app.count(&saved), 1, "every field saved, the country in capitals");
    // Left empty, the daily time and the hand-status days keep their values.
    let r = admin.post("/settings/workspace", &[("name", "Acme KK"), ("time_zone", "Asia/Tokyo"), ("default_country", "JP"), ("daily_jobs_at", ""), ("hand_status_days", "")]).await;
    assert_redirects_to(&r, "/settings/workspace");
    assert_eq!(app.count(&saved.replace("name = 'Acme'", "name = 'Acme KK'")), 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_logs WHERE action = 'workspaces.updated' AND before->>'name' = 'Acme' AND after->>'name' = 'Acme KK' \
             AND after->>'daily_jobs_at' = '06:30' AND (after->>'hand_status_days')::int = 3"
        ),
        1,
        "the audit row shows the kept values"
    );
    let form = admin.get_html("/settings/workspace").await;
    assert!(form.contains("value=\"06:30\"") && form.contains("value=\"3\""), "{form}");
}

#[tokio::test]
async fn the_design_page_shows_every_component_to_admins() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let html = admin.get_html("/settings").await;
    assert!(html.contains(r#"href="/settings/design""#), "linked from the settings index");
    let html = admin.get_html("/settings/design").await;
    for section in ["design-buttons", "design-forms", "design-flashes", "design-badges", "design-table", "design-cards", "design-bulk", "design-chat"] {
        assert!(html.contains(&format!(r#"id="{section}""#)), "{section} is shown");
    }
    // Rendered by the macros themselves, not copied markup.
    assert!(html.contains(r#"<p class="flash error" role="alert">Choose an action for the ticked clients.</p>"#));
    assert!(html.contains(r#"<p class="flash success" role="status">Client saved.</p>"#));
    assert!(html.contains(r#"<input id="d-email" name="email" type="email" value="amara@" aria-invalid="true" aria-describedby="d-email-help">"#), "{html}");
    assert!(html.contains(r#"<p class="field-error" id="d-email-help">"#));
    assert!(html.contains(r#"<nav class="pager" aria-label="Pages">"#));
    assert!(html.contains(r#"<td colspan="2" class="empty">No clients match.</td>"#));
    assert!(html.contains(r#"<div class="empty-state">"#));
}

#[tokio::test]
async fn a_tag_is_created_with_a_palette_colour_that_shows_as_a_chip_in_the_list_and_on_the_client() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let form = admin.get_html("/settings/tags").await;
    assert!(form.contains(r#"<form method="post" action="/settings/tags">"#), "{form}");
    assert!(form.contains(r#"type="radio" id="new-colour-purple" name="colour" value="purple""#), "{form}");
    assert_redirects_to(&admin.post("/settings/tags", &[("name", "Partner"), ("colour", "purple")]).await, "/settings/tags");
    assert_eq!(app.count("SELECT count(*) FROM tags WHERE name = 'Partner' AND colour = 'purple'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'tags.created'"), 1);
    let html = admin.get_html("/settings/tags").await;
    assert!(html.contains(r#"<span class="chip tag-purple" hx-disable>Partner</span>"#), "{html}");
    // Free CSS, an unknown name, a taken name (any case) and an empty one are refused.
    for (name, colour, message) in [
        ("Other", "#f00; background: url(x)", "Choose one of the listed colours."),
        ("Other", "pink", "Choose one of the listed colours."),
        ("partner", "blue", "A tag named partner already exists."),
        ("  ", "blue", "Tag is required."),
    ] {
        let r = admin.post("/settings/tags", &[("name", name), ("colour", colour)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name} {colour}");
        assert!(r.text().await.unwrap().contains(message), "{message}");
    }
    assert_eq!(app.count("SELECT count(*) FROM tags"), 1);
    // Without a colour: the default, grey.
    assert_redirects_to(&admin.post("/settings/tags", &[("name", "Lead")]).await, "/settings/tags");
    assert_eq!(app.count("SELECT count(*) FROM tags WHERE name = 'Lead' AND colour = 'grey'"), 1);
    // The client page shows the chip.
    let r = admin.post("/clients", &[("name", "Ada"), ("tags", "Partner, Lead")]).await;
    let client = crate::support::location(&r);
    let page = admin.get_html(&client).await;
    assert!(page.contains(r#"<span class="chip tag-grey" hx-disable>Lead</span><span class="chip tag-purple" hx-disable>Partner</span>"#), "{page}");
    // So does the client list, in the row's Tags cell.
    let list = admin.get_html("/clients").await;
    assert!(list.contains("<th scope=\"col\">Tags</th>"), "{list}");
    assert!(list.contains(r#"<td><span class="chips"><span class="chip tag-grey">Lead</span><span class="chip tag-purple">Partner</span></span></td>"#), "{list}");
    // Recolouring keeps the name; renaming without a colour keeps the colour.
    let id = app.count("SELECT id FROM tags WHERE name = 'Partner'");
    assert_redirects_to(&admin.post(&format!("/settings/tags/{id}"), &[("name", "Partner"), ("colour", "teal")]).await, "/settings/tags");
    assert_redirects_to(&admin.post(&format!("/settings/tags/{id}"), &[("name", "Partners")]).await, "/settings/tags");
    assert_eq!(app.count("SELECT count(*) FROM tags WHERE name = 'Partners' AND colour = 'teal'"), 1);
    assert_eq!(admin.post(&format!("/settings/tags/{id}"), &[("name", "Partners"), ("colour", "neon")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_settings_row_shows_edit_and_delete_and_edit_renders_the_rename_form_in_place() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    admin.post("/settings/departments", &[("name", "Sales")]).await;
    admin.post("/settings/departments", &[("name", "Support")]).await;
    let sales = app.count("SELECT id FROM departments WHERE name = 'Sales'");
    let support = app.count("SELECT id FROM departments WHERE name = 'Support'");
    // At rest: names, an Edit link (to ?edit=ID without JavaScript, the row alone with htmx), a quiet Delete; no open inputs.
    let html = admin.get_html("/settings/departments").await;
    assert!(!html.contains(r#"id="rename-"#), "no always-open rename inputs: {html}");
    let edit = format!(
        r##"<a href="/settings/departments?edit={sales}#department-{sales}" class="button secondary" hx-get="/settings/departments?edit={sales}" hx-target="closest tr" hx-select="#department-{sales}" hx-swap="outerHTML">Edit"##
    );
    assert!(html.contains(&edit), "{html}");
    assert!(html.contains(r#"<button type="submit" class="danger-outline">Delete"#) && !html.contains(r#"class="danger">Delete"#), "{html}");
    assert!(html.contains(r#"hx-confirm="Delete this department?""#));
    assert!(html.contains(r#"<div class="settings-column">"#));
    // Without JavaScript: ?edit=ID renders that row, and only that one, as a form.
    let editing = admin.get_html(&format!("/settings/departments?edit={sales}")).await;
    let row = format!(r#"<tr id="department-{sales}">"#);
    let at = editing.find(&row).expect("the row");
    let end = at + editing[at..].find("</tr>").unwrap();
    let row_html = &editing[at..end];
    assert!(row_html.contains(&format!(r#"<form method="post" action="/settings/departments/{sales}" class="rename-form">"#)), "{row_html}");
    assert!(row_html.contains(r#"name="name" value="Sales" required maxlength="100" autofocus"#), "{row_html}");
    assert!(row_html.contains(&format!(r##"hx-get="/settings/departments" hx-target="closest tr" hx-select="#department-{sales}""##)) && row_html.contains(">Cancel</a>"), "{row_html}");
    assert!(row_html.contains(r#"<td colspan="3">"#), "{row_html}");
    assert_eq!(editing.matches("rename-form").count(), 1, "only one row is a form");
    assert!(editing.contains(&format!("?edit={support}")), "the others keep their Edit link");
    // With htmx: the fragment carries the same form row for hx-select to swap in.
    let r = admin.htmx_get(&format!("/settings/departments?edit={sales}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fragment = r.text().await.unwrap();
    assert!(!fragment.contains("<html"), "a fragment");
    assert!(fragment.contains(&row) && fragment.contains(r#"value="Sales" required maxlength="100" autofocus"#), "{fragment}");
    // A refused rename shows the row as a form again, with the message.
    let r = admin.post(&format!("/settings/departments/{sales}"), &[("name", "support")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("already exists") && body.contains("rename-form"), "{body}");
    // A bad ?edit is a 400 like any bad query; another workspace's id just edits nothing.
    assert_eq!(admin.get("/settings/departments?edit=x").await.status(), StatusCode::BAD_REQUEST);
    assert!(!admin.get_html("/settings/departments?edit=999999").await.contains("rename-form"));
    // Tags: the same row, and the form carries the colour swatches.
    admin.post("/settings/tags", &[("name", "vip"), ("colour", "red")]).await;
    let vip = app.count("SELECT id FROM tags WHERE name = 'vip'");
    let tags = admin.get_html(&format!("/settings/tags?edit={vip}")).await;
    assert!(tags.contains(r#"id="edit-colour-red" name="colour" value="red" checked"#), "{tags}");
    assert!(tags.contains(&format!(r##"hx-select="#tag-{vip}""##)), "{tags}");
}
