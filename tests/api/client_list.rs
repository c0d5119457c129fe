//! The client list's tabs, counts, sortable headers and formatting (issue 10 item 9).

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{Browser, TestApp, spawn_app};

/// `n` clients named `<prefix> 0001`… of one status, inserted in one statement.
fn insert(app: &TestApp, workspace_id: i64, prefix: &str, status: &str, n: i64) {
    diesel::sql_query(format!(
        "INSERT INTO clients (workspace_id, name, status) SELECT {workspace_id}, '{prefix} ' || lpad(g::text, 4, '0'), '{status}' FROM generate_series(1, {n}) g"
    ))
    .execute(&mut app.conn())
    .unwrap();
}

fn tabs(html: &str) -> &str {
    let start = html.find("<nav class=\"tabs\"").expect("status tabs");
    &html[start..start + html[start..].find("</nav>").unwrap()]
}

/// A search's page, which shows its tabs without figures and asks `/clients/counts` for them
/// once shown (issue 20: the rows come first); returns that answer.
async fn counted(b: &Browser, path: &str) -> String {
    let page = b.get_html(path).await;
    let from = page.find("hx-get=\"/clients/counts?").expect("the tabs ask for their counts") + "hx-get=\"".len();
    let url = page[from..from + page[from..].find('"').unwrap()].replace("&#38;", "&");
    assert!(tabs(&page).contains(">All</a>") && page.contains(">Counting…</p>"), "no figures before they are counted");
    let counts = b.get(&url).await;
    assert_eq!(counts.status(), StatusCode::OK, "{url}");
    counts.text().await.unwrap()
}

