//! CHECKLIST 16–17 over every page and every htmx fragment the app serves. Every free-text
//! field (client name, company, notes, tags, communication and follow-up notes, department,
//! user and workspace names, notifications, import file name and cells, a job's error, the
//! browser's user agent) holds script, attribute-breaking and htmx markup. Each response,
//! parsed as a browser parses it, must hold that text only as text, and wherever it is shown
//! an element with `hx-disable` must contain it, so htmx never acts on it even if escaping
//! failed.
//!
//! What is fetched: every GET route of the route table, whole and as the htmx fragment
//! (`HX-Request: true`); every same-site link found on those pages; and every `hx-get` of
//! every page, with the `HX-Target` htmx sends, checked in the place it is swapped into.

use std::collections::{BTreeSet, VecDeque};

use ego_tree::NodeRef;
use scraper::{ElementRef, Html, Node, Selector};
use switchboard::routes::ROUTES;

use crate::support::{Browser, spawn_app_with};
use crate::walk::{concrete, seed};

const SCRIPT: &str = "<script>alert(1)</script>";
const BREAKOUT: &str = "\"><img src=x onerror=alert(1)>";
const HTMX: &str = "<b hx-get=\"/logout\" hx-trigger=\"load\">x</b>";
/// For fields of at most 50 characters (tags).
const SHORT: &str = "<b hx-get=\"/logout\">alert(1)</b>";
/// Every payload contains it; the cleaned import file name keeps it too.
const MARK: &str = "alert(1)";

/// Attributes whose value is only ever read as a string (shown, submitted or spoken), where
/// user text may sit escaped without an `hx-disable` around it (`data-text`: a canned reply's
/// text, which app.js only ever sets as a textarea's value).
const INERT_ATTRIBUTES: &[&str] = &["value", "aria-label", "title", "alt", "placeholder", "hx-confirm", "data-text"];

/// Elements whose content the HTML parser reads as plain text (RCDATA) or that htmx only
/// reads as text (`<title>`).
const TEXT_ONLY_ELEMENTS: &[&str] = &["title", "textarea"];

fn element(node: NodeRef<'_, Node>) -> Option<&scraper::node::Element> {
    node.value().as_element()
}

fn has_hx_disable(node: NodeRef<'_, Node>) -> bool {
    element(node).is_some_and(|e| e.attr("hx-disable").is_some() || e.attr("data-hx-disable").is_some())
}

/// Where a node sits, for failure messages: `main > table > tbody > tr > td`.
fn where_is(node: NodeRef<'_, Node>) -> String {
    let mut names: Vec<String> = node
        .ancestors()
        .filter_map(|n| element(n).map(|e| match e.id() {
            Some(id) => format!("{}#{id}", e.name()),
            None => e.name().to_string(),
        }))
        .filter(|n| n != "html" && n != "body")
        .collect();
    names.reverse();
    names.join(" > ")
}

/// Checks one response body. `swapped_into_disabled`: the body is swapped into a place
/// that already has an `hx-disable` around it. Returns how often user text was found.
fn check(label: &str, body: &str, whole_page: bool, swapped_into_disabled: bool, problems: &mut Vec<String>) -> usize {
    for raw in ["<script>alert", "<img src=x", "<b hx-get=\"/logout\""] {
        if body.contains(raw) {
            problems.push(format!("{label}: unescaped {raw:?} in the response"));
        }
    }
    let html = if whole_page { Html::parse_document(body) } else { Html::parse_fragment(body) };
    let mut found = 0;
    for node in html.tree.nodes() {
        match node.value() {
            Node::Element(e) => {
                if e.name() == "script" && (e.attr("src").is_none() || node.children().next().is_some()) {
                    problems.push(format!("{label}: an inline <script> at {}", where_is(node)));
                }
                // The only pictures a page shows are stored attachments (`/media/{id}`).
                let own_media = e.attr("src").and_then(|src| src.strip_prefix("/media/")).is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
                if e.name() == "img" && !own_media {
                    problems.push(format!("{label}: an <img> element at {}", where_is(node)));
                }
                for (name, value) in e.attrs() {
                    if name.starts_with("on") {
                        problems.push(format!("{label}: an event handler attribute {name} at {}", where_is(node)));
                    }
                    if name.starts_with("hx-") && value == "/logout" {
                        problems.push(format!("{label}: a live {name}=\"/logout\" at {}", where_is(node)));
                    }
                    if value.contains(MARK) {
                        found += 1;
                        let inert = INERT_ATTRIBUTES.contains(&name) || (name == "content" && e.name() == "meta");
                        if !inert {
                            problems.push(format!("{label}: user text in the {name} attribute of <{}> at {}", e.name(), where_is(node)));
                        }
                    }
                }
            }
            Node::Text(text) if text.contains(MARK) => {
                found += 1;
                let text_only = node.ancestors().filter_map(element).any(|e| TEXT_ONLY_ELEMENTS.contains(&e.name()));
                let disabled = swapped_into_disabled || node.ancestors().any(has_hx_disable);
                if !text_only && !disabled {
                    problems.push(format!("{label}: user text outside hx-disable at {}", where_is(node)));
                }
            }
            _ => {}
        }
    }
    found
}

