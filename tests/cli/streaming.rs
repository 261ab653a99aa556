//! Whole runs as a pipeline sees them: a reader that goes away early, byte-identical output
//! from run to run, and a single page larger than the in-memory page buffer (16 MiB).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::util::{failure, fixture, flatten, message_of, ndjson_rows, quoted, scratch};

/// Writes `pages` NDJSON pages of one entity each to `path`.
fn write_many_pages(path: &std::path::Path, pages: usize) {
    let mut text = String::new();
    for i in 0..pages {
        writeln!(
            text,
            r#"{{"results":[{{"group":{{"queueId":"q{i}","mediaType":"voice"}},"data":[{{"interval":"2024-05-01T00:00:00.000Z/2024-05-01T00:30:00.000Z","metrics":[{{"metric":"nOffered","stats":{{"count":{i}}}}}]}}]}}]}}"#
        )
        .unwrap();
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    let dir = scratch();
    let big = dir.path().join("big.ndjson");
    write_many_pages(&big, 40_000);
    for format in ["ndjson", "csv"] {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("gcagg"))
            .args(["flatten", "--format", format])
            .arg(&big)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here, like `head -1` exiting.
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert!(first.starts_with(if format == "csv" {
            "queueId,"
        } else {
            "{\"queueId\":\"q0\""
        }));
        assert!(status.success(), "{format}: {status}, stderr {stderr:?}");
        assert_eq!(stderr, "", "{format}");
    }
}

#[test]
fn a_pipe_into_head_exits_0_without_a_message() {
    let dir = scratch();
    let big = dir.path().join("big.ndjson");
    write_many_pages(&big, 40_000);
    // POSIX sh has no pipefail: gcagg's own status is written to a file.
    let script = r#"{ "$0" flatten "$1" 2>"$2"; echo $? >"$3"; } | head -n 1 >/dev/null"#;
    let status_file = dir.path().join("status");
    let stderr_file = dir.path().join("stderr");
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(assert_cmd::cargo::cargo_bin("gcagg"))
        .arg(&big)
        .arg(&stderr_file)
        .arg(&status_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out);
    assert_eq!(std::fs::read_to_string(&status_file).unwrap().trim(), "0");
    assert_eq!(std::fs::read_to_string(&stderr_file).unwrap(), "");
}

#[test]
fn the_same_input_gives_byte_identical_output() {
    let inputs = [
        fixture("varying_groups.json"),
        fixture("sdk_to_json.json"),
        fixture("users_presence.ndjson"),
        fixture("async_job"),
        fixture("seed_tutorial.json"),
    ];
    for format in ["ndjson", "csv"] {
        for layout in ["wide", "long"] {
            let mut args: Vec<&std::ffi::OsStr> = vec![
                "--format".as_ref(),
                format.as_ref(),
                "--layout".as_ref(),
                layout.as_ref(),
            ];
            args.extend(inputs.iter().map(|p| p.as_os_str()));
            let first = flatten(&args, "");
            let second = flatten(&args, "");
            assert!(first.status.success());
            assert!(first.stdout.len() > 1000);
            assert_eq!(first.stdout, second.stdout, "{format} {layout}");
        }
    }
}

/// What the generator put into the big page, to compare the output with.
struct Expected {
    rows: usize,
    handle_sum: u64,
    queues: Vec<String>,
    ratios: Vec<String>,
}

