//! The serde walk of a page streamed from a reader: pages too large to buffer.
//!
//! Seeds and visitors follow `results[] → data[] → metrics[] → stats{}`, handing each entity
//! to the sink as soon as its closing brace is read, so memory stays bounded by one entity.
//! The sink's own error is kept beside the parse (serde's error type would flatten it).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    excerpt, is_number, scalar, Element, ElementKind, Entity, EntitySink, Failure, GroupEntry, Metric, Observation,
    PageFailure, PageKeys, Scalar, Scratch, Stat,
};

/// Walks one page read from `reader`, which must start at the page's `{`; `observed`: when
/// the observations in it were observed, if its source said.
pub(super) fn parse<R: std::io::Read>(
    reader: R,
    observed: Option<&str>,
    sink: &mut dyn EntitySink,
) -> Result<(), PageFailure> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut ctx = Ctx {
        sink,
        failure: None,
        observed: observed.map(str::to_owned),
    };
    let parsed = PageSeed {
        ctx: &mut ctx,
        borrowed: false,
    }
    .deserialize(&mut de);
    parsed.map_err(|err| failure(err, ctx.failure))
}

/// Walks one page held in memory (the reference the fast parser is tested against).
#[cfg(test)]
pub(super) fn parse_slice(page: &[u8], observed: Option<&str>, sink: &mut dyn EntitySink) -> Result<(), PageFailure> {
    let mut de = serde_json::Deserializer::from_slice(page);
    let mut ctx = Ctx {
        sink,
        failure: None,
        observed: observed.map(str::to_owned),
    };
    let parsed = PageSeed {
        ctx: &mut ctx,
        borrowed: true,
    }
    .deserialize(&mut de);
    parsed.map_err(|err| failure(err, ctx.failure))
}

/// Shared state of one page's visitors.
struct Ctx<'s> {
    sink: &'s mut dyn EntitySink,
    /// The real reason behind a custom serde error, when there is one.
    failure: Option<Failure>,
    /// When the observations being read were observed.
    observed: Option<String>,
}

fn failure(err: serde_json::Error, kept: Option<Failure>) -> PageFailure {
    let kind = match kept {
        Some(kind) => kind,
        None if err.is_io() => Failure::Io(std::io::Error::other(err.to_string())),
        None => {
            let text = err.to_string();
            let suffix = format!(" at line {} column {}", err.line(), err.column());
            let msg = text.strip_suffix(&suffix).unwrap_or(&text);
            Failure::Syntax(fast_wording(msg, err.is_eof()))
        }
    };
    PageFailure::new(err.line(), err.column(), kind)
}

/// serde_json's message for a syntax error in the words of the fast parser, so that a page
/// fails alike at any size: serde names what it was parsing at the end of the input and
/// quotes the value of a wrong type, the fast parser does neither.
fn fast_wording(msg: &str, eof: bool) -> String {
    if eof {
        return "truncated input: EOF while parsing a value".to_owned();
    }
    if msg == "invalid unicode code point" {
        // What serde_json says of a string that is not UTF-8, when reading from a stream.
        return "invalid UTF-8 in the input".to_owned();
    }
    let Some((found, expected)) = msg
        .strip_prefix("invalid type: ")
        .and_then(|m| m.rsplit_once(", expected "))
    else {
        return msg.to_owned();
    };
    let kind = if found.starts_with("integer `") || found.starts_with("floating point `") {
        "number"
    } else if found.starts_with("boolean `") {
        "boolean"
    } else if found.starts_with("string \"") {
        "string"
    } else {
        found
    };
    format!("invalid type: {kind}, expected {expected}")
}

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

