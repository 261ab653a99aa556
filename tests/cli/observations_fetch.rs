//! `gcagg fetch --observations` end to end, against the fake API of `server.rs`: each body
//! after its envelope line, byte for byte; long filters split under the predicate cap;
//! polling; the three targets; interrupts; the API's errors and misbehaviours.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use crate::fetch::{failure, kill_and_wait, listing, stdout_of, Setup};
use crate::server::{self, Reply, Script, CLIENT_ID, SECRET};
use crate::util::{ndjson_rows, read_csv, read_parquet, scratch, tree, Value as Parquet};

/// `gcagg fetch --observations` aimed at the fake, with credentials.
fn observe(t: &Setup) -> Command {
    let mut cmd = t.with_credentials();
    cmd.arg("--observations");
    cmd
}

/// The same, as a process to send signals to.
fn spawn(t: &Setup, args: &[&str]) -> Child {
    t.server
        .process("fetch")
        .current_dir(t.dir.path())
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", SECRET)
        .arg("--observations")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The observation queries the fake received, as JSON.
fn queries_to(t: &Setup) -> Vec<Value> {
    t.server
        .requests_to("/observations/query")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

const ENVELOPE: &str = "{\"gcaggObservedAt\":\"";

/// Splits `text` into its envelopes' times, checking that it is exactly `bodies`, each
/// after one envelope line and followed by a newline, byte for byte.
fn observed_times(text: &str, bodies: &[String]) -> Vec<String> {
    let mut rest = text;
    let mut times = Vec::new();
    for (n, body) in bodies.iter().enumerate() {
        let after = rest
            .strip_prefix(ENVELOPE)
            .unwrap_or_else(|| panic!("body {n}: no envelope at {:?}", &rest[..rest.len().min(60)]));
        let (time, after) = after.split_at(24);
        let after = after.strip_prefix("\"}\n").expect("the envelope line ends");
        let after = after
            .strip_prefix(body.as_str())
            .unwrap_or_else(|| panic!("body {n} differs from what the API sent"));
        rest = after.strip_prefix('\n').expect("a newline after the body");
        let _: jiff::Timestamp = time.parse().unwrap_or_else(|e| panic!("{time}: {e}"));
        assert!(
            time.ends_with('Z') && time.as_bytes()[19] == b'.',
            "RFC 3339 UTC, milliseconds: {time}"
        );
        times.push(time.to_owned());
    }
    assert_eq!(rest, "", "nothing after the last body");
    times
}

/// `--filter queueId=q000 ... --filter queueId=q<n-1>`.
fn queue_filters(n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| ["--filter".to_owned(), format!("queueId=q{i:03}")])
        .collect()
}

fn predicate_count(query: &Value) -> usize {
    let filter = &query["filter"];
    let count = |c: &Value| c["predicates"].as_array().map_or(0, Vec::len);
    count(filter) + filter["clauses"].as_array().map_or(0, |cs| cs.iter().map(count).sum())
}

/// Every `queueId` value a query asks for.
fn queue_ids(query: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut filters = vec![&query["filter"]];
    while let Some(f) = filters.pop() {
        for p in f["predicates"].as_array().into_iter().flatten() {
            if p["dimension"] == "queueId" {
                out.push(p["value"].as_str().unwrap().to_owned());
            }
        }
        filters.extend(f["clauses"].as_array().into_iter().flatten());
    }
    out.sort();
    out
}

#[test]
fn one_query_writes_its_envelope_then_the_body_byte_for_byte() {
    let t = Setup::new(Script::default());
    let out = stdout_of(observe(&t).args([
        "--kind",
        "queues",
        "--filter",
        "queueId=d7b9",
        "--metrics",
        "oWaiting,oOnQueueUsers",
        "--detail-metrics",
        "oWaiting",
    ]));
    let bodies = t.server.observation_bodies();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].contains("\n  ") && bodies[0].contains("observationDate"),
        "pretty, with details"
    );
    observed_times(&out, &bodies);
    let queries = queries_to(&t);
    assert_eq!(queries.len(), 1);
    assert_eq!(
        queries[0],
        serde_json::json!({
            "filter": {"type": "or", "predicates": [{"type": "dimension", "dimension": "queueId", "operator": "matches", "value": "d7b9"}]},
            "metrics": ["oWaiting", "oOnQueueUsers"],
            "detailMetrics": ["oWaiting"]
        })
    );
    let requests = t.server.requests_to("/observations/query");
    assert_eq!(requests[0].path, "/api/v2/analytics/queues/observations/query");
}

