use std::time::Duration;

use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

#[tokio::test]
async fn upload_a_csv_map_it_watch_the_progress_and_download_the_rejected_rows() {
    let app = spawn_app().await;
    app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let mut csv = String::from("Full Name,E-mail,Mobile,Favourite colour\n");
    for i in 0..20_000 {
        csv.push_str(&format!("Client {i},client{i}@example.com,+1415555{:04},blue\n", i % 10_000));
    }
    csv.push_str("Broken,not-an-email,,red\n");
    let dir = std::env::temp_dir().join(format!("switchboard-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clients.csv");
    std::fs::write(&file, csv).unwrap();

    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.click("nav a[href='/clients']").await;
    chrome.wait_for_heading("Clients").await;
    chrome.click("a[href='/clients/import']").await;
    chrome.wait_for_heading("Import clients").await;
    chrome.eval("window.__uploaded = []; document.addEventListener('htmx:xhr:progress', function (e) { window.__uploaded.push(e.detail.loaded); }); return null;").await;
    chrome.wait_for("#import-file").await.send_keys(&file.display().to_string()).await.unwrap();
    chrome.click("#upload-form button[type=submit]").await;
    chrome.wait_for_heading("Import of clients.csv").await;
    // The upload went through htmx, which reported its progress.
    let uploaded = chrome.eval("return window.__uploaded || [];").await;
    assert!(uploaded.as_array().is_some_and(|a| !a.is_empty()), "upload progress events: {uploaded}");
    // The preview shows the first rows, with the columns guessed from the header names.
    chrome.wait_for_text(".preview", "client0@example.com").await;
    let guessed = chrome.eval("return Array.from(document.querySelectorAll('select[name=map]')).map(function (s) { return s.value; });").await;
    assert_eq!(guessed, serde_json::json!(["name", "email", "phone", "ignore"]));
    // Keep the colour as a note and import the valid rows.
    chrome.eval("document.getElementById('map-3').value = 'note'; return null;").await;
    // The radios sit just before their label's text, not stretched like text fields (issue 10).
    let radios = chrome.eval("return Array.from(document.querySelectorAll('#mapping input[type=radio]')).map(function (r) { \
        var box = r.getBoundingClientRect(), range = document.createRange(); range.selectNodeContents(r.nextSibling); \
        var text = range.getBoundingClientRect(); return [Math.round(box.width), Math.round(text.left - box.right)]; });").await;
    let radios: Vec<(i64, i64)> = serde_json::from_value(radios).unwrap();
    assert_eq!(radios.len(), 4);
    assert!(radios.iter().all(|&(width, gap)| width < 30 && (0..=16).contains(&gap)), "radio width and gap to its label: {radios:?}");
    chrome.click("input[name=mode][value=skip_invalid]").await;
    chrome.eval("window.__marker = 1; return null;").await;
    chrome.click("#mapping button[type=submit]").await;
    // The progress section polls itself and ends with the report.
    chrome.wait_for("#import-progress").await;
    let report = {
        let mut last = String::new();
        for _ in 0..600 {
            last = chrome.text("#import-progress").await;
            if last.contains("Import finished.") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        last
    };
    assert!(report.contains("Import finished."), "{report}");
    assert_eq!(chrome.text("#count-created").await, "10000", "the second 10,000 repeat the first phones");
    assert_eq!(chrome.text("#count-rejected").await, "10001");
    assert_eq!(chrome.eval("return window.__marker || null;").await, serde_json::json!(1), "progress came by htmx, no reload");
    let polling = chrome.eval("return document.querySelector('#import-progress').getAttribute('hx-trigger');").await;
    assert_eq!(polling, serde_json::Value::Null, "polling stopped");
    assert!(chrome.text("#rejected").await.contains("Same phone as row 2."));
    // Download errors.csv as the link does.
    let errors = chrome.eval("return fetch(document.getElementById('errors-csv').href).then(function (r) { return r.text(); });").await;
    let errors = errors.as_str().unwrap_or_default().to_string();
    assert!(errors.starts_with("Full Name,E-mail,Mobile,Favourite colour,error\r\n"), "{}", &errors[..errors.len().min(200)]);
    assert!(errors.contains("Broken,not-an-email,,red,Row 20002: E-mail: Enter an email address"), "{}", &errors[errors.len().saturating_sub(300)..]);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE notes = 'Favourite colour: blue'"), 10_000);
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
    let _ = std::fs::remove_dir_all(dir);
}