/// Text of a small value of an error body, for the message.
fn message_text<'de, A: MapAccess<'de>>(map: &mut A, borrowed: bool) -> Result<String, A::Error> {
    let text = map.next_value_seed(RawSeed { borrowed })?;
    Ok(scalar(text).map_err(de::Error::custom)?.into_text())
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
        // A page that is itself a `results[]` element (a bare `results` array's element).
        let mut own = ResultKeys::default();
        // A notification's `eventBody`, or an EventBridge event's `detail` and `time`: read
        // once the page is, when the topic that names the group's id is known.
        let mut event = None;
        let mut time = None;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "results" | "entities" => {
                    let results = key == "results";
                    keys.claim(if results { "results" } else { "entities" })
                        .map_err(de::Error::custom)?;
                    let seed = ListSeed {
                        ctx: &mut *self.ctx,
                        scratch: &mut scratch,
                        borrowed,
                        tutorial: !results,
                    };
                    map.next_value_seed(seed)?;
                }
                "data" | "group" => {
                    if key == "data" {
                        keys.claim("data").map_err(de::Error::custom)?;
                    }
                    keys.group |= key == "group";
                    own.read(&mut map, &key, self.ctx, &mut scratch, borrowed)?;
                }
                "eventBody" | "detail" => {
                    keys.claim(if key == "detail" { "detail" } else { "eventBody" })
                        .map_err(de::Error::custom)?;
                    event = Some(map.next_value_seed(RawSeed { borrowed })?);
                }
                "topicName" => keys.topic = Some(message_text(&mut map, borrowed)?),
                "time" => time = Some(message_text(&mut map, borrowed)?),
                "result" => {
                    keys.result = true;
                    map.next_value::<IgnoredAny>()?;
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
        own.finish(self.ctx, &mut scratch.group)?;
        if keys.is_control() {
            self.ctx.sink.skipped();
            return Ok(());
        }
        if let Some(text) = event {
            return if keys.body == Some("detail") {
                detail(self.ctx, &text, time)
            } else {
                event_body(self.ctx, &text, keys.topic.as_deref())
            };
        }
        if keys.is_read() {
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

/// An EventBridge event's `detail` (its JSON text): the notification, observed at the
/// event's `time`.
fn detail<E: de::Error>(ctx: &mut Ctx<'_>, text: &str, time: Option<String>) -> Result<(), E> {
    /// The keys of a notification that matter: its topic and (the text of) its body.
    struct Notification<'a> {
        topic: Option<String>,
        body: Option<&'a RawValue>,
    }
    impl<'de> Deserialize<'de> for Notification<'de> {
        fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            struct Keys;
            impl<'de> Visitor<'de> for Keys {
                type Value = Notification<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an event's detail (an object with `topicName` and `eventBody`)")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Notification<'de>, A::Error> {
                    let mut found = Notification {
                        topic: None,
                        body: None,
                    };
                    while let Some(key) = map.next_key_seed(StrSeed)? {
                        match key.as_ref() {
                            "topicName" => found.topic = Some(message_text(&mut map, true)?),
                            "eventBody" => found.body = Some(map.next_value()?),
                            _ => {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                    Ok(found)
                }
            }
            de.deserialize_map(Keys)
        }
    }
    let found: Notification = serde_json::from_str(text).map_err(de::Error::custom)?;
    if found.topic.as_deref().is_some_and(super::is_control_topic) {
        ctx.sink.skipped();
        return Ok(());
    }
    let Some(body) = found.body else {
        return Err(de::Error::custom("an event's `detail` without an `eventBody`"));
    };
    let page = std::mem::replace(&mut ctx.observed, time);
    let read = event_body(ctx, body.get(), found.topic.as_deref());
    ctx.observed = page;
    read
}

/// A notification's `eventBody` (its JSON text): a `results[]` element, its group completed
/// with the id its topic names.
fn event_body<E: de::Error>(ctx: &mut Ctx<'_>, text: &str, topic: Option<&str>) -> Result<(), E> {
    let mut scratch = Scratch::default();
    let seed = ResultSeed {
        ctx: &mut *ctx,
        scratch: &mut scratch,
        borrowed: true,
        topic: super::topic_entry(topic),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let data = seed.deserialize(&mut de).map_err(de::Error::custom)?;
    if !data {
        let topic = topic.unwrap_or("none");
        return Err(de::Error::custom(format!(
            "an event of topic `{topic}` whose `eventBody` has no `data`: flatten reads the analytics topics' events"
        )));
    }
    Ok(())
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
                    topic: None,
                })?
                .is_some()
            {}
        }
        Ok(())
    }
}

/// One `results[]` element: `group` and `data`, in either order, the group completed with
/// the id `topic` names; gives whether it had a `data`.
struct ResultSeed<'c, 's, 'de> {
    ctx: &'c mut Ctx<'s>,
    scratch: &'c mut Scratch<'de>,
    borrowed: bool,
    topic: Option<GroupEntry<'static>>,
}

impl<'de> DeserializeSeed<'de> for ResultSeed<'_, '_, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_, '_, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a result (an object with `group` and `data`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        self.scratch.group.clear();
        let mut keys = ResultKeys {
            topic: self.topic,
            ..ResultKeys::default()
        };
        while let Some(key) = map.next_key_seed(StrSeed)? {
            if !keys.read(&mut map, &key, self.ctx, self.scratch, self.borrowed)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let data = keys.have_data;
        keys.finish(self.ctx, &mut self.scratch.group)?;
        Ok(data)
    }
}

