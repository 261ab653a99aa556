//! `gcagg sync`: keeps a Parquet dataset of interval aggregates current.
//!
//! A run reads the dataset's definition (or makes it from the flags on the first run), takes
//! the dataset's lock, fetches every UTC day from its watermark less the lookback to the
//! last complete bucket, stores each day's raw pages, flattens the days into new partitions
//! and swaps them in (see [`crate::lake`]). The order makes a run killed at any moment safe:
//! the definition is written first only when it is new or changed (with the watermark
//! cleared or a rebuild pending, never ahead of the data), raw pages and partitions are
//! replaced whole, and the new watermark and columns are written last. The next run then
//! simply does the work again.
//!
//! Every data file has the definition's columns, in its order: a run seeds the flattener
//! with them, and a run that meets a new column rebuilds every partition from the raw pages
//! so that all files gain it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::aggregates::Query;
use crate::api::query::{self, Chunk, Fields};
use crate::api::time::{IsoDuration, ZonedTime};
use crate::api::{self, Client, Settings};
use crate::atomic::AtomicFile;
use crate::cmd::fetch::{check_kind, Connection, Reporting, Requests};
use crate::cmd::names;
use crate::cmd::rows;
use crate::columns::{Columns, Layout, Role};
use crate::exit::usage;
use crate::fetch::{self as fetching, Target, Work};
use crate::lake::{self, Swap};
use crate::manifest::{self, Manifest};
use crate::output::format::{FileFormat, Format};
use crate::output::parquet::{Codec, Settings as ParquetSettings, DEFAULT_ROW_GROUP_ROWS};
use crate::output::partition;
use crate::progress::{counted, Progress};

/// Keep a Parquet dataset of interval aggregates current, incrementally and idempotently.
///
/// The first run defines the dataset (the query, the flatten options, the start); later runs
/// need only its folder. Each run fetches the days from the dataset's watermark, less the
/// lookback, up to the last complete bucket, keeps their raw pages under _raw/, and swaps in
/// the rebuilt interval_date=YYYY-MM-DD partitions (UTC days) whole. Credentials and the
/// region come as for `gcagg fetch`: flags, profiles, the environment or `.env`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg sync lake/queue_kpis --region eu-west-1 --granularity PT30M \\
      --group-by queueId,mediaType --metrics nOffered,tHandle,tAnswered,tAbandon,oServiceLevel \\
      --start 2024-01-01 --add-column org=acme          define, then fetch up to now
  gcagg sync lake/queue_kpis                             bring it up to date (cron, Airflow)
  gcagg sync lake/queue_kpis --dry-run                   what would be fetched and replaced
  gcagg sync lake/queue_kpis --rebuild                   re-flatten from the raw pages, no API call
  gcagg sync lake/queue_kpis/org=globex --profile globex --granularity PT30M ...   a second org

Exit status: 0 done, 1 another sync holds the dataset or a file could not be written, 2 usage
error (also: a flag contradicting the definition without --redefine), 3 API, authentication or
network failure, 130/143 interrupted (the next run completes the work).")]
pub struct Args {
    /// The dataset's folder, created on the first run.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,

    /// First day of the dataset (YYYY-MM-DD, UTC) or instant (RFC 3339); needed on the first run.
    #[arg(long, value_name = "DATE", help_heading = "Definition")]
    pub start: Option<String>,

    /// Bucket size, a whole number of minutes or hours that divides a day, or P1D: PT15M, PT30M, PT1H.
    #[arg(long, value_name = "DURATION", help_heading = "Definition")]
    pub granularity: Option<String>,

    /// Dimensions to group by, e.g. queueId,mediaType.
    #[arg(long, value_name = "LIST", value_delimiter = ',', help_heading = "Definition")]
    pub group_by: Vec<String>,

    /// Metrics, e.g. nOffered,tHandle,oServiceLevel.
    #[arg(long, value_name = "LIST", value_delimiter = ',', help_heading = "Definition")]
    pub metrics: Vec<String>,

    /// Keep only rows whose DIMENSION matches VALUE (repeatable; all must hold).
    #[arg(long, value_name = "DIMENSION=VALUE", help_heading = "Definition")]
    pub filter: Vec<String>,

    /// The analytics family [default: conversations].
    #[arg(long, value_name = "KIND", help_heading = "Definition")]
    pub kind: Option<String>,

    /// Accept a --kind gcagg does not know.
    #[arg(long, help_heading = "Definition")]
    pub any_kind: bool,

    /// How far before the watermark each run fetches again, as recent numbers still change
    /// (t* metrics post when the conversation ends) [default: P2D].
    #[arg(long, value_name = "DURATION", help_heading = "Definition")]
    pub lookback: Option<String>,

    /// Add a constant column to every row (repeatable), e.g. org=acme.
    #[arg(long, value_name = "NAME=VALUE", help_heading = "Definition")]
    pub add_column: Vec<String>,

    /// Keep only these stats (e.g. count,sum).
    #[arg(long, value_name = "LIST", value_delimiter = ',', help_heading = "Definition")]
    pub stats: Vec<String>,

    /// Write null where a missing value would be written as 0 (--keep-nulls=false to undo).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", help_heading = "Definition")]
    pub keep_nulls: Option<bool>,

    /// One row per entity (wide) or one row per stat (long) [default: wide].
    #[arg(long, value_enum, help_heading = "Definition")]
    pub layout: Option<Layout>,

