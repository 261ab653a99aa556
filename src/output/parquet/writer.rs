//! The Parquet file writer: rows gathered into fragments, fragments into row groups.

use std::sync::Arc;

use anyhow::anyhow;
use arrow_schema::DataType;
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::check::{long_misfit, misfit};
use super::chunk::{self, ColumnChunk, Pages};
use super::fragment::{ColumnKind, Fragment, PartBuilder};
use super::{data_type, schema, Settings};
use crate::columns::{ColumnId, Columns, LongColumns, Role};
use crate::output::long::LongRow;
use crate::output::{Cell, Output, Render, RowSink, RowWriter, Spawn};

/// Rows handed over one by one that are gathered before they go to the row group.
pub const BATCH_ROWS: usize = 8192;

/// A row group is closed once its encoded size reaches this many bytes, so a wide or
/// text-heavy output cannot hold more than this in memory per file (the benchmark's 83 wide
/// columns run at 58 MB resident).
pub const ROW_GROUP_BYTES: usize = 8 << 20;

/// Writes rows as one Parquet file.
pub struct ParquetWriter {
    file: SerializedFileWriter<Output>,
    /// The open row group, one chunk per header column.
    chunks: Vec<ColumnChunk>,
    pages: Pages,
    /// Rows in the open row group.
    rows: usize,
    row_group_rows: usize,
    /// Rows handed over one by one ([`RowSink::row`]), not yet in `chunks`.
    pending: Fragments,
}

/// Gathers rows into [`Fragment`]s of a file's columns: the [`Render`]er of each replay
/// thread, and the writer's own for rows handed over one by one.
pub struct Fragments {
    kinds: Arc<[ColumnKind]>,
    builders: Vec<PartBuilder>,
    /// Header position of each column id (`usize::MAX`: not in the header).
    position: Arc<[usize]>,
    /// Per header position: 1 + the index of the row's cell for it, or 0.
    slots: Vec<usize>,
    /// Header positions of the long layout's columns, once known.
    long: Option<LongColumns>,
    /// Long rows whose other cells, the same as the row before them, are not yet appended
    /// to their columns: they are, in one go, before any other cell.
    repeats: usize,
    /// Rows in the builders.
    rows: usize,
    /// Per header position: whether a cell the row lacks is 0 (a value column without
    /// `--keep-nulls`) rather than null.
    zero_missing: Arc<[bool]>,
}

/// How a column of this role is built and encoded.
fn kind(role: Role) -> ColumnKind {
    match data_type(role) {
        DataType::Timestamp(..) => ColumnKind::Time,
        DataType::Int64 => ColumnKind::Int,
        DataType::Float64 => ColumnKind::Float,
        _ => ColumnKind::Text,
    }
}

impl ParquetWriter {
    /// A writer of `header` (column ids in order) to `out`.
    pub fn new(
        out: Output,
        columns: &Columns,
        header: &[ColumnId],
        keep_nulls: bool,
        settings: Settings,
    ) -> anyhow::Result<ParquetWriter> {
        let schema = schema(columns, header);
        let parquet = ArrowSchemaConverter::new().convert(&schema)?;
        // The Arrow schema rides along, as Arrow's own writers store it, so Arrow readers get
        // the dictionary and time zone back.
        let mut props = WriterProperties::builder().build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let file = SerializedFileWriter::new(out, parquet.root_schema_ptr(), Arc::new(props))?;
        let kinds: Arc<[ColumnKind]> = header.iter().map(|&id| kind(columns.get(id).role)).collect();
        let zero_missing = header
            .iter()
            .map(|&id| columns.get(id).role.is_value() && !keep_nulls)
            .collect();
        let chunks = kinds
            .iter()
            .enumerate()
            .map(|(at, &kind)| ColumnChunk::new(parquet.column(at), kind, settings.codec))
            .collect();
        let mut position = vec![usize::MAX; columns.len()];
        for (at, &id) in header.iter().enumerate() {
            position[id] = at;
        }
        Ok(ParquetWriter {
            file,
            chunks,
            pages: Pages::here(settings.codec)?,
            rows: 0,
            row_group_rows: settings.row_group_rows.max(1),
            pending: Fragments::new(kinds, position.into(), zero_missing),
        })
    }

