//! Pages: splitting a byte stream into response documents, recognising each document's
//! shape, and streaming its entities to an [`EntitySink`] one at a time.
//!
//! A source holds JSON documents separated by whitespace, or one top-level array of them.
//! Each document is found by a cheap structural scan (brackets and strings only). A document
//! up to [`BUFFERED_PAGE_LIMIT`] bytes is parsed from that buffer, so strings and numbers are
//! borrowed, not copied; a larger one is parsed straight from the stream, so memory stays
//! bounded whatever the page size. Either way no page is ever built as a tree: serde visitors
//! walk `results[] → data[] → metrics[] → stats{}` and hand each entity over as soon as its
//! closing brace is read.
//!
//! Numbers are kept as the text the input spelled (via [`RawValue`]), so `150784.0` and
//! `1.5e3` come out unchanged.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::ops::Range;

use anyhow::anyhow;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Pages larger than this are parsed from the stream instead of from a buffer.
pub const BUFFERED_PAGE_LIMIT: usize = 16 << 20;

/// Which page shape an entity came from (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// API response, async job page or SDK dump: `results[].data[]`.
    Api,
    /// The seed tutorial's `entities[]`.
    Tutorial,
}

/// A group value or entity id: a string, other JSON (kept as its text), or null.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A JSON string, unescaped.
    Text(Cow<'a, str>),
    /// Any other JSON value, as the input spelled it.
    Json(Cow<'a, str>),
    /// JSON `null`.
    Null,
}

/// One `group` entry: the key as the API sent it, and its value.
#[derive(Debug, Clone)]
pub struct GroupEntry<'a> {
    /// The dimension name, not yet made safe.
    pub key: Cow<'a, str>,
    /// The dimension value.
    pub value: Scalar<'a>,
}

/// One metric or view of an entity; its stats are `Entity::stats[stats]`.
#[derive(Debug)]
pub struct Metric<'a> {
    /// The metric name (or the view name for a view).
    pub name: Cow<'a, str>,
    /// The metric's qualifier, if any.
    pub qualifier: Option<Cow<'a, str>>,
    /// Whether this came from `views[]`.
    pub view: bool,
    /// The range of this metric's stats in [`Entity::stats`].
    pub stats: Range<usize>,
}

/// One stat: its name as the input spelled it, and its number as text.
#[derive(Debug)]
pub struct Stat<'a> {
    /// The stat name, before SDK names are mapped.
    pub name: Cow<'a, str>,
    /// The number's text; `None` only for a tutorial metric whose value is null (API nulls
    /// are absent values and never reach the sink).
    pub value: Option<Cow<'a, str>>,
}

/// One entity: everything that becomes one wide row.
#[derive(Debug)]
pub struct Entity<'a> {
    /// The page shape it came from.
    pub shape: Shape,
    /// The group entries, in input order.
    pub group: &'a [GroupEntry<'a>],
    /// `data[j].interval`, unsplit.
    pub interval: Option<&'a str>,
    /// The tutorial shape's `id`.
    pub id: Option<&'a Scalar<'a>>,
    /// Metrics, then views, in input order.
    pub metrics: &'a [Metric<'a>],
    /// The stats of all metrics, indexed by [`Metric::stats`].
    pub stats: &'a [Stat<'a>],
}

