//! CSV import over HTTP: every fixture the issue names, written by the tests themselves.

use std::time::Duration;

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{Browser, PASSWORD, TestApp, location, spawn_app, spawn_app_with};

/// Uploads `csv`; returns the new import's id (the upload must succeed).
async fn upload(b: &Browser, name: &str, csv: impl Into<Vec<u8>>) -> i64 {
    let r = b.upload("/clients/import", name, csv.into()).await;
    let status = r.status();
    let to = location(&r);
    assert_eq!(status, StatusCode::SEE_OTHER, "upload refused: {}", r.text().await.unwrap_or_default());
    to.trim_start_matches("/imports/").parse().expect("redirect to the import")
}

/// Waits (up to a minute, polling the database) until the import has finished.
async fn finished(app: &TestApp, id: i64) -> String {
    for _ in 0..600 {
        if app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND status IN ('done', 'failed')")) == 1 {
            let done = app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND status = 'done'")) == 1;
            return if done { "done" } else { "failed" }.to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import {id} did not finish within a minute");
}

/// Uploads, starts with `fields` (the mapping form) and waits; returns the id and final status.
pub(crate) async fn import(app: &TestApp, b: &Browser, csv: impl Into<Vec<u8>>, fields: &[(&str, &str)]) -> (i64, String) {
    let id = upload(b, "clients.csv", csv).await;
    let r = b.post(&format!("/imports/{id}/start"), fields).await;
    let status = r.status();
    assert_eq!(status, StatusCode::SEE_OTHER, "start refused: {}", r.text().await.unwrap_or_default());
    let outcome = finished(app, id).await;
    (id, outcome)
}

pub(crate) fn counts(app: &TestApp, id: i64) -> [i64; 6] {
    let c = |col: &str| app.count(&format!("SELECT {col} FROM imports WHERE id = {id}"));
    [c("rows_read"), c("rows_created"), c("rows_updated"), c("rows_unchanged"), c("rows_skipped"), c("rows_rejected")]
}

fn department(app: &TestApp, workspace_id: i64, name: &str) -> i64 {
    switchboard::departments::insert(&mut app.conn(), workspace_id, name).unwrap().id
}

const NAME_EMAIL_PHONE: [(&str, &str); 3] = [("map", "name"), ("map", "email"), ("map", "phone")];

#[tokio::test]
async fn a_utf8_bom_semicolon_file_is_previewed_mapped_and_imported_with_defaults() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let sales = department(&app, me.workspace_id, "Sales");
    let csv = "\u{feff}Full Name;E-mail;Mobile;Company name;Stage;Labels;Source\r\n\
               Zoë Ärger;ZOE@example.com;+1 415 555 2671;Acme;Hot;vip, london;fair\r\n\
               \"Smith; John\";john@example.com;(415) 555-2672;;warm;;\r\n;;;;;;\r\n\r\n";
    let id = upload(&admin, "../../etc/passwd.csv", csv).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND filename = 'passwd.csv'")), 1, "stored under a clean name");
    let page = admin.get_html(&format!("/imports/{id}")).await;
    for shown in ["Zoë Ärger", "Smith; John", "Full Name", "Company name"] {
        assert!(page.contains(shown), "preview shows {shown}");
    }
    // Header names are guessed: E-mail → email, Mobile → phone, Company name → company.
    assert!(page.contains(r#"<option value="email" selected>"#) && page.contains(r#"<option value="phone" selected>"#));
    assert!(page.contains(r#"<option value="company" selected>"#) && page.contains(r#"<option value="semicolon" selected>"#));
    let sales_id = sales.to_string();
    let fields = [
        ("map", "name"), ("map", "email"), ("map", "phone"), ("map", "company"), ("map", "status"), ("map", "tags"), ("map", "note"),
        ("key", "email"), ("on_existing", "update"), ("mode", "all_or_nothing"), ("department_id", sales_id.as_str()),
        ("tag", "spring-fair"), ("assignee", ""), ("encoding", "utf-8"), ("delimiter", "semicolon"),
    ];
    let r = admin.post(&format!("/imports/{id}/start"), &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished(&app, id).await, "done");
    assert_eq!(counts(&app, id), [3, 2, 0, 0, 1, 0], "read, created, updated, unchanged, skipped (the blank line), rejected");
    let timed = format!("SELECT count(*) FROM imports WHERE id = {id} AND started_at <= writing_started_at AND writing_started_at <= finished_at");
    assert_eq!(app.count(&timed), 1, "the run dates its saving phase (the time-left estimate's history)");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Zoë Ärger' AND email = 'zoe@example.com' AND phone = '+14155552671' AND status = 'hot' AND company = 'Acme' AND notes = 'Source: fair'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Smith; John' AND phone = '+14155552672' AND status = 'warm'"), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM client_departments WHERE department_id = {sales}")), 2);
    assert_eq!(app.count("SELECT count(*) FROM client_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name = 'spring-fair'"), 2);
    assert_eq!(app.count("SELECT count(*) FROM client_tags ct JOIN tags t ON t.id = ct.tag_id WHERE t.name IN ('vip', 'london')"), 2);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE import_id = {id}")), 2, "created clients name their import");
    assert!(admin.get_html(&format!("/clients/{}", app.count("SELECT min(id) FROM clients"))).await.contains(&format!("href=\"/imports/{id}\"")));
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'imports.completed' AND entity_id = '{id}' AND (after->>'created')::int = 2")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_chunks WHERE import_id = {id}")), 0, "the file is deleted once imported");
    let report = admin.get_html(&format!("/imports/{id}")).await;
    assert!(report.contains("Import finished.") && report.contains(r#"<dd id="count-created">2</dd>"#));
    assert!(!report.contains("hx-trigger=\"every 1s\""), "a finished import is not polled");
    // The list links the import.
    assert!(admin.get_html("/clients/import").await.contains(&format!("/imports/{id}")));
}

#[tokio::test]
async fn latin1_is_detected_or_chosen_and_quoted_newlines_survive() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    // Windows-1252 bytes: ë = EB, ü = FC; a quoted note with a comma, quotes and a newline; LF endings, no final newline.
    let mut csv = b"name,email,notes\nZo\xEB M\xFCller,zoe@example.com,\"Met at the fair, said \"\"call me\"\"\nnext week\"\nPlain,plain@example.com,".to_vec();
    let id = upload(&admin, "latin.csv", csv.clone()).await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND encoding = 'windows-1252'")), 1);
    assert!(admin.get_html(&format!("/imports/{id}")).await.contains("Zoë Müller"));
    // Read as UTF-8 on request, the bytes show as replacement characters.
    assert!(admin.get_html(&format!("/imports/{id}?encoding=utf-8")).await.contains("Zo\u{FFFD} M\u{FFFD}ller"));
    let fields = [("map", "name"), ("map", "email"), ("map", "notes"), ("key", "email"), ("encoding", "windows-1252"), ("delimiter", "comma")];
    assert_eq!(admin.post(&format!("/imports/{id}/start"), &fields).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished(&app, id).await, "done");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Zoë Müller' AND notes = E'Met at the fair, said \"call me\"\\nnext week'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Plain'"), 1);
    // CRLF and a UTF-16 file with its BOM import the same way.
    csv = "name,email\r\nWide Person,wide@example.com\r\n".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    csv.splice(0..0, [0xFF, 0xFE]);
    let (_, status) = import(&app, &admin, csv, &[("map", "name"), ("map", "email"), ("key", "email")]).await;
    assert_eq!(status, "done");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE email = 'wide@example.com' AND name = 'Wide Person'"), 1);
}

