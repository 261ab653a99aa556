//! The parser: of pages held in memory, and of the parts of pages too large to hold.
//!
//! A hand-written walk of exactly the structure gcagg reads, over bytes checked once to be
//! UTF-8: keys are compared in place, strings without escapes and every number are borrowed
//! as slices of the page, and skipped values are checked and stepped over without recursion.
//!
//! A page too large to buffer is read by the same code a step at a time ([`cut_page`]): its
//! keys and small values from a window on the stream, its list elements handed on whole, as
//! [`Part`]s, to be parsed like pages on any thread. The walk of a page's keys is one
//! ([`PageState`]) whatever the page's size, so a page gets the same verdict either way.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::sync::Arc;

use super::lanes::mask16;

use super::split::{Filling, Sent, Window};
use super::{
    byte_table, excerpt, report_at, scalar, Element, ElementKind, Entity, EntitySink, Failure, GroupEntry, Kinds,
    Metric, Observation, PageFailure, PageKeys, Part, Pos, Scalar, Scratch, Stat,
};

/// Parses one page or part of a page (a page starts with `{`) and hands its entities to
/// `sink`; `observed`: when the observations in it were observed, if its source said;
/// `scratch`: the thread's buffers (emptied first).
pub(super) fn parse<'a>(
    page: &'a [u8],
    part: &Part,
    observed: Option<&'a str>,
    scratch: &mut Scratch<'a>,
    sink: &mut dyn EntitySink,
) -> Result<(), PageFailure> {
    let (text, bad) = valid_start(page, true);
    let mut parser = Parser::new(text, observed.map(Cow::Borrowed));
    scratch.clear();
    let p = &mut parser;
    let read = match part {
        Part::Page => walk_page(p, scratch, sink),
        Part::Result => result(p, scratch, sink, None).map(drop),
        Part::Entity => tutorial_entity(p, scratch, sink),
        Part::Point { group, first } => cut_point(p, scratch, sink, group, *first),
        Part::Data { group } => {
            scratch.group.extend(group.iter().cloned());
            data(p, scratch, sink)
        }
        Part::Event { detail, topic, time } => read_event(p, scratch, sink, *detail, topic.as_deref(), time),
        Part::Skipped => {
            sink.skipped();
            Ok(())
        }
        Part::End => Ok(()),
    };
    before_bad(read, bad).map_err(|stop| failure(page, stop.at, stop.kind))
}

/// The longest start of `bytes` that is UTF-8, and where the bytes that are not start, if
/// any. Such bytes end a part where they start, but a failure before them is the one
/// reported (see [`before_bad`]), as when a page is cut at its elements and read in parts.
/// `whole`: whether `bytes` end where their text does (a page, a part, the source's end); if
/// not, a sequence they end inside may go on past them, and is not bad.
fn valid_start(bytes: &[u8], whole: bool) -> (&str, Option<usize>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let valid = e.valid_up_to();
            let text = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            (text, (whole || e.error_len().is_some()).then_some(valid))
        }
    }
}

/// What reading the valid start of a part gave, with the bad bytes after it (`bad`): a
/// failure the bytes before them decided is the first in reading order and stands (see
/// [`blames_bad`]); otherwise the bad bytes are the failure.
fn before_bad<T>(read: Step<T>, bad: Option<usize>) -> Step<T> {
    match (read, bad) {
        (Err(stop), Some(at)) if !blames_bad(&stop, at) => Err(stop),
        (_, Some(at)) => Err(Stop {
            at,
            kind: Failure::Syntax("invalid UTF-8 in the input".into()),
        }),
        (read, None) => read,
    }
}

/// Whether a failure (`stop`) in a text that ends where bytes that are not UTF-8 start, at
/// `bad`, may be their doing: the parser stopped at them, or wanted more text than there was
/// (`tru|e`, `\u00|e9`, an open string). Any other failure was decided by the bytes before
/// them (a control character, a wrong byte, `}` for `:`), so it is the first in reading order
/// however the text is cut: a page read whole (which ends at its closing bracket) and read cut
/// in parts or windows (which may end before the bad bytes, or hold bytes past the page)
/// report the same one.
fn blames_bad(stop: &Stop, bad: usize) -> bool {
    stop.at >= bad || matches!(stop.kind, Failure::Truncated)
}

/// Converts a byte offset into the line and column serde would report.
fn failure(page: &[u8], at: usize, kind: Failure) -> PageFailure {
    let before = &page[..at.min(page.len())];
    let line = 1 + memchr::memchr_iter(b'\n', before).count();
    let column = match memchr::memrchr(b'\n', before) {
        Some(nl) => at - nl,
        None => at + 1,
    };
    PageFailure::new(line, column, kind)
}

/// The bytes that end a string's plain run: the closing quote, an escape, a control byte.
static STRING_STOP: [bool; 256] = byte_table(b"\"\\", 0x20);

/// Why the walk stopped, and where (a byte offset in the page).
struct Stop {
    at: usize,
    kind: Failure,
}

