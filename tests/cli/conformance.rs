//! The project's conformance suite: every case of `fixtures/conformance/cases.tsv` run
//! through the real binary and compared with its expected output.
//!
//! A case line is `name<TAB>flatten arguments<TAB>inputs<TAB>exit code`, inputs relative to
//! `fixtures/conformance/`. A case that must succeed is compared with `expected/<name>.out`:
//! NDJSON row by row (key order, values, number spelling), CSV cell by cell. A case that must
//! fail must exit with its code and say why in one line starting with `gcagg:`.

use std::path::PathBuf;

use crate::util::{csv_rows, first_difference, gcagg, ndjson_rows, one_line_failure};

struct Case {
    name: String,
    args: Vec<String>,
    inputs: Vec<String>,
    code: i32,
}

fn root() -> PathBuf {
    crate::util::fixture("conformance")
}

fn cases() -> Vec<Case> {
    let table = std::fs::read_to_string(root().join("cases.tsv")).expect("cases.tsv is readable");
    table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [name, args, inputs, code] = fields[..] else {
                panic!("a case has four tab-separated fields: {line:?}");
            };
            assert!(
                !args.contains(['"', '\'']),
                "case {name}: arguments are split on spaces, without quotes"
            );
            Case {
                name: name.to_owned(),
                args: args.split_whitespace().map(str::to_owned).collect(),
                inputs: inputs.split_whitespace().map(str::to_owned).collect(),
                code: code.parse().expect("the exit code is a number"),
            }
        })
        .collect()
}

/// Why a case failed, or `None` if it passed.
fn check(case: &Case) -> Option<String> {
    let out = gcagg()
        .current_dir(root())
        .arg("flatten")
        .args(&case.args)
        .args(&case.inputs)
        .output()
        .expect("gcagg runs");
    if case.code != 0 {
        return one_line_failure(&out, case.code).err();
    }
    if !out.status.success() {
        return Some(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let got = String::from_utf8_lossy(&out.stdout);
    let want = std::fs::read_to_string(root().join("expected").join(format!("{}.out", case.name)))
        .expect("the expected output exists");
    let csv = case.args.windows(2).any(|w| w == ["--format", "csv"]);
    if csv {
        first_difference(&csv_rows(&got), &csv_rows(&want))
    } else {
        first_difference(&ndjson_rows(&got), &ndjson_rows(&want))
    }
}

#[test]
fn every_case_matches_its_expected_output() {
    let cases = cases();
    assert!(cases.len() >= 70, "the suite lost cases: {}", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| check(case).map(|why| format!("FAIL {}: {why}", case.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_output_belongs_to_a_succeeding_case() {
    let cases = cases();
    let mut names: Vec<String> = std::fs::read_dir(root().join("expected"))
        .expect("expected/ is readable")
        .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut wanted: Vec<String> = cases
        .iter()
        .filter(|c| c.code == 0)
        .map(|c| format!("{}.out", c.name))
        .collect();
    wanted.sort();
    assert_eq!(names, wanted);
    let mut seen = std::collections::HashSet::new();
    assert!(cases.iter().all(|c| seen.insert(&c.name)), "case names are unique");
}
