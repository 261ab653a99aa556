//! Parquet output, read back with the parquet crate and compared by value with CSV output.

use std::path::Path;

use arrow_schema::{DataType, TimeUnit};
use tempfile::TempDir;

use crate::util::{fixture, gcagg, read_csv, read_parquet, Table, Value};

/// Every conformance case that succeeds: its flatten arguments (less `--format`) and inputs.
const CASES: &[(&str, &[&str], &[&str])] = &[
    ("tutorial", &[], &["tutorial_results.json"]),
    ("tutorial_long", &["--layout", "long"], &["tutorial_results.json"]),
    ("varying_groups", &[], &["varying_groups.json"]),
    ("varying_groups_keep_nulls", &["--keep-nulls"], &["varying_groups.json"]),
    ("varying_groups_long", &["--layout", "long"], &["varying_groups.json"]),
    ("service_level", &[], &["service_level.json"]),
    (
        "service_level_stats",
        &["--stats", "count,sum,ratio"],
        &["service_level.json"],
    ),
    ("async_pages", &[], &["async_pages.ndjson"]),
    ("async_pages_gz", &[], &["async_pages.ndjson.gz"]),
    ("async_pages_long", &["--layout", "long"], &["async_pages.ndjson"]),
    ("seed_wide", &[], &["seed_tutorial.json"]),
    ("seed_keep_nulls", &["--keep-nulls"], &["seed_tutorial.json"]),
    ("seed_long", &["--layout", "long"], &["seed_tutorial.json"]),
    ("empty", &[], &["empty_pages.json"]),
    ("qualifier_views", &[], &["qualifier_views.json"]),
    ("qualifier_views_long", &["--layout", "long"], &["qualifier_views.json"]),
    ("array_of_pages", &[], &["array_of_pages.json"]),
    ("bom_unicode_offsets", &[], &["bom_unicode_offsets.json"]),
    ("sdk_dump_wide", &[], &["sdk_to_json.json"]),
    ("sdk_dump_long", &["--layout", "long"], &["sdk_to_json.json"]),
    ("sdk_raw_wide", &[], &["sdk_source_raw.json"]),
    (
        "several_files",
        &[],
        &["tutorial_results.json", "varying_groups.json", "service_level.json"],
    ),
    (
        "add_column",
        &["--add-column", "org=acme", "--add-column", "granularity=PT30M"],
        &["async_pages.ndjson"],
    ),
];

fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The type SPEC §3 gives a column, judged from its name and place in the CSV header: value
/// columns follow `interval_end` / `aggregate_id`; the count stats are INT64.
fn expected_types(header: &[String], long: bool) -> Vec<DataType> {
    let values_from = header
        .iter()
        .rposition(|n| n == "interval_end" || n == "aggregate_id")
        .map_or(usize::MAX, |at| at + 1);
    header
        .iter()
        .enumerate()
        .map(|(at, name)| match name.as_str() {
            "interval_start" | "interval_end" => timestamp(),
            "value" if long => DataType::Float64,
            _ if long || at < values_from => dictionary(),
            n if ["_count", "_countNegative", "_countPositive"]
                .iter()
                .any(|s| n.ends_with(s)) =>
            {
                DataType::Int64
            }
            _ => DataType::Float64,
        })
        .collect()
}

/// Whether a Parquet cell holds what the CSV cell says.
fn same(parquet: &Value, csv: &str) -> bool {
    match parquet {
        Value::Null => csv.is_empty(),
        Value::Text(s) => s == csv,
        Value::Int(i) => csv
            .parse::<i64>()
            .map_or_else(|_| csv.parse::<f64>() == Ok(*i as f64), |c| c == *i),
        Value::Float(f) => csv.parse::<f64>() == Ok(*f),
        Value::Time(ms) => csv.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).ok() == Some(*ms),
    }
}

