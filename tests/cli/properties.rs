//! Property tests over random API-shaped pages: every non-null stat comes out exactly once in
//! the long layout, the wide layout holds the same values, CSV agrees with NDJSON cell by cell,
//! and mangled input is refused with a one-line message, never a panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use crate::util::{csv_rows, flatten, message_of, ndjson_rows, quoted, stdout_of, Json, Row};

// ---- the model of a response ----------------------------------------------------------------

/// Group keys whose safe names are all different (and differ from every other column).
const GROUP_KEYS: [&str; 6] = [
    "queueId",
    "mediaType",
    "user.id",
    "wrap-up code",
    "divisionId",
    "direction",
];
/// Metrics and qualifiers whose column names cannot run into each other.
const METRICS: [(&str, Option<&str>); 7] = [
    ("nOffered", None),
    ("tHandle", None),
    ("oServiceLevel", None),
    ("tAgentRoutingStatus", Some("IDLE")),
    ("tAgentRoutingStatus", Some("INTERACTING")),
    ("tSystemPresence", Some("ON_QUEUE")),
    ("t.Custom-1", Some("on queue")),
];
const VIEWS: [&str; 2] = ["tKindOfShortAbandon", "under 20s"];
/// Stat names as the API spells them, plus a name a newer API could send.
const API_STATS: [&str; 15] = [
    "max",
    "min",
    "count",
    "countNegative",
    "countPositive",
    "sum",
    "current",
    "ratio",
    "numerator",
    "denominator",
    "target",
    "p95",
    "p99",
    "calculatedMetricValue",
    "p50",
];