#[tokio::test]
async fn binary_empty_and_header_only_files_are_refused_and_nothing_is_kept() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    let mut late_nul = b"name,email\n".to_vec();
    late_nul.extend(std::iter::repeat_n(b"Ada,ada@example.com\n".to_vec(), 60_000).flatten());
    late_nul.extend(b"Bad\0Row,x@example.com\n");
    for (name, bytes, reason) in [
        ("photo.csv", png, "This file is a PNG image, not CSV."),
        ("zip.csv", b"PK\x03\x04\x14\0\0\0".to_vec(), "ZIP archive"),
        ("header.csv", b"name,email,phone\r\n".to_vec(), "The file has a header line but no rows."),
        ("empty.csv", Vec::new(), "The file is empty."),
        ("nul.csv", late_nul, "NUL bytes"),
    ] {
        let r = admin.upload("/clients/import", name, bytes).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let body = r.text().await.unwrap();
        assert!(body.contains(reason), "{name}: {body}");
        assert!(body.contains("id=\"upload-form\""), "the form is shown again");
    }
    assert_eq!(app.count("SELECT count(*) FROM imports"), 0);
    assert_eq!(app.count("SELECT count(*) FROM import_chunks"), 0);
    // No file field at all.
    let token = admin.csrf().await;
    let form = reqwest::multipart::Form::new().text("csrf_token", token).text("other", "x");
    let r = admin.client.post(admin.url("/clients/import")).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Without the CSRF token the upload is refused before it is read.
    let part = reqwest::multipart::Part::bytes(b"name\nx\n".to_vec()).file_name("a.csv");
    let r = admin.client.post(admin.url("/clients/import")).multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_60_mb_file_gets_413_naming_the_limit_and_nothing_is_kept() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    // A browser announces 60 MB and starts sending; the answer must come before the rest
    // is sent. Over a raw connection that sends the head and the first 200 KB, then waits
    // (a client pushing all 60 MB races the server's close after its early answer, and can
    // see the connection reset before it reads the 413).
    let (token, cookie) = (admin.csrf().await, admin.cookie_header().expect("signed in"));
    let port = app.port;
    let (status, body) = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let boundary = "switchboard-test-boundary";
        let mut start = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\nname,email\n"
        )
        .into_bytes();
        while start.len() < 200 * 1024 {
            start.extend_from_slice(b"Somebody With A Long Name,somebody@example.com\n");
        }
        let declared = 60 * 1024 * 1024;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "POST /clients/import HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n"
        )
        .unwrap();
        stream.write_all(&start).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        while !String::from_utf8_lossy(&answer).contains("</html>") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
        (status, answer)
    })
    .await
    .unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("import limit of 50 MB"), "{body}");
    assert_eq!(app.count("SELECT count(*) FROM imports") + app.count("SELECT count(*) FROM import_chunks"), 0);
}

#[tokio::test]
async fn a_smaller_configured_limit_is_enforced_while_streaming() {
    let app = spawn_app_with(|s| s.import_max_bytes = 1024 * 1024).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let mut file = b"name,email\n".to_vec();
    while file.len() < 3 * 1024 * 1024 {
        file.extend_from_slice(b"Somebody,somebody@example.com\n");
    }
    // A chunked body has no Content-Length, so the limit is found while the file streams in.
    let token = admin.csrf().await;
    let boundary = "XyZboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = admin
        .client
        .post(admin.url("/clients/import"))
        .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("import limit of 1 MB"));
    assert_eq!(app.count("SELECT count(*) FROM imports") + app.count("SELECT count(*) FROM import_chunks"), 0);
}

