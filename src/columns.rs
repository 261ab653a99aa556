//! The output's columns: safe names, what each column holds, and the collision rules.
//!
//! A column is registered the first time a row needs it, so the registry's order is the
//! order of first appearance. One name can only ever hold one kind of thing:
//! a group key and a metric that become the same name are an error naming both sources,
//! never a silent overwrite.

use std::borrow::Cow;
use std::collections::HashMap;

/// One row per entity, or one row per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// One row per entity, one column per stat.
    Wide,
    /// One row per stat: `metric`, `qualifier`, `stat`, `value`.
    Long,
    /// One row per `observations[]` entry of an observation query (a waiting or
    /// interacting conversation): `metric`, `qualifier`, `truncated`, then its fields.
    Observations,
}

/// Maps the SDKs' snake_case stat names to the API's, so SDK and raw dumps give the same columns.
pub fn api_stat_name(name: &str) -> &str {
    match name {
        "count_negative" => "countNegative",
        "count_positive" => "countPositive",
        "calculated_metric_value" => "calculatedMetricValue",
        other => other,
    }
}

/// Whether a stat is a count (INT64 in Parquet).
pub fn is_count_stat(stat: &str) -> bool {
    matches!(stat, "count" | "countNegative" | "countPositive")
}

/// Index of a column in the [`Columns`] registry.
pub type ColumnId = usize;

/// What a column holds; decides its place in the header and its Parquet type.
///
/// Serialised (snake_case) in a sync dataset's definition, which keeps its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A constant from `--add-column`.
    Constant,
    /// A key of the entity's group.
    Group,
    /// `--names`: the names of the ids in the group key column registered just before it.
    Name,
    /// The first half of the entity's interval.
    IntervalStart,
    /// The second half of the entity's interval.
    IntervalEnd,
    /// When an observation was observed.
    ObservedAt,
    /// The tutorial shape's entity `id`.
    AggregateId,
    /// `--layout observations`: whether the entry's metric's list was truncated.
    Truncated,
    /// `--layout observations`: a field of an `observations[]` entry.
    Field,
    /// A wide-layout value column; `integer` for the count stats (INT64 in Parquet).
    Value {
        /// Whether every stat seen in this column is a count.
        integer: bool,
    },
    /// The long layout's metric label.
    Metric,
    /// The long layout's metric qualifier.
    Qualifier,
    /// `--names`: the long layout's name of a qualifier that is an id.
    QualifierName,
    /// The long layout's stat name.
    Stat,
    /// The long layout's value.
    LongValue,
    /// A `--kpis` column (DOUBLE); `order` is its place among them.
    Kpi {
        /// Its index in [`crate::kpis::KPIS`].
        order: u8,
    },
}

impl Role {
    /// Position of this kind of column in the header; ties keep first appearance.
    /// KPIs (wide layout only) follow the value columns, in their own fixed order.
    fn rank(self) -> (u8, u8) {
        match self {
            Role::Constant => (0, 0),
            // A name column is registered right after its id column: first appearance
            // keeps the pair together.
            Role::Group | Role::Name => (1, 0),
            Role::IntervalStart => (2, 0),
            Role::IntervalEnd => (3, 0),
            Role::ObservedAt => (3, 1),
            Role::AggregateId => (4, 0),
            // The observations layout: metric, qualifier, truncated, then the fields.
            Role::Truncated => (6, 2),
            Role::Field => (8, 1),
            Role::Value { .. } | Role::Metric => (5, 0),
            Role::Kpi { order } => (6, order),
            Role::Qualifier => (6, 0),
            Role::QualifierName => (6, 1),
            Role::Stat => (7, 0),
            Role::LongValue => (8, 0),
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
    /// The long layout's `metric`, `qualifier`, (`qualifier_name`,) `stat` and `value`.
    long_columns: Option<LongColumns>,
    slots: Vec<Slot>,
    /// Columns registered or retyped, and slots added, since [`Columns::take_changes`].
    changed: Vec<ColumnId>,
}

/// Ids from here up name [`Slot`]s, not columns.
pub const FIRST_SLOT: ColumnId = 1 << 30;

/// What one value of the long layout becomes: the labels of its row.
///
/// Long rows are carried as one record per entity, each value tagged with its slot (an id
/// from [`FIRST_SLOT`] up), and expanded into rows only when written: the spool and the
/// replay then handle an entity once instead of once per stat.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The `metric` column: the metric name, or `view:` and the view name.
    pub label: String,
    /// The `qualifier` column.
    pub qualifier: Option<String>,
    /// The `stat` column: the stat's API name.
    pub stat: String,
    /// The `qualifier_name` column (`--names`): the name of a qualifier that is an id.
    pub qualifier_name: Option<String>,
}

/// The long layout's columns, in header order: `metric`, `qualifier`, `qualifier_name`
/// (with `--names`), `stat`, then `value`: ids in a registry, or positions in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongColumns {
    at: [ColumnId; 5],
    len: usize,
}

