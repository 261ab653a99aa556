//! Rows from entities: which columns each entity's row holds, and what they are called.
//!
//! The [`Flattener`] is the [`EntitySink`] of a run. For each entity it first resolves every
//! column the row needs (registering new ones, refusing collisions), and only then hands the
//! complete row to the output, so a data error never leaves half a row behind.

use std::borrow::Cow;
use std::sync::Arc;

use anyhow::bail;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::columns::{api_stat_name, is_count_stat, safe_name, ColumnId, Columns, Layout, LongColumns, Role, Slot};
use crate::kpis::{self, KPIS};
use crate::lookup::{self, Lookup, Name};
use crate::names::Kind;
use crate::output::{recycle, Cell, RowSink};
use crate::pages::{Entity, EntitySink, Scalar, Shape};

/// The row rules chosen on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Wide or long rows.
    pub layout: Layout,
    /// Write null for a value the entity lacks, instead of `0`.
    pub keep_nulls: bool,
    /// Keep only these stats (API names: SDK spellings are mapped when parsed); empty keeps all.
    pub stats: Vec<String>,
    /// `--add-column` pairs, names already safe.
    pub constants: Vec<(String, String)>,
    /// `--kpis`: the derived columns of [`crate::kpis::KPIS`] (wide layout).
    pub kpis: bool,
    /// `--names`: the lookup tables that name the ids of [`lookup::ID_COLUMNS`].
    pub names: Option<Arc<Lookup>>,
    /// `--observed-at`: when observations without an envelope before them were observed.
    pub observed_at: Option<String>,
}

/// What a run met besides rows, counted as pages are flattened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Observation rows with no observed time (no envelope, no event time, no `--observed-at`).
    pub unobserved: u64,
    /// Notification control messages skipped.
    pub skipped: u64,
    /// `observations[]` entries read: rows of the observations layout only, left out of
    /// the others.
    pub entries: u64,
}

impl Tally {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: Tally) {
        self.unobserved += other.unobserved;
        self.skipped += other.skipped;
        self.entries += other.entries;
    }
}

/// The API's camelCase name of an `observations[]` entry field, also for the Python SDK's
/// snake_case attribute names (`observation_date` is `observationDate`), so SDK and raw dumps
/// give the same columns. The API's own field names have no `_`, so nothing else changes.
pub fn api_field_name(name: &str) -> Cow<'_, str> {
    let snake = name.contains('_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !snake {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    for (i, word) in name.split('_').filter(|w| !w.is_empty()).enumerate() {
        let mut chars = word.chars();
        match chars.next() {
            Some(first) if i > 0 => out.extend(first.to_uppercase().chain(chars)),
            _ => out.push_str(word),
        }
    }
    Cow::Owned(out)
}

/// Turns entities into rows and hands them to a [`RowSink`].
///
/// The flattener keeps the column registry; [`Flattener::feed`] pairs it with the writer of
/// the rows, as the [`EntitySink`] pages are parsed into.
pub struct Flattener {
    opts: Options,
    columns: Columns,
    constant_ids: Vec<ColumnId>,
    fixed: [Option<ColumnId>; 4],
    /// Per group key: its column, and its name column with the type that names it.
    group_ids: FxHashMap<String, (ColumnId, Option<(ColumnId, Kind)>)>,
    /// Per group entry of the current entity: the type that names it, if it has a name column.
    named: Vec<Option<Kind>>,
    /// With `--names`: each (group key, id) the tables do not name.
    unnamed: FxHashSet<(Box<str>, Box<str>)>,
    /// Metric key (shape, name, qualifier) to its slot in `slots`.
    metric_slots: FxHashMap<Box<str>, usize>,
    /// Per slot: its metric's tag (`t`, `v` or `m`), name and qualifier.
    slot_keys: Vec<(char, Box<str>, Option<Box<str>>)>,
    /// The slots of the last entity's metrics, in its order.
    recent: Vec<usize>,
    /// The slots of the current entity's metrics so far: `recent` for the next entity.
    current: Vec<usize>,
    /// Where in `recent` the next metric is looked for first.
    cursor: usize,
    /// Per metric: the columns (wide) or slots (long) of the stats seen so far.
    slots: Vec<Vec<(Box<str>, ColumnId)>>,
    key: String,
    ids: Vec<ColumnId>,
    /// The wide row's values, as indices into the entity's stats, in column order.
    kept: Vec<usize>,
    stamp: Vec<u32>,
    generation: u32,
    cells: Vec<(ColumnId, Cell<'static>)>,
    /// With `--stats`: the (API) names of every stat the filter looked at, so that a name
    /// that matched none can be reported with the names there were.
    stats_seen: FxHashSet<Box<str>>,
    /// With `--kpis`: the column of each KPI, once registered, and the entity's values.
    kpi_ids: [Option<ColumnId>; KPIS.len()],
    kpi_values: kpis::Values,
    /// Rows made since [`Flattener::take_rows`] last took them (long rows counted one by one).
    rows: u64,
    /// What was met since [`Flattener::take_tally`] last took it.
    tally: Tally,
    /// With `--layout observations`: the column of each entry field, by its input name.
    field_ids: FxHashMap<Box<str>, ColumnId>,
}

const INTERVAL_START: usize = 0;
const INTERVAL_END: usize = 1;
const AGGREGATE_ID: usize = 2;
const OBSERVED_AT: usize = 3;

/// A [`Flattener`] and the writer of its rows: an [`EntitySink`].
pub struct Feed<'a> {
    flattener: &'a mut Flattener,
    out: &'a mut dyn RowSink,
}

