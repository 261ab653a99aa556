//! The page splitter, the page parser and the flattener, against serde_json's reading of
//! the same bytes.
//!
//! For each input the target checks that
//! - nothing panics (the reader, and `gcagg flatten` to NDJSON or Parquet, in-process);
//! - a page read whole and the same page cut at its list elements (the same bytes read with
//!   small buffering limits, as pages over 16 MiB are) agree, entity for entity and error
//!   for error;
//! - bytes serde_json refuses are refused, and bytes it reads are never refused as malformed
//!   (an error about the shape of a page is fine);
//! - the entities found are those a plain reading of serde_json's values gives: the same
//!   groups, intervals, metrics and stat values, as numbers and strings serde_json reads them;
//! - what `flatten` writes is valid NDJSON.

#![no_main]

use std::collections::BTreeSet;
use std::fmt;

use libfuzzer_sys::fuzz_target;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| check(data));

fn check(data: &[u8]) {
    let buffered = gcagg::fuzzing::entities(data, 16 << 20).map_err(|e| format!("{e:#}"));
    // Envelope lines are recognised whole only: inputs with one are cut at limits above them.
    let limits: &[usize] = if contains(data, b"gcaggObservedAt") {
        &[4096]
    } else {
        &[1, 64, 400]
    };
    for &limit in limits {
        let cut = gcagg::fuzzing::entities(data, limit).map_err(|e| format!("{e:#}"));
        // An observation result's metrics make one row: one over the limit is refused, by design.
        let refused = matches!(&cut, Err(e) if e.contains("a result of observation metrics over"));
        if !refused {
            assert_eq!(buffered, cut, "the page read whole and cut at limit {limit} disagree");
        }
    }

    match (reference(data), &buffered) {
        (Reading::Invalid(why), Ok(_)) => panic!("accepted what serde_json refuses: {why}"),
        (Reading::Valid { .. }, Err(msg)) if is_syntax(msg) => {
            panic!("refused as malformed what serde_json reads: {msg}")
        }
        (
            Reading::Valid {
                pages,
                duplicates: false,
            },
            Ok(found),
        ) => {
            if let Some(expected) = expected_entities(&pages) {
                assert_eq!(
                    canonical(found),
                    canonical(&expected),
                    "entities differ from serde_json's reading"
                );
            }
        }
        _ => {}
    }
    flatten(data, buffered.is_ok());
}

/// What serde_json makes of the input, read as gcagg reads a source: an optional BOM, then
/// documents separated by whitespace, or one top-level array of them.
enum Reading {
    Valid {
        pages: Vec<Value>,
        duplicates: bool,
    },
    Invalid(String),
    /// serde_json has limits JSON has not (nesting depth, numbers beyond f64): no verdict.
    Unknown,
}

fn reference(data: &[u8]) -> Reading {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut values = Vec::new();
    let mut duplicates = false;
    for item in serde_json::Deserializer::from_slice(data).into_iter::<Value>() {
        match item {
            Ok(value) => values.push(value),
            Err(e) => return refusal(e),
        }
    }
    // serde_json's `Value` keeps the last of two equal keys; gcagg reads each. Such inputs
    // are checked for validity only.
    for item in serde_json::Deserializer::from_slice(data).into_iter::<NoDuplicates>() {
        duplicates |= item.is_err();
    }
    let pages = match values.as_slice() {
        [Value::Array(pages)] => pages.clone(),
        _ => values,
    };
    Reading::Valid { pages, duplicates }
}

fn refusal(e: serde_json::Error) -> Reading {
    let msg = e.to_string();
    if msg.contains("recursion limit") || msg.contains("number out of range") {
        Reading::Unknown
    } else {
        Reading::Invalid(msg)
    }
}

fn contains(data: &[u8], needle: &[u8]) -> bool {
    data.windows(needle.len()).any(|w| w == needle)
}

/// Whether gcagg's message says the bytes are not JSON (rather than not a page): its syntax
/// errors' own phrases, never a word a message about keys could quote.
fn is_syntax(msg: &str) -> bool {
    [
        "EOF while parsing",
        "expected value",
        "expected `,`",
        "expected `:`",
        "trailing characters",
        "lone trailing surrogate",
        "invalid escape",
        "invalid unicode",
        "control character",
        "invalid number",
        "key must be a string",
        "lone leading surrogate",
        "invalid UTF-8",
        "truncated input",
    ]
    .iter()
    .any(|s| msg.contains(s))
}

/// The entities a plain reading of `pages` gives, in the form of `gcagg::fuzzing::entities`;
/// `None` where the pages are not plainly of a shape read (gcagg's verdict is then its own).
fn expected_entities(pages: &[Value]) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for page in pages {
        let page = page.as_object()?;
        // Envelopes, notification events and observation bodies are judged by gcagg's own
        // tests; here only for validity, agreement between the two readings, and no panic.
        if ["eventBody", "detail", "topicName", "gcaggObservedAt"]
            .iter()
            .any(|k| page.contains_key(*k))
        {
            return None;
        }
        if let Some(results) = page.get("results") {
            for result in list(results)? {
                api_result(result.as_object()?, &mut out)?;
            }
        } else if let Some(entities) = page.get("entities") {
            for entity in list(entities)? {
                tutorial_entity(entity.as_object()?, &mut out)?;
            }
        } else if page.contains_key("data") || page.contains_key("group") {
            api_result(page, &mut out)?;
        }
    }
    Some(out)
}

