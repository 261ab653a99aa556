//! Parquet column chunks, encoded here from [`Fragment`](super::fragment::Fragment) parts.
//!
//! parquet-rs's Arrow writer hashes every text cell into its dictionary and compares it for
//! statistics, on the one thread that writes the file: for the long layout's ten million
//! rows that was most of the run. Here the replay threads have already reduced each chunk's
//! texts to a small dictionary of its own, so a column maps each of those once to its row
//! group's dictionary, packs the keys, and compresses the pages. parquet-rs still writes the
//! page headers, the row groups' metadata and the footer.
//!
//! A [`Pages`] with threads encodes and compresses full pages beside the writing thread.
//! Whether a page is done never decides anything: the open row group's size counts the last
//! [`RECENT_PAGES`] pages at their size before compression (whether compressed yet or not)
//! and waits for the older ones, so row groups end at the same rows whatever the threads.
//!
//! The encodings are those parquet-rs writes in version 1 files: data pages of [`PAGE_ROWS`]
//! rows (its default) with RLE definition levels; text and timestamps as a dictionary page
//! (PLAIN) and RLE_DICTIONARY keys; counts and doubles PLAIN. Pages are cut by row count
//! within the row group, so the file does not depend on how rows arrived in fragments.

use std::collections::VecDeque;
use std::io::Write;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Context;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use rustc_hash::FxHashMap;

use super::fragment::{ColumnKind, Part, Values};
use super::Codec;
use crate::output::spool::push_varint;
use crate::output::Spawn;

/// Rows per data page: parquet-rs's default limit.
pub const PAGE_ROWS: usize = 20_000;

/// Pages counted at their size before compression in a row group's size (see the module
/// doc).
pub const RECENT_PAGES: usize = 16;

/// Compresses pages with the file's codec (zstd level 1, gzip level 6: as parquet-rs does).
pub struct Compressor {
    codec: Codec,
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl Compressor {
    /// A compressor for `codec`.
    pub fn new(codec: Codec) -> anyhow::Result<Compressor> {
        let zstd = match codec {
            Codec::Zstd => Some(zstd::bulk::Compressor::new(1)?),
            _ => None,
        };
        Ok(Compressor { codec, zstd })
    }

    /// `raw`, compressed.
    fn compress(&mut self, raw: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        Ok(match (self.codec, &mut self.zstd) {
            (Codec::Zstd, Some(zstd)) => zstd.compress(&raw)?,
            (Codec::Snappy, _) => snap::raw::Encoder::new().compress_vec(&raw)?,
            (Codec::Gzip, _) => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
                gz.write_all(&raw)?;
                gz.finish()?
            }
            (Codec::Lz4, _) => lz4_flex::block::compress(&raw),
            _ => raw,
        })
    }
}

/// Where full data pages are encoded: here, or on threads of their own.
pub struct Pages {
    compressor: Compressor,
    encoders: Option<EncoderThreads>,
    /// Per page not yet settled, oldest first: its column.
    recent: VecDeque<usize>,
}

