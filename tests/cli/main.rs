//! End-to-end tests: the real `gcagg` binary, run as a user would run it.
//!
//! One test executable (STYLE.md); small cases are one-line goldens (`golden!`, `fails!`),
//! larger ones live in `fixtures/` and the conformance suite.

#[macro_use]
mod util;

mod server;

mod bodies;
mod conformance;
mod conveniences;
mod errors;
mod fetch;
mod flatten;
mod inputs;
mod interrupt;
mod kpis;
mod name_columns;
mod names;
mod observations;
mod observations_fetch;
mod outputs;
mod parquet;
mod parquet_statistics;
mod partition;
mod profiles;
mod progress;
mod properties;
mod schema;
mod streaming;
mod sync;
mod warnings;
mod workers;
