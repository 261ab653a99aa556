//! `gcagg fetch`: aggregate query pages from the Genesys Cloud API, one per line; with
//! `--observations`, observation bodies, each after the line that says when it was observed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::api::aggregates::Query;
use crate::api::auth::{Credentials, Secret};
use crate::api::env::Env;
use crate::api::observations;
use crate::api::profile::Profile;
use crate::api::query::{self, Chunk, Fields};
use crate::api::regions::Region;
use crate::api::retry::Policy;
use crate::api::time::{IsoDuration, ZonedTime};
use crate::api::{self, Client, Endpoints, Settings};
use crate::exit::usage;
use crate::fetch::{self, PollTarget, Schedule, Target, Work};
use crate::manifest::{self, Manifest};
use crate::progress::{counted, Mode, Progress};

/// Fetch analytics aggregates: the raw response pages, one per line.
///
/// Every page is written exactly as the API returned it (whitespace outside strings
/// removed), ready for `gcagg flatten`. Credentials come from flags, the environment or a
/// `.env` file: GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET (or GENESYSCLOUD_OAUTHCLIENT_ID /
/// GENESYSCLOUD_OAUTHCLIENT_SECRET), and the region from GENESYS_ENVIRONMENT or
/// GENESYSCLOUD_REGION. The OAuth client needs a role with the permission
/// analytics:conversationAggregate:view (users: analytics:userAggregate:view, flows:
/// analytics:flowAggregate:view).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg fetch --region eu-west-1 --since 24h --granularity PT30M --group-by queueId \\
      --metrics nOffered,tHandle | gcagg flatten -o day.csv
  gcagg fetch --interval 2024-05-01T00:00:00Z/2024-06-01T00:00:00Z --async --split P1D \\
      --concurrency 3 --metrics nOffered,tTalk -o may/          one file per day + _manifest.json
  gcagg fetch ... -o may/ --resume                            fetch only the days still missing
  gcagg fetch --kind users --query body.json --dry-run        show the requests, send nothing
  gcagg fetch --observations --kind queues --filter queueId=ID1 --filter queueId=ID2 \\
      --metrics oWaiting,oInteracting --every 30s --for 8h -o now/      one file per poll

Exit status: 0 done, 2 usage error (also: no credentials or region), 3 API, authentication
or network failure (also: --job-timeout or --max-pages reached), 130/143 interrupted
(SIGINT/SIGTERM; a running job is cancelled, -o DIR stays resumable).")]
pub struct Args {
    /// The request body as JSON (FILE, or - for stdin); flags below replace its fields.
    #[arg(long, value_name = "FILE", help_heading = "Query")]
    pub query: Option<PathBuf>,

    /// The interval, START/END in ISO-8601 with offsets, e.g. 2024-05-01T00:00:00Z/2024-05-02T00:00:00Z.
    #[arg(long, value_name = "START/END", conflicts_with = "since", help_heading = "Query")]
    pub interval: Option<String>,

    /// The interval that ends now (on a whole granularity bucket of the --time-zone clock),
    /// e.g. 24h, 7d, 2w, PT36H.
    #[arg(long, value_name = "DURATION", help_heading = "Query")]
    pub since: Option<String>,

    /// Bucket size as an ISO-8601 duration, e.g. PT15M, PT30M, PT1H, P1D.
    #[arg(long, value_name = "DURATION", help_heading = "Query")]
    pub granularity: Option<String>,

    /// Dimensions to group by, e.g. queueId,mediaType.
    #[arg(long, value_name = "LIST", value_delimiter = ',', help_heading = "Query")]
    pub group_by: Vec<String>,

    /// Metrics, e.g. nOffered,tHandle,oServiceLevel.
    #[arg(long, value_name = "LIST", value_delimiter = ',', help_heading = "Query")]
    pub metrics: Vec<String>,

    /// Keep only rows whose DIMENSION matches VALUE (repeatable; all must hold; with
    /// --observations the values of one dimension are alternatives: the queues to watch).
    #[arg(long, value_name = "DIMENSION=VALUE", help_heading = "Query")]
    pub filter: Vec<String>,

