//! Flattening on every core.
//!
//! Each worker thread has a flattener of its own, with its own column registry, and renders
//! whole pages into memory, a batch at a time: NDJSON lines, or spool segments. The main
//! thread takes what each batch became, in page order: it merges the columns the batch
//! brought into the run's registry (which refuses a collision exactly as a single registry
//! would), then appends the batch's rows to the output. NDJSON rows name their columns, so they are final as the
//! worker wrote them; spool segments hold the worker's column ids, which its [`IdMap`] turns
//! into the run's on replay.
//!
//! A batch with a page that failed on its worker, or whose columns collide in the run's
//! registry, runs again on the main thread through the run's own flattener, page by page,
//! so any failure is reported exactly as without workers, after the same rows. (A worker's
//! registry knows no more than the run's: it can refuse a page the run would take, never
//! the reverse.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::columns::{Changes, IdMap};
use crate::flatten::{Flattener, Options, Tally};
use crate::output::{Append, Render, RowSink};
use crate::pages::{Entity, EntitySink, Gather, PageWorker};

/// More workers than this are not started by default: the one thread that splits the input
/// and the main thread that gathers the rows keep up with about this many.
const DEFAULT_MAX: usize = 8;

/// `GCAGG_THREADS` above this is lowered to it: each worker holds buffers, and threads past
/// a few per core only add contention (a million would exhaust memory or the thread limit).
const MAX_THREADS: usize = 256;

/// The number of worker threads to flatten on: `GCAGG_THREADS` if set, else one per core
/// up to [`DEFAULT_MAX`]; none on a single core, where the main thread does everything.
/// `GCAGG_THREADS` past [`MAX_THREADS`] is lowered to it, with a warning.
pub fn count() -> anyhow::Result<usize> {
    let threads = match std::env::var("GCAGG_THREADS") {
        Ok(n) => {
            let threads = n.trim().parse::<u128>().ok().filter(|&n| n > 0).ok_or_else(|| {
                crate::exit::usage(format!("GCAGG_THREADS={n}: expected a number of threads, at least 1"))
            })?;
            if threads > MAX_THREADS as u128 {
                eprintln!("gcagg: warning: GCAGG_THREADS={n}: using {MAX_THREADS} threads, the most gcagg starts");
            }
            usize::try_from(threads).map_or(MAX_THREADS, |t| t.min(MAX_THREADS))
        }
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get().min(DEFAULT_MAX)),
    };
    Ok(if threads > 1 { threads } else { 0 })
}

/// A flattener and the writer of its rows.
struct Rows<W> {
    flattener: Flattener,
    out: W,
}

impl<W: RowSink> EntitySink for Rows<W> {
    fn entity(&mut self, e: &Entity<'_>) -> anyhow::Result<()> {
        self.flattener.feed(&mut self.out).entity(e)
    }

    fn skipped(&mut self) {
        self.flattener.feed(&mut self.out).skipped();
    }
}

/// A worker thread's flattener, rendering rows with `L` into memory.
pub struct Worker<L>(Rows<L>);

impl<L> Worker<L> {
    /// A worker flattening with `opts` into `out`.
    pub fn new(opts: Options, out: L) -> anyhow::Result<Worker<L>> {
        Ok(Worker(Rows {
            flattener: Flattener::new(opts)?,
            out,
        }))
    }

    /// The stats `--stats` looked at on this worker.
    pub fn stats_seen(&self) -> &rustc_hash::FxHashSet<Box<str>> {
        self.0.flattener.stats_seen()
    }

    /// The (group key, id) pairs the `--names` tables did not name on this worker.
    pub fn unnamed(&self) -> &rustc_hash::FxHashSet<(Box<str>, Box<str>)> {
        self.0.flattener.unnamed()
    }
}

/// What a worker made of a batch of pages: whether it took every entity, the columns it
/// registered (or retyped) on the way, and the pages' rows.
pub struct Made<P> {
    ok: bool,
    changes: Changes,
    part: Option<P>,
    rows: u64,
    tally: Tally,
}

impl<L: RowSink> EntitySink for Worker<L> {
    fn entity(&mut self, e: &Entity<'_>) -> anyhow::Result<()> {
        self.0.entity(e)
    }

    fn skipped(&mut self) {
        self.0.skipped();
    }
}

impl<L: Render + Send> PageWorker for Worker<L>
where
    L::Part: Send,
{
    type Made = Made<L::Part>;

    fn page_end(&mut self) -> anyhow::Result<()> {
        self.0.out.end_page()
    }

    fn made(&mut self, ok: bool) -> Made<L::Part> {
        let changes = self.0.flattener.columns_mut().take_changes();
        let part = self.0.out.take().ok();
        Made {
            ok: ok && part.is_some(),
            changes,
            part,
            rows: self.0.flattener.take_rows(),
            tally: self.0.flattener.take_tally(),
        }
    }
}