    /// Add the KPI columns (aht_s, asa_s, answer_rate, ...) where their inputs exist; see
    /// `gcagg flatten --kpis` (--kpis=false to undo).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", help_heading = "Definition")]
    pub kpis: Option<bool>,

    /// Partition each day further by these columns, e.g. mediaType.
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',', help_heading = "Definition")]
    pub partition_by: Vec<String>,

    /// Parquet compression codec [default: zstd].
    #[arg(long, value_enum, value_name = "CODEC", help_heading = "Definition")]
    pub compression: Option<Codec>,

    /// Also keep the org's lookup tables (queues, users, wrap-up codes, ...; see `gcagg
    /// names`) beside the dataset, refreshed on each run: lake/_names/queues.parquet next to
    /// lake/queue_kpis, joinable on the id columns (--names=false to stop).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", help_heading = "Definition")]
    pub names: Option<bool>,

    /// Keep no raw pages under _raw/ (then --rebuild is impossible, and a new column cannot
    /// reach the partitions written before it).
    #[arg(long, help_heading = "Definition")]
    pub no_raw: bool,

    /// Accept flags that change the stored definition: a changed query fetches every day
    /// again, changed flatten options rebuild every partition from the raw pages.
    #[arg(long, help_heading = "Definition")]
    pub redefine: bool,

    /// Fetch up to this day or instant (exclusive; UTC) instead of the last complete bucket
    /// before now: for backfills.
    #[arg(long, value_name = "DATE", conflicts_with = "rebuild", help_heading = "Run")]
    pub until: Option<String>,

    /// Re-flatten every partition from the raw pages, without any API call.
    #[arg(long, help_heading = "Run")]
    pub rebuild: bool,

    /// Print what would be fetched and replaced; change nothing, send nothing.
    #[arg(long, help_heading = "Run")]
    pub dry_run: bool,

    // `-q` also drops the summary line.
    #[command(flatten)]
    pub reporting: Reporting,

    #[command(flatten)]
    pub requests: Requests,

    #[command(flatten)]
    pub connection: Connection,
}

/// The dataset's definition, `_gcagg_sync.json`: everything a later run needs but the
/// secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Definition {
    /// This file's layout version.
    version: u32,
    kind: String,
    granularity: String,
    group_by: Vec<String>,
    metrics: Vec<String>,
    filter: Vec<String>,
    /// RFC 3339, UTC.
    start: String,
    lookback: String,
    layout: String,
    keep_nulls: bool,
    stats: Vec<String>,
    add_column: Vec<String>,
    /// `--kpis`: the derived KPI columns.
    #[serde(default)]
    kpis: bool,
    partition_by: Vec<String>,
    compression: String,
    raw: bool,
    /// Refresh the lookup tables beside the dataset on each run.
    #[serde(default)]
    names: bool,
    region: Option<String>,
    api_base: Option<String>,
    login_base: Option<String>,
    profile: Option<String>,
    /// Every column of the data files, in order.
    columns: Vec<StoredColumn>,
    /// Every bucket before this instant is in the dataset (RFC 3339, UTC).
    synced_until: Option<String>,
    /// A change of the flatten options has not reached every partition yet.
    rebuild_pending: bool,
}

/// One column of the definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredColumn {
    name: String,
    role: Role,
}

/// What a changed flag asks of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Other numbers: every day is fetched again.
    Query,
    /// Other rows from the same pages: every partition is rebuilt.
    Rows,
    /// Nothing to redo (the lookback, the connection).
    Setting,
}

const VERSION: u32 = 1;

