//! Output that appears whole or not at all: written beside its target, renamed when complete.
//!
//! Every file gcagg writes for the user goes through here: [`AtomicFile`] for one file
//! (`-o day.csv`, a fetch's `-o pages.ndjson`, a chunk file, `_manifest.json`), [`AtomicDir`]
//! for a dataset's tree. The temporary is hidden (`.day.csv.XXXXXX.tmp`, `.lake.XXXXXX`), so
//! Hadoop-style readers skip it, and sits in the target's folder, so the final rename stays
//! on one file system and is atomic. Until then the target is untouched: a failed run drops
//! the temporary, an interrupted one has it removed by [`crate::interrupt`], and an earlier
//! file at the target stays exactly as it was.
//!
//! **One fsync policy.** A committed output survives a crash: the temporary's bytes are
//! flushed to disk (fsync) before the rename, and its folder after it, so that after a power
//! loss the target holds either the earlier file or the new one, complete, never an empty or
//! half-written file under the new name (the failure that rename without fsync gives on
//! ext4, XFS and btrfs). A dataset's files and folders are all flushed before its rename. A
//! data engineer treats a file that gcagg reported written as safe to build on; the cost is
//! one flush per output at the end of the run, small beside writing the bytes.
//!
//! Files are created with mode 0666 and folders 0777, less the umask, as any plainly created
//! file is (not the owner-only mode of temporary files): the result must stay readable to
//! whoever reads the dataset. A target that exists and is not a regular file (a FIFO,
//! `/dev/null`) has nothing to replace: it is written in place.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::interrupt::{Kind, Temporary};

/// A file being written beside its target; [`AtomicFile::commit`] renames it into place,
/// dropping it removes it.
#[derive(Debug)]
pub struct AtomicFile {
    /// The temporary and a handle to flush it with; `None` when writing in place.
    temp: Option<(Temporary, File)>,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary beside `target` and returns it with the file to write to.
    pub fn create(target: &Path) -> anyhow::Result<(AtomicFile, File)> {
        if fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = OpenOptions::new()
                .write(true)
                .open(target)
                .with_context(|| format!("{}: cannot open for writing", target.display()))?;
            let atomic = AtomicFile {
                temp: None,
                target: target.to_owned(),
            };
            return Ok((atomic, file));
        }
        let (temp, file) = create_beside(target, ".tmp", Kind::File, |path| {
            OpenOptions::new().write(true).create_new(true).open(path)
        })
        .with_context(|| format!("{}: cannot create a temporary file beside it", target.display()))?;
        let sync = file
            .try_clone()
            .with_context(|| format!("{}: cannot create a temporary file beside it", target.display()))?;
        let atomic = AtomicFile {
            temp: Some((temp, sync)),
            target: target.to_owned(),
        };
        Ok((atomic, file))
    }

    /// Flushes the finished file to disk and renames it onto the target, replacing what is
    /// there. Call it once every writer of the file has finished (flushed and closed).
    pub fn commit(self) -> anyhow::Result<()> {
        self.finish(Temporary::persist)
    }

    /// Like [`AtomicFile::commit`], but a file at the target is never replaced: if one
    /// appeared there since the name was chosen (another run writing into the same folder),
    /// this fails and the temporary is removed.
    pub fn commit_new(self) -> anyhow::Result<()> {
        self.finish(Temporary::persist_new)
    }

    /// Flushes the file to disk, moves it into place with `persist`, then flushes the folder.
    fn finish(self, persist: impl FnOnce(Temporary, &Path) -> io::Result<()>) -> anyhow::Result<()> {
        let Some((temp, file)) = self.temp else {
            return Ok(());
        };
        let target = &self.target;
        let context = || format!("{}: cannot move the finished file into place", target.display());
        file.sync_all().with_context(context)?;
        drop(file);
        persist(temp, target).with_context(context)?;
        sync_dir(parent(target));
        Ok(())
    }
}

/// A folder being filled beside its target; [`AtomicDir::commit`] renames it into place,
/// dropping it removes it with everything in it.
#[derive(Debug)]
pub struct AtomicDir {
    temp: Temporary,
    target: PathBuf,
}

