//! The output's columns: safe names, what each column holds, and the collision rules.
//!
//! A column is registered the first time a row needs it, so the registry's order is the
//! order of first appearance (SPEC §2.3). One name can only ever hold one kind of thing:
//! a group key and a metric that become the same name are an error naming both sources,
//! never a silent overwrite (SPEC §2.2).

use std::borrow::Cow;
use std::collections::HashMap;

/// Index of a column in the [`Columns`] registry.
pub type ColumnId = usize;

/// What a column holds; decides its place in the header and its Parquet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A constant from `--add-column`.
    Constant,
    /// A key of the entity's group.
    Group,
    /// The first half of the entity's interval.
    IntervalStart,
    /// The second half of the entity's interval.
    IntervalEnd,
    /// The tutorial shape's entity `id`.
    AggregateId,
    /// A wide-layout value column; `integer` for the count stats (INT64 in Parquet).
    Value {
        /// Whether every stat seen in this column is a count.
        integer: bool,
    },
    /// The long layout's metric label.
    Metric,
    /// The long layout's metric qualifier.
    Qualifier,
    /// The long layout's stat name.
    Stat,
    /// The long layout's value.
    LongValue,
}

impl Role {
    /// Position of this kind of column in the header; ties keep first appearance.
    fn rank(self) -> u8 {
        match self {
            Role::Constant => 0,
            Role::Group => 1,
            Role::IntervalStart => 2,
            Role::IntervalEnd => 3,
            Role::AggregateId => 4,
            Role::Value { .. } | Role::Metric => 5,
            Role::Qualifier => 6,
            Role::Stat => 7,
            Role::LongValue => 8,
        }
    }

    /// Whether two roles may share a column (value columns merge across stats).
    fn same_kind(self, other: Role) -> bool {
        matches!((self, other), (Role::Value { .. }, Role::Value { .. })) || self == other
    }

    /// Whether a cell the entity lacks is a value (written `0` unless `--keep-nulls`).
    pub fn is_value(self) -> bool {
        matches!(self, Role::Value { .. })
    }
}

/// One output column.
#[derive(Debug)]
pub struct Column {
    /// The safe name (ASCII letters, digits and `_` only).
    pub name: String,
    /// What the column holds.
    pub role: Role,
    /// Where the column first came from, for error messages.
    pub source: String,
    /// `"name":`, ready to be written in an NDJSON row.
    pub json_key: Box<[u8]>,
}

/// The registry of every column seen so far, in order of first appearance.
#[derive(Debug, Default)]
pub struct Columns {
    columns: Vec<Column>,
    by_name: HashMap<String, ColumnId>,
    /// The long layout's `metric`, `qualifier`, `stat` and `value` columns.
    long_columns: Option<[ColumnId; 4]>,
    slots: Vec<Slot>,
}

/// Ids from here up name [`Slot`]s, not columns.
pub const FIRST_SLOT: ColumnId = 1 << 30;

/// What one value of the long layout becomes: the labels of its row.
///
/// Long rows are carried as one record per entity, each value tagged with its slot (an id
/// from [`FIRST_SLOT`] up), and expanded into rows only when written: the spool and the
/// replay then handle an entity once instead of once per stat.
#[derive(Debug)]
pub struct Slot {
    /// The `metric` column: the metric name, or `view:` and the view name.
    pub label: String,
    /// The `qualifier` column.
    pub qualifier: Option<String>,
    /// The `stat` column: the stat's API name.
    pub stat: String,
}