/// Threads that encode pages, and the queue they take them from.
struct EncoderThreads {
    jobs: Option<SyncSender<(RawPage, SyncSender<anyhow::Result<Encoded>>)>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pages {
    /// Pages encoded with `codec` on the caller's thread.
    pub fn here(codec: Codec) -> anyhow::Result<Pages> {
        Ok(Pages {
            compressor: Compressor::new(codec)?,
            encoders: None,
            recent: VecDeque::new(),
        })
    }

    /// Pages encoded with `codec` on `threads` threads of their own, each started by `spawn`
    /// (0: on the caller's).
    pub fn new(codec: Codec, threads: usize, spawn: Spawn<()>) -> anyhow::Result<Pages> {
        let encoders = if threads == 0 {
            None
        } else {
            let (jobs, queue) = sync_channel::<(RawPage, SyncSender<anyhow::Result<Encoded>>)>(2 * threads);
            let queue = Arc::new(Mutex::new(queue));
            let threads = (0..threads)
                .map(|_| {
                    let queue = queue.clone();
                    let mut compressor = Compressor::new(codec)?;
                    Ok(spawn(Box::new(move || loop {
                        // The lock is held while waiting only: one thread waits at a time.
                        let job = queue.lock().map(|queue| queue.recv());
                        let Ok(Ok((page, reply))) = job else {
                            return;
                        };
                        // The writer may be gone after an error: nobody to tell.
                        let _ = reply.send(page.encode(&mut compressor));
                    })))
                })
                .collect::<anyhow::Result<_>>()?;
            Some(EncoderThreads {
                jobs: Some(jobs),
                threads,
            })
        };
        Ok(Pages {
            encoders,
            ..Pages::here(codec)?
        })
    }

    /// The codec the pages are compressed with.
    pub fn codec(&self) -> Codec {
        self.compressor.codec
    }

    /// Starts encoding `page`.
    fn encode(&mut self, page: RawPage) -> anyhow::Result<Page> {
        let raw_len = page.len();
        let state = match self.encoders.as_ref().and_then(|encoders| encoders.jobs.as_ref()) {
            Some(jobs) => {
                let (reply, result) = sync_channel(1);
                jobs.send((page, reply))
                    .map_err(|_| anyhow::anyhow!("internal error: the Parquet page threads stopped"))?;
                State::Waiting(result)
            }
            None => State::Done(page.encode(&mut self.compressor)?),
        };
        Ok(Page {
            raw_len,
            state,
            settled: false,
        })
    }
}

impl Drop for EncoderThreads {
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A data page's cells, to be encoded: definition levels, then dictionary keys of `width`
/// bits, or PLAIN values.
#[derive(Default)]
struct RawPage {
    levels: Vec<u8>,
    keys: Vec<u32>,
    plain: Vec<u8>,
    width: Option<u8>,
}

impl RawPage {
    /// About the size of the encoded page before compression.
    fn len(&self) -> usize {
        // Keys take 4 bytes each until the page's width is known.
        self.levels.len() / 8 + self.keys.len() * usize::from(self.width.unwrap_or(32)) / 8 + self.plain.len()
    }

    /// The page with its header, compressed.
    fn encode(&self, compressor: &mut Compressor) -> anyhow::Result<Encoded> {
        let mut raw = Vec::with_capacity(self.len() + 64);
        raw.extend_from_slice(&[0; 4]);
        hybrid(&self.levels, 1, &mut raw);
        let levels_len = (raw.len() - 4) as u32;
        raw[..4].copy_from_slice(&levels_len.to_le_bytes());
        let encoding = match self.width {
            Some(width) => {
                raw.push(width);
                hybrid(&self.keys, width, &mut raw);
                Encoding::RLE_DICTIONARY
            }
            None => {
                raw.extend_from_slice(&self.plain);
                Encoding::PLAIN
            }
        };
        let raw_len = raw.len();
        let page = parquet::column::page::Page::DataPage {
            buf: Bytes::from(compressor.compress(raw)?),
            num_values: self.levels.len() as u32,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let mut bytes = Vec::new();
        let uncompressed = write_page(&mut bytes, page, raw_len)?;
        Ok(Encoded { bytes, uncompressed })
    }
}

/// An encoded page: header and compressed cells, and their size before compression.
struct Encoded {
    bytes: Vec<u8>,
    uncompressed: usize,
}

/// A data page of a column chunk.
struct Page {
    /// [`RawPage::len`].
    raw_len: usize,
    state: State,
    /// Out of the recent pages: counted at its encoded size (see the module doc).
    settled: bool,
}

enum State {
    Waiting(Receiver<anyhow::Result<Encoded>>),
    Done(Encoded),
}

impl Page {
    /// The encoded page, once done.
    fn done(&mut self) -> anyhow::Result<&Encoded> {
        if let State::Waiting(result) = &self.state {
            let encoded = result
                .recv()
                .map_err(|_| anyhow::anyhow!("internal error: a Parquet page thread stopped"))??;
            self.state = State::Done(encoded);
        }
        match &self.state {
            State::Done(encoded) => Ok(encoded),
            State::Waiting(_) => unreachable!("a waiting page was just received"),
        }
    }
}

/// One column's chunk of the open row group.
pub struct ColumnChunk {
    descr: ColumnDescPtr,
    kind: ColumnKind,
    compression: Compression,
    /// The row group's dictionary (text and timestamp columns).
    dictionary: Dictionary,
    /// Per key of the fragment being added, its key in `dictionary` (`u32::MAX`: not yet).
    remap: Vec<u32>,
    /// The page being filled.
    page: RawPage,
    /// The pages done or on their way.
    pages: Vec<Page>,
    /// Pages not yet in [`Pages::recent`].
    unlisted: usize,
    /// The first page not yet settled.
    unsettled: usize,
    rows: usize,
    nulls: usize,
    /// Smallest and largest value of a PLAIN column.
    int_bounds: Option<(i64, i64)>,
    float_bounds: Option<(f64, f64)>,
}

/// A row group's dictionary of one column: its values PLAIN-encoded, as the dictionary
/// page holds them, and found again by value.
#[derive(Default)]
struct Dictionary {
    texts: FxHashMap<Box<[u8]>, u32>,
    times: FxHashMap<i64, u32>,
    plain: Vec<u8>,
    len: u32,
}

impl Dictionary {
    fn text(&mut self, text: &[u8]) -> u32 {
        if let Some(&key) = self.texts.get(text) {
            return key;
        }
        self.plain.extend_from_slice(&(text.len() as u32).to_le_bytes());
        self.plain.extend_from_slice(text);
        self.texts.insert(text.into(), self.len);
        self.len += 1;
        self.len - 1
    }

