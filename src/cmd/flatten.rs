//! `gcagg flatten`: raw response pages in, flat rows out. This is the plan: what the command
//! line asks for, checked before the first byte is read; [`crate::pipeline`] runs it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::rows::RowArgs;
use crate::atomic::{AtomicDir, AtomicFile};
use crate::exit::usage;
use crate::flatten::Options;
use crate::input::{self, Source};
use crate::output::format::{format_of, FileFormat, Format};
use crate::output::parquet::{Codec, Settings, DEFAULT_ROW_GROUP_ROWS};
use crate::output::partition;
use crate::output::Output;
use crate::pipeline;
use crate::progress::Meter;
use crate::workers;

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

    /// The meter of this run's reading, on the count of rows made, shown on a terminal once
    /// the run is long; none when the rows themselves go to the terminal.
    fn meter(&self, rows: Arc<AtomicU64>) -> Option<Meter> {
        if matches!(self.target, Target::Stdout) && std::io::stdout().is_terminal() {
            return None;
        }
        let meter = Meter::start(input::total_size(&self.sources), move || {
            (input::bytes_read(), rows.load(Ordering::Relaxed))
        });
        Some(meter)
    }
}

/// The output of a run, open: a stream (stdout, or a file written beside its target and
/// renamed when complete), or a dataset's staging folder.
enum Opened {
    Stream(Output, Option<AtomicFile>),
    Dataset(AtomicDir),
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
    let meter = |rows| plan.meter(rows);
    match plan.open()? {
        Opened::Stream(out, atomic) if matches!(plan.file.format, Format::Ndjson | Format::Json) => {
            let out = if plan.file.format == Format::Json {
                out.array()
            } else {
                out
            };
            // A file is renamed into place only if the whole input went into it.
            pipeline::stream(&plan.options, &plan.sources, out, workers, meter)?;
            commit(atomic)
        }
        opened => {
            // CSV's header, Parquet's schema and a dataset's partitions need every column
            // before the first row: rows wait in a spool (a temporary file) until the whole
            // input is read.
            let check = plan.file.format == Format::Parquet;
            // The meter runs through the writing of the spooled rows too.
            let (spooled, _meter) = pipeline::spool_all(&plan.options, &plan.sources, check, workers, &[], meter)?;
            match (opened, &plan.target) {
                (Opened::Dataset(staging), Target::Dataset(_, keys)) => {
                    spooled.write_dataset(staging, &plan.file, keys, layout).map(drop)
                }
                (Opened::Dataset(_), _) => anyhow::bail!("internal error: a dataset without keys"),
                (Opened::Stream(out, atomic), _) => {
                    spooled.write_file(out, &plan.file, layout, workers)?;
                    commit(atomic)
                }
            }
        }
    }
}
