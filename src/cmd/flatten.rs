//! `gcagg flatten`: raw response pages in, flat rows out.
//!
//! Also home of the row options and the scan pass that `gcagg schema` shares.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::atomic::{AtomicDir, AtomicFile};
use crate::columns::{ColumnId, Columns, IdMap, Layout, Role};
use crate::exit::usage;
use crate::flatten::Options;
use crate::input::{self, Source};
use crate::lookup::Lookup;
use crate::manifest::{self, Manifest};
use crate::output::csv::CsvWriter;
use crate::output::format::{format_of, FileFormat, Format};
use crate::output::long::Expand;
use crate::output::ndjson::NdjsonWriter;
use crate::output::parquet::check::Checked;
use crate::output::parquet::writer::ParquetWriter;
use crate::output::parquet::{Codec, Settings, DEFAULT_ROW_GROUP_ROWS};
use crate::output::partition::{self, Partitioned};
use crate::output::spool::{Segments, Spool, SEGMENT_BYTES};
use crate::output::{Append, BufferPool, Discard, Output, Render, RowWriter};
use crate::pages;
use crate::progress::{counted, say, Meter};
use crate::workers::{self, Gatherer, Worker};

/// Flatten aggregate response pages into NDJSON, CSV or Parquet rows.
///
/// Reads API responses, async job pages, SDK dumps or the tutorial's `entities` shape, as
/// NDJSON, concatenated or pretty-printed JSON, or one array of pages, gzip or not.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg flatten pages.ndjson                        NDJSON rows on stdout
  gcagg flatten -o day.csv dumps/                   every page file of a directory, as CSV
  gcagg flatten -o day.parquet --compression snappy pages.ndjson
  gcagg flatten --layout long --stats count,sum p.json.gz
  gcagg fetch --since 24h --metrics nOffered | gcagg flatten --add-column org=acme
  gcagg flatten -o lake/ --format parquet --partition-by interval_date dumps/
  gcagg flatten --names names.ndjson --kpis -o day.csv pages.ndjson   names beside ids, KPIs")]
pub struct Args {
    #[command(flatten)]
    pub rows: RowArgs,

    /// Write to FILE instead of stdout; the format follows its extension
    /// (.ndjson, .jsonl, .json for one JSON array, .csv, each optionally .gz, or .parquet).
    /// With --partition-by: the dataset's directory.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format [default: from --output's extension, else ndjson].
    #[arg(short, long, value_enum)]
    pub format: Option<Format>,

    /// Parquet compression codec [default: zstd].
    #[arg(long, value_enum, value_name = "CODEC")]
    pub compression: Option<Codec>,

    /// Parquet: at most N rows per row group [default: 1048576].
    #[arg(long, value_name = "N")]
    pub row_group_size: Option<usize>,

    /// Write a Hive-partitioned dataset under --output: DIR/COL=value/part-00000.<ext>.
    /// COL is any column but a value column, interval_date (the UTC date of
    /// interval_start) or observed_date (that of observed_at, for observation rows).
    /// Partition columns are in the folder names, not in the files.
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',')]
    pub partition_by: Vec<String>,

    /// With --partition-by: replace the dataset already in --output's directory.
    #[arg(long, requires = "partition_by")]
    pub overwrite: bool,
}

/// The input and row options that `flatten` and `schema` share.
#[derive(Debug, clap::Args)]
pub struct RowArgs {
    /// Input files or directories; `-` or nothing reads stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// One row per entity (wide), one row per stat (long), or one row per `observations[]`
    /// entry of an observation query (observations).
    #[arg(long, value_enum, default_value = "wide")]
    pub layout: Layout,

    /// When observation bodies saved without a `gcaggObservedAt` envelope were observed
    /// (RFC 3339, e.g. 2024-05-01T10:15:02Z): their rows' observed_at.
    #[arg(long, value_name = "TIME")]
    pub observed_at: Option<String>,

    /// Write null where a missing value would be written as 0.
    #[arg(long)]
    pub keep_nulls: bool,

    /// Keep only these stats (e.g. count,sum,ratio).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub stats: Vec<String>,

    /// Add a constant column to every row (repeatable), e.g. org=acme.
    #[arg(long, value_name = "NAME=VALUE")]
    pub add_column: Vec<String>,

