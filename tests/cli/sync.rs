//! `gcagg sync` against the fake API of `server.rs`, whose [`Lake`] defines exactly what a
//! synced dataset must hold. Every dataset is read back with the parquet crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
    if !dataset.exists() {
        return Vec::new();
    }
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

/// A dataset of `lake` synced up to [`UNTIL`], in a fresh folder.
fn synced(server: &Server, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = scratch();
    let dataset = dir.path().join("lake/queue_kpis");
    let mut args = DEFINE.to_vec();
    args.extend(["--until", UNTIL]);
    args.extend(extra);
    sync(server, &dataset, &args);
    (dir, dataset)
}

#[test]
fn a_second_run_with_no_new_data_changes_no_byte() {
    let server = org(queues(4));
    let (_dir, dataset) = synced(&server, &[]);
    let before = snapshot(&dataset);
    let stderr = sync(&server, &dataset, &["--until", UNTIL]);
    // The lookback (P2D before 2024-05-04T10:00) fetches three days again.
    assert!(
        stderr.contains("fetched 3 days (2024-05-02 to 2024-05-04")
            && stderr.contains("0 added, 0 replaced, 3 unchanged"),
        "{stderr}"
    );
    assert_eq!(snapshot(&dataset), before, "same files, same bytes");
}

#[test]
fn late_data_replaces_exactly_the_partitions_it_touches() {
    let mut lake = queues(4);
    let server = org(lake.clone());
    let (_dir, dataset) = synced(&server, &[]);
    let before = snapshot(&dataset);
    lake.revisions.insert("2024-05-03".into(), 5);
    server.script().lake = Some(lake.clone());
    let stderr = sync(&server, &dataset, &["--until", UNTIL]);
    assert!(stderr.contains("0 added, 1 replaced, 2 unchanged"), "{stderr}");
    let after = snapshot(&dataset);
    let changed: BTreeSet<&str> = before
        .keys()
        .chain(after.keys())
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|f| f.split('/').next().unwrap())
        .collect();
    assert_eq!(
        changed,
        BTreeSet::from(["_raw", "interval_date=2024-05-03"]),
        "only the day that changed (and its raw pages)"
    );
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, DAYS, until_secs(UNTIL))
    );

    // A change older than the lookback is not seen (the README says how to re-pull it).
    lake.revisions.insert("2024-05-01".into(), 3);
    server.script().lake = Some(lake.clone());
    sync(&server, &dataset, &["--until", UNTIL]);
    let mut stale = expected_by_day(&lake, DAYS, until_secs(UNTIL));
    let mut without = lake.clone();
    without.revisions.remove("2024-05-01");
    stale.insert(
        "2024-05-01".into(),
        expected_by_day(&without, DAYS, until_secs(UNTIL))["2024-05-01"],
    );
    assert_eq!(offered_by_day(&dataset), stale);
}

#[test]
fn the_watermark_moves_on_and_the_lookback_is_fetched_again() {
    let lake = queues(2);
    let server = org(lake.clone());
    let (_dir, dataset) = synced(&server, &[]);
    let later = "2024-05-06T00:00:00Z";
    let stderr = sync(&server, &dataset, &["--until", later]);
    assert!(stderr.contains("fetched 4 days (2024-05-02 to 2024-05-05"), "{stderr}");
    // 2024-05-04 was partial (up to 10:00): now it is whole.
    assert!(stderr.contains("1 added, 1 replaced, 2 unchanged"), "{stderr}");
    let queries = server.requests_to("/aggregates/query");
    let last: serde_json::Value = serde_json::from_str(&queries.last().unwrap().body).unwrap();
    assert_eq!(last["interval"], "2024-05-05T00:00:00Z/2024-05-06T00:00:00Z");
    let days = ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04", "2024-05-05"];
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, &days, until_secs(later))
    );
}