type Step<T> = Result<T, Stop>;

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Closing brackets of the containers `skip` is inside.
    stack: Vec<u8>,
    /// When the observations being read were observed.
    observed: Option<Cow<'a, str>>,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `text` (valid UTF-8: see [`valid_start`]).
    fn new(text: &'a str, observed: Option<Cow<'a, str>>) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            at: 0,
            stack: Vec::new(),
            observed,
        }
    }

    fn fail<T>(&self, at: usize, msg: impl Into<String>) -> Step<T> {
        Err(Stop {
            at,
            kind: Failure::Syntax(msg.into()),
        })
    }

    fn error<T>(&self, msg: impl Into<String>) -> Step<T> {
        self.fail(self.at, msg)
    }

    fn truncated_at<T>(&self, at: usize) -> Step<T> {
        Err(Stop {
            at,
            kind: Failure::Truncated,
        })
    }

    fn truncated<T>(&self) -> Step<T> {
        self.truncated_at(self.at)
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Step<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Ok(b);
            }
            self.at += 1;
        }
        self.truncated()
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Step<()> {
        if self.peek()? == byte {
            self.at += 1;
            Ok(())
        } else {
            self.error(format!("expected `{}`", byte as char))
        }
    }

    /// An error naming what was found where `expected` should be.
    fn type_error<T>(&mut self, expected: &str) -> Step<T> {
        let found = match self.peek()? {
            b'{' => "map",
            b'[' => "sequence",
            b'"' => "string",
            b'-' | b'0'..=b'9' => "number",
            b't' | b'f' => "boolean",
            b'n' => "null",
            _ => return self.error("expected value"),
        };
        self.error(format!("invalid type: {found}, expected {expected}"))
    }

    /// Consumes `null` if it comes next.
    fn null(&mut self) -> Step<bool> {
        if self.peek()? != b'n' {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &[u8]) -> Step<()> {
        let end = self.at + word.len();
        let found = &self.bytes[self.at..end.min(self.bytes.len())];
        if found == word {
            self.at = end;
            Ok(())
        } else if word.starts_with(found) {
            // Only a text that ends inside the word is truncated: a wrong byte before the
            // end is wrong however much text follows, so a part cut short after it (a
            // page cut at its elements) says what a page read whole says.
            self.truncated()
        } else {
            self.error("expected value")
        }
    }

    /// Calls `each` with every key of an object; `each` consumes the value.
    #[inline]
    fn object(&mut self, expected: &str, mut each: impl FnMut(&mut Self, Cow<'a, str>) -> Step<()>) -> Step<()> {
        if self.peek()? != b'{' {
            return self.type_error(expected);
        }
        self.at += 1;
        if self.peek()? == b'}' {
            self.at += 1;
            return Ok(());
        }
        loop {
            if self.peek()? != b'"' {
                return self.error("key must be a string");
            }
            let key = self.string()?;
            self.expect(b':')?;
            each(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return self.error("expected `,` or `}`"),
            }
        }
    }

    /// Calls `each` for every element of an array (or not at all for null).
    #[inline]
    fn array_or_null(&mut self, expected: &str, mut each: impl FnMut(&mut Self) -> Step<()>) -> Step<()> {
        if self.null()? {
            return Ok(());
        }
        if self.peek()? != b'[' {
            return self.type_error(expected);
        }
        self.at += 1;
        if self.peek()? == b']' {
            self.at += 1;
            return Ok(());
        }
        loop {
            each(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return self.error("expected `,` or `]`"),
            }
        }
    }

    /// A string (the cursor is on its opening quote), borrowed unless it has escapes.
    #[inline]
    fn string(&mut self) -> Step<Cow<'a, str>> {
        let start = self.at + 1;
        let mut end = start;
        // Sixteen bytes at a time while there are sixteen, then byte by byte.
        while let Some(lane) = self.bytes.get(end..end + 16) {
            let stops = mask16(lane.try_into().expect("sixteen bytes"), b"\"\\", 0x20);
            if stops != 0 {
                end += stops.trailing_zeros() as usize;
                break;
            }
            end += 16;
        }
        while self.bytes.get(end).is_some_and(|&b| !STRING_STOP[usize::from(b)]) {
            end += 1;
        }
        while let Some(&b) = self.bytes.get(end) {
            match b {
                b'"' => {
                    self.at = end + 1;
                    return Ok(Cow::Borrowed(&self.text[start..end]));
                }
                b'\\' => return self.escaped(start, end),
                0..=0x1f => return self.fail(end, "control character (\\u0000-\\u001F) found while parsing a string"),
                _ => end += 1,
            }
        }
        self.at = end;
        self.truncated()
    }

    /// The rest of a string that has escapes, from its first backslash at `end`.
    fn escaped(&mut self, start: usize, mut end: usize) -> Step<Cow<'a, str>> {
        let mut out = String::from(&self.text[start..end]);
        loop {
            let Some(&b) = self.bytes.get(end) else {
                self.at = end;
                return self.truncated();
            };
            match b {
                b'"' => {
                    self.at = end + 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    let Some(&e) = self.bytes.get(end + 1) else {
                        self.at = end + 1;
                        return self.truncated();
                    };
                    end += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let c = self.unicode_escape(&mut end)?;
                            out.push(c);
                        }
                        _ => return self.fail(end - 1, "invalid escape"),
                    }
                }
                0..=0x1f => return self.fail(end, "control character (\\u0000-\\u001F) found while parsing a string"),
                _ => {
                    let run = self.bytes[end..]
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20);
                    let stop = run.map_or(self.bytes.len(), |n| end + n);
                    out.push_str(&self.text[end..stop]);
                    end = stop;
                }
            }
        }
    }

    /// The code point of `\uXXXX` (and its low surrogate, if it starts a pair); `end` is just
    /// past the `u`.
    fn unicode_escape(&mut self, end: &mut usize) -> Step<char> {
        let first = self.hex4(end)?;
        let code = match first {
            0xD800..=0xDBFF => {
                match (self.bytes.get(*end), self.bytes.get(*end + 1)) {
                    (Some(b'\\'), Some(b'u')) => {}
                    // The text ended before the byte that decides it.
                    (None, _) | (Some(b'\\'), None) => {
                        self.at = self.bytes.len();
                        return self.truncated();
                    }
                    _ => return self.fail(*end, "lone leading surrogate in hex escape"),
                }
                *end += 2;
                let second = self.hex4(end)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return self.fail(*end, "lone leading surrogate in hex escape");
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.fail(*end, "lone trailing surrogate in hex escape"),
            code => code,
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.fail(*end, "invalid unicode code point"),
        }
    }

    fn hex4(&mut self, end: &mut usize) -> Step<u32> {
        let Some(digits) = self.bytes.get(*end..*end + 4) else {
            self.at = self.bytes.len();
            return self.truncated();
        };
        let mut code = 0;
        for (i, &d) in digits.iter().enumerate() {
            let Some(v) = (d as char).to_digit(16) else {
                return self.fail(*end + i, "invalid escape");
            };
            code = code * 16 + v;
        }
        *end += 4;
        Ok(code)
    }

    /// A number (the cursor is on its first byte), as the input spelled it.
    #[inline]
    fn number(&mut self) -> Step<&'a str> {
        let b = self.bytes;
        let start = self.at;
        let mut end = start;
        let digit = |i: usize| matches!(b.get(i), Some(b'0'..=b'9'));
        if b.get(end) == Some(&b'-') {
            end += 1;
        }
        match b.get(end) {
            Some(b'0') => end += 1,
            Some(b'1'..=b'9') => {
                end += 1;
                while digit(end) {
                    end += 1;
                }
            }
            Some(_) => return self.fail(end, "invalid number"),
            None => return self.truncated_at(end),
        }
        if b.get(end) == Some(&b'.') {
            end += 1;
            if !digit(end) {
                return self.fail(end, "invalid number");
            }
            while digit(end) {
                end += 1;
            }
        }
        if matches!(b.get(end), Some(b'e' | b'E')) {
            end += 1;
            if matches!(b.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            if !digit(end) {
                return self.fail(end, "invalid number");
            }
            while digit(end) {
                end += 1;
            }
        }
        self.at = end;
        Ok(&self.text[start..end])
    }

    /// Checks and steps over one value of any shape, without recursion.
    fn skip(&mut self) -> Step<()> {
        self.stack.clear();
        loop {
            // One value starts here.
            match self.peek()? {
                b'{' => {
                    self.at += 1;
                    if self.peek()? == b'}' {
                        self.at += 1;
                    } else {
                        self.stack.push(b'}');
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.at += 1;
                    if self.peek()? == b']' {
                        self.at += 1;
                    } else {
                        self.stack.push(b']');
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b'-' | b'0'..=b'9' => {
                    self.number()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return self.error("expected value"),
            }
            // The value is complete: close what it completes, then find the next value.
            loop {
                let Some(&close) = self.stack.last() else {
                    return Ok(());
                };
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        if close == b'}' {
                            self.key()?;
                        }
                        break;
                    }
                    b if b == close => {
                        self.at += 1;
                        self.stack.pop();
                    }
                    _ => return self.error(format!("expected `,` or `{}`", close as char)),
                }
            }
        }
    }

    /// A key and its colon, inside a skipped object.
    fn key(&mut self) -> Step<()> {
        if self.peek()? != b'"' {
            return self.error("key must be a string");
        }
        self.string()?;
        self.expect(b':')
    }

    /// The JSON text of the next value.
    fn raw(&mut self) -> Step<&'a str> {
        self.peek()?;
        let start = self.at;
        self.skip()?;
        Ok(&self.text[start..self.at])
    }

    /// Steps into the container `brackets[0]` opens, or fails naming what was `expected`;
    /// false if it closes at once (and is then stepped over).
    fn open(&mut self, [open, close]: [u8; 2], expected: &str) -> Step<bool> {
        if self.peek()? != open {
            return self.type_error(expected);
        }
        self.at += 1;
        if self.peek()? == close {
            self.at += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// A string or null.
    fn opt_string(&mut self) -> Step<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.literal(b"null").map(|()| None),
            _ => self.type_error("a string"),
        }
    }

    /// A value's text as a [`Scalar`].
    fn scalar(&mut self) -> Step<Scalar<'a>> {
        let text = self.raw()?;
        match scalar(Cow::Borrowed(text)) {
            Ok(value) => Ok(value),
            Err(msg) => self.error(msg),
        }
    }
}

