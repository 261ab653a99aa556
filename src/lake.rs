//! A `gcagg sync` dataset on disk: its lock, its raw pages and its day partitions.
//!
//! ```text
//! lake/queue_kpis/
//!   _gcagg_sync.json                  the definition: query, flatten options, columns, watermark
//!   _gcagg_sync.lock                  held (flock) while a sync runs
//!   _raw/2024-05-01.ndjson.gz         the API's pages for that UTC day, as fetched
//!   interval_date=2024-05-01/part-3f9c0e1d2a4b5c6d.parquet
//!   _gcagg_tmp/                       a run's work (fetched chunks, the new partitions)
//! ```
//!
//! Lake readers skip names starting with `_` or `.`, so only the partitions are data. A run
//! builds each new partition inside `_gcagg_tmp` and swaps it for the live one in one step
//! (`renameat2(RENAME_EXCHANGE)` on Linux): a reader, or a run killed at any moment, sees
//! every partition either whole in its old version or whole in its new one. Where the
//! exchange is not available the live partition is first moved into `_gcagg_tmp/old`, and
//! [`recover`] puts it back if the run died before the new one took its place.
//!
//! Data files are named by a hash of their bytes, so a partition rebuilt with the same rows
//! has the same file names and is left untouched (a second run with no new data changes
//! nothing), and files of two versions never collide.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::atomic::{sync_dir, AtomicFile};

/// The definition file.
pub const DEFINITION: &str = "_gcagg_sync.json";

/// The lock file.
const LOCK: &str = "_gcagg_sync.lock";

/// The folder of raw pages, one gzip file per UTC day.
pub const RAW: &str = "_raw";

/// A run's work folder, removed at the start of the next run.
pub const WORK: &str = "_gcagg_tmp";

/// Where live partitions wait while they are swapped without an atomic exchange.
const ASIDE: &str = "old";

/// The partition folder prefix of a day.
pub const DAY_KEY: &str = "interval_date=";

/// The dataset's lock, held until dropped (or until the process ends, however it ends: the
/// kernel releases the lock of a killed process, so a crash never leaves it stuck).
#[derive(Debug)]
pub struct Lock {
    _held: File,
}

impl Lock {
    /// Takes the lock of the dataset `dir`, or says that another sync holds it.
    pub fn take(dir: &Path) -> anyhow::Result<Lock> {
        let path = dir.join(LOCK);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let by = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder})")
                };
                anyhow::bail!(
                    "{}: another gcagg sync is running on this dataset{by}; run again when it has ended",
                    dir.display()
                );
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("{}: cannot lock", path.display()));
            }
        }
        // For the message above, in the run that meets the lock.
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Lock { _held: file })
    }
}

/// Undoes what a run killed outright left behind: live partitions it had moved aside are put
/// back, its work folder and the hidden temporaries of its files are removed.
pub fn recover(dir: &Path) -> anyhow::Result<()> {
    let work = dir.join(WORK);
    let aside = work.join(ASIDE);
    if aside.is_dir() {
        for entry in fs::read_dir(&aside)? {
            let entry = entry?;
            let live = dir.join(entry.file_name());
            if !live.exists() {
                fs::rename(entry.path(), &live)
                    .with_context(|| format!("{}: cannot put the partition back", live.display()))?;
            }
        }
        sync_dir(dir);
    }
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("{}: cannot remove", work.display()))?;
    }
    for folder in [dir.to_owned(), dir.join(RAW)] {
        let Ok(entries) = fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // An AtomicFile's temporary: `.NAME.XXXXXX.tmp`.
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The raw file of `day` (`YYYY-MM-DD`).
pub fn raw_file(dir: &Path, day: &str) -> PathBuf {
    dir.join(RAW).join(format!("{day}.ndjson.gz"))
}

/// Stores the pages of `day` (the file `pages`, one page per line) as its raw file, gzip.
pub fn store_raw(dir: &Path, day: &str, pages: &Path) -> anyhow::Result<()> {
    let target = raw_file(dir, day);
    fs::create_dir_all(dir.join(RAW)).with_context(|| format!("{}: cannot create", dir.join(RAW).display()))?;
    let (atomic, file) = AtomicFile::create(&target)?;
    let mut gz = flate2::write::GzEncoder::new(io::BufWriter::new(file), flate2::Compression::default());
    let mut input = File::open(pages).with_context(|| format!("{}: cannot read", pages.display()))?;
    io::copy(&mut input, &mut gz).with_context(|| format!("{}: cannot write", target.display()))?;
    gz.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
    atomic.commit()
}

/// The days with a raw file, in order.
pub fn raw_days(dir: &Path) -> anyhow::Result<Vec<String>> {
    days_in(&dir.join(RAW), |name| name.strip_suffix(".ndjson.gz"))
}

/// The days with a partition, in order.
pub fn partition_days(dir: &Path) -> anyhow::Result<Vec<String>> {
    days_in(dir, |name| name.strip_prefix(DAY_KEY))
}

fn days_in(dir: &Path, day: impl Fn(&str) -> Option<&str>) -> anyhow::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot list", dir.display())),
    };
    let mut days = BTreeSet::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(d) = name.to_str().and_then(&day) {
            days.insert(d.to_owned());
        }
    }
    Ok(days.into_iter().collect())
}