/// Receives entities as they are parsed.
pub trait EntitySink {
    /// Takes one entity; an error stops the parse and is reported at this entity's position.
    fn entity(&mut self, entity: &Entity<'_>) -> anyhow::Result<()>;
}

/// Reads every page of one source, handing its entities to `sink`.
///
/// `name` is how errors name the source (a path, or `<stdin>`).
pub fn read_source(name: &str, reader: &mut dyn BufRead, sink: &mut dyn EntitySink) -> anyhow::Result<()> {
    read_pages(name, reader, sink, BUFFERED_PAGE_LIMIT)
}

/// [`read_source`] with the buffering limit as a parameter, so tests can force streaming.
fn read_pages(name: &str, reader: &mut dyn BufRead, sink: &mut dyn EntitySink, limit: usize) -> anyhow::Result<()> {
    let mut pos = Pos { line: 1, column: 1 };
    let mut page = 0u64;
    let mut buf = Vec::new();
    let mut in_array = false;
    let mut after_page = false;
    skip_bom(reader).map_err(|e| read_error(name, e))?;
    loop {
        let next = skip_whitespace(reader, &mut pos).map_err(|e| read_error(name, e))?;
        let Some(byte) = next else {
            if in_array {
                return Err(located(
                    name,
                    pos,
                    None,
                    "the top-level array of pages is not closed with `]`",
                ));
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
                return Err(located(
                    name,
                    pos,
                    None,
                    "expected `,` or `]` after a page in the top-level array",
                ));
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
            let what = describe_start(byte);
            return Err(located(
                name,
                pos,
                Some(page),
                &format!("expected a page (a JSON object), found {what}"),
            ));
        }
        let start = pos;
        let captured = capture(reader, &mut buf, limit).map_err(|e| read_error(name, e))?;
        let mut ctx = Ctx { sink, failure: None };
        let parsed = if captured {
            let mut de = serde_json::Deserializer::from_slice(&buf);
            let r = PageSeed {
                ctx: &mut ctx,
                borrowed: true,
            }
            .deserialize(&mut de);
            pos.advance(&buf);
            r
        } else {
            let mut stream = Counting {
                prefix: &buf,
                at: 0,
                inner: &mut *reader,
                line: 0,
                column: 0,
            };
            let r = {
                let mut de = serde_json::Deserializer::from_reader(&mut stream);
                PageSeed {
                    ctx: &mut ctx,
                    borrowed: false,
                }
                .deserialize(&mut de)
            };
            pos.advance_by(stream.line, stream.column);
            r
        };
        if let Err(err) = parsed {
            return Err(page_error(name, start, page, err, ctx.failure));
        }
        after_page = in_array;
    }
}

/// A 1-based line and byte column in a source.
#[derive(Debug, Clone, Copy)]
struct Pos {
    line: u64,
    column: u64,
}

impl Pos {
    fn advance(&mut self, bytes: &[u8]) {
        match memchr::memrchr(b'\n', bytes) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
                self.column = (bytes.len() - last) as u64;
            }
            None => self.column += bytes.len() as u64,
        }
    }

    /// Moves by `lines` newlines and then `column` more bytes.
    fn advance_by(&mut self, lines: u64, column: u64) {
        if lines > 0 {
            self.line += lines;
            self.column = column + 1;
        } else {
            self.column += column;
        }
    }

    /// Turns a position relative to a page that starts here into an absolute one.
    fn offset(self, line: usize, column: usize) -> Pos {
        if line <= 1 {
            Pos {
                line: self.line,
                column: self.column + column.saturating_sub(1) as u64,
            }
        } else {
            // serde_json says column 0 right after a newline (e.g. at the end of the input);
            // columns here count from 1.
            Pos {
                line: self.line + line as u64 - 1,
                column: column.max(1) as u64,
            }
        }
    }
}

fn located(name: &str, pos: Pos, page: Option<u64>, msg: &str) -> anyhow::Error {
    match page {
        Some(page) => anyhow!("{name}:{}:{}: page {page}: {msg}", pos.line, pos.column),
        None => anyhow!("{name}:{}:{}: {msg}", pos.line, pos.column),
    }
}

fn read_error(name: &str, err: io::Error) -> anyhow::Error {
    anyhow::Error::new(err).context(format!("{name}: cannot read"))
}

/// What went wrong inside a page, beyond what serde's own error says.
enum Failure {
    /// The sink refused an entity (a data error) or could not write (an I/O error).
    Sink(anyhow::Error),
    /// The page as a whole is not an aggregate response: reported at the page's start.
    Page(String),
}

/// Shared state of one page's visitors.
struct Ctx<'s> {
    sink: &'s mut dyn EntitySink,
    failure: Option<Failure>,
}

fn page_error(name: &str, start: Pos, page: u64, err: serde_json::Error, failure: Option<Failure>) -> anyhow::Error {
    let at = start.offset(err.line(), err.column());
    match failure {
        Some(Failure::Sink(e)) => {
            if e.chain().any(|c| c.is::<io::Error>()) {
                return e;
            }
            e.context(format!("{name}:{}:{}: page {page}", at.line, at.column))
        }
        Some(Failure::Page(msg)) => located(name, start, Some(page), &msg),
        None => {
            if err.is_io() {
                return read_error(name, io::Error::other(err));
            }
            let text = err.to_string();
            let suffix = format!(" at line {} column {}", err.line(), err.column());
            let msg = text.strip_suffix(&suffix).unwrap_or(&text);
            let msg = if err.is_eof() {
                format!("truncated input: {msg}")
            } else {
                msg.to_owned()
            };
            located(name, at, Some(page), &msg)
        }
    }
}

