//! Attachments of messages (issue 22). An inbound message's media are recorded with the
//! message, as the provider announced them (`record`); what kind each is decides how the
//! conversation and the inbox name it ("📷 Photo", "📄 invoice.pdf", "🎤 Voice message").

use std::time::Duration;

use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::db::schema::{media, media_chunks};
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError, payload};
use crate::jobs::{self, JobHandler, NewJob};
use crate::messaging::account::Account;
use crate::messaging::{Channel, DownloadError, InboundMedia, Providers};

/// The stored files' chunk size: a row per 256 KiB, so no statement carries a whole file.
const CHUNK_BYTES: usize = 256 * 1024;
/// Attempts to fetch a message's attachments before they are shown as not downloaded.
const FETCH_ATTEMPTS: i32 = 5;

crate::text_enum! {
    /// Where an attachment is: waiting to be fetched, stored, or given up on.
    pub enum MediaStatus {
        Pending => "pending",
        Stored => "stored",
        Failed => "failed",
    }
}

/// What an attachment is, by its content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Image,
    Audio,
    Video,
    Document,
}

impl Kind {
    /// The kind of a content type (`image/jpeg; charset=…` reads as `image/jpeg`). SVG is a
    /// document, not an image: it can carry scripts, so it is never shown inline.
    pub fn of(content_type: &str) -> Kind {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.split_once('/') {
            Some(("image", sub)) if sub != "svg+xml" => Kind::Image,
            Some(("audio", _)) => Kind::Audio,
            Some(("video", _)) => Kind::Video,
            _ => Kind::Document,
        }
    }

    /// How a message holding only this attachment reads in a list: its file name for a
    /// document when there is one.
    pub fn label(self, filename: Option<&str>) -> String {
        match (self, filename) {
            (Kind::Image, _) => "📷 Photo".into(),
            (Kind::Audio, _) => "🎤 Voice message".into(),
            (Kind::Video, _) => "🎬 Video".into(),
            (Kind::Document, Some(name)) if !name.is_empty() => format!("📄 {name}"),
            (Kind::Document, _) => "📄 Document".into(),
        }
    }
}

impl Kind {
    /// The kind of an attachment: by the type its content was found to be, else by the
    /// type the sender declared.
    pub fn found(content_type: Option<&str>, declared_type: Option<&str>) -> Kind {
        Kind::of(content_type.or(declared_type).unwrap_or(""))
    }
}