    /// Time zone of the buckets, --since and --split: an IANA name (Europe/Berlin), Z, or an
    /// offset (+02:00).
    #[arg(long, value_name = "ZONE", help_heading = "Query")]
    pub time_zone: Option<String>,

    /// The analytics family: conversations, users, flows, evaluations, surveys, bots,
    /// journeys, knowledge, resolutions, transcripts, actions, ... (any with aggregates);
    /// with --observations: queues, users or flows [default: conversations; with
    /// --observations: queues].
    #[arg(long, value_name = "KIND", help_heading = "Query")]
    pub kind: Option<String>,

    /// Send a --kind gcagg does not know (a family newer than its list).
    #[arg(long, help_heading = "Query")]
    pub any_kind: bool,

    /// Fetch observations (what is happening now: oWaiting, oInteracting, oActiveUsers...)
    /// instead of aggregates, each body after a line {"gcaggObservedAt":"<UTC time>"};
    /// --filter names the queues, users or flows (repeatable; required by the API).
    #[arg(long, help_heading = "Observations", conflicts_with_all = [
        "query", "interval", "since", "granularity", "group_by", "time_zone", "split", "resume",
        "any_kind", "asynchronous", "page_size", "job_timeout", "max_pages"])]
    pub observations: bool,

    /// Metrics whose observations (one per waiting or interacting conversation) are listed
    /// too, e.g. oWaiting,oInteracting.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        requires = "observations",
        help_heading = "Observations"
    )]
    pub detail_metrics: Vec<String>,

    /// Predicates per observation query at most: a longer --filter list is split into
    /// several queries, one body each [default: 100].
    #[arg(long, value_name = "N", requires = "observations", value_parser = clap::value_parser!(u32).range(1..),
          help_heading = "Observations")]
    pub batch: Option<u32>,

    /// Poll again every DURATION (at least 1s, e.g. 30s, 1.5s, 5m), for as long as --for says.
    #[arg(long, value_name = "DURATION", requires_all = ["observations", "for_"], help_heading = "Observations")]
    pub every: Option<String>,

    /// How long to poll (at most 31d, e.g. 8h): ceil(FOR / EVERY) polls, the first at once.
    #[arg(
        long = "for",
        id = "for_",
        value_name = "DURATION",
        requires = "every",
        help_heading = "Observations"
    )]
    pub for_: Option<String>,

    /// Split the interval into consecutive chunks of this ISO-8601 duration (e.g. P1D, P7D,
    /// PT6H), each queried on its own; days end at midnight of the --time-zone.
    #[arg(long, value_name = "DURATION", help_heading = "Requests")]
    pub split: Option<String>,

    /// Print the body and the requests, send nothing.
    #[arg(long, help_heading = "Requests")]
    pub dry_run: bool,

    /// Write to FILE (atomically) instead of stdout; a DIR (ending in /, or existing) gets
    /// one file per chunk and _manifest.json (observations: one new file per poll).
    #[arg(short, long, value_name = "FILE|DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,

    /// Continue an interrupted fetch into -o DIR: chunks its manifest lists as complete
    /// are skipped without calling the API.
    #[arg(long, requires = "output", help_heading = "Output")]
    pub resume: bool,

    #[command(flatten)]
    pub reporting: Reporting,

    #[command(flatten)]
    pub requests: Requests,

    #[command(flatten)]
    pub connection: Connection,
}

/// What a command that calls the API says on stderr as it goes: progress and request logs.
#[derive(Debug, clap::Args)]
pub struct Reporting {
    /// No progress on stderr.
    #[arg(short, long, conflicts_with_all = ["verbose", "progress"], help_heading = "Output")]
    pub quiet: bool,

    /// Every progress event as a line (unless --progress says otherwise), and every request
    /// and answer, on stderr (credentials redacted).
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,

    /// How progress shows on stderr [default: auto: a live board on a terminal, nothing
    /// otherwise].
    #[arg(long, value_enum, value_name = "HOW", help_heading = "Output")]
    pub progress: Option<Mode>,
}