impl EntitySink for Feed<'_> {
    fn entity(&mut self, e: &Entity<'_>) -> anyhow::Result<()> {
        self.flattener.tally.entries += e.observations.len() as u64;
        if self.flattener.opts.layout == Layout::Observations {
            return self.flattener.observation_rows(e, self.out);
        }
        self.flattener.entity(e, self.out)
    }

    fn skipped(&mut self) {
        self.flattener.tally.skipped += 1;
    }
}

impl Flattener {
    /// A flattener; fails if the constant columns collide.
    pub fn new(opts: Options) -> anyhow::Result<Flattener> {
        let mut columns = Columns::default();
        let mut constant_ids = Vec::new();
        for (name, _) in &opts.constants {
            let id = columns.intern(name, Role::Constant, || format!("--add-column {name}"))?;
            if constant_ids.contains(&id) {
                bail!("--add-column {name} is given twice");
            }
            constant_ids.push(id);
        }
        if opts.layout == Layout::Observations {
            for (name, role) in [
                ("metric", Role::Metric),
                ("qualifier", Role::Qualifier),
                ("truncated", Role::Truncated),
            ] {
                columns.intern(name, role, || format!("the observations layout's `{name}` column"))?;
            }
        }
        if opts.layout == Layout::Long {
            // Qualifiers are named when the tables name some metric's qualifiers.
            let named = lookup::ID_QUALIFIERS
                .iter()
                .any(|&(_, kind)| opts.names.as_ref().is_some_and(|names| names.has(kind)));
            let tail = [
                ("metric", Role::Metric),
                ("qualifier", Role::Qualifier),
                ("qualifier_name", Role::QualifierName),
                ("stat", Role::Stat),
                ("value", Role::LongValue),
            ];
            let mut long_ids = Vec::new();
            for (name, role) in tail {
                if role != Role::QualifierName || named {
                    long_ids.push(columns.intern(name, role, || format!("the long layout's `{name}` column"))?);
                }
            }
            columns.set_long_columns(LongColumns::new(&long_ids));
        }
        Ok(Flattener {
            opts,
            columns,
            constant_ids,
            fixed: [None; 4],
            group_ids: FxHashMap::default(),
            named: Vec::new(),
            unnamed: FxHashSet::default(),
            metric_slots: FxHashMap::default(),
            slot_keys: Vec::new(),
            recent: Vec::new(),
            current: Vec::new(),
            cursor: 0,
            slots: Vec::new(),
            key: String::new(),
            ids: Vec::new(),
            kept: Vec::new(),
            stamp: Vec::new(),
            generation: 0,
            cells: Vec::new(),
            stats_seen: FxHashSet::default(),
            kpi_ids: [None; KPIS.len()],
            kpi_values: kpis::Values::default(),
            rows: 0,
            tally: Tally::default(),
            field_ids: FxHashMap::default(),
        })
    }