fn describe_start(byte: u8) -> String {
    match byte {
        b'[' => "an array".into(),
        b'"' => "a string".into(),
        b'-' | b'0'..=b'9' => "a number".into(),
        b't' | b'f' => "a boolean".into(),
        b'n' => "null".into(),
        b if b.is_ascii_graphic() => format!("`{}`", b as char),
        b => format!("byte 0x{b:02x}"),
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

/// Copies one document (starting at `{`) into `buf`, up to its matching close.
///
/// Returns `true` when `buf` holds the whole document or the input ended first (serde then
/// reports the truncation), `false` when the document outgrew `limit` and must be streamed.
fn capture(reader: &mut dyn BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    buf.clear();
    let mut depth = 0usize;
    let mut in_string = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(true);
        }
        let mut end = None;
        let mut i = 0;
        while i < chunk.len() {
            if in_string {
                match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                    // An escape at the chunk's end is resolved in the next chunk: only its
                    // second byte matters, and that byte is never a bare quote.
                    Some(k) if chunk[i + k] == b'\\' => i += k + 2,
                    Some(k) => {
                        in_string = false;
                        i += k + 1;
                    }
                    None => i = chunk.len(),
                }
                continue;
            }
            match chunk[i] {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        let n = end.unwrap_or(chunk.len()).min(chunk.len());
        let overshoot = i.saturating_sub(chunk.len());
        buf.extend_from_slice(&chunk[..n]);
        reader.consume(n);
        if end.is_some() {
            return Ok(true);
        }
        if overshoot > 0 {
            // The escaped byte lies in the next chunk: take it now so the scan resumes after it.
            let mut byte = [0u8; 1];
            if reader.read(&mut byte)? == 1 {
                buf.push(byte[0]);
            }
        }
        if buf.len() >= limit {
            return Ok(false);
        }
    }
}

/// Feeds serde the buffered start of a page, then the rest of it from the source, counting
/// lines and columns so the next page's position stays exact.
struct Counting<'a> {
    prefix: &'a [u8],
    at: usize,
    inner: &'a mut dyn BufRead,
    line: u64,
    column: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = if self.at < self.prefix.len() {
            let n = out.len().min(self.prefix.len() - self.at);
            out[..n].copy_from_slice(&self.prefix[self.at..self.at + n]);
            self.at += n;
            n
        } else {
            let chunk = self.inner.fill_buf()?;
            let n = out.len().min(chunk.len());
            out[..n].copy_from_slice(&chunk[..n]);
            self.inner.consume(n);
            n
        };
        for &b in &out[..n] {
            if b == b'\n' {
                self.line += 1;
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
        Ok(n)
    }
}

// ---- the visitors -------------------------------------------------------------------------

/// Captures a value's JSON text: borrowed from a buffered page, copied from a streamed one.
fn raw<'de, D: Deserializer<'de>>(de: D, borrowed: bool) -> Result<Cow<'de, str>, D::Error> {
    if borrowed {
        <&'de RawValue>::deserialize(de).map(|r| Cow::Borrowed(r.get()))
    } else {
        Box::<RawValue>::deserialize(de).map(|r| Cow::Owned(Box::<str>::from(r).into_string()))
    }
}

struct RawSeed {
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for RawSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        raw(de, self.borrowed)
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(StrVisitor)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A string or null.
struct OptStrSeed;

impl<'de> DeserializeSeed<'de> for OptStrSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_option(OptStrVisitor)
    }
}

struct OptStrVisitor;

impl<'de> Visitor<'de> for OptStrVisitor {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        StrSeed.deserialize(de).map(Some)
    }
}