    fn time(&mut self, millis: i64) -> u32 {
        let next = self.len;
        let key = *self.times.entry(millis).or_insert(next);
        if key == next {
            self.plain.extend_from_slice(&millis.to_le_bytes());
            self.len += 1;
        }
        key
    }

    /// Bits per key: enough for the largest.
    fn width(&self) -> u8 {
        (u32::BITS - self.len.saturating_sub(1).leading_zeros()) as u8
    }
}

impl ColumnChunk {
    /// An empty chunk of the column `descr`, whose cells are of `kind`.
    pub fn new(descr: ColumnDescPtr, kind: ColumnKind, codec: Codec) -> ColumnChunk {
        ColumnChunk {
            descr,
            kind,
            compression: codec.compression(),
            dictionary: Dictionary::default(),
            remap: Vec::new(),
            page: RawPage::default(),
            pages: Vec::new(),
            unlisted: 0,
            unsettled: 0,
            rows: 0,
            nulls: 0,
            int_bounds: None,
            float_bounds: None,
        }
    }

    fn has_dictionary(&self) -> bool {
        matches!(self.kind, ColumnKind::Text | ColumnKind::Time)
    }

    /// Adds the rows `rows` of `part`, whose first value is its `value`th; returns the
    /// index of the value after them. Every call after the first for a part continues where
    /// the last one stopped, unless the row group was closed in between.
    pub fn append(
        &mut self,
        part: &Part,
        rows: Range<usize>,
        mut value: usize,
        pages: &mut Pages,
    ) -> anyhow::Result<usize> {
        if rows.start == 0 || self.rows == 0 {
            // A new fragment, or a new row group: the keys map afresh.
            self.remap.clear();
        }
        let mut at = rows.start;
        while at < rows.end {
            let n = (rows.end - at).min(PAGE_ROWS - self.page.levels.len());
            let levels = &part.levels[at..at + n];
            let defined = defined(levels);
            self.page.levels.extend_from_slice(levels);
            self.nulls += n - defined;
            self.push_values(&part.values, value..value + defined);
            value += defined;
            at += n;
            self.rows += n;
            if self.page.levels.len() == PAGE_ROWS {
                self.flush_page(pages)?;
            }
        }
        Ok(value)
    }

    fn push_values(&mut self, values: &Values, range: Range<usize>) {
        let (remap, dictionary, page) = (&mut self.remap, &mut self.dictionary, &mut self.page);
        match values {
            Values::Texts { keys, ends, bytes } => push_keys(&keys[range], remap, &mut page.keys, ends.len(), |key| {
                dictionary.text(Values::text(ends, bytes, key))
            }),
            Values::Times { keys, distinct } => push_keys(&keys[range], remap, &mut page.keys, distinct.len(), |key| {
                dictionary.time(distinct[key as usize])
            }),
            Values::Ints(values) => {
                let values = &values[range];
                page.plain.reserve(8 * values.len());
                for &v in values {
                    page.plain.extend_from_slice(&v.to_le_bytes());
                }
                if let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) {
                    let (lo, hi) = self.int_bounds.get_or_insert((min, max));
                    *lo = (*lo).min(min);
                    *hi = (*hi).max(max);
                }
            }
            Values::Floats(values) => {
                let values = &values[range];
                page.plain.reserve(8 * values.len());
                for &v in values {
                    page.plain.extend_from_slice(&v.to_le_bytes());
                }
                if let Some(&first) = values.first() {
                    let (min, max) = values
                        .iter()
                        .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                    let (lo, hi) = self.float_bounds.get_or_insert((min, max));
                    *lo = lo.min(min);
                    *hi = hi.max(max);
                }
            }
        }
    }

