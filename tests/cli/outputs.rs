//! Output files (SPEC §3): the format follows `-o`'s extension, `.gz` compresses, `--format`
//! overrides, and an extension gcagg cannot read is a usage error that writes nothing.

use std::path::Path;

use crate::util::{failure, fixture, gunzip, scratch, stdout_of};

/// Flattens the varying-groups fixture with `args` plus `-o path`, returns what the file holds
/// (decompressed for `.gz`).
fn written(args: &[&str], path: &Path) -> String {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let input = fixture("varying_groups.json");
    all.extend(["-o".as_ref(), path.as_os_str(), input.as_os_str()]);
    assert_eq!(stdout_of(&all, ""), "", "nothing on stdout with -o");
    if path.extension().is_some_and(|e| e == "gz") {
        gunzip(path)
    } else {
        std::fs::read_to_string(path).expect("the output file is written")
    }
}

/// What `--format FORMAT` prints on stdout for the same input.
fn printed(format: &str) -> String {
    stdout_of(
        &["--format", format],
        std::fs::read(fixture("varying_groups.json")).unwrap(),
    )
}

#[test]
fn the_output_extension_chooses_the_format_and_gz_compresses() {
    let dir = scratch();
    let (ndjson, csv) = (printed("ndjson"), printed("csv"));
    assert!(csv.starts_with("mediaType,divisionId,userId,interval_start"), "{csv}");
    for (name, want) in [
        ("rows.ndjson", &ndjson),
        ("rows.jsonl", &ndjson),
        ("rows.json", &ndjson),
        ("rows.csv", &csv),
        ("rows.ndjson.gz", &ndjson),
        ("rows.jsonl.gz", &ndjson),
        ("rows.json.gz", &ndjson),
        ("rows.csv.gz", &csv),
    ] {
        let path = dir.path().join(name);
        assert_eq!(&written(&[], &path), want, "-o {name}");
        let head = std::fs::read(&path).unwrap();
        assert_eq!(
            head.starts_with(&[0x1f, 0x8b]),
            name.ends_with(".gz"),
            "{name} compressed?"
        );
    }
}

#[test]
fn format_overrides_the_extension() {
    let dir = scratch();
    assert_eq!(
        written(&["--format", "csv"], &dir.path().join("rows.ndjson")),
        printed("csv")
    );
    assert_eq!(
        written(&["--format", "ndjson"], &dir.path().join("rows.csv.gz")),
        printed("ndjson")
    );
    assert_eq!(
        written(&["--format", "csv"], &dir.path().join("rows.txt")),
        printed("csv")
    );
}

#[test]
fn an_existing_output_file_is_replaced() {
    let dir = scratch();
    let path = dir.path().join("rows.csv");
    std::fs::write(&path, "x".repeat(100_000)).unwrap();
    assert_eq!(written(&[], &path), printed("csv"));
}

#[test]
fn an_unknown_output_extension_is_a_usage_error_that_writes_nothing() {
    let dir = scratch();
    let input = fixture("varying_groups.json");
    for name in ["rows.txt", "rows", "rows.gz", "rows.tsv.gz"] {
        let path = dir.path().join(name);
        let args = ["-o".as_ref(), path.as_os_str(), input.as_os_str()];
        let message = failure(&args, "", 2);
        assert!(message.contains("--output") && message.contains(name), "{message}");
        assert!(!path.exists(), "{name} must not be created");
    }
}

#[test]
fn an_output_that_is_also_an_input_is_refused_and_the_input_kept() {
    let dir = scratch();
    let page = std::fs::read(fixture("varying_groups.json")).unwrap();
    let input = dir.path().join("day.json");
    std::fs::write(&input, &page).unwrap();
    for args in [
        vec!["-o".as_ref(), input.as_os_str(), input.as_os_str()],
        vec![
            "--format".as_ref(),
            "csv".as_ref(),
            "-o".as_ref(),
            input.as_os_str(),
            dir.path().as_os_str(),
        ],
    ] {
        let message = failure(&args, "", 2);
        assert!(
            message.contains("--output") && message.contains("day.json"),
            "{message}"
        );
        assert_eq!(std::fs::read(&input).unwrap(), page, "the input is untouched");
    }
}
