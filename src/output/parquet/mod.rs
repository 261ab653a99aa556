//! Parquet rows: typed columns, in bounded memory.
//!
//! Rows become columns in [`Fragments`] (one per replay thread, each spool segment a
//! [`Fragment`]); the writer adds fragments to the open row group's column chunks, which
//! encode and compress pages as they fill (see `chunk`), and closes a row group when it holds
//! `--row-group-size` rows or about [`ROW_GROUP_BYTES`] encoded bytes, whichever comes first.
//! So memory holds at most a few fragments and one row group per file, whatever the input.
//!
//! Numbers arrive as the input spelled them and are parsed here: a count column takes only
//! whole numbers (`36.0` is 36, `1.5` is an error), every other value column any finite
//! number. A cell that does not fit its column is an error naming the entity and the field;
//! the page reader adds the source, position and page.

use std::sync::Arc;

use anyhow::anyhow;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use self::chunk::{ColumnChunk, Pages};
use self::fragment::{ColumnKind, Fragment, PartBuilder};
use super::long::LongRow;
use super::{epoch_millis, Append, Cell, Output, Render, RowWriter};
use crate::columns::{ColumnId, Columns, IdMap, LongColumns, Role, FIRST_SLOT};

mod chunk;
mod fragment;

/// Rows handed over one by one that are gathered before they go to the row group.
pub const BATCH_ROWS: usize = 8192;

/// A row group is closed once its encoded size reaches this many bytes, so a wide or
/// text-heavy output cannot hold more than this in memory per file (the benchmark's 83 wide
/// columns run at 58 MB resident).
pub const ROW_GROUP_BYTES: usize = 8 << 20;

/// The default `--row-group-size`: the row cap of the Parquet ecosystem's writers.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;

/// Compression codecs for `--compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// Zstandard (level 1): small files, fast to read.
    Zstd,
    /// Snappy: the long-time default of Spark and Hive.
    Snappy,
    /// Gzip (level 6): readable by the oldest tools.
    Gzip,
    /// LZ4 (the raw block format of current Parquet readers).
    Lz4,
    /// No compression.
    None,
}

impl Codec {
    /// How the file's metadata names the codec.
    fn compression(self) -> Compression {
        match self {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::Gzip => Compression::GZIP(GzipLevel::default()),
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

/// The Parquet options of the command line.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The codec of every column.
    pub codec: Codec,
    /// Maximum rows per row group (at least 1).
    pub row_group_rows: usize,
}

/// The Arrow type of a column, which the Parquet type follows.
pub fn data_type(role: Role) -> DataType {
    match role {
        Role::IntervalStart | Role::IntervalEnd | Role::ObservedAt => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        }
        Role::Value { integer: true } => DataType::Int64,
        Role::Value { integer: false } | Role::LongValue | Role::Kpi { .. } => DataType::Float64,
        Role::Constant
        | Role::Group
        | Role::Name
        | Role::AggregateId
        | Role::Metric
        | Role::Qualifier
        | Role::QualifierName
        | Role::Truncated
        | Role::Field
        | Role::Stat => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
    }
}

/// How `gcagg schema` names the Parquet type of a column of this role.
pub fn type_label(role: Role) -> &'static str {
    match data_type(role) {
        DataType::Timestamp(..) => "TIMESTAMP(MILLIS, UTC)",
        DataType::Int64 => "INT64",
        DataType::Float64 => "DOUBLE",
        _ => "STRING (dictionary)",
    }
}

/// The Arrow schema of `header` (column ids in output order); every column is nullable.
pub fn schema(columns: &Columns, header: &[ColumnId]) -> Schema {
    Schema::new(
        header
            .iter()
            .map(|&id| {
                let column = columns.get(id);
                Field::new(&column.name, data_type(column.role), true)
            })
            .collect::<Vec<_>>(),
    )
}

