//! Rows turned into columns on a replay thread: one [`Fragment`] per spool segment.
//!
//! Each text (and timestamp) column keeps a dictionary of its own for the fragment, so the
//! thread that writes the file only maps a fragment's few distinct values to its row group's
//! dictionary instead of hashing every cell. A long entity's rows repeat its head and a
//! slot's rows repeat its labels, so those cells are looked up once per entity or slot.

use rustc_hash::FxHashMap;

use super::number::{double, parse_count, timestamp};
use crate::columns::FIRST_SLOT;

/// The rows of one spool segment, column by column, in header order.
pub struct Fragment {
    /// How many rows.
    pub rows: usize,
    /// One part per header column.
    pub parts: Vec<Part>,
}

/// One column's cells of a [`Fragment`].
pub struct Part {
    /// Per row, 1 for a value and 0 for a null: Parquet's definition levels.
    pub levels: Vec<u8>,
    /// The values, one per 1 in `levels`.
    pub values: Values,
}

/// The values of a [`Part`].
pub enum Values {
    /// Keys into the fragment's distinct texts, which end at `ends` in `bytes`.
    Texts {
        /// One key per value.
        keys: Vec<u32>,
        /// Where each distinct text ends in `bytes` (the first starts at 0).
        ends: Vec<u32>,
        /// The distinct texts back to back.
        bytes: Vec<u8>,
    },
    /// Keys into the fragment's distinct timestamps.
    Times {
        /// One key per value.
        keys: Vec<u32>,
        /// The distinct timestamps, in milliseconds since the epoch.
        distinct: Vec<i64>,
    },
    /// INT64 values.
    Ints(Vec<i64>),
    /// DOUBLE values.
    Floats(Vec<f64>),
}

impl Values {
    /// The `key`th distinct text of a [`Values::Texts`].
    pub fn text<'a>(ends: &[u32], bytes: &'a [u8], key: u32) -> &'a [u8] {
        let key = key as usize;
        let start = if key == 0 { 0 } else { ends[key - 1] as usize };
        &bytes[start..ends[key] as usize]
    }
}

/// One column's cells as rows arrive.
pub struct PartBuilder {
    levels: Vec<u8>,
    kind: Kind,
}

enum Kind {
    Text {
        keys: Vec<u32>,
        ends: Vec<u32>,
        bytes: Vec<u8>,
        lookup: FxHashMap<Box<str>, u32>,
        /// Per long-layout slot, the key of its label in this column (`u32::MAX`: not yet).
        slots: Vec<u32>,
    },
    Time {
        keys: Vec<u32>,
        distinct: Vec<i64>,
        lookup: FxHashMap<i64, u32>,
    },
    Int(Vec<i64>),
    Float(Vec<f64>),
}

/// Which kind of column a [`PartBuilder`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Dictionary-encoded UTF-8.
    Text,
    /// Millisecond timestamps.
    Time,
    /// INT64 counts.
    Int,
    /// DOUBLE values.
    Float,
}

impl PartBuilder {
    /// An empty column of `kind`.
    pub fn new(kind: ColumnKind) -> PartBuilder {
        let kind = match kind {
            ColumnKind::Text => Kind::Text {
                keys: Vec::new(),
                ends: Vec::new(),
                bytes: Vec::new(),
                lookup: FxHashMap::default(),
                slots: Vec::new(),
            },
            ColumnKind::Time => Kind::Time {
                keys: Vec::new(),
                distinct: Vec::new(),
                lookup: FxHashMap::default(),
            },
            ColumnKind::Int => Kind::Int(Vec::new()),
            ColumnKind::Float => Kind::Float(Vec::new()),
        };
        PartBuilder {
            levels: Vec::new(),
            kind,
        }
    }

    /// Appends a null.
    pub fn append_null(&mut self) {
        self.levels.push(0);
    }

    /// Appends the value a cell the entity lacks holds: 0 if `zero` (a value column
    /// without `--keep-nulls`), else null.
    pub fn append_missing(&mut self, zero: bool) {
        match &mut self.kind {
            Kind::Int(values) if zero => values.push(0),
            Kind::Float(values) if zero => values.push(0.0),
            _ => return self.append_null(),
        }
        self.levels.push(1);
    }

