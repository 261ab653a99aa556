//! `--names`: the lookup tables `gcagg names` writes, held in memory, and the name of an id.
//!
//! The tables are read whole before the first page: a map per entity type from id to name
//! (100,000 users take a few MB). Each id column of the aggregates ([`ID_COLUMNS`]) whose
//! type the tables hold gets a name column beside it. An id the table lacks has no name
//! (null), and is counted for one warning at the end; a value that is not a UUID (a system
//! wrap-up code such as `ININ-WRAP-UP-TIMEOUT`, a system presence) is its own name.

use std::fs::File;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::cmd::flatten::{format_of, Format};
use crate::exit::usage;
use crate::input::Source;
use crate::names::{Kind, SPECS};

/// The group keys that hold ids, and the type of entity each names.
pub const ID_COLUMNS: [(&str, Kind); 9] = [
    ("queueId", Kind::Queues),
    ("userId", Kind::Users),
    ("wrapUpCode", Kind::Wrapupcodes),
    ("divisionId", Kind::Divisions),
    ("requestedRoutingSkillId", Kind::Skills),
    ("activeSkillId", Kind::Skills),
    ("requestedLanguageId", Kind::Languages),
    ("flowId", Kind::Flows),
    ("teamId", Kind::Teams),
];

/// The metrics whose qualifiers are ids, and the type of entity each names.
pub const ID_QUALIFIERS: [(&str, Kind); 1] = [("tOrganizationPresence", Kind::Presence)];

/// The column that holds the names of the id column `key`: `queueId` → `queueName`,
/// `wrapUpCode` → `wrapUpCodeName`.
pub fn name_column(key: &str) -> String {
    format!("{}Name", key.strip_suffix("Id").unwrap_or(key))
}

/// The name of one id, as [`Lookup::name`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// The table's name for it (or, for a value that is no UUID, the value itself).
    Found(&'a str),
    /// A UUID the table lacks.
    Missing,
}

/// The names tables, by entity type.
#[derive(Debug, Default)]
pub struct Lookup {
    /// The `--names` argument, for messages.
    pub source: String,
    tables: FxHashMap<Kind, FxHashMap<Box<str>, Box<str>>>,
}

/// One record of a names table: the fields the lookup uses (the others are skipped).
#[derive(Deserialize)]
struct Record {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    #[serde(default)]
    name: Option<String>,
}

impl Lookup {
    /// Reads the names tables of `path`: a file (NDJSON, JSON, CSV, each optionally gzip, or
    /// Parquet, by extension) or a folder of them, as `gcagg names` writes.
    pub fn load(path: &Path) -> anyhow::Result<Lookup> {
        let mut lookup = Lookup {
            source: path.display().to_string(),
            ..Lookup::default()
        };
        if path.is_dir() {
            let mut files = Vec::new();
            let entries =
                std::fs::read_dir(path).with_context(|| format!("--names {}: cannot read", path.display()))?;
            for entry in entries {
                let file = entry
                    .with_context(|| format!("--names {}: cannot read", path.display()))?
                    .path();
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // Hidden and `_` files are not tables, as in a dataset.
                if !name.starts_with(['.', '_']) && matches!(format_of(&file), Some((Some(_), _))) {
                    files.push(file);
                }
            }
            if files.is_empty() {
                return Err(usage(format!(
                    "--names {}: holds no names table (.ndjson, .jsonl, .json, .csv or .parquet); write them with `gcagg names -o {}/`",
                    path.display(),
                    path.display()
                )));
            }
            files.sort();
            for file in files {
                lookup.read_table(&file)?;
            }
        } else if path.is_file() {
            lookup.read_table(path)?;
        } else {
            return Err(usage(format!("--names {}: no such file or folder", path.display())));
        }
        Ok(lookup)
    }

    /// Adds the records of one table file.
    fn read_table(&mut self, path: &Path) -> anyhow::Result<()> {
        let shown = path.display().to_string();
        let format = match format_of(path) {
            Some((Some(format), _)) => format,
            _ => {
                return Err(usage(format!(
                    "--names {shown}: cannot tell the format from the extension; use .ndjson, .jsonl, .json, .csv (optionally .gz) or .parquet"
                )))
            }
        };
        // A file that cannot be opened says so; one that does not parse is no names table.
        let read = match format {
            Format::Parquet => self.read_parquet(path),
            Format::Csv => self.read_csv(open(path)?),
            Format::Ndjson => self.read_ndjson(open(path)?),
            Format::Json => self.read_json(open(path)?),
        };
        read.with_context(|| format!("--names {shown}: not a names table of `gcagg names`"))
    }

