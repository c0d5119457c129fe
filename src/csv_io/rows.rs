//! Rows of an uploaded file through bounded buffers. `csv::Reader` grows its record to the
//! largest row and keeps it, so a file of 5 MB cells held megabytes per row (and the
//! rejected rows kept their cells). Here fields are read one at a time with `csv_core`: a
//! cell larger than any field takes is counted, not kept (its first characters stay, for
//! the error report), and so are the bytes of a row past `MAX_ROW_BYTES` and the fields
//! past the header's width.

use std::io::{self, Read};

use csv::StringRecord;

/// The largest cell kept: no field takes more than 10,000 characters (notes), which is at
/// most 40,000 bytes of UTF-8.
pub const MAX_CELL_BYTES: usize = 40_000;
/// The most bytes kept for one row.
pub const MAX_ROW_BYTES: usize = 1 << 20;
/// How much of an oversized cell is kept for the error report, in characters.
const KEPT_CHARS: usize = 100;
const INPUT_BYTES: usize = 64 * 1024;

/// One row: its cells (an oversized one cut to its first characters), how many fields it
/// really had, and which cells were too large (index, bytes).
#[derive(Debug, Default)]
pub struct Row {
    pub record: StringRecord,
    pub fields: usize,
    pub oversized: Vec<(usize, u64)>,
}

impl Row {
    fn clear(&mut self) {
        self.record.clear();
        self.fields = 0;
        self.oversized.clear();
    }
}

pub struct RowReader<R> {
    core: csv_core::Reader,
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    /// The field being read, up to `MAX_CELL_BYTES` (+ one output step).
    field: Vec<u8>,
    out: Box<[u8]>,
    max_fields: usize,
}

impl<R: Read> RowReader<R> {
    /// Reads `input` (UTF-8) split by `delimiter`; at most `max_fields` cells of a row are kept.
    pub fn new(input: R, delimiter: u8, max_fields: usize) -> Self {
        RowReader {
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            input,
            buf: vec![0; INPUT_BYTES].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            field: Vec::with_capacity(8 * 1024),
            out: vec![0; 8 * 1024].into_boxed_slice(),
            max_fields,
        }
    }

    /// The next row into `row`; `false` at the end of the file.
    pub fn read_row(&mut self, row: &mut Row) -> io::Result<bool> {
        row.clear();
        let mut field_bytes: u64 = 0;
        let mut row_bytes: usize = 0;
        loop {
            if self.pos == self.len && !self.eof {
                self.len = loop {
                    match self.input.read(&mut self.buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                self.pos = 0;
                self.eof = self.len == 0;
            }
            let (result, nin, nout) = self.core.read_field(&self.buf[self.pos..self.len], &mut self.out);
            self.pos += nin;
            field_bytes += nout as u64;
            if self.field.len() + nout <= MAX_CELL_BYTES {
                self.field.extend_from_slice(&self.out[..nout]);
            } else if self.field.len() < KEPT_CHARS * 4 {
                let room = KEPT_CHARS * 4 - self.field.len();
                self.field.extend_from_slice(&self.out[..nout.min(room)]);
            }
            match result {
                csv_core::ReadFieldResult::InputEmpty | csv_core::ReadFieldResult::OutputFull => {}
                csv_core::ReadFieldResult::Field { record_end } => {
                    self.finish_field(row, field_bytes, &mut row_bytes);
                    field_bytes = 0;
                    if record_end {
                        return Ok(true);
                    }
                }
                csv_core::ReadFieldResult::End => return Ok(false),
            }
        }
    }

    fn finish_field(&mut self, row: &mut Row, bytes: u64, row_bytes: &mut usize) {
        let index = row.fields;
        row.fields += 1;
        if index < self.max_fields {
            let too_large = bytes as usize > MAX_CELL_BYTES || *row_bytes + bytes as usize > MAX_ROW_BYTES;
            if too_large {
                row.oversized.push((index, bytes));
                let text = String::from_utf8_lossy(&self.field);
                let kept: String = text.chars().take(KEPT_CHARS).collect();
                row.record.push_field(&format!("{kept}\u{2026}"));
            } else {
                *row_bytes += bytes as usize;
                row.record.push_field(&String::from_utf8_lossy(&self.field));
            }
        }
        self.field.clear();
        if self.field.capacity() > 64 * 1024 {
            self.field.shrink_to(8 * 1024);
        }
    }
}

/// "5.0 MB" or "52 KB", for messages.
pub fn size_label(bytes: u64) -> String {
    if bytes >= 1 << 20 { format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64) } else { format!("{} KB", bytes.div_ceil(1024)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8], max_fields: usize) -> Vec<Row> {
        let mut reader = RowReader::new(text, b',', max_fields);
        let mut out = Vec::new();
        loop {
            let mut row = Row::default();
            if !reader.read_row(&mut row).unwrap() {
                return out;
            }
            out.push(row);
        }
    }

    #[test]
    fn rows_read_as_the_csv_crate_reads_them() {
        let text = b"\xEF\xBB\xBFname,notes\r\n\"Smith, J\",\"two\nlines \"\"q\"\"\"\r\n\r\nAda,\n,\nlast,row";
        let got: Vec<Vec<String>> = rows(text, 10).iter().map(|r| r.record.iter().map(str::to_string).collect()).collect();
        let want: Vec<Vec<String>> = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&text[..])
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 5, "the empty line is skipped");
    }

    #[test]
    fn a_huge_cell_is_counted_and_cut_not_kept() {
        let big = "é".repeat(3 << 20); // 6 MB
        let text = format!("name,notes\nAda,{big}\nBob,ok\n");
        let mut reader = RowReader::new(text.as_bytes(), b',', 10);
        let mut row = Row::default();
        assert!(reader.read_row(&mut row).unwrap());
        assert!(reader.read_row(&mut row).unwrap());
        assert_eq!(row.oversized, vec![(1, 6 << 20)]);
        assert_eq!(&row.record[1], format!("{}\u{2026}", "é".repeat(100)));
        assert!(reader.field.capacity() <= 2 * MAX_CELL_BYTES, "the field buffer stays bounded: {}", reader.field.capacity());
        assert!(reader.read_row(&mut row).unwrap());
        assert_eq!((&row.record[0], &row.record[1], row.oversized.len()), ("Bob", "ok", 0));
        assert!(!reader.read_row(&mut row).unwrap());
    }

    #[test]
    fn fields_past_the_width_are_counted_and_rows_past_the_limit_cut() {
        let wide = format!("{}\n", vec!["x"; 10_000].join(","));
        let row = &rows(wide.as_bytes(), 3)[0];
        assert_eq!((row.fields, row.record.len()), (10_000, 3));
        let cell = "y".repeat(MAX_CELL_BYTES);
        let long = format!("{}\n", vec![cell.as_str(); 30].join(","));
        let row = &rows(long.as_bytes(), 30)[0];
        assert_eq!(row.fields, 30);
        let kept: usize = row.record.iter().map(str::len).sum();
        assert!(kept <= MAX_ROW_BYTES + 30 * 4 * KEPT_CHARS, "{kept}");
        assert_eq!(row.oversized.first().map(|o| o.0), Some(MAX_ROW_BYTES / MAX_CELL_BYTES));
        assert_eq!(size_label(5 << 20), "5.0 MB");
    }
}
