//! Parquet column statistics, the figures DuckDB, Spark and Trino skip row groups by: each
//! row group's min, max, null count (and distinct count and exactness, as written) must be
//! what the rows read back from that row group hold, for every column type gcagg writes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use parquet::file::statistics::Statistics;

use crate::util::{fixture, gcagg, quoted, read_parquet, scratch, tree, Value};

/// One entity of the input: its group, interval, and stats per metric (`None`: left out).
struct Entity {
    queue: &'static str,
    media: Option<&'static str>,
    interval: &'static str,
    offered: Option<&'static str>,
    handle: Option<[&'static str; 3]>,
    acw: Option<&'static str>,
}

/// Text that is not in byte order when compared as characters or case-blind, empty text, a
/// long text (beyond the 64 bytes some writers cut statistics to), whole and fractional,
/// negative, zero and negative-zero numbers, intervals with offsets over two days, and
/// metrics and group keys missing from some entities and from whole row groups (three rows
/// each below).
const ENTITIES: &[Entity] = &[
    Entity {
        queue: "b-queue",
        media: Some("voice"),
        interval: "2024-05-01T00:00:00.000Z/2024-05-01T00:30:00.000Z",
        offered: Some("3"),
        handle: Some(["1.5", "-2.25", "12"]),
        acw: None,
    },
    Entity {
        queue: "Zulu",
        media: None,
        interval: "2024-05-01T02:00:00+02:00/2024-05-01T02:30:00+02:00",
        offered: Some("0"),
        handle: Some(["0", "-0.0", "0.0"]),
        acw: None,
    },
    Entity {
        queue: "",
        media: Some("chat"),
        interval: "2024-04-30T23:30:00.000Z/2024-05-01T00:00:00.000Z",
        offered: Some("123456789012"),
        handle: None,
        acw: None,
    },
    Entity {
        queue: "\u{e4}-queue",
        media: Some("email"),
        interval: "2024-05-02T10:00:00.000Z/2024-05-02T10:30:00.000Z",
        offered: None,
        handle: Some(["-0.0", "-7.5", "-0.0"]),
        acw: Some("4.75"),
    },
    Entity {
        queue: "a-queue-with-a-name-far-longer-than-sixty-four-bytes-so-that-a-cut-would-show",
        media: Some("voice"),
        interval: "2024-05-02T12:00:00.000-05:00/2024-05-02T12:30:00.000-05:00",
        offered: Some("17"),
        handle: Some(["1e3", "0.001", "2500.5"]),
        acw: Some("-1"),
    },
    Entity {
        queue: "apple",
        media: Some("callback"),
        interval: "2024-05-01T08:00:00.000Z/2024-05-01T08:30:00.000Z",
        offered: Some("5"),
        handle: None,
        acw: Some("0"),
    },
    Entity {
        queue: "a-queue-with-a-name-far-longer-than-sixty-four-bytes-so-that-a-cut-would-sort-later",
        media: None,
        interval: "2024-05-03T00:00:00.000Z/2024-05-03T00:30:00.000Z",
        offered: Some("1"),
        handle: Some(["9.25", "9.25", "9.25"]),
        acw: None,
    },
    Entity {
        queue: "Zulu",
        media: None,
        interval: "2024-05-03T00:30:00.000Z/2024-05-03T01:00:00.000Z",
        offered: None,
        handle: None,
        acw: None,
    },
];

/// The entities as one page of query results.
fn page() -> String {
    let results: Vec<String> = ENTITIES
        .iter()
        .map(|e| {
            let mut group = vec![format!(r#""queueId":{}"#, quoted(e.queue))];
            if let Some(media) = e.media {
                group.push(format!(r#""mediaType":{}"#, quoted(media)));
            }
            let mut metrics = Vec::new();
            if let Some(count) = e.offered {
                metrics.push(format!(r#"{{"metric":"nOffered","stats":{{"count":{count}}}}}"#));
            }
            if let Some([max, min, sum]) = e.handle {
                metrics.push(format!(
                    r#"{{"metric":"tHandle","stats":{{"max":{max},"min":{min},"count":2,"sum":{sum}}}}}"#
                ));
            }
            if let Some(sum) = e.acw {
                metrics.push(format!(r#"{{"metric":"tAcw","stats":{{"sum":{sum}}}}}"#));
            }
            // An entity without metrics is no row; keep one stat so every entity is a row.
            if metrics.is_empty() {
                metrics.push(r#"{"metric":"tWait","stats":{"count":1}}"#.to_owned());
            }
            format!(
                r#"{{"group":{{{}}},"data":[{{"interval":{},"metrics":[{}]}}]}}"#,
                group.join(","),
                quoted(e.interval),
                metrics.join(",")
            )
        })
        .collect();
    format!("{{\"results\":[{}]}}\n", results.join(","))
}

/// A fixture's JSON on one line, to follow an envelope in NDJSON.
fn fixture_body(name: &str) -> String {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap().to_string()
}

/// Runs `gcagg flatten --format parquet ARGS -o OUT INPUT` and returns the Parquet files
/// written (OUT itself, or every file of the dataset folder OUT).
fn write(args: &[&str], input: &Path, out: &Path) -> Vec<PathBuf> {
    gcagg()
        .args(["flatten", "--format", "parquet"])
        .args(args)
        .arg("-o")
        .arg(out)
        .arg(input)
        .assert()
        .success();
    if out.is_dir() {
        let files: Vec<PathBuf> = tree(out)
            .into_iter()
            .filter(|f| f.ends_with(".parquet"))
            .map(|f| out.join(f))
            .collect();
        assert!(!files.is_empty(), "no Parquet file under {}", out.display());
        files
    } else {
        vec![out.to_path_buf()]
    }
}

/// The smallest and largest of `values` (numbers by value, text by byte order, as Parquet's
/// type-defined order has it), or `None` when every value is null.
fn bounds(values: &[&Value]) -> Option<(Value, Value)> {
    let key = |a: &Value, b: &Value| match (a, b) {
        (Value::Text(a), Value::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Int(a), Value::Int(b)) | (Value::Time(a), Value::Time(b)) => a.cmp(b),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b).expect("no NaN comes from JSON"),
        (a, b) => panic!("one column holds {a:?} and {b:?}"),
    };
    let mut present = values.iter().copied().filter(|v| **v != Value::Null);
    let first = present.next()?.clone();
    Some(present.fold((first.clone(), first), |(lo, hi), v| {
        let lo = if key(v, &lo).is_lt() { v.clone() } else { lo };
        let hi = if key(v, &hi).is_gt() { v.clone() } else { hi };
        (lo, hi)
    }))
}

/// A statistic's min or max as a cell of its column's type.
fn stat_value(stats: &Statistics, max: bool, like: &Value) -> Option<Value> {
    Some(match (stats, like) {
        (Statistics::Int64(s), Value::Time(_)) => Value::Time(*if max { s.max_opt() } else { s.min_opt() }?),
        (Statistics::Int64(s), _) => Value::Int(*if max { s.max_opt() } else { s.min_opt() }?),
        (Statistics::Double(s), _) => Value::Float(*if max { s.max_opt() } else { s.min_opt() }?),
        (Statistics::ByteArray(s), _) => {
            let bytes = if max { s.max_opt() } else { s.min_opt() }?;
            Value::Text(String::from_utf8(bytes.data().to_vec()).expect("text statistics are UTF-8"))
        }
        (other, _) => panic!("unexpected statistics type {other:?}"),
    })
}

/// Every row group's statistics of every column of `path` against its rows; returns the
/// mismatches, one line each (file, row group, column, statistic, expected, got).
fn mismatches(path: &Path) -> Vec<String> {
    let table = read_parquet(path);
    let names = table.names();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut wrong = Vec::new();
    let mut first_row = 0;
    for (g, group) in table.metadata.row_groups().iter().enumerate() {
        let rows = &table.rows[first_row..first_row + group.num_rows() as usize];
        first_row += rows.len();
        for (c, column) in names.iter().enumerate() {
            let mut fail = |what: &str, expected: String, got: String| {
                wrong.push(format!(
                    "{name} row group {g} column {column}: {what}: expected {expected}, got {got}"
                ));
            };
            let values: Vec<&Value> = rows.iter().map(|r| &r[c]).collect();
            let Some(stats) = group.column(c).statistics() else {
                fail("statistics", "written".into(), "none".into());
                continue;
            };
            let nulls = values.iter().filter(|v| ***v == Value::Null).count() as u64;
            if stats.null_count_opt() != Some(nulls) {
                fail(
                    "null count",
                    format!("{nulls}"),
                    format!("{:?}", stats.null_count_opt()),
                );
            }
            if let Some(distinct) = stats.distinct_count_opt() {
                let seen: HashSet<String> = values
                    .iter()
                    .filter(|v| ***v != Value::Null)
                    .map(|v| format!("{v:?}"))
                    .collect();
                if distinct != seen.len() as u64 {
                    fail("distinct count", format!("{}", seen.len()), format!("{distinct}"));
                }
            }
            let Some((lo, hi)) = bounds(&values) else {
                if stats.min_bytes_opt().is_some() || stats.max_bytes_opt().is_some() {
                    fail("min/max of an all-null chunk", "none".into(), format!("{stats:?}"));
                }
                continue;
            };
            for (what, want, is_max, exact) in [
                ("min", &lo, false, stats.min_is_exact()),
                ("max", &hi, true, stats.max_is_exact()),
            ] {
                let got = stat_value(stats, is_max, want);
                // Only an inexact (cut) bound may differ from the value; gcagg writes whole values.
                if got.as_ref() != Some(want) || !exact {
                    fail(what, format!("{want:?} (exact)"), format!("{got:?} (exact: {exact})"));
                }
                // Parquet's rule for zero: a min of zero is written -0.0, a max of zero +0.0,
                // so that a reader's skip is right whichever zero the chunk holds.
                if let Some(Value::Float(z)) = got.filter(|_| matches!(want, Value::Float(w) if *w == 0.0)) {
                    if z.is_sign_negative() == is_max {
                        let sign = if is_max { "+0.0" } else { "-0.0" };
                        fail(what, sign.into(), format!("{z:?}"));
                    }
                }
            }
        }
    }
    assert_eq!(first_row, table.rows.len(), "{name}: row groups and rows disagree");
    wrong
}

#[test]
fn every_row_groups_statistics_are_those_of_its_rows() {
    let dir = scratch();
    let input = dir.path().join("pages.json");
    std::fs::write(&input, page()).unwrap();
    let mut files = Vec::new();
    for (n, args) in [
        &["--row-group-size", "3", "--add-column", "org=acme"][..],
        &["--row-group-size", "3", "--keep-nulls"][..],
        &["--row-group-size", "4", "--layout", "long"][..],
        &["--row-group-size", "2"][..],
        &[][..],
    ]
    .iter()
    .enumerate()
    {
        files.extend(write(args, &input, &dir.path().join(format!("out{n}.parquet"))));
    }
    for (n, args) in [
        &["--partition-by", "interval_date", "--row-group-size", "2"][..],
        &["--partition-by", "mediaType", "--layout", "long"][..],
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("dataset{n}"));
        files.extend(write(args, &input, &out));
    }
    // Observation bodies after the envelopes that give their rows an observed_at timestamp;
    // user and queue bodies mixed, so each one's group column is null in some row groups.
    let bodies = std::fs::read_to_string(fixture("observations/users.ndjson")).unwrap();
    let mut bodies = bodies.lines();
    let polled = dir.path().join("polled.ndjson");
    let envelope = |at: &str| format!("{{\"gcaggObservedAt\":{}}}\n", quoted(at));
    let mut text = envelope("2024-05-01T10:15:32.456Z") + bodies.next().unwrap() + "\n";
    text += &(envelope("2024-05-01T10:15:02.123Z") + bodies.next().unwrap() + "\n");
    text += &(fixture_body("observations/queues_pretty.json") + "\n");
    std::fs::write(&polled, text).unwrap();
    let observed = dir.path().join("observations.parquet");
    files.extend(write(&["--row-group-size", "3"], &polled, &observed));

    let wrong: Vec<String> = files.iter().flat_map(|f| mismatches(f)).collect();
    assert!(
        wrong.is_empty(),
        "{} wrong statistics:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
