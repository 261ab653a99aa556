//! NDJSON rows: one object per line, keys in the row's order, numbers as the input spelled
//! them.

use std::io::Write;

use super::long::{Expand, LongRow, SlotLabels};
use super::spool::Segment;
use super::{has_any, Append, BufferPool, Cell, Output, Render, RowSink, RowWriter, BLOCK};
use crate::columns::{ColumnId, Columns, IdMap};

/// Writes one JSON object per row.
pub struct NdjsonWriter {
    /// `None`: rows are kept for [`Render::take`].
    out: Option<Output>,
    /// Where kept blocks come from, and appended ones go back to.
    pool: BufferPool,
    block: Vec<u8>,
    /// Where the last row starts in `block`.
    last: usize,
    /// Where each cell of the last row ends, from the row's start.
    ends: Vec<usize>,
    /// Per long-layout slot: its rendered `"metric":…,"value":`.
    labels: SlotLabels,
}

impl NdjsonWriter {
    /// A writer to `out`; blocks appended to it go back to `pool`.
    pub fn new(out: Output, pool: BufferPool) -> NdjsonWriter {
        NdjsonWriter::with(Some(out), pool)
    }

    /// A writer that keeps its rows for [`Render::take`], in blocks from `pool`.
    pub fn in_memory(pool: BufferPool) -> NdjsonWriter {
        NdjsonWriter::with(None, pool)
    }

    fn with(out: Option<Output>, pool: BufferPool) -> NdjsonWriter {
        NdjsonWriter {
            out,
            pool,
            block: Vec::with_capacity(BLOCK + (BLOCK >> 2)),
            last: 0,
            ends: Vec::new(),
            labels: SlotLabels::default(),
        }
    }

    /// Starts a row in the block with `cells` (the first `shared` as in the last row, whose
    /// rendering is copied); returns where the row starts. The object is left open.
    fn open_row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> usize {
        let block = &mut self.block;
        // The shared cells render as in the last row, which is still in the block: copy
        // that part, then render the rest in place.
        let keep = shared.min(self.ends.len());
        let start = block.len();
        if keep == 0 {
            block.push(b'{');
        } else {
            block.extend_from_within(self.last..self.last + self.ends[keep - 1]);
        }
        self.ends.truncate(keep);
        for (i, &(id, cell)) in cells.iter().enumerate().skip(keep) {
            if i > 0 {
                block.push(b',');
            }
            block.extend_from_slice(&columns.get(id).json_key);
            write_cell(block, cell);
            self.ends.push(block.len() - start);
        }
        start
    }

    /// Closes the row started at `start`, writing the block out once it is full.
    fn close_row(&mut self, start: usize) -> anyhow::Result<()> {
        let block = &mut self.block;
        block.extend_from_slice(b"}\n");
        self.last = start;
        if let Some(out) = self.out.as_mut().filter(|_| block.len() >= BLOCK) {
            out.write_all(&block[..start])?;
            // Keep the last row at the front: the next row may share its head.
            block.drain(..start);
            self.last = 0;
        }
        Ok(())
    }
}

impl Append<Vec<u8>> for NdjsonWriter {
    fn append(&mut self, _: &Columns, _: usize, _: &IdMap, rows: Vec<u8>) -> anyhow::Result<()> {
        let Some(out) = self.out.as_mut() else {
            anyhow::bail!("internal error: rows were appended to a writer that keeps its own");
        };
        out.write_all(&self.block)?;
        out.write_all(&rows)?;
        self.block.clear();
        self.ends.clear();
        self.last = 0;
        self.pool.put(rows);
        Ok(())
    }
}

/// Long rows come from the workers as spool segments, one record per entity, and are rendered
/// here: rendered on the workers, a page of long rows can be ten times the page, and the
/// pages in flight would hold it all in memory.
impl Append<Vec<Segment>> for Expand<NdjsonWriter> {
    fn append(&mut self, columns: &Columns, _: usize, map: &IdMap, segments: Vec<Segment>) -> anyhow::Result<()> {
        for segment in segments {
            segment.rows(Some(map), |cells, shared| RowSink::row(self, columns, cells, shared))?;
            segment.recycle(&self.inner().pool);
        }
        Ok(())
    }
}

impl Render for NdjsonWriter {
    type Part = Vec<u8>;

    /// The rows since the last call (of a writer made [`NdjsonWriter::in_memory`]).
    fn take(&mut self) -> anyhow::Result<Vec<u8>> {
        self.ends.clear();
        self.last = 0;
        Ok(std::mem::replace(&mut self.block, self.pool.get()))
    }
}

fn write_cell(block: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Text(s) => write_json_string(block, s),
        Cell::Raw(s) => block.extend_from_slice(s.as_bytes()),
        Cell::Null => block.extend_from_slice(b"null"),
    }
}

impl RowSink for NdjsonWriter {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        let start = self.open_row(columns, cells, shared);
        self.close_row(start)
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        let Some(long) = columns.long_columns() else {
            return Ok(false);
        };
        let start = self.open_row(columns, row.head, row.shared);
        let labels = self.labels.get(row.slot, || {
            let mut labels = Vec::new();
            for (id, text) in long.labels(columns.slot(row.slot)) {
                if let Some(text) = text {
                    labels.extend_from_slice(&columns.get(id).json_key);
                    write_json_string(&mut labels, text);
                    labels.push(b',');
                }
            }
            labels.extend_from_slice(&columns.get(long.value()).json_key);
            labels
        });
        if !row.head.is_empty() {
            self.block.push(b',');
        }
        self.block.extend_from_slice(labels);
        write_cell(&mut self.block, row.value);
        self.close_row(start)?;
        Ok(true)
    }
}

impl RowWriter for NdjsonWriter {
    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        if let Some(mut out) = self.out.take() {
            out.write_all(&self.block)?;
            out.close()?;
        }
        Ok(())
    }
}

/// Appends `s` as a JSON string: only `"`, `\` and control characters are escaped, so
/// non-ASCII text stays readable UTF-8.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any byte is `"`, `\\` or a control character (checked on every string cell;
/// nearly none needs escaping).
fn needs_escape(bytes: &[u8]) -> bool {
    has_any(bytes, [b'"', b'\\'], 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escape_check_finds_every_byte_that_needs_one_at_every_offset() {
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for len in 1..20 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    assert!(needs_escape(&bytes), "{special:#x} at {at} of {len}");
                }
            }
        }
        for clean in [
            "",
            "plain ASCII text, long enough for words",
            "été 🙂 ~ \u{7f} ÿ",
            " !#$%&'()*+,-./[]^_`{|}",
        ] {
            assert!(!needs_escape(clean.as_bytes()), "{clean}");
        }
    }

    #[test]
    fn json_strings_round_trip() {
        for s in ["plain", "q-été \"quoted\", comma", "tab\tnew\nline\\ \u{1} \u{7f} 🙂"] {
            let mut out = Vec::new();
            write_json_string(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }
}
