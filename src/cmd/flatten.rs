//! `gcagg flatten`: raw response pages in, flat rows out. This is the plan: the sources, the
//! options, and the target ([`target`]), all checked ([`checks`]) before the first byte is
//! read; then [`crate::pipeline`] reads every source into the target.

mod checks;
mod target;

use std::path::PathBuf;

use super::rows::RowArgs;
use crate::output::format::{FileFormat, Format};
use crate::output::parquet::Codec;
use crate::pipeline;
use crate::workers;
use target::{commit, Opened};

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

/// Runs `gcagg flatten`.
pub fn run(args: Args) -> anyhow::Result<()> {
    // The output flags first: a wrong one is said before any source is opened.
    let (target, file) = checks::output(&args)?;
    let (options, sources) = args.rows.resolve()?;
    target.refuse_overwriting_an_input(&sources)?;
    let file = FileFormat {
        keep_nulls: options.keep_nulls,
        ..file
    };
    let workers = workers::count()?;
    let meter = |rows| target.meter(&sources, rows);
    match target.open(file.gzip)? {
        Opened::Stream(out, atomic) if matches!(file.format, Format::Ndjson | Format::Json) => {
            let out = if file.format == Format::Json { out.array() } else { out };
            // A file is renamed into place only if the whole input went into it.
            pipeline::stream(&options, &sources, out, workers, meter)?;
            commit(atomic)
        }
        opened => {
            // CSV's header, Parquet's schema and a dataset's partitions need every column
            // before the first row: rows wait in a spool (a temporary file) until the whole
            // input is read.
            let check = file.format == Format::Parquet;
            // The meter runs through the writing of the spooled rows too.
            let (spooled, _meter) = pipeline::spool_all(&options, &sources, check, workers, &[], meter)?;
            match opened {
                Opened::Dataset(staging, keys) => spooled.write_dataset(staging, &file, keys, options.layout).map(drop),
                Opened::Stream(out, atomic) => {
                    spooled.write_file(out, &file, options.layout, workers)?;
                    commit(atomic)
                }
            }
        }
    }
}
