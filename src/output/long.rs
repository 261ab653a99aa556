//! The long layout's rows, expanded from one record per entity where they are written.
//!
//! The flattener hands on a long entity as one record: its head cells, then its values,
//! each tagged with its [`Slot`](crate::columns::Slot) (metric label, qualifier, stat)
//! instead of a column. The spool keeps and replays that record once rather than once per
//! stat; [`Expand`] turns it into rows in front of the writer.

use super::{recycle, Append, Cell, Render, RowSink, RowWriter};
use crate::columns::{ColumnId, Columns, IdMap, Layout, FIRST_SLOT};

/// Expands long records into rows for `inner`; passes wide rows through unchanged.
pub struct Expand<W> {
    inner: W,
    long: bool,
    row: Vec<(ColumnId, Cell<'static>)>,
}

impl<W> Expand<W> {
    /// Writes `layout`'s rows to `inner`.
    pub fn new(inner: W, layout: Layout) -> Expand<W> {
        Expand {
            inner,
            long: layout == Layout::Long,
            row: Vec::new(),
        }
    }

    /// The writer the rows went to.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The writer the rows go to.
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Hands each row of the record `cells` to `write`: whole rows when the layout is wide,
    /// [`LongRow`]s when it is long.
    fn rows<'c>(
        &mut self,
        cells: &[(ColumnId, Cell<'c>)],
        shared: usize,
        mut write: impl FnMut(&mut W, Row<'_, 'c>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if !self.long {
            return write(&mut self.inner, Row::Whole(cells, shared));
        }
        let mut row = recycle(std::mem::take(&mut self.row));
        let inner = &mut self.inner;
        let done = expand(cells, |long| write(inner, Row::Long(long, &mut row)));
        self.row = recycle(row);
        done
    }
}

/// What [`Expand`] hands on: a whole row, or a long row and room to build it whole.
enum Row<'r, 'a> {
    Whole(&'r [(ColumnId, Cell<'a>)], usize),
    Long(LongRow<'r, 'a>, &'r mut Vec<(ColumnId, Cell<'a>)>),
}

impl<'a> Row<'_, 'a> {
    /// Hands the row to `inner`: a long row to `long_row` first, whole to `row` when the
    /// writer has no quicker way.
    fn write<T>(
        self,
        inner: &mut T,
        columns: &'a Columns,
        long_row: impl FnOnce(&mut T, &Columns, &LongRow<'_, 'a>) -> anyhow::Result<bool>,
        row: impl FnOnce(&mut T, &Columns, &[(ColumnId, Cell<'a>)], usize) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match self {
            Row::Whole(cells, shared) => row(inner, columns, cells, shared),
            Row::Long(long, whole) => {
                if !long_row(inner, columns, &long)? {
                    long.cells(columns, whole)?;
                    row(inner, columns, whole, long.shared)?;
                }
                Ok(())
            }
        }
    }
}

/// One row of the long layout, in parts: its entity's head cells, then one value and the
/// slot that labels it.
pub struct LongRow<'r, 'a> {
    /// The entity's head cells (group, interval, constants).
    pub head: &'r [(ColumnId, Cell<'a>)],
    /// The value's slot (an id from [`FIRST_SLOT`] up).
    pub slot: ColumnId,
    /// The value.
    pub value: Cell<'a>,
    /// How many head cells are the same as the last row's: all of them, but for an
    /// entity's first row.
    pub shared: usize,
}

impl<'a> LongRow<'_, 'a> {
    /// The whole row, into `row`: the head, `metric`, `qualifier` and `qualifier_name`
    /// (when the slot has them), `stat` and `value`.
    pub fn cells(&self, columns: &'a Columns, row: &mut Vec<(ColumnId, Cell<'a>)>) -> anyhow::Result<()> {
        let Some(long) = columns.long_columns() else {
            anyhow::bail!("internal error: long rows without the long layout's columns");
        };
        let slot = columns.slot(self.slot);
        row.clear();
        row.extend_from_slice(self.head);
        for (id, label) in long.labels(slot) {
            if let Some(label) = label {
                row.push((id, Cell::Text(label)));
            }
        }
        row.push((long.value(), self.value));
        Ok(())
    }
}