/// Asserts that a Parquet table holds the CSV output's columns, types and values.
pub fn assert_same_table(name: &str, table: &Table, csv: &[u8], long: bool) {
    let (header, rows) = read_csv(csv);
    assert_eq!(table.names(), header, "{name}: columns");
    let types: Vec<DataType> = table.schema.fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(types, expected_types(&header, long), "{name}: types");
    assert_eq!(table.rows.len(), rows.len(), "{name}: row count");
    for (r, (got, want)) in table.rows.iter().zip(&rows).enumerate() {
        for (c, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                same(g, w),
                "{name}: row {r} column {}: parquet {g:?}, csv {w:?}",
                header[c]
            );
        }
    }
}

fn flatten(args: &[&str], inputs: &[&str], extra: &[&str]) -> Vec<u8> {
    let out = gcagg()
        .arg("flatten")
        .args(args)
        .args(extra)
        .args(inputs.iter().map(|i| fixture(i)))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn parquet_holds_the_csv_values_and_spec_types_for_every_conformance_case() {
    let dir = TempDir::new().unwrap();
    for &(name, args, inputs) in CASES {
        let csv = flatten(args, inputs, &["--format", "csv"]);
        let path = dir.path().join(format!("{name}.parquet"));
        flatten(args, inputs, &["-o", path.to_str().unwrap()]);
        let table = read_parquet(&path);
        assert_same_table(name, &table, &csv, args.contains(&"long"));
    }
}

#[test]
fn parquet_to_stdout_is_a_complete_file() {
    let dir = TempDir::new().unwrap();
    let bytes = flatten(&["--format", "parquet"], &["async_pages.ndjson"], &[]);
    let path = dir.path().join("stdout.parquet");
    std::fs::write(&path, bytes).unwrap();
    let csv = flatten(&["--format", "csv"], &["async_pages.ndjson"], &[]);
    assert_same_table("stdout", &read_parquet(&path), &csv, false);
}

#[test]
fn parquet_from_stdin_is_spooled_for_the_scan_pass() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("stdin.parquet");
    gcagg()
        .args(["flatten", "-o", path.to_str().unwrap()])
        .pipe_stdin(fixture("varying_groups.json"))
        .unwrap()
        .assert()
        .success();
    let csv = flatten(&["--format", "csv"], &["varying_groups.json"], &[]);
    assert_same_table("stdin", &read_parquet(&path), &csv, false);
}

#[test]
fn every_compression_codec_is_readable() {
    let dir = TempDir::new().unwrap();
    let csv = flatten(&["--format", "csv"], &["service_level.json"], &[]);
    for (codec, written) in [
        ("zstd", "ZSTD"),
        ("snappy", "SNAPPY"),
        ("gzip", "GZIP"),
        ("lz4", "LZ4_RAW"),
        ("none", "UNCOMPRESSED"),
    ] {
        let path = dir.path().join(format!("{codec}.parquet"));
        flatten(
            &["--compression", codec, "-o", path.to_str().unwrap()],
            &["service_level.json"],
            &[],
        );
        let table = read_parquet(&path);
        assert_same_table(codec, &table, &csv, false);
        let used = table.metadata.row_group(0).column(0).compression().to_string();
        assert!(used.starts_with(written), "{codec}: {used}");
    }
}

/// A page with `n` entities, one per queue.
fn page(n: usize, count: &str) -> String {
    let results: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"group":{{"queueId":"q{i}"}},"data":[{{"interval":"2024-05-01T00:00:00.000Z/2024-05-01T00:30:00.000Z","metrics":[{{"metric":"nOffered","stats":{{"count":{count}}}}}]}}]}}"#
            )
        })
        .collect();
    format!("{{\"results\":[{}]}}\n", results.join(","))
}

#[test]
fn row_group_size_caps_rows_per_row_group() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("pages.json");
    std::fs::write(&input, page(25, "1")).unwrap();
    let out = dir.path().join("out.parquet");
    gcagg()
        .args(["flatten", "--row-group-size", "10", "-o"])
        .args([&out, &input])
        .assert()
        .success();
    let table = read_parquet(&out);
    let sizes: Vec<i64> = table.metadata.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(sizes, [10, 10, 5]);
}

