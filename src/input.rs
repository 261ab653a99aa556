//! Input sources: files, directories and stdin, gzip recognised by its magic bytes.
//!
//! A directory stands for its `*.json`, `*.ndjson`, `*.jsonl` files (and their `.gz` forms)
//! in name order, skipping names that start with `_` or `.` as Hadoop and Spark do, so
//! fetch's `_manifest.json` is never read as a page.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use flate2::bufread::GzDecoder;

/// Read buffer size: large enough that the per-read overhead vanishes.
const READ_BUFFER: usize = 1 << 18;

/// One input: a file, or stdin.
#[derive(Debug)]
pub struct Source {
    /// How messages name it: the path as given, or `<stdin>`.
    pub name: String,
    /// Where to read it from; `None` for stdin.
    pub path: Option<PathBuf>,
}

impl Source {
    /// Opens the source for reading, decompressing gzip; its bytes count in [`bytes_read`].
    pub fn open(&self) -> anyhow::Result<Box<dyn BufRead>> {
        match &self.path {
            None => decompress(Box::new(Counted(io::stdin().lock())), &self.name),
            Some(path) => {
                let file = File::open(path).with_context(|| format!("{}: cannot open", self.name))?;
                decompress(Box::new(Counted(file)), &self.name)
            }
        }
    }
}

/// Bytes read from every source so far, as stored (gzip before it is decompressed).
static READ: AtomicU64 = AtomicU64::new(0);

/// The bytes read from every source so far: a progress meter's measure, which
/// [`total_size`] completes.
pub fn bytes_read() -> u64 {
    READ.load(Ordering::Relaxed)
}

/// The bytes of all `sources`, if known (stdin's and a named pipe's are not).
pub fn total_size(sources: &[Source]) -> Option<u64> {
    sources
        .iter()
        .map(|s| {
            let meta = s.path.as_ref().and_then(|p| std::fs::metadata(p).ok());
            meta.filter(|m| m.is_file()).map(|m| m.len())
        })
        .sum()
}

/// A reader whose bytes count in [`READ`] (a read is a quarter megabyte: one atomic add
/// each costs nothing).
struct Counted<R>(R);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        READ.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn decompress(inner: Box<dyn Read>, name: &str) -> anyhow::Result<Box<dyn BufRead>> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, inner);
    let head = reader.fill_buf().with_context(|| format!("{name}: cannot read"))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(READ_BUFFER, Members::new(reader))))
    } else {
        Ok(Box::new(reader))
    }
}

/// Concatenated gzip members (`cat a.gz b.gz`) read as one stream, as gunzip reads them,
/// and NUL bytes after the last member (tape and block-device padding, which gzip and
/// Python skip) end it quietly. Anything else after a member is an error.
struct Members<R: BufRead> {
    member: Option<GzDecoder<R>>,
}

impl<R: BufRead> Members<R> {
    fn new(reader: R) -> Members<R> {
        Members {
            member: Some(GzDecoder::new(reader)),
        }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(member) = self.member.as_mut() {
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // This member is done: what follows decides whether another one starts.
            let Some(mut rest) = self.member.take().map(GzDecoder::into_inner) else {
                break;
            };
            loop {
                let head = rest.fill_buf()?;
                match head.iter().position(|&b| b != 0) {
                    None if head.is_empty() => return Ok(0),
                    None => {
                        let len = head.len();
                        rest.consume(len);
                    }
                    Some(0) if head[0] == 0x1f && head.get(1).is_none_or(|&b| b == 0x8b) => {
                        self.member = Some(GzDecoder::new(rest));
                        break;
                    }
                    Some(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "bytes after the gzip data that are neither another gzip member nor NUL padding",
                        ))
                    }
                }
            }
        }
        Ok(0)
    }
}

/// Expands the command line's inputs; no input means stdin.
pub fn expand(args: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    if args.is_empty() {
        return Ok(vec![stdin()]);
    }
    let mut sources = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            sources.push(stdin());
        } else if arg.is_dir() {
            sources.extend(directory(arg)?);
        } else {
            sources.push(Source {
                name: arg.display().to_string(),
                path: Some(arg.clone()),
            });
        }
    }
    Ok(sources)
}

fn stdin() -> Source {
    Source {
        name: "<stdin>".into(),
        path: None,
    }
}

/// Whether a directory entry is a page file.
fn is_page_file(name: &str) -> bool {
    if name.starts_with(['_', '.']) {
        return false;
    }
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".json", ".ndjson", ".jsonl"].iter().any(|ext| name.ends_with(ext))
}

fn directory(dir: &Path) -> anyhow::Result<Vec<Source>> {
    let context = || format!("{}: cannot list the directory", dir.display());
    let mut names = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(context)? {
        let entry = entry.with_context(context)?;
        let name = entry.file_name();
        match name.to_str().filter(|n| is_page_file(n)) {
            Some(name) if entry.path().is_file() => names.push(name.to_owned()),
            _ => others.push(name.to_string_lossy().into_owned()),
        }
    }
    names.sort();
    if names.is_empty() {
        // The user named a folder and gets nothing from it: say so, and what it does hold.
        eprintln!("gcagg: warning: {}", no_page_files(dir, others));
    }
    Ok(names
        .into_iter()
        .map(|n| {
            let path = dir.join(&n);
            Source {
                name: path.display().to_string(),
                path: Some(path),
            }
        })
        .collect())
}

/// The warning for a folder without page files: what it holds instead, if anything.
fn no_page_files(dir: &Path, mut others: Vec<String>) -> String {
    let dir = dir.display();
    if others.is_empty() {
        return format!("{dir}: the folder is empty; no page read from it");
    }
    others.sort();
    format!(
        "{dir}: no page files in the folder (*.json, *.ndjson, *.jsonl, optionally .gz, \
         not starting with _ or .); it holds {}",
        list(&others)
    )
}

/// Names for a message: the first few, then how many more, so a long list stays one line.
pub fn list<S: AsRef<str>>(names: &[S]) -> String {
    const SHOWN: usize = 5;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text += &format!(" and {} more", names.len() - SHOWN);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_files_are_recognised_by_extension() {
        for yes in ["a.json", "b.ndjson", "c.jsonl", "d.json.gz", "e.jsonl.gz"] {
            assert!(is_page_file(yes), "{yes}");
        }
        for no in ["_manifest.json", ".hidden.json", "notes.txt", "x.gz", "json"] {
            assert!(!is_page_file(no), "{no}");
        }
    }

    #[test]
    fn a_folder_without_pages_is_named_with_what_it_holds() {
        let dir = Path::new("d");
        assert_eq!(
            no_page_files(dir, vec![]),
            "d: the folder is empty; no page read from it"
        );
        let held = no_page_files(dir, vec!["page.txt".into(), "UPPER.JSON".into()]);
        assert!(held.ends_with("it holds UPPER.JSON, page.txt"), "{held}");
        let many = no_page_files(dir, (0..8).map(|i| format!("f{i}.txt")).collect());
        assert!(many.ends_with("f4.txt and 3 more"), "{many}");
    }
}
