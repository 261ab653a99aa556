//! Splitting a source into pages, on a thread of its own (the pipeline's scheduler starts it).
//!
//! The splitter reads (and gunzips) the source, skips the BOM and the whitespace between
//! documents, unwraps one top-level array of pages, and finds where each page ends with a
//! structural scan (braces and strings only, 64 bytes at a time). It sends whole pages on in
//! batches (see [`Batch`]), to be parsed by a worker thread or the main thread. A page that
//! outgrows the buffer limit is cut ([`Window`], read by `fast::cut_page`): its elements go
//! into the same batches, each one a [`Part`] parsed on its own. Reading, decompressing and
//! scanning thus run beside the parsing; the bounded channel keeps memory to a few batches.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, LazyLock};

use memchr::memmem;

use super::lanes::mask16;
use super::{byte_table, describe_start, located, read_error, Part, Pos};

/// What the splitter sends to the parsing thread.
pub(crate) enum Piece {
    /// Whole pages or parts of pages, one or more.
    Pages(Batch),
    /// The source could not be read, or is not a sequence of pages.
    Failed(anyhow::Error),
}

/// A batch is sent once it holds this many bytes (each hand-off wakes two threads: at 64 KiB,
/// a 1 GB page made 16,000 of them, and the wake-ups cost 7% of the run's CPU time)...
const BATCH_BYTES: usize = 512 << 10;

/// ...or this many pages.
const BATCH_PAGES: usize = 4096;

/// Whole pages (or parts of a cut page) back to back in one buffer, with where each one
/// ends. Pages travel between threads in batches of at least [`BATCH_BYTES`] or
/// [`BATCH_PAGES`] (a batch ends early only before an error or the end of the source): one
/// hand-off costs as much as parsing a few thousand bytes, so a page each made tiny pages
/// ten times slower. Each page keeps its own position and number, so a failure is reported
/// exactly as before.
#[derive(Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    pages: Vec<Placed>,
}

/// One page or part of a [`Batch`]: where it starts in the source, its page's number there,
/// where its bytes end in the batch, what it is, and whether its page ends with it.
struct Placed {
    start: Pos,
    page: u64,
    end: usize,
    observed: Option<Arc<str>>,
    part: Part,
    last: bool,
}

/// One page of a [`Batch`], as [`Batch::pages`] gives it.
pub(super) struct PageBytes<'a> {
    /// Where the page starts in the source.
    pub start: Pos,
    /// Its number in the source, from 1.
    pub page: u64,
    /// The page.
    pub bytes: &'a [u8],
    /// When its observations were observed: the time of the last envelope before it.
    pub observed: Option<&'a str>,
    /// What it is: a page, or a part of one.
    pub part: &'a Part,
    /// Whether its page ends with it.
    pub last: bool,
}

impl Batch {
    /// How many pages end in it.
    pub(crate) fn len(&self) -> usize {
        self.pages.iter().filter(|p| p.last).count()
    }

    /// How many bytes its pages hold.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Its pages, in order.
    pub(super) fn pages(&self) -> impl Iterator<Item = PageBytes<'_>> {
        let mut from = 0;
        self.pages.iter().map(move |p| {
            let bytes = &self.bytes[from..p.end];
            from = p.end;
            PageBytes {
                start: p.start,
                page: p.page,
                bytes,
                observed: p.observed.as_deref(),
                part: &p.part,
                last: p.last,
            }
        })
    }

    fn is_full(&self) -> bool {
        self.bytes.len() >= BATCH_BYTES || self.pages.len() >= BATCH_PAGES
    }
}

/// The batch being filled, in a buffer the parsing side has handed back when it can.
pub(super) struct Filling<'a> {
    batch: Batch,
    tx: &'a SyncSender<Piece>,
    spare: &'a Receiver<Batch>,
}

