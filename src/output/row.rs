//! Rows and the traits of what takes them.
//!
//! A [`RowSink`] takes complete rows (cells tagged with their column); a [`RowWriter`] writes
//! them out in its format, a [`Render`]er into parts that an [`Append`]er writes in order.

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

/// Takes rows: every format's writer and renderer, and what stands in front of them (the
/// long layout's [`Expand`](super::long::Expand), the spool, the Parquet check). What is
/// done with the rows once taken is said by [`RowWriter`] (a file or stream) or [`Render`]
/// (parts in memory, written elsewhere).
pub trait RowSink {
    /// Takes one row; `cells` are in the row's own order, each tagged with its column.
    ///
    /// The first `shared` cells are the same as the last row's (the long layout repeats an
    /// entity's head on each of its rows): a sink may reuse what it made of them.
    ///
    /// A value the format cannot hold is an error without an [`io::Error`](std::io::Error)
    /// in its chain, so the page reader reports it at the entity's position; write failures
    /// keep theirs.
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()>;

    /// Takes one long-layout row from its parts, if the sink has a quicker way than
    /// [`RowSink::row`]; false hands it the whole row instead.
    fn long_row(&mut self, _columns: &Columns, _row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        Ok(false)
    }

    /// Ends the rows of a page: the next rows start afresh, so that rows cut where pages end
    /// (spool segments, a worker's parts) are cut the same wherever the page was flattened.
    fn end_page(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A sink that writes its rows out, to a file or a stream.
pub trait RowWriter: RowSink {
    /// Flushes everything and closes the output. Every writer has an explicit finish:
    /// dropping one would swallow the last write's error.
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

/// A sink that renders rows into parts in memory, written in order by another thread: one
/// renderer per worker or replaying thread.
pub trait Render: RowSink {
    /// The rendered rows of a batch of pages or of one spool segment.
    type Part;

    /// Everything rendered since the last call.
    fn take(&mut self) -> anyhow::Result<Self::Part>;
}

/// A writer that also takes parts rendered elsewhere: by a worker thread, a batch of pages
/// at a time.
pub trait Append<P> {
    /// Writes `part`, made by `worker`, after every row so far; `map` turns the worker's
    /// column ids into those of `columns`, the run's.
    fn append(&mut self, columns: &Columns, worker: usize, map: &IdMap, part: P) -> anyhow::Result<()>;
}

impl<W: RowSink + ?Sized> RowSink for Box<W> {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        (**self).row(columns, cells, shared)
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        (**self).long_row(columns, row)
    }

    fn end_page(&mut self) -> anyhow::Result<()> {
        (**self).end_page()
    }
}

impl<W: RowWriter + ?Sized> RowWriter for Box<W> {
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

impl RowSink for Discard {
    fn row(&mut self, _: &Columns, _: &[(ColumnId, Cell<'_>)], _: usize) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A worker's rows, discarded: only the columns they bring travel.
impl Render for Discard {
    type Part = ();

    fn take(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl Append<()> for Discard {
    fn append(&mut self, _: &Columns, _: usize, _: &IdMap, _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}