impl Definition {
    /// Reads the definition of `dir`, if it has one.
    fn read(dir: &Path) -> anyhow::Result<Option<Definition>> {
        use std::io::ErrorKind;
        let path = dir.join(lake::DEFINITION);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // No folder yet (or a file in its way, which creating it will report).
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(None),
            Err(e) => anyhow::bail!("{}: cannot read: {e}", path.display()),
        };
        let definition: Definition = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a gcagg sync definition: {e}", path.display()))?;
        if definition.version != VERSION {
            anyhow::bail!(
                "{}: written by another version of gcagg (format {}, this one reads {VERSION})",
                path.display(),
                definition.version
            );
        }
        Ok(Some(definition))
    }

    /// Writes the definition into `dir`, whole or not at all.
    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let (atomic, mut file) = AtomicFile::create(&dir.join(lake::DEFINITION))?;
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        drop(file);
        atomic.commit()
    }

    /// A new definition, from the flags of the first run.
    fn first(args: &Args) -> anyhow::Result<Definition> {
        let mut definition = Definition {
            version: VERSION,
            kind: "conversations".into(),
            granularity: String::new(),
            group_by: Vec::new(),
            metrics: Vec::new(),
            filter: Vec::new(),
            start: String::new(),
            lookback: "P2D".into(),
            layout: name_of(Layout::Wide),
            keep_nulls: false,
            stats: Vec::new(),
            add_column: Vec::new(),
            kpis: false,
            partition_by: Vec::new(),
            compression: name_of(Codec::Zstd),
            raw: true,
            names: false,
            region: None,
            api_base: None,
            login_base: None,
            profile: None,
            columns: Vec::new(),
            synced_until: None,
            rebuild_pending: false,
        };
        definition.apply(args)?;
        let missing: Vec<&str> = [
            ("--start", definition.start.is_empty()),
            ("--granularity", definition.granularity.is_empty()),
            ("--metrics", definition.metrics.is_empty()),
        ]
        .into_iter()
        .filter_map(|(flag, missing)| missing.then_some(flag))
        .collect();
        if !missing.is_empty() {
            return Err(usage(format!(
                "{}: no dataset here yet; define it with {} (e.g. --start 2024-01-01 --granularity PT30M \
                 --metrics nOffered,tHandle)",
                args.dataset.display(),
                missing.join(", ")
            )));
        }
        Ok(definition)
    }

    /// Sets the fields the flags give; returns the flags that changed a field, with what
    /// each change asks of the dataset.
    fn apply(&mut self, args: &Args) -> anyhow::Result<Vec<(&'static str, Change)>> {
        let mut changed = Vec::new();
        // Not given: unchanged. Given only empty (`--add-column ''`): cleared.
        let list = |values: &[String]| -> Option<Vec<String>> {
            (!values.is_empty()).then(|| {
                values
                    .iter()
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect()
            })
        };
        let stats = list(&args.stats).map(|s| s.iter().map(|s| crate::columns::api_stat_name(s).to_owned()).collect());
        if let Some(kind) = &args.kind {
            check_kind(kind, args.any_kind)?;
        }
        let granularity = args
            .granularity
            .as_deref()
            .map(|g| granularity(g).map(|(iso, _)| iso))
            .transpose()?;
        let lookback = args
            .lookback
            .as_deref()
            .map(|l| fixed("--lookback", l, "P2D, PT12H or 36h").map(|(iso, _)| iso))
            .transpose()?;
        let start = args
            .start
            .as_deref()
            .map(|s| instant("--start", s).map(|t| t.to_string()))
            .transpose()?;
        for filter in &args.filter {
            if filter.split_once('=').is_none_or(|(dim, _)| dim.trim().is_empty()) {
                return Err(usage(format!(
                    "--filter {filter}: expected DIMENSION=VALUE, e.g. queueId=abc"
                )));
            }
        }
        use Change::{Query, Rows, Setting};
        update(&mut self.kind, args.kind.clone(), "--kind", Query, &mut changed);
        update(&mut self.granularity, granularity, "--granularity", Query, &mut changed);
        update(
            &mut self.group_by,
            list(&args.group_by),
            "--group-by",
            Query,
            &mut changed,
        );
        update(&mut self.metrics, list(&args.metrics), "--metrics", Query, &mut changed);
        if !args.metrics.is_empty() && self.metrics.is_empty() {
            return Err(usage("--metrics: name at least one metric, e.g. nOffered,tHandle"));
        }
        update(&mut self.filter, list(&args.filter), "--filter", Query, &mut changed);
        update(&mut self.start, start, "--start", Query, &mut changed);
        update(&mut self.lookback, lookback, "--lookback", Setting, &mut changed);
        update(
            &mut self.layout,
            args.layout.map(name_of),
            "--layout",
            Rows,
            &mut changed,
        );
        update(
            &mut self.keep_nulls,
            args.keep_nulls,
            "--keep-nulls",
            Rows,
            &mut changed,
        );
        update(&mut self.stats, stats, "--stats", Rows, &mut changed);
        update(&mut self.kpis, args.kpis, "--kpis", Rows, &mut changed);
        update(
            &mut self.add_column,
            list(&args.add_column),
            "--add-column",
            Rows,
            &mut changed,
        );
        update(
            &mut self.partition_by,
            list(&args.partition_by),
            "--partition-by",
            Rows,
            &mut changed,
        );
        update(
            &mut self.compression,
            args.compression.map(name_of),
            "--compression",
            Rows,
            &mut changed,
        );
        update(
            &mut self.raw,
            args.no_raw.then_some(false),
            "--no-raw",
            Setting,
            &mut changed,
        );
        update(&mut self.names, args.names, "--names", Setting, &mut changed);
        let c = &args.connection;
        update(
            &mut self.region,
            c.region.clone().map(Some),
            "--region",
            Setting,
            &mut changed,
        );
        update(
            &mut self.profile,
            c.profile.clone().map(Some),
            "--profile",
            Setting,
            &mut changed,
        );
        // Where the API is reached (a proxy, a test server) is no part of what the data is.
        let mut ignored = Vec::new();
        update(
            &mut self.api_base,
            c.api_base.clone().map(Some),
            "",
            Setting,
            &mut ignored,
        );
        update(
            &mut self.login_base,
            c.login_base.clone().map(Some),
            "",
            Setting,
            &mut ignored,
        );
        Ok(changed)
    }

    /// The flatten options of the data files.
    fn row_options(&self) -> anyhow::Result<crate::flatten::Options> {
        rows::row_options(
            parse_name(&self.layout)?,
            self.keep_nulls,
            &self.stats,
            &self.add_column,
            self.kpis,
        )
    }

    /// How the data files are written.
    fn file_format(&self) -> anyhow::Result<FileFormat> {
        Ok(FileFormat {
            format: Format::Parquet,
            gzip: false,
            keep_nulls: self.keep_nulls,
            parquet: ParquetSettings {
                codec: parse_name(&self.compression)?,
                row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            },
        })
    }

    /// The partition keys: `interval_date`, then `--partition-by`.
    fn keys(&self) -> anyhow::Result<Vec<String>> {
        let mut keys = vec![partition::INTERVAL_DATE.to_owned()];
        keys.extend(self.partition_by.iter().cloned());
        partition::key_names(&keys)
    }

    /// The columns to register first, as the flattener wants them.
    fn seed(&self) -> Vec<(String, Role)> {
        self.columns.iter().map(|c| (c.name.clone(), c.role)).collect()
    }

    /// The connection: the flags, else what the definition recorded.
    fn connection(&self, given: &Connection) -> Connection {
        let place_given = given.region.is_some() || given.api_base.is_some() || given.login_base.is_some();
        let stored_place = !place_given && given.profile.is_none();
        Connection {
            region: given
                .region
                .clone()
                .or_else(|| self.region.clone().filter(|_| stored_place)),
            api_base: given
                .api_base
                .clone()
                .or_else(|| self.api_base.clone().filter(|_| stored_place)),
            login_base: given
                .login_base
                .clone()
                .or_else(|| self.login_base.clone().filter(|_| stored_place)),
            client_id: given.client_id.clone(),
            client_secret: given.client_secret.clone(),
            allow_http: given.allow_http,
            profile: given.profile.clone().or_else(|| self.profile.clone()),
        }
    }
}