/// Records an inbound message's attachments, in the provider's order, as waiting to be
/// fetched.
pub fn record(tx: &mut PgConnection, workspace_id: i64, message_id: i64, attachments: &[InboundMedia]) -> QueryResult<()> {
    let rows: Vec<_> = attachments
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, m)| {
            (
                media::workspace_id.eq(workspace_id),
                media::message_id.eq(message_id),
                media::position.eq(i as i16),
                media::provider_url.eq(m.url.chars().take(2000).collect::<String>()),
                media::declared_type.eq(m.declared_type.as_ref().map(|t| t.chars().take(200).collect::<String>())),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(media::table).values(rows).execute(tx)?;
    let job = NewJob::new(workspace_id, FetchMedia::KIND, json!({ "message_id": message_id })).key(format!("fetch-media:{message_id}")).attempts(FETCH_ATTEMPTS);
    jobs::enqueue(tx, &job).map(|_| ())
}

/// The `fetch-media` job: fetches a message's waiting attachments from its provider, checks
/// what each is by its content, and stores it in the database.
pub struct FetchMedia {
    pub providers: Providers,
}

impl FetchMedia {
    pub const KIND: jobs::Kind = jobs::Kind::new("fetch-media");
}

#[derive(Deserialize)]
struct FetchPayload {
    message_id: i64,
}

impl JobHandler for FetchMedia {
    fn kind(&self) -> jobs::Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        let p: FetchPayload = payload(job)?;
        let ws = job.workspace_id;
        let mut conn = env.pool.get()?;
        let waiting: Vec<(i64, String, Option<String>)> = media::table
            .filter(media::workspace_id.eq(ws))
            .filter(media::message_id.eq(p.message_id))
            .filter(media::status.eq(MediaStatus::Pending))
            .order(media::position)
            .select((media::id, media::provider_url, media::declared_type))
            .load(&mut conn)?;
        if waiting.is_empty() {
            return Ok(());
        }
        let account = match Account::load(&mut conn, &env.at_rest_key, ws) {
            Ok(Some(account)) => account,
            Ok(None) => {
                for (id, _, _) in waiting {
                    set_failed(&mut conn, ws, id, "The messaging account is no longer set up.")?;
                }
                return Ok(());
            }
            Err(why) => return Err(JobError::Wait(why.to_string(), Duration::from_secs(300))),
        };
        drop(conn);
        let provider = self.providers.for_account(&account, &env.settings);
        let last_attempt = job.attempts >= job.max_attempts;
        let mut retry = None;
        for (id, url, declared) in waiting {
            // No connection is held while the provider answers.
            let fetched = provider.download(&url, env.settings.media_max_bytes);
            let mut conn = env.pool.get()?;
            match fetched {
                Ok(download) => store(&mut conn, ws, id, &download, declared.as_deref())?,
                Err(DownloadError::TooLarge) => {
                    let limit = env.settings.media_max_bytes;
                    set_failed(&mut conn, ws, id, &format!("Larger than the {} limit.", size(limit)))?
                }
                Err(DownloadError::Refused(why)) => set_failed(&mut conn, ws, id, &format!("Could not be downloaded: {why}"))?,
                Err(DownloadError::Failed(why)) if last_attempt => set_failed(&mut conn, ws, id, &format!("Could not be downloaded: {why}"))?,
                Err(DownloadError::Failed(why)) => retry = Some(why),
            }
        }
        match retry {
            Some(why) => Err(JobError::Retry(format!("an attachment could not be downloaded: {why}"))),
            None => Ok(()),
        }
    }
}

/// Stores a fetched file in chunks with the type its content shows.
fn store(conn: &mut PgConnection, ws: i64, id: i64, download: &crate::messaging::Download, declared: Option<&str>) -> QueryResult<()> {
    let bytes = &download.bytes;
    let found = sniff(bytes, declared.or(download.content_type.as_deref()));
    conn.transaction(|tx| {
        diesel::delete(media_chunks::table.filter(media_chunks::workspace_id.eq(ws)).filter(media_chunks::media_id.eq(id))).execute(tx)?;
        for (seq, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
            diesel::insert_into(media_chunks::table)
                .values((media_chunks::workspace_id.eq(ws), media_chunks::media_id.eq(id), media_chunks::seq.eq(seq as i32), media_chunks::data.eq(chunk)))
                .execute(tx)?;
        }
        diesel::update(media::table.filter(media::workspace_id.eq(ws)).filter(media::id.eq(id)))
            .set((
                media::status.eq(MediaStatus::Stored),
                media::content_type.eq(found),
                media::size_bytes.eq(bytes.len() as i64),
                media::stored_at.eq(diesel::dsl::now),
                media::filename.eq(&download.filename),
                media::error.eq(None::<String>),
            ))
            .execute(tx)
            .map(|_| ())
    })
}

fn set_failed(conn: &mut PgConnection, ws: i64, id: i64, why: &str) -> QueryResult<()> {
    diesel::update(media::table.filter(media::workspace_id.eq(ws)).filter(media::id.eq(id)))
        .set((media::status.eq(MediaStatus::Failed), media::error.eq(why.chars().take(500).collect::<String>())))
        .execute(conn)
        .map(|_| ())
}

/// The file name a `Content-Disposition` header gives (`filename="invoice.pdf"`), as a
/// plain name: no folders, no control characters, at most 255 characters.
pub fn disposition_filename(header: &str) -> Option<String> {
    let value = header.split(';').map(str::trim).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        key.trim().eq_ignore_ascii_case("filename").then(|| value.trim().trim_matches('"').to_string())
    })?;
    let name: String = value.rsplit(['/', '\\']).next().unwrap_or("").chars().filter(|c| !c.is_control()).take(255).collect();
    let name = name.trim().to_string();
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