/// Per long-layout slot, the bytes a writer renders for its labels, made on first use: the
/// labels are the same on every row of the slot.
#[derive(Clone, Default)]
pub struct SlotLabels(Vec<Option<Box<[u8]>>>);

impl SlotLabels {
    /// The labels of `slot` (an id from [`FIRST_SLOT`] up), rendered by `render` the first
    /// time.
    pub fn get(&mut self, slot: ColumnId, render: impl FnOnce() -> Vec<u8>) -> &[u8] {
        let at = slot - FIRST_SLOT;
        if self.0.len() <= at {
            self.0.resize(at + 1, None);
        }
        self.0[at].get_or_insert_with(|| render().into_boxed_slice())
    }
}

/// Calls `each` with every long row of the record `cells` (head cells, then slot-tagged
/// values): the head is shared by every row after the first.
fn expand<'a>(
    cells: &[(ColumnId, Cell<'a>)],
    mut each: impl FnMut(LongRow<'_, 'a>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let head = cells
        .iter()
        .position(|&(id, _)| id >= FIRST_SLOT)
        .unwrap_or(cells.len());
    for (n, &(slot, value)) in cells[head..].iter().enumerate() {
        each(LongRow {
            head: &cells[..head],
            slot,
            value,
            shared: if n == 0 { 0 } else { head },
        })?;
    }
    Ok(())
}

impl<W: RowWriter> RowWriter for Expand<W> {
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Box::new(self.inner).finish()
    }
}

impl<W: Append<Vec<u8>>> Append<Vec<u8>> for Expand<W> {
    fn append(&mut self, columns: &Columns, worker: usize, map: &IdMap, rows: Vec<u8>) -> anyhow::Result<()> {
        self.inner.append(columns, worker, map, rows)
    }
}

impl<R: RowSink> RowSink for Expand<R> {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.rows(cells, shared, |inner, row| {
            row.write(inner, columns, R::long_row, R::row)
        })
    }

    fn end_page(&mut self) -> anyhow::Result<()> {
        self.inner.end_page()
    }
}

impl<R: Render> Render for Expand<R> {
    type Part = R::Part;

    fn take(&mut self) -> anyhow::Result<R::Part> {
        self.inner.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::{LongColumns, Role, Slot};
    use crate::output::csv::CsvWriter;
    use crate::output::ndjson::NdjsonWriter;
    use crate::output::Output;

    /// A writer that takes every row whole, as a writer without a long-row path does.
    struct Whole<W>(W);

    impl<R: Render> Render for Whole<R> {
        type Part = R::Part;

        fn take(&mut self) -> anyhow::Result<R::Part> {
            self.0.take()
        }
    }

    impl<W: RowSink> RowSink for Whole<W> {
        fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
            self.0.row(columns, cells, shared)
        }
    }

    impl<W: RowWriter> RowWriter for Whole<W> {
        fn finish(self: Box<Self>) -> anyhow::Result<()> {
            Box::new(self.0).finish()
        }
    }