fn timestamp(text: &str) -> Result<i64, &'static str> {
    epoch_millis(text).ok_or("is not an RFC 3339 timestamp with a Z or ±hh:mm offset")
}

fn double(text: &str) -> Result<f64, &'static str> {
    if let Some(v) = plain_decimal(text) {
        return Ok(v);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("is out of the range of DOUBLE"),
        Err(_) => Err("is not a number"),
    }
}

/// The value of the plain decimal `text` (`-?digits(.digits)?`), when its digits read as one
/// integer stay below 2^53 and its fraction has at most 22 digits: both that integer and the
/// power of ten are then exact doubles, and one division rounds as `str::parse` does
/// (Clinger's fast path), for a fraction of its time. Metric values are mostly such numbers.
fn plain_decimal(text: &str) -> Option<f64> {
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let mut integer = 0u64;
    let mut fraction = None;
    for (at, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => integer = integer.checked_mul(10)?.checked_add(u64::from(b - b'0'))?,
            b'.' if fraction.is_none() && at > 0 && at + 1 < digits.len() => fraction = Some(digits.len() - at - 1),
            _ => return None,
        }
    }
    if digits.is_empty() || integer >= 1 << 53 {
        return None;
    }
    let v = integer as f64 / POWERS.get(fraction.unwrap_or(0))?;
    Some(if negative { -v } else { v })
}

/// Says why `text` does not fit a column of this role, if it does not.
fn fits(role: Role, text: &str) -> Result<(), &'static str> {
    match role {
        Role::IntervalStart | Role::IntervalEnd | Role::ObservedAt => timestamp(text).map(drop),
        Role::Value { integer: true } => parse_count(text).map(drop),
        // A plain decimal of fewer than 300 characters is always a finite DOUBLE: only
        // exponents reach beyond, so only they need the parse.
        Role::Value { integer: false } | Role::LongValue | Role::Kpi { .. } if is_short_decimal(text) => Ok(()),
        Role::Value { integer: false } | Role::LongValue | Role::Kpi { .. } => double(text).map(drop),
        _ => Ok(()),
    }
}

/// `-?digits(.digits)?` of fewer than 300 characters.
fn is_short_decimal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let (Some(first), Some(last)) = (digits.first(), digits.last()) else {
        return false;
    };
    let mut dots = 0;
    for &b in digits {
        match b {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => return false,
        }
    }
    text.len() < 300 && dots <= 1 && first.is_ascii_digit() && last.is_ascii_digit()
}

/// Checks, as rows arrive, that every cell fits its column's Parquet type, then passes the
/// row on. Parquet rows wait in a spool until every column is known; checking on the way in
/// reports a misfit while the page reader still knows where it stands (the error
/// names page, entity and field). Columns only ever widen (INT64 to DOUBLE), so a row that
/// fits now still fits when it is written.
pub struct Checked<W> {
    inner: W,
    /// Whether rows are checked: Parquet output only; other formats take any cell.
    on: bool,
}

impl<W> Checked<W> {
    /// Rows on their way to `inner`, checked if `on`.
    pub fn new(inner: W, on: bool) -> Checked<W> {
        Checked { inner, on }
    }

    /// The writer the rows went to.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Says which cell of the row does not fit its column, if one does not.
    fn check(&self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        if !self.on {
            return Ok(());
        }
        // The shared head was checked with the row that brought it.
        for &(id, cell) in &cells[shared..] {
            if let Cell::Text(text) | Cell::Raw(text) = cell {
                if id >= FIRST_SLOT {
                    if let Err(why) = fits(Role::LongValue, text) {
                        // The value is still in its entity's record: name the row it becomes.
                        let head: Vec<_> = cells.iter().copied().filter(|&(id, _)| id < FIRST_SLOT).collect();
                        let long = LongRow {
                            head: &head,
                            slot: id,
                            value: cell,
                            shared: 0,
                        };
                        return Err(long_misfit(columns, &long, text, why));
                    }
                } else if let Err(why) = fits(columns.get(id).role, text) {
                    return Err(misfit(columns, cells, id, text, why));
                }
            }
        }
        Ok(())
    }
}