impl Reporting {
    /// Where progress goes, as these flags say.
    pub fn progress(&self) -> Progress {
        let progress = Progress::new(self.quiet, self.verbose);
        self.progress.map_or(progress, |mode| progress.with_mode(mode))
    }
}

/// How the chunks of an aggregate query are requested: sync or async, how many at once,
/// and the bounds on retries, waits and jobs.
#[derive(Debug, clap::Args)]
pub struct Requests {
    /// Use an async aggregate job (submitted, polled, read page by page) instead of the
    /// sync query.
    #[arg(long = "async", help_heading = "Requests")]
    pub asynchronous: bool,

    /// Results per page of an async job.
    #[arg(long, value_name = "N", requires = "asynchronous", value_parser = clap::value_parser!(u32).range(1..),
          help_heading = "Requests")]
    pub page_size: Option<u32>,

    /// Chunks fetched at once; output stays in chunk order.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=32),
          help_heading = "Requests")]
    pub concurrency: u16,

    /// Retries of a request that was rate limited (429), met a gateway error (502, 503,
    /// 504) or lost its connection.
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Requests")]
    pub max_retries: u32,

    /// The longest single wait a rate limit's Retry-After may impose (e.g. 5m, 90s, PT10M);
    /// waits over a minute are announced on stderr.
    #[arg(long, value_name = "DURATION", default_value = "5m", help_heading = "Requests")]
    pub max_wait: String,

    /// Seconds one request may take, reading its whole answer included.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Requests")]
    pub timeout: u64,

    /// How long an async job may take to end (e.g. 10m, 2h, PT45M); then it is cancelled
    /// and the fetch fails.
    #[arg(long, value_name = "DURATION", default_value = "30m", help_heading = "Requests")]
    pub job_timeout: String,

    /// Results pages one async job may give before the fetch fails (a server that never
    /// stops paging).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Requests")]
    pub max_pages: u64,
}

impl Requests {
    /// How to query `kind`, the retry policy and the budget of one request, checked.
    pub fn resolve(&self, kind: &str) -> anyhow::Result<(Query, Policy, Duration)> {
        let job_timeout = fixed_duration("--job-timeout", &self.job_timeout, "10m, 2h or PT45M")?;
        let max_wait = fixed_duration("--max-wait", &self.max_wait, "5m, 90s or PT10M")?;
        let query = Query {
            kind: kind.to_owned(),
            asynchronous: self.asynchronous,
            job_timeout,
            max_pages: self.max_pages,
        };
        let policy = Policy::new(self.max_retries).with_max_wait(max_wait);
        Ok((query, policy, Duration::from_secs(self.timeout)))
    }
}

/// Where the API is and the OAuth client that calls it.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Region: AWS code (us-east-1, eu_central_2) or domain (mypurecloud.ie); see `gcagg regions`.
    #[arg(long, value_name = "REGION", help_heading = "Connection")]
    pub region: Option<String>,

    /// API base URL instead of the region's, e.g. a proxy.
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    pub api_base: Option<String>,

    /// Login (OAuth) base URL instead of the region's.
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    pub login_base: Option<String>,

    /// OAuth client id [env: GENESYS_CLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_ID].
    #[arg(long, value_name = "ID", help_heading = "Connection")]
    pub client_id: Option<String>,

    /// OAuth client secret; prefer the environment or .env, which other users cannot see
    /// [env: GENESYS_CLIENT_SECRET, GENESYSCLOUD_OAUTHCLIENT_SECRET].
    #[arg(long, value_name = "SECRET", help_heading = "Connection")]
    pub client_secret: Option<String>,

    /// Allow a plain http:// --api-base or --login-base on another machine (credentials
    /// and tokens then cross the network unencrypted); loopback needs no flag.
    #[arg(long, help_heading = "Connection")]
    pub allow_http: bool,

    /// A named profile (region and OAuth client) of the profiles file, which flags
    /// override [env: GCAGG_PROFILE]; see the README's "Profiles".
    #[arg(long, value_name = "NAME", help_heading = "Connection")]
    pub profile: Option<String>,
}