impl Filling<'_> {
    /// Adds a part of page `page`, its `bytes` starting at `start`, sending the batch once
    /// full.
    pub(super) fn part(
        &mut self,
        (start, page): (Pos, u64),
        bytes: &[u8],
        part: Part,
        observed: Option<Arc<str>>,
        last: bool,
    ) -> Sent {
        self.batch.bytes.extend_from_slice(bytes);
        self.batch.pages.push(Placed {
            start,
            page,
            end: self.batch.bytes.len(),
            observed,
            part,
            last,
        });
        if self.batch.is_full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends the batch if it holds a page, and starts the next one.
    fn flush(&mut self) -> Sent {
        if self.batch.pages.is_empty() {
            return Ok(());
        }
        let mut next = self.spare.try_recv().unwrap_or_default();
        next.bytes.clear();
        next.pages.clear();
        send(self.tx, Piece::Pages(std::mem::replace(&mut self.batch, next)))
    }
}

/// Reads pages from `reader` and sends them down `tx` until the source ends, the parsing
/// thread hangs up, or the source turns out to be malformed.
pub(crate) fn split(
    name: &str,
    reader: &mut dyn BufRead,
    limit: usize,
    tx: &SyncSender<Piece>,
    spare: &Receiver<Batch>,
) {
    let mut filling = Filling {
        batch: Batch::default(),
        tx,
        spare,
    };
    let mut input = Input {
        inner: reader,
        held: Vec::new(),
        at: 0,
    };
    // Every page before the end, or before a failure, goes first.
    let done = split_pages(name, &mut input, limit, &mut filling).and_then(|()| filling.flush());
    // `Err(None)`, a send error, means the parser has stopped: it reports its own reason.
    if let Err(Some(err)) = done {
        if filling.flush().is_ok() {
            let _ = tx.send(Piece::Failed(err));
        }
    }
}

/// `Err(None)`: the parsing thread hung up; `Err(Some(_))`: the failure to report.
pub(super) type Sent<T = ()> = Result<T, Option<anyhow::Error>>;

fn send(tx: &SyncSender<Piece>, piece: Piece) -> Sent {
    tx.send(piece).map_err(|_| None)
}

fn split_pages(name: &str, reader: &mut Input<'_>, limit: usize, filling: &mut Filling<'_>) -> Sent {
    let read_failed = |e: io::Error| Some(read_error(name, e));
    let mut pos = Pos { line: 1, column: 1 };
    let mut page = 0u64;
    let mut in_array = false;
    let mut after_page = false;
    // The time of the last envelope: when the observations that follow were observed.
    let mut observed: Option<Arc<str>> = None;
    skip_bom(reader).map_err(read_failed)?;
    loop {
        let Some(byte) = skip_whitespace(reader, &mut pos).map_err(read_failed)? else {
            if in_array {
                return Err(Some(located(
                    name,
                    pos,
                    None,
                    "the top-level array of pages is not closed with `]`",
                )));
            }
            return Ok(());
        };
        if in_array && byte == b']' {
            reader.consume(1);
            pos.column += 1;
            in_array = false;
            after_page = false;
            continue;
        }
        if in_array && after_page {
            if byte != b',' {
                return Err(Some(located(
                    name,
                    pos,
                    None,
                    "expected `,` or `]` after a page in the top-level array",
                )));
            }
            reader.consume(1);
            pos.column += 1;
            after_page = false;
            continue;
        }
        if !in_array && byte == b'[' {
            reader.consume(1);
            pos.column += 1;
            in_array = true;
            continue;
        }
        page += 1;
        if byte != b'{' {
            let msg = format!("expected a page (a JSON object), found {}", describe_start(byte));
            return Err(Some(located(name, pos, Some(page), &msg)));
        }
        let start = pos;
        let mut scanner = Scanner::default();
        let batch = &mut filling.batch;
        let from = batch.bytes.len();
        let complete = fill(reader, &mut scanner, &mut batch.bytes, from + limit).map_err(read_failed)?;
        pos.advance(&batch.bytes[from..]);
        if complete {
            let end = batch.bytes.len();
            if let Some(at) = envelope(&batch.bytes[from..]) {
                let at = at.map_err(|msg| Some(located(name, start, None, &msg)))?;
                // Not a page: it numbers none, and gives no row.
                observed = Some(at);
                batch.bytes.truncate(from);
                page -= 1;
                after_page = in_array;
                continue;
            }
            let observed = observed.clone();
            batch.pages.push(Placed {
                start,
                page,
                end,
                observed,
                part: Part::Page,
                last: true,
            });
            if batch.is_full() {
                filling.flush()?;
            }
        } else {
            // The bytes read so far go back in front of the rest, to be read again in parts.
            let mut held = batch.bytes.split_off(from);
            held.extend_from_slice(&reader.held[reader.at..]);
            reader.held = held;
            reader.at = 0;
            let mut window = Window {
                input: reader,
                pos: start,
                name,
                start,
                page,
                limit,
            };
            super::fast::cut_page(&mut window, filling, observed.clone())?;
            pos = window.pos;
        }
        after_page = in_array;
    }
}

