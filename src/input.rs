//! Input sources: files, directories and stdin, gzip recognised by its magic bytes.
//!
//! A directory stands for its `*.json`, `*.ndjson`, `*.jsonl` files (and their `.gz` forms)
//! in name order, skipping names that start with `_` or `.` as Hadoop and Spark do, so
//! fetch's `_manifest.json` is never read as a page.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::read::MultiGzDecoder;

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
    /// Opens the source for reading, decompressing gzip.
    pub fn open(&self) -> anyhow::Result<Box<dyn BufRead>> {
        match &self.path {
            None => decompress(Box::new(io::stdin().lock()), &self.name),
            Some(path) => {
                let file = File::open(path).with_context(|| format!("{}: cannot open", self.name))?;
                decompress(Box::new(file), &self.name)
            }
        }
    }
}

fn decompress(inner: Box<dyn Read>, name: &str) -> anyhow::Result<Box<dyn BufRead>> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, inner);
    let head = reader.fill_buf().with_context(|| format!("{name}: cannot read"))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        // Concatenated gzip members (`cat a.gz b.gz`) are one stream, as gunzip reads them.
        Ok(Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
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
    for entry in std::fs::read_dir(dir).with_context(context)? {
        let entry = entry.with_context(context)?;
        let name = entry.file_name();
        if let Some(name) = name.to_str().filter(|n| is_page_file(n)) {
            if entry.path().is_file() {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
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
}