/// Sets `slot` to `given`, if given, noting `flag` in `changed` when that changes it.
fn update<T: PartialEq>(
    slot: &mut T,
    given: Option<T>,
    flag: &'static str,
    change: Change,
    changed: &mut Vec<(&'static str, Change)>,
) {
    if let Some(value) = given {
        if *slot != value {
            *slot = value;
            changed.push((flag, change));
        }
    }
}

/// The name clap gives a value of a value enum (`wide`, `zstd`), as stored.
fn name_of<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// The value of a value enum a stored name means.
fn parse_name<T: ValueEnum>(name: &str) -> anyhow::Result<T> {
    T::from_str(name, false).map_err(|_| anyhow::anyhow!("the definition holds an unknown value `{name}`"))
}

/// A fixed duration: its ISO-8601 form and its seconds.
fn fixed(flag: &str, text: &str, examples: &str) -> anyhow::Result<(String, i64)> {
    IsoDuration::parse(text)
        .and_then(|d| Some((d.iso(), d.fixed_seconds()?)))
        .filter(|&(_, secs)| secs > 0)
        .ok_or_else(|| {
            usage(format!(
                "{flag} {text}: expected a duration such as {examples} (no months)"
            ))
        })
}

/// A granularity whose buckets tile a UTC day, so every bucket belongs to one partition.
fn granularity(text: &str) -> anyhow::Result<(String, i64)> {
    let (iso, secs) = fixed("--granularity", text, "PT15M, PT30M, PT1H or P1D")?;
    if 86_400 % secs != 0 {
        return Err(usage(format!(
            "--granularity {text}: sync needs buckets that divide a day (PT15M, PT30M, PT1H, PT6H, P1D, ...)"
        )));
    }
    Ok((iso, secs))
}

/// A day (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 instant.
fn instant(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        if text.len() == 10 {
            return Ok(date.to_zoned_datetime(jiff::tz::TimeZone::UTC)?.timestamp());
        }
    }
    text.parse::<Timestamp>().map_err(|_| {
        usage(format!(
            "{flag} {text}: expected a UTC day (2024-05-01) or an instant with its offset (2024-05-01T06:00:00Z)"
        ))
    })
}

/// A stored instant.
fn stored_instant(what: &str, text: &str) -> anyhow::Result<Timestamp> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("the definition's {what} `{text}` is not an RFC 3339 instant"))
}

const DAY: i64 = 86_400;

/// Days fetched and committed together: a month, so a failed backfill loses at most that.
const BATCH_DAYS: usize = 31;

/// `at` moved to a whole multiple of `step` seconds, back.
fn floor(at: Timestamp, step: i64) -> anyhow::Result<Timestamp> {
    Ok(Timestamp::from_second(at.as_second().div_euclid(step) * step)?)
}