impl LongColumns {
    /// The columns `at` (four, or five with `qualifier_name`), `value` last.
    pub fn new(at: &[ColumnId]) -> LongColumns {
        let mut columns = LongColumns {
            at: [0; 5],
            len: at.len(),
        };
        columns.at[..at.len()].copy_from_slice(at);
        columns
    }

    /// Every column, `value` last.
    pub fn all(&self) -> &[ColumnId] {
        &self.at[..self.len]
    }

    /// The `value` column.
    pub fn value(&self) -> ColumnId {
        self.at[self.len - 1]
    }

    /// Each label column with the label of `slot` there (`None`: null): the metric, its
    /// qualifier, the qualifier's name when there is that column, the stat.
    pub fn labels<'s>(&self, slot: &'s Slot) -> impl Iterator<Item = (ColumnId, Option<&'s str>)> + use<'s> {
        let named = self.len == 5;
        let texts = [Some(slot.label.as_str()), slot.qualifier.as_deref()]
            .into_iter()
            .chain(named.then_some(slot.qualifier_name.as_deref()))
            .chain([Some(slot.stat.as_str())]);
        self.at.into_iter().zip(texts)
    }

    /// The same columns elsewhere (their positions in a header, say), as `f` finds them.
    pub fn map(&self, mut f: impl FnMut(ColumnId) -> anyhow::Result<ColumnId>) -> anyhow::Result<LongColumns> {
        let mut mapped = *self;
        for at in &mut mapped.at[..self.len] {
            *at = f(*at)?;
        }
        Ok(mapped)
    }
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
            if let (Role::Value { integer: true }, Role::Value { integer: false }) = (column.role, role) {
                column.role = role;
                self.changed.push(id);
            }
            return Ok(id);
        }
        let id = self.columns.len();
        self.changed.push(id);
        self.columns.push(Column {
            name: name.to_owned(),
            role,
            source: source(),
            json_key: format!("\"{name}\":").into_bytes().into_boxed_slice(),
        });
        self.by_name.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Registers the long layout's columns.
    pub fn set_long_columns(&mut self, ids: LongColumns) {
        self.long_columns = Some(ids);
    }

    /// The long layout's columns, if registered.
    pub fn long_columns(&self) -> Option<LongColumns> {
        self.long_columns
    }

    /// Registers a long-layout value slot; returns its id.
    pub fn add_slot(&mut self, slot: Slot) -> ColumnId {
        self.slots.push(slot);
        let id = FIRST_SLOT + self.slots.len() - 1;
        self.changed.push(id);
        id
    }

    /// What was registered or retyped since the last call: what another registry needs to
    /// [`Columns::merge`] to know every column this one knows, as this one knows it.
    pub fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        for id in self.changed.drain(..) {
            if id >= FIRST_SLOT {
                changes.slots.push((id, self.slots[id - FIRST_SLOT].clone()));
            } else {
                let c = &self.columns[id];
                changes.columns.push((id, c.name.clone(), c.role, c.source.clone()));
            }
        }
        changes
    }

    /// Registers the columns and slots of another registry's `changes` here, as if the rows
    /// that brought them had come here, and records in `map` where each went.
    ///
    /// Fails, as [`Columns::intern`] would, on a name that would hold two kinds of thing;
    /// what was registered before the failure stays (the same rows, run here, register it
    /// too).
    pub fn merge(&mut self, changes: &Changes, map: &mut IdMap) -> anyhow::Result<()> {
        for (id, name, role, source) in &changes.columns {
            let here = self.intern(name, *role, || source.clone())?;
            map.set(*id, here);
        }
        self.merge_slots(changes, map);
        Ok(())
    }

    /// Registers the slots of `changes` here (a slot is labels only: a copy is as good as
    /// the one the rows would have made); records in `map` where each went.
    pub fn merge_slots(&mut self, changes: &Changes, map: &mut IdMap) {
        for (id, slot) in &changes.slots {
            let here = self.add_slot(slot.clone());
            map.set(*id, here);
        }
    }

    /// Records in `map` where the columns of `changes` are here, by name; fails on one this
    /// registry lacks.
    pub fn locate(&self, changes: &Changes, map: &mut IdMap) -> anyhow::Result<()> {
        for (id, name, ..) in &changes.columns {
            let here = self
                .find(name)
                .ok_or_else(|| anyhow::anyhow!("internal error: column `{name}` went missing"))?;
            map.set(*id, here);
        }
        Ok(())
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

    /// The header of CSV and Parquet output: constants, group keys, `interval_start`,
    /// `interval_end`, `aggregate_id`, then the value columns and the KPIs (or the long
    /// layout's `metric`, `qualifier`, `stat`, `value`), each kind in order of first
    /// appearance (KPIs in their fixed order).
    pub fn header(&self) -> Vec<ColumnId> {
        let mut ids: Vec<ColumnId> = (0..self.columns.len()).collect();
        ids.sort_by_key(|&id| self.columns[id].role.rank());
        ids
    }
}

