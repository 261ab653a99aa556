//! Bodies other than whole aggregate responses: bare `results` arrays (and their elements
//! one per line), observation bodies, notification events. Each shape in NDJSON, CSV and
//! Parquet, with every number of the input found in the output: stats in the long layout,
//! `observations[]` entries' numbers in the observations layout.

use std::path::Path;

use crate::util::{fixture, gcagg, ndjson_rows, read_csv, read_parquet, scratch, stdout_of, Json, Value};

/// What `gcagg flatten ARGS INPUT` writes in NDJSON, CSV and Parquet (read back), in both
/// layouts.
pub fn every_format(input: &Path) -> Vec<String> {
    let dir = scratch();
    let mut out = Vec::new();
    for layout in ["wide", "long"] {
        for format in ["ndjson", "csv"] {
            let args = ["--layout", layout, "--format", format];
            out.push(stdout_of(&[args.as_slice(), &[input.to_str().unwrap()]].concat(), ""));
        }
        let path = dir.path().join(format!("{layout}.parquet"));
        gcagg()
            .args(["flatten", "--layout", layout, "-o"])
            .arg(&path)
            .arg(input)
            .assert()
            .success();
        let table = read_parquet(&path);
        out.push(format!("{:?}\n{:?}", table.names(), table.rows));
    }
    out
}

/// Writes `text` to a file of its own.
pub fn written(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Every number of the input, as f64, sorted, in two heaps: those under a `stats` key, and
/// those in `observations[]` entries. A number anywhere else fails the check, so none goes
/// uncounted.
fn numbers_of(input: &Path) -> (Vec<f64>, Vec<f64>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Under {
        Nothing,
        Stats,
        Entries,
    }
    fn walk(value: &serde_json::Value, under: Under, out: &mut (Vec<f64>, Vec<f64>)) {
        match value {
            serde_json::Value::Number(n) => match under {
                Under::Stats => out.0.push(n.as_f64().unwrap()),
                Under::Entries => out.1.push(n.as_f64().unwrap()),
                Under::Nothing => panic!("a number outside `stats` and `observations`: {n}"),
            },
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, under, out)),
            serde_json::Value::Object(fields) => {
                for (key, v) in fields {
                    let under = match key.as_str() {
                        _ if under != Under::Nothing => under,
                        "stats" => Under::Stats,
                        "observations" => Under::Entries,
                        _ => Under::Nothing,
                    };
                    walk(v, under, out);
                }
            }
            _ => {}
        }
    }
    let text = std::fs::read_to_string(input).unwrap();
    let mut out = (Vec::new(), Vec::new());
    for doc in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
        walk(&doc.unwrap(), Under::Nothing, &mut out);
    }
    out.0.sort_by(f64::total_cmp);
    out.1.sort_by(f64::total_cmp);
    out
}