/// The UTC day of `at`, `YYYY-MM-DD`.
fn day_of(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

/// One UTC day to fetch: the part of it in the dataset's range.
#[derive(Debug, Clone)]
struct Day {
    date: String,
    from: Timestamp,
    to: Timestamp,
}

/// The days from `from` (its whole day, but never before `start`) to `end`.
fn days(from: Timestamp, end: Timestamp, start: Timestamp) -> anyhow::Result<Vec<Day>> {
    let mut out = Vec::new();
    let mut day = floor(from, DAY)?;
    while day < end {
        let next = Timestamp::from_second(day.as_second() + DAY)?;
        out.push(Day {
            date: day_of(day),
            from: day.max(start),
            to: next.min(end),
        });
        day = next;
    }
    Ok(out)
}

/// What one run is to do (or one batch of its days, see [`Plan::batches`]).
#[derive(Clone)]
struct Plan {
    dir: PathBuf,
    definition: Definition,
    /// The dataset is defined by this run.
    is_new: bool,
    /// The definition must be written before any other change.
    write_first: bool,
    /// The days to fetch.
    fetch: Vec<Day>,
    /// Rebuild every partition from the raw pages.
    rebuild_all: bool,
    /// The definition as read before the run, to see that no other run changed it since.
    stored: Option<Definition>,
    /// Forget the stored columns (the query or the flatten options changed).
    reset_columns: bool,
    /// The watermark after this run.
    until: Timestamp,
}

impl Plan {
    fn new(args: &Args) -> anyhow::Result<Plan> {
        let dir = args.dataset.clone();
        let stored = Definition::read(&dir)?;
        if stored.is_none() && args.rebuild {
            return Err(usage(format!("--rebuild: {} is not a sync dataset yet", dir.display())));
        }
        let (mut definition, changes) = match &stored {
            Some(stored) => {
                let mut definition = stored.clone();
                let changes = definition.apply(args)?;
                (definition, changes)
            }
            None => (Definition::first(args)?, Vec::new()),
        };
        // A first run that failed before any data (a misspelt metric, say) left a definition
        // that nothing depends on yet: its flags may still be corrected without --redefine.
        let unused = stored
            .as_ref()
            .is_some_and(|d| d.synced_until.is_none() && d.columns.is_empty())
            && lake::partition_days(&dir)?.is_empty();
        if !changes.is_empty() && !args.redefine && !unused {
            let flags: Vec<&str> = changes.iter().map(|(flag, _)| *flag).collect();
            return Err(usage(format!(
                "{}: {} {} the dataset's definition ({}); add --redefine to change it, or drop {}",
                dir.display(),
                flags.join(", "),
                if flags.len() == 1 { "contradicts" } else { "contradict" },
                lake::DEFINITION,
                if flags.len() == 1 { "the flag" } else { "the flags" },
            )));
        }
        let query_changed = changes.iter().any(|(_, c)| *c == Change::Query);
        let rows_changed = changes.iter().any(|(_, c)| *c == Change::Rows);
        if args.rebuild && query_changed {
            // The raw pages answer the stored query: re-flattening them under another one
            // would label old numbers with the new definition.
            let flags: Vec<&str> = changes
                .iter()
                .filter(|(_, c)| *c == Change::Query)
                .map(|(flag, _)| *flag)
                .collect();
            return Err(usage(format!(
                "--rebuild: {} {} the query, which the raw pages do not answer; drop --rebuild to fetch every day again",
                flags.join(", "),
                if flags.len() == 1 { "changes" } else { "change" },
            )));
        }
        if query_changed || (rows_changed && !definition.raw) {
            // Other numbers (or no pages to re-flatten): every day is fetched again.
            definition.synced_until = None;
        } else if rows_changed {
            definition.rebuild_pending = true;
        }
        if args.rebuild && !definition.raw {
            return Err(usage(format!(
                "--rebuild: {} keeps no raw pages (it was defined with --no-raw)",
                dir.display()
            )));
        }
        let (_, step) = granularity(&definition.granularity)?;
        let (_, lookback) = fixed("--lookback", &definition.lookback, "P2D")?;
        let start = stored_instant("start", &definition.start)?;
        // Buckets are whole: a range never ends (or starts) inside one.
        let start = floor(start, step)?;
        let complete = floor(Timestamp::now(), step)?;
        let watermark = definition
            .synced_until
            .as_deref()
            .map(|w| stored_instant("synced_until", w))
            .transpose()?;
        let until = match &args.until {
            None => complete,
            Some(text) => {
                let until = floor(instant("--until", text)?, step)?;
                if until > complete {
                    return Err(usage(format!(
                        "--until {text}: after the last complete bucket ({complete}); later buckets are not final yet"
                    )));
                }
                // Fetching less than the dataset holds would replace whole days with part of them.
                if let Some(w) = watermark.filter(|&w| until < w) {
                    return Err(usage(format!(
                        "--until {text}: before the dataset's watermark ({w}); a sync never shrinks a dataset \
                         (to fetch older days again, widen --lookback with --redefine)"
                    )));
                }
                until
            }
        };
        let from = match watermark {
            Some(w) => Timestamp::from_second(w.as_second() - lookback)?.max(start),
            None => start,
        };
        let fetch = if args.rebuild {
            Vec::new()
        } else {
            days(from, until, start)?
        };
        let until = watermark.map_or(until, |w| w.max(until));
        Ok(Plan {
            dir,
            is_new: stored.is_none(),
            write_first: stored.is_none() || !changes.is_empty(),
            rebuild_all: args.rebuild || definition.rebuild_pending,
            reset_columns: query_changed || rows_changed,
            definition,
            fetch,
            until,
            stored,
        })
    }

    /// The run in batches of at most [`BATCH_DAYS`] days, each committed (partitions, raw
    /// pages, watermark) before the next is fetched: a backfill that fails on its 300th day
    /// keeps the days before it. Only the first batch rebuilds or resets the columns.
    fn batches(&self) -> Vec<Plan> {
        if self.fetch.len() <= BATCH_DAYS {
            return vec![self.clone()];
        }
        let count = self.fetch.len().div_ceil(BATCH_DAYS);
        self.fetch
            .chunks(BATCH_DAYS)
            .enumerate()
            .map(|(i, days)| Plan {
                fetch: days.to_vec(),
                until: if i + 1 == count {
                    self.until
                } else {
                    days[days.len() - 1].to
                },
                rebuild_all: i == 0 && self.rebuild_all,
                reset_columns: i == 0 && self.reset_columns,
                ..self.clone()
            })
            .collect()
    }

    /// The query body of the whole fetched range.
    fn body(&self) -> anyhow::Result<serde_json::Map<String, Value>> {
        let d = &self.definition;
        let (Some(first), Some(last)) = (self.fetch.first(), self.fetch.last()) else {
            anyhow::bail!("internal error: no day to fetch");
        };
        let filters = d
            .filter
            .iter()
            .filter_map(|f| f.split_once('='))
            .map(|(dim, value)| (dim.trim().to_owned(), value.to_owned()))
            .collect();
        let fields = Fields {
            interval: Some(format!("{}/{}", first.from, last.to)),
            since: None,
            granularity: Some(d.granularity.clone()),
            group_by: d.group_by.clone(),
            metrics: d.metrics.clone(),
            filters,
            time_zone: None,
        };
        query::body(None, &fields, ZonedTime::now())
    }

    /// The chunks of the fetch: one per day.
    fn chunks(&self) -> Vec<Chunk> {
        self.fetch
            .iter()
            .enumerate()
            .map(|(index, day)| Chunk {
                index,
                interval: format!("{}/{}", day.from, day.to),
            })
            .collect()
    }

    /// Prints what a run would do.
    fn dry_run(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let d = &self.definition;
        writeln!(
            out,
            "dataset {}: {} {}, {} buckets, metrics {}{}",
            self.dir.display(),
            if self.is_new { "would define" } else { "defined:" },
            d.kind,
            d.granularity,
            d.metrics.join(","),
            if d.group_by.is_empty() {
                String::new()
            } else {
                format!(", by {}", d.group_by.join(","))
            }
        )?;
        let live: BTreeSet<String> = lake::partition_days(&self.dir)?.into_iter().collect();
        if self.fetch.is_empty() {
            writeln!(out, "nothing to fetch")?;
        }
        for day in &self.fetch {
            let effect = if live.contains(&day.date) {
                "replaces its partition"
            } else {
                "new partition"
            };
            writeln!(
                out,
                "fetch {}/{}  {}{}: {effect}",
                day.from,
                day.to,
                lake::DAY_KEY,
                day.date
            )?;
        }
        if self.rebuild_all {
            let raw = lake::raw_days(&self.dir)?;
            writeln!(
                out,
                "rebuild {} from the raw pages",
                counted(raw.len() as u64, "partition")
            )?;
        }
        writeln!(out, "then synced until {}", self.until)?;
        out.flush()?;
        Ok(())
    }
}

/// What a run did, for its summary line.
#[derive(Debug, Default)]
struct Tally {
    pages: u64,
    added: u64,
    replaced: u64,
    unchanged: u64,
    removed: u64,
    rows: u64,
    /// Every partition was rebuilt from the raw pages.
    rebuilt: bool,
    /// New columns, and how many older partitions lack them (kept no raw pages).
    lacking: Option<(Vec<String>, usize)>,
}

impl Tally {
    /// Adds what a later batch did.
    fn add(&mut self, batch: Tally) {
        self.pages += batch.pages;
        self.added += batch.added;
        self.replaced += batch.replaced;
        self.unchanged += batch.unchanged;
        self.removed += batch.removed;
        self.rows += batch.rows;
        self.rebuilt |= batch.rebuilt;
        self.lacking = self.lacking.take().or(batch.lacking);
    }

    fn count(&mut self, swap: Swap) {
        match swap {
            Swap::Added => self.added += 1,
            Swap::Replaced => self.replaced += 1,
            Swap::Unchanged => self.unchanged += 1,
            Swap::Removed => self.removed += 1,
            Swap::Absent => {}
        }
    }
}

/// Refuses a folder that holds something other than a dataset, which a first run would mix
/// its partitions into.
fn check_new_folder(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let foreign: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("_gcagg") && !name.starts_with("._gcagg"))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "{}: holds {} but no {}: not a sync dataset; name a new or empty folder",
        dir.display(),
        crate::input::list(&foreign),
        lake::DEFINITION
    )))
}

