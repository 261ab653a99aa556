//! A fake Genesys Cloud API for the fetch tests, on 127.0.0.1 and an ephemeral port.
//!
//! It behaves as GENESYS-API.md describes the real one: the OAuth token endpoint (Basic
//! auth, form body, `400 invalid_client`), bearer-token checks with `401`, the sync
//! aggregates query, async jobs that go QUEUED -> PENDING -> FULFILLED (or FAILED) and serve
//! cursor pages, rate-limit headers on every answer. A test scripts the rest: faults served
//! in order to the paths they name (429 with `Retry-After`, 503 bursts, error bodies, hang-ups,
//! bodies cut short), tokens revoked after some calls, slow or huge pages. Every request is
//! recorded for the test to inspect. HTTP/1.1 by hand: one request per connection.
//!
//! Observation queries (`POST /api/v2/analytics/{queues,users,flows}/observations/query`)
//! are checked as the real API checks them (a filter is required, and so are metrics;
//! dimensions outside the family's; more predicates than the cap) and answered with bodies
//! shaped like `fixtures/observations/`, pretty-printed, numbers changing from answer to
//! answer; every body sent is kept for the test to compare byte for byte.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// The OAuth client the fake accepts.
pub const CLIENT_ID: &str = "test-client-id";
/// Its secret: no test output may ever contain it.
pub const SECRET: &str = "S3cret-never-printed-42";

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// An answer to send, or a way to fail.
#[derive(Debug, Clone)]
pub enum Reply {
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection without answering.
    HangUp,
    /// Send the headers and half the body, then close.
    CutShort(String),
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply::Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Answer { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// The API's 429: its message and `Retry-After` give the same number of seconds.
    pub fn rate_limited(seconds: u32) -> Reply {
        let message = format!("Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds");
        Reply::error(429, "too.many.requests", &message).header("Retry-After", &seconds.to_string())
    }

    /// The gateway's 503, which is worth a retry.
    pub fn unavailable() -> Reply {
        Reply::error(503, "service.unavailable", "Service Unavailable")
    }

    /// An API error body shaped like the real one.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"message": message, "code": code, "status": status, "messageWithParams": message,
                   "messageParams": {}, "contextId": format!("ctx-{status}-{code}"), "details": [], "errors": []})
            .to_string(),
        )
    }
}

/// How a job ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JobEnd {
    Fulfilled,
    Failed,
}

/// The cursors an async job's results pages carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cursors {
    /// `cur/1`, `cur/2`... up to the last of `job_pages`, which has none.
    Counted,
    /// `A`, `B`, then `A` again, for ever.
    Cycle,
    /// A new one on every page, for ever.
    Endless,
    /// One cursor of this many bytes.
    Huge(usize),
    /// One cursor of this many `/`, each three bytes once percent-encoded in a URL.
    Encoded(usize),
}

/// What the fake is scripted to do.
#[derive(Debug)]
pub struct Script {
    /// `expires_in` of the tokens it gives.
    pub expires_in: u64,
    /// After this many API calls with a token, every token given so far stops working.
    pub revoke_after: Option<usize>,
    /// Faults served in order: the first whose path fragment matches a request answers it.
    pub faults: VecDeque<(String, Reply)>,
    /// Pages of each async job's results.
    pub job_pages: usize,
    pub job_end: JobEnd,
    /// Jobs never end: every poll answers RUNNING (until the job is deleted).
    pub job_runs_forever: bool,
    pub cursors: Cursors,
    /// Polls a job stays QUEUED, then PENDING, before it ends.
    pub polls_queued: usize,
    pub polls_pending: usize,
    /// Sync answers to the first chunk are delayed this long (the others are not).
    pub slow_first: Duration,
    /// Pad each sync page with this many extra results (a large page).
    pub padding_results: usize,
    /// Sync queries whose interval starts with this answer 500.
    pub broken_interval: Option<&'static str>,
    /// Hold each sync query (for up to 2 s) until this many are in flight at once, so a
    /// concurrent client shows its concurrency however the threads are scheduled.
    pub hold_until_in_flight: usize,
    /// The org's data, for sync tests: when set, every aggregate query is answered from it.
    pub lake: Option<Lake>,
    /// Predicates an observation query may carry at most.
    pub observation_cap: usize,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            expires_in: 86_400,
            revoke_after: None,
            faults: VecDeque::new(),
            job_pages: 3,
            job_end: JobEnd::Fulfilled,
            job_runs_forever: false,
            cursors: Cursors::Counted,
            polls_queued: 1,
            polls_pending: 1,
            slow_first: Duration::ZERO,
            padding_results: 0,
            broken_interval: None,
            hold_until_in_flight: 0,
            lake: None,
            observation_cap: OBSERVATION_CAP,
        }
    }
}

