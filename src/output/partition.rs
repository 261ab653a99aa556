//! Hive-partitioned output (`--partition-by`), for every format.
//!
//! Each row goes to the data file of its partition, `COL=value/.../part-00000.<ext>`, opened
//! the first time a row needs it. As in Spark and Hive, the partition columns live in the
//! directory names only, not in the files: DuckDB, pyarrow, Spark and Athena add them back
//! from the path. `interval_date`, the UTC date of `interval_start`, and `observed_date`, that
//! of `observed_at` (observation rows), are derived for this.
//!
//! Values are escaped the way Hive escapes them (`%3A` for `:`, and so on), so a value never
//! adds a directory level; a null or empty value is `__HIVE_DEFAULT_PARTITION__`.
//!
//! The whole tree is written into a hidden directory beside the target and renamed onto it
//! only once every file is complete: a failed run leaves the target as it was (nothing, or
//! the previous dataset), never a half-written dataset that looks complete.
//!
//! Memory stays bounded however many partitions there are: at most [`MAX_OPEN`] files are
//! open (the least recently used one is closed, and a later row of its partition starts the
//! next file, `part-00001`), and the rows buffered by all open files together are kept under
//! [`BUDGET`] bytes by flushing the largest buffer (a Parquet row group) early.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use anyhow::{anyhow, Context};

use super::{epoch_millis, utc_date, Cell, RowSink, RowWriter};
use crate::atomic::AtomicDir;
use crate::columns::{safe_name, ColumnId, Columns, Role};
use crate::exit::usage;

/// The directory name part of a null value, as Hive, Spark and pyarrow write it.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The derived partition column: the UTC date of `interval_start`.
pub const INTERVAL_DATE: &str = "interval_date";

/// The derived partition column of observation rows, which have no interval: the UTC date
/// of `observed_at`.
pub const OBSERVED_DATE: &str = "observed_date";

/// Each derived date column and the time column it is the UTC date of.
pub const DATE_COLUMNS: [(&str, &str); 2] = [(INTERVAL_DATE, "interval_start"), (OBSERVED_DATE, "observed_at")];

/// Data files open at once; past this the least recently used one is closed.
pub const MAX_OPEN: usize = 64;

/// Bytes of rows that all open files together may buffer before the largest is flushed.
pub const BUDGET: usize = 64 << 20;

/// Rows between two looks at the buffered bytes (a look asks every open file).
const CHECK_EVERY: u64 = 1024;

/// Makes the writer of one data file, given the file (new, empty) and the output's columns.
pub type Opener = Box<dyn FnMut(fs::File, &Columns) -> anyhow::Result<Box<dyn RowWriter>>>;

/// Where a partition key's value comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A column of the output, once a row has registered it.
    Column(Option<ColumnId>),
    /// The UTC date of the time column `of`, once a row has registered it.
    Date { of: &'static str, column: Option<ColumnId> },
}

struct Key {
    name: String,
    source: Source,
}

/// One partition directory and its current data file.
struct Part {
    dir: String,
    writer: Option<Box<dyn RowWriter>>,
    /// Data files started in this directory so far.
    files: u32,
    /// When a row last went here, in rows routed.
    used: u64,
}

/// Turns `--partition-by` names into safe column names; refuses empty and repeated names.
pub fn key_names(names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    for name in names.iter().map(|n| n.trim()) {
        if name.is_empty() {
            return Err(usage("--partition-by: empty column name"));
        }
        let safe = safe_name(name).into_owned();
        if keys.contains(&safe) {
            return Err(usage(format!("--partition-by {name}: named twice")));
        }
        keys.push(safe);
    }
    Ok(keys)
}

/// The column a partition key names, if the output has it; a value column is refused (a
/// measure makes one directory per number).
pub fn key_column(columns: &Columns, name: &str) -> anyhow::Result<Option<ColumnId>> {
    let Some(id) = columns.find(name) else {
        return Ok(None);
    };
    match columns.get(id).role {
        Role::Value { .. } | Role::LongValue | Role::Kpi { .. } => Err(usage(format!(
            "--partition-by {name}: a value column cannot be a partition key"
        ))),
        _ => Ok(Some(id)),
    }
}

