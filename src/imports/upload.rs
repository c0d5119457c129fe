//! `GET /clients/import` (the form and recent imports) and `POST /clients/import`: the
//! multipart field `file` streamed into the database in 1 MiB chunks, refused with a reason
//! when it is not CSV text (nothing kept), and 413 past the configured limit.

use actix_multipart::{Field, Multipart};
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use diesel::Connection;
use futures_util::TryStreamExt;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::csv_io::sniff::{self, Choice, NotText};
use crate::error::AppError;
use crate::imports::file::{self, CHUNK_BYTES, Format};
use crate::imports::model::{Import, NewImport};
use crate::imports::query;
use crate::web::ctx::{Ctx, Layout};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

/// Most columns a file may have.
pub const MAX_COLUMNS: usize = 500;

#[derive(Template)]
#[template(path = "imports/new.html", blocks = ["content"])]
struct UploadPage {
    layout: Layout,
    error: Option<String>,
    limit_mb: u64,
    recent: Vec<Import>,
}
crate::pages!(UploadPage);

async fn upload_page(ctx: &Ctx, state: &AppState, status: StatusCode, error: Option<String>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let recent = state.db(move |conn| Ok(query::recent(conn, &scope, 20)?)).await?;
    let page = UploadPage { layout: ctx.layout("Import clients", "clients"), error, limit_mb: state.settings.import_max_bytes >> 20, recent };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn upload_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    upload_page(&ctx, &state, StatusCode::OK, None).await
}

/// Why an upload was refused.
enum Refusal {
    /// Not CSV we can read: 422 on the form.
    NotCsv(HeadError),
    /// The upload stopped before its end (the multipart reader's words): 422 on the form.
    Interrupted(String),
    TooLarge,
    Other(AppError),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        Refusal::Other(e)
    }
}

pub async fn upload(ctx: Ctx, state: Data<AppState>, req: HttpRequest, mut payload: Multipart) -> Result<HttpResponse, AppError> {
    let limit = state.settings.import_max_bytes;
    let too_large = || AppError::PayloadTooLarge(format!("The file is larger than the import limit of {} MB.", limit >> 20));
    // Refuse before reading a byte when the declared size is already too big.
    let declared = req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit + 64 * 1024) {
        return Err(too_large());
    }
    let mut outcome = None;
    loop {
        let field = match payload.try_next().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return upload_page(&ctx, &state, StatusCode::BAD_REQUEST, Some(format!("The upload could not be read: {e}."))).await,
        };
        if field.name() == Some("file") && outcome.is_none() {
            outcome = Some(receive(&ctx, &state, field, limit).await);
        }
    }
    match outcome {
        None => upload_page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some("Choose a CSV file to upload.".into())).await,
        Some(Ok(id)) => Ok(see_other(&format!("/imports/{id}"))),
        Some(Err(Refusal::NotCsv(reason))) => upload_page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(reason.to_string())).await,
        Some(Err(Refusal::Interrupted(why))) => upload_page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(format!("The upload was interrupted: {why}."))).await,
        Some(Err(Refusal::TooLarge)) => Err(too_large()),
        Some(Err(Refusal::Other(e))) => Err(e),
    }
}