#[test]
fn whole_number_counts_become_int64() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("sdk.json");
    std::fs::write(&input, page(1, "36.0")).unwrap();
    let out = dir.path().join("out.parquet");
    gcagg().args(["flatten", "-o"]).args([&out, &input]).assert().success();
    assert_eq!(read_parquet(&out).column("nOffered_count"), [Value::Int(36)]);
}

/// Runs a flatten that must fail; returns its message.
fn failure(args: &[&str], input: &Path, out: &Path, code: i32) -> String {
    let result = gcagg()
        .arg("flatten")
        .args(args)
        .arg("-o")
        .args([out, input])
        .output()
        .unwrap();
    assert_eq!(
        result.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    String::from_utf8(result.stderr).unwrap()
}

#[test]
fn a_fractional_or_huge_count_is_an_error_naming_page_entity_and_field() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.parquet");
    for (count, why) in [
        ("1.5", "`1.5` is not a whole number, and count columns are INT64"),
        ("1e19", "`1e19` is out of the range of INT64"),
    ] {
        let input = dir.path().join("bad.json");
        std::fs::write(&input, format!("{}{}", page(1, "2"), page(2, count))).unwrap();
        let msg = failure(&[], &input, &out, 1);
        assert!(msg.starts_with(&format!("gcagg: {}:2:", input.display())), "{msg}");
        assert!(msg.contains(": page 2: entity queueId=q0, interval_start=2024-05-01T00:00:00.000Z: field `nOffered_count` (metric `nOffered` stat `count`): "), "{msg}");
        assert!(msg.trim_end().ends_with(why), "{msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }
}

#[test]
fn a_long_value_out_of_double_range_names_its_metric_and_stat() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.parquet");
    let input = dir.path().join("bad.json");
    std::fs::write(&input, format!("{}{}", page(1, "2"), page(2, "1e999"))).unwrap();
    let msg = failure(&["--layout", "long"], &input, &out, 1);
    assert!(msg.starts_with(&format!("gcagg: {}:2:", input.display())), "{msg}");
    assert!(
        msg.contains(": page 2: entity queueId=q0, interval_start=2024-05-01T00:00:00.000Z, metric=nOffered, stat=count: field `value` (the long layout's `value` column): `1e999` is out of the range of DOUBLE"),
        "{msg}"
    );
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(!out.exists());
}

#[test]
fn a_failed_run_leaves_nothing_at_the_target() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("half.json");
    // The first page is fine; the second is cut off halfway.
    let second = page(3, "4");
    std::fs::write(&input, format!("{}{}", page(2, "1"), &second[..second.len() / 2])).unwrap();
    let out = dir.path().join("out.parquet");
    let msg = failure(&[], &input, &out, 1);
    assert!(msg.contains("page 2: truncated input"), "{msg}");
    assert_eq!(
        crate::util::tree(dir.path()),
        ["half.json"],
        "no target, no temporary left"
    );
    // A previous file at the target stays as it was.
    std::fs::write(&out, "previous").unwrap();
    failure(&[], &input, &out, 1);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
    assert_eq!(crate::util::tree(dir.path()), ["half.json", "out.parquet"]);
}

#[test]
fn interval_offsets_are_converted_to_utc() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.parquet");
    flatten(&["-o", out.to_str().unwrap()], &["bom_unicode_offsets.json"], &[]);
    let table = read_parquet(&out);
    // 00:00+01:00 and 01:00+02:00 are both 2024-03-30T23:00:00Z (the DST change in Europe).
    assert_eq!(table.column("interval_start"), [Value::Time(1_711_839_600_000)]);
    assert_eq!(table.column("interval_end"), [Value::Time(1_711_839_600_000)]);
}

