//! Runs the chunks of a fetch and puts their pages where they belong.
//!
//! Each chunk is fetched by a worker thread (`--concurrency` of them) into a temporary file
//! that holds only complete pages. The main thread takes the finished files: for stdout or
//! `-o FILE` it writes them out strictly in chunk order (a chunk that finishes early waits
//! on disk, not in memory); for `-o DIR` it renames each into place as soon as it is
//! complete and records it in the manifest, so an interruption loses no finished chunk.
//! The first failure stops the workers from starting new work and is the one reported.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use anyhow::Context;
use tempfile::{NamedTempFile, TempPath};

use crate::api::aggregates::Query;
use crate::api::page::PageFile;
use crate::api::query::Chunk;
use crate::api::time::Instant;
use crate::api::Client;
use crate::manifest::{self, Manifest};

/// One chunk to fetch.
pub struct Work {
    /// The chunk.
    pub chunk: Chunk,
    /// Its request body.
    pub body: String,
    /// How progress and errors name it, e.g. `chunk 2/7 (2024-05-02...)`.
    pub label: String,
}

/// Where the pages go.
pub enum Target {
    /// Standard output.
    Stdout,
    /// One file, written under a temporary name and renamed when complete.
    File(PathBuf),
    /// One file per chunk, plus the manifest.
    Dir {
        /// The directory.
        path: PathBuf,
        /// Its manifest, already written once.
        manifest: Manifest,
    },
}

/// Fetches every chunk of `work` into `target`.
pub fn fetch(client: &Client, query: &Query, work: &[Work], concurrency: usize, target: Target) -> anyhow::Result<()> {
    let fetcher = Fetcher {
        client,
        query,
        work,
        concurrency,
    };
    match target {
        Target::Stdout => {
            fetcher.in_order(BufWriter::new(io::stdout().lock()))?.flush()?;
            Ok(())
        }
        Target::File(path) => {
            let dir = parent(&path);
            let tmp = NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
            let out = fetcher.in_order(BufWriter::new(tmp))?;
            let tmp = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            tmp.persist(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        }
        Target::Dir { path, mut manifest } => {
            let create = || tempfile::Builder::new().prefix(".chunk").tempfile_in(&path);
            fetcher.run(&create, &mut |pos, pages| {
                let chunk = &work[pos].chunk;
                let (count, rows) = (pages.pages, pages.rows);
                let file = pages.into_file();
                let target = path.join(manifest::chunk_file(chunk));
                // The manifest may call the chunk complete only once its bytes are on disk.
                file.as_file().sync_all()?;
                file.persist(&target)
                    .with_context(|| format!("writing {}", target.display()))?;
                manifest.complete(chunk.index, count, rows, Instant::now().to_string());
                manifest.write(&path)
            })
        }
    }
}

/// The directory a file goes in.
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

struct Fetcher<'a> {
    client: &'a Client,
    query: &'a Query,
    work: &'a [Work],
    concurrency: usize,
}

impl Fetcher<'_> {
    /// Fetches all chunks into temporary files and writes them to `out` in chunk order.
    fn in_order<W: Write>(&self, mut out: W) -> anyhow::Result<W> {
        // Chunks that finish early wait as closed files, so any number of them can wait.
        let mut ready: BTreeMap<usize, TempPath> = BTreeMap::new();
        let mut next = 0;
        self.run(&NamedTempFile::new, &mut |pos, pages| {
            ready.insert(pos, pages.into_file().into_temp_path());
            while let Some(path) = ready.remove(&next) {
                io::copy(&mut File::open(&path)?, &mut out)?;
                next += 1;
            }
            // Downstream (`| gcagg flatten`) gets each chunk as soon as it is in order.
            out.flush()?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs the workers; `done` receives each finished chunk (by position in `work`), in
    /// the order they finish.
    fn run(
        &self,
        create: &(dyn Fn() -> io::Result<NamedTempFile> + Sync),
        done: &mut dyn FnMut(usize, PageFile) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel();
        let progress = self.client.progress();
        thread::scope(|scope| {
            for _ in 0..self.concurrency.clamp(1, self.work.len().max(1)) {
                let tx = tx.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || loop {
                    let pos = next.fetch_add(1, Ordering::Relaxed);
                    if pos >= self.work.len() || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let result = self.one(&self.work[pos], create, stop);
                    if result.is_err() {
                        // Start nothing new, even before the main thread hears of it.
                        stop.store(true, Ordering::Relaxed);
                    }
                    if tx.send((pos, result)).is_err() {
                        return;
                    }
                });
            }
            drop(tx);
            let (mut pages, mut rows) = (0, 0);
            let mut failure = None;
            for (pos, result) in rx {
                if failure.is_some() {
                    continue;
                }
                let work = &self.work[pos];
                let outcome = result.and_then(|file| {
                    let counts = (file.pages, file.rows);
                    done(pos, file)?;
                    Ok(counts)
                });
                match outcome {
                    Ok((p, r)) => {
                        progress.note(format!("{}: {p} pages, {r} rows", work.label));
                        (pages, rows) = (pages + p, rows + r);
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        failure = Some(if self.work.len() > 1 {
                            e.context(work.label.clone())
                        } else {
                            e
                        });
                    }
                }
            }
            match failure {
                Some(e) => Err(e),
                None => {
                    progress.note(format!("done: {} chunks, {pages} pages, {rows} rows", self.work.len()));
                    Ok(())
                }
            }
        })
    }

    /// Fetches one chunk into a new temporary file.
    fn one(
        &self,
        work: &Work,
        create: &(dyn Fn() -> io::Result<NamedTempFile> + Sync),
        stop: &AtomicBool,
    ) -> anyhow::Result<PageFile> {
        let mut pages = PageFile::new(create().context("creating a temporary file")?);
        self.query
            .fetch(self.client, &work.label, &work.body, &mut pages, stop)?;
        Ok(pages)
    }
}