/// How the SDKs spell a stat (SPEC §2.4).
fn sdk_name(api: &'static str) -> &'static str {
    match api {
        "countNegative" => "count_negative",
        "countPositive" => "count_positive",
        "calculatedMetricValue" => "calculated_metric_value",
        other => other,
    }
}

const INTERVALS: [&str; 3] = [
    "2024-05-01T00:00:00.000Z/2024-05-01T00:30:00.000Z",
    "2024-01-15T09:00:00.000+01:00/2024-01-15T10:00:00.000+01:00",
    "2024-03-31T00:00:00.000+01:00/2024-03-31T03:00:00.000+02:00",
];

#[derive(Debug, Clone)]
struct Stat {
    /// Index into the stat name tables.
    name: usize,
    /// Whether the input uses the SDK's spelling.
    sdk: bool,
    /// The number as spelled, or `None` for null.
    value: Option<String>,
}

#[derive(Debug, Clone)]
struct Metric {
    /// The name and qualifier (`None` for a view).
    name: &'static str,
    qualifier: Option<&'static str>,
    view: bool,
    /// Whether an absent qualifier is written as `"qualifier": null`.
    null_qualifier: bool,
    stats: Vec<Stat>,
}

#[derive(Debug, Clone)]
struct Point {
    interval: Option<&'static str>,
    metrics: Vec<Metric>,
    views: Vec<Metric>,
    views_first: bool,
}

#[derive(Debug, Clone)]
struct ResultM {
    group: Vec<(&'static str, Json)>,
    data: Vec<Point>,
    data_first: bool,
}

/// How the pages are spelled: separators, and whether they are wrapped in one array.
#[derive(Debug, Clone)]
struct Style {
    item: &'static str,
    key: &'static str,
    array: bool,
}

#[derive(Debug, Clone)]
struct Dump {
    pages: Vec<Vec<ResultM>>,
    style: Style,
}

fn number() -> impl Strategy<Value = String> {
    (
        select(vec!["", "-"]),
        prop_oneof![Just(0u64), 1u64..1000, 1000u64..100_000_000],
        select(vec!["", "", ".0", ".5", ".80", ".47586206896551725"]),
        select(vec!["", "", "", "e3", "E+2", "e-7", "E0"]),
    )
        .prop_map(|(sign, int, fraction, exponent)| format!("{sign}{int}{fraction}{exponent}"))
}

fn stats() -> impl Strategy<Value = Vec<Stat>> {
    subsequence((0..API_STATS.len()).collect::<Vec<_>>(), 0..=5)
        .prop_shuffle()
        .prop_flat_map(|names| {
            let n = names.len();
            (
                Just(names),
                proptest::collection::vec(any::<bool>(), n),
                proptest::collection::vec(proptest::option::weighted(0.75, number()), n),
            )
        })
        .prop_map(|(names, sdk, values)| {
            names
                .into_iter()
                .zip(sdk)
                .zip(values)
                .map(|((name, sdk), value)| Stat { name, sdk, value })
                .collect()
        })
}

fn metrics(view: bool) -> impl Strategy<Value = Vec<Metric>> {
    let names: Vec<(&'static str, Option<&'static str>)> = if view {
        VIEWS.iter().map(|v| (*v, None)).collect()
    } else {
        METRICS.to_vec()
    };
    let max = if view { 2 } else { 4 };
    subsequence(names, 0..=max).prop_shuffle().prop_flat_map(move |chosen| {
        let n = chosen.len();
        (
            Just(chosen),
            proptest::collection::vec(stats(), n),
            proptest::collection::vec(any::<bool>(), n),
        )
            .prop_map(move |(chosen, stats, nulls)| {
                chosen
                    .into_iter()
                    .zip(stats)
                    .zip(nulls)
                    .map(|(((name, qualifier), stats), null_qualifier)| Metric {
                        name,
                        qualifier,
                        view,
                        null_qualifier,
                        stats,
                    })
                    .collect()
            })
    })
}

fn group_value() -> impl Strategy<Value = Json> {
    let chars = vec!['a', 'Z', '0', ' ', '"', ',', '\n', '\\', '/', 'é', '東', '🙂'];
    prop_oneof![
        3 => proptest::collection::vec(select(chars), 0..8).prop_map(|c| Json::Str(c.into_iter().collect())),
        1 => select(vec!["3", "-1.50", "true", "false", "null", "1e3"]).prop_map(|s| Json::Raw(s.to_owned())),
    ]
}

fn result() -> impl Strategy<Value = ResultM> {
    let point = (
        proptest::option::weighted(0.9, select(INTERVALS.to_vec())),
        metrics(false),
        metrics(true),
        any::<bool>(),
    )
        .prop_map(|(interval, metrics, views, views_first)| Point {
            interval,
            metrics,
            views,
            views_first,
        });
    (
        subsequence(GROUP_KEYS.to_vec(), 0..=4).prop_shuffle(),
        proptest::collection::vec(group_value(), 4),
        proptest::collection::vec(point, 0..3),
        any::<bool>(),
    )
        .prop_map(|(keys, values, data, data_first)| ResultM {
            group: keys.into_iter().zip(values).collect(),
            data,
            data_first,
        })
}

fn dump() -> impl Strategy<Value = Dump> {
    let style = (select(vec![",", ", ", ",\n  "]), select(vec![":", ": "]), any::<bool>())
        .prop_map(|(item, key, array)| Style { item, key, array });
    (
        proptest::collection::vec(proptest::collection::vec(result(), 0..4), 1..4),
        style,
    )
        .prop_map(|(pages, style)| Dump { pages, style })
}

// ---- writing the model as JSON ----------------------------------------------------------------

impl Style {
    fn object(&self, pairs: &[(&str, String)]) -> String {
        let fields: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}{}{v}", quoted(k), self.key))
            .collect();
        format!("{{{}}}", fields.join(self.item))
    }

    fn array(&self, items: &[String]) -> String {
        format!("[{}]", items.join(self.item))
    }

    fn metric(&self, m: &Metric) -> String {
        let stats: Vec<(&str, String)> = m
            .stats
            .iter()
            .map(|s| {
                let name = if s.sdk {
                    sdk_name(API_STATS[s.name])
                } else {
                    API_STATS[s.name]
                };
                (name, s.value.clone().unwrap_or_else(|| "null".into()))
            })
            .collect();
        let mut pairs = vec![(if m.view { "name" } else { "metric" }, quoted(m.name))];
        match (m.qualifier, m.null_qualifier) {
            (Some(q), _) => pairs.push(("qualifier", quoted(q))),
            (None, true) if !m.view => pairs.push(("qualifier", "null".into())),
            _ => {}
        }
        pairs.push(("stats", self.object(&stats)));
        self.object(&pairs)
    }

    fn point(&self, p: &Point) -> String {
        let list = |ms: &[Metric]| self.array(&ms.iter().map(|m| self.metric(m)).collect::<Vec<_>>());
        let mut pairs = vec![];
        if let Some(interval) = p.interval {
            pairs.push(("interval", quoted(interval)));
        }
        let (metrics, views) = (("metrics", list(&p.metrics)), ("views", list(&p.views)));
        if p.views_first {
            pairs.extend([views, metrics]);
        } else {
            pairs.extend([metrics, views]);
        }
        self.object(&pairs)
    }

    fn result(&self, r: &ResultM) -> String {
        let group: Vec<(&str, String)> = r
            .group
            .iter()
            .map(|(k, v)| match v {
                Json::Str(s) => (*k, quoted(s)),
                Json::Raw(s) => (*k, s.clone()),
            })
            .collect();
        let group = ("group", self.object(&group));
        let data = (
            "data",
            self.array(&r.data.iter().map(|p| self.point(p)).collect::<Vec<_>>()),
        );
        self.object(&if r.data_first { [data, group] } else { [group, data] })
    }
}

impl Dump {
    fn text(&self) -> String {
        let s = &self.style;
        let pages: Vec<String> = self
            .pages
            .iter()
            .map(|results| {
                s.object(&[(
                    "results",
                    s.array(&results.iter().map(|r| s.result(r)).collect::<Vec<_>>()),
                )])
            })
            .collect();
        if s.array {
            s.array(&pages)
        } else {
            pages.join("\n")
        }
    }

    /// Every entity: its head cells (group, interval) and its non-null values.
    fn entities(&self) -> Vec<(Head, Vec<LongValue>)> {
        let mut out = Vec::new();
        for r in self.pages.iter().flatten() {
            for p in &r.data {
                let mut head: Head = r.group.iter().map(|(k, v)| (safe(k), v.clone())).collect();
                if let Some((start, end)) = p.interval.and_then(|i| i.split_once('/')) {
                    head.push(("interval_start".into(), Json::Str(start.into())));
                    head.push(("interval_end".into(), Json::Str(end.into())));
                }
                let values = p
                    .metrics
                    .iter()
                    .chain(&p.views)
                    .flat_map(|m| {
                        m.stats.iter().filter_map(move |s| {
                            Some(LongValue {
                                metric: if m.view {
                                    format!("view:{}", m.name)
                                } else {
                                    m.name.to_owned()
                                },
                                qualifier: m.qualifier.map(str::to_owned),
                                stat: API_STATS[s.name].to_owned(),
                                value: s.value.clone()?,
                            })
                        })
                    })
                    .collect();
                out.push((head, values));
            }
        }
        out
    }
}

/// SPEC §2.2, restated.
fn safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// The head cells of a row: group columns and the interval.
type Head = Vec<(String, Json)>;

/// One value of the long layout.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LongValue {
    metric: String,
    qualifier: Option<String>,
    stat: String,
    value: String,
}