/// Streams the file into a new import; on any refusal nothing of it is kept.
async fn receive(ctx: &Ctx, state: &AppState, mut field: Field, limit: u64) -> Result<i64, Refusal> {
    let filename = clean_filename(field.content_disposition().and_then(|cd| cd.get_filename()));
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let mut total: u64 = 0;
    let mut lines: i64 = 0;
    let mut import: Option<(i64, bool)> = None; // (id, utf16)
    let mut seq = 0;
    let result: Result<(), Refusal> = async {
        loop {
            let next = field.try_next().await.map_err(|e| Refusal::Interrupted(e.to_string()))?;
            let end = next.is_none();
            if let Some(bytes) = next {
                total += bytes.len() as u64;
                lines += bytes.iter().filter(|b| **b == b'\n').count() as i64;
                if total > limit {
                    return Err(Refusal::TooLarge);
                }
                buf.extend_from_slice(&bytes);
            }
            while buf.len() >= CHUNK_BYTES || (end && !buf.is_empty()) {
                let take = buf.len().min(CHUNK_BYTES);
                let chunk: Vec<u8> = buf.drain(..take).collect();
                let whole = end && buf.is_empty() && import.is_none();
                let id = match import {
                    None => {
                        let head = Head::read(&chunk, whole).map_err(Refusal::NotCsv)?;
                        let utf16 = head.utf16;
                        let id = create(ctx, state, &filename, head, chunk).await?;
                        import = Some((id, utf16));
                        seq = 1;
                        continue;
                    }
                    Some((id, utf16)) => {
                        if !utf16 && chunk.contains(&0) {
                            return Err(Refusal::NotCsv(NotText::NulBytes.into()));
                        }
                        id
                    }
                };
                let (w, n) = (ctx.workspace_id(), seq);
                state.db(move |conn| Ok(file::store_chunk(conn, w, id, n, &chunk)?)).await?;
                seq += 1;
            }
            if end {
                return Ok(());
            }
        }
    }
    .await;
    let w = ctx.workspace_id();
    match (result, import) {
        (Ok(()), Some((id, _))) => {
            let entry = ctx.audit(Action::ImportsUploaded, "imports", id).after(json!({ "filename": filename, "bytes": total }));
            state.db(move |conn| {
                query::mark_uploaded(conn, w, id, total as i64, lines.max(1))?;
                audit::record(conn, &entry)?;
                query::sweep(conn)?;
                Ok(())
            })
            .await?;
            Ok(id)
        }
        (Ok(()), None) => Err(Refusal::NotCsv(NotText::Empty.into())),
        (Err(refusal), stored) => {
            if let Some((id, _)) = stored {
                state.db(move |conn| Ok(query::delete(conn, w, id)?)).await?;
            }
            Err(refusal)
        }
    }
}

async fn create(ctx: &Ctx, state: &AppState, filename: &str, head: Head, chunk: Vec<u8>) -> Result<i64, AppError> {
    let (w, user, filename) = (ctx.workspace_id(), ctx.user_id(), filename.to_string());
    state.db(move |conn| {
        let new = NewImport {
            workspace_id: w,
            user_id: user,
            filename: &filename,
            encoding: head.encoding,
            delimiter: (head.delimiter as char).to_string(),
            headers: json!(head.headers),
        };
        conn.transaction(|tx| {
            let id = query::insert(tx, &new)?;
            file::store_chunk(tx, w, id, 0, &chunk)?;
            Ok(id)
        })
    })
    .await
}

/// What the first chunk says about the file.
#[derive(Debug)]
pub struct Head {
    pub encoding: &'static str,
    pub delimiter: u8,
    pub headers: Vec<String>,
    pub utf16: bool,
}

impl Head {
    /// Reads the header from the file's first bytes (`whole` when they are the whole file),
    /// with the encoding and delimiter detected unless chosen.
    pub fn read(head: &[u8], whole: bool) -> Result<Head, HeadError> {
        Self::read_as(head, whole, Choice::Auto, None)
    }

    pub fn read_as(head: &[u8], whole: bool, choice: Choice, delimiter: Option<u8>) -> Result<Head, HeadError> {
        sniff::refuse_binary(head)?;
        let encoding = sniff::encoding(head, whole, choice);
        let utf16 = sniff::encoding_label(encoding) == "UTF-16";
        let (text, _, _) = encoding.decode(head);
        let first_line = text.trim_start_matches('\u{feff}').lines().next().unwrap_or("");
        let delimiter = delimiter.unwrap_or_else(|| sniff::delimiter(first_line));
        let format = Format { encoding, delimiter };
        let mut reader = format.csv(head);
        let mut header = csv::StringRecord::new();
        match reader.read_record(&mut header) {
            Ok(true) => {}
            Ok(false) => return Err(NotText::Empty.into()),
            Err(e) => return Err(HeadError::Unreadable(e.to_string())),
        }
        if !whole && reader.is_done() {
            return Err(HeadError::HeaderTooLong);
        }
        let headers: Vec<String> = header.iter().map(|h| h.trim().chars().take(100).collect()).collect();
        if headers.len() > MAX_COLUMNS {
            return Err(HeadError::TooManyColumns(headers.len()));
        }
        if headers.iter().all(String::is_empty) {
            return Err(HeadError::NoColumnNames);
        }
        if whole && !has_rows(&mut reader) {
            return Err(HeadError::NoRows);
        }
        Ok(Head { encoding: encoding.name(), delimiter, headers, utf16 })
    }
}

