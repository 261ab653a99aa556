//! `gcagg`: Genesys Cloud analytics aggregates into flat rows.
//!
//! `main` only parses the command line, runs the chosen subcommand and turns the outcome
//! into an exit code and at most one line on stderr (see [`exit`]).

mod api;
mod cmd;
mod columns;
mod exit;
mod fetch;
mod flatten;
mod input;
mod manifest;
mod output;
mod pages;
mod progress;
mod workers;

use clap::{Parser, Subcommand};

/// Fetch Genesys Cloud analytics aggregates and flatten them into NDJSON, CSV and Parquet rows.
#[derive(Parser)]
#[command(name = "gcagg", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Fetch(Box<cmd::fetch::Args>),
    Flatten(cmd::flatten::Args),
    Regions(cmd::regions::Args),
    Schema(cmd::schema::Args),
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return exit::clap_error(&err),
    };
    let outcome = match cli.command {
        Command::Fetch(args) => cmd::fetch::run(*args),
        Command::Flatten(args) => cmd::flatten::run(args),
        Command::Regions(args) => cmd::regions::run(args),
        Command::Schema(args) => cmd::schema::run(args),
    };
    exit::report(outcome)
}