impl Script {
    /// Adds `reply` as the next `times` answers to requests whose path holds `path`.
    pub fn fault(mut self, path: &str, times: usize, reply: Reply) -> Script {
        for _ in 0..times {
            self.faults.push_back((path.to_owned(), reply.clone()));
        }
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    tokens_given: usize,
    valid_tokens: Vec<String>,
    calls_with_token: usize,
    jobs: HashMap<String, (Value, usize)>,
    /// Jobs deleted (cancelled), in order.
    cancelled: Vec<String>,
    /// Sync queries being answered now, and the most at once.
    queries_in_flight: usize,
    most_queries_at_once: usize,
    /// The bodies of the observation answers sent with 200, in order.
    observation_bodies: Vec<String>,
}

struct Fake {
    script: Mutex<Script>,
    state: Mutex<State>,
}

/// A running fake API.
pub struct Server {
    /// `http://127.0.0.1:PORT`, for `--api-base` and `--login-base`.
    pub base: String,
    fake: Arc<Fake>,
}

impl Server {
    pub fn start(script: Script) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Arc::new(Fake {
            script: Mutex::new(script),
            state: Mutex::new(State::default()),
        });
        let serving = Arc::clone(&fake);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let fake = Arc::clone(&serving);
                thread::spawn(move || fake.serve(stream));
            }
        });
        Server { base, fake }
    }

    /// The script, to change while the server runs.
    pub fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.fake.script.lock().unwrap()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.fake.state.lock().unwrap().requests.clone()
    }

    /// The jobs cancelled with `DELETE .../jobs/{jobId}`, in order.
    pub fn cancelled_jobs(&self) -> Vec<String> {
        self.fake.state.lock().unwrap().cancelled.clone()
    }

    /// The observation bodies the fake answered with (200), in the order sent.
    pub fn observation_bodies(&self) -> Vec<String> {
        self.fake.state.lock().unwrap().observation_bodies.clone()
    }

    /// The most sync queries the fake was answering at the same time.
    pub fn most_queries_at_once(&self) -> usize {
        self.fake.state.lock().unwrap().most_queries_at_once
    }

    /// `gcagg SUBCOMMAND` aimed at this fake, with no credentials, region or proxy from the
    /// environment, and every wait a thousandth as long (decided and reported as in real use).
    pub fn command(&self, subcommand: &str) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.process(subcommand))
    }

    /// [`Server::command`] run by `sh` under `umask`, to check the modes of what it writes.
    pub fn command_under_umask(&self, umask: &str, subcommand: &str) -> assert_cmd::Command {
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(assert_cmd::cargo::cargo_bin("gcagg"));
        assert_cmd::Command::from_std(self.aim(sh, subcommand))
    }

    /// [`Server::command`] as a process to spawn (and send signals to).
    pub fn process(&self, subcommand: &str) -> std::process::Command {
        self.aim(
            std::process::Command::new(assert_cmd::cargo::cargo_bin("gcagg")),
            subcommand,
        )
    }

    fn aim(&self, mut cmd: std::process::Command, subcommand: &str) -> std::process::Command {
        for var in [
            "GENESYS_CLIENT_ID",
            "GENESYS_CLIENT_SECRET",
            "GENESYSCLOUD_OAUTHCLIENT_ID",
            "GENESYSCLOUD_OAUTHCLIENT_SECRET",
            "GENESYS_ENVIRONMENT",
            "GENESYSCLOUD_REGION",
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("GCAGG_WAIT_SCALE", "0.001");
        cmd.args([subcommand, "--api-base", &self.base, "--login-base", &self.base]);
        cmd
    }

    /// Requests whose path contains `fragment`.
    pub fn requests_to(&self, fragment: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(fragment))
            .collect()
    }
}

