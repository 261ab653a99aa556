//! CSV rows (RFC 4180 quoting): one header line holding every column of the output, then
//! one line per row with each cell in its header position.

use std::io::Write;

use super::long::{LongRow, SlotLabels};
use super::{has_any, Cell, Output, Render, RowSink, RowWriter, BLOCK};
use crate::columns::{ColumnId, Columns};

/// Writes rows under a fixed header.
pub struct CsvWriter {
    out: Output,
    lines: CsvLines,
    /// The header line, written before the first row (no rows: no header, as with no input).
    header: Option<Vec<u8>>,
}

/// Renders rows as CSV lines under a fixed header, into a block of bytes.
#[derive(Clone)]
pub struct CsvLines {
    block: Vec<u8>,
    /// Header position of each column id (`usize::MAX`: not in the header).
    position: Vec<usize>,
    /// What a cell the row lacks holds, per header position.
    missing: Vec<&'static str>,
    /// Per header position: 1 + the index of the row's cell for it, or 0.
    slots: Vec<usize>,
    /// The current (or last) line, without its terminator.
    line: Vec<u8>,
    /// Where each field of `line` ends.
    ends: Vec<usize>,
    /// Per long-layout slot: its `metric,qualifier,stat,` fields.
    labels: SlotLabels,
}

impl CsvWriter {
    /// A writer whose lines hold the columns of `header`, in that order.
    ///
    /// Value columns an entity lacks hold `0`, or nothing with `keep_nulls`.
    pub fn new(out: Output, columns: &Columns, header: &[ColumnId], keep_nulls: bool) -> CsvWriter {
        let mut position = vec![usize::MAX; columns.len()];
        let mut missing = Vec::with_capacity(header.len());
        let mut header_line = Vec::new();
        for (at, &id) in header.iter().enumerate() {
            position[id] = at;
            let column = columns.get(id);
            missing.push(if column.role.is_value() && !keep_nulls { "0" } else { "" });
            if at > 0 {
                header_line.push(b',');
            }
            push_field(&mut header_line, &column.name, header.len());
        }
        header_line.push(b'\n');
        CsvWriter {
            out,
            lines: CsvLines {
                block: Vec::with_capacity(BLOCK + (BLOCK >> 2)),
                position,
                missing,
                slots: vec![0; header.len()],
                line: Vec::new(),
                ends: Vec::with_capacity(header.len()),
                labels: SlotLabels::default(),
            },
            header: Some(header_line),
        }
    }

    /// A renderer of this writer's lines, for [`CsvWriter::write_lines`].
    pub fn renderer(&self) -> CsvLines {
        let mut lines = self.lines.clone();
        lines.block = Vec::new();
        lines
    }

    /// Writes lines from a renderer (the header first, before the first line).
    pub fn write_lines(&mut self, lines: &[u8]) -> anyhow::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        if let Some(header) = self.header.take() {
            self.out.write_all(&header)?;
        }
        self.out.write_all(lines)?;
        Ok(())
    }
}

/// Appends one field, quoted when it holds a comma, a quote or a line break (or when an
/// empty field would otherwise make an empty line).
fn push_field(line: &mut Vec<u8>, field: &str, fields: usize) {
    let bytes = field.as_bytes();
    if has_any(bytes, [b',', b'"', b'\n', b'\r'], 0) || (bytes.is_empty() && fields == 1) {
        line.push(b'"');
        for &b in bytes {
            if b == b'"' {
                line.push(b'"');
            }
            line.push(b);
        }
        line.push(b'"');
    } else {
        line.extend_from_slice(bytes);
    }
}