impl Columns {
    /// Returns the column called `name` (already safe), registering it on first use.
    ///
    /// `source` describes where the name came from; it is only evaluated when needed.
    pub fn intern(&mut self, name: &str, role: Role, source: impl FnOnce() -> String) -> anyhow::Result<ColumnId> {
        if let Some(&id) = self.by_name.get(name) {
            let column = &mut self.columns[id];
            if !column.role.same_kind(role) {
                anyhow::bail!("column `{name}` would hold both {} and {}", column.source, source());
            }
            if let (Role::Value { integer: a }, Role::Value { integer: b }) = (column.role, role) {
                column.role = Role::Value { integer: a && b };
            }
            return Ok(id);
        }
        let id = self.columns.len();
        self.columns.push(Column {
            name: name.to_owned(),
            role,
            source: source(),
            json_key: format!("\"{name}\":").into_bytes().into_boxed_slice(),
        });
        self.by_name.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Registers the long layout's columns (`metric`, `qualifier`, `stat`, `value`).
    pub fn set_long_columns(&mut self, ids: [ColumnId; 4]) {
        self.long_columns = Some(ids);
    }

    /// The long layout's columns (`metric`, `qualifier`, `stat`, `value`), if registered.
    pub fn long_columns(&self) -> Option<[ColumnId; 4]> {
        self.long_columns
    }

    /// Registers a long-layout value slot; returns its id.
    pub fn add_slot(&mut self, slot: Slot) -> ColumnId {
        self.slots.push(slot);
        FIRST_SLOT + self.slots.len() - 1
    }

    /// The slot with this id (at least [`FIRST_SLOT`]).
    pub fn slot(&self, id: ColumnId) -> &Slot {
        &self.slots[id - FIRST_SLOT]
    }

    /// The column called `name` (a safe name), if one has been registered.
    pub fn find(&self, name: &str) -> Option<ColumnId> {
        self.by_name.get(name).copied()
    }

    /// The column with this id.
    pub fn get(&self, id: ColumnId) -> &Column {
        &self.columns[id]
    }

    /// Number of columns registered.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// The header of CSV and Parquet output: every column, ordered as SPEC §2.3 says.
    pub fn header(&self) -> Vec<ColumnId> {
        let mut ids: Vec<ColumnId> = (0..self.columns.len()).collect();
        ids.sort_by_key(|&id| self.columns[id].role.rank());
        ids
    }
}

/// Makes a column name safe: every character that is not an ASCII letter, digit or `_`
/// becomes `_`; an empty name becomes `_`.
pub fn safe_name(name: &str) -> Cow<'_, str> {
    if name.is_empty() {
        return Cow::Borrowed("_");
    }
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Cow::Borrowed(name);
    }
    Cow::Owned(
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_replace_each_character_not_byte() {
        assert_eq!(safe_name("queue.id"), "queue_id");
        assert_eq!(safe_name("wrap-up code"), "wrap_up_code");
        assert_eq!(safe_name("été"), "_t_");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("view:tKind"), "view_tKind");
        assert!(matches!(safe_name("nOffered_count"), Cow::Borrowed(_)));
    }

    #[test]
    fn one_name_cannot_hold_two_kinds() {
        let mut cols = Columns::default();
        cols.intern("queue_id", Role::Group, || "group key `queue.id`".into())
            .unwrap();
        let err = cols
            .intern("queue_id", Role::Value { integer: true }, || {
                "metric `queue` stat `id`".into()
            })
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("group key `queue.id`") && msg.contains("metric `queue` stat `id`"),
            "{msg}"
        );
    }

    #[test]
    fn value_columns_merge_and_widen_to_double() {
        let mut cols = Columns::default();
        let a = cols
            .intern("x_count", Role::Value { integer: true }, String::new)
            .unwrap();
        let b = cols
            .intern("x_count", Role::Value { integer: false }, String::new)
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(cols.get(a).role, Role::Value { integer: false });
    }

    #[test]
    fn header_puts_kinds_in_spec_order() {
        let mut cols = Columns::default();
        let v = cols
            .intern("nOffered_count", Role::Value { integer: true }, String::new)
            .unwrap();
        let e = cols.intern("interval_end", Role::IntervalEnd, String::new).unwrap();
        let s = cols.intern("interval_start", Role::IntervalStart, String::new).unwrap();
        let g = cols.intern("queueId", Role::Group, String::new).unwrap();
        let c = cols.intern("org", Role::Constant, String::new).unwrap();
        let g2 = cols.intern("mediaType", Role::Group, String::new).unwrap();
        assert_eq!(cols.header(), vec![c, g, g2, s, e, v]);
    }
}