impl Fake {
    fn serve(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream) else {
            return;
        };
        self.state.lock().unwrap().requests.push(request.clone());
        let reply = self.reply(&request);
        let _ = write_reply(&mut stream, reply);
    }

    fn reply(&self, req: &Request) -> Reply {
        let fault = {
            let mut script = self.script.lock().unwrap();
            let at = script
                .faults
                .iter()
                .position(|(path, _)| req.path.contains(path.as_str()));
            at.and_then(|i| script.faults.remove(i)).map(|(_, reply)| reply)
        };
        if let Some(reply) = fault {
            return reply;
        }
        if req.path == "/oauth/token" {
            return self.token(req);
        }
        if !self.authorized(req) {
            return Reply::error(401, "bad.credentials", "Invalid login credentials.");
        }
        let reply = self.api(req);
        match reply {
            Reply::Answer { .. } => reply
                .header("inin-ratelimit-count", "1")
                .header("inin-ratelimit-allowed", "300")
                .header("inin-ratelimit-reset", "60")
                .header("ININ-Correlation-Id", "corr-1"),
            other => other,
        }
    }

    fn token(&self, req: &Request) -> Reply {
        use base64::Engine;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"))
        );
        let form = req.header("content-type") == Some("application/x-www-form-urlencoded");
        if req.method != "POST" || !form || req.body != "grant_type=client_credentials" {
            return Reply::json(
                400,
                r#"{"error":"invalid_request","description":"grant_type is required","error_description":"grant_type is required"}"#,
            );
        }
        if req.header("authorization") != Some(expected.as_str()) {
            return Reply::json(
                400,
                r#"{"error":"invalid_client","description":"client not found","error_description":"client not found"}"#,
            );
        }
        let mut state = self.state.lock().unwrap();
        state.tokens_given += 1;
        let token = format!("tok-{}-x9Q7", state.tokens_given);
        state.valid_tokens.push(token.clone());
        let expires_in = self.script.lock().unwrap().expires_in;
        Reply::json(
            200,
            json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in}).to_string(),
        )
    }

    fn authorized(&self, req: &Request) -> bool {
        let revoke_after = self.script.lock().unwrap().revoke_after;
        let mut state = self.state.lock().unwrap();
        let token = req.header("authorization").and_then(|a| a.strip_prefix("Bearer "));
        if !token.is_some_and(|t| state.valid_tokens.iter().any(|v| v == t)) {
            return false;
        }
        state.calls_with_token += 1;
        if revoke_after == Some(state.calls_with_token) {
            // The token expires server-side, sooner than its expires_in said.
            state.valid_tokens.clear();
        }
        true
    }

    fn api(&self, req: &Request) -> Reply {
        if let Some(reply) = listing(req) {
            return reply;
        }
        let Some(rest) = req.path.strip_prefix("/api/v2/analytics/") else {
            return Reply::error(404, "not.found", "The requested resource was not found.");
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("POST", [_, "aggregates", "query"]) => {
                self.count_query(1);
                self.hold();
                let reply = self.sync_query(req);
                self.count_query(-1);
                reply
            }
            ("POST", [_, "aggregates", "jobs"]) => {
                let Ok(body) = serde_json::from_str::<Value>(&req.body) else {
                    return Reply::error(400, "bad.request", "Invalid JSON");
                };
                let mut state = self.state.lock().unwrap();
                let id = format!("job-{}", state.jobs.len() + 1);
                state.jobs.insert(id.clone(), (body, 0));
                Reply::json(202, json!({ "jobId": id }).to_string())
            }
            ("GET", [_, "aggregates", "jobs", id]) => self.job_state(id),
            ("DELETE", [_, "aggregates", "jobs", id]) => {
                let mut state = self.state.lock().unwrap();
                if !state.jobs.contains_key(*id) {
                    return Reply::error(404, "not.found", "Job not found");
                }
                state.cancelled.push((*id).to_owned());
                Reply::json(202, "")
            }
            ("GET", [_, "aggregates", "jobs", id, "results"]) => self.job_page(id, &req.query),
            ("POST", [kind @ ("queues" | "users" | "flows"), "observations", "query"]) => {
                self.observation_query(kind, req)
            }
            _ => Reply::error(404, "not.found", "The requested resource was not found."),
        }
    }

    fn count_query(&self, change: isize) {
        let mut state = self.state.lock().unwrap();
        state.queries_in_flight = state.queries_in_flight.saturating_add_signed(change);
        state.most_queries_at_once = state.most_queries_at_once.max(state.queries_in_flight);
    }

    fn hold(&self) {
        let wanted = self.script.lock().unwrap().hold_until_in_flight;
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.state.lock().unwrap().queries_in_flight < wanted && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn sync_query(&self, req: &Request) -> Reply {
        let Ok(body) = serde_json::from_str::<Value>(&req.body) else {
            return Reply::error(400, "bad.request", "Invalid JSON");
        };
        let interval = body["interval"].as_str().unwrap_or_default().to_owned();
        let (slow, padding, broken, lake) = {
            let script = self.script.lock().unwrap();
            (
                script.slow_first,
                script.padding_results,
                script.broken_interval,
                script.lake.clone(),
            )
        };
        if broken.is_some_and(|b| interval.starts_with(b)) {
            return Reply::error(500, "internal.server.error", "The server encountered an error.");
        }
        if let Some(lake) = lake {
            return Reply::json(200, lake.answer(&body).to_string());
        }
        if interval.starts_with(FIRST_DAY) {
            thread::sleep(slow);
        }
        // Real answers may be pretty-printed: fetch must turn them into one line.
        Reply::json(200, sync_page(&interval, padding))
    }

    fn job_state(&self, id: &str) -> Reply {
        let script = self.script.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let cancelled = state.cancelled.iter().any(|c| c == id);
        let Some((_, polls)) = state.jobs.get_mut(id) else {
            return Reply::error(404, "not.found", "Job not found");
        };
        *polls += 1;
        let state = if cancelled {
            json!({"state": "CANCELLED", "errorMessage": "The job was cancelled"})
        } else if script.job_runs_forever {
            json!({"state": "RUNNING"})
        } else if *polls <= script.polls_queued {
            json!({"state": "QUEUED"})
        } else if *polls <= script.polls_queued + script.polls_pending {
            json!({"state": "PENDING"})
        } else if script.job_end == JobEnd::Failed {
            json!({"state": "FAILED", "errorMessage": "Query exceeded the maximum result size"})
        } else {
            json!({"state": "FULFILLED"})
        };
        let mut answer = state;
        answer["submissionDate"] = json!("2024-05-01T00:00:00Z");
        answer["expirationDate"] = json!("2024-05-02T00:00:00Z");
        Reply::json(200, answer.to_string())
    }

    fn job_page(&self, id: &str, query: &str) -> Reply {
        // The script first, then the state: the order every handler takes them in.
        let (pages, cursors, lake) = {
            let script = self.script.lock().unwrap();
            (script.job_pages, script.cursors, script.lake.clone())
        };
        let state = self.state.lock().unwrap();
        let Some((body, _)) = state.jobs.get(id) else {
            return Reply::error(404, "not.found", "Job not found");
        };
        if let Some(lake) = lake {
            return Reply::json(200, lake.answer(body).to_string());
        }
        let interval = body["interval"].as_str().unwrap_or_default();
        let given = query.strip_prefix("cursor=");
        let next = match cursors {
            Cursors::Counted => None,
            Cursors::Cycle => Some(if given == Some("A") { "B" } else { "A" }.to_owned()),
            Cursors::Endless => Some(format!(
                "e{}",
                given.map_or(0, |c| c.trim_start_matches('e').parse::<u64>().unwrap_or(0) + 1)
            )),
            Cursors::Huge(len) => Some("h".repeat(len)),
            Cursors::Encoded(len) => Some("/".repeat(len)),
        };
        if let Some(next) = next {
            let answer = json!({"results": [job_result(interval, 0)], "cursor": next});
            return Reply::json(200, answer.to_string());
        }
        let page: usize = match query.strip_prefix("cursor=") {
            None => 0,
            // Cursors are opaque strings with characters that need encoding.
            Some(c) => c
                .replace("%2F", "/")
                .trim_start_matches("cur/")
                .parse()
                .unwrap_or(usize::MAX),
        };
        if page >= pages {
            return Reply::error(400, "invalid.cursor", "The cursor is invalid");
        }
        let mut answer = json!({"results": [job_result(interval, page)]});
        if page + 1 < pages {
            answer["cursor"] = json!(format!("cur/{}", page + 1));
        }
        Reply::json(200, answer.to_string())
    }
}