/// An `hx-get` on a page: what htmx requests and where the answer goes.
struct HtmxGet {
    url: String,
    target_id: Option<String>,
    trigger_id: Option<String>,
    /// Whether the place the answer is swapped into already sits inside `hx-disable`.
    into_disabled: bool,
}

fn htmx_gets(page_url: &str, body: &str, problems: &mut Vec<String>) -> Vec<HtmxGet> {
    let html = Html::parse_document(body);
    let mut out = Vec::new();
    for el in html.select(&Selector::parse("[hx-get]").unwrap()) {
        let url = el.value().attr("hx-get").unwrap().to_string();
        let swap = el.value().attr("hx-swap").unwrap_or("innerHTML").split_whitespace().next().unwrap_or("innerHTML").to_string();
        let target: Option<ElementRef> = match el.value().attr("hx-target") {
            None | Some("this") => Some(el),
            Some(sel) if sel.starts_with('#') => html.select(&Selector::parse(sel).unwrap()).next(),
            // `closest tr`: the nearest ancestor the selector matches (the Edit/Cancel of a settings row).
            Some(sel) if sel.starts_with("closest ") => {
                let selector = Selector::parse(sel.trim_start_matches("closest ")).unwrap();
                el.ancestors().filter_map(ElementRef::wrap).find(|a| selector.matches(a))
            }
            Some(other) => {
                problems.push(format!("{page_url}: hx-target {other:?} is not understood by this test; teach it"));
                None
            }
        };
        let Some(target) = target else {
            problems.push(format!("{page_url}: hx-get {url} targets an element the page does not have"));
            continue;
        };
        let into_disabled = match swap.as_str() {
            "outerHTML" => target.ancestors().skip(1).any(has_hx_disable) || target.parent().is_some_and(has_hx_disable),
            _ => has_hx_disable(*target) || target.ancestors().any(has_hx_disable),
        };
        out.push(HtmxGet { url, target_id: target.value().id().map(str::to_owned), trigger_id: el.value().id().map(str::to_owned), into_disabled });
    }
    out
}

fn links(body: &str) -> Vec<String> {
    let html = Html::parse_document(body);
    html.select(&Selector::parse("a[href]").unwrap())
        .filter_map(|a| a.value().attr("href"))
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .map(|h| h.split('#').next().unwrap_or(h).to_string())
        .collect()
}

/// Pages that must show the seeded text (so the walk cannot pass by seeing none of it).
const MUST_SHOW: &[&str] = &[
    "/",
    "/clients",
    "/clients/{id}",
    "/clients/{id}/edit",
    "/follow-ups",
    "/notifications",
    "/settings/tags",
    "/settings/departments",
    "/settings/users",
    "/settings/jobs",
    "/settings/workspace",
    "/audit-logs",
    "/audit-logs/{id}",
    "/imports/{id}",
    "/clients/import",
    "/account/sessions",
    "/dashboard/my-follow-ups",
];

async fn fetch(browser: &Browser, url: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut request = browser.client.get(browser.url(url));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let html = r.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html") || t.starts_with("text/plain"));
    html.then_some(())?;
    Some((status, r.text().await.unwrap()))
}

