//! Progress and request logs on stderr.
//!
//! How progress shows is decided once, from `--progress`, `--quiet` and `--verbose`:
//!
//! - a board (`bar`, and `auto` when stderr is a terminal): one status line per running task
//!   (a chunk of `fetch`, a type of `names`) updated in place, under a line of totals; drawn
//!   by indicatif and cleared when the run ends;
//! - plain lines (`plain`), for logs: one per finished task and one per retry, each naming
//!   its task;
//! - every event as a line (`--verbose` without `--progress`): job polls and async pages too;
//! - nothing (`none`, `--quiet`, and `auto` when stderr is not a terminal).
//!
//! `flatten` has no such flags: its [`Meter`] (bytes read, rows made) shows on a terminal
//! once a run has lasted [`METER_DELAY`].
//!
//! `--verbose` adds one line per request and answer. Each line is one `eprintln!`, so lines
//! of concurrent workers never interleave; it starts `gcagg: ` as every line gcagg writes to
//! stderr does, and goes above the board when one is drawn ([`say`]). Callers pass no secret
//! here: request logs are built with the `Authorization` value redacted, and any secret the
//! server echoes is blanked (see `redact`).

use std::cell::RefCell;
use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::redact::redact;

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The live board when stderr is a terminal, else nothing.
    Auto,
    /// One line per finished chunk and per retry, naming the chunk: for logs.
    Plain,
    /// The live board, even when stderr is not a terminal.
    Bar,
    /// Nothing, as --quiet.
    None,
}

/// What is shown, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    Nothing,
    /// Every event as a line, as `--verbose` always had them.
    Every,
    Plain,
    /// The board; `forced`: drawn even when stderr is not a terminal.
    Board {
        forced: bool,
    },
}

/// Where progress goes, decided once.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    show: Show,
    verbose: bool,
}

impl Progress {
    /// Progress as `--progress auto` shows it unless `quiet`; every event and request as a
    /// line when `verbose`.
    pub fn new(quiet: bool, verbose: bool) -> Progress {
        let show = match (quiet, verbose) {
            (_, true) => Show::Every,
            (true, false) => Show::Nothing,
            (false, false) => auto(),
        };
        Progress { show, verbose }
    }

    /// The same, shown as an explicit `--progress` says (request logs stay as they were).
    pub fn with_mode(self, mode: Mode) -> Progress {
        let show = match mode {
            Mode::Auto => auto(),
            Mode::Plain => Show::Plain,
            Mode::Bar => Show::Board { forced: true },
            Mode::None => Show::Nothing,
        };
        Progress { show, ..self }
    }

    /// A progress line: said whenever progress is shown, above the board if one is drawn.
    pub fn note(&self, msg: impl Display) {
        if self.show != Show::Nothing {
            say(redact(&msg.to_string()));
        }
    }

    /// A request log line (`--verbose`).
    pub fn debug(&self, msg: impl Display) {
        if self.verbose {
            say(redact(&msg.to_string()));
        }
    }

    /// Where the task `label` running on this thread is (a job's state, a page read): its
    /// status line on the board, a line when every event is shown, else nothing.
    pub fn status(&self, label: &str, msg: impl Display) {
        match self.show {
            Show::Every => say(redact(&format!("{label}: {msg}"))),
            Show::Board { .. } => CURRENT.with(|current| {
                if let Some(task) = &*current.borrow() {
                    task.line.set_message(redact(&msg.to_string()).into_owned());
                }
            }),
            Show::Nothing | Show::Plain => {}
        }
    }

    /// A request `what` to be sent again after `wait` (retry `retry` of `max`) because of
    /// `cause`; named by the task running on this thread, if any.
    pub fn retry(&self, what: &str, cause: &str, retry: u32, max: u32, wait: Duration) {
        let tail = format!("{cause}; retry {retry}/{max} in {:.1}s", wait.as_secs_f64());
        CURRENT.with(|current| {
            let current = current.borrow();
            match (self.show, &*current) {
                (Show::Nothing, _) => {}
                (Show::Every, Some(task)) => say(redact(&format!("{}: {what}: {tail}", task.label))),
                (Show::Plain, Some(task)) => say(redact(&format!("{}: {tail}", task.label))),
                (Show::Board { .. }, Some(task)) => {
                    task.line.set_message(redact(&tail).into_owned());
                    task.shared.tally(|t| t.retries += 1);
                }
                (_, None) => say(redact(&format!("{what}: {tail}"))),
            }
        });
    }

