//! `gcagg flatten` end to end.

use crate::util::gcagg;

#[test]
fn flattens_a_page_from_stdin() {
    let page = r#"{"results":[{"group":{"queue.id":"q1"},"data":[{"interval":"a/b","metrics":[{"metric":"nOffered","stats":{"count":3}}]}]}]}"#;
    gcagg()
        .args(["flatten"])
        .write_stdin(page)
        .assert()
        .success()
        .stdout("{\"queue_id\":\"q1\",\"interval_start\":\"a\",\"interval_end\":\"b\",\"nOffered_count\":3}\n");
}

#[test]
fn reads_gzip_by_magic_bytes() {
    let plain = gcagg()
        .args(["flatten"])
        .arg(crate::util::fixture("async_pages.ndjson"))
        .output()
        .unwrap();
    let gz = gcagg()
        .args(["flatten"])
        .arg(crate::util::fixture("async_pages.ndjson.gz"))
        .output()
        .unwrap();
    assert!(plain.status.success() && gz.status.success());
    assert_eq!(plain.stdout, gz.stdout);
    assert_eq!(String::from_utf8(plain.stdout).unwrap().lines().count(), 3);
}
