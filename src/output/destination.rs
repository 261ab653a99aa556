//! Where output bytes go: stdout, a file, gzip, or one JSON array. Files are created by
//! [`crate::atomic`], written beside their target and renamed into place once finished: a
//! failed run leaves nothing there.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use flate2::write::GzEncoder;

/// Rows are gathered in a block of about this size before each write.
pub(super) const BLOCK: usize = 1 << 20;

/// Where output bytes go: stdout, a file, or a gzip-compressed file.
pub enum Output {
    /// Standard output.
    Stdout(io::Stdout),
    /// A plain file.
    File(BufWriter<File>),
    /// A file compressed with gzip (boxed: the zlib-rs encoder keeps its state inline, about
    /// 260 bytes, which would make every output that size).
    Gzip(Box<GzEncoder<BufWriter<File>>>),
    /// NDJSON lines written to another output as one JSON array.
    Array(Box<JsonArray>),
}

impl Output {
    /// Writes to `file` (already created, see [`crate::atomic`]), gzip-compressed if asked.
    pub fn file(file: File, gzip: bool) -> Output {
        let file = BufWriter::with_capacity(1 << 16, file);
        if gzip {
            Output::Gzip(Box::new(GzEncoder::new(file, flate2::Compression::default())))
        } else {
            Output::File(file)
        }
    }

    /// The NDJSON lines written to the result go to `self` as the elements of one JSON
    /// array, for readers that take one document (Python's `json.load`).
    pub fn array(self) -> Output {
        Output::Array(Box::new(JsonArray {
            inner: self,
            started: false,
            newline: false,
        }))
    }

    /// Flushes everything, ending the gzip stream if there is one.
    pub fn close(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut out) => out.flush(),
            Output::File(mut out) => out.flush(),
            Output::Gzip(out) => (*out).finish()?.flush(),
            Output::Array(array) => array.close(),
        }
    }
}

/// Turns NDJSON lines into one JSON array as they stream through: `[` before the first row,
/// `,` between rows, `]` at the end (`[]` for none). A newline byte in NDJSON only ever
/// ends a row (strings escape theirs), so rows are found without parsing them.
pub struct JsonArray {
    inner: Output,
    /// Whether `[` is written.
    started: bool,
    /// Whether a row's newline is held back: the next row writes it after its `,`.
    newline: bool,
}

impl JsonArray {
    fn close(mut self) -> io::Result<()> {
        let end: &[u8] = match (self.started, self.newline) {
            (false, _) => b"[]\n",
            (true, true) => b"\n]\n",
            (true, false) => b"]\n",
        };
        self.inner.write_all(end)?;
        self.inner.close()
    }

    /// Writes a piece of a row.
    fn piece(&mut self, piece: &[u8]) -> io::Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        if !self.started {
            self.inner.write_all(b"[")?;
            self.started = true;
        } else if self.newline {
            self.inner.write_all(b",\n")?;
        }
        self.newline = false;
        self.inner.write_all(piece)
    }
}

impl Write for JsonArray {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while let Some(end) = memchr::memchr(b'\n', buf) {
            self.piece(&buf[..end])?;
            self.newline = true;
            buf = &buf[end + 1..];
        }
        self.piece(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(buf),
            Output::File(out) => out.write(buf),
            Output::Gzip(out) => out.write(buf),
            Output::Array(out) => out.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.write_all(buf),
            Output::File(out) => out.write_all(buf),
            Output::Gzip(out) => out.write_all(buf),
            Output::Array(out) => out.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File(out) => out.flush(),
            Output::Gzip(out) => out.flush(),
            Output::Array(out) => out.flush(),
        }
    }
}
