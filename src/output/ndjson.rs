//! NDJSON rows: one object per line, keys in the row's order, numbers as the input spelled
//! them.

use std::io::Write;

use super::long::{Expand, LongRow, SlotLabels};
use super::{has_any, Append, BufferPool, Cell, Output, Render, RowSink, RowWriter, BLOCK};
use crate::columns::{ColumnId, Columns, IdMap, LongColumns, FIRST_SLOT};

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

/// Long rows come from the workers as [`LongParts`]: each entity's head rendered once, and
/// its values, made into rows here.
impl Append<LongPart> for Expand<NdjsonWriter> {
    fn append(&mut self, columns: &Columns, _: usize, map: &IdMap, part: LongPart) -> anyhow::Result<()> {
        let writer = self.inner_mut();
        let written = writer.long_part(columns, map, &part.0);
        writer.pool.put(part.0);
        written
    }
}

impl NdjsonWriter {
    /// Writes the rows of a worker's [`LongPart`], whose slots `map` turns into the run's.
    fn long_part(&mut self, columns: &Columns, map: &IdMap, mut part: &[u8]) -> anyhow::Result<()> {
        let (Some(out), Some(long)) = (self.out.as_mut(), columns.long_columns()) else {
            anyhow::bail!("internal error: long rows appended to a writer that keeps its own");
        };
        while !part.is_empty() {
            let head = take_bytes(&mut part)?;
            for _ in 0..take_u32(&mut part)? {
                let slot = FIRST_SLOT + take_u32(&mut part)? as usize;
                let value = take_bytes(&mut part)?;
                let slot = map.get(slot).ok_or_else(cut_short)?;
                let labels = self.labels.get(slot, || slot_labels(columns, long, slot));
                let block = &mut self.block;
                block.extend_from_slice(head);
                block.extend_from_slice(labels);
                block.extend_from_slice(value);
                block.extend_from_slice(b"}\n");
                if block.len() >= BLOCK {
                    out.write_all(block)?;
                    block.clear();
                }
            }
        }
        // The next row shares nothing with these.
        self.ends.clear();
        self.last = self.block.len();
        Ok(())
    }
}

fn cut_short() -> anyhow::Error {
    anyhow::anyhow!("internal error: a worker's long rows are cut short")
}

/// Takes a 4-byte number off the front of `part`.
fn take_u32(part: &mut &[u8]) -> anyhow::Result<u32> {
    let (n, rest) = part.split_first_chunk::<4>().ok_or_else(cut_short)?;
    *part = rest;
    Ok(u32::from_le_bytes(*n))
}

/// Takes a 4-byte length and that many bytes off the front of `part`.
fn take_bytes<'p>(part: &mut &'p [u8]) -> anyhow::Result<&'p [u8]> {
    let len = take_u32(part)? as usize;
    let (bytes, rest) = part.split_at_checked(len).ok_or_else(cut_short)?;
    *part = rest;
    Ok(bytes)
}

/// The rendered `"metric":…,` labels of a long-layout slot, up to the `"value":` key.
fn slot_labels(columns: &Columns, long: LongColumns, slot: ColumnId) -> Vec<u8> {
    let mut labels = Vec::new();
    for (id, text) in long.labels(columns.slot(slot)) {
        if let Some(text) = text {
            labels.extend_from_slice(&columns.get(id).json_key);
            write_json_string(&mut labels, text);
            labels.push(b',');
        }
    }
    labels.extend_from_slice(&columns.get(long.value()).json_key);
    labels
}

/// Renders a worker's long records for [`NdjsonWriter`] to make rows of, on the main thread:
/// rendered here whole, a page of long rows can be ten times the page, and the pages in
/// flight would hold it all in memory. What it keeps is about the page's size, and the
/// main thread only copies: each entity's head is rendered once here, with its values.
pub struct LongParts {
    pool: BufferPool,
    part: Vec<u8>,
}

/// The long records of a batch of pages, as [`LongParts`] renders them: per entity with a
/// value, its head (`{` and each head cell's `"key":value,`), the number of its values, then
/// each value's slot (less [`FIRST_SLOT`]) and JSON text; lengths, counts and slots as
/// 4-byte little-endian numbers.
pub struct LongPart(Vec<u8>);

impl LongParts {
    /// A renderer in buffers from `pool`.
    pub fn new(pool: BufferPool) -> LongParts {
        LongParts { part: pool.get(), pool }
    }
}

/// `n` as a 4-byte length, count or slot of a [`LongPart`].
fn u32_of(n: usize) -> anyhow::Result<[u8; 4]> {
    let n = u32::try_from(n).map_err(|_| anyhow::anyhow!("internal error: a long record of over 4 GB"))?;
    Ok(n.to_le_bytes())
}

/// Appends `n` as 4 bytes.
fn push_u32(out: &mut Vec<u8>, n: usize) -> anyhow::Result<()> {
    out.extend_from_slice(&u32_of(n)?);
    Ok(())
}

/// Renders into `out` with `render` after a 4-byte length, then sets the length.
fn push_sized(out: &mut Vec<u8>, render: impl FnOnce(&mut Vec<u8>)) -> anyhow::Result<()> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    render(out);
    let len = u32_of(out.len() - at - 4)?;
    out[at..at + 4].copy_from_slice(&len);
    Ok(())
}

impl RowSink for LongParts {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], _: usize) -> anyhow::Result<()> {
        let head = cells
            .iter()
            .position(|&(id, _)| id >= FIRST_SLOT)
            .unwrap_or(cells.len());
        if head == cells.len() {
            return Ok(()); // No value: no row.
        }
        let part = &mut self.part;
        push_sized(part, |part| {
            part.push(b'{');
            for (i, &(id, cell)) in cells[..head].iter().enumerate() {
                if i > 0 {
                    part.push(b',');
                }
                part.extend_from_slice(&columns.get(id).json_key);
                write_cell(part, cell);
            }
            if head > 0 {
                part.push(b',');
            }
        })?;
        push_u32(part, cells.len() - head)?;
        for &(slot, value) in &cells[head..] {
            push_u32(part, slot - FIRST_SLOT)?;
            push_sized(part, |part| write_cell(part, value))?;
        }
        Ok(())
    }
}

impl Render for LongParts {
    type Part = LongPart;

    fn take(&mut self) -> anyhow::Result<LongPart> {
        Ok(LongPart(std::mem::replace(&mut self.part, self.pool.get())))
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
        let labels = self.labels.get(row.slot, || slot_labels(columns, long, row.slot));
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
