//! `gcagg names`: the org's queues, users, wrap-up codes, ... as one lookup table.
//!
//! Each type is listed in full before any of its records is written, so a type that fails
//! (a missing permission, say) leaves no part of itself behind; the other types go on, and
//! the run ends with exit 3 naming the types that failed. A file is written beside its
//! target and renamed when complete; a folder gets one file per type, each whole.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::retry::Policy;
use crate::api::{Client, Settings};
use crate::atomic::AtomicFile;
use crate::columns::{ColumnId, Columns, Role};
use crate::exit::{self, usage, ApiFailure, Code};
use crate::names::{self, Kind, Listed, Record, COLUMNS, SPECS};
use crate::output::format::{format_of, FileFormat, Format};
use crate::output::parquet::{Codec, Settings as ParquetSettings, DEFAULT_ROW_GROUP_ROWS};
use crate::output::{Cell, Output, RowWriter};
use crate::progress::{say, Run};

/// Download the org's lookup entities (queues, users, ...) as a names table.
///
/// One record per entity: its type, id and name, and the fields people filter on
/// (division, state, a user's email, a flow's type, a presence definition's system
/// presence), as NDJSON, CSV or Parquet, keyed by type and id for joining to aggregate
/// rows. Users include inactive and deleted ones, flows deleted ones, presence
/// definitions deactivated ones: their ids are in old aggregates too. Credentials, region
/// and retries are fetch's. A type the OAuth client may not read is reported with the
/// permission it needs, and the other types are still written; the run then exits 3.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg names --region eu-west-1 -o names.ndjson          every type, one file
  gcagg names --types queues,users -o names.csv
  gcagg names -o lake/_names/ --format parquet            one table per type: queues.parquet, ...
  gcagg names | jq -c 'select(.type == \"user\" and .state == \"deleted\")'

Permissions (the OAuth client's role): queues routing:queue:view, wrapupcodes
routing:wrapupCode:view, skills routing:skill:view, flows architect:flow:view, teams
groups:team:view, presence presence:presenceDefinition:view; users, divisions and
languages need none.

Exit status: 0 done, 2 usage error, 3 a type (or the login) failed; the others are written.")]
pub struct Args {
    /// The types to list [default: all].
    #[arg(long, value_enum, value_name = "LIST", value_delimiter = ',')]
    pub types: Vec<Kind>,

    /// Write to FILE (atomically) instead of stdout, in the format of its extension
    /// (.ndjson, .jsonl, .json, .csv, each optionally .gz, or .parquet); a DIR (ending in
    /// /, or existing) gets one file per type, e.g. DIR/queues.ndjson.
    #[arg(short, long, value_name = "FILE|DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,

    /// Output format [default: from --output's extension, else ndjson].
    #[arg(short, long, value_enum, help_heading = "Output")]
    pub format: Option<Format>,

    #[command(flatten)]
    pub reporting: super::fetch::Reporting,

    /// Retries of a request that was rate limited (429), met a gateway error (502, 503,
    /// 504) or lost its connection.
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Requests")]
    pub max_retries: u32,

    /// Seconds one request may take, reading its whole answer included.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..),
          help_heading = "Requests")]
    pub timeout: u64,

    #[command(flatten)]
    pub connection: super::fetch::Connection,
}

/// Where the tables go.
enum Target {
    Stdout,
    File(PathBuf),
    /// One file per type in this folder.
    Dir(PathBuf),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Stdout => "stdout".to_owned(),
            Target::File(path) | Target::Dir(path) => path.display().to_string(),
        }
    }
}

/// The command line, checked.
struct Plan {
    kinds: Vec<Kind>,
    target: Target,
    file: FileFormat,
}