    /// Encodes and compresses full pages on `threads` threads of their own, each started by
    /// `spawn`, rather than on the writing thread (a file of many rows; each partition of a
    /// dataset stays on one).
    pub fn with_page_threads(mut self, threads: usize, spawn: Spawn<()>) -> anyhow::Result<ParquetWriter> {
        self.pages = Pages::new(self.pages.codec(), threads, spawn)?;
        Ok(self)
    }

    /// A gatherer of this file's fragments, for [`ParquetWriter::write_fragment`].
    pub fn renderer(&self) -> Fragments {
        self.pending.fresh()
    }

    /// Adds a fragment's rows (of this file's columns) after the rows so far. A row group
    /// closes at `--row-group-size` rows exactly, or after the fragment that brings it to
    /// [`ROW_GROUP_BYTES`].
    pub fn write_fragment(&mut self, fragment: Fragment) -> anyhow::Result<()> {
        let mut values = vec![0; self.chunks.len()];
        let mut at = 0;
        while at < fragment.rows {
            let n = (fragment.rows - at).min(self.row_group_rows - self.rows);
            for ((chunk, part), value) in self.chunks.iter_mut().zip(&fragment.parts).zip(&mut values) {
                *value = chunk.append(part, at..at + n, *value, &mut self.pages)?;
            }
            at += n;
            self.rows += n;
            if self.rows == self.row_group_rows {
                self.close_row_group()?;
            }
        }
        chunk::settle(&mut self.chunks, &mut self.pages)?;
        if self.chunks.iter().map(ColumnChunk::buffered_bytes).sum::<usize>() >= ROW_GROUP_BYTES {
            self.close_row_group()?;
        }
        Ok(())
    }

    /// Writes the open row group, if it holds a row.
    fn close_row_group(&mut self) -> anyhow::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut group = self.file.next_row_group()?;
        for chunk in &mut self.chunks {
            let (bytes, close) = chunk.close(&mut self.pages)?;
            group.append_column(&bytes, close)?;
        }
        group.close()?;
        chunk::closed(&mut self.pages);
        self.rows = 0;
        Ok(())
    }

    /// Hands the rows given one by one to the row group.
    fn write_pending(&mut self) -> anyhow::Result<()> {
        let fragment = self.pending.take()?;
        self.write_fragment(fragment)
    }
}

impl Fragments {
    fn new(kinds: Arc<[ColumnKind]>, position: Arc<[usize]>, zero_missing: Arc<[bool]>) -> Fragments {
        Fragments {
            builders: kinds.iter().map(|&kind| PartBuilder::new(kind)).collect(),
            slots: vec![0; kinds.len()],
            long: None,
            repeats: 0,
            kinds,
            position,
            rows: 0,
            zero_missing,
        }
    }

    /// An empty gatherer of the same fragments.
    pub fn fresh(&self) -> Fragments {
        Fragments::new(self.kinds.clone(), self.position.clone(), self.zero_missing.clone())
    }

