//! The git commit a build comes from, for `gcagg --version`.
//!
//! Used by `build.rs` (and by the tests, which run it against scratch repositories). The
//! commit is asked of `git` only when the package directory is the top of a git work tree,
//! so a source tarball unpacked inside some other repository is not mistaken for a clone
//! of this one. Without git, `.cargo_vcs_info.json` (which `cargo package` writes into a
//! crate tarball) names the commit; without either, the commit is unknown and the build
//! goes on: a build never needs git.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a build's commit was found, and what to watch to notice that it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// `commit 0123456789ab, 2024-05-01`, `commit 0123456789ab, 2024-05-01, modified`,
    /// or `commit unknown`.
    pub describe: String,
    /// The commit's date, `YYYY-MM-DD`, if git said.
    pub date: Option<String>,
    /// Files whose change means the commit (or the modified flag) may have changed.
    pub watch: Vec<PathBuf>,
}

/// The sources a binary is built from: a change to any of them outside a commit makes the
/// build "modified".
pub const SOURCES: [&str; 5] = ["src", "build", "build.rs", "Cargo.toml", "Cargo.lock"];

/// Finds the commit of the package in `dir`.
pub fn find(dir: &Path) -> Commit {
    let mut watch: Vec<PathBuf> = SOURCES.iter().map(|s| dir.join(s)).collect();
    let mut date = None;
    let describe = match from_git(dir) {
        Some((sha, day, modified, git_files)) => {
            watch.extend(git_files);
            let flag = if modified { ", modified" } else { "" };
            let describe = format!("commit {}, {day}{flag}", short(&sha));
            date = Some(day);
            describe
        }
        None => {
            watch.push(dir.join(".cargo_vcs_info.json"));
            match from_vcs_info(dir) {
                Some((sha, dirty)) => format!("commit {}{}", short(&sha), if dirty { ", modified" } else { "" }),
                None => "commit unknown".to_owned(),
            }
        }
    };
    // Cargo takes a missing file for a changed one and would rerun the script every build.
    watch.retain(|p| p.exists());
    Commit { describe, date, watch }
}

/// The commit, its date and the modified flag from `git`, and the git files that move when
/// HEAD does; `None` unless `dir` is the top of a work tree and git answers.
fn from_git(dir: &Path) -> Option<(String, String, bool, Vec<PathBuf>)> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok().is_some_and(|a| Some(a) == b.canonicalize().ok());
    if !same(Path::new(&top), dir) {
        return None;
    }
    let line = git(dir, &["log", "-1", "--format=%H %cs"])?;
    let (sha, date) = line.split_once(' ')?;
    let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    status.extend(SOURCES);
    let modified = !git(dir, &status)?.is_empty();
    // HEAD names the branch; the branch's ref (loose or packed) names the commit.
    let mut files = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        files.push(branch);
    }
    let mut paths = Vec::new();
    for file in files {
        let path = PathBuf::from(git(dir, &["rev-parse", "--git-path", &file])?);
        let path = if path.is_absolute() { path } else { dir.join(path) };
        if path.exists() {
            paths.push(path);
        }
    }
    Some((sha.to_owned(), date.to_owned(), modified, paths))
}

/// `git.sha1` and `git.dirty` of `.cargo_vcs_info.json`.
fn from_vcs_info(dir: &Path) -> Option<(String, bool)> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    // A small fixed format (`{"git": {"sha1": "…", "dirty": true}, "path_in_vcs": ""}`):
    // read without a JSON parser, which a build script would have to compile first.
    let sha: String = text
        .split("\"sha1\"")
        .nth(1)?
        .split('"')
        .nth(1)?
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let dirty = text
        .split("\"dirty\"")
        .nth(1)
        .is_some_and(|rest| rest.trim_start_matches([':', ' ']).starts_with("true"));
    (sha.len() >= 7).then_some((sha, dirty))
}

/// The first 12 hex digits, as `git log --abbrev=12` shows them.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Runs git in `dir`; its trimmed output if it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}