/// Runs `gcagg sync`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let plan = Plan::new(&args)?;
    if args.dry_run {
        return plan.dry_run();
    }
    let dir = &plan.dir;
    let mut definition = plan.definition.clone();
    let progress = args.reporting.progress();
    // Everything that can be refused is, before the first change on disk.
    definition.row_options()?;
    definition.file_format()?;
    definition.keys()?;
    let (query_kind, policy, timeout) = args.requests.resolve(&definition.kind)?;
    let client = if plan.fetch.is_empty() {
        None
    } else {
        let (endpoints, credentials) = definition.connection(&args.connection).resolve()?;
        Some(Arc::new(Client::new(Settings {
            endpoints,
            credentials,
            timeout,
            policy,
            permission: api::permission(&definition.kind),
            progress,
        })))
    };
    if plan.is_new {
        check_new_folder(dir)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
    let _lock = lake::Lock::take(dir)?;
    // The plan was made from the definition before the lock: a run that finished in
    // between may have moved the watermark, which this plan must not move back.
    if Definition::read(dir)? != plan.stored {
        anyhow::bail!(
            "{}: another sync changed the dataset while this one started; run it again",
            dir.display()
        );
    }
    lake::recover(dir)?;
    if plan.write_first {
        definition.write(dir)?;
    }
    let client = client.as_ref().map(|c| (c, &query_kind));
    let mut tally = Tally::default();
    for batch in plan.batches() {
        let done = sync_dataset(&batch, &mut definition, client, &args.requests, &progress);
        // Nothing in the work folder is worth keeping but a live partition set aside by a
        // swap that failed half way: `recover` puts that back, then removes the rest. A
        // failed batch leaves the dataset as the batches before it left it.
        if done.is_err() {
            let _ = lake::recover(dir);
        }
        tally.add(done?);
    }
    if let Some((new, older)) = &tally.lacking {
        eprintln!(
            "gcagg: warning: new columns {} are missing from the {} written before them (no raw pages to \
             rebuild them from): read the dataset with union_by_name=true (DuckDB) or mergeSchema (Spark)",
            new.join(", "),
            counted(*older as u64, "partition")
        );
    }
    if !args.reporting.quiet {
        eprintln!("gcagg: {}", summary(&plan, &tally));
    }
    // After the data, which a failure to list names must not hold back.
    if definition.names && !plan.fetch.is_empty() {
        // From the absolute path: `gcagg sync .` must not put them inside the dataset.
        let target = names_dir(&std::fs::canonicalize(dir)?);
        let names = names::Args {
            types: Vec::new(),
            output: Some(target.join("")),
            format: Some(Format::Parquet),
            reporting: Reporting {
                quiet: args.reporting.quiet,
                verbose: args.reporting.verbose,
                progress: args.reporting.progress,
            },
            max_retries: args.requests.max_retries,
            timeout: args.requests.timeout,
            connection: definition.connection(&args.connection),
        };
        if let Err(e) = names::run(names) {
            eprintln!(
                "gcagg: warning: {}: the lookup tables were not all refreshed: {e:#}",
                target.display()
            );
        }
    }
    Ok(())
}