    /// Notes where each of `cells` goes in the header.
    fn place(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)]) -> anyhow::Result<()> {
        for (i, &(id, _)) in cells.iter().enumerate() {
            let at = self.at(columns, id)?;
            self.slots[at] = i + 1;
        }
        Ok(())
    }

    /// The header position of column `id`.
    fn at(&self, columns: &Columns, id: ColumnId) -> anyhow::Result<usize> {
        match self.position.get(id) {
            Some(&at) if at != usize::MAX => Ok(at),
            _ => Err(anyhow!(
                "column `{}` is not in the Parquet schema",
                columns.get(id).name
            )),
        }
    }

    /// Appends the cells of one row, which [`Fragments::place`] placed, to every column
    /// but those at `skip`.
    fn append(
        &mut self,
        columns: &Columns,
        cells: &[(ColumnId, Cell<'_>)],
        shared: usize,
        skip: &[usize],
    ) -> anyhow::Result<()> {
        self.append_repeats();
        // A new fragment has no last row to repeat.
        let shared = if self.rows == 0 { 0 } else { shared };
        // A cell that does not fit ends the run, so the columns it leaves uneven are never
        // written.
        for (at, builder) in self.builders.iter_mut().enumerate() {
            match std::mem::take(&mut self.slots[at]) {
                _ if skip.contains(&at) => {}
                0 => builder.append_missing(self.zero_missing[at]),
                i if i <= shared => builder.repeat_last(1),
                i => match cells[i - 1] {
                    (_, Cell::Null) => builder.append_null(),
                    (id, Cell::Text(text) | Cell::Raw(text)) => builder
                        .append_text(text)
                        .map_err(|why| misfit(columns, cells, id, text, why))?,
                },
            }
        }
        Ok(())
    }

    /// Appends the cells [`Fragments::repeats`] counts.
    fn append_repeats(&mut self) {
        if self.repeats > 0 {
            let long = self.long.as_ref().map_or(&[][..], LongColumns::all);
            for (at, builder) in self.builders.iter_mut().enumerate() {
                if !long.contains(&at) {
                    builder.repeat_last(self.repeats);
                }
            }
            self.repeats = 0;
        }
    }

    /// The header positions of the long layout's columns.
    fn long_positions(&mut self, columns: &Columns) -> anyhow::Result<Option<LongColumns>> {
        if self.long.is_none() {
            if let Some(ids) = columns.long_columns() {
                self.long = Some(ids.map(|id| self.at(columns, id))?);
            }
        }
        Ok(self.long)
    }
}

/// Appends a long row's label (`None`: null) to its column.
fn long_label(builder: &mut PartBuilder, long: &LongRow<'_, '_>, label: Option<&str>) -> anyhow::Result<()> {
    match label {
        Some(label) => builder
            .append_label(long.slot, label)
            .map_err(|why| anyhow!("the label `{label}` {why}")),
        None => {
            builder.append_null();
            Ok(())
        }
    }
}

/// Appends a long row's value to its column.
fn long_value(builder: &mut PartBuilder, columns: &Columns, long: &LongRow<'_, '_>) -> anyhow::Result<()> {
    if let Cell::Text(text) | Cell::Raw(text) = long.value {
        builder
            .append_text(text)
            .map_err(|why| long_misfit(columns, long, text, why))?;
    } else {
        builder.append_null();
    }
    Ok(())
}

impl RowSink for Fragments {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.place(columns, cells)?;
        self.append(columns, cells, shared, &[])?;
        self.rows += 1;
        Ok(())
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        let Some(long) = self.long_positions(columns)? else {
            return Ok(false);
        };
        if row.shared > 0 && self.rows > 0 {
            // The head is the last row's, so is every cell but the four of the long layout.
            self.repeats += 1;
        } else {
            self.place(columns, row.head)?;
            self.append(columns, row.head, 0, long.all())?;
        }
        for (at, label) in long.labels(columns.slot(row.slot)) {
            long_label(&mut self.builders[at], row, label)?;
        }
        long_value(&mut self.builders[long.value()], columns, row)?;
        self.rows += 1;
        Ok(true)
    }
}

impl Render for Fragments {
    type Part = Fragment;

    fn take(&mut self) -> anyhow::Result<Fragment> {
        self.append_repeats();
        let fragment = Fragment {
            rows: self.rows,
            parts: self.builders.iter_mut().map(PartBuilder::take).collect(),
        };
        self.rows = 0;
        Ok(fragment)
    }
}

impl RowSink for ParquetWriter {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        RowSink::row(&mut self.pending, columns, cells, shared)?;
        if self.pending.rows >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        let done = RowSink::long_row(&mut self.pending, columns, row)?;
        if self.pending.rows >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(done)
    }
}