impl Connection {
    /// The endpoints and the OAuth client, from the flags, the environment or `.env`.
    pub fn resolve(&self) -> anyhow::Result<(Endpoints, Credentials)> {
        let env = Env::load(&std::env::current_dir()?)?;
        let connection = self.with_profile(&env)?;
        let (endpoints, _) = endpoints(&connection, &env)?;
        Ok((endpoints, credentials(&connection, &env)?))
    }

    /// The endpoints, the region named (if one was) and the OAuth client, which a dry run
    /// does without (`None`).
    fn resolve_for(&self, dry_run: bool) -> anyhow::Result<(Endpoints, Option<String>, Option<Credentials>)> {
        let env = Env::load(&std::env::current_dir()?)?;
        let connection = self.with_profile(&env)?;
        let (endpoints, region) = endpoints(&connection, &env)?;
        let credentials = if dry_run {
            None
        } else {
            Some(credentials(&connection, &env)?)
        };
        Ok((endpoints, region, credentials))
    }

    /// These flags, completed by the chosen profile (`--profile`, else `GCAGG_PROFILE`):
    /// a flag given wins over the profile's setting.
    pub fn with_profile(&self, env: &Env) -> anyhow::Result<Connection> {
        let mut out = Connection {
            region: self.region.clone(),
            api_base: self.api_base.clone(),
            login_base: self.login_base.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            allow_http: self.allow_http,
            profile: self.profile.clone().or_else(|| env.get(&["GCAGG_PROFILE"])),
        };
        let Some(name) = out.profile.clone() else {
            return Ok(out);
        };
        let profile = Profile::load(&name)?;
        // A region flag replaces the profile's bases too, and base flags its region.
        let place_given = out.region.is_some() || out.api_base.is_some() || out.login_base.is_some();
        if !place_given {
            out.region = profile.region.clone();
            out.api_base = profile.api_base.clone();
            out.login_base = profile.login_base.clone();
        }
        if out.client_id.is_none() && out.client_secret.is_none() {
            out.client_id = profile.client_id.clone();
            out.client_secret = profile.secret(&name)?;
        }
        Ok(out)
    }
}

/// Everything the fetch needs, checked before the first request.
struct Plan {
    endpoints: Endpoints,
    region: Option<String>,
    /// `None` on a dry run, which needs no credentials.
    credentials: Option<Credentials>,
    body: Map<String, Value>,
    query: Query,
    page_size: Option<u32>,
    split: Option<String>,
    chunks: Vec<Chunk>,
    target: TargetPlan,
    concurrency: usize,
    policy: Policy,
    timeout: Duration,
    progress: Progress,
}

enum TargetPlan {
    Stdout,
    File(PathBuf),
    Dir { path: PathBuf, resume: bool },
}

impl Plan {
    fn new(args: Args) -> anyhow::Result<Plan> {
        let (endpoints, region, credentials) = args.connection.resolve_for(args.dry_run)?;

        let kind = args.kind.clone().unwrap_or_else(|| "conversations".into());
        check_kind(&kind, args.any_kind)?;
        if let Some(interval) = &args.interval {
            // The API would refuse anything else only after the login, or read a bare date in UTC.
            query::bounds("--interval", interval)?;
        }
        let granularity = duration("--granularity", args.granularity.as_deref(), "PT30M, PT1H, P1D or 30m")?;
        let since = duration("--since", args.since.as_deref(), "24h, 7d or PT36H")?;
        let split = duration("--split", args.split.as_deref(), "P1D or PT6H")?;
        let (query, policy, timeout) = args.requests.resolve(&kind)?;
        let filters = filters(&args.filter)?;
        let fields = Fields {
            interval: args.interval.clone(),
            since,
            granularity: granularity.map(|g| g.iso()),
            group_by: clean(&args.group_by),
            metrics: clean(&args.metrics),
            filters,
            time_zone: args.time_zone.clone(),
        };
        let base = args.query.as_deref().map(read_query).transpose()?;
        let body = query::body(base, &fields, ZonedTime::now())?;
        let zone = query::zone(&body, "timeZone")?;
        let chunks = query::chunks(query::interval(&body), split.as_ref(), zone.as_ref())?;

        let target = match args.output {
            None if args.resume => return Err(usage("--resume needs -o DIR")),
            None => TargetPlan::Stdout,
            Some(path) if args.resume || is_dir_target(&path) => TargetPlan::Dir {
                path,
                resume: args.resume,
            },
            Some(path) => TargetPlan::File(path),
        };
        Ok(Plan {
            endpoints,
            region,
            credentials,
            body,
            query,
            page_size: args.requests.page_size,
            split: args.split,
            chunks,
            target,
            concurrency: usize::from(args.requests.concurrency),
            policy,
            timeout,
            progress: args.reporting.progress(),
        })
    }

