//! Pages flattened on several worker threads (`GCAGG_THREADS`) give the same bytes, the
//! same errors and the same rows before an error as one thread does.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::{failure, fixture, gcagg, message_of, scratch};

/// Thread counts to compare: one (everything on the main thread), and several workers.
const THREADS: [&str; 4] = ["1", "2", "3", "5"];

/// Runs `gcagg flatten ARGS` with `threads` threads; Parquet goes to `out` when given.
fn run(threads: &str, args: &[&str], inputs: &[&Path], out: Option<&Path>) -> (Output, Vec<u8>) {
    let mut cmd = gcagg();
    cmd.env("GCAGG_THREADS", threads).arg("flatten").args(args).args(inputs);
    if let Some(out) = out {
        cmd.arg("-o").arg(out);
    }
    let output = cmd.output().expect("gcagg runs");
    let bytes = match out {
        Some(out) if output.status.success() => std::fs::read(out).expect("the output file is there"),
        _ => output.stdout.clone(),
    };
    (output, bytes)
}

/// A page of the API shape: `entities` entities, each with the group keys `keys` (plus
/// `queueId`) and the metrics `metrics` (name, stats as JSON).
fn api_page(n: usize, keys: &[&str], metrics: &[(&str, &str)], entities: usize) -> String {
    let results: Vec<String> = (0..entities)
        .map(|e| {
            let mut group = format!(r#""queueId":"q{n}-{e}""#);
            for key in keys {
                group.push_str(&format!(r#","{key}":"{key}-{e}""#));
            }
            let metrics: Vec<String> = metrics
                .iter()
                .map(|(name, stats)| format!(r#"{{"metric":"{name}","stats":{stats}}}"#))
                .collect();
            format!(
                r#"{{"group":{{{group}}},"data":[{{"interval":"2024-05-0{}T00:00:00.000Z/2024-05-0{}T00:30:00.000Z","metrics":[{}]}}]}}"#,
                1 + n % 9,
                1 + n % 9,
                metrics.join(",")
            )
        })
        .collect();
    format!(r#"{{"results":[{}]}}"#, results.join(","))
}

/// Pages whose columns differ from page to page, so each worker meets them in its own order.
fn varied_pages(first: usize, count: usize) -> String {
    let keys = ["mediaType", "direction", "wrapUpCode", "userId"];
    let metrics = [
        ("nOffered", r#"{"count":3}"#),
        ("tHandle", r#"{"max":612000.0,"min":4.5e4,"count":12,"sum":2310000}"#),
        ("tTalk", r#"{"sum":1.5}"#),
        ("oServiceLevel", r#"{"ratio":0.95,"numerator":19,"denominator":20}"#),
    ];
    (first..first + count)
        .map(|n| {
            let page_keys: Vec<&str> = keys.iter().copied().skip(n % 3).take(1 + n % 2).collect();
            let page_metrics: Vec<(&str, &str)> = metrics.iter().copied().skip(n % 4).collect();
            api_page(n, &page_keys, &page_metrics, 1 + n % 4) + "\n"
        })
        .collect()
}

/// `page` padded inside with whitespace to fill a batch on its own: small pages go to the
/// workers in batches of 512 KiB (or 4096 pages), so the page after this one goes to the
/// next worker.
fn alone(page: &str) -> String {
    let (head, tail) = page.split_at(page.len() - 1);
    format!("{head}{}{tail}", " ".repeat(512 << 10))
}

/// `count` tiny pages, each with what separates it from the next: one entity each, their
/// columns varying, every fourth page empty (`{}`), and pages 2000 to 6599 all empty (a
/// batch full by its page count before its bytes); every fifth page shares its line with
/// the next one.
fn tiny_pages(count: usize) -> Vec<(String, &'static str)> {
    let keys = ["mediaType", "direction", "userId"];
    let metrics = [
        ("nOffered", r#"{"count":3}"#),
        ("tHandle", r#"{"max":612000.0,"min":4.5e4,"count":12,"sum":2310000}"#),
        ("tTalk", r#"{"sum":1.5}"#),
    ];
    (0..count)
        .map(|n| {
            let page = if n % 4 == 1 || (2000..6600).contains(&n) {
                "{}".to_owned()
            } else {
                let page_keys: Vec<&str> = keys.iter().copied().skip(n % 3).take(1 + n % 2).collect();
                api_page(n, &page_keys, &metrics[n % 3..], 1)
            };
            (page, if n % 5 == 0 { " " } else { "\n" })
        })
        .collect()
}

/// The pages as one input.
fn joined(pages: &[(String, &str)]) -> String {
    pages.iter().flat_map(|(page, sep)| [page.as_str(), sep]).collect()
}

#[test]
fn many_tiny_pages_fail_at_the_same_page_line_and_column_after_the_same_rows() {
    let bad_stat = r#"{"results":[{"group":{"queueId":"q"},"data":[{"interval":"2024-05-01T00:00:00.000Z/2024-05-01T00:30:00.000Z","metrics":[{"metric":"nOffered","stats":{"count":"7"}}]}]}]}"#;
    let malformed = r#"{"results":[{"group":{"queueId":"q"},"data":[}]}"#;
    // A data error late in the input, a page the splitter refuses among the empty pages, and
    // malformed JSON early on; each one shares its line with the page before it.
    for (number, bad, args) in [
        (15_001, bad_stat, &["--layout", "long"][..]),
        (4_321, "42", &[][..]),
        (12_345, bad_stat, &[][..]),
        (3_001, malformed, &[][..]),
    ] {
        let mut pages = tiny_pages(20_000);
        pages[number - 2].1 = " ";
        pages[number - 1].0 = bad.to_owned();
        // Where the page reports its failure from its own start, when it is alone.
        let own = failure(&[] as &[&str], bad, 1);
        let (at, what) = own
            .strip_prefix("gcagg: <stdin>:1:")
            .and_then(|rest| rest.split_once(": page 1: "))
            .unwrap_or_else(|| panic!("{own}"));
        let before = joined(&pages[..number - 1]);
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + at.parse::<usize>().unwrap();
        let (message, stdout) = same_failure(&joined(&pages), args, 1);
        let want = format!("/pages.ndjson:{line}:{column}: page {number}: {what}");
        assert!(message.ends_with(&want), "{message}\nexpected it to end with {want}");
        // The rows before the failure are those of the pages before it, on one thread.
        let dir = scratch();
        let path = dir.path().join("before.ndjson");
        std::fs::write(&path, before).unwrap();
        let (output, rows) = run("1", args, &[&path], None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            !rows.is_empty() && stdout == rows,
            "page {number}: other rows before the failure"
        );
    }
}

#[test]
fn every_thread_count_writes_the_same_bytes_in_every_format_and_layout() {
    let dir = scratch();
    let varied = dir.path().join("varied.ndjson");
    std::fs::write(&varied, varied_pages(0, 40)).unwrap();
    let more = dir.path().join("more.ndjson");
    std::fs::write(&more, varied_pages(40, 7)).unwrap();
    let tiny = dir.path().join("tiny.ndjson");
    std::fs::write(&tiny, joined(&tiny_pages(8000))).unwrap();
    let inputs: Vec<Vec<PathBuf>> = vec![
        vec![varied, more],
        vec![tiny],
        vec![fixture("async_pages.ndjson"), fixture("data_before_group.ndjson")],
        vec![fixture("users_presence.ndjson")],
        vec![
            fixture("qualifier_views.json"),
            fixture("service_level.json"),
            fixture("sync_pretty_views.json"),
        ],
        vec![
            fixture("pages_array_pretty.json"),
            fixture("array_of_pages.json"),
            fixture("empty_pages.json"),
        ],
        vec![
            fixture("seed_tutorial.json"),
            fixture("tutorial_results.json"),
            fixture("non_string_groups.json"),
        ],
        vec![
            fixture("sdk_to_json.json"),
            fixture("sdk_source_raw.json"),
            fixture("sdk_local_offsets.json"),
        ],
    ];
    let out = dir.path().join("out.parquet");
    for files in &inputs {
        let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let files = &files[..];
        for (format, target) in [("ndjson", None), ("csv", None), ("parquet", Some(out.as_path()))] {
            for layout in ["wide", "long"] {
                let args = ["--format", format, "--layout", layout];
                let (first, one) = run("1", &args, files, target);
                assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
                assert!(!one.is_empty(), "{format} {layout} {files:?}");
                for threads in &THREADS[1..] {
                    let (output, many) = run(threads, &args, files, target);
                    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
                    assert!(
                        many == one,
                        "{format} {layout} of {files:?}: {threads} threads differ from one"
                    );
                }
            }
        }
    }
}

#[test]
fn parquet_pages_and_row_groups_do_not_depend_on_the_thread_count() {
    // Enough rows that a column spans several Parquet data pages and row groups, whose
    // boundaries must not follow where each thread's pages ended.
    let stats = r#"{"count":3,"sum":1234.5,"max":99.25,"min":0.5}"#;
    let metrics: Vec<(String, &str)> = (0..10).map(|m| (format!("m{m}"), stats)).collect();
    let metrics: Vec<(&str, &str)> = metrics.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let dir = scratch();
    let out = dir.path().join("out.parquet");
    // Wide rows close their groups by size (so pages compressed on other threads than the
    // main one must count the same), long rows by count: wide needs more rows for that.
    for (layout, pages) in [("wide", 128), ("long", 16)] {
        let input: String = (0..pages)
            .map(|n| api_page(n, &["mediaType"], &metrics, 300) + "\n")
            .collect();
        let path = dir.path().join("pages.ndjson");
        std::fs::write(&path, input).unwrap();
        let args = ["--layout", layout, "--row-group-size", "100000"];
        let (_, one) = run("1", &args, &[&path], Some(&out));
        let groups = parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(one.clone()))
            .map(|file| parquet::file::reader::FileReader::metadata(&file).num_row_groups())
            .unwrap();
        assert!(groups > 1, "{layout}: {groups} row group");
        for threads in &THREADS[1..] {
            let (output, many) = run(threads, &args, &[&path], Some(&out));
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            assert!(many == one, "{layout}: {threads} threads differ from one");
        }
    }
}

#[test]
fn schema_lists_the_same_columns_and_types_whatever_the_thread_count() {
    let dir = scratch();
    let path = dir.path().join("pages.ndjson");
    // Page 13 widens `nOffered_count` to DOUBLE on another worker than that of pages 1 to 12.
    let mut input = alone(varied_pages(0, 12).trim_end()) + "\n";
    input += r#"{"entities":[{"id":"e","groups":{"queue.id":"q"},"metrics":{"nOffered_count":{"value":2.5}}}]}"#;
    input += "\n";
    std::fs::write(&path, input).unwrap();
    let schema = |threads: &str| {
        let out = gcagg()
            .env("GCAGG_THREADS", threads)
            .arg("schema")
            .arg(&path)
            .output()
            .expect("gcagg runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let one = schema("1");
    let count = one
        .lines()
        .find(|l| l.starts_with("nOffered_count "))
        .unwrap_or_default();
    assert!(count.ends_with(" DOUBLE"), "{one}");
    for threads in &THREADS[1..] {
        assert_eq!(schema(threads), one, "{threads} threads");
    }
}

/// Runs every thread count on `input` and asserts the same failure and the same stdout.
fn same_failure(input: &str, args: &[&str], code: i32) -> (String, Vec<u8>) {
    let dir = scratch();
    let path = dir.path().join("pages.ndjson");
    std::fs::write(&path, input).unwrap();
    let (first, stdout) = run("1", args, &[&path], None);
    let message = message_of(&first, code);
    for threads in &THREADS[1..] {
        let (output, bytes) = run(threads, args, &[&path], None);
        assert_eq!(message_of(&output, code), message, "{threads} threads");
        assert!(bytes == stdout, "{threads} threads wrote other rows before the failure");
    }
    (message, stdout)
}

#[test]
fn a_collision_between_pages_of_different_workers_fails_as_on_one_thread() {
    // Page 2 (the second worker's first) makes `nOffered_count` a group column: only the
    // run's registry, which saw page 1, knows that is a value column.
    let mut input = alone(&api_page(1, &[], &[("nOffered", r#"{"count":3}"#)], 2)) + "\n";
    input += &(api_page(2, &["nOffered.count"], &[], 2) + "\n");
    input += &varied_pages(3, 6);
    let (message, stdout) = same_failure(&input, &[], 1);
    assert!(
        message.contains("pages.ndjson:2:")
            && message.contains("page 2")
            && message.contains("group key `nOffered.count`"),
        "{message}"
    );
    assert_eq!(
        String::from_utf8(stdout).unwrap().lines().count(),
        2,
        "page 1's rows are written"
    );
}

#[test]
fn a_malformed_page_among_many_fails_after_the_same_rows() {
    let mut input = varied_pages(0, 9);
    input += "{\"results\":[{\"group\":{\"queueId\":\"q\"},\"data\":[}\n";
    input += &varied_pages(10, 4);
    let (message, stdout) = same_failure(&input, &["--layout", "long"], 1);
    assert!(
        message.contains("pages.ndjson:10:") && message.contains("page 10"),
        "{message}"
    );
    assert!(!stdout.is_empty());
}

#[test]
fn a_count_widened_to_double_by_another_workers_page_is_not_refused() {
    // Page 2 (tutorial shape) widens `nOffered_count` to DOUBLE; page 3, on the first worker,
    // which never saw page 2, holds a fractional count: fine, as on one thread.
    let api = |n: usize, count: &str| api_page(n, &[], &[("nOffered", &format!(r#"{{"count":{count}}}"#))], 1);
    let input = [
        alone(&api(1, "3")),
        alone(r#"{"entities":[{"id":"e","groups":{"queue.id":"q"},"metrics":{"nOffered_count":{"value":2.5}}}]}"#),
        api(3, "4.5"),
        api(4, "6"),
    ]
    .join("\n");
    let dir = scratch();
    let path = dir.path().join("pages.ndjson");
    std::fs::write(&path, input).unwrap();
    let out = dir.path().join("out.parquet");
    let (first, one) = run("1", &[], &[&path], Some(&out));
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    for threads in &THREADS[1..] {
        let (output, many) = run(threads, &[], &[&path], Some(&out));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(many == one, "{threads} threads");
    }
}

#[test]
fn gcagg_threads_must_be_a_positive_number() {
    for bad in ["0", "two", "-1"] {
        let out = gcagg()
            .env("GCAGG_THREADS", bad)
            .args(["flatten", fixture("async_pages.ndjson").to_str().unwrap()])
            .output()
            .unwrap();
        let message = message_of(&out, 2);
        assert!(message.contains(&format!("GCAGG_THREADS={bad}")), "{message}");
    }
}

#[test]
fn gcagg_threads_past_the_limit_is_lowered_with_a_warning() {
    let input = fixture("async_pages.ndjson");
    let expected = gcagg().args(["flatten"]).arg(&input).output().unwrap();
    for huge in ["1000000", "18446744073709551616"] {
        let out = gcagg()
            .env("GCAGG_THREADS", huge)
            .arg("flatten")
            .arg(&input)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, expected.stdout, "GCAGG_THREADS={huge}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("gcagg: warning: GCAGG_THREADS={huge}: using 256 threads")),
            "{stderr}"
        );
    }
}