/// The keys of a page, read the same way whether the page is held whole or cut.
#[derive(Default, Clone)]
struct PageState {
    keys: PageKeys,
    /// An EventBridge event's `time`.
    time: Option<String>,
}

/// What a page's key holds, once [`PageState::member`] has looked at it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    /// Its value has been read.
    Read,
    /// `results` (false) or `entities` (true): the page's list, still to read.
    List(bool),
    /// `data` or `group` of a page that is itself a result, still to read.
    Own,
    /// A notification's `eventBody` or `detail`, read once the page is, when the topic that
    /// names the group's id is known.
    Event,
}

/// How a page ends, once all its keys are read.
enum Verdict {
    /// A notification control message: it holds no data.
    Skipped,
    /// A notification: its event, `detail` (true) or `eventBody`, is read now.
    Event(bool),
    /// Nothing more to do.
    Done,
    /// Not a page gcagg reads: why.
    Complaint(String),
}

impl PageState {
    /// Reads the value of page key `key` unless it is a list, a result's own key or an
    /// event (then says which).
    fn member(&mut self, p: &mut Parser<'_>, key: &str) -> Step<Member> {
        let keys = &mut self.keys;
        Ok(match key {
            "results" | "entities" => {
                let results = key == "results";
                claim(p, keys, if results { "results" } else { "entities" })?;
                Member::List(!results)
            }
            "data" => {
                claim(p, keys, "data")?;
                Member::Own
            }
            "group" => {
                keys.group = true;
                Member::Own
            }
            "eventBody" | "detail" => {
                claim(p, keys, if key == "detail" { "detail" } else { "eventBody" })?;
                Member::Event
            }
            _ => {
                let text = |p: &mut Parser<'_>| p.scalar().map(|v| Some(v.into_text()));
                match key {
                    "topicName" => keys.topic = text(p)?,
                    "time" => self.time = text(p)?,
                    "status" => keys.status = text(p)?,
                    "message" => keys.message = text(p)?,
                    "code" => keys.code = text(p)?,
                    "contextId" => keys.context_id = text(p)?,
                    "result" => {
                        keys.result = true;
                        p.skip()?;
                    }
                    other => {
                        if !matches!(other, "cursor" | "nextPageToken") && keys.others.len() < 8 {
                            keys.others.push(other.to_owned());
                        }
                        p.skip()?;
                    }
                }
                Member::Read
            }
        })
    }

    /// How the page ends; `event`: whether it had an `eventBody` or `detail`.
    fn verdict(&self, event: bool) -> Verdict {
        if self.keys.is_control() {
            Verdict::Skipped
        } else if event {
            Verdict::Event(self.keys.body == Some("detail"))
        } else if self.keys.is_read() {
            Verdict::Done
        } else {
            self.keys.complaint().map_or(Verdict::Done, Verdict::Complaint)
        }
    }
}

fn walk_page<'a>(p: &mut Parser<'a>, scratch: &mut Scratch<'a>, sink: &mut dyn EntitySink) -> Step<()> {
    let mut state = PageState::default();
    // A page that is itself a `results[]` element (a bare `results` array's element).
    let mut own = ResultKeys::default();
    let mut event = None;
    p.object("a page (a JSON object)", |p, key| match state.member(p, &key)? {
        Member::Read => Ok(()),
        Member::List(tutorial) => list(p, scratch, sink, tutorial),
        Member::Own => own.read(p, &key, scratch, sink).map(drop),
        Member::Event => {
            p.peek()?;
            event = Some(p.at);
            p.skip()
        }
    })?;
    own.finish(p, scratch, sink)?;
    match state.verdict(event.is_some()) {
        Verdict::Skipped => {
            sink.skipped();
            Ok(())
        }
        Verdict::Event(detail) => {
            let end = p.at;
            p.at = event.unwrap_or(end);
            let topic = state.keys.topic.as_deref();
            read_event(p, scratch, sink, detail, topic, &state.time)?;
            p.at = end;
            Ok(())
        }
        Verdict::Done => Ok(()),
        Verdict::Complaint(msg) => Err(Stop {
            at: 0,
            kind: Failure::Page(msg),
        }),
    }
}

/// A notification's event, `detail` or `eventBody`, which the cursor is on.
fn read_event<'a>(
    p: &mut Parser<'a>,
    scratch: &mut Scratch<'a>,
    sink: &mut dyn EntitySink,
    detail: bool,
    topic: Option<&str>,
    time: &Option<String>,
) -> Step<()> {
    if detail {
        self::detail(p, scratch, sink, time.clone())
    } else {
        event_body(p, scratch, sink, topic)
    }
}