/// Columns and slots new to a registry (or retyped), as [`Columns::take_changes`] lists them:
/// each column's id there, name, role and source; each slot's id there and labels.
#[derive(Debug, Default)]
pub struct Changes {
    columns: Vec<(ColumnId, String, Role, String)>,
    slots: Vec<(ColumnId, Slot)>,
}

/// Where the column and slot ids of one registry went in another.
#[derive(Debug, Default)]
pub struct IdMap {
    columns: Vec<ColumnId>,
    slots: Vec<ColumnId>,
}

impl IdMap {
    fn set(&mut self, from: ColumnId, to: ColumnId) {
        let (ids, at) = match from.checked_sub(FIRST_SLOT) {
            Some(at) => (&mut self.slots, at),
            None => (&mut self.columns, from),
        };
        if ids.len() <= at {
            ids.resize(at + 1, ColumnId::MAX);
        }
        ids[at] = to;
    }

    /// Where `id` went; `None` for an id never recorded.
    pub fn get(&self, id: ColumnId) -> Option<ColumnId> {
        let found = match id.checked_sub(FIRST_SLOT) {
            Some(at) => self.slots.get(at),
            None => self.columns.get(id),
        };
        found.copied().filter(|&to| to != ColumnId::MAX)
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
    fn sdk_stat_names_map_to_the_api_names() {
        for (sdk, api) in [
            ("count_negative", "countNegative"),
            ("count_positive", "countPositive"),
            ("calculated_metric_value", "calculatedMetricValue"),
            ("p95", "p95"),
            ("aNewStat", "aNewStat"),
        ] {
            assert_eq!(api_stat_name(sdk), api);
        }
        assert!(is_count_stat("countNegative") && !is_count_stat("sum"));
    }

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
    fn a_merge_registers_retypes_and_maps_another_registrys_columns() {
        let mut run = Columns::default();
        run.intern("queueId", Role::Group, String::new).unwrap();
        run.intern("x_count", Role::Value { integer: true }, String::new)
            .unwrap();
        let mut worker = Columns::default();
        let x = worker
            .intern("x_count", Role::Value { integer: true }, String::new)
            .unwrap();
        let slot = worker.add_slot(Slot {
            label: "nOffered".into(),
            qualifier: None,
            stat: "count".into(),
            qualifier_name: None,
        });
        let mut map = IdMap::default();
        run.merge(&worker.take_changes(), &mut map).unwrap();
        assert_eq!(map.get(x), run.find("x_count"));
        assert_eq!(run.slot(map.get(slot).unwrap()).label, "nOffered");
        assert!(worker.take_changes().columns.is_empty(), "changes are taken once");

        // A retype travels; a new column gets the next id here, whatever its id there.
        worker
            .intern("x_count", Role::Value { integer: false }, String::new)
            .unwrap();
        let y = worker
            .intern("y_sum", Role::Value { integer: false }, String::new)
            .unwrap();
        run.merge(&worker.take_changes(), &mut map).unwrap();
        assert_eq!(
            run.get(run.find("x_count").unwrap()).role,
            Role::Value { integer: false }
        );
        assert_eq!(map.get(y), Some(2));
        assert_eq!(map.get(y + 1), None);

        // A clash here fails the merge, as the rows would have failed here.
        worker
            .intern("queueId", Role::Value { integer: true }, || "metric `queueId`".into())
            .unwrap();
        assert!(run.merge(&worker.take_changes(), &mut map).is_err());
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
        let late = cols
            .intern("abandon_rate", Role::Kpi { order: 3 }, String::new)
            .unwrap();
        let early = cols.intern("aht_s", Role::Kpi { order: 0 }, String::new).unwrap();
        let v2 = cols
            .intern("tHandle_sum", Role::Value { integer: false }, String::new)
            .unwrap();
        assert_eq!(cols.header(), vec![c, g, g2, s, e, v, v2, early, late]);
    }
}
