//! `--names`: the lookup tables `gcagg names` writes, held in memory, and the name of an id.
//!
//! The tables are read whole before the first page: a map per entity type from id to name
//! (100,000 users take a few MB). Each id column of the aggregates ([`ID_COLUMNS`]) whose
//! type the tables hold gets a name column beside it. An id the table lacks has no name
//! (null), and is counted for one warning at the end; a value that is not a UUID (a system
//! wrap-up code such as `ININ-WRAP-UP-TIMEOUT`, a system presence) is its own name.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::exit::usage;
use crate::input::Source;
use crate::names::{Kind, SPECS};
use crate::output::format::{format_of, Format};

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
///
/// Ids are nearly always UUIDs: those are keyed by their 128 bits, and every name lives in
/// one text, so 100,000 users cost no allocation each (allocating and freeing them was most
/// of the load).
#[derive(Debug, Default)]
pub struct Lookup {
    /// The `--names` argument, for messages.
    pub source: String,
    tables: FxHashMap<Kind, Table>,
    /// Every name, back to back; tables hold ranges of it.
    text: String,
}

/// The names of one type: where each id's name is in [`Lookup::text`].
#[derive(Debug, Default)]
struct Table {
    uuids: FxHashMap<u128, (u32, u32)>,
    others: FxHashMap<Box<str>, (u32, u32)>,
}

/// One record of a names table: the fields the lookup uses (the others are skipped), borrowed
/// from the text where it has no escapes.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
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

    fn read_ndjson(&mut self, mut reader: Box<dyn BufRead>) -> anyhow::Result<()> {
        // One record a line, as `gcagg names` writes them: such a line is read without a
        // parser, any other by serde, its strings borrowed from the line.
        let mut line = Vec::new();
        let mut number = 0;
        while reader.read_until(b'\n', &mut line)? > 0 {
            number += 1;
            let text = line.trim_ascii();
            if !text.is_empty() {
                let record = match quick_record(text) {
                    Some(record) => record,
                    None => serde_json::from_slice(text).with_context(|| format!("line {number}"))?,
                };
                self.add(record);
            }
            line.clear();
        }
        Ok(())
    }

    fn read_json(&mut self, mut reader: Box<dyn BufRead>) -> anyhow::Result<()> {
        let mut text = String::new();
        reader.read_to_string(&mut text)?;
        let records: Vec<Record> = serde_json::from_str(&text)?;
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
        let mut row = csv::StringRecord::new();
        while csv.read_record(&mut row)? {
            let field = |at: usize| Cow::Borrowed(row.get(at).unwrap_or(""));
            self.add(Record {
                kind: field(kind),
                id: field(id),
                name: Some(field(name)).filter(|n| !n.is_empty()),
            });
        }
        Ok(())
    }

    fn read_parquet(&mut self, path: &Path) -> anyhow::Result<()> {
        let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let reader = SerializedFileReader::new(file)?;
        for row in reader.get_row_iter(None)? {
            let row = row?;
            let mut record = Record {
                kind: Cow::Borrowed(""),
                id: Cow::Borrowed(""),
                name: None,
            };
            for (column, field) in row.get_column_iter() {
                let Field::Str(text) = field else { continue };
                match column.as_str() {
                    "type" => record.kind = Cow::Borrowed(text),
                    "id" => record.id = Cow::Borrowed(text),
                    "name" => record.name = Some(Cow::Borrowed(text)),
                    _ => {}
                }
            }
            self.add(record);
        }
        Ok(())
    }

    /// Keeps a record's name under its type and id; a type gcagg does not list is passed
    /// by, and so is a record without a name (its id stays unnamed).
    fn add(&mut self, record: Record<'_>) {
        let Some(spec) = SPECS.iter().find(|s| s.record_type == record.kind) else {
            return;
        };
        let (Some(name), false) = (record.name, record.id.is_empty()) else {
            return;
        };
        let table = self.tables.entry(spec.kind).or_default();
        let text = &mut self.text;
        let keep = || {
            let start = text.len() as u32;
            text.push_str(&name);
            (start, name.len() as u32)
        };
        // The first record of an id wins, as a join on the first match would.
        match uuid(&record.id) {
            Some(key) => table.uuids.entry(key).or_insert_with(keep),
            None => table.others.entry(Box::from(&*record.id)).or_insert_with(keep),
        };
    }

    /// Whether the tables hold any entity of `kind` (else its id columns get no names).
    pub fn has(&self, kind: Kind) -> bool {
        self.tables.contains_key(&kind)
    }

    /// The name of the `kind` entity `id`.
    pub fn name<'a>(&'a self, kind: Kind, id: &'a str) -> Name<'a> {
        let key = uuid(id);
        let found = self.tables.get(&kind).and_then(|t| match key {
            Some(key) => t.uuids.get(&key),
            None => t.others.get(id),
        });
        match (found, key) {
            (Some(&(start, len)), _) => Name::Found(&self.text[start as usize..(start + len) as usize]),
            (None, Some(_)) => Name::Missing,
            (None, None) => Name::Found(id),
        }
    }
}

