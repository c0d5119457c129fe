//! CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection"): a cell
//! starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`. Quoting
//! (RFC 4180, doubled quotes) is left to the `csv` writer.
//!
//! One exception: a phone written the international way, `+49 170 1234567` (a `+`, then
//! groups of digits separated by single spaces), is left alone. Exports write phones so
//! (`PhoneE164::international`) because a bare E.164 `+4917012345678` is read as the
//! number 4917012345678 by spreadsheets (the `+` lost, long ones shown as 4.9E+12), and
//! `'+49…` shows its apostrophe; with the spaces LibreOffice Calc keeps it as the text it
//! is, in every locale, with formula evaluation on or off (checked by
//! `tests/api/spreadsheet.rs` with the LibreOffice Debian ships), and it runs nothing.

use std::borrow::Cow;

pub fn cell(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some('+') if is_spaced_phone(value) => Cow::Borrowed(value),
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

/// `+`, then at least two groups of digits, each after one space or none: `+49 170 1234567`.
fn is_spaced_phone(value: &str) -> bool {
    let Some(rest) = value.strip_prefix('+') else { return false };
    let groups: Vec<&str> = rest.split(' ').collect();
    groups.len() >= 2 && groups.iter().all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
}

/// How a CSV file is written: its separator, and whether it starts with a UTF-8 BOM.
#[derive(Clone, Copy, Debug)]
pub struct Dialect {
    pub bom: bool,
    pub separator: u8,
}

impl Dialect {
    /// The "for Excel" download: a BOM (so Excel reads UTF-8), and `;` where the workspace's
    /// country writes decimal commas, since Excel there splits CSV on its list separator,
    /// `;`. The workspace's default phone country stands for its locale.
    pub fn for_excel(country: &str) -> Dialect {
        Dialect { bom: true, separator: if DECIMAL_COMMA.contains(&country) { b';' } else { b',' } }
    }
}

/// Countries whose usual locale writes `1,5` for one and a half (CLDR's decimal separator
/// for the country's main language), so Excel there uses `;` between CSV fields.
const DECIMAL_COMMA: [&str; 78] = [
    "AD", "AL", "AM", "AO", "AR", "AT", "AZ", "BA", "BE", "BG", "BO", "BR", "BY", "CD", "CI", "CL", "CM", "CO", "CR", "CU",
    "CV", "CY", "CZ", "DE", "DK", "DZ", "EC", "EE", "ES", "FI", "FO", "FR", "GE", "GL", "GR", "HR", "HU", "ID", "IS", "IT",
    "KZ", "LB", "LT", "LU", "LV", "MA", "MC", "MD", "ME", "MK", "MN", "MZ", "NL", "NO", "PE", "PL", "PT", "PY", "RO", "RS",
    "RU", "SE", "SI", "SK", "SM", "SN", "SR", "TN", "TR", "UA", "UY", "UZ", "VE", "VN", "XK", "ZA", "GQ", "ST",
];

impl Default for Dialect {
    fn default() -> Self {
        Dialect { bom: false, separator: b',' }
    }
}

/// Writes one record of escaped cells and returns the bytes (for streamed responses).
pub fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    record_with(b',', cells)
}

/// `record` with another separator (`;` or tab).
pub fn record_with<'a>(separator: u8, cells: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().delimiter(separator).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(cells.into_iter().map(|c| cell(c).into_owned()));
    writer.into_inner().unwrap_or_default()
}

/// A streamed CSV download: the header, then chunks fetched one at a time by `fetch`
/// (given the cursor it returned last; `None` to start), each on the blocking pool with a
/// pooled connection. Keyset chunks rather than a `DECLARE CURSOR`: memory stays flat
/// without holding a connection and a transaction open while a slow client downloads.
pub fn streamed_response<F>(filename: &str, dialect: Dialect, header: &[&str], pool: crate::db::Pool, fetch: F) -> actix_web::HttpResponse
where
    F: Fn(&mut diesel::PgConnection, Option<i64>) -> Result<(Vec<u8>, Option<i64>), crate::error::AppError> + Clone + Send + 'static,
{
    use actix_web::web::Bytes;
    use futures_util::{StreamExt, stream};

    let mut first = if dialect.bom { vec![0xEF, 0xBB, 0xBF] } else { Vec::new() };
    first.extend(record_with(dialect.separator, header.iter().copied()));
    let head = stream::once(async move { Ok::<_, actix_web::Error>(Bytes::from(first)) });
    // State: the cursor to continue from, or `None` once finished.
    let body = stream::unfold(Some(None::<i64>), move |state| {
        let (pool, fetch) = (pool.clone(), fetch.clone());
        async move {
            let cursor = state?;
            match crate::db::run(&pool, move |conn| fetch(conn, cursor)).await {
                Ok((bytes, next)) if bytes.is_empty() && next.is_none() => None,
                Ok((bytes, next)) => Some((Ok(Bytes::from(bytes)), next.map(Some))),
                Err(e) => {
                    tracing::error!(error = %e, "CSV export failed mid-stream");
                    Some((Err(actix_web::error::ErrorInternalServerError("export failed")), None))
                }
            }
        }
    });
    let safe_name: String = filename.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    actix_web::HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{safe_name}\"")))
        .streaming(head.chain(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_quotes_doubled() {
        assert_eq!(cell("=HYPERLINK(\"http://x\",\"y\")"), "'=HYPERLINK(\"http://x\",\"y\")");
        for dangerous in ["+1", "-2", "@SUM(1)", "\tx", "\rx"] {
            assert!(cell(dangerous).starts_with('\''), "{dangerous:?}");
        }
        assert_eq!(cell("Ann"), "Ann");
        assert_eq!(cell(""), "");
        let line = String::from_utf8(record(["=1+1", "say \"hi\"", "a,b"])).unwrap();
        assert_eq!(line, "'=1+1,\"say \"\"hi\"\"\",\"a,b\"\r\n");
        let line = String::from_utf8(record_with(b';', ["a;b", "1,5", "+1"])).unwrap();
        assert_eq!(line, "\"a;b\";1,5;'+1\r\n");
    }

    #[test]
    fn excel_gets_semicolons_where_decimals_take_a_comma() {
        assert_eq!(Dialect::for_excel("DE").separator, b';');
        assert_eq!(Dialect::for_excel("FR").separator, b';');
        assert_eq!(Dialect::for_excel("US").separator, b',');
        assert_eq!(Dialect::for_excel("GB").separator, b',');
        assert!(Dialect::for_excel("US").bom);
    }

    #[test]
    fn phones_written_with_spaces_are_left_as_they_are() {
        for phone in ["+49 170 1234567", "+1 415 555 2671", "+33 6 12 34 56 78"] {
            assert_eq!(cell(phone), phone);
        }
        for not_one in ["+4917012345678", "+49 170+1", "+49  170", "+49 ", "+ 49 170", "+49 170 1234567 ", "+1 2 =3"] {
            assert_eq!(cell(not_one), format!("'{not_one}"), "{not_one:?}");
        }
    }
}
