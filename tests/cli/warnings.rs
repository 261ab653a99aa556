//! Runs that did less than asked say so: one `gcagg: warning:` line each on stderr, exit 0,
//! and stdout exactly what it would be without the warning.

use std::process::Output;

use crate::util::{fixture, gcagg, scratch};

/// Runs `gcagg ARGS` on `stdin`; asserts exit 0 and returns (stdout, stderr).
fn run(args: &[&std::ffi::OsStr], stdin: &str) -> (String, String) {
    let out: Output = gcagg().args(args).write_stdin(stdin).output().expect("gcagg runs");
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "{}: {stderr}", out.status);
    (stdout, stderr)
}

/// The stderr of a successful run that wrote nothing to stdout; asserts every line is a warning.
fn warnings(args: &[&std::ffi::OsStr], stdin: &str) -> String {
    let (stdout, stderr) = run(args, stdin);
    assert_eq!(stdout, "", "stdout stays empty");
    assert!(!stderr.is_empty(), "a warning is printed");
    for line in stderr.lines() {
        assert!(line.starts_with("gcagg: warning: "), "{line}");
    }
    stderr
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

#[test]
fn empty_stdin_is_a_warning_for_flatten_and_schema() {
    for command in ["flatten", "schema"] {
        let args = os(&[command]);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        for stdin in ["", "\n  \n", "[]"] {
            let stderr = warnings(&args, stdin);
            assert_eq!(stderr, "gcagg: warning: no page read: <stdin> held no response page\n");
        }
    }
}

#[test]
fn an_empty_file_is_named() {
    let dir = scratch();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let stderr = warnings(
        &[
            "flatten".as_ref(),
            "-o".as_ref(),
            dir.path().join("out.csv").as_os_str(),
            empty.as_os_str(),
        ],
        "",
    );
    assert!(stderr.contains("empty.json held no response page"), "{stderr}");
    // The output is still written, whole: a CSV of no columns and no rows.
    assert!(dir.path().join("out.csv").exists());
}

#[test]
fn an_empty_folder_is_named_once() {
    let dir = scratch();
    let stderr = warnings(&["flatten".as_ref(), dir.path().as_os_str()], "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the folder is empty"), "{stderr}");
    assert!(stderr.contains(&dir.path().display().to_string()), "{stderr}");
}

#[test]
fn a_folder_without_page_files_names_the_files_it_holds() {
    let dir = scratch();
    for name in ["page.txt", "UPPER.JSON", "_manifest.json"] {
        std::fs::write(dir.path().join(name), "{}").unwrap();
    }
    let stderr = warnings(&["schema".as_ref(), dir.path().as_os_str()], "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no page files in the folder"), "{stderr}");
    assert!(
        stderr.contains("it holds UPPER.JSON, _manifest.json, page.txt"),
        "{stderr}"
    );
}

#[test]
fn a_folder_without_pages_is_named_even_when_other_inputs_have_rows() {
    let dir = scratch();
    let page = fixture("tutorial_results.json");
    let (stdout, stderr) = run(&["flatten".as_ref(), dir.path().as_os_str(), page.as_os_str()], "");
    let alone = run(&["flatten".as_ref(), page.as_os_str()], "");
    assert_eq!(stdout, alone.0, "the rows are those of the page alone");
    assert!(!stdout.is_empty());
    assert!(
        stderr.starts_with("gcagg: warning: ") && stderr.contains("the folder is empty"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn pages_without_rows_are_pages_read_no_warning() {
    let page = fixture("empty_pages.json");
    let (_, stderr) = run(&["flatten".as_ref(), page.as_os_str()], "");
    assert_eq!(stderr, "");
}

/// One API page whose metric has the stats `count`, `sum` and (SDK spelling) `count_negative`.
const STATS_PAGE: &str = r#"{"results":[{"group":{"queueId":"q1"},"data":[{"interval":"2024-05-01T00:00:00Z/2024-05-02T00:00:00Z","metrics":[{"metric":"tTalk","stats":{"count":2,"sum":30,"count_negative":1}}]}]}]}"#;

#[test]
fn stats_that_match_nothing_are_named_with_the_stats_the_input_has() {
    let (stdout, stderr) = run(
        &["flatten".as_ref(), "--stats".as_ref(), "cnt,sum".as_ref()],
        STATS_PAGE,
    );
    assert!(
        stdout.contains(r#""tTalk_sum":30"#) && !stdout.contains("tTalk_count\""),
        "{stdout}"
    );
    assert_eq!(
        stderr,
        "gcagg: warning: --stats cnt: matched no stat; the input's stats are count, countNegative, sum\n"
    );
    // `schema` takes the same options and says the same.
    let (_, schema) = run(&["schema".as_ref(), "--stats".as_ref(), "cnt".as_ref()], STATS_PAGE);
    assert!(schema.contains("--stats cnt: matched no stat"), "{schema}");
}

#[test]
fn a_stat_named_in_both_spellings_is_named_once() {
    let (stdout, stderr) = run(
        &[
            "flatten".as_ref(),
            "--stats".as_ref(),
            "count_negative,countNegative,max".as_ref(),
        ],
        STATS_PAGE,
    );
    assert!(stdout.contains(r#""tTalk_countNegative":1"#), "{stdout}");
    assert_eq!(
        stderr,
        "gcagg: warning: --stats max: matched no stat; the input's stats are count, countNegative, sum\n"
    );
    let (_, stderr) = run(
        &[
            "flatten".as_ref(),
            "--stats".as_ref(),
            "p99,count_negative,countNegative".as_ref(),
        ],
        r#"{"results":[]}"#,
    );
    assert!(
        stderr.contains("--stats p99,countNegative: matched no stat;"),
        "{stderr}"
    );
}

#[test]
fn stats_accept_the_sdk_spelling_as_the_api_name() {
    for spelling in ["count_negative", "countNegative"] {
        let (stdout, stderr) = run(&["flatten".as_ref(), "--stats".as_ref(), spelling.as_ref()], STATS_PAGE);
        assert_eq!(stderr, "", "{spelling}");
        assert!(stdout.contains(r#""tTalk_countNegative":1"#), "{spelling}: {stdout}");
        assert!(!stdout.contains("tTalk_sum"), "{stdout}");
    }
}

#[test]
fn stats_on_a_tutorial_page_say_the_filter_applies_to_nothing() {
    let page = fixture("seed_tutorial.json");
    let (stdout, stderr) = run(
        &[
            "flatten".as_ref(),
            "--stats".as_ref(),
            "count".as_ref(),
            page.as_os_str(),
        ],
        "",
    );
    assert!(!stdout.is_empty());
    assert!(
        stderr.contains("--stats count: matched no stat; the input has no stats it applies to"),
        "{stderr}"
    );
}
