//! Where the rows of `gcagg flatten` go: stdout, a file renamed into place once complete, or
//! a partitioned dataset staged beside its directory.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::atomic::{AtomicDir, AtomicFile};
use crate::exit::usage;
use crate::input::{self, Source};
use crate::output::Output;
use crate::progress::Meter;

/// Where the rows go.
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, written beside its path and renamed into place when complete.
    File(PathBuf),
    /// A partitioned dataset: the directory and the partition keys (safe names).
    Dataset(PathBuf, Vec<String>),
}

/// The output of a run, open: a stream (stdout, or a file written beside its target and
/// renamed when complete), or a dataset's staging folder and its partition keys.
pub enum Opened<'a> {
    /// Stdout, or a file and what renames it into place.
    Stream(Output, Option<AtomicFile>),
    /// A dataset's staging folder, and its partition keys.
    Dataset(AtomicDir, &'a [String]),
}

impl Target {
    /// Creating the output truncates it before a byte is read: it must not be one of the
    /// inputs.
    pub fn refuse_overwriting_an_input(&self, sources: &[Source]) -> anyhow::Result<()> {
        let Target::File(output) = self else {
            return Ok(());
        };
        let Ok(target) = output.canonicalize() else {
            return Ok(()); // Not there yet: not an input either.
        };
        let same = |s: &&Source| s.path.as_deref().and_then(|p| p.canonicalize().ok()).as_ref() == Some(&target);
        match sources.iter().find(same) {
            Some(source) => Err(usage(format!(
                "--output {}: is also the input {}; write the rows elsewhere",
                output.display(),
                source.name
            ))),
            None => Ok(()),
        }
    }

    /// Opens the output, `gzip` or not, before the first byte is read, so a folder that
    /// cannot be written to fails at once, and an interruption finds the temporary to
    /// remove.
    pub fn open(&self, gzip: bool) -> anyhow::Result<Opened<'_>> {
        Ok(match self {
            Target::Stdout => Opened::Stream(Output::Stdout(std::io::stdout()), None),
            Target::File(path) => {
                let (atomic, file) = AtomicFile::create(path)?;
                Opened::Stream(Output::file(file, gzip), Some(atomic))
            }
            Target::Dataset(dir, keys) => Opened::Dataset(AtomicDir::create(dir)?, keys),
        })
    }

    /// The meter of the reading of `sources`, on the count of rows made, shown on a terminal
    /// once the run is long; none when the rows themselves go to the terminal.
    pub fn meter(&self, sources: &[Source], rows: Arc<AtomicU64>) -> Option<Meter> {
        if matches!(self, Target::Stdout) && std::io::stdout().is_terminal() {
            return None;
        }
        let meter = Meter::start(input::total_size(sources), move || {
            (input::bytes_read(), rows.load(Ordering::Relaxed))
        });
        Some(meter)
    }
}

/// Renames a finished file into place (nothing to do for stdout).
pub fn commit(atomic: Option<AtomicFile>) -> anyhow::Result<()> {
    atomic.map_or(Ok(()), AtomicFile::commit)
}
