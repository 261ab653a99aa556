//! `--names`: name columns beside the id columns, from the tables `gcagg names` writes.
//!
//! `fixtures/names.ndjson` is `gcagg names` against the fake API; the CSV, Parquet and
//! folder forms are written here by `gcagg names` too. `fixtures/names_aggregates.json`
//! carries ids of every type, a deleted user, a queue id the tables lack, a system wrap-up
//! code, and presence definitions as qualifiers (one of them unknown).

use std::path::{Path, PathBuf};

use arrow_schema::DataType;
use tempfile::TempDir;

use crate::server::{Script, Server, CLIENT_ID, SECRET};
use crate::util::{fixture, gcagg, message_of, ndjson_rows, read_csv, read_parquet, Json, Row, Table, Value};

/// The first entity's id and name columns, in order, as the tables name them.
const FIRST: [(&str, &str); 6] = [
    ("queueId", "00000001-5b1e-4c2a-9d3f-000000000001"),
    ("queueName", "Queue 01"),
    ("userId", "00000002-5b1e-4c2a-9d3f-0000000000e6"),
    ("userName", "Agent 230"),
    ("wrapUpCode", "00000003-5b1e-4c2a-9d3f-000000000001"),
    ("wrapUpCodeName", "Resolved"),
];

/// The one warning of a wide run: the queue id the tables lack.
const WIDE_WARNING: &str = "no name for 1 id (queueId 1): left empty";