    /// Long-layout columns and three slots (one with a qualifier, one needing CSV quotes),
    /// and records of entities with and without a head.
    fn records() -> (Columns, Vec<Vec<(ColumnId, Cell<'static>)>>) {
        let mut columns = Columns::default();
        let group = columns.intern("queue_id", Role::Group, String::new).unwrap();
        let start = columns
            .intern("interval_start", Role::IntervalStart, String::new)
            .unwrap();
        let long: Vec<ColumnId> = [
            ("metric", Role::Metric),
            ("qualifier", Role::Qualifier),
            ("stat", Role::Stat),
            ("value", Role::LongValue),
        ]
        .into_iter()
        .map(|(name, role)| columns.intern(name, role, String::new).unwrap())
        .collect();
        columns.set_long_columns(LongColumns::new(&long));
        let slot = |columns: &mut Columns, label: &str, qualifier: Option<&str>, stat: &str| {
            columns.add_slot(Slot {
                label: label.into(),
                qualifier: qualifier.map(Into::into),
                stat: stat.into(),
                qualifier_name: None,
            })
        };
        let handle = slot(&mut columns, "tHandle", None, "sum");
        let quoted = slot(&mut columns, "view:a,\"b\"", None, "count");
        let qualified = slot(&mut columns, "oServiceLevel", Some("q\u{e9}"), "ratio");
        let records = vec![
            vec![
                (group, Cell::Text("q1")),
                (start, Cell::Text("2024-05-01T00:00:00Z")),
                (handle, Cell::Raw("1.5e3")),
                (quoted, Cell::Null),
                (qualified, Cell::Raw("-0.25")),
            ],
            vec![
                (group, Cell::Null),
                (qualified, Cell::Raw("1")),
                (handle, Cell::Raw("2")),
            ],
            vec![(handle, Cell::Raw("3")), (quoted, Cell::Raw("4"))],
            vec![(group, Cell::Text("no values"))],
        ];
        (columns, records)
    }

    #[test]
    fn csv_long_rows_match_the_whole_rows() {
        let (columns, records) = records();
        let header = columns.header();
        let writer = CsvWriter::new(Output::Stdout(std::io::stdout()), &columns, &header, false);
        let mut quick = Expand::new(writer.renderer(), Layout::Long);
        let mut whole = Expand::new(Whole(writer.renderer()), Layout::Long);
        for record in &records {
            RowSink::row(&mut quick, &columns, record, 0).unwrap();
            RowSink::row(&mut whole, &columns, record, 0).unwrap();
        }
        let quick = String::from_utf8(quick.take().unwrap()).unwrap();
        assert_eq!(quick, String::from_utf8(whole.take().unwrap()).unwrap());
        assert_eq!(
            quick,
            "q1,2024-05-01T00:00:00Z,tHandle,,sum,1.5e3\n\
             q1,2024-05-01T00:00:00Z,\"view:a,\"\"b\"\"\",,count,\n\
             q1,2024-05-01T00:00:00Z,oServiceLevel,q\u{e9},ratio,-0.25\n\
             ,,oServiceLevel,q\u{e9},ratio,1\n\
             ,,tHandle,,sum,2\n\
             ,,tHandle,,sum,3\n\
             ,,\"view:a,\"\"b\"\"\",,count,4\n"
        );
    }

    #[test]
    fn ndjson_long_rows_match_the_whole_rows() {
        let (columns, records) = records();
        let dir = tempfile::tempdir().unwrap();
        let mut outputs = Vec::new();
        for quick in [true, false] {
            let path = dir.path().join(format!("{quick}.ndjson"));
            let writer = NdjsonWriter::new(
                Output::file(std::fs::File::create(&path).unwrap(), false),
                Default::default(),
            );
            let mut writer: Box<dyn RowWriter> = if quick {
                Box::new(Expand::new(writer, Layout::Long))
            } else {
                Box::new(Expand::new(Whole(writer), Layout::Long))
            };
            for record in &records {
                writer.row(&columns, record, 0).unwrap();
            }
            writer.finish().unwrap();
            outputs.push(std::fs::read_to_string(&path).unwrap());
        }
        assert_eq!(outputs[0], outputs[1]);
        let lines: Vec<&str> = outputs[0].lines().collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(
            lines[2],
            r#"{"queue_id":"q1","interval_start":"2024-05-01T00:00:00Z","metric":"oServiceLevel","qualifier":"qé","stat":"ratio","value":-0.25}"#
        );
        assert_eq!(lines[5], r#"{"metric":"tHandle","stat":"sum","value":3}"#);
    }
}
