//! One chunk of an aggregate query: the sync query, or an async job followed to its end.
//!
//! Sync: `POST .../aggregates/query` answers with the one page. Async: `POST
//! .../aggregates/jobs` answers a `jobId`; `GET .../jobs/{jobId}` is polled with growing
//! pauses through `QUEUED` and `PENDING` until `FULFILLED` (`FAILED`, `CANCELLED` and
//! `EXPIRED` are errors carrying the job's `errorMessage`); then `GET .../jobs/{jobId}/results`
//! is followed from cursor to cursor until a page comes without one.
//!
//! Every loop is bounded, whatever the server answers: a job that has not ended after
//! `--job-timeout` is an error, and so is a cursor seen before in the job (a cycle), one
//! too long to send back ([`MAX_TARGET`]), and a job with more than `--max-pages` pages.
//!
//! A job that has not ended is the server's work on our behalf: if the wait for it fails or
//! is stopped, or a signal ends the run, it is cancelled with `DELETE .../jobs/{jobId}`
//! (once, bounded, best effort), so that it does not run on for nothing.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::page::{PageFile, PageInfo};
use super::{excerpt, read_json, retry, Answer, Client, Endpoints, Method, ReadError, MAX_TARGET};
use crate::exit::ApiFailure;
use crate::interrupt;

/// The first pause between two polls of a job.
const POLL_FIRST: Duration = Duration::from_secs(1);
/// The longest pause between two polls of a job.
const POLL_CAP: Duration = Duration::from_secs(15);

