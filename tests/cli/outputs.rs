//! Output files (SPEC §3): the format follows `-o`'s extension, `.gz` compresses, `--format`
//! overrides, and an extension gcagg cannot read is a usage error that writes nothing.

use std::path::Path;

use crate::util::{failure, fixture, gcagg, gunzip, scratch, stdout_of};

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
        ("rows.csv", &csv),
        ("rows.ndjson.gz", &ndjson),
        ("rows.jsonl.gz", &ndjson),
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

/// The rows of a `.json` output, which must be one JSON array of objects.
fn array_rows(text: &str) -> Vec<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(text).expect("a .json output is one JSON document");
    let rows = value.as_array().expect("the document is an array").clone();
    assert!(
        rows.iter().all(serde_json::Value::is_object),
        "every element is a row object"
    );
    rows
}

/// NDJSON text as values, to compare with an array's elements.
fn line_values(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_json_output_is_one_array_of_the_ndjson_rows() {
    let dir = scratch();
    for layout in ["wide", "long"] {
        let ndjson = line_values(&written(
            &["--layout", layout],
            &dir.path().join(format!("{layout}.ndjson")),
        ));
        assert!(ndjson.len() > 1, "the fixture gives several rows");
        for name in ["rows.json", "rows.json.gz"] {
            let path = dir.path().join(format!("{layout}-{name}"));
            assert_eq!(
                array_rows(&written(&["--layout", layout], &path)),
                ndjson,
                "--layout {layout} -o {name}"
            );
        }
        let printed = stdout_of(
            &["--layout", layout, "--format", "json"],
            std::fs::read(fixture("varying_groups.json")).unwrap(),
        );
        assert_eq!(array_rows(&printed), ndjson, "--format json on stdout");
        assert_eq!(
            array_rows(&written(
                &["--layout", layout, "--format", "json"],
                &dir.path().join("x.ndjson")
            )),
            ndjson,
            "--format json overrides .ndjson"
        );
    }
}

#[test]
fn a_json_output_of_no_rows_is_an_empty_array() {
    let dir = scratch();
    let path = dir.path().join("none.json");
    let input = fixture("empty_pages.json");
    assert_eq!(
        stdout_of(&["--format".as_ref(), "ndjson".as_ref(), input.as_os_str()], ""),
        "",
        "the fixture has no rows"
    );
    stdout_of(&["-o".as_ref(), path.as_os_str(), input.as_os_str()], "");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[]\n");
    assert_eq!(
        stdout_of(&["--format".as_ref(), "json".as_ref(), input.as_os_str()], ""),
        "[]\n"
    );
}

#[test]
fn a_json_dataset_holds_one_array_per_file() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    let args = ["--format", "json", "--partition-by", "interval_date"];
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let input = fixture("varying_groups.json");
    all.extend(["-o".as_ref(), lake.as_os_str(), input.as_os_str()]);
    stdout_of(&all, "");
    let files: Vec<_> = walk(&lake)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!files.is_empty(), "the dataset has .json files");
    let rows: usize = files
        .iter()
        .map(|f| array_rows(&std::fs::read_to_string(f).unwrap()).len())
        .sum();
    assert_eq!(rows, line_values(&printed("ndjson")).len());
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
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

#[test]
fn object_group_values_from_pretty_pages_stay_on_one_ndjson_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pretty.json");
    let flatten = |pages: &str| {
        std::fs::write(&path, pages).unwrap();
        let out = gcagg().arg("flatten").arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = flatten("{\"results\": [{\n  \"group\": {\"queueId\": \"q1\", \"routing\": {\n    \"skills\": [\"a b\", \"c\"],\n    \"note\": \"say \\\"hi\\\"\"\n  }},\n  \"data\": [{\"interval\": \"2024-05-01T00:00:00.000Z/2024-05-01T01:00:00.000Z\",\n    \"metrics\": [{\"metric\": \"nOffered\", \"stats\": {\"count\": 2}}]}]\n}]}\n");
    assert_eq!(text.lines().count(), 1, "{text}");
    let row: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        row["routing"],
        serde_json::json!({"skills": ["a b", "c"], "note": "say \"hi\""})
    );
    assert_eq!(row["nOffered_count"], 2);
    // An array group value, and a tutorial entity whose `id` is an object, pretty-printed.
    let text = flatten("{\"entities\": [{\"id\": {\n  \"a\": [1,\n 2]\n}, \"groups\": {\"queue.id\": \"q\"}, \"metrics\": {\"nOffered_count\": {\"value\": 2.5}}}]}\n{\"results\": [{\"group\": {\"queueId\": \"q2\", \"skills\": [\n \"x\",\n  \"y z\"\n]}, \"data\": [{\"interval\": \"2024-05-01T00:00:00.000Z/2024-05-01T01:00:00.000Z\", \"metrics\": [{\"metric\": \"nOffered\", \"stats\": {\"count\": 1}}]}]}]}\n");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains(r#""aggregate_id":{"a":[1,2]}"#), "{text}");
    assert!(lines[1].contains(r#""skills":["x","y z"]"#), "{text}");
}