/// Turns captured JSON text into a [`Scalar`], unescaping strings.
fn scalar<E: de::Error>(text: Cow<'_, str>) -> Result<Scalar<'_>, E> {
    if text.as_ref() == "null" {
        return Ok(Scalar::Null);
    }
    if !text.starts_with('"') {
        return Ok(Scalar::Json(text));
    }
    if !text.contains('\\') {
        let inner = match text {
            Cow::Borrowed(s) => Cow::Borrowed(&s[1..s.len() - 1]),
            Cow::Owned(s) => Cow::Owned(s[1..s.len() - 1].to_owned()),
        };
        return Ok(Scalar::Text(inner));
    }
    serde_json::from_str::<String>(&text)
        .map(|s| Scalar::Text(Cow::Owned(s)))
        .map_err(E::custom)
}

/// Whether captured JSON text is a number (the only thing a stat may hold).
fn is_number(text: &str) -> bool {
    matches!(text.as_bytes().first(), Some(b'-' | b'0'..=b'9'))
}

fn excerpt(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

struct PageSeed<'c, 's> {
    ctx: &'c mut Ctx<'s>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

/// The keys of a page that decide what it is (SPEC §1).
#[derive(Default)]
struct PageKeys {
    results: bool,
    entities: bool,
    status: Option<String>,
    message: Option<String>,
    code: Option<String>,
    context_id: Option<String>,
    others: Vec<String>,
}

impl PageKeys {
    /// What to say about a page that has neither `results` nor `entities`; `None` for an
    /// empty page.
    fn complaint(&self) -> Option<String> {
        if let (Some(status), true) = (&self.status, self.message.is_some() || self.code.is_some()) {
            let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
            return Some(format!(
                "API error response: status {status}, code {}: {} (contextId {})",
                or_none(&self.code),
                or_none(&self.message),
                or_none(&self.context_id)
            ));
        }
        let mut keys: Vec<&str> = self.others.iter().map(String::as_str).collect();
        for (key, seen) in [
            ("status", &self.status),
            ("message", &self.message),
            ("code", &self.code),
        ] {
            if seen.is_some() {
                keys.push(key);
            }
        }
        if keys.is_empty() && self.context_id.is_none() {
            return None;
        }
        if self.context_id.is_some() {
            keys.push("contextId");
        }
        Some(format!(
            "not an aggregate response: expected `results` or `entities`, found keys {}",
            keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ))
    }
}

/// Text of a small value of an error body, for the message.
fn message_text<'de, A: MapAccess<'de>>(map: &mut A, borrowed: bool) -> Result<String, A::Error> {
    let text = map.next_value_seed(RawSeed { borrowed })?;
    Ok(match scalar::<A::Error>(text)? {
        Scalar::Text(s) | Scalar::Json(s) => s.into_owned(),
        Scalar::Null => "null".into(),
    })
}

impl<'de> Visitor<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a page (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let borrowed = self.borrowed;
        let mut keys = PageKeys::default();
        let mut scratch = Scratch::default();
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "results" | "entities" => {
                    let results = key == "results";
                    if (results && keys.entities) || (!results && keys.results) {
                        return Err(de::Error::custom("a page cannot hold both `results` and `entities`"));
                    }
                    keys.results |= results;
                    keys.entities |= !results;
                    let seed = ListSeed {
                        ctx: &mut *self.ctx,
                        scratch: &mut scratch,
                        borrowed,
                        tutorial: !results,
                    };
                    map.next_value_seed(seed)?;
                }
                "status" => keys.status = Some(message_text(&mut map, borrowed)?),
                "message" => keys.message = Some(message_text(&mut map, borrowed)?),
                "code" => keys.code = Some(message_text(&mut map, borrowed)?),
                "contextId" => keys.context_id = Some(message_text(&mut map, borrowed)?),
                other => {
                    if !matches!(other, "cursor" | "nextPageToken") && keys.others.len() < 8 {
                        keys.others.push(other.to_owned());
                    }
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if keys.results || keys.entities {
            return Ok(());
        }
        match keys.complaint() {
            None => Ok(()),
            Some(msg) => {
                self.ctx.failure = Some(Failure::Page(msg.clone()));
                Err(de::Error::custom(msg))
            }
        }
    }
}

/// Buffers reused by every entity of a page.
#[derive(Default)]
struct Scratch<'de> {
    group: Vec<GroupEntry<'de>>,
    metrics: Vec<Metric<'de>>,
    stats: Vec<Stat<'de>>,
}

/// `results` (API shape) or `entities` (tutorial shape): null, an array, or an empty object.
struct ListSeed<'c, 's, 'de> {
    ctx: &'c mut Ctx<'s>,
    scratch: &'c mut Scratch<'de>,
    borrowed: bool,
    tutorial: bool,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.tutorial {
            "an array of entities"
        } else {
            "an array of results"
        })
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // `{}` is how some clients serialise "no results"; anything in it is not.
        match map.next_key::<IgnoredAny>()? {
            None => Ok(()),
            Some(_) => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let borrowed = self.borrowed;
        if self.tutorial {
            while seq
                .next_element_seed(TutorialSeed {
                    ctx: &mut *self.ctx,
                    scratch: &mut *self.scratch,
                    borrowed,
                })?
                .is_some()
            {}
        } else {
            while seq
                .next_element_seed(ResultSeed {
                    ctx: &mut *self.ctx,
                    scratch: &mut *self.scratch,
                    borrowed,
                })?
                .is_some()
            {}
        }
        Ok(())
    }
}