/// The envelope `gcagg fetch --observations` writes before each body, `{"gcaggObservedAt":
/// "<RFC 3339 time>"}`: its time if `page` is one (an error if the time is not one), else `None`.
fn envelope(page: &[u8]) -> Option<Result<Arc<str>, String>> {
    use crate::api::page::ENVELOPE_KEY;
    // An envelope is one short line: the search is cheap, and skips every other page at once.
    // The searcher is built once: building it cost more than a small page's search.
    static KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(ENVELOPE_KEY));
    if page.len() > 4096 || KEY.find(page).is_none() {
        return None;
    }
    // Exactly one key, the envelope's.
    let envelope: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(page).ok()?;
    let at = envelope.get(ENVELOPE_KEY).filter(|_| envelope.len() == 1)?;
    Some(match at.as_str() {
        Some(text) if crate::output::epoch_millis(text).is_some() => Ok(text.into()),
        _ => Err(format!(
            "{ENVELOPE_KEY} {at} is not an RFC 3339 time (e.g. \"2024-05-01T10:15:02.123Z\")"
        )),
    })
}

/// The source as the splitter reads it: bytes held back (what a cut page read past its
/// end, or a page's start handed back to be cut) are read again before the rest.
pub(super) struct Input<'r> {
    inner: &'r mut dyn BufRead,
    held: Vec<u8>,
    at: usize,
}

impl Read for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(out)?;
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at < self.held.len() {
            return Ok(&self.held[self.at..]);
        }
        self.held.clear();
        self.at = 0;
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if self.at < self.held.len() {
            self.at += n;
        } else {
            self.inner.consume(n);
        }
    }
}

/// A page too large to buffer, as `fast::cut_page` reads it: the bytes not yet read are
/// held from `pos` on, and more are read in as the reading needs them.
pub(super) struct Window<'a, 'r> {
    input: &'a mut Input<'r>,
    /// Where the first held byte is in the source.
    pub(super) pos: Pos,
    /// The source's name, the page's start and its number, for messages.
    pub(super) name: &'a str,
    pub(super) start: Pos,
    pub(super) page: u64,
    /// Elements up to this size are handed on whole.
    pub(super) limit: usize,
}

impl Window<'_, '_> {
    /// The bytes held, not yet read.
    pub(super) fn rest(&self) -> &[u8] {
        &self.input.held[self.input.at..]
    }

    /// Reads more of the source into [`Window::rest`]; false at its end.
    pub(super) fn more(&mut self) -> Sent<bool> {
        let input = &mut *self.input;
        // Read bytes are dropped once they are half the buffer: each byte moves once at most.
        if input.at > 0 && input.at >= input.held.len() / 2 {
            input.held.drain(..input.at);
            input.at = 0;
        }
        let chunk = input.inner.fill_buf().map_err(|e| Some(read_error(self.name, e)))?;
        let n = chunk.len();
        input.held.extend_from_slice(chunk);
        input.inner.consume(n);
        Ok(n > 0)
    }

    /// Reads until [`Window::rest`] holds `n` bytes or the source ends.
    pub(super) fn hold(&mut self, n: usize) -> Sent {
        while self.rest().len() < n && self.more()? {}
        Ok(())
    }

