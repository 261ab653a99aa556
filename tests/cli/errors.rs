//! Errors and exit codes (SPEC §4): usage errors exit 2 before any input is read, bad input
//! exits 1 with one line `gcagg: <source>:<line>:<column>: ...` that names what is wrong,
//! rows written before the error stay whole, and no input makes gcagg panic.

use crate::util::{failure, fixture, flatten, gcagg, message_of, ndjson_rows};

/// Asserts that flattening the fixture `name` (with `args` before it) fails with exit 1 and a
/// message that names the file and holds every fragment.
fn fixture_fails(args: &[&str], name: &str, fragments: &[&str]) {
    let path = fixture(name);
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.push(path.as_os_str());
    let message = failure(&all, "", 1);
    assert!(message.starts_with(&format!("gcagg: {}:", path.display())), "{message}");
    assert_mentions(&message, fragments);
}

/// Asserts that the message holds every fragment.
fn assert_mentions(message: &str, fragments: &[&str]) {
    for fragment in fragments {
        assert!(message.contains(fragment), "message lacks {fragment:?}: {message}");
    }
}

// ---- usage errors: exit 2 -------------------------------------------------------------------

/// Runs a command line clap refuses: exit 2 and a message naming the offending argument.
fn assert_refused_by_parser(args: &[&str], names: &str) {
    let out = gcagg().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(names), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn command_lines_the_parser_refuses_exit_2() {
    assert_refused_by_parser(&["flatten", "--frobnicate"], "--frobnicate");
    assert_refused_by_parser(&["flatten", "--layout", "diagonal"], "diagonal");
    assert_refused_by_parser(&["flatten", "--format", "xml"], "xml");
    assert_refused_by_parser(&["frobnicate"], "frobnicate");
}

fails!(
    add_column_needs_a_name_and_value,
    ["--add-column", "org"],
    "{}",
    2,
    "--add-column org"
);
fails!(
    add_column_names_are_unique,
    ["--add-column", "a=1", "--add-column", "a=2"],
    "{}",
    2,
    "--add-column a"
);
fails!(stats_needs_a_stat, ["--stats", ","], "{}", 2, "--stats");
fails!(
    add_column_cannot_take_a_long_layout_column,
    ["--layout", "long", "--add-column", "metric=x"],
    "{}",
    2,
    "--add-column metric"
);

#[test]
fn usage_errors_are_found_before_any_input_is_read() {
    let message = failure(&["--add-column", "org", "/no/such/file.json"], "", 2);
    assert!(
        message.contains("--add-column") && !message.contains("/no/such"),
        "{message}"
    );
}

// ---- bad input: exit 1, one line naming source, line, column and page ------------------------

#[test]
fn an_api_error_body_is_reported_with_status_code_message_and_context_id() {
    fixture_fails(
        &[],
        "api_error_400.json",
        &[
            "api_error_400.json:2:1: page 2: ",
            "status 400",
            "bad.request",
            "the end is before the start",
            "0c4c1a0e-1f7a-4c8b-9a1d-5d0f3e2b7a61",
        ],
    );
    fixture_fails(
        &["--format", "csv"],
        "api_error_403.json",
        &[
            ":1:1: page 1: ",
            "status 403",
            "missing.any.permissions",
            "analytics:userAggregate:view",
            "9d0a7d55-6a53-4c1b-8f6e-2c7d4e1b0f3a",
        ],
    );
}

#[test]
fn rows_before_a_data_error_stay_whole() {
    let out = flatten(&[fixture("api_error_400.json")], "");
    message_of(&out, 1);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with('\n'));
    let rows = ndjson_rows(&text);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].text("nOffered_count"), "1");
}

#[test]
fn a_page_of_neither_shape_is_not_an_aggregate_response() {
    fixture_fails(
        &[],
        "async_job_submitted.json",
        &[":1:1: page 1: ", "not an aggregate response", "`jobId`"],
    );
    let token_error =
        r#"{"error":"invalid_client","description":"bad credentials","error_description":"bad credentials"}"#;
    let message = failure(&["-"], token_error, 1);
    assert_mentions(
        &message,
        &["gcagg: <stdin>:1:1: page 1: not an aggregate response", "`error`"],
    );
}