/// Checks the target directory before any work: absent or empty is fine; a non-empty one
/// only with `overwrite`, and only if it holds a partitioned dataset (`COL=value` folders and
/// hidden or `_` files), so a mistyped `-o` never wipes an unrelated folder.
pub fn check_target(target: &Path, overwrite: bool) -> anyhow::Result<()> {
    let shown = target.display();
    let entries = match fs::read_dir(target) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) if target.exists() => return Err(usage(format!("--output {shown}: not a directory"))),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("{shown}: cannot list the directory"))),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("{shown}: cannot list the directory"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !overwrite {
            return Err(usage(format!(
                "--output {shown}: the directory is not empty; --overwrite replaces it"
            )));
        }
        let partition = name.contains('=') && entry.path().is_dir();
        if !partition && !name.starts_with(['.', '_']) {
            return Err(usage(format!(
                "--output {shown}: --overwrite only replaces a partitioned dataset (COL=value folders), and this directory holds `{name}`"
            )));
        }
    }
    Ok(())
}

/// Routes rows to one data file per partition, inside a staging directory.
pub struct Partitioned {
    keys: Vec<Key>,
    /// Whether rows have `observed_at` (observation rows), for the hint of a missing interval.
    observed: bool,
    /// Per column id: whether it is a partition column, left out of the data files.
    dropped: Vec<bool>,
    /// How many columns the registry had when the keys were last resolved.
    resolved: usize,
    opener: Opener,
    ext: String,
    staging: AtomicDir,
    index: HashMap<String, usize>,
    parts: Vec<Part>,
    open: usize,
    rows: u64,
    dir: String,
}

impl Partitioned {
    /// A router writing `part-NNNNN.<ext>` files into `staging`, keyed by `keys` (safe
    /// names, see [`key_names`]); `opener` makes each file's writer.
    pub fn new(staging: AtomicDir, keys: Vec<String>, ext: String, opener: Opener) -> Partitioned {
        let keys = keys
            .into_iter()
            .map(|name| {
                let source = match DATE_COLUMNS.iter().find(|(date, _)| *date == name) {
                    Some(&(_, of)) => Source::Date { of, column: None },
                    None => Source::Column(None),
                };
                Key { name, source }
            })
            .collect();
        Partitioned {
            keys,
            observed: false,
            dropped: Vec::new(),
            resolved: 0,
            opener,
            ext,
            staging,
            index: HashMap::new(),
            parts: Vec::new(),
            open: 0,
            rows: 0,
            dir: String::new(),
        }
    }

    /// Finds the columns of keys not yet seen (columns are registered as rows need them).
    fn resolve(&mut self, columns: &Columns) -> anyhow::Result<()> {
        for key in &mut self.keys {
            match &mut key.source {
                Source::Column(None) => {
                    if let Some(id) = key_column(columns, &key.name)? {
                        key.source = Source::Column(Some(id));
                        if self.dropped.len() <= id {
                            self.dropped.resize(id + 1, false);
                        }
                        self.dropped[id] = true;
                    }
                }
                Source::Date {
                    of,
                    column: column @ None,
                } => *column = columns.find(of),
                _ => {}
            }
        }
        self.observed |= columns.find("observed_at").is_some();
        self.resolved = columns.len();
        Ok(())
    }

