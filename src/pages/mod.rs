//! Pages: splitting a byte stream into response documents, recognising each document's
//! shape, and streaming its entities to an [`EntitySink`] one at a time.
//!
//! A source holds JSON documents separated by whitespace, or one top-level array of them.
//! Each document is found by a cheap structural scan (brackets and strings only). A document
//! up to [`BUFFERED_PAGE_LIMIT`] bytes is parsed from that buffer, so strings and numbers are
//! borrowed, not copied. A larger one is cut at the elements of its lists (`results[]`,
//! `entities[]`, and `data[]` where one result is itself that large), and each element is
//! parsed from a buffer of its own, so memory stays bounded whatever the page size. One
//! parser (`fast.rs`) reads every byte either way; no page is ever built as a tree, and
//! each entity is handed over as soon as its closing brace is read.
//!
//! The splitter (`split.rs`) sends pages and elements on in batches; the pipeline's scheduler
//! ([`crate::pipeline`]) runs it on a thread of its own and has each batch parsed on a worker
//! thread ([`PageWorker`], [`Batch::parse_on_worker`]) or the main thread ([`Gather`],
//! [`Batch::parse_here`]); what each batch became is gathered on the main thread in page
//! order.
//!
//! Numbers are kept as the text the input spelled (slices of the page), so `150784.0` and
//! `1.5e3` come out unchanged.

use std::borrow::Cow;
use std::io;
use std::ops::Range;
use std::sync::Arc;

use anyhow::anyhow;

mod fast;
mod lanes;
mod split;

use split::PageBytes;
pub(crate) use split::{split, Batch, Piece};

/// Pages larger than this are cut at the elements of their lists, each parsed from a buffer
/// of its own.
pub const BUFFERED_PAGE_LIMIT: usize = 16 << 20;

/// What a buffered piece of the input is, and so how it is parsed: a whole page, or a part
/// of a page too large to buffer (see `split.rs`).
pub(super) enum Part {
    /// A whole page.
    Page,
    /// One element of a cut page's `results[]`.
    Result,
    /// One element of a cut page's `entities[]`.
    Entity,
    /// One `data[]` element of a cut result, with the result's group; `first`: the first
    /// element of its `data[]`, which decides the kind of the array.
    Point {
        group: Arc<[GroupEntry<'static>]>,
        first: bool,
    },
    /// A cut result's whole `data`, not an array, that came before its group.
    Data { group: Arc<[GroupEntry<'static>]> },
    /// A cut page's `eventBody` (or `detail`), read once the page has been, when its topic and
    /// time are known.
    Event {
        detail: bool,
        topic: Option<String>,
        time: Option<String>,
    },
    /// A cut page that turned out to be a notification control message.
    Skipped,
    /// The end of a cut page that holds nothing more.
    End,
}

/// Which page shape an entity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// API response, async job page or SDK dump: `results[].data[]`.
    Api,
    /// The seed tutorial's `entities[]`.
    Tutorial,
    /// An observation query response: `results[].data[]` holds metrics, with no interval.
    Observation,
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

impl Scalar<'_> {
    /// The value as text for a message: a string unquoted, other JSON as spelled, `null`.
    fn into_text(self) -> String {
        match self {
            Scalar::Text(s) | Scalar::Json(s) => s.into_owned(),
            Scalar::Null => "null".into(),
        }
    }
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

/// One `observations[]` entry of an observation metric: a waiting or interacting
/// conversation.
#[derive(Debug)]
pub struct Observation {
    /// Its metric, an index into [`Entity::metrics`].
    pub metric: usize,
    /// Its metric's `truncated` flag: the list of entries holds the oldest and the newest only.
    pub truncated: bool,
    /// Its fields, in [`Entity::fields`].
    pub fields: Range<usize>,
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
    /// When an observation was observed: its envelope's time or its event's (RFC 3339).
    pub observed_at: Option<&'a str>,
    /// An observation's `observations[]` entries, in input order.
    pub observations: &'a [Observation],
    /// The fields of every entry, indexed by [`Observation::fields`] (named as in the input).
    pub fields: &'a [GroupEntry<'a>],
}

impl<'a> Entity<'a> {
    /// An entity of the API shape: one `data[]` element of a result.
    fn api(
        group: &'a [GroupEntry<'a>],
        interval: Option<&'a str>,
        metrics: &'a [Metric<'a>],
        stats: &'a [Stat<'a>],
    ) -> Self {
        Entity {
            shape: Shape::Api,
            group,
            interval,
            id: None,
            metrics,
            stats,
            observed_at: None,
            observations: &[],
            fields: &[],
        }
    }

    /// An entity of the observation shape: every `data[]` element of a result.
    fn observation(
        group: &'a [GroupEntry<'a>],
        observed_at: Option<&'a str>,
        (metrics, stats): (&'a [Metric<'a>], &'a [Stat<'a>]),
        (observations, fields): (&'a [Observation], &'a [GroupEntry<'a>]),
    ) -> Self {
        Entity {
            shape: Shape::Observation,
            group,
            interval: None,
            id: None,
            metrics,
            stats,
            observed_at,
            observations,
            fields,
        }
    }

    /// An entity of the tutorial shape; a null `id` is no id.
    fn tutorial(
        group: &'a [GroupEntry<'a>],
        id: &'a Scalar<'a>,
        metrics: &'a [Metric<'a>],
        stats: &'a [Stat<'a>],
    ) -> Self {
        let id = (*id != Scalar::Null).then_some(id);
        Entity {
            shape: Shape::Tutorial,
            group,
            interval: None,
            id,
            metrics,
            stats,
            observed_at: None,
            observations: &[],
            fields: &[],
        }
    }
}