#[tokio::test]
async fn the_tabs_count_the_search_and_link_to_each_status_keeping_it() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    insert(&app, me.workspace_id, "Smith", "hot", 2);
    insert(&app, me.workspace_id, "Smith", "warm", 1);
    insert(&app, me.workspace_id, "Jones", "inactive", 4);

    let all = admin.get_html("/clients").await;
    let t = tabs(&all);
    assert!(t.contains(">All 7</a>") && t.contains(">Hot 2</a>") && t.contains(">Warm 1</a>") && t.contains(">Inactive 4</a>"), "{t}");
    assert!(all.contains("<p id=\"clients-count\" class=\"result-count\">7 clients</p>"));

    let smith = counted(&admin, "/clients?q=smith&department=&page=1").await;
    let t = tabs(&smith);
    assert!(t.contains(">All 3</a>") && t.contains(">Hot 2</a>") && t.contains(">Warm 1</a>") && t.contains(">Inactive 0</a>"), "{t}");
    assert!(t.contains("<a id=\"tab-all\" href=\"/clients?q=smith\" aria-current=\"page\">All 3</a>"), "{t}");
    assert!(t.contains("<a id=\"tab-hot\" href=\"/clients?q=smith&#38;status=hot\" >Hot 2</a>"), "{t}");
    assert!(smith.contains(">3 clients</p>"));

    let warm = counted(&admin, "/clients?q=smith&status=warm").await;
    let t = tabs(&warm);
    assert!(t.contains("<a id=\"tab-warm\" href=\"/clients?q=smith&#38;status=warm\" aria-current=\"page\">Warm 1</a>"), "{t}");
    assert!(t.contains("<a id=\"tab-all\" href=\"/clients?q=smith\" >All 3</a>"), "{t}");
    assert!(warm.contains(">1 client</p>"), "one, not ones");

    // The htmx fragment that typing swaps in carries the tabs, which ask for their counts.
    let fragment = admin.client.get(admin.url("/clients?q=jones")).header("HX-Request", "true").header("HX-Target", "clients-rows").send().await.unwrap();
    let body = fragment.text().await.unwrap();
    assert!(tabs(&body).contains("hx-get=\"/clients/counts?q=jones\"") && body.contains(">Counting…</p>"), "{body}");
    let body = admin.get_html("/clients/counts?q=jones").await;
    assert!(tabs(&body).contains(">All 4</a>") && body.contains(">4 clients</p>"), "{body}");
    assert!(body.contains("<span id=\"matching-count\" hx-swap-oob=\"true\">All 4 clients matching the filter</span>"), "{body}");

    // A bad filter is refused with its reason; another workspace's import is not found.
    let bad = admin.get("/clients/counts?status=lukewarm").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("Status must be hot, warm or inactive"));
    app.create_user("Globex", "gia@globex.test", Role::Admin);
    let other = app.browser();
    assert_eq!(other.login("gia@globex.test", crate::support::PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let import: i64 = {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        diesel::sql_query(format!("INSERT INTO imports (workspace_id, user_id, filename, encoding, delimiter, status) VALUES ({}, {}, 'x.csv', 'utf-8', ',', 'done') RETURNING id", me.workspace_id, me.id))
            .get_result::<Id>(&mut app.conn())
            .unwrap()
            .id
    };
    assert_eq!(admin.get(&format!("/clients/counts?import={import}")).await.status(), StatusCode::OK);
    assert_eq!(other.get(&format!("/clients/counts?import={import}")).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn past_a_thousand_matches_a_search_counts_1000_plus_and_the_counters_stay_exact() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    insert(&app, me.workspace_id, "Smith", "hot", 1200);
    insert(&app, me.workspace_id, "Smith", "warm", 5);
    insert(&app, me.workspace_id, "Jones", "warm", 30);

    let smith = counted(&admin, "/clients?q=smith").await;
    let t = tabs(&smith);
    assert!(t.contains(">All 1,005+</a>") && t.contains(">Hot 1,000+</a>") && t.contains(">Warm 5</a>") && t.contains(">Inactive 0</a>"), "{t}");
    assert!(smith.contains(">1,005+ clients</p>"));
    let hot_smiths = counted(&admin, "/clients?q=smith&status=hot").await;
    assert!(hot_smiths.contains(">1,000+ clients</p>"));
    assert!(smith.contains("All 1,005+ clients matching the filter"), "the select-all-matching choice");

    // No search, no filter: the counters answer, exactly, with separators.
    let all = admin.get_html("/clients").await;
    let t = tabs(&all);
    assert!(t.contains(">All 1,235</a>") && t.contains(">Hot 1,200</a>") && t.contains(">Warm 35</a>"), "{t}");
    assert!(all.contains(">1,235 clients</p>"));
    let hot = admin.get_html("/clients?status=hot").await;
    assert!(hot.contains(">1,200 clients</p>"));

    // A manager's scope is not a counter row: bounded counts.
    let (manager, m) = app.signed_in(Role::Manager).await;
    diesel::sql_query(format!("UPDATE clients SET assigned_to = {} WHERE name LIKE 'Smith%'", m.id)).execute(&mut app.conn()).unwrap();
    let mine = counted(&manager, "/clients").await;
    let t = tabs(&mine);
    assert!(t.contains(">All 1,005+</a>") && t.contains(">Hot 1,000+</a>") && t.contains(">Warm 5</a>"), "{t}");
}

#[tokio::test]
async fn column_headers_link_to_their_order_keeping_the_filters_and_mark_the_current_one() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    insert(&app, me.workspace_id, "Smith", "hot", 2);

    let list = admin.get_html("/clients").await;
    assert!(list.contains("<th scope=\"col\" aria-sort=\"ascending\"><a class=\"sort\" href=\"/clients?sort=name\">Name <span aria-hidden=\"true\">↑</span></a></th>"), "{list}");
    assert!(list.contains("<th scope=\"col\"><a class=\"sort\" href=\"/clients?sort=last_contacted\">Last contacted</a></th>"));
    assert_eq!(list.matches("aria-sort=").count(), 1);

    let sorted = admin.get_html("/clients?q=smi&status=hot&sort=last_contacted&page=1").await;
    assert!(sorted.contains("<th scope=\"col\" aria-sort=\"descending\"><a class=\"sort\" href=\"/clients?q=smi&#38;status=hot&#38;sort=last_contacted\">Last contacted"), "{sorted}");
    assert!(sorted.contains("<th scope=\"col\"><a class=\"sort\" href=\"/clients?q=smi&#38;status=hot&#38;sort=name\">Name</a></th>"));

    // A search with no order chosen is newest first: no column is the current order.
    let search = admin.get_html("/clients?q=smi").await;
    assert_eq!(search.matches("aria-sort=").count(), 0);
    for column in ["Email", "Phone", "Company", "Status", "Assignee"] {
        assert!(search.contains(&format!("<th scope=\"col\">{column}</th>")), "{column} is not sortable");
    }
}

#[tokio::test]
async fn phones_are_grouped_for_their_country_and_page_numbers_separated() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    diesel::sql_query(format!(
        "INSERT INTO clients (workspace_id, name, phone) VALUES ({0}, 'Ada', '+491701234567'), ({0}, 'Bob', '+14155552671'), ({0}, 'Cy', '+442079460958')",
        me.workspace_id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let list = admin.get_html("/clients").await;
    for phone in ["+49 170 1234567", "+1 415 555 2671", "+44 20 7946 0958"] {
        assert!(list.contains(&format!("<td class=\"phone\">{phone}</td>")), "{phone}");
    }
    assert!(!list.contains("+491701234567"));
    let far = admin.get_html("/clients?page=12345").await;
    assert!(far.contains("<span>Page 12,345</span>") && far.contains("No clients match."));
}

#[tokio::test]
async fn the_skip_link_comes_first_and_the_rows_before_the_bulk_form() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let list = admin.get_html("/clients").await;
    let body = &list[list.find("<body").unwrap()..];
    let first_link = &body[body.find("<a ").unwrap()..];
    assert!(first_link.starts_with("<a class=\"skip-link\" href=\"#main\">Skip to clients</a>"), "{first_link:.80}");
    assert!(list.contains("<main id=\"main\" tabindex=\"-1\">"));
    assert!(list.find("<table class=\"client-list stack\"").unwrap() < list.find("<form id=\"bulk\"").unwrap());
    let other = admin.get_html("/follow-ups").await;
    assert!(other.contains(">Skip to content</a>"));
}

#[tokio::test]
async fn a_bulk_action_on_all_matching_changes_every_match_and_only_those() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    insert(&app, me.workspace_id, "Smith", "warm", 60);
    insert(&app, me.workspace_id, "Jones", "warm", 3);
    let r = admin.post("/clients/bulk", &[("action", "status"), ("status", "hot"), ("target", "all-matching"), ("q", "smith")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE status = 'hot'"), 60, "more than the page of fifty");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE status = 'hot' AND name LIKE 'Jones%'"), 0);
}

