//! Rows out: the row traits, the formats, and where their bytes go.
//!
//! [`row`] holds the traits every format implements; [`ndjson`], [`csv`] and [`parquet`]
//! the formats, [`format`](mod@format) which one a file name implies; [`long`] expands
//! long-layout records in front of them; [`spool`] keeps rows until every column is known;
//! [`partition`] routes rows to a dataset's files; [`destination`] is where the bytes go.

mod buffers;
pub mod csv;
mod destination;
pub mod format;
pub mod long;
pub mod ndjson;
pub mod parquet;
pub mod partition;
mod row;
pub mod spool;
mod text;
mod timestamps;

pub use buffers::BufferPool;
pub use destination::Output;
use destination::BLOCK;
pub use row::{recycle, Append, Cell, Discard, Render, RowSink, RowWriter};
use text::has_any;
pub use timestamps::{epoch_millis, utc_date};

/// How a writer starts a thread of its own (the spool's file writer, Parquet's page
/// encoders): handed down by [`crate::pipeline`], which starts every thread of a run.
pub type Spawn<T> = fn(Box<dyn FnOnce() -> T + Send>) -> std::thread::JoinHandle<T>;