impl LongValue {
    /// The wide column this value belongs in (SPEC §2.3).
    fn column(&self) -> String {
        match (self.metric.strip_prefix("view:"), &self.qualifier) {
            (Some(view), _) => safe(&format!("view_{view}_{}", self.stat)),
            (None, Some(q)) => safe(&format!("{}_{q}_{}", self.metric, self.stat)),
            (None, None) => safe(&format!("{}_{}", self.metric, self.stat)),
        }
    }

    /// Splits a long row into its head cells and its value.
    fn from_row(row: &Row) -> (Head, LongValue) {
        let head = row
            .0
            .iter()
            .filter(|(k, _)| !LONG_TAIL.contains(&k.as_str()))
            .cloned()
            .collect();
        let value = LongValue {
            metric: row.text("metric").to_owned(),
            qualifier: row.get("qualifier").map(|_| row.text("qualifier").to_owned()),
            stat: row.text("stat").to_owned(),
            value: row.text("value").to_owned(),
        };
        assert!(
            matches!(row.get("value"), Some(Json::Raw(_))),
            "values are numbers: {row:?}"
        );
        (head, value)
    }
}

const LONG_TAIL: [&str; 4] = ["metric", "qualifier", "stat", "value"];

// ---- the properties -----------------------------------------------------------------------------

/// The value cells of a wide row: every key that is not a head cell.
fn wide_values(row: &Row, head: &[(String, Json)]) -> BTreeMap<String, String> {
    row.0
        .iter()
        .filter(|(k, _)| !head.iter().any(|(h, _)| h == k))
        .map(|(k, v)| {
            assert!(matches!(v, Json::Raw(_)), "values are numbers: {row:?}");
            (k.clone(), row.text(k).to_owned())
        })
        .collect()
}

