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
//!
//! Observation polls ([`poll`]) run the same way, one poll at a time: each poll's queries
//! are the pieces, written in order to stdout or the one `-o FILE`, or together into a new
//! file of their own in `-o DIR`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use anyhow::Context;

use crate::api::aggregates::Query;
use crate::api::observations;
use crate::api::page::PageFile;
use crate::api::query::Chunk;
use crate::api::time::ZonedTime;
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
    let fetch_one = |pos: usize, out: &mut PageFile, stop: &AtomicBool| {
        query.fetch(client, &work[pos].label, &work[pos].body, out, stop)
    };
    let fetcher = Fetcher {
        client,
        labels: work.iter().map(|w| w.label.clone()).collect(),
        fetch_one: &fetch_one,
        concurrency,
        noun: "chunk",
        summary: "done".into(),
        whole_writes: false,
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
            let create = |pos: usize| AtomicFile::create(&path.join(manifest::chunk_file(&work[pos].chunk)));
            fetcher.run(&create, &mut |pos, atomic, pages| {
                let chunk = &work[pos].chunk;
                let (count, rows) = (pages.pages, pages.rows);
                drop(pages.into_file());
                // The commit flushes the bytes to disk: the manifest may then call it complete.
                atomic.commit()?;
                manifest.complete(chunk.index, count, rows, ZonedTime::now().to_string());
                manifest.write(&path)
            })
        }
    }
}

/// Where observation bodies go.
pub enum PollTarget {
    /// Standard output, each body written whole before a signal may end the run.
    Stdout,
    /// One file for the whole run, renamed into place when the last poll is written.
    File(PathBuf),
    /// One new file per poll, named after the time it began; nothing is ever replaced.
    Dir(PathBuf),
}

/// How often to poll: `polls` polls, one every `every`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// How many polls.
    pub polls: u64,
    /// The time from the start of one poll to the start of the next.
    pub every: std::time::Duration,
}

/// Runs `schedule`'s polls of the observation `bodies` (one query each) into `target`.
///
/// Poll `k` starts `k` times `every` after the first; one that ends late (retries, rate
/// limits) makes the next start at once, so a run always makes every poll it announced.
/// The signal handler ends the process whatever this thread does, so the sleep between
/// polls never holds an interrupt back.
pub fn poll(
    client: &Arc<Client>,
    request: &observations::Request,
    bodies: &[String],
    schedule: Schedule,
    concurrency: usize,
    target: PollTarget,
) -> anyhow::Result<()> {
    let fetch_one = |pos: usize, out: &mut PageFile, _: &AtomicBool| {
        observations::fetch(client, &request.kind, &bodies[pos], out).map(drop)
    };
    let start = std::time::Instant::now();
    let every = client.policy().scaled(schedule.every);
    let fetcher = |k: u64| {
        let poll = match schedule.polls {
            1 => String::new(),
            n => format!("poll {}/{n}", k + 1),
        };
        let labels = (0..bodies.len())
            .map(|q| match (poll.as_str(), bodies.len()) {
                ("", 1) => "observations".to_owned(),
                ("", n) => format!("query {}/{n}", q + 1),
                (poll, 1) => poll.to_owned(),
                (poll, n) => format!("{poll} query {}/{n}", q + 1),
            })
            .collect();
        // Due at its place in the schedule, or at once if the poll before ran late.
        let due = start + every.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        Fetcher {
            client,
            labels,
            fetch_one: &fetch_one,
            concurrency,
            noun: "query",
            summary: if poll.is_empty() { "done".into() } else { poll },
            whole_writes: true,
        }
    };
    match target {
        PollTarget::Stdout => {
            let mut out = BufWriter::new(io::stdout().lock());
            for k in 0..schedule.polls {
                out = fetcher(k).in_order(out)?;
            }
            out.flush()?;
        }
        PollTarget::File(path) => {
            let (atomic, file) = AtomicFile::create(&path)?;
            let mut out = BufWriter::new(file);
            for k in 0..schedule.polls {
                out = fetcher(k).in_order(out)?;
            }
            drop(out.into_inner().map_err(io::IntoInnerError::into_error)?);
            atomic.commit()?;
        }
        PollTarget::Dir(path) => {
            for k in 0..schedule.polls {
                let fetcher = fetcher(k);
                let target = path.join(poll_file(&path, &ZonedTime::now_millis()));
                let (atomic, file) = AtomicFile::create(&target)?;
                let out = fetcher.in_order(BufWriter::new(file))?;
                drop(out.into_inner().map_err(io::IntoInnerError::into_error)?);
                atomic.commit_new()?;
            }
        }
    }
    if schedule.polls > 1 {
        client.progress().note(format!(
            "done: {}, {} each",
            counted(schedule.polls, "poll"),
            counted(bodies.len() as u64, "query")
        ));
    }
    Ok(())
}

