//! The output flags of `gcagg flatten`, checked before a source is opened: which format,
//! where the rows go, and the Parquet settings only Parquet takes.

use std::io::IsTerminal;

use super::target::Target;
use super::Args;
use crate::exit::usage;
use crate::output::format::{format_of, FileFormat, Format};
use crate::output::parquet::{Codec, Settings, DEFAULT_ROW_GROUP_ROWS};
use crate::output::partition;

/// Where the rows go and in which file format (nulls dropped: the row flags say otherwise),
/// or the usage error of the first flag that does not fit.
pub fn output(args: &Args) -> anyhow::Result<(Target, FileFormat)> {
    let (implied, gzip) = match &args.output {
        Some(path) => format_of(path).ok_or_else(|| usage(format!("--output {}: not a file name", path.display())))?,
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
    parquet_flags(args, format, gzip)?;
    let target = match (&args.output, partitioned) {
        (None, true) => return Err(usage("--partition-by: name the dataset's directory with --output")),
        (Some(dir), true) => {
            let keys = partition::key_names(&args.partition_by)?;
            partition::check_target(dir, args.overwrite)?;
            Target::Dataset(dir.clone(), keys)
        }
        (Some(path), false) => Target::File(path.clone()),
        (None, false) => {
            if format == Format::Parquet && std::io::stdout().is_terminal() {
                return Err(usage(
                    "--format parquet: refusing to write binary Parquet to a terminal; use --output FILE or a pipe",
                ));
            }
            Target::Stdout
        }
    };
    let file = FileFormat {
        format,
        gzip,
        keep_nulls: false,
        parquet: Settings {
            codec: args.compression.unwrap_or(Codec::Zstd),
            row_group_rows: args.row_group_size.unwrap_or(DEFAULT_ROW_GROUP_ROWS),
        },
    };
    Ok((target, file))
}

/// `--compression` and `--row-group-size` are for Parquet only, and a Parquet file is not
/// gzipped.
fn parquet_flags(args: &Args, format: Format, gzip: bool) -> anyhow::Result<()> {
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
    Ok(())
}
