//! `gcagg fetch` and `gcagg regions` end to end, against the fake API of `server.rs`.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use crate::server::{self, Cursors, JobEnd, Reply, Script, Server, CLIENT_ID, SECRET};
use crate::util::gcagg;

const DAY1: &str = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z";
const THREE_DAYS: &str = "2024-05-01T00:00:00.000Z/2024-05-04T00:00:00.000Z";

/// A fake API and a scratch working directory for one test.
pub struct Setup {
    pub server: Server,
    pub dir: TempDir,
}

impl Setup {
    pub fn new(script: Script) -> Setup {
        Setup {
            server: Server::start(script),
            dir: TempDir::new().unwrap(),
        }
    }

    /// `gcagg fetch` aimed at the fake, credentials in the environment, nothing else set.
    fn bare(&self) -> Command {
        let mut cmd = self.server.command("fetch");
        cmd.current_dir(self.dir.path());
        cmd
    }

    pub fn with_credentials(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("GENESYS_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLIENT_SECRET", SECRET);
        cmd
    }

    /// A complete sync fetch of one day.
    fn fetch(&self) -> Command {
        self.fetch_interval(DAY1)
    }

    /// A complete sync fetch of `interval`.
    fn fetch_interval(&self, interval: &str) -> Command {
        let mut cmd = self.with_credentials();
        cmd.args(["--interval", interval, "--metrics", "nOffered,tHandle"]);
        cmd
    }

