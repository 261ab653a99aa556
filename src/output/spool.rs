//! Rows kept in a temporary file until every column is known.
//!
//! CSV (and Parquet) need the whole column set before their first row, and the column set
//! is only known at the end of the input. Rather than parse the input twice, rows go to a
//! spool in a compact binary form, then are replayed into the real writer under the final
//! header. Memory stays bounded; the spool file is deleted when dropped.
//!
//! A record is its length, then `shared`, `count`, and for each of `count` cells its
//! `id·4+kind` and text length (all LEB128 varints), then the cells' texts back to back; a
//! row's shared head is stored once, with its first row, and taken from there by the rows
//! that follow.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use super::{recycle, Cell, RowWriter};
use crate::columns::{ColumnId, Columns};

/// A [`RowWriter`] that keeps rows for [`Spool::replay`].
pub struct Spool {
    file: BufWriter<File>,
    record: Vec<u8>,
}

impl Spool {
    /// A spool in a new anonymous temporary file.
    pub fn new() -> anyhow::Result<Spool> {
        let file = tempfile::tempfile().map_err(|e| anyhow::anyhow!("cannot create a temporary file for rows: {e}"))?;
        Ok(Spool {
            file: BufWriter::with_capacity(1 << 20, file),
            record: Vec::new(),
        })
    }

    /// Writes every kept row, in order, to `out`.
    pub fn replay(self, columns: &Columns, out: &mut dyn RowWriter) -> anyhow::Result<()> {
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut record = Vec::new();
        let mut meta = Vec::new();
        // The cells of the last row that started a head, kept for the rows sharing it.
        let (mut head_meta, mut head_text) = (Vec::new(), String::new());
        let mut spare = Vec::new();
        loop {
            let Some(len) = read_varint(&mut reader)? else {
                return Ok(());
            };
            record.resize(len as usize, 0);
            reader.read_exact(&mut record)?;
            let (shared, text) = parse_record(&record, &mut meta)?;
            let shared = shared as usize;
            if shared == 0 {
                std::mem::swap(&mut head_meta, &mut meta);
                head_text.clear();
                head_text.push_str(text);
            }
            let mut row = recycle(std::mem::take(&mut spare));
            let head_cells = if shared == 0 {
                head_meta.len()
            } else {
                shared.min(head_meta.len())
            };
            push_cells(&head_meta[..head_cells], &head_text, &mut row)?;
            if shared > 0 {
                push_cells(&meta, text, &mut row)?;
            }
            out.row(columns, &row, shared)?;
            spare = recycle(row);
        }
    }
}

/// Reads a record's shared count and cell tags and lengths into `meta`; returns the shared
/// count and the cells' text, checked as UTF-8 once for the whole row.
fn parse_record<'a>(record: &'a [u8], meta: &mut Vec<(u64, usize)>) -> io::Result<(u64, &'a str)> {
    let (shared, rest) = varint(record)?;
    let (count, mut rest) = varint(rest)?;
    meta.clear();
    for _ in 0..count {
        let (tag, after_tag) = varint(rest)?;
        let (len, after_len) = varint(after_tag)?;
        rest = after_len;
        meta.push((tag, len as usize));
    }
    let total = meta.iter().map(|&(_, len)| len).sum::<usize>();
    let text = std::str::from_utf8(rest.get(..total).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
    Ok((shared, text))
}

/// Appends the cells described by `meta`, whose texts lie back to back in `text`.
fn push_cells<'a>(meta: &[(u64, usize)], mut text: &'a str, cells: &mut Vec<(ColumnId, Cell<'a>)>) -> io::Result<()> {
    for &(tag, len) in meta {
        let (cell_text, after) = text.split_at_checked(len).ok_or_else(corrupt)?;
        text = after;
        let cell = match tag & 3 {
            TEXT => Cell::Text(cell_text),
            RAW => Cell::Raw(cell_text),
            NULL => Cell::Null,
            _ => return Err(corrupt()),
        };
        cells.push(((tag >> 2) as ColumnId, cell));
    }
    Ok(())
}

const TEXT: u64 = 0;
const RAW: u64 = 1;
const NULL: u64 = 2;

fn kind_and_text(cell: Cell<'_>) -> (u64, &str) {
    match cell {
        Cell::Text(s) => (TEXT, s),
        Cell::Raw(s) => (RAW, s),
        Cell::Null => (NULL, ""),
    }
}

fn corrupt() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "the temporary row file is corrupt")
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(bytes: &[u8]) -> io::Result<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok((v, &bytes[i + 1..]));
        }
    }
    Err(corrupt())
}

fn read_varint(reader: &mut impl Read) -> io::Result<Option<u64>> {
    let mut v = 0u64;
    for i in 0..10 {
        let mut byte = [0u8];
        if reader.read(&mut byte)? == 0 {
            return if i == 0 { Ok(None) } else { Err(corrupt()) };
        }
        v |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] < 0x80 {
            return Ok(Some(v));
        }
    }
    Err(corrupt())
}

impl RowWriter for Spool {
    fn row(&mut self, _: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        let record = &mut self.record;
        record.clear();
        push_varint(record, shared as u64);
        push_varint(record, (cells.len() - shared) as u64);
        for &(id, cell) in &cells[shared..] {
            let (kind, s) = kind_and_text(cell);
            push_varint(record, (id as u64) << 2 | kind);
            push_varint(record, s.len() as u64);
        }
        for &(_, cell) in &cells[shared..] {
            record.extend_from_slice(kind_and_text(cell).1.as_bytes());
        }
        let mut len = Vec::with_capacity(5);
        push_varint(&mut len, record.len() as u64);
        self.file.write_all(&len)?;
        self.file.write_all(record)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.file.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the rows it is given, with their shared counts.
    #[derive(Default)]
    struct Rows(Vec<String>);

    impl RowWriter for Rows {
        fn row(&mut self, _: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
            self.0.push(format!("{shared} {cells:?}"));
            Ok(())
        }
        fn finish(self: Box<Self>) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn replays_rows_and_shared_heads_as_written() {
        let columns = Columns::default();
        let rows: Vec<(Vec<(ColumnId, Cell)>, usize)> = vec![
            (
                vec![
                    (0, Cell::Text("q-été, \"x\"")),
                    (300, Cell::Raw("1.5e3")),
                    (2, Cell::Null),
                ],
                0,
            ),
            (
                vec![
                    (0, Cell::Text("q-été, \"x\"")),
                    (300, Cell::Raw("7")),
                    (5, Cell::Raw("0")),
                ],
                1,
            ),
            (vec![(0, Cell::Text("q-été, \"x\"")), (300, Cell::Raw("8"))], 1),
            (vec![], 0),
            (vec![(1, Cell::Text(""))], 0),
        ];
        let mut spool = Spool::new().unwrap();
        let mut expected = Rows::default();
        for (cells, shared) in &rows {
            spool.row(&columns, cells, *shared).unwrap();
            expected.row(&columns, cells, *shared).unwrap();
        }
        let mut replayed = Rows::default();
        spool.replay(&columns, &mut replayed).unwrap();
        assert_eq!(replayed.0, expected.0);
    }
}
