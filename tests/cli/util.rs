//! Helpers shared by the integration tests.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayAccessor, RecordBatch, StringArray};
use arrow_schema::{DataType, SchemaRef};
use assert_cmd::Command;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaData;

/// The `gcagg` binary under test.
pub fn gcagg() -> Command {
    Command::cargo_bin("gcagg").expect("the gcagg binary is built")
}

/// A file of the project's `fixtures/` folder.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// One Parquet cell, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Float(f64),
    /// Milliseconds since the epoch, UTC.
    Time(i64),
    Null,
}

/// A Parquet file read back with the parquet crate: schema, rows, metadata.
pub struct Table {
    pub schema: SchemaRef,
    pub rows: Vec<Vec<Value>>,
    pub metadata: ParquetMetaData,
}

impl Table {
    /// The column names, in order.
    pub fn names(&self) -> Vec<String> {
        self.schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// The values of one column.
    pub fn column(&self, name: &str) -> Vec<Value> {
        let at = self.schema.index_of(name).expect("column exists");
        self.rows.iter().map(|r| r[at].clone()).collect()
    }
}

/// Reads a whole Parquet file.
pub fn read_parquet(path: &Path) -> Table {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = builder.metadata().as_ref().clone();
    let schema = builder.schema().clone();
    let mut rows = Vec::new();
    for batch in builder.build().unwrap() {
        let batch: RecordBatch = batch.unwrap();
        for i in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|a| value(a.as_ref(), i)).collect());
        }
    }
    Table { schema, rows, metadata }
}

fn value(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Dictionary(..) => {
            let dict = array.as_dictionary::<Int32Type>();
            let strings = dict.downcast_dict::<StringArray>().expect("string dictionary");
            Value::Text(strings.value(i).to_owned())
        }
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(..) => Value::Time(array.as_primitive::<TimestampMillisecondType>().value(i)),
        other => panic!("unexpected column type {other}"),
    }
}

/// Parses CSV output into its header and rows.
pub fn read_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    if bytes.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// Every file under `dir`, relative to it, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}