/// One `results[]` element: `group` and `data`, in either order.
struct ResultSeed<'c, 's, 'de> {
    ctx: &'c mut Ctx<'s>,
    scratch: &'c mut Scratch<'de>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for ResultSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a result (an object with `group` and `data`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Scratch { group, metrics, stats } = self.scratch;
        let borrowed = self.borrowed;
        group.clear();
        let mut have_group = false;
        let mut deferred = None;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "group" => {
                    map.next_value_seed(GroupSeed { out: group, borrowed })?;
                    have_group = true;
                }
                "data" if have_group => {
                    let seed = DataSeed {
                        ctx: &mut *self.ctx,
                        group,
                        metrics,
                        stats,
                        borrowed,
                    };
                    map.next_value_seed(seed)?;
                }
                // `group` may still follow: keep the data's text until the object ends.
                "data" => deferred = Some(map.next_value_seed(RawSeed { borrowed })?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(text) = deferred {
            let mut de = serde_json::Deserializer::from_str(&text);
            let seed = DataSeed {
                ctx: &mut *self.ctx,
                group,
                metrics: &mut Vec::new(),
                stats: &mut Vec::new(),
                borrowed: true,
            };
            seed.deserialize(&mut de).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// A `group` object (or null).
struct GroupSeed<'c, 'de> {
    out: &'c mut Vec<GroupEntry<'de>>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for GroupSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GroupSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a group (an object of dimension values)")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.clear();
        while let Some(key) = map.next_key_seed(StrSeed)? {
            let value = scalar(map.next_value_seed(RawSeed {
                borrowed: self.borrowed,
            })?)?;
            self.out.push(GroupEntry { key, value });
        }
        Ok(())
    }
}

/// `data[]`: one entity per element.
struct DataSeed<'c, 's, 'g, 'de> {
    ctx: &'c mut Ctx<'s>,
    group: &'g [GroupEntry<'g>],
    metrics: &'c mut Vec<Metric<'de>>,
    stats: &'c mut Vec<Stat<'de>>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of data points")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let point = PointSeed {
                metrics: &mut *self.metrics,
                stats: &mut *self.stats,
                borrowed: self.borrowed,
            };
            let Some(interval) = seq.next_element_seed(point)? else {
                return Ok(());
            };
            let entity = Entity {
                shape: Shape::Api,
                group: self.group,
                interval: interval.as_deref(),
                id: None,
                metrics: self.metrics,
                stats: self.stats,
            };
            deliver(self.ctx, &entity)?;
        }
    }
}

/// Hands an entity to the sink, keeping the sink's own error beside the parse.
fn deliver<E: de::Error>(ctx: &mut Ctx<'_>, entity: &Entity<'_>) -> Result<(), E> {
    ctx.sink.entity(entity).map_err(|err| {
        let msg = format!("{err:#}");
        ctx.failure = Some(Failure::Sink(err));
        E::custom(msg)
    })
}

