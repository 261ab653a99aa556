//! `--kpis`: the derived columns against values computed by hand, in every format.
//!
//! `fixtures/kpis.json` holds four entities: one with every input (and a zero hold count),
//! one whose denominators are all zero, one with inputs that do not count (a null count, a
//! qualified metric, a view), and one whose quotients do not end.

use arrow_schema::DataType;

use crate::util::{fixture, gcagg, ndjson_rows, read_csv, read_parquet, scratch, stdout_of, Json, Value};

/// The KPI columns, in their fixed order.
const KPIS: [&str; 8] = [
    "aht_s",
    "asa_s",
    "answer_rate",
    "abandon_rate",
    "service_level",
    "avg_talk_s",
    "avg_hold_s",
    "avg_acw_s",
];

/// Per entity of the fixture, each KPI: `Some(None)` null (a zero denominator), `None`
/// absent (an input missing), else the value, computed by hand.
#[allow(clippy::type_complexity)]
const EXPECTED: [[Option<Option<f64>>; 8]; 4] = [
    // 150000/3/1000, 60000/6/1000, 6/8, 2/8, 3/4, 90000/3/1000, 0/0, 45000/4/1000.
    [
        Some(Some(50.0)),
        Some(Some(10.0)),
        Some(Some(0.75)),
        Some(Some(0.25)),
        Some(Some(0.75)),
        Some(Some(30.0)),
        Some(None),
        Some(Some(11.25)),
    ],
    // No tHandle, talk, hold or ACW; tAnswered 0/0, 0/0 offered, service level 0/0.
    [None, Some(None), Some(None), Some(None), Some(None), None, None, None],
    // tHandle's count is null, tAcw has a qualifier, the tHandle view is not the metric.
    [None; 8],
    // 1000/3/1000, 7000/9/1000, 9/9.
    [
        Some(Some(1.0 / 3.0)),
        Some(Some(7.0 / 9.0)),
        Some(Some(1.0)),
        None,
        None,
        None,
        None,
        None,
    ],
];

/// The spelling of each expected value in NDJSON and CSV (`null` / empty for null).
const SPELLED: [[&str; 8]; 4] = [
    ["50", "10", "0.75", "0.25", "0.75", "30", "null", "11.25"],
    ["", "null", "null", "null", "null", "", "", ""],
    [""; 8],
    ["0.3333333333333333", "0.7777777777777778", "1", "", "", "", "", ""],
];

/// `gcagg flatten ARGS fixtures/kpis.json`'s stdout, from a run that must succeed quietly.
fn flatten_fixture(args: &[&str]) -> String {
    let path = fixture("kpis.json");
    let mut args = args.to_vec();
    args.push(path.to_str().expect("a UTF-8 path"));
    stdout_of(&args, "")
}

#[test]
fn ndjson_rows_carry_each_kpi_whose_inputs_they_have_after_the_values() {
    let rows = ndjson_rows(&flatten_fixture(&["--kpis"]));
    assert_eq!(rows.len(), 4);
    for (row, spelled) in rows.iter().zip(SPELLED) {
        let present: Vec<(&str, &str)> = KPIS.into_iter().zip(spelled).filter(|(_, s)| !s.is_empty()).collect();
        let tail: Vec<(&str, &str)> = row.0[row.0.len() - present.len()..]
            .iter()
            .map(|(k, v)| match v {
                Json::Raw(text) => (k.as_str(), text.as_str()),
                Json::Str(text) => panic!("{k} is the string {text:?}"),
            })
            .collect();
        assert_eq!(tail, present, "KPIs come last, in order: {row:?}");
        for kpi in KPIS.iter().filter(|k| !present.iter().any(|(p, _)| p == *k)) {
            assert!(row.get(kpi).is_none(), "{kpi} without its inputs: {row:?}");
        }
    }
}

