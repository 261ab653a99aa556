//! `_manifest.json`: what a `fetch -o DIR` asked for and which chunks are done.
//!
//! It is rewritten (atomically: a temporary file renamed over it) each time a chunk file is
//! complete, so after an interruption it lists exactly the chunks whose files are whole.
//! `--resume` compares it with the new command's query and skips the chunks it marks
//! complete. Its name starts with `_`, so `gcagg flatten DIR` passes it by.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::query::Chunk;
use crate::atomic::AtomicFile;
use crate::exit::usage;

/// The manifest's file name.
pub const FILE_NAME: &str = "_manifest.json";

/// The contents of `_manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// What asked for the pages: the query and how it was sent.
    #[serde(flatten)]
    pub request: Request,
    /// Every chunk of the interval, in order.
    pub chunks: Vec<Entry>,
}

/// The part of the manifest a resumed fetch must repeat exactly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// The analytics family.
    pub kind: String,
    /// Sent as async jobs.
    #[serde(rename = "async")]
    pub asynchronous: bool,
    /// `--page-size` of the jobs.
    pub page_size: Option<u32>,
    /// The region given, if any.
    pub region: Option<String>,
    /// Where the requests went.
    pub api_base: String,
    /// `--split` as given.
    pub split: Option<String>,
    /// The query body, with the whole interval.
    pub query: Value,
}

/// One chunk's state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// The chunk's interval.
    pub interval: String,
    /// Its file in the directory.
    pub file: String,
    /// Whether the file holds every page of the chunk.
    pub complete: bool,
    /// Pages in the file.
    pub pages: u64,
    /// Entities in those pages.
    pub rows: u64,
    /// When the chunk was fetched (UTC).
    pub fetched_at: Option<String>,
}

/// The file name of a chunk: names sort in chunk order.
pub fn chunk_file(chunk: &Chunk) -> String {
    format!("chunk-{:05}.ndjson", chunk.index)
}

/// Removes the hidden temporaries an earlier run into `dir` left behind when it was killed
/// outright (SIGKILL, a power loss), which no cleanup could remove: a chunk file's
/// (`.chunk-00002.ndjson.XXXXXX.tmp`) or the manifest's (`._manifest.json.XXXXXX.tmp`),
/// and the `.chunk*` / `.manifest*` of earlier versions. Best effort: a file that cannot be
/// removed harms nothing, since flatten skips hidden files.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let leftover =
            name.starts_with(".chunk") || name.starts_with("._manifest.json.") || name.starts_with(".manifest");
        if leftover && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Manifest {
    /// A manifest with no chunk done yet.
    pub fn new(request: Request, chunks: &[Chunk]) -> Manifest {
        let chunks = chunks
            .iter()
            .map(|c| Entry {
                interval: c.interval.clone(),
                file: chunk_file(c),
                complete: false,
                pages: 0,
                rows: 0,
                fetched_at: None,
            })
            .collect();
        Manifest { request, chunks }
    }

    /// Reads `DIR/_manifest.json`, if there is one.
    pub fn read(dir: &Path) -> anyhow::Result<Option<Manifest>> {
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        // A file of that name gcagg did not write is the user's to move: a usage error.
        let manifest = serde_json::from_str(&text).map_err(|e| {
            usage(format!(
                "{}: not a gcagg manifest ({e}); move it away or use another directory",
                path.display()
            ))
        })?;
        Ok(Some(manifest))
    }

    /// Checks that `self` (from disk) was written for the same fetch as `new`.
    pub fn check_resumable(&self, new: &Manifest, dir: &Path) -> anyhow::Result<()> {
        let differs = |what: &str| {
            usage(format!(
                "--resume: {} was written for another fetch ({what} differs); use a new directory, \
                 or repeat the original command (an interval from --since moves: use its --interval)",
                dir.join(FILE_NAME).display()
            ))
        };
        let (old, cur) = (&self.request, &new.request);
        if old.query != cur.query {
            return Err(differs("the query"));
        }
        if (&old.kind, old.asynchronous, old.page_size) != (&cur.kind, cur.asynchronous, cur.page_size) {
            return Err(differs("--kind, --async or --page-size"));
        }
        if old.api_base != cur.api_base {
            return Err(differs("the region"));
        }
        let intervals = |m: &Manifest| m.chunks.iter().map(|c| c.interval.clone()).collect::<Vec<_>>();
        if intervals(self) != intervals(new) {
            return Err(differs("--split"));
        }
        Ok(())
    }

    /// Takes over the chunks `old` completed whose files are still in `dir`.
    pub fn adopt(&mut self, old: Manifest, dir: &Path) {
        for (entry, done) in self.chunks.iter_mut().zip(old.chunks) {
            // Only the chunk's own file name counts: a manifest edited to name `../x` or an
            // absolute path must not pass a chunk off as fetched.
            if done.complete && done.file == entry.file && dir.join(&done.file).is_file() {
                *entry = done;
            }
        }
    }

    /// Whether chunk `index` is complete.
    pub fn is_complete(&self, index: usize) -> bool {
        self.chunks.get(index).is_some_and(|e| e.complete)
    }

    /// Records chunk `index` as complete.
    pub fn complete(&mut self, index: usize, pages: u64, rows: u64, fetched_at: String) {
        if let Some(entry) = self.chunks.get_mut(index) {
            entry.complete = true;
            entry.pages = pages;
            entry.rows = rows;
            entry.fetched_at = Some(fetched_at);
        }
    }

    /// Writes `DIR/_manifest.json` atomically (its hidden temporary is skipped by flatten).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path: PathBuf = dir.join(FILE_NAME);
        let (atomic, file) = AtomicFile::create(&path)?;
        let mut out = BufWriter::new(file);
        let mut write = || -> anyhow::Result<()> {
            serde_json::to_writer_pretty(&mut out, self)?;
            out.write_all(b"\n")?;
            out.flush()?;
            Ok(())
        };
        write().with_context(|| format!("writing {}", path.display()))?;
        drop(out);
        atomic.commit()
    }
}
