//! Row writers and where their bytes go.
//!
//! A [`RowWriter`] takes complete rows (cells tagged with their column) and writes them in
//! its format. Every writer has an explicit [`RowWriter::finish`]: dropping one would swallow
//! the last write's error.

pub mod csv;
pub mod ndjson;
pub mod spool;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use flate2::write::GzEncoder;

use crate::columns::{ColumnId, Columns};

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
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> io::Result<()>;

    /// Flushes everything and closes the output.
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
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

/// Where output bytes go: stdout, a file, or a gzip-compressed file.
pub enum Output {
    /// Standard output.
    Stdout(io::Stdout),
    /// A plain file.
    File(BufWriter<File>),
    /// A file compressed with gzip.
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Output {
    /// Opens `path` for writing (creating or truncating it), gzip-compressed if asked.
    pub fn create(path: &Path, gzip: bool) -> anyhow::Result<Output> {
        let file = File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
        let file = BufWriter::with_capacity(1 << 16, file);
        Ok(if gzip {
            Output::Gzip(GzEncoder::new(file, flate2::Compression::default()))
        } else {
            Output::File(file)
        })
    }

    /// Flushes everything, ending the gzip stream if there is one.
    pub fn close(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut out) => out.flush(),
            Output::File(mut out) => out.flush(),
            Output::Gzip(out) => out.finish()?.flush(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(buf),
            Output::File(out) => out.write(buf),
            Output::Gzip(out) => out.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.write_all(buf),
            Output::File(out) => out.write_all(buf),
            Output::Gzip(out) => out.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File(out) => out.flush(),
            Output::Gzip(out) => out.flush(),
        }
    }
}

/// Rows are gathered in a block of about this size before each write.
const BLOCK: usize = 1 << 20;