#[tokio::test]
async fn duplicate_emails_in_one_file_are_rejected_with_the_first_rows_number() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let csv = "name,email,phone\nAda,ada@example.com,\nAda Again,ADA@example.com,\nBob,bob@example.com,+14155552671\nBobby,bobby@example.com,+1 (415) 555-2671\n";
    let (id, status) = import(&app, &admin, csv, &[("map", "name"), ("map", "email"), ("map", "phone"), ("key", "email")]).await;
    assert_eq!(status, "failed");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 0, "all-or-nothing: nothing written");
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND row_number = 3 AND problems->0->>'reason' = 'Same email as row 2.'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND row_number = 5 AND problems->0->>'reason' = 'Same phone as row 4.'")), 1);
    let page = admin.get_html(&format!("/imports/{id}")).await;
    assert!(page.contains("2 rows were rejected, so nothing was imported") && page.contains("Same email as row 2."));
    // Tried again from the kept file, importing only the valid rows: the first of each pair.
    assert!(page.contains("id=\"retry-import\""));
    assert_eq!(location(&admin.post(&format!("/imports/{id}/retry"), &[]).await), format!("/imports/{id}"));
    let mapping = admin.get_html(&format!("/imports/{id}")).await;
    assert!(mapping.contains(r#"<option value="phone" selected>Phone</option>"#), "the last choices are kept");
    let fields = [("map", "name"), ("map", "email"), ("map", "phone"), ("key", "email"), ("mode", "skip_invalid")];
    assert_eq!(admin.post(&format!("/imports/{id}/start"), &fields).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished(&app, id).await, "done");
    assert_eq!(counts(&app, id), [4, 2, 0, 0, 0, 2]);
    assert_eq!(admin.post(&format!("/imports/{id}/retry"), &[]).await.status(), StatusCode::CONFLICT, "a finished import is not retried");
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name IN ('Ada', 'Bob')"), 2);
}

#[tokio::test]
async fn a_row_with_10000_columns_is_rejected_with_its_reason() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let wide = vec!["x"; 10_000].join(",");
    let csv = format!("name,email\nAda,ada@example.com\n{wide}\nBob,bob@example.com\n");
    let fields = [("map", "name"), ("map", "email"), ("key", "email"), ("mode", "skip_invalid")];
    let (id, status) = import(&app, &admin, csv, &fields).await;
    assert_eq!(status, "done");
    assert_eq!(counts(&app, id), [3, 2, 0, 0, 0, 1]);
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND row_number = 3 AND problems->0->>'reason' LIKE 'This row has 10000 fields but the header has 2%' AND jsonb_array_length(raw) = 2")), 1);
}

#[tokio::test]
async fn one_bad_row_after_10000_good_ones_writes_nothing() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let mut csv = String::from("name,email,phone\n");
    for i in 0..10_000 {
        csv.push_str(&format!("Client {i},client{i}@example.com,+1415555{:04}\n", i % 10_000));
    }
    csv.push_str("Broken,not-an-email,12\n");
    let (id, status) = import(&app, &admin, csv, &[("map", "name"), ("map", "email"), ("map", "phone"), ("key", "email")]).await;
    assert_eq!(status, "failed");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action LIKE 'clients.%'"), 0);
    assert_eq!(counts(&app, id)[0], 10_001);
    let row = 10_002; // the header is row 1
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND row_number = {row} AND jsonb_array_length(problems) = 2")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'imports.failed' AND entity_id = '{id}'")), 1);
    // errors.csv: the original columns plus error, naming the row, column and reason.
    let r = admin.get(&format!("/imports/{id}/errors.csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-disposition"], format!("attachment; filename=\"import-{id}-errors.csv\"").as_str());
    let body = r.text().await.unwrap();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("name,email,phone,error"));
    let line = lines.next().unwrap();
    assert!(line.starts_with("Broken,not-an-email,12,\"Row 10002: email:") || line.starts_with("Broken,not-an-email,12,Row 10002: email:"), "{line}");
    assert!(line.contains("phone:"), "{line}");
}