    /// Hands the page being filled, if it holds a row, to `pages` to encode.
    fn flush_page(&mut self, pages: &mut Pages) -> anyhow::Result<()> {
        if self.page.levels.is_empty() {
            return Ok(());
        }
        // The next page fills as this one did: room for its rows up front.
        let room = RawPage {
            levels: Vec::with_capacity(PAGE_ROWS),
            keys: Vec::with_capacity(self.page.keys.len()),
            plain: Vec::with_capacity(self.page.plain.len()),
            width: None,
        };
        let mut page = std::mem::replace(&mut self.page, room);
        page.width = self.has_dictionary().then(|| self.dictionary.width());
        self.pages.push(pages.encode(page)?);
        self.unlisted += 1;
        Ok(())
    }

    /// Counts the oldest page not yet settled at its encoded size, waiting for it if need be.
    fn settle(&mut self) -> anyhow::Result<()> {
        if let Some(page) = self.pages.get_mut(self.unsettled) {
            page.done()?;
            page.settled = true;
            self.unsettled += 1;
        }
        Ok(())
    }

    /// Bytes held for the open row group: pages (see the module doc), the page being
    /// filled, the dictionary.
    pub fn buffered_bytes(&self) -> usize {
        let pages: usize = self
            .pages
            .iter()
            .map(|page| match (&page.state, page.settled) {
                (State::Done(encoded), true) => encoded.bytes.len(),
                _ => page.raw_len,
            })
            .sum();
        pages + self.page.len() + self.dictionary.plain.len()
    }

