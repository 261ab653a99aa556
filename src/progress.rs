//! Progress and request logs on stderr.
//!
//! Progress (chunks, pages, rows, retries, waits) is shown when stderr is a terminal, unless
//! `--quiet`; `--verbose` shows it always and adds one line per request and answer. Each
//! message is one `eprintln!`, so lines of concurrent workers never interleave, and starts
//! `gcagg: ` as every line gcagg writes to stderr does. Callers pass no secret here:
//! request logs are built with the `Authorization` value redacted, and any secret the
//! server echoes is blanked (see `api::auth::redact`).

use std::fmt::Display;
use std::io::IsTerminal;

use crate::api::auth::redact;

/// Where progress goes, decided once.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    show: bool,
    verbose: bool,
}

impl Progress {
    /// Progress for a terminal unless `quiet`; everything when `verbose`.
    pub fn new(quiet: bool, verbose: bool) -> Progress {
        Progress {
            show: verbose || (!quiet && std::io::stderr().is_terminal()),
            verbose,
        }
    }

    /// A progress line.
    pub fn note(&self, msg: impl Display) {
        if self.show {
            eprintln!("gcagg: {}", redact(&msg.to_string()));
        }
    }

    /// A request log line (`--verbose`).
    pub fn debug(&self, msg: impl Display) {
        if self.verbose {
            eprintln!("gcagg: {}", redact(&msg.to_string()));
        }
    }
}
