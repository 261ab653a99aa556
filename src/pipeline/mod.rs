//! The engine behind `flatten`, `schema` and `sync`: every source read on the worker
//! threads ([`crate::workers`]) into the run's output, streamed straight out (NDJSON) or kept
//! in a spool until every column is known (CSV, Parquet, datasets) and written from it.
//!
//! The commands decide what to read and where the rows go; this module decides how, and
//! starts every thread of a run:
//!
//! - the splitter, one per source, reading and cutting its pages ([`schedule`]);
//! - the page workers, one per core, parsing and flattening batches of pages ([`schedule`]);
//! - the spool's file writer, beside the reading ([`start`], handed to
//!   [`Spool`] as a [`Spawn`](crate::output::Spawn));
//! - the replay's renderers, one per core, turning spooled segments into CSV lines or Parquet
//!   fragments ([`replay_in_parallel`]);
//! - Parquet's page encoders, one per core, beside the writing ([`start`], handed to
//!   [`ParquetWriter::with_page_threads`]).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::atomic::AtomicDir;
use crate::columns::{ColumnId, Columns, IdMap, Layout, Role};
use crate::exit::usage;
use crate::flatten::Options;
use crate::input::{self, Source};
use crate::output::csv::CsvWriter;
use crate::output::format::{FileFormat, Format};
use crate::output::long::Expand;
use crate::output::ndjson::{LongParts, NdjsonWriter};
use crate::output::parquet::check::Checked;
use crate::output::parquet::writer::ParquetWriter;
use crate::output::partition::{self, Partitioned};
use crate::output::spool::{Segments, Spool, SEGMENT_BYTES};
use crate::output::{Append, BufferPool, Discard, Output, Render, RowSink, RowWriter};
use crate::progress::{counted, say, Meter};
use crate::workers::{self, Gatherer, Worker};

mod schedule;

pub(crate) use schedule::read_alone;

/// Flattens `sources` straight into NDJSON lines on `out` (NDJSON rows need no header), on
/// `workers` threads; `meter` may start a progress meter on the count of rows made. A stream keeps every row before a data error; the reading error wins
/// over a failure to finish the output.
pub fn stream(
    options: &Options,
    sources: &[Source],
    out: Output,
    workers: usize,
    meter: impl FnOnce(Arc<AtomicU64>) -> Option<Meter>,
) -> anyhow::Result<()> {
    let layout = options.layout;
    let pool = BufferPool::default();
    let writer = Expand::new(NdjsonWriter::new(out, pool.clone()), layout);
    let mut gatherer = gatherer(options, writer, workers)?;
    let _meter = meter(gatherer.rows_made());
    // Wide rows are rendered on the workers; long ones made of their parts here (see
    // `LongParts`).
    let read = match layout {
        Layout::Wide | Layout::Observations => read_all(options, sources, &mut gatherer, workers, || {
            Expand::new(NdjsonWriter::in_memory(pool.clone()), layout)
        }),
        Layout::Long => read_all(options, sources, &mut gatherer, workers, || {
            LongParts::new(pool.clone())
        }),
    };
    let finished = Box::new(gatherer.finish().1).finish();
    read.and(finished)
}

/// Reads every source into a spool, on `workers` threads, the columns of `seed` registered
/// first; `check`: every row is checked against its Parquet type on its way in, see
/// [`Checked`]. Returns the spooled rows, and the meter `meter` started (to keep it through
/// the writing, which can take as long again).
pub fn spool_all(
    options: &Options,
    sources: &[Source],
    check: bool,
    workers: usize,
    seed: &[(String, Role)],
    meter: impl FnOnce(Arc<AtomicU64>) -> Option<Meter>,
) -> anyhow::Result<(Spooled, Option<Meter>)> {
    let pool = BufferPool::default();
    let mut gatherer = gatherer(options, Checked::new(Spool::new(pool.clone(), start)?, check), workers)?;
    gatherer.seed(seed)?;
    let meter = meter(gatherer.rows_made());
    read_all(options, sources, &mut gatherer, workers, || {
        Checked::new(Segments::new(pool.clone(), SEGMENT_BYTES), check)
    })?;
    let (columns, spool, maps) = gatherer.finish();
    let spool = spool.into_inner();
    Ok((Spooled { columns, spool, maps }, meter))
}

/// A whole input read into a spool: its columns, its rows, and each worker's id map.
pub struct Spooled {
    columns: Columns,
    spool: Spool,
    maps: Vec<IdMap>,
}

