//! `gcagg flatten`: raw response pages in, flat rows out.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::exit::usage;
use crate::flatten::{Flattener, Layout, Options};
use crate::input::{self, Source};
use crate::output::csv::CsvWriter;
use crate::output::ndjson::NdjsonWriter;
use crate::output::spool::Spool;
use crate::output::{Output, RowWriter};
use crate::pages;

/// Flatten aggregate response pages into NDJSON or CSV rows.
///
/// Reads API responses, async job pages, SDK dumps or the tutorial's `entities` shape, as
/// NDJSON, concatenated or pretty-printed JSON, or one array of pages, gzip or not.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg flatten pages.ndjson                        NDJSON rows on stdout
  gcagg flatten -o day.csv dumps/                   every page file of a directory, as CSV
  gcagg flatten --layout long --stats count,sum p.json.gz
  gcagg fetch --since 24h --metrics nOffered | gcagg flatten --add-column org=acme")]
pub struct Args {
    /// Input files or directories; `-` or nothing reads stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Write to FILE instead of stdout; the format follows its extension
    /// (.ndjson, .jsonl, .json, .csv, each optionally .gz).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format [default: from --output's extension, else ndjson].
    #[arg(short, long, value_enum)]
    pub format: Option<Format>,

    /// One row per entity (wide) or one row per stat (long).
    #[arg(long, value_enum, default_value = "wide")]
    pub layout: Layout,

    /// Write null where a missing value would be written as 0.
    #[arg(long)]
    pub keep_nulls: bool,

    /// Keep only these stats (e.g. count,sum,ratio).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub stats: Vec<String>,

    /// Add a constant column to every row (repeatable), e.g. org=acme.
    #[arg(long, value_name = "NAME=VALUE")]
    pub add_column: Vec<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// A header line, then one line per row.
    Csv,
}

/// What the command line asked for, checked before the first byte is read.
struct Plan {
    format: Format,
    gzip: bool,
    output: Option<PathBuf>,
    options: Options,
    sources: Vec<Source>,
}

/// The format an output path implies, and whether it is gzip-compressed.
fn format_of(path: &Path) -> Option<(Option<Format>, bool)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem.to_owned(), true),
        None => (name, false),
    };
    let ext = Path::new(&stem).extension().and_then(|e| e.to_str()).unwrap_or("");
    let format = match ext {
        "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
        "csv" => Some(Format::Csv),
        _ => None,
    };
    Some((format, gzip))
}

impl Plan {
    fn new(args: Args) -> anyhow::Result<Plan> {
        let (implied, gzip) = match &args.output {
            Some(path) => {
                format_of(path).ok_or_else(|| usage(format!("--output {}: not a file name", path.display())))?
            }
            None => (None, false),
        };
        let format = match (args.format, implied, &args.output) {
            (Some(f), ..) => f,
            (None, Some(f), _) => f,
            (None, None, None) => Format::Ndjson,
            (None, None, Some(path)) => {
                return Err(usage(format!(
                    "--output {}: cannot tell the format from the extension; use .ndjson, .jsonl, .json or .csv (optionally .gz), or --format",
                    path.display()
                )))
            }
        };
        let mut constants = Vec::new();
        for pair in &args.add_column {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(usage(format!("--add-column {pair}: expected NAME=VALUE")));
            };
            constants.push((crate::columns::safe_name(name).into_owned(), value.to_owned()));
        }
        let stats: Vec<String> = args
            .stats
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if !args.stats.is_empty() && stats.is_empty() {
            return Err(usage("--stats: name at least one stat, e.g. --stats count,sum"));
        }
        let options = Options {
            layout: args.layout,
            keep_nulls: args.keep_nulls,
            stats,
            constants,
        };
        let sources = input::expand(&args.inputs)?;
        if let Some(path) = &args.output {
            refuse_overwriting_an_input(path, &sources)?;
        }
        Ok(Plan {
            format,
            gzip,
            output: args.output,
            options,
            sources,
        })
    }

    fn open_output(&self) -> anyhow::Result<Output> {
        match &self.output {
            None => Ok(Output::Stdout(std::io::stdout())),
            Some(path) => Output::create(path, self.gzip),
        }
    }
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
    match plan.format {
        Format::Ndjson => {
            let mut writer = Box::new(NdjsonWriter::new(plan.open_output()?));
            let mut flattener =
                Flattener::new(plan.options.clone(), &mut *writer).map_err(|e| usage(format!("{e:#}")))?;
            let read = read_all(&plan.sources, &mut flattener);
            // Rows before a data error are flushed (SPEC §4); the reading error wins.
            let finished = writer.finish();
            read.and(finished)
        }
        Format::Csv => {
            // The header needs every column before the first row: rows wait in a spool
            // until the input has been read.
            let mut spool = Spool::new()?;
            let mut flattener =
                Flattener::new(plan.options.clone(), &mut spool).map_err(|e| usage(format!("{e:#}")))?;
            read_all(&plan.sources, &mut flattener)?;
            let columns = flattener.into_columns();
            let header = columns.header();
            let mut writer = Box::new(CsvWriter::new(
                plan.open_output()?,
                &columns,
                &header,
                plan.options.keep_nulls,
            ));
            spool.replay(&columns, &mut *writer)?;
            writer.finish()
        }
    }
}

fn read_all(sources: &[Source], flattener: &mut Flattener<'_>) -> anyhow::Result<()> {
    for source in sources {
        pages::read_source(source, flattener)?;
    }
    Ok(())
}
