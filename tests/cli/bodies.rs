//! Bodies other than whole aggregate responses: bare `results` arrays (and their elements
//! one per line). Each shape in NDJSON, CSV and Parquet, with every stat of the input found
//! in the long output.

use std::path::Path;

use crate::util::{fixture, gcagg, ndjson_rows, read_parquet, scratch, stdout_of};

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

/// Every number under a `stats` key of the input, as f64, sorted.
fn stat_numbers(input: &Path) -> Vec<f64> {
    fn walk(value: &serde_json::Value, in_stats: bool, out: &mut Vec<f64>) {
        match value {
            serde_json::Value::Number(n) if in_stats => out.push(n.as_f64().unwrap()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, in_stats, out)),
            serde_json::Value::Object(fields) => {
                for (key, v) in fields {
                    walk(v, in_stats || key == "stats", out);
                }
            }
            _ => {}
        }
    }
    let text = std::fs::read_to_string(input).unwrap();
    let mut out = Vec::new();
    for doc in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
        walk(&doc.unwrap(), false, &mut out);
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Asserts that every stat of `input` is a `value` of its long NDJSON output, and nothing
/// else is (what the run says on stderr aside).
pub fn assert_every_stat_kept(input: &Path) {
    let out = crate::util::flatten(&["--layout", "long", input.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let long = String::from_utf8(out.stdout).unwrap();
    let mut values: Vec<f64> = ndjson_rows(&long)
        .iter()
        .map(|r| r.text("value").parse().unwrap())
        .collect();
    values.sort_by(f64::total_cmp);
    let want = stat_numbers(input);
    assert!(!want.is_empty(), "{}", input.display());
    assert_eq!(values, want, "{}", input.display());
}

#[test]
fn a_bare_results_array_reads_as_the_page_that_held_it() {
    let bare = fixture("observations/results_array.json");
    let dir = scratch();
    let text = std::fs::read_to_string(&bare).unwrap();
    let page = written(&dir, "page.json", &format!("{{\"results\":{text}}}"));
    assert_eq!(every_format(&bare), every_format(&page));
    assert_every_stat_kept(&bare);
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