impl CsvLines {
    /// Renders the fields before header position `upto` into `line` from `cells` (which
    /// must all lie there); the first `shared` cells are the last line's, whose rendering is
    /// kept.
    fn render_line(&mut self, cells: &[(ColumnId, Cell<'_>)], shared: usize, upto: usize) -> anyhow::Result<()> {
        if shared > 0 && shared == cells.len() && self.ends.len() >= upto {
            // Every cell is the last line's (an entity's later long rows): so is every field.
            self.line.truncate(if upto == 0 { 0 } else { self.ends[upto - 1] });
            self.ends.truncate(upto);
            return Ok(());
        }
        let fields = self.slots.len();
        let mut first_new = upto;
        for (i, &(id, _)) in cells.iter().enumerate() {
            match self.position.get(id) {
                Some(&at) if at < upto => {
                    self.slots[at] = i + 1;
                    if i >= shared {
                        first_new = first_new.min(at);
                    }
                }
                _ => anyhow::bail!("internal error: column {id} is not in the CSV header"),
            }
        }
        // Shared cells and the gaps between them render as in the last line: keep that part.
        let from = if shared > 0 && self.ends.len() >= upto {
            first_new
        } else {
            0
        };
        self.line.truncate(if from == 0 { 0 } else { self.ends[from - 1] });
        self.ends.truncate(from);
        for at in 0..upto {
            let slot = std::mem::take(&mut self.slots[at]);
            if at < from {
                continue;
            }
            if at > 0 {
                self.line.push(b',');
            }
            match slot {
                // `0` and empty: a lone empty field still needs its quotes.
                0 => push_field(&mut self.line, self.missing[at], fields),
                i => push_cell(&mut self.line, cells[i - 1].1, fields),
            }
            self.ends.push(self.line.len());
        }
        Ok(())
    }
}

/// Appends one cell's field.
fn push_cell(line: &mut Vec<u8>, cell: Cell<'_>, fields: usize) {
    match cell {
        // A JSON number never holds a byte that needs quoting.
        Cell::Raw(s) if s.as_bytes().first().is_some_and(|&b| b == b'-' || b.is_ascii_digit()) => {
            line.extend_from_slice(s.as_bytes())
        }
        Cell::Text(s) | Cell::Raw(s) => push_field(line, s, fields),
        Cell::Null => push_field(line, "", fields),
    }
}

impl RowSink for CsvLines {
    fn row(&mut self, _: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.render_line(cells, shared, self.slots.len())?;
        self.block.extend_from_slice(&self.line);
        self.block.push(b'\n');
        Ok(())
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        // The long layout's columns come last in the header: a line is the head's
        // fields, then the slot's labels, rendered once, then the value.
        let Some(long) = columns.long_columns() else {
            return Ok(false);
        };
        let fields = self.slots.len();
        let upto = self.position.get(long.all()[0]).copied().unwrap_or(usize::MAX);
        if upto.checked_add(long.all().len()) != Some(fields) {
            return Ok(false);
        }
        self.render_line(row.head, row.shared, upto)?;
        let labels = self.labels.get(row.slot, || {
            let mut labels = Vec::new();
            for (_, text) in long.labels(columns.slot(row.slot)) {
                push_field(&mut labels, text.unwrap_or(""), fields);
                labels.push(b',');
            }
            labels
        });
        self.block.extend_from_slice(&self.line);
        if upto > 0 {
            self.block.push(b',');
        }
        self.block.extend_from_slice(labels);
        push_cell(&mut self.block, row.value, fields);
        self.block.push(b'\n');
        Ok(true)
    }
}

impl Render for CsvLines {
    type Part = Vec<u8>;

    fn take(&mut self) -> anyhow::Result<Vec<u8>> {
        Ok(std::mem::take(&mut self.block))
    }
}

impl RowSink for CsvWriter {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.lines.row(columns, cells, shared)?;
        if self.lines.block.len() >= BLOCK {
            let block = std::mem::take(&mut self.lines.block);
            self.write_lines(&block)?;
            self.lines.block = block;
            self.lines.block.clear();
        }
        Ok(())
    }
}

impl RowWriter for CsvWriter {
    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let block = std::mem::take(&mut self.lines.block);
        self.write_lines(&block)?;
        self.out.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_special_byte_anywhere_in_a_long_field_quotes_it() {
        for special in [",", "\"", "\n", "\r"] {
            for at in 0..20 {
                let field = format!("{}{special}{}", "x".repeat(at), "y".repeat(19 - at));
                let mut line = Vec::new();
                push_field(&mut line, &field, 2);
                assert!(line.starts_with(b"\"") && line.ends_with(b"\""), "{field:?}");
            }
        }
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut line = Vec::new();
        for field in ["plain", "a,b", "say \"hi\"", "two\nlines", "", "été"] {
            push_field(&mut line, field, 2);
            line.push(b'|');
        }
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"||été|"
        );
        let mut lone = Vec::new();
        push_field(&mut lone, "", 1);
        assert_eq!(lone, b"\"\"");
    }
}
