//! The request body of an aggregate query, and the chunks of a split interval.
//!
//! The body is built once, before any request: from `--query` (a JSON object) with the
//! fields the flags name replacing the file's, or from the flags alone. Names of metrics,
//! dimensions and granularities are never checked here: the server is the authority and
//! new names appear every few releases.

use serde_json::{json, Map, Value};

use super::time::{Duration, Instant};
use crate::exit::usage;

/// The query fields the command line gave.
#[derive(Debug, Default)]
pub struct Fields {
    /// `--interval START/END`.
    pub interval: Option<String>,
    /// `--since`: the interval that ends now.
    pub since: Option<Duration>,
    /// `--granularity`.
    pub granularity: Option<String>,
    /// `--group-by`.
    pub group_by: Vec<String>,
    /// `--metrics`.
    pub metrics: Vec<String>,
    /// `--filter dimension=value`, ANDed.
    pub filters: Vec<(String, String)>,
    /// `--time-zone`.
    pub time_zone: Option<String>,
}

/// Builds the query body: `base` (from `--query`) with the given fields replacing its own.
pub fn body(base: Option<Map<String, Value>>, fields: &Fields, now: Instant) -> anyhow::Result<Map<String, Value>> {
    let from_file = base.is_some();
    let mut body = base.unwrap_or_default();
    if let Some(since) = &fields.since {
        // End on a whole granularity bucket (or minute) so the first and last buckets are full.
        let step = fields
            .granularity
            .as_deref()
            .and_then(Duration::parse)
            .and_then(|g| g.fixed_seconds())
            .filter(|secs| 86_400 % secs == 0)
            .unwrap_or(60);
        let end = now.truncate(step);
        let start = end.add(since, -1);
        body.insert("interval".into(), json!(format!("{start}/{end}")));
    }
    if let Some(interval) = &fields.interval {
        body.insert("interval".into(), json!(interval));
    }
    if let Some(g) = &fields.granularity {
        body.insert("granularity".into(), json!(g));
    }
    if let Some(tz) = &fields.time_zone {
        body.insert("timeZone".into(), json!(tz));
    }
    if !fields.group_by.is_empty() {
        body.insert("groupBy".into(), json!(fields.group_by));
    }
    if !fields.metrics.is_empty() {
        body.insert("metrics".into(), json!(fields.metrics));
    }
    if !fields.filters.is_empty() {
        let predicates: Vec<Value> = fields
            .filters
            .iter()
            .map(|(dimension, value)| json!({"type": "dimension", "dimension": dimension, "operator": "matches", "value": value}))
            .collect();
        body.insert("filter".into(), json!({"type": "and", "predicates": predicates}));
    }
    if !body.get("interval").is_some_and(Value::is_string) {
        return Err(usage(
            "no interval: give --interval START/END or --since 24h (or an \"interval\" in --query)",
        ));
    }
    if !from_file && fields.metrics.is_empty() {
        return Err(usage(
            "--metrics: name at least one metric, e.g. --metrics nOffered,tHandle",
        ));
    }
    Ok(body)
}

/// The interval of a body built by [`body`].
pub fn interval(body: &Map<String, Value>) -> &str {
    body.get("interval").and_then(Value::as_str).unwrap_or_default()
}

/// One consecutive piece of the query interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the interval, from 0.
    pub index: usize,
    /// `start/end`, as sent in the body.
    pub interval: String,
}

/// A split beyond this many chunks is surely a typo (`PT1S` over a year).
const MAX_CHUNKS: usize = 100_000;

/// Splits `interval` into consecutive chunks of length `step`; the last may be shorter.
/// Without a step the interval is one chunk, passed on as written.
pub fn chunks(interval: &str, step: Option<&Duration>) -> anyhow::Result<Vec<Chunk>> {
    let Some(step) = step else {
        return Ok(vec![Chunk {
            index: 0,
            interval: interval.to_owned(),
        }]);
    };
    let (start, end) = bounds("--split: the interval", interval)?;
    let mut chunks = Vec::new();
    let mut from = start;
    while from < end {
        if chunks.len() == MAX_CHUNKS {
            return Err(usage(format!(
                "--split: more than {MAX_CHUNKS} chunks; choose a longer duration"
            )));
        }
        // Each boundary is counted from the start, so month lengths never drift.
        let to = start.add(step, chunks.len() as i64 + 1).min(end);
        chunks.push(Chunk {
            index: chunks.len(),
            interval: format!("{from}/{to}"),
        });
        from = to;
    }
    Ok(chunks)
}

