//! The fast parser for pages held in memory.
//!
//! A hand-written walk of exactly the structure gcagg reads, over bytes checked once to be
//! UTF-8: keys are compared in place, strings without escapes and every number are borrowed
//! as slices of the page, and skipped values are checked and stepped over without recursion.
//! It accepts and rejects exactly what the serde walk in `walk.rs` does (the tests hold the
//! two to that); being specialised, it runs several times faster.

use std::borrow::Cow;

use super::lanes::mask16;

use super::{
    byte_table, excerpt, scalar, Element, ElementKind, Entity, EntitySink, Failure, GroupEntry, Metric, Observation,
    PageFailure, PageKeys, Scalar, Scratch, Stat,
};

/// Parses one page (which starts with `{`) and hands its entities to `sink`; `observed`:
/// when the observations in it were observed, if its source said.
pub(super) fn parse(page: &[u8], observed: Option<&str>, sink: &mut dyn EntitySink) -> Result<(), PageFailure> {
    let text = match std::str::from_utf8(page) {
        Ok(text) => text,
        Err(e) => {
            let kind = Failure::Syntax("invalid UTF-8 in the input".into());
            return Err(failure(page, e.valid_up_to(), kind));
        }
    };
    let mut parser = Parser {
        text,
        bytes: page,
        at: 0,
        stack: Vec::new(),
        observed: observed.map(Cow::Borrowed),
    };
    let mut scratch = Scratch::default();
    walk_page(&mut parser, &mut scratch, sink).map_err(|stop| failure(page, stop.at, stop.kind))
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
    fn fail<T>(&self, at: usize, msg: impl Into<String>) -> Step<T> {
        Err(Stop {
            at,
            kind: Failure::Syntax(msg.into()),
        })
    }

    fn error<T>(&self, msg: impl Into<String>) -> Step<T> {
        self.fail(self.at, msg)
    }

    fn truncated<T>(&self) -> Step<T> {
        self.error("truncated input: EOF while parsing a value")
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
        match self.bytes.get(self.at..end) {
            Some(found) if found == word => {
                self.at = end;
                Ok(())
            }
            Some(_) => self.error("expected value"),
            None => self.truncated(),
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
                if self.bytes.get(*end..*end + 2) != Some(b"\\u") {
                    return self.fail(*end, "lone leading surrogate in hex escape");
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
            None => return self.fail(end, "truncated input: EOF while parsing a value"),
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

fn walk_page<'a>(p: &mut Parser<'a>, scratch: &mut Scratch<'a>, sink: &mut dyn EntitySink) -> Step<()> {
    let mut keys = PageKeys::default();
    // A page that is itself a `results[]` element (a bare `results` array's element).
    let mut own = ResultKeys::default();
    // A notification's `eventBody`, or an EventBridge event's `detail` and `time`: read
    // once the page is, when the topic that names the group's id is known.
    let mut event = None;
    let mut time = None;
    p.object("a page (a JSON object)", |p, key| match key.as_ref() {
        "results" | "entities" => {
            let results = key == "results";
            claim(p, &mut keys, if results { "results" } else { "entities" })?;
            list(p, scratch, sink, !results)
        }
        "data" => {
            claim(p, &mut keys, "data")?;
            own.read(p, &key, scratch, sink).map(drop)
        }
        "group" => {
            keys.group = true;
            own.read(p, &key, scratch, sink).map(drop)
        }
        "eventBody" | "detail" => {
            claim(p, &mut keys, if key == "detail" { "detail" } else { "eventBody" })?;
            p.peek()?;
            event = Some(p.at);
            p.skip()
        }
        "topicName" => p.scalar().map(|v| keys.topic = Some(v.into_text())),
        "time" => p.scalar().map(|v| time = Some(v.into_text())),
        "result" => {
            keys.result = true;
            p.skip()
        }
        "status" => p.scalar().map(|v| keys.status = Some(v.into_text())),
        "message" => p.scalar().map(|v| keys.message = Some(v.into_text())),
        "code" => p.scalar().map(|v| keys.code = Some(v.into_text())),
        "contextId" => p.scalar().map(|v| keys.context_id = Some(v.into_text())),
        other => {
            if !matches!(other, "cursor" | "nextPageToken") && keys.others.len() < 8 {
                keys.others.push(other.to_owned());
            }
            p.skip()
        }
    })?;
    own.finish(p, scratch, sink)?;
    if keys.is_control() {
        sink.skipped();
        return Ok(());
    }
    if let Some(at) = event {
        let end = p.at;
        p.at = at;
        if keys.body == Some("detail") {
            detail(p, scratch, sink, time)?;
        } else {
            event_body(p, scratch, sink, keys.topic.as_deref())?;
        }
        p.at = end;
        return Ok(());
    }
    if keys.is_read() {
        return Ok(());
    }
    match keys.complaint() {
        None => Ok(()),
        Some(msg) => Err(Stop {
            at: 0,
            kind: Failure::Page(msg),
        }),
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
    /// Where the data starts, when it came before the group.
    deferred: Option<usize>,
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
                p.peek()?;
                self.deferred = Some(p.at);
                p.skip()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The object has been read: flattens the data that came before the group.
    fn finish<'a>(self, p: &mut Parser<'a>, scratch: &mut Scratch<'a>, sink: &mut dyn EntitySink) -> Step<()> {
        let Some(start) = self.deferred else {
            return Ok(());
        };
        if !self.have_group {
            super::add_topic_id(&mut scratch.group, &self.topic);
        }
        let end = p.at;
        p.at = start;
        data(p, scratch, sink)?;
        p.at = end;
        Ok(())
    }
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
    let Scratch {
        group,
        metrics,
        stats,
        observations,
        fields,
    } = scratch;
    let mut kinds = super::Kinds::default();
    let observed = p.observed.clone();
    p.array_or_null("an array of data points", |p| {
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
    })?;
    if kinds.observation {
        let entity = Entity::observation(group, observed.as_deref(), (metrics, stats), (observations, fields));
        deliver(p, sink, &entity)?;
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
            let text = p.raw()?;
            p.fail(p.at - 1, format!("stat `{name}` is not a number: {}", excerpt(text)))
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
            let text = p.raw()?;
            p.fail(
                p.at - 1,
                format!("metric `{name}`: value is not a number: {}", excerpt(text)),
            )
        }
    }
}