/// What happened to one day's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// A new partition.
    Added,
    /// A partition replaced by one with other rows.
    Replaced,
    /// The new version has the same bytes: the live one stays.
    Unchanged,
    /// The day has no rows any more: its partition is gone.
    Removed,
    /// No rows, and no partition before either.
    Absent,
}

/// Puts the partition `name` built in `staged` (none: the day has no rows) in place of the
/// live one in the dataset `dir`; data files are first named by their content.
pub fn swap(dir: &Path, name: &str, staged: Option<&Path>) -> anyhow::Result<Swap> {
    let live = dir.join(name);
    let exists = live.is_dir();
    let Some(staged) = staged else {
        if !exists {
            return Ok(Swap::Absent);
        }
        let aside = set_aside(dir, name)?;
        fs::remove_dir_all(&aside).with_context(|| format!("{}: cannot remove", aside.display()))?;
        return Ok(Swap::Removed);
    };
    name_by_content(staged)?;
    if !exists {
        fs::rename(staged, &live).with_context(|| format!("{}: cannot move into place", live.display()))?;
        sync_dir(dir);
        return Ok(Swap::Added);
    }
    if files(staged)? == files(&live)? {
        return Ok(Swap::Unchanged);
    }
    if !exchange(staged, &live) {
        // Both renames under the interrupt lock, so a signal never finds the day missing; a
        // failed second rename puts the live partition back (a kill -9 leaves that to
        // `recover`).
        let aside = crate::interrupt::guarded(|| -> anyhow::Result<PathBuf> {
            let aside = set_aside(dir, name)?;
            if let Err(e) = fs::rename(staged, &live) {
                let _ = fs::rename(&aside, &live);
                return Err(e).with_context(|| format!("{}: cannot move into place", live.display()));
            }
            Ok(aside)
        })?;
        sync_dir(dir);
        fs::remove_dir_all(&aside).with_context(|| format!("{}: cannot remove", aside.display()))?;
        return Ok(Swap::Replaced);
    }
    sync_dir(dir);
    // `staged` now holds the old version.
    fs::remove_dir_all(staged).with_context(|| format!("{}: cannot remove", staged.display()))?;
    Ok(Swap::Replaced)
}

/// Moves the live partition `name` into the work folder, where [`recover`] finds it.
fn set_aside(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let folder = dir.join(WORK).join(ASIDE);
    fs::create_dir_all(&folder).with_context(|| format!("{}: cannot create", folder.display()))?;
    let aside = folder.join(name);
    fs::rename(dir.join(name), &aside).with_context(|| format!("{}: cannot move aside", dir.join(name).display()))?;
    sync_dir(dir);
    Ok(aside)
}

/// Swaps two folders in one step; false where the system or file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).is_ok()
}

/// Swaps two folders in one step; false where the system or file system cannot.
#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

/// Every file under `dir`, as paths relative to it.
fn files(dir: &Path) -> anyhow::Result<BTreeSet<PathBuf>> {
    let mut out = BTreeSet::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(relative) = todo.pop() {
        let here = dir.join(&relative);
        for entry in fs::read_dir(&here).with_context(|| format!("{}: cannot list", here.display()))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                todo.push(path);
            } else {
                out.insert(path);
            }
        }
    }
    Ok(out)
}