/// The two ends of `interval`, which must be `START/END`, each a date, a time and an
/// offset, the end after the start; `what` names it in the usage error otherwise.
pub fn bounds(what: &str, interval: &str) -> anyhow::Result<(Instant, Instant)> {
    let parsed = interval
        .split_once('/')
        .and_then(|(a, b)| Some((Instant::parse(a)?, Instant::parse(b)?)));
    let Some((start, end)) = parsed else {
        return Err(usage(format!(
            "{what} {interval}: expected START/END, each a date and time with an offset, e.g. \
             2024-05-01T00:00:00Z/2024-05-02T00:00:00Z or 2024-05-01T00:00:00+02:00/2024-05-02T00:00:00+02:00"
        )));
    };
    if end <= start {
        return Err(usage(format!("{what} {interval}: the end is not after the start")));
    }
    Ok((start, end))
}

/// The body of one chunk's request: the query with the chunk's interval, and for an async
/// job its page size.
pub fn chunk_body(body: &Map<String, Value>, chunk: &Chunk, page_size: Option<u32>) -> String {
    let mut body = body.clone();
    body.insert("interval".into(), json!(chunk.interval));
    if let Some(size) = page_size {
        body.insert("pageSize".into(), json!(size));
    }
    Value::Object(body).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(interval: &str, step: &str) -> Vec<String> {
        chunks(interval, Some(&Duration::parse(step).unwrap()))
            .unwrap()
            .into_iter()
            .map(|c| c.interval)
            .collect()
    }

    #[test]
    fn splits_into_consecutive_chunks() {
        assert_eq!(
            split("2024-05-01T00:00:00Z/2024-05-03T12:00:00Z", "P1D"),
            [
                "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
                "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z",
                "2024-05-03T00:00:00.000Z/2024-05-03T12:00:00.000Z"
            ]
        );
        assert_eq!(
            split("2024-01-31T00:00+01:00/2024-03-31T00:00+01:00", "P1M"),
            [
                "2024-01-31T00:00:00.000+01:00/2024-02-29T00:00:00.000+01:00",
                "2024-02-29T00:00:00.000+01:00/2024-03-31T00:00:00.000+01:00"
            ]
        );
    }

    #[test]
    fn refuses_bad_splits() {
        let day = Duration::parse("P1D").unwrap();
        assert!(chunks("2024-05-02T00:00Z/2024-05-01T00:00Z", Some(&day)).is_err());
        assert!(chunks("yesterday/today", Some(&day)).is_err());
        let second = Duration::parse("PT1S").unwrap();
        assert!(chunks("2024-01-01T00:00Z/2025-01-01T00:00Z", Some(&second)).is_err());
    }

    #[test]
    fn since_ends_on_a_whole_bucket() {
        let now = Instant::parse("2024-05-01T10:47:13Z").unwrap();
        let fields = Fields {
            since: Duration::parse("2h"),
            granularity: Some("PT30M".into()),
            metrics: vec!["nOffered".into()],
            ..Fields::default()
        };
        let b = body(None, &fields, now).unwrap();
        assert_eq!(interval(&b), "2024-05-01T08:30:00.000Z/2024-05-01T10:30:00.000Z");
    }

    #[test]
    fn flags_replace_the_files_fields() {
        let base: Map<String, Value> =
            serde_json::from_str(r#"{"interval":"a/b","metrics":["tHandle"],"views":[]}"#).unwrap();
        let fields = Fields {
            interval: Some("c/d".into()),
            filters: vec![("queueId".into(), "q1".into())],
            ..Fields::default()
        };
        let b = Value::Object(body(Some(base), &fields, Instant::now()).unwrap());
        assert_eq!(
            b,
            json!({"interval":"c/d","metrics":["tHandle"],"views":[],"filter":{"type":"and","predicates":[
                {"type":"dimension","dimension":"queueId","operator":"matches","value":"q1"}]}})
        );
    }
}