// ---- Observation queries -------------------------------------------------------------

/// The predicates the fake allows per observation query unless a test says otherwise.
pub const OBSERVATION_CAP: usize = 100;

/// Metrics counted per conversation, answered in a group with `mediaType` (as the real API
/// does); the others in a group of the entity alone.
const CONVERSATION_METRICS: [&str; 3] = ["oWaiting", "oInteracting", "oAlerting"];

impl Fake {
    fn observation_query(&self, kind: &str, req: &Request) -> Reply {
        let Ok(body) = serde_json::from_str::<Value>(&req.body) else {
            return Reply::error(
                400,
                "bad.request",
                "The request could not be understood by the server due to malformed syntax.",
            );
        };
        let entity = match kind {
            "queues" => "queueId",
            "users" => "userId",
            _ => "flowId",
        };
        let Some(filter) = body.get("filter").filter(|f| f.is_object()) else {
            return Reply::error(400, "bad.request", "filter: may not be null");
        };
        let metrics: Vec<&str> = body["metrics"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if metrics.is_empty() {
            return Reply::error(400, "bad.request", "metrics: may not be empty");
        }
        let mut predicates = Vec::new();
        collect_predicates(filter, &mut predicates);
        if predicates.is_empty() {
            return Reply::error(400, "bad.request", "filter: requires at least one predicate");
        }
        let cap = self.script.lock().unwrap().observation_cap;
        if predicates.len() > cap {
            return Reply::error(
                400,
                "bad.request",
                &format!("filter: {} predicates exceed the maximum of {cap}", predicates.len()),
            );
        }
        for p in &predicates {
            let dimension = p["dimension"].as_str().unwrap_or_default();
            if dimension != entity && dimension != "mediaType" {
                return Reply::error(
                    400,
                    "bad.request",
                    &format!("filter: {dimension} is not a valid dimension for {kind} observations"),
                );
            }
        }
        let details: Vec<&str> = body["detailMetrics"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ids: Vec<&str> = predicates
            .iter()
            .filter(|p| p["dimension"] == entity)
            .filter_map(|p| p["value"].as_str())
            .collect();
        let mut state = self.state.lock().unwrap();
        let answer = observation_answer(kind, entity, &ids, &metrics, &details, state.observation_bodies.len());
        state.observation_bodies.push(answer.clone());
        Reply::json(200, answer)
    }
}

/// Every predicate of a filter, its clauses' included.
fn collect_predicates<'a>(filter: &'a Value, out: &mut Vec<&'a Value>) {
    out.extend(filter["predicates"].as_array().into_iter().flatten());
    for clause in filter["clauses"].as_array().into_iter().flatten() {
        collect_predicates(clause, out);
    }
}

/// An observation answer for `ids`, pretty-printed as a real answer may be, with counts
/// that follow from the answer's number `n` (so every answer differs from the one before).
pub fn observation_answer(
    kind: &str,
    entity: &str,
    ids: &[&str],
    metrics: &[&str],
    details: &[&str],
    n: usize,
) -> String {
    let mut results = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let count = |m: usize| (n * 7 + i * 3 + m + 2) % 9;
        let own: Vec<Value> = metrics
            .iter()
            .enumerate()
            .filter(|(_, m)| !CONVERSATION_METRICS.contains(m))
            .map(|(m, metric)| match *metric {
                "oUserRoutingStatuses" | "oOnQueueUsers" => {
                    json!({"metric": metric, "qualifier": "IDLE", "stats": {"count": count(m)}})
                }
                _ => json!({"metric": metric, "stats": {"count": count(m)}}),
            })
            .collect();
        let conversations: Vec<Value> = metrics
            .iter()
            .enumerate()
            .filter(|(_, m)| CONVERSATION_METRICS.contains(m))
            .map(|(m, metric)| {
                let mut data = json!({"metric": metric, "stats": {"count": count(m)}});
                if details.contains(metric) {
                    let observations: Vec<Value> = (0..count(m).min(2))
                        .map(|o| {
                            json!({"observationDate": format!("2024-05-01T10:{:02}:{:02}.000Z", n % 60, o),
                                   "conversationId": format!("c0ffee00-0000-4000-8000-{n:06}{i:03}{o:03}"),
                                   "sessionId": format!("5e551000-0000-4000-8000-{n:06}{i:03}{o:03}"),
                                   "routingPriority": 0, "direction": "inbound", "requestedRoutings": ["Standard"]})
                        })
                        .collect();
                    data["truncated"] = json!(false);
                    data["observations"] = json!(observations);
                }
                data
            })
            .collect();
        if !own.is_empty() {
            results.push(json!({"group": {entity: id}, "data": own}));
        }
        if !conversations.is_empty() {
            results.push(json!({"group": {entity: id, "mediaType": "voice"}, "data": conversations}));
        }
    }
    let mut answer = json!({"results": results});
    if kind == "queues" {
        answer["systemToOrganizationMappings"] = json!({"AVAILABLE": ["6a3af858-942f-489d-9700-5f9bcdcdae9b"]});
    }
    // Real answers may be pretty-printed and end with a newline: fetch keeps every byte.
    format!("{}\n", serde_json::to_string_pretty(&answer).unwrap())
}