    fn chunk_body(&self, chunk: &Chunk) -> String {
        query::chunk_body(&self.body, chunk, self.page_size)
    }

    fn manifest(&self) -> Manifest {
        let request = manifest::Request {
            kind: self.query.kind.clone(),
            asynchronous: self.query.asynchronous,
            page_size: self.page_size,
            region: self.region.clone(),
            api_base: self.endpoints.api_base.clone(),
            split: self.split.clone(),
            query: Value::Object(self.body.clone()),
        };
        Manifest::new(request, &self.chunks)
    }

    /// Creates or takes up `-o DIR`: its manifest, written, and the chunks still to fetch.
    fn prepare_dir(&self, path: &Path, resume: bool) -> anyhow::Result<(Manifest, Vec<Chunk>)> {
        std::fs::create_dir_all(path).map_err(|e| usage(format!("-o {}: {e}", path.display())))?;
        let mut manifest = self.manifest();
        match Manifest::read(path)? {
            Some(old) if resume => {
                old.check_resumable(&manifest, path)?;
                manifest.adopt(old, path);
                manifest::remove_leftovers(path);
            }
            Some(_) => {
                return Err(usage(format!(
                    "-o {}: holds an earlier fetch; add --resume to continue it, or use an empty directory",
                    path.display()
                )))
            }
            None => {}
        }
        let todo: Vec<Chunk> = self
            .chunks
            .iter()
            .filter(|c| !manifest.is_complete(c.index))
            .cloned()
            .collect();
        let skipped = self.chunks.len() - todo.len();
        if skipped > 0 {
            self.progress.note(format!(
                "resuming: {skipped} of {} already complete",
                counted(self.chunks.len() as u64, "chunk")
            ));
        }
        manifest.write(path)?;
        Ok((manifest, todo))
    }