/// The main thread's flattener: the run's column registry, the output, and where each
/// worker's column ids went in the registry.
pub struct Gatherer<O> {
    rows: Rows<O>,
    maps: Vec<IdMap>,
    /// The changes of the batch last refused, located once it has run here.
    refused: Changes,
    /// Rows made of the pages gathered so far, for progress.
    made: Arc<AtomicU64>,
    /// What the pages gathered since [`Gatherer::take_tally`] met.
    tally: Tally,
}

impl<O> Gatherer<O> {
    /// The run's flattener, writing to `out`, for `workers` workers.
    pub fn new(opts: Options, out: O, workers: usize) -> anyhow::Result<Gatherer<O>> {
        Ok(Gatherer {
            rows: Rows {
                flattener: Flattener::new(opts)?,
                out,
            },
            maps: (0..workers).map(|_| IdMap::default()).collect(),
            refused: Changes::default(),
            made: Arc::default(),
            tally: Tally::default(),
        })
    }

    /// The count of rows made so far, as pages are gathered (a worker's pages count once
    /// their batch is taken, those of a refused batch as each one runs here).
    pub fn rows_made(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.made)
    }

    /// What the pages gathered since the last call met (those of a refused batch count
    /// once, as they run here).
    pub fn take_tally(&mut self) -> Tally {
        let mut tally = std::mem::take(&mut self.tally);
        tally.add(self.rows.flattener.take_tally());
        tally
    }

    /// The stats `--stats` looked at on the main thread.
    pub fn stats_seen(&self) -> &rustc_hash::FxHashSet<Box<str>> {
        self.rows.flattener.stats_seen()
    }

    /// The (group key, id) pairs the `--names` tables did not name on the main thread.
    pub fn unnamed(&self) -> &rustc_hash::FxHashSet<(Box<str>, Box<str>)> {
        self.rows.flattener.unnamed()
    }

    /// Registers `columns` (safe names) before any row: they then come first among their
    /// kind, in this order, and are in the output even if no row has them. A sync dataset
    /// keeps its columns so across runs.
    pub fn seed(&mut self, columns: &[(String, crate::columns::Role)]) -> anyhow::Result<()> {
        let registry = self.rows.flattener.columns_mut();
        for (name, role) in columns {
            registry.intern(name, *role, || format!("the dataset's column `{name}`"))?;
        }
        Ok(())
    }

    /// The registry, the output, and the id map of each worker.
    pub fn finish(self) -> (crate::columns::Columns, O, Vec<IdMap>) {
        (self.rows.flattener.into_columns(), self.rows.out, self.maps)
    }
}

impl<O> Gatherer<O> {
    /// Adds `rows` to the rows made.
    fn counted(&self, rows: u64) {
        self.made.fetch_add(rows, Ordering::Relaxed);
    }
}

/// The id map of `worker`.
fn map_of(maps: &mut [IdMap], worker: usize) -> anyhow::Result<&mut IdMap> {
    maps.get_mut(worker)
        .ok_or_else(|| anyhow::anyhow!("internal error: no worker {worker}"))
}

impl<O: RowSink> EntitySink for Gatherer<O> {
    fn entity(&mut self, e: &Entity<'_>) -> anyhow::Result<()> {
        self.rows.entity(e)
    }

    fn skipped(&mut self) {
        self.rows.skipped();
    }
}

impl<P, O: RowSink + Append<P>> Gather<Made<P>> for Gatherer<O> {
    fn gather(&mut self, worker: usize, made: Made<P>) -> anyhow::Result<bool> {
        let map = map_of(&mut self.maps, worker)?;
        let columns = self.rows.flattener.columns_mut();
        let merged = made.ok && columns.merge(&made.changes, map).is_ok();
        match made.part {
            Some(part) if merged => {
                self.rows.out.append(columns, worker, map, part)?;
                self.counted(made.rows);
                self.tally.add(made.tally);
                Ok(true)
            }
            _ => {
                self.refused = made.changes;
                Ok(false)
            }
        }
    }

    fn reran(&mut self, worker: usize) -> anyhow::Result<()> {
        let changes = std::mem::take(&mut self.refused);
        let map = map_of(&mut self.maps, worker)?;
        // The batch ran here without error: every column it brought is in the registry now.
        let columns = self.rows.flattener.columns_mut();
        columns.locate(&changes, map)?;
        columns.merge_slots(&changes, map);
        Ok(())
    }

    fn page_end(&mut self) -> anyhow::Result<()> {
        let here = self.rows.flattener.take_rows();
        self.counted(here);
        self.rows.out.end_page()
    }

    fn batch_end(&mut self) -> anyhow::Result<()> {
        self.rows.out.end_page()
    }
}