#[test]
fn a_truncated_page_is_reported_as_truncated() {
    fixture_fails(&[], "truncated.json", &["truncated.json:2:", "page 2: truncated input"]);
    // The input ends right after the newline of its 12th line: columns count from 1.
    let at_end = ":13:1: page 1: truncated input";
    fixture_fails(&["--format", "csv"], "truncated_pretty.json", &[at_end]);
}

#[test]
fn invalid_utf8_is_reported_where_it_is() {
    // The Latin-1 byte of "Résolu" is byte 53 of the line.
    fixture_fails(&[], "invalid_utf8.json", &["invalid_utf8.json:1:53: page 1: "]);
}

#[test]
fn stats_must_be_numbers() {
    fixture_fails(
        &[],
        "stat_is_string.json",
        &["page 1: ", "stat `count` is not a number: \"877\""],
    );
    for bad in ["true", "[1]", "{}"] {
        let page = format!(r#"{{"results":[{{"data":[{{"metrics":[{{"metric":"n","stats":{{"sum":{bad}}}}}]}}]}}]}}"#);
        assert_mentions(&failure(&["-"], page, 1), &["stat `sum` is not a number"]);
    }
}

#[test]
fn an_interval_without_a_slash_is_an_error() {
    fixture_fails(
        &[],
        "interval_without_slash.json",
        &["interval `2024-05-01T00:00:00.000Z` is not `start/end`"],
    );
}

#[test]
fn a_metric_or_view_without_a_name_is_an_error() {
    fixture_fails(
        &[],
        "metric_without_name.json",
        &["page 1: ", "a metric without a `metric` name"],
    );
    let view = r#"{"results":[{"data":[{"views":[{"stats":{"count":1}}]}]}]}"#;
    assert_mentions(&failure(&["-"], view, 1), &["a view without a `name`"]);
}

// ---- collisions name both sources (§2.2) -----------------------------------------------------

#[test]
fn two_group_keys_that_become_one_column_are_an_error() {
    fixture_fails(
        &[],
        "group_keys_collide.json",
        &["queue_id", "`queue.id`", "group key `queue_id`"],
    );
    fixture_fails(
        &[],
        "tutorial_groups_collide.json",
        &["`queue.id`", "group key `queue_id`"],
    );
}

#[test]
fn a_group_key_that_is_also_a_value_column_is_an_error() {
    fixture_fails(
        &[],
        "group_key_is_value_column.json",
        &["group key `nOffered_count`", "metric `nOffered` stat `count`"],
    );
}

#[test]
fn a_group_key_that_is_also_a_fixed_column_is_an_error() {
    let interval = r#"{"results":[{"group":{"interval_start":"x"},"data":[{"interval":"s/e"}]}]}"#;
    assert_mentions(
        &failure(&["-"], interval, 1),
        &["group key `interval_start`", "`interval`"],
    );
    let id = r#"{"entities":[{"id":"e1","groups":{"aggregate_id":"x"},"metrics":{}}]}"#;
    assert_mentions(&failure(&["-"], id, 1), &["group key `aggregate_id`", "`id`"]);
    let long = r#"{"results":[{"group":{"stat":"x"},"data":[{"metrics":[{"metric":"n","stats":{"count":1}}]}]}]}"#;
    assert_mentions(
        &failure(&["--layout", "long"], long, 1),
        &["group key `stat`", "long layout"],
    );
    assert_eq!(
        crate::util::stdout_of::<&str>(&[], long),
        "{\"stat\":\"x\",\"n_count\":1}\n"
    );
}

#[test]
fn an_added_column_that_is_also_a_group_key_is_an_error() {
    let dir = fixture("async_job");
    let args = ["--add-column".as_ref(), "mediaType=voice".as_ref(), dir.as_os_str()];
    assert_mentions(
        &failure(&args, "", 1),
        &["--add-column mediaType", "group key `mediaType`"],
    );
}

#[test]
fn two_stats_that_become_one_column_are_an_error() {
    fixture_fails(&[], "sdk_and_api_stat_names.json", &["tTalk_countNegative"]);
    fixture_fails(&[], "duplicate_stat_key.json", &["nOffered_count"]);
    let qualified = r#"{"results":[{"data":[{"metrics":[{"metric":"a_b","stats":{"sum":1}},{"metric":"a","qualifier":"b","stats":{"sum":2}}]}]}]}"#;
    assert_mentions(&failure(&["-"], qualified, 1), &["a_b_sum"]);
}

// ---- where: line, column, page, source -------------------------------------------------------

const GOOD_PAGE: &str =
    r#"{"results":[{"group":{"q":"a"},"data":[{"interval":"s/e","metrics":[{"metric":"n","stats":{"count":1}}]}]}]}"#;

#[test]
fn a_page_after_several_lines_is_located_by_line_and_page() {
    let body = r#"{"status":429,"code":"too.many.requests","message":"Rate limit exceeded the maximum. Retry the request in [3] seconds","contextId":"c-1"}"#;
    let input = format!("{GOOD_PAGE}\n{GOOD_PAGE}\n\n{{\"cursor\":\"x\"}}\n{body}\n");
    let message = failure(&["-"], input, 1);
    assert_mentions(
        &message,
        &[
            "gcagg: <stdin>:5:1: page 4: API error response: status 429, code too.many.requests",
            "(contextId c-1)",
        ],
    );
}

#[test]
fn columns_count_from_where_the_page_starts() {
    let two_on_a_line = format!("{GOOD_PAGE} {{\"bad\":1}}");
    let at = GOOD_PAGE.len() + 2;
    assert_mentions(
        &failure(&["-"], two_on_a_line, 1),
        &[&format!("<stdin>:1:{at}: page 2: ")],
    );
    let array = format!("[{GOOD_PAGE}, 3]");
    let at = GOOD_PAGE.len() + 4;
    assert_mentions(
        &failure(&["-"], array, 1),
        &[&format!("<stdin>:1:{at}: page 2: "), "found a number"],
    );
    assert_mentions(&failure(&["-"], "\u{feff}{\"bad\":1}", 1), &["<stdin>:1:1: page 1: "]);
    assert_mentions(
        &failure(&["-"], "{}\r\n\r\n  {\"bad\":1}", 1),
        &["<stdin>:3:3: page 2: "],
    );
}

#[test]
fn a_syntax_error_points_at_the_offending_character() {
    assert_mentions(
        &failure(&["-"], "{}\n{\"results\": x}", 1),
        &["<stdin>:2:13: page 2: expected value"],
    );
}

#[test]
fn an_error_deep_in_a_pretty_page_points_at_its_line() {
    let page = "{\n  \"results\": [\n    {\"group\": {\"q\": \"a\"},\n     \"data\": [{\"interval\": \"s/e\",\n       \"metrics\": [{\"metric\": \"n\", \"stats\": {\"count\": \"7\"}}]}]}\n  ]\n}\n";
    let input = format!("{GOOD_PAGE}\n{page}");
    let line = input.lines().position(|l| l.contains("\"7\"")).unwrap() + 1;
    let start = input.lines().nth(line - 1).unwrap().find("\"7\"").unwrap() + 1;
    let message = failure(&["-"], input, 1);
    let (at, _) = message.split_once(": page 2: ").expect("names page 2");
    let (at_line, at_column) = at.trim_start_matches("gcagg: <stdin>:").split_once(':').unwrap();
    assert_eq!(at_line.parse::<usize>().unwrap(), line, "{message}");
    let column: usize = at_column.parse().unwrap();
    assert!(
        (start..=start + 3).contains(&column),
        "column {column} is not at `\"7\"` ({start}): {message}"
    );
}

#[test]
fn an_error_in_a_later_file_names_that_file_and_its_own_page() {
    let good = fixture("tutorial_results.json");
    let bad = fixture("not_aggregate.json");
    let out = flatten(&[&good, &bad], "");
    let message = message_of(&out, 1);
    assert!(
        message.starts_with(&format!("gcagg: {}:1:1: page 1: ", bad.display())),
        "{message}"
    );
    assert_eq!(ndjson_rows(&String::from_utf8(out.stdout).unwrap()).len(), 1);
}

// ---- never a panic ---------------------------------------------------------------------------

#[test]
fn malformed_input_never_panics() {
    let deep = "[".repeat(200_000);
    let nested_group = format!(
        "{{\"results\":[{{\"group\":{{\"q\":{}1{}}}}}]}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let inputs: Vec<Vec<u8>> = [
        "{",
        "}",
        "[",
        "]",
        "[{",
        "[{}",
        "\"",
        "nul",
        "1e",
        "{\"results\":[{\"group\":",
        "{\"results\":[{\"data\":[{\"metrics\":[{\"metric\":\"n\",\"stats\":{\"count\":1e}}]}]}]}",
        "{\"results\":[{\"data\":[{\"interval\":7}]}]}",
        "{\"results\":[{\"group\":{\"q\":\"\\ud800\"}}]}",
        "{\"entities\":[{\"metrics\":{\"m\":{\"value\":\"x\"}}}]}",
        "{\"results\":[],\"entities\":[]}",
        "\u{0}",
        "\u{feff}",
        "\u{feff}\u{feff}{}",
        &deep,
        &nested_group,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([
        vec![0x1f, 0x8b, 0x08, 0x00],
        vec![0xff; 64],
        b"{\"results\":[{\"group\":{\"q\":\"\xc3\x28\"}}]}".to_vec(),
    ])
    .collect();
    for input in inputs {
        for format in ["ndjson", "csv"] {
            let out = flatten(&["--format", format], input.clone());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{stderr}");
            if !out.status.success() {
                message_of(&out, 1);
            }
        }
    }
}

// ---- data[] elements holding values gcagg does not read: exit 1, never a silent drop -------

/// The message `page` (an observation element last in it, after an aggregate's data point
/// in the same `data[]`) gets: the element's closing brace is the position.
pub fn observation_message(name: &str, page: &str) -> String {
    let end = page.rfind("}]}]}").expect("the page ends with the observation element");
    let line = page[..end].matches('\n').count() + 1;
    let column = end - page[..end].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("gcagg: {name}:{line}:{column}: page 1: data[] mixes observation metrics and aggregate data points")
}

/// A result whose `data[]` holds an aggregate's data point, then an observation's metric.
pub const OBSERVATION: &str =
    r#"{"group":{"queueId":"q1"},"data":[{"interval":"s/e","metrics":[]},{"metric":"oWaiting","stats":{"count":3}}]}"#;

#[test]
fn a_data_array_mixing_observation_and_aggregate_elements_is_refused() {
    let page = format!(r#"{{"results":[{OBSERVATION}]}}"#);
    let out = flatten(&[] as &[&str], page.as_str());
    assert_eq!(message_of(&out, 1), observation_message("<stdin>", &page));
}

#[test]
fn a_data_key_with_a_value_gcagg_does_not_read_is_refused() {
    let point = |extra: &str| {
        format!(
            r#"{{"results":[{{"group":{{"queueId":"q1"}},"data":[{{"interval":"2024-05-01T00:00:00Z/2024-05-01T00:30:00Z","metrics":[{{"metric":"nOffered","stats":{{"count":1}}}}]{extra}}}]}}]}}"#
        )
    };
    for extra in [
        r#","extra":{"count":2}"#,
        r#","extra":[1]"#,
        r#","extra":"x""#,
        r#","extra":0"#,
    ] {
        let message = failure(&[] as &[&str], point(extra), 1);
        let key = &extra[2..extra.find("\":").unwrap()];
        assert_mentions(
            &message,
            &[
                "<stdin>:1:",
                &format!("data[] element has \"{key}\", a key flatten does not read"),
            ],
        );
    }
    let message = failure(&[] as &[&str], point(r#","truncated":true"#), 1);
    assert_mentions(
        &message,
        &["<stdin>:1:", "data[] element has \"truncated\" but no \"metric\" name"],
    );
    // Keys the SDKs and the observation responses send empty carry nothing to lose.
    let plain = crate::util::stdout_of(&[] as &[&str], point(""));
    let empty = r#","views":null,"truncated":false,"observations":[],"qualifier":null,"x":{ "y":[null] }"#;
    assert_eq!(crate::util::stdout_of(&[] as &[&str], point(empty)), plain);
}

#[test]
fn every_stderr_line_of_a_usage_error_starts_gcagg() {
    let out = gcagg().args(["flatten", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        "gcagg: unexpected argument '--bogus' found (see --help)\n\
         gcagg: tip: to pass '--bogus' as a value, use '-- --bogus'\n"
    );
    let out = gcagg().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: gcagg <COMMAND>"));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "gcagg: name a command; `gcagg --help` lists them\n"
    );
}