/// One `data[]` element: fills the metric and stat buffers, returns the interval.
struct PointSeed<'c, 'de> {
    metrics: &'c mut Vec<Metric<'de>>,
    stats: &'c mut Vec<Stat<'de>>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for PointSeed<'_, 'de> {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PointSeed<'_, 'de> {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a data point (an object with `interval` and `metrics`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.metrics.clear();
        self.stats.clear();
        let mut interval = None;
        let mut views_first = false;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "interval" => interval = map.next_value_seed(OptStrSeed)?,
                "metrics" | "views" => {
                    let view = key == "views";
                    views_first |= !view && self.metrics.last().is_some_and(|m| m.view);
                    let seed = MetricsSeed {
                        metrics: &mut *self.metrics,
                        stats: &mut *self.stats,
                        view,
                        borrowed: self.borrowed,
                    };
                    map.next_value_seed(seed)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if views_first {
            // Metrics, then views, whatever the key order: key order must not change columns.
            self.metrics.sort_by_key(|m| m.view);
        }
        Ok(interval)
    }
}

/// `metrics[]` or `views[]` (or null).
struct MetricsSeed<'c, 'de> {
    metrics: &'c mut Vec<Metric<'de>>,
    stats: &'c mut Vec<Stat<'de>>,
    view: bool,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for MetricsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetricsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.view {
            "an array of views"
        } else {
            "an array of metrics"
        })
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let seed = MetricSeed {
                stats: &mut *self.stats,
                view: self.view,
                borrowed: self.borrowed,
            };
            match seq.next_element_seed(seed)? {
                Some(metric) => self.metrics.push(metric),
                None => return Ok(()),
            }
        }
    }
}