/// An EventBridge event's `detail`: the notification, observed at the event's `time`.
fn detail<'a>(
    p: &mut Parser<'a>,
    scratch: &mut Scratch<'a>,
    sink: &mut dyn EntitySink,
    time: Option<String>,
) -> Step<()> {
    let mut topic = None;
    let mut body = None;
    p.object(
        "an event's detail (an object with `topicName` and `eventBody`)",
        |p, key| match key.as_ref() {
            "topicName" => p.scalar().map(|v| topic = Some(v.into_text())),
            "eventBody" => {
                p.peek()?;
                body = Some(p.at);
                p.skip()
            }
            _ => p.skip(),
        },
    )?;
    if topic.as_deref().is_some_and(super::is_control_topic) {
        sink.skipped();
        return Ok(());
    }
    let Some(at) = body else {
        return p.fail(p.at - 1, "an event's `detail` without an `eventBody`");
    };
    let end = p.at;
    p.at = at;
    let page = std::mem::replace(&mut p.observed, time.map(Cow::Owned));
    let read = event_body(p, scratch, sink, topic.as_deref());
    p.observed = page;
    read?;
    p.at = end;
    Ok(())
}

/// A notification's `eventBody`: a `results[]` element, its group completed with the id
/// its topic names.
fn event_body<'a>(
    p: &mut Parser<'a>,
    scratch: &mut Scratch<'a>,
    sink: &mut dyn EntitySink,
    topic: Option<&str>,
) -> Step<()> {
    let data = result(p, scratch, sink, super::topic_entry(topic))?;
    if !data {
        let topic = topic.unwrap_or("none");
        return p.fail(p.at - 1, format!("an event of topic `{topic}` whose `eventBody` has no `data`: flatten reads the analytics topics' events"));
    }
    Ok(())
}

/// [`PageKeys::claim`], failing at the key's value.
fn claim(p: &Parser<'_>, keys: &mut PageKeys, key: &'static str) -> Step<()> {
    keys.claim(key).or_else(|msg| p.error(msg))
}

/// `results` or `entities`: null, an array, or an empty object.
fn list<'a>(p: &mut Parser<'a>, scratch: &mut Scratch<'a>, sink: &mut dyn EntitySink, tutorial: bool) -> Step<()> {
    let expected = if tutorial {
        "an array of entities"
    } else {
        "an array of results"
    };
    if p.peek()? == b'{' {
        let at = p.at;
        p.at += 1;
        if p.peek()? == b'}' {
            p.at += 1;
            return Ok(());
        }
        p.at = at;
        return p.type_error(expected);
    }
    p.array_or_null(expected, |p| {
        if tutorial {
            tutorial_entity(p, scratch, sink)
        } else {
            result(p, scratch, sink, None).map(drop)
        }
    })
}

/// One `results[]` element, its group completed with `topic`'s id; returns whether it had
/// a `data`.
fn result<'a>(
    p: &mut Parser<'a>,
    scratch: &mut Scratch<'a>,
    sink: &mut dyn EntitySink,
    topic: Option<GroupEntry<'static>>,
) -> Step<bool> {
    scratch.group.clear();
    scratch.early.clear();
    let mut keys = ResultKeys {
        topic,
        ..ResultKeys::default()
    };
    p.object("a result (an object with `group` and `data`)", |p, key| {
        if !keys.read(p, &key, scratch, sink)? {
            p.skip()?;
        }
        Ok(())
    })?;
    let data = keys.have_data;
    keys.finish(p, scratch, sink)?;
    Ok(data)
}

/// The `group` and `data` of a result, read in either order (into a group cleared before).
#[derive(Default)]
struct ResultKeys {
    have_group: bool,
    have_data: bool,
    /// Each `data` that came before the group: a repeated one adds its elements to the
    /// first one's, as after the group.
    deferred: Vec<Deferred>,
    /// The id a notification's topic names, for a group that lacks it.
    topic: Option<GroupEntry<'static>>,
}

impl ResultKeys {
    /// Reads the value of `key` if it is `group` or `data` (true), else leaves it (false).
    fn read<'a>(
        &mut self,
        p: &mut Parser<'a>,
        key: &str,
        scratch: &mut Scratch<'a>,
        sink: &mut dyn EntitySink,
    ) -> Step<bool> {
        match key {
            "group" => {
                self.have_group = true;
                group_entries(p, &mut scratch.group)?;
                super::add_topic_id(&mut scratch.group, &self.topic);
            }
            "data" if self.have_group => {
                self.have_data = true;
                data(p, scratch, sink)?;
            }
            "data" => {
                // `group` may still follow: come back to the data once the object is read.
                self.have_data = true;
                let deferred = early_data(p, &mut scratch.early)?;
                self.deferred.push(deferred);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The object has been read: flattens the data that came before the group.
    fn finish<'a>(self, p: &mut Parser<'a>, scratch: &mut Scratch<'a>, sink: &mut dyn EntitySink) -> Step<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        if !self.have_group {
            super::add_topic_id(&mut scratch.group, &self.topic);
        }
        let end = p.at;
        for deferred in self.deferred {
            match deferred {
                Deferred::Read(points) => {
                    let Early {
                        metrics,
                        stats,
                        points: all,
                    } = &scratch.early;
                    for point in &all[points] {
                        let entity = Entity::api(
                            &scratch.group,
                            point.interval.as_deref(),
                            &metrics[point.metrics.clone()],
                            stats,
                        );
                        sink.entity(&entity).map_err(|err| Stop {
                            at: point.end,
                            kind: Failure::Sink(err),
                        })?;
                    }
                }
                Deferred::At(start) => {
                    p.at = start;
                    data(p, scratch, sink)?;
                }
            }
        }
        p.at = end;
        Ok(())
    }
}

/// A `data` that came before its result's group.
enum Deferred {
    /// Read already: its data points, `Early::points[range]`, wait for the group.
    Read(std::ops::Range<usize>),
    /// To be read from here once the group is known: an observation's (its metrics make one
    /// entity), or one that fails, which then fails where and when it always did.
    At(usize),
}

/// The data points of `data`s read before their result's group (`jq -S` puts `data`
/// first): read once, handed over when the group is known.
#[derive(Default)]
pub(super) struct Early<'a> {
    metrics: Vec<Metric<'a>>,
    stats: Vec<Stat<'a>>,
    points: Vec<EarlyPoint<'a>>,
}

impl Early<'_> {
    pub(super) fn clear(&mut self) {
        self.metrics.clear();
        self.stats.clear();
        self.points.clear();
    }

    /// Emptied, for another batch (see `Scratch::recycle`).
    pub(super) fn recycle(self) -> Early<'static> {
        Early {
            metrics: super::empty(self.metrics),
            stats: super::empty(self.stats),
            points: super::empty(self.points),
        }
    }
}

/// One data point of [`Early`]: its interval, its metrics, where it ends (where a sink's
/// error on it is reported).
struct EarlyPoint<'a> {
    interval: Option<Cow<'a, str>>,
    metrics: std::ops::Range<usize>,
    end: usize,
}