#[test]
fn a_column_that_appears_mid_history_reaches_every_file() {
    let mut lake = queues(3);
    let server = org(lake.clone());
    let (_dir, dataset) = synced(&server, &[]);
    lake.new_metric_from = Some("2024-05-04".into());
    server.script().lake = Some(lake.clone());
    let before = server.requests_to("/aggregates/query").len();
    let stderr = sync(&server, &dataset, &["--until", UNTIL]);
    // Only the lookback is fetched; the older days are rebuilt from their raw pages.
    assert_eq!(server.requests_to("/aggregates/query").len() - before, 3);
    assert!(stderr.contains("4 replaced"), "{stderr}");
    let (rows, schemas) = rows(&dataset);
    assert_eq!(schemas.len(), 1, "one schema for every file: {schemas:?}");
    let names = schemas.into_iter().next().unwrap();
    assert!(
        names.ends_with(&["tAcw_count".to_owned(), "tAcw_sum".to_owned()]),
        "{names:?}"
    );
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, DAYS, until_secs(UNTIL))
    );
    // Old days have the column, with the 0 a missing value gets.
    for file in data_files(&dataset) {
        let table = read_parquet(&file);
        let acw = table.column("tAcw_count");
        let old = !file.to_string_lossy().contains("2024-05-04");
        assert!(
            acw.iter().all(|v| (*v == Value::Int(0)) == old),
            "{}: {acw:?}",
            file.display()
        );
    }
    assert!(!rows.is_empty());
    let definition = std::fs::read_to_string(dataset.join("_gcagg_sync.json")).unwrap();
    assert!(definition.contains("\"tAcw_sum\""), "{definition}");
}

#[test]
fn rebuild_re_flattens_the_raw_pages_without_the_api() {
    let lake = queues(3);
    let server = org(lake.clone());
    let (_dir, dataset) = synced(&server, &[]);
    let before = snapshot(&dataset);
    let requests = server.requests().len();
    let stderr = sync(&server, &dataset, &["--rebuild"]);
    assert!(
        stderr.contains("rebuilt from the raw pages, no API call") && stderr.contains("4 unchanged"),
        "{stderr}"
    );
    assert_eq!(snapshot(&dataset), before);

    // Other flatten options: every partition again, from the raw pages, still no API call.
    let out = sync_cmd(&server, &dataset, &["--rebuild", "--add-column", "org=acme"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a changed definition needs --redefine");
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("--add-column contradicts the dataset's definition") && message.contains("--redefine"),
        "{message}"
    );
    let stderr = sync(
        &server,
        &dataset,
        &["--rebuild", "--redefine", "--add-column", "org=acme"],
    );
    assert!(stderr.contains("4 replaced"), "{stderr}");
    assert_eq!(server.requests().len(), requests, "no request at all");
    let (_, schemas) = rows(&dataset);
    assert_eq!(schemas.len(), 1);
    assert_eq!(schemas.into_iter().next().unwrap()[0], "org");
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, DAYS, until_secs(UNTIL))
    );
    for file in data_files(&dataset) {
        assert!(read_parquet(&file)
            .column("org")
            .iter()
            .all(|v| *v == Value::Text("acme".into())));
    }

    // The raw pages answer the stored query, so a rebuild cannot take another one.
    let defined = std::fs::read(dataset.join("_gcagg_sync.json")).unwrap();
    let out = sync_cmd(&server, &dataset, &["--rebuild", "--redefine", "--metrics", "nOffered"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("--rebuild: --metrics changes the query") && message.contains("drop --rebuild"),
        "{message}"
    );
    assert_eq!(std::fs::read(dataset.join("_gcagg_sync.json")).unwrap(), defined);
    assert_eq!(server.requests().len(), requests, "no request at all");

    // What --redefine added it can take away again: the column goes, from every file.
    sync(&server, &dataset, &["--rebuild", "--redefine", "--add-column", ""]);
    let (_, schemas) = rows(&dataset);
    assert_eq!(schemas.len(), 1);
    assert!(!schemas.into_iter().next().unwrap().contains(&"org".to_owned()));
    assert_eq!(snapshot(&dataset), before, "back to the bytes of the first run");
}

