//! The page scheduler: one source's pages read on a thread of their own (the splitter,
//! [`pages::split`]), parsed a batch at a time on the worker threads, and what each batch
//! became gathered on this thread in page order, with at most [`IN_FLIGHT_BYTES`] in flight.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::mpsc;

use crate::input::Source;
use crate::pages::{self, Batch, Entity, EntitySink, Gather, PageWorker, Piece, Scratch, BUFFERED_PAGE_LIMIT};

/// Reads every page of one source on `workers`, one batch of pages each in turn, and hands
/// what they made to `gather` in page order: the output is the same as if `gather` had taken
/// every page itself, with every core at work. The elements of a page too large to buffer go to
/// the workers in batches as small pages do. Returns how many pages the source held.
pub fn read_source_on<W: PageWorker>(
    source: &Source,
    workers: &mut [W],
    gather: &mut dyn Gather<W::Made>,
) -> anyhow::Result<u64> {
    read_pages(&source.name, || source.open(), workers, gather, BUFFERED_PAGE_LIMIT)
}

/// A batch handed to a worker: which worker, and its size.
struct InFlight {
    worker: usize,
    bytes: usize,
}

/// Batches handed to workers and not yet gathered hold at most this many bytes (and their
/// rows a few times as much), unless a single batch is larger: with many cores and large
/// pages, fewer workers are busy rather than memory growing with the core count.
const IN_FLIGHT_BYTES: usize = 32 << 20;

/// [`read_source_on`] with the opening and the buffering limit as parameters (see
/// [`read_alone`]).
fn read_pages<R: BufRead, W: PageWorker>(
    name: &str,
    open: impl FnOnce() -> anyhow::Result<R> + Send,
    workers: &mut [W],
    gather: &mut dyn Gather<W::Made>,
    limit: usize,
) -> anyhow::Result<u64> {
    // Batches in flight: one being parsed and one waiting per parser; the splitter fills one more.
    let (tx, rx) = mpsc::sync_channel(1);
    let (spare_tx, spare_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || match open() {
            Ok(mut reader) => pages::split(name, &mut reader, limit, &tx, &spare_rx),
            Err(err) => {
                let _ = tx.send(Piece::Failed(err));
            }
        });
        let mut to_workers = Vec::with_capacity(workers.len());
        let mut from_workers = Vec::with_capacity(workers.len());
        for worker in workers.iter_mut() {
            let (to, batches) = mpsc::sync_channel::<Batch>(1);
            let (done, from) = mpsc::sync_channel(1);
            scope.spawn(move || {
                let mut spare = Scratch::default();
                for batch in batches {
                    let mut scratch = spare;
                    // The first failure ends the batch: it all runs again on the main thread.
                    let ok = batch.parse_on_worker(worker, &mut scratch);
                    spare = scratch.recycle();
                    let made = worker.made(ok);
                    if done.send((batch, made)).is_err() {
                        return;
                    }
                }
            });
            to_workers.push(to);
            from_workers.push(from);
        }
        let mut pieces = Pieces {
            name,
            rx,
            spare: spare_tx,
            gather,
            from_workers,
            in_flight: VecDeque::new(),
            pages: 0,
            scratch: Scratch::default(),
        };
        // Dropping `to_workers` (here or on an early return) ends the workers' loops.
        pieces.run(to_workers)
    })
}

/// Reads every page of `reader` into `sink` on this thread (the splitter on its own),
/// buffering pages of up to `limit` bytes and cutting larger ones into parts: how the fuzz
/// targets and the parser's tests drive the parser at every size in-process.
pub(crate) fn read_alone(
    name: &str,
    reader: impl BufRead + Send,
    limit: usize,
    sink: &mut dyn EntitySink,
) -> anyhow::Result<u64> {
    read_pages::<_, NoWorker>(name, || Ok(reader), &mut [], &mut Alone(sink), limit)
}

/// The whole work of a run without workers: a sink.
struct Alone<'a>(&'a mut dyn EntitySink);

impl EntitySink for Alone<'_> {
    fn entity(&mut self, entity: &Entity<'_>) -> anyhow::Result<()> {
        self.0.entity(entity)
    }
}