/// Where the lookup tables of a dataset go: beside its table folder, never inside it
/// (DuckDB's `**` descends into `_` folders), with the dataset's `KEY=value` levels:
/// `lake/queue_kpis` gives `lake/_names`, `lake/queue_kpis/org=acme` `lake/_names/org=acme`.
fn names_dir(dataset: &Path) -> PathBuf {
    let parts: Vec<_> = dataset.components().collect();
    let keyed = parts
        .iter()
        .rev()
        .take_while(|c| c.as_os_str().to_string_lossy().contains('='))
        .count();
    let table = parts.len().saturating_sub(keyed + 1);
    let mut out: PathBuf = parts[..table].iter().collect();
    out.push("_names");
    out.extend(&parts[(table + 1).min(parts.len())..]);
    out
}

/// The work of a run, once the dataset is locked: fetch, store the raw pages, rebuild the
/// partitions, swap them in, write the definition. Returns what it did, whether every
/// partition was rebuilt, and the new columns older partitions lack (without raw pages).
fn sync_dataset(
    plan: &Plan,
    definition: &mut Definition,
    client: Option<(&Arc<Client>, &Query)>,
    requests: &Requests,
    progress: &Progress,
) -> anyhow::Result<Tally> {
    let dir = &plan.dir;
    let work = dir.join(lake::WORK);
    std::fs::create_dir_all(&work)?;
    let options = definition.row_options()?;
    let file = definition.file_format()?;
    let keys = definition.keys()?;

    let mut tally = Tally::default();
    let mut sources: Vec<PathBuf> = Vec::new();
    if let Some((client, query_kind)) = client {
        let fetched = work.join("fetched");
        std::fs::create_dir_all(&fetched)?;
        let chunks = plan.chunks();
        let body = plan.body()?;
        let request = manifest::Request {
            kind: definition.kind.clone(),
            asynchronous: query_kind.asynchronous,
            page_size: requests.page_size,
            region: definition.region.clone(),
            api_base: String::new(),
            split: Some("P1D".into()),
            query: Value::Object(body.clone()),
        };
        let manifest = Manifest::new(request, &chunks);
        manifest.write(&fetched)?;
        let work_list: Vec<Work> = chunks
            .iter()
            .zip(&plan.fetch)
            .map(|(chunk, day)| Work {
                body: query::chunk_body(&body, chunk, requests.page_size),
                label: format!("day {}", day.date),
                chunk: chunk.clone(),
            })
            .collect();
        let concurrency = usize::from(requests.concurrency);
        let target = Target::Dir {
            path: fetched.clone(),
            manifest,
        };
        fetching::fetch(client, query_kind, &work_list, concurrency, target)?;
        let done = Manifest::read(&fetched)?.map(|m| m.chunks).unwrap_or_default();
        tally.pages = done.iter().map(|c| c.pages).sum();
        for (chunk, day) in chunks.iter().zip(&plan.fetch) {
            let pages = fetched.join(manifest::chunk_file(chunk));
            if definition.raw {
                lake::store_raw(dir, &day.date, &pages)?;
                sources.push(lake::raw_file(dir, &day.date));
            } else {
                sources.push(pages);
            }
        }
    }

    let mut days: BTreeSet<String> = plan.fetch.iter().map(|d| d.date.clone()).collect();
    let mut rebuild_all = plan.rebuild_all;
    // Days fetched gain a new column anyway; the partitions of older days need a rebuild
    // from their raw pages to gain it (a scan of the new pages tells).
    let older = lake::partition_days(dir)?
        .into_iter()
        .filter(|d| !days.contains(d))
        .count();
    if !rebuild_all && !sources.is_empty() && !plan.reset_columns && older > 0 {
        let seen = crate::pipeline::scan(options.clone(), &crate::input::expand(&sources)?)?;
        let new = new_columns(&seen, &definition.columns);
        if !new.is_empty() && definition.raw {
            progress.note(format!("new columns {}: rebuilding every partition", new.join(", ")));
            rebuild_all = true;
        } else if !new.is_empty() {
            tally.lacking = Some((new, older));
        }
    }
    if rebuild_all {
        let raw = lake::raw_days(dir)?;
        sources = raw.iter().map(|d| lake::raw_file(dir, d)).collect();
        days.extend(raw);
    }
    let start_day = day_of(stored_instant("start", &definition.start)?);
    // Days before the start (after a --redefine --start later) leave the dataset.
    days.extend(lake::partition_days(dir)?.into_iter().filter(|d| *d < start_day));
    sources.retain(|p| raw_day(p).is_none_or(|d| d >= start_day.as_str()));

    let seed = if plan.reset_columns {
        Vec::new()
    } else {
        definition.seed()
    };
    let build = work.join("build");
    // No source at all (nothing fetched, no raw page): nothing to flatten, and no input
    // to read either (an empty list would mean stdin).
    let columns = if sources.is_empty() {
        None
    } else {
        let sources = crate::input::expand(&sources)?;
        Some(crate::pipeline::write_dataset(
            &options, &sources, &file, &keys, &build, &seed,
        )?)
    };
    for day in &days {
        let name = format!("{}{day}", lake::DAY_KEY);
        let staged = build.join(&name);
        let staged = (staged.is_dir() && day.as_str() >= start_day.as_str()).then_some(staged);
        let swap = lake::swap(dir, &name, staged.as_deref())?;
        if matches!(swap, Swap::Added | Swap::Replaced) {
            tally.rows += lake::rows(&dir.join(&name))?;
        }
        if day.as_str() < start_day.as_str() {
            let _ = std::fs::remove_file(lake::raw_file(dir, day));
        }
        tally.count(swap);
    }

    if let Some(columns) = columns {
        definition.columns = columns
            .header()
            .into_iter()
            .map(|id| {
                let column = columns.get(id);
                StoredColumn {
                    name: column.name.clone(),
                    role: column.role,
                }
            })
            .collect();
    }
    if !plan.fetch.is_empty() {
        // An earlier batch's lookback may end before the stored watermark: never move it back.
        let stored = definition
            .synced_until
            .as_deref()
            .and_then(|w| w.parse::<Timestamp>().ok());
        let until = stored.map_or(plan.until, |w| w.max(plan.until));
        definition.synced_until = Some(until.to_string());
    }
    definition.rebuild_pending = false;
    definition.write(dir)?;
    std::fs::remove_dir_all(&work)?;

    tally.rebuilt = rebuild_all;
    Ok(tally)
}