impl<W: RowWriter> RowWriter for Checked<W> {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.check(columns, cells, shared)?;
        self.inner.row(columns, cells, shared)
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        // A checked long row is checked whole, in `row`.
        if self.on {
            return Ok(false);
        }
        self.inner.long_row(columns, row)
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Box::new(self.inner).finish()
    }

    fn buffered_bytes(&self) -> usize {
        self.inner.buffered_bytes()
    }

    fn flush_buffered(&mut self) -> anyhow::Result<()> {
        self.inner.flush_buffered()
    }
}

/// A worker's rows, checked as they are rendered.
impl<W: RowWriter + Render> Render for Checked<W> {
    type Part = W::Part;

    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        self.check(columns, cells, shared)?;
        Render::row(&mut self.inner, columns, cells, shared)
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        if self.on {
            return Ok(false);
        }
        Render::long_row(&mut self.inner, columns, row)
    }

    fn take(&mut self) -> anyhow::Result<W::Part> {
        self.inner.take()
    }

    fn end_page(&mut self) -> anyhow::Result<()> {
        Render::end_page(&mut self.inner)
    }
}

/// Rows made by a worker were checked there.
impl<P, W: Append<P>> Append<P> for Checked<W> {
    fn append(&mut self, columns: &Columns, worker: usize, map: &IdMap, part: P) -> anyhow::Result<()> {
        self.inner.append(columns, worker, map, part)
    }

    fn end_page(&mut self) -> anyhow::Result<()> {
        Append::end_page(&mut self.inner)
    }
}

/// A count as a whole number: `36`, `36.0`, `3.6e1` are 36; `1.5` and anything beyond the
/// INT64 range are refused. Exact: no float round trip, so `9007199254740993.0` stays itself.
fn parse_count(text: &str) -> Result<i64, &'static str> {
    if let Ok(v) = text.parse::<i64>() {
        return Ok(v);
    }
    const FRACTION: &str = "is not a whole number, and count columns are INT64";
    const RANGE: &str = "is out of the range of INT64";
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (
            &text[..at],
            text[at + 1..].parse::<i32>().map_err(|_| "is not a number")?,
        ),
        None => (text, 0),
    };
    let (negative, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return Err("is not a number");
    }
    // The value is `whole fraction` (as one integer) times ten to `scale`.
    let mut significant = format!("{whole}{fraction}");
    let mut scale = i64::from(exponent) - fraction.len() as i64;
    while scale < 0 && significant.ends_with('0') {
        significant.pop();
        scale += 1;
    }
    let significant = significant.trim_start_matches('0');
    if significant.is_empty() {
        return Ok(0);
    }
    if scale < 0 {
        return Err(FRACTION);
    }
    if significant.len() as i64 + scale > 19 {
        return Err(RANGE);
    }
    let zeros = "0".repeat(scale as usize);
    let sign = if negative { "-" } else { "" };
    format!("{sign}{significant}{zeros}").parse::<i64>().map_err(|_| RANGE)
}

