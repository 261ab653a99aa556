//! Inputs (SPEC §1): files in the order given, directories, stdin, gzip, byte-order marks,
//! how pages are laid out in a file, and pages that hold no data.

use std::path::Path;

use crate::util::{csv_rows, failure, fixture, gcagg, ndjson_rows, scratch, stdout_of};

/// NDJSON rows of `gcagg flatten` over these inputs (stdin empty).
fn rows_of<P: AsRef<Path>>(inputs: &[P]) -> String {
    let args: Vec<&std::ffi::OsStr> = inputs.iter().map(|p| p.as_ref().as_os_str()).collect();
    stdout_of(&args, "")
}

#[test]
fn files_are_read_in_the_order_given() {
    let (a, b) = (fixture("tutorial_results.json"), fixture("service_level.json"));
    let ab = rows_of(&[&a, &b]);
    assert_eq!(ab, rows_of(&[&a]) + &rows_of(&[&b]));
    assert_ne!(ab, rows_of(&[&b, &a]));
    assert_eq!(ab.lines().count(), 3);
}

#[test]
fn a_directory_stands_for_its_page_files_in_name_order() {
    let dir = fixture("async_job");
    let pages = ["page-001.json", "page-002.json.gz", "page-003.json"].map(|n| dir.join(n));
    let rows = rows_of(&[&dir]);
    assert_eq!(rows, rows_of(&pages));
    assert_eq!(rows.lines().count(), 4);
    // `_manifest.json` is not a page (it would be an error), `.hidden.json` is a page that
    // must not be read, and `notes.txt` has no page extension.
    assert!(!rows.contains("should-never-appear"), "{rows}");
    assert_eq!(rows_of(&[&dir, &pages[0]]), rows + &rows_of(&[&pages[0]]));
}

#[test]
fn a_directory_without_page_files_holds_no_rows() {
    let dir = scratch();
    std::fs::write(dir.path().join("_SUCCESS"), "").unwrap();
    let out = crate::util::flatten(&[dir.path()], "");
    assert!(out.status.success() && out.stdout.is_empty());
    // The warning is tests/cli/warnings.rs's subject.
    assert!(String::from_utf8_lossy(&out.stderr).contains("it holds _SUCCESS"));
}

#[test]
fn dash_reads_stdin_in_its_place_among_files() {
    let (a, b) = (fixture("tutorial_results.json"), fixture("service_level.json"));
    let piped = std::fs::read(fixture("varying_groups.json")).unwrap();
    let args = [a.as_os_str(), "-".as_ref(), b.as_os_str()];
    let want = rows_of(&[&a]) + &rows_of(&[fixture("varying_groups.json")]) + &rows_of(&[&b]);
    assert_eq!(stdout_of(&args, piped.clone()), want);
    assert_eq!(stdout_of::<&str>(&[], piped.clone()), stdout_of(&["-"], piped));
}

#[test]
fn csv_from_stdin_has_every_column_in_its_header_even_one_first_seen_in_the_last_page() {
    let pages = concat!(
        r#"{"results":[{"group":{"queueId":"q1"},"data":[{"interval":"s/e","metrics":[{"metric":"nOffered","stats":{"count":1}}]}]}]}"#,
        "\n{}\n",
        r#"{"results":[{"group":{"queueId":"q2","mediaType":"chat"},"data":[{"interval":"s/e","metrics":[{"metric":"tAbandon","stats":{"count":2}}]}]}]}"#,
    );
    let want =
        "queueId,mediaType,interval_start,interval_end,nOffered_count,tAbandon_count\nq1,,s,e,1,0\nq2,chat,s,e,0,2\n";
    assert_eq!(stdout_of(&["--format", "csv"], pages), want);
    assert_eq!(stdout_of(&["--format", "csv", "-"], pages), want);
}

