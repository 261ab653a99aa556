//! Parquet output: the column types, and the files' settings.
//!
//! Rows become columns in [`Fragments`](writer::Fragments) (one per replay thread, each spool
//! segment a [`Fragment`](fragment::Fragment)); the [`writer`] adds fragments to the open row
//! group's column chunks, which encode and compress pages as they fill (see `chunk`), and
//! closes a row group when it holds `--row-group-size` rows or about
//! [`ROW_GROUP_BYTES`](writer::ROW_GROUP_BYTES) encoded bytes, whichever comes first. So memory
//! holds at most a few fragments and one row group per file, whatever the input.
//!
//! Numbers arrive as the input spelled them and are parsed in [`number`]. A cell that does not
//! fit its column is an error naming the entity and the field ([`check`]); the page reader adds
//! the source, position and page.

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};

use crate::columns::{ColumnId, Columns, Role};

pub mod check;
mod chunk;
mod fragment;
mod number;
pub mod writer;

/// The default `--row-group-size`: the row cap of the Parquet ecosystem's writers.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;

/// Compression codecs for `--compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// Zstandard (level 1): small files, fast to read.
    Zstd,
    /// Snappy: the long-time default of Spark and Hive.
    Snappy,
    /// Gzip (level 6): readable by the oldest tools.
    Gzip,
    /// LZ4 (the raw block format of current Parquet readers).
    Lz4,
    /// No compression.
    None,
}

impl Codec {
    /// How the file's metadata names the codec.
    fn compression(self) -> Compression {
        match self {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::Gzip => Compression::GZIP(GzipLevel::default()),
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

/// The Parquet options of the command line.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The codec of every column.
    pub codec: Codec,
    /// Maximum rows per row group (at least 1).
    pub row_group_rows: usize,
}

/// The Arrow type of a column, which the Parquet type follows.
pub fn data_type(role: Role) -> DataType {
    match role {
        Role::IntervalStart | Role::IntervalEnd | Role::ObservedAt => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        }
        Role::Value { integer: true } => DataType::Int64,
        Role::Value { integer: false } | Role::LongValue | Role::Kpi { .. } => DataType::Float64,
        Role::Constant
        | Role::Group
        | Role::Name
        | Role::AggregateId
        | Role::Metric
        | Role::Qualifier
        | Role::QualifierName
        | Role::Truncated
        | Role::Field
        | Role::Stat => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
    }
}

/// How `gcagg schema` names the Parquet type of a column of this role.
pub fn type_label(role: Role) -> &'static str {
    match data_type(role) {
        DataType::Timestamp(..) => "TIMESTAMP(MILLIS, UTC)",
        DataType::Int64 => "INT64",
        DataType::Float64 => "DOUBLE",
        _ => "STRING (dictionary)",
    }
}

/// The Arrow schema of `header` (column ids in output order); every column is nullable.
pub fn schema(columns: &Columns, header: &[ColumnId]) -> Schema {
    Schema::new(
        header
            .iter()
            .map(|&id| {
                let column = columns.get(id);
                Field::new(&column.name, data_type(column.role), true)
            })
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::ArrowSchemaConverter;
    use parquet::basic::{LogicalType, TimeUnit as ParquetUnit, TimestampType, Type as Physical};

    #[test]
    fn labels_match_the_parquet_schema_written() {
        let roles = [
            Role::Group,
            Role::IntervalStart,
            Role::Value { integer: true },
            Role::Value { integer: false },
            Role::LongValue,
        ];
        let fields: Vec<Field> = roles
            .iter()
            .enumerate()
            .map(|(i, &r)| Field::new(format!("c{i}"), data_type(r), true))
            .collect();
        let parquet = ArrowSchemaConverter::new().convert(&Schema::new(fields)).unwrap();
        let described: Vec<(Physical, Option<LogicalType>)> = parquet
            .columns()
            .iter()
            .map(|c| (c.physical_type(), c.logical_type_ref().cloned()))
            .collect();
        assert_eq!(
            described,
            vec![
                (Physical::BYTE_ARRAY, Some(LogicalType::String)),
                (
                    Physical::INT64,
                    Some(LogicalType::Timestamp(TimestampType {
                        is_adjusted_to_u_t_c: true,
                        unit: ParquetUnit::MILLIS
                    }))
                ),
                (Physical::INT64, None),
                (Physical::DOUBLE, None),
                (Physical::DOUBLE, None),
            ]
        );
        let labels: Vec<&str> = roles.iter().map(|&r| type_label(r)).collect();
        assert_eq!(
            labels,
            [
                "STRING (dictionary)",
                "TIMESTAMP(MILLIS, UTC)",
                "INT64",
                "DOUBLE",
                "DOUBLE"
            ]
        );
    }
}