/// Writes rows as one Parquet file.
pub struct ParquetWriter {
    file: SerializedFileWriter<Output>,
    /// The open row group, one chunk per header column.
    chunks: Vec<ColumnChunk>,
    pages: Pages,
    /// Rows in the open row group.
    rows: usize,
    row_group_rows: usize,
    /// Rows handed over one by one ([`RowWriter`]), not yet in `chunks`.
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
            pages: Pages::new(settings.codec, 0)?,
            rows: 0,
            row_group_rows: settings.row_group_rows.max(1),
            pending: Fragments::new(kinds, position.into(), zero_missing),
        })
    }

    /// Encodes and compresses full pages on `threads` threads of their own rather than on
    /// the writing thread (a file of many rows; each partition of a dataset stays on one).
    pub fn with_page_threads(mut self, threads: usize) -> anyhow::Result<ParquetWriter> {
        self.pages = Pages::new(self.pages.codec(), threads)?;
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

impl Render for Fragments {
    type Part = Fragment;

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

impl RowWriter for ParquetWriter {
    fn row(&mut self, columns: &Columns, cells: &[(ColumnId, Cell<'_>)], shared: usize) -> anyhow::Result<()> {
        Render::row(&mut self.pending, columns, cells, shared)?;
        if self.pending.rows >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn long_row(&mut self, columns: &Columns, row: &LongRow<'_, '_>) -> anyhow::Result<bool> {
        let done = Render::long_row(&mut self.pending, columns, row)?;
        if self.pending.rows >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(done)
    }

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

/// [`misfit`] for a long row's value: names the row it is in.
fn long_misfit(columns: &Columns, long: &LongRow<'_, '_>, text: &str, why: &str) -> anyhow::Error {
    let mut row = Vec::new();
    match long.cells(columns, &mut row) {
        Ok(()) => misfit(columns, &row, row[row.len() - 1].0, text, why),
        Err(err) => err,
    }
}

/// The error for a cell that does not fit its column: names the entity (its group, interval
/// or id, and for the long layout the metric and stat) and the field.
fn misfit(columns: &Columns, cells: &[(ColumnId, Cell<'_>)], id: ColumnId, text: &str, why: &str) -> anyhow::Error {
    let entity: Vec<String> = cells
        .iter()
        // A long-layout record also carries its values, tagged with slot ids, not columns.
        .filter(|&&(cid, _)| {
            cid < FIRST_SLOT
                && matches!(
                    columns.get(cid).role,
                    Role::Group | Role::IntervalStart | Role::AggregateId | Role::Metric | Role::Qualifier | Role::Stat
                )
        })
        .map(|&(cid, cell)| match cell {
            Cell::Text(s) | Cell::Raw(s) => format!("{}={s}", columns.get(cid).name),
            Cell::Null => format!("{}=null", columns.get(cid).name),
        })
        .collect();
    let column = columns.get(id);
    let entity = if entity.is_empty() {
        "without group".to_owned()
    } else {
        entity.join(", ")
    };
    anyhow!(
        "entity {entity}: field `{}` ({}): `{text}` {why}",
        column.name,
        column.source
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::ArrowSchemaConverter;
    use parquet::basic::{LogicalType, TimeUnit as ParquetUnit, TimestampType, Type as Physical};

    #[test]
    fn counts_are_exact_whole_numbers() {
        for (text, want) in [
            ("36", 36),
            ("36.0", 36),
            ("-0.0", 0),
            ("3.6e1", 36),
            ("1E3", 1000),
            ("2500e-2", 25),
            ("9007199254740993.0", 9_007_199_254_740_993),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808.000", i64::MIN),
        ] {
            assert_eq!(parse_count(text), Ok(want), "{text}");
        }
        for text in ["1.5", "0.0001", "1e-3"] {
            assert!(parse_count(text).unwrap_err().contains("whole number"), "{text}");
        }
        for text in ["9223372036854775808", "1e19", "-1e30", "12345678901234567890.0"] {
            assert!(parse_count(text).unwrap_err().contains("range"), "{text}");
        }
        assert!(parse_count("1e999999999999").is_err());
    }

    #[test]
    fn labels_match_the_parquet_schema_written() {
        let roles = [
            Role::Group,
            Role::IntervalStart,
            Role::Value { integer: true },
            Role::Value { integer: false },
            Role::LongValue,
        ];
        let fields: Vec<Field> = roles
            .iter()
            .enumerate()
            .map(|(i, &r)| Field::new(format!("c{i}"), data_type(r), true))
            .collect();
        let parquet = ArrowSchemaConverter::new().convert(&Schema::new(fields)).unwrap();
        let described: Vec<(Physical, Option<LogicalType>)> = parquet
            .columns()
            .iter()
            .map(|c| (c.physical_type(), c.logical_type_ref().cloned()))
            .collect();
        assert_eq!(
            described,
            vec![
                (Physical::BYTE_ARRAY, Some(LogicalType::String)),
                (
                    Physical::INT64,
                    Some(LogicalType::Timestamp(TimestampType {
                        is_adjusted_to_u_t_c: true,
                        unit: ParquetUnit::MILLIS
                    }))
                ),
                (Physical::INT64, None),
                (Physical::DOUBLE, None),
                (Physical::DOUBLE, None),
            ]
        );
        let labels: Vec<&str> = roles.iter().map(|&r| type_label(r)).collect();
        assert_eq!(
            labels,
            [
                "STRING (dictionary)",
                "TIMESTAMP(MILLIS, UTC)",
                "INT64",
                "DOUBLE",
                "DOUBLE"
            ]
        );
    }

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

    #[test]
    fn plain_decimals_read_as_str_parse_reads_them() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "1",
            "-12",
            "3.25",
            "0.1",
            "0.3",
            "150784.0",
            "00.5",
            "9007199254740991",
            "9007199254740992",
            "900719925474099.3",
            "1.0000000000000000000001",
            "0.0000000000000000000001",
            "123.4567890123456789012",
            "1.",
            ".5",
            "1e3",
            "-",
            "",
            "1.2.3",
            "18446744073709551616",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        // Integers and fractions of every length, from a fixed-seed generator.
        let mut seed = 42u64;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let digits = (seed >> 33) % 10u64.pow(1 + (seed % 16) as u32);
            let at = (seed >> 8) % 18;
            let text = digits.to_string();
            let text = if (at as usize) < text.len() && at > 0 {
                format!("{}.{}", &text[..at as usize], &text[at as usize..])
            } else {
                text
            };
            texts.push(if seed & 1 == 1 { format!("-{text}") } else { text });
        }
        for text in &texts {
            let want = text.parse::<f64>().ok();
            match plain_decimal(text) {
                Some(v) => assert_eq!(Some(v.to_bits()), want.map(f64::to_bits), "{text}"),
                None => assert_eq!(double(text).ok().map(f64::to_bits), want.map(f64::to_bits), "{text}"),
            }
        }
        assert!(plain_decimal("123.25").is_some() && plain_decimal("-0.5").is_some());
    }

    #[test]
    fn short_decimals_fit_double_without_a_parse() {
        for text in ["0", "-12", "3.25", "150784.0", &"9".repeat(299)] {
            assert!(is_short_decimal(text), "{text}");
            assert!(double(text).is_ok(), "{text}");
        }
        for text in [
            "",
            "-",
            "1.",
            ".5",
            "1e3",
            "1.2.3",
            "--1",
            "0x1",
            &"9".repeat(300),
            "1e999",
        ] {
            assert!(!is_short_decimal(text), "{text}");
        }
        assert_eq!(fits(Role::LongValue, "1e999"), Err("is out of the range of DOUBLE"));
        assert_eq!(
            fits(Role::LongValue, &"9".repeat(400)),
            Err("is out of the range of DOUBLE")
        );
        assert_eq!(fits(Role::LongValue, "12.5"), Ok(()));
    }

    #[test]
    fn timestamps_convert_offsets_to_utc() {
        assert_eq!(epoch_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            epoch_millis("2024-03-31T01:00:00.000+02:00"),
            epoch_millis("2024-03-30T23:00:00Z")
        );
        assert_eq!(epoch_millis("1970-01-01T00:00:01.5-00:30"), Some(1_801_500));
        assert_eq!(epoch_millis("2024-05-01"), None);
        assert_eq!(epoch_millis("a"), None);
    }
}
