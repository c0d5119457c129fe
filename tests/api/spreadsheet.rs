//! Exports as a spreadsheet opens them: the client export goes through the LibreOffice Calc
//! Debian ships (headless `soffice --convert-to`), which must show phones as typed, run no
//! formula, and save a file the import reads back unchanged. Skipped, saying so, only when
//! `soffice` is not installed (`apt-get install libreoffice-calc-nogui`).

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::imports::{counts, import};
use crate::support::{Browser, PASSWORD, spawn_app};

/// name, email, phone as typed, company, notes
const CLIENTS: [(&str, &str, &str, &str, &str); 5] = [
    ("=HYPERLINK(\"http://evil.example\",\"click\")", "f@example.com", "+49 170 1234567", "-2 Corp", "+1+2"),
    ("Zoë \"Z\" Ärger", "zoe@example.com", "(415) 555-2671", "Acme, Inc.", "=1+1"),
    ("@Phone Only", "", "+44 20 7946 0958", "", "two\nlines"),
    ("Jean Dupont", "jean@example.com", "+33 6 12 34 56 78", "@home", "-minus"),
    ("Plain", "plain@example.com", "", "", ""),
];
const PHONES_SHOWN: [&str; 4] = ["+49 170 1234567", "+1 415 555 2671", "+44 20 7946 0958", "+33 6 12 34 56 78"];

/// LibreOffice's CSV import options: comma, double quote, UTF-8, from line 1, English (US),
/// quoted fields not forced to text, special numbers detected, formulas evaluated (the
/// most a spreadsheet does with a file; Excel always evaluates).
const CSV_IN: &str = "CSV:44,34,76,1,,1033,false,true,,,false,,true";

fn soffice() -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join("soffice")).find(|p| p.is_file())
}

/// Runs `soffice --convert-to` on `file` (own profile, so tests can run side by side), a
/// CSV file read with `CSV_IN`.
async fn convert(soffice: &Path, dir: &Path, file: &Path, to: &str) -> PathBuf {
    let profile = format!("file://{}", dir.join("profile").display());
    let mut command = tokio::process::Command::new(soffice);
    command.arg(format!("-env:UserInstallation={profile}")).args(["--headless", "--norestore"]);
    if file.extension().is_some_and(|e| e == "csv") {
        command.arg(format!("--infilter={CSV_IN}"));
    }
    let out = command
        .args(["--convert-to", to, "--outdir"])
        .arg(dir.join("out"))
        .arg(file)
        .output()
        .await
        .expect("soffice runs");
    let stem = file.file_stem().unwrap().to_str().unwrap();
    let ext = to.split(':').next().unwrap();
    let converted = dir.join("out").join(format!("{stem}.{ext}"));
    assert!(converted.is_file(), "soffice made no {ext}: {}", String::from_utf8_lossy(&out.stderr));
    converted
}

