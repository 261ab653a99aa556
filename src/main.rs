//! `gcagg`: Genesys Cloud analytics aggregates into flat rows.
//!
//! `main` only parses the command line, runs the chosen subcommand and turns the outcome
//! into an exit code and at most one line on stderr (see [`exit`]).

mod cmd;
mod columns;
mod exit;
mod flatten;
mod input;
mod output;
mod pages;

use clap::{Parser, Subcommand};

/// Flatten Genesys Cloud analytics aggregate responses into NDJSON, CSV or Parquet rows.
#[derive(Parser)]
#[command(name = "gcagg", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Flatten(cmd::flatten::Args),
    Schema(cmd::schema::Args),
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return exit::clap_error(&err),
    };
    let outcome = match cli.command {
        Command::Flatten(args) => cmd::flatten::run(args),
        Command::Schema(args) => cmd::schema::run(args),
    };
    exit::report(outcome)
}