/// One metric `{metric, qualifier?, stats}` or view `{name, stats}`.
struct MetricSeed<'c, 'de> {
    stats: &'c mut Vec<Stat<'de>>,
    view: bool,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for MetricSeed<'_, 'de> {
    type Value = Metric<'de>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MetricSeed<'_, 'de> {
    type Value = Metric<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.view {
            "a view (an object with `name` and `stats`)"
        } else {
            "a metric (an object with `metric` and `stats`)"
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let name_key = if self.view { "name" } else { "metric" };
        let start = self.stats.len();
        let mut name = None;
        let mut qualifier = None;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            if key == name_key {
                name = map.next_value_seed(OptStrSeed)?;
            } else if key == "qualifier" && !self.view {
                qualifier = map.next_value_seed(OptStrSeed)?;
            } else if key == "stats" {
                map.next_value_seed(StatsSeed {
                    stats: &mut *self.stats,
                    borrowed: self.borrowed,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let Some(name) = name else {
            let what = if self.view {
                "a view without a `name`"
            } else {
                "a metric without a `metric` name"
            };
            return Err(de::Error::custom(what));
        };
        Ok(Metric {
            name,
            qualifier,
            view: self.view,
            stats: start..self.stats.len(),
        })
    }
}

/// A `stats` object (or null); null stats are absent values and are dropped here.
struct StatsSeed<'c, 'de> {
    stats: &'c mut Vec<Stat<'de>>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for StatsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StatsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stats object")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key_seed(StrSeed)? {
            let value = map.next_value_seed(RawSeed {
                borrowed: self.borrowed,
            })?;
            if value == "null" {
                continue;
            }
            if !is_number(&value) {
                return Err(de::Error::custom(format_args!(
                    "stat `{name}` is not a number: {}",
                    excerpt(&value)
                )));
            }
            self.stats.push(Stat {
                name,
                value: Some(value),
            });
        }
        Ok(())
    }
}

/// One tutorial-shape entity: `{id, groups, metrics: {name: {value}}}`.
struct TutorialSeed<'c, 's, 'de> {
    ctx: &'c mut Ctx<'s>,
    scratch: &'c mut Scratch<'de>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for TutorialSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TutorialSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an entity (an object with `groups` and `metrics`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Scratch { group, metrics, stats } = self.scratch;
        let borrowed = self.borrowed;
        group.clear();
        metrics.clear();
        stats.clear();
        let mut id = Scalar::Null;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "id" => id = scalar(map.next_value_seed(RawSeed { borrowed })?)?,
                "groups" => map.next_value_seed(GroupSeed { out: group, borrowed })?,
                "metrics" => map.next_value_seed(TutorialMetricsSeed {
                    metrics,
                    stats,
                    borrowed,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let entity = Entity {
            shape: Shape::Tutorial,
            group,
            interval: None,
            id: (id != Scalar::Null).then_some(&id),
            metrics,
            stats,
        };
        deliver(self.ctx, &entity)
    }
}

/// The tutorial shape's `metrics`: `{"<name>": {"value": <number|null>}}` (a bare number
/// or null is taken as the value too).
struct TutorialMetricsSeed<'c, 'de> {
    metrics: &'c mut Vec<Metric<'de>>,
    stats: &'c mut Vec<Stat<'de>>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for TutorialMetricsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TutorialMetricsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of metrics")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key_seed(StrSeed)? {
            let text = map.next_value_seed(RawSeed {
                borrowed: self.borrowed,
            })?;
            let value =
                tutorial_value(text).map_err(|what| de::Error::custom(format_args!("metric `{name}`: {what}")))?;
            let at = self.stats.len();
            self.stats.push(Stat {
                name: Cow::Borrowed("value"),
                value,
            });
            self.metrics.push(Metric {
                name,
                qualifier: None,
                view: false,
                stats: at..at + 1,
            });
        }
        Ok(())
    }
}

/// The number inside a tutorial metric, `None` for null or a missing `value`.
fn tutorial_value(text: Cow<'_, str>) -> Result<Option<Cow<'_, str>>, String> {
    #[derive(Deserialize)]
    struct Holder<'a> {
        #[serde(borrow)]
        value: Option<&'a RawValue>,
    }
    let value = if text.starts_with('{') {
        let inner = match &text {
            Cow::Borrowed(s) => serde_json::from_str::<Holder>(s)
                .map_err(|e| e.to_string())?
                .value
                .map(|v| Cow::Borrowed(v.get())),
            Cow::Owned(s) => serde_json::from_str::<Holder>(s)
                .map_err(|e| e.to_string())?
                .value
                .map(|v| Cow::Owned(v.get().to_owned())),
        };
        match inner {
            Some(v) => v,
            None => return Ok(None),
        }
    } else {
        text
    };
    if value == "null" {
        return Ok(None);
    }
    if !is_number(&value) {
        return Err(format!("value is not a number: {}", excerpt(&value)));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the sink saw, one line per entity.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl EntitySink for Recorder {
        fn entity(&mut self, e: &Entity<'_>) -> anyhow::Result<()> {
            let group: Vec<String> = e.group.iter().map(|g| format!("{}={:?}", g.key, g.value)).collect();
            let values: Vec<String> = e
                .metrics
                .iter()
                .flat_map(|m| {
                    e.stats[m.stats.clone()].iter().map(move |s| {
                        format!(
                            "{}{}/{}={}",
                            if m.view { "view:" } else { "" },
                            m.name,
                            s.name,
                            s.value.as_deref().unwrap_or("null")
                        )
                    })
                })
                .collect();
            self.0.push(format!(
                "{:?} [{}] {:?} {}",
                e.shape,
                group.join(","),
                e.interval,
                values.join(" ")
            ));
            Ok(())
        }
    }

    fn run(input: &str) -> anyhow::Result<Vec<String>> {
        let mut sink = Recorder::default();
        read_source("t.json", &mut input.as_bytes(), &mut sink)?;
        Ok(sink.0)
    }

    fn err(input: &str) -> String {
        format!("{:#}", run(input).unwrap_err())
    }

    #[test]
    fn recognises_each_page_shape() {
        let out = run(r#"{"results":[{"group":{"q":"a"},"data":[{"interval":"s/e","metrics":[{"metric":"n","stats":{"count":1,"sum":null}}]}]}]}
            {"entities":[{"id":"x","groups":{"g":1},"metrics":{"m":{"value":null},"k":3}}]}
            {} {"cursor":"c"} {"results":null} {"results":{}} {"nextPageToken":"p","entities":[]}"#)
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], r#"Api [q=Text("a")] Some("s/e") n/count=1"#);
        assert_eq!(out[1], r#"Tutorial [g=Json("1")] None m/value=null k/value=3"#);
    }

    #[test]
    fn data_before_group_still_gets_its_group() {
        let out = run(r#"{"results":[{"data":[{"interval":"s/e","metrics":[]}],"group":{"q":"late"}}]}"#).unwrap();
        assert_eq!(out, vec![r#"Api [q=Text("late")] Some("s/e") "#]);
    }

    #[test]
    fn arrays_of_pages_and_bom() {
        let out = run("\u{feff}[ {\"results\":[]} , {\"entities\":[{\"metrics\":{\"a\":1}}]} ]\n[]").unwrap();
        assert_eq!(out, vec!["Tutorial [] None a/value=1"]);
        assert!(err("[{\"results\":[]} {\"results\":[]}]").contains("expected `,` or `]`"));
        assert!(err("[{\"results\":[]}").contains("not closed"));
    }

    #[test]
    fn page_errors_name_line_column_and_page() {
        let e = err("{\"results\":[]}\n  {\"status\":429,\"code\":\"too.many.requests\",\"message\":\"slow down\",\"contextId\":\"c1\"}");
        assert_eq!(
            e,
            "t.json:2:3: page 2: API error response: status 429, code too.many.requests: slow down (contextId c1)"
        );
        let e = err("{\"entities_list\":[1],\"pageSize\":25}");
        assert!(
            e.starts_with("t.json:1:1: page 1: not an aggregate response") && e.contains("`entities_list`"),
            "{e}"
        );
        let e = err("{\"results\":[]}\n{\"results\":[{\"group\":{\"q\":\"a\"},\"data\":[{\"interval\":\"x");
        assert!(
            e.starts_with("t.json:2:") && e.contains("page 2: truncated input"),
            "{e}"
        );
        let e = err("{\"results\":[{\"data\":[{\"metrics\":[{\"metric\":\"n\",\"stats\":{\"count\":\"7\"}}]}]}]}");
        assert!(e.contains("page 1: stat `count` is not a number: \"7\""), "{e}");
        assert!(err("42").contains("page 1: expected a page (a JSON object), found a number"));
    }

    #[test]
    fn numbers_keep_their_spelling_and_escapes_are_decoded() {
        let out = run(r#"{"results":[{"group":{"q":"a\"b"},"data":[{"metrics":[{"metric":"t","stats":{"sum":1.5e3,"max":150784.0}}]}]}]}"#).unwrap();
        assert_eq!(out, vec![r#"Api [q=Text("a\"b")] None t/sum=1.5e3 t/max=150784.0"#]);
    }

    #[test]
    fn deep_nesting_never_crashes() {
        let nested = |open: &str, close: &str| format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        // Skipped and captured values are walked without recursion: deep is fine there.
        let skipped = format!("{{\"results\":[],\"x\":{}}}", nested("{\"a\":", "}"));
        assert_eq!(run(&skipped).unwrap().len(), 0);
        // Where a structure is expected, nesting is a type error at once.
        let e = err(&format!("{{\"results\":{}}}", nested("[", "]")));
        assert!(e.contains("invalid type: sequence, expected a result"), "{e}");
        let e = err(&nested("[", "]"));
        assert!(e.contains("expected a page (a JSON object), found an array"), "{e}");
    }

    #[test]
    fn streamed_and_buffered_pages_agree() {
        let page = "{\"results\":[{\"group\":{\"q\":\"a\\u00e9\"},\"data\":[{\"interval\":\"s/e\",\n\"metrics\":[{\"metric\":\"n\",\"qualifier\":\"Q\",\"stats\":{\"count\":1}}],\"views\":[{\"name\":\"v\",\"stats\":{\"sum\":2.50}}]}]}]}";
        let input = format!("{page}\n {page}\n{{\"bad\":1}}");
        let run_with = |limit: usize| {
            let mut sink = Recorder::default();
            let mut reader = io::BufReader::with_capacity(5, input.as_bytes());
            let err = read_pages("t.json", &mut reader, &mut sink, limit).unwrap_err();
            (sink.0, format!("{err:#}"))
        };
        let buffered = run_with(BUFFERED_PAGE_LIMIT);
        assert_eq!(
            buffered.0[0],
            r#"Api [q=Text("aé")] Some("s/e") n/count=1 view:v/sum=2.50"#
        );
        assert_eq!(buffered.0.len(), 2);
        assert!(
            buffered.1.starts_with("t.json:5:1: page 3: not an aggregate response"),
            "{}",
            buffered.1
        );
        for limit in [1, 7, 64] {
            assert_eq!(run_with(limit), buffered, "limit {limit}");
        }
    }
}