fn skipped(url: &str) -> bool {
    let path = url.split('?').next().unwrap_or(url);
    path.ends_with(".csv") || path.starts_with("/static/") || path == "/logout" || path == "/healthz" || path == "/readyz"
        // The live-event stream never ends; its data is ids and statuses (tests/api/events.rs).
        || path == "/events"
}

#[tokio::test]
async fn markup_in_every_field_is_escaped_and_inside_hx_disable_on_every_page_and_fragment() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let text = format!("{SCRIPT}{BREAKOUT}{HTMX}");
    let world = seed(&app, &text, SHORT).await;
    let admin = &world.admin;
    let mut problems = Vec::new();
    let mut shown: BTreeSet<String> = BTreeSet::new();

    let mut queue: VecDeque<(String, Option<&'static str>)> =
        ROUTES.iter().filter(|r| r.accepts("GET")).map(|r| (concrete(r.path, &world.ids), Some(r.path))).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut requests = 0;
    while let Some((url, route)) = queue.pop_front() {
        if skipped(&url) || !seen.insert(url.clone()) || seen.len() > 250 {
            continue;
        }
        let Some((status, page)) = fetch(admin, &url, &[]).await else { continue };
        requests += 1;
        if status >= 500 {
            problems.push(format!("GET {url}: {status}"));
        }
        let mut found = check(&format!("GET {url}"), &page, true, false, &mut problems);
        if let Some((_, fragment)) = fetch(admin, &url, &[("HX-Request", "true")]).await {
            requests += 1;
            found += check(&format!("htmx GET {url}"), &fragment, false, false, &mut problems);
        }
        for get in htmx_gets(&url, &page, &mut problems) {
            let mut headers = vec![("HX-Request", "true"), ("HX-Current-URL", url.as_str())];
            if let Some(id) = &get.target_id {
                headers.push(("HX-Target", id));
            }
            if let Some(id) = &get.trigger_id {
                headers.push(("HX-Trigger", id));
            }
            if let Some((_, fragment)) = fetch(admin, &get.url, &headers).await {
                requests += 1;
                let label = format!("hx-get {} from {url} into #{}", get.url, get.target_id.as_deref().unwrap_or("?"));
                found += check(&label, &fragment, false, get.into_disabled, &mut problems);
                if found > 0 && get.url.starts_with("/dashboard/") {
                    shown.insert(get.url.clone());
                }
            }
        }
        // The inline duplicate check names the client that already has the email.
        if url == "/clients/new" {
            let form = Html::parse_document(&page);
            let target = form.select(&Selector::parse("#c-email-error").unwrap()).next().expect("the email error slot");
            let into_disabled = has_hx_disable(*target) || target.ancestors().any(has_hx_disable);
            let check_url = format!("/clients/check?email={}", world.client_email);
            let headers = [("HX-Request", "true"), ("HX-Target", "c-email-error"), ("HX-Trigger", "c-email")];
            let (_, message) = fetch(admin, &check_url, &headers).await.expect("the check answers text");
            let n = check(&format!("hx-get {check_url} into #c-email-error"), &message, false, into_disabled, &mut problems);
            assert!(n > 0, "the duplicate message names the client: {message}");
        }
        if found > 0 {
            shown.insert(route.map(str::to_owned).unwrap_or_else(|| url.clone()));
        }
        for link in links(&page) {
            if !seen.contains(&link) {
                queue.push_back((link, None));
            }
        }
    }
    // A flash message repeats what was just saved.
    let r = admin.post("/clients", &[("name", text.as_str())]).await;
    let saved = crate::support::location(&r);
    let (_, page) = fetch(admin, &saved, &[]).await.expect("the new client's page");
    assert!(page.contains("created."), "the page shows the flash message");
    check(&format!("GET {saved} after saving"), &page, true, false, &mut problems);

    let missing: Vec<&&str> = MUST_SHOW.iter().filter(|p| !shown.contains(**p)).collect();
    assert!(missing.is_empty(), "these pages showed none of the seeded text, so the walk proves nothing there: {missing:?}");
    assert!(problems.is_empty(), "{} problems in {requests} responses:\n{}", problems.len(), problems.join("\n"));
}