impl Spooled {
    /// Writes the spooled rows to `out` as one CSV or Parquet file (or stream), rendering
    /// them (and encoding Parquet pages) on `workers` threads while this thread writes;
    /// with no workers, on one thread beside it.
    pub fn write_file(self, out: Output, file: &FileFormat, layout: Layout, workers: usize) -> anyhow::Result<()> {
        let Spooled { columns, spool, maps } = self;
        let header = columns.header();
        let threads = workers.max(1);
        if file.format == Format::Csv {
            let mut writer = CsvWriter::new(out, &columns, &header, file.keep_nulls);
            let lines = writer.renderer();
            let make = || Expand::new(lines.clone(), layout);
            replay_in_parallel(spool, &columns, &maps, threads, make, |part| writer.write_lines(&part))?;
            Box::new(writer).finish()
        } else {
            let mut writer = ParquetWriter::new(out, &columns, &header, file.keep_nulls, file.parquet)?
                .with_page_threads(workers, start)?;
            let fragments = writer.renderer();
            let make = || Expand::new(fragments.fresh(), layout);
            replay_in_parallel(spool, &columns, &maps, threads, make, |part| {
                writer.write_fragment(part)
            })?;
            Box::new(writer).finish()
        }
    }

    /// Writes the spooled rows into the dataset staged in `staging`, partitioned by `keys`,
    /// and renames it into place; returns its columns.
    pub fn write_dataset(
        self,
        staging: AtomicDir,
        file: &FileFormat,
        keys: &[String],
        layout: Layout,
    ) -> anyhow::Result<Columns> {
        let Spooled { columns, spool, maps } = self;
        let mut writer = Expand::new(dataset_writer(file, keys, staging, &columns)?, layout);
        spool.replay(&columns, &maps, &mut writer)?;
        Box::new(writer).finish()?;
        Ok(columns)
    }
}

/// Flattens `sources` into a new dataset at `target`, partitioned by `keys` (replacing what
/// is there), with the columns of `seed` first and always present; returns its columns.
pub fn write_dataset(
    options: &Options,
    sources: &[Source],
    file: &FileFormat,
    keys: &[String],
    target: &Path,
    seed: &[(String, Role)],
) -> anyhow::Result<Columns> {
    let workers = workers::count()?;
    let staging = AtomicDir::create(target)?;
    let check = file.format == Format::Parquet;
    let (spooled, _) = spool_all(options, sources, check, workers, seed, |_| None)?;
    spooled.write_dataset(staging, file, keys, options.layout)
}

/// Renders every row of `spool` on `threads` threads, each with its own renderer from `make`,
/// and hands the parts to `write` on this thread, in the rows' order.
///
/// Segments go to the threads in order, each to the one with the fewest bytes so far (the
/// segments of worker threads end with their pages, so their sizes vary); each thread takes
/// its own in order and holds at most one part ready, so memory stays at a few segments
/// whatever the spool's size.
fn replay_in_parallel<R: Render + Send>(
    spool: Spool,
    columns: &Columns,
    maps: &[IdMap],
    threads: usize,
    make: impl Fn() -> R + Sync,
    mut write: impl FnMut(R::Part) -> anyhow::Result<()>,
) -> anyhow::Result<()>
where
    R::Part: Send,
{
    let stored = spool.store()?;
    let threads = threads.clamp(1, stored.len().max(1));
    let mut load = vec![0usize; threads];
    let owners: Vec<usize> = (0..stored.len())
        .map(|at| {
            let (owner, _) = load
                .iter()
                .enumerate()
                .min_by_key(|&(_, &bytes)| bytes)
                .unwrap_or((0, &0));
            load[owner] += stored.segment_len(at);
            owner
        })
        .collect();
    let (stored, owners) = (&stored, &owners);
    std::thread::scope(|scope| {
        let mut parts: Vec<Receiver<anyhow::Result<R::Part>>> = Vec::with_capacity(threads);
        for thread in 0..threads {
            let (send, receive) = sync_channel(1);
            parts.push(receive);
            let make = &make;
            scope.spawn(move || {
                let mut render = make();
                let mut buffer = Vec::new();
                for at in (0..stored.len()).filter(|&at| owners[at] == thread) {
                    let part = stored
                        .rows(at, maps, &mut buffer, |cells, shared| {
                            render.row(columns, cells, shared)
                        })
                        .and_then(|()| render.take());
                    let failed = part.is_err();
                    // The receiver is gone when writing failed: stop quietly.
                    if send.send(part).is_err() || failed {
                        return;
                    }
                }
            });
        }
        let written = (0..stored.len()).try_for_each(|at| {
            let part = parts[owners[at]]
                .recv()
                .map_err(|_| anyhow::anyhow!("internal error: a row rendering thread stopped early"))??;
            write(part)
        });
        // Dropping the receivers stops the renderers at their next part.
        drop(parts);
        written
    })
}

/// Starts `body` on a thread of its own: the spool's file writer and Parquet's page encoders
/// are started here (see [`Spawn`](crate::output::Spawn)), to run beside the pipeline's own
/// threads until their writer is finished.
fn start<T: Send + 'static>(body: Box<dyn FnOnce() -> T + Send>) -> JoinHandle<T> {
    std::thread::spawn(body)
}

