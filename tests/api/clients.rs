use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{Browser, TestApp, assert_redirects_to, location, spawn_app};

async fn create(browser: &Browser, fields: &[(&str, &str)]) -> reqwest::Response {
    browser.post("/clients", fields).await
}

fn id_from(response: &reqwest::Response) -> i64 {
    location(response).trim_start_matches("/clients/").parse().expect("redirect to the new client")
}

fn department(app: &TestApp, workspace_id: i64, name: &str) -> i64 {
    switchboard::departments::insert(&mut app.conn(), workspace_id, name).unwrap().id
}

#[tokio::test]
async fn an_admin_creates_a_client_with_e164_phone_inline_tags_and_departments() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let sales = department(&app, me.workspace_id, "Sales").to_string();
    let r = create(
        &admin,
        &[
            ("name", "Ada Smith"),
            ("email", "Ada@Example.com"),
            ("phone", "(415) 555-2671"),
            ("company", "Analytical Engines"),
            ("status", "hot"),
            ("assigned_to", &me.id.to_string()),
            ("department_ids", &sales),
            ("tags", "vip, Newsletter, vip"),
            ("notes", "Met at the fair"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = id_from(&r);
    let html = admin.get_html(&format!("/clients/{id}")).await;
    for expected in ["Ada Smith", "ada@example.com", "<dt>Phone</dt><dd>+1 415 555 2671</dd>", "Analytical Engines", "Sales", r#"hx-disable>Newsletter</span><span class="chip tag-grey" hx-disable>vip</span>"#, "Met at the fair"] {
        assert!(html.contains(expected), "{expected} missing: {html}");
    }
    assert_eq!(app.count("SELECT count(*) FROM tags"), 2, "tags created inline, no duplicates");
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'clients.created' AND entity_id = '{id}'")), 1);
}

#[tokio::test]
async fn invalid_fields_get_422_with_reasons_and_nothing_is_written() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let long = "x".repeat(201);
    let r = create(
        &admin,
        &[("name", &long), ("email", "not-an-email"), ("phone", "12"), ("status", "cold"), ("assigned_to", "999999"), ("department_ids", "999999")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    for message in ["at most 200 characters", "Enter an email address", "not a phone number", "Status must be", "Choose an active user", "Choose departments"] {
        assert!(body.contains(message), "{message:?} missing");
    }
    assert!(body.contains("not-an-email"), "the form keeps what was typed");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 0);
}

#[tokio::test]
async fn a_duplicate_email_or_phone_names_the_existing_client() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let first = create(&admin, &[("name", "Ada"), ("email", "ada@example.com"), ("phone", "+14155552671")]).await;
    let id = id_from(&first);
    for (field, value) in [("email", "ADA@example.com"), ("phone", "+1 415 555 2671")] {
        let r = create(&admin, &[("name", "Other"), (field, value)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let body = r.text().await.unwrap();
        assert!(body.contains(&format!("Ada already has this {field}.")) && body.contains(&format!("href=\"/clients/{id}\"")), "{field}");
    }
    assert_eq!(app.count("SELECT count(*) FROM clients"), 1);
}

#[tokio::test]
async fn agents_see_their_clients_managers_their_departments_admins_all() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let sales = department(&app, me.workspace_id, "Sales");
    switchboard::users::model::set_departments(&mut app.conn(), me.workspace_id, manager_user.id, &[sales]).unwrap();
    let mine = id_from(&create(&admin, &[("name", "Agent Client"), ("assigned_to", &agent_user.id.to_string())]).await);
    let dept = id_from(&create(&admin, &[("name", "Sales Client"), ("department_ids", &sales.to_string())]).await);
    let other = id_from(&create(&admin, &[("name", "Admin Only")]).await);

    let list = |b: &Browser| {
        let b = b.client.clone();
        let url = format!("{}/clients", app.base);
        async move { b.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let admin_list = list(&admin).await;
    assert!(admin_list.contains("Agent Client") && admin_list.contains("Sales Client") && admin_list.contains("Admin Only"));
    let agent_list = list(&agent).await;
    assert!(agent_list.contains("Agent Client") && !agent_list.contains("Sales Client") && !agent_list.contains("Admin Only"));
    let manager_list = list(&manager).await;
    assert!(manager_list.contains("Sales Client") && !manager_list.contains("Agent Client") && !manager_list.contains("Admin Only"));

    assert_eq!(agent.get(&format!("/clients/{other}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(agent.get(&format!("/clients/{dept}/edit")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(manager.get(&format!("/clients/{mine}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(manager.get(&format!("/clients/{dept}")).await.status(), StatusCode::OK);
    // An agent may edit their own client but not delete it; a manager may delete.
    assert_eq!(agent.post(&format!("/clients/{mine}/delete"), &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(agent.post(&format!("/clients/{other}/delete"), &[]).await.status(), StatusCode::NOT_FOUND);
    // Each may edit what they see, and nothing else.
    let edit = |id: i64, name: &str| (format!("/clients/{id}"), vec![("name".to_string(), name.to_string()), ("version".to_string(), "1".to_string())]);
    let sales_id = sales.to_string();
    for (browser, id, expected) in [(&agent, mine, StatusCode::SEE_OTHER), (&agent, dept, StatusCode::NOT_FOUND), (&manager, dept, StatusCode::SEE_OTHER), (&manager, other, StatusCode::NOT_FOUND)] {
        let (path, fields) = edit(id, "Renamed");
        let mut fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        fields.push(("department_ids", &sales_id));
        assert_eq!(browser.post(&path, &fields).await.status(), expected, "{path}");
    }
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Renamed'"), 2);
    // A manager who takes a client out of their departments is told, not sent to a 404.
    let r = manager.post(&format!("/clients/{dept}"), &[("name", "Gone"), ("version", "2")]).await;
    assert_redirects_to(&r, "/clients");
    assert!(manager.get_html("/clients").await.contains("now outside your departments"));
    diesel::sql_query(format!("INSERT INTO client_departments (workspace_id, client_id, department_id) VALUES ({}, {dept}, {sales})", me.workspace_id))
        .execute(&mut app.conn())
        .unwrap();
    assert_redirects_to(&manager.post(&format!("/clients/{dept}/delete"), &[]).await, "/clients");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 2);
    // An agent's new client is theirs, whatever the form says.
    let r = create(&agent, &[("name", "Self Made"), ("assigned_to", &me.id.to_string())]).await;
    let made = id_from(&r);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {made} AND assigned_to = {}", agent_user.id)), 1);
}

#[tokio::test]
async fn an_edit_on_a_stale_version_gets_409_and_changes_nothing() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id = id_from(&create(&admin, &[("name", "Ada")]).await);
    let edit = admin.get_html(&format!("/clients/{id}/edit")).await;
    assert!(edit.contains(r#"name="version" value="1""#));
    let r = admin.post(&format!("/clients/{id}"), &[("name", "Ada Lovelace"), ("status", "hot"), ("version", "1")]).await;
    assert_redirects_to(&r, &format!("/clients/{id}"));
    let stale = admin.post(&format!("/clients/{id}"), &[("name", "Overwritten"), ("status", "warm"), ("version", "1")]).await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert!(stale.text().await.unwrap().contains("Reload the page"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {id} AND name = 'Ada Lovelace' AND version = 2")), 1);
    let before_after = app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.updated' AND before->>'name' = 'Ada' AND after->>'name' = 'Ada Lovelace'");
    assert_eq!(before_after, 1);
}

#[tokio::test]
async fn a_search_for_phone_digits_finds_the_numbers_ending_with_them_in_any_format() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (name, phone, email) in [
        ("Ursula Us", "+1 202 555 0123", "ursula@example.com"),
        ("Ulrich Uk", "+44 20 7946 0000", "ulrich@example.com"),
        ("Petra Plain", "", "petra.5550123@example.com"),
    ] {
        assert_eq!(create(&admin, &[("name", name), ("phone", phone), ("email", email)]).await.status(), StatusCode::SEE_OTHER, "{name}");
    }
    admin.get_html("/clients").await; // shows (and clears) the last "created" message
    for (q, us, uk) in [
        ("0123", true, false),
        ("555-0123", true, false),
        ("(202) 555-0123", true, false),
        ("+1 202 555 0123", true, false),
        ("001 202 555 0123", true, false),
        ("020 7946 0000", false, true),
        ("+442079460000", false, true),
        ("7946", false, false),
        ("99990123", false, false),
    ] {
        let page = admin.get_html(&format!("/clients?q={}", urlencoding(q))).await;
        assert_eq!(page.contains("Ursula Us"), us, "{q}");
        assert_eq!(page.contains("Ulrich Uk"), uk, "{q}");
        assert!(!page.contains("Petra Plain"), "{q}: digits search phone numbers, not emails");
    }
    assert!(admin.get_html("/clients?q=petra.555").await.contains("Petra Plain"), "text with digits is a text search");
    assert!(admin.get_html("/clients?q=202").await.contains("Ursula Us"), "three digits are a text search");
}

fn urlencoding(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn search_filters_sort_and_pages_work_in_sql_and_bad_values_get_422() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (name, status) in [("John Smith", "hot"), ("Jane Smithers", "warm"), ("Bob O'Neil", "inactive"), ("50% Off_Corp", "warm")] {
        assert_eq!(create(&admin, &[("name", name), ("status", status)]).await.status(), StatusCode::SEE_OTHER);
    }
    let all = admin.get_html("/clients").await;
    assert!(all.contains("All 4") && all.contains("Hot 1") && all.contains("Warm 2") && all.contains("Inactive 1"), "status counts");
    let smi = admin.get_html("/clients?q=smi").await;
    assert!(smi.contains("John Smith") && smi.contains("Jane Smithers") && !smi.contains("Bob O"));
    let hot = admin.get_html("/clients?q=smi&status=hot").await;
    assert!(hot.contains("John Smith") && !hot.contains("Jane Smithers"));
    let percent = admin.get_html("/clients?q=50%25").await;
    assert!(percent.contains("Off_Corp") && !percent.contains("John Smith"), "% is literal");
    let underscore = admin.get_html("/clients?q=f_c").await;
    assert!(underscore.contains("Off_Corp"));
    let quote = admin.get_html("/clients?q=o'n").await;
    assert!(quote.contains("Neil"));
    let past_end = admin.get_html("/clients?page=99").await;
    assert!(past_end.contains("No clients match."));
    let newest = admin.get_html("/clients?sort=created").await;
    assert!(newest.find("Off_Corp").unwrap() < newest.find("John Smith").unwrap());
    for bad in ["sort=price", "status=cold", "page=0", "department=x", "assignee=bob"] {
        assert_eq!(admin.get(&format!("/clients?{bad}")).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let fragment = admin.client.get(admin.url("/clients?q=jane")).header("HX-Request", "true").header("HX-Target", "clients-rows").send().await.unwrap();
    let body = fragment.text().await.unwrap();
    assert!(body.trim_start().starts_with("<div id=\"clients-rows\">") && body.contains("Jane Smithers") && !body.contains("<form"));
}

#[tokio::test]
async fn a_list_of_more_than_fifty_clients_paginates() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    use diesel::prelude::*;
    diesel::sql_query(format!("INSERT INTO clients (workspace_id, name) SELECT {}, 'Client ' || lpad(g::text, 3, '0') FROM generate_series(1, 120) g", me.workspace_id))
        .execute(&mut app.conn())
        .unwrap();
    let page1 = admin.get_html("/clients").await;
    assert_eq!(page1.matches("<tr id=\"client-").count(), 50);
    assert!(page1.contains("Client 001") && page1.contains("rel=\"next\""));
    let page3 = admin.get_html("/clients?page=3").await;
    assert_eq!(page3.matches("<tr id=\"client-").count(), 20);
    assert!(page3.contains("Client 120") && !page3.contains("rel=\"next\""));
}

/// "Client NNN" as the list's rows show them, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("<tr id=\"client-").skip(1).filter_map(|row| row.find("Client ").map(|at| row[at..at + 10].to_string())).collect()
}

/// The plain list reads its page in the order's index (a prepared statement with the limit
/// written out, OFFSET bound past page one); a search or filter reads its ids and then their
/// rows, put back in the ids' order. Every path keeps its order from page to page.
#[tokio::test]
async fn every_way_of_reading_the_list_keeps_its_order_across_pages() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    diesel::sql_query(format!(
        "INSERT INTO clients (workspace_id, name, status, assigned_to, created_at) \
         SELECT {}, 'Client ' || lpad(g::text, 3, '0'), CASE WHEN g % 2 = 0 THEN 'hot' ELSE 'warm' END, \
                CASE WHEN g % 3 = 0 THEN {} END, now() - (200 - g) * interval '1 minute' \
         FROM generate_series(1, 120) g",
        me.workspace_id, agent_user.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let names = |range: &mut dyn Iterator<Item = i64>| range.map(|n| format!("Client {n:03}")).collect::<Vec<_>>();
    let by_name = admin.get_html("/clients").await;
    assert_eq!(listed(&by_name), names(&mut (1..=50)));
    assert_eq!(listed(&admin.get_html("/clients?page=2").await), names(&mut (51..=100)));
    assert_eq!(listed(&admin.get_html("/clients?sort=created&page=3").await), names(&mut (1..=20).rev()));
    // A search: newest first by default, 120 matches.
    assert_eq!(listed(&admin.get_html("/clients?q=client").await), names(&mut (71..=120).rev()));
    assert_eq!(listed(&admin.get_html("/clients?q=client&page=2").await), names(&mut (21..=70).rev()));
    assert_eq!(listed(&admin.get_html("/clients?q=client&sort=name&page=3").await), names(&mut (101..=120)));
    // A filter: the hot ones (even numbers) by name.
    assert_eq!(listed(&admin.get_html("/clients?status=hot&page=2").await), names(&mut (51..=60).map(|n| n * 2)));
    // An agent's own clients (every third), by name and newest first.
    assert_eq!(listed(&agent.get_html("/clients").await), names(&mut (1..=40).map(|n| n * 3)));
    assert_eq!(listed(&agent.get_html("/clients?sort=created").await), names(&mut (1..=40).rev().map(|n| n * 3)));
}

#[tokio::test]
async fn another_workspaces_client_is_404_everywhere() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let theirs = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let beta = app.browser();
    beta.login(&theirs.email, crate::support::PASSWORD).await;
    let id = id_from(&create(&beta, &[("name", "Beta Secret")]).await);
    assert_eq!(admin.get(&format!("/clients/{id}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get(&format!("/clients/{id}/edit")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.post(&format!("/clients/{id}"), &[("name", "Mine"), ("version", "1")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.post(&format!("/clients/{id}/delete"), &[]).await.status(), StatusCode::NOT_FOUND);
    let token = admin.csrf().await;
    let r = admin.client.delete(admin.url(&format!("/clients/{id}"))).header("X-CSRF-Token", token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!admin.get_html("/clients?q=beta").await.contains("Beta Secret"));
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {id} AND name = 'Beta Secret'")), 1);
}

#[tokio::test]
async fn client_text_is_escaped_in_the_list_and_the_detail() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let nasty = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;
    let id = id_from(&create(&admin, &[("name", nasty), ("company", nasty), ("notes", r#"<a hx-get="/settings">x</a>"#)]).await);
    for html in [admin.get_html("/clients").await, admin.get_html(&format!("/clients/{id}")).await] {
        assert!(!html.contains("<script>alert(1)") && !html.contains("<img src=x") && !html.contains(r#"<a hx-get="/settings">"#));
    }
}

#[tokio::test]
async fn delete_via_htmx_removes_a_list_row_with_an_empty_200_and_otherwise_goes_back_to_the_list() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let first = id_from(&create(&admin, &[("name", "Row One")]).await);
    let second = id_from(&create(&admin, &[("name", "Row Two")]).await);
    let token = admin.csrf().await;
    let row = admin
        .client
        .delete(admin.url(&format!("/clients/{first}?from=row")))
        .header("X-CSRF-Token", &token)
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(row.status(), StatusCode::OK);
    assert!(row.text().await.unwrap().is_empty());
    let page = admin.client.delete(admin.url(&format!("/clients/{second}"))).header("X-CSRF-Token", &token).send().await.unwrap();
    assert_redirects_to(&page, "/clients");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.deleted' AND before->>'name' LIKE 'Row %'"), 2);
}

#[tokio::test]
async fn inline_checks_answer_the_field_message_as_you_type() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (agent, _) = app.signed_in(Role::Agent).await;
    let id = id_from(&create(&admin, &[("name", "Ada"), ("email", "ada@example.com"), ("phone", "+14155552671")]).await);
    let text = |b: &Browser, q: String| {
        let c = b.client.clone();
        let url = b.url(&format!("/clients/check?{q}"));
        async move { c.get(url).header("HX-Request", "true").send().await.unwrap().text().await.unwrap() }
    };
    assert!(text(&admin, "email=nope".into()).await.contains("Enter an email address"));
    assert!(text(&admin, "phone=12".into()).await.contains("not a phone number"));
    assert_eq!(text(&admin, "email=new%40example.com".into()).await, "");
    assert_eq!(text(&admin, "email=ADA%40example.com".into()).await, "Ada already has this email.");
    assert_eq!(text(&admin, format!("email=ada%40example.com&id={id}")).await, "", "its own email is fine when editing");
    assert_eq!(text(&admin, "phone=%2B1+415+555+2671".into()).await, "Ada already has this phone.");
    assert_eq!(text(&agent, "email=ada%40example.com".into()).await, "Another client already has this email.", "no name leaks");
    let form = admin.get_html("/clients/new").await;
    assert!(form.contains(r#"hx-get="/clients/check""#));
}

#[tokio::test]
async fn opt_outs_per_channel_keep_their_time_and_source() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id = id_from(&create(&admin, &[("name", "Ada"), ("opt_outs", "sms"), ("opt_outs", "email")]).await);
    let html = admin.get_html(&format!("/clients/{id}")).await;
    assert!(html.contains("sms (since") && html.contains("manual") && !html.contains("whatsapp (since"));
    let first = app.count(&format!("SELECT extract(epoch FROM opt_out_sms_at)::bigint FROM clients WHERE id = {id}"));
    let r = admin.post(&format!("/clients/{id}"), &[("name", "Ada"), ("status", "warm"), ("version", "1"), ("opt_outs", "sms"), ("opt_outs", "whatsapp")]).await;
    assert_redirects_to(&r, &format!("/clients/{id}"));
    assert_eq!(app.count(&format!("SELECT extract(epoch FROM opt_out_sms_at)::bigint FROM clients WHERE id = {id}")), first, "kept");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE id = {id} AND opt_out_email_at IS NULL AND opt_out_whatsapp_source = 'manual'")), 1);
    let bad = create(&admin, &[("name", "Bob"), ("opt_outs", "fax")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.updated' AND after->'opt_outs' ? 'whatsapp'"), 1);
}

/// Issue 19.15: the phone field's example is a number of the workspace's own country, and a
/// refused number is compared with that country's numbers, not guessed to be another's.
#[tokio::test]
async fn the_phone_field_shows_and_explains_with_the_workspace_s_own_country() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    diesel::sql_query("UPDATE workspaces SET default_country = 'GB'").execute(&mut app.conn()).unwrap();
    let form = admin.get_html("/clients/new").await;
    assert!(form.contains(r#"type="tel" value="" placeholder="07400 123456""#), "{form}");
    let refused = create(&admin, &[("name", "Amara Smith"), ("phone", "555-0100")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = refused.text().await.unwrap();
    assert!(body.contains("is not a valid number for the United Kingdom (numbers there look like 07400 123456)"), "{body}");
    assert!(!body.contains("Iceland") && !body.contains("Brunei"), "{body}");
}

#[tokio::test]
async fn an_opt_out_without_a_recorded_source_shows_only_its_date() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let id = id_from(&create(&admin, &[("name", "Quiet Client")]).await);
    diesel::sql_query(format!(
        "UPDATE clients SET opt_out_sms_at = '2026-12-01T12:00:00Z', opt_out_sms_source = NULL, \
         opt_out_whatsapp_at = '2026-12-02T12:00:00Z', opt_out_whatsapp_source = 'manual' WHERE workspace_id = {} AND id = {id}",
        me.workspace_id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let html = admin.get_html(&format!("/clients/{id}")).await;
    assert!(html.contains("whatsapp (since 2026-12-02, manual)"), "{html}");
    assert!(html.contains("sms (since 2026-12-01)"), "no empty source after the date: {html}");
    assert!(!html.contains(", )"));
}
