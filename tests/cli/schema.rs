//! `gcagg schema`: columns and Parquet types, no rows.

use crate::util::{fixture, gcagg};

#[test]
fn prints_each_column_with_its_parquet_type() {
    gcagg()
        .args(["schema", "--add-column", "org=acme"])
        .arg(fixture("bom_unicode_offsets.json"))
        .assert()
        .success()
        .stdout(
            "\
org             STRING (dictionary)
queue_id        STRING (dictionary)
wrap_up_code    STRING (dictionary)
interval_start  TIMESTAMP(MILLIS, UTC)
interval_end    TIMESTAMP(MILLIS, UTC)
nOffered_count  INT64
tHandle_sum     DOUBLE
tHandle_count   INT64
tHandle_min     DOUBLE
tHandle_max     DOUBLE
",
        );
}

#[test]
fn follows_the_row_options_and_reads_stdin() {
    gcagg()
        .args(["schema", "--layout", "long", "--stats", "count"])
        .pipe_stdin(fixture("seed_tutorial.json"))
        .unwrap()
        .assert()
        .success()
        .stdout(
            "\
queue_id           STRING (dictionary)
conversation_type  STRING (dictionary)
aggregate_id       STRING (dictionary)
metric             STRING (dictionary)
qualifier          STRING (dictionary)
stat               STRING (dictionary)
value              DOUBLE
",
        );
}

#[test]
fn bad_input_is_reported_as_flatten_reports_it() {
    gcagg()
        .args(["schema"])
        .arg(fixture("truncated.json"))
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("page 2: truncated input"));
    gcagg()
        .args(["schema", "--add-column", "novalue"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--add-column novalue: expected NAME=VALUE"));
}

#[test]
fn a_column_name_longer_than_any_format_width_is_printed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let key = "k".repeat(70_000);
    let page = format!(
        r#"{{"results":[{{"group":{{"{key}":"v"}},"data":[{{"interval":"2024-05-01T00:00:00.000Z/2024-05-01T01:00:00.000Z","metrics":[{{"metric":"nOffered","stats":{{"count":1}}}}]}}]}}]}}"#
    );
    let path = dir.path().join("long.json");
    std::fs::write(&path, page).unwrap();
    let out = gcagg().arg("schema").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first = stdout.lines().next().unwrap();
    assert_eq!(first, format!("{key}  STRING (dictionary)"));
    assert!(stdout.contains(&format!("interval_start{}  TIMESTAMP", " ".repeat(70_000 - 14))));
}