/// Receives entities as they are parsed.
pub trait EntitySink {
    /// Takes one entity; an error stops the parse and is reported at this entity's position.
    fn entity(&mut self, entity: &Entity<'_>) -> anyhow::Result<()>;
    /// A notification control message (a heartbeat, a subscription answer, ...) was
    /// skipped: it holds no data.
    fn skipped(&mut self) {}
}

/// A sink on a thread of its own: it takes whole pages, a batch at a time, and what it made
/// of each batch goes to the main thread's [`Gather`], in page order (see the pipeline's
/// scheduler).
pub trait PageWorker: EntitySink + Send {
    /// What a batch of pages became.
    type Made: Send;
    /// A page of the batch has been parsed whole: its rows end here, as on the main thread
    /// (see [`Gather::page_end`]).
    fn page_end(&mut self) -> anyhow::Result<()>;
    /// What the pages parsed since the last call became; `ok`: whether every entity of them
    /// was taken.
    fn made(&mut self, ok: bool) -> Self::Made;
}

/// The main thread's side of the pipeline's scheduler: it takes what the workers made, in page
/// order, and is itself the sink of the pages it must run (streamed ones, and the batches it
/// refuses from a worker).
pub trait Gather<M>: EntitySink {
    /// Takes what `worker` made of the next batch; false when the batch must run again here,
    /// where a failure is reported as it would be without workers.
    fn gather(&mut self, worker: usize, made: M) -> anyhow::Result<bool>;
    /// The batch last refused from `worker` has run here.
    fn reran(&mut self, worker: usize) -> anyhow::Result<()>;
    /// A page has run here, whole: what follows may start afresh, as a worker's next page
    /// does, so that where pages run never shows in the output.
    fn page_end(&mut self) -> anyhow::Result<()>;
    /// A batch that ends inside a page (one cut into parts) has run here: its rows end
    /// where a worker's would, at the end of what the batch made.
    fn batch_end(&mut self) -> anyhow::Result<()>;
}

/// A batch's pages parsed: on a worker by the pipeline's scheduler, or here, on the main
/// thread, when no worker runs or a worker's batch failed.
impl Batch {
    /// Parses the batch's pages into `worker`, each page whole ending its rows
    /// ([`PageWorker::page_end`]); false at the first failure: the batch all runs again on
    /// the main thread ([`Batch::parse_here`]).
    pub(crate) fn parse_on_worker<'b, W: PageWorker>(&'b self, worker: &mut W, scratch: &mut Scratch<'b>) -> bool {
        self.pages().all(|p| {
            fast::parse(p.bytes, p.part, p.observed, scratch, worker).is_ok() && (!p.last || worker.page_end().is_ok())
        })
    }

    /// Parses the batch's pages into `gather` in order, each reporting its own failure in
    /// source `name`.
    pub(crate) fn parse_here<'b, M>(
        &'b self,
        name: &str,
        gather: &mut dyn Gather<M>,
        scratch: &mut Scratch<'b>,
    ) -> anyhow::Result<()> {
        for PageBytes {
            start,
            page,
            bytes,
            observed,
            part,
            last,
        } in self.pages()
        {
            fast::parse(bytes, part, observed, scratch, gather).map_err(|f| report(name, start, page, f))?;
            if last {
                gather.page_end()?;
            }
        }
        if self.pages().last().is_some_and(|p| !p.last) {
            gather.batch_end()?;
        }
        Ok(())
    }
}