/// `results` or `entities`: null, an empty object, or an array.
fn list(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Null => Some(&[]),
        Value::Object(o) if o.is_empty() => Some(&[]),
        Value::Array(items) => Some(items),
        _ => None,
    }
}

fn api_result(result: &serde_json::Map<String, Value>, out: &mut Vec<Value>) -> Option<()> {
    let group = match result.get("group") {
        None | Some(Value::Null) => vec![],
        Some(Value::Object(g)) => g.iter().map(|(k, v)| json!([k, v])).collect(),
        Some(_) => return None,
    };
    let points = match result.get("data") {
        None | Some(Value::Null) => return Some(()),
        Some(Value::Array(points)) => points,
        Some(_) => return None,
    };
    for point in points {
        let point = point.as_object()?;
        if point.contains_key("metric") {
            return None;
        }
        let interval = match point.get("interval") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) => Value::String(s.clone()),
            Some(_) => return None,
        };
        let mut metrics = metric_list(point.get("metrics"), "metric", false)?;
        metrics.extend(metric_list(point.get("views"), "name", true)?);
        out.push(json!({
            "shape": "Api", "group": group, "interval": interval, "id": null, "metrics": metrics,
            "observed_at": null, "observations": [],
        }));
    }
    Some(())
}

fn metric_list(list: Option<&Value>, name_key: &str, view: bool) -> Option<Vec<Value>> {
    let items = match list {
        None | Some(Value::Null) => return Some(vec![]),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    let mut out = Vec::new();
    for item in items {
        let item = item.as_object()?;
        let name = item.get(name_key)?.as_str()?;
        let qualifier = match item.get("qualifier") {
            Some(q) if !view => q.as_str().map(Value::from).or(q.is_null().then_some(Value::Null))?,
            _ => Value::Null,
        };
        let stats = match item.get("stats") {
            None | Some(Value::Null) => vec![],
            Some(Value::Object(stats)) => stats
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| v.is_number().then(|| json!([k, v])))
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
        };
        out.push(json!({"name": name, "qualifier": qualifier, "view": view, "stats": stats}));
    }
    Some(out)
}

fn tutorial_entity(entity: &serde_json::Map<String, Value>, out: &mut Vec<Value>) -> Option<()> {
    let group = match entity.get("groups") {
        None | Some(Value::Null) => vec![],
        Some(Value::Object(g)) => g.iter().map(|(k, v)| json!([k, v])).collect(),
        Some(_) => return None,
    };
    let mut metrics = Vec::new();
    match entity.get("metrics") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (name, v) in m {
                let value = match v {
                    Value::Object(o) => o.get("value").cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                };
                if !(value.is_null() || value.is_number()) {
                    return None;
                }
                metrics.push(json!({"name": name, "qualifier": null, "view": false, "stats": [["value", value]]}));
            }
        }
        Some(_) => return None,
    }
    let id = entity.get("id").cloned().unwrap_or(Value::Null);
    out.push(json!({
        "shape": "Tutorial", "group": group, "interval": null, "id": id, "metrics": metrics,
        "observed_at": null, "observations": [],
    }));
    Some(())
}

/// Entities with their object-ordered parts sorted (serde_json's map has its own order):
/// group entries by key, metrics' stats by name, and a tutorial entity's metrics (an object
/// there) by name; numbers compared as serde_json reads them.
fn canonical(entities: &[Value]) -> Vec<String> {
    entities
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(group) = e["group"].as_array_mut() {
                group.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
            }
            let tutorial = e["shape"] == "Tutorial";
            if let Some(metrics) = e["metrics"].as_array_mut() {
                if tutorial {
                    metrics.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
                }
                for m in metrics {
                    if let Some(stats) = m["stats"].as_array_mut() {
                        stats.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
                    }
                }
            }
            e.to_string()
        })
        .collect()
}

/// Runs `gcagg flatten` in-process on the bytes (NDJSON or Parquet, by the input's length):
/// it must not panic, must fail where the reader failed, and must write valid NDJSON.
fn flatten(data: &[u8], read_ok: bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("in.json");
    std::fs::write(&input, data).expect("the input written");
    let parquet = data.len() % 3 == 0;
    let output = dir.path().join(if parquet { "out.parquet" } else { "out.ndjson" });
    let outcome = gcagg::fuzzing::run(&[
        "gcagg",
        "flatten",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    if !read_ok {
        assert!(outcome.is_err(), "flatten succeeded where the reader failed");
    }
    if outcome.is_ok() && !parquet {
        let text = std::fs::read_to_string(&output).expect("flatten's output is UTF-8");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Map<String, Value>>(line)
                .unwrap_or_else(|e| panic!("flatten wrote a line that is not a JSON object ({e}): {line}"));
        }
    }
}

/// A JSON value that fails to deserialize if any object in it repeats a key.
struct NoDuplicates;

impl<'de> de::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicates)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(self)
    }
}
