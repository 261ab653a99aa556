//! Rows kept in a temporary file until every column is known.
//!
//! CSV (and Parquet) need the whole column set before their first row, and the column set
//! is only known at the end of the input. Rather than parse the input twice, rows go to a
//! spool in a compact binary form, then are replayed into the real writer under the final
//! header. Memory stays bounded; the spool file is deleted when dropped.
//!
//! The file is a series of segments of about [`SEGMENT_BYTES`], each starting with a row that
//! shares nothing with the row before it, so any segment can be replayed on its own: that lets
//! the segments be rendered on several threads and written in order (see [`Stored`]).
//! A segment is the length of its records (4 bytes, little-endian), its records, then the
//! texts of all their cells back to back, checked as UTF-8 once per segment. A record is
//! `shared`, `count`, and for each of `count` cells its `key·4+kind` and text length (all
//! LEB128 varints), where the key of a column is its id·2 and that of a long-layout slot its
//! number among the slots·2+1 (a byte or two, where the slot's id would take five); a row's
//! shared head is stored once, with its first row, and taken from there by the rows that
//! follow.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;

use super::{Append, BufferPool, Cell, Render, RowSink, Spawn};
use crate::columns::{ColumnId, Columns, IdMap, FIRST_SLOT};

/// A segment is closed at the first row starting a new head once it holds this many bytes.
pub const SEGMENT_BYTES: usize = 1 << 20;

/// A [`RowSink`] that keeps rows for [`Spool::replay`].
pub struct Spool {
    file: Writer,
    /// The segment being filled.
    rows: Segments,
    /// Every segment written to `file`, in order.
    index: Vec<Placed>,
}

/// A segment in the file: its length, and the worker whose column ids it holds (see
/// [`Append`]); `None`: the run's own.
type Placed = (usize, Option<usize>);

/// Rows encoded as segments in memory: the [`Spool`]'s own, and those a worker thread makes of
/// its pages for [`Append`].
#[derive(Default)]
pub struct Segments {
    /// The records of the segment being filled.
    records: Vec<u8>,
    /// The texts of the segment being filled.
    texts: Vec<u8>,
    /// Segments completed, not yet taken.
    done: Vec<Segment>,
    /// Where the buffers of the next segment come from (and written ones go back to).
    pool: BufferPool,
    segment_bytes: usize,
}

impl Segments {
    /// Segments in buffers from `pool`, closed at the first row starting a new head past
    /// `segment_bytes`.
    pub fn new(pool: BufferPool, segment_bytes: usize) -> Segments {
        Segments {
            pool,
            segment_bytes,
            ..Segments::default()
        }
    }

    /// Closes the segment being filled, if it holds anything.
    fn end_segment(&mut self) -> anyhow::Result<()> {
        if !self.records.is_empty() {
            let len = u32::try_from(self.records.len())?;
            let records = std::mem::replace(&mut self.records, self.pool.get());
            let texts = std::mem::replace(&mut self.texts, self.pool.get());
            self.done.push(Segment { len, records, texts });
        }
        Ok(())
    }
}

impl RowSink for Segments {
    fn row(&mut self, _: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        if shared == 0 && self.records.len() + self.texts.len() >= self.segment_bytes {
            self.end_segment()?;
        }
        let record = &mut self.records;
        push_varint(record, shared as u64);
        push_varint(record, (cells.len() - shared) as u64);
        for &(id, cell) in &cells[shared..] {
            let (kind, s) = kind_and_text(cell);
            push_varint(record, key_of(id) << 2 | kind);
            push_varint(record, s.len() as u64);
            self.texts.extend_from_slice(s.as_bytes());
        }
        Ok(())
    }

    /// A page's rows end their segment, as in the [`Spool`]'s own.
    fn end_page(&mut self) -> anyhow::Result<()> {
        self.end_segment()
    }
}

impl Render for Segments {
    type Part = Vec<Segment>;

    /// The segments of every row since the last call.
    fn take(&mut self) -> anyhow::Result<Vec<Segment>> {
        self.end_segment()?;
        Ok(std::mem::take(&mut self.done))
    }
}

impl Spool {
    /// A spool in a new anonymous temporary file, written on a thread `spawn` starts; the
    /// buffers of written segments go back to `pool`.
    pub fn new(pool: BufferPool, spawn: Spawn<io::Result<File>>) -> anyhow::Result<Spool> {
        Spool::with_segment_bytes(pool, SEGMENT_BYTES, spawn)
    }

    /// A spool whose segments close at the first row starting a new head past
    /// `segment_bytes` (a spool of many segments from few rows, for tests of their order).
    pub fn with_segment_bytes(
        pool: BufferPool,
        segment_bytes: usize,
        spawn: Spawn<io::Result<File>>,
    ) -> anyhow::Result<Spool> {
        let file = crate::interrupt::scratch_file()
            .map_err(|e| anyhow::anyhow!("cannot create a temporary file for rows: {e}"))?;
        Ok(Spool {
            file: Writer::start(file, pool.clone(), spawn),
            rows: Segments::new(pool, segment_bytes),
            index: Vec::new(),
        })
    }