    /// The sink that flattens entities into rows for `out`.
    pub fn feed<'a>(&'a mut self, out: &'a mut dyn RowSink) -> Feed<'a> {
        Feed { flattener: self, out }
    }

    /// The column registry, to take its changes from or merge another's into.
    pub fn columns_mut(&mut self) -> &mut Columns {
        &mut self.columns
    }

    /// With `--stats`: the names of the stats it filtered (the API shape's; the tutorial's
    /// stats are not filtered).
    pub fn stats_seen(&self) -> &FxHashSet<Box<str>> {
        &self.stats_seen
    }

    /// With `--names`: every (group key, id) the tables did not name.
    pub fn unnamed(&self) -> &FxHashSet<(Box<str>, Box<str>)> {
        &self.unnamed
    }

    /// The rows made since the last call, for progress.
    pub fn take_rows(&mut self) -> u64 {
        std::mem::take(&mut self.rows)
    }

    /// What was met since the last call.
    pub fn take_tally(&mut self) -> Tally {
        std::mem::take(&mut self.tally)
    }

    /// Ends the flattening, returning every column seen.
    pub fn into_columns(self) -> Columns {
        self.columns
    }

    /// Starts a row: no column is claimed yet but the constants', which the returned ids
    /// (the buffer of [`Flattener::ids`]) begin with.
    fn start_row(&mut self) -> Vec<ColumnId> {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = u32::MAX);
        }
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        for i in 0..self.constant_ids.len() {
            let id = self.constant_ids[i];
            self.claim(id);
            ids.push(id);
        }
        ids
    }

    /// Marks `id` as used by the current row; false if it already was.
    fn claim(&mut self, id: ColumnId) -> bool {
        if self.stamp.len() <= id {
            self.stamp.resize(id + 1, 0);
        }
        let fresh = self.stamp[id] != self.generation;
        self.stamp[id] = self.generation;
        fresh
    }

    /// The column of group key `key`, and with `--names` the column of its names and the
    /// type that names it, registered right after it.
    fn group_column(&mut self, key: &str) -> anyhow::Result<(ColumnId, Option<(ColumnId, Kind)>)> {
        if let Some(&found) = self.group_ids.get(key) {
            return Ok(found);
        }
        let id = self
            .columns
            .intern(&safe_name(key), Role::Group, || format!("group key `{key}`"))?;
        let kind = lookup::ID_COLUMNS
            .iter()
            .find(|(column, _)| *column == key)
            .map(|&(_, kind)| kind)
            .filter(|&kind| self.opts.names.as_ref().is_some_and(|names| names.has(kind)));
        let name = match kind {
            Some(kind) => {
                let column = lookup::name_column(key);
                let name_id = self.columns.intern(&column, Role::Name, || {
                    format!("the names of group key `{key}` (--names)")
                })?;
                Some((name_id, kind))
            }
            None => None,
        };
        self.group_ids.insert(key.to_owned(), (id, name));
        Ok((id, name))
    }

    fn fixed_column(&mut self, which: usize) -> anyhow::Result<ColumnId> {
        if let Some(id) = self.fixed[which] {
            return Ok(id);
        }
        let (name, role, source) = match which {
            INTERVAL_START => ("interval_start", Role::IntervalStart, "the start of `interval`"),
            INTERVAL_END => ("interval_end", Role::IntervalEnd, "the end of `interval`"),
            OBSERVED_AT => ("observed_at", Role::ObservedAt, "the time of an observation"),
            _ => ("aggregate_id", Role::AggregateId, "the entity `id`"),
        };
        let id = self.columns.intern(name, role, || source.to_owned())?;
        self.fixed[which] = Some(id);
        Ok(id)
    }

    /// The column of the KPI `KPIS[at]`.
    fn kpi_column(&mut self, at: usize) -> anyhow::Result<ColumnId> {
        if let Some(id) = self.kpi_ids[at] {
            return Ok(id);
        }
        let kpi = &KPIS[at];
        let role = Role::Kpi { order: at as u8 };
        let id = self
            .columns
            .intern(kpi.name, role, || format!("the KPI `{}` ({})", kpi.name, kpi.formula()))?;
        self.kpi_ids[at] = Some(id);
        Ok(id)
    }

    /// With `--names`: the name of `metric`'s qualifier `qualifier`, where the qualifiers of
    /// that metric are ids (a missing one is counted for the warning).
    fn qualifier_name(&mut self, metric: &str, qualifier: &str) -> Option<String> {
        let names = self.opts.names.as_ref()?;
        let &(_, kind) = lookup::ID_QUALIFIERS.iter().find(|(m, _)| *m == metric)?;
        match names.name(kind, qualifier) {
            Name::Found(name) => Some(name.to_owned()),
            Name::Missing => {
                self.unnamed
                    .insert((format!("{metric} qualifier").into(), qualifier.into()));
                None
            }
        }
    }

    /// Starts an entity's metrics: the last entity's slots become the ones
    /// [`Self::metric_slot`] looks at first. After an entity without metrics there are none
    /// to move, so the next entity is still compared with the last one that had some.
    fn start_metrics(&mut self) {
        if !self.current.is_empty() {
            std::mem::swap(&mut self.recent, &mut self.current);
            self.current.clear();
        }
        self.cursor = 0;
    }

    /// The slot of a metric (its stats' columns), found by its source names; the metrics of
    /// an entity are looked up in their order, after [`Self::start_metrics`].
    fn metric_slot(&mut self, shape: Shape, metric: &str, view: bool, qualifier: Option<&str>) -> usize {
        let tag = match (shape, view) {
            (Shape::Tutorial, _) => 't',
            (_, true) => 'v',
            (_, false) => 'm',
        };
        // Entities list much the same metrics in the same order, a few missing here and
        // there: look at the next few after the last one found in the previous entity
        // before hashing.
        let ahead = self.recent.get(self.cursor..).unwrap_or_default();
        let found = ahead.iter().take(LOOKAHEAD).position(|&slot| {
            let (t, name, q) = &self.slot_keys[slot];
            *t == tag && same(name, metric) && same_opt(q.as_deref(), qualifier)
        });
        if let Some(k) = found {
            self.cursor += k + 1;
            let slot = self.recent[self.cursor - 1];
            self.current.push(slot);
            return slot;
        }
        // The unit separators cannot occur in a name, so the key is unambiguous.
        self.key.clear();
        self.key.push(tag);
        self.key.push_str(metric);
        self.key.push('\u{1f}');
        self.key.push_str(qualifier.unwrap_or("\u{1e}"));
        let slot = match self.metric_slots.get(self.key.as_str()) {
            Some(&slot) => slot,
            None => {
                let slot = self.slots.len();
                self.slots.push(Vec::new());
                self.slot_keys.push((tag, metric.into(), qualifier.map(Into::into)));
                self.metric_slots.insert(self.key.as_str().into(), slot);
                slot
            }
        };
        self.current.push(slot);
        slot
    }

    /// The wide column (or the long slot) of one stat of the metric in `slot`, the `nth` of
    /// its entity's metric.
    #[allow(clippy::too_many_arguments)]
    fn value_column(
        &mut self,
        slot: usize,
        nth: usize,
        shape: Shape,
        metric: &str,
        view: bool,
        qualifier: Option<&str>,
        stat: &str,
    ) -> anyhow::Result<ColumnId> {
        // A metric has a handful of stats, nearly always in the same order: look where this
        // stat was last time first, then scan.
        let known = &self.slots[slot];
        if let Some((name, id)) = known.get(nth) {
            if same(name, stat) {
                return Ok(*id);
            }
        }
        if let Some(&(_, id)) = known.iter().find(|(name, _)| same(name, stat)) {
            return Ok(id);
        }
        if self.opts.layout == Layout::Long {
            let label = if view {
                format!("view:{metric}")
            } else {
                metric.to_owned()
            };
            let qualifier_name = match qualifier {
                Some(q) if !view => self.qualifier_name(metric, q),
                _ => None,
            };
            let id = self.columns.add_slot(Slot {
                label,
                qualifier: qualifier.map(str::to_owned),
                stat: stat.to_owned(),
                qualifier_name,
            });
            self.slots[slot].push((stat.into(), id));
            return Ok(id);
        }
        let name = match (shape, view, qualifier) {
            (Shape::Tutorial, ..) => safe_name(metric).into_owned(),
            (_, true, _) => safe_name(&format!("view_{metric}_{stat}")).into_owned(),
            (_, false, Some(q)) => safe_name(&format!("{metric}_{q}_{stat}")).into_owned(),
            (_, false, None) => safe_name(&format!("{metric}_{stat}")).into_owned(),
        };
        let integer = api_stats(shape) && is_count_stat(stat);
        let source = || match (shape, view, qualifier) {
            (Shape::Tutorial, ..) => format!("metric `{metric}`"),
            (_, true, _) => format!("view `{metric}` stat `{stat}`"),
            (_, false, Some(q)) => format!("metric `{metric}` qualifier `{q}` stat `{stat}`"),
            (_, false, None) => format!("metric `{metric}` stat `{stat}`"),
        };
        let id = self.columns.intern(&name, Role::Value { integer }, source)?;
        self.slots[slot].push((stat.into(), id));
        Ok(id)
    }
}