    /// Prints what a run would send.
    fn dry_run(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        token_line(&mut out, &self.endpoints)?;
        for chunk in &self.chunks {
            writeln!(out, "# {}", label(chunk, self.chunks.len()))?;
            for line in self.query.describe(&self.endpoints, &self.chunk_body(chunk)) {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// A dry run's first line: the token request, made once.
fn token_line(out: &mut impl std::io::Write, endpoints: &Endpoints) -> std::io::Result<()> {
    writeln!(
        out,
        "POST {}  (client credentials; the token is reused)",
        endpoints.token_url()
    )
}

/// Whether `-o PATH` names a folder: one that exists, or a path ending in `/`.
fn is_dir_target(path: &Path) -> bool {
    path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/')
}

/// `--filter DIMENSION=VALUE` flags, checked.
fn filters(list: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    list.iter()
        .map(|f| match f.split_once('=') {
            Some((dim, value)) if !dim.trim().is_empty() => Ok((dim.trim().to_owned(), value.to_owned())),
            _ => Err(usage(format!(
                "--filter {f}: expected DIMENSION=VALUE, e.g. queueId=abc"
            ))),
        })
        .collect()
}

/// A list flag's items, trimmed, empty ones dropped.
fn clean(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The analytics families with aggregate queries, as the API spells them in
/// `/api/v2/analytics/{kind}/aggregates/query`.
const KINDS: &[&str] = &[
    "actions",
    "agentcopilots",
    "bots",
    "conversations",
    "evaluations",
    "flowexecutions",
    "flows",
    "journeys",
    "knowledge",
    "ratelimits",
    "resolutions",
    "summaries",
    "surveys",
    "taskmanagement",
    "transcripts",
    "users",
];

/// A `--kind` outside [`KINDS`] is most likely a typo (`conversation`), which the API would
/// answer with a 404 after the login; `any` lets a family newer than this list through.
pub fn check_kind(kind: &str, any: bool) -> anyhow::Result<()> {
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(usage(format!(
            "--kind {kind}: expected a family name such as conversations, users or flows"
        )));
    }
    if any || KINDS.contains(&kind) {
        return Ok(());
    }
    // A suggestion only when it is near enough to be the typo (`conversation`, `user`):
    // `foo` is no misspelling of `bots`.
    let nearest = KINDS
        .iter()
        .map(|known| (strsim::levenshtein(kind, known), known))
        .min()
        .filter(|&(d, _)| d <= 3 && d * 3 <= kind.len())
        .map(|(_, known)| format!("; did you mean {known}?"))
        .unwrap_or_default();
    Err(usage(format!(
        "--kind {kind}: not a known analytics family{nearest} (known: {}; add --any-kind to send \
         another)",
        KINDS.join(", ")
    )))
}

/// The duration a flag gives, if it is given.
fn duration(flag: &str, value: Option<&str>, examples: &str) -> anyhow::Result<Option<IsoDuration>> {
    value
        .map(|v| {
            IsoDuration::parse(v).ok_or_else(|| {
                usage(format!(
                    "{flag} {v}: expected a duration such as {examples} (whole numbers, at most 1000 years)"
                ))
            })
        })
        .transpose()
}

/// The duration a flag gives, which must not depend on the calendar (no months), to the
/// millisecond (`1.5s`).
fn fixed_duration(flag: &str, value: &str, examples: &str) -> anyhow::Result<Duration> {
    crate::api::time::fixed_millis(value)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            usage(format!(
                "{flag} {value}: expected a fixed duration such as {examples} (no months; a fraction to the millisecond, as in 1.5s)"
            ))
        })
}

/// The API and login bases, from the flags, the region or the environment.
fn endpoints(args: &Connection, env: &Env) -> anyhow::Result<(Endpoints, Option<String>)> {
    let region_vars = ["GENESYS_ENVIRONMENT", "GENESYSCLOUD_REGION"];
    let named = match &args.region {
        Some(r) => Some((r.clone(), "--region".to_owned())),
        None if args.api_base.is_some() && args.login_base.is_some() => None,
        None => env
            .get(&region_vars)
            .map(|r| (r, "GENESYS_ENVIRONMENT/GENESYSCLOUD_REGION".to_owned())),
    };
    let region = named
        .map(|(name, source)| {
            Region::find(&name).ok_or_else(|| {
                usage(format!(
                    "{source} {name}: unknown region; `gcagg regions` lists the codes and domains"
                ))
            })
        })
        .transpose()?;
    let base = |flag: &str, given: &Option<String>, from_region: Option<String>| -> anyhow::Result<String> {
        let url = match (given, from_region) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(url)) => url,
            (None, None) if args.api_base.is_some() || args.login_base.is_some() => {
                return Err(usage(format!("{flag}: needed too (or a --region)")))
            }
            (None, None) => {
                return Err(usage(
                    "no region: give --region (e.g. us-east-1 or mypurecloud.ie; see `gcagg regions`) or set GENESYS_ENVIRONMENT",
                ))
            }
        };
        check_base(flag, &url, args.allow_http)?;
        Ok(url)
    };
    let api_base = base("--api-base", &args.api_base, region.map(|r| r.api_base()))?;
    let login_base = base("--login-base", &args.login_base, region.map(|r| r.login_base()))?;
    Ok((Endpoints { api_base, login_base }, region.map(|r| r.code.to_owned())))
}