/// The `group` and `data` of a result, read in either order (into a group cleared before).
#[derive(Default)]
struct ResultKeys<'de> {
    have_group: bool,
    have_data: bool,
    /// The data's text, when it came before the group.
    deferred: Option<Cow<'de, str>>,
    /// The id a notification's topic names, for a group that lacks it.
    topic: Option<GroupEntry<'static>>,
}

impl<'de> ResultKeys<'de> {
    /// Reads the value of `key` if it is `group` or `data` (true), else leaves it (false).
    fn read<A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        key: &str,
        ctx: &mut Ctx<'_>,
        scratch: &mut Scratch<'de>,
        borrowed: bool,
    ) -> Result<bool, A::Error> {
        match key {
            "group" => {
                map.next_value_seed(GroupSeed {
                    out: &mut scratch.group,
                    borrowed,
                })?;
                super::add_topic_id(&mut scratch.group, &self.topic);
                self.have_group = true;
            }
            "data" if self.have_group => {
                self.have_data = true;
                map.next_value_seed(DataSeed { ctx, scratch, borrowed })?;
            }
            // `group` may still follow: keep the data's text until the object ends.
            "data" => {
                self.have_data = true;
                self.deferred = Some(map.next_value_seed(RawSeed { borrowed })?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The object has been read: flattens the data that came before the group.
    fn finish<E: de::Error>(self, ctx: &mut Ctx<'_>, group: &mut Vec<GroupEntry<'_>>) -> Result<(), E> {
        if let Some(text) = self.deferred {
            if !self.have_group {
                super::add_topic_id(group, &self.topic);
            }
            let mut scratch = Scratch {
                group: group.clone(),
                ..Scratch::default()
            };
            let mut de = serde_json::Deserializer::from_str(&text);
            let seed = DataSeed {
                ctx,
                scratch: &mut scratch,
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
        self.entries(&mut map)
    }
}

impl<'de> GroupSeed<'_, 'de> {
    /// Appends every entry of `map`, each value as a [`Scalar`].
    fn entries<A: MapAccess<'de>>(self, map: &mut A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(StrSeed)? {
            let text = map.next_value_seed(RawSeed {
                borrowed: self.borrowed,
            })?;
            let value = scalar(text).map_err(de::Error::custom)?;
            self.out.push(GroupEntry { key, value });
        }
        Ok(())
    }
}

/// `data[]`: one entity per data point of an aggregate, one for all the metrics of an
/// observation.
struct DataSeed<'c, 's, 'de> {
    ctx: &'c mut Ctx<'s>,
    scratch: &'c mut Scratch<'de>,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of data points")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.scratch.start_data();
        let Scratch {
            group,
            metrics,
            stats,
            observations,
            fields,
        } = self.scratch;
        let mut kinds = super::Kinds::default();
        loop {
            let point = PointSeed {
                metrics: &mut *metrics,
                stats: &mut *stats,
                observations: &mut *observations,
                fields: &mut *fields,
                kinds: &mut kinds,
                borrowed: self.borrowed,
            };
            let Some((element, kind)) = seq.next_element_seed(point)? else {
                break;
            };
            if kind == ElementKind::Observation {
                continue;
            }
            super::views_last(metrics);
            let entity = Entity::api(group, element.interval.as_deref(), metrics, stats);
            deliver(self.ctx, &entity)?;
            metrics.clear();
            stats.clear();
        }
        if kinds.observation {
            let observed = self.ctx.observed.clone();
            let entity = Entity::observation(group, observed.as_deref(), (metrics, stats), (observations, fields));
            deliver(self.ctx, &entity)?;
        }
        Ok(())
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

/// One `data[]` element: an aggregate's data point fills the metric and stat buffers; an
/// observation's metric is added to them, its entries to the observation buffers.
struct PointSeed<'c, 'de> {
    metrics: &'c mut Vec<Metric<'de>>,
    stats: &'c mut Vec<Stat<'de>>,
    observations: &'c mut Vec<Observation>,
    fields: &'c mut Vec<GroupEntry<'de>>,
    /// The kinds of the array's elements so far: this one must not mix with them.
    kinds: &'c mut super::Kinds,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for PointSeed<'_, 'de> {
    type Value = (Element<'de>, ElementKind);
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PointSeed<'_, 'de> {
    type Value = (Element<'de>, ElementKind);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a data point (an object with `interval` and `metrics`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut element = Element::default();
        let (first_stat, first_entry) = (self.stats.len(), self.observations.len());
        let first_metric = self.metrics.len();
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "interval" => element.interval = map.next_value_seed(OptStrSeed)?,
                "metrics" | "views" => {
                    let seed = MetricsSeed {
                        metrics: &mut *self.metrics,
                        stats: &mut *self.stats,
                        view: key == "views",
                        borrowed: self.borrowed,
                    };
                    map.next_value_seed(seed)?;
                }
                "metric" => element.metric = map.next_value_seed(OptStrSeed)?,
                "qualifier" => {
                    element.qualifier = map.next_value_seed(OptStrSeed)?;
                    if element.qualifier.is_some() {
                        element.observed("qualifier");
                    }
                }
                "stats" => {
                    let before = self.stats.len();
                    map.next_value_seed(StatsSeed {
                        stats: &mut *self.stats,
                        borrowed: self.borrowed,
                    })?;
                    if self.stats.len() > before {
                        element.observed("stats");
                    }
                }
                "truncated" => {
                    element.truncated = map.next_value::<Option<bool>>()?.unwrap_or(false);
                    if element.truncated {
                        element.observed("truncated");
                    }
                }
                "observations" => {
                    let before = self.observations.len();
                    map.next_value_seed(EntriesSeed {
                        observations: &mut *self.observations,
                        fields: &mut *self.fields,
                        metric: first_metric,
                        borrowed: self.borrowed,
                    })?;
                    if self.observations.len() > before {
                        element.observed("observations");
                    }
                }
                _ => {
                    let value = map.next_value_seed(RawSeed {
                        borrowed: self.borrowed,
                    })?;
                    element.note(&key, &value);
                }
            }
        }
        element.aggregate = self.metrics.len() > first_metric;
        if let Some(name) = element.metric.clone() {
            if !element.aggregate {
                for entry in &mut self.observations[first_entry..] {
                    entry.truncated = element.truncated;
                }
                self.metrics.push(Metric {
                    name,
                    qualifier: element.qualifier.clone(),
                    view: false,
                    stats: first_stat..self.stats.len(),
                });
            }
        }
        // Refused here, while the position is still the element's closing brace.
        let kind = element.kind().map_err(de::Error::custom)?;
        self.kinds.note(&kind).map_err(de::Error::custom)?;
        Ok((element, kind))
    }
}

/// An observation metric's `observations[]` (or null), for the metric that will be
/// `metrics[metric]`.
struct EntriesSeed<'c, 'de> {
    observations: &'c mut Vec<Observation>,
    fields: &'c mut Vec<GroupEntry<'de>>,
    metric: usize,
    borrowed: bool,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of observations")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let start = self.fields.len();
            let entry = GroupSeed {
                out: &mut *self.fields,
                borrowed: self.borrowed,
            };
            if seq.next_element_seed(EntrySeed(entry))?.is_none() {
                return Ok(());
            }
            self.observations.push(Observation {
                metric: self.metric,
                truncated: false,
                fields: start..self.fields.len(),
            });
        }
    }
}

