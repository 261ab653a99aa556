//! The request body of an aggregate query, and the chunks of a split interval.
//!
//! The body is built once, before any request: from `--query` (a JSON object) with the
//! fields the flags name replacing the file's, or from the flags alone. Its time zone is
//! checked and spelled as the time-zone database does, and it is the calendar of `--since`
//! and of the chunks. Names of metrics, dimensions and granularities are never checked
//! here: the server is the authority and new names appear every few releases.

use serde_json::{json, Map, Value};

use super::time::{IsoDuration, Zone, ZonedTime};
use crate::exit::usage;

/// The query fields the command line gave.
#[derive(Debug, Default)]
pub struct Fields {
    /// `--interval START/END`.
    pub interval: Option<String>,
    /// `--since`: the interval that ends now.
    pub since: Option<IsoDuration>,
    /// `--granularity`.
    pub granularity: Option<String>,
    /// `--group-by`.
    pub group_by: Vec<String>,
    /// `--metrics`.
    pub metrics: Vec<String>,
    /// `--filter dimension=value`, ANDed.
    pub filters: Vec<(String, String)>,
    /// `--time-zone`: an IANA name, `Z` or an offset.
    pub time_zone: Option<String>,
}

/// Builds the query body: `base` (from `--query`) with the given fields replacing its own.
pub fn body(base: Option<Map<String, Value>>, fields: &Fields, now: ZonedTime) -> anyhow::Result<Map<String, Value>> {
    let from_file = base.is_some();
    let mut body = base.unwrap_or_default();
    if let Some(tz) = &fields.time_zone {
        body.insert("timeZone".into(), json!(tz));
    }
    let what = if fields.time_zone.is_some() {
        "--time-zone"
    } else {
        "--query: timeZone"
    };
    let zone = zone(&body, what)?;
    if let Some(zone) = &zone {
        body.insert("timeZone".into(), json!(zone.name()));
    }
    if let Some(since) = &fields.since {
        // End on a whole granularity bucket (or minute) of the zone's clock, so the first
        // and last buckets are full: `--since 7d --granularity P1D` ends at local midnight.
        let step = fields
            .granularity
            .as_deref()
            .and_then(IsoDuration::parse)
            .and_then(|g| g.fixed_seconds())
            .filter(|secs| 86_400 % secs == 0)
            .unwrap_or(60);
        let end = match &zone {
            Some(zone) => now.in_zone(zone).truncate(step),
            None => now.truncate(step),
        };
        let start = end.add(since, -1);
        body.insert("interval".into(), json!(format!("{start}/{end}")));
    }
    if let Some(interval) = &fields.interval {
        body.insert("interval".into(), json!(interval));
    }
    if let Some(g) = &fields.granularity {
        body.insert("granularity".into(), json!(g));
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

/// The time zone of `body`'s `timeZone`, if it has one; `what` names it in the usage error
/// when it is no time zone.
pub fn zone(body: &Map<String, Value>, what: &str) -> anyhow::Result<Option<Zone>> {
    let Some(name) = body.get("timeZone").and_then(Value::as_str) else {
        return Ok(None);
    };
    Zone::parse(name)
        .map(Some)
        .map_err(|why| usage(format!("{what} {name}: {why}")))
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

/// Splits `interval` into consecutive chunks of length `step`, counted on the calendar of
/// `zone` (else of the start's offset) and written in its offsets; the last may be shorter.
/// Without a step the interval is one chunk, passed on as written.
pub fn chunks(interval: &str, step: Option<&IsoDuration>, zone: Option<&Zone>) -> anyhow::Result<Vec<Chunk>> {
    let Some(step) = step else {
        return Ok(vec![Chunk {
            index: 0,
            interval: interval.to_owned(),
        }]);
    };
    let (mut start, mut end) = bounds("--split: the interval", interval)?;
    if let Some(zone) = zone {
        (start, end) = (start.in_zone(zone), end.in_zone(zone));
    }
    let mut chunks = Vec::new();
    let mut from = start.clone();
    while from < end {
        if chunks.len() == MAX_CHUNKS {
            return Err(usage(format!(
                "--split: more than {MAX_CHUNKS} chunks; choose a longer duration"
            )));
        }
        // Each boundary is counted from the start, so month lengths never drift.
        let to = start.add(step, chunks.len() as i64 + 1).min(end.clone());
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
pub fn bounds(what: &str, interval: &str) -> anyhow::Result<(ZonedTime, ZonedTime)> {
    let parsed = interval
        .split_once('/')
        .and_then(|(a, b)| Some((ZonedTime::parse(a)?, ZonedTime::parse(b)?)));
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
        chunks(interval, Some(&IsoDuration::parse(step).unwrap()), None)
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
        let day = IsoDuration::parse("P1D").unwrap();
        assert!(chunks("2024-05-02T00:00Z/2024-05-01T00:00Z", Some(&day), None).is_err());
        assert!(chunks("yesterday/today", Some(&day), None).is_err());
        let second = IsoDuration::parse("PT1S").unwrap();
        assert!(chunks("2024-01-01T00:00Z/2025-01-01T00:00Z", Some(&second), None).is_err());
    }

    /// The body of `--since since --granularity granularity [--time-zone zone]` at `now`.
    fn since_body(since: &str, granularity: &str, zone: Option<&str>, now: &str) -> Map<String, Value> {
        let fields = Fields {
            since: IsoDuration::parse(since),
            granularity: Some(granularity.into()),
            metrics: vec!["nOffered".into()],
            time_zone: zone.map(Into::into),
            ..Fields::default()
        };
        body(None, &fields, ZonedTime::parse(now).unwrap()).unwrap()
    }

    #[test]
    fn since_ends_on_a_whole_bucket() {
        let b = since_body("2h", "PT30M", None, "2024-05-01T10:47:13Z");
        assert_eq!(interval(&b), "2024-05-01T08:30:00.000Z/2024-05-01T10:30:00.000Z");
    }

    #[test]
    fn since_ends_at_the_zones_midnight() {
        let b = since_body("7d", "P1D", Some("Europe/Berlin"), "2024-04-01T10:47:13Z");
        // Seven local days, one of them 23 hours long.
        assert_eq!(
            interval(&b),
            "2024-03-25T00:00:00.000+01:00/2024-04-01T00:00:00.000+02:00"
        );
        assert_eq!(b["timeZone"], "Europe/Berlin");
    }

    #[test]
    fn a_files_time_zone_is_checked_too() {
        let base: Map<String, Value> =
            serde_json::from_str(r#"{"interval":"a/b","metrics":["tHandle"],"timeZone":"america/new_york"}"#).unwrap();
        let b = body(Some(base.clone()), &Fields::default(), ZonedTime::now()).unwrap();
        assert_eq!(b["timeZone"], "America/New_York");
        let mut bad = base;
        bad.insert("timeZone".into(), json!("Nowhere"));
        let err = body(Some(bad), &Fields::default(), ZonedTime::now()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--query: timeZone Nowhere: unknown time zone"),
            "{err}"
        );
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
        let b = Value::Object(body(Some(base), &fields, ZonedTime::now()).unwrap());
        assert_eq!(
            b,
            json!({"interval":"c/d","metrics":["tHandle"],"views":[],"filter":{"type":"and","predicates":[
                {"type":"dimension","dimension":"queueId","operator":"matches","value":"q1"}]}})
        );
    }
}