/// An org's interval data, defined for every bucket of every day, so that a test knows
/// exactly what a synced dataset must hold: `queues` queues (`queue-01`, ...), each with
/// `nOffered` and `tHandle` in most buckets (a bucket without conversations is absent, as
/// in real answers), numbers that follow from the bucket, the queue and the org.
#[derive(Debug, Clone, Default)]
pub struct Lake {
    pub queues: u64,
    /// Late-arriving data: added to every count of the buckets of that UTC day ("2024-05-02").
    pub revisions: HashMap<String, u64>,
    /// From this UTC day on, a metric that was not there before (`tAcw`) is in the answers.
    pub new_metric_from: Option<String>,
    /// Makes two orgs' numbers differ.
    pub org: u64,
}

impl Lake {
    /// The id of queue `q`.
    pub fn queue(q: u64) -> String {
        format!("queue-{q:02}")
    }

    /// `nOffered` of queue `q` in the bucket starting `start` (seconds since the epoch) that is
    /// `bucket` seconds long; none when the queue had no conversation then.
    pub fn offered(&self, q: u64, start: i64, bucket: i64) -> Option<u64> {
        let slot = u64::try_from(start / bucket).unwrap();
        if (slot + q).is_multiple_of(5) {
            return None;
        }
        let revision = self.revisions.get(&utc_day(start)).copied().unwrap_or(0);
        Some((slot * 7 + q * 13 + self.org * 3) % 40 + 1 + revision)
    }

    /// The sum of `nOffered` over every queue and bucket in `[from, to)` (seconds).
    pub fn total_offered(&self, from: i64, to: i64, bucket: i64) -> u64 {
        (from / bucket..to / bucket)
            .flat_map(|slot| (1..=self.queues).filter_map(move |q| self.offered(q, slot * bucket, bucket)))
            .sum()
    }

    /// The `metrics` of queue `q`'s data point for the bucket starting `start` (seconds),
    /// `bucket` seconds long, holding those of `nOffered`, `tHandle` and `tAcw` that `asked`
    /// accepts; none when the queue had no conversation then. One place, so that a test can
    /// total every stat the API served.
    pub fn metrics(&self, q: u64, start: i64, bucket: i64, asked: impl Fn(&str) -> bool) -> Option<Vec<Value>> {
        let offered = self.offered(q, start, bucket)?;
        let mut metrics = Vec::new();
        if asked("nOffered") {
            metrics.push(json!({"metric": "nOffered", "stats": {"count": offered}}));
        }
        if asked("tHandle") {
            let handled = offered.saturating_sub(1).max(1);
            metrics.push(json!({"metric": "tHandle", "stats":
                {"max": 300_000 + offered, "min": 20_000, "count": handled, "sum": (handled * 181_000) as f64 + 0.5}}));
        }
        let new_metric = self
            .new_metric_from
            .as_deref()
            .is_some_and(|d| utc_day(start).as_str() >= d);
        if asked("tAcw") && new_metric {
            metrics.push(json!({"metric": "tAcw", "stats": {"count": offered, "sum": offered * 15_000}}));
        }
        Some(metrics)
    }

