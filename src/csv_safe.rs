//! CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection"): a cell
//! starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`. Quoting
//! (RFC 4180, doubled quotes) is left to the `csv` writer.

use std::borrow::Cow;

pub fn cell(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

/// Writes one record of escaped cells and returns the bytes (for streamed responses).
pub fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(cells.into_iter().map(|c| cell(c).into_owned()));
    writer.into_inner().unwrap_or_default()
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
    }
}

/// A streamed CSV download: the header, then chunks fetched one at a time by `fetch`
/// (given the cursor it returned last; `None` to start), each on the blocking pool with a
/// pooled connection. Keyset chunks rather than a `DECLARE CURSOR`: memory stays flat
/// without holding a connection and a transaction open while a slow client downloads.
pub fn streamed_response<F>(filename: &str, bom: bool, header: &[&str], pool: crate::db::Pool, fetch: F) -> actix_web::HttpResponse
where
    F: Fn(&mut diesel::PgConnection, Option<i64>) -> Result<(Vec<u8>, Option<i64>), crate::error::AppError> + Clone + Send + 'static,
{
    use actix_web::web::Bytes;
    use futures_util::{StreamExt, stream};

    let mut first = if bom { vec![0xEF, 0xBB, 0xBF] } else { Vec::new() };
    first.extend(record(header.iter().copied()));
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