/// How the chunks of one fetch are queried.
#[derive(Debug, Clone)]
pub struct Query {
    /// The analytics family, e.g. `conversations`.
    pub kind: String,
    /// Use an async job instead of the sync query.
    pub asynchronous: bool,
    /// How long a job may take to end (`--job-timeout`) before it is cancelled.
    pub job_timeout: Duration,
    /// Results pages one job may give (`--max-pages`).
    pub max_pages: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Submitted {
    job_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobStatus {
    state: String,
    #[serde(default)]
    error_message: Option<String>,
}

impl Query {
    fn path(&self, rest: &str) -> String {
        format!("/api/v2/analytics/{}/aggregates/{rest}", self.kind)
    }

    /// The requests one chunk makes, for `--dry-run`.
    pub fn describe(&self, endpoints: &Endpoints, body: &str) -> Vec<String> {
        if !self.asynchronous {
            return vec![
                format!("POST {}", endpoints.api_url(&self.path("query"))),
                body.to_owned(),
            ];
        }
        let jobs = endpoints.api_url(&self.path("jobs"));
        vec![
            format!("POST {jobs}"),
            body.to_owned(),
            format!("GET {jobs}/{{jobId}}  (polled until FULFILLED)"),
            format!("GET {jobs}/{{jobId}}/results[?cursor=...]  (until no cursor)"),
        ]
    }

    /// Fetches the pages of one chunk (`body` holds its interval) into `out`. `stop` ends
    /// the work early, between two requests, when another chunk has failed.
    pub fn fetch(
        &self,
        client: &Arc<Client>,
        label: &str,
        body: &str,
        out: &mut PageFile,
        stop: &AtomicBool,
    ) -> anyhow::Result<()> {
        let mut page = |path: &str, cursor: Option<&str>, body: Option<&str>| -> anyhow::Result<PageInfo> {
            let method = if body.is_some() { Method::Post } else { Method::Get };
            let info = client.call(method, path, cursor.map(|c| ("cursor", c)), body, |answer: Answer| {
                out.append(answer.into_body().into_reader()).map_err(ReadError::from)
            })?;
            // A sync chunk is one page: its progress line is the chunk's own.
            if self.asynchronous {
                let rows = crate::progress::counted(out.rows, "row");
                client
                    .progress()
                    .status(label, format!("page {}, {rows} so far", out.pages));
            }
            Ok(info)
        };
        if !self.asynchronous {
            page(&self.path("query"), None, Some(body))?;
            return Ok(());
        }
        let submitted: Submitted = client.call(Method::Post, &self.path("jobs"), None, Some(body), read_json)?;
        let job = submitted.job_id;
        self.wait_for(client, label, &job, stop)?;
        let results = self.path(&format!("jobs/{job}/results"));
        let mut cursor: Option<String> = None;
        let mut seen = HashSet::new();
        let fail = |msg: String| Err(anyhow::Error::new(ApiFailure(format!("{label}: job {job}: {msg}"))));
        let mut pages = 0;
        loop {
            pages += 1;
            let next = page(&results, cursor.as_deref(), None)?.cursor;
            let Some(next) = next else {
                return Ok(());
            };
            // A real cursor is a few hundred bytes; one that cannot be sent back ends the job.
            let target = client.target_len(&results, ("cursor", &next));
            if target > MAX_TARGET {
                return fail(format!(
                    "the results page gives a cursor of {} bytes: the request for the next page would \
                     be {target} bytes long, more than the {MAX_TARGET} a URL's path and query may hold",
                    next.len()
                ));
            }
            if !seen.insert(next.clone()) {
                return fail(format!(
                    "the results page {pages} gives cursor {} again: the pages would go round for ever",
                    excerpt(&next)
                ));
            }
            if pages >= self.max_pages {
                return fail(format!(
                    "more than {} results pages; raise --max-pages if the job is really that large",
                    self.max_pages
                ));
            }
            cursor = Some(next);
            check(stop)?;
        }
    }

    /// Polls the job until it is `FULFILLED`; cancels it if the wait ends any other way
    /// than the job's own end.
    fn wait_for(&self, client: &Arc<Client>, label: &str, job: &str, stop: &AtomicBool) -> anyhow::Result<()> {
        let path = self.path(&format!("jobs/{job}"));
        let _cancel_on_signal = interrupt::on_interrupt({
            let (client, path) = (Arc::clone(client), path.clone());
            move || {
                let outcome = client.delete_once(&path);
                client.progress().debug(outcome);
            }
        });
        let cancel = |e: anyhow::Error| {
            let outcome = client.delete_once(&path);
            client
                .progress()
                .note(format!("{label}: cancelling job {job}: {outcome}"));
            e
        };
        let deadline = std::time::Instant::now() + self.job_timeout;
        let mut poll = 0;
        loop {
            let status: JobStatus = client.call(Method::Get, &path, None, None, read_json).map_err(cancel)?;
            match status.state.as_str() {
                "FULFILLED" => return Ok(()),
                "FAILED" | "CANCELLED" | "EXPIRED" => {
                    let message = status.error_message.unwrap_or_else(|| "no errorMessage".into());
                    return Err(anyhow::Error::new(ApiFailure(format!(
                        "{label}: async job {job} {}: {message}",
                        status.state
                    ))));
                }
                // QUEUED, PENDING, or a state newer than this program: keep waiting.
                state => {
                    let pause = retry::exponential(poll, POLL_FIRST, POLL_CAP);
                    client.progress().status(
                        label,
                        format!("job {job} {state}, next look in {:.0}s", pause.as_secs_f64()),
                    );
                    check(stop).map_err(cancel)?;
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return Err(cancel(anyhow::Error::new(ApiFailure(format!(
                            "{label}: async job {job} still {state} after --job-timeout {}; it is cancelled (raise --job-timeout for a larger job)",
                            retry::spoken(self.job_timeout)
                        )))));
                    }
                    client.policy().sleep(pause.min(deadline - now));
                    poll += 1;
                }
            }
        }
    }
}

/// Ends the work when another chunk has failed.
fn check(stop: &AtomicBool) -> anyhow::Result<()> {
    if stop.load(Ordering::Relaxed) {
        anyhow::bail!("stopped because another chunk failed");
    }
    Ok(())
}
