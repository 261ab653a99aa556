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

/// `1 chunk`, `2 chunks`: a count and its noun, singular or plural as English wants.
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_read_as_english() {
        use super::counted;
        assert_eq!(counted(1u64, "chunk"), "1 chunk");
        assert_eq!(counted(2u64, "chunk"), "2 chunks");
        assert_eq!(counted(0u64, "row"), "0 rows");
        assert_eq!(counted(3u64, "entity"), "3 entities");
        assert_eq!(counted(1u64, "entity"), "1 entity");
    }
}