/// Reads a `data` before its result's group into `early`, if it holds aggregate data
/// points only and nothing is wrong with it; else steps over it, as it always was until the
/// group is known (a syntax error is found now, anything else then).
fn early_data<'a>(p: &mut Parser<'a>, early: &mut Early<'a>) -> Step<Deferred> {
    p.peek()?;
    let start = p.at;
    let (first, metrics, stats) = (early.points.len(), early.metrics.len(), early.stats.len());
    let (mut observations, mut fields) = (Vec::new(), Vec::new());
    let read = p.array_or_null("an array of data points", |p| {
        let m = early.metrics.len();
        let element = point(p, &mut early.metrics, &mut early.stats, &mut observations, &mut fields)?;
        if element.kind() != Ok(ElementKind::Aggregate) {
            // Read again once the group is known, where it is refused or joins its kind.
            return p.error("");
        }
        super::views_last(&mut early.metrics[m..]);
        early.points.push(EarlyPoint {
            interval: element.interval,
            metrics: m..early.metrics.len(),
            end: p.at - 1,
        });
        Ok(())
    });
    if read.is_ok() {
        return Ok(Deferred::Read(first..early.points.len()));
    }
    early.points.truncate(first);
    early.metrics.truncate(metrics);
    early.stats.truncate(stats);
    p.at = start;
    p.skip()?;
    Ok(Deferred::At(start))
}

fn group_entries<'a>(p: &mut Parser<'a>, out: &mut Vec<GroupEntry<'a>>) -> Step<()> {
    if p.null()? {
        return Ok(());
    }
    out.clear();
    p.object("a group (an object of dimension values)", |p, key| {
        let value = p.scalar()?;
        out.push(GroupEntry { key, value });
        Ok(())
    })
}

/// `data[]`: one entity per data point of an aggregate, one for all the metrics of an
/// observation.
fn data<'a>(p: &mut Parser<'a>, scratch: &mut Scratch<'a>, sink: &mut dyn EntitySink) -> Step<()> {
    scratch.start_data();
    let mut kinds = Kinds::default();
    let observed = p.observed.clone();
    p.array_or_null("an array of data points", |p| data_point(p, scratch, &mut kinds, sink))?;
    if kinds.observation {
        let s = &*scratch;
        let entity = Entity::observation(
            &s.group,
            observed.as_deref(),
            (&s.metrics, &s.stats),
            (&s.observations, &s.fields),
        );
        deliver(p, sink, &entity)?;
    }
    Ok(())
}

/// One `data[]` element: an aggregate's data point is an entity at once; an observation's
/// metric joins the entity its array makes (`kinds`: what the array held so far).
fn data_point<'a>(
    p: &mut Parser<'a>,
    scratch: &mut Scratch<'a>,
    kinds: &mut Kinds,
    sink: &mut dyn EntitySink,
) -> Step<()> {
    let Scratch {
        group,
        metrics,
        stats,
        observations,
        fields,
        ..
    } = scratch;
    let element = point(p, metrics, stats, observations, fields)?;
    let kind = element.kind().or_else(|why| p.fail(p.at - 1, why))?;
    kinds.note(&kind).or_else(|why| p.fail(p.at - 1, why))?;
    if kind == ElementKind::Observation {
        return Ok(());
    }
    super::views_last(metrics);
    let entity = Entity::api(group, element.interval.as_deref(), metrics, stats);
    deliver(p, sink, &entity)?;
    metrics.clear();
    stats.clear();
    Ok(())
}

/// A `data[]` element of a result too large to buffer, read with the result's `group`;
/// `first`: the first of its array. An observation's metrics make one entity together,
/// so their result is read whole or not at all.
fn cut_point<'a>(
    p: &mut Parser<'a>,
    scratch: &mut Scratch<'a>,
    sink: &mut dyn EntitySink,
    group: &[GroupEntry<'static>],
    first: bool,
) -> Step<()> {
    scratch.group.extend(group.iter().cloned());
    let mut kinds = Kinds {
        aggregate: !first,
        observation: false,
    };
    data_point(p, scratch, &mut kinds, sink)?;
    if kinds.observation {
        return p.fail(
            p.at - 1,
            "a result of observation metrics over 16 MiB: its metrics make one row, read from a buffer of at most 16 MiB",
        );
    }
    Ok(())
}

/// Hands an entity to the sink; its error is reported at the entity's closing brace.
fn deliver(p: &Parser<'_>, sink: &mut dyn EntitySink, entity: &Entity<'_>) -> Step<()> {
    sink.entity(entity).map_err(|err| Stop {
        at: p.at - 1,
        kind: Failure::Sink(err),
    })
}

/// One `data[]` element: an aggregate's data point fills `metrics` and `stats`; an
/// observation's metric is added to them, its entries to `observations` and `fields`.
fn point<'a>(
    p: &mut Parser<'a>,
    metrics: &mut Vec<Metric<'a>>,
    stats: &mut Vec<Stat<'a>>,
    observations: &mut Vec<Observation>,
    fields: &mut Vec<GroupEntry<'a>>,
) -> Step<Element<'a>> {
    let mut element = Element::default();
    let (first_stat, first_entry) = (stats.len(), observations.len());
    let first_metric = metrics.len();
    p.object(
        "a data point (an object with `interval` and `metrics`)",
        |p, key| match key.as_ref() {
            "interval" => p.opt_string().map(|v| element.interval = v),
            "metrics" => metric_list(p, metrics, stats, false),
            "views" => metric_list(p, metrics, stats, true),
            "metric" => p.opt_string().map(|v| element.metric = v),
            "qualifier" => {
                element.qualifier = p.opt_string()?;
                if element.qualifier.is_some() {
                    element.observed("qualifier");
                }
                Ok(())
            }
            "stats" => {
                let before = stats.len();
                stat_values(p, stats)?;
                if stats.len() > before {
                    element.observed("stats");
                }
                Ok(())
            }
            "truncated" => {
                element.truncated = match p.peek()? {
                    b't' => p.literal(b"true").map(|()| true)?,
                    b'f' => p.literal(b"false").map(|()| false)?,
                    b'n' => p.literal(b"null").map(|()| false)?,
                    _ => return p.type_error("a boolean"),
                };
                if element.truncated {
                    element.observed("truncated");
                }
                Ok(())
            }
            "observations" => {
                let before = observations.len();
                entries(p, observations, fields, first_metric)?;
                if observations.len() > before {
                    element.observed("observations");
                }
                Ok(())
            }
            _ => p.raw().map(|value| element.note(&key, value)),
        },
    )?;
    element.aggregate = metrics.len() > first_metric;
    if let Some(name) = element.metric.clone() {
        if !element.aggregate {
            // Entries are listed before their metric is: they point at where it goes.
            for entry in &mut observations[first_entry..] {
                entry.truncated = element.truncated;
            }
            metrics.push(Metric {
                name,
                qualifier: element.qualifier.clone(),
                view: false,
                stats: first_stat..stats.len(),
            });
        }
    }
    Ok(element)
}