#[tokio::test]
async fn upsert_updates_existing_clients_without_duplicates_and_audits_each_change() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let fields = [("map", "name"), ("map", "email"), ("map", "phone"), ("map", "company"), ("map", "tags"), ("key", "email")];
    let first = "name,email,phone,company,tags\nAda,ada@example.com,+14155552671,Acme,vip\nBob,bob@example.com,,,\n";
    let (id, _) = import(&app, &admin, first, &fields).await;
    assert_eq!(counts(&app, id), [2, 2, 0, 0, 0, 0]);
    // Ada changes company and gets a tag; Bob's empty cells change nothing; Cy is new.
    let second = "name,email,phone,company,tags\nAda Lovelace,ADA@example.com,,Analytical,\"vip, math\"\nBob,bob@example.com,,,\nCy,cy@example.com,,,\n";
    let (id, _) = import(&app, &admin, second, &fields).await;
    assert_eq!(counts(&app, id), [3, 1, 1, 1, 0, 0]);
    assert_eq!(app.count("SELECT count(*) FROM clients"), 3);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE email = 'ada@example.com' AND name = 'Ada Lovelace' AND company = 'Analytical' AND phone = '+14155552671' AND version = 2"), 1);
    assert_eq!(app.count("SELECT count(*) FROM audit_logs WHERE action = 'clients.import_updated' AND before->>'company' = 'Acme' AND after->>'company' = 'Analytical' AND after->'tags_added' = '[\"math\"]'"), 1);
    // Skip mode leaves existing clients alone.
    let third = "name,email,phone,company,tags\nAda Byron,ada@example.com,,Other,\nDee,dee@example.com,,,\n";
    let (id, _) = import(&app, &admin, third, &[&fields[..], &[("on_existing", "skip")]].concat()).await;
    assert_eq!(counts(&app, id), [2, 1, 0, 0, 1, 0]);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Ada Lovelace'"), 1);
    // Matching by phone: the phone finds Ada, and an email another client has is rejected.
    let by_phone = "name,email,phone\nAda P,,+1 415 555 2671\nThief,bob@example.com,+14155550000\n";
    let fields = [("map", "name"), ("map", "email"), ("map", "phone"), ("key", "phone"), ("mode", "skip_invalid")];
    let (id, _) = import(&app, &admin, by_phone, &fields).await;
    assert_eq!(counts(&app, id), [2, 0, 1, 0, 0, 1]);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Ada P' AND email = 'ada@example.com'"), 1);
    // The tags kept on the rows for the list (issue 20) are the links, new and updated clients'.
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE email = 'ada@example.com' AND cardinality(tag_ids) = 2"), 1);
    assert_eq!(app.stale_tag_ids(), 0);
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND problems->0->>'reason' = 'Another client already has this email.'")), 1);
}