/// Why a file's first chunk is not CSV that can be imported; the message is the one the
/// page shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error(transparent)]
    NotText(#[from] NotText),
    /// The CSV reader's own words for the header line.
    #[error("The header line cannot be read as CSV: {0}.")]
    Unreadable(String),
    #[error("The header line is longer than 1 MB; is this really a CSV file?")]
    HeaderTooLong,
    #[error("The header has {0} columns; at most {MAX_COLUMNS} can be imported.")]
    TooManyColumns(usize),
    #[error("The first line is empty: it should name the columns.")]
    NoColumnNames,
    #[error("The file has a header line but no rows.")]
    NoRows,
}

/// Whether any row after the header has a value (or cannot be read, which the run reports).
fn has_rows<R: std::io::Read>(reader: &mut csv::Reader<R>) -> bool {
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) if record.iter().all(|c| c.trim().is_empty()) => continue,
            Ok(true) | Err(_) => return true,
            Ok(false) => return false,
        }
    }
}

/// The name shown for an upload: its last path segment, printable characters only.
pub fn clean_filename(raw: Option<&str>) -> String {
    let base = raw.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| c.is_alphanumeric() || " ._-()".contains(*c)).take(100).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() { "upload.csv".to_string() } else { cleaned.to_string() }
}

/// The example file: one column for each field the mapping guesses from its header
/// (`csv_io::sniff::guess_field`), and three rows that import cleanly.
pub const SAMPLE_CSV: &str = "name,email,phone,company,status,tags,notes\r\n\
Ada Lovelace,ada@example.com,+44 20 7946 0001,Analytical Engines Ltd,hot,\"vip, london\",Met at the spring fair\r\n\
Grace Hopper,grace@example.com,+1 415 555 0142,Navy Labs,warm,conference,Wants a demo in March\r\n\
Alan Turing,alan@example.com,+44 161 496 0733,Bletchley Park,inactive,,\r\n";

/// `GET /clients/import/sample.csv`: the sample above, to download and fill in.
pub async fn sample_csv(_ctx: Ctx) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, "attachment; filename=\"switchboard-sample.csv\""))
        .body(SAMPLE_CSV)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_and_odd_characters() {
        assert_eq!(clean_filename(Some("../../etc/passwd.csv")), "passwd.csv");
        assert_eq!(clean_filename(Some("C:\\Users\\x\\list (1).csv")), "list (1).csv");
        assert_eq!(clean_filename(Some("<script>.csv")), "script.csv");
        assert_eq!(clean_filename(Some("..")), "upload.csv");
        assert_eq!(clean_filename(None), "upload.csv");
    }

    #[test]
    fn the_head_gives_encoding_delimiter_and_headers() {
        let head = Head::read(b"\xEF\xBB\xBFName;E-mail;Phone\r\nZo\xC3\xAB;z@x.io;+14155552671\r\n", true).unwrap();
        assert_eq!((head.encoding, head.delimiter), ("UTF-8", b';'));
        assert_eq!(head.headers, ["Name", "E-mail", "Phone"]);
        let latin = Head::read(b"Name,City\nZo\xEB,K\xF6ln\n", true).unwrap();
        assert_eq!(latin.encoding, "windows-1252");
        assert!(Head::read(b"name,email\n", true).unwrap_err().to_string().contains("no rows"));
        assert!(Head::read(b"name,email\n\n,\n", true).unwrap_err().to_string().contains("no rows"));
        assert!(Head::read(b"\x89PNG\r\n\x1a\n", true).unwrap_err().to_string().contains("PNG"));
        let wide = (0..600).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",") + "\n1\n";
        assert!(Head::read(wide.as_bytes(), true).unwrap_err().to_string().contains("600 columns"));
    }
}
