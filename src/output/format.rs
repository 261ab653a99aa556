//! The output formats: which one a file name implies, and the writer of each.

use std::path::Path;

use clap::ValueEnum;

use super::csv::CsvWriter;
use super::ndjson::NdjsonWriter;
use super::parquet::writer::ParquetWriter;
use super::parquet::Settings;
use super::{BufferPool, Output, RowWriter};
use crate::columns::{ColumnId, Columns};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// One JSON array of row objects.
    Json,
    /// A header line, then one line per row.
    Csv,
    /// Typed columns, compressed.
    Parquet,
}

impl Format {
    /// The file name extension of a data file.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// The format an output path implies, and whether it is gzip-compressed.
pub fn format_of(path: &Path) -> Option<(Option<Format>, bool)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem.to_owned(), true),
        None => (name, false),
    };
    let ext = Path::new(&stem).extension().and_then(|e| e.to_str()).unwrap_or("");
    let format = match ext {
        "ndjson" | "jsonl" => Some(Format::Ndjson),
        "json" => Some(Format::Json),
        "csv" => Some(Format::Csv),
        "parquet" => Some(Format::Parquet),
        _ => None,
    };
    Some((format, gzip))
}

/// How each output file is written.
#[derive(Clone)]
pub struct FileFormat {
    /// The format.
    pub format: Format,
    /// NDJSON or CSV compressed with gzip.
    pub gzip: bool,
    /// Missing values as null (CSV: empty) rather than 0.
    pub keep_nulls: bool,
    /// Parquet's codec and row groups.
    pub parquet: Settings,
}

impl FileFormat {
    /// The writer of one file (`header`: its columns, in order).
    pub fn writer(&self, out: Output, columns: &Columns, header: &[ColumnId]) -> anyhow::Result<Box<dyn RowWriter>> {
        Ok(match self.format {
            Format::Ndjson => Box::new(NdjsonWriter::new(out, BufferPool::default())),
            Format::Json => Box::new(NdjsonWriter::new(out.array(), BufferPool::default())),
            Format::Csv => Box::new(CsvWriter::new(out, columns, header, self.keep_nulls)),
            Format::Parquet => Box::new(ParquetWriter::new(out, columns, header, self.keep_nulls, self.parquet)?),
        })
    }
}