    /// Marks the first `n` bytes held as read.
    pub(super) fn consume(&mut self, n: usize) {
        let input = &mut *self.input;
        self.pos.advance(&input.held[input.at..input.at + n]);
        input.at += n;
    }

    /// Where byte `offset` of [`Window::rest`] is in the source.
    pub(super) fn pos_of(&self, offset: usize) -> Pos {
        let mut pos = self.pos;
        pos.advance(&self.rest()[..offset]);
        pos
    }

    /// The length of the object [`Window::rest`] starts with, if it ends within `cap` bytes;
    /// all the rest if the source ends first (its parse then says where it is truncated).
    pub(super) fn object_end(&mut self, cap: usize) -> Sent<Option<usize>> {
        let mut scanner = Scanner::default();
        let mut scanned = 0;
        loop {
            if let Some(end) = scanner.scan(&self.rest()[scanned..]) {
                return Ok(Some(scanned + end));
            }
            scanned = self.rest().len();
            if scanned >= cap {
                return Ok(None);
            }
            if !self.more()? {
                return Ok(Some(scanned));
            }
        }
    }
}

/// Tracks where a page ends: bracket depth, and whether the scan is inside a string.
#[derive(Default)]
struct Scanner {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Scanner {
    /// Scans `bytes`; returns the length up to and including the page's closing brace if it
    /// is among them.
    ///
    /// Works on blocks of 64 bytes, as bit masks (one bit per byte) of quotes and braces:
    /// which bytes are inside strings follows from the quotes alone, and only the braces
    /// outside strings are looked at one by one, when the depth could reach zero in the
    /// block. Square brackets need no count: where they nest wrongly the JSON is invalid,
    /// and the parser reports the first error wherever the page is cut after it. A block
    /// with a backslash (rare) takes the byte-by-byte scan.
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut blocks = bytes.chunks_exact(64);
        let mut at = 0;
        for block in &mut blocks {
            let block: &[u8; 64] = block.try_into().expect("blocks of 64");
            let [quotes, backslashes, opens, closes] = block_masks(block);
            let found = if self.escaped || backslashes != 0 {
                self.scan_bytes(block)
            } else {
                self.scan_block(quotes, opens, closes)
            };
            if let Some(end) = found {
                return Some(at + end);
            }
            at += 64;
        }
        self.scan_bytes(blocks.remainder()).map(|end| at + end)
    }

    /// [`Scanner::scan`] of a block without backslashes, from its masks.
    #[inline]
    fn scan_block(&mut self, quotes: u64, opens: u64, closes: u64) -> Option<usize> {
        // Bit i: whether an odd number of quotes is at or before byte i, i.e. byte i is
        // inside a string (an opening quote counts as inside, a closing one as outside).
        let mut inside = quotes;
        for shift in [1, 2, 4, 8, 16, 32] {
            inside ^= inside << shift;
        }
        if self.in_string {
            inside = !inside;
        }
        self.in_string = inside >> 63 == 1;
        let opens = opens & !inside;
        let closes = closes & !inside;
        if (closes.count_ones() as usize) < self.depth {
            // The depth cannot reach zero here.
            self.depth = self.depth + opens.count_ones() as usize - closes.count_ones() as usize;
            return None;
        }
        let mut braces = opens | closes;
        while braces != 0 {
            let i = braces.trailing_zeros() as usize;
            braces &= braces - 1;
            if opens >> i & 1 == 1 {
                self.depth += 1;
            } else {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Some(i + 1);
                }
            }
        }
        None
    }

    /// [`Scanner::scan`] byte by byte.
    fn scan_bytes(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.escaped {
                self.escaped = false;
                i += 1;
                continue;
            }
            if self.in_string {
                while i < bytes.len() && !IN_STRING[usize::from(bytes[i])] {
                    i += 1;
                }
                if i == bytes.len() {
                    return None;
                }
                if bytes[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                }
                i += 1;
                continue;
            }
            while i < bytes.len() && !STRUCTURAL[usize::from(bytes[i])] {
                i += 1;
            }
            match bytes.get(i) {
                Some(b'"') => self.in_string = true,
                Some(b'{') => self.depth += 1,
                Some(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                None => return None,
            }
            i += 1;
        }
        None
    }
}