impl Flattener {
    /// An observation's `observed_at` column, claimed and added to `ids`: whether the row
    /// has one. A row with no time for it is counted for the warning.
    fn observed_column(&mut self, e: &Entity<'_>, ids: &mut Vec<ColumnId>) -> anyhow::Result<bool> {
        if e.shape != Shape::Observation {
            return Ok(false);
        }
        if e.observed_at.is_none() && self.opts.observed_at.is_none() {
            self.tally.unobserved += 1;
        }
        let id = self.fixed_column(OBSERVED_AT)?;
        self.claim(id);
        ids.push(id);
        Ok(true)
    }

    /// With `--layout observations`: one row per `observations[]` entry of `e` (an entity
    /// of another shape has none): constants, group, `observed_at`, the entry's metric,
    /// qualifier and `truncated` flag, then its fields, arrays and objects as JSON text.
    fn observation_rows(&mut self, e: &Entity<'_>, out: &mut dyn RowSink) -> anyhow::Result<()> {
        for entry in e.observations {
            let mut ids = self.start_row();
            for g in e.group {
                let (id, _) = self.group_column(&g.key)?;
                if !self.claim(id) {
                    bail!("column `{}` would hold two group keys", self.columns.get(id).name);
                }
                ids.push(id);
            }
            self.observed_column(e, &mut ids)?;
            for name in ["metric", "qualifier", "truncated"] {
                let id = self.columns.find(name).expect("registered by Flattener::new");
                self.claim(id);
                ids.push(id);
            }
            for field in &e.fields[entry.fields.clone()] {
                let id = match self.field_ids.get(field.key.as_ref()) {
                    Some(&id) => id,
                    None => {
                        let key = &field.key;
                        let name = api_field_name(key);
                        let id = self
                            .columns
                            .intern(&safe_name(&name), Role::Field, || format!("observation field `{key}`"))?;
                        self.field_ids.insert(key.as_ref().into(), id);
                        id
                    }
                };
                if !self.claim(id) {
                    bail!(
                        "column `{}` gets two values in one observation (the second from field `{}`)",
                        self.columns.get(id).name,
                        field.key
                    );
                }
                ids.push(id);
            }
            let metric = &e.metrics[entry.metric];
            let mut row = recycle(std::mem::take(&mut self.cells));
            let mut next_id = ids.iter().copied();
            let mut next = || next_id.next().expect("a column for every cell");
            for (_, value) in &self.opts.constants {
                row.push((next(), Cell::Text(value)));
            }
            for g in e.group {
                row.push((next(), scalar_cell(&g.value)));
            }
            let at = e.observed_at.or(self.opts.observed_at.as_deref());
            row.push((next(), at.map_or(Cell::Null, Cell::Text)));
            row.push((next(), Cell::Text(&metric.name)));
            row.push((next(), metric.qualifier.as_deref().map_or(Cell::Null, Cell::Text)));
            row.push((next(), Cell::Raw(if entry.truncated { "true" } else { "false" })));
            for field in &e.fields[entry.fields.clone()] {
                row.push((next(), scalar_cell(&field.value)));
            }
            out.row(&self.columns, &row, 0)?;
            self.cells = recycle(row);
            self.ids = ids;
            self.rows += 1;
        }
        Ok(())
    }
}

