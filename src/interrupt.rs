//! What happens on SIGINT, SIGTERM and SIGHUP: every temporary the run made is removed, the
//! cleanup actions registered run (bounded), and the process then dies of the same signal,
//! so a shell reports 130, 143 or 129 and a script interrupted with Ctrl-C stops as it would
//! for any other command.
//!
//! Every temporary file or folder that must not outlive the run is made through this module
//! ([`Temporary::create`], [`scratch_file`]), and every file created inside a temporary
//! folder too ([`guarded`]). All of it happens under one lock, which the signal thread takes
//! and never gives back: a temporary is either created and registered before the cleanup
//! starts, or not created at all, so a signal that arrives while one is being made still
//! leaves nothing behind. Likewise a temporary renamed into place ([`Temporary::persist`])
//! is renamed whole or removed, never left half way.
//!
//! Cleanup actions ([`on_interrupt`]) are for what is not a file, such as an async job
//! running on the server: they run on a thread of their own, for at most
//! [`ACTION_LIMIT`] (a second signal ends the wait at once), and must not create or remove
//! temporaries themselves.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the cleanup actions may take before the process ends anyway.
pub const ACTION_LIMIT: Duration = Duration::from_secs(5);

/// A cleanup action.
type Action = Arc<dyn Fn() + Send + Sync>;

/// What is to be removed or run if a signal arrives.
struct Registry {
    next: u64,
    temporaries: Vec<(u64, PathBuf, Kind)>,
    actions: Vec<(u64, Action)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    temporaries: Vec::new(),
    actions: Vec::new(),
});

/// The registry, even if a thread panicked while holding it (its lists stay consistent:
/// every change is one push or one removal).
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// Whether a temporary is a file or a folder (removed with everything in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A file.
    File,
    /// A folder and everything in it.
    Dir,
}

/// Installs the handlers; a signal before this call ends the process as by default, which
/// is fine as long as no temporary exists yet. Called once, first thing in `main`.
#[cfg(unix)]
pub fn install() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new().name("interrupt".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let another = || signals.pending().next().is_some();
            clean_up(
                signal_hook::low_level::signal_name(signal).unwrap_or("a signal"),
                another,
            );
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            // Only reached if the default action could not be restored.
            std::process::exit(128 + signal);
        }
    })?;
    Ok(())
}

/// Installs nothing where there are no Unix signals.
#[cfg(not(unix))]
pub fn install() -> io::Result<()> {
    Ok(())
}

/// Removes every temporary and runs the cleanup actions (until they end, [`ACTION_LIMIT`]
/// passes, or `another` signal arrives), keeping the registry locked for good: from here on
/// nothing new is created.
fn clean_up(signal: &str, mut another: impl FnMut() -> bool) {
    let mut registry = registry();
    let removed = registry.temporaries.len();
    for (_, path, kind) in registry.temporaries.drain(..) {
        remove(&path, kind);
    }
    let actions: Vec<Action> = registry.actions.drain(..).map(|(_, a)| a).collect();
    // The run ends here: a progress board drawn now would stay on the screen, stale.
    crate::progress::stop_drawing();
    if removed == 0 {
        eprintln!("gcagg: interrupted by {signal}");
    } else {
        eprintln!("gcagg: interrupted by {signal}; its unfinished files are removed");
    }
    if !actions.is_empty() {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            for action in actions {
                action();
            }
            let _ = done.send(());
        });
        let deadline = Instant::now() + ACTION_LIMIT;
        while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(Duration::from_millis(50)) {
            if Instant::now() >= deadline || another() {
                break;
            }
        }
    }
    // The lock is never released: the process ends with it held.
    std::mem::forget(registry);
}

fn remove(path: &Path, kind: Kind) {
    let _ = match kind {
        Kind::File => std::fs::remove_file(path),
        Kind::Dir => std::fs::remove_dir_all(path),
    };
}

/// Runs `f` where no cleanup can interleave: a file `f` creates inside a [`Temporary`]
/// folder is there before the folder is removed, or is never created.
pub fn guarded<T>(f: impl FnOnce() -> T) -> T {
    let _registry = registry();
    f()
}

/// A new anonymous file in the temporary folder (`TMPDIR`): it has no name, so nothing of
/// it outlives the process, whatever ends it.
pub fn scratch_file() -> io::Result<File> {
    guarded(tempfile::tempfile)
}

/// A temporary file or folder, removed when dropped, by a signal, or renamed into place.
#[derive(Debug)]
pub struct Temporary {
    id: u64,
    path: PathBuf,
    kind: Kind,
}

