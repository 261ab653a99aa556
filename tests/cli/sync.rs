//! `gcagg sync` against the fake API of `server.rs`, whose [`Lake`] defines exactly what a
//! synced dataset must hold. Every dataset is read back with the parquet crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::server::{midnight, Lake, Script, Server, CLIENT_ID, SECRET};
use crate::util::{read_parquet, scratch, tree, Value};

const BUCKET: i64 = 1800;

/// The definition of the tests' dataset (with `--until`, which each run gives).
const DEFINE: &[&str] = &[
    "--granularity",
    "PT30M",
    "--group-by",
    "queueId,mediaType",
    "--metrics",
    "nOffered,tHandle,tAcw",
    "--start",
    "2024-05-01",
];

/// Four days and ten hours of data: 2024-05-01 to 2024-05-04T10:00Z.
const UNTIL: &str = "2024-05-04T10:00:00Z";

fn org(lake: Lake) -> Server {
    Server::start(Script {
        lake: Some(lake),
        ..Script::default()
    })
}

fn queues(n: u64) -> Lake {
    Lake {
        queues: n,
        ..Lake::default()
    }
}

/// `gcagg sync DATASET ARGS...` against `server`, with its client in the environment.
fn sync_cmd(server: &Server, dataset: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = server.command("sync");
    cmd.arg(dataset)
        .args(args)
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", SECRET);
    cmd
}

/// Runs a sync that must succeed; returns its stderr.
fn sync(server: &Server, dataset: &Path, args: &[&str]) -> String {
    let out = sync_cmd(server, dataset, args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gcagg sync {args:?}: {stderr}");
    stderr
}

/// The data files of a dataset (what a lake reader reads: no `_` or `.` folder).
fn data_files(dataset: &Path) -> Vec<PathBuf> {
    tree(dataset)
        .into_iter()
        .filter(|f| f.ends_with(".parquet") && !f.split('/').any(|part| part.starts_with(['_', '.'])))
        .map(|f| dataset.join(f))
        .collect()
}

/// One row of the dataset, as a lake reader sees it: the day from the path, then the columns.
#[derive(Debug)]
struct Row {
    day: String,
    queue: String,
    start: i64,
    offered: i64,
}

/// Every row of the dataset, and the column names of each file (which must all agree).
fn rows(dataset: &Path) -> (Vec<Row>, BTreeSet<Vec<String>>) {
    let mut rows = Vec::new();
    let mut schemas = BTreeSet::new();
    for file in data_files(dataset) {
        let day = file
            .components()
            .find_map(|c| {
                c.as_os_str()
                    .to_str()?
                    .strip_prefix("interval_date=")
                    .map(str::to_owned)
            })
            .expect("every file is in a day partition");
        let table = read_parquet(&file);
        schemas.insert(table.names());
        let queue = table.column("queueId");
        let start = table.column("interval_start");
        let offered = table.column("nOffered_count");
        for i in 0..table.rows.len() {
            let (Value::Text(queue), Value::Time(start), Value::Int(offered)) = (&queue[i], &start[i], &offered[i])
            else {
                panic!("{}: row {i}: unexpected types", file.display());
            };
            rows.push(Row {
                day: day.clone(),
                queue: queue.clone(),
                start: start / 1000,
                offered: *offered,
            });
        }
    }
    (rows, schemas)
}

/// The dataset's nOffered per day, checking that no bucket of a queue is there twice and
/// that every row is in the partition of its own day.
fn offered_by_day(dataset: &Path) -> BTreeMap<String, u64> {
    let (rows, _) = rows(dataset);
    let mut seen = BTreeSet::new();
    let mut by_day = BTreeMap::new();
    for row in rows {
        assert!(seen.insert((row.queue.clone(), row.start)), "{row:?} is there twice");
        assert_eq!(
            row.start.div_euclid(86_400) * 86_400,
            midnight(&row.day),
            "{row:?} in the wrong day"
        );
        *by_day.entry(row.day).or_insert(0) += u64::try_from(row.offered).unwrap();
    }
    by_day
}

/// What the fake org holds per day, from `first` to `until` (exclusive).
fn expected_by_day(lake: &Lake, days: &[&str], until: i64) -> BTreeMap<String, u64> {
    days.iter()
        .map(|day| {
            let from = midnight(day);
            (
                day.to_string(),
                lake.total_offered(from, (from + 86_400).min(until), BUCKET),
            )
        })
        .filter(|(_, total)| *total > 0)
        .collect()
}

const DAYS: &[&str] = &["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"];

/// Every file of the dataset with its bytes, but the lock (which names the last run's process).
fn snapshot(dataset: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(dataset)
        .into_iter()
        .filter(|f| f != "_gcagg_sync.lock")
        .map(|f| {
            let bytes = std::fs::read(dataset.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

fn until_secs(instant: &str) -> i64 {
    instant.parse::<jiff::Timestamp>().unwrap().as_second()
}

#[test]
fn a_first_run_defines_the_dataset_and_holds_exactly_the_orgs_data() {
    let lake = queues(3);
    let server = org(lake.clone());
    let dir = scratch();
    let dataset = dir.path().join("lake/queue_kpis");
    let mut args = DEFINE.to_vec();
    args.extend(["--until", UNTIL]);
    let stderr = sync(&server, &dataset, &args);
    assert!(
        stderr.contains("fetched 4 days (2024-05-01 to 2024-05-04") && stderr.contains("4 added, 0 replaced"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one summary line: {stderr}");
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, DAYS, until_secs(UNTIL))
    );

    let files = tree(&dataset);
    assert!(files.contains(&"_gcagg_sync.json".to_owned()), "{files:?}");
    for day in DAYS {
        assert!(files.contains(&format!("_raw/{day}.ndjson.gz")), "{files:?}");
    }
    for file in data_files(&dataset) {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            name.len() == "part-0123456789abcdef.parquet".len() && name.starts_with("part-"),
            "{name}"
        );
    }
    let definition = std::fs::read_to_string(dataset.join("_gcagg_sync.json")).unwrap();
    assert!(
        !definition.contains(SECRET) && !definition.contains(CLIENT_ID),
        "{definition}"
    );
    let definition: serde_json::Value = serde_json::from_str(&definition).unwrap();
    assert_eq!(definition["synced_until"], "2024-05-04T10:00:00Z");
    let columns: Vec<&str> = definition["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "mediaType",
            "queueId",
            "interval_start",
            "interval_end",
            "nOffered_count",
            "tHandle_count",
            "tHandle_max",
            "tHandle_min",
            "tHandle_sum"
        ]
    );
    // The lake's own rows (not the partition column) in every file, in that order.
    let (_, schemas) = rows(&dataset);
    assert_eq!(schemas.len(), 1, "{schemas:?}");
    assert_eq!(schemas.into_iter().next().unwrap(), columns);
}