impl Plan {
    fn new(args: &Args) -> anyhow::Result<Plan> {
        let mut kinds: Vec<Kind> = Vec::new();
        for &kind in &args.types {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            kinds = SPECS.iter().map(|s| s.kind).collect();
        }
        let (target, implied, gzip) = match &args.output {
            None => (Target::Stdout, None, false),
            Some(path) if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') => {
                (Target::Dir(path.clone()), None, false)
            }
            Some(path) => {
                let (format, gzip) =
                    format_of(path).ok_or_else(|| usage(format!("--output {}: not a file name", path.display())))?;
                (Target::File(path.clone()), format, gzip)
            }
        };
        let format = match (args.format, implied, &target) {
            (Some(f), ..) => f,
            (None, Some(f), _) => f,
            (None, None, Target::File(path)) => {
                return Err(usage(format!(
                    "--output {}: cannot tell the format from the extension; use .ndjson, .jsonl, .json, .csv (optionally .gz) or .parquet, or --format",
                    path.display()
                )))
            }
            (None, None, _) => Format::Ndjson,
        };
        if format == Format::Parquet && gzip {
            return Err(usage("--output: Parquet is compressed inside the file; drop the .gz"));
        }
        if format == Format::Parquet && matches!(target, Target::Stdout) && std::io::stdout().is_terminal() {
            return Err(usage(
                "--format parquet: refusing to write binary Parquet to a terminal; use --output FILE or a pipe",
            ));
        }
        let file = FileFormat {
            format,
            gzip,
            keep_nulls: true,
            parquet: ParquetSettings {
                codec: Codec::Zstd,
                row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            },
        };
        Ok(Plan { kinds, target, file })
    }
}