    /// Appends one cell's text, or says why it does not fit.
    pub fn append_text(&mut self, text: &str) -> Result<(), &'static str> {
        match &mut self.kind {
            Kind::Text {
                keys,
                ends,
                bytes,
                lookup,
                ..
            } => {
                let key = intern_text(ends, bytes, lookup, text)?;
                keys.push(key);
            }
            Kind::Time { keys, distinct, lookup } => {
                let millis = timestamp(text)?;
                let key = *lookup.entry(millis).or_insert_with(|| {
                    distinct.push(millis);
                    (distinct.len() - 1) as u32
                });
                keys.push(key);
            }
            Kind::Int(values) => values.push(parse_count(text)?),
            Kind::Float(values) => values.push(double(text)?),
        }
        self.levels.push(1);
        Ok(())
    }

    /// Appends a long-layout slot's label (`text`, which is the same for every row of
    /// `slot`): looked up once per slot and fragment.
    pub fn append_label(&mut self, slot: usize, text: &str) -> Result<(), &'static str> {
        let Kind::Text {
            keys,
            ends,
            bytes,
            lookup,
            slots,
        } = &mut self.kind
        else {
            return self.append_text(text);
        };
        let at = slot - FIRST_SLOT;
        if slots.len() <= at {
            slots.resize(at + 1, u32::MAX);
        }
        if slots[at] == u32::MAX {
            slots[at] = intern_text(ends, bytes, lookup, text)?;
        }
        keys.push(slots[at]);
        self.levels.push(1);
        Ok(())
    }

    /// Appends the last cell `n` more times (the column holds at least one row): the long
    /// layout's rows repeat their entity's head, which is parsed and looked up once.
    pub fn repeat_last(&mut self, n: usize) {
        let level = self.levels[self.levels.len() - 1];
        self.levels.extend(std::iter::repeat_n(level, n));
        if level == 1 {
            match &mut self.kind {
                Kind::Text { keys, .. } | Kind::Time { keys, .. } => repeat(keys, n),
                Kind::Int(values) => repeat(values, n),
                Kind::Float(values) => repeat(values, n),
            }
        }
    }

    /// The cells so far, leaving the column empty.
    pub fn take(&mut self) -> Part {
        let values = match &mut self.kind {
            Kind::Text {
                keys,
                ends,
                bytes,
                lookup,
                slots,
            } => {
                lookup.clear();
                slots.clear();
                Values::Texts {
                    keys: take_sized(keys),
                    ends: std::mem::take(ends),
                    bytes: std::mem::take(bytes),
                }
            }
            Kind::Time { keys, distinct, lookup } => {
                lookup.clear();
                Values::Times {
                    keys: take_sized(keys),
                    distinct: std::mem::take(distinct),
                }
            }
            Kind::Int(values) => Values::Ints(take_sized(values)),
            Kind::Float(values) => Values::Floats(take_sized(values)),
        };
        Part {
            levels: take_sized(&mut self.levels),
            values,
        }
    }
}

/// The contents of `values`, which start again with room for as many: segments are of similar
/// sizes, and growing a column from nothing cost a copy of it per doubling.
fn take_sized<T>(values: &mut Vec<T>) -> Vec<T> {
    let room = Vec::with_capacity(values.len());
    std::mem::replace(values, room)
}

/// Appends the last of `values` `n` more times.
fn repeat<T: Copy>(values: &mut Vec<T>, n: usize) {
    let last = values[values.len() - 1];
    values.extend(std::iter::repeat_n(last, n));
}

/// The key of `text` among the distinct texts `ends`/`bytes`, added if new.
fn intern_text(
    ends: &mut Vec<u32>,
    bytes: &mut Vec<u8>,
    lookup: &mut FxHashMap<Box<str>, u32>,
    text: &str,
) -> Result<u32, &'static str> {
    if let Some(&key) = lookup.get(text) {
        return Ok(key);
    }
    bytes.extend_from_slice(text.as_bytes());
    let end = u32::try_from(bytes.len()).map_err(|_| "overflows a chunk's 4 GiB of text")?;
    ends.push(end);
    let key = (ends.len() - 1) as u32;
    lookup.insert(text.into(), key);
    Ok(key)
}