/// A table of which bytes a scan stops at: those of `bytes`, and every byte below `below`.
const fn byte_table(bytes: &[u8], below: u8) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < below as usize {
        table[b] = true;
        b += 1;
    }
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// A 1-based line and byte column in a source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pos {
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

/// Why a page was rejected, with the position (relative to the page's start) to report.
pub(crate) struct PageFailure {
    /// 1-based line within the page.
    line: usize,
    /// 1-based byte column within that line.
    column: usize,
    kind: Failure,
}

/// What went wrong inside a page.
pub(crate) enum Failure {
    /// The sink refused an entity (a data error) or could not write (an I/O error).
    Sink(anyhow::Error),
    /// The page as a whole is not an aggregate response: reported at the page's start.
    Page(String),
    /// Malformed JSON, or a value of the wrong type.
    Syntax(String),
    /// The text ended inside a value: more of it might have been valid.
    Truncated,
}

impl PageFailure {
    fn new(line: usize, column: usize, kind: Failure) -> PageFailure {
        PageFailure { line, column, kind }
    }
}

fn report(name: &str, start: Pos, page: u64, failure: PageFailure) -> anyhow::Error {
    report_at(
        name,
        start,
        page,
        start.offset(failure.line, failure.column),
        failure.kind,
    )
}

/// [`report`] of a failure at `at`, a position in the source, in a page starting at `start`.
fn report_at(name: &str, start: Pos, page: u64, at: Pos, kind: Failure) -> anyhow::Error {
    match kind {
        Failure::Sink(e) => {
            if e.chain().any(|c| c.is::<io::Error>()) {
                return e;
            }
            e.context(format!("{name}:{}:{}: page {page}", at.line, at.column))
        }
        Failure::Page(msg) => located(name, start, Some(page), &msg),
        Failure::Syntax(msg) => located(name, at, Some(page), &msg),
        Failure::Truncated => located(name, at, Some(page), "truncated input: EOF while parsing a value"),
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

/// Puts views after metrics whatever the key order of the data point, so key order never
/// changes the columns (the metrics' stat ranges move with them).
fn views_last(metrics: &mut [Metric<'_>]) {
    if metrics.windows(2).any(|w| w[0].view && !w[1].view) {
        metrics.sort_by_key(|m| m.view);
    }
}

/// What one `data[]` element held: an aggregate's data point
/// (`interval`, `metrics`, `views`) or an observation's metric (`metric`, `qualifier`,
/// `stats`, `truncated`, `observations`). Which one it is shows once the element is read.
#[derive(Default)]
struct Element<'a> {
    interval: Option<Cow<'a, str>>,
    /// Whether `metrics` or `views` held a metric.
    aggregate: bool,
    /// An observation's metric name.
    metric: Option<Cow<'a, str>>,
    qualifier: Option<Cow<'a, str>>,
    truncated: bool,
    /// The first observation key holding a value (`qualifier`, `stats`, `truncated`,
    /// `observations`): without a `metric` it would be lost.
    observation_key: Option<&'static str>,
    /// The first key gcagg does not read that holds a value (see [`Element::note`]).
    unread: Option<String>,
}

/// Which kind of `data[]` element was read.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum ElementKind {
    Aggregate,
    Observation,
}

impl Element<'_> {
    /// Notes a key gcagg does not read, whose value's JSON text is `value`: a value under
    /// it would be lost, so the element is refused. Keys that hold nothing (no number,
    /// string or `true` anywhere in them: the SDKs write `views: null`) are let through.
    fn note(&mut self, key: &str, value: &str) {
        if serde_json::from_str(value).is_ok_and(|v| holds_a_value(&v)) {
            self.unread.get_or_insert_with(|| key.to_owned());
        }
    }

    /// Notes that observation key `key` held a value.
    fn observed(&mut self, key: &'static str) {
        self.observation_key.get_or_insert(key);
    }

    /// Which kind of element this is, or why it cannot be flattened.
    fn kind(&self) -> Result<ElementKind, String> {
        if self.metric.is_some() && (self.interval.is_some() || self.aggregate) {
            return Err(
                "data[] element has both an observation's \"metric\" and an aggregate's \"interval\"/\"metrics\""
                    .into(),
            );
        }
        if let Some(key) = &self.unread {
            return Err(format!("data[] element has {key:?}, a key flatten does not read; its value would be lost (flatten reads \"interval\", \"metrics\" and \"views\", or an observation's \"metric\", \"qualifier\", \"stats\", \"truncated\" and \"observations\")"));
        }
        match (&self.metric, self.observation_key) {
            (Some(_), _) => Ok(ElementKind::Observation),
            (None, Some(key)) => Err(format!("data[] element has {key:?} but no \"metric\" name")),
            (None, None) => Ok(ElementKind::Aggregate),
        }
    }
}

