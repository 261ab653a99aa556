//! Whole runs as a pipeline sees them: a reader that goes away early, byte-identical output
//! from run to run, and a single page larger than the in-memory page buffer (16 MiB).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::util::{fixture, flatten, message_of, ndjson_rows, quoted, scratch};

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