/// One page of `results` spread over many lines, over `min_bytes` long. Some group values
/// carry escapes, some results put `data` before `group`, ratios are spelled in varied ways.
fn big_page(min_bytes: usize) -> (String, Expected) {
    let mut page = String::from("{\"results\": [\n");
    let mut want = Expected {
        rows: 0,
        handle_sum: 0,
        queues: Vec::new(),
        ratios: Vec::new(),
    };
    let spellings = ["0.5", "5.0E-1", "0.47586206896551725", "1", "1.0", "2e-3"];
    let mut i = 0u64;
    while page.len() < min_bytes {
        let queue = if i.is_multiple_of(97) {
            format!("q\"{i}\"\u{e9}")
        } else {
            format!("q{i}")
        };
        let group = format!(r#""group": {{"queueId": {}, "mediaType": "voice"}}"#, quoted(&queue));
        let mut data = String::from(r#""data": ["#);
        for j in 0..3u64 {
            let sum = i * 1000 + j;
            let ratio = spellings[((i + j) % spellings.len() as u64) as usize];
            if j > 0 {
                data.push(',');
            }
            write!(
                data,
                r#"{{"interval": "2024-05-01T0{j}:00:00.000Z/2024-05-01T0{j}:30:00.000Z", "metrics": [{{"metric": "tHandle", "stats": {{"count": 1, "sum": {sum}}}}}, {{"metric": "oServiceLevel", "stats": {{"ratio": {ratio}}}}}]}}"#
            )
            .unwrap();
            want.rows += 1;
            want.handle_sum += sum;
            want.queues.push(queue.clone());
            want.ratios.push(ratio.to_owned());
        }
        data.push(']');
        if i > 0 {
            page.push_str(",\n");
        }
        if i.is_multiple_of(5) {
            write!(page, "  {{{data},\n    {group}}}").unwrap();
        } else {
            write!(page, "  {{{group},\n    {data}}}").unwrap();
        }
        i += 1;
    }
    page.push_str("\n]}");
    (page, want)
}

#[test]
fn a_page_over_16_mib_is_streamed_row_by_row_and_positions_stay_exact() {
    let (page, want) = big_page(17 << 20);
    let last =
        r#"{"results":[{"group":{"queueId":"after"},"data":[{"metrics":[{"metric":"tHandle","stats":{"sum":5}}]}]}]}"#;
    let input = format!("{page} {last}\n  {{\"bad\": true}}\n");
    let bad_line = input.lines().count();
    let dir = scratch();
    let path = dir.path().join("big.json");
    std::fs::write(&path, &input).unwrap();
    let out = flatten(&[&path], "");

    // The page after the big one is read from the right place, and so is the bad one.
    let message = message_of(&out, 1);
    assert!(
        message.contains(&format!("big.json:{bad_line}:3: page 3: not an aggregate response")),
        "{message}"
    );
    let rows = ndjson_rows(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows.len(), want.rows + 1);
    let (big, after) = rows.split_at(want.rows);
    assert_eq!(after[0].text("queueId"), "after");
    let sum: u64 = big.iter().map(|r| r.text("tHandle_sum").parse::<u64>().unwrap()).sum();
    assert_eq!(sum, want.handle_sum);
    let queues: Vec<&str> = big.iter().map(|r| r.text("queueId")).collect();
    assert_eq!(queues, want.queues);
    let ratios: Vec<&str> = big.iter().map(|r| r.text("oServiceLevel_ratio")).collect();
    assert_eq!(ratios, want.ratios);
    assert!(big.iter().all(|r| r.keys()[..2] == ["queueId", "mediaType"]));
}

#[test]
fn an_observation_element_in_a_page_over_16_mib_is_refused_at_the_same_place() {
    let (page, _) = big_page(17 << 20);
    let page = format!(
        "{},\n{}]}}",
        page.strip_suffix("]}").unwrap(),
        crate::errors::OBSERVATION
    );
    let dir = scratch();
    let path = dir.path().join("big.json");
    std::fs::write(&path, &page).unwrap();
    let out = flatten(&[&path], "");
    let want = crate::errors::observation_message(&path.display().to_string(), &page);
    assert_eq!(message_of(&out, 1), want);
}

#[test]
fn a_malformed_page_over_16_mib_fails_in_the_words_it_fails_in_below() {
    // Each page once as written and once padded past the in-memory page buffer with
    // whitespace after its `{`: the two runs must give the same message.
    let interval = r#""interval":"2024-05-01T00:00:00Z/2024-05-02T00:00:00Z""#;
    let pages: Vec<Vec<u8>> = vec![
        br#"{"results":[{"group":{"q":"a"},"data":["#.to_vec(),
        br#"{"results":[{"group":{"q":"a"#.to_vec(),
        br#"{"results":[{"group":"#.to_vec(),
        br#"{"results":[5]}"#.to_vec(),
        br#"{"results":[1.5]}"#.to_vec(),
        br#"{"results":[true]}"#.to_vec(),
        br#"{"results":["a, expected b"]}"#.to_vec(),
        br#"{"results":"x"}"#.to_vec(),
        br#"{"results":[{"group":{},"data":[{"interval":7,"metrics":[]}]}]}"#.to_vec(),
        format!(r#"{{"results":[{{"group":{{}},"data":[{{{interval},"metrics":[{{"metric":5}}]}}]}}]}}"#).into_bytes(),
        b"{\"results\":[{\"group\":{\"q\":\"\xff\"},\"data\":[]}]}".to_vec(),
    ];
    let dir = scratch();
    let (small, big) = (dir.path().join("small.json"), dir.path().join("big.json"));
    // The message without its `FILE:LINE:COLUMN: ` (the padding moves the column).
    let message = |path: &std::path::Path| {
        let message = message_of(&flatten(&[path], ""), 1);
        let at = message.find(": page ").expect("a page position");
        message[at + 2..].to_owned()
    };
    for page in pages {
        std::fs::write(&small, &page).unwrap();
        let mut padded = b"{".to_vec();
        padded.resize(17 << 20, b' ');
        padded.extend_from_slice(&page[1..]);
        std::fs::write(&big, &padded).unwrap();
        let want = message(&small);
        assert_eq!(message(&big), want, "{}", String::from_utf8_lossy(&page));
    }
}

/// The line and column (from 1, columns in bytes) of byte `at` of `text`.
fn position(text: &[u8], at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |nl| nl + 1) + 1;
    (line, column)
}

/// Flattens `input` (written to a file) with `args`; the output, or the one-line message.
fn run_on(dir: &std::path::Path, name: &str, input: &[u8], args: &[&str]) -> (Vec<u8>, Option<String>) {
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    let mut argv: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    argv.push(path.as_os_str());
    let out = flatten(&argv, "");
    let message = (!out.status.success()).then(|| message_of(&out, 1));
    (out.stdout, message)
}

/// `count` results of three data points each, as `(group, data)` JSON texts; every tenth
/// group value has escapes, stats are spelled in varied ways.
fn results(count: usize) -> Vec<(String, String)> {
    let spellings = ["0.5", "5.0E-1", "1", "2e-3", "150784.0"];
    (0..count)
        .map(|i| {
            let queue = if i % 10 == 0 { format!("q\\\"{i}\\u00e9") } else { format!("q{i}") };
            let group = format!(r#"{{"queueId":"{queue}","mediaType":"voice"}}"#);
            let points: Vec<String> = (0..3)
                .map(|j| {
                    let ratio = spellings[(i + j) % spellings.len()];
                    format!(
                        r#"{{"interval":"2024-05-01T0{j}:00:00.000Z/2024-05-01T0{j}:30:00.000Z","metrics":[{{"metric":"tHandle","stats":{{"count":{j},"sum":{i}}}}},{{"metric":"oServiceLevel","stats":{{"ratio":{ratio}}}}}],"views":[{{"name":"v","stats":{{"count":{i}}}}}]}}"#
                    )
                })
                .collect();
            (group, format!("[{}]", points.join(",\n ")))
        })
        .collect()
}

/// One result, its keys in the order the API writes them or sorted (`data` first).
fn result((group, data): &(String, String), sorted: bool) -> String {
    if sorted {
        format!(r#"{{"data":{data},"group":{group}}}"#)
    } else {
        format!(r#"{{"group":{group},"data":{data}}}"#)
    }
}

/// Enough results for a page over 16 MiB.
const OVER_16_MIB: usize = 17 << 20;

fn results_over(bytes: usize) -> Vec<(String, String)> {
    let one: usize = results(1).iter().map(|(g, d)| g.len() + d.len()).sum();
    results(bytes / one + 1)
}

#[test]
fn a_page_over_16_mib_with_sorted_keys_gives_the_rows_of_the_page_as_written() {
    let all = results_over(OVER_16_MIB);
    let page = |sorted: bool| {
        let list: Vec<String> = all.iter().map(|r| result(r, sorted)).collect();
        if sorted {
            format!("{{\"cursor\":null,\"results\":[\n{}]}}", list.join(",\n"))
        } else {
            format!("{{\"results\":[\n{}],\"cursor\":null}}", list.join(",\n"))
        }
    };
    // The same results as many small pages: each read whole, from a buffer.
    let small: String = all
        .iter()
        .map(|r| format!("{{\"results\":[{}]}}\n", result(r, false)))
        .collect();
    let dir = scratch();
    for format in ["ndjson", "csv"] {
        let args = ["--format", format];
        let (want, failed) = run_on(dir.path(), "small.ndjson", small.as_bytes(), &args);
        assert_eq!(failed, None);
        assert!(want.len() > 1 << 20);
        for sorted in [false, true] {
            let (got, failed) = run_on(dir.path(), "big.json", page(sorted).as_bytes(), &args);
            assert_eq!(failed, None);
            assert!(got == want, "{format}, sorted keys: {sorted}");
        }
    }
}

#[test]
fn a_single_result_over_16_mib_is_read_in_either_key_order() {
    let all = results_over(OVER_16_MIB);
    let group = &all[0].0;
    // One result holding every data point, under a `results` array or as a page of its own.
    let points: Vec<&str> = all.iter().map(|(_, d)| &d[1..d.len() - 1]).collect();
    let data = format!("[{}]", points.join(",\n"));
    let one = (group.clone(), data);
    let small: String = points
        .iter()
        .map(|p| format!("{{\"results\":[{{\"group\":{group},\"data\":[{p}]}}]}}\n"))
        .collect();
    let dir = scratch();
    let (want, failed) = run_on(dir.path(), "small.ndjson", small.as_bytes(), &[]);
    assert_eq!(failed, None);
    for sorted in [false, true] {
        for page in [
            format!("{{\"results\":[{}]}}", result(&one, sorted)),
            result(&one, sorted),
        ] {
            let (got, failed) = run_on(dir.path(), "big.json", page.as_bytes(), &[]);
            assert_eq!(failed, None);
            assert!(got == want, "sorted keys: {sorted}, {}", &page[..20]);
        }
    }
}

#[test]
fn an_error_deep_in_a_page_over_16_mib_is_reported_at_its_line_and_column() {
    let all = results_over(OVER_16_MIB);
    let bad_at = all.len() - 3;
    let rows_before = 3 * bad_at + 1;
    let with_bad_stat = |text: &str| text.replacen("\"sum\":", "\"sum\":\"x\",\"was\":", 1);
    // The bad stat is in the second data point of result `bad_at`.
    let bad_result = |(group, data): &(String, String)| {
        let second = data.find("},\n {").unwrap();
        let (head, tail) = data.split_at(second);
        (group.clone(), format!("{head}{}", with_bad_stat(tail)))
    };
    let mut damaged = all.clone();
    damaged[bad_at] = bad_result(&all[bad_at]);
    let dir = scratch();
    let expect = |page: &str, name: &str, rows: usize| {
        let at = page.find("\"x\"").unwrap();
        let (line, column) = position(page.as_bytes(), at);
        let path = dir.path().join(name);
        let want = format!(
            "gcagg: {}:{line}:{column}: page 1: stat `sum` is not a number: \"x\"",
            path.display()
        );
        let (out, message) = run_on(dir.path(), name, page.as_bytes(), &[]);
        assert_eq!(message.as_deref(), Some(want.as_str()), "{name}");
        assert_eq!(ndjson_rows(&String::from_utf8(out).unwrap()).len(), rows, "{name}");
    };
    // In an element of a cut `results[]`.
    let list: Vec<String> = damaged.iter().map(|r| result(r, false)).collect();
    expect(
        &format!("{{\"results\":[\n{}]}}", list.join(",\n")),
        "results.json",
        rows_before,
    );
    // In a data point of a result over 16 MiB, its group first or last (the data then waits
    // for it, and is checked for syntax first, for types once the group is known).
    let points: Vec<&str> = damaged.iter().map(|(_, d)| &d[1..d.len() - 1]).collect();
    let one = (all[0].0.clone(), format!("[{}]", points.join(",\n")));
    expect(&result(&one, false), "result.json", rows_before);
    expect(&result(&one, true), "sorted.json", rows_before);
    // A syntax error after the cut list, in the page's own keys.
    let list: Vec<String> = all.iter().map(|r| result(r, false)).collect();
    let page = format!("{{\"results\":[\n{}],\n  \"cursor\" x}}", list.join(",\n"));
    let (line, column) = position(page.as_bytes(), page.rfind('x').unwrap());
    let path = dir.path().join("syntax.json");
    let (out, message) = run_on(dir.path(), "syntax.json", page.as_bytes(), &[]);
    let want = format!("gcagg: {}:{line}:{column}: page 1: expected `:`", path.display());
    assert_eq!(message.as_deref(), Some(want.as_str()));
    assert_eq!(ndjson_rows(&String::from_utf8(out).unwrap()).len(), 3 * all.len());
}

#[test]
fn invalid_utf8_in_an_ignored_string_is_refused_at_any_page_size() {
    let data = r#""data":[{"interval":"s/e","metrics":[{"metric":"m","stats":{"count":1}}]}]"#;
    let metric = data.find("\"metric\":").unwrap();
    let (head, tail) = data.as_bytes().split_at(metric);
    let noted = [head, b"\"note\":\"\xff\",", tail].concat();
    let bodies: Vec<Vec<u8>> = vec![
        b"\"results\":[],\"x\":\"\xff\"}".to_vec(),
        b"\"cursor\":\"a\xc3\",\"results\":[]}".to_vec(),
        [
            &b"\"results\":[{\"note\":\"\xfe\",\"group\":{},"[..],
            data.as_bytes(),
            b"}]}",
        ]
        .concat(),
        [&b"\"results\":[{\"group\":{},"[..], &noted, b"}]}"].concat(),
        [&b"\"results\":[{"[..], &noted, b",\"group\":{}}]}"].concat(),
    ];
    let dir = scratch();
    for body in bodies {
        // The bad byte is on line 2 of a small page and of the same page padded past 16 MiB
        // (in an ignored key of the page or of its result): the message must be the same.
        let small = [&b"{\"pad\":\"\",\n"[..], &body].concat();
        let pad = "x".repeat(OVER_16_MIB);
        let big = [format!("{{\"pad\":\"{pad}\",\n").as_bytes(), &body].concat();
        let nested = body.windows(12).position(|w| w == b"\"results\":[{").map(|at| {
            let (head, tail) = body.split_at(at + 12);
            [&b"{\n"[..], head, format!("\"pad\":\"{pad}\",").as_bytes(), tail].concat()
        });
        let at = small.iter().position(|&b| b >= 0x80).unwrap();
        let (line, column) = position(&small, at);
        let text = String::from_utf8_lossy(&body).into_owned();
        for (name, page) in [
            ("small.json", Some(small.clone())),
            ("big.json", Some(big)),
            ("nested.json", nested),
        ] {
            let Some(page) = page else { continue };
            let at = page.iter().position(|&b| b >= 0x80).unwrap();
            let want = format!(
                "gcagg: {}:{}:{}: page 1: invalid UTF-8 in the input",
                dir.path().join(name).display(),
                position(&page, at).0,
                position(&page, at).1
            );
            let (_, message) = run_on(dir.path(), name, &page, &[]);
            assert_eq!(message.as_deref(), Some(want.as_str()), "{name}: {text}");
            if name == "big.json" {
                assert_eq!(position(&page, at), (line, column), "{text}");
            }
        }
    }
}

/// Fuzzing finds: a page with a syntax error and, later, bytes that are not UTF-8 was
/// refused at the bad bytes read whole and at the syntax error read cut (in a result's
/// element, in a `data[]` read before its `group`), or the other way round when the bad
/// bytes follow the page's end or the error is a control character in their string; and a
/// wrong literal at a result's end was "expected value" read whole but "truncated input"
/// read cut; a page ending inside a string with an unfinished UTF-8 sequence was "invalid
/// UTF-8" read whole but "truncated input" read cut. The first failure in reading order is
/// the one reported, in the same words, at any page size.
#[test]
fn the_first_of_two_failures_is_reported_at_any_page_size() {
    let control = "control character (\\u0000-\\u001F) found while parsing a string";
    // `PAD` is padding: empty, then enough for a page (or one result) over 16 MiB; `@` marks
    // the failure's byte (a control character, or the byte after the mark).
    let cases: [(&[u8], &str); 7] = [
        (
            b"{\"pad\":\"PAD\",\n\"results\":[{\"group\":{\"queueId\":\"q\\u0001@\x01\"},\"data\":[]},{\"group\":{\"queueId\":\"\xcc\x91\x8b\"},\"data\":[]}]}",
            control,
        ),
        (
            b"{\"results\":[{\"data\":[{\"inter@\x01val\":\"s/e\",\"metrics\":[{\"metric\":\"\xcc\x91\x8b\"}]}],\n\"pad\":\"PAD\",\"group\":{}}]}",
            control,
        ),
        (b"{\"pad\":\"PAD\",\n\"entities\"@}\xe4\x92\x9a\x8b", "expected `:`"),
        // A wrong literal at the end of a result, which a cut page reads as a part ending there.
        (
            b"{\"pad\":\"PAD\",\n\"results\":[{\"group\":{\"isOutbound\":@f}]},{\"group\":{},\"data\":[]}]}",
            "expected value",
        ),
        // A control character in an open string, bytes that are not UTF-8 later in it.
        (
            b"{\"pad\":\"PAD\",\n\"results\":[{\"group\":{},\"data\":[{\"interval\":\"2024@\x00\x00\x87\x00\"}]}]}",
            control,
        ),
        // A leading surrogate's escape cut short by such bytes: they are the first failure.
        (
            b"{\"pad\":\"PAD\",\n\"results\":[{\"group\":{\"q\":\"\\ud800\\@\xff\"}}]}",
            "invalid UTF-8 in the input",
        ),
        // A page cut off in a string by the start of a UTF-8 sequence that never ends.
        (
            b"{\"pad\":\"PAD\",\n\"jobId\":\"7a5e1A6c-0f2d-4e8a@\xc9",
            "invalid UTF-8 in the input",
        ),
    ];
    let dir = scratch();
    let pad = "x".repeat(OVER_16_MIB);
    for (i, (template, what)) in cases.iter().enumerate() {
        let at = template.windows(3).position(|w| w == b"PAD").unwrap();
        for (size, fill) in [("small", ""), ("big", pad.as_str())] {
            let page = [&template[..at], fill.as_bytes(), &template[at + 3..]].concat();
            let mark = page.iter().position(|&b| b == b'@').unwrap();
            let page = [&page[..mark], &page[mark + 1..]].concat();
            let (line, column) = position(&page, mark);
            let name = format!("{size}-{i}.json");
            let want = format!(
                "gcagg: {}:{line}:{column}: page 1: {what}",
                dir.path().join(&name).display()
            );
            let (_, message) = run_on(dir.path(), &name, &page, &[]);
            assert_eq!(message.as_deref(), Some(want.as_str()), "{name}");
        }
    }
}

/// A fuzzing find: a stat that is a string was reported at its last byte by one parser and
/// past it by the other. It is reported at its first byte, the column serde_json gives
/// that byte, as every other wrong value is, at any page size.
#[test]
fn a_string_stat_is_reported_at_the_first_byte_of_its_value() {
    let bad = std::fs::read_to_string(fixture("stat_is_string.json")).unwrap();
    let bad = bad.trim_end();
    let at = bad.find("\"877\"").unwrap();
    // serde_json's column for that byte: where it stops on a byte that starts no value.
    let probe = format!("{}x{}", &bad[..at], &bad[at + 1..]);
    let serde = serde_json::from_str::<serde_json::Value>(&probe).unwrap_err();
    assert_eq!((serde.line(), serde.column()), (1, at + 1));
    let message = failure(&["-"], bad, 1);
    assert_eq!(
        message,
        format!(
            "gcagg: <stdin>:1:{}: page 1: stat `count` is not a number: \"877\"",
            at + 1
        )
    );
    // The same result after results filling 16 MiB, on a line of its own.
    let inner = &bad["{\"results\":[".len()..bad.len() - 2];
    let filler: Vec<String> = results_over(OVER_16_MIB).iter().map(|r| result(r, false)).collect();
    let big = format!("{{\"results\":[{},\n{inner}]}}", filler.join(","));
    let (line, column) = position(big.as_bytes(), big.find("\"877\"").unwrap());
    assert_eq!(column, at + 1 - "{\"results\":[".len());
    let message = failure(&["-"], big, 1);
    assert_eq!(
        message,
        format!("gcagg: <stdin>:{line}:{column}: page 1: stat `count` is not a number: \"877\"")
    );
}
