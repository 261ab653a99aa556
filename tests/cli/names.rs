//! `gcagg names` end to end, against the fake API's listings (`server.rs`).

use std::collections::BTreeMap;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use crate::server::{self, deleted_user, missing_permission, Reply, Script, Server, CLIENT_ID, SECRET};
use crate::util::{fixture, read_csv, read_parquet, tree, Value as Cell};

/// The columns of every names table, in order.
const COLUMNS: [&str; 9] = [
    "type",
    "id",
    "name",
    "division_id",
    "division_name",
    "state",
    "email",
    "flow_type",
    "system_presence",
];

/// `gcagg names` against `server` with its credentials, run in `dir`.
fn names(server: &Server, dir: &TempDir) -> Command {
    let mut cmd = server.command("names");
    cmd.current_dir(dir.path())
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", SECRET);
    cmd
}

fn start(script: Script) -> (Server, TempDir) {
    (Server::start(script), TempDir::new().unwrap())
}

fn run(cmd: &mut Command) -> (String, String, Option<i32>) {
    let out = cmd.output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code(),
    )
}

fn success(cmd: &mut Command) -> String {
    let (stdout, stderr, code) = run(cmd);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "", "a quiet run (not a terminal) says nothing");
    stdout
}

fn records(ndjson: &str) -> Vec<Value> {
    ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn count_by_type(records: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(r["type"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    counts
}

#[test]
fn names_lists_every_type_across_all_pages_deleted_users_included() {
    let (server, dir) = start(Script::default());
    let out = success(&mut names(&server, &dir));
    let all = records(&out);
    let counts = count_by_type(&all);
    let expected: BTreeMap<String, usize> = [
        ("queue", server::ORG_QUEUES),
        ("user", server::ORG_USERS),
        ("wrapupcode", 3),
        ("division", 2),
        ("skill", 3),
        ("language", 2),
        ("flow", 3),
        ("team", server::ORG_TEAMS),
        ("presence", 5),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), n))
    .collect();
    assert_eq!(counts, expected);
    // Types come in the documented order, each id once.
    let order: Vec<&str> = all.iter().map(|r| r["type"].as_str().unwrap()).collect();
    let mut deduped = order.clone();
    deduped.dedup();
    assert_eq!(
        deduped,
        [
            "queue",
            "user",
            "wrapupcode",
            "division",
            "skill",
            "language",
            "flow",
            "team",
            "presence"
        ]
    );
    let ids: std::collections::HashSet<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len());

    // The deleted user, whose id old aggregates still carry, with the fields people filter on.
    let deleted = format!(
        r#"{{"type":"user","id":"{}","name":"Agent 230","division_id":"5b2d3bc8-4a6e-4e5c-8f3c-0f1d2e3a4b5c","division_name":"Home","state":"deleted","email":"agent230@example.com"}}"#,
        deleted_user()
    );
    assert!(out.lines().any(|l| l == deleted), "no line {deleted}");
    assert!(out.contains(r#"{"type":"flow","id":"00000007-5b1e-4c2a-9d3f-000000000003","name":"Old IVR","division_id":"5b2d3bc8-4a6e-4e5c-8f3c-0f1d2e3a4b5c","division_name":"Home","state":"deleted","flow_type":"INBOUNDCALL"}"#));
    assert!(out.contains(r#"{"type":"presence","id":"7d3e0c55-1b2a-4f6e-8a9d-3c4b5a6f7e80","name":"Project work","division_id":"*","state":"inactive","system_presence":"Busy"}"#));
    assert!(out.contains(
        r#"{"type":"skill","id":"00000005-5b1e-4c2a-9d3f-000000000003","name":"Legacy CRM","state":"inactive"}"#
    ));

    // Paged as each endpoint pages: numbers up to pageCount, the teams' cursor verbatim.
    let queries = |path: &str| -> Vec<String> {
        server
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| r.query)
            .collect()
    };
    assert_eq!(
        queries("/api/v2/users"),
        [
            "state=any&pageSize=100&pageNumber=1",
            "state=any&pageSize=100&pageNumber=2",
            "state=any&pageSize=100&pageNumber=3"
        ]
    );
    assert_eq!(
        queries("/api/v2/routing/queues"),
        ["pageSize=100&pageNumber=1", "pageSize=100&pageNumber=2"]
    );
    assert_eq!(queries("/api/v2/flows"), ["deleted=true&pageSize=100&pageNumber=1"]);
    assert_eq!(
        queries("/api/v2/teams"),
        [
            "expand=entities.division&pageSize=100",
            "pageSize=100&expand=entities.division&after=dGVhbQ%3D%3D100"
        ]
    );
    assert!(out.contains(r#"{"type":"team","id":"00000008-5b1e-4c2a-9d3f-000000000069","name":"Team 105","division_id":"5b2d3bc8-4a6e-4e5c-8f3c-0f1d2e3a4b5c","division_name":"Home"}"#));
    assert_eq!(
        queries("/api/v2/presence/definitions"),
        ["deactivated=FALSE", "deactivated=TRUE"]
    );
    // One token for the whole run.
    assert_eq!(server.requests_to("/oauth/token").len(), 1);
}

#[test]
fn a_saved_names_file_is_what_names_writes() {
    // fixtures/names.ndjson is a names file as users save it; keep it current.
    let (server, dir) = start(Script::default());
    let out = success(&mut names(&server, &dir));
    let saved = std::fs::read_to_string(fixture("names.ndjson")).unwrap();
    assert!(saved == out, "fixtures/names.ndjson differs from `gcagg names` output");
}

#[test]
fn a_type_refused_with_403_is_reported_with_its_permission_and_the_others_are_written() {
    let script = Script::default()
        .fault(
            "/api/v2/routing/wrapupcodes",
            1,
            missing_permission("routing:wrapupCode:view"),
        )
        // A 403 whose message does not name the permission: gcagg names it.
        .fault(
            "/api/v2/teams",
            1,
            Reply::error(403, "not.authorized", "Not authorized"),
        );
    let (server, dir) = start(script);
    let (_, stderr, code) = run(names(&server, &dir).args(["-o", "names.ndjson"]));
    assert_eq!(code, Some(3), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines.iter().all(|l| l.starts_with("gcagg: ")), "{stderr}");
    assert!(
        lines[0].starts_with("gcagg: names: wrapupcodes: GET ")
            && lines[0].ends_with(
                "/api/v2/routing/wrapupcodes?pageSize=100&pageNumber=1: 403 missing.any.permissions: You are missing the following permission(s): [routing:wrapupCode:view] (contextId ctx-403-names)"
            ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(
            "403 not.authorized: Not authorized (contextId ctx-403-not.authorized); listing teams needs the permission groups:team:view"
        ),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "gcagg: names: 2 of 9 types failed (wrapupcodes, teams); the other types were written to names.ndjson"
    );
    let written = std::fs::read_to_string(dir.path().join("names.ndjson")).unwrap();
    let counts = count_by_type(&records(&written));
    assert_eq!(counts.get("wrapupcode"), None);
    assert_eq!(counts.get("team"), None);
    assert_eq!(counts["user"], server::ORG_USERS);
    assert_eq!(counts.len(), 7);
    assert_eq!(tree(dir.path()), ["names.ndjson"], "no temporary file is left");
}

#[test]
fn rate_limits_gateway_errors_and_an_expired_token_are_survived() {
    let script = Script {
        revoke_after: Some(3),
        ..Script::default()
    }
    .fault("/api/v2/users", 1, Reply::rate_limited(1))
    .fault("/api/v2/flows", 2, Reply::unavailable());
    let (server, dir) = start(script);
    let out = success(names(&server, &dir).args(["--types", "users,flows"]));
    let counts = count_by_type(&records(&out));
    assert_eq!((counts["user"], counts["flow"]), (server::ORG_USERS, 3));
    assert_eq!(server.requests_to("/oauth/token").len(), 2, "a new token after the 401");
    // Two 503s, then the 401 of the token revoked after the users' three pages, then the page.
    assert_eq!(server.requests_to("/api/v2/flows").len(), 4);
}

#[test]
fn a_folder_gets_one_table_per_type_in_the_format_asked() {
    let (server, dir) = start(Script::default());
    success(names(&server, &dir).args([
        "--types",
        "queues,presence,users",
        "-o",
        "lake/_names/",
        "--format",
        "parquet",
    ]));
    let dir = dir.path().join("lake/_names");
    assert_eq!(tree(&dir), ["presence.parquet", "queues.parquet", "users.parquet"]);
    let queues = read_parquet(&dir.join("queues.parquet"));
    assert_eq!(queues.names(), COLUMNS);
    assert_eq!(queues.rows.len(), server::ORG_QUEUES);
    assert_eq!(
        queues.rows[0][..5],
        [
            Cell::Text("queue".into()),
            Cell::Text(server::org_id(1, 1)),
            Cell::Text("Queue 01".into()),
            Cell::Text("5b2d3bc8-4a6e-4e5c-8f3c-0f1d2e3a4b5c".into()),
            Cell::Text("Home".into()),
        ]
    );
    assert!(queues.column("email").iter().all(|v| *v == Cell::Null));
    let users = read_parquet(&dir.join("users.parquet"));
    let states = users.column("state");
    assert_eq!(states.iter().filter(|s| **s == Cell::Text("deleted".into())).count(), 1);
    assert_eq!(
        states.iter().filter(|s| **s == Cell::Text("inactive".into())).count(),
        4
    );
}

#[test]
fn csv_and_gzip_follow_the_extension() {
    let (server, dir) = start(Script::default());
    success(names(&server, &dir).args(["--types", "skills,languages", "-o", "names.csv"]));
    let (header, rows) = read_csv(&std::fs::read(dir.path().join("names.csv")).unwrap());
    assert_eq!(header, COLUMNS);
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[4],
        [
            "language",
            &server::org_id(6, 2),
            "Français",
            "",
            "",
            "active",
            "",
            "",
            ""
        ]
    );
    success(names(&server, &dir).args(["--types", "divisions", "-o", "d.ndjson.gz"]));
    let text = crate::util::gunzip(&dir.path().join("d.ndjson.gz"));
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.starts_with(r#"{"type":"division","id":"5b2d3bc8-4a6e-4e5c-8f3c-0f1d2e3a4b5c","name":"Home"}"#),
        "{text}"
    );
}

#[test]
fn bad_credentials_fail_once_not_once_per_type() {
    let (server, dir) = start(Script::default());
    let (stdout, stderr, code) = run(names(&server, &dir)
        .env("GENESYS_CLIENT_SECRET", "wrong")
        .args(["-o", "n.ndjson"]));
    assert_eq!(code, Some(3));
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(!stderr.contains("wrong"), "the secret is never printed");
    assert_eq!(
        tree(dir.path()),
        Vec::<String>::new(),
        "no file for a run that listed nothing"
    );
}

#[test]
fn usage_errors_are_caught_before_any_request() {
    let (server, dir) = start(Script::default());
    for (args, fragment) in [
        (vec!["--types", "queue"], "invalid value 'queue' for '--types <LIST>'"),
        (
            vec!["-o", "names.txt"],
            "--output names.txt: cannot tell the format from the extension",
        ),
        (vec!["-o", "names.parquet.gz"], "Parquet is compressed inside the file"),
    ] {
        let (_, stderr, code) = run(names(&server, &dir).args(&args));
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("gcagg: ") && stderr.contains(fragment),
            "{args:?}: {stderr}"
        );
    }
    let (_, stderr, code) = run(server.command("names").current_dir(dir.path()));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no client id"), "{stderr}");
    assert!(server.requests().is_empty());
}

#[test]
fn a_failed_type_in_a_folder_keeps_its_earlier_table_and_says_so() {
    let (server, dir) =
        start(Script::default().fault("/api/v2/routing/skills", 1, missing_permission("routing:skill:view")));
    let folder = dir.path().join("names");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("skills.ndjson"),
        "{\"type\":\"skill\",\"id\":\"old\",\"name\":\"Old\"}\n",
    )
    .unwrap();
    let (_, stderr, code) = run(names(&server, &dir).args(["--types", "skills,languages", "-o", "names/"]));
    assert_eq!(code, Some(3), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with("gcagg: names: skills: GET "), "{stderr}");
    assert_eq!(
        lines[1],
        "gcagg: names: skills: names/skills.ndjson is left as an earlier run wrote it"
    );
    assert!(
        lines[2].starts_with("gcagg: names: 1 of 2 types failed (skills); the other types were written to "),
        "{stderr}"
    );
    assert_eq!(tree(&folder), ["languages.ndjson", "skills.ndjson"]);
    assert_eq!(
        std::fs::read_to_string(folder.join("skills.ndjson")).unwrap(),
        "{\"type\":\"skill\",\"id\":\"old\",\"name\":\"Old\"}\n"
    );
}

#[test]
fn verbose_shows_each_page_and_request_with_credentials_redacted() {
    let (server, dir) = start(Script::default());
    let out = names(&server, &dir)
        .args(["--types", "users", "--verbose"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    for page in 1..=3 {
        let request = format!(
            "> GET {}/api/v2/users?state=any&pageSize=100&pageNumber={page} (Authorization: Bearer <redacted>)",
            server.base
        );
        assert!(stderr.contains(&request), "no {request} in {stderr}");
    }
    assert!(stderr.contains("names: users: page 3 of 3, 230 so far"), "{stderr}");
    assert!(stderr.contains("names: wrote users 230 to stdout"), "{stderr}");
    assert!(
        !stderr.contains(SECRET) && !stderr.contains("tok-1"),
        "credentials leak: {stderr}"
    );
}

#[test]
fn plain_progress_says_each_type_listed_and_each_retry_with_its_type() {
    let script = Script::default().fault(
        "/api/v2/users",
        1,
        Reply::error(429, "too.many.requests", "Rate limit exceeded").header("Retry-After", "1"),
    );
    let (server, dir) = start(script);
    let (_, stderr, code) = run(names(&server, &dir).args(["--types", "users,queues", "--progress", "plain"]));
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert_eq!(
        lines[0],
        "gcagg: names: users: 429 (wait from Retry-After); retry 1/5 in 1.0s"
    );
    assert_eq!(lines[1], "gcagg: names: users: 3 pages, 230 rows");
    assert!(lines[2].starts_with("gcagg: names: queues: 2 pages, "), "{stderr}");
    assert!(
        lines[3].starts_with("gcagg: names: wrote users 230, queues "),
        "{stderr}"
    );
    // Off a terminal, `none`, `bar` and the default keep stdout the same; only `bar` draws.
    let (expected, quiet, _) = run(&mut names(&server, &dir));
    assert_eq!(quiet, "");
    for mode in ["none", "bar"] {
        let (stdout, _, code) = run(names(&server, &dir).args(["--progress", mode]));
        assert_eq!((code, stdout == expected), (Some(0), true), "--progress {mode}");
    }
}

#[test]
fn secrets_a_server_echoes_are_redacted_from_names_errors() {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    // A 403 that quotes the bearer token the fake gave, and a 400 that echoes the login's
    // Basic header and secret: none of them may reach stderr.
    let script = Script::default()
        .fault(
            "/api/v2/teams",
            1,
            Reply::error(403, "not.authorized", "token tok-1-x9Q7 may not list teams"),
        )
        .fault(
            "/api/v2/routing/skills",
            1,
            Reply::error(
                400,
                "bad.request",
                &format!("request had authorization: Basic {basic} and client_secret={SECRET}"),
            ),
        );
    let (server, dir) = start(script);
    let (_, stderr, code) = run(names(&server, &dir).args(["--verbose", "-o", "names.ndjson"]));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("token <redacted> may not list teams"), "{stderr}");
    assert!(stderr.contains("authorization: <redacted>"), "{stderr}");
    assert!(
        !stderr.contains("tok-1-x9Q7") && !stderr.contains(SECRET) && !stderr.contains(&basic),
        "{stderr}"
    );
}