/// The writer of a dataset staged in `staging`, partitioned by `keys`, once `columns` holds
/// every column.
fn dataset_writer(
    file: &FileFormat,
    keys: &[String],
    staging: AtomicDir,
    columns: &Columns,
) -> anyhow::Result<Box<dyn RowWriter>> {
    let mut in_path = Vec::new();
    for key in keys {
        in_path.extend(partition::key_column(columns, key)?);
    }
    let header: Vec<ColumnId> = columns
        .header()
        .into_iter()
        .filter(|id| !in_path.contains(id))
        .collect();
    let gz = if file.gzip { ".gz" } else { "" };
    let ext = format!("{}{gz}", file.format.extension());
    let file = file.clone();
    let opener = Box::new(move |data: std::fs::File, columns: &Columns| {
        file.writer(Output::file(data, file.gzip), columns, &header)
    });
    Ok(Box::new(Partitioned::new(staging, keys.to_vec(), ext, opener)))
}

/// The run's flattener writing to `out`; colliding `--add-column` names are a usage error.
fn gatherer<O>(options: &Options, out: O, workers: usize) -> anyhow::Result<Gatherer<O>> {
    Gatherer::new(options.clone(), out, workers).map_err(|e| usage(format!("{e:#}")))
}

/// Reads every source, on `workers` threads rendering into writers from `local` (none: all
/// on this thread).
fn read_all<O, L>(
    options: &Options,
    sources: &[Source],
    gatherer: &mut Gatherer<O>,
    workers: usize,
    local: impl Fn() -> L,
) -> anyhow::Result<()>
where
    O: RowSink + Append<L::Part>,
    L: Render + Send,
    L::Part: Send,
{
    let mut workers = (0..workers)
        .map(|_| Worker::new(options.clone(), local()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut pages = 0;
    let mut skipped = 0;
    let mut entries = 0;
    for source in sources {
        pages += schedule::read_source_on(source, &mut workers, gatherer)?;
        let tally = gatherer.take_tally();
        skipped += tally.skipped;
        entries += tally.entries;
        if tally.unobserved > 0 {
            say(format!(
                "warning: {}: {} without an observed time (no gcaggObservedAt envelope before them): observed_at left empty; give it with --observed-at TIME",
                source.name,
                counted(tally.unobserved, "observation row")
            ));
        }
    }
    if skipped > 0 {
        say(format!(
            "skipped {} (heartbeats, subscription answers, closing warnings): they hold no data",
            counted(skipped, "notification control message")
        ));
    }
    match (options.layout, entries) {
        (Layout::Observations, 0) if pages > 0 => say(
            "warning: no `observations[]` entry in the input, so no row: observation queries have them for their detailMetrics (fetch --observations --detail-metrics)"
                .to_owned(),
        ),
        (Layout::Observations, _) | (_, 0) => {}
        _ => say(format!(
            "warning: {} of observation queries not written (one per waiting or interacting conversation): --layout observations writes them",
            counted(entries, "`observations[]` entry")
        )),
    }
    // An empty folder has been named already; empty files or stdin are said here.
    if pages == 0 && !sources.is_empty() {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        say(format!(
            "warning: no page read: {} held no response page",
            input::list(&names)
        ));
    } else if !options.stats.is_empty() {
        let mut seen: BTreeSet<&str> = gatherer.stats_seen().iter().map(AsRef::as_ref).collect();
        for worker in &workers {
            seen.extend(worker.stats_seen().iter().map(AsRef::as_ref));
        }
        if let Some(warning) = unmatched_stats(&options.stats, &seen) {
            say(format!("warning: {warning}"));
        }
    }
    if let Some(names) = &options.names {
        let mut unnamed: BTreeSet<&(Box<str>, Box<str>)> = gatherer.unnamed().iter().collect();
        for worker in &workers {
            unnamed.extend(worker.unnamed());
        }
        if let Some(warning) = unnamed_ids(&names.source, &unnamed) {
            say(format!("warning: {warning}"));
        }
    }
    Ok(())
}

/// The warning for the ids (group key, id) that the `--names` tables at `source` lack, if any.
fn unnamed_ids(source: &str, unnamed: &BTreeSet<&(Box<str>, Box<str>)>) -> Option<String> {
    if unnamed.is_empty() {
        return None;
    }
    let mut per_key: Vec<(&str, u64)> = Vec::new();
    for (key, _) in unnamed {
        match per_key.last_mut() {
            Some((last, n)) if *last == &**key => *n += 1,
            _ => per_key.push((key, 1)),
        }
    }
    let per_key: Vec<String> = per_key.iter().map(|(key, n)| format!("{key} {n}")).collect();
    Some(format!(
        "--names {source}: no name for {} ({}): left empty",
        counted(unnamed.len() as u64, "id"),
        per_key.join(", ")
    ))
}

/// The warning for `--stats` names that matched no stat of the input (`seen`), if any.
fn unmatched_stats(asked: &[String], seen: &BTreeSet<&str>) -> Option<String> {
    let unmatched: Vec<&str> = asked.iter().map(String::as_str).filter(|s| !seen.contains(s)).collect();
    if unmatched.is_empty() {
        return None;
    }
    let had = if seen.is_empty() {
        "the input has no stats it applies to".to_owned()
    } else {
        let seen: Vec<&str> = seen.iter().copied().collect();
        format!("the input's stats are {}", seen.join(", "))
    };
    Some(format!("--stats {}: matched no stat; {had}", unmatched.join(",")))
}

/// Learns every column of the output of `sources`, writing nothing (all of `gcagg schema`).
pub fn scan(options: Options, sources: &[Source]) -> anyhow::Result<Columns> {
    let workers = workers::count()?;
    let mut gatherer = gatherer(&options, Discard, workers)?;
    read_all(&options, sources, &mut gatherer, workers, || Discard)?;
    Ok(gatherer.finish().0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Cell;

    /// Keeps the rows it is given, with their shared counts, as its parts.
    #[derive(Default)]
    struct Rows(Vec<String>);

    impl RowSink for Rows {
        fn row(&mut self, _: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
            self.0.push(format!("{shared} {cells:?}"));
            Ok(())
        }
    }

    impl Render for Rows {
        type Part = Vec<String>;

        fn take(&mut self) -> anyhow::Result<Vec<String>> {
            Ok(std::mem::take(&mut self.0))
        }
    }

    /// Rows of entities of a few cells each, the later ones sharing their entity's head.
    fn entities(spool: &mut dyn RowSink, expected: &mut Rows) {
        let columns = Columns::default();
        let texts: Vec<String> = (0..3000).map(|n| format!("v{n}")).collect();
        for (n, text) in texts.iter().enumerate() {
            let head = (0, Cell::Text(text.as_str()));
            for value in 0..n % 4 + 1 {
                let shared = usize::from(value > 0);
                let cells = [head, (1, Cell::Raw(["1", "2.5", "-3", "4e2"][value]))];
                spool.row(&columns, &cells, shared).unwrap();
                RowSink::row(expected, &columns, &cells, shared).unwrap();
            }
        }
    }

    #[test]
    fn parallel_replay_keeps_the_order_across_segments_and_threads() {
        for threads in [1, 2, 3, 8] {
            let mut spool = Spool::with_segment_bytes(BufferPool::default(), 100, start).unwrap();
            let mut expected = Rows::default();
            entities(&mut spool, &mut expected);
            let mut parts = 0;
            let mut replayed = Vec::new();
            replay_in_parallel(spool, &Columns::default(), &[], threads, Rows::default, |part| {
                parts += 1;
                replayed.extend(part);
                Ok(())
            })
            .unwrap();
            assert_eq!(replayed, expected.0, "{threads} threads");
            assert!(parts > 50);
        }
    }

    #[test]
    fn a_failed_write_stops_the_replay_with_its_error() {
        let mut spool = Spool::with_segment_bytes(BufferPool::default(), 100, start).unwrap();
        entities(&mut spool, &mut Rows::default());
        let mut parts = 0;
        let err = replay_in_parallel(spool, &Columns::default(), &[], 2, Rows::default, |_| {
            parts += 1;
            anyhow::ensure!(parts < 3, "disk full");
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(parts, 3);
    }

    #[test]
    fn replays_rows_and_shared_heads_as_written() {
        let columns = Columns::default();
        let rows: Vec<(Vec<(ColumnId, Cell)>, usize)> = vec![
            (
                vec![
                    (0, Cell::Text("q-été, \"x\"")),
                    (300, Cell::Raw("1.5e3")),
                    (2, Cell::Null),
                ],
                0,
            ),
            (
                vec![
                    (0, Cell::Text("q-été, \"x\"")),
                    (300, Cell::Raw("7")),
                    (5, Cell::Raw("0")),
                ],
                1,
            ),
            (vec![(0, Cell::Text("q-été, \"x\"")), (300, Cell::Raw("8"))], 1),
            (vec![], 0),
            (vec![(1, Cell::Text(""))], 0),
        ];
        let mut spool = Spool::new(BufferPool::default(), start).unwrap();
        let mut expected = Rows::default();
        for (cells, shared) in &rows {
            spool.row(&columns, cells, *shared).unwrap();
            RowSink::row(&mut expected, &columns, cells, *shared).unwrap();
        }
        let mut replayed = Rows::default();
        spool.replay(&columns, &[], &mut replayed).unwrap();
        assert_eq!(replayed.0, expected.0);
    }
}