#[test]
fn csv_has_the_kpis_last_and_leaves_null_and_absent_ones_empty() {
    for keep_nulls in [false, true] {
        let mut args = vec!["--kpis", "-f", "csv"];
        if keep_nulls {
            args.push("--keep-nulls");
        }
        let (header, rows) = read_csv(flatten_fixture(&args).as_bytes());
        assert_eq!(&header[header.len() - 8..], KPIS, "{header:?}");
        assert!(header[..header.len() - 8].iter().all(|c| !KPIS.contains(&c.as_str())));
        for (row, spelled) in rows.iter().zip(SPELLED) {
            let want: Vec<&str> = spelled.iter().map(|s| if *s == "null" { "" } else { s }).collect();
            assert_eq!(&row[row.len() - 8..], want, "--keep-nulls {keep_nulls}");
        }
    }
}

#[test]
fn parquet_types_the_kpis_double_with_nulls_for_zero_denominators() {
    let dir = scratch();
    let out = dir.path().join("kpis.parquet");
    gcagg()
        .args(["flatten", "--kpis", "-o"])
        .arg(&out)
        .arg(fixture("kpis.json"))
        .assert()
        .success();
    let table = read_parquet(&out);
    let names = table.names();
    assert_eq!(&names[names.len() - 8..], KPIS);
    for (at, kpi) in KPIS.iter().enumerate() {
        let field = table.schema.field_with_name(kpi).unwrap();
        assert_eq!(field.data_type(), &DataType::Float64, "{kpi}");
        let want: Vec<Value> = EXPECTED
            .iter()
            .map(|entity| match entity[at] {
                Some(Some(v)) => Value::Float(v),
                _ => Value::Null,
            })
            .collect();
        assert_eq!(table.column(kpi), want, "{kpi}");
    }
    // A missing value column is still 0, as without --kpis.
    assert_eq!(table.column("tHeldComplete_sum")[1], Value::Float(0.0));
}

#[test]
fn kpis_read_the_inputs_that_stats_leaves_out() {
    let path = fixture("kpis.json");
    let rows = ndjson_rows(&stdout_of(
        &[
            "--kpis".as_ref(),
            "--stats".as_ref(),
            "count".as_ref(),
            path.as_os_str(),
        ],
        "",
    ));
    assert!(rows[0].get("tHandle_sum").is_none());
    assert_eq!(rows[0].text("aht_s"), "50");
    assert_eq!(rows[0].text("service_level"), "0.75");
}

#[test]
fn schema_lists_the_kpis_as_double() {
    let out = gcagg()
        .args(["schema", "--kpis"])
        .arg(fixture("kpis.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    for (line, kpi) in tail.iter().rev().zip(KPIS) {
        assert!(line.starts_with(kpi) && line.ends_with("  DOUBLE"), "{line}");
    }
}

#[test]
fn without_the_flag_there_are_no_kpis() {
    let rows = ndjson_rows(&flatten_fixture(&[]));
    assert!(rows.iter().all(|r| KPIS.iter().all(|k| r.get(k).is_none())));
}

fails!(
    kpis_need_the_wide_layout,
    ["--kpis", "--layout", "long"],
    "{}",
    2,
    "--kpis: KPIs are columns of a wide row; use --layout wide"
);

fails!(
    a_group_key_named_like_a_kpi_is_a_collision,
    ["--kpis"],
    r#"{"results":[{"group":{"aht_s":"x"},"data":[{"metrics":[{"metric":"tHandle","stats":{"sum":1,"count":1}}]}]}]}"#,
    1,
    "column `aht_s` would hold both group key `aht_s` and the KPI `aht_s` (tHandle_sum / tHandle_count / 1000)"
);

#[test]
fn a_kpi_is_no_partition_key() {
    let dir = scratch();
    let out = dir.path().join("lake");
    let path = fixture("kpis.json");
    let args = [
        "--kpis",
        "-f",
        "csv",
        "--partition-by",
        "aht_s",
        "-o",
        out.to_str().unwrap(),
        path.to_str().unwrap(),
    ];
    let message = crate::util::failure(&args, "", 2);
    assert!(
        message.contains("--partition-by aht_s: a value column cannot be a partition key"),
        "{message}"
    );
}