    /// Hands the completed segments of `rows` to the file, `worker`'s ids in them.
    fn send_done(&mut self, worker: Option<usize>) -> anyhow::Result<()> {
        for segment in std::mem::take(&mut self.rows.done) {
            self.index
                .push((4 + segment.records.len() + segment.texts.len(), worker));
            self.file.write(segment)?;
        }
        Ok(())
    }

    /// Ends the last segment and waits for every segment to be in the file, to be read back.
    pub fn store(mut self) -> anyhow::Result<Stored> {
        self.end_page()?;
        let file = self.file.join()?;
        let mut at = 0u64;
        let segments = self
            .index
            .iter()
            .map(|&(len, worker)| {
                let start = at;
                at += len as u64;
                (start, len, worker)
            })
            .collect();
        Ok(Stored {
            file: Mutex::new(file),
            segments,
        })
    }

    /// Writes every kept row, in order, to `out`; `maps`: as for [`Append`].
    pub fn replay(self, columns: &Columns, maps: &[IdMap], out: &mut dyn RowSink) -> anyhow::Result<()> {
        let stored = self.store()?;
        let mut buffer = Vec::new();
        for at in 0..stored.len() {
            stored.rows(at, maps, &mut buffer, |cells, shared| out.row(columns, cells, shared))?;
        }
        Ok(())
    }
}

/// A spool's segments, all in its file: read back one at a time, in any order and from any
/// thread.
pub struct Stored {
    file: Mutex<File>,
    /// Per segment: where it starts in the file, its length, and whose column ids it holds.
    segments: Vec<(u64, usize, Option<usize>)>,
}

impl Stored {
    /// The number of segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// The size in bytes of segment `at`.
    pub fn segment_len(&self, at: usize) -> usize {
        self.segments.get(at).map_or(0, |&(_, len, _)| len)
    }