#[test]
fn csv_header_is_the_union_over_every_input() {
    let inputs = [fixture("tutorial_results.json"), fixture("users_presence.ndjson")];
    let mut args = vec!["--format".as_ref(), "csv".as_ref()];
    args.extend(inputs.iter().map(|p| p.as_os_str()));
    let rows = csv_rows(&stdout_of(&args, ""));
    let columns: Vec<&str> = rows[0].iter().map(String::as_str).collect();
    // The users page's qualifier columns come after the first file's, and the column that
    // only the very last page brings is there too.
    assert_eq!(
        &columns[..5],
        ["mediaType", "queueId", "userId", "interval_start", "interval_end"]
    );
    assert_eq!(columns.last(), Some(&"tSystemPresence_OFFLINE_sum"));
    let first_row = &rows[1];
    assert_eq!(
        first_row.last().map(String::as_str),
        Some("0"),
        "zero-filled in earlier rows"
    );
    assert!(rows.iter().all(|r| r.len() == columns.len()));
}

#[test]
fn gzip_is_recognised_by_its_magic_bytes_not_its_name() {
    let dir = scratch();
    let disguised = dir.path().join("pages.json");
    std::fs::copy(fixture("async_pages.ndjson.gz"), &disguised).unwrap();
    let plain = rows_of(&[fixture("async_pages.ndjson")]);
    assert_eq!(plain.lines().count(), 3);
    assert_eq!(rows_of(&[fixture("async_pages.ndjson.gz")]), plain);
    assert_eq!(rows_of(&[&disguised]), plain);
    let gz = std::fs::read(fixture("async_pages.ndjson.gz")).unwrap();
    assert_eq!(stdout_of::<&str>(&[], gz.clone()), plain, "gzip on stdin");
    assert_eq!(
        stdout_of(&["--format", "csv"], gz),
        stdout_of(&["--format", "csv"], plain_input())
    );
}

fn plain_input() -> Vec<u8> {
    std::fs::read(fixture("async_pages.ndjson")).unwrap()
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let gz = std::fs::read(fixture("async_pages.ndjson.gz")).unwrap();
    let twice = [gz.clone(), gz].concat();
    let once = rows_of(&[fixture("async_pages.ndjson")]);
    assert_eq!(stdout_of::<&str>(&[], twice), once.repeat(2));
}

#[test]
fn a_byte_order_mark_is_skipped_on_files_and_stdin() {
    let with_bom = std::fs::read(fixture("bom_crlf.json")).unwrap();
    assert!(with_bom.starts_with(b"\xEF\xBB\xBF"));
    let rows = ndjson_rows(&stdout_of::<&str>(&[], with_bom));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].keys()[0], "queueId");
    assert_eq!(rows[0].text("wrapUpCode"), "Vente conclue à distance");
    assert_eq!(rows_of(&[fixture("bom_crlf.json")]).lines().count(), 1);
}

golden!(
    pages_may_follow_each_other_with_any_whitespace_or_none,
    [],
    "{\"entities\":[{\"metrics\":{\"a\":1}}]}{\"entities\":[{\"metrics\":{\"a\":2}}]}\t\r\n \
     {\n  \"entities\": [{\"metrics\": {\"a\": 3}}]\n}\r\n\r\n{\"entities\":[{\"metrics\":{\"a\":4}}]}",
    "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n"
);

golden!(
    a_top_level_array_of_pages_may_be_followed_by_more_pages,
    [],
    "[ {\"entities\":[{\"metrics\":{\"a\":1}}]} ,\n {}, {\"results\":null}, {\"entities\":[{\"metrics\":{\"a\":2}}]} ]\n[]\n{\"entities\":[{\"metrics\":{\"a\":3}}]}",
    "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"
);

golden!(
    pages_without_data_give_no_rows,
    [],
    "{}\n{\"results\":[]}\n{\"results\":null}\n{\"results\":{}}\n{\"entities\":[]}\n{\"cursor\":\"abc\"}\n{\"nextPageToken\":\"p2\"}\n[]\n",
    ""
);