/// What a sync dataset's data files hold, as its definition records it.
pub struct DatasetColumns {
    /// The columns of the files, in order.
    pub columns: Vec<(String, Role)>,
    /// The partition keys, `interval_date` first (in the folder names only).
    pub keys: Vec<String>,
}

/// The columns of the sync dataset `dir`, if `dir` is one.
pub fn dataset_columns(dir: &Path) -> anyhow::Result<Option<DatasetColumns>> {
    match Definition::read(dir)? {
        Some(definition) => Ok(Some(DatasetColumns {
            columns: definition.seed(),
            keys: definition.keys()?,
        })),
        None => Ok(None),
    }
}

/// The day of a raw file's path, if it is one.
fn raw_day(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()?.strip_suffix(".ndjson.gz")
}

/// Names of the columns of `seen` that `stored` lacks or types otherwise.
fn new_columns(seen: &Columns, stored: &[StoredColumn]) -> Vec<String> {
    seen.header()
        .into_iter()
        .map(|id| seen.get(id))
        .filter(|c| !stored.iter().any(|s| s.name == c.name && s.role == c.role))
        .map(|c| c.name.clone())
        .collect()
}

/// The run's one-line summary.
fn summary(plan: &Plan, tally: &Tally) -> String {
    let mut did = match (plan.fetch.first(), plan.fetch.last()) {
        (Some(first), _) if plan.fetch.len() == 1 => {
            format!("fetched 1 day ({}, {})", first.date, counted(tally.pages, "page"))
        }
        (Some(first), Some(last)) => format!(
            "fetched {} ({} to {}, {})",
            counted(plan.fetch.len() as u64, "day"),
            first.date,
            last.date,
            counted(tally.pages, "page")
        ),
        _ if tally.rebuilt => "rebuilt from the raw pages, no API call".to_owned(),
        _ => "nothing to fetch".to_owned(),
    };
    if tally.rebuilt && !plan.fetch.is_empty() {
        did.push_str(", every other day rebuilt from its raw pages");
    }
    let until = if plan.fetch.is_empty() {
        plan.definition.synced_until.clone()
    } else {
        Some(plan.until.to_string())
    };
    format!(
        "sync {}: {did}; partitions: {} added, {} replaced, {} unchanged, {} removed ({} written); {}",
        plan.dir.display(),
        tally.added,
        tally.replaced,
        tally.unchanged,
        tally.removed,
        counted(tally.rows, "row"),
        until.map_or_else(|| "nothing synced yet".to_owned(), |u| format!("synced until {u}"))
    )
}
