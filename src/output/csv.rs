//! CSV rows (RFC 4180 quoting): one header line holding every column of the output, then
//! one line per row with each cell in its header position.

use std::io;

use super::{Cell, Output, RowWriter, BLOCK};
use crate::columns::{ColumnId, Columns};

/// Writes rows under a fixed header.
pub struct CsvWriter {
    out: csv::Writer<Output>,
    /// Header position of each column id (`usize::MAX`: not in the header).
    position: Vec<usize>,
    /// What a cell the row lacks holds, per header position.
    missing: Vec<&'static str>,
    /// Per header position: 1 + the index of the row's cell for it, or 0.
    slots: Vec<usize>,
    /// The header line, written before the first row (no rows: no header, as with no input).
    header: Option<Vec<String>>,
}

impl CsvWriter {
    /// Writes the header of `header` (column ids in order) and returns the writer.
    ///
    /// Value columns an entity lacks hold `0`, or nothing with `keep_nulls` (SPEC §2.5).
    pub fn new(out: Output, columns: &Columns, header: &[ColumnId], keep_nulls: bool) -> CsvWriter {
        let out = csv::WriterBuilder::new().buffer_capacity(BLOCK).from_writer(out);
        let mut position = vec![usize::MAX; columns.len()];
        let mut missing = Vec::with_capacity(header.len());
        for (at, &id) in header.iter().enumerate() {
            position[id] = at;
            let column = columns.get(id);
            missing.push(if column.role.is_value() && !keep_nulls { "0" } else { "" });
        }
        let names = header.iter().map(|&id| columns.get(id).name.clone()).collect();
        CsvWriter {
            out,
            position,
            missing,
            slots: vec![0; header.len()],
            header: Some(names),
        }
    }
}

impl RowWriter for CsvWriter {
    fn row(&mut self, _: &Columns, cells: &[(ColumnId, Cell<'_>)]) -> anyhow::Result<()> {
        if let Some(names) = self.header.take() {
            self.out.write_record(&names)?;
        }
        for (i, &(id, _)) in cells.iter().enumerate() {
            match self.position.get(id) {
                Some(&at) if at != usize::MAX => self.slots[at] = i + 1,
                _ => return Err(io::Error::other(format!("column {id} is not in the CSV header")).into()),
            }
        }
        for at in 0..self.slots.len() {
            let field = match std::mem::take(&mut self.slots[at]) {
                0 => self.missing[at],
                i => match cells[i - 1].1 {
                    Cell::Text(s) | Cell::Raw(s) => s,
                    Cell::Null => "",
                },
            };
            self.out.write_field(field)?;
        }
        Ok(self.out.write_record(None::<&[u8]>)?)
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let out = self.out.into_inner().map_err(|e| e.into_error())?;
        out.close()?;
        Ok(())
    }
}