#[test]
fn long_filters_are_split_under_the_predicate_cap_one_body_per_query() {
    let t = Setup::new(Script::default());
    let mut cmd = observe(&t);
    cmd.args(queue_filters(250))
        .args(["--filter", "mediaType=voice", "--metrics", "oWaiting"]);
    let out = stdout_of(&mut cmd);
    let queries = queries_to(&t);
    let counts: Vec<usize> = queries.iter().map(predicate_count).collect();
    // 100 predicates a query: 99 queues and the media type, three times.
    assert_eq!(counts, [100, 100, 53]);
    assert!(queries.iter().all(|q| q.to_string().contains("\"mediaType\"")));
    let mut asked: Vec<String> = queries.iter().flat_map(queue_ids).collect();
    asked.sort();
    let all: Vec<String> = (0..250).map(|i| format!("q{i:03}")).collect();
    assert_eq!(asked, all, "every queue once");
    observed_times(&out, &t.server.observation_bodies());

    // A lower --batch makes more, smaller queries.
    let t = Setup::new(Script::default());
    let mut cmd = observe(&t);
    cmd.args(queue_filters(5))
        .args(["--batch", "2", "--metrics", "oWaiting"]);
    stdout_of(&mut cmd);
    assert_eq!(
        queries_to(&t).iter().map(predicate_count).collect::<Vec<_>>(),
        [2, 2, 1]
    );
}

#[test]
fn a_batch_over_the_apis_cap_fails_with_the_apis_message_and_no_file() {
    let t = Setup::new(Script {
        observation_cap: 10,
        ..Script::default()
    });
    let mut cmd = observe(&t);
    cmd.args(queue_filters(12))
        .args(["--batch", "20", "--metrics", "oWaiting", "-o", "now.ndjson"]);
    let err = failure(&mut cmd, 3);
    assert!(
        err.contains("400 bad.request: filter: 12 predicates exceed the maximum of 10"),
        "{err}"
    );
    assert!(err.contains("contextId"), "{err}");
    assert_eq!(
        std::fs::read_dir(t.dir.path()).unwrap().count(),
        0,
        "no file, no temporary"
    );
}

/// Polls `queues` queues, two a query, every `every` for `span` (waits run a thousand times
/// faster in the tests: 30s apart is 30 ms).
fn polling(t: &Setup, queues: usize, every: &str, span: &str) -> Command {
    let mut cmd = observe(t);
    cmd.args(queue_filters(queues)).args([
        "--batch",
        "2",
        "--metrics",
        "oWaiting,oActiveUsers",
        "--every",
        every,
        "--for",
        span,
    ]);
    cmd
}

#[test]
fn polling_gives_every_poll_in_order_with_increasing_times() {
    let t = Setup::new(Script::default());
    let out = stdout_of(&mut polling(&t, 3, "1m", "4m"));
    let bodies = t.server.observation_bodies();
    assert_eq!(bodies.len(), 4 * 2, "4 polls of 2 queries");
    let times = observed_times(&out, &bodies);
    // Each poll's bodies come after the poll before's.
    for pair in times.chunks(2).collect::<Vec<_>>().windows(2) {
        assert!(pair[1][0] > pair[0][1], "{pair:?}");
    }
    assert!(bodies.windows(2).all(|w| w[0] != w[1]), "the counts change");
}