    /// The answer to an aggregate query body: its interval, granularity and metrics.
    pub fn answer(&self, body: &Value) -> Value {
        let interval = body["interval"].as_str().unwrap_or_default();
        let (from, to) = interval.split_once('/').unwrap_or_default();
        let (from, to) = (seconds(from), seconds(to));
        let bucket = match body["granularity"].as_str().unwrap_or("PT30M") {
            "PT15M" => 900,
            "PT30M" => 1800,
            "PT1H" => 3600,
            "P1D" => 86_400,
            other => panic!("the fake lake knows no granularity {other}"),
        };
        let asked = |metric: &str| {
            body["metrics"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x == metric))
        };
        let mut results = Vec::new();
        for q in 1..=self.queues {
            let mut data = Vec::new();
            for slot in from / bucket..to / bucket {
                let start = slot * bucket;
                let Some(metrics) = self.metrics(q, start, bucket, asked) else {
                    continue;
                };
                let end = start + bucket;
                data.push(json!({"interval": format!("{}/{}", iso(start), iso(end)), "metrics": metrics}));
            }
            if !data.is_empty() {
                results.push(json!({"group": {"queueId": Lake::queue(q), "mediaType": "voice"}, "data": data}));
            }
        }
        if results.is_empty() {
            // The API's answer to a query with no data: no `results` at all.
            return json!({});
        }
        json!({ "results": results })
    }
}

/// Seconds since the epoch of an RFC 3339 instant.
fn seconds(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .as_second()
}

/// The API's spelling of an instant: `2024-05-01T00:00:00.000Z`.
fn iso(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

/// The UTC day of an instant (seconds).
fn utc_day(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Seconds since the epoch of midnight UTC starting `day` ("2024-05-01").
pub fn midnight(day: &str) -> i64 {
    seconds(&format!("{day}T00:00:00Z"))
}

/// The first day of the tests' intervals (its chunk can be made slow).
pub const FIRST_DAY: &str = "2024-05-01";

/// The two-digit day of an interval's start, e.g. `01`.
fn day(interval: &str) -> u64 {
    interval.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// The sync answer for an interval, pretty-printed as a real answer may be, keys in the
/// API's order: two queues, numbers that follow from the start day, `padding` more queues.
/// No string in it holds whitespace.
pub fn sync_page(interval: &str, padding: usize) -> String {
    let d = day(interval);
    let mut results = vec![
        format!(
            r#"    {{ "group": {{ "queueId": "q1", "mediaType": "voice" }},
      "data": [ {{ "interval": "{interval}",
		"metrics": [ {{ "metric": "nOffered", "stats": {{ "count": {} }} }},
                     {{ "metric": "tHandle", "stats": {{ "max": 451577, "min": 2324, "count": {d}, "sum": 150784.0 }} }} ] }} ] }}"#,
            10 + d
        ),
        format!(
            r#"    {{ "group": {{ "queueId": "q2" }},
      "data": [ {{ "interval": "{interval}",
        "metrics": [ {{ "metric": "oServiceLevel",
                       "stats": {{ "ratio": 0.47586206896551725, "numerator": 414, "denominator": 870, "target": 0.8 }} }} ] }} ] }}"#
        ),
    ];
    results.extend((0..padding).map(|i| {
        format!(
            r#"    {{ "group": {{ "queueId": "pad-{i:06}" }}, "data": [ {{ "interval": "{interval}", "metrics": [ {{ "metric": "nOffered", "stats": {{ "count": {i} }} }} ] }} ] }}"#
        )
    }));
    format!("{{\r\n  \"results\": [\n{}\n  ]\n}}\n", results.join(",\n"))
}

