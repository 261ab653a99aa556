//! The Genesys Cloud Platform API: one HTTP client with authentication and retries.
//!
//! [`Client::call`] is the only way out: it adds the bearer token (fetching or renewing it
//! as needed, once more after a 401), retries what is transient (see [`retry`]) and turns
//! every other failure into one line with the API's status, code, message and contextId,
//! marked [`ApiFailure`] (exit 3). Answers are read by the caller as a stream, so a page
//! of any size passes through without being held in memory.

pub mod aggregates;
pub mod auth;
pub mod env;
pub mod observations;
pub mod page;
pub mod profile;
pub mod query;
pub mod regions;
pub mod retry;
pub mod time;

use std::io::Read;
use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use ureq::http::Response;
use ureq::Body;

use crate::exit::ApiFailure;
use crate::progress::Progress;
use auth::{Credentials, Secret, TokenCache};
use retry::Policy;

/// A successful answer, read as a stream.
pub type Answer = Response<Body>;

/// Where the API and its login service are.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// e.g. `https://api.mypurecloud.com`, no trailing slash.
    pub api_base: String,
    /// e.g. `https://login.mypurecloud.com`, no trailing slash.
    pub login_base: String,
}

impl Endpoints {
    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.login_base)
    }

    /// An API path (`/api/v2/...`) as a URL.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base)
    }
}

/// What the client needs to know.
pub struct Settings {
    /// Where to send requests.
    pub endpoints: Endpoints,
    /// The OAuth client.
    pub credentials: Credentials,
    /// Budget of one request, body included.
    pub timeout: Duration,
    /// Retry policy.
    pub policy: Policy,
    /// The permission a 403 asks for, named in its error message.
    pub permission: String,
    /// Progress and request logs.
    pub progress: Progress,
}

/// Why reading a successful answer failed.
pub enum ReadError {
    /// The connection broke: the request is worth repeating.
    Retry(anyhow::Error),
    /// Anything else.
    Fail(anyhow::Error),
}

/// HTTP methods the API calls use.
#[derive(Debug, Clone, Copy)]
pub enum Method {
    /// GET.
    Get,
    /// POST with a JSON body.
    Post,
}

/// One request, as often as it is retried.
struct Request<'a> {
    method: Method,
    url: String,
    /// `(name, value)` of a query parameter, as given: [`encode_query`] encodes it.
    query: Option<(&'static str, &'a str)>,
    body: Option<&'a str>,
    /// The token endpoint: a form body, and its own error shape.
    login: bool,
}

impl Request<'_> {
    fn describe(&self) -> String {
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        match self.query {
            Some((name, value)) => format!("{method} {}?{name}={value}", self.url),
            None => format!("{method} {}", self.url),
        }
    }
}

/// How an exchange failed.
enum Failure {
    /// The server answered with an error status; `retries` when they ran out, else 0.
    Status { status: u16, body: String, retries: u32 },
    /// Everything else, already worded.
    Other(anyhow::Error),
}

/// What one attempt at a request came to.
enum Attempt<T> {
    /// Success, read.
    Done(T),
    /// An error status that no retry will change.
    Refused { status: u16, body: String },
    /// A failure that is not the server's answer.
    Failed(anyhow::Error),
    /// Worth another try: the cause (what went wrong with the request), the wait the server
    /// asked for and the header that said so (else the backoff), and the error status if
    /// there was one.
    Retry {
        cause: String,
        wait: Option<(Duration, &'static str)>,
        status: Option<(u16, String)>,
    },
}

/// The API client, shared by all worker threads.
pub struct Client {
    agent: ureq::Agent,
    endpoints: Endpoints,
    credentials: Credentials,
    tokens: TokenCache,
    policy: Policy,
    permission: String,
    progress: Progress,
    timeout: Duration,
}

/// The longest request target (a URL's path and query) the HTTP client can send; it
/// panics, rather than fails, when a query makes one longer.
pub const MAX_TARGET: usize = 65_534;

/// The bytes of a query value that are percent-encoded: those the HTTP client's own
/// `query` encodes (the URL standard's query set and the delimiters of a query), so that
/// [`Client::target_len`] measures what is sent.
const QUERY_ENCODED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'$')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'+')
    .add(b',')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// `value` percent-encoded for a query string.
fn encode_query(value: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::utf8_percent_encode(value, QUERY_ENCODED).into()
}

/// An error body is read this far at most: enough for its message, whatever is sent.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// How long [`Client::delete_once`] may take: it runs while a run ends, which must not hang.
const DELETE_LIMIT: Duration = Duration::from_secs(4);

