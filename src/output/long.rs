//! The long layout's rows, expanded from one record per entity where they are written.
//!
//! The flattener hands on a long entity as one record: its head cells, then its values,
//! each tagged with its [`Slot`](crate::columns::Slot) (metric label, qualifier, stat)
//! instead of a column. The spool keeps and replays that record once rather than once per
//! stat; [`Expand`] turns it into rows in front of the writer.

use super::spool::Render;
use super::{recycle, Cell, RowWriter};
use crate::columns::{ColumnId, Columns, FIRST_SLOT};
use crate::flatten::Layout;

/// Expands long records into rows for `inner`; passes wide rows through unchanged.
pub struct Expand<W> {
    inner: W,
    long: bool,
    row: Vec<(ColumnId, Cell<'static>)>,
}

impl<W> Expand<W> {
    /// Writes `layout`'s rows to `inner`.
    pub fn new(inner: W, layout: Layout) -> Expand<W> {
        Expand {
            inner,
            long: layout == Layout::Long,
            row: Vec::new(),
        }
    }

    /// The writer the rows went to.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Hands each row of the record `cells` to `write`, with its shared count.
    fn rows(
        &mut self,
        columns: &Columns,
        cells: &[(ColumnId, Cell<'_>)],
        shared: usize,
        mut write: impl FnMut(&mut W, &[(ColumnId, Cell<'_>)], usize) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if !self.long {
            return write(&mut self.inner, cells, shared);
        }
        let mut row = recycle(std::mem::take(&mut self.row));
        let inner = &mut self.inner;
        let done = expand(columns, cells, &mut row, |row, shared| write(inner, row, shared));
        self.row = recycle(row);
        done
    }
}

/// Calls `each` with every long row of the record `cells` (head cells, then slot-tagged
/// values) and its shared count: the head is shared by every row after the first.
pub fn expand<'a>(
    columns: &'a Columns,
    cells: &[(ColumnId, Cell<'a>)],
    row: &mut Vec<(ColumnId, Cell<'a>)>,
    mut each: impl FnMut(&[(ColumnId, Cell<'a>)], usize) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some([metric, qualifier, stat, value]) = columns.long_columns() else {
        anyhow::bail!("internal error: long rows without the long layout's columns");
    };
    let head = cells
        .iter()
        .position(|&(id, _)| id >= FIRST_SLOT)
        .unwrap_or(cells.len());
    row.clear();
    row.extend_from_slice(&cells[..head]);
    for (n, &(id, cell)) in cells[head..].iter().enumerate() {
        let slot = columns.slot(id);
        row.truncate(head);
        row.push((metric, Cell::Text(&slot.label)));
        if let Some(q) = &slot.qualifier {
            row.push((qualifier, Cell::Text(q)));
        }
        row.push((stat, Cell::Text(&slot.stat)));
        row.push((value, cell));
        each(row, if n == 0 { 0 } else { head })?;
    }
    Ok(())
}

impl<W: RowWriter> RowWriter for Expand<W> {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.rows(columns, cells, shared, |inner, row, shared| {
            inner.row(columns, row, shared)
        })
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Box::new(self.inner).finish()
    }
}

impl<R: Render> Render for Expand<R> {
    type Part = R::Part;

    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.rows(columns, cells, shared, |inner, row, shared| {
            inner.row(columns, row, shared)
        })
    }

    fn take(&mut self) -> anyhow::Result<R::Part> {
        self.inner.take()
    }
}