/// Refuses a base URL that would leak the credentials: a password in the URL (printed in
/// errors, stored in `_manifest.json`), or plain http to another machine (the Basic
/// credentials and the tokens would cross the network in clear) unless `allow_http`.
fn check_base(flag: &str, url: &str, allow_http: bool) -> anyhow::Result<()> {
    let (plain, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (false, rest),
        (None, Some(rest)) => (true, rest),
        (None, None) => return Err(usage(format!("{flag} {url}: expected an http:// or https:// URL"))),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(usage(format!(
            "{flag}: the URL holds a user name or password; remove it (the OAuth client goes in \
             --client-id/--client-secret or the environment)"
        )));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if plain && !loopback && !allow_http {
        return Err(usage(format!(
            "{flag} {url}: plain http to {host} would send the credentials and tokens in clear; \
             use https, or add --allow-http"
        )));
    }
    Ok(())
}

/// The OAuth client, from the flags, else the environment, else `.env`.
fn credentials(args: &Connection, env: &Env) -> anyhow::Result<Credentials> {
    let client_id = args
        .client_id
        .clone()
        .or_else(|| env.get(&["GENESYS_CLIENT_ID", "GENESYSCLOUD_OAUTHCLIENT_ID"]));
    let secret = args
        .client_secret
        .clone()
        .or_else(|| env.get(&["GENESYS_CLIENT_SECRET", "GENESYSCLOUD_OAUTHCLIENT_SECRET"]));
    match (client_id, secret) {
        (Some(client_id), Some(secret)) => Ok(Credentials {
            client_id,
            secret: Secret::new(secret),
        }),
        (id, _) => Err(usage(format!(
            "no client {}: give --client-id and --client-secret, or set GENESYS_CLIENT_ID and \
             GENESYS_CLIENT_SECRET (in the environment or a .env file)",
            if id.is_none() { "id" } else { "secret" }
        ))),
    }
}

/// The `--query` body: a JSON object from a file or stdin.
fn read_query(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let mut text = String::new();
    let name = path.display().to_string();
    let read = if name == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| usage(format!("--query {name}: {e}")))?;
    match serde_json::from_str(text.trim_start_matches('\u{feff}')) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) => Err(usage(format!(
            "--query {name}: expected a JSON object (the request body)"
        ))),
        Err(e) => Err(usage(format!("--query {name}: not JSON: {e}"))),
    }
}

/// How progress and errors name a chunk.
fn label(chunk: &Chunk, total: usize) -> String {
    format!("chunk {}/{total} ({})", chunk.index + 1, chunk.interval)
}

/// The longest `--for`: a month of polls.
const LONGEST_POLL: u64 = 31 * 86_400;

/// Everything an observation fetch needs, checked before the first request.
struct Observe {
    endpoints: Endpoints,
    /// `None` on a dry run, which needs no credentials.
    credentials: Option<Credentials>,
    request: observations::Request,
    bodies: Vec<String>,
    schedule: Schedule,
    target: PollTarget,
    concurrency: usize,
    policy: Policy,
    timeout: Duration,
    progress: Progress,
}