#[tokio::test]
async fn an_export_imports_back_as_the_same_clients() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (name, email, phone, company, status, tags, notes) in [
        ("=HYPERLINK(\"http://x\",\"y\")", "f@example.com", "+14155552671", "-2 Corp", "hot", "vip", "a note"),
        ("Zoë \"Z\" Ärger", "zoe@example.com", "", "Acme, Inc.", "inactive", "vip, trial", ""),
        ("@Phone Only", "", "+442079460958", "", "warm", "", "two\nlines, \"quoted\""),
    ] {
        let r = admin.post("/clients", &[("name", name), ("email", email), ("phone", phone), ("company", company), ("status", status), ("tags", tags), ("notes", notes)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    }
    let exported = admin.get("/clients/export.csv").await.text().await.unwrap();
    // Into another workspace: the export's header is guessed, id and the rest ignored.
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let b = app.browser();
    b.login(&beta.email, PASSWORD).await;
    let map = ["ignore", "name", "email", "phone", "company", "status", "ignore", "ignore", "tags", "notes", "ignore", "ignore", "ignore", "ignore", "ignore"];
    let mut fields: Vec<(&str, &str)> = map.iter().map(|m| ("map", *m)).collect();
    fields.extend([("key", "email"), ("mode", "all_or_nothing")]);
    let (id, status) = import(&app, &b, exported.clone(), &fields).await;
    assert_eq!(status, "done", "{:?}", app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id}")));
    assert_eq!(counts(&app, id)[1], 3);
    let again = b.get("/clients/export.csv").await.text().await.unwrap();
    let strip = |csv: &str| -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
            .from_reader(csv.as_bytes())
            .records()
            .map(|r| { let r = r.unwrap(); vec![r[1].to_string(), r[2].to_string(), r[3].to_string(), r[4].to_string(), r[5].to_string(), r[8].to_string(), r[9].to_string()] })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(strip(&again), strip(&exported));
    // Back into the same workspace: nothing new, nothing changed.
    let (id, _) = import(&app, &admin, exported, &fields).await;
    assert_eq!(counts(&app, id), [3, 0, 0, 3, 0, 0]);
}

#[tokio::test]
async fn agents_import_into_their_own_assignment_and_managers_into_their_departments() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let (agent, agent_user) = app.signed_in(Role::Agent).await;
    let (manager, manager_user) = app.signed_in(Role::Manager).await;
    let sales = department(&app, me.workspace_id, "Sales");
    let support = department(&app, me.workspace_id, "Support");
    switchboard::users::model::set_departments(&mut app.conn(), me.workspace_id, manager_user.id, &[sales]).unwrap();
    admin.post("/clients", &[("name", "Admin's"), ("email", "owned@example.com")]).await;
    // The agent's rows are assigned to the agent, whatever the form says; an existing client
    // that is not theirs is rejected, not changed.
    let fields = [("map", "name"), ("map", "email"), ("key", "email"), ("mode", "skip_invalid"), ("assignee", &me.id.to_string())];
    let (id, _) = import(&app, &agent, "name,email\nMine,mine@example.com\nTaken,owned@example.com\n", &fields).await;
    assert_eq!(counts(&app, id), [2, 1, 0, 0, 0, 1]);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE email = 'mine@example.com' AND assigned_to = {}", agent_user.id)), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE email = 'owned@example.com' AND name = 'Admin''s'"), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND problems->0->>'reason' LIKE '%not yours to change%'")), 1);
    // A manager must choose one of their departments.
    let id = upload(&manager, "m.csv", "name,email\nLead,lead@example.com\n").await;
    let base = [("map", "name"), ("map", "email"), ("key", "email")];
    let r = manager.post(&format!("/imports/{id}/start"), &base).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose one of your departments"));
    let r = manager.post(&format!("/imports/{id}/start"), &[&base[..], &[("department_id", &support.to_string())]].concat()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "not their department");
    let r = manager.post(&format!("/imports/{id}/start"), &[&base[..], &[("department_id", &sales.to_string())]].concat()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished(&app, id).await, "done");
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients c JOIN client_departments cd ON cd.client_id = c.id WHERE c.email = 'lead@example.com' AND cd.department_id = {sales}")), 1);
    assert!(manager.get_html("/clients?q=lead").await.contains("Lead"), "the manager sees what they imported");
    // Starting twice is refused; another user's import is a 404.
    assert_eq!(manager.post(&format!("/imports/{id}/start"), &[&base[..], &[("department_id", &sales.to_string())]].concat()).await.status(), StatusCode::CONFLICT);
    assert_eq!(agent.get(&format!("/imports/{id}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get(&format!("/imports/{id}")).await.status(), StatusCode::OK, "admins see every import");
}

#[tokio::test]
async fn mapping_mistakes_are_shown_on_the_page_and_another_workspace_gets_404() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id = upload(&admin, "c.csv", "name,email\nAda,ada@example.com\n").await;
    let r = admin.post(&format!("/imports/{id}/start"), &[("map", "company"), ("map", "company"), ("key", "phone"), ("tag", "a;b")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    for message in ["Company is chosen for more than one column.", "Map at least one column to a name, email or phone.", "map a column to Phone", "without commas or semicolons"] {
        assert!(body.contains(message), "{message}");
    }
    assert!(body.contains("Ada"), "the preview is shown again");
    assert_eq!(app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND status = 'uploaded'")), 1);
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let b = app.browser();
    b.login(&beta.email, PASSWORD).await;
    for path in [format!("/imports/{id}"), format!("/imports/{id}/progress"), format!("/imports/{id}/errors.csv")] {
        assert_eq!(b.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(b.post(&format!("/imports/{id}/start"), &NAME_EMAIL_PHONE[..2]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.post(&format!("/imports/{id}/retry"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.browser().get(&format!("/imports/{id}")).await.status(), StatusCode::FOUND, "signed out → login");
}

#[tokio::test]
async fn five_percent_bad_rows_are_reported_and_a_reimport_creates_no_duplicates() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let mut csv = String::from("name,phone,company\n");
    for i in 0..2_000 {
        match i % 20 {
            0 => csv.push_str(&format!("Bad Phone {i},12345,Acme\n")),
            _ => csv.push_str(&format!("Client {i},+1415555{i:04},Acme\n")),
        }
    }
    csv.push_str(&format!("Long {},+14155559999,{}\n", 1, "x".repeat(300)));
    csv.push_str("Dup,+14155550001,Acme\n");
    let fields = [("map", "name"), ("map", "phone"), ("map", "company"), ("key", "phone"), ("mode", "skip_invalid")];
    let (id, _) = import(&app, &admin, csv.clone(), &fields).await;
    assert_eq!(counts(&app, id), [2_002, 1_900, 0, 0, 0, 102]);
    let errors = admin.get(&format!("/imports/{id}/errors.csv")).await.text().await.unwrap();
    assert_eq!(errors.lines().count(), 103);
    assert!(errors.contains("Row 2002: company: Company must be at most 200 characters.") && errors.contains("Row 2003: phone: Same phone as row 3."));
    let (id, _) = import(&app, &admin, csv, &fields).await;
    assert_eq!(counts(&app, id), [2_002, 0, 0, 1_900, 0, 102]);
    assert_eq!(app.count("SELECT count(*) FROM clients"), 1_900);
    // The progress fragment is what the page polls.
    let fragment = admin.htmx_get(&format!("/imports/{id}/progress")).await.text().await.unwrap();
    assert!(fragment.trim_start().starts_with("<section id=\"import-progress\""), "{fragment}");
    assert!(fragment.contains("Import finished.") && !fragment.contains("<html"));
}

#[tokio::test]
async fn rows_with_5_mb_cells_are_rejected_with_their_size_and_nothing_is_half_written() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let big = "x".repeat(5 << 20);
    let mut csv = String::from("name,email,notes,ignored\nAda,ada@example.com,fine,\n");
    csv.push_str(&format!("Bob,bob@example.com,{big},\n"));
    csv.push_str(&format!("\"{big}\",cy@example.com,,\n"));
    csv.push_str(&format!("Dee,dee@example.com,,\"{big}\"\n"));
    csv.push_str("Eve,eve@example.com,also fine,\n");
    let mut fields = vec![("map", "name"), ("map", "email"), ("map", "notes"), ("map", "ignore"), ("key", "email")];
    let (id, status) = import(&app, &admin, csv.clone(), &fields).await;
    assert_eq!(status, "failed", "all or nothing");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 0, "nothing half written");
    assert_eq!(app.count(&format!("SELECT rows_rejected FROM imports WHERE id = {id}")), 3);
    for (row, column) in [(3, "notes"), (4, "name"), (5, "ignored")] {
        let sql = format!(
            "SELECT count(*) FROM import_errors WHERE import_id = {id} AND row_number = {row} \
             AND problems->0->>'column' = '{column}' AND problems->0->>'reason' = 'This cell holds 5.0 MB; no field takes more than 10000 characters.' \
             AND length(raw::text) < 1000"
        );
        assert_eq!(app.count(&sql), 1, "row {row}: rejected naming {column}, with the cell cut in the report");
    }
    let report = admin.get(&format!("/imports/{id}/errors.csv")).await.text().await.unwrap();
    assert!(report.len() < 10_000, "errors.csv holds the start of each big cell, not 5 MB: {} bytes", report.len());
    fields.push(("mode", "skip_invalid"));
    let (id, status) = import(&app, &admin, csv, &fields).await;
    assert_eq!(status, "done");
    assert_eq!(counts(&app, id), [5, 2, 0, 0, 0, 3]);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name IN ('Ada', 'Eve')"), 2);
}

#[tokio::test]
async fn every_import_status_and_phase_is_stored_under_the_check_and_read_back_as_itself() {
    use diesel::prelude::*;
    use switchboard::authz::Scope;
    use switchboard::db::schema::imports;
    use switchboard::imports::model::{ImportPhase, ImportStatus};
    use switchboard::imports::query;

    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let id = upload(&admin, "states.csv", "name,email\nAda,ada@example.com\n").await;
    let scope = Scope { workspace_id: me.workspace_id, user_id: me.id, role: Role::Admin };
    let mut conn = app.conn();
    for (status, phase) in ImportStatus::ALL.into_iter().zip(ImportPhase::ALL.into_iter().cycle()) {
        let set = diesel::update(imports::table.filter(imports::id.eq(id)))
            .set((imports::status.eq(status), imports::phase.eq(phase)))
            .execute(&mut conn);
        assert_eq!(set.as_ref().ok(), Some(&1), "{status} is allowed by the CHECK: {set:?}");
        assert_eq!(app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND status = '{status}' AND phase = '{phase}'")), 1);
        let import = query::find(&mut conn, &scope, id).expect("load").expect("the import");
        assert_eq!((import.status, import.phase), (status, phase));
    }
}

#[tokio::test]
async fn abandoned_uploads_and_the_files_of_failed_imports_are_swept_after_a_day() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let csv = "name,email\nAda,ada@example.com\nAda Again,ada@example.com\n";
    let abandoned = upload(&admin, "abandoned.csv", csv).await;
    let fresh = upload(&admin, "fresh.csv", csv).await;
    let (failed, status) = import(&app, &admin, csv, &[("map", "name"), ("map", "email"), ("key", "email")]).await;
    assert_eq!(status, "failed");
    let (done, status) = import(&app, &admin, "name,email\nBob,bob@example.com\n", &[("map", "name"), ("map", "email"), ("key", "email")]).await;
    assert_eq!(status, "done");
    let (recently_failed, status) = import(&app, &admin, csv, &[("map", "name"), ("map", "email"), ("key", "email")]).await;
    assert_eq!(status, "failed");
    let sql = |q: String| diesel::RunQueryDsl::execute(diesel::sql_query(q), &mut app.conn()).expect("backdate");
    assert_eq!(sql(format!("UPDATE imports SET created_at = now() - interval '2 days' WHERE id IN ({abandoned}, {failed}, {done})")), 3);
    assert_eq!(sql(format!("UPDATE imports SET finished_at = now() - interval '2 days' WHERE id IN ({failed}, {done})")), 2);
    let chunks = |id: i64| app.count(&format!("SELECT count(*) FROM import_chunks WHERE import_id = {id}"));
    let kept = |id: i64| app.count(&format!("SELECT count(*) FROM imports WHERE id = {id}")) == 1;
    assert!(chunks(failed) > 0 && chunks(recently_failed) > 0, "a failed import keeps its file for a retry");

    // The sweep runs after every completed upload.
    let trigger = upload(&admin, "trigger.csv", csv).await;

    assert!(!kept(abandoned), "an upload never started is removed after a day");
    assert_eq!(chunks(abandoned), 0);
    assert!(kept(fresh) && chunks(fresh) > 0, "a recent upload stays");
    assert!(kept(failed) && chunks(failed) == 0, "a failed import's file goes after a day, its report stays");
    assert!(kept(recently_failed) && chunks(recently_failed) > 0, "a recently failed import can still be retried");
    assert!(kept(done), "finished imports are never swept");
    assert!(kept(trigger) && chunks(trigger) > 0);
}

#[tokio::test]
async fn the_sample_csv_downloads_with_guessed_headers_and_imports_as_three_clients() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let form = admin.get_html("/clients/import").await;
    assert!(form.contains(r#"<a id="sample-csv" href="/clients/import/sample.csv" hx-boost="false" download>"#), "{form}");
    let r = admin.get("/clients/import/sample.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("attachment; filename=\"switchboard-sample.csv\""));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().next().unwrap(), "name,email,phone,company,status,tags,notes");
    assert_eq!(csv.lines().count(), 4, "a header and 3 example rows");
    let id = upload(&admin, "switchboard-sample.csv", csv).await;
    let page = admin.get_html(&format!("/imports/{id}")).await;
    let guessed = ["name", "email", "phone", "company", "status", "tags", "notes"];
    for target in guessed {
        assert!(page.contains(&format!(r#"<option value="{target}" selected>"#)), "{target} is guessed");
    }
    let mut fields: Vec<(&str, &str)> = guessed.iter().map(|t| ("map", *t)).collect();
    fields.extend([("key", "email"), ("mode", "all_or_nothing")]);
    assert_eq!(admin.post(&format!("/imports/{id}/start"), &fields).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished(&app, id).await, "done");
    assert_eq!(counts(&app, id), [3, 3, 0, 0, 0, 0]);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE import_id = {id}")), 3);
    assert!(admin.get("/clients/import/sample.csv").await.status().is_success());
    let anonymous = app.browser().get("/clients/import/sample.csv").await;
    assert!(anonymous.status().is_redirection() && location(&anonymous).starts_with("/login"), "signed-in users only");
}

#[tokio::test]
async fn rejected_rows_are_named_by_the_rows_name_or_email() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let csv = "first name,last name,email,phone\nAda,Lovelace,ada@example.com,12345\n,,nameless@example.com,999\nBob,,bob@example.com,+14155552671\n";
    let fields = [("map", "first_name"), ("map", "last_name"), ("map", "email"), ("map", "phone"), ("key", "email"), ("mode", "skip_invalid")];
    let (id, status) = import(&app, &admin, csv, &fields).await;
    assert_eq!(status, "done");
    let page = admin.get_html(&format!("/imports/{id}")).await;
    assert!(page.contains("<tr><td>2</td><td>Ada Lovelace</td><td>phone</td>"), "{page}");
    assert!(page.contains("<tr><td>3</td><td>nameless@example.com</td><td>phone</td>"), "{page}");
}

#[tokio::test]
async fn the_report_links_to_the_clients_of_that_import_and_no_other() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let fields = [("map", "name"), ("map", "email"), ("key", "email"), ("mode", "skip_invalid")];
    let (first, _) = import(&app, &admin, "name,email\nFirst One,one@example.com\nFirst Two,two@example.com\n", &fields).await;
    let (second, _) = import(&app, &admin, "name,email\nSecond Three,three@example.com\n", &fields).await;
    admin.post("/clients", &[("name", "Typed In")]).await;
    let report = admin.get_html(&format!("/imports/{first}")).await;
    assert!(report.contains(&format!(r#"<a id="import-clients" href="/clients?import={first}">the 2 clients this import created</a>"#)), "{report}");
    let list = admin.get_html(&format!("/clients?import={first}")).await;
    assert!(list.contains("First One") && list.contains("First Two"), "{list}");
    assert!(!list.contains("Second Three") && !list.contains("Typed In"));
    assert!(list.contains(&format!(r#"<input type="hidden" name="import" value="{first}">"#)), "other filters keep the import");
    let list = admin.get_html(&format!("/clients?import={second}")).await;
    assert!(list.contains("Second Three") && !list.contains("First One"));
    assert_eq!(admin.get("/clients?import=abc").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // "All matching" in the bulk bar means the clients of that import, not every client.
    let list = admin.get_html(&format!("/clients?import={first}")).await;
    assert!(list.contains(&format!(r#"<input type="hidden" form="bulk" name="filter_import" value="{first}">"#)), "{list}");
    let fields = [("action", "tag"), ("tag", "fair"), ("target", "all"), ("filter_import", &first.to_string())];
    assert!(admin.post("/clients/bulk", &fields).await.status().is_redirection());
    assert_eq!(app.count("SELECT count(*) FROM client_tags"), 2, "only the import's two clients are tagged");

    // Another workspace's import is not found, and its clients are not listed.
    let theirs = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let beta = app.browser();
    beta.login(&theirs.email, PASSWORD).await;
    let r = beta.get(&format!("/clients?import={first}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.unwrap().contains("First One"));
}

#[tokio::test]
async fn the_upload_is_a_drop_zone_and_a_running_import_shows_time_so_far_and_left() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let form = admin.get_html("/clients/import").await;
    assert!(form.contains("<div class=\"drop-zone\">\n    <input id=\"import-file\" name=\"file\" type=\"file\""), "the input fills the zone: {form}");
    let id = upload(&admin, "clients.csv", "name,email\nAda,ada@example.com\n").await;
    let run = |sql: &str| diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut app.conn()).unwrap();
    let timing = |fragment: String| -> String {
        fragment.split("<p class=\"import-timing\" id=\"import-timing\">").nth(1).unwrap_or_default().split("</p>").next().unwrap().to_string()
    };
    // A quarter read in a minute: three more minutes of reading, then the saving, which for
    // 400 rows at the default rate (no finished import yet) is under a second.
    run(&format!("UPDATE imports SET status = 'running', phase = 'reading', started_at = now() - interval '60 seconds', line_count = 401, rows_read = 100 WHERE id = {id}"));
    let t = timing(admin.htmx_get(&format!("/imports/{id}/progress")).await.text().await.unwrap());
    assert!(t.starts_with("1 min ") && t.contains(" s so far, about 3 min ") && t.ends_with(" s left"), "{t}");
    // Saving a million rows, 30 s in, at the default 12,000 rows/s (the 1M benchmark): 83 s in all.
    run(&format!(
        "UPDATE imports SET phase = 'writing', line_count = 1000001, rows_read = 1000000, started_at = now() - interval '2 minutes', \
         writing_started_at = now() - interval '30 seconds' WHERE id = {id}"
    ));
    let t = timing(admin.htmx_get(&format!("/imports/{id}/progress")).await.text().await.unwrap());
    assert!(t.starts_with("2 min ") && (t.contains("about 52 s left") || t.contains("about 53 s left")), "{t}");
    // This workspace's earlier imports saved 100,000 rows in 50 s: 2,000 rows/s, so 500 s in all.
    run(&format!(
        "INSERT INTO imports (workspace_id, user_id, filename, size_bytes, line_count, status, phase, encoding, delimiter, headers, \
           rows_read, rows_created, rows_updated, started_at, writing_started_at, finished_at) \
         SELECT workspace_id, user_id, 'earlier.csv', 1, 100001, 'done', '', encoding, delimiter, headers, 100000, 90000, 10000, \
           now() - interval '2 hours', now() - interval '1 hour' - interval '50 seconds', now() - interval '1 hour' FROM imports WHERE id = {id}"
    ));
    let t = timing(admin.htmx_get(&format!("/imports/{id}/progress")).await.text().await.unwrap());
    assert!(t.contains("about 7 min 50 s left") || t.contains("about 7 min 49 s left"), "{t}");
    // Past the estimate: no negative time, it says it is finishing.
    run(&format!("UPDATE imports SET writing_started_at = now() - interval '2 hours 5 minutes', started_at = now() - interval '2 hours 6 minutes' WHERE id = {id}"));
    let fragment = admin.htmx_get(&format!("/imports/{id}/progress")).await.text().await.unwrap();
    assert!(fragment.contains(">2 h 6 min so far, finishing</p>"), "{fragment}");
    run(&format!("UPDATE imports SET status = 'done', phase = '', finished_at = now() WHERE id = {id}"));
    assert!(!admin.htmx_get(&format!("/imports/{id}/progress")).await.text().await.unwrap().contains("import-timing"), "not once finished");
}

/// Holds a lock on Ada (a client the file matches) so the import waits after its checks,
/// adds a client with an email of one of the file's new rows meanwhile, then lets it go.
async fn import_while_someone_takes_an_email(app: &TestApp, admin: &Browser, mode: &str) -> i64 {
    use diesel::connection::SimpleConnection;
    let csv = "name,email\nAda Again,ada@example.com\nLate Comer,late@example.com\nOther One,other@example.com\n";
    let id = upload(admin, "clients.csv", csv).await;
    let mut holder = app.conn();
    holder.batch_execute("BEGIN; SELECT 1 FROM clients WHERE email = 'ada@example.com' FOR UPDATE").unwrap();
    let fields = [("map", "name"), ("map", "email"), ("key", "email"), ("mode", mode)];
    assert_eq!(admin.post(&format!("/imports/{id}/start"), &fields).await.status(), StatusCode::SEE_OTHER);
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT 1 FROM clients c JOIN import_rows%'";
    for _ in 0..300 {
        if app.count(waiting) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count(waiting), 1, "the import waits for Ada's lock after its checks");
    let taken = "INSERT INTO clients (workspace_id, name, email) SELECT workspace_id, 'Someone Else', 'late@example.com' FROM clients WHERE email = 'ada@example.com'";
    diesel::RunQueryDsl::execute(diesel::sql_query(taken), &mut app.conn()).unwrap();
    holder.batch_execute("COMMIT").unwrap();
    finished(app, id).await;
    id
}

#[tokio::test]
async fn an_email_taken_during_the_import_rejects_that_row_and_all_or_nothing_then_writes_nothing() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (_, status) = import(&app, &admin, "name,email\nAda,ada@example.com\n", &[("map", "name"), ("map", "email"), ("key", "email")]).await;
    assert_eq!(status, "done");

    // Valid rows only: the taken row is reported, the others are written.
    let id = import_while_someone_takes_an_email(&app, &admin, "skip_invalid").await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND status = 'done'")), 1);
    assert_eq!(counts(&app, id), [3, 1, 1, 0, 0, 1]);
    let reason = "A client with this email or phone was added by someone else during the import.";
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND row_number = 3 AND problems->0->>'reason' = '{reason}'")), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE email = 'late@example.com' AND name = 'Someone Else' AND import_id IS NULL"), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM clients WHERE email = 'other@example.com' AND import_id = {id}")), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Ada Again'"), 1);

    // All or nothing: the same race fails the import and writes none of its rows.
    diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM clients WHERE email IN ('late@example.com', 'other@example.com')"), &mut app.conn()).unwrap();
    diesel::RunQueryDsl::execute(diesel::sql_query("UPDATE clients SET name = 'Ada' WHERE email = 'ada@example.com'"), &mut app.conn()).unwrap();
    let id = import_while_someone_takes_an_email(&app, &admin, "all_or_nothing").await;
    assert_eq!(app.count(&format!("SELECT count(*) FROM imports WHERE id = {id} AND status = 'failed'")), 1);
    assert_eq!(app.count(&format!("SELECT count(*) FROM import_errors WHERE import_id = {id} AND row_number = 3 AND problems->0->>'reason' = '{reason}'")), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE email = 'other@example.com'"), 0);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Ada'"), 1, "Ada's update was rolled back too");
    assert_eq!(app.count("SELECT count(*) FROM clients"), 2);
}

#[tokio::test]
async fn two_spellings_of_one_tag_in_a_new_clients_row_link_it_once() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let csv = "name,email,tags\nZoë,zoe@example.com,\"Äpfel, äpfel, vip\"\nYann,yann@example.com,VIP\n";
    let fields = [("map", "name"), ("map", "email"), ("map", "tags"), ("key", "email")];
    let (id, status) = import(&app, &admin, csv, &fields).await;
    assert_eq!(status, "done");
    assert_eq!(counts(&app, id), [2, 2, 0, 0, 0, 0]);
    assert_eq!(app.count("SELECT count(*) FROM tags"), 2);
    assert_eq!(app.count("SELECT count(*) FROM client_tags ct JOIN clients c ON c.id = ct.client_id WHERE c.email = 'zoe@example.com'"), 2);
    assert_eq!(app.count("SELECT count(*) FROM client_tags ct JOIN clients c ON c.id = ct.client_id WHERE c.email = 'yann@example.com'"), 1);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE tag_ids IS NULL"), 0);
    assert_eq!(app.stale_tag_ids(), 0);
}