    fn read_ndjson(&mut self, reader: Box<dyn BufRead>) -> anyhow::Result<()> {
        for record in serde_json::Deserializer::from_reader(reader).into_iter::<Record>() {
            self.add(record?);
        }
        Ok(())
    }

    fn read_json(&mut self, reader: Box<dyn BufRead>) -> anyhow::Result<()> {
        let records: Vec<Record> = serde_json::from_reader(reader)?;
        records.into_iter().for_each(|r| self.add(r));
        Ok(())
    }

    fn read_csv(&mut self, reader: Box<dyn BufRead>) -> anyhow::Result<()> {
        let mut csv = csv::Reader::from_reader(reader);
        let header = csv.headers()?.clone();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| anyhow::anyhow!("no `{name}` column"))
        };
        let (kind, id, name) = (column("type")?, column("id")?, column("name")?);
        for row in csv.records() {
            let row = row?;
            let field = |at: usize| row.get(at).unwrap_or("").to_owned();
            let name = Some(field(name)).filter(|n| !n.is_empty());
            self.add(Record {
                kind: field(kind),
                id: field(id),
                name,
            });
        }
        Ok(())
    }

    fn read_parquet(&mut self, path: &Path) -> anyhow::Result<()> {
        let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let reader = SerializedFileReader::new(file)?;
        for row in reader.get_row_iter(None)? {
            let mut record = Record {
                kind: String::new(),
                id: String::new(),
                name: None,
            };
            for (column, field) in row?.get_column_iter() {
                let Field::Str(text) = field else { continue };
                match column.as_str() {
                    "type" => record.kind = text.clone(),
                    "id" => record.id = text.clone(),
                    "name" => record.name = Some(text.clone()),
                    _ => {}
                }
            }
            self.add(record);
        }
        Ok(())
    }

    /// Keeps a record's name under its type and id; a type gcagg does not list is passed
    /// by, and so is a record without a name (its id stays unnamed).
    fn add(&mut self, record: Record) {
        let Some(spec) = SPECS.iter().find(|s| s.record_type == record.kind) else {
            return;
        };
        let (Some(name), false) = (record.name, record.id.is_empty()) else {
            return;
        };
        self.tables
            .entry(spec.kind)
            .or_default()
            .entry(record.id.into_boxed_str())
            .or_insert(name.into_boxed_str());
    }

    /// Whether the tables hold any entity of `kind` (else its id columns get no names).
    pub fn has(&self, kind: Kind) -> bool {
        self.tables.contains_key(&kind)
    }

    /// The name of the `kind` entity `id`.
    pub fn name<'a>(&'a self, kind: Kind, id: &'a str) -> Name<'a> {
        match self.tables.get(&kind).and_then(|t| t.get(id)) {
            Some(name) => Name::Found(name),
            None if is_uuid(id) => Name::Missing,
            None => Name::Found(id),
        }
    }
}

/// Opens a table file, gzip or not.
fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    Source {
        name: path.display().to_string(),
        path: Some(PathBuf::from(path)),
    }
    .open()
}

/// Whether `text` is a UUID: 8-4-4-4-12 hex digits.
fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(at, &b)| match at {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_columns_replace_a_trailing_id() {
        assert_eq!(name_column("queueId"), "queueName");
        assert_eq!(name_column("requestedRoutingSkillId"), "requestedRoutingSkillName");
        assert_eq!(name_column("wrapUpCode"), "wrapUpCodeName");
    }

    #[test]
    fn only_uuids_go_missing() {
        let lookup = Lookup::default();
        assert!(is_uuid("00000001-5b1e-4c2a-9d3f-000000000001"));
        assert!(!is_uuid("00000001-5b1e-4c2a-9d3f-00000000000"));
        assert_eq!(
            lookup.name(Kind::Queues, "00000001-5b1e-4c2a-9d3f-000000000001"),
            Name::Missing
        );
        assert_eq!(
            lookup.name(Kind::Wrapupcodes, "ININ-WRAP-UP-TIMEOUT"),
            Name::Found("ININ-WRAP-UP-TIMEOUT")
        );
    }
}