#[test]
fn kpis_turned_on_and_off_again_with_redefine() {
    let server = org(queues(2));
    let (_dir, dataset) = synced(&server, &[]);
    let before = snapshot(&dataset);
    let columns = |dataset: &Path| rows(dataset).1.into_iter().next().unwrap();
    sync(&server, &dataset, &["--rebuild", "--redefine", "--kpis"]);
    assert!(
        columns(&dataset).contains(&"aht_s".to_owned()),
        "{:?}",
        columns(&dataset)
    );
    sync(&server, &dataset, &["--rebuild", "--redefine", "--kpis=false"]);
    assert!(!columns(&dataset).contains(&"aht_s".to_owned()));
    assert_eq!(snapshot(&dataset), before);

    let out = sync_cmd(&server, &dataset, &["--redefine", "--metrics", ""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics: name at least one metric"));
}

#[test]
fn a_dataset_folder_that_cannot_be_created_is_a_write_failure() {
    let server = org(queues(1));
    let dir = scratch();
    std::fs::write(dir.path().join("lake"), "a file, not a folder").unwrap();
    let mut args = DEFINE.to_vec();
    args.extend(["--until", UNTIL]);
    let out = sync_cmd(&server, &dir.path().join("lake/queue_kpis"), &args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("lake/queue_kpis: cannot create"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn a_changed_query_is_refused_then_fetched_again_whole_with_redefine() {
    let lake = queues(2);
    let server = org(lake.clone());
    let (_dir, dataset) = synced(&server, &[]);
    let before = snapshot(&dataset);
    let out = sync_cmd(
        &server,
        &dataset,
        &["--metrics", "nOffered", "--granularity", "PT1H", "--until", UNTIL],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("--granularity, --metrics contradict the dataset's definition"),
        "{message}"
    );
    assert_eq!(snapshot(&dataset), before, "a refused run changes nothing");
    // Flags equal to the definition are no contradiction.
    sync(
        &server,
        &dataset,
        &[
            "--metrics",
            "nOffered,tHandle,tAcw",
            "--granularity",
            "30m",
            "--until",
            UNTIL,
        ],
    );

    let stderr = sync(
        &server,
        &dataset,
        &["--metrics", "nOffered", "--redefine", "--until", UNTIL],
    );
    assert!(stderr.contains("fetched 4 days (2024-05-01 to 2024-05-04"), "{stderr}");
    let (_, schemas) = rows(&dataset);
    assert_eq!(
        schemas.into_iter().collect::<Vec<_>>(),
        [[
            "mediaType",
            "queueId",
            "interval_start",
            "interval_end",
            "nOffered_count"
        ]
        .map(String::from)
        .to_vec()]
    );
}

#[test]
fn dry_run_shows_the_days_and_changes_nothing() {
    let server = org(queues(2));
    let dir = scratch();
    let dataset = dir.path().join("q");
    let mut args = DEFINE.to_vec();
    args.extend(["--until", "2024-05-03T00:00:00Z", "--dry-run"]);
    let out = sync_cmd(&server, &dataset, &args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("would define conversations"), "{text}");
    assert!(
        text.contains("fetch 2024-05-01T00:00:00Z/2024-05-02T00:00:00Z  interval_date=2024-05-01: new partition"),
        "{text}"
    );
    assert!(!dataset.exists(), "nothing created");
    assert!(server.requests().is_empty(), "nothing sent");

    args.pop();
    sync(&server, &dataset, &args);
    let before = snapshot(&dataset);
    let requests = server.requests().len();
    let out = sync_cmd(&server, &dataset, &["--dry-run", "--until", "2024-05-04T00:00:00Z"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("interval_date=2024-05-02: replaces its partition"),
        "{text}"
    );
    assert!(text.contains("interval_date=2024-05-03: new partition"), "{text}");
    assert_eq!(snapshot(&dataset), before);
    assert_eq!(server.requests().len(), requests);
}

#[test]
fn a_second_sync_on_the_same_dataset_is_refused_while_one_runs() {
    let server = org(queues(2));
    let (_dir, dataset) = synced(&server, &[]);
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(dataset.join("_gcagg_sync.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let before = snapshot(&dataset);
    let out = sync_cmd(&server, &dataset, &["--until", UNTIL]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("another gcagg sync is running on this dataset"),
        "{message}"
    );
    assert_eq!(snapshot(&dataset), before);
    // The lock dies with its holder: a crashed run leaves nothing stuck.
    drop(lock);
    sync(&server, &dataset, &["--until", UNTIL]);
}

/// The partitions of a dataset a run was killed in must each be whole, and hold either the
/// numbers before the run (`old`) or those after it (`new`).
fn check_consistent(dataset: &Path, old: &BTreeMap<String, u64>, new: &BTreeMap<String, u64>) {
    for (day, total) in offered_by_day(dataset) {
        assert!(
            old.get(&day) == Some(&total) || new.get(&day) == Some(&total),
            "{day}: {total} is neither the old {:?} nor the new {:?}",
            old.get(&day),
            new.get(&day)
        );
    }
}

#[test]
fn a_run_killed_at_any_moment_leaves_a_consistent_dataset_the_next_run_completes() {
    let mut lake = queues(30);
    let server = org(lake.clone());
    let dir = scratch();
    let dataset = dir.path().join("q");
    let until = "2024-05-21T00:00:00Z";
    let days: Vec<String> = (1..=20).map(|d| format!("2024-05-{d:02}")).collect();
    let days: Vec<&str> = days.iter().map(String::as_str).collect();
    let mut args = DEFINE.to_vec();
    args.extend(["--until", until, "--lookback", "P30D"]);
    let none = BTreeMap::new();
    let first = expected_by_day(&lake, &days, until_secs(until));

    // Killed during the first run, then later ones: each leaves whole partitions only.
    let mut kills = 0;
    for delay_ms in [5, 30, 80, 150, 250, 400, 600, 900] {
        let mut child = sync_process(&server, &dataset, &args).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        check_consistent(&dataset, &none, &first);
    }
    assert!(kills >= 3, "the runs ended too soon to be killed ({kills} kills)");
    sync(&server, &dataset, &args);
    assert_eq!(offered_by_day(&dataset), first);

    // Killed while late data replaces partitions.
    for day in &days[10..] {
        lake.revisions.insert((*day).to_owned(), 2);
    }
    server.script().lake = Some(lake.clone());
    let second = expected_by_day(&lake, &days, until_secs(until));
    for delay_ms in [20, 60, 120, 200, 300, 500, 800] {
        let mut child = sync_process(&server, &dataset, &args).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        check_consistent(&dataset, &first, &second);
    }
    sync(&server, &dataset, &args);
    assert_eq!(offered_by_day(&dataset), second);
    let leftovers: Vec<String> = tree(&dataset)
        .into_iter()
        .filter(|f| f.starts_with("_gcagg_tmp") || f.contains(".tmp") || f.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// [`sync_cmd`] as a process to kill.
fn sync_process(server: &Server, dataset: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = server.process("sync");
    cmd.arg(dataset)
        .args(args)
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", SECRET)
        .stderr(std::process::Stdio::null());
    cmd
}

#[test]
fn two_orgs_feed_one_table_through_their_profiles() {
    let acme = Lake { org: 1, ..queues(2) };
    let globex = Lake { org: 2, ..queues(3) };
    let (acme_api, globex_api) = (org(acme.clone()), org(globex.clone()));
    let dir = scratch();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.acme]\napi_base = \"{}\"\nlogin_base = \"{0}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_env = \"ACME_SECRET\"\n\n\
             [profiles.globex]\napi_base = \"{}\"\nlogin_base = \"{1}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_env = \"GLOBEX_SECRET\"\n",
            acme_api.base, globex_api.base
        ),
    )
    .unwrap();
    let table = dir.path().join("lake/queue_kpis");
    let run = |name: &str, extra: &[&str]| {
        let mut cmd = crate::util::gcagg();
        for var in [
            "GENESYS_CLIENT_ID",
            "GENESYS_CLIENT_SECRET",
            "GENESYS_ENVIRONMENT",
            "GCAGG_PROFILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("GCAGG_CONFIG", &config)
            .env("GCAGG_WAIT_SCALE", "0.001")
            .env("ACME_SECRET", SECRET)
            .env("GLOBEX_SECRET", SECRET)
            .arg("sync")
            .arg(table.join(format!("org={name}")))
            .args(extra)
            .args(["--until", UNTIL]);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let mut define = DEFINE.to_vec();
    define.extend(["--profile", "acme"]);
    run("acme", &define);
    define.pop();
    define.push("globex");
    run("globex", &define);
    let acme_before = snapshot(&table.join("org=acme"));
    // Later runs need only the folder: each knows its profile, and touches its own partitions.
    run("globex", &[]);
    assert_eq!(snapshot(&table.join("org=acme")), acme_before);
    assert_eq!(acme_api.requests_to("/aggregates/query").len(), 4);
    assert_eq!(globex_api.requests_to("/aggregates/query").len(), 4 + 3);

    // One table: `org` from the path, each org's numbers its own.
    let mut by_org = BTreeMap::new();
    for file in data_files(&table) {
        let text = file.to_string_lossy().into_owned();
        let name = if text.contains("org=acme") { "acme" } else { "globex" };
        let total: i64 = read_parquet(&file)
            .column("nOffered_count")
            .iter()
            .map(|v| match v {
                Value::Int(n) => *n,
                other => panic!("{other:?}"),
            })
            .sum();
        *by_org.entry(name).or_insert(0) += u64::try_from(total).unwrap();
    }
    let until = until_secs(UNTIL);
    let total = |lake: &Lake| lake.total_offered(midnight("2024-05-01"), until, BUCKET);
    assert_eq!(
        by_org,
        BTreeMap::from([("acme", total(&acme)), ("globex", total(&globex))])
    );
    assert_ne!(total(&acme), total(&globex));
}

#[test]
fn without_raw_pages_a_run_still_syncs_and_rebuild_is_refused() {
    let lake = queues(2);
    let server = org(lake.clone());
    let (_dir, dataset) = synced(&server, &["--no-raw"]);
    assert!(!dataset.join("_raw").exists());
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, DAYS, until_secs(UNTIL))
    );
    let out = sync_cmd(&server, &dataset, &["--rebuild"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps no raw pages"));
}

#[test]
fn an_api_failure_leaves_the_dataset_as_it_was() {
    let lake = queues(2);
    let server = org(lake.clone());
    let (_dir, dataset) = synced(&server, &[]);
    let before = snapshot(&dataset);
    server.script().faults.push_back((
        "/aggregates/query".into(),
        crate::server::Reply::error(400, "bad.request", "Unknown metric tWhatever"),
    ));
    let out = sync_cmd(&server, &dataset, &["--until", "2024-05-06T00:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("Unknown metric tWhatever"), "{message}");
    assert_eq!(
        snapshot(&dataset),
        before,
        "no partition, raw page or definition changed, no leftover"
    );
    // The next run takes the work up and leaves nothing behind.
    sync(&server, &dataset, &["--until", "2024-05-06T00:00:00Z"]);
    assert!(!dataset.join("_gcagg_tmp").exists());
}

#[test]
fn async_jobs_give_the_same_dataset() {
    let lake = queues(3);
    let (plain, jobs) = (org(lake.clone()), org(lake.clone()));
    let (_a, by_query) = synced(&plain, &[]);
    let (_b, by_job) = synced(&jobs, &["--async", "--concurrency", "3"]);
    let submitted = jobs
        .requests_to("/aggregates/jobs")
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(submitted, 4, "one job per day");
    assert!(jobs.requests_to("/aggregates/query").is_empty());
    let data = |d: &Path| -> BTreeMap<String, Vec<u8>> {
        snapshot(d)
            .into_iter()
            .filter(|(f, _)| f.starts_with("interval_date="))
            .collect()
    };
    assert_eq!(data(&by_query), data(&by_job));
}

#[test]
fn a_first_run_names_what_the_definition_lacks() {
    let server = org(queues(1));
    let dir = scratch();
    let out = sync_cmd(&server, &dir.path().join("q"), &["--metrics", "nOffered"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("no dataset here yet; define it with --start, --granularity"),
        "{message}"
    );
    let out = sync_cmd(
        &server,
        &dir.path().join("q"),
        &[
            "--metrics",
            "nOffered",
            "--start",
            "2024-05-01",
            "--granularity",
            "PT7M",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("buckets that divide a day"));
    // A folder with other things in it is not taken over.
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let mut args = DEFINE.to_vec();
    args.extend(["--until", UNTIL]);
    let out = sync_cmd(&server, dir.path(), &args).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds notes.txt but no _gcagg_sync.json"));
    assert!(server.requests().is_empty());
}

#[test]
fn schema_prints_a_datasets_columns_and_its_create_table() {
    let server = org(queues(2));
    let (_dir, dataset) = synced(&server, &["--add-column", "org=acme", "--partition-by", "mediaType"]);
    let schema = |args: &[&str]| {
        let out = crate::util::gcagg()
            .arg("schema")
            .args(args)
            .arg(&dataset)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = schema(&[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"org             STRING (dictionary)"), "{text}");
    assert_eq!(
        &lines[lines.len() - 2..],
        [
            "interval_date   DATE (partition, from the folder names)",
            "mediaType       STRING (partition, from the folder names)"
        ]
    );
    // The data files hold exactly the columns before the partition columns.
    let (_, schemas) = rows(&dataset);
    let names: Vec<String> = lines[..lines.len() - 2]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(schemas.into_iter().collect::<Vec<_>>(), [names]);

    let sql = schema(&["--format", "sql"]);
    assert!(
        sql.starts_with("CREATE TABLE \"queue_kpis\" (\n  \"org\" VARCHAR,\n"),
        "{sql}"
    );
    assert!(sql.contains("  \"interval_start\" TIMESTAMPTZ,\n") && sql.contains("  \"nOffered_count\" BIGINT,\n"));
    assert!(
        sql.contains("  \"tHandle_sum\" DOUBLE,\n") && sql.ends_with("  \"mediaType\" VARCHAR\n);\n"),
        "{sql}"
    );
    let athena = schema(&["--format", "athena", "--table", "kpis"]);
    assert!(
        athena.starts_with("CREATE EXTERNAL TABLE `kpis` (\n  `org` STRING,\n"),
        "{athena}"
    );
    assert!(
        athena.contains(")\nPARTITIONED BY (\n  `interval_date` DATE,\n  `mediaType` STRING\n)\nSTORED AS PARQUET\n"),
        "{athena}"
    );
}

/// A simulated year of 30-minute KPIs for 50 queues: synced from the fake API, synced again
/// (the steady state: the lookback only) and rebuilt from its raw pages, with the figures
/// printed. Slow, so ignored; `scripts/sync-year` runs it in release mode. With
/// `GCAGG_SYNC_OUT=DIR` the dataset stays in `DIR/queue_kpis`, beside `DIR/expected.json`
/// (rows and nOffered per day, and the total of every value column), for
/// `scripts/parquet-interop`.
#[test]
#[ignore = "slow: a year from the fake API; run by scripts/sync-year"]
fn a_simulated_year_of_half_hours_for_50_queues() {
    let lake = queues(50);
    let server = org(lake.clone());
    let scratch_dir = scratch();
    let out = std::env::var_os("GCAGG_SYNC_OUT").map_or_else(|| scratch_dir.path().to_owned(), PathBuf::from);
    let dataset = out.join("queue_kpis");
    if dataset.exists() {
        std::fs::remove_dir_all(&dataset).unwrap();
    }
    let (start, until) = ("2023-01-01", "2024-01-01T00:00:00Z");
    let mut args = DEFINE.to_vec();
    let last = args.len() - 1;
    args[last] = start;
    args.extend(["--until", until, "--concurrency", "4"]);
    let timed = |args: &[&str]| {
        let started = std::time::Instant::now();
        let stderr = sync(&server, &dataset, args);
        (started.elapsed().as_secs_f64(), stderr.trim().to_owned())
    };
    let (first, first_line) = timed(&args);
    let (again, again_line) = timed(&["--until", until]);
    let (rebuild, rebuild_line) = timed(&["--rebuild"]);

    let metrics = DEFINE[DEFINE.iter().position(|a| *a == "--metrics").unwrap() + 1];
    let asked = |m: &str| metrics.split(',').any(|x| x == m);
    // Every stat the API served, totalled by the column it flattens to (`tHandle_sum`).
    let mut sums = BTreeMap::<String, f64>::new();
    let mut expected = BTreeMap::new();
    let mut day = midnight(start);
    while day < until_secs(until) {
        let slots = (day / BUCKET..(day + 86_400) / BUCKET).flat_map(|s| (1..=50).map(move |q| (s, q)));
        let mut rows = 0;
        for (s, q) in slots {
            let Some(served) = lake.metrics(q, s * BUCKET, BUCKET, asked) else {
                continue;
            };
            rows += 1;
            for metric in served {
                for (stat, value) in metric["stats"].as_object().unwrap() {
                    let column = format!("{}_{stat}", metric["metric"].as_str().unwrap());
                    *sums.entry(column).or_default() += value.as_f64().unwrap();
                }
            }
        }
        let name = jiff::Timestamp::from_second(day)
            .unwrap()
            .strftime("%Y-%m-%d")
            .to_string();
        expected.insert(name, (rows, lake.total_offered(day, day + 86_400, BUCKET)));
        day += 86_400;
    }
    let by_day = offered_by_day(&dataset);
    assert_eq!(
        by_day,
        expected
            .iter()
            .map(|(d, (_, o))| (d.clone(), *o))
            .collect::<BTreeMap<_, _>>()
    );
    let rows: usize = expected.values().map(|(r, _)| r).sum();
    let offered: u64 = expected.values().map(|(_, o)| o).sum();
    let files = data_files(&dataset).len();
    let bytes: u64 = data_files(&dataset).iter().map(|f| f.metadata().unwrap().len()).sum();
    let raw: u64 = tree(&dataset.join("_raw"))
        .iter()
        .map(|f| dataset.join("_raw").join(f).metadata().unwrap().len())
        .sum();
    println!(
        "simulated year: {rows} rows, {} partitions, {files} files, {:.1} MB of Parquet, {:.1} MB of raw pages (gzip)",
        by_day.len(),
        bytes as f64 / 1e6,
        raw as f64 / 1e6
    );
    println!("first sync (365 days, 4 at once): {first:.1} s  -- {first_line}");
    println!("next sync (the lookback):         {again:.1} s  -- {again_line}");
    println!("rebuild from raw pages:            {rebuild:.1} s  -- {rebuild_line}");
    let days: serde_json::Map<String, serde_json::Value> = expected
        .iter()
        .map(|(d, (r, o))| (d.clone(), serde_json::json!({"rows": r, "nOffered": o})))
        .collect();
    let summary = serde_json::json!({"rows": rows, "nOffered": offered, "sums": sums, "days": days});
    std::fs::write(out.join("expected.json"), summary.to_string()).unwrap();
}

#[test]
fn names_keeps_the_lookup_tables_beside_the_dataset_never_inside_it() {
    let server = org(queues(2));
    let dir = scratch();
    let dataset = dir.path().join("lake/queue_kpis/org=acme");
    let mut args = DEFINE.to_vec();
    args.extend(["--until", UNTIL, "--names"]);
    let out = sync_cmd(&server, &dataset, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let names = dir.path().join("lake/_names/org=acme");
    let tables = tree(&names);
    assert!(
        tables.contains(&"queues.parquet".to_owned()) && tables.contains(&"users.parquet".to_owned()),
        "{tables:?}"
    );
    let queues = read_parquet(&names.join("queues.parquet"));
    assert!(
        queues
            .names()
            .starts_with(&["type".to_owned(), "id".to_owned(), "name".to_owned()]),
        "{:?}",
        queues.names()
    );
    assert!(!queues.rows.is_empty());
    assert!(
        tree(&dataset).iter().all(|f| !f.contains("_names")),
        "the dataset holds no lookup table"
    );
    // Later runs refresh them without being asked again.
    let before = server.requests_to("/api/v2/routing/queues").len();
    sync(&server, &dataset, &["--until", UNTIL]);
    assert!(server.requests_to("/api/v2/routing/queues").len() > before);
}

#[test]
fn until_lies_between_the_watermark_and_the_last_complete_bucket() {
    let server = org(queues(2));
    let (_dir, dataset) = synced(&server, &[]);
    let before = snapshot(&dataset);
    for (until, says) in [
        (
            "2024-05-03T12:00:00Z",
            "before the dataset's watermark (2024-05-04T10:00:00Z); a sync never shrinks",
        ),
        ("2999-01-01", "after the last complete bucket"),
    ] {
        let out = sync_cmd(&server, &dataset, &["--until", until]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "--until {until}");
        let message = String::from_utf8_lossy(&out.stderr);
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(snapshot(&dataset), before);
    // Inside a bucket: the bucket is not complete, so the range ends before it.
    let stderr = sync(&server, &dataset, &["--until", "2024-05-04T10:17:00Z"]);
    assert!(stderr.contains("synced until 2024-05-04T10:00:00Z"), "{stderr}");
}

#[test]
fn a_run_with_nothing_to_fetch_reads_no_input_and_says_so() {
    let server = org(queues(2));
    let dir = scratch();
    let dataset = dir.path().join("q");
    let mut args = DEFINE.to_vec();
    let last = args.len() - 1;
    args[last] = "2999-01-01";
    let out = sync_cmd(&server, &dataset, &args)
        .write_stdin("{not a page")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("nothing to fetch") && stderr.contains("nothing synced yet"),
        "{stderr}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn a_first_run_that_failed_may_be_corrected_without_redefine() {
    let server = org(queues(2));
    server.script().faults.push_back((
        "/aggregates/query".into(),
        crate::server::Reply::error(400, "bad.request", "Unknown metric nOfered"),
    ));
    let dir = scratch();
    let dataset = dir.path().join("q");
    let mut args = DEFINE.to_vec();
    args.extend(["--until", UNTIL]);
    let mut wrong = args.clone();
    let metrics = wrong.iter().position(|a| *a == "--metrics").unwrap() + 1;
    wrong[metrics] = "nOfered";
    let out = sync_cmd(&server, &dataset, &wrong).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = sync(&server, &dataset, &args);
    assert!(stderr.contains("4 added"), "{stderr}");
}

#[test]
fn a_backfill_that_fails_keeps_the_months_it_completed() {
    let lake = queues(2);
    let server = org(lake.clone());
    server.script().broken_interval = Some("2024-06-05");
    let dir = scratch();
    let dataset = dir.path().join("q");
    let until = "2024-06-10T00:00:00Z";
    let mut args = DEFINE.to_vec();
    args.extend(["--until", until]);
    let out = sync_cmd(&server, &dataset, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // The first 31 days were committed before the batch holding 2024-06-05 was fetched.
    let may: Vec<String> = (1..=31).map(|d| format!("2024-05-{d:02}")).collect();
    let may: Vec<&str> = may.iter().map(String::as_str).collect();
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, &may, until_secs(until))
    );
    let definition: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("_gcagg_sync.json")).unwrap()).unwrap();
    assert_eq!(definition["synced_until"], "2024-06-01T00:00:00Z");

    server.script().broken_interval = None;
    let stderr = sync(&server, &dataset, &["--until", until]);
    assert!(stderr.contains("fetched 11 days (2024-05-30 to 2024-06-09"), "{stderr}");
    let mut all = may.clone();
    let june: Vec<String> = (1..=9).map(|d| format!("2024-06-{d:02}")).collect();
    all.extend(june.iter().map(String::as_str));
    assert_eq!(
        offered_by_day(&dataset),
        expected_by_day(&lake, &all, until_secs(until))
    );
}