    /// Sets `self.dir` to the row's partition directory, `COL=value/...`.
    fn locate(&mut self, cells: &[(ColumnId, Cell<'_>)]) -> anyhow::Result<()> {
        let text = |id: Option<ColumnId>| {
            cells
                .iter()
                .find(|&&(c, _)| Some(c) == id)
                .and_then(|&(_, cell)| match cell {
                    Cell::Text(s) | Cell::Raw(s) => Some(s),
                    Cell::Null => None,
                })
        };
        self.dir.clear();
        for key in &self.keys {
            let value = match key.source {
                Source::Column(id) => text(id).map(Cow::Borrowed),
                Source::Date { of, column } => match text(column) {
                    Some(time) => Some(Cow::Owned(epoch_millis(time).and_then(utc_date).ok_or_else(|| {
                        anyhow!(
                            "field `{of}`: `{time}` is not an RFC 3339 timestamp, so it has no {}",
                            key.name
                        )
                    })?)),
                    None => None,
                },
            };
            self.dir.push_str(&key.name);
            self.dir.push('=');
            match value.filter(|v| !v.is_empty()) {
                Some(v) => escape_into(&mut self.dir, &v),
                None => self.dir.push_str(DEFAULT_PARTITION),
            }
            self.dir.push('/');
        }
        self.dir.pop();
        Ok(())
    }

    /// The part of `self.dir`, its data file open.
    fn part(&mut self, columns: &Columns) -> anyhow::Result<usize> {
        let at = match self.index.get(&self.dir) {
            Some(&at) => at,
            None => {
                self.parts.push(Part {
                    dir: self.dir.clone(),
                    writer: None,
                    files: 0,
                    used: 0,
                });
                self.index.insert(self.dir.clone(), self.parts.len() - 1);
                self.parts.len() - 1
            }
        };
        if self.parts[at].writer.is_none() {
            if self.open == MAX_OPEN {
                self.close_least_recent()?;
            }
            let part = &mut self.parts[at];
            let path = Path::new(&part.dir).join(format!("part-{:05}.{}", part.files, self.ext));
            let file = match self.staging.create_file(&path) {
                Ok(file) => file,
                Err(e) => {
                    let others: Vec<&str> = self.parts.iter().map(|p| p.dir.as_str()).collect();
                    return Err(create_error(&self.parts[at].dir, &others, &e));
                }
            };
            part.writer = Some((self.opener)(file, columns)?);
            part.files += 1;
            self.open += 1;
        }
        self.parts[at].used = self.rows;
        Ok(at)
    }

    fn close_least_recent(&mut self) -> anyhow::Result<()> {
        let oldest = self
            .parts
            .iter_mut()
            .filter(|p| p.writer.is_some())
            .min_by_key(|p| p.used)
            .and_then(|p| p.writer.take());
        if let Some(writer) = oldest {
            writer.finish()?;
            self.open -= 1;
        }
        Ok(())
    }

    /// Flushes the largest buffers until all of them together fit the budget.
    fn bound_memory(&mut self) -> anyhow::Result<()> {
        loop {
            let sizes = self
                .parts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.writer.as_ref().map(|w| (w.buffered_bytes(), i)));
            let (total, largest) = sizes.fold((0, None), |(total, largest): (usize, Option<(usize, usize)>), s| {
                (total + s.0, largest.max(Some(s)))
            });
            match largest {
                Some((bytes, at)) if total > BUDGET && bytes > 0 => {
                    if let Some(writer) = self.parts[at].writer.as_mut() {
                        writer.flush_buffered()?;
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}

impl RowSink for Partitioned {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], _: usize) -> anyhow::Result<()> {
        // Rows sharing a head may land in different partitions, and partition columns are
        // dropped from the cells: each row goes to its writer whole (`shared` 0).
        if columns.len() != self.resolved {
            self.resolve(columns)?;
        }
        self.locate(cells)?;
        self.rows += 1;
        let at = self.part(columns)?;
        let dropped = &self.dropped;
        let writer = self.parts[at]
            .writer
            .as_mut()
            .ok_or_else(|| anyhow!("the data file of {} is not open", self.dir))?;
        if cells.iter().any(|&(id, _)| dropped.get(id) == Some(&true)) {
            let kept: Vec<(ColumnId, Cell<'_>)> = cells
                .iter()
                .filter(|&&(id, _)| dropped.get(id) != Some(&true))
                .copied()
                .collect();
            writer.row(columns, &kept, 0)?;
        } else {
            writer.row(columns, cells, 0)?;
        }
        if self.rows.is_multiple_of(CHECK_EVERY) {
            self.bound_memory()?;
        }
        Ok(())
    }
}

impl RowWriter for Partitioned {
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let Partitioned {
            keys,
            observed,
            staging,
            parts,
            rows,
            ..
        } = *self;
        for writer in parts.into_iter().filter_map(|p| p.writer) {
            writer.finish()?;
        }
        if rows > 0 {
            for key in &keys {
                let missing = match key.source {
                    Source::Column(None) => &key.name,
                    Source::Date { of, column: None } => of,
                    _ => continue,
                };
                // Observation rows have a time but no interval: name the key they can use.
                let hint = if key.name == INTERVAL_DATE && observed {
                    format!(" (observation rows have no interval: --partition-by {OBSERVED_DATE} is the date of their observed_at)")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    io::stderr(),
                    "gcagg: warning: --partition-by {0}: no row has a column `{missing}`{hint}, so every row is under {0}={DEFAULT_PARTITION}",
                    key.name
                );
            }
        }
        staging.commit()
    }
}

/// Appends `value` with the characters Hive escapes in partition paths written as `%XX`.
/// Why a partition's data file cannot be created, naming the partition (not the hidden
/// staging folder, which the user never sees) and the likely cause.
fn create_error(dir: &str, others: &[&str], e: &io::Error) -> anyhow::Error {
    let twin = others
        .iter()
        .find(|other| **other != dir && other.to_lowercase() == dir.to_lowercase());
    if let (Some(twin), io::ErrorKind::AlreadyExists) = (twin, e.kind()) {
        return anyhow!(
            "partitions `{twin}` and `{dir}` differ only in case, and this file system does not \
             tell them apart (as on macOS and Windows): they would mix in one folder; partition by \
             another column, or write the dataset on a case-sensitive file system"
        );
    }
    let longest = dir.split('/').map(str::len).max().unwrap_or(0);
    if longest > 255 {
        return anyhow!(
            "partition `{}...`: its folder name is {longest} bytes long, over the 255 that file \
             systems allow; partition by a column with shorter values",
            dir.chars().take(60).collect::<String>()
        );
    }
    anyhow!("partition `{dir}`: cannot create its data file: {e}")
}

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        let escaped = matches!(
            c,
            '\0'..='\x1f'
                | '\x7f'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '{'
                | '['
                | ']'
                | '^'
        );
        if escaped {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_that_a_case_folding_file_system_merges_are_both_named() {
        let exists = io::Error::from(io::ErrorKind::AlreadyExists);
        let e = create_error("q=voice", &["q=Voice", "q=voice"], &exists).to_string();
        assert!(
            e.starts_with("partitions `q=Voice` and `q=voice` differ only in case"),
            "{e}"
        );
        let other = io::Error::from(io::ErrorKind::PermissionDenied);
        let e = create_error("q=voice", &["q=Voice", "q=voice"], &other).to_string();
        assert!(e.starts_with("partition `q=voice`: cannot create its data file"), "{e}");
    }

    #[test]
    fn values_are_escaped_as_hive_does() {
        let mut out = String::new();
        escape_into(&mut out, "2024-05-01T00:00:00.000Z a/b=c%d été..");
        assert_eq!(out, "2024-05-01T00%3A00%3A00.000Z a%2Fb%3Dc%25d été..");
    }

    #[test]
    fn key_names_are_safe_and_distinct() {
        let names = |v: &[&str]| key_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            names(&["queue.id", "interval_date"]).unwrap(),
            ["queue_id", "interval_date"]
        );
        assert!(names(&["a", "a"]).is_err());
        assert!(names(&[" "]).is_err());
    }
}