impl AtomicDir {
    /// Creates the hidden staging folder beside `target` (and `target`'s parent, if need be).
    pub fn create(target: &Path) -> anyhow::Result<AtomicDir> {
        let dir = parent(target);
        fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let (temp, ()) = create_beside(target, "", Kind::Dir, |path| fs::create_dir(path))
            .with_context(|| format!("{}: cannot create a staging folder beside it", target.display()))?;
        Ok(AtomicDir {
            temp,
            target: target.to_owned(),
        })
    }

    /// The staging folder.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Creates the new file `relative` inside the staging folder, and the folders leading
    /// to it. The open is exclusive: a file already there is an error, never truncated.
    pub fn create_file(&self, relative: &Path) -> io::Result<File> {
        let path = self.path().join(relative);
        crate::interrupt::guarded(|| {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            OpenOptions::new().write(true).create_new(true).open(&path)
        })
    }

    /// Flushes every file and folder of the tree to disk and renames the tree onto the
    /// target. What the target held (checked by the caller: nothing, or a dataset it may
    /// replace) is moved aside first and deleted once the new tree is in place; if the
    /// rename fails it is put back.
    pub fn commit(self) -> anyhow::Result<()> {
        let target = &self.target;
        let context = || format!("{}: cannot move the finished dataset into place", target.display());
        sync_tree(self.path()).with_context(context)?;
        let aside = beside_name(target, ".replaced");
        let previous = self.temp.persist_replacing(target, &aside).with_context(context)?;
        sync_dir(parent(target));
        drop(previous);
        Ok(())
    }
}

/// The folder a path is in (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Creates a temporary beside `target` with a fresh hidden name, retrying on a clash.
fn create_beside<T>(
    target: &Path,
    suffix: &str,
    kind: Kind,
    mut create: impl FnMut(&Path) -> io::Result<T>,
) -> io::Result<(Temporary, T)> {
    let mut attempts = 0;
    loop {
        match Temporary::create(beside_name(target, suffix), kind, &mut create) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => attempts += 1,
            other => return other,
        }
    }
}

/// A hidden name beside `target`, `.NAME.XXXXXX<suffix>`, short enough for any file
/// system's 255-byte limit whatever the target's name.
fn beside_name(target: &Path, suffix: &str) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let random: String = std::iter::repeat_with(fastrand::alphanumeric).take(6).collect();
    parent(target).join(format!(".{}.{random}{suffix}", &name[..end]))
}

/// Flushes every file and folder under `dir` (and `dir`) to disk.
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// Flushes a folder's entries to disk, so a rename in it survives a crash. Best effort:
/// some file systems cannot flush a folder, and the data itself is already on disk.
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_replaces_its_target_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("day.csv");
        fs::write(&target, "earlier").unwrap();
        let (atomic, mut file) = AtomicFile::create(&target).unwrap();
        file.write_all(b"new").unwrap();
        let temp = names(dir.path()).into_iter().find(|n| n != "day.csv").unwrap();
        assert!(temp.starts_with(".day.csv.") && temp.ends_with(".tmp"), "{temp}");
        drop(atomic);
        assert_eq!(names(dir.path()), ["day.csv"]);
        assert_eq!(fs::read_to_string(&target).unwrap(), "earlier");

        let (atomic, mut file) = AtomicFile::create(&target).unwrap();
        file.write_all(b"new").unwrap();
        drop(file);
        atomic.commit().unwrap();
        assert_eq!(names(dir.path()), ["day.csv"]);
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn a_long_target_name_still_gets_a_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(format!("{}.csv", "é".repeat(120)));
        let (atomic, _file) = AtomicFile::create(&target).unwrap();
        atomic.commit().unwrap();
        assert!(target.is_file());
    }

    #[test]
    fn a_dataset_replaces_the_previous_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("lake");
        fs::create_dir_all(target.join("q=old")).unwrap();
        fs::write(target.join("q=old/part-00000.csv"), "old").unwrap();
        let staged = AtomicDir::create(&target).unwrap();
        let mut file = staged.create_file(Path::new("q=new/part-00000.csv")).unwrap();
        file.write_all(b"new").unwrap();
        assert!(
            staged.create_file(Path::new("q=new/part-00000.csv")).is_err(),
            "exclusive"
        );
        staged.commit().unwrap();
        assert_eq!(names(dir.path()), ["lake"]);
        assert_eq!(names(&target), ["q=new"]);
        assert_eq!(fs::read_to_string(target.join("q=new/part-00000.csv")).unwrap(), "new");
    }
}