/// One `observations[]` entry: an object of fields, appended to the fields read so far.
struct EntrySeed<'c, 'de>(GroupSeed<'c, 'de>);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an observation (an object of fields)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.entries(&mut map)
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
        let Scratch {
            group, metrics, stats, ..
        } = self.scratch;
        let borrowed = self.borrowed;
        group.clear();
        metrics.clear();
        stats.clear();
        let mut id = Scalar::Null;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "id" => id = scalar(map.next_value_seed(RawSeed { borrowed })?).map_err(de::Error::custom)?,
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
        let entity = Entity::tutorial(group, &id, metrics, stats);
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
    /// The metric object's `value`: the last one when the key repeats, as the buffered
    /// parser takes it.
    struct Holder<'a> {
        value: Option<&'a RawValue>,
    }
    impl<'de> Deserialize<'de> for Holder<'de> {
        fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            struct Last;
            impl<'de> Visitor<'de> for Last {
                type Value = Holder<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a metric")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Holder<'de>, A::Error> {
                    let mut value = None;
                    while let Some(key) = map.next_key::<Cow<'_, str>>()? {
                        if key == "value" {
                            value = Some(map.next_value::<&RawValue>()?);
                        } else {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    Ok(Holder { value })
                }
            }
            de.deserialize_map(Last)
        }
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