/// Result `page` of an async job: one queue per page.
pub fn job_result(interval: &str, page: usize) -> Value {
    json!({"group": {"queueId": format!("jq{page}")},
           "data": [{"interval": interval, "metrics": [{"metric": "nOffered", "stats": {"count": page + 1}}]}]})
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn write_reply(stream: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    let (status, headers, body, cut) = match reply {
        Reply::HangUp => return Ok(()),
        Reply::Answer { status, headers, body } => (status, headers, body, false),
        Reply::CutShort(body) => (200, Vec::new(), body, true),
    };
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let sent = if cut {
        &body.as_bytes()[..body.len() / 2]
    } else {
        body.as_bytes()
    };
    stream.write_all(sent)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

// ---- Lookup listings (`gcagg names`) ----------------------------------------------------
//
// The org's queues, users, wrap-up codes, divisions, skills, languages, flows, teams and
// presence definitions, paged as the real endpoints page (see docs/names.md): `pageSize`
// and `pageNumber` with `pageCount` and the `*Uri` links, an `after` cursor in `nextUri`
// for teams, one unpaged answer per `deactivated` value for presence definitions. Users
// honour `state` (only active ones by default, as the real endpoint), flows `deleted`.

/// How many of each entity the fake org has.
pub const ORG_QUEUES: usize = 130;
pub const ORG_USERS: usize = 230;
pub const ORG_TEAMS: usize = 105;

/// A real-shaped id of entity `n` of a type (`code` tells types apart).
pub fn org_id(code: u32, n: usize) -> String {
    format!("{code:08x}-5b1e-4c2a-9d3f-{n:012x}")
}

/// The user that was deleted (and whose id old aggregates still carry).
pub fn deleted_user() -> String {
    org_id(0x2, ORG_USERS)
}

const HOME: (&str, &str) = ("5b2d3bc8-4a6e-4e5c-8f3c-0f1d2e3a4b5c", "Home");
const EMEA: (&str, &str) = ("9a0c6b1e-2f3d-4c5b-a6e7-f8091a2b3c4d", "EMEA Support");

fn division_ref((id, name): (&str, &str)) -> Value {
    json!({"id": id, "name": name, "selfUri": format!("/api/v2/authorization/divisions/{id}")})
}

/// The answer to a listing request, if `req` is one.
fn listing(req: &Request) -> Option<Reply> {
    if req.method != "GET" {
        return None;
    }
    let params: HashMap<&str, &str> = req.query.split('&').filter_map(|kv| kv.split_once('=')).collect();
    let entities: Vec<Value> = match req.path.as_str() {
        "/api/v2/routing/queues" => (1..=ORG_QUEUES)
            .map(|n| {
                let id = org_id(0x1, n);
                json!({"id": id, "name": format!("Queue {n:02}"), "division": division_ref(if n % 3 == 0 { EMEA } else { HOME }),
                       "memberCount": n, "userMemberCount": n, "joinedMemberCount": n / 2,
                       "mediaSettings": {"call": {"alertingTimeoutSeconds": 8, "serviceLevel": {"percentage": 0.8, "durationMs": 20000}}},
                       "acwSettings": {"wrapupPrompt": "OPTIONAL"}, "skillEvaluationMethod": "ALL",
                       "selfUri": format!("/api/v2/routing/queues/{id}")})
            })
            .collect(),
        "/api/v2/users" => {
            let state = params.get("state").copied().unwrap_or("active");
            (1..=ORG_USERS)
                .map(|n| {
                    let user_state = match n {
                        ORG_USERS => "deleted",
                        n if n % 50 == 0 => "inactive",
                        _ => "active",
                    };
                    (n, user_state)
                })
                .filter(|(_, s)| state == "any" || *s == state)
                .map(|(n, user_state)| {
                    let id = org_id(0x2, n);
                    json!({"id": id, "name": format!("Agent {n:03}"), "division": division_ref(HOME),
                           "chat": {"jabberId": format!("{n}@acme.orgspan.com")}, "email": format!("agent{n:03}@example.com"),
                           "primaryContactInfo": [{"address": format!("agent{n:03}@example.com"), "mediaType": "EMAIL", "type": "PRIMARY"}],
                           "addresses": [], "state": user_state, "username": format!("agent{n:03}@example.com"),
                           "version": 3, "acdAutoAnswer": false, "selfUri": format!("/api/v2/users/{id}")})
                })
                .collect()
        }
        "/api/v2/routing/wrapupcodes" => ["Resolved", "Callback requested", "No answer"]
            .iter()
            .enumerate()
            .map(|(n, name)| {
                json!({"id": org_id(0x3, n + 1), "name": name, "division": division_ref(HOME),
                       "dateCreated": "2022-03-01T10:00:00Z", "createdBy": org_id(0x2, 1),
                       "selfUri": format!("/api/v2/routing/wrapupcodes/{}", org_id(0x3, n + 1))})
            })
            .collect(),
        "/api/v2/authorization/divisions" => [HOME, EMEA]
            .iter()
            .map(|&(id, name)| {
                json!({"id": id, "name": name, "description": "", "homeDivision": name == "Home",
                       "selfUri": format!("/api/v2/authorization/divisions/{id}")})
            })
            .collect(),
        "/api/v2/routing/skills" => [("Billing", "active"), ("French", "active"), ("Legacy CRM", "inactive")]
            .iter()
            .enumerate()
            .map(|(n, (name, state))| {
                json!({"id": org_id(0x5, n + 1), "name": name, "dateModified": "2023-06-01T08:00:00Z", "state": state,
                       "version": "2", "selfUri": format!("/api/v2/routing/skills/{}", org_id(0x5, n + 1))})
            })
            .collect(),
        "/api/v2/routing/languages" => ["English", "Français"]
            .iter()
            .enumerate()
            .map(|(n, name)| {
                json!({"id": org_id(0x6, n + 1), "name": name, "dateModified": "2023-06-01T08:00:00Z", "state": "active",
                       "version": "1", "selfUri": format!("/api/v2/routing/languages/{}", org_id(0x6, n + 1))})
            })
            .collect(),
        "/api/v2/flows" => {
            let with_deleted = params.get("deleted") == Some(&"true");
            [("Main IVR", "INBOUNDCALL", false), ("In-Queue Music", "INQUEUECALL", false), ("Old IVR", "INBOUNDCALL", true)]
                .iter()
                .enumerate()
                .filter(|(_, f)| with_deleted || !f.2)
                .map(|(n, (name, kind, deleted))| {
                    json!({"id": org_id(0x7, n + 1), "name": name, "division": division_ref(HOME), "type": kind,
                           "active": !deleted, "system": false, "deleted": deleted,
                           "publishedVersion": {"id": "3.0", "name": "3.0"},
                           "selfUri": format!("/api/v2/flows/{}", org_id(0x7, n + 1))})
                })
                .collect()
        }
        "/api/v2/teams" => return Some(teams_page(&params)),
        "/api/v2/presence/definitions" => return Some(presence_definitions(&params)),
        _ => return None,
    };
    Some(numbered_page(&req.path, &params, entities))
}

/// One `pageSize`/`pageNumber` page of `all`, with the fields and links the real ones carry.
fn numbered_page(path: &str, params: &HashMap<&str, &str>, all: Vec<Value>) -> Reply {
    let size: usize = params.get("pageSize").and_then(|s| s.parse().ok()).unwrap_or(25);
    let number: usize = params.get("pageNumber").and_then(|s| s.parse().ok()).unwrap_or(1);
    if size == 0 || size > 500 || number == 0 {
        return Reply::error(400, "bad.request", "Invalid paging parameters");
    }
    let total = all.len();
    let pages = total.div_ceil(size).max(1);
    let mut rest: Vec<String> = params
        .iter()
        .filter(|(k, _)| !matches!(**k, "pageSize" | "pageNumber"))
        .map(|(k, v)| format!("&{k}={v}"))
        .collect();
    rest.sort();
    let rest = rest.concat();
    let uri = |n: usize| format!("{path}?pageSize={size}&pageNumber={n}{rest}");
    let entities: Vec<Value> = all.into_iter().skip((number - 1) * size).take(size).collect();
    let mut page = json!({"entities": entities, "pageSize": size, "pageNumber": number, "total": total,
                          "firstUri": uri(1), "selfUri": uri(number), "lastUri": uri(pages), "pageCount": pages});
    if number < pages {
        page["nextUri"] = json!(uri(number + 1));
    }
    if number > 1 {
        page["previousUri"] = json!(uri(number - 1));
    }
    Reply::json(200, serde_json::to_string_pretty(&page).unwrap())
}

/// A page of teams: `after` is an opaque cursor (with characters that need encoding).
fn teams_page(params: &HashMap<&str, &str>) -> Reply {
    let size: usize = params.get("pageSize").and_then(|s| s.parse().ok()).unwrap_or(25);
    if params.contains_key("pageNumber") {
        return Reply::error(400, "bad.request", "pageNumber is not supported; use the after cursor");
    }
    let start = match params.get("after") {
        None => 0,
        Some(c) => match c.strip_prefix("dGVhbQ%3D%3D").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return Reply::error(400, "bad.request", "Invalid cursor"),
        },
    };
    // The division's name comes only when expanded.
    let expand = params.get("expand").copied();
    let division = match expand {
        Some("entities.division") => division_ref(HOME),
        _ => json!({"id": HOME.0, "selfUri": format!("/api/v2/authorization/divisions/{}", HOME.0)}),
    };
    let entities: Vec<Value> = (start..ORG_TEAMS.min(start + size))
        .map(|n| {
            let id = org_id(0x8, n + 1);
            json!({"id": id, "name": format!("Team {}", n + 1), "division": division,
                   "memberCount": 4, "selfUri": format!("/api/v2/teams/{id}")})
        })
        .collect();
    let expanded = expand.map_or(String::new(), |e| format!("&expand={e}"));
    let mut page = json!({"entities": entities, "selfUri": format!("/api/v2/teams?pageSize={size}{expanded}")});
    if start + size < ORG_TEAMS {
        page["nextUri"] = json!(format!(
            "/api/v2/teams?pageSize={size}{expanded}&after=dGVhbQ%3D%3D{}",
            start + size
        ));
    }
    Reply::json(200, page.to_string())
}

/// Presence definitions: the active ones, or with `deactivated=TRUE` the deactivated ones.
fn presence_definitions(params: &HashMap<&str, &str>) -> Reply {
    let deactivated = params
        .get("deactivated")
        .is_some_and(|d| d.eq_ignore_ascii_case("true"));
    let all = [
        (
            "6a3af858-942f-489d-9700-5f9bcdcdae9b",
            "System",
            "Available",
            "Available",
            false,
        ),
        ("31fe3bac-dea6-44b7-bed7-47f91660a1a0", "System", "Busy", "Busy", false),
        (
            "ccf3c10a-aa2c-4845-8e8d-f59fa48c58e5",
            "System",
            "Offline",
            "Offline",
            false,
        ),
        ("2fb4a3cd-0f8e-4b4b-9b7c-2f0d2b7e1a11", "User", "Lunch", "Meal", false),
        (
            "7d3e0c55-1b2a-4f6e-8a9d-3c4b5a6f7e80",
            "User",
            "Project work",
            "Busy",
            true,
        ),
    ];
    let entities: Vec<Value> = all
        .iter()
        .filter(|d| d.4 == deactivated)
        .map(|&(id, kind, label, system, off)| {
            json!({"id": id, "type": kind, "languageLabels": {"en_US": label}, "systemPresence": system,
                   "divisionId": "*", "deactivated": off, "selfUri": format!("/api/v2/presence/definitions/{id}")})
        })
        .collect();
    Reply::json(
        200,
        json!({"total": entities.len(), "entities": entities, "selfUri": "/api/v2/presence/definitions"}).to_string(),
    )
}

/// The real body of a 403 for a missing permission.
pub fn missing_permission(permission: &str) -> Reply {
    Reply::json(
        403,
        json!({"message": format!("You are missing the following permission(s): [{permission}]"),
               "code": "missing.any.permissions", "status": 403,
               "messageWithParams": "You are missing the following permission(s): {permissions}",
               "messageParams": {"permissions": format!("[{permission}]")},
               "contextId": "ctx-403-names", "details": [], "errors": []})
        .to_string(),
    )
}
