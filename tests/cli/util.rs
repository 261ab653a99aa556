//! Helpers shared by the integration tests: running the binary, checking how it failed, and
//! reading its NDJSON and CSV output back the way a user's tools would.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayAccessor, RecordBatch, StringArray};
use arrow_schema::{DataType, SchemaRef};
use assert_cmd::Command;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A one-line golden test of `gcagg flatten`: arguments, stdin, and the exact stdout of a
/// successful run.
macro_rules! golden {
    ($name:ident, $args:expr, $stdin:expr, $expected:expr) => {
        #[test]
        fn $name() {
            $crate::util::assert_golden(&$args, $stdin, $expected);
        }
    };
}

/// A one-line test of a failing `gcagg flatten`: arguments, stdin, the exit code, and a
/// fragment the one-line message must contain.
macro_rules! fails {
    ($name:ident, $args:expr, $stdin:expr, $code:expr, $fragment:expr) => {
        #[test]
        fn $name() {
            let message = $crate::util::failure(&$args, $stdin, $code);
            assert!(
                message.contains($fragment),
                "message lacks {:?}: {message}",
                $fragment
            );
        }
    };
}
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaData;

/// The `gcagg` binary under test.
pub fn gcagg() -> Command {
    Command::cargo_bin("gcagg").expect("the gcagg binary is built")
}

/// A file or folder of the project's `fixtures/` folder.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// Runs `gcagg flatten ARGS` with `stdin` and returns what it did.
pub fn flatten<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: impl Into<Vec<u8>>) -> Output {
    gcagg()
        .arg("flatten")
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("gcagg runs")
}

/// Runs `gcagg flatten ARGS` on `stdin`, asserts success and a quiet stderr, returns stdout.
pub fn stdout_of<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: impl Into<Vec<u8>>) -> String {
    let out = flatten(args, stdin);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "gcagg flatten failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Asserts that `gcagg flatten ARGS` on `stdin` prints exactly `expected`.
pub fn assert_golden(args: &[&str], stdin: &str, expected: &str) {
    assert_eq!(stdout_of(args, stdin), expected, "gcagg flatten {}", args.join(" "));
}

/// Asserts that `gcagg flatten ARGS` on `stdin` exits with `code` and reports it as one line
/// starting with `gcagg: `; returns that line without its newline.
pub fn failure<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: impl Into<Vec<u8>>, code: i32) -> String {
    message_of(&flatten(args, stdin), code)
}

/// The one-line message of a run that must have exited with `code`.
pub fn message_of(out: &Output, code: i32) -> String {
    one_line_failure(out, code).unwrap_or_else(|why| panic!("{why}"))
}

/// The one-line `gcagg: ` message of a run that exited with `code`, or why it is not one.
pub fn one_line_failure(out: &Output, code: i32) -> Result<String, String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(code) {
        return Err(format!("exit {}, expected {code}; stderr: {stderr}", out.status));
    }
    if !(stderr.starts_with("gcagg: ") && stderr.ends_with('\n') && stderr.lines().count() == 1) {
        return Err(format!(
            "stderr must be one line starting with `gcagg: `, got {stderr:?}"
        ));
    }
    Ok(stderr.trim_end().to_owned())
}

/// Where two lists of rows first differ, described for a failure message.
pub fn first_difference<T: PartialEq + fmt::Debug>(got: &[T], want: &[T]) -> Option<String> {
    if got == want {
        return None;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    Some(format!(
        "{} rows, expected {}; first difference at row {}:\n    got      {:?}\n    expected {:?}",
        got.len(),
        want.len(),
        at + 1,
        got.get(at),
        want.get(at)
    ))
}

/// One JSON value of an NDJSON row, compared the way a user reads it: strings by their
/// content, anything else by its exact text (so `150784.0` differs from `150784`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    /// A JSON string, unescaped.
    Str(String),
    /// A number, `true`, `false`, `null` or nested JSON, as spelled.
    Raw(String),
}

impl Json {
    /// The text a CSV cell would hold for this value (null: empty).
    pub fn csv_text(&self) -> &str {
        match self {
            Json::Str(s) => s,
            Json::Raw(s) if s == "null" => "",
            Json::Raw(s) => s,
        }
    }
}

/// One NDJSON row: its keys in order, with their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<(String, Json)>);

impl Row {
    /// The value of `key`, if the row has it.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The text of `key`'s value (string content or number spelling); panics if absent.
    pub fn text(&self, key: &str) -> &str {
        match self.get(key) {
            Some(Json::Str(s) | Json::Raw(s)) => s,
            None => panic!("row has no `{key}`: {self:?}"),
        }
    }

    /// The row's keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Row, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    let text = value.get();
                    let value = if text.starts_with('"') {
                        Json::Str(serde_json::from_str(text).map_err(serde::de::Error::custom)?)
                    } else {
                        Json::Raw(text.to_owned())
                    };
                    pairs.push((key, value));
                }
                Ok(Row(pairs))
            }
        }
        de.deserialize_map(RowVisitor)
    }
}

/// Parses NDJSON output: one object per line, keys in order, numbers as spelled.
pub fn ndjson_rows(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON object line ({e}): {l}")))
        .collect()
}

/// Parses CSV output into records of cells (the header is the first record).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
        .collect()
}

/// Decompresses a gzip file.
pub fn gunzip(path: &Path) -> String {
    let file = std::fs::File::open(path).expect("output file exists");
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("output is gzip-compressed UTF-8");
    text
}

/// A JSON string literal for `s` (for building inputs).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// A temporary folder for a test's inputs and outputs, deleted afterwards.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
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

/// Runs `cmd` on a terminal (`script`, of util-linux, gives it one) while `during` runs
/// beside it; asserts success and returns what the terminal showed (stdout and stderr).
pub fn on_a_terminal(cmd: &std::process::Command, during: impl FnOnce()) -> String {
    let quote = |arg: &std::ffi::OsStr| format!("'{}'", arg.to_string_lossy().replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect();
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => script.env(name, value),
            None => script.env_remove(name),
        };
    }
    let child = script.spawn().expect("`script` (util-linux) runs");
    during();
    let done = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "{shown}");
    shown
}