/// The worker of a run without workers: there is none.
enum NoWorker {}

impl EntitySink for NoWorker {
    fn entity(&mut self, _: &Entity<'_>) -> anyhow::Result<()> {
        match *self {}
    }
}

impl PageWorker for NoWorker {
    type Made = std::convert::Infallible;
    fn page_end(&mut self) -> anyhow::Result<()> {
        match *self {}
    }
    fn made(&mut self, _: bool) -> Self::Made {
        match *self {}
    }
}

impl Gather<std::convert::Infallible> for Alone<'_> {
    fn gather(&mut self, _: usize, made: std::convert::Infallible) -> anyhow::Result<bool> {
        match made {}
    }
    fn reran(&mut self, _: usize) -> anyhow::Result<()> {
        Ok(())
    }
    fn page_end(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    fn batch_end(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The main thread's loop of [`read_pages`].
struct Pieces<'a, M> {
    name: &'a str,
    rx: mpsc::Receiver<Piece>,
    spare: mpsc::Sender<Batch>,
    gather: &'a mut dyn Gather<M>,
    from_workers: Vec<mpsc::Receiver<(Batch, M)>>,
    in_flight: VecDeque<InFlight>,
    /// Pages seen so far.
    pages: u64,
    /// The buffers of the pages run here (see [`Scratch::recycle`]).
    scratch: Scratch<'static>,
}

impl<M> Pieces<'_, M> {
    /// Hands batches to the workers in turn and gathers what they made in page order.
    /// Returns the number of pages, or the first failure.
    fn run(&mut self, to_workers: Vec<mpsc::SyncSender<Batch>>) -> anyhow::Result<u64> {
        let workers = to_workers.len();
        let mut next = 0;
        while let Ok(piece) = self.rx.recv() {
            if let Piece::Pages(batch) = &piece {
                self.pages += batch.len() as u64;
            }
            match piece {
                Piece::Pages(batch) if workers > 0 => {
                    // Two batches per worker at most (each channel then has room for the
                    // next), and at most IN_FLIGHT_BYTES of them unless one alone is more.
                    let size = batch.bytes();
                    let held = |in_flight: &VecDeque<InFlight>| in_flight.iter().map(|f| f.bytes).sum::<usize>();
                    while self.in_flight.len() == 2 * workers
                        || (!self.in_flight.is_empty() && held(&self.in_flight) + size > IN_FLIGHT_BYTES)
                    {
                        self.gather_next()?;
                    }
                    to_workers[next]
                        .send(batch)
                        .map_err(|_| anyhow::anyhow!("internal error: a page worker stopped"))?;
                    self.in_flight.push_back(InFlight {
                        worker: next,
                        bytes: size,
                    });
                    next = (next + 1) % workers;
                }
                Piece::Pages(batch) => self.run_here(batch)?,
                Piece::Failed(err) => {
                    // Every page before the failure is written first, as without workers.
                    self.gather_all()?;
                    return Err(err);
                }
            }
        }
        self.gather_all()?;
        Ok(self.pages)
    }

    /// Parses a batch of pages here, each reporting its own failure.
    fn run_here(&mut self, batch: Batch) -> anyhow::Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let ran = batch.parse_here(self.name, &mut *self.gather, &mut scratch);
        self.scratch = scratch.recycle();
        ran?;
        let _ = self.spare.send(batch);
        Ok(())
    }

    /// Gathers what was made of the oldest batch in flight (running it here if refused).
    fn gather_next(&mut self) -> anyhow::Result<()> {
        let Some(InFlight { worker, .. }) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let (batch, made) = self.from_workers[worker]
            .recv()
            .map_err(|_| anyhow::anyhow!("internal error: a page worker stopped"))?;
        if self.gather.gather(worker, made)? {
            let _ = self.spare.send(batch);
            return Ok(());
        }
        self.run_here(batch)?;
        self.gather.reran(worker)
    }

    fn gather_all(&mut self) -> anyhow::Result<()> {
        while !self.in_flight.is_empty() {
            self.gather_next()?;
        }
        Ok(())
    }
}
