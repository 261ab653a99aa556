//! `gcagg`: Genesys Cloud analytics aggregates into flat rows.
//!
//! The program is this library behind a one-line `main`, so that the fuzz targets under
//! `fuzz/` drive the same code in-process. [`main`] only parses the command line, runs the
//! chosen subcommand and turns the outcome into an exit code and at most one line on stderr
//! (see [`exit`]).

mod api;
mod atomic;
mod cmd;
mod columns;
mod exit;
mod fetch;
mod flatten;
mod input;
mod interrupt;
mod kpis;
mod lake;
mod lookup;
mod manifest;
mod minify;
mod names;
mod output;
mod pages;
mod pipeline;
mod progress;
mod redact;
mod workers;

#[doc(hidden)]
pub mod fuzzing;

use clap::{CommandFactory, Parser, Subcommand};

/// Fetch Genesys Cloud analytics aggregates and flatten them into NDJSON, CSV and Parquet rows.
#[derive(Parser)]
// `--version` names the commit too (see `build.rs`): `gcagg 0.1.0 (commit 0123456789ab, 2024-05-01)`.
#[command(name = "gcagg", version = env!("GCAGG_VERSION"), about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Completions(cmd::completions::Args),
    Fetch(Box<cmd::fetch::Args>),
    Flatten(cmd::flatten::Args),
    Man(cmd::man::Args),
    Names(Box<cmd::names::Args>),
    Regions(cmd::regions::Args),
    Schema(cmd::schema::Args),
    Sync(Box<cmd::sync::Args>),
}

/// The program: parses `std::env::args`, runs the subcommand, reports the outcome.
pub fn main() -> std::process::ExitCode {
    if let Err(err) = interrupt::install() {
        return exit::report(Err(
            anyhow::Error::new(err).context("cannot install the signal handlers")
        ));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return exit::clap_error(&err),
    };
    exit::report(run(cli))
}

/// Runs the subcommand `cli` chose.
fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
        Command::Fetch(args) => cmd::fetch::run(*args),
        Command::Flatten(args) => cmd::flatten::run(args),
        Command::Man(args) => cmd::man::run(args, Cli::command()),
        Command::Names(args) => cmd::names::run(*args),
        Command::Regions(args) => cmd::regions::run(args),
        Command::Schema(args) => cmd::schema::run(args),
        Command::Sync(args) => cmd::sync::run(*args),
    }
}
