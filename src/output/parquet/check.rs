//! Rows checked against their Parquet types on their way in, and the errors that name a
//! cell that does not fit.

use anyhow::anyhow;

use super::number::fits;
use crate::columns::{ColumnId, Columns, IdMap, Role, FIRST_SLOT};
use crate::output::long::LongRow;
use crate::output::{Append, Cell, Render, RowSink};

/// Checks, as rows arrive, that every cell fits its column's Parquet type, then passes the
/// row on. Parquet rows wait in a spool until every column is known; checking on the way in
/// reports a misfit while the page reader still knows where it stands (the error
/// names page, entity and field). Columns only ever widen (INT64 to DOUBLE), so a row that
/// fits now still fits when it is written.
pub struct Checked<W> {
    inner: W,
    /// Whether rows are checked: Parquet output only; other formats take any cell.
    on: bool,
}

impl<W> Checked<W> {
    /// Rows on their way to `inner`, checked if `on`.
    pub fn new(inner: W, on: bool) -> Checked<W> {
        Checked { inner, on }
    }

    /// The writer the rows went to.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Says which cell of the row does not fit its column, if one does not.
    fn check(&self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        if !self.on {
            return Ok(());
        }
        // The shared head was checked with the row that brought it.
        for &(id, cell) in &cells[shared..] {
            if let Cell::Text(text) | Cell::Raw(text) = cell {
                if id >= FIRST_SLOT {
                    if let Err(why) = fits(Role::LongValue, text) {
                        // The value is still in its entity's record: name the row it becomes.
                        let head: Vec<_> = cells.iter().copied().filter(|&(id, _)| id < FIRST_SLOT).collect();
                        let long = LongRow {
                            head: &head,
                            slot: id,
                            value: cell,
                            shared: 0,
                        };
                        return Err(long_misfit(columns, &long, text, why));
                    }
                } else if let Err(why) = fits(columns.get(id).role, text) {
                    return Err(misfit(columns, cells, id, text, why));
                }
            }
        }
        Ok(())
    }
}

impl<W: RowSink> RowSink for Checked<W> {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.check(columns, cells, shared)?;
        self.inner.row(columns, cells, shared)
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        // A checked long row is checked whole, in `row`.
        if self.on {
            return Ok(false);
        }
        self.inner.long_row(columns, row)
    }

    fn end_page(&mut self) -> anyhow::Result<()> {
        self.inner.end_page()
    }
}

/// A worker's rows, checked as they are rendered.
impl<W: Render> Render for Checked<W> {
    type Part = W::Part;

    fn take(&mut self) -> anyhow::Result<W::Part> {
        self.inner.take()
    }
}

/// Rows made by a worker were checked there.
impl<P, W: Append<P>> Append<P> for Checked<W> {
    fn append(&mut self, columns: &Columns, worker: usize, map: &IdMap, part: P) -> anyhow::Result<()> {
        self.inner.append(columns, worker, map, part)
    }
}

/// [`misfit`] for a long row's value: names the row it is in.
pub fn long_misfit(columns: &Columns, long: &LongRow<'_, '_>, text: &str, why: &str) -> anyhow::Error {
    let mut row = Vec::new();
    match long.cells(columns, &mut row) {
        Ok(()) => misfit(columns, &row, row[row.len() - 1].0, text, why),
        Err(err) => err,
    }
}

/// The error for a cell that does not fit its column: names the entity (its group, interval
/// or id, and for the long layout the metric and stat) and the field.
pub fn misfit(columns: &Columns, cells: &[(ColumnId, Cell<'_>)], id: ColumnId, text: &str, why: &str) -> anyhow::Error {
    let entity: Vec<String> = cells
        .iter()
        // A long-layout record also carries its values, tagged with slot ids, not columns.
        .filter(|&&(cid, _)| {
            cid < FIRST_SLOT
                && matches!(
                    columns.get(cid).role,
                    Role::Group | Role::IntervalStart | Role::AggregateId | Role::Metric | Role::Qualifier | Role::Stat
                )
        })
        .map(|&(cid, cell)| match cell {
            Cell::Text(s) | Cell::Raw(s) => format!("{}={s}", columns.get(cid).name),
            Cell::Null => format!("{}=null", columns.get(cid).name),
        })
        .collect();
    let column = columns.get(id);
    let entity = if entity.is_empty() {
        "without group".to_owned()
    } else {
        entity.join(", ")
    };
    anyhow!(
        "entity {entity}: field `{}` ({}): `{text}` {why}",
        column.name,
        column.source
    )
}