/// Issue 20: a phone is formatted once, when it is written (by the form, an import or its
/// update), not on every list; a phone changed without its written form is formatted on the
/// page instead, never shown in its old form.
#[tokio::test]
async fn phones_are_formatted_when_written_and_never_shown_in_a_stale_form() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    assert_eq!(admin.post("/clients", &[("name", "Ada"), ("email", "ada@example.com"), ("phone", "+49 170 1234567")]).await.status(), StatusCode::SEE_OTHER);
    let fields = [("map", "name"), ("map", "email"), ("map", "phone"), ("key", "email"), ("on_existing", "update")];
    let (_, status) = crate::imports::import(&app, &admin, "name,email,phone\nBob,bob@example.com,+1 415 555 2671\n", &fields).await;
    assert_eq!(status, "done");
    let formatted = |name: &str| app.count(&format!("SELECT count(*) FROM clients WHERE name = '{name}' AND phone_formatted IS NOT NULL"));
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE phone_formatted IN ('+49 170 1234567', '+1 415 555 2671')"), 2);

    // The import's update writes the new number's form with it.
    let (_, status) = crate::imports::import(&app, &admin, "name,email,phone\nBob,bob@example.com,+44 20 7946 0958\n", &fields).await;
    assert_eq!(status, "done");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Bob' AND phone_formatted = '+44 20 7946 0958'"), 1);

    // A phone changed by hand in SQL loses its old form; the page formats the new one.
    diesel::sql_query("UPDATE clients SET phone = '+33612345678' WHERE name = 'Ada'").execute(&mut app.conn()).unwrap();
    assert_eq!(formatted("Ada"), 0);
    let list = admin.get_html("/clients").await;
    assert!(list.contains("<td class=\"phone\">+33 6 12 34 56 78</td>"), "{list}");
    assert!(list.contains("<td class=\"phone\">+44 20 7946 0958</td>"));
    assert!(!list.contains("+49 170 1234567") && !list.contains("+1 415 555 2671"));
    // Changing another field keeps the stored form.
    diesel::sql_query("UPDATE clients SET company = 'Acme' WHERE name = 'Bob'").execute(&mut app.conn()).unwrap();
    assert_eq!(formatted("Bob"), 1);
}

/// Issue 20: the tags settings page counted every tag link of the workspace on each request
/// (16 req/s at a million clients with two million links). Each tag's count now stops past
/// 1,000, shown as "1,000+" as the list's tabs do; below that it is exact.
#[tokio::test]
async fn the_tags_page_counts_each_tags_clients_up_to_a_thousand() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let w = me.workspace_id;
    insert(&app, w, "Client", "warm", 1_003);
    diesel::sql_query(format!(
        "WITH t AS (INSERT INTO tags (workspace_id, name) VALUES ({w}, 'vip'), ({w}, 'lead') RETURNING id, name) \
         INSERT INTO client_tags (workspace_id, client_id, tag_id) \
         SELECT {w}, c.id, t.id FROM clients c JOIN t ON t.name = 'vip' OR c.name <= 'Client 0002' WHERE c.workspace_id = {w}"
    ))
    .execute(&mut app.conn())
    .unwrap();
    let page = admin.get_html("/settings/tags").await;
    let row = |name: &str| {
        let at = page.find(&format!(">{name}<")).unwrap_or_else(|| panic!("{name} listed: {page}"));
        page[at..at + page[at..].find("</tr>").unwrap()].to_string()
    };
    assert!(row("vip").contains("<td>1,000+</td>"), "{}", row("vip"));
    assert!(row("lead").contains("<td>2</td>"), "{}", row("lead"));
}