/// Where the kinds of a `data[]` array's elements meet: an observation result's elements
/// make one entity together, an aggregate's one each, and one array holds one kind.
#[derive(Default)]
struct Kinds {
    aggregate: bool,
    observation: bool,
}

impl Kinds {
    /// Notes the next element's kind; an error if the array now mixes them.
    fn note(&mut self, kind: &ElementKind) -> Result<(), String> {
        match kind {
            ElementKind::Aggregate => self.aggregate = true,
            ElementKind::Observation => self.observation = true,
        }
        if self.aggregate && self.observation {
            return Err("data[] mixes observation metrics and aggregate data points".into());
        }
        Ok(())
    }
}

/// The group key a notification topic names by its id (`v2.analytics.queues.<id>.observations`
/// names a `queueId`), and the id.
fn topic_id(topic: &str) -> Option<(&'static str, &str)> {
    let rest = topic.strip_prefix("v2.analytics.")?;
    let (family, rest) = rest.split_once('.')?;
    let (id, _) = rest.split_once('.')?;
    let key = match family {
        "queues" => "queueId",
        "users" => "userId",
        "flow" => "flowId",
        "flowoutcome" => "flowOutcomeId",
        "wrapupcodes" => "wrapUpCode",
        "campaigns" => "campaignId",
        _ => return None,
    };
    (!id.is_empty()).then_some((key, id))
}

/// Whether a notification topic carries control messages, never data (heartbeats,
/// `pong`s, the closing warning).
fn is_control_topic(topic: &str) -> bool {
    topic == "channel.metadata" || topic.starts_with("v2.system.")
}

/// Adds the topic's id to a group that lacks it.
fn add_topic_id<'a>(group: &mut Vec<GroupEntry<'a>>, topic: &Option<GroupEntry<'a>>) {
    if let Some(entry) = topic {
        if !group.iter().any(|g| g.key == entry.key) {
            group.push(entry.clone());
        }
    }
}

/// The group entry a notification topic names, for [`add_topic_id`].
fn topic_entry(topic: Option<&str>) -> Option<GroupEntry<'static>> {
    let (key, id) = topic_id(topic?)?;
    Some(GroupEntry {
        key: Cow::Borrowed(key),
        value: Scalar::Text(Cow::Owned(id.to_owned())),
    })
}

/// Whether any number, string or `true` is in `value` (object keys aside).
fn holds_a_value(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::Bool(true) | Value::Number(_) | Value::String(_) => true,
        Value::Array(items) => items.iter().any(holds_a_value),
        Value::Object(fields) => fields.values().any(holds_a_value),
    }
}

