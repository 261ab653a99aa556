//! Interrupted and failed runs leave every earlier output as it was and no temporary behind:
//! the binary is started, sent SIGINT, SIGTERM or SIGHUP once its temporary exists, and the
//! folder is listed afterwards.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{fixture, flatten, scratch, tree};

/// Every entry under `dir`, hidden ones and folders included, relative to it, sorted.
fn everything(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Starts `gcagg ARGS` in `dir` with a piped stdin.
fn start(dir: &Path, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("gcagg"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gcagg starts")
}

/// Waits until an entry of `dir` (not one of `before`) starts with `prefix`; returns it.
fn wait_for_temporary(dir: &Path, before: &[String], prefix: &str, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(name) = everything(dir)
            .into_iter()
            .find(|n| !before.contains(n) && n.starts_with(prefix))
        {
            return name;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("gcagg ended ({status}) before its temporary appeared");
        }
        assert!(Instant::now() < deadline, "no temporary {prefix}* in {}", dir.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` (a name such as `INT`) to the child.
fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {signal}");
}

/// Waits for the child; asserts it died of `signal` (what makes a shell report 128 + its
/// number) after one `gcagg:` line on stderr; returns its stdout.
fn died_of(child: Child, signal: i32) -> Vec<u8> {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(signal), "{}; stderr: {stderr}", out.status);
    assert!(
        stderr.lines().count() == 1 && stderr.starts_with("gcagg: interrupted by SIG"),
        "{stderr:?}"
    );
    out.stdout
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// A page of the API shape with `n` entities, one line.
fn page(n: usize, seed: usize) -> String {
    let results: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"group":{{"queueId":"q{i}","mediaType":"voice"}},"data":[{{"interval":"2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z","metrics":[{{"metric":"nOffered","stats":{{"count":{seed}}}}},{{"metric":"tHandle","stats":{{"max":{i}.5,"min":1.25,"count":3,"sum":{seed}.75}}}}]}}]}}"#
            )
        })
        .collect();
    format!("{{\"results\":[{}]}}\n", results.join(","))
}

#[test]
fn an_interrupted_file_output_keeps_the_earlier_file_and_nothing_else() {
    for (name, signal, number) in [
        ("out.csv", "INT", SIGINT),
        ("out.ndjson", "TERM", SIGTERM),
        ("out.ndjson.gz", "HUP", SIGHUP),
        ("out.csv.gz", "TERM", SIGTERM),
        ("out.parquet", "INT", SIGINT),
    ] {
        let dir = scratch();
        std::fs::write(dir.path().join(name), "earlier").unwrap();
        let before = everything(dir.path());
        let mut child = start(dir.path(), &["flatten", "-o", name]);
        // Some pages arrive, then the input stays open: the run is under way.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(page(50, 1).as_bytes()).unwrap();
        stdin.flush().unwrap();
        let temp = wait_for_temporary(dir.path(), &before, &format!(".{name}."), &mut child);
        assert!(temp.ends_with(".tmp"), "{temp}");
        send(&child, signal);
        died_of(child, number);
        drop(stdin);
        assert_eq!(everything(dir.path()), before, "{name}: only the earlier file");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            "earlier",
            "{name}"
        );
    }
}

#[test]
fn an_interrupted_dataset_keeps_the_earlier_dataset_and_nothing_else() {
    let dir = scratch();
    let input = fixture("async_pages.ndjson");
    let made = flatten(
        &[
            "--format".as_ref(),
            "csv".as_ref(),
            "--partition-by".as_ref(),
            "mediaType".as_ref(),
            "-o".as_ref(),
            dir.path().join("lake").as_os_str(),
            input.as_os_str(),
        ],
        "",
    );
    assert!(made.status.success());
    let before = everything(dir.path());
    let mut child = start(
        dir.path(),
        &[
            "flatten",
            "--format",
            "parquet",
            "--partition-by",
            "queueId",
            "--overwrite",
            "-o",
            "lake",
        ],
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(page(50, 1).as_bytes()).unwrap();
    wait_for_temporary(dir.path(), &before, ".lake.", &mut child);
    send(&child, "TERM");
    died_of(child, SIGTERM);
    drop(stdin);
    assert_eq!(everything(dir.path()), before);
}

#[test]
fn a_run_interrupted_while_busy_on_a_large_input_leaves_nothing() {
    // A large generated input, fed as fast as gcagg reads it; the signal arrives while every
    // thread is at work.
    let dir = scratch();
    let pages: String = (0..400).map(|seed| page(200, seed)).collect();
    for (args, prefix) in [
        (vec!["flatten", "-o", "big.parquet"], ".big.parquet."),
        (vec!["flatten", "--layout", "long", "-o", "big.csv"], ".big.csv."),
        (
            vec!["flatten", "--partition-by", "queueId", "-o", "lake.csv"],
            ".lake.csv.",
        ),
    ] {
        let mut child = start(dir.path(), &args);
        let mut stdin = child.stdin.take().unwrap();
        let input = pages.clone();
        let feeder = std::thread::spawn(move || {
            // The pipe breaks when gcagg dies: that is expected.
            let _ = stdin.write_all(input.as_bytes());
        });
        wait_for_temporary(dir.path(), &[], prefix, &mut child);
        send(&child, "INT");
        died_of(child, SIGINT);
        feeder.join().unwrap();
        assert_eq!(everything(dir.path()), Vec::<String>::new(), "{args:?}");
    }
}

#[test]
fn stdout_keeps_streaming_until_the_signal() {
    let dir = scratch();
    let mut child = start(dir.path(), &["flatten"]);
    // Rows that overflow the pipe: the first reach stdout while the run is still busy (it
    // waits for the reader), so stdout is streamed, never staged like a file target.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(page(3000, 7).as_bytes()).unwrap();
    drop(stdin);
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 12];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(&first, br#"{"queueId":""#);
    assert!(child.try_wait().unwrap().is_none(), "the run waits for its reader");
    send(&child, "INT");
    died_of(child, SIGINT);
    assert!(everything(dir.path()).is_empty());
}

#[test]
fn a_failed_run_keeps_the_earlier_file_in_every_format() {
    let dir = scratch();
    let input = fixture("truncated.json");
    for name in [
        "prev.ndjson",
        "prev.jsonl.gz",
        "prev.csv",
        "prev.csv.gz",
        "prev.parquet",
    ] {
        let target = dir.path().join(name);
        std::fs::write(&target, "earlier").unwrap();
        let out = flatten(&["-o".as_ref(), target.as_os_str(), input.as_os_str()], "");
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "earlier", "{name}");
        std::fs::remove_file(&target).unwrap();
        assert!(everything(dir.path()).is_empty(), "{name}: no temporary left");
    }
}

#[test]
fn outputs_get_the_modes_the_umask_allows() {
    let dir = scratch();
    let input = fixture("async_pages.ndjson");
    let gcagg = assert_cmd::cargo::cargo_bin("gcagg");
    for (umask, file_mode, dir_mode) in [("022", 0o644, 0o755), ("027", 0o640, 0o750)] {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && \"$0\" flatten -o rows.csv \"$1\" && \"$0\" flatten --partition-by mediaType -o lake.ndjson \"$1\""
            ))
            .arg(&gcagg)
            .arg(&input)
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let mode = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("rows.csv"), file_mode, "umask {umask}");
        assert_eq!(mode("lake.ndjson"), dir_mode, "umask {umask}");
        let data = tree(&dir.path().join("lake.ndjson"));
        let first = data.first().expect("a data file");
        assert_eq!(mode(&format!("lake.ndjson/{first}")), file_mode, "umask {umask}");
        let folder = first.split('/').next().unwrap();
        assert_eq!(mode(&format!("lake.ndjson/{folder}")), dir_mode, "umask {umask}");
        std::fs::remove_file(dir.path().join("rows.csv")).unwrap();
        std::fs::remove_dir_all(dir.path().join("lake.ndjson")).unwrap();
    }
}