    /// Add KPI columns after the values, where a row has their inputs (wide layout):
    /// aht_s, asa_s, answer_rate, abandon_rate, service_level, avg_talk_s, avg_hold_s,
    /// avg_acw_s. A zero denominator gives null. Roll them up from the sums and counts,
    /// never by averaging them.
    #[arg(long)]
    pub kpis: bool,

    /// Add a name column after each id column the names tables of `gcagg names` resolve
    /// (queueName after queueId, userName after userId, wrapUpCodeName after wrapUpCode,
    /// ...): FILE is one table (.ndjson, .json, .csv, optionally .gz, or .parquet), DIR a
    /// folder of them.
    #[arg(long, value_name = "FILE|DIR")]
    pub names: Option<PathBuf>,

    /// Read a `gcagg fetch -o DIR` folder whose `_manifest.json` lists chunks not yet
    /// fetched (with a warning) instead of refusing it.
    #[arg(long)]
    pub allow_incomplete: bool,
}

impl RowArgs {
    /// Checks the row options and expands the inputs.
    pub fn resolve(self) -> anyhow::Result<(Options, Vec<Source>)> {
        let mut options = row_options(self.layout, self.keep_nulls, &self.stats, &self.add_column, self.kpis)?;
        options.names = self.names.as_deref().map(Lookup::load).transpose()?.map(Arc::new);
        if let Some(at) = &self.observed_at {
            if crate::output::epoch_millis(at).is_none() {
                return Err(usage(format!(
                    "--observed-at {at}: not an RFC 3339 time; e.g. 2024-05-01T10:15:02Z or 2024-05-01T12:15:02+02:00"
                )));
            }
        }
        options.observed_at = self.observed_at;
        for dir in self.inputs.iter().filter(|p| p.is_dir()) {
            check_fetched(dir, self.allow_incomplete)?;
        }
        Ok((options, input::expand(&self.inputs)?))
    }
}

/// The row options of these flags (`--stats` and `--add-column` as given), checked.
pub fn row_options(
    layout: Layout,
    keep_nulls: bool,
    stats: &[String],
    add_column: &[String],
    kpis: bool,
) -> anyhow::Result<Options> {
    let mut constants = Vec::new();
    for pair in add_column {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(usage(format!("--add-column {pair}: expected NAME=VALUE")));
        };
        constants.push((crate::columns::safe_name(name).into_owned(), value.to_owned()));
    }
    // Each stat once, however it was spelled (`count_negative,countNegative`).
    let mut names: Vec<String> = Vec::new();
    for name in stats.iter().map(|s| crate::columns::api_stat_name(s.trim())) {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if !stats.is_empty() && names.is_empty() {
        return Err(usage("--stats: name at least one stat, e.g. --stats count,sum"));
    }
    if kpis && layout != Layout::Wide {
        return Err(usage(
            "--kpis: KPIs are columns of a wide row; use --layout wide (the default), or roll the long rows' sums and counts up yourself",
        ));
    }
    Ok(Options {
        layout,
        keep_nulls,
        stats: names,
        constants,
        kpis,
        names: None,
        observed_at: None,
    })
}