impl Observe {
    fn new(args: Args) -> anyhow::Result<Observe> {
        let (endpoints, _, credentials) = args.connection.resolve_for(args.dry_run)?;
        let kind = args.kind.clone().unwrap_or_else(|| "queues".into());
        if observations::entity_dimension(&kind).is_none() {
            let known: Vec<&str> = observations::KINDS.iter().map(|(k, _)| *k).collect();
            return Err(usage(format!(
                "--kind {kind}: observation queries exist for {} only",
                known.join(", ")
            )));
        }
        let (_, policy, timeout) = args.requests.resolve(&kind)?;
        let request = observations::Request {
            kind,
            filters: filters(&args.filter)?,
            metrics: clean(&args.metrics),
            detail_metrics: clean(&args.detail_metrics),
            batch: args.batch.map_or(observations::DEFAULT_BATCH, |b| b as usize),
        };
        let bodies = request.bodies()?;
        let schedule = match (&args.every, &args.for_) {
            (Some(every), Some(span)) => {
                let every = fixed_duration("--every", every, "30s, 5m or PT1M")?;
                let span = fixed_duration("--for", span, "8h, 30m or P1D")?;
                if every < Duration::from_secs(1) {
                    return Err(usage("--every: at least 1s between polls"));
                }
                if span.as_secs() > LONGEST_POLL {
                    return Err(usage("--for: at most 31d of polls; start another run after it"));
                }
                // In milliseconds: `--every 1.5s` is 1.5 s, not 1 s.
                let polls = span.as_millis().div_ceil(every.as_millis()).max(1);
                Schedule {
                    polls: u64::try_from(polls).expect("at most 31d of polls at least 1s apart"),
                    every,
                }
            }
            // Clap requires both or neither.
            _ => Schedule {
                polls: 1,
                every: Duration::ZERO,
            },
        };
        let target = match args.output {
            None => PollTarget::Stdout,
            Some(path) if is_dir_target(&path) => {
                if path.join(manifest::FILE_NAME).exists() {
                    return Err(usage(format!(
                        "-o {}: holds an aggregate fetch ({}); use another directory for observations",
                        path.display(),
                        manifest::FILE_NAME
                    )));
                }
                PollTarget::Dir(path)
            }
            Some(path) => PollTarget::File(path),
        };
        Ok(Observe {
            endpoints,
            credentials,
            request,
            bodies,
            schedule,
            target,
            concurrency: usize::from(args.requests.concurrency),
            policy,
            timeout,
            progress: args.reporting.progress(),
        })
    }

    /// Prints what a run would send.
    fn dry_run(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        token_line(&mut out, &self.endpoints)?;
        if self.schedule.polls > 1 {
            writeln!(
                out,
                "# {} polls, one every {}",
                self.schedule.polls,
                api::retry::spoken(self.schedule.every)
            )?;
        }
        for (q, body) in self.bodies.iter().enumerate() {
            writeln!(out, "# query {}/{}", q + 1, self.bodies.len())?;
            for line in self.request.describe(&self.endpoints, body) {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
        Ok(())
    }

    fn run(self) -> anyhow::Result<()> {
        let Some(credentials) = self.credentials.clone() else {
            return self.dry_run();
        };
        // Only now: a dry run creates nothing.
        if let PollTarget::Dir(path) = &self.target {
            std::fs::create_dir_all(path).map_err(|e| usage(format!("-o {}: {e}", path.display())))?;
        }
        let client = std::sync::Arc::new(Client::new(Settings {
            endpoints: self.endpoints,
            credentials,
            timeout: self.timeout,
            policy: self.policy,
            permission: observations::permission(&self.request.kind),
            progress: self.progress,
        }));
        fetch::poll(
            &client,
            &self.request,
            &self.bodies,
            self.schedule,
            self.concurrency,
            self.target,
        )
    }
}

/// Runs `gcagg fetch`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.observations {
        return Observe::new(args)?.run();
    }
    let plan = Plan::new(args)?;
    let Some(credentials) = plan.credentials.clone() else {
        return plan.dry_run();
    };
    let (target, todo) = match &plan.target {
        TargetPlan::Stdout => (Target::Stdout, plan.chunks.clone()),
        TargetPlan::File(path) => (Target::File(path.clone()), plan.chunks.clone()),
        TargetPlan::Dir { path, resume } => {
            let (manifest, todo) = plan.prepare_dir(path, *resume)?;
            let target = Target::Dir {
                path: path.clone(),
                manifest,
            };
            (target, todo)
        }
    };
    if todo.is_empty() {
        plan.progress.note("nothing to fetch: every chunk is complete");
        return Ok(());
    }
    // Shared with the cleanup that cancels a running job if a signal ends the run.
    let client = std::sync::Arc::new(Client::new(Settings {
        endpoints: plan.endpoints.clone(),
        credentials,
        timeout: plan.timeout,
        policy: plan.policy,
        permission: api::permission(&plan.query.kind),
        progress: plan.progress,
    }));
    let work: Vec<Work> = todo
        .into_iter()
        .map(|chunk| Work {
            body: plan.chunk_body(&chunk),
            label: label(&chunk, plan.chunks.len()),
            chunk,
        })
        .collect();
    fetch::fetch(&client, &plan.query, &work, plan.concurrency, target)
}