/// Turns a value's JSON text into a [`Scalar`], unescaping strings.
fn scalar(text: Cow<'_, str>) -> Result<Scalar<'_>, String> {
    if text.as_ref() == "null" {
        return Ok(Scalar::Null);
    }
    if !text.starts_with('"') {
        // An object or array from a pretty-printed page would break an NDJSON row over lines.
        return Ok(Scalar::Json(crate::minify::minify(text)));
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
        .map_err(|e| e.to_string())
}

fn excerpt(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The keys of a page that decide what it is.
#[derive(Default, Clone)]
struct PageKeys {
    /// The key the page's rows come from: `results`, `entities`, or `data` for a page that
    /// is itself a `results[]` element.
    body: Option<&'static str>,
    /// Whether the page has a `group` of its own (a `results[]` element without data).
    group: bool,
    /// A notification's `topicName`.
    topic: Option<String>,
    /// Whether the page has a `result`: a notification channel's answer to a request.
    result: bool,
    status: Option<String>,
    message: Option<String>,
    code: Option<String>,
    context_id: Option<String>,
    others: Vec<String>,
}

impl PageKeys {
    /// Notes that the page's rows come from `key`; a page has one such key.
    fn claim(&mut self, key: &'static str) -> Result<(), String> {
        match self.body {
            Some(first) if first != key => {
                // Named in a fixed order, whichever came first.
                let mut pair = [first, key];
                pair.sort_by_key(|k| BODY_KEYS.iter().position(|b| b == k));
                Err(format!("a page cannot hold both `{}` and `{}`", pair[0], pair[1]))
            }
            _ => {
                self.body = Some(key);
                Ok(())
            }
        }
    }

    /// Whether the page holds rows, or is a result without data: nothing to complain of.
    fn is_read(&self) -> bool {
        self.body.is_some() || self.group
    }

    /// Whether the page is a notification control message that holds no event: a
    /// subscription answer (`result`, `status`), or a message of a control topic.
    fn is_control(&self) -> bool {
        (self.result && self.body.is_none()) || self.topic.as_deref().is_some_and(is_control_topic)
    }

    /// What to say about a page that has none of [`BODY_KEYS`]; `None` for an empty page.
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
            "not an aggregate response: expected `results`, `entities` or a result's `group` and `data`, found keys {}",
            keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ))
    }
}

/// The keys a page's rows can come from, in the order messages name them.
const BODY_KEYS: [&str; 5] = ["results", "entities", "data", "eventBody", "detail"];

/// Buffers reused by every entity of a page.
#[derive(Default)]
pub(crate) struct Scratch<'de> {
    group: Vec<GroupEntry<'de>>,
    metrics: Vec<Metric<'de>>,
    stats: Vec<Stat<'de>>,
    /// An observation's `observations[]` entries and their fields.
    observations: Vec<Observation>,
    fields: Vec<GroupEntry<'de>>,
    /// The data points of a result read before its group.
    early: fast::Early<'de>,
}

impl Scratch<'_> {
    /// Empties what one `data[]` fills (the group stays: it belongs to the result).
    fn start_data(&mut self) {
        self.metrics.clear();
        self.stats.clear();
        self.observations.clear();
        self.fields.clear();
    }

    /// Empties everything, for a page.
    fn clear(&mut self) {
        self.group.clear();
        self.start_data();
        self.early.clear();
    }

    /// Empties every buffer for the next batch, keeping their room: a thread reuses one
    /// scratch for all its pages, whose buffers would otherwise be allocated (and, past a
    /// few hundred KB, mapped and unmapped) for each one.
    pub(crate) fn recycle(self) -> Scratch<'static> {
        Scratch {
            group: empty(self.group),
            metrics: empty(self.metrics),
            stats: empty(self.stats),
            observations: empty(self.observations),
            fields: empty(self.fields),
            early: self.early.recycle(),
        }
    }
}