/// A folder `gcagg fetch` wrote holds every chunk its manifest lists, or flattening it would
/// silently lose the missing ones: an error, or with `allow` a warning.
fn check_fetched(dir: &Path, allow: bool) -> anyhow::Result<()> {
    let manifest = match Manifest::read(dir) {
        Ok(Some(manifest)) => manifest,
        // Not one fetch wrote (other tools use the name too): like `_SUCCESS`, passed by.
        Ok(None) | Err(_) => return Ok(()),
    };
    let missing: Vec<&str> = manifest
        .chunks
        .iter()
        .filter(|c| !c.complete || !dir.join(&c.file).is_file())
        .map(|c| c.interval.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let total = manifest.chunks.len();
    let what = format!(
        "{}: {} of the {} in {} {} not fetched yet ({})",
        dir.display(),
        missing.len(),
        counted(total as u64, "chunk"),
        manifest::FILE_NAME,
        if missing.len() == 1 { "is" } else { "are" },
        input::list(&missing)
    );
    if allow {
        eprintln!("gcagg: warning: {what}; --allow-incomplete flattens the others");
        return Ok(());
    }
    anyhow::bail!(
        "{what}; complete them by running the fetch that wrote it again with --resume \
         (`gcagg fetch ... -o {} --resume`), or add --allow-incomplete to flatten what is there",
        dir.display()
    )
}

/// Where the rows go.
enum Target {
    Stdout,
    File(PathBuf),
    /// A partitioned dataset: the directory and the partition keys (safe names).
    Dataset(PathBuf, Vec<String>),
}

/// What the command line asked for, checked before the first byte is read.
struct Plan {
    file: FileFormat,
    target: Target,
    options: Options,
    sources: Vec<Source>,
}

impl Plan {
    fn new(args: Args) -> anyhow::Result<Plan> {
        let (implied, gzip) = match &args.output {
            Some(path) => {
                format_of(path).ok_or_else(|| usage(format!("--output {}: not a file name", path.display())))?
            }
            None => (None, false),
        };
        let partitioned = !args.partition_by.is_empty();
        if let Some(dir) = args.output.as_ref().filter(|p| !partitioned && p.is_dir()) {
            return Err(usage(format!(
                "--output {}: is a directory; name a file, or add --partition-by to write a dataset there",
                dir.display()
            )));
        }
        let format = match (args.format, implied, &args.output) {
            (Some(f), ..) => f,
            (None, Some(f), _) => f,
            (None, None, None) => Format::Ndjson,
            (None, None, Some(path)) if partitioned => {
                return Err(usage(format!(
                    "--output {}: name the data files' format with --format",
                    path.display()
                )))
            }
            (None, None, Some(path)) => {
                return Err(usage(format!(
                    "--output {}: cannot tell the format from the extension; use .ndjson, .jsonl, .json, .csv (optionally .gz) or .parquet, or --format",
                    path.display()
                )))
            }
        };
        if format == Format::Parquet && gzip {
            return Err(usage(
                "--output: Parquet is compressed inside the file; use --compression, not .gz",
            ));
        }
        if format != Format::Parquet {
            for (given, flag) in [
                (args.compression.is_some(), "--compression"),
                (args.row_group_size.is_some(), "--row-group-size"),
            ] {
                if given {
                    return Err(usage(format!(
                        "{flag} applies to Parquet output (NDJSON and CSV are compressed by a .gz extension)"
                    )));
                }
            }
        }
        if args.row_group_size == Some(0) {
            return Err(usage("--row-group-size: must be at least 1"));
        }
        let target = match (args.output, partitioned) {
            (None, true) => return Err(usage("--partition-by: name the dataset's directory with --output")),
            (Some(dir), true) => {
                let keys = partition::key_names(&args.partition_by)?;
                partition::check_target(&dir, args.overwrite)?;
                Target::Dataset(dir, keys)
            }
            (Some(path), false) => Target::File(path),
            (None, false) => {
                if format == Format::Parquet && std::io::stdout().is_terminal() {
                    return Err(usage(
                        "--format parquet: refusing to write binary Parquet to a terminal; use --output FILE or a pipe",
                    ));
                }
                Target::Stdout
            }
        };
        let (options, sources) = args.rows.resolve()?;
        if let Target::File(path) = &target {
            refuse_overwriting_an_input(path, &sources)?;
        }
        let file = FileFormat {
            format,
            gzip,
            keep_nulls: options.keep_nulls,
            parquet: Settings {
                codec: args.compression.unwrap_or(Codec::Zstd),
                row_group_rows: args.row_group_size.unwrap_or(DEFAULT_ROW_GROUP_ROWS),
            },
        };
        Ok(Plan {
            file,
            target,
            options,
            sources,
        })
    }

    /// Opens the output before the first byte is read, so a folder that cannot be written
    /// to fails at once, and an interruption finds the temporary to remove.
    fn open(&self) -> anyhow::Result<Opened> {
        Ok(match &self.target {
            Target::Stdout => Opened::Stream(Output::Stdout(std::io::stdout()), None),
            Target::File(path) => {
                let (atomic, file) = AtomicFile::create(path)?;
                Opened::Stream(Output::file(file, self.file.gzip), Some(atomic))
            }
            Target::Dataset(dir, _) => Opened::Dataset(AtomicDir::create(dir)?),
        })
    }

    /// The meter of this run's reading into `gatherer`, shown on a terminal once the run is
    /// long; none when the rows themselves go to the terminal.
    fn meter<O>(&self, gatherer: &Gatherer<O>) -> Option<Meter> {
        if matches!(self.target, Target::Stdout) && std::io::stdout().is_terminal() {
            return None;
        }
        let rows = gatherer.rows_made();
        let meter = Meter::start(input::total_size(&self.sources), move || {
            (input::bytes_read(), rows.load(Ordering::Relaxed))
        });
        Some(meter)
    }

    /// Writes the spooled rows to `out` as one CSV or Parquet file (or stream), rendering
    /// them (and encoding Parquet pages) on `workers` threads while the main thread writes;
    /// with no workers, on one thread beside it.
    fn write_spooled(
        &self,
        out: Output,
        spool: Spool,
        columns: &Columns,
        maps: &[IdMap],
        workers: usize,
    ) -> anyhow::Result<()> {
        let header = columns.header();
        let file = &self.file;
        let threads = workers.max(1);
        let layout = self.options.layout;
        if file.format == Format::Csv {
            let mut writer = CsvWriter::new(out, columns, &header, file.keep_nulls);
            let lines = writer.renderer();
            let make = || Expand::new(lines.clone(), layout);
            spool.replay_in_parallel(columns, maps, threads, make, |part| writer.write_lines(&part))?;
            Box::new(writer).finish()
        } else {
            let mut writer =
                ParquetWriter::new(out, columns, &header, file.keep_nulls, file.parquet)?.with_page_threads(workers)?;
            let fragments = writer.renderer();
            let make = || Expand::new(fragments.fresh(), layout);
            spool.replay_in_parallel(columns, maps, threads, make, |part| writer.write_fragment(part))?;
            Box::new(writer).finish()
        }
    }
}

/// The output of a run, open: a stream (stdout, or a file written beside its target and
/// renamed when complete), or a dataset's staging folder.
enum Opened {
    Stream(Output, Option<AtomicFile>),
    Dataset(AtomicDir),
}

/// The writer of a dataset staged in `staging`, partitioned by `keys`, once `columns` holds
/// every column.
fn dataset_writer(
    file: &FileFormat,
    keys: &[String],
    staging: AtomicDir,
    columns: &Columns,
) -> anyhow::Result<Box<dyn RowWriter>> {
    let mut in_path = Vec::new();
    for key in keys {
        in_path.extend(partition::key_column(columns, key)?);
    }
    let header: Vec<ColumnId> = columns
        .header()
        .into_iter()
        .filter(|id| !in_path.contains(id))
        .collect();
    let gz = if file.gzip { ".gz" } else { "" };
    let ext = format!("{}{gz}", file.format.extension());
    let file = file.clone();
    let opener = Box::new(move |data: std::fs::File, columns: &Columns| {
        file.writer(Output::file(data, file.gzip), columns, &header)
    });
    Ok(Box::new(Partitioned::new(staging, keys.to_vec(), ext, opener)))
}

/// Reads every source into a spool (see [`run`]), the columns of `seed` registered first;
/// `meter` may start a progress meter on the gatherer, returned to live as long as needed;
/// `check`: every row is checked against its Parquet type on its way in, see [`Checked`].
fn spool_all(
    options: &Options,
    sources: &[Source],
    check: bool,
    workers: usize,
    seed: &[(String, Role)],
    meter: impl FnOnce(&Gatherer<Checked<Spool>>) -> Option<Meter>,
) -> anyhow::Result<(Spooled, Option<Meter>)> {
    let pool = BufferPool::default();
    let mut gatherer = gatherer(options, Checked::new(Spool::new(pool.clone())?, check), workers)?;
    gatherer.seed(seed)?;
    let meter = meter(&gatherer);
    read_all(options, sources, &mut gatherer, workers, || {
        Checked::new(Segments::new(pool.clone(), SEGMENT_BYTES), check)
    })?;
    let (columns, spool, maps) = gatherer.finish();
    let spool = spool.into_inner();
    Ok((Spooled { columns, spool, maps }, meter))
}

/// A whole input read into a spool: its columns, its rows, and each worker's id map.
struct Spooled {
    columns: Columns,
    spool: Spool,
    maps: Vec<IdMap>,
}

/// Writes the spooled rows into the dataset staged in `staging`, and renames it into place.
fn replay_dataset(
    staging: AtomicDir,
    file: &FileFormat,
    keys: &[String],
    layout: Layout,
    Spooled { columns, spool, maps }: Spooled,
) -> anyhow::Result<Columns> {
    let mut writer = Expand::new(dataset_writer(file, keys, staging, &columns)?, layout);
    spool.replay(&columns, &maps, &mut writer)?;
    Box::new(writer).finish()?;
    Ok(columns)
}

/// Flattens `sources` into a new dataset at `target`, partitioned by `keys` (replacing what
/// is there), with the columns of `seed` first and always present; returns its columns.
pub fn write_dataset(
    options: &Options,
    sources: &[Source],
    file: &FileFormat,
    keys: &[String],
    target: &Path,
    seed: &[(String, Role)],
) -> anyhow::Result<Columns> {
    let workers = workers::count()?;
    let staging = AtomicDir::create(target)?;
    let (spooled, _) = spool_all(options, sources, file.format == Format::Parquet, workers, seed, |_| {
        None
    })?;
    replay_dataset(staging, file, keys, options.layout, spooled)
}

/// Renames a finished file into place (nothing to do for stdout).
fn commit(atomic: Option<AtomicFile>) -> anyhow::Result<()> {
    atomic.map_or(Ok(()), AtomicFile::commit)
}

/// Creating the output truncates it before a byte is read: it must not be one of the inputs.
fn refuse_overwriting_an_input(output: &Path, sources: &[Source]) -> anyhow::Result<()> {
    let Ok(target) = output.canonicalize() else {
        return Ok(()); // Not there yet: not an input either.
    };
    let same = |s: &&Source| s.path.as_deref().and_then(|p| p.canonicalize().ok()).as_ref() == Some(&target);
    match sources.iter().find(same) {
        Some(source) => Err(usage(format!(
            "--output {}: is also the input {}; write the rows elsewhere",
            output.display(),
            source.name
        ))),
        None => Ok(()),
    }
}

/// Runs `gcagg flatten`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let plan = Plan::new(args)?;
    let workers = workers::count()?;
    let layout = plan.options.layout;
    let opened = plan.open()?;
    match opened {
        Opened::Stream(out, atomic) if matches!(plan.file.format, Format::Ndjson | Format::Json) => {
            // NDJSON rows need no header: they stream straight out (a JSON array's too).
            let out = if plan.file.format == Format::Json {
                out.array()
            } else {
                out
            };
            let pool = BufferPool::default();
            let writer = Expand::new(NdjsonWriter::new(out, pool.clone()), layout);
            let mut gatherer = gatherer(&plan.options, writer, workers)?;
            let _meter = plan.meter(&gatherer);
            // Wide rows are rendered on the workers; long ones here (see `Append` for `Expand`).
            let read = match layout {
                Layout::Wide | Layout::Observations => {
                    read_all(&plan.options, &plan.sources, &mut gatherer, workers, || {
                        Expand::new(NdjsonWriter::in_memory(pool.clone()), layout)
                    })
                }
                Layout::Long => read_all(&plan.options, &plan.sources, &mut gatherer, workers, || {
                    Segments::new(pool.clone(), SEGMENT_BYTES)
                }),
            };
            // A stream keeps every row before a data error; the reading error wins. A file
            // is renamed into place only if both succeeded.
            let finished = Box::new(gatherer.finish().1).finish();
            read.and(finished)?;
            commit(atomic)
        }
        opened => {
            // CSV's header, Parquet's schema and a dataset's partitions need every column
            // before the first row: rows wait in a spool (a temporary file) until the whole
            // input is read.
            let check = plan.file.format == Format::Parquet;
            // Through the writing of the spooled rows too, which can take as long again.
            let (spooled, _meter) = spool_all(&plan.options, &plan.sources, check, workers, &[], |g| plan.meter(g))?;
            match (opened, &plan.target) {
                (Opened::Dataset(staging), Target::Dataset(_, keys)) => {
                    replay_dataset(staging, &plan.file, keys, layout, spooled).map(drop)
                }
                (Opened::Dataset(_), _) => anyhow::bail!("internal error: a dataset without keys"),
                (Opened::Stream(out, atomic), _) => {
                    let Spooled { columns, spool, maps } = spooled;
                    plan.write_spooled(out, spool, &columns, &maps, workers)?;
                    commit(atomic)
                }
            }
        }
    }
}