/// A size as people read it: "16 MiB", "300 KiB", "12 bytes".
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64).replace(".0 ", " "),
        b if b >= 1 << 10 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// What a file is, by its first bytes: the type `infer` recognises (an HTML page is
/// `text/html`); else plain text when the sender said text and the bytes are UTF-8; else
/// `application/octet-stream`. The declared type is never believed on its own, so a page
/// declared as an image is not one.
pub fn sniff(bytes: &[u8], declared: Option<&str>) -> String {
    if let Some(kind) = infer::get(bytes) {
        return kind.mime_type().to_string();
    }
    let says_text = declared.is_some_and(|d| d.trim().to_ascii_lowercase().starts_with("text/plain"));
    if says_text && std::str::from_utf8(bytes).is_ok() { "text/plain".to_string() } else { "application/octet-stream".to_string() }
}

/// An attachment as a conversation shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    pub id: i64,
    pub message_id: i64,
    pub kind: Kind,
    pub label: String,
    pub status: MediaStatus,
    /// "1.2 MiB", once stored.
    pub size: String,
    /// Where the provider had it (shown to admins when it could not be downloaded).
    pub provider_url: String,
}

impl Attachment {
    pub fn stored(&self) -> bool {
        self.status == MediaStatus::Stored
    }

    pub fn failed(&self) -> bool {
        self.status == MediaStatus::Failed
    }

    pub fn downloading(&self) -> bool {
        self.status == MediaStatus::Pending
    }
}

/// A stored file as `GET /media/{id}` serves it.
#[derive(Clone, Debug)]
pub struct File {
    pub content_type: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

impl File {
    /// Shown in the page only when its bytes are a picture, a sound or a film; anything
    /// else (a page, an SVG, a PDF, an unknown type) is a download.
    pub fn inline(&self) -> bool {
        Kind::of(&self.content_type) != Kind::Document
    }

    /// The type it is served as: what its bytes are, except that markup (HTML, XML, SVG) is
    /// served as bytes, so no browser renders it from our origin.
    pub fn served_type(&self) -> &str {
        let t = self.content_type.to_ascii_lowercase();
        if t.starts_with("text/html") || t.contains("xml") { "application/octet-stream" } else { &self.content_type }
    }
}

/// Where a stored attachment belongs: its message's client and channel (for the reader's
/// scope), and the file.
pub fn stored_file(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<(i64, Channel, File)>> {
    use crate::db::schema::messages;
    // The message's client and channel, the type found, the file name.
    type Found = (Option<i64>, Channel, Option<String>, Option<String>);
    let found: Option<Found> = media::table
        .inner_join(messages::table.on(messages::workspace_id.eq(media::workspace_id).and(messages::id.eq(media::message_id))))
        .filter(media::workspace_id.eq(workspace_id))
        .filter(media::id.eq(id))
        .filter(media::status.eq(MediaStatus::Stored))
        .select((messages::client_id, messages::channel, media::content_type, media::filename))
        .first(conn)
        .optional()?;
    let Some((Some(client_id), channel, content_type, filename)) = found else { return Ok(None) };
    let chunks: Vec<Vec<u8>> = media_chunks::table
        .filter(media_chunks::workspace_id.eq(workspace_id))
        .filter(media_chunks::media_id.eq(id))
        .order(media_chunks::seq)
        .select(media_chunks::data)
        .load(conn)?;
    let content_type = content_type.unwrap_or_else(|| "application/octet-stream".into());
    let filename = filename.unwrap_or_else(|| format!("attachment-{id}.{}", extension(&content_type)));
    Ok(Some((client_id, channel, File { content_type, filename, bytes: chunks.concat() })))
}

/// A file name's extension for a type found by `sniff`.
fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/amr" => "amr",
        "video/mp4" => "mp4",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/html" => "html.txt",
        _ => "bin",
    }
}