impl Temporary {
    /// Makes the temporary at `path` with `create` (which must fail if `path` exists, so
    /// that only what this run made is ever removed) and registers it, both under the lock.
    pub fn create<T>(
        path: PathBuf,
        kind: Kind,
        create: impl FnOnce(&Path) -> io::Result<T>,
    ) -> io::Result<(Temporary, T)> {
        let mut registry = registry();
        let made = create(&path)?;
        let id = registry.id();
        registry.temporaries.push((id, path.clone(), kind));
        Ok((Temporary { id, path, kind }, made))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it onto `target` (replacing a file there); from then on it is not removed.
    pub fn persist(self, target: &Path) -> io::Result<()> {
        let mut registry = registry();
        std::fs::rename(&self.path, target)?;
        self.disarm(&mut registry);
        Ok(())
    }

    /// Moves it to `target`, which must not exist: a file there is never replaced, and the
    /// error is `AlreadyExists`. (A hard link made under the lock, then the temporary name
    /// removed: a rename would replace a file another run put there meanwhile. Where the
    /// file system has no hard links, a rename after a look at the target.)
    pub fn persist_new(self, target: &Path) -> io::Result<()> {
        let mut registry = registry();
        match std::fs::hard_link(&self.path, target) {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.path);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
            Err(_) if target.exists() => return Err(io::ErrorKind::AlreadyExists.into()),
            Err(_) => std::fs::rename(&self.path, target)?,
        }
        self.disarm(&mut registry);
        Ok(())
    }

    /// Renames this folder onto `target`, which may exist: what `target` holds is first
    /// renamed to `aside`, which is returned as a temporary (drop it to delete the old tree;
    /// a signal removes it too). If the rename fails, `target` gets its content back. The
    /// two renames happen under the lock, so an interruption never finds the target empty
    /// with the earlier content only in a temporary.
    pub fn persist_replacing(self, target: &Path, aside: &Path) -> io::Result<Option<Temporary>> {
        let mut registry = registry();
        let replaced = match std::fs::rename(target, aside) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if let Err(e) = std::fs::rename(&self.path, target) {
            if replaced {
                let _ = std::fs::rename(aside, target);
            }
            return Err(e);
        }
        let previous = replaced.then(|| {
            let id = registry.id();
            registry.temporaries.push((id, aside.to_owned(), Kind::Dir));
            Temporary {
                id,
                path: aside.to_owned(),
                kind: Kind::Dir,
            }
        });
        self.disarm(&mut registry);
        Ok(previous)
    }

    /// Ends it without its `Drop`, once what it names is the target's: out of `registry`,
    /// and its path freed (`mem::forget` alone would leak it, once per file persisted).
    fn disarm(mut self, registry: &mut Registry) {
        registry.temporaries.retain(|t| t.0 != self.id);
        drop(std::mem::take(&mut self.path));
        std::mem::forget(self);
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        let mut registry = registry();
        remove(&self.path, self.kind);
        registry.temporaries.retain(|t| t.0 != self.id);
    }
}

/// Runs `action` if a signal ends the run while the returned guard lives (for example: cancel
/// the async job this guard was made for). Bounded by [`ACTION_LIMIT`], best effort.
#[must_use = "the action is unregistered when the guard is dropped"]
pub fn on_interrupt(action: impl Fn() + Send + Sync + 'static) -> ActionGuard {
    let mut registry = registry();
    let id = registry.id();
    registry.actions.push((id, Arc::new(action)));
    ActionGuard(id)
}

/// Keeps an action of [`on_interrupt`] registered while it lives.
#[derive(Debug)]
pub struct ActionGuard(u64);

impl Drop for ActionGuard {
    fn drop(&mut self) {
        registry().actions.retain(|a| a.0 != self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(path: &Path) -> bool {
        registry().temporaries.iter().any(|t| t.1 == path)
    }

    #[test]
    fn a_temporary_is_removed_when_dropped_and_kept_when_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".t.tmp");
        let (temp, _file) = Temporary::create(path.clone(), Kind::File, |p| File::create_new(p)).unwrap();
        assert!(path.exists() && registered(&path));
        drop(temp);
        assert!(!path.exists() && !registered(&path));

        let (temp, _file) = Temporary::create(path.clone(), Kind::File, |p| File::create_new(p)).unwrap();
        let target = dir.path().join("t");
        temp.persist(&target).unwrap();
        assert!(target.exists() && !path.exists() && !registered(&path));
    }

    #[test]
    fn a_temporary_persisted_as_new_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, "earlier").unwrap();
        let path = dir.path().join(".t.tmp");
        let (temp, _file) = Temporary::create(path.clone(), Kind::File, |p| File::create_new(p)).unwrap();
        let refused = temp.persist_new(&target).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "earlier");
        assert!(!path.exists() && !registered(&path), "the temporary is dropped");

        let (temp, _file) = Temporary::create(path.clone(), Kind::File, |p| File::create_new(p)).unwrap();
        let new = dir.path().join("u");
        temp.persist_new(&new).unwrap();
        assert!(new.exists() && !path.exists() && !registered(&path));
    }

    #[test]
    fn a_temporary_that_exists_already_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("there");
        std::fs::write(&path, "x").unwrap();
        assert!(Temporary::create(path.clone(), Kind::File, |p| File::create_new(p)).is_err());
        assert!(path.exists() && !registered(&path));
    }

    #[test]
    fn a_folder_goes_with_everything_in_it_and_actions_unregister() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".staged");
        let (temp, ()) = Temporary::create(path.clone(), Kind::Dir, |p| std::fs::create_dir(p)).unwrap();
        guarded(|| std::fs::write(path.join("a"), "x")).unwrap();
        drop(temp);
        assert!(!path.exists());

        let guard = on_interrupt(|| {});
        let id = guard.0;
        assert!(registry().actions.iter().any(|a| a.0 == id));
        drop(guard);
        assert!(!registry().actions.iter().any(|a| a.0 == id));
    }
}