    /// Reads segment `at` into `buffer` and calls `row` with each of its rows and its shared
    /// count; `maps`: as for [`Append`].
    pub fn rows(
        &self,
        at: usize,
        maps: &[IdMap],
        buffer: &mut Vec<u8>,
        row: impl FnMut(&[(ColumnId, Cell<'_>)], usize) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let &(start, len, worker) = self.segments.get(at).ok_or_else(corrupt)?;
        read_segment(&self.file, start, len, buffer)?;
        for_each_row(buffer, map_of(maps, worker)?, row)
    }
}

/// A segment on its way to the file: the length of its records, its records, its texts.
pub struct Segment {
    len: u32,
    records: Vec<u8>,
    texts: Vec<u8>,
}

/// Writes the spool's segments to its file on a thread of its own, so the thread that parses
/// and flattens never waits on the file system; segment buffers go back to the pool.
struct Writer {
    segments: Option<SyncSender<Segment>>,
    thread: Option<JoinHandle<io::Result<File>>>,
}

impl Writer {
    fn start(mut file: File, pool: BufferPool, spawn: Spawn<io::Result<File>>) -> Writer {
        let (segments, to_write) = sync_channel::<Segment>(1);
        let thread = spawn(Box::new(move || {
            for Segment { len, records, texts } in to_write {
                file.write_all(&len.to_le_bytes())?;
                file.write_all(&records)?;
                file.write_all(&texts)?;
                pool.put(records);
                pool.put(texts);
            }
            Ok(file)
        }));
        Writer {
            segments: Some(segments),
            thread: Some(thread),
        }
    }

    /// Hands a segment to the writing thread.
    fn write(&mut self, segment: Segment) -> anyhow::Result<()> {
        let sent = self
            .segments
            .as_ref()
            .is_some_and(|segments| segments.send(segment).is_ok());
        if !sent {
            // The thread stopped at a write error: its result says which.
            self.join()?;
            anyhow::bail!("internal error: the temporary row file's writer stopped");
        }
        Ok(())
    }

    /// Waits for every segment handed over to be written; returns the file.
    fn join(&mut self) -> anyhow::Result<File> {
        self.segments = None;
        let thread = self
            .thread
            .take()
            .ok_or_else(|| anyhow::anyhow!("internal error: the temporary row file is closed"))?;
        let file = thread
            .join()
            .map_err(|_| anyhow::anyhow!("internal error: the temporary row file's writer panicked"))?;
        file.map_err(|e| anyhow::anyhow!("cannot write the temporary file for rows: {e}"))
    }
}

fn read_segment(file: &Mutex<File>, start: u64, len: usize, segment: &mut Vec<u8>) -> anyhow::Result<()> {
    segment.resize(len, 0);
    let mut file = file
        .lock()
        .map_err(|_| anyhow::anyhow!("internal error: the row file lock is poisoned"))?;
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(segment)?;
    Ok(())
}

/// The id map of segments holding `worker`'s ids (`None`: the run's own, kept as they are).
fn map_of(maps: &[IdMap], worker: Option<usize>) -> io::Result<Option<&IdMap>> {
    worker.map(|w| maps.get(w).ok_or_else(corrupt)).transpose()
}

/// Calls `row` with each row of `segment` and its shared count; `map` turns the segment's
/// column ids into the run's.
fn for_each_row<'c>(
    segment: &'c [u8],
    map: Option<&IdMap>,
    row: impl FnMut(&[(ColumnId, Cell<'c>)], usize) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (len, rest) = segment.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let (records, texts) = rest
        .split_at_checked(u32::from_le_bytes(*len) as usize)
        .ok_or_else(corrupt)?;
    let texts = std::str::from_utf8(texts).map_err(|_| corrupt())?;
    for_each_record(records, texts, map, row)
}

/// [`for_each_row`] of a segment's records and texts.
fn for_each_record<'c>(
    mut records: &[u8],
    mut texts: &'c str,
    map: Option<&IdMap>,
    mut row: impl FnMut(&[(ColumnId, Cell<'c>)], usize) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut row_cells = Vec::new();
    // The cells of the last row that started a head, kept for the rows sharing it.
    let mut head: Vec<(ColumnId, Cell<'c>)> = Vec::new();
    while !records.is_empty() {
        let (shared, rest) = varint(records)?;
        let shared = shared as usize;
        let cells = if shared == 0 {
            head.clear();
            &mut head
        } else {
            row_cells.clear();
            row_cells.extend_from_slice(&head[..shared.min(head.len())]);
            &mut row_cells
        };
        records = push_cells(rest, &mut texts, map, cells)?;
        row(cells, shared)?;
    }
    Ok(())
}

/// Appends the cells of one record (`count`, then each cell's tag and length) to `cells`,
/// taking their texts from the front of `texts`; returns the records after it.
fn push_cells<'a, 'r>(
    record: &'r [u8],
    texts: &mut &'a str,
    map: Option<&IdMap>,
    cells: &mut Vec<(ColumnId, Cell<'a>)>,
) -> io::Result<&'r [u8]> {
    let (count, mut rest) = varint(record)?;
    for _ in 0..count {
        let (tag, after_tag) = varint(rest)?;
        let (len, after_len) = varint(after_tag)?;
        rest = after_len;
        let (text, after) = texts.split_at_checked(len as usize).ok_or_else(corrupt)?;
        *texts = after;
        let cell = match tag & 3 {
            TEXT => Cell::Text(text),
            RAW => Cell::Raw(text),
            NULL => Cell::Null,
            _ => return Err(corrupt()),
        };
        let id = id_of(tag >> 2)?;
        let id = match map {
            Some(map) => map.get(id).ok_or_else(corrupt)?,
            None => id,
        };
        cells.push((id, cell));
    }
    Ok(rest)
}

const TEXT: u64 = 0;
const RAW: u64 = 1;
const NULL: u64 = 2;

/// The key a cell's column or slot is stored under (see the module's notes).
fn key_of(id: ColumnId) -> u64 {
    match id.checked_sub(FIRST_SLOT) {
        Some(slot) => (slot as u64) << 1 | 1,
        None => (id as u64) << 1,
    }
}

/// The column or slot of a stored key.
fn id_of(key: u64) -> io::Result<ColumnId> {
    let n = (key >> 1) as ColumnId;
    if key & 1 == 1 {
        FIRST_SLOT.checked_add(n).ok_or_else(corrupt)
    } else {
        Ok(n)
    }
}

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

pub(crate) fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(bytes: &[u8]) -> io::Result<(u64, &[u8])> {
    // Most are a byte long: a length, a count, a column among the first few.
    if let Some((&b, rest)) = bytes.split_first().filter(|(&b, _)| b < 0x80) {
        return Ok((u64::from(b), rest));
    }
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok((v, &bytes[i + 1..]));
        }
    }
    Err(corrupt())
}

/// Segments a worker thread made go after the rows kept so far; their column ids are that
/// worker's registry's, turned into the run's by `maps[worker]` on replay.
impl Append<Vec<Segment>> for Spool {
    fn append(&mut self, _: &Columns, worker: usize, _: &IdMap, segments: Vec<Segment>) -> anyhow::Result<()> {
        self.end_page()?;
        self.rows.done = segments;
        self.send_done(Some(worker))
    }
}

impl RowSink for Spool {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.rows.row(columns, cells, shared)?;
        self.send_done(None)
    }

    /// A page's rows end their segment, wherever the page was flattened: the segments, hence
    /// the Parquet fragments and files, are then the same whatever the thread count.
    fn end_page(&mut self) -> anyhow::Result<()> {
        self.rows.end_segment()?;
        self.send_done(None)
    }
}
