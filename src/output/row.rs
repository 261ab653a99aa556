//! Rows and the traits of what takes them.
//!
//! A [`RowWriter`] takes complete rows (cells tagged with their column) and writes them in
//! its format. Every writer has an explicit [`RowWriter::finish`]: dropping one would swallow
//! the last write's error.

use super::long::LongRow;
use crate::columns::{ColumnId, Columns, IdMap};

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
