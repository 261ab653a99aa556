//! flatten's meter of long runs: bytes read and rows, on a terminal only (fetch's and
//! names' progress are tested with them, against the fake API).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::util::{csv_rows, fixture, on_a_terminal};

/// Longer than the meter waits before it shows.
const LONG: Duration = Duration::from_millis(2600);

/// The pages of `fixtures/async_pages.ndjson`, split in two.
fn two_halves() -> (Vec<u8>, Vec<u8>) {
    let pages = std::fs::read(fixture("async_pages.ndjson")).unwrap();
    let cut = pages.iter().position(|&b| b == b'\n').unwrap() + 1;
    (pages[..cut].to_vec(), pages[cut..].to_vec())
}

/// Feeds `input` the first half of the pages, waits [`LONG`], then the rest.
fn feed_slowly(mut input: impl Write) {
    let (first, rest) = two_halves();
    input.write_all(&first).unwrap();
    input.flush().unwrap();
    std::thread::sleep(LONG);
    input.write_all(&rest).unwrap();
}

/// The CSV of the whole fixture, as a quick run writes it.
fn expected_csv(dir: &Path) -> Vec<Vec<String>> {
    let input = fixture("async_pages.ndjson");
    let status = flatten_in(dir, &["-o".as_ref(), "quick.csv".as_ref(), input.as_os_str()])
        .status()
        .unwrap();
    assert!(status.success());
    csv_rows(&std::fs::read_to_string(dir.join("quick.csv")).unwrap())
}

#[test]
fn a_long_flatten_off_a_terminal_says_nothing() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("rows.csv");
    let mut child = flatten_in(dir.path(), &["-o".as_ref(), out.as_os_str()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    feed_slowly(child.stdin.take().unwrap());
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success());
    assert_eq!(String::from_utf8_lossy(&done.stderr), "");
    let rows = csv_rows(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(rows, expected_csv(dir.path()));
}

/// `gcagg flatten ARGS` in `dir`.
fn flatten_in(dir: &Path, args: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("gcagg"));
    cmd.arg("flatten").args(args).current_dir(dir);
    cmd
}

#[test]
fn a_long_flatten_on_a_terminal_shows_bytes_read_and_rows_then_clears_them() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("pages.ndjson");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let cmd = flatten_in(dir.path(), &["-o".as_ref(), "rows.csv".as_ref(), fifo.as_os_str()]);
    let shown = on_a_terminal(&cmd, || {
        feed_slowly(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    });
    assert!(shown.contains("gcagg: "), "{shown:?}");
    assert!(shown.contains(" read, "), "{shown:?}");
    assert!(shown.contains(" rows"), "{shown:?}");
    // Cleared at the end: the last thing on the terminal is the erased line.
    assert!(shown.ends_with("\u{1b}[2K"), "{shown:?}");
    let rows = csv_rows(&std::fs::read_to_string(dir.path().join("rows.csv")).unwrap());
    assert_eq!(rows, expected_csv(dir.path()));
}

#[test]
fn a_quick_flatten_on_a_terminal_shows_nothing() {
    let dir = TempDir::new().unwrap();
    let input = fixture("async_pages.ndjson");
    let cmd = flatten_in(dir.path(), &["-o".as_ref(), "rows.csv".as_ref(), input.as_os_str()]);
    let shown = on_a_terminal(&cmd, || {});
    assert_eq!(shown, "");
}
