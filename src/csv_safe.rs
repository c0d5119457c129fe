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