/// `items` emptied, as a vector of another type of the same layout (here: the same type
/// borrowing for another lifetime), in the same allocation.
fn empty<A, B>(items: Vec<A>) -> Vec<B> {
    // Collecting a vector's own iterator reuses its allocation when the layouts match.
    items.into_iter().filter_map(|_| None).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::read_alone;

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
            let entries: Vec<String> = e
                .observations
                .iter()
                .map(|o| {
                    let fields: Vec<String> = e.fields[o.fields.clone()]
                        .iter()
                        .map(|f| format!("{}={:?}", f.key, f.value))
                        .collect();
                    format!("{}:{}:{}", e.metrics[o.metric].name, o.truncated, fields.join(","))
                })
                .collect();
            self.0.push(format!(
                "{:?} [{}] {:?} {}{}",
                e.shape,
                group.join(","),
                e.interval.or(e.observed_at),
                values.join(" "),
                entries.join(" ")
            ));
            Ok(())
        }
    }

    fn run(input: &str) -> anyhow::Result<Vec<String>> {
        let mut sink = Recorder::default();
        read_alone("t.json", input.as_bytes(), BUFFERED_PAGE_LIMIT, &mut sink)?;
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
    fn a_page_may_be_a_result_on_its_own() {
        let out = run(r#"[{"group":{"q":"a"},"data":[{"interval":"s/e","metrics":[]}]},{"data":[{"interval":"t/f","metrics":[]}],"group":{"q":"b"}}] {"group":{"q":"c"}}"#).unwrap();
        assert_eq!(
            out,
            vec![r#"Api [q=Text("a")] Some("s/e") "#, r#"Api [q=Text("b")] Some("t/f") "#]
        );
        assert!(err(r#"{"results":[],"data":[]}"#).ends_with("a page cannot hold both `results` and `data`"));
        assert!(err(r#"{"data":[],"entities":[]}"#).ends_with("a page cannot hold both `entities` and `data`"));
        assert!(err(r#"{"entities":[],"results":[]}"#).ends_with("a page cannot hold both `results` and `entities`"));
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
            let reader = io::BufReader::with_capacity(5, input.as_bytes());
            let err = read_alone("t.json", reader, limit, &mut sink).unwrap_err();
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

    /// A deterministic generator of API-shaped pages with the ugly parts real bodies have.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
        fn ws(&mut self) -> &'static str {
            self.pick(&["", "", " ", "\n  ", "\t"])
        }
        fn page(&mut self) -> String {
            let w = self.ws();
            let mut results = Vec::new();
            for _ in 0..self.next() % 3 {
                let group = self.pick(&[
                    "{\"queueId\":\"q1\",\"mediaType\":\"voice\"}",
                    "{}",
                    "null",
                    "{\"queue.id\":\"a\\\"b\\u00e9\"}",
                    "{\"n\":12.5e1,\"b\":true}",
                ]);
                let mut data = Vec::new();
                for _ in 0..self.next() % 3 {
                    let mut metrics = Vec::new();
                    for _ in 0..self.next() % 4 {
                        let stats = self.pick(&[
                            "{\"count\":3}",
                            "{\"sum\":1.5e3,\"max\":null,\"count_negative\":-0}",
                            "null",
                            "{}",
                            "{\"ratio\":0.47586206896551725,\"target\":0.8}",
                        ]);
                        let metric = self.pick(&[
                            "\"metric\":\"nOffered\"",
                            "\"metric\":\"tAgentRoutingStatus\",\"qualifier\":\"IDLE\"",
                            "\"metric\":\"t\\nx\",\"qualifier\":null",
                        ]);
                        metrics.push(format!("{{{metric},{w}\"stats\":{stats}}}"));
                    }
                    let views = self.pick(&[
                        "",
                        ",\"views\":null",
                        ",\"views\":[{\"name\":\"v1\",\"stats\":{\"count\":1}}]",
                    ]);
                    let interval = self.pick(&[
                        "\"2024-05-01T00:00:00.000Z/2024-05-01T00:30:00.000Z\"",
                        "null",
                        "\"2024-03-31T00:00:00+01:00/2024-03-31T01:00:00+02:00\"",
                    ]);
                    data.push(format!(
                        "{{\"interval\":{w}{interval},\"metrics\":[{}]{views},\"x\":[[{{}}]]}}",
                        metrics.join(",")
                    ));
                }
                let data = format!("\"data\":[{}]", data.join(&format!(",{w}")));
                let group = format!("\"group\":{group}");
                let (first, second) = if self.next().is_multiple_of(4) {
                    (data, group)
                } else {
                    (group, data)
                };
                results.push(format!("{{{first},{w}{second}}}"));
            }
            let observation = self.pick(&[
                r#"{"results":[{"group":{"queueId":"q"},"data":[{"metric":"oWaiting","stats":{"count":2},"truncated":false,"observations":[{"observationDate":"d","routingPriority":0,"skills":["a"]}]},{"metric":"oUserRoutingStatuses","qualifier":"IDLE","stats":{"count":1}}]}]}"#,
                r#"{"topicName":"v2.analytics.queues.q9.observations","eventBody":{"group":{"mediaType":"voice"},"data":[{"interval":"s/e","metrics":[{"metric":"oWaiting","stats":{"count":1}}]}]}}"#,
                r#"{"time":"2024-05-01T10:15:03Z","detail-type":"x","detail":{"eventBody":{"data":[{"metric":"oWaiting","stats":{"count":3}}]},"topicName":"v2.analytics.users.u1.observations"}}"#,
                r#"{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}"#,
                r#"{"result":"200","status":"subscribed"}"#,
            ]);
            match self.next() % 9 {
                7 | 8 => observation.into(),
                0 => r#"{"entities":[{"id":"e","groups":{"g.x":1},"metrics":{"a":{"value":null},"b":{"value":7},"c":2}}]}"#.into(),
                1 => "{\"status\":403,\"code\":\"missing.permissions\",\"message\":\"no\"}".into(),
                // A bare `results` array's element, on its own.
                2 => results.pop().unwrap_or_else(|| "{\"group\":null}".into()),
                _ => format!("{{{w}\"results\":{w}[{}],\"cursor\":\"c\"}}", results.join(",")),
            }
        }
    }

    #[test]
    fn a_recycled_scratch_keeps_its_room() {
        let text = String::from("borrowed");
        let mut scratch = Scratch::default();
        let entry = || GroupEntry {
            key: Cow::Borrowed(text.as_str()),
            value: Scalar::Null,
        };
        scratch.group.extend(std::iter::repeat_with(entry).take(1000));
        let room = scratch.group.capacity();
        let recycled: Scratch<'static> = scratch.recycle();
        assert!(recycled.group.is_empty());
        assert_eq!(recycled.group.capacity(), room);
    }

    /// A page cut into parts (a buffer limit far below its size) delivers the same entities
    /// and fails with the same message as the page read whole, for valid pages and for every
    /// kind of damage done to them.
    #[test]
    fn cut_pages_agree_with_whole_pages() {
        let mut gen = Gen(0x9E37_79B9_7F4A_7C15);
        let mut failures = 0;
        for round in 0..3000 {
            let mut page = gen.page().into_bytes();
            if round % 2 == 1 && !page.is_empty() {
                let at = (gen.next() % page.len() as u64) as usize;
                match gen.next() % 4 {
                    0 => page.truncate(at.max(1)),
                    1 => page[at] = b"{}[]\",:0x-.e\\"[(gen.next() % 13) as usize],
                    2 => {
                        page.remove(at);
                    }
                    _ => page.insert(at, b"\",]}0 "[(gen.next() % 6) as usize]),
                }
                if page.first() != Some(&b'{') {
                    continue;
                }
            }
            let envelope = b"{\"gcaggObservedAt\":\"2024-05-01T10:15:02Z\"}\n";
            let input = [&envelope[..], &page].concat();
            let run_with = |limit: usize| {
                let mut sink = Recorder::default();
                let reader = io::BufReader::with_capacity(7, &input[..]);
                let read = read_alone("t.json", reader, limit, &mut sink);
                (sink.0, read.map_err(|e| format!("{e:#}")))
            };
            let whole = run_with(BUFFERED_PAGE_LIMIT);
            let text = String::from_utf8_lossy(&page);
            // Limits that hold the envelope line (at 16 MiB every envelope is whole).
            for limit in [48, 100, 400] {
                let cut = run_with(limit);
                // An observation result's metrics make one row: one over the limit is refused.
                let refused = matches!(&cut.1, Err(e) if e.contains("a result of observation metrics over 16 MiB"));
                if !refused {
                    assert_eq!(cut, whole, "limit {limit}: {text}");
                }
            }
            failures += usize::from(whole.1.is_err());
        }
        assert!(failures > 500, "the damage should break many pages: {failures}");
    }

    /// Characters of two and three bytes, unescaped, fall across every edge of the windows and
    /// parts a cut page is read through (in a result, and in a key of the page itself): each
    /// is read whole, not taken for bytes that are not UTF-8, and a sequence the source
    /// really ends inside is bad at any limit.
    #[test]
    fn characters_across_window_edges_read_as_in_a_whole_page() {
        for text in ["é".repeat(300), "東".repeat(300), format!("a{}", "é東".repeat(120))] {
            let page = format!(
                r#"{{"results":[{{"group":{{"q":"{text}"}},"data":[{{"interval":"s/e","metrics":[{{"metric":"m","stats":{{"count":1}}}}]}}]}}],"note":"{text}"}}"#
            );
            // Cut off inside the last character of the page's own key, read in windows.
            let cut_off = &page.as_bytes()[..page.rfind('東').map_or(page.len() - 1, |at| at + 1)];
            for input in [page.as_bytes(), cut_off] {
                let run_with = |limit: usize| {
                    let mut sink = Recorder::default();
                    let reader = io::BufReader::with_capacity(7, input);
                    let read = read_alone("t.json", reader, limit, &mut sink);
                    (sink.0, read.map_err(|e| format!("{e:#}")))
                };
                let whole = run_with(BUFFERED_PAGE_LIMIT);
                assert_eq!(whole.1.is_ok(), input.len() == page.len(), "{whole:?}");
                for limit in [48, 100, 257, 400] {
                    assert_eq!(
                        run_with(limit),
                        whole,
                        "limit {limit}: {}",
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }
    }
}