/// An observation metric's `observations[]` (or null): each entry's fields, for the
/// metric that will be `metrics[metric]`.
fn entries<'a>(
    p: &mut Parser<'a>,
    observations: &mut Vec<Observation>,
    fields: &mut Vec<GroupEntry<'a>>,
    metric: usize,
) -> Step<()> {
    p.array_or_null("an array of observations", |p| {
        let start = fields.len();
        p.object("an observation (an object of fields)", |p, key| {
            let value = p.scalar()?;
            fields.push(GroupEntry { key, value });
            Ok(())
        })?;
        observations.push(Observation {
            metric,
            truncated: false,
            fields: start..fields.len(),
        });
        Ok(())
    })
}

fn metric_list<'a>(
    p: &mut Parser<'a>,
    metrics: &mut Vec<Metric<'a>>,
    stats: &mut Vec<Stat<'a>>,
    view: bool,
) -> Step<()> {
    let (expected, each) = if view {
        ("an array of views", "a view (an object with `name` and `stats`)")
    } else {
        ("an array of metrics", "a metric (an object with `metric` and `stats`)")
    };
    p.array_or_null(expected, |p| {
        let start = stats.len();
        let mut name = None;
        let mut qualifier = None;
        p.object(each, |p, key| {
            // Constant comparisons compile to a few loads; a runtime key would call memcmp.
            if (view && key == "name") || (!view && key == "metric") {
                name = p.opt_string()?;
                Ok(())
            } else if key == "qualifier" && !view {
                qualifier = p.opt_string()?;
                Ok(())
            } else if key == "stats" {
                stat_values(p, stats)
            } else {
                p.skip()
            }
        })?;
        let Some(name) = name else {
            let what = if view {
                "a view without a `name`"
            } else {
                "a metric without a `metric` name"
            };
            return p.fail(p.at - 1, what);
        };
        metrics.push(Metric {
            name,
            qualifier,
            view,
            stats: start..stats.len(),
        });
        Ok(())
    })
}

/// A `stats` object (or null); null stats are absent values and are dropped here.
fn stat_values<'a>(p: &mut Parser<'a>, stats: &mut Vec<Stat<'a>>) -> Step<()> {
    if p.null()? {
        return Ok(());
    }
    p.object("a stats object", |p, name| match p.peek()? {
        b'-' | b'0'..=b'9' => {
            let value = p.number()?;
            stats.push(Stat {
                name,
                value: Some(Cow::Borrowed(value)),
            });
            Ok(())
        }
        b'n' => p.literal(b"null"),
        _ => {
            // Reported at the value's first byte, where every other wrong value is.
            let at = p.at;
            let text = p.raw()?;
            p.fail(at, format!("stat `{name}` is not a number: {}", excerpt(text)))
        }
    })
}

fn tutorial_entity<'a>(p: &mut Parser<'a>, scratch: &mut Scratch<'a>, sink: &mut dyn EntitySink) -> Step<()> {
    let Scratch {
        group, metrics, stats, ..
    } = scratch;
    group.clear();
    metrics.clear();
    stats.clear();
    let mut id = Scalar::Null;
    p.object(
        "an entity (an object with `groups` and `metrics`)",
        |p, key| match key.as_ref() {
            "id" => p.scalar().map(|v| id = v),
            "groups" => group_entries(p, group),
            "metrics" => tutorial_metrics(p, metrics, stats),
            _ => p.skip(),
        },
    )?;
    let entity = Entity::tutorial(group, &id, metrics, stats);
    deliver(p, sink, &entity)
}

/// `{"<name>": {"value": <number|null>}}`; a bare number or null is the value too.
fn tutorial_metrics<'a>(p: &mut Parser<'a>, metrics: &mut Vec<Metric<'a>>, stats: &mut Vec<Stat<'a>>) -> Step<()> {
    if p.null()? {
        return Ok(());
    }
    p.object("an object of metrics", |p, name| {
        let value = match p.peek()? {
            b'{' => {
                let mut value = None;
                p.object("a metric", |p, key| {
                    if key == "value" {
                        value = tutorial_number(p, &name)?;
                        Ok(())
                    } else {
                        p.skip()
                    }
                })?;
                value
            }
            _ => tutorial_number(p, &name)?,
        };
        let at = stats.len();
        stats.push(Stat {
            name: Cow::Borrowed("value"),
            value,
        });
        metrics.push(Metric {
            name,
            qualifier: None,
            view: false,
            stats: at..at + 1,
        });
        Ok(())
    })
}

fn tutorial_number<'a>(p: &mut Parser<'a>, name: &str) -> Step<Option<Cow<'a, str>>> {
    match p.peek()? {
        b'-' | b'0'..=b'9' => p.number().map(|n| Some(Cow::Borrowed(n))),
        b'n' => p.literal(b"null").map(|()| None),
        _ => {
            let at = p.at;
            let text = p.raw()?;
            p.fail(at, format!("metric `{name}`: value is not a number: {}", excerpt(text)))
        }
    }
}

// ---- pages too large to buffer ----------------------------------------------------------

/// Reads a page too large to buffer, which `w` holds the start of: its keys and small values
/// here, a step at a time, with the code that reads a buffered page; the elements of its
/// lists go to `out` whole, each a [`Part`] to be parsed on any thread, and its end (its
/// verdict) last. Memory holds one element, or one value that is not in a list.
pub(super) fn cut_page(w: &mut Window<'_, '_>, out: &mut Filling<'_>, observed: Option<Arc<str>>) -> Sent {
    let mut state = PageState::default();
    let mut own = CutResult::default();
    let mut event = None;
    let to = &mut Out { out, observed };
    cut_object(w, "a page (a JSON object)", |w, key| {
        let (next, member) = step(w, |p| {
            let mut next = state.clone();
            let member = next.member(p, key)?;
            if member == Member::Read {
                after(p)?;
            }
            Ok((next, member))
        })?;
        state = next;
        match member {
            Member::Read => Ok(()),
            Member::List(true) => cut_list(w, to, &Dest::Entities),
            Member::List(false) => cut_list(w, to, &Dest::Results),
            Member::Own => own.read(w, to, key).map(drop),
            Member::Event => {
                step(w, |p| p.peek().map(drop))?;
                let start = w.pos;
                let text = step(w, |p| {
                    let text = p.raw()?.to_owned();
                    after(p)?;
                    Ok(text)
                })?;
                event = Some((start, text));
                Ok(())
            }
        }
    })?;
    own.finish(w, to)?;
    let (start, text) = event.take().unzip();
    let part = match state.verdict(text.is_some()) {
        Verdict::Skipped => Part::Skipped,
        Verdict::Event(detail) => Part::Event {
            detail,
            topic: state.keys.topic,
            time: state.time,
        },
        Verdict::Done => Part::End,
        Verdict::Complaint(msg) => return Err(Some(report_at(w.name, w.start, w.page, w.start, Failure::Page(msg)))),
    };
    let bytes = text.unwrap_or_default();
    to.part(w, start.unwrap_or(w.pos), bytes.as_bytes(), part, true)
}

