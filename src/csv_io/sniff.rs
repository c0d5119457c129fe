//! What an uploaded file is: refuse binaries with a reason, find the encoding (UTF-8 with
//! or without BOM, UTF-16 with BOM, else Windows-1252, which covers Latin-1), the delimiter
//! (comma, semicolon or tab, from the header line) and a first guess at which client field
//! each column holds.

use std::io::Read;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The client fields a column can be mapped to.
pub const FIELDS: [&str; 9] = ["name", "first_name", "last_name", "email", "phone", "company", "status", "tags", "notes"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Utf8,
    Windows1252,
}

impl Choice {
    pub fn parse(value: &str) -> Result<Self, UnknownEncoding> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Choice::Auto),
            "utf-8" | "utf8" => Ok(Choice::Utf8),
            "windows-1252" | "latin-1" | "latin1" | "iso-8859-1" => Ok(Choice::Windows1252),
            other => Err(UnknownEncoding(other.to_string())),
        }
    }
}

/// An encoding that is none of the choices (as written, trimmed and lower-cased).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Encoding must be auto, utf-8 or windows-1252, not {0:?}.")]
pub struct UnknownEncoding(String);

/// Why a file is plainly not CSV text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotText {
    /// Its first bytes are those of another format (what it looks like).
    #[error("This file is {0}, not CSV.")]
    Looks(&'static str),
    #[error("This file contains NUL bytes: it is binary, not CSV text.")]
    NulBytes,
    #[error("The file is empty.")]
    Empty,
}

/// Refuses files that are plainly not text, naming what they look like.
pub fn refuse_binary(head: &[u8]) -> Result<(), NotText> {
    let named = [
        (&b"\x89PNG"[..], "a PNG image"),
        (b"GIF8", "a GIF image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one: save it as CSV first)"),
        (b"\xD0\xCF\x11\xE0", "an old Excel/Office document (save it as CSV first)"),
    ];
    for (magic, what) in named {
        if head.starts_with(magic) {
            return Err(NotText::Looks(what));
        }
    }
    let utf16 = head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF");
    if !utf16 && head.contains(&0) {
        return Err(NotText::NulBytes);
    }
    if head.is_empty() {
        return Err(NotText::Empty);
    }
    Ok(())
}

/// The encoding to read the file with. `whole` says whether `head` is the entire file (else
/// a sample whose last character may be cut).
pub fn encoding(head: &[u8], whole: bool, choice: Choice) -> &'static Encoding {
    if let Some((bom_encoding, _)) = Encoding::for_bom(head) {
        return bom_encoding;
    }
    match choice {
        Choice::Utf8 => UTF_8,
        Choice::Windows1252 => WINDOWS_1252,
        Choice::Auto => {
            // Valid UTF-8 (up to a final character the sample may have cut) means UTF-8.
            match std::str::from_utf8(head) {
                Ok(_) => UTF_8,
                Err(e) if e.error_len().is_none() && !whole => UTF_8,
                Err(_) => WINDOWS_1252,
            }
        }
    }
}

/// A reader that yields UTF-8 whatever the file's encoding, without its BOM.
pub fn decoded<R: Read>(reader: R, encoding: &'static Encoding) -> impl Read {
    encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding)).bom_override(true).strip_bom(true).build(reader)
}

pub fn encoding_label(encoding: &'static Encoding) -> &'static str {
    if encoding == UTF_16LE || encoding == UTF_16BE { "UTF-16" } else { encoding.name() }
}

/// The delimiter that splits the header line into the most fields (outside quotes).
pub fn delimiter(header_line: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in header_line.bytes() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(slot) = counts.iter_mut().find(|(d, _)| *d == byte) {
                    slot.1 += 1;
                }
            }
            _ => {}
        }
    }
    counts.iter().max_by_key(|(d, n)| (*n, *d == b',')).map(|(d, _)| *d).unwrap_or(b',')
}