#[test]
fn a_fractional_every_is_exact_to_the_millisecond() {
    // 1.5s apart: 3s is 2 polls and 4s is 3 (whole seconds would make 3 and 4).
    for (span, polls) in [("3s", 2), ("4s", 3), ("PT4.5S", 3), ("4.501s", 4)] {
        let t = Setup::new(Script::default());
        let out = stdout_of(&mut polling(&t, 1, "1.5s", span));
        let bodies = t.server.observation_bodies();
        assert_eq!(bodies.len(), polls, "--every 1.5s --for {span}");
        observed_times(&out, &bodies);
    }
    let t = Setup::new(Script::default());
    let plan = stdout_of(polling(&t, 1, "PT1.25S", "5s").arg("--dry-run"));
    assert!(plan.contains("# 4 polls, one every 1.25s"), "{plan}");
    for (every, says) in [
        ("1.0005s", "--every 1.0005s: expected a fixed duration such as 30s, 5m or PT1M (no months; a fraction to the millisecond, as in 1.5s)"),
        ("0.5s", "--every: at least 1s between polls"),
        ("PT1M1.5S", "--every PT1M1.5S: expected a fixed duration"),
    ] {
        let err = failure(&mut polling(&t, 1, every, "1m"), 2);
        assert!(err.contains(says), "{every}: {err}");
    }
    assert!(t.server.requests().is_empty());
}

#[test]
fn output_file_holds_every_poll_whole() {
    let t = Setup::new(Script::default());
    assert_eq!(stdout_of(polling(&t, 2, "1m", "3m").args(["-o", "now.ndjson"])), "");
    let text = std::fs::read_to_string(t.path("now.ndjson")).unwrap();
    assert_eq!(observed_times(&text, &t.server.observation_bodies()).len(), 3);
    assert_eq!(listing(t.dir.path()), ["now.ndjson"], "no temporary left");
}

#[test]
fn output_dir_gets_a_new_file_per_poll_and_a_rerun_replaces_none() {
    let t = Setup::new(Script::default());
    stdout_of(polling(&t, 3, "1m", "3m").args(["-o", "now/"]));
    let dir = t.path("now");
    let first = listing(&dir);
    assert_eq!(first.len(), 3, "{first:?}");
    for name in &first {
        assert!(
            name.starts_with("observations-") && name.ends_with("Z.ndjson") && name.len() == 40,
            "{name}"
        );
    }
    let bodies = t.server.observation_bodies();
    let mut times = Vec::new();
    for (name, poll) in first.iter().zip(bodies.chunks(2)) {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        times.push(observed_times(&text, poll));
    }
    // Two queries of one poll may share a millisecond; polls are a minute (60 ms) apart.
    assert!(
        times.windows(2).all(|w| w[0][1] < w[1][0]) && times.iter().all(|p| p[0] <= p[1]),
        "names sort in time order: {times:?}"
    );
    let before: Vec<String> = first
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
        .collect();

    // A second run into the same folder adds its polls beside the first run's.
    stdout_of(polling(&t, 3, "1m", "3m").args(["-o", "now/"]));
    let second = listing(&dir);
    assert_eq!(second.len(), 6, "{second:?}");
    assert_eq!(&second[..3], &first[..], "the first run's files sort first");
    for (name, text) in first.iter().zip(&before) {
        assert_eq!(
            &std::fs::read_to_string(dir.join(name)).unwrap(),
            text,
            "{name} untouched"
        );
    }
}

#[test]
fn a_folder_of_an_aggregate_fetch_is_refused() {
    let t = Setup::new(Script::default());
    std::fs::create_dir(t.path("pull")).unwrap();
    std::fs::write(t.path("pull/_manifest.json"), "{}").unwrap();
    let err = failure(
        observe(&t).args(["--filter", "queueId=a", "--metrics", "oWaiting", "-o", "pull/"]),
        2,
    );
    assert!(err.contains("holds an aggregate fetch"), "{err}");
    assert!(t.server.requests().is_empty());
}