/// The record of a line as `gcagg names` writes it, `{"type":"…","id":"…","name":"…",…}`,
/// read without a parser: the table's load is most of what `--names` adds to a run. `None`
/// for any other line (another key order, an escape, no name), which serde reads.
fn quick_record(line: &[u8]) -> Option<Record<'_>> {
    let rest = line.strip_prefix(b"{\"type\":\"")?;
    let (kind, rest) = plain_string(rest)?;
    let (id, rest) = plain_string(rest.strip_prefix(b",\"id\":\"")?)?;
    let (name, _) = plain_string(rest.strip_prefix(b",\"name\":\"")?)?;
    let text = |bytes| std::str::from_utf8(bytes).ok().map(Cow::Borrowed);
    line.ends_with(b"}").then_some(Record {
        kind: text(kind)?,
        id: text(id)?,
        name: Some(text(name)?),
    })
}

/// The content of a JSON string without escapes (`text` starts after its opening quote),
/// and what follows its closing quote.
fn plain_string(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr2(b'"', b'\\', text)?;
    (text[end] == b'"').then(|| (&text[..end], &text[end + 1..]))
}

/// Opens a table file, gzip or not.
fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    Source {
        name: path.display().to_string(),
        path: Some(PathBuf::from(path)),
    }
    .open()
}

/// The 128 bits of `text` if it is a UUID (8-4-4-4-12 hex digits, either case).
fn uuid(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value = 0u128;
    for (at, &b) in bytes.iter().enumerate() {
        match at {
            8 | 13 | 18 | 23 if b == b'-' => {}
            8 | 13 | 18 | 23 => return None,
            _ => match HEX[usize::from(b)] {
                NOT_HEX => return None,
                digit => value = value << 4 | u128::from(digit),
            },
        }
    }
    Some(value)
}

/// [`HEX`]'s mark of a byte that is no hex digit.
const NOT_HEX: u8 = 0xff;

/// The value of each hex digit byte (every id of every row is read through it).
const HEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut b = 0;
    while b < 10 {
        table[b'0' as usize + b] = b as u8;
        b += 1;
    }
    let mut b = 0;
    while b < 6 {
        table[b'a' as usize + b] = 10 + b as u8;
        table[b'A' as usize + b] = 10 + b as u8;
        b += 1;
    }
    table
};

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
    fn lines_of_gcagg_names_are_read_quickly_and_others_by_serde() {
        let quick = quick_record(br#"{"type":"queue","id":"q1","name":"Sales","division_id":"d"}"#).unwrap();
        assert_eq!(
            (&*quick.kind, &*quick.id, quick.name.as_deref()),
            ("queue", "q1", Some("Sales"))
        );
        for other in [
            &br#"{"type":"queue","id":"q1","name":"Sales \"EMEA\""}"#[..],
            br#"{"id":"q1","type":"queue","name":"Sales"}"#,
            br#"{"type":"queue","id":"q1"}"#,
            br#"{"type":"queue","id":"q1","name":"Sales""#,
        ] {
            assert!(quick_record(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn only_uuids_go_missing() {
        let lookup = Lookup::default();
        assert_eq!(
            uuid("00000001-5b1e-4c2a-9d3f-00000000000A"),
            Some(0x0000_0001_5b1e_4c2a_9d3f_0000_0000_000a)
        );
        assert_eq!(uuid("00000001-5b1e-4c2a-9d3f-00000000000"), None);
        assert_eq!(uuid("00000001-5b1e-4c2a-9d3f+00000000000a"), None);
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