/// The columns of a names table, all text.
fn columns() -> anyhow::Result<(Columns, Vec<ColumnId>)> {
    let mut columns = Columns::default();
    let ids = COLUMNS
        .iter()
        .map(|name| columns.intern(name, Role::Group, || format!("the names column `{name}`")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((columns, ids))
}

/// A writer of names tables to `out`.
struct Table {
    writer: Box<dyn RowWriter>,
    columns: Columns,
    ids: Vec<ColumnId>,
}

impl Table {
    fn new(file: &FileFormat, out: Output) -> anyhow::Result<Table> {
        let (columns, ids) = columns()?;
        let writer = file.writer(out, &columns, &ids)?;
        Ok(Table { writer, columns, ids })
    }

    fn write(&mut self, records: &[Record]) -> anyhow::Result<()> {
        let mut cells = Vec::with_capacity(COLUMNS.len());
        for record in records {
            cells.clear();
            // Absent fields are left out: NDJSON rows carry only what the entity has.
            cells.extend(
                self.ids
                    .iter()
                    .zip(record.values())
                    .filter_map(|(&id, value)| value.map(|v| (id, Cell::Text(v)))),
            );
            self.writer.row(&self.columns, &cells, 0)?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        self.writer.finish()
    }
}

/// A file being written beside its target, renamed onto it when finished.
struct Staged {
    table: Table,
    atomic: AtomicFile,
}

impl Staged {
    fn create(file: &FileFormat, target: &Path) -> anyhow::Result<Staged> {
        let (atomic, out) = AtomicFile::create(target)?;
        Ok(Staged {
            table: Table::new(file, Output::file(out, file.gzip))?,
            atomic,
        })
    }

    fn commit(self) -> anyhow::Result<()> {
        self.table.finish()?;
        self.atomic.commit()
    }
}

/// A type that could not be listed (its reason is reported as it happens).
struct Failed {
    kind: Kind,
}

/// Lists one type, reporting its progress; an API failure is returned as [`Failed`],
/// anything else (a usage error, a login refused) ends the run.
fn list(client: &Client, shown: &Run, kind: Kind) -> anyhow::Result<Result<Listed, Failed>> {
    let spec = kind.spec();
    let label = format!("names: {}", spec.name);
    let task = shown.task(&label);
    let listed = names::list(client, spec, |msg| client.progress().status(&label, msg));
    drop(task);
    match listed {
        Ok(listed) => {
            shown.finished(&label, listed.pages, listed.records.len() as u64);
            if listed.without_id > 0 {
                say(format!(
                    "names: {}: {} without an id left out (nothing can join on them)",
                    spec.name,
                    crate::progress::counted(listed.without_id, "entity")
                ));
            }
            Ok(Ok(listed))
        }
        Err(e) if exit::classify(&e) == Code::Api && !is_login_failure(&e) => {
            let mut why = format!("{e:#}");
            if let Some(permission) = spec.permission.filter(|p| why.contains(": 403 ") && !why.contains(p)) {
                why.push_str(&format!("; listing {} needs the permission {permission}", spec.name));
            }
            say(format!("names: {}: {}", spec.name, crate::redact::redact(&why)));
            Ok(Err(Failed { kind }))
        }
        Err(e) => Err(e),
    }
}

/// The token endpoint refused: every type would fail alike.
fn is_login_failure(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("getting a token from")
}

/// Runs `gcagg names`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let plan = Plan::new(&args)?;
    let (endpoints, credentials) = args.connection.resolve()?;
    let progress = args.reporting.progress();
    let client = Client::new(Settings {
        endpoints,
        credentials,
        timeout: Duration::from_secs(args.timeout),
        policy: Policy::new(args.max_retries),
        // Each type needs its own permission, which `list` names.
        permission: String::new(),
        progress,
    });
    let shown = progress.run(plan.kinds.len() as u64, "type");
    let mut failed = Vec::new();
    let mut written = Vec::new();
    match &plan.target {
        Target::Dir(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| usage(format!("--output {}: {e}", dir.display())))?;
            for &kind in &plan.kinds {
                let path = dir.join(format!("{}.{}", kind.name(), plan.file.format.extension()));
                match list(&client, &shown, kind)? {
                    Ok(listed) => {
                        let mut staged = Staged::create(&plan.file, &path)?;
                        staged.table.write(&listed.records)?;
                        staged.commit()?;
                        written.push((kind, listed.records.len()));
                    }
                    Err(f) => {
                        // A table of an earlier run is kept rather than lost, but it is stale.
                        if path.exists() {
                            say(format!(
                                "names: {}: {} is left as an earlier run wrote it",
                                kind.name(),
                                path.display()
                            ));
                        }
                        failed.push(f);
                    }
                }
            }
        }
        single => {
            let mut listings = Vec::new();
            for &kind in &plan.kinds {
                match list(&client, &shown, kind)? {
                    Ok(listed) => listings.push((kind, listed)),
                    Err(f) => failed.push(f),
                }
            }
            // Nothing listed: no file either, rather than an empty table that looks complete.
            if !listings.is_empty() || matches!(single, Target::Stdout) {
                let mut sink = match single {
                    Target::File(path) => Sink::File(Staged::create(&plan.file, path)?),
                    _ => Sink::Stdout(Table::new(&plan.file, Output::Stdout(std::io::stdout()))?),
                };
                for (kind, listed) in &listings {
                    sink.table().write(&listed.records)?;
                    written.push((*kind, listed.records.len()));
                }
                sink.finish()?;
            }
        }
    }
    let counts: Vec<String> = written.iter().map(|(k, n)| format!("{} {n}", k.name())).collect();
    progress.note(format!(
        "names: wrote {} to {}",
        counts.join(", "),
        plan.target.describe()
    ));
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|f| f.kind.name()).collect();
    let kept = match written.len() {
        0 => "nothing was written".to_owned(),
        _ => format!("the other types were written to {}", plan.target.describe()),
    };
    // Each failure's reason is on its own line above.
    Err(anyhow::Error::new(ApiFailure(format!(
        "names: {} of {} types failed ({}); {kept}",
        failed.len(),
        plan.kinds.len(),
        names.join(", ")
    ))))
}

/// The one table of a single-file or stdout run.
enum Sink {
    Stdout(Table),
    File(Staged),
}

impl Sink {
    fn table(&mut self) -> &mut Table {
        match self {
            Sink::Stdout(table) => table,
            Sink::File(staged) => &mut staged.table,
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Stdout(table) => table.finish(),
            Sink::File(staged) => staged.commit(),
        }
    }
}
