//! Attachments of messages (issue 22). An inbound message's media are recorded with the
//! message, as the provider announced them (`record`); what kind each is decides how the
//! conversation and the inbox name it ("📷 Photo", "📄 invoice.pdf", "🎤 Voice message").

use diesel::prelude::*;

use crate::db::schema::media;
use crate::messaging::InboundMedia;

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

/// The label of a message's first attachment, from the type its content was found to be,
/// else the type the sender declared.
pub fn label(content_type: Option<&str>, declared_type: Option<&str>, filename: Option<&str>) -> String {
    Kind::of(content_type.or(declared_type).unwrap_or("")).label(filename)
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
    diesel::insert_into(media::table).values(rows).execute(tx).map(|_| ())
}

/// An attachment as a conversation shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    pub id: i64,
    pub message_id: i64,
    pub kind: Kind,
    pub label: String,
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
    // id, message, type found, type declared, file name.
    type Row = (i64, i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = media::table
        .filter(media::workspace_id.eq(workspace_id))
        .filter(media::message_id.eq_any(ids))
        .order((media::message_id, media::position))
        .select((media::id, media::message_id, media::content_type, media::declared_type, media::filename))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, message_id, found, declared, filename)| {
            let kind = Kind::of(found.as_deref().or(declared.as_deref()).unwrap_or(""));
            Attachment { id, message_id, kind, label: kind.label(filename.as_deref()) }
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
    fn labels_name_the_kind_and_a_documents_file() {
        assert_eq!(label(Some("image/jpeg"), None, None), "📷 Photo");
        assert_eq!(label(None, Some("audio/ogg"), None), "🎤 Voice message");
        assert_eq!(label(Some("application/pdf"), Some("image/jpeg"), Some("invoice.pdf")), "📄 invoice.pdf");
        assert_eq!(label(None, None, None), "📄 Document");
    }
}