/// `gcagg flatten --names NAMES ARGS fixtures/names_aggregates.json`: stdout and stderr.
fn flatten_named(names: &Path, args: &[&str]) -> (String, String) {
    let out = gcagg()
        .arg("flatten")
        .arg("--names")
        .arg(names)
        .args(args)
        .arg(fixture("names_aggregates.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// The names tables in every form `gcagg names` writes, from the fake API, under `dir`.
fn tables(dir: &TempDir) -> Vec<PathBuf> {
    let server = Server::start(Script::default());
    let mut paths = vec![fixture("names.ndjson")];
    for target in ["names.csv", "names.csv.gz", "names.json", "names.parquet", "tables/"] {
        let mut cmd = server.command("names");
        cmd.current_dir(dir.path())
            .env("GENESYS_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLIENT_SECRET", SECRET)
            .args(["-o", target]);
        if target.ends_with('/') {
            cmd.args(["--format", "parquet"]);
        }
        cmd.assert().success();
        paths.push(dir.path().join(target));
    }
    paths
}

/// [`flatten_named`] to a Parquet file, read back.
fn parquet_named(names: &Path, args: &[&str]) -> Table {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("named.parquet");
    let mut args = args.to_vec();
    args.extend(["-o", out.to_str().unwrap()]);
    flatten_named(names, &args);
    read_parquet(&out)
}

fn text(row: &Row, key: &str) -> Option<String> {
    match row.get(key) {
        Some(Json::Str(s)) => Some(s.clone()),
        Some(Json::Raw(raw)) if raw == "null" => None,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn every_table_format_gives_the_same_names_beside_the_ids() {
    let dir = TempDir::new().unwrap();
    let mut outputs = Vec::new();
    for names in tables(&dir) {
        let (stdout, stderr) = flatten_named(&names, &[]);
        assert_eq!(
            stderr,
            format!("gcagg: warning: --names {}: {WIDE_WARNING}\n", names.display())
        );
        outputs.push((names, stdout));
    }
    let (_, first) = &outputs[0];
    for (names, stdout) in &outputs {
        assert_eq!(stdout, first, "--names {}", names.display());
    }
    let rows = ndjson_rows(first);
    let head: Vec<(&str, Option<String>)> = rows[0].0[..6]
        .iter()
        .map(|(k, _)| (k.as_str(), text(&rows[0], k)))
        .collect();
    let want: Vec<(&str, Option<String>)> = FIRST.iter().map(|&(k, v)| (k, Some(v.to_owned()))).collect();
    assert_eq!(head, want);
    // A UUID the tables lack: no name; a system wrap-up code is its own name.
    assert_eq!(text(&rows[1], "queueName"), None);
    assert_eq!(rows[1].keys()[1], "queueName");
    assert_eq!(
        text(&rows[1], "wrapUpCodeName").as_deref(),
        Some("ININ-WRAP-UP-TIMEOUT")
    );
    for (key, name) in [
        ("divisionName", "EMEA Support"),
        ("requestedRoutingSkillName", "Billing"),
        ("requestedLanguageName", "Français"),
    ] {
        assert_eq!(text(&rows[1], key).as_deref(), Some(name), "{key}");
    }
    for (key, name) in [
        ("userName", "Agent 001"),
        ("teamName", "Team 1"),
        ("flowName", "Main IVR"),
    ] {
        assert_eq!(text(&rows[2], key).as_deref(), Some(name), "{key}");
    }
    assert!(
        rows[2].keys().iter().all(|k| !k.contains("qualifier")),
        "the wide layout names no qualifier"
    );
}

#[test]
fn csv_puts_each_name_column_right_after_its_id_column() {
    let (stdout, _) = flatten_named(&fixture("names.ndjson"), &["-f", "csv"]);
    let (header, rows) = read_csv(stdout.as_bytes());
    assert_eq!(
        header,
        [
            "queueId",
            "queueName",
            "userId",
            "userName",
            "wrapUpCode",
            "wrapUpCodeName",
            "mediaType",
            "divisionId",
            "divisionName",
            "requestedRoutingSkillId",
            "requestedRoutingSkillName",
            "requestedLanguageId",
            "requestedLanguageName",
            "teamId",
            "teamName",
            "flowId",
            "flowName",
            "interval_start",
            "interval_end",
            "tHandle_count",
            "tHandle_sum",
            "tOrganizationPresence_2fb4a3cd_0f8e_4b4b_9b7c_2f0d2b7e1a11_sum",
            "tOrganizationPresence_0badc0de_0000_4000_8000_000000000000_sum",
            "tSystemPresence_ON_QUEUE_sum",
        ]
    );
    assert_eq!(rows[0][..6], FIRST.map(|(_, v)| v));
    assert_eq!(rows[1][..2], ["00000001-5b1e-4c2a-9d3f-00000000dead", ""]);
    assert_eq!(rows[1][4..6], ["ININ-WRAP-UP-TIMEOUT", "ININ-WRAP-UP-TIMEOUT"]);
}

#[test]
fn parquet_name_columns_are_strings_null_where_unnamed() {
    let table = parquet_named(&fixture("names.ndjson"), &[]);
    let field = table.schema.field_with_name("queueName").unwrap();
    assert_eq!(
        field.data_type(),
        &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    );
    assert_eq!(
        table.column("queueName"),
        [Value::Text("Queue 01".into()), Value::Null, Value::Null]
    );
    assert_eq!(
        table.column("userName"),
        [
            Value::Text("Agent 230".into()),
            Value::Null,
            Value::Text("Agent 001".into())
        ]
    );
}

#[test]
fn the_long_layout_names_presence_qualifiers_in_every_format() {
    let names = fixture("names.ndjson");
    let (stdout, stderr) = flatten_named(&names, &["--layout", "long"]);
    assert_eq!(
        stderr,
        format!(
            "gcagg: warning: --names {}: no name for 2 ids (queueId 1, tOrganizationPresence qualifier 1): left empty\n",
            names.display()
        )
    );
    let rows = ndjson_rows(&stdout);
    let presence: Vec<(String, Option<String>)> = rows
        .iter()
        .filter(|r| r.get("qualifier").is_some())
        .map(|r| {
            (
                r.text("qualifier").to_owned(),
                r.get("qualifier_name").map(|_| text(r, "qualifier_name").unwrap()),
            )
        })
        .collect();
    assert_eq!(
        presence,
        [
            (
                "2fb4a3cd-0f8e-4b4b-9b7c-2f0d2b7e1a11".to_owned(),
                Some("Lunch".to_owned())
            ),
            ("0badc0de-0000-4000-8000-000000000000".to_owned(), None),
            ("ON_QUEUE".to_owned(), None),
        ]
    );
    assert_eq!(text(&rows[0], "queueName").as_deref(), Some("Queue 01"));

    let (csv, _) = flatten_named(&names, &["--layout", "long", "-f", "csv"]);
    let (header, rows) = read_csv(csv.as_bytes());
    assert_eq!(
        header[header.len() - 5..],
        ["metric", "qualifier", "qualifier_name", "stat", "value"]
    );
    let tail: Vec<&[String]> = rows.iter().map(|r| &r[r.len() - 5..]).collect();
    assert_eq!(
        tail[4],
        [
            "tOrganizationPresence",
            "2fb4a3cd-0f8e-4b4b-9b7c-2f0d2b7e1a11",
            "Lunch",
            "sum",
            "1800000"
        ]
    );
    assert_eq!(tail[5][2], "");
    assert_eq!(tail[0], ["tHandle", "", "", "count", "2"]);

    let table = parquet_named(&names, &["--layout", "long"]);
    let qualifier_names = table.column("qualifier_name");
    assert_eq!(qualifier_names[4], Value::Text("Lunch".into()));
    assert_eq!(
        qualifier_names.iter().filter(|v| **v == Value::Null).count(),
        rows.len() - 1
    );
    assert_eq!(table.column("queueName")[0], Value::Text("Queue 01".into()));
}

#[test]
fn schema_lists_the_name_columns_beside_their_ids() {
    let out = gcagg()
        .args(["schema", "--layout", "long", "--names"])
        .arg(fixture("names.ndjson"))
        .arg(fixture("names_aggregates.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("queueName ") && lines[1].ends_with("STRING (dictionary)"),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.starts_with("qualifier_name ")), "{text}");
}

#[test]
fn a_table_of_some_types_names_only_their_ids() {
    let dir = TempDir::new().unwrap();
    let queues = dir.path().join("queues.csv");
    std::fs::write(
        &queues,
        "type,id,name\nqueue,00000001-5b1e-4c2a-9d3f-000000000001,\"Sales, EMEA\"\n",
    )
    .unwrap();
    let (stdout, _) = flatten_named(&queues, &[]);
    let rows = ndjson_rows(&stdout);
    assert_eq!(text(&rows[0], "queueName").as_deref(), Some("Sales, EMEA"));
    assert!(rows
        .iter()
        .all(|r| r.keys().iter().filter(|k| k.ends_with("Name")).count() <= 1));
}

#[test]
fn names_that_cannot_be_read_are_errors() {
    let run = |names: &Path| {
        gcagg()
            .args(["flatten", "--names"])
            .arg(names)
            .arg(fixture("names_aggregates.json"))
            .output()
            .unwrap()
    };
    let missing = message_of(&run(Path::new("no-such-names.ndjson")), 2);
    assert_eq!(missing, "gcagg: --names no-such-names.ndjson: no such file or folder");
    let aggregates = message_of(&run(&fixture("kpis.json")), 1);
    assert!(
        aggregates.contains("kpis.json: not a names table of `gcagg names`"),
        "{aggregates}"
    );
    let dir = TempDir::new().unwrap();
    let odd = dir.path().join("names.txt");
    std::fs::write(&odd, "").unwrap();
    assert!(message_of(&run(&odd), 2).contains("cannot tell the format from the extension"));
    assert!(message_of(&run(dir.path()), 2).contains("holds no names table"));
}

fails!(
    a_group_key_named_like_a_name_column_is_a_collision,
    ["--names", fixture("names.ndjson").to_str().unwrap()],
    r#"{"results":[{"group":{"queueId":"q","queueName":"x"},"data":[{"metrics":[{"metric":"nOffered","stats":{"count":1}}]}]}]}"#,
    1,
    "column `queueName` would hold both the names of group key `queueId` (--names) and group key `queueName`"
);
