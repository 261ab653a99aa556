//! Splitting a source into pages, on a thread of its own.
//!
//! The splitter reads (and gunzips) the source, skips the BOM and the whitespace between
//! documents, unwraps one top-level array of pages, and finds where each page ends with a
//! structural scan (braces and strings only, 64 bytes at a time). It sends whole pages on in
//! batches (see [`Batch`]), to be parsed by a worker thread or the main thread; a page that
//! outgrows the buffer limit is sent in parts, to be parsed as a stream. Reading,
//! decompressing and scanning thus run beside the parsing; the bounded channel keeps memory
//! to a few batches.

use std::io::{self, BufRead};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use super::lanes::mask16;
use super::{byte_table, describe_start, located, read_error, Pos};

/// What the splitter sends to the parsing thread.
pub(super) enum Piece {
    /// Whole pages, one or more.
    Pages(Batch),
    /// The start of a page too large to buffer; its remaining bytes follow as `Part`s.
    Streamed {
        start: Pos,
        page: u64,
        bytes: Vec<u8>,
        observed: Option<Arc<str>>,
    },
    /// More bytes of a streamed page; `last` marks the part that ends it.
    Part { bytes: Vec<u8>, last: bool },
    /// The source could not be read, or is not a sequence of pages.
    Failed(anyhow::Error),
}

/// Size of the parts a streamed page is sent in.
const PART: usize = 1 << 20;

/// A batch is sent once it holds this many bytes...
const BATCH_BYTES: usize = 64 << 10;

/// ...or this many pages.
const BATCH_PAGES: usize = 4096;

/// Whole pages back to back in one buffer, with where each one ends. Pages travel between
/// threads in batches of at least [`BATCH_BYTES`] or [`BATCH_PAGES`] (a batch ends early
/// only before a streamed page, an error or the end of the source): one hand-off costs as
/// much as parsing a few thousand bytes, so a page each made tiny pages ten times slower.
/// Each page keeps its own position and number, so a failure is reported exactly as before.
#[derive(Default)]
pub(super) struct Batch {
    bytes: Vec<u8>,
    pages: Vec<Placed>,
}

/// One page of a [`Batch`]: where it starts in the source, its number there, and where its
/// bytes end in the batch.
struct Placed {
    start: Pos,
    page: u64,
    end: usize,
    observed: Option<Arc<str>>,
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
}

impl Batch {
    /// How many pages it holds.
    pub(super) fn len(&self) -> usize {
        self.pages.len()
    }

    /// How many bytes its pages hold.
    pub(super) fn bytes(&self) -> usize {
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
            }
        })
    }

    fn is_full(&self) -> bool {
        self.bytes.len() >= BATCH_BYTES || self.pages.len() >= BATCH_PAGES
    }
}

/// The batch being filled, in a buffer the parsing side has handed back when it can.
struct Filling<'a> {
    batch: Batch,
    tx: &'a SyncSender<Piece>,
    spare: &'a Receiver<Batch>,
}

impl Filling<'_> {
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
pub(super) fn split(
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
    // Every page before the end, or before a failure, goes first.
    let done = split_pages(name, reader, limit, &mut filling).and_then(|()| filling.flush());
    // `Err(None)`, a send error, means the parser has stopped: it reports its own reason.
    if let Err(Some(err)) = done {
        if filling.flush().is_ok() {
            let _ = tx.send(Piece::Failed(err));
        }
    }
}

/// `Err(None)`: the parsing thread hung up.
type Sent = Result<(), Option<anyhow::Error>>;

fn send(tx: &SyncSender<Piece>, piece: Piece) -> Sent {
    tx.send(piece).map_err(|_| None)
}

fn split_pages(name: &str, reader: &mut dyn BufRead, limit: usize, filling: &mut Filling<'_>) -> Sent {
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
            });
            if batch.is_full() {
                filling.flush()?;
            }
        } else {
            // The page's bytes leave the batch, whose pages go first.
            let bytes = match from {
                0 => std::mem::take(&mut batch.bytes),
                _ => batch.bytes.split_off(from),
            };
            filling.flush()?;
            let tx = filling.tx;
            let observed = observed.clone();
            send(
                tx,
                Piece::Streamed {
                    start,
                    page,
                    bytes,
                    observed,
                },
            )?;
            loop {
                let mut part = Vec::with_capacity(PART);
                let last = fill(reader, &mut scanner, &mut part, PART).map_err(read_failed)?;
                pos.advance(&part);
                send(tx, Piece::Part { bytes: part, last })?;
                if last {
                    break;
                }
            }
        }
        after_page = in_array;
    }
}

/// The envelope `gcagg fetch --observations` writes before each body, `{"gcaggObservedAt":
/// "<RFC 3339 time>"}`: its time if `page` is one (an error if the time is not one), else `None`.
fn envelope(page: &[u8]) -> Option<Result<Arc<str>, String>> {
    use crate::api::page::ENVELOPE_KEY;
    // An envelope is one short line: the search is cheap, and skips every other page at once.
    if page.len() > 4096 || memchr::memmem::find(page, ENVELOPE_KEY.as_bytes()).is_none() {
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
        let skipped = chunk.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        let n = skipped.unwrap_or(chunk.len());
        pos.advance(&chunk[..n]);
        if let Some(i) = skipped {
            let byte = chunk[i];
            reader.consume(i);
            return Ok(Some(byte));
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
