//! `--partition-by`: Hive-layout datasets in every format.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::assert::Assert;
use serde_json::{Map, Value as Json};
use tempfile::TempDir;

use crate::util::{fixture, gcagg, read_csv, read_parquet, tree, Value};

/// The rows of one output file, each as column → cell text (`None` for null).
type Rows = Vec<BTreeMap<String, Option<String>>>;

fn read_rows(format: &str, path: &Path) -> Rows {
    match format {
        "ndjson" => std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let row: Map<String, Json> = serde_json::from_str(l).unwrap();
                row.into_iter().map(|(k, v)| (k, Some(v.to_string()))).collect()
            })
            .collect(),
        "csv" => {
            let (header, rows) = read_csv(&std::fs::read(path).unwrap());
            rows.into_iter()
                .map(|r| header.iter().cloned().zip(r.into_iter().map(Some)).collect())
                .collect()
        }
        _ => {
            let table = read_parquet(path);
            let names = table.names();
            table
                .rows
                .into_iter()
                .map(|r| {
                    let cells = r.into_iter().map(|v| (v != Value::Null).then(|| format!("{v:?}")));
                    names.iter().cloned().zip(cells).collect()
                })
                .collect()
        }
    }
}

/// Runs flatten into a dataset; the caller checks the outcome.
fn run(dir: &Path, format: &str, keys: &str, input: &Path, extra: &[&str]) -> Assert {
    gcagg()
        .args(["flatten", "--format", format, "--partition-by", keys, "-o"])
        .arg(dir)
        .args(extra)
        .arg(input)
        .assert()
}

/// Writes a dataset; returns its files.
fn partition(dir: &Path, format: &str, keys: &str, input: &Path, extra: &[&str]) -> Vec<String> {
    run(dir, format, keys, input, extra).success();
    tree(dir)
}

#[test]
fn each_format_writes_the_same_rows_under_hive_folders() {
    let input = fixture("async_pages.ndjson");
    for format in ["ndjson", "csv", "parquet"] {
        let tmp = TempDir::new().unwrap();
        let whole = tmp.path().join(format!("whole.{format}"));
        gcagg()
            .args(["flatten", "-o"])
            .args([&whole, &input])
            .assert()
            .success();
        let mut want = read_rows(format, &whole);
        want.sort();

        let dir = tmp.path().join("lake");
        let files = partition(&dir, format, "interval_date,mediaType", &input, &[]);
        assert_eq!(
            files,
            [
                format!("interval_date=2024-05-01/mediaType=chat/part-00000.{format}"),
                format!("interval_date=2024-05-01/mediaType=voice/part-00000.{format}"),
            ],
            "{format}"
        );
        let mut got = Rows::new();
        for file in &files {
            let media = if file.contains("chat") { "chat" } else { "voice" };
            let media = match format {
                "ndjson" => format!("\"{media}\""),
                "csv" => media.to_owned(),
                _ => format!("{:?}", Value::Text(media.to_owned())),
            };
            for mut row in read_rows(format, &dir.join(file)) {
                // Partition columns live in the folder names only.
                assert!(
                    !row.contains_key("mediaType") && !row.contains_key("interval_date"),
                    "{format}"
                );
                row.insert("mediaType".into(), Some(media.clone()));
                got.push(row);
            }
        }
        got.sort();
        assert_eq!(got, want, "{format}");
    }
}

#[test]
fn a_missing_or_null_value_goes_to_the_hive_default_partition() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("lake");
    let files = partition(&dir, "csv", "userId", &fixture("varying_groups.json"), &[]);
    assert_eq!(
        files,
        [
            "userId=99dbadad-2222-4c3d-8e9f-000000000002/part-00000.csv",
            "userId=__HIVE_DEFAULT_PARTITION__/part-00000.csv",
        ]
    );
    let (header, rows) = read_csv(&std::fs::read(dir.join(&files[1])).unwrap());
    assert!(!header.contains(&"userId".to_owned()));
    assert_eq!(rows.len(), 2);
}

#[test]
fn values_are_escaped_for_paths_and_dates_are_utc() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("lake");
    let files = partition(
        &dir,
        "ndjson",
        "interval_date,interval_start,queue_id",
        &fixture("bom_unicode_offsets.json"),
        &[],
    );
    // 2024-03-31T00:00+01:00 is 2024-03-30 in UTC.
    assert_eq!(
        files,
        ["interval_date=2024-03-30/interval_start=2024-03-31T00%3A00%3A00.000+01%3A00/queue_id=q-été \"quoted\", comma/part-00000.ndjson"
            .replace('"', "%22")]
    );
}

#[test]
fn a_constant_column_partitions_and_gzip_follows_the_directory_name() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("lake.csv.gz");
    let files = partition(
        &dir,
        "csv",
        "org",
        &fixture("async_pages.ndjson"),
        &["--add-column", "org=acme"],
    );
    assert_eq!(files, ["org=acme/part-00000.csv.gz"]);
}

#[test]
fn a_non_empty_target_is_refused_unless_overwrite() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("lake");
    let input = fixture("async_pages.ndjson");
    partition(&dir, "parquet", "mediaType", &input, &[]);
    run(&dir, "parquet", "queueId", &input, &[])
        .code(2)
        .stderr(predicates::str::contains(
            "the directory is not empty; --overwrite replaces it",
        ));
    let files = partition(&dir, "parquet", "interval_date", &input, &["--overwrite"]);
    assert_eq!(files, ["interval_date=2024-05-01/part-00000.parquet"]);
    assert_eq!(tree(tmp.path()), ["lake/interval_date=2024-05-01/part-00000.parquet"]);
    // --overwrite replaces a dataset, never some other folder.
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    run(&dir, "csv", "queueId", &input, &["--overwrite"])
        .code(2)
        .stderr(predicates::str::contains("holds `notes.txt`"));
    // An empty folder is fine without --overwrite.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    partition(&empty, "csv", "mediaType", &input, &[]);
}