impl Kind {
    /// Its name in class names: `attachment-image`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::Document => "document",
        }
    }
}

/// The attachments of the messages `ids` (of one workspace), in message and provider order.
pub fn of_messages(conn: &mut PgConnection, workspace_id: i64, ids: &[i64]) -> QueryResult<Vec<Attachment>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // id, message, type found, type declared, file name, status, size, provider URL.
    type Row = (i64, i64, Option<String>, Option<String>, Option<String>, MediaStatus, Option<i64>, String);
    let rows: Vec<Row> = media::table
        .filter(media::workspace_id.eq(workspace_id))
        .filter(media::message_id.eq_any(ids))
        .order((media::message_id, media::position))
        .select((media::id, media::message_id, media::content_type, media::declared_type, media::filename, media::status, media::size_bytes, media::provider_url))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, message_id, found, declared, filename, status, bytes, provider_url)| {
            let kind = Kind::found(found.as_deref(), declared.as_deref());
            let size = bytes.map(|b| size(b as u64)).unwrap_or_default();
            Attachment { id, message_id, kind, label: kind.label(filename.as_deref()), status, size, provider_url }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_type_and_an_svg_is_a_document() {
        assert_eq!(Kind::of("image/jpeg"), Kind::Image);
        assert_eq!(Kind::of("IMAGE/PNG; charset=binary"), Kind::Image);
        assert_eq!(Kind::of("image/svg+xml"), Kind::Document);
        assert_eq!(Kind::of("audio/ogg"), Kind::Audio);
        assert_eq!(Kind::of("video/mp4"), Kind::Video);
        assert_eq!(Kind::of("application/pdf"), Kind::Document);
        assert_eq!(Kind::of(""), Kind::Document);
    }

    #[test]
    fn a_files_type_comes_from_its_bytes_not_from_what_it_claims() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        assert_eq!(sniff(&jpeg, Some("application/pdf")), "image/jpeg");
        assert_eq!(sniff(b"%PDF-1.7\n%\xE2\xE3", Some("image/jpeg")), "application/pdf");
        // A page or an SVG declared as an image is a document: served as a download.
        assert_eq!(sniff(b"<html><script>alert(1)</script></html>", Some("image/png")), "text/html");
        let svg = sniff(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", Some("image/svg+xml"));
        assert_eq!(Kind::of(&svg), Kind::Document, "{svg}");
        assert_eq!(sniff(b"\x00\x01 no known header", Some("image/png")), "application/octet-stream");
        assert_eq!(sniff(b"Order 1234, thanks", Some("text/plain; charset=utf-8")), "text/plain");
    }

    #[test]
    fn a_disposition_gives_a_plain_file_name() {
        assert_eq!(disposition_filename(r#"attachment; filename="invoice.pdf""#).as_deref(), Some("invoice.pdf"));
        assert_eq!(disposition_filename("inline; FILENAME=photo.jpg; size=3").as_deref(), Some("photo.jpg"));
        assert_eq!(disposition_filename(r#"attachment; filename="../../etc/passwd""#).as_deref(), Some("passwd"));
        assert_eq!(disposition_filename("attachment; filename=\"C:\\x\\a\u{7}b.txt\"").as_deref(), Some("ab.txt"));
        assert_eq!(disposition_filename(r#"attachment; filename="..""#), None);
        assert_eq!(disposition_filename("inline"), None);
    }

    #[test]
    fn labels_name_the_kind_and_a_documents_file() {
        assert_eq!(Kind::found(Some("image/jpeg"), None).label(None), "📷 Photo");
        assert_eq!(Kind::found(None, Some("audio/ogg")).label(None), "🎤 Voice message");
        assert_eq!(Kind::found(Some("application/pdf"), Some("image/jpeg")).label(Some("invoice.pdf")), "📄 invoice.pdf");
        assert_eq!(Kind::found(None, None).label(None), "📄 Document");
    }
}