    /// Starts a run of `total` tasks, each a `noun` (`chunk`, `type`): the board shows them
    /// until the run is dropped.
    pub fn run(&self, total: u64, noun: &'static str) -> Run {
        let board = match self.show {
            Show::Board { forced } => Some(Board::new(total, forced)),
            _ => None,
        };
        let shared = Arc::new(Shared {
            noun,
            tally: Mutex::new(Tally::default()),
            board,
        });
        shared.tally(|_| {});
        Run {
            progress: *self,
            shared,
        }
    }
}

/// `auto`: the board on a terminal, nothing elsewhere.
fn auto() -> Show {
    if std::io::stderr().is_terminal() {
        Show::Board { forced: false }
    } else {
        Show::Nothing
    }
}

/// Writes `gcagg: msg` on stderr, above the board or meter drawn now, if any.
pub fn say(msg: impl Display) {
    let line = format!("gcagg: {msg}");
    match &*lock(&DRAWN) {
        Some(drawn) => drawn.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// Clears what is drawn now and draws nothing more: the process is about to end (a signal).
pub fn stop_drawing() {
    if let Some(drawn) = lock(&DRAWN).take() {
        let _ = drawn.clear();
        drawn.set_draw_target(ProgressDrawTarget::hidden());
    }
}

/// What indicatif draws now: every line said goes above it.
static DRAWN: Mutex<Option<MultiProgress>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Progress is never worth a panic: what a panicking thread left is still drawable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Bars drawn on stderr, known to [`say`] until dropped, then cleared.
struct Drawn(MultiProgress);

impl Drawn {
    /// Bars on stderr; `forced`: even when it is not a terminal (indicatif's own target
    /// draws nothing there).
    fn new(forced: bool) -> Drawn {
        let target = if forced {
            ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 10)
        } else {
            ProgressDrawTarget::stderr_with_hz(10)
        };
        let multi = MultiProgress::with_draw_target(target);
        *lock(&DRAWN) = Some(multi.clone());
        Drawn(multi)
    }
}

impl Drop for Drawn {
    fn drop(&mut self) {
        let mut drawn = lock(&DRAWN);
        let _ = self.0.clear();
        *drawn = None;
    }
}

/// The board's line of totals.
const TOTALS: &str = "gcagg: {pos}/{len} {wide_msg} {elapsed} elapsed, ETA {eta}";
/// A running task's status line.
const TASK: &str = "gcagg: {prefix}: {wide_msg}";
/// The meter of a run whose size is known.
const METER_OF: &str = "gcagg: [{bar:20}] {binary_bytes}/{binary_total_bytes} read, {wide_msg} {elapsed}, ETA {eta}";
/// The meter of a run of unknown size (stdin).
const METER: &str = "gcagg: {binary_bytes} read, {wide_msg} {elapsed}";

/// A bar's look; the templates are constants, so a bad one is a programming error caught
/// by the tests, and shows as indicatif's default rather than failing a run.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The board: a status line per running task above the totals.
struct Board {
    drawn: Drawn,
    totals: ProgressBar,
}

impl Board {
    fn new(total: u64, forced: bool) -> Board {
        let drawn = Drawn::new(forced);
        let totals = drawn.0.add(ProgressBar::new(total).with_style(style(TOTALS)));
        // The elapsed time moves even while every task waits.
        totals.enable_steady_tick(Duration::from_millis(500));
        Board { drawn, totals }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.totals.finish_and_clear();
    }
}

/// The counts of a run so far.
#[derive(Default)]
struct Tally {
    done: u64,
    pages: u64,
    rows: u64,
    retries: u64,
}

/// What a run's tasks share.
struct Shared {
    noun: &'static str,
    tally: Mutex<Tally>,
    board: Option<Board>,
}

impl Shared {
    /// Changes the tally with `change` and shows it.
    fn tally(&self, change: impl FnOnce(&mut Tally)) {
        let mut tally = lock(&self.tally);
        change(&mut tally);
        if let Some(board) = &self.board {
            let len = board.totals.length().unwrap_or(0);
            board.totals.set_position(tally.done);
            board.totals.set_message(format!(
                "{}, {}, {}, {}",
                noun(len, self.noun),
                counted(tally.pages, "page"),
                counted(tally.rows, "row"),
                counted(tally.retries, "retry")
            ));
        }
    }
}

/// A run of tasks, shown as its [`Progress`] says; dropping it clears the board.
pub struct Run {
    progress: Progress,
    shared: Arc<Shared>,
}

impl Run {
    /// The task `label` starts on this thread: its status line is on the board, and the
    /// retries of this thread are its own, until the [`Task`] is dropped. On the board,
    /// whole minutes lose their zero seconds (`T00:00Z`), leaving the status more room.
    pub fn task(&self, label: &str) -> Task {
        let line = match &self.shared.board {
            Some(board) => board.drawn.0.insert_before(
                &board.totals,
                ProgressBar::no_length()
                    .with_style(style(TASK))
                    .with_prefix(label.replace(":00.000", ""))
                    .with_message("starting"),
            ),
            None => ProgressBar::hidden(),
        };
        let task = Arc::new(Current {
            label: label.to_owned(),
            line,
            shared: Arc::clone(&self.shared),
        });
        CURRENT.with(|current| *current.borrow_mut() = Some(Arc::clone(&task)));
        Task(task)
    }

    /// The task `label` is complete, with `pages` and `rows`: a line, or the totals.
    pub fn finished(&self, label: &str, pages: u64, rows: u64) {
        match self.progress.show {
            Show::Every | Show::Plain => say(format!("{label}: {}, {}", counted(pages, "page"), counted(rows, "row"))),
            Show::Nothing | Show::Board { .. } => {}
        }
        self.shared.tally(|t| {
            t.done += 1;
            t.pages += pages;
            t.rows += rows;
        });
    }
}

/// The task running on a thread.
struct Current {
    label: String,
    line: ProgressBar,
    shared: Arc<Shared>,
}

thread_local! {
    /// The task this thread works on: the API client, which knows no task, reports its
    /// retries here, and they are named after it.
    static CURRENT: RefCell<Option<Arc<Current>>> = const { RefCell::new(None) };
}

/// A running task; dropping it removes its status line.
pub struct Task(Arc<Current>);

impl Drop for Task {
    fn drop(&mut self) {
        CURRENT.with(|current| current.borrow_mut().take());
        self.0.line.finish_and_clear();
        if let Some(board) = &self.0.shared.board {
            board.drawn.0.remove(&self.0.line);
        }
    }
}

/// A long run's bytes read and rows made (`gcagg flatten`), on a terminal: shown once the
/// run has lasted [`METER_DELAY`], so that short runs stay silent, and cleared at the end.
pub struct Meter {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// How long a run goes before its meter shows.
pub const METER_DELAY: Duration = Duration::from_secs(2);

impl Meter {
    /// Starts the meter of a run that reads `total` bytes (if known); `counts` tells the
    /// bytes read and the rows made so far. Nothing shows unless stderr is a terminal.
    pub fn start(total: Option<u64>, counts: impl Fn() -> (u64, u64) + Send + 'static) -> Meter {
        if !std::io::stderr().is_terminal() {
            return Meter {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if stopped.recv_timeout(METER_DELAY) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let drawn = Drawn::new(false);
            let template = if total.is_some() { METER_OF } else { METER };
            // All read: what is left is writing the rows (CSV's and Parquet's spool).
            let message = |bytes: u64, rows: u64| {
                let writing = if total.is_some_and(|t| bytes >= t) {
                    ", writing"
                } else {
                    ""
                };
                format!("{}{writing}", counted(rows, "row"))
            };
            let (bytes, rows) = counts();
            let bar = drawn.0.add(
                ProgressBar::new(total.unwrap_or(0))
                    .with_style(style(template).progress_chars("=> "))
                    .with_elapsed(METER_DELAY)
                    .with_position(bytes)
                    .with_message(message(bytes, rows)),
            );
            while stopped.recv_timeout(Duration::from_millis(200)) == Err(mpsc::RecvTimeoutError::Timeout) {
                let (bytes, rows) = counts();
                bar.set_position(bytes);
                bar.set_message(message(bytes, rows));
            }
            bar.finish_and_clear();
        });
        Meter {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        // Closing the channel stops the thread, which clears the meter before the run's
        // last words (an error, a warning) are written.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `chunk` or `chunks`, as `n` of them want.
fn noun(n: u64, noun: &str) -> String {
    // A consonant and y: entity, entities; a vowel and y: day, days.
    let stem = noun
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']));
    match (n, stem) {
        (1, _) => noun.to_owned(),
        (_, Some(stem)) => format!("{stem}ies"),
        _ => format!("{noun}s"),
    }
}

/// `1 chunk`, `2 chunks`: a count and its noun, singular or plural as English wants.
pub fn counted(n: impl Into<u64>, noun_: &str) -> String {
    let n = n.into();
    format!("{n} {}", noun(n, noun_))
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
        assert_eq!(counted(4u64, "day"), "4 days");
        assert_eq!(counted(2u64, "retry"), "2 retries");
    }

    #[test]
    fn the_templates_are_valid() {
        for template in [super::TOTALS, super::TASK, super::METER_OF, super::METER] {
            assert!(indicatif::ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }
}
