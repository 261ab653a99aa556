//! End-to-end tests: the real `gcagg` binary, run as a user would run it.

mod util;

mod flatten;
mod parquet;
mod partition;
mod schema;