#[test]
fn an_interval_that_is_not_a_timestamp_is_an_error() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("odd.json");
    std::fs::write(
        &input,
        r#"{"results":[{"group":{"q":"a"},"data":[{"interval":"yesterday/today","metrics":[]}]}]}"#,
    )
    .unwrap();
    let msg = failure(&[], &input, &dir.path().join("o.parquet"), 1);
    assert!(
        msg.contains("page 1: entity q=a, interval_start=yesterday: field `interval_start` (the start of `interval`): `yesterday` is not an RFC 3339 timestamp"),
        "{msg}"
    );
}

#[test]
fn parquet_options_are_checked_before_reading() {
    let dir = TempDir::new().unwrap();
    let input = fixture("async_pages.ndjson");
    for (args, says) in [
        (
            &["--format", "csv", "--compression", "zstd"][..],
            "--compression applies to Parquet",
        ),
        (
            &["--format", "ndjson", "--row-group-size", "5"],
            "--row-group-size applies to Parquet",
        ),
        (
            &["--format", "parquet", "--row-group-size", "0"],
            "--row-group-size: must be at least 1",
        ),
        (&["--compression", "brotli"], "invalid value 'brotli'"),
    ] {
        let msg = failure(args, &input, &dir.path().join("o.parquet"), 2);
        assert!(msg.contains(says), "{msg}");
    }
    let msg = failure(&[], &input, &dir.path().join("o.parquet.gz"), 2);
    assert!(msg.contains("use --compression, not .gz"), "{msg}");
}

#[test]
fn a_bad_interval_is_the_same_error_in_every_layout_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("d1.json");
    std::fs::write(
        &input,
        r#"{"results":[{"group":{},"data":[{"interval":"x/y","metrics":[{"metric":"m","stats":{"count":1}}]}]}]}"#,
    )
    .unwrap();
    let expected = "gcagg: d1.json:1:97: page 1: entity interval_start=x: field `interval_start` (the start of `interval`): `x` is not an RFC 3339 timestamp with a Z or ±hh:mm offset\n";
    let runs: [&[&str]; 4] = [
        &["-o", "wide.parquet"],
        &["--layout", "long", "-o", "long.parquet"],
        &[
            "--layout",
            "long",
            "--format",
            "parquet",
            "--partition-by",
            "interval_date",
            "-o",
            "lake",
        ],
        &[
            "--layout",
            "long",
            "--format",
            "parquet",
            "--partition-by",
            "m",
            "-o",
            "lake",
        ],
    ];
    for args in runs {
        for threads in ["1", "4"] {
            let out = gcagg()
                .current_dir(dir.path())
                .env("GCAGG_THREADS", threads)
                .arg("flatten")
                .args(args)
                .arg("d1.json")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                expected,
                "{args:?} on {threads} threads"
            );
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["d1.json"], "no output and no temporary is left");
}

/// An entity with nothing in it (`{"entities":[{}]}`) holds no value for any column: no
/// format writes a row for it, and a full entity beside it is the only row in each.
#[test]
fn an_empty_entity_is_no_row_in_every_format() {
    let dir = TempDir::new().unwrap();
    for (input, want) in [
        (r#"{"entities":[{}]}"#, 0),
        (r#"{"entities":[{},{"metrics":{"a":1}},{}]}"#, 1),
        (r#"{"results":[{"data":[{}]}]}"#, 0),
    ] {
        let path = dir.path().join("in.json");
        std::fs::write(&path, input).unwrap();
        let run = |args: &[&str]| {
            let out = gcagg().arg("flatten").args(args).arg(&path).output().unwrap();
            assert!(
                out.status.success(),
                "{input}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let ndjson = run(&[]);
        assert_eq!(ndjson.lines().count(), want, "NDJSON of {input}: {ndjson:?}");
        let (_, csv) = read_csv(run(&["--format", "csv"]).as_bytes());
        assert_eq!(csv.len(), want, "CSV of {input}: {csv:?}");
        let parquet = dir.path().join("out.parquet");
        run(&["-o", parquet.to_str().unwrap()]);
        assert_eq!(read_parquet(&parquet).rows.len(), want, "Parquet of {input}");
    }
}
