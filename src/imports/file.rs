//! The uploaded file in the database: 1 MiB chunks written as they arrive, read back as a
//! stream, decoded to UTF-8 and parsed as CSV. Never the whole file in memory.

use std::io::{self, Read};

use diesel::prelude::*;

use crate::csv_io::sniff;
use crate::db::schema::import_chunks;

pub const CHUNK_BYTES: usize = 1 << 20;

pub fn store_chunk(conn: &mut PgConnection, workspace_id: i64, import_id: i64, seq: i32, data: &[u8]) -> QueryResult<()> {
    diesel::insert_into(import_chunks::table)
        .values((
            import_chunks::workspace_id.eq(workspace_id),
            import_chunks::import_id.eq(import_id),
            import_chunks::seq.eq(seq),
            import_chunks::data.eq(data),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn load_chunk(conn: &mut PgConnection, workspace_id: i64, import_id: i64, seq: i32) -> QueryResult<Option<Vec<u8>>> {
    import_chunks::table
        .filter(import_chunks::workspace_id.eq(workspace_id))
        .filter(import_chunks::import_id.eq(import_id))
        .filter(import_chunks::seq.eq(seq))
        .select(import_chunks::data)
        .first(conn)
        .optional()
}

/// Whether the import's file is still kept (without loading it).
pub fn kept(conn: &mut PgConnection, workspace_id: i64, import_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        import_chunks::table.filter(import_chunks::workspace_id.eq(workspace_id)).filter(import_chunks::import_id.eq(import_id)),
    ))
    .get_result(conn)
}

pub fn delete_chunks(conn: &mut PgConnection, workspace_id: i64, import_id: i64) -> QueryResult<usize> {
    diesel::delete(import_chunks::table.filter(import_chunks::workspace_id.eq(workspace_id)).filter(import_chunks::import_id.eq(import_id))).execute(conn)
}

/// Reads the chunks in order through `fetch(seq)`, one at a time.
pub struct ChunkReader<F> {
    fetch: F,
    next: i32,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<F: FnMut(i32) -> QueryResult<Option<Vec<u8>>>> ChunkReader<F> {
    pub fn new(fetch: F) -> Self {
        ChunkReader { fetch, next: 0, buf: Vec::new(), pos: 0, done: false }
    }
}

impl<F: FnMut(i32) -> QueryResult<Option<Vec<u8>>>> Read for ChunkReader<F> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match (self.fetch)(self.next).map_err(io::Error::other)? {
                Some(data) => {
                    self.buf = data;
                    self.pos = 0;
                    self.next += 1;
                }
                None => self.done = true,
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// How a stored file is read.
#[derive(Clone, Copy, Debug)]
pub struct Format {
    pub encoding: &'static encoding_rs::Encoding,
    pub delimiter: u8,
}

impl Format {
    pub fn of(encoding: &str, delimiter: &str) -> Format {
        Format {
            encoding: encoding_rs::Encoding::for_label(encoding.as_bytes()).unwrap_or(encoding_rs::UTF_8),
            delimiter: delimiter.bytes().next().unwrap_or(b','),
        }
    }

    /// The rows of a stored file (the header first) through bounded buffers: at most
    /// `max_fields` cells of a row are kept, and no cell larger than any field takes.
    pub fn rows<R: Read>(&self, bytes: R, max_fields: usize) -> crate::csv_io::rows::RowReader<impl Read + use<R>> {
        crate::csv_io::rows::RowReader::new(sniff::decoded(bytes, self.encoding), self.delimiter, max_fields)
    }

    /// A CSV reader over `bytes` that yields the header first (as an ordinary record), then
    /// the rows; rows of any width are returned (the caller rejects the wrong ones).
    pub fn csv<R: Read>(&self, bytes: R) -> csv::Reader<impl Read + use<R>> {
        csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(sniff::decoded(bytes, self.encoding))
    }
}