#[test]
fn a_failed_run_leaves_no_dataset_and_keeps_the_previous_one() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("half.ndjson");
    let good = std::fs::read_to_string(fixture("async_pages.ndjson")).unwrap();
    std::fs::write(&input, format!("{good}{}", &good[..good.len() / 2])).unwrap();
    for format in ["ndjson", "csv", "parquet"] {
        let dir = tmp.path().join("lake");
        run(&dir, format, "queueId", &input, &[])
            .code(1)
            .stderr(predicates::str::contains("truncated input"));
        assert_eq!(
            tree(tmp.path()),
            ["half.ndjson"],
            "{format}: nothing at the target, no staging left"
        );
    }
    let dir = tmp.path().join("lake");
    partition(&dir, "csv", "mediaType", &fixture("async_pages.ndjson"), &[]);
    let before = tree(&dir);
    run(&dir, "csv", "queueId", &input, &["--overwrite"]).code(1);
    assert_eq!(tree(&dir), before);
}

#[test]
fn partition_keys_are_checked() {
    let input = fixture("async_pages.ndjson");
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("lake");
    for (args, says) in [
        (
            &["--partition-by", "mediaType"][..],
            "--partition-by: name the dataset's directory with --output",
        ),
        (&["--overwrite", "-o", "x.csv"], "--partition-by"),
    ] {
        gcagg()
            .arg("flatten")
            .args(args)
            .arg(&input)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(says));
    }
    gcagg()
        .args(["flatten", "-o"])
        .args([tmp.path(), &input])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "is a directory; name a file, or add --partition-by",
        ));
    gcagg()
        .args(["flatten", "--partition-by", "mediaType", "-o"])
        .args([&dir, &input])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("name the data files' format with --format"));
    run(&dir, "csv", "nOffered_count", &input, &[])
        .code(2)
        .stderr(predicates::str::contains("a value column cannot be a partition key"));
    // A column no row has: every row is in the default partition, and a warning says so.
    run(&dir, "ndjson", "queueid", &input, &[])
        .success()
        .stderr(predicates::str::contains(
            "warning: --partition-by queueid: no row has a column",
        ));
    assert_eq!(tree(&dir), ["queueid=__HIVE_DEFAULT_PARTITION__/part-00000.ndjson"]);
}

#[test]
fn interval_date_on_rows_without_intervals_is_a_warning() {
    // The tutorial's entities have no interval: every row lands in the default partition.
    let tmp = crate::util::scratch();
    let dir = tmp.path().join("lake");
    let input = fixture("seed_tutorial.json");
    run(&dir, "csv", "interval_date", &input, &[])
        .success()
        .stdout("")
        .stderr(
            "gcagg: warning: --partition-by interval_date: no row has a column `interval_start`, \
             so every row is under interval_date=__HIVE_DEFAULT_PARTITION__\n",
        );
    assert_eq!(tree(&dir), ["interval_date=__HIVE_DEFAULT_PARTITION__/part-00000.csv"]);
}

#[test]
fn many_partitions_rotate_open_files_deterministically() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("many.ndjson");
    // Two pages that each visit 70 queues: more than the open-file cap of 64.
    let page: String = {
        let results: Vec<String> = (0..70)
            .map(|i| format!(r#"{{"group":{{"queueId":"q{i:02}"}},"data":[{{"interval":"2024-05-01T00:00:00Z/2024-05-01T00:30:00Z","metrics":[{{"metric":"nOffered","stats":{{"count":{i}}}}}]}}]}}"#))
            .collect();
        format!("{{\"results\":[{}]}}\n", results.join(","))
    };
    std::fs::write(&input, page.repeat(2)).unwrap();
    let dir = tmp.path().join("lake");
    let files = partition(&dir, "parquet", "queueId", &input, &[]);
    let again = tmp.path().join("again");
    assert_eq!(
        partition(&again, "parquet", "queueId", &input, &[]),
        files,
        "deterministic names"
    );
    // q00..q69 open in turn; each later queue closes the least recently used one, so every
    // queue's second row starts its second file.
    assert_eq!(files.len(), 140);
    assert!(files.contains(&"queueId=q00/part-00001.parquet".to_owned()));
    let mut total = 0;
    for file in &files {
        let table = read_parquet(&dir.join(file));
        let q: usize = file[9..11].parse().unwrap();
        assert_eq!(table.column("nOffered_count"), [Value::Int(q as i64)], "{file}");
        total += table.rows.len();
    }
    assert_eq!(total, 140);
}

#[test]
fn a_partition_value_too_long_for_a_folder_name_is_named_and_nothing_is_left() {
    let dir = TempDir::new().unwrap();
    let queue = "q".repeat(300);
    let page = format!(
        r#"{{"results":[{{"group":{{"queueId":"{queue}"}},"data":[{{"interval":"2024-05-01T00:00:00.000Z/2024-05-01T01:00:00.000Z","metrics":[{{"metric":"nOffered","stats":{{"count":1}}}}]}}]}}]}}"#
    );
    let input = dir.path().join("long.json");
    std::fs::write(&input, page).unwrap();
    let out = gcagg()
        .args(["flatten", "--format", "parquet", "--partition-by", "queueId", "-o"])
        .arg(dir.path().join("lake"))
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("its folder name is 308 bytes long, over the 255"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(".lake"),
        "the hidden staging folder is not named: {stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["long.json"]);
}