fn by_column(values: &[LongValue]) -> BTreeMap<String, String> {
    let map: BTreeMap<String, String> = values.iter().map(|v| (v.column(), v.value.clone())).collect();
    assert_eq!(map.len(), values.len(), "one column per value");
    map
}

fn check_layouts_agree(dump: &Dump) {
    let input = dump.text();
    // An entity that gives no column a value is no row.
    let entities: Vec<_> = dump
        .entities()
        .into_iter()
        .filter(|(head, values)| !head.is_empty() || !values.is_empty())
        .collect();
    let long = ndjson_rows(&stdout_of(&["--layout", "long"], input.clone()));
    let wide = ndjson_rows(&stdout_of(&["--layout", "wide"], input.clone()));

    // Every non-null stat appears exactly once in the long output, with its labels and text.
    let mut want: Vec<String> = entities
        .iter()
        .flat_map(|(head, values)| values.iter().map(move |v| format!("{head:?} {v:?}")))
        .collect();
    let mut got: Vec<String> = long
        .iter()
        .map(|row| {
            let (head, value) = LongValue::from_row(row);
            format!("{head:?} {value:?}")
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "long rows are the input's stats\n{input}");

    // One wide row per entity, holding the same values as that entity's long rows.
    assert_eq!(wide.len(), entities.len(), "{input}");
    let mut long_rows = long.iter();
    for (row, (head, values)) in wide.iter().zip(&entities) {
        assert_eq!(row.0[..head.len()], head[..], "head cells of {row:?}");
        let cells = wide_values(row, head);
        assert_eq!(cells, by_column(values), "{input}");
        let chunk: Vec<LongValue> = long_rows
            .by_ref()
            .take(cells.len())
            .map(|r| {
                let (long_head, value) = LongValue::from_row(r);
                assert_eq!(&long_head, head);
                value
            })
            .collect();
        assert_eq!(by_column(&chunk), cells, "wide and long agree\n{input}");
    }
    assert!(long_rows.next().is_none());

    // CSV holds the NDJSON rows under the union header: missing values 0, other cells empty.
    // (Rows without a single column have no CSV form worth checking.)
    if wide.iter().all(|row| row.0.is_empty()) {
        return;
    }
    let csv = csv_rows(&stdout_of(&["--format", "csv"], input.clone()));
    let (header, rows) = csv.split_first().unwrap();
    assert_eq!(rows.len(), wide.len());
    let heads: Vec<&str> = entities
        .iter()
        .flat_map(|(h, _)| h.iter().map(|(k, _)| k.as_str()))
        .collect();
    for (cells, row) in rows.iter().zip(&wide) {
        for (cell, column) in cells.iter().zip(header) {
            let want = match row.get(column) {
                Some(v) => v.csv_text(),
                None if heads.contains(&column.as_str()) => "",
                None => "0",
            };
            assert_eq!(cell, want, "column {column} of {row:?}");
        }
    }
}

/// Damages `text`: cuts it, drops a byte, or slips in a character JSON cares about.
fn mangle(text: &str, at: usize, how: u8, what: u8) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let at = at % (bytes.len() + 1);
    let chars = b"{}[]\",:0e-\\ \nx\xff";
    match how % 3 {
        0 => bytes.truncate(at),
        1 if at < bytes.len() => {
            bytes.remove(at);
        }
        _ => bytes.insert(at, chars[what as usize % chars.len()]),
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn long_wide_and_csv_hold_every_stat_once(dump in dump()) {
        check_layouts_agree(&dump);
    }

    #[test]
    fn mangled_pages_give_rows_or_one_line_error_never_a_panic(
        dump in dump(), at in any::<usize>(), how in any::<u8>(), what in any::<u8>()
    ) {
        let input = mangle(&dump.text(), at, how, what);
        let out = flatten(&["--format", "ndjson"], input);
        if out.status.success() {
            ndjson_rows(&String::from_utf8(out.stdout).unwrap());
        } else {
            let message = message_of(&out, 1);
            prop_assert!(message.starts_with("gcagg: <stdin>:"), "{}", message);
        }
    }
}
