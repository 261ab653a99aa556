//! Row writers and where their bytes go.
//!
//! A [`RowWriter`] takes complete rows (cells tagged with their column) and writes them in
//! its format. Every writer has an explicit [`RowWriter::finish`]: dropping one would swallow
//! the last write's error. Files are created by [`crate::atomic`], written beside their
//! target and renamed into place once finished: a failed run leaves nothing there.

pub mod csv;
pub mod format;
pub mod long;
pub mod ndjson;
pub mod parquet;
pub mod partition;
pub mod spool;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::{Arc, Mutex};

use flate2::write::GzEncoder;

use crate::columns::{ColumnId, Columns, IdMap};
use long::LongRow;

/// One cell of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// A string (unescaped): quoted in NDJSON, as is in CSV.
    Text(&'a str),
    /// JSON text written as is: a number as the input spelled it, or a non-string group value.
    Raw(&'a str),
    /// No value: `null` in NDJSON, empty in CSV.
    Null,
}

/// Writes rows in one format.
pub trait RowWriter {
    /// Writes one row; `cells` are in the row's own order, each tagged with its column.
    ///
    /// The first `shared` cells are the same as the last row's (the long layout repeats an
    /// entity's head on each of its rows): a writer may reuse what it made of them.
    ///
    /// A value the format cannot hold is an error without an [`io::Error`] in its chain, so
    /// the page reader reports it at the entity's position; write failures keep theirs.
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()>;

    /// Writes one long-layout row from its parts, if the writer has a quicker way than
    /// [`RowWriter::row`]; false hands it the whole row instead.
    fn long_row(&mut self, _columns: &Columns, _row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        Ok(false)
    }

    /// Flushes everything and closes the output.
    fn finish(self: Box<Self>) -> anyhow::Result<()>;

    /// Bytes of rows held in memory, not yet written out (the partition router bounds the
    /// sum over its open files). Streaming formats hold a fixed-size block: they say 0.
    fn buffered_bytes(&self) -> usize {
        0
    }

    /// Writes out what [`RowWriter::buffered_bytes`] counts, so that memory can be reused.
    fn flush_buffered(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A writer that also takes rows made elsewhere: by a worker thread, a page at a time.
pub trait Append<P> {
    /// Writes `part`, made by `worker`, after every row so far; `map` turns the worker's
    /// column ids into those of `columns`, the run's.
    fn append(&mut self, columns: &Columns, worker: usize, map: &IdMap, part: P) -> anyhow::Result<()>;

    /// Ends the rows of a page written here by [`RowWriter::row`]: the next rows start
    /// afresh, as those of a worker's page do.
    fn end_page(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Turns rows into parts that are written in order: one renderer per replaying thread.
pub trait Render {
    /// The rendered rows of one spool segment.
    type Part;
    /// Renders one row (`shared`: as for [`RowWriter::row`]).
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()>;
    /// Renders one long-layout row from its parts, as [`RowWriter::long_row`].
    fn long_row(&mut self, _columns: &Columns, _row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        Ok(false)
    }
    /// Everything rendered since the last call.
    fn take(&mut self) -> anyhow::Result<Self::Part>;
    /// Ends the rows of a page, when a part holds several: a renderer whose parts have
    /// boundaries makes one here, as [`Append::end_page`] does for a page run on the main
    /// thread.
    fn end_page(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<W: RowWriter + ?Sized> RowWriter for Box<W> {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        (**self).row(columns, cells, shared)
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        (**self).long_row(columns, row)
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        (*self).finish()
    }

    fn buffered_bytes(&self) -> usize {
        (**self).buffered_bytes()
    }

    fn flush_buffered(&mut self) -> anyhow::Result<()> {
        (**self).flush_buffered()
    }
}

/// Reuses a buffer's allocation for cells of another lifetime (the buffer is always empty
/// between rows, so nothing of the old lifetime survives).
pub fn recycle<'b>(mut cells: Vec<(ColumnId, Cell<'_>)>) -> Vec<(ColumnId, Cell<'b>)> {
    cells.clear();
    cells
        .into_iter()
        .map(|_| unreachable!("the buffer was just cleared"))
        .collect()
}

/// Whether any byte of `bytes` is one of `targets` or below `below` (at most 128), eight
/// bytes at a time: writers check every text cell for bytes to escape or quote.
pub fn has_any<const N: usize>(bytes: &[u8], targets: [u8; N], below: u8) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Some byte of `x` is below `n`: the classic "has less than" test, exact for the word as
    // a whole; bytes with the high bit set (UTF-8 beyond ASCII) never match.
    let less = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        if less(x, below) || targets.iter().any(|&t| less(x ^ (ONES * u64::from(t)), 1)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| b < below || targets.contains(&b))
}

/// A writer that writes nothing: `gcagg schema` learns the columns with it.
pub struct Discard;

impl RowWriter for Discard {
    fn row(&mut self, _: &Columns, _: &[(ColumnId, Cell<'_>)], _: usize) -> anyhow::Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A worker's rows, discarded: only the columns they bring travel.
impl Render for Discard {
    type Part = ();

    fn row(&mut self, _: &Columns, _: &[(ColumnId, Cell<'_>)], _: usize) -> anyhow::Result<()> {
        Ok(())
    }

    fn take(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl Append<()> for Discard {
    fn append(&mut self, _: &Columns, _: usize, _: &IdMap, _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Where output bytes go: stdout, a file, or a gzip-compressed file.
pub enum Output {
    /// Standard output.
    Stdout(io::Stdout),
    /// A plain file.
    File(BufWriter<File>),
    /// A file compressed with gzip.
    Gzip(GzEncoder<BufWriter<File>>),
    /// NDJSON lines written to another output as one JSON array.
    Array(Box<JsonArray>),
}

impl Output {
    /// Writes to `file` (already created, see [`crate::atomic`]), gzip-compressed if asked.
    pub fn file(file: File, gzip: bool) -> Output {
        let file = BufWriter::with_capacity(1 << 16, file);
        if gzip {
            Output::Gzip(GzEncoder::new(file, flate2::Compression::default()))
        } else {
            Output::File(file)
        }
    }

    /// The NDJSON lines written to the result go to `self` as the elements of one JSON
    /// array, for readers that take one document (Python's `json.load`).
    pub fn array(self) -> Output {
        Output::Array(Box::new(JsonArray {
            inner: self,
            started: false,
            newline: false,
        }))
    }

    /// Flushes everything, ending the gzip stream if there is one.
    pub fn close(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut out) => out.flush(),
            Output::File(mut out) => out.flush(),
            Output::Gzip(out) => out.finish()?.flush(),
            Output::Array(array) => array.close(),
        }
    }
}

/// Turns NDJSON lines into one JSON array as they stream through: `[` before the first row,
/// `,` between rows, `]` at the end (`[]` for none). A newline byte in NDJSON only ever
/// ends a row (strings escape theirs), so rows are found without parsing them.
pub struct JsonArray {
    inner: Output,
    /// Whether `[` is written.
    started: bool,
    /// Whether a row's newline is held back: the next row writes it after its `,`.
    newline: bool,
}

impl JsonArray {
    fn close(mut self) -> io::Result<()> {
        let end: &[u8] = match (self.started, self.newline) {
            (false, _) => b"[]\n",
            (true, true) => b"\n]\n",
            (true, false) => b"]\n",
        };
        self.inner.write_all(end)?;
        self.inner.close()
    }

    /// Writes a piece of a row.
    fn piece(&mut self, piece: &[u8]) -> io::Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        if !self.started {
            self.inner.write_all(b"[")?;
            self.started = true;
        } else if self.newline {
            self.inner.write_all(b",\n")?;
        }
        self.newline = false;
        self.inner.write_all(piece)
    }
}

impl Write for JsonArray {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while let Some(end) = memchr::memchr(b'\n', buf) {
            self.piece(&buf[..end])?;
            self.newline = true;
            buf = &buf[end + 1..];
        }
        self.piece(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(buf),
            Output::File(out) => out.write(buf),
            Output::Gzip(out) => out.write(buf),
            Output::Array(out) => out.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.write_all(buf),
            Output::File(out) => out.write_all(buf),
            Output::Gzip(out) => out.write_all(buf),
            Output::Array(out) => out.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File(out) => out.flush(),
            Output::Gzip(out) => out.flush(),
            Output::Array(out) => out.flush(),
        }
    }
}

/// Buffers passed around between threads (rows rendered by a worker, written by the main
/// thread; spool segments filled by one thread, written by another) and back for reuse:
/// memory once touched is filled again instead of fresh pages faulting in.
#[derive(Clone, Default)]
pub struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufferPool {
    /// An empty buffer, reused if one is back.
    pub fn get(&self) -> Vec<u8> {
        self.0.lock().ok().and_then(|mut spare| spare.pop()).unwrap_or_default()
    }

    /// Gives a buffer back; kept while the spare ones hold at most [`POOL_BYTES`].
    pub fn put(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut spare) = self.0.lock() {
            let kept: usize = spare.iter().map(Vec::capacity).sum();
            if kept + buffer.capacity() <= POOL_BYTES {
                spare.push(buffer);
            }
        }
    }
}

/// The most capacity a [`BufferPool`] keeps in spare buffers: a few pages' rows, so that pages
/// of a few MB reuse their memory while the rows of very large ones are freed.
const POOL_BYTES: usize = 16 << 20;

/// Rows are gathered in a block of about this size before each write.
const BLOCK: usize = 1 << 20;

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp (`Z` or `±hh:mm` offset), the
/// form of the API's interval halves; `None` for anything else.
pub fn epoch_millis(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// The UTC calendar date (`YYYY-MM-DD`) of an instant in epoch milliseconds.
pub fn utc_date(millis: i64) -> Option<String> {
    let at = jiff::Timestamp::from_millisecond(millis).ok()?;
    Some(at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date().to_string())
}
