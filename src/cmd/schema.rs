//! `gcagg schema`: the columns an input gives and their Parquet types, without writing rows;
//! or a `CREATE TABLE` for them.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use arrow_schema::DataType;
use clap::ValueEnum;

use super::rows::RowArgs;
use crate::columns::Role;
use crate::output::parquet::{data_type, type_label};
use crate::pipeline::scan;

/// Print the output columns and their Parquet types for the given input and row options,
/// or for a `gcagg sync` dataset.
///
/// Reads the input once (as flatten does) and writes no rows: one line per column, in
/// output order, with its Parquet type. A sync dataset's folder is not read at all: its
/// definition holds its columns, and its partition columns come last. `--format sql` and
/// `--format athena` print a CREATE TABLE instead.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  gcagg schema pages.ndjson
  gcagg schema --layout long --stats count,sum dumps/
  gcagg fetch --since 24h --metrics nOffered | gcagg schema --add-column org=acme
  gcagg schema lake/queue_kpis                          a sync dataset's columns
  gcagg schema --format athena lake/queue_kpis          CREATE EXTERNAL TABLE for Athena, Spark, Hive")]
pub struct Args {
    #[command(flatten)]
    pub rows: RowArgs,

    /// What to print.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SchemaFormat,

    /// The table name of a CREATE TABLE [default: the dataset's folder name, else gcagg].
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
}

/// What `gcagg schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// One line per column: its name and Parquet type.
    Text,
    /// CREATE TABLE in DuckDB's SQL (PostgreSQL-like types; BIGINT, DOUBLE, TIMESTAMPTZ).
    Sql,
    /// CREATE EXTERNAL TABLE in Hive's DDL (Athena, Spark SQL, Trino's Hive connector),
    /// partitioned as a sync dataset is, over its folder.
    Athena,
}

/// One column to print: its name, role, and whether it is a partition column (in the
/// folder names only).
struct Described {
    name: String,
    role: Role,
    partition: bool,
}

/// Runs `gcagg schema`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dataset = match args.rows.inputs.as_slice() {
        [dir] if dir.is_dir() => super::sync::dataset_columns(dir)?.map(|columns| (dir.clone(), columns)),
        _ => None,
    };
    let (location, described) = match dataset {
        Some((dir, super::sync::DatasetColumns { columns, keys })) => {
            let mut described: Vec<Described> = columns
                .into_iter()
                .filter(|(name, _)| !keys.contains(name))
                .map(|(name, role)| Described {
                    name,
                    role,
                    partition: false,
                })
                .collect();
            described.extend(keys.into_iter().map(|name| Described {
                name,
                role: Role::Group,
                partition: true,
            }));
            (Some(dir), described)
        }
        None => {
            let (options, sources) = args.rows.resolve()?;
            let columns = scan(options, &sources)?;
            let described = columns
                .header()
                .into_iter()
                .map(|id| {
                    let column = columns.get(id);
                    Described {
                        name: column.name.clone(),
                        role: column.role,
                        partition: false,
                    }
                })
                .collect();
            (None, described)
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    match args.format {
        SchemaFormat::Text => text(&mut out, &described)?,
        format => {
            let table = args.table.clone().unwrap_or_else(|| table_name(location.as_deref()));
            create_table(&mut out, format, &table, location.as_deref(), &described)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Whether a partition column is a derived date (`interval_date`, `observed_date`).
fn is_date(name: &str) -> bool {
    crate::output::partition::DATE_COLUMNS
        .iter()
        .any(|(date, _)| *date == name)
}

/// One line per column, names padded to one width.
fn text(out: &mut impl Write, described: &[Described]) -> io::Result<()> {
    let width = described.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for column in described {
        // Padded by hand: a format width past u16::MAX panics, and a column name can be
        // that long.
        let pad = " ".repeat(width - column.name.len());
        let kind = match (column.partition, column.name.as_str()) {
            (true, name) if is_date(name) => "DATE (partition, from the folder names)",
            (true, _) => "STRING (partition, from the folder names)",
            (false, _) => type_label(column.role),
        };
        writeln!(out, "{}{pad}  {kind}", column.name)?;
    }
    Ok(())
}

/// The table a dataset folder stands for: its name, skipping `KEY=value` levels
/// (`lake/queue_kpis/org=acme` is `queue_kpis`).
fn table_name(location: Option<&Path>) -> String {
    location
        .into_iter()
        .flat_map(|dir| dir.components().rev())
        .filter_map(|c| c.as_os_str().to_str())
        .find(|name| !name.contains('=') && !name.is_empty() && *name != "." && *name != "..")
        .map(|name| crate::columns::safe_name(name).into_owned())
        .unwrap_or_else(|| "gcagg".to_owned())
}

/// A CREATE TABLE for the columns, in DuckDB's SQL or Hive's DDL.
fn create_table(
    out: &mut impl Write,
    format: SchemaFormat,
    table: &str,
    location: Option<&Path>,
    described: &[Described],
) -> io::Result<()> {
    let athena = format == SchemaFormat::Athena;
    let quote = |name: &str| {
        if athena {
            format!("`{}`", name.replace('`', "``"))
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    };
    let sql_type = |column: &Described| -> &'static str {
        if column.partition {
            let date = is_date(&column.name);
            return match (date, athena) {
                (true, _) => "DATE",
                (false, true) => "STRING",
                (false, false) => "VARCHAR",
            };
        }
        match (data_type(column.role), athena) {
            (DataType::Timestamp(..), true) => "TIMESTAMP",
            (DataType::Timestamp(..), false) => "TIMESTAMPTZ",
            (DataType::Int64, _) => "BIGINT",
            (DataType::Float64, _) => "DOUBLE",
            (_, true) => "STRING",
            (_, false) => "VARCHAR",
        }
    };
    let line = |c: &Described| format!("  {} {}", quote(&c.name), sql_type(c));
    let (data, keys): (Vec<&Described>, Vec<&Described>) = described.iter().partition(|c| !c.partition || !athena);
    writeln!(
        out,
        "CREATE {}TABLE {} (",
        if athena { "EXTERNAL " } else { "" },
        quote(table)
    )?;
    writeln!(out, "{}", data.iter().map(|c| line(c)).collect::<Vec<_>>().join(",\n"))?;
    if !athena {
        return writeln!(out, ");");
    }
    writeln!(out, ")")?;
    if !keys.is_empty() {
        let keys: Vec<String> = keys.iter().map(|c| line(c)).collect();
        writeln!(out, "PARTITIONED BY (\n{}\n)", keys.join(",\n"))?;
    }
    writeln!(out, "STORED AS PARQUET")?;
    let location = location.map_or_else(|| "s3://bucket/path/".to_owned(), |dir| format!("{}/", dir.display()));
    writeln!(out, "LOCATION '{}';", location.replace('\'', "''"))?;
    if described.iter().any(|c| c.partition) {
        writeln!(
            out,
            "-- then: MSCK REPAIR TABLE {} (Athena, Hive), to find the partitions",
            quote(table)
        )?;
    }
    Ok(())
}
