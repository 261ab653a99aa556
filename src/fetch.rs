//! Runs the chunks of a fetch and puts their pages where they belong.
//!
//! Each chunk is fetched by a worker thread (`--concurrency` of them) into a temporary file
//! that holds only complete pages. The main thread takes the finished files: for stdout or
//! `-o FILE` it writes them out strictly in chunk order (a chunk that finishes early waits
//! in an anonymous scratch file, on disk, not in memory); for `-o DIR` each chunk is an
//! [`AtomicFile`] beside its target, renamed into place as soon as it is complete and then
//! recorded in the manifest, so an interruption loses no finished chunk and leaves no
//! partial one. The first failure stops the workers from starting new work and is the one
//! reported.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use anyhow::Context;

use crate::api::aggregates::Query;
use crate::api::page::PageFile;
use crate::api::query::Chunk;
use crate::api::time::Instant;
use crate::api::Client;
use crate::atomic::AtomicFile;
use crate::manifest::{self, Manifest};
use crate::progress::counted;

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
pub fn fetch(
    client: &Arc<Client>,
    query: &Query,
    work: &[Work],
    concurrency: usize,
    target: Target,
) -> anyhow::Result<()> {
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
            let (atomic, file) = AtomicFile::create(&path)?;
            let out = fetcher.in_order(BufWriter::new(file))?;
            drop(out.into_inner().map_err(io::IntoInnerError::into_error)?);
            atomic.commit()
        }
        Target::Dir { path, mut manifest } => {
            let create = |work: &Work| AtomicFile::create(&path.join(manifest::chunk_file(&work.chunk)));
            fetcher.run(&create, &mut |pos, atomic, pages| {
                let chunk = &work[pos].chunk;
                let (count, rows) = (pages.pages, pages.rows);
                drop(pages.into_file());
                // The commit flushes the bytes to disk: the manifest may then call it complete.
                atomic.commit()?;
                manifest.complete(chunk.index, count, rows, Instant::now().to_string());
                manifest.write(&path)
            })
        }
    }
}

struct Fetcher<'a> {
    client: &'a Arc<Client>,
    query: &'a Query,
    work: &'a [Work],
    concurrency: usize,
}

impl Fetcher<'_> {
    /// Fetches all chunks into temporary files and writes them to `out` in chunk order.
    fn in_order<W: Write>(&self, mut out: W) -> anyhow::Result<W> {
        // Chunks that finish early wait in anonymous files: nothing of them outlives the run.
        let mut ready: BTreeMap<usize, File> = BTreeMap::new();
        let mut next = 0;
        let scratch = |_: &Work| {
            crate::interrupt::scratch_file()
                .map(|file| ((), file))
                .map_err(Into::into)
        };
        self.run(&scratch, &mut |pos, (), pages| {
            ready.insert(pos, pages.into_file());
            while let Some(mut file) = ready.remove(&next) {
                file.seek(SeekFrom::Start(0))?;
                io::copy(&mut file, &mut out)?;
                next += 1;
            }
            // Downstream (`| gcagg flatten`) gets each chunk as soon as it is in order.
            out.flush()?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs the workers; `create` gives each chunk its file (and what commits it), `done`
    /// receives each finished chunk (by position in `work`), in the order they finish.
    fn run<S: Send>(
        &self,
        create: &(dyn Fn(&Work) -> anyhow::Result<(S, File)> + Sync),
        done: &mut dyn FnMut(usize, S, PageFile) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel();
        let progress = self.client.progress();
        let shown = progress.run(self.work.len() as u64, "chunk");
        let shown = &shown;
        thread::scope(|scope| {
            for _ in 0..self.concurrency.clamp(1, self.work.len().max(1)) {
                let tx = tx.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || loop {
                    let pos = next.fetch_add(1, Ordering::Relaxed);
                    if pos >= self.work.len() || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let task = shown.task(&self.work[pos].label);
                    let result = self.one(&self.work[pos], create, stop);
                    drop(task);
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
                let outcome = result.and_then(|(stage, file)| {
                    let counts = (file.pages, file.rows);
                    done(pos, stage, file)?;
                    Ok(counts)
                });
                match outcome {
                    Ok((p, r)) => {
                        shown.finished(&work.label, p, r);
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
                    progress.note(format!(
                        "done: {}, {}, {}",
                        counted(self.work.len() as u64, "chunk"),
                        counted(pages, "page"),
                        counted(rows, "row")
                    ));
                    Ok(())
                }
            }
        })
    }

    /// Fetches one chunk into the new file `create` gives it.
    fn one<S>(
        &self,
        work: &Work,
        create: &(dyn Fn(&Work) -> anyhow::Result<(S, File)> + Sync),
        stop: &AtomicBool,
    ) -> anyhow::Result<(S, PageFile)> {
        let (stage, file) = create(work).context("creating a temporary file")?;
        let mut pages = PageFile::new(file);
        self.query
            .fetch(self.client, &work.label, &work.body, &mut pages, stop)?;
        Ok((stage, pages))
    }
}