impl Client {
    /// A client with its own connection pool.
    pub fn new(settings: Settings) -> Client {
        let agent = ureq::Agent::config_builder()
            // Error answers carry the message, code and contextId the user needs.
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_global(Some(settings.timeout))
            .user_agent(concat!("gcagg/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Client {
            agent,
            endpoints: settings.endpoints,
            credentials: settings.credentials,
            tokens: TokenCache::default(),
            policy: settings.policy,
            permission: settings.permission,
            progress: settings.progress,
            timeout: settings.timeout,
        }
    }

    /// The retry policy (its clock serves the job polls too).
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Progress and request logs.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The length of the request target (path and query) of `path?name=value`, as sent:
    /// more than [`MAX_TARGET`] cannot be sent.
    pub fn target_len(&self, path: &str, (name, value): (&str, &str)) -> usize {
        let url = self.endpoints.api_url(path);
        let path_len = url
            .parse::<ureq::http::Uri>()
            .ok()
            .and_then(|uri| uri.path_and_query().map(|p| p.as_str().len()))
            .unwrap_or(url.len());
        path_len + "?=".len() + name.len() + encode_query(value).len()
    }

    /// Calls an API `path` with a bearer token; `read` handles the successful answer.
    pub fn call<T>(
        &self,
        method: Method,
        path: &str,
        query: Option<(&'static str, &str)>,
        body: Option<&str>,
        mut read: impl FnMut(Answer) -> Result<T, ReadError>,
    ) -> anyhow::Result<T> {
        let request = Request {
            method,
            url: self.endpoints.api_url(path),
            query,
            body,
            login: false,
        };
        let mut refreshed = false;
        loop {
            let token = self.token()?;
            let bearer = Secret::new(format!("Bearer {}", token.expose()));
            match self.exchange(&request, &bearer, &mut read) {
                Ok(value) => return Ok(value),
                // The token expired early or was revoked: one new token, one more try.
                Err(Failure::Status { status: 401, .. }) if !refreshed => {
                    self.progress.note("401: the token was refused; getting a new one");
                    self.tokens.invalidate(&token);
                    refreshed = true;
                }
                Err(Failure::Status { status, body, retries }) => {
                    let detail = describe_api_error(status, &body, &self.permission);
                    let line = format!("{}: {detail}{}", request.describe(), after(retries));
                    return Err(anyhow::Error::new(ApiFailure(line)));
                }
                Err(Failure::Other(e)) => return Err(e),
            }
        }
    }

    /// Sends `DELETE path` once, without retries, within [`DELETE_LIMIT`]: best effort, for
    /// cleaning up (an async job) while the run ends. Says how it went, for the log.
    pub fn delete_once(&self, path: &str) -> String {
        let url = self.endpoints.api_url(path);
        let outcome = self.token().and_then(|token| {
            let answer = self
                .agent
                .delete(&url)
                .config()
                .timeout_global(Some(DELETE_LIMIT))
                .build()
                .header("Authorization", &format!("Bearer {}", token.expose()))
                .header("Accept", "application/json")
                .call()?;
            Ok(answer.status().as_u16())
        });
        match outcome {
            Ok(status) => format!("DELETE {url}: {status}"),
            Err(e) => format!("DELETE {url}: {e:#}"),
        }
    }

    /// The access token: the cached one, or a new one from the token endpoint.
    fn token(&self) -> anyhow::Result<Secret> {
        self.tokens.get(|| {
            let request = Request {
                method: Method::Post,
                url: self.endpoints.token_url(),
                query: None,
                body: Some("grant_type=client_credentials"),
                login: true,
            };
            let read = |mut answer: Answer| {
                let text = read_limited(&mut answer).map_err(|e| ReadError::Retry(e.into()))?;
                auth::parse_token(&text).map_err(ReadError::Fail)
            };
            match self.exchange(&request, &self.credentials.basic_header(), read) {
                Ok(token) => Ok(token),
                Err(Failure::Status { status, body, retries }) => Err(anyhow::Error::new(ApiFailure(format!(
                    "getting a token from {}: {status} {}{}",
                    request.url,
                    auth::describe_login_error(&body),
                    after(retries)
                )))),
                Err(Failure::Other(e)) => Err(e),
            }
        })
    }

    /// Sends `request` until it succeeds, fails for good, or runs out of retries.
    fn exchange<T>(
        &self,
        request: &Request<'_>,
        authorization: &Secret,
        mut read: impl FnMut(Answer) -> Result<T, ReadError>,
    ) -> Result<T, Failure> {
        let what = request.describe();
        let scheme = authorization.expose().split(' ').next().unwrap_or_default();
        let body = match (request.login, request.body) {
            (false, Some(body)) => format!(" {body}"),
            _ => String::new(),
        };
        let mut retry = 0;
        loop {
            self.progress
                .debug(format!("> {what} (Authorization: {scheme} <redacted>){body}"));
            let (cause, wait, status) = match self.attempt(request, authorization, &what, &mut read) {
                Attempt::Done(value) => return Ok(value),
                Attempt::Refused { status, body } => {
                    return Err(Failure::Status {
                        status,
                        body,
                        retries: 0,
                    })
                }
                Attempt::Failed(e) => return Err(Failure::Other(e)),
                Attempt::Retry { cause, wait, status } => (cause, wait, status),
            };
            if retry >= self.policy.max_retries {
                return Err(match status {
                    Some((status, body)) => Failure::Status {
                        status,
                        body,
                        retries: retry,
                    },
                    None => Failure::Other(anyhow::Error::new(ApiFailure(format!(
                        "{what}: {cause}{}",
                        after(retry)
                    )))),
                });
            }
            let wait = match wait {
                Some((asked, source)) => self.asked_wait(asked, source),
                None => self.policy.backoff(retry),
            };
            retry += 1;
            self.progress.retry(&what, &cause, retry, self.policy.max_retries, wait);
            self.policy.sleep(wait);
        }
    }

    /// The wait a server asked for, at most `--max-wait`; a long one is announced whether
    /// or not stderr is a terminal (and even with `--quiet`), so a run that seems to hang
    /// says why.
    fn asked_wait(&self, asked: Duration, source: &str) -> Duration {
        let max = self.policy.max_wait();
        let wait = asked.min(max);
        if wait > retry::ANNOUNCED_WAIT {
            let capped = if asked > max {
                format!(", capped by --max-wait {}", retry::spoken(max))
            } else {
                String::new()
            };
            crate::progress::say(format!(
                "waiting {} for the rate limit ({source}{capped})",
                retry::spoken(wait)
            ));
        }
        wait
    }

    /// Sends `request` once and judges the outcome.
    fn attempt<T>(
        &self,
        request: &Request<'_>,
        authorization: &Secret,
        what: &str,
        read: &mut impl FnMut(Answer) -> Result<T, ReadError>,
    ) -> Attempt<T> {
        let mut answer = match self.send(request, authorization) {
            Ok(answer) => answer,
            Err(ureq::Error::Timeout(_)) => {
                return Attempt::Retry {
                    cause: format!("no complete answer within --timeout {}", self.timeout.as_secs()),
                    wait: None,
                    status: None,
                }
            }
            Err(e) if is_connection_error(&e) => {
                return Attempt::Retry {
                    cause: e.to_string(),
                    wait: None,
                    status: None,
                }
            }
            Err(e) => {
                let hint = match e {
                    ureq::Error::HostNotFound => ": host not found; check --region or --api-base",
                    _ => "",
                };
                return Attempt::Failed(anyhow::Error::new(ApiFailure(format!("{what}: {e}{hint}"))));
            }
        };
        let status = answer.status().as_u16();
        self.progress
            .debug(format!("< {status} {what}{}", trace_headers(&answer)));
        if answer.status().is_success() {
            return match read(answer) {
                Ok(value) => Attempt::Done(value),
                Err(ReadError::Fail(e)) => Attempt::Failed(e.context(what.to_owned())),
                Err(ReadError::Retry(e)) => Attempt::Retry {
                    cause: format!("{e:#}"),
                    wait: None,
                    status: None,
                },
            };
        }
        let body = read_limited(&mut answer).unwrap_or_default();
        let transient = retry::is_transient(status) || (request.login && auth::is_login_rate_limit(status, &body));
        if !transient {
            return Attempt::Refused { status, body };
        }
        let asked = match status {
            429 => retry::rate_limit_wait(header(&answer, "retry-after"), header(&answer, "inin-ratelimit-reset")),
            _ => None,
        };
        let source = asked.map_or("backoff", |(_, source)| source);
        Attempt::Retry {
            cause: format!("{status} (wait from {source})"),
            wait: asked,
            status: Some((status, body)),
        }
    }

    fn send(&self, request: &Request<'_>, authorization: &Secret) -> Result<Answer, ureq::Error> {
        let auth = authorization.expose();
        match request.method {
            Method::Get => {
                let mut get = self.agent.get(&request.url);
                if let Some((name, value)) = request.query {
                    get = get.query_raw(name, encode_query(value));
                }
                get.header("Authorization", auth)
                    .header("Accept", "application/json")
                    .call()
            }
            Method::Post => {
                let content_type = if request.login {
                    "application/x-www-form-urlencoded"
                } else {
                    "application/json"
                };
                self.agent
                    .post(&request.url)
                    .header("Authorization", auth)
                    .header("Accept", "application/json")
                    .header("Content-Type", content_type)
                    .send(request.body.unwrap_or_default())
            }
        }
    }
}

/// `; gave up after N retries`, when retries ran out.
fn after(retries: u32) -> String {
    match retries {
        0 => String::new(),
        1 => "; gave up after 1 retry".into(),
        n => format!("; gave up after {n} retries"),
    }
}

/// The connection broke or timed out: worth another try.
fn is_connection_error(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_)
    )
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The headers worth a log line: the correlation id support asks for, and the rate limit.
fn trace_headers(answer: &Answer) -> String {
    [
        "inin-correlation-id",
        "inin-ratelimit-count",
        "inin-ratelimit-allowed",
        "retry-after",
    ]
    .iter()
    .filter_map(|name| header(answer, name).map(|v| format!(" {name}={v}")))
    .collect()
}

/// A small answer (an error body, a token, a job state) as text.
fn read_limited(answer: &mut Answer) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    answer
        .body_mut()
        .as_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a small JSON answer (a job id, a job state).
pub fn read_json<T: DeserializeOwned>(mut answer: Answer) -> Result<T, ReadError> {
    let text = read_limited(&mut answer).map_err(|e| ReadError::Retry(e.into()))?;
    serde_json::from_str(&text).map_err(|e| {
        ReadError::Fail(anyhow::Error::new(ApiFailure(format!(
            "unexpected answer ({e}): {}",
            excerpt(&text)
        ))))
    })
}

/// The start of a text, on one line.
fn excerpt(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line,
    }
}