impl RowWriter for ParquetWriter {
    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.write_pending()?;
        self.close_row_group()?;
        let out = self.file.into_inner()?;
        out.close()?;
        Ok(())
    }

    fn buffered_bytes(&self) -> usize {
        // The builders hold about 8 bytes a cell (a number, or a key and a level).
        self.pending.rows * self.pending.builders.len() * 8
            + self.chunks.iter().map(ColumnChunk::buffered_bytes).sum::<usize>()
    }

    fn flush_buffered(&mut self) -> anyhow::Result<()> {
        self.write_pending()?;
        self.close_row_group()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::parquet::Codec;

    /// A writer of every column of `columns` to `t.parquet` in `dir`, and that path.
    fn writer_in(
        dir: &std::path::Path,
        columns: &Columns,
        codec: Codec,
        row_group_rows: usize,
    ) -> (std::path::PathBuf, ParquetWriter) {
        let path = dir.join("t.parquet");
        let out = Output::file(std::fs::File::create(&path).unwrap(), false);
        let settings = Settings { codec, row_group_rows };
        let writer = ParquetWriter::new(out, columns, &columns.header(), false, settings).unwrap();
        (path, writer)
    }

    #[test]
    fn flush_buffered_closes_the_row_group_early() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let mut columns = Columns::default();
        let q = columns.intern("q", Role::Group, String::new).unwrap();
        let n = columns
            .intern("n_count", Role::Value { integer: true }, String::new)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = writer_in(dir.path(), &columns, Codec::None, 100);
        let mut writer = Box::new(writer);
        let row = [(q, Cell::Text("a")), (n, Cell::Raw("1"))];
        for _ in 0..3 {
            writer.row(&columns, &row, 0).unwrap();
        }
        assert!(writer.buffered_bytes() > 0);
        writer.flush_buffered().unwrap();
        assert_eq!(writer.buffered_bytes(), 0);
        writer.row(&columns, &row[..1], 0).unwrap();
        writer.finish().unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let sizes: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(sizes, [3, 1]);
    }

    #[test]
    fn rows_sharing_a_head_repeat_it_across_fragments_pages_and_row_groups() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int32Type, TimestampMillisecondType};
        use arrow_array::{Array, ArrayAccessor, StringArray};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let mut columns = Columns::default();
        let q = columns.intern("q", Role::Group, String::new).unwrap();
        let t = columns
            .intern("interval_start", Role::IntervalStart, String::new)
            .unwrap();
        let g = columns.intern("media", Role::Group, String::new).unwrap();
        let v = columns.intern("value", Role::LongValue, String::new).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (path, mut writer) = writer_in(dir.path(), &columns, Codec::Zstd, 25_000);
        let mut fragments = writer.renderer();
        let names: Vec<String> = (0..7).map(|n| format!("q{n}")).collect();
        let mut expected = Vec::new();
        for n in 0..20_001 {
            let media = if n % 3 == 0 { Cell::Null } else { Cell::Text("voice") };
            let head = [
                (q, Cell::Text(names[n % 7].as_str())),
                (
                    t,
                    Cell::Text(["1970-01-01T00:00:01Z", "1970-01-01T00:00:02+00:00"][n % 2]),
                ),
                (g, media),
            ];
            for k in 0..n % 5 + 1 {
                let value = ["1", "2.5", "-3", "4e2", "0"][k];
                let mut row = head.to_vec();
                row.push((v, Cell::Raw(value)));
                fragments.row(&columns, &row, if k == 0 { 0 } else { 3 }).unwrap();
                let media = (n % 3 != 0).then(|| "voice".to_owned());
                expected.push((
                    names[n % 7].clone(),
                    1000 + 1000 * (n as i64 % 2),
                    media,
                    value.parse::<f64>().unwrap(),
                ));
            }
            // Fragments end mid-entity too: the next one repeats nothing.
            if n % 997 == 0 {
                writer.write_fragment(fragments.take().unwrap()).unwrap();
            }
        }
        writer.write_fragment(fragments.take().unwrap()).unwrap();
        Box::new(writer).finish().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
        let groups: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups.len(), expected.len().div_ceil(25_000));
        assert!(groups[..groups.len() - 1].iter().all(|&n| n == 25_000), "{groups:?}");
        let mut got = Vec::new();
        for batch in reader.build().unwrap() {
            let batch = batch.unwrap();
            let q = batch
                .column(0)
                .as_dictionary::<Int32Type>()
                .downcast_dict::<StringArray>()
                .unwrap();
            let m = batch
                .column(1)
                .as_dictionary::<Int32Type>()
                .downcast_dict::<StringArray>()
                .unwrap();
            let t = batch.column(2).as_primitive::<TimestampMillisecondType>();
            let v = batch.column(3).as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                let media = m.is_valid(row).then(|| m.value(row).to_owned());
                got.push((q.value(row).to_owned(), t.value(row), media, v.value(row)));
            }
        }
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    }
}