#[test]
fn empty_input_gives_empty_csv_without_a_header() {
    let out = crate::util::flatten(&["--format", "csv"], " \n");
    assert!(out.status.success(), "{}", out.status);
    assert_eq!(out.stdout, b"", "no header: there are no columns");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no page read"));
}

golden!(
    unknown_keys_are_ignored_at_every_level,
    [],
    r#"{"systemToOrganizationMappings":{"BUSY":["x"]},"results":[{"extra":[1],"group":{"q":"a"},"data":[{"interval":"s/e","new":{"a":[]},"metrics":[{"metric":"n","unit":"ms","stats":{"count":1}}],"views":[{"name":"v","target":"tHandle","stats":{"sum":2}}]}]}],"entitiesCount":3}"#,
    "{\"q\":\"a\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"n_count\":1,\"view_v_sum\":2}\n"
);

golden!(
    data_before_group_still_gets_its_group,
    [],
    r#"{"results":[{"data":[{"metrics":[{"stats":{"count":5},"metric":"nOffered"}],"interval":"s/e"}],"group":{"queueId":"late"}}]}"#,
    "{\"queueId\":\"late\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"nOffered_count\":5}\n"
);

#[test]
fn a_missing_input_file_is_an_input_error_naming_it() {
    let dir = scratch();
    let missing = dir.path().join("nope.json");
    let out = gcagg().arg("flatten").arg(&missing).output().unwrap();
    let message = crate::util::message_of(&out, 1);
    assert!(message.contains(&*missing.to_string_lossy()), "{message}");
}

#[test]
fn gzip_padded_with_nul_bytes_reads_as_gzip_does_and_other_trailing_bytes_fail() {
    let gz = std::fs::read(fixture("async_pages.ndjson.gz")).unwrap();
    let plain = rows_of(&[fixture("async_pages.ndjson")]);
    let padded = [gz.clone(), vec![0; 4096]].concat();
    assert_eq!(stdout_of::<&str>(&[], padded), plain, "NUL padding ends the stream");
    let two = [gz.clone(), vec![0; 3], gz.clone()].concat();
    let out = gcagg().arg("flatten").write_stdin(two).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    for junk in [
        [gz.clone(), b"x\n".to_vec()].concat(),
        [gz.clone(), vec![0, 0, b'x']].concat(),
    ] {
        let out = gcagg().arg("flatten").write_stdin(junk).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("neither another gzip member nor NUL padding"),
            "{stderr}"
        );
    }
}

/// A tutorial metric whose `value` key repeats takes the last one, whether the page is
/// small (parsed from a buffer) or over 16 MiB (parsed as a stream).
#[test]
fn a_repeated_tutorial_value_is_the_last_one_at_any_page_size() {
    let entities = r#""entities":[{"metrics":{"m":{"value":1,"value":2},"n":{"value":3,"value":null}}}]"#;
    let small = format!("{{{entities}}}");
    let large = format!("{{\"pad\":\"{}\",{entities}}}", "x".repeat(17 << 20));
    for input in [small, large] {
        let out = stdout_of(&["--format", "ndjson"], input);
        assert_eq!(out, "{\"m\":2,\"n\":0}\n");
    }
}