    /// [`Setup::with_credentials`] run under `umask`.
    fn under_umask(&self, umask: &str) -> Command {
        let mut cmd = self.server.command_under_umask(umask, "fetch");
        cmd.current_dir(self.dir.path())
            .env("GENESYS_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLIENT_SECRET", SECRET);
        cmd
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must succeed with `--verbose`; returns its stdout and its log.
fn verbose(cmd: &mut Command) -> (String, String) {
    let out = cmd.arg("--verbose").output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// Runs a command that must fail with `code`; returns its stderr.
pub fn failure(cmd: &mut Command, code: i32) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.starts_with("gcagg: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

fn body_of(request: &server::Request) -> Value {
    serde_json::from_str(&request.body).unwrap()
}

/// The fake's sync page of an interval, as fetch must write it: one line. Removing every
/// whitespace character is right here because no string of the fake's pages holds one.
fn sync_line(interval: &str) -> String {
    let page = server::sync_page(interval, 0);
    format!("{}\n", page.split_whitespace().collect::<String>())
}

#[test]
fn sync_query_writes_the_page_exactly_on_one_line() {
    let t = Setup::new(Script::default());
    let out = stdout_of(t.fetch().args([
        "--granularity",
        "PT30M",
        "--group-by",
        "queueId,mediaType",
        "--filter",
        "mediaType=voice",
        "--filter",
        "queueId=q1",
        "--time-zone",
        "Europe/Paris",
    ]));
    // The fake answers pretty-printed; the line keeps every value's spelling (150784.0).
    assert_eq!(out, sync_line(DAY1));
    assert!(out.contains("\"sum\":150784.0") && out.contains("0.47586206896551725"));
    let queries = t.server.requests_to("/aggregates/query");
    assert_eq!(queries.len(), 1);
    assert_eq!(
        body_of(&queries[0]),
        serde_json::json!({
            "interval": DAY1, "granularity": "PT30M", "timeZone": "Europe/Paris",
            "groupBy": ["queueId", "mediaType"], "metrics": ["nOffered", "tHandle"],
            "filter": {"type": "and", "predicates": [
                {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": "voice"},
                {"type": "dimension", "dimension": "queueId", "operator": "matches", "value": "q1"}]}})
    );
    assert_eq!(queries[0].header("authorization"), Some("Bearer tok-1-x9Q7"));
    assert_eq!(queries[0].header("content-type"), Some("application/json"));
}

#[test]
fn token_request_uses_basic_auth_and_a_form_body_once() {
    let t = Setup::new(Script::default());
    stdout_of(t.fetch().arg("--async"));
    let tokens = t.server.requests_to("/oauth/token");
    assert_eq!(tokens.len(), 1, "one token serves every call");
    assert_eq!(tokens[0].method, "POST");
    assert_eq!(tokens[0].body, "grant_type=client_credentials");
    assert!(tokens[0].header("authorization").unwrap().starts_with("Basic "));
    assert!(t.server.requests_to("/api/").len() > 3);
}

#[test]
fn invalid_client_fails_with_exit_3_and_without_the_secret() {
    let t = Setup::new(Script::default());
    let stderr = failure(
        t.bare()
            .args(["--interval", DAY1, "--metrics", "nOffered"])
            .env("GENESYS_CLIENT_ID", CLIENT_ID)
            .env("GENESYS_CLIENT_SECRET", "wrong-Secret-99"),
        3,
    );
    assert!(stderr.contains("400 invalid_client: client not found"), "{stderr}");
    assert!(!stderr.contains("wrong-Secret-99"));
    assert!(t.server.requests_to("/api/").is_empty());
}

#[test]
fn token_endpoint_rate_limit_is_retried_and_a_tokenless_answer_fails() {
    let throttled = Reply::json(
        400,
        r#"{"error":"invalid_request","description":"rate limit exceeded","error_description":"rate limit exceeded"}"#,
    );
    let t = Setup::new(Script::default().fault("/oauth/token", 2, throttled));
    assert_eq!(stdout_of(&mut t.fetch()), sync_line(DAY1));
    assert_eq!(t.server.requests_to("/oauth/token").len(), 3);

    let t = Setup::new(Script::default().fault("/oauth/token", 1, Reply::json(200, r#"{"token_type":"bearer"}"#)));
    let stderr = failure(&mut t.fetch(), 3);
    assert!(
        stderr.contains("the token endpoint's answer has no access_token"),
        "{stderr}"
    );
}

#[test]
fn missing_credentials_are_a_usage_error() {
    let t = Setup::new(Script::default());
    let stderr = failure(t.bare().args(["--interval", DAY1, "--metrics", "nOffered"]), 2);
    assert!(stderr.contains("GENESYS_CLIENT_ID"), "{stderr}");
    assert!(t.server.requests().is_empty());
}

#[test]
fn credentials_come_from_either_env_scheme_or_dotenv_and_flags_win() {
    let t = Setup::new(Script::default());
    let args = ["--interval", DAY1, "--metrics", "nOffered"];
    let second_scheme = stdout_of(
        t.bare()
            .args(args)
            .env("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
            .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", SECRET),
    );
    assert_eq!(second_scheme, sync_line(DAY1));

    std::fs::write(
        t.path(".env"),
        format!("# OAuth client\nexport GENESYS_CLIENT_ID={CLIENT_ID}\nGENESYS_CLIENT_SECRET=\"{SECRET}\"\n"),
    )
    .unwrap();
    assert_eq!(stdout_of(t.bare().args(args)), sync_line(DAY1));

    // The real environment wins over .env, and flags over both.
    failure(t.bare().args(args).env("GENESYS_CLIENT_SECRET", "wrong"), 3);
    let flags = stdout_of(t.bare().args(args).env("GENESYS_CLIENT_SECRET", "wrong").args([
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        SECRET,
    ]));
    assert_eq!(flags, sync_line(DAY1));
}

#[test]
fn regions_by_code_or_domain_choose_the_hosts() {
    let t = Setup::new(Script::default());
    let dry = |region: &str| {
        let mut cmd = gcagg();
        cmd.current_dir(t.dir.path())
            .env_remove("GENESYS_ENVIRONMENT")
            .env_remove("GENESYSCLOUD_REGION")
            .args([
                "fetch",
                "--interval",
                DAY1,
                "--metrics",
                "nOffered",
                "--dry-run",
                "--region",
                region,
            ]);
        stdout_of(&mut cmd)
    };
    for region in ["eu_central_2", "eu-central-2", "euc2.pure.cloud"] {
        let out = dry(region);
        assert!(
            out.starts_with("POST https://login.euc2.pure.cloud/oauth/token"),
            "{out}"
        );
        assert!(out.contains("POST https://api.euc2.pure.cloud/api/v2/analytics/conversations/aggregates/query"));
    }
    let from_env = stdout_of(
        gcagg()
            .current_dir(t.dir.path())
            .env("GENESYS_ENVIRONMENT", "mypurecloud.ie")
            .args(["fetch", "--interval", DAY1, "--metrics", "nOffered", "--dry-run"]),
    );
    assert!(from_env.contains("https://api.mypurecloud.ie/"), "{from_env}");
    let mut unknown = gcagg();
    unknown.current_dir(t.dir.path()).args([
        "fetch",
        "--interval",
        DAY1,
        "--metrics",
        "n",
        "--dry-run",
        "--region",
        "us-east-1.mypurecloud.com",
    ]);
    assert!(failure(&mut unknown, 2).contains("gcagg regions"));
}

#[test]
fn regions_lists_every_region() {
    let out = stdout_of(gcagg().arg("regions"));
    assert_eq!(out.lines().count(), 19, "{out}");
    assert!(out.contains("us-east-1        mypurecloud.com          https://api.mypurecloud.com"));
    for domain in [
        "use2.us-gov-pure.cloud",
        "edee1.eusc-pure.cloud",
        "mypurecloud.com.au",
        "apne3.pure.cloud",
    ] {
        assert!(out.contains(domain), "{domain}");
    }
}

#[test]
fn dry_run_prints_the_body_and_requests_and_sends_nothing() {
    let t = Setup::new(Script::default());
    let out = stdout_of(t.bare().args([
        "--since",
        "2d",
        "--granularity",
        "PT1H",
        "--metrics",
        "nOffered",
        "--async",
        "--page-size",
        "500",
        "--split",
        "P1D",
        "--dry-run",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "POST {}/oauth/token  (client credentials; the token is reused)",
            t.server.base
        )
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("# chunk ")).count(), 2, "{out}");
    let jobs = format!("POST {}/api/v2/analytics/conversations/aggregates/jobs", t.server.base);
    assert_eq!(lines[2], jobs);
    let body: Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(body["pageSize"], 500);
    assert_eq!(body["granularity"], "PT1H");
    // --since ends on a whole hour.
    assert!(body["interval"].as_str().unwrap().ends_with(":00:00.000Z"), "{body}");
    assert!(out.contains("/jobs/{jobId}/results"));
    assert!(t.server.requests().is_empty(), "a dry run sends nothing");
}

#[test]
fn query_file_from_stdin_with_flags_replacing_its_fields() {
    let t = Setup::new(Script::default());
    let query = r#"{"interval": "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z", "metrics": ["tTalk"],
                    "views": [{"target": "tAbandon", "name": "short", "function": "rangeBound", "range": {"lt": 5000}}]}"#;
    stdout_of(
        t.with_credentials()
            .args(["--query", "-", "--interval", DAY1, "--kind", "users"])
            .write_stdin(query),
    );
    let requests = t.server.requests_to("/api/v2/analytics/users/aggregates/query");
    assert_eq!(requests.len(), 1);
    let body = body_of(&requests[0]);
    assert_eq!(body["interval"], DAY1);
    assert_eq!(body["metrics"], serde_json::json!(["tTalk"]));
    assert_eq!(body["views"][0]["range"]["lt"], 5000);
}

#[test]
fn kind_selects_the_family_endpoint() {
    let t = Setup::new(Script::default());
    for kind in ["flows", "evaluations", "journeys"] {
        stdout_of(t.fetch().args(["--kind", kind, "--async"]));
        assert_eq!(
            t.server
                .requests_to(&format!("/analytics/{kind}/aggregates/jobs"))
                .len(),
            7,
            "submit, 3 polls, 3 pages"
        );
    }
    failure(t.fetch().args(["--kind", "../users"]), 2);
}

#[test]
fn async_job_is_polled_to_fulfilled_and_its_cursor_followed() {
    let t = Setup::new(queued_then_pending());
    let out = stdout_of(t.fetch().args(["--async", "--page-size", "2"]));
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    for (page, line) in lines.iter().enumerate() {
        assert_eq!(line["results"][0], server::job_result(DAY1, page));
    }
    assert_eq!(lines[0]["cursor"], "cur/1");
    assert!(lines[2].get("cursor").is_none());
    let submitted = t.server.requests_to("/aggregates/jobs");
    assert_eq!(submitted[0].method, "POST");
    assert_eq!(body_of(&submitted[0])["pageSize"], 2);
    assert_eq!(
        t.server.requests_to("/aggregates/jobs/job-1").len(),
        5 + 3,
        "5 polls, 3 pages"
    );
    assert_eq!(cursors_asked(&t), ["", "cursor=cur%2F1", "cursor=cur%2F2"]);
}

/// The query strings of the results requests, in order (`cursor=...`, or empty).
fn cursors_asked(t: &Setup) -> Vec<String> {
    t.server.requests_to("/results").into_iter().map(|r| r.query).collect()
}

#[test]
fn failed_job_is_an_error_carrying_its_message() {
    let t = Setup::new(Script {
        job_end: JobEnd::Failed,
        ..Script::default()
    });
    let stderr = failure(t.fetch().arg("--async"), 3);
    assert!(
        stderr.contains("job-1 FAILED: Query exceeded the maximum result size"),
        "{stderr}"
    );
    assert!(t.server.requests_to("/results").is_empty());
}

#[test]
fn rate_limit_waits_what_retry_after_says() {
    let t = Setup::new(
        Script::default().fault(
            "/aggregates/query",
            1,
            Reply::error(
                429,
                "too.many.requests",
                "Rate limit exceeded the maximum. Retry the request in [7] seconds",
            )
            .header("Retry-After", "7")
            .header("inin-ratelimit-reset", "40"),
        ),
    );
    let (stdout, stderr) = verbose(&mut t.fetch());
    assert_eq!(stdout, sync_line(DAY1));
    assert!(
        stderr.contains("(wait from Retry-After); retry 1/5 in 7.0s"),
        "{stderr}"
    );
    // Progress and request logs too: every line gcagg writes to stderr says it is gcagg's.
    assert!(stderr.lines().all(|l| l.starts_with("gcagg: ")), "{stderr}");
    assert_eq!(t.server.requests_to("/aggregates/query").len(), 2);
}

#[test]
fn rate_limit_without_retry_after_waits_for_the_window_reset() {
    let t = Setup::new(Script::default().fault(
        "/aggregates/query",
        1,
        Reply::error(429, "too.many.requests", "Rate limit exceeded").header("inin-ratelimit-reset", "3"),
    ));
    let (stdout, stderr) = verbose(&mut t.fetch());
    assert_eq!(stdout, sync_line(DAY1));
    assert!(
        stderr.contains("(wait from inin-ratelimit-reset); retry 1/5 in 3.0s"),
        "{stderr}"
    );
}

#[test]
fn service_unavailable_bursts_are_retried_with_backoff() {
    let unavailable = Reply::error(503, "service.unavailable", "Service Unavailable");
    let script = Script::default().fault("/aggregates/query", 3, unavailable).fault(
        "/aggregates/query",
        1,
        Reply::json(504, ""),
    );
    let t = Setup::new(script);
    let (stdout, stderr) = verbose(&mut t.fetch());
    assert_eq!(stdout, sync_line(DAY1));
    assert_eq!(t.server.requests_to("/aggregates/query").len(), 5);
    assert!(stderr.contains("(wait from backoff); retry 4/5"), "{stderr}");
}

#[test]
fn max_retries_bounds_the_retries() {
    let t = Setup::new(Script::default().fault(
        "/aggregates/query",
        4,
        Reply::error(503, "service.unavailable", "Try later"),
    ));
    let stderr = failure(t.fetch().args(["--max-retries", "2"]), 3);
    assert!(
        stderr.contains(
            "503 service.unavailable: Try later (contextId ctx-503-service.unavailable); gave up after 2 retries"
        ),
        "{stderr}"
    );
    assert_eq!(t.server.requests_to("/aggregates/query").len(), 3);
}

#[test]
fn broken_connections_are_retried_without_duplicating_a_page() {
    let script = Script::default().fault("/aggregates/query", 1, Reply::HangUp).fault(
        "/aggregates/query",
        1,
        Reply::CutShort(server::sync_page(DAY1, 0)),
    );
    let t = Setup::new(script);
    assert_eq!(stdout_of(&mut t.fetch()), sync_line(DAY1));
    assert_eq!(t.server.requests_to("/aggregates/query").len(), 3);
}

#[test]
fn token_expired_mid_run_is_replaced_once() {
    let t = Setup::new(Script {
        revoke_after: Some(2),
        ..Script::default()
    });
    let out = stdout_of(t.fetch().arg("--async"));
    assert_eq!(out.lines().count(), 3);
    assert_eq!(t.server.requests_to("/oauth/token").len(), 2);
    let refused: Vec<_> = t
        .server
        .requests_to("/api/")
        .into_iter()
        .filter(|r| r.header("authorization") == Some("Bearer tok-1-x9Q7"))
        .collect();
    assert_eq!(refused.len(), 3, "two accepted, one refused with 401");
}

#[test]
fn a_second_401_after_a_new_token_fails() {
    let t = Setup::new(Script::default().fault(
        "/aggregates/query",
        2,
        Reply::error(401, "bad.credentials", "Invalid login credentials."),
    ));
    let stderr = failure(&mut t.fetch(), 3);
    assert!(
        stderr.contains("401 bad.credentials: Invalid login credentials."),
        "{stderr}"
    );
    assert_eq!(t.server.requests_to("/oauth/token").len(), 2);
}

#[test]
fn short_lived_tokens_are_renewed_before_they_expire() {
    let t = Setup::new(Script {
        expires_in: 0,
        ..Script::default()
    });
    stdout_of(t.fetch().arg("--async"));
    let api_calls = t.server.requests_to("/api/").len();
    assert_eq!(t.server.requests_to("/oauth/token").len(), api_calls);
}

#[test]
fn client_errors_fail_at_once_with_status_code_message_and_context() {
    for (status, code) in [(400, "bad.request"), (404, "not.found")] {
        let t = Setup::new(Script::default().fault(
            "/aggregates/query",
            1,
            Reply::error(
                status,
                code,
                "Interval must be 'yyyy-MM-ddThh:mm:ss/yyyy-MM-ddThh:mm:ss'",
            ),
        ));
        let stderr = failure(&mut t.fetch(), 3);
        assert!(
            stderr.contains(&format!(
                "/aggregates/query: {status} {code}: Interval must be 'yyyy-MM-ddThh:mm:ss/yyyy-MM-ddThh:mm:ss' (contextId ctx-{status}-{code})"
            )),
            "{stderr}"
        );
        assert_eq!(
            t.server.requests_to("/aggregates/query").len(),
            1,
            "no retry of a {status}"
        );
    }
}

#[test]
fn forbidden_names_the_permission_needed() {
    for (kind, permission) in [
        ("conversations", "analytics:conversationAggregate:view"),
        ("users", "analytics:userAggregate:view"),
        ("flows", "analytics:flowAggregate:view"),
    ] {
        let t = Setup::new(Script::default().fault(
            "/aggregates/query",
            1,
            Reply::error(
                403,
                "missing.any.permissions",
                "You are missing the following permission(s)",
            ),
        ));
        let stderr = failure(t.fetch().args(["--kind", kind]), 3);
        assert!(stderr.contains("403 missing.any.permissions"), "{stderr}");
        assert!(
            stderr.contains(&format!("needs the permission {permission}")),
            "{stderr}"
        );
    }
}

#[test]
fn split_chunks_come_out_in_order_with_concurrency() {
    let t = Setup::new(Script {
        slow_first: Duration::from_millis(400),
        hold_until_in_flight: 2,
        ..Script::default()
    });
    let out = stdout_of(
        t.fetch_interval(THREE_DAYS)
            .args(["--split", "P1D", "--concurrency", "3"]),
    );
    let days = [
        DAY1,
        "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z",
        "2024-05-03T00:00:00.000Z/2024-05-04T00:00:00.000Z",
    ];
    let expected: String = days.iter().map(|d| sync_line(d)).collect();
    assert_eq!(out, expected);
    let mut asked: Vec<String> = t
        .server
        .requests_to("/aggregates/query")
        .iter()
        .map(|r| body_of(r)["interval"].as_str().unwrap().to_owned())
        .collect();
    asked.sort();
    assert_eq!(asked, days);
    assert!(
        t.server.most_queries_at_once() >= 2,
        "the slow first chunk did not hold up the others"
    );
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("_manifest.json")).unwrap()).unwrap()
}

#[test]
fn output_dir_gets_a_file_per_chunk_and_a_manifest() {
    let t = Setup::new(Script::default());
    let out = t.path("pull/");
    stdout_of(
        t.fetch_interval(THREE_DAYS)
            .args(["--split", "P1D", "--concurrency", "2", "-o"])
            .arg(&out),
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "_manifest.json",
            "chunk-00000.ndjson",
            "chunk-00001.ndjson",
            "chunk-00002.ndjson"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("chunk-00001.ndjson")).unwrap(),
        sync_line("2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z")
    );
    let m = manifest(&out);
    assert_eq!(m["kind"], "conversations");
    assert_eq!(m["api_base"], t.server.base.as_str());
    assert_eq!(m["query"]["interval"], THREE_DAYS);
    let chunks = m["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 3);
    for c in chunks {
        assert_eq!(
            (c["complete"].as_bool(), c["pages"].as_u64(), c["rows"].as_u64()),
            (Some(true), Some(1), Some(2))
        );
        assert!(c["fetched_at"].as_str().unwrap().ends_with('Z'));
    }
}

/// A fake API whose third day of [`THREE_DAYS`] fails (until the script is mended).
fn third_day_broken() -> Setup {
    Setup::new(Script {
        broken_interval: Some("2024-05-03"),
        ..Script::default()
    })
}

/// `gcagg fetch` of [`THREE_DAYS`], one chunk a day, into the folder `out`.
fn split_by_day(t: &Setup, out: &Path) -> Command {
    let mut cmd = t.fetch_interval(THREE_DAYS);
    cmd.args(["--split", "P1D", "-o"]).arg(format!("{}/", out.display()));
    cmd
}

#[test]
fn resume_fetches_only_the_chunks_still_missing() {
    let t = third_day_broken();
    let out = t.path("pull");
    let pull = || split_by_day(&t, &out);
    let queried = || -> Vec<String> {
        let queries = t.server.requests_to("/aggregates/query");
        queries
            .iter()
            .map(|r| body_of(r)["interval"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(failure(&mut pull(), 3).contains("chunk 3/3"));
    let complete = |m: Value| -> Vec<bool> {
        let chunks = m["chunks"].as_array().unwrap().clone();
        chunks.iter().map(|c| c["complete"].as_bool().unwrap()).collect()
    };
    assert_eq!(complete(manifest(&out)), [true, true, false]);
    assert_eq!(queried().len(), 3);

    // The API is healthy again.
    t.server.script().broken_interval = None;
    // Without --resume an earlier fetch is not overwritten; another query cannot resume it.
    assert!(failure(&mut pull(), 2).contains("--resume"));
    assert!(failure(pull().args(["--metrics", "nOffered", "--resume"]), 2).contains("the query differs"));
    assert_eq!(queried().len(), 3);

    stdout_of(pull().arg("--resume"));
    assert_eq!(queried()[3..], ["2024-05-03T00:00:00.000Z/2024-05-04T00:00:00.000Z"]);
    assert_eq!(complete(manifest(&out)), [true, true, true]);

    // All complete: a further resume calls nothing at all, not even the token endpoint.
    let before = t.server.requests().len();
    stdout_of(pull().arg("--resume"));
    assert_eq!(t.server.requests().len(), before);

    // A complete chunk whose file is gone is fetched again, and only that one.
    std::fs::remove_file(out.join("chunk-00000.ndjson")).unwrap();
    stdout_of(pull().arg("--resume"));
    assert_eq!(queried()[4..], [DAY1]);

    let rows = stdout_of(gcagg().arg("flatten").arg(&out));
    assert_eq!(rows.lines().count(), 6);
}

#[test]
fn output_file_appears_only_when_complete() {
    let t = Setup::new(Script {
        broken_interval: Some("2024-05-02"),
        ..Script::default()
    });
    let file = t.path("pages.ndjson");
    failure(
        t.fetch_interval(THREE_DAYS).args(["--split", "P1D", "-o"]).arg(&file),
        3,
    );
    assert!(!file.exists());
    let leftovers = std::fs::read_dir(t.dir.path()).unwrap().count();
    assert_eq!(leftovers, 0, "no temporary file is left behind");
    stdout_of(t.fetch().arg("-o").arg(&file));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), sync_line(DAY1));
}

#[test]
fn fetch_piped_into_flatten_gives_the_rows_of_the_data() {
    let t = Setup::new(Script::default());
    let pages = stdout_of(
        t.fetch_interval("2024-05-01T00:00:00Z/2024-05-03T00:00:00Z")
            .args(["--split", "P1D"]),
    );
    let rows = stdout_of(gcagg().args(["flatten", "--format", "csv"]).write_stdin(pages));
    // Per day d: queue q1 offered 10+d, handled d times (sum 150784.0); q2 the service level.
    let expected = "\
queueId,mediaType,interval_start,interval_end,nOffered_count,tHandle_max,tHandle_min,tHandle_count,tHandle_sum,oServiceLevel_ratio,oServiceLevel_numerator,oServiceLevel_denominator,oServiceLevel_target
q1,voice,2024-05-01T00:00:00.000Z,2024-05-02T00:00:00.000Z,11,451577,2324,1,150784.0,0,0,0,0
q2,,2024-05-01T00:00:00.000Z,2024-05-02T00:00:00.000Z,0,0,0,0,0,0.47586206896551725,414,870,0.8
q1,voice,2024-05-02T00:00:00.000Z,2024-05-03T00:00:00.000Z,12,451577,2324,2,150784.0,0,0,0,0
q2,,2024-05-02T00:00:00.000Z,2024-05-03T00:00:00.000Z,0,0,0,0,0,0.47586206896551725,414,870,0.8
";
    assert_eq!(rows, expected);
}

#[test]
fn pages_larger_than_ten_megabytes_are_streamed_whole() {
    let t = Setup::new(Script {
        padding_results: 80_000,
        ..Script::default()
    });
    let out = stdout_of(&mut t.fetch());
    assert!(out.len() > 10 * 1024 * 1024, "{} bytes", out.len());
    assert_eq!(out.lines().count(), 1);
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 80_002);
}

#[test]
fn secret_and_tokens_never_appear_in_verbose_logs_or_errors() {
    use base64::Engine;
    let script = Script {
        revoke_after: Some(1),
        ..Script::default()
    }
    .fault(
        "/aggregates/jobs",
        1,
        Reply::error(429, "too.many.requests", "Slow down").header("Retry-After", "1"),
    );
    let t = Setup::new(script);
    let ok = t.fetch().args(["--async", "--verbose"]).output().unwrap();
    // A wrong client id: the token endpoint refuses it; the secret must not be echoed.
    let bad = Setup::new(Script::default())
        .bare()
        .args(["--interval", DAY1, "--metrics", "nOffered", "--verbose"])
        .args(["--client-id", "nobody", "--client-secret", SECRET])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    for out in [&ok, &bad] {
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            for secret in [SECRET, "x9Q7", basic.as_str()] {
                assert!(!text.contains(secret), "{secret} leaked: {text}");
            }
        }
    }
    let log = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{log}");
    assert!(log.contains("(Authorization: Basic <redacted>)"), "{log}");
    assert!(log.contains("(Authorization: Bearer <redacted>)"), "{log}");
    assert!(log.contains("401: the token was refused"), "{log}");
}

#[test]
fn every_request_has_a_timeout() {
    let t = Setup::new(Script {
        slow_first: Duration::from_secs(4),
        ..Script::default()
    });
    let stderr = failure(t.fetch().args(["--timeout", "1", "--max-retries", "1"]), 3);
    assert!(stderr.contains("no complete answer within --timeout 1"), "{stderr}");
    assert!(stderr.contains("gave up after 1 retry"), "{stderr}");
}

#[test]
fn quiet_keeps_stderr_empty_through_retries() {
    let t = Setup::new(Script::default().fault(
        "/aggregates/query",
        1,
        Reply::error(503, "service.unavailable", "Try later"),
    ));
    t.fetch().arg("--quiet").assert().success().stderr("");
}

#[test]
fn bad_flags_are_usage_errors() {
    let t = Setup::new(Script::default());
    let cases: &[&[&str]] = &[
        &["--since", "yesterday", "--metrics", "nOffered"],
        &["--since", "1d", "--interval", DAY1, "--metrics", "nOffered"],
        &["--interval", DAY1],
        &["--metrics", "nOffered"],
        &["--interval", DAY1, "--metrics", "nOffered", "--page-size", "10"],
        &[
            "--interval",
            "today/tomorrow",
            "--metrics",
            "nOffered",
            "--split",
            "P1D",
        ],
        &["--interval", DAY1, "--metrics", "nOffered", "--split", "1 day"],
        &["--interval", DAY1, "--metrics", "nOffered", "--filter", "queueId"],
        &["--interval", DAY1, "--metrics", "nOffered", "--resume"],
        &["--interval", DAY1, "--metrics", "nOffered", "--concurrency", "0"],
        &["--interval", DAY1, "--metrics", "n", "--async", "--job-timeout", "P1M"],
        &["--interval", DAY1, "--metrics", "n", "--async", "--job-timeout", "soon"],
        &["--interval", DAY1, "--metrics", "n", "--async", "--max-pages", "0"],
        &["--interval", DAY1, "--metrics", "n", "--max-wait", "P1M"],
    ];
    for args in cases {
        let out = t.with_credentials().args(*args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(t.server.requests().is_empty());
}

#[test]
fn flatten_refuses_a_fetch_folder_with_chunks_missing_unless_allowed() {
    let t = third_day_broken();
    let out = t.path("pull");
    let pull = || split_by_day(&t, &out);
    failure(&mut pull(), 3);
    // Two of three days are there: flattening them alone would lose a day without a word.
    let refused = failure(gcagg().arg("flatten").arg(&out), 1);
    assert!(
        refused.contains("1 of the 3 chunks in _manifest.json is not fetched yet (2024-05-03T00:00:00.000Z/"),
        "{refused}"
    );
    assert!(refused.contains(&format!("-o {} --resume", out.display())), "{refused}");
    assert!(refused.contains("--allow-incomplete"), "{refused}");
    // schema reads the same inputs, and refuses alike.
    failure(gcagg().arg("schema").arg(&out), 1);

    let allowed = gcagg()
        .args(["flatten", "--allow-incomplete"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(allowed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&allowed.stdout).lines().count(),
        4,
        "two days of two rows"
    );
    let warning = String::from_utf8(allowed.stderr).unwrap();
    assert!(
        warning.starts_with("gcagg: warning: ") && warning.contains("1 of the 3 chunks"),
        "{warning}"
    );
    assert_eq!(warning.lines().count(), 1, "{warning}");

    // Resumed, the folder is whole: flatten reads it without a word.
    t.server.script().broken_interval = None;
    stdout_of(pull().arg("--resume"));
    assert_eq!(stdout_of(gcagg().arg("flatten").arg(&out)).lines().count(), 6);
}

/// Every name in `dir`, hidden ones included, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn fetched_files_get_the_umask_mode_and_no_temporary_remains() {
    let t = third_day_broken();
    let file = t.path("pages.ndjson");
    stdout_of(
        t.under_umask("022")
            .args(["--interval", DAY1, "--metrics", "nOffered", "-o"])
            .arg(&file),
    );
    assert_eq!(mode(&file), 0o644);
    assert_eq!(listing(t.dir.path()), ["pages.ndjson"]);

    let out = t.path("pull");
    let pull = || {
        let mut cmd = t.under_umask("022");
        cmd.args([
            "--interval",
            THREE_DAYS,
            "--metrics",
            "nOffered,tHandle",
            "--split",
            "P1D",
            "-o",
        ])
        .arg(format!("{}/", out.display()));
        cmd
    };
    failure(&mut pull(), 3);
    assert_eq!(
        listing(&out),
        ["_manifest.json", "chunk-00000.ndjson", "chunk-00001.ndjson"]
    );
    for name in ["_manifest.json", "chunk-00000.ndjson"] {
        assert_eq!(mode(&out.join(name)), 0o644, "{name}");
    }
    // What a run killed outright (SIGKILL) leaves: no cleanup could remove it; --resume does.
    std::fs::write(out.join(".chunk-00002.ndjson.Xy12Ab.tmp"), "{\"results\":[").unwrap();
    std::fs::write(out.join(".chunkQ1w2E3"), "").unwrap();
    t.server.script().broken_interval = None;
    stdout_of(pull().arg("--resume"));
    assert_eq!(
        listing(&out),
        [
            "_manifest.json",
            "chunk-00000.ndjson",
            "chunk-00001.ndjson",
            "chunk-00002.ndjson"
        ]
    );
    assert_eq!(mode(&out.join("chunk-00002.ndjson")), 0o644);
}

/// Waits until the fake has been asked about `job` (it exists and is being polled).
fn wait_for_job(t: &Setup, job: &str, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while t.server.requests_to(&format!("/aggregates/jobs/{job}")).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "gcagg ended before polling {job}");
        assert!(std::time::Instant::now() < deadline, "{job} never polled");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` (`INT`, `TERM`) to the child and checks that it died of it (what a shell
/// reports as 128 + the signal's number); returns its stderr.
pub fn kill_and_wait(child: std::process::Child, signal: &str, number: i32) -> String {
    use std::os::unix::process::ExitStatusExt;
    let kill = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let ended = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr).into_owned();
    assert_eq!(ended.status.signal(), Some(number), "{}: {stderr}", ended.status);
    stderr
}

/// Starts `gcagg fetch ARGS` against a fake whose jobs run for ever, sends `signal` (`INT`,
/// `TERM`) once job-1 is polled, and checks that gcagg died of it (what a shell reports as
/// 130 or 143) after cancelling the job. Returns the fake, to go on with.
fn interrupted(args: &[&str], signal: &str, number: i32) -> Setup {
    let t = Setup::new(Script {
        job_runs_forever: true,
        ..Script::default()
    });
    let mut child = t
        .server
        .process("fetch")
        .current_dir(t.dir.path())
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", SECRET)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_job(&t, "job-1", &mut child);
    let stderr = kill_and_wait(child, signal, number);
    assert!(stderr.lines().all(|l| l.starts_with("gcagg: ")), "{stderr}");
    assert_eq!(t.server.cancelled_jobs(), ["job-1"], "SIG{signal}");
    let deleted = t.server.requests_to("/aggregates/jobs/job-1");
    let delete = deleted.iter().find(|r| r.method == "DELETE").unwrap();
    assert_eq!(delete.path, "/api/v2/analytics/conversations/aggregates/jobs/job-1");
    t
}

#[test]
fn an_interrupted_fetch_cancels_its_running_job_and_resumes_cleanly() {
    for (signal, number) in [("INT", 2), ("TERM", 15)] {
        let args = ["--interval", DAY1, "--metrics", "nOffered", "--async", "-o", "pull/"];
        let t = interrupted(&args, signal, number);
        let out = t.path("pull");
        assert_eq!(listing(&out), ["_manifest.json"], "SIG{signal}");
        assert_eq!(manifest(&out)["chunks"][0]["complete"], false);

        t.server.script().job_runs_forever = false;
        stdout_of(t.with_credentials().args(args).arg("--resume"));
        assert_eq!(listing(&out), ["_manifest.json", "chunk-00000.ndjson"]);
        assert_eq!(manifest(&out)["chunks"][0]["complete"], true);
        let pages = std::fs::read_to_string(out.join("chunk-00000.ndjson")).unwrap();
        assert_eq!(pages.lines().count(), 3);
    }
}

#[test]
fn an_interrupted_fetch_to_a_file_leaves_neither_the_file_nor_its_temporary() {
    let args = [
        "--interval",
        THREE_DAYS,
        "--metrics",
        "nOffered",
        "--async",
        "--split",
        "P1D",
    ];
    let t = interrupted(&[&args[..], &["-o", "pages.ndjson"]].concat(), "INT", 2);
    assert_eq!(
        listing(t.dir.path()),
        Vec::<String>::new(),
        "no partial file, no temporary"
    );
}

#[test]
fn a_fetch_that_fails_while_its_job_runs_cancels_the_job() {
    let t = Setup::new(
        Script {
            job_runs_forever: true,
            ..Script::default()
        }
        .fault(
            "/aggregates/jobs/job-1",
            1,
            Reply::error(500, "internal.server.error", "The server encountered an error."),
        ),
    );
    let stderr = failure(t.fetch().arg("--async"), 3);
    assert!(stderr.contains("500 internal.server.error"), "{stderr}");
    assert_eq!(t.server.cancelled_jobs(), ["job-1"]);
}

/// An async fetch with `args` from a fake scripted as `script`, which must fail with exit 3;
/// returns the fake and the one-line message.
fn async_failure(script: Script, args: &[&str]) -> (Setup, String) {
    let t = Setup::new(script);
    let stderr = failure(t.fetch().arg("--async").args(args), 3);
    (t, stderr)
}

fn running_forever() -> Script {
    Script {
        job_runs_forever: true,
        ..Script::default()
    }
}

fn with_cursors(cursors: Cursors) -> Script {
    Script {
        cursors,
        ..Script::default()
    }
}

#[test]
fn a_job_that_never_ends_is_cancelled_after_the_job_timeout() {
    let started = std::time::Instant::now();
    let (t, stderr) = async_failure(running_forever(), &["--job-timeout", "1s"]);
    assert!(
        stderr.contains("async job job-1 still RUNNING after --job-timeout 1s"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(t.server.cancelled_jobs(), ["job-1"]);
    // PT-style durations are taken too.
    let (_, stderr) = async_failure(running_forever(), &["--job-timeout", "PT1S"]);
    assert!(stderr.contains("--job-timeout 1s"), "{stderr}");
    // A job that is never picked up (QUEUED at every poll) is bounded the same way.
    let queued = Script {
        polls_queued: usize::MAX,
        ..Script::default()
    };
    let (t, stderr) = async_failure(queued, &["--job-timeout", "1s"]);
    assert!(
        stderr.contains("async job job-1 still QUEUED after --job-timeout 1s"),
        "{stderr}"
    );
    assert_eq!(t.server.cancelled_jobs(), ["job-1"]);
}

#[test]
fn a_cursor_seen_before_in_the_job_is_an_error() {
    let (t, stderr) = async_failure(with_cursors(Cursors::Cycle), &[]);
    assert!(
        stderr.contains("job job-1: the results page 3 gives cursor A again"),
        "{stderr}"
    );
    assert_eq!(cursors_asked(&t), ["", "cursor=A", "cursor=B"]);
}

#[test]
fn a_job_paging_without_end_stops_at_max_pages() {
    let (t, stderr) = async_failure(with_cursors(Cursors::Endless), &["--max-pages", "5"]);
    assert!(
        stderr.contains("job job-1: more than 5 results pages; raise --max-pages"),
        "{stderr}"
    );
    assert_eq!(t.server.requests_to("/results").len(), 5);
    // Raised, the same limit lets more through.
    let (t, _) = async_failure(with_cursors(Cursors::Endless), &["--max-pages", "12"]);
    assert_eq!(t.server.requests_to("/results").len(), 12);
}

#[test]
fn a_cursor_too_long_for_a_url_is_refused() {
    let (t, stderr) = async_failure(with_cursors(Cursors::Huge(70_000)), &[]);
    assert!(
        stderr.contains("gives a cursor of 70000 bytes: the request for the next page would be"),
        "{stderr}"
    );
    assert_eq!(t.server.requests_to("/results").len(), 1);
    // The limit is the request's, path included: a cursor that fills the rest of it is sent
    // back, one byte more is not (the HTTP client panicked on it), and a cursor whose bytes
    // are percent-encoded counts as sent.
    let path = "/api/v2/analytics/conversations/aggregates/jobs/job-1/results?cursor=";
    let fits = 65_534 - path.len();
    let (t, stderr) = async_failure(with_cursors(Cursors::Huge(fits + 1)), &[]);
    assert!(
        stderr.contains(&format!("gives a cursor of {} bytes", fits + 1)) && stderr.contains("65534"),
        "{stderr}"
    );
    assert_eq!(t.server.requests_to("/results").len(), 1);
    // Sent back whole: the fake then answers the same cursor again, which ends the job.
    let (t, stderr) = async_failure(with_cursors(Cursors::Huge(fits)), &[]);
    assert!(stderr.contains("the results page 2 gives cursor"), "{stderr}");
    let asked = t.server.requests_to("/results");
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[1].path.len() + 1 + asked[1].query.len(), 65_534);
    let (t, stderr) = async_failure(with_cursors(Cursors::Encoded(fits / 3 + 1)), &[]);
    assert!(stderr.contains("the request for the next page would be"), "{stderr}");
    assert_eq!(t.server.requests_to("/results").len(), 1);
}

#[test]
fn token_lifetimes_beyond_any_clock_are_clamped() {
    for expires_in in [i64::MAX as u64, u64::MAX] {
        let t = Setup::new(Script {
            expires_in,
            ..Script::default()
        });
        let out = stdout_of(t.fetch().arg("--async"));
        assert_eq!(out.lines().count(), 3, "expires_in {expires_in}");
        assert_eq!(t.server.requests_to("/oauth/token").len(), 1);
    }
}

#[test]
fn a_200_that_is_not_a_page_fails_and_is_never_stored() {
    let error_body = Reply::error(200, "too.many.requests", "Rate limit exceeded the maximum");
    let t = Setup::new(Script::default().fault("/aggregates/query", 1, error_body));
    let out = t.path("pull");
    let pull = || {
        let mut cmd = t.fetch();
        cmd.arg("-o").arg(format!("{}/", out.display()));
        cmd
    };
    let stderr = failure(&mut pull(), 3);
    assert!(
        stderr
            .contains("the 200 answer is not a page: an API error: too.many.requests: Rate limit exceeded the maximum"),
        "{stderr}"
    );
    assert_eq!(listing(&out), ["_manifest.json"]);
    assert_eq!(manifest(&out)["chunks"][0]["complete"], false);
    // Resumed, the chunk is fetched again, whole.
    stdout_of(pull().arg("--resume"));
    assert_eq!(
        std::fs::read_to_string(out.join("chunk-00000.ndjson")).unwrap(),
        sync_line(DAY1)
    );

    // An async results page that is some other object, and the same on stdout.
    let t = Setup::new(Script::default().fault("/results", 1, Reply::json(200, r#"{"status":"ok","items":[]}"#)));
    let out = t.fetch().arg("--async").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty(), "nothing of it is written");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("an object without results, entities or cursor (keys: status, items)"),
        "{stderr}"
    );
}

/// A fake whose first sync query is rate limited with `Retry-After: retry_after`.
fn rate_limited_for(retry_after: &str) -> Setup {
    Setup::new(Script::default().fault(
        "/aggregates/query",
        1,
        Reply::error(429, "too.many.requests", "Rate limit exceeded").header("Retry-After", retry_after),
    ))
}

/// stderr of a fetch that must succeed.
fn stderr_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), sync_line(DAY1));
    stderr
}

#[test]
fn long_rate_limit_waits_are_capped_and_announced() {
    // Not a terminal, and even --quiet: a wait over a minute is said.
    let t = rate_limited_for("120");
    assert_eq!(
        stderr_of(t.fetch().arg("--quiet")),
        "gcagg: waiting 2m for the rate limit (Retry-After)\n"
    );
    let t = rate_limited_for("99999");
    assert_eq!(
        stderr_of(&mut t.fetch()),
        "gcagg: waiting 5m for the rate limit (Retry-After, capped by --max-wait 5m)\n"
    );
    let t = rate_limited_for("99999");
    assert_eq!(
        stderr_of(t.fetch().args(["--max-wait", "90s"])),
        "gcagg: waiting 1m30s for the rate limit (Retry-After, capped by --max-wait 1m30s)\n"
    );
    // A minute or less waits without a word.
    let t = rate_limited_for("60");
    assert_eq!(stderr_of(&mut t.fetch()), "");
    // The cap holds for short waits too.
    let t = rate_limited_for("60");
    let (stdout, stderr) = verbose(t.fetch().args(["--max-wait", "2s"]));
    assert_eq!(stdout, sync_line(DAY1));
    assert!(
        stderr.contains("(wait from Retry-After); retry 1/5 in 2.0s"),
        "{stderr}"
    );
    assert!(!stderr.contains("gcagg: waiting"), "{stderr}");
}

#[test]
fn resume_counts_a_chunk_only_by_its_own_file_in_the_directory() {
    let t = third_day_broken();
    let out = t.path("pull");
    failure(&mut split_by_day(&t, &out), 3);
    t.server.script().broken_interval = None;
    // A manifest edited to call chunk 3 complete through another file's name.
    std::fs::write(t.path("outside.ndjson"), "{}\n").unwrap();
    for name in [
        "../outside.ndjson".to_owned(),
        t.path("outside.ndjson").display().to_string(),
    ] {
        let mut m = manifest(&out);
        m["chunks"][2]["complete"] = Value::Bool(true);
        m["chunks"][2]["file"] = Value::String(name);
        std::fs::write(out.join("_manifest.json"), serde_json::to_string(&m).unwrap()).unwrap();
        let _ = std::fs::remove_file(out.join("chunk-00002.ndjson"));
        let before = t.server.requests_to("/aggregates/query").len();
        stdout_of(split_by_day(&t, &out).arg("--resume"));
        let queries = t.server.requests_to("/aggregates/query");
        assert_eq!(queries.len(), before + 1, "chunk 3 is fetched again");
        assert_eq!(manifest(&out)["chunks"][2]["file"], "chunk-00002.ndjson");
    }
}

#[test]
fn a_manifest_gcagg_did_not_write_is_a_usage_error() {
    let t = Setup::new(Script::default());
    let out = t.path("pull");
    std::fs::create_dir(&out).unwrap();
    // Another tool's JSON, and no JSON at all; a fresh run as well as a resumed one.
    for manifest in ["{\"tool\": \"other\"}", "garbage\n"] {
        std::fs::write(out.join("_manifest.json"), manifest).unwrap();
        for resume in [&["--resume"][..], &[]] {
            let message = failure(t.fetch().arg("-o").arg(format!("{}/", out.display())).args(resume), 2);
            assert!(
                message.contains("not a gcagg manifest"),
                "{manifest:?} {resume:?}: {message}"
            );
        }
    }
    assert!(t.server.requests().is_empty(), "no request before the manifest is read");
}

#[test]
fn base_urls_that_would_leak_credentials_are_refused() {
    let dry = |api: &str| {
        dry_run(&[
            "--interval",
            DAY1,
            "--api-base",
            api,
            "--login-base",
            "https://login.example.com",
        ])
    };
    let message = failure(&mut dry("http://proxy.example.com:8080"), 2);
    assert!(
        message.contains("plain http to proxy.example.com") && message.contains("--allow-http"),
        "{message}"
    );
    stdout_of(dry("http://proxy.example.com:8080").arg("--allow-http"));
    for loopback in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
        stdout_of(&mut dry(loopback));
    }
    let message = failure(&mut dry("https://user:pw@proxy.example.com"), 2);
    assert!(
        message.contains("user name or password") && !message.contains("pw"),
        "{message}"
    );
    // The login base carries the client secret itself: the same rules.
    let login = |base: &str| {
        dry_run(&[
            "--interval",
            DAY1,
            "--api-base",
            "https://api.example.com",
            "--login-base",
            base,
        ])
    };
    let message = failure(&mut login("http://login.example.com"), 2);
    assert!(message.contains("plain http to login.example.com"), "{message}");
    let message = failure(&mut login("https://id:secret@login.example.com"), 2);
    assert!(
        message.contains("user name or password") && !message.contains("id:secret"),
        "{message}"
    );
}

#[test]
fn secrets_a_server_echoes_never_reach_stderr() {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    let echo = format!(
        r#"{{"error":"invalid_client","description":"rejected request with headers authorization: Basic {basic}; client_secret={SECRET}"}}"#
    );
    let t = Setup::new(Script::default().fault("/oauth/token", 1, Reply::json(401, echo)));
    let message = failure(&mut t.fetch(), 3);
    assert!(message.contains("authorization: <redacted>"), "{message}");
    assert!(!message.contains(&basic) && !message.contains(SECRET), "{message}");

    // A 403 quoting the bearer token the fake gave (`tok-1-x9Q7`), in the error and in
    // the --verbose log of the answer.
    let quoted = Reply::error(
        403,
        "missing.permissions",
        "token tok-1-x9Q7 lacks analytics:conversationAggregate:view",
    );
    let t = Setup::new(Script::default().fault("/aggregates/query", 1, quoted));
    let out = t.fetch().arg("--verbose").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("token <redacted> lacks"), "{stderr}");
    assert!(
        !stderr.contains("tok-1-x9Q7") && !stderr.contains(SECRET) && !stderr.contains(&basic),
        "{stderr}"
    );
}

#[test]
fn durations_past_a_thousand_years_are_usage_errors() {
    let dry = |since: &str| dry_run(&["--region", "us-east-1", "--since", since]);
    for absurd in [
        "9999999999999d",
        "P9999999999999D",
        "P700000000000000000Y700000000000000000Y",
        "P1001Y",
    ] {
        let message = failure(&mut dry(absurd), 2);
        assert!(
            message.contains(&format!("--since {absurd}: expected a duration")),
            "{message}"
        );
        assert!(message.contains("at most 1000 years"), "{message}");
    }
    let plan = stdout_of(&mut dry("P999Y"));
    let year: i64 = plan.split("\"interval\":\"").nth(1).unwrap()[..4].parse().unwrap();
    assert!((1025..=1030).contains(&year), "{plan}");
}

/// `gcagg fetch --dry-run --metrics nOffered` with `args`: checks that need no server.
fn dry_run(args: &[&str]) -> Command {
    let mut cmd = gcagg();
    cmd.args(["fetch", "--dry-run", "--metrics", "nOffered"]).args(args);
    cmd
}

#[test]
fn credentials_come_from_a_dotenv_file_as_editors_write_it() {
    let t = Setup::new(Script::default());
    let dotenv = format!("\u{feff}# saved on Windows\r\nexport\tGENESYS_CLIENT_ID={CLIENT_ID}\t# the id\r\nGENESYS_CLIENT_SECRET=\"{SECRET}\"\r\n");
    std::fs::write(t.dir.path().join(".env"), dotenv).unwrap();
    let mut cmd = t.bare();
    cmd.args(["--interval", DAY1, "--metrics", "nOffered,tHandle"]);
    assert_eq!(stdout_of(&mut cmd), sync_line(DAY1));

    // A .env that is not UTF-8 is passed by with a warning; flags still work.
    std::fs::write(t.dir.path().join(".env"), b"GENESYS_CLIENT_ID=\xff\n").unwrap();
    let out = t
        .bare()
        .args(["--interval", DAY1, "--metrics", "nOffered,tHandle"])
        .args(["--client-id", CLIENT_ID, "--client-secret", SECRET])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".env: not UTF-8 (byte 19); its variables are not used"),
        "{stderr}"
    );
}

#[test]
fn intervals_granularities_and_kinds_are_checked_before_any_request() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--interval", "2024-05-01/2024-05-02"],
            "each a date and time with an offset",
        ),
        (
            &["--interval", "2024-05-02T00:00:00Z/2024-05-01T00:00:00Z"],
            "the end is not after the start",
        ),
        (
            &["--interval", DAY1, "--granularity", "half-hour"],
            "--granularity half-hour: expected a duration",
        ),
        (
            &["--interval", DAY1, "--kind", "conversation"],
            "did you mean conversations?",
        ),
    ];
    for (args, expected) in cases {
        let message = failure(&mut dry_run(&[&["--region", "us-east-1"], args].concat()), 2);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    // A name near no known kind gets no suggestion (`foo` is not a misspelling of `bots`).
    let message = failure(
        &mut dry_run(&["--region", "us-east-1", "--interval", DAY1, "--kind", "foo"]),
        2,
    );
    assert!(
        message.starts_with("gcagg: --kind foo: not a known analytics family (known: actions,")
            && !message.contains("did you mean"),
        "{message}"
    );
    // The shorthand --since takes works for --granularity too, sent as ISO-8601.
    let plan = stdout_of(&mut dry_run(&[
        "--region",
        "us-east-1",
        "--interval",
        DAY1,
        "--granularity",
        "30m",
    ]));
    assert!(plan.contains(r#""granularity":"PT30M""#), "{plan}");
    // A family newer than gcagg's list goes through with --any-kind.
    let plan = stdout_of(&mut dry_run(&[
        "--region",
        "us-east-1",
        "--interval",
        DAY1,
        "--kind",
        "newfamily",
        "--any-kind",
    ]));
    assert!(plan.contains("/api/v2/analytics/newfamily/aggregates/query"), "{plan}");
}

#[test]
fn progress_counts_read_as_english() {
    let t = Setup::new(Script::default());
    let out = t.fetch().arg("--verbose").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gcagg: done: 1 chunk, 1 page, "), "{stderr}");
    assert!(!stderr.contains("1 chunks") && !stderr.contains("1 pages"), "{stderr}");
}

#[test]
fn an_answer_with_an_endless_string_is_refused_before_it_fills_memory() {
    let key = "k".repeat(9 << 20);
    let body = format!(r#"{{"results":[{{"group":{{"{key}":"q1"}},"data":[]}}]}}"#);
    let t = Setup::new(Script::default().fault("/aggregates/query", 1, Reply::json(200, body)));
    let file = t.path("pages.ndjson");
    let message = failure(t.fetch().arg("-o").arg(&file), 3);
    assert!(message.contains("a string of more than 8 MiB"), "{message}");
    assert!(!file.exists());
    assert_eq!(
        std::fs::read_dir(t.dir.path()).unwrap().count(),
        0,
        "no temporary is left"
    );
    // A job's results cursor of 9 MiB: refused as it is read, before it is ever sent back.
    let (t, stderr) = async_failure(with_cursors(Cursors::Huge(9 << 20)), &[]);
    assert!(stderr.contains("a string of more than 8 MiB"), "{stderr}");
    assert_eq!(t.server.requests_to("/results").len(), 1);
}

/// Async jobs that are QUEUED for two polls, then PENDING for two, then FULFILLED.
fn queued_then_pending() -> Script {
    Script {
        polls_queued: 2,
        polls_pending: 2,
        ..Script::default()
    }
}

/// Three days, one chunk each, the first rate limited once (`Retry-After: 1`).
fn three_days_rate_limited(t: &Setup) -> Command {
    let mut cmd = t.fetch_interval(THREE_DAYS);
    cmd.args(["--split", "P1D"]);
    cmd
}

fn first_query_rate_limited() -> Script {
    Script::default().fault(
        "/aggregates/query",
        1,
        Reply::error(429, "too.many.requests", "Rate limit exceeded").header("Retry-After", "1"),
    )
}

#[test]
fn plain_progress_says_each_finished_chunk_and_each_retry_with_its_chunk() {
    let t = Setup::new(first_query_rate_limited());
    let out = three_days_rate_limited(&t)
        .args(["--progress", "plain"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "gcagg: chunk 1/3 (2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z): 429 (wait from Retry-After); retry 1/5 in 1.0s",
            "gcagg: chunk 1/3 (2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z): 1 page, 2 rows",
            "gcagg: chunk 2/3 (2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z): 1 page, 2 rows",
            "gcagg: chunk 3/3 (2024-05-03T00:00:00.000Z/2024-05-04T00:00:00.000Z): 1 page, 2 rows",
            "gcagg: done: 3 chunks, 3 pages, 6 rows",
        ],
        "{stderr}"
    );
}

#[test]
fn plain_progress_says_nothing_of_job_polls_and_pages() {
    let t = Setup::new(queued_then_pending());
    let out = t
        .fetch()
        .args(["--async", "--page-size", "2", "--progress", "plain"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "gcagg: chunk 1/1 (2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z): 3 pages, 3 rows",
            "gcagg: done: 1 chunk, 3 pages, 3 rows",
        ],
        "{stderr}"
    );
    // --verbose still has every poll and page, as a line each.
    let (_, log) = verbose(t.fetch().args(["--async", "--page-size", "2"]));
    assert_eq!(log.matches("next look in").count(), 4, "{log}");
    assert!(log.contains("): page 3, 3 rows so far\n"), "{log}");
}

#[test]
fn progress_off_a_terminal_is_silent_by_default_and_with_none() {
    for flags in [&[][..], &["--progress", "none"], &["--progress", "auto"], &["--quiet"]] {
        let t = Setup::new(first_query_rate_limited());
        let out = three_days_rate_limited(&t).args(flags).output().unwrap();
        assert!(out.status.success(), "{flags:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{flags:?}");
    }
}

#[test]
fn bar_progress_off_a_terminal_fetches_the_same_pages() {
    let plain = Setup::new(first_query_rate_limited());
    let expected = stdout_of(&mut three_days_rate_limited(&plain));
    let t = Setup::new(first_query_rate_limited());
    let out = three_days_rate_limited(&t)
        .args(["--progress", "bar", "--concurrency", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    // The board is drawn (forced) and cleared; what stays is the summary.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gcagg: done: 3 chunks, 3 pages, 6 rows"), "{stderr:?}");
}

#[test]
fn progress_flags_that_contradict_each_other_are_usage_errors() {
    let t = Setup::new(Script::default());
    failure(t.fetch().args(["--quiet", "--progress", "plain"]), 2);
    failure(t.fetch().args(["--quiet", "--verbose"]), 2);
    failure(t.fetch().args(["--progress", "fancy"]), 2);
    assert!(t.server.requests_to("/aggregates/query").is_empty());
}

// ---- time zones -----------------------------------------------------------------------------

/// The chunk intervals a dry run with `args` would query, in order.
fn planned_chunks(args: &[&str]) -> Vec<String> {
    let plan = stdout_of(&mut dry_run(&[&["--region", "us-east-1"], args].concat()));
    plan.lines()
        .filter_map(|l| l.strip_prefix("# chunk "))
        .map(|l| l.split_once(" (").unwrap().1.trim_end_matches(')').to_owned())
        .collect()
}

#[test]
fn split_by_day_in_berlin_ends_every_chunk_at_local_midnight_across_spring_forward() {
    let t = Setup::new(Script::default());
    stdout_of(
        t.fetch_interval("2024-03-30T00:00:00+01:00/2024-04-02T00:00:00+02:00")
            .args(["--split", "P1D", "--granularity", "P1D", "--time-zone", "Europe/Berlin"]),
    );
    let bodies: Vec<Value> = t.server.requests_to("/aggregates/query").iter().map(body_of).collect();
    let mut asked: Vec<&str> = bodies.iter().map(|b| b["interval"].as_str().unwrap()).collect();
    asked.sort();
    // 31 March has 23 hours in Berlin: its chunk ends at local midnight, +02:00.
    assert_eq!(
        asked,
        [
            "2024-03-30T00:00:00.000+01:00/2024-03-31T00:00:00.000+01:00",
            "2024-03-31T00:00:00.000+01:00/2024-04-01T00:00:00.000+02:00",
            "2024-04-01T00:00:00.000+02:00/2024-04-02T00:00:00.000+02:00",
        ]
    );
    assert!(bodies.iter().all(|b| b["timeZone"] == "Europe/Berlin"), "{bodies:?}");
}

#[test]
fn split_by_day_in_berlin_gives_the_fall_back_day_its_25_hours() {
    // Written in UTC, counted on Berlin's calendar, written in Berlin's offsets.
    let chunks = planned_chunks(&[
        "--interval",
        "2024-10-25T22:00:00Z/2024-10-28T23:00:00Z",
        "--split",
        "P1D",
        "--time-zone",
        "europe/berlin",
    ]);
    assert_eq!(
        chunks,
        [
            "2024-10-26T00:00:00.000+02:00/2024-10-27T00:00:00.000+02:00",
            "2024-10-27T00:00:00.000+02:00/2024-10-28T00:00:00.000+01:00",
            "2024-10-28T00:00:00.000+01:00/2024-10-29T00:00:00.000+01:00",
        ]
    );
    // Without a zone the start's offset is the calendar, as written.
    let fixed = planned_chunks(&[
        "--interval",
        "2024-10-26T00:00:00+02:00/2024-10-28T00:00:00+02:00",
        "--split",
        "P1D",
    ]);
    assert_eq!(fixed[1], "2024-10-27T00:00:00.000+02:00/2024-10-28T00:00:00.000+02:00");
}

/// The interval and time zone of the one body a dry run with `args` would send.
fn planned_body(args: &[&str]) -> (String, String) {
    let plan = stdout_of(&mut dry_run(&[&["--region", "us-east-1"], args].concat()));
    let body: Value = plan.lines().find_map(|l| serde_json::from_str(l).ok()).unwrap();
    (
        body["interval"].as_str().unwrap().to_owned(),
        body["timeZone"].as_str().unwrap().to_owned(),
    )
}

/// The last `days` local days before today in `zone`, as fetch writes an interval.
fn last_days(zone: &str, days: i64) -> String {
    let today = jiff::ZonedDateTime::now().in_tz(zone).unwrap().start_of_day().unwrap();
    let start = today.checked_sub(jiff::Span::new().days(days)).unwrap();
    let written = |t: &jiff::ZonedDateTime| {
        let offset = t.strftime("%:z").to_string();
        format!(
            "{}{}",
            t.strftime("%Y-%m-%dT%H:%M:%S%.3f"),
            if offset == "+00:00" { "Z" } else { &offset }
        )
    };
    format!("{}/{}", written(&start), written(&today))
}

#[test]
fn since_by_day_ends_at_the_zones_midnight() {
    for (zone, name) in [("Europe/Berlin", "Europe/Berlin"), ("Z", "UTC")] {
        let before = last_days(name, 7);
        let (interval, sent) = planned_body(&["--since", "7d", "--granularity", "P1D", "--time-zone", zone]);
        // A run across local midnight may see either day.
        assert!([before, last_days(name, 7)].contains(&interval), "{zone}: {interval}");
        assert_eq!(sent, name);
    }
}

#[test]
fn an_unknown_time_zone_is_a_usage_error_naming_the_flag() {
    let message = failure(
        &mut dry_run(&["--region", "us-east-1", "--since", "1d", "--time-zone", "Europe/Berlim"]),
        2,
    );
    assert!(
        message.starts_with("gcagg: --time-zone Europe/Berlim: unknown time zone; did you mean Europe/Berlin?"),
        "{message}"
    );
    let message = failure(
        &mut dry_run(&["--region", "us-east-1", "--interval", DAY1, "--time-zone", "+05:30"]),
        2,
    );
    assert!(message.contains("--time-zone +05:30: no IANA time zone"), "{message}");
}

#[test]
fn on_a_terminal_the_board_shows_each_running_chunk_in_place_not_a_line_per_poll() {
    let t = Setup::new(queued_then_pending());
    let mut cmd = t.server.process("fetch");
    cmd.current_dir(t.dir.path())
        .env("GENESYS_CLIENT_ID", CLIENT_ID)
        .env("GENESYS_CLIENT_SECRET", SECRET)
        // Polls a tenth of a second apart at first: each state lasts long enough to be drawn.
        .env("GCAGG_WAIT_SCALE", "0.1")
        .args(["--interval", THREE_DAYS, "--split", "P1D", "--concurrency", "3"])
        .args(["--async", "--page-size", "2", "--metrics", "nOffered", "-o", "days/"]);
    let shown = crate::util::on_a_terminal(&cmd, || {});
    // The totals and a chunk's status line, redrawn in place ...
    assert!(
        shown.contains("gcagg: 0/3 chunks, 0 pages, 0 rows, 0 retries"),
        "{shown:?}"
    );
    // (The chunks submit their jobs at once: which gets job-1 varies.)
    let status = "gcagg: chunk 1/3 (2024-05-01T00:00Z/2024-05-02T00:00Z): job job-";
    assert!(shown.contains(status), "{shown:?}");
    assert!(shown.contains(" QUEUED, ") && shown.contains(" PENDING, "), "{shown:?}");
    // ... and 12 polls and 9 pages later, one line stays: the summary.
    assert_eq!(shown.matches('\n').count(), 1, "{shown:?}");
    assert!(
        shown.contains("gcagg: done: 3 chunks, 9 pages, 9 rows\r\n"),
        "{shown:?}"
    );
    assert_eq!(manifest(&t.path("days"))["chunks"].as_array().unwrap().len(), 3);
}