/// How many metrics past the last one found [`Flattener::metric_slot`] compares before it
/// hashes: an entity may lack a few of the metrics of the one before.
const LOOKAHEAD: usize = 4;

/// Whether two names are the same, compared in place: metric and stat names are a few bytes
/// long, and comparing them through a call to `memcmp` costs more than the bytes.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// [`same`] for qualifiers.
fn same_opt(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Whether `--stats` keeps this stat (it filters the API and observation shapes only).
fn keeps(filter: &[String], shape: Shape, stat: &str) -> bool {
    shape == Shape::Tutorial || filter.is_empty() || filter.iter().any(|s| s == stat)
}

/// Whether stats of this shape are the API's (named `metric_stat`, counts as integers).
fn api_stats(shape: Shape) -> bool {
    shape != Shape::Tutorial
}

/// Splits `start/end`.
fn split_interval(interval: &str) -> anyhow::Result<(&str, &str)> {
    match interval.split_once('/') {
        Some(halves) => Ok(halves),
        None => bail!("interval `{interval}` is not `start/end`"),
    }
}

fn scalar_cell<'a>(value: &'a Scalar<'a>) -> Cell<'a> {
    match value {
        Scalar::Text(s) => Cell::Text(s),
        Scalar::Json(s) => Cell::Raw(s),
        Scalar::Null => Cell::Null,
    }
}

impl Flattener {
    /// Writes the row(s) of one entity to `out`.
    fn entity<'e>(&mut self, e: &Entity<'e>, out: &mut dyn RowSink) -> anyhow::Result<()> {
        // Pass 1: resolve every column of the row, so no half row is ever written.
        let mut ids = self.start_row();
        let mut named = std::mem::take(&mut self.named);
        named.clear();
        for entry in e.group {
            let (id, name) = self.group_column(&entry.key)?;
            if !self.claim(id) {
                let name = &self.columns.get(id).name;
                let earlier = e
                    .group
                    .iter()
                    .find(|g| *safe_name(&g.key) == **name)
                    .map_or(name.as_str(), |g| g.key.as_ref());
                bail!(
                    "column `{name}` would hold both group key `{earlier}` and group key `{}`",
                    entry.key
                );
            }
            ids.push(id);
            if let Some((name_id, _)) = name {
                self.claim(name_id);
                ids.push(name_id);
            }
            named.push(name.map(|(_, kind)| kind));
        }
        let interval = e.interval.map(split_interval).transpose()?;
        if interval.is_some() {
            for which in [INTERVAL_START, INTERVAL_END] {
                let id = self.fixed_column(which)?;
                self.claim(id);
                ids.push(id);
            }
        }
        if e.id.is_some() {
            let id = self.fixed_column(AGGREGATE_ID)?;
            self.claim(id);
            ids.push(id);
        }
        let observed = self.observed_column(e, &mut ids)?;
        let head = ids.len();
        let mut kept = std::mem::take(&mut self.kept);
        kept.clear();
        let wide = self.opts.layout == Layout::Wide;
        self.start_metrics();
        for m in e.metrics {
            let slot = self.metric_slot(e.shape, &m.name, m.view, m.qualifier.as_deref());
            for (nth, s) in e.stats[m.stats.clone()].iter().enumerate() {
                let stat = api_stat_name(&s.name);
                if !self.opts.stats.is_empty() && api_stats(e.shape) && !self.stats_seen.contains(stat) {
                    self.stats_seen.insert(stat.into());
                }
                if !keeps(&self.opts.stats, e.shape, stat) {
                    continue;
                }
                let id = self.value_column(slot, nth, e.shape, &m.name, m.view, m.qualifier.as_deref(), stat)?;
                // A long slot may recur: each value is a row of its own.
                if wide && !self.claim(id) {
                    let col = self.columns.get(id);
                    bail!(
                        "column `{}` gets two values in one entity (the second from metric `{}` stat `{}`)",
                        col.name,
                        m.name,
                        s.name
                    );
                }
                ids.push(id);
                kept.push(m.stats.start + nth);
            }
        }
        let kpis = self.opts.kpis && e.shape == Shape::Api;
        if kpis {
            self.kpi_values.compute(e);
            for at in 0..KPIS.len() {
                if self.kpi_values.has(at) {
                    let id = self.kpi_column(at)?;
                    self.claim(id);
                    ids.push(id);
                }
            }
        }

        // Pass 2: the cells, in the order pass 1 resolved their columns.
        let Flattener {
            opts,
            columns,
            cells,
            kpi_values,
            unnamed,
            ..
        } = self;
        let mut row = recycle(std::mem::take(cells));
        let mut next_id = ids.iter().copied();
        let mut next = || next_id.next().expect("pass 1 resolved a column for every cell");
        for (_, value) in &opts.constants {
            row.push((next(), Cell::Text(value)));
        }
        for (entry, kind) in e.group.iter().zip(&named) {
            row.push((next(), scalar_cell(&entry.value)));
            if let (Some(kind), Some(names)) = (kind, &opts.names) {
                let name = match &entry.value {
                    Scalar::Text(id) => names.name(*kind, id),
                    Scalar::Json(_) | Scalar::Null => Name::Missing,
                };
                let cell = match name {
                    Name::Found(name) => Cell::Text(name),
                    Name::Missing => {
                        if let Scalar::Text(id) = &entry.value {
                            unnamed.insert((entry.key.as_ref().into(), id.as_ref().into()));
                        }
                        Cell::Null
                    }
                };
                row.push((next(), cell));
            }
        }
        if let Some((start, end)) = interval {
            row.push((next(), Cell::Text(start)));
            row.push((next(), Cell::Text(end)));
        }
        if let Some(id) = e.id {
            row.push((next(), scalar_cell(id)));
        }
        if observed {
            let at = e.observed_at.or(opts.observed_at.as_deref());
            row.push((next(), at.map_or(Cell::Null, Cell::Text)));
        }
        debug_assert_eq!(row.len(), head);
        let zero_nulls = !opts.keep_nulls;
        let value_cell = |v: Option<&'e str>| match v {
            Some(text) => Cell::Raw(text),
            None if zero_nulls => Cell::Raw("0"),
            None => Cell::Null,
        };
        for &at in &kept {
            row.push((next(), value_cell(e.stats[at].value.as_deref())));
        }
        if kpis {
            for (_, value) in kpi_values.present() {
                row.push((next(), value.map_or(Cell::Null, Cell::Raw)));
            }
        }
        // An entity with no value in any column is no row, in every format: Parquet cannot
        // hold a row without a column, so NDJSON and CSV do not write one either.
        // Long rows leave as one record per entity, expanded by `Expand` where written.
        let mut made = 0;
        if !row.is_empty() {
            out.row(columns, &row, 0)?;
            made = if wide { 1 } else { (row.len() - head) as u64 };
        }
        *cells = recycle(row);
        self.rows += made;
        self.ids = ids;
        self.kept = kept;
        self.named = named;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::long::Expand;
    use crate::output::Cell;
    use crate::pages::{GroupEntry, Metric, Stat};

    #[test]
    fn sdk_entry_fields_take_the_apis_names() {
        for (sdk, api) in [
            ("observation_date", "observationDate"),
            ("requested_routing_skill_ids", "requestedRoutingSkillIds"),
            ("ani", "ani"),
            ("observationDate", "observationDate"),
            ("Odd_Name", "Odd_Name"),
            ("p_99", "p99"),
        ] {
            assert_eq!(api_field_name(sdk), api, "{sdk}");
        }
    }

    #[test]
    fn intervals_split_at_the_first_slash() {
        assert_eq!(
            split_interval("2024-05-01T00:00:00.000Z/2024-05-01T00:30:00.000Z").unwrap(),
            ("2024-05-01T00:00:00.000Z", "2024-05-01T00:30:00.000Z")
        );
        assert_eq!(split_interval("a+01:00/b/c").unwrap(), ("a+01:00", "b/c"));
        let err = split_interval("2024-05-01").unwrap_err().to_string();
        assert_eq!(err, "interval `2024-05-01` is not `start/end`");
    }

    /// Keeps each row as `name=cell` pairs.
    #[derive(Default)]
    struct Rows(Vec<String>);

    impl RowSink for Rows {
        fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], _: usize) -> anyhow::Result<()> {
            let cells: Vec<String> = cells
                .iter()
                .map(|(id, c)| format!("{}={c:?}", columns.get(*id).name))
                .collect();
            self.0.push(cells.join(" "));
            Ok(())
        }
    }

    fn entity_rows(layout: Layout, stats: &[&str]) -> anyhow::Result<Vec<String>> {
        let group = [GroupEntry {
            key: Cow::Borrowed("queue.id"),
            value: Scalar::Text(Cow::Borrowed("q1")),
        }];
        let metrics = [
            Metric {
                name: Cow::Borrowed("tHandle"),
                qualifier: None,
                view: false,
                stats: 0..2,
            },
            Metric {
                name: Cow::Borrowed("short"),
                qualifier: None,
                view: true,
                stats: 2..3,
            },
        ];
        let values = [
            Stat {
                name: Cow::Borrowed("sum"),
                value: Some(Cow::Borrowed("1.5e3")),
            },
            Stat {
                name: Cow::Borrowed("count_negative"),
                value: Some(Cow::Borrowed("2")),
            },
            Stat {
                name: Cow::Borrowed("count"),
                value: Some(Cow::Borrowed("3")),
            },
        ];
        let entity = Entity {
            shape: Shape::Api,
            group: &group,
            interval: Some("s/e"),
            id: None,
            metrics: &metrics,
            stats: &values,
            observed_at: None,
            observations: &[],
            fields: &[],
        };
        let mut rows = Expand::new(Rows::default(), layout);
        let opts = Options {
            layout,
            keep_nulls: false,
            stats: stats.iter().map(|s| s.to_string()).collect(),
            constants: vec![("org".into(), "acme".into())],
            kpis: false,
            names: None,
            observed_at: None,
        };
        Flattener::new(opts)?.feed(&mut rows).entity(&entity)?;
        Ok(rows.into_inner().0)
    }

    #[test]
    fn wide_rows_name_columns_from_metric_qualifier_view_and_stat() {
        assert_eq!(
            entity_rows(Layout::Wide, &[]).unwrap(),
            [
                r#"org=Text("acme") queue_id=Text("q1") interval_start=Text("s") interval_end=Text("e") tHandle_sum=Raw("1.5e3") tHandle_countNegative=Raw("2") view_short_count=Raw("3")"#
            ]
        );
        assert_eq!(
            entity_rows(Layout::Wide, &["count"]).unwrap(),
            [
                r#"org=Text("acme") queue_id=Text("q1") interval_start=Text("s") interval_end=Text("e") view_short_count=Raw("3")"#
            ]
        );
    }

    #[test]
    fn long_rows_repeat_the_head_for_each_stat() {
        let rows = entity_rows(Layout::Long, &[]).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows[1].ends_with(r#"metric=Text("tHandle") stat=Text("countNegative") value=Raw("2")"#),
            "{}",
            rows[1]
        );
        assert!(
            rows[2].ends_with(r#"metric=Text("view:short") stat=Text("count") value=Raw("3")"#),
            "{}",
            rows[2]
        );
    }

    #[test]
    fn an_add_column_that_is_also_a_group_key_is_refused() {
        let mut rows = Rows::default();
        let opts = Options {
            layout: Layout::Wide,
            keep_nulls: false,
            stats: vec![],
            constants: vec![("queue_id".into(), "x".into())],
            kpis: false,
            names: None,
            observed_at: None,
        };
        let group = [GroupEntry {
            key: Cow::Borrowed("queue.id"),
            value: Scalar::Text(Cow::Borrowed("q1")),
        }];
        let entity = Entity {
            shape: Shape::Api,
            group: &group,
            interval: None,
            id: None,
            metrics: &[],
            stats: &[],
            observed_at: None,
            observations: &[],
            fields: &[],
        };
        let err = Flattener::new(opts)
            .unwrap()
            .feed(&mut rows)
            .entity(&entity)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "column `queue_id` would hold both --add-column queue_id and group key `queue.id`"
        );
    }
}