/// Keys repeated in one object, at every level and at every page size: a repeated list
/// (`results`, `entities`, `data`, `metrics`, `stats`, a tutorial's `metrics`) adds its
/// elements to the first one's, in order; a repeated scalar or `group`/`groups` takes the
/// last one (a `data` reads the group read last before it, or the result's last group if it
/// came before every group).
#[test]
fn repeated_keys_concatenate_lists_and_keep_the_last_scalar_at_any_page_size() {
    let cases = [
        (
            concat!(
                r#""results":[{"group":{"q":"a"},"data":[{"interval":"x/y","interval":"s/e","#,
                r#""metrics":[{"metric":"n","metric":"m","stats":{"count":1},"stats":{"sum":2}}],"#,
                r#""metrics":[{"metric":"k","stats":{"count":3}}]}],"data":[{"interval":"t/u","metrics":[]}]}],"#,
                r#""results":[{"group":{"q":"b"},"group":{"q":"c"},"data":[{"interval":"s/e","metrics":[{"metric":"n","stats":{"count":5}}]}]},"#,
                r#"{"group":{"q":"d"},"data":[{"interval":"s/e","metrics":[]}],"group":{"q":"e"}}]}"#
            ),
            concat!(
                "{\"q\":\"a\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"m_count\":1,\"m_sum\":2,\"k_count\":3}\n",
                "{\"q\":\"a\",\"interval_start\":\"t\",\"interval_end\":\"u\"}\n",
                "{\"q\":\"c\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"n_count\":5}\n",
                "{\"q\":\"d\",\"interval_start\":\"s\",\"interval_end\":\"e\"}\n",
            ),
        ),
        (
            concat!(
                r#""results":[{"data":[{"interval":"s/e","metrics":[{"metric":"n","stats":{"count":1}}]}],"#,
                r#""data":[{"interval":"t/u","metrics":[{"metric":"n","stats":{"count":2}}]}],"group":{"q":"a"},"group":{"q":"z"}}]}"#
            ),
            concat!(
                "{\"q\":\"z\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"n_count\":1}\n",
                "{\"q\":\"z\",\"interval_start\":\"t\",\"interval_end\":\"u\",\"n_count\":2}\n",
            ),
        ),
        (
            concat!(
                r#""entities":[{"id":"a","id":"b","groups":{"g":1},"groups":{"g":2},"#,
                r#""metrics":{"m":{"value":1,"value":4}},"metrics":{"k":2}}],"entities":[{"metrics":{"m":3}}]}"#
            ),
            "{\"g\":2,\"aggregate_id\":\"b\",\"m\":4,\"k\":2}\n{\"m\":3}\n",
        ),
        // A metric's `qualifier` and a view's `name` repeated: the last; `views` repeated: both.
        (
            concat!(
                r#""results":[{"group":{"u":"a"},"data":[{"interval":"s/e","metrics":[{"metric":"t","#,
                r#""qualifier":"X","qualifier":"IDLE","stats":{"count":1}}],"#,
                r#""views":[{"name":"v1","name":"v2","stats":{"count":2}}],"views":[{"name":"v3","stats":{"sum":3}}]}]}]}"#
            ),
            "{\"u\":\"a\",\"interval_start\":\"s\",\"interval_end\":\"e\",\"t_IDLE_count\":1,\"view_v2_count\":2,\"view_v3_sum\":3}\n",
        ),
    ];
    let pad = format!("\"pad\":\"{}\",", "x".repeat(17 << 20));
    for (body, want) in cases {
        let small = format!("{{{body}");
        // Past 16 MiB by a key of the page, or of the first result or entity of each list
        // (then over 16 MiB itself).
        let page_padded = format!("{{{pad}{body}");
        let mut each_padded = format!("{{{body}");
        for list in ["\"results\":[{", "\"entities\":[{"] {
            each_padded = each_padded.replace(list, &format!("{list}{pad}"));
        }
        for (size, input) in [("small", small), ("page", page_padded), ("each", each_padded)] {
            assert_eq!(stdout_of(&["--format", "ndjson"], input), want, "{size}: {body}");
        }
    }
    // A stat repeated in one `stats` object would give its column two values: an error.
    let out = failure(
        &["-"],
        r#"{"results":[{"group":{"q":"a"},"data":[{"metrics":[{"metric":"n","stats":{"count":1,"count":2}}]}]}]}"#,
        1,
    );
    assert!(out.contains("column `n_count` gets two values in one entity"), "{out}");
}