/// The run's flattener writing to `out`; colliding `--add-column` names are a usage error.
fn gatherer<O>(options: &Options, out: O, workers: usize) -> anyhow::Result<Gatherer<O>> {
    Gatherer::new(options.clone(), out, workers).map_err(|e| usage(format!("{e:#}")))
}

/// Reads every source, on `workers` threads rendering into writers from `local` (none: all
/// on this thread).
fn read_all<O, L>(
    options: &Options,
    sources: &[Source],
    gatherer: &mut Gatherer<O>,
    workers: usize,
    local: impl Fn() -> L,
) -> anyhow::Result<()>
where
    O: RowWriter + Append<L::Part>,
    L: RowWriter + Render + Send,
    L::Part: Send,
{
    let mut workers = (0..workers)
        .map(|_| Worker::new(options.clone(), local()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut pages = 0;
    let mut skipped = 0;
    let mut entries = 0;
    for source in sources {
        pages += pages::read_source_on(source, &mut workers, gatherer)?;
        let tally = gatherer.take_tally();
        skipped += tally.skipped;
        entries += tally.entries;
        if tally.unobserved > 0 {
            say(format!(
                "warning: {}: {} without an observed time (no gcaggObservedAt envelope before them): observed_at left empty; give it with --observed-at TIME",
                source.name,
                counted(tally.unobserved, "observation row")
            ));
        }
    }
    if skipped > 0 {
        say(format!(
            "skipped {} (heartbeats, subscription answers, closing warnings): they hold no data",
            counted(skipped, "notification control message")
        ));
    }
    match (options.layout, entries) {
        (Layout::Observations, 0) if pages > 0 => say(
            "warning: no `observations[]` entry in the input, so no row: observation queries have them for their detailMetrics (fetch --observations --detail-metrics)"
                .to_owned(),
        ),
        (Layout::Observations, _) | (_, 0) => {}
        _ => say(format!(
            "warning: {} of observation queries not written (one per waiting or interacting conversation): --layout observations writes them",
            counted(entries, "`observations[]` entry")
        )),
    }
    // An empty folder has been named already; empty files or stdin are said here.
    if pages == 0 && !sources.is_empty() {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        say(format!(
            "warning: no page read: {} held no response page",
            input::list(&names)
        ));
    } else if !options.stats.is_empty() {
        let mut seen: BTreeSet<&str> = gatherer.stats_seen().iter().map(AsRef::as_ref).collect();
        for worker in &workers {
            seen.extend(worker.stats_seen().iter().map(AsRef::as_ref));
        }
        if let Some(warning) = unmatched_stats(&options.stats, &seen) {
            say(format!("warning: {warning}"));
        }
    }
    if let Some(names) = &options.names {
        let mut unnamed: BTreeSet<&(Box<str>, Box<str>)> = gatherer.unnamed().iter().collect();
        for worker in &workers {
            unnamed.extend(worker.unnamed());
        }
        if let Some(warning) = unnamed_ids(&names.source, &unnamed) {
            say(format!("warning: {warning}"));
        }
    }
    Ok(())
}

/// The warning for the ids (group key, id) that the `--names` tables at `source` lack, if any.
fn unnamed_ids(source: &str, unnamed: &BTreeSet<&(Box<str>, Box<str>)>) -> Option<String> {
    if unnamed.is_empty() {
        return None;
    }
    let mut per_key: Vec<(&str, u64)> = Vec::new();
    for (key, _) in unnamed {
        match per_key.last_mut() {
            Some((last, n)) if *last == &**key => *n += 1,
            _ => per_key.push((key, 1)),
        }
    }
    let per_key: Vec<String> = per_key.iter().map(|(key, n)| format!("{key} {n}")).collect();
    Some(format!(
        "--names {source}: no name for {} ({}): left empty",
        counted(unnamed.len() as u64, "id"),
        per_key.join(", ")
    ))
}

/// The warning for `--stats` names that matched no stat of the input (`seen`), if any.
fn unmatched_stats(asked: &[String], seen: &BTreeSet<&str>) -> Option<String> {
    let unmatched: Vec<&str> = asked.iter().map(String::as_str).filter(|s| !seen.contains(s)).collect();
    if unmatched.is_empty() {
        return None;
    }
    let had = if seen.is_empty() {
        "the input has no stats it applies to".to_owned()
    } else {
        let seen: Vec<&str> = seen.iter().copied().collect();
        format!("the input's stats are {}", seen.join(", "))
    };
    Some(format!("--stats {}: matched no stat; {had}", unmatched.join(",")))
}

/// Learns every column of the output of `sources`, writing nothing (all of `gcagg schema`).
pub fn scan(options: Options, sources: &[Source]) -> anyhow::Result<Columns> {
    let workers = workers::count()?;
    let mut gatherer = gatherer(&options, Discard, workers)?;
    read_all(&options, sources, &mut gatherer, workers, || Discard)?;
    Ok(gatherer.finish().0)
}