    /// Ends the chunk: its bytes (dictionary page first) and what the row group's metadata
    /// says of it. The column is then empty, for the next row group.
    pub fn close(&mut self, pages: &mut Pages) -> anyhow::Result<(Bytes, ColumnCloseResult)> {
        self.flush_page(pages)?;
        let mut chunk = Vec::new();
        let mut uncompressed = 0;
        let dictionary = std::mem::take(&mut self.dictionary);
        let statistics = self.statistics(&dictionary);
        let has_dictionary = self.has_dictionary();
        if has_dictionary {
            let raw_len = dictionary.plain.len();
            let page = parquet::column::page::Page::DictionaryPage {
                buf: Bytes::from(pages.compressor.compress(dictionary.plain)?),
                num_values: dictionary.len,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            uncompressed += write_page(&mut chunk, page, raw_len)?;
        }
        let data_offset = chunk.len();
        for page in &mut self.pages {
            let encoded = page.done()?;
            chunk.extend_from_slice(&encoded.bytes);
            uncompressed += encoded.uncompressed;
        }
        let encodings = if has_dictionary {
            vec![Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY]
        } else {
            vec![Encoding::PLAIN, Encoding::RLE]
        };
        let metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.compression)
            .set_encodings(encodings)
            .set_num_values(self.rows as i64)
            .set_total_compressed_size(chunk.len() as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_data_page_offset(data_offset as i64)
            .set_dictionary_page_offset(has_dictionary.then_some(0))
            .set_statistics(statistics)
            .build()?;
        let close = ColumnCloseResult {
            bytes_written: chunk.len() as u64,
            rows_written: self.rows as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        self.pages.clear();
        self.unlisted = 0;
        self.unsettled = 0;
        self.rows = 0;
        self.nulls = 0;
        self.int_bounds = None;
        self.float_bounds = None;
        Ok((Bytes::from(chunk), close))
    }

    /// The chunk's null count and bounds, as Parquet orders its type: bytes unsigned,
    /// numbers by value (a zero bound is written -0.0 as a minimum and +0.0 as a maximum,
    /// as the format asks of writers).
    fn statistics(&self, dictionary: &Dictionary) -> Statistics {
        let nulls = Some(self.nulls as u64);
        match self.kind {
            ColumnKind::Text => {
                let min = dictionary.texts.keys().min().map(|t| ByteArray::from(t.to_vec()));
                let max = dictionary.texts.keys().max().map(|t| ByteArray::from(t.to_vec()));
                Statistics::new(min, max, None, nulls, false)
            }
            ColumnKind::Time => {
                let min = dictionary.times.keys().min().copied();
                let max = dictionary.times.keys().max().copied();
                Statistics::new(min, max, None, nulls, false)
            }
            ColumnKind::Int => {
                let (min, max) = self.int_bounds.unzip();
                Statistics::new(min, max, None, nulls, false)
            }
            ColumnKind::Float => {
                let (min, max) = self.float_bounds.unzip();
                let min = min.map(|v| if v == 0.0 { -0.0 } else { v });
                let max = max.map(|v| if v == 0.0 { 0.0 } else { v });
                Statistics::new(min, max, None, nulls, false)
            }
        }
    }
}

/// How many of `levels` are 1 (values, not nulls): summed as bytes, 255 at a time, which
/// the compiler vectorizes, where a sum into `usize` went byte by byte.
fn defined(levels: &[u8]) -> usize {
    levels
        .chunks(255)
        .map(|run| usize::from(run.iter().fold(0u8, |sum, &l| sum.wrapping_add(l))))
        .sum()
}

/// Appends the row group's key of each of `keys`, found through `remap` (`u32::MAX`: not
/// yet, then `intern` says; `distinct`: how many keys the part has).
fn push_keys(
    keys: &[u32],
    remap: &mut Vec<u32>,
    out: &mut Vec<u32>,
    distinct: usize,
    mut intern: impl FnMut(u32) -> u32,
) {
    remap.resize(distinct, u32::MAX);
    // One `extend` of a slice's length: a push per key reloaded the page's length and
    // capacity each time, and this loop runs on the writing thread for every cell.
    out.extend(keys.iter().map(|&key| {
        let slot = &mut remap[key as usize];
        if *slot == u32::MAX {
            *slot = intern(key);
        }
        *slot
    }));
}

/// Counts the pages handed over since the last call as recent, and settles the oldest
/// recent pages beyond [`RECENT_PAGES`] (see the module doc).
pub fn settle(chunks: &mut [ColumnChunk], pages: &mut Pages) -> anyhow::Result<()> {
    for (at, chunk) in chunks.iter_mut().enumerate() {
        pages
            .recent
            .extend(std::iter::repeat_n(at, std::mem::take(&mut chunk.unlisted)));
    }
    while pages.recent.len() > RECENT_PAGES {
        if let Some(at) = pages.recent.pop_front() {
            chunks[at].settle()?;
        }
    }
    Ok(())
}

/// Forgets the recent pages, all settled by their chunks' close.
pub fn closed(pages: &mut Pages) {
    pages.recent.clear();
}

/// Writes `page` (whose buffer was `raw_len` bytes before compression) after `out`, with
/// its header; returns its size before compression, header included.
fn write_page(out: &mut Vec<u8>, page: parquet::column::page::Page, raw_len: usize) -> anyhow::Result<usize> {
    let mut sink = TrackedWrite::new(out);
    let spec = SerializedPageWriter::new(&mut sink).write_page(CompressedPage::new(page, raw_len))?;
    sink.into_inner().context("cannot write a Parquet page")?;
    Ok(spec.uncompressed_size)
}

/// Bit-packed runs hold at most this many groups of 8 values, as other writers' do.
const MAX_GROUPS: usize = 63;

/// Appends `values` in Parquet's RLE / bit-packing hybrid encoding, `width` bits each:
/// runs of 8 or more equal values (once the values before them fill whole groups of 8) as
/// RLE runs, the rest bit-packed.
fn hybrid<T: Copy + Eq + Into<u64>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    if let Some(&first) = values.first() {
        // The common case of a page without nulls (or of one key), quickly.
        if values.iter().all(|&v| v == first) {
            push_varint(out, (values.len() as u64) << 1);
            out.extend_from_slice(&first.into().to_le_bytes()[..usize::from(width).div_ceil(8)]);
            return;
        }
    }
    // Values from here on wait to be bit-packed.
    let mut literal = 0;
    let mut at = 0;
    while at < values.len() {
        let v = values[at];
        let end = values[at..]
            .iter()
            .position(|&x| x != v)
            .map_or(values.len(), |n| at + n);
        // The run first tops the waiting values up to whole groups.
        let fill = (8 - (at - literal) % 8) % 8;
        if end - at >= fill + 8 {
            bit_pack(&values[literal..at + fill], width, out);
            push_varint(out, ((end - at - fill) as u64) << 1);
            let bytes = v.into().to_le_bytes();
            out.extend_from_slice(&bytes[..usize::from(width).div_ceil(8)]);
            literal = end;
        }
        at = end;
    }
    bit_pack(&values[literal..], width, out);
}

/// Appends `values` as bit-packed runs; only the last group may be short, padded with zeros.
fn bit_pack<T: Copy + Into<u64>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    for run in values.chunks(MAX_GROUPS * 8) {
        let groups = run.len().div_ceil(8);
        push_varint(out, (groups as u64) << 1 | 1);
        let (mut bits, mut filled) = (0u64, 0u8);
        let mut pack = |v: u64| {
            bits |= v << filled;
            filled += width;
            while filled >= 8 {
                out.push(bits as u8);
                bits >>= 8;
                filled -= 8;
            }
        };
        let padding = groups * 8 - run.len();
        run.iter()
            .map(|&v| v.into())
            .chain(std::iter::repeat_n(0, padding))
            .for_each(&mut pack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the hybrid encoding of `count` values, as the format describes it.
    fn unhybrid(mut bytes: &[u8], width: u8, count: usize) -> Vec<u64> {
        let mut values = Vec::new();
        while values.len() < count {
            let (mut header, mut shift) = (0u64, 0);
            loop {
                let b = bytes[0];
                bytes = &bytes[1..];
                header |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            if header & 1 == 0 {
                let n = usize::from(width).div_ceil(8);
                let mut v = [0u8; 8];
                v[..n].copy_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                values.extend(std::iter::repeat_n(u64::from_le_bytes(v), (header >> 1) as usize));
            } else {
                let n = (header >> 1) as usize * 8;
                let mut bit = 0usize;
                for _ in 0..n {
                    let mut v = 0u64;
                    for k in 0..usize::from(width) {
                        let b = bit + k;
                        v |= u64::from(bytes[b / 8] >> (b % 8) & 1) << k;
                    }
                    bit += usize::from(width);
                    values.push(v);
                }
                bytes = &bytes[n * usize::from(width) / 8..];
            }
        }
        assert!(bytes.is_empty(), "{} bytes left over", bytes.len());
        values.truncate(count);
        values
    }

    #[test]
    fn the_hybrid_encoding_decodes_to_its_values() {
        let mut cases: Vec<(Vec<u32>, u8)> = vec![
            (vec![], 1),
            (vec![0; 5], 0),
            (vec![1; 20_000], 1),
            ((0..1000).map(|n| n % 7).collect(), 3),
            ((0..1000).map(|n| (n / 13) % 5).collect(), 3),
            ((0..3000).map(|n| u32::from(n % 97 > 40)).collect(), 1),
            (vec![u32::MAX, 0, u32::MAX], 32),
        ];
        // Runs of every length next to literals of every length.
        for lit in 0..10 {
            for run in 0..20 {
                let mut values: Vec<u32> = (0..lit).map(|n| n % 2).collect();
                values.extend(std::iter::repeat_n(3, run));
                values.extend([1, 2]);
                cases.push((values, 2));
            }
        }
        for (values, width) in cases {
            let mut out = Vec::new();
            hybrid(&values, width, &mut out);
            let want: Vec<u64> = values.iter().map(|&v| u64::from(v)).collect();
            assert_eq!(unhybrid(&out, width, values.len()), want, "{values:?}");
        }
    }

    #[test]
    fn long_runs_take_a_few_bytes() {
        let mut out = Vec::new();
        let mut values = vec![2u32; 10_000];
        values.extend([5u32; 10_000]);
        hybrid(&values, 3, &mut out);
        assert!(out.len() <= 8, "{} bytes", out.len());
    }

    #[test]
    fn dictionary_width_fits_its_largest_key() {
        let mut dictionary = Dictionary::default();
        let widths: Vec<u8> = (0..5)
            .map(|n| {
                dictionary.time(n);
                dictionary.width()
            })
            .collect();
        assert_eq!(widths, [0, 1, 2, 2, 3]);
        assert_eq!(dictionary.time(3), 3);
        assert_eq!(dictionary.text(b"a"), 5);
        assert_eq!(dictionary.text(b"a"), 5);
        assert_eq!(dictionary.len, 6);
    }
}