/// Renames every data file under `dir` to `part-<first 16 hex digits of its SHA-256>.<ext>`.
fn name_by_content(dir: &Path) -> anyhow::Result<()> {
    let mut folders = BTreeSet::new();
    for relative in files(dir)? {
        let path = dir.join(&relative);
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = name.split_once('.').map_or("", |(_, ext)| ext);
        let mut hasher = Sha256::new();
        io::copy(&mut File::open(&path)?, &mut hasher).with_context(|| format!("{}: cannot read", path.display()))?;
        let digest = hasher.finalize();
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let folder = path.parent().unwrap_or(dir).to_owned();
        let mut target = folder.join(format!("part-{hex}.{ext}"));
        // Two files of one partition with the same bytes: keep both, numbered.
        let mut n = 1;
        while target.exists() {
            target = folder.join(format!("part-{hex}-{n}.{ext}"));
            n += 1;
        }
        fs::rename(&path, &target).with_context(|| format!("{}: cannot rename", path.display()))?;
        folders.insert(folder);
    }
    for folder in folders {
        sync_dir(&folder);
    }
    Ok(())
}

/// Rows of every Parquet file under `dir`, from their footers.
pub fn rows(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for relative in files(dir)? {
        let path = dir.join(relative);
        let reader = parquet::file::reader::SerializedFileReader::new(File::open(&path)?)
            .with_context(|| format!("{}: not a Parquet file", path.display()))?;
        total += u64::try_from(
            parquet::file::reader::FileReader::metadata(&reader)
                .file_metadata()
                .num_rows(),
        )
        .unwrap_or(0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let folder = dir.join(name);
        fs::create_dir_all(&folder).unwrap();
        for (file, text) in files {
            fs::write(folder.join(file), text).unwrap();
        }
        folder
    }

    fn listing(dir: &Path) -> Vec<(String, String)> {
        files(dir)
            .unwrap()
            .into_iter()
            .map(|f| {
                let text = fs::read_to_string(dir.join(&f)).unwrap();
                (f.to_string_lossy().into_owned(), text)
            })
            .collect()
    }

    #[test]
    fn recover_puts_back_a_partition_set_aside_and_clears_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = dir.path();
        partition(dataset, "interval_date=2024-05-01", &[("part-a.parquet", "live")]);
        // A run killed between moving the live partition aside and moving the new one in.
        set_aside(dataset, "interval_date=2024-05-01").unwrap();
        assert!(!dataset.join("interval_date=2024-05-01").exists());
        partition(&dataset.join(WORK), "staged", &[("part-00000.parquet", "new")]);
        fs::write(dataset.join(".x.parquet.123456.tmp"), "half").unwrap();
        fs::create_dir_all(dataset.join(RAW)).unwrap();
        fs::write(dataset.join(RAW).join(".2024-05-01.ndjson.gz.abcdef.tmp"), "half").unwrap();

        recover(dataset).unwrap();
        assert_eq!(
            listing(dataset),
            [("interval_date=2024-05-01/part-a.parquet".to_owned(), "live".to_owned())]
        );
        // A second recovery finds nothing to do.
        recover(dataset).unwrap();
        assert_eq!(listing(dataset).len(), 1);
    }

    #[test]
    fn a_swap_names_files_by_content_and_keeps_an_unchanged_partition() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = dir.path();
        let stage = |text: &str| {
            let work = tempfile::tempdir_in(dataset).unwrap().keep();
            partition(
                &work,
                "p",
                &[("part-00000.parquet", text), ("part-00001.parquet", text)],
            )
        };
        assert_eq!(swap(dataset, "p", Some(&stage("one"))).unwrap(), Swap::Added);
        let first = listing(&dataset.join("p"));
        let names: Vec<&str> = first.iter().map(|(f, _)| f.as_str()).collect();
        // Same bytes, same hash: both files kept, numbered.
        assert_eq!(names.len(), 2);
        // (`-` sorts before `.`.)
        assert!(names[1].starts_with("part-") && names[1].len() == "part-".len() + 16 + ".parquet".len());
        assert_eq!(names[0], names[1].replace(".parquet", "-1.parquet"));

        assert_eq!(swap(dataset, "p", Some(&stage("one"))).unwrap(), Swap::Unchanged);
        assert_eq!(listing(&dataset.join("p")), first);

        assert_eq!(swap(dataset, "p", Some(&stage("two"))).unwrap(), Swap::Replaced);
        let second = listing(&dataset.join("p"));
        assert!(second.iter().all(|(_, text)| text == "two"));
        assert!(
            second.iter().all(|(f, _)| !first.iter().any(|(g, _)| g == f)),
            "new names for new bytes"
        );

        assert_eq!(swap(dataset, "p", None).unwrap(), Swap::Removed);
        assert!(!dataset.join("p").exists());
        assert_eq!(swap(dataset, "p", None).unwrap(), Swap::Absent);
    }
}