/// The numbers of one output cell, as text: a number, or the numbers inside JSON text (an
/// entry's array or object field); none for any other text.
fn numbers_in_text(text: &str, out: &mut Vec<f64>) {
    fn walk(value: &serde_json::Value, out: &mut Vec<f64>) {
        match value {
            serde_json::Value::Number(n) => out.push(n.as_f64().unwrap()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(fields) => fields.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    if text.starts_with(['[', '{']) || text.parse::<f64>().is_ok() {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            walk(&value, out);
        }
    }
}

/// The numbers `gcagg flatten --layout LAYOUT` writes for `input`, sorted, in NDJSON, CSV
/// and Parquet (read back): of the `value` column alone when `column` names it, of every
/// column otherwise.
fn numbers_written(input: &Path, layout: &str, column: Option<&str>) -> [Vec<f64>; 3] {
    // The time only spares the warning of observation rows without one: it is no number.
    let at = ["--observed-at", "2024-05-01T10:15:02Z"];
    let args = |format: &'static str| {
        let mut args = vec!["--layout", layout, "--format", format];
        args.extend(at);
        args.push(input.to_str().unwrap());
        args
    };
    // What the run says on stderr (skipped control messages) is checked elsewhere.
    let stdout = |format| {
        let out = crate::util::flatten(&args(format), "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let wanted = |name: &str| column.is_none_or(|c| c == name);
    let mut ndjson = Vec::new();
    for row in ndjson_rows(&stdout("ndjson")) {
        for (key, value) in &row.0 {
            if wanted(key) {
                if let Json::Raw(text) = value {
                    numbers_in_text(text, &mut ndjson);
                }
            }
        }
    }
    let mut csv = Vec::new();
    let (header, rows) = read_csv(stdout("csv").as_bytes());
    for row in rows {
        for (name, cell) in header.iter().zip(&row) {
            if wanted(name) {
                numbers_in_text(cell, &mut csv);
            }
        }
    }
    let dir = scratch();
    let path = dir.path().join("out.parquet");
    gcagg()
        .args(["flatten", "--layout", layout])
        .args(at)
        .arg("-o")
        .arg(&path)
        .arg(input)
        .assert()
        .success();
    let table = read_parquet(&path);
    let mut parquet = Vec::new();
    for row in &table.rows {
        for (name, cell) in table.names().iter().zip(row) {
            match cell {
                _ if !wanted(name) => {}
                Value::Int(n) => parquet.push(*n as f64),
                Value::Float(x) => parquet.push(*x),
                Value::Text(text) => numbers_in_text(text, &mut parquet),
                Value::Time(_) | Value::Null => {}
            }
        }
    }
    let mut all = [ndjson, csv, parquet];
    all.iter_mut().for_each(|v| v.sort_by(f64::total_cmp));
    all
}

/// Asserts that every number of `input` is written, in NDJSON, CSV and Parquet: every stat
/// as a `value` of the long output (and nothing else is one), and every number of an
/// `observations[]` entry in the observations layout.
pub fn assert_every_number_kept(input: &Path) {
    let (stats, entries) = numbers_of(input);
    assert!(!stats.is_empty(), "{}", input.display());
    let formats = ["ndjson", "csv", "parquet"];
    for (format, got) in formats.iter().zip(numbers_written(input, "long", Some("value"))) {
        assert_eq!(got, stats, "{} in {format}", input.display());
    }
    if !entries.is_empty() {
        for (format, got) in formats.iter().zip(numbers_written(input, "observations", None)) {
            assert_eq!(got, entries, "{} in {format}, observations layout", input.display());
        }
    }
}

/// The done-when check of every body shape beyond aggregate responses.
#[test]
fn every_number_of_every_shape_is_written_in_ndjson_csv_and_parquet() {
    for name in [
        "observations/queues_pretty.json",
        "observations/queues_truncated.json",
        "observations/queues_sdk_to_json.json",
        "observations/users.ndjson",
        "observations/results_array.json",
        "notifications/websocket.ndjson",
        "notifications/websocket_pretty.json",
        "notifications/eventbridge.ndjson",
        "notifications/eventbridge_firehose.json",
        "notifications/group_without_topic_id.ndjson",
    ] {
        assert_every_number_kept(&fixture(name));
    }
}

#[test]
fn a_bare_results_array_reads_as_the_page_that_held_it() {
    let bare = fixture("observations/results_array.json");
    let dir = scratch();
    let text = std::fs::read_to_string(&bare).unwrap();
    let page = written(&dir, "page.json", &format!("{{\"results\":{text}}}"));
    assert_eq!(every_format(&bare), every_format(&page));
    let rows = ndjson_rows(&stdout_of(&[&bare], ""));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].text("queueId"), "0c53c771-917f-5a53-863b-000e601a9a40");
    // `jq -c '.results[]'` writes the elements one per line: the same rows.
    let values: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&text).unwrap();
    let lines: Vec<String> = values.iter().map(|v| v.get().replace('\n', "")).collect();
    let per_line = written(&dir, "results.ndjson", &(lines.join("\n") + "\n"));
    assert_eq!(every_format(&per_line), every_format(&page));
}

golden!(
    a_result_may_stand_alone_data_before_group_and_without_data,
    [],
    concat!(
        r#"{"data":[{"interval":"s/e","metrics":[{"metric":"n","stats":{"count":1}}]}],"group":{"q":"a"}}"#,
        "\n",
        r#"{"group":{"q":"b"}} {"group":null,"data":null} [{"group":{"q":"c"},"data":[{"interval":"s/e","metrics":[{"metric":"n","stats":{"count":2}}]}]}, {"results":[]}]"#
    ),
    "{\"q\":\"a\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"n_count\":1}\n{\"q\":\"c\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"n_count\":2}\n"
);

fails!(
    a_page_is_a_response_or_a_result_not_both,
    ["-"],
    r#"{"data":[],"results":[]}"#,
    1,
    "gcagg: <stdin>:1:22: page 1: a page cannot hold both `results` and `data`"
);

/// A result standing alone over 16 MiB (parsed as a stream) reads as a small one does.
#[test]
fn a_result_alone_reads_the_same_at_any_size() {
    let data = r#""data":[{"interval":"s/e","metrics":[{"metric":"n","stats":{"count":1}}]}]"#;
    let small = format!("{{{data},\"group\":{{\"q\":\"a\"}}}}");
    let large = format!(
        "{{{data},\"pad\":\"{}\",\"group\":{{\"q\":\"a\"}}}}",
        "x".repeat(17 << 20)
    );
    for input in [small, large] {
        let out = stdout_of(&["--format", "ndjson"], input);
        assert_eq!(
            out,
            "{\"q\":\"a\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"n_count\":1}\n"
        );
    }
}
