//! `gcagg schema`: the columns an input gives and their Parquet types, without writing rows.

use std::io::{self, BufWriter, Write};

use super::flatten::{scan, RowArgs};
use crate::output::parquet::type_label;

/// Print the output columns and their Parquet types for the given input and row options.
///
/// Reads the input once (as flatten does) and writes no rows: one line per
/// column, in output order, with its Parquet type.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg schema pages.ndjson
  gcagg schema --layout long --stats count,sum dumps/
  gcagg fetch --since 24h --metrics nOffered | gcagg schema --add-column org=acme")]
pub struct Args {
    #[command(flatten)]
    pub rows: RowArgs,
}

/// Runs `gcagg schema`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (options, sources) = args.rows.resolve()?;
    let columns = scan(options, &sources)?;
    let header = columns.header();
    let width = header.iter().map(|&id| columns.get(id).name.len()).max().unwrap_or(0);
    let mut out = BufWriter::new(io::stdout().lock());
    for id in header {
        let column = columns.get(id);
        // Padded by hand: a format width past u16::MAX panics, and a column name can be
        // that long.
        let pad = " ".repeat(width - column.name.len());
        writeln!(out, "{}{pad}  {}", column.name, type_label(column.role))?;
    }
    out.flush()?;
    Ok(())
}