/// The cells of a flat ODS file: (value type, text, has a formula), row by row.
fn fods_cells(xml: &str) -> Vec<Vec<(String, String, bool)>> {
    let mut rows = Vec::new();
    for row in xml.split("<table:table-row").skip(1) {
        let row = row.split("</table:table-row>").next().unwrap_or("");
        let mut cells = Vec::new();
        for cell in row.split("<table:table-cell").skip(1) {
            let (tag, body) = cell.split_once('>').unwrap_or((cell, ""));
            let body = if tag.ends_with('/') { "" } else { body.split("</table:table-cell>").next().unwrap_or("") };
            let value_type = tag.split("office:value-type=\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or("").to_string();
            // The text of the paragraphs, tags dropped, entities decoded.
            let mut text = String::new();
            for p in body.split("<text:p>").skip(1).map(|p| p.split("</text:p>").next().unwrap_or("")) {
                if !text.is_empty() {
                    text.push('\n');
                }
                let mut inside = false;
                for c in p.chars() {
                    match c {
                        '<' => inside = true,
                        '>' => inside = false,
                        c if !inside => text.push(c),
                        _ => {}
                    }
                }
            }
            let text = text.replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            cells.push((value_type, text, tag.contains("table:formula=")));
        }
        rows.push(cells);
    }
    rows
}

#[tokio::test]
async fn an_export_opens_in_libreoffice_with_phones_as_typed_no_formulas_and_imports_back_unchanged() {
    let app = spawn_app().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for (name, email, phone, company, notes) in CLIENTS {
        let r = admin.post("/clients", &[("name", name), ("email", email), ("phone", phone), ("company", company), ("status", "warm"), ("notes", notes)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    }
    let exported = admin.get("/clients/export.csv").await.text().await.unwrap();
    for phone in PHONES_SHOWN {
        assert!(exported.contains(&format!(",{phone},")), "the export writes {phone} as is:\n{exported}");
    }

    let Some(soffice) = soffice() else {
        eprintln!("SKIPPED the LibreOffice part: soffice is not installed (apt-get install libreoffice-calc-nogui)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("switchboard-lo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clients.csv");
    std::fs::write(&file, &exported).unwrap();

    // Opened: phones are text shown as typed, and nothing is a formula.
    let fods = std::fs::read_to_string(convert(&soffice, &dir, &file, "fods").await).unwrap();
    assert!(!fods.contains("table:formula="), "a cell runs a formula");
    let rows = fods_cells(&fods);
    let header: Vec<&str> = rows[0].iter().map(|c| c.1.as_str()).collect();
    let phone_at = header.iter().position(|h| *h == "phone").expect("a phone column");
    let shown: Vec<&(String, String, bool)> = rows[1..].iter().filter_map(|r| r.get(phone_at)).filter(|c| !c.1.is_empty()).collect();
    assert_eq!(shown.len(), PHONES_SHOWN.len(), "{rows:?}");
    for cell in shown {
        assert_eq!(cell.0, "string", "{cell:?} is text, not a number");
        assert!(PHONES_SHOWN.contains(&cell.1.as_str()), "{cell:?} is shown as typed");
    }
    for name in ["=HYPERLINK(\"http://evil.example\",\"click\")", "@Phone Only"] {
        assert!(rows.iter().flatten().any(|c| c.1 == format!("'{name}")), "{name} shows as inert text");
    }

    // Saved back as CSV by LibreOffice, then imported into another workspace: the same clients.
    let saved = convert(&soffice, &dir, &convert(&soffice, &dir, &file, "ods").await, "csv:Text - txt - csv (StarCalc):44,34,76,1").await;
    let saved = std::fs::read(saved).unwrap();
    let beta = app.create_user("Beta", "boss@beta.test", Role::Admin);
    let b = app.browser();
    b.login(&beta.email, PASSWORD).await;
    let map = ["ignore", "name", "email", "phone", "company", "status", "ignore", "ignore", "tags", "notes", "ignore", "ignore", "ignore", "ignore", "ignore"];
    let mut fields: Vec<(&str, &str)> = map.iter().map(|m| ("map", *m)).collect();
    fields.extend([("key", "email"), ("mode", "all_or_nothing")]);
    let (id, status) = import(&app, &b, saved, &fields).await;
    assert_eq!(status, "done");
    assert_eq!(counts(&app, id)[1], CLIENTS.len() as i64);
    let again = b.get("/clients/export.csv").await.text().await.unwrap();
    let cells = |csv: &str| -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
            .from_reader(csv.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().enumerate().filter(|(i, _)| [1, 2, 3, 4, 5, 9].contains(i)).map(|(_, c)| c.to_string()).collect())
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(cells(&again), cells(&exported), "LibreOffice's copy imports as the same clients");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn errors_csv_keeps_the_uploads_separator_and_bom_and_excel_gets_semicolons_where_decimals_take_commas() {
    let app = spawn_app().await;
    let (admin, me) = app.signed_in(Role::Admin).await;
    let csv = "\u{feff}Name;E-mail;Phone\r\nAda;ada@example.com;+1 415 555 2671\r\n\"Smith; J\";not-an-email;12\r\n";
    let fields = [("map", "name"), ("map", "email"), ("map", "phone"), ("key", "email"), ("mode", "skip_invalid"), ("delimiter", "semicolon")];
    let (id, status) = import(&app, &admin, csv, &fields).await;
    assert_eq!(status, "done");
    let report = admin.get(&format!("/imports/{id}/errors.csv")).await.bytes().await.unwrap();
    let report = String::from_utf8(report.to_vec()).unwrap();
    assert!(report.starts_with("\u{feff}Name;E-mail;Phone;error\r\n"), "{report:?}");
    assert!(report.contains("\"Smith; J\";not-an-email;12;\"Row 3: E-mail: "), "{report:?}");
    let plain = "name,email\nBob,not-an-email\n";
    let (id, _) = import(&app, &admin, plain, &[("map", "name"), ("map", "email"), ("key", "email"), ("mode", "skip_invalid")]).await;
    let report = admin.get(&format!("/imports/{id}/errors.csv")).await.text().await.unwrap();
    assert!(report.starts_with("name,email,error\r\nBob,not-an-email,Row 2: "), "{report:?}");

    assert!(for_excel(&admin).await.starts_with("\u{feff}id,name,email,phone,"), "US writes 1.5: commas");
    diesel::RunQueryDsl::execute(diesel::sql_query(format!("UPDATE workspaces SET default_country = 'DE' WHERE id = {}", me.workspace_id)), &mut app.conn()).unwrap();
    let german = for_excel(&admin).await;
    assert!(german.starts_with("\u{feff}id;name;email;phone;"), "{german:?}");
    assert!(german.contains(";+1 415 555 2671;"), "{german:?}");
    assert!(admin.get("/clients/export.csv").await.text().await.unwrap().starts_with("id,name,"), "the plain export keeps commas");
}

/// The "for Excel" download, BOM included.
async fn for_excel(b: &Browser) -> String {
    String::from_utf8(b.get("/clients/export.csv?bom=1").await.bytes().await.unwrap().to_vec()).unwrap()
}
