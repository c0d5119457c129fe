//! CHECKLIST 21 over HTTP: a hostile upload file name is never used as a path (the file goes
//! into the database), is stored and shown as a cleaned display name, and never reaches a
//! download's `Content-Disposition`.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{location, spawn_app_with};
use crate::support::TestApp;
use crate::walk::upload_named;

fn stored_name(app: &TestApp, id: i64) -> String {
    use diesel::prelude::*;
    use switchboard::db::schema::imports;
    imports::table.filter(imports::id.eq(id)).select(imports::filename).first(&mut app.conn()).expect("the import")
}

#[tokio::test]
async fn hostile_upload_file_names_are_stored_cleaned_and_never_reach_a_download_header() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let long = format!("{}.csv", "a".repeat(300));
    // (sent, stored); `None` where the multipart parser decides which of two names counts.
    let cases: [(&str, Option<&str>); 7] = [
        ("../../etc/passwd.csv", Some("passwd.csv")),
        ("..\\..\\Windows\\System32\\drivers\\etc\\hosts.csv", Some("hosts.csv")),
        ("/var/lib/switchboard/secret_key", Some("secret_key")),
        (".htaccess", Some("htaccess")),
        ("<img src=x onerror=alert(1)>.csv", Some("img srcx onerroralert(1).csv")),
        ("list\"; filename=\"../evil.sh", None),
        (&long, Some(&long[..100])),
    ];
    let csv = b"name,email\nAda,ada@example.com\n".to_vec();
    for (sent, expected) in cases {
        let r = upload_named(&admin, sent, csv.clone()).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "upload of {sent:?}");
        let id: i64 = location(&r).trim_start_matches("/imports/").parse().expect("redirect to the import");
        let stored = stored_name(&app, id);
        if let Some(expected) = expected {
            assert_eq!(stored, expected, "{sent:?} is stored cleaned");
        }
        assert!(
            !stored.is_empty() && !stored.starts_with('.') && !stored.contains(['/', '\\', '"', ';', '<', '>', '=', '\r', '\n']),
            "{sent:?} is stored as a bare display name, got {stored:?}"
        );
        assert_eq!(app.count(&format!("SELECT count(*) FROM import_chunks WHERE import_id = {id}")), 1, "the bytes are in the database");

        let page = admin.get_html(&format!("/imports/{id}")).await;
        assert!(page.contains(&format!("Import of {stored}")), "the page names {stored:?}");
        assert!(!page.contains("<img src=x"), "the name is shown as text");

        let download = admin.get(&format!("/imports/{id}/errors.csv")).await;
        assert_eq!(download.status(), StatusCode::OK);
        let disposition = download.headers().get("content-disposition").expect("Content-Disposition").to_str().unwrap().to_string();
        assert_eq!(disposition, format!("attachment; filename=\"import-{id}-errors.csv\""), "a name of our own, not {sent:?}");
        assert_eq!(download.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"));
        assert!(download.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/csv"));
    }
}