/// The file of a poll that begins `at` in `dir`: `observations-20240501T101502.123Z.ndjson`
/// (names sort in time order), with `-2`, `-3`... if a file of that name is there already.
pub fn poll_file(dir: &Path, at: &ZonedTime) -> String {
    let stamp: String = at.to_string().chars().filter(|c| !matches!(c, '-' | ':')).collect();
    let mut name = format!("observations-{stamp}.ndjson");
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = format!("observations-{stamp}-{n}.ndjson");
    }
    name
}

/// Fetches one piece of work (by its position) into its file; `stop` says another failed.
type FetchOne<'a> = dyn Fn(usize, &mut PageFile, &AtomicBool) -> anyhow::Result<()> + Sync + 'a;

struct Fetcher<'a> {
    client: &'a Arc<Client>,
    /// How progress and errors name each piece, in order.
    labels: Vec<String>,
    fetch_one: &'a FetchOne<'a>,
    concurrency: usize,
    /// What a piece is called on the board and in the summary (`chunk`, `query`).
    noun: &'static str,
    /// How the summary line starts (`done`, `poll 3/960`).
    summary: String,
    /// Write each piece under the interrupt lock, so that a signal never cuts one in half
    /// on a stream (the lock is held while the reader takes it).
    whole_writes: bool,
}

impl Fetcher<'_> {
    /// Fetches all pieces into temporary files and writes them to `out` in order.
    fn in_order<W: Write>(&self, mut out: W) -> anyhow::Result<W> {
        // Pieces that finish early wait in anonymous files: nothing of them outlives the run.
        let mut ready: BTreeMap<usize, File> = BTreeMap::new();
        let mut next = 0;
        let scratch = |_: usize| {
            crate::interrupt::scratch_file()
                .map(|file| ((), file))
                .map_err(Into::into)
        };
        self.run(&scratch, &mut |pos, (), pages| {
            ready.insert(pos, pages.into_file());
            while let Some(mut file) = ready.remove(&next) {
                // Downstream (`| gcagg flatten`) gets each piece as soon as it is in order.
                let mut write = || -> io::Result<()> {
                    file.seek(SeekFrom::Start(0))?;
                    io::copy(&mut file, &mut out)?;
                    out.flush()
                };
                if self.whole_writes {
                    crate::interrupt::guarded(write)?;
                } else {
                    write()?;
                }
                next += 1;
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs the workers; `create` gives each piece its file (and what commits it), `done`
    /// receives each finished piece (by position), in the order they finish.
    fn run<S: Send>(
        &self,
        create: &(dyn Fn(usize) -> anyhow::Result<(S, File)> + Sync),
        done: &mut dyn FnMut(usize, S, PageFile) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let total = self.labels.len();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel();
        let progress = self.client.progress();
        let shown = progress.run(total as u64, self.noun);
        let shown = &shown;
        thread::scope(|scope| {
            for _ in 0..self.concurrency.clamp(1, total.max(1)) {
                let tx = tx.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || loop {
                    let pos = next.fetch_add(1, Ordering::Relaxed);
                    if pos >= total || stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let task = shown.task(&self.labels[pos]);
                    let result = self.one(pos, create, stop);
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
                let label = &self.labels[pos];
                let outcome = result.and_then(|(stage, file)| {
                    let counts = (file.pages, file.rows);
                    done(pos, stage, file)?;
                    Ok(counts)
                });
                match outcome {
                    Ok((p, r)) => {
                        shown.finished(label, p, r);
                        (pages, rows) = (pages + p, rows + r);
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        failure = Some(if total > 1 { e.context(label.clone()) } else { e });
                    }
                }
            }
            match failure {
                Some(e) => Err(e),
                None => {
                    progress.note(format!(
                        "{}: {}, {}, {}",
                        self.summary,
                        counted(total as u64, self.noun),
                        counted(pages, "page"),
                        counted(rows, "row")
                    ));
                    Ok(())
                }
            }
        })
    }

    /// Fetches piece `pos` into the new file `create` gives it.
    fn one<S>(
        &self,
        pos: usize,
        create: &(dyn Fn(usize) -> anyhow::Result<(S, File)> + Sync),
        stop: &AtomicBool,
    ) -> anyhow::Result<(S, PageFile)> {
        let (stage, file) = create(pos).context("creating a temporary file")?;
        let mut pages = PageFile::new(file);
        (self.fetch_one)(pos, &mut pages, stop)?;
        Ok((stage, pages))
    }
}