/// Where a cut page's parts go, with when the page's observations were observed.
struct Out<'o, 'f> {
    out: &'o mut Filling<'f>,
    observed: Option<Arc<str>>,
}

impl Out<'_, '_> {
    fn part(&mut self, w: &Window<'_, '_>, start: Pos, bytes: &[u8], part: Part, last: bool) -> Sent {
        self.out.part((start, w.page), bytes, part, self.observed.clone(), last)
    }
}

/// Runs `read` on the next bytes of the window, as many as it needs: a read cut short by the
/// end of the bytes looked at fails near that end, and runs again on twice as many, so `read`
/// must change nothing but what it returns. A read that ends on a value must look past it
/// ([`after`]): a number or a literal is only known whole when something follows it.
fn step<T>(w: &mut Window<'_, '_>, mut read: impl FnMut(&mut Parser<'_>) -> Step<T>) -> Sent<T> {
    let mut want = 256;
    loop {
        w.hold(want)?;
        let rest = w.rest();
        let held = rest.len().min(want);
        // Whether the source ends within what is looked at.
        let all = rest.len() < want;
        let (text, bad) = valid_start(&rest[..held], all);
        let mut p = Parser::new(text, None);
        let stop = match read(&mut p) {
            Ok(value) => {
                let n = p.at;
                w.consume(n);
                return Ok(value);
            }
            Err(stop) => stop,
        };
        if let Some(at) = bad {
            return Err(located_stop(w, before_bad::<()>(Err(stop), Some(at)).unwrap_err()));
        }
        // A failure this close to the end may be the end's doing (`tru|e`, `1.|5`, `\u00|e9`):
        // look at more.
        if stop.at + 16 > text.len() && !all {
            want *= 2;
        } else {
            return Err(located_stop(w, stop));
        }
    }
}

/// A failure at byte `stop.at` of the window's bytes, as the page's message.
fn located_stop(w: &Window<'_, '_>, stop: Stop) -> Option<anyhow::Error> {
    Some(report_at(w.name, w.start, w.page, w.pos_of(stop.at), stop.kind))
}

/// Looks past the value just read, without reading on.
fn after(p: &mut Parser<'_>) -> Step<()> {
    let at = p.at;
    p.peek()?;
    p.at = at;
    Ok(())
}

/// [`Parser::object`] a step at a time: `each` reads the value of each key.
fn cut_object(w: &mut Window<'_, '_>, expected: &str, mut each: impl FnMut(&mut Window<'_, '_>, &str) -> Sent) -> Sent {
    if !step(w, |p| p.open(*b"{}", expected))? {
        return Ok(());
    }
    loop {
        let key = step(w, |p| {
            if p.peek()? != b'"' {
                return p.error("key must be a string");
            }
            let key = p.string()?.into_owned();
            p.expect(b':')?;
            Ok(key)
        })?;
        each(w, &key)?;
        if !next_element(w, b'}')? {
            return Ok(());
        }
    }
}

/// What the elements of a cut list are.
enum Dest {
    /// `results[]` elements, each a part (one over the limit is cut in turn).
    Results,
    /// `entities[]` elements, each a part.
    Entities,
    /// `data[]` elements of a result whose group is known, each a part.
    Points(Arc<[GroupEntry<'static>]>),
}

/// A list (`results`, `entities` or `data`) a step at a time, as `list` and
/// [`Parser::array_or_null`] read it; its elements go to `to`.
fn cut_list(w: &mut Window<'_, '_>, to: &mut Out<'_, '_>, dest: &Dest) -> Sent {
    let (expected, each, empty_object) = match dest {
        Dest::Results => (
            "an array of results",
            "a result (an object with `group` and `data`)",
            true,
        ),
        Dest::Entities => (
            "an array of entities",
            "an entity (an object with `groups` and `metrics`)",
            true,
        ),
        Dest::Points(_) => (
            "an array of data points",
            "a data point (an object with `interval` and `metrics`)",
            false,
        ),
    };
    let open = step(w, |p| {
        if empty_object && p.peek()? == b'{' {
            let at = p.at;
            p.at += 1;
            if p.peek()? == b'}' {
                p.at += 1;
                return Ok(false);
            }
            p.at = at;
            return p.type_error(expected);
        }
        Ok(!p.null()? && p.open(*b"[]", expected)?)
    })?;
    if !open {
        return Ok(());
    }
    let mut first = true;
    loop {
        step(w, |p| p.peek().map(drop))?;
        if w.rest().first() != Some(&b'{') {
            // Not an object: its own read fails at once, in its words.
            return step(w, |p| p.type_error(each));
        }
        let cap = if matches!(dest, Dest::Results) {
            w.limit
        } else {
            usize::MAX
        };
        match w.object_end(cap)? {
            Some(n) => {
                let start = w.pos;
                let part = match dest {
                    Dest::Results => Part::Result,
                    Dest::Entities => Part::Entity,
                    Dest::Points(group) => Part::Point {
                        group: group.clone(),
                        first,
                    },
                };
                to.part(w, start, &w.rest()[..n], part, false)?;
                w.consume(n);
            }
            None => cut_result(w, to)?,
        }
        first = false;
        if !next_element(w, b']')? {
            break;
        }
    }
    Ok(())
}

/// Reads what follows an element of the container `close` closes: true if another one does.
fn next_element(w: &mut Window<'_, '_>, close: u8) -> Sent<bool> {
    step(w, |p| match p.peek()? {
        b',' => {
            p.at += 1;
            Ok(true)
        }
        b if b == close => {
            p.at += 1;
            Ok(false)
        }
        _ => p.error(format!("expected `,` or `{}`", close as char)),
    })
}

/// A `data` before its result's `group`, stepped over as a buffered page's parse steps over
/// it (a syntax error is found now, a wrong type once the group is known), into `parked`:
/// element by element if it is an array, else whole.
fn park_data(w: &mut Window<'_, '_>, parked: &mut Parked) -> Sent {
    step(w, |p| p.peek().map(drop))?;
    if w.rest().first() != Some(&b'[') {
        let n = extent(w)?;
        return parked.park(w, n, Parked::VALUE);
    }
    if !step(w, |p| p.open(*b"[]", "an array of data points"))? {
        return Ok(());
    }
    let mut kind = Parked::FIRST;
    loop {
        step(w, |p| p.peek().map(drop))?;
        let n = match w.rest().first() {
            Some(b'{') => w.object_end(usize::MAX)?.unwrap_or(0),
            _ => extent(w)?,
        };
        parked.park(w, n, kind)?;
        kind = Parked::NEXT;
        if !next_element(w, b']')? {
            break;
        }
    }
    Ok(())
}

/// The length of the value the window starts with, checked.
fn extent(w: &mut Window<'_, '_>) -> Sent<usize> {
    step(w, |p| {
        p.skip()?;
        after(p)?;
        let n = p.at;
        // Nothing is read: the value is parked from the window.
        p.at = 0;
        Ok(n)
    })
}

/// A `results[]` element over the buffer limit, a step at a time, as [`result`] reads it.
fn cut_result(w: &mut Window<'_, '_>, to: &mut Out<'_, '_>) -> Sent {
    let mut own = CutResult::default();
    cut_object(w, "a result (an object with `group` and `data`)", |w, key| {
        if !own.read(w, to, key)? {
            step(w, |p| {
                p.skip()?;
                after(p)
            })?;
        }
        Ok(())
    })?;
    own.finish(w, to)
}

/// The `group` and `data` of a cut result, as [`ResultKeys`] reads them: a `data` before the
/// group is parked until the result ends.
#[derive(Default)]
struct CutResult {
    /// The group read last, if any.
    group: Option<Arc<[GroupEntry<'static>]>>,
    parked: Option<Parked>,
}

impl CutResult {
    /// Reads the value of `key` if it is `group` or `data` (true), else leaves it (false).
    fn read(&mut self, w: &mut Window<'_, '_>, to: &mut Out<'_, '_>, key: &str) -> Sent<bool> {
        match key {
            "group" => {
                let before = self.group.clone();
                let group = step(w, |p| {
                    // A null group leaves the one before, as in a buffered page.
                    let mut entries = Vec::new();
                    for entry in before.iter().flat_map(|g| g.iter()) {
                        entries.push(entry.clone());
                    }
                    group_entries(p, &mut entries)?;
                    after(p)?;
                    Ok(entries.into_iter().map(owned).collect::<Vec<_>>())
                })?;
                self.group = Some(group.into());
            }
            "data" => match &self.group {
                Some(group) => cut_list(w, to, &Dest::Points(group.clone()))?,
                None => {
                    let parked = match &mut self.parked {
                        Some(parked) => parked,
                        None => self.parked.insert(Parked::new()?),
                    };
                    park_data(w, parked)?;
                }
            },
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The result has been read: its parked data goes on, with the group.
    fn finish(self, w: &Window<'_, '_>, to: &mut Out<'_, '_>) -> Sent {
        match self.parked {
            Some(parked) => parked.replay(w, to, self.group.unwrap_or_else(|| Arc::from([]))),
            None => Ok(()),
        }
    }
}

/// A group entry that owns its text, to outlive the bytes it was read from.
fn owned(entry: GroupEntry<'_>) -> GroupEntry<'static> {
    let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
    let value = match entry.value {
        Scalar::Text(text) => Scalar::Text(own(text)),
        Scalar::Json(text) => Scalar::Json(own(text)),
        Scalar::Null => Scalar::Null,
    };
    GroupEntry {
        key: own(entry.key),
        value,
    }
}

/// The `data[]` elements of a cut result read before its `group`, in a temporary file until
/// the group is known, so that memory does not grow with them (`jq -S` puts `data` first).
struct Parked {
    file: std::io::BufWriter<std::fs::File>,
}

/// The head of a parked value: its line, column, kind ([`Parked::VALUE`]...), its length.
const PARKED_HEAD: usize = 8 + 8 + 1 + 8;

impl Parked {
    /// A whole `data` value that is not an array.
    const VALUE: u8 = 0;
    /// The first element of a `data[]`.
    const FIRST: u8 = 1;
    /// Any other element.
    const NEXT: u8 = 2;

    fn new() -> Sent<Parked> {
        let file = crate::interrupt::scratch_file().map_err(|e| {
            Some(anyhow::anyhow!(
                "cannot create a temporary file for a result's data: {e}"
            ))
        })?;
        Ok(Parked {
            file: std::io::BufWriter::new(file),
        })
    }

    /// Checks the value the window starts with (`n` bytes) as a buffered page's parse
    /// checks a `data` it comes back to (stepping over it), then moves it to the file.
    fn park(&mut self, w: &mut Window<'_, '_>, n: usize, kind: u8) -> Sent {
        let bytes = &w.rest()[..n];
        let (text, bad) = valid_start(bytes, true);
        let mut p = Parser::new(text, None);
        before_bad(p.skip(), bad).map_err(|stop| located_stop(w, stop))?;
        let mut head = Vec::with_capacity(PARKED_HEAD);
        head.extend_from_slice(&w.pos.line.to_le_bytes());
        head.extend_from_slice(&w.pos.column.to_le_bytes());
        head.push(kind);
        head.extend_from_slice(&(n as u64).to_le_bytes());
        let written = self.file.write_all(&head).and_then(|()| self.file.write_all(bytes));
        written.map_err(|e| Some(temp_error(e)))?;
        w.consume(n);
        Ok(())
    }

    /// Hands the parked elements on, in order, with the result's `group`.
    fn replay(self, w: &Window<'_, '_>, to: &mut Out<'_, '_>, group: Arc<[GroupEntry<'static>]>) -> Sent {
        let mut file = self.file.into_inner().map_err(|e| Some(temp_error(e.into_error())))?;
        file.rewind().map_err(|e| Some(temp_error(e)))?;
        let mut file = BufReader::new(file);
        let mut head = [0; PARKED_HEAD];
        let mut bytes = Vec::new();
        while !file.fill_buf().map_err(|e| Some(temp_error(e)))?.is_empty() {
            file.read_exact(&mut head).map_err(|e| Some(temp_error(e)))?;
            let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("eight bytes"));
            let start = Pos {
                line: word(0),
                column: word(8),
            };
            bytes.resize(usize::try_from(word(17)).map_err(|e| Some(e.into()))?, 0);
            file.read_exact(&mut bytes).map_err(|e| Some(temp_error(e)))?;
            let group = group.clone();
            let part = match head[16] {
                Parked::VALUE => Part::Data { group },
                kind => Part::Point {
                    group,
                    first: kind == Parked::FIRST,
                },
            };
            to.part(w, start, &bytes, part, false)?;
        }
        Ok(())
    }
}

fn temp_error(e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot use the temporary file for a result's data: {e}")
}