/// The API's error body: `{message, code, status, contextId, ...}`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ErrorBody {
    message: String,
    code: String,
    context_id: String,
}

/// `status code: message (contextId ...)`, naming the permission a 403 needs.
fn describe_api_error(status: u16, body: &str, permission: &str) -> String {
    let mut text = match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) if !(e.message.is_empty() && e.code.is_empty()) => {
            let mut text = format!("{status} {}: {}", e.code, e.message);
            if !e.context_id.is_empty() {
                text.push_str(&format!(" (contextId {})", e.context_id));
            }
            text
        }
        _ if body.trim().is_empty() => status.to_string(),
        _ => format!("{status}: {}", excerpt(body)),
    };
    // The API's own message usually names the permission already.
    if status == 403 && !text.contains(permission) {
        text.push_str(&format!("; the OAuth client's role needs the permission {permission}"));
    }
    text
}

/// The permission that reading a family's aggregates needs.
pub fn permission(kind: &str) -> String {
    let entity = match kind {
        "conversations" => "conversation",
        "users" => "user",
        "flows" => "flow",
        // Other families follow the same pattern as far as is known; the 403's own message
        // (printed too) is the authority.
        other => other.strip_suffix('s').unwrap_or(other),
    };
    format!("analytics:{entity}Aggregate:view")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_api_errors() {
        let body = r#"{"message":"You are missing the following permission(s): analytics:conversationAggregate:view","code":"missing.any.permissions","status":403,"contextId":"c-1","details":[],"errors":[]}"#;
        assert_eq!(
            describe_api_error(403, body, &permission("conversations")),
            "403 missing.any.permissions: You are missing the following permission(s): analytics:conversationAggregate:view (contextId c-1)"
        );
        assert_eq!(
            describe_api_error(403, r#"{"message":"Forbidden","code":"forbidden","contextId":"c-2"}"#, &permission("users")),
            "403 forbidden: Forbidden (contextId c-2); the OAuth client's role needs the permission analytics:userAggregate:view"
        );
        assert_eq!(
            describe_api_error(404, "<html>\n<b>gone</b>\n</html>", ""),
            "404: <html> <b>gone</b> </html>"
        );
        assert_eq!(describe_api_error(500, "", ""), "500");
        assert_eq!(permission("users"), "analytics:userAggregate:view");
        assert_eq!(permission("flows"), "analytics:flowAggregate:view");
    }
}