/// The bytes that matter to [`Scanner`] inside strings.
static IN_STRING: [bool; 256] = byte_table(b"\"\\", 0);

/// The bytes that matter to [`Scanner`] outside strings.
static STRUCTURAL: [bool; 256] = byte_table(b"\"{}", 0);

/// Bit masks of a block, one bit per byte: which bytes are `"`, `\\`, `{` and `}`.
#[inline]
fn block_masks(block: &[u8; 64]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (n, lane) in block.chunks_exact(16).enumerate() {
        let lane = lane.try_into().expect("lanes of sixteen");
        for (mask, target) in out.iter_mut().zip([b'"', b'\\', b'{', b'}']) {
            *mask |= u64::from(mask16(lane, &[target], 0)) << (16 * n);
        }
    }
    out
}

/// Appends the page's bytes to `out` until it ends (true), the input ends (true: the parser
/// reports the truncation), or `out` reaches `limit` (false).
fn fill(reader: &mut dyn BufRead, scanner: &mut Scanner, out: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(true);
        }
        let room = limit.saturating_sub(out.len()).max(1);
        let window = &chunk[..chunk.len().min(room)];
        let end = scanner.scan(window);
        let n = end.unwrap_or(window.len());
        out.extend_from_slice(&window[..n]);
        reader.consume(n);
        if end.is_some() {
            return Ok(true);
        }
        if out.len() >= limit {
            return Ok(false);
        }
    }
}

fn skip_bom(reader: &mut dyn BufRead) -> io::Result<()> {
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

/// Skips JSON whitespace, keeping `pos` current; returns the next byte without consuming it.
fn skip_whitespace(reader: &mut dyn BufRead, pos: &mut Pos) -> io::Result<Option<u8>> {
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(None);
        }
        // Counted here as it is skipped: the run is short (a newline between pages), and a
        // search for its newlines cost more than the run.
        let mut n = 0;
        for &b in chunk {
            match b {
                b'\n' => {
                    pos.line += 1;
                    pos.column = 1;
                }
                b' ' | b'\t' | b'\r' => pos.column += 1,
                _ => {
                    reader.consume(n);
                    return Ok(Some(b));
                }
            }
            n += 1;
        }
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_finds_the_end_across_chunks_and_escapes() {
        let page = br#"{"a":"x\"}\\","b":[1,{"c":"]"}]} tail"#;
        ends_at_every_cut(page, page.len() - " tail".len());
    }

    /// Asserts that the scan finds the page's end at `end` however `bytes` is cut in two.
    fn ends_at_every_cut(bytes: &[u8], end: usize) {
        for cut in 1..end {
            let mut scanner = Scanner::default();
            let (head, rest) = bytes.split_at(cut);
            let found = match scanner.scan(head) {
                Some(n) => n,
                None => cut + scanner.scan(rest).expect("the page ends"),
            };
            assert_eq!(found, end, "cut at {cut}");
        }
    }

    #[test]
    fn block_scan_agrees_with_the_byte_scan_at_every_cut() {
        // Several blocks: strings holding braces, quotes escaped at and across block edges,
        // long strings spanning blocks, nesting deep and shallow.
        let mut page = String::from("{");
        for n in 0..40 {
            let escapes = ["", r#"\""#, r"\\", r#"x\"}{"#, "\\u00e9"][n % 5];
            let filler = "y".repeat(n * 7 % 90);
            page.push_str(&format!(
                r#""k{n}":{{"s":"{filler}{{}}[{escapes}]","a":[{{"b":[{n},{{}}]}}],"t":"}}"}},"#
            ));
        }
        page.push_str(r#""end":{}}"#);
        let end = page.len();
        page.push_str(r#" {"next":"}"}"#);
        let bytes = page.as_bytes();
        let mut whole = Scanner::default();
        assert_eq!(whole.scan_bytes(bytes), Some(end));
        ends_at_every_cut(bytes, end);
    }
}