/// Waits until `dir` holds `n` files that are not hidden.
fn wait_for_files(dir: &Path, n: usize, child: &mut Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0);
        if done >= n {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "gcagg ended early");
        assert!(
            std::time::Instant::now() < deadline,
            "no poll file in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the fake has answered one observation query.
fn wait_for_body(t: &Setup, child: &mut Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while t.server.observation_bodies().is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "gcagg ended early");
        assert!(std::time::Instant::now() < deadline, "no observation query answered");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` to the child and checks it died of it with one line on stderr.
fn interrupt(child: Child, signal: &str, number: i32) {
    let stderr = kill_and_wait(child, signal, number);
    assert!(
        stderr.starts_with("gcagg: interrupted by SIG") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// Starts polling queue `a` hourly for 8 hours (3.6 s apart here, so a signal comes while the
/// run sleeps), into `output` if given.
fn poll_hourly(t: &Setup, output: &[&str]) -> Child {
    let args = [
        "--filter",
        "queueId=a",
        "--metrics",
        "oWaiting",
        "--every",
        "1h",
        "--for",
        "8h",
    ];
    spawn(t, &[&args[..], output].concat())
}

#[test]
fn an_interrupt_between_polls_ends_the_run_with_every_file_whole() {
    for (signal, number) in [("INT", 2), ("TERM", 15)] {
        let t = Setup::new(Script::default());
        let mut child = poll_hourly(&t, &["-o", "now/"]);
        let dir = t.path("now");
        wait_for_files(&dir, 1, &mut child);
        interrupt(child, signal, number);
        let files = listing(&dir);
        assert_eq!(files.len(), 1, "SIG{signal}: one whole poll, no temporary: {files:?}");
        let text = std::fs::read_to_string(dir.join(&files[0])).unwrap();
        observed_times(&text, &t.server.observation_bodies());
    }
}

#[test]
fn an_interrupted_poll_to_a_file_leaves_no_file() {
    let t = Setup::new(Script::default());
    let mut child = poll_hourly(&t, &["-o", "now.ndjson"]);
    wait_for_body(&t, &mut child);
    interrupt(child, "INT", 2);
    assert_eq!(listing(t.dir.path()), Vec::<String>::new(), "whole or absent");
}

#[test]
fn an_interrupt_on_stdout_leaves_whole_bodies() {
    let t = Setup::new(Script::default());
    let mut child = poll_hourly(&t, &[]);
    wait_for_body(&t, &mut child);
    // The first body is written before the sleep: read it, then interrupt.
    let mut stdout = child.stdout.take().unwrap();
    let body = &t.server.observation_bodies()[0];
    let mut seen = vec![0u8; ENVELOPE.len() + 27 + body.len() + 1];
    std::io::Read::read_exact(&mut stdout, &mut seen).unwrap();
    interrupt(child, "INT", 2);
    observed_times(std::str::from_utf8(&seen).unwrap(), std::slice::from_ref(body));
}

#[test]
fn rate_limits_gateway_errors_and_expired_tokens_are_weathered() {
    let t = Setup::new(
        Script {
            revoke_after: Some(2),
            ..Script::default()
        }
        .fault("/observations/query", 1, Reply::rate_limited(1))
        .fault("/observations/query", 1, Reply::unavailable()),
    );
    let mut cmd = observe(&t);
    cmd.args(queue_filters(2)).args([
        "--batch",
        "1",
        "--metrics",
        "oWaiting",
        "--every",
        "1m",
        "--for",
        "2m",
        "--verbose",
    ]);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("429 (wait from Retry-After)"), "{stderr}");
    assert!(stderr.contains("401: the token was refused"), "{stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(observed_times(&text, &t.server.observation_bodies()).len(), 4);
    assert!(
        t.server.requests_to("/oauth/token").len() >= 2,
        "a new token after the 401"
    );
}

#[test]
fn forbidden_and_refused_queries_fail_with_the_apis_message() {
    let t = Setup::new(Script::default().fault(
        "/observations/query",
        1,
        server::missing_permission("analytics:queueObservation:view"),
    ));
    let err = failure(
        observe(&t).args(["--filter", "queueId=a", "--metrics", "oWaiting", "-o", "now/"]),
        3,
    );
    assert!(
        err.contains("403 missing.any.permissions: You are missing the following permission(s): [analytics:queueObservation:view]"),
        "{err}"
    );
    assert_eq!(listing(&t.path("now")), Vec::<String>::new(), "no poll file");

    // A dimension the family does not have: the API's 400, as it words it.
    let t = Setup::new(Script::default());
    let err = failure(
        observe(&t).args(["--kind", "users", "--filter", "queueId=a", "--metrics", "oActiveQueues"]),
        3,
    );
    assert!(
        err.contains("POST ") && err.contains("/api/v2/analytics/users/observations/query: 400 bad.request: filter: queueId is not a valid dimension for users observations"),
        "{err}"
    );
}

#[test]
fn users_and_flows_have_their_own_endpoints() {
    for (kind, dimension, metric) in [("users", "userId", "oActiveQueues"), ("flows", "flowId", "oFlow")] {
        let t = Setup::new(Script::default());
        let out = stdout_of(observe(&t).args([
            "--kind",
            kind,
            "--filter",
            &format!("{dimension}=x"),
            "--metrics",
            metric,
        ]));
        observed_times(&out, &t.server.observation_bodies());
        let requests = t.server.requests_to("/observations/query");
        assert_eq!(requests[0].path, format!("/api/v2/analytics/{kind}/observations/query"));
    }
}

#[test]
fn dry_run_shows_each_query_and_sends_nothing() {
    let t = Setup::new(Script::default());
    let mut cmd = t.server.command("fetch");
    cmd.current_dir(t.dir.path())
        .args(["--observations", "--dry-run", "--metrics", "oWaiting"])
        .args(queue_filters(3))
        .args(["--batch", "2", "--every", "30s", "--for", "8h", "-o", "now/"]);
    let out = stdout_of(&mut cmd);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    assert_eq!(lines[1], "# 960 polls, one every 30s");
    assert_eq!(lines[2], "# query 1/2");
    assert_eq!(
        lines[3],
        format!("POST {}/api/v2/analytics/queues/observations/query", t.server.base)
    );
    assert!(t.server.requests().is_empty());
    assert!(!t.dir.path().join("now").exists(), "a dry run creates no folder");
}

#[test]
fn bad_observation_flags_are_usage_errors() {
    let t = Setup::new(Script::default());
    let queue = ["--filter", "queueId=a", "--metrics", "oWaiting"];
    for (args, says) in [
        (
            vec!["--metrics", "oWaiting"],
            "the API requires a filter; give --filter queueId=ID",
        ),
        (vec!["--filter", "queueId=a"], "name at least one metric"),
        (
            [&queue[..], &["--kind", "conversations"]].concat(),
            "observation queries exist for queues, users, flows only",
        ),
        ([&queue[..], &["--every", "0s", "--for", "1h"]].concat(), "--every"),
        (
            [&queue[..], &["--every", "30s", "--for", "40d"]].concat(),
            "at most 31d",
        ),
        (
            [&queue[..], &["--filter", "mediaType=voice", "--batch", "1"]].concat(),
            "leave no room",
        ),
    ] {
        let err = failure(observe(&t).args(&args), 2);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Clap's own refusals: --every without --for, aggregate flags.
    for extra in [
        &["--every", "30s"][..],
        &["--for", "1h"],
        &["--since", "1h"],
        &["--async"],
        &["--job-timeout", "1h"],
    ] {
        let out = observe(&t).args(queue).args(extra).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
    }
    let out = t
        .server
        .command("fetch")
        .args(["--every", "30s", "--for", "1h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--every is for observations");
    assert!(t.server.requests().is_empty());
}

/// `gcagg flatten ARGS` on `stdin`: its stdout and stderr, asserting success.
fn flattened(args: &[&str], stdin: &str) -> (String, String) {
    let out = crate::util::flatten(args, stdin);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

#[test]
fn fetched_observations_flatten_observed_at_their_envelopes_time() {
    let t = Setup::new(Script::default());
    let mut cmd = polling(&t, 3, "1m", "2m");
    let polled = stdout_of(cmd.args(["--detail-metrics", "oWaiting"]));
    let bodies = t.server.observation_bodies();
    let times = observed_times(&polled, &bodies);
    assert_eq!(times.len(), 4, "2 polls of 2 queries");
    // Each body's rows are observed at its envelope's time: a row per `results[]` element
    // (wide), a row per `observations[]` entry (observations layout).
    let per_body = |count: &dyn Fn(&Value) -> usize| -> Vec<String> {
        let mut want = Vec::new();
        for (body, time) in bodies.iter().zip(&times) {
            let body: Value = serde_json::from_str(body).unwrap();
            let n: usize = body["results"].as_array().unwrap().iter().map(count).sum();
            want.extend(std::iter::repeat_n(time.clone(), n));
        }
        want
    };
    let wide = per_body(&|_| 1);
    let entries = per_body(&|result| {
        let data = result["data"].as_array().unwrap();
        data.iter()
            .map(|d| d["observations"].as_array().map_or(0, Vec::len))
            .sum()
    });
    assert!(!entries.is_empty(), "the fake answers detail observations");
    // Every row has its time; the wide layout says what it leaves out.
    let left_out = format!(
        "gcagg: warning: {} `observations[]` entries of observation queries not written (one per waiting or interacting conversation): --layout observations writes them\n",
        entries.len()
    );
    for (layout, want, warned) in [("wide", &wide, left_out.as_str()), ("observations", &entries, "")] {
        let (ndjson, stderr) = flattened(&["--layout", layout, "-"], &polled);
        assert_eq!(stderr, warned);
        let got: Vec<String> = ndjson_rows(&ndjson)
            .iter()
            .map(|r| r.text("observed_at").to_owned())
            .collect();
        assert_eq!(&got, want, "{layout}");
        let (csv, _) = flattened(&["--layout", layout, "--format", "csv", "-"], &polled);
        let (header, rows) = read_csv(csv.as_bytes());
        let at = header.iter().position(|h| h == "observed_at").unwrap();
        assert_eq!(&rows.iter().map(|r| r[at].clone()).collect::<Vec<_>>(), want);
        // `gcagg schema` names the columns flatten writes, observed_at a timestamp.
        let (schema, _) = gcagg_schema(&["--layout", layout, "-"], &polled);
        let names: Vec<&str> = schema.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(names, header, "{layout}");
        assert!(schema.contains("observed_at") && schema.contains("TIMESTAMP(MILLIS, UTC)"));
    }

    // Partitioned by the observation's UTC date: one folder per day, each row's time kept.
    let dir = scratch();
    let lake = dir.path().join("lake");
    let (_, stderr) = flattened(
        &[
            "--format",
            "parquet",
            "--partition-by",
            "observed_date,queueId",
            "-o",
            lake.to_str().unwrap(),
            "-",
        ],
        &polled,
    );
    assert_eq!(stderr, left_out);
    let files = tree(&lake);
    let mut got = Vec::new();
    for file in &files {
        let date = file.strip_prefix("observed_date=").unwrap().split('/').next().unwrap();
        let table = read_parquet(&lake.join(file));
        assert!(
            !table.names().contains(&"observed_date".to_owned()),
            "in the folder name only"
        );
        for cell in table.column("observed_at") {
            let Parquet::Time(ms) = cell else { panic!("{cell:?}") };
            let time = jiff::Timestamp::from_millisecond(ms).unwrap();
            assert_eq!(time.strftime("%Y-%m-%d").to_string(), date, "{file}");
            got.push(time);
        }
    }
    got.sort();
    let mut want: Vec<jiff::Timestamp> = wide.iter().map(|t| t.parse().unwrap()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(files.iter().all(|f| f.contains("/queueId=q00")), "{files:?}");

    // interval_date asks for an interval observation rows do not have: the run says so and
    // names the key that fits.
    let (_, stderr) = flattened(
        &[
            "--format",
            "parquet",
            "--partition-by",
            "interval_date",
            "-o",
            dir.path().join("by_interval").to_str().unwrap(),
            "-",
        ],
        &polled,
    );
    let stderr = stderr.strip_prefix(&left_out).unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no row has a column `interval_start`")
            && stderr.contains("--partition-by observed_date")
            && stderr.contains("interval_date=__HIVE_DEFAULT_PARTITION__"),
        "{stderr}"
    );
}

/// `gcagg schema ARGS` on `stdin`: its stdout and stderr, asserting success.
fn gcagg_schema(args: &[&str], stdin: &str) -> (String, String) {
    let out = crate::util::gcagg()
        .arg("schema")
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}