/// A first guess at the field a header names, in English and common variants.
pub fn guess_field(header: &str) -> Option<&'static str> {
    let key: String = header.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
    let field = match key.as_str() {
        "name" | "fullname" | "clientname" | "contactname" | "contact" | "client" | "customer" | "customername" => "name",
        "firstname" | "givenname" | "forename" | "first" => "first_name",
        "lastname" | "surname" | "familyname" | "last" => "last_name",
        "email" | "emailaddress" | "mail" | "emailaddr" | "eaddress" => "email",
        "phone" | "phonenumber" | "mobile" | "mobilephone" | "mobilenumber" | "cell" | "cellphone" | "tel" | "telephone"
        | "whatsapp" | "whatsappnumber" => "phone",
        "company" | "companyname" | "organisation" | "organization" | "org" | "business" | "account" | "accountname" => "company",
        "status" | "leadstatus" | "stage" => "status",
        "tags" | "tag" | "labels" | "label" => "tags",
        "notes" | "note" | "comments" | "comment" | "description" | "remarks" => "notes",
        _ => return None,
    };
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_refused_with_a_reason() {
        assert!(refuse_binary(b"\x89PNG\r\n\x1a\n....").unwrap_err().to_string().contains("PNG"));
        assert!(refuse_binary(b"PK\x03\x04xx").unwrap_err().to_string().contains("ZIP"));
        assert!(refuse_binary(b"name,email\nA\0B,x").unwrap_err().to_string().contains("NUL"));
        assert!(refuse_binary(b"").is_err());
        assert!(refuse_binary(b"\xFF\xFEn\0a\0").is_ok(), "UTF-16 has NULs and is fine");
        assert!(refuse_binary(b"name,email\nAda,a@b.io\n").is_ok());
    }

    #[test]
    fn encodings_are_found_from_the_bom_or_the_bytes() {
        assert_eq!(encoding(b"\xEF\xBB\xBFname", true, Choice::Auto), UTF_8);
        assert_eq!(encoding(b"\xFF\xFEn\0", true, Choice::Auto), UTF_16LE);
        assert_eq!(encoding("Zoë".as_bytes(), true, Choice::Auto), UTF_8);
        assert_eq!(encoding(b"Zo\xEB", true, Choice::Auto), WINDOWS_1252);
        assert_eq!(encoding(b"Zo\xEBl", false, Choice::Auto), WINDOWS_1252);
        assert_eq!(encoding(b"Zo\xC3", false, Choice::Auto), UTF_8, "a character cut at the end of the sample");
        assert_eq!(encoding("Zoë".as_bytes(), true, Choice::Windows1252), WINDOWS_1252);
        let mut text = String::new();
        decoded(&b"\xEF\xBB\xBFname\nZo\xC3\xAB"[..], UTF_8).read_to_string(&mut text).unwrap();
        assert_eq!(text, "name\nZoë");
        let mut latin = String::new();
        decoded(&b"name\nZo\xEB"[..], WINDOWS_1252).read_to_string(&mut latin).unwrap();
        assert_eq!(latin, "name\nZoë");
        let mut wide = String::new();
        decoded(&b"\xFF\xFEn\0a\0"[..], UTF_16LE).read_to_string(&mut wide).unwrap();
        assert_eq!(wide, "na");
    }

    #[test]
    fn the_delimiter_comes_from_the_header_line() {
        assert_eq!(delimiter("name,email,phone\n"), b',');
        assert_eq!(delimiter("name;email;phone\r\n"), b';');
        assert_eq!(delimiter("name\temail\tphone"), b'\t');
        assert_eq!(delimiter("\"last, first\";email;phone"), b';', "commas inside quotes do not count");
        assert_eq!(delimiter("name"), b',');
    }

    #[test]
    fn common_header_names_are_guessed() {
        for (header, field) in [("E-mail", "email"), ("Mobile", "phone"), ("Phone number", "phone"), ("Company name", "company"), ("Full Name", "name"), ("Surname", "last_name"), ("Labels", "tags")] {
            assert_eq!(guess_field(header), Some(field), "{header}");
        }
        assert_eq!(guess_field("Favourite colour"), None);
        assert!(FIELDS.contains(&"first_name"));
    }
}
