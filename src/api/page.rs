//! Response pages, copied exactly as the API sent them, one per line.
//!
//! A page is streamed, never held in memory: the body passes once through a tee that (a)
//! writes it on with the whitespace outside strings removed, so a pretty-printed page
//! becomes one line while every value keeps its exact spelling, and (b) feeds a serde scan
//! that checks the page is one JSON document and picks up its `cursor` and its row count
//! (the `data[]` elements under `results[]`). Because the scan validates the whole page,
//! removing whitespace outside strings cannot change its meaning.
//!
//! Observation bodies ([`PageFile::append_observed`]) keep every byte instead, after an
//! envelope line that carries their time: the body then stays exactly what the API sent, and
//! readers tell bodies apart by the envelope and the JSON itself, not by lines.
//!
//! A [`PageFile`] only ever holds complete pages: a page whose body breaks off halfway is
//! cut back out, so the request can be retried without duplicating anything.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::ReadError;
use crate::exit::ApiFailure;
use crate::minify::Minify;

/// What a page says about itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageInfo {
    /// The async results cursor of the next page, if any.
    pub cursor: Option<String>,
    /// Its entities: `data[]` elements over all `results[]`.
    pub rows: u64,
}

/// Why a page could not be copied.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the body failed (the connection broke): worth a retry.
    Read(io::Error),
    /// Writing our output failed.
    Write(io::Error),
    /// The body is not one JSON document, or not a page.
    Invalid(serde_json::Error),
    /// The body is a JSON object, but not a page: an error body, or none of the page's keys.
    NotAPage(String),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Read(e) => write!(f, "reading the response: {e}"),
            CopyError::Write(e) => write!(f, "writing the page: {e}"),
            CopyError::Invalid(e) => write!(f, "the response is not a JSON page: {e}"),
            CopyError::NotAPage(what) => write!(f, "the 200 answer is not a page: {what}"),
        }
    }
}

impl std::error::Error for CopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CopyError::Read(e) | CopyError::Write(e) => Some(e),
            CopyError::Invalid(e) => Some(e),
            CopyError::NotAPage(_) => None,
        }
    }
}

/// How a page is written: on one line, or every byte as the API sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// The whitespace outside strings removed: one line per page.
    OneLine,
    /// Byte for byte, whitespace and all (an observation body, whose envelope says where
    /// it starts).
    Raw,
}

/// Copies one page from `body` to `out` spelled as `spelling` says, then a newline.
pub fn copy(body: impl Read, out: impl Write, spelling: Spelling) -> Result<PageInfo, CopyError> {
    let mut tee = Tee {
        body,
        out: Compact::new(out, spelling == Spelling::Raw),
        write_error: None,
    };
    let scanned = {
        // The buffer sits outside the tee so the tee sees large reads, not serde's bytes.
        let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, &mut tee));
        Scan::deserialize(&mut de).and_then(|scan| de.end().map(|()| scan))
    };
    if tee.out.too_long {
        return Err(CopyError::NotAPage(format!(
            "it holds a string of more than {} MiB (no page does; its text would fill memory)",
            MAX_STRING >> 20
        )));
    }
    if let Some(e) = tee.write_error.take() {
        return Err(CopyError::Write(e));
    }
    let scan = scanned.map_err(|e| match e.io_error_kind() {
        Some(_) => CopyError::Read(io::Error::other(e)),
        None => CopyError::Invalid(e),
    })?;
    scan.check()?;
    tee.out.finish().map_err(CopyError::Write)?;
    Ok(PageInfo {
        cursor: scan.cursor,
        rows: scan.results.0,
    })
}

/// Passes everything read from `body` on to `out`.
struct Tee<R, W: Write> {
    body: R,
    out: Compact<W>,
    /// A write failure, kept apart so it is not mistaken for a broken connection.
    write_error: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.body.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            if self.out.too_long {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "string too long"));
            }
            self.write_error = Some(e);
            return Err(io::Error::other("output failed"));
        }
        Ok(n)
    }
}

/// The longest string (a key, a cursor, a value) an answer may hold: serde keeps each
/// whole in memory while reading it, so a hostile server's endless key or cursor would
/// grow without bound. Real pages hold UUIDs, names and cursors of a few hundred bytes.
const MAX_STRING: usize = 8 << 20;

/// Drops the whitespace outside JSON strings (unless `raw`), and stops at a string over
/// [`MAX_STRING`].
struct Compact<W> {
    out: W,
    /// Keep every byte: the scan still runs, for the string limit.
    raw: bool,
    scan: Minify,
    /// Bytes of the string being read so far.
    string_len: usize,
    /// A string passed [`MAX_STRING`].
    too_long: bool,
}

impl<W: Write> Compact<W> {
    fn new(out: W, raw: bool) -> Compact<W> {
        Compact {
            out,
            raw,
            scan: Minify::default(),
            string_len: 0,
            too_long: false,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut kept = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if self.scan.in_string() {
                self.string_len += 1;
                if self.string_len > MAX_STRING {
                    self.too_long = true;
                    return Err(io::Error::other("string too long"));
                }
            } else {
                self.string_len = 0;
            }
            if !self.scan.keeps(b) && !self.raw {
                self.out.write_all(&bytes[kept..i])?;
                kept = i + 1;
            }
        }
        self.out.write_all(&bytes[kept..])
    }

    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// The parts of a page the fetch needs, and what tells a page from another answer;
/// everything else is skipped unread.
#[derive(Default)]
struct Scan {
    cursor: Option<String>,
    results: Sum<ResultScan>,
    /// Whether a key a page has (`results`, `entities`, `cursor`) was there.
    page_key: bool,
    /// An API error body's `code` and `message`.
    code: Option<String>,
    message: Option<String>,
    /// Other keys, the first few by name.
    others: Vec<String>,
}

impl Scan {
    /// A page has `results`, `entities` or a `cursor`, or is the `{}` the API answers for
    /// an interval without data. Anything else (an error body sent with 200, some other
    /// object) must not be stored as a page, nor its chunk called complete.
    fn check(&self) -> Result<(), CopyError> {
        if self.page_key || (self.others.is_empty() && self.code.is_none() && self.message.is_none()) {
            return Ok(());
        }
        if self.code.is_some() || self.message.is_some() {
            let code = self.code.as_deref().unwrap_or("no code");
            let message = self.message.as_deref().unwrap_or("no message");
            return Err(CopyError::NotAPage(format!("an API error: {code}: {message}")));
        }
        Err(CopyError::NotAPage(format!(
            "an object without results, entities or cursor (keys: {})",
            self.others.join(", ")
        )))
    }
}

impl<'de> Deserialize<'de> for Scan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScanVisitor;

        impl<'de> Visitor<'de> for ScanVisitor {
            type Value = Scan;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a page (a JSON object)")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Scan, A::Error> {
                let mut scan = Scan::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "cursor" => {
                            scan.page_key = true;
                            scan.cursor = map.next_value()?;
                        }
                        "results" => {
                            scan.page_key = true;
                            scan.results = map.next_value()?;
                        }
                        "entities" => {
                            scan.page_key = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        "code" => scan.code = map.next_value::<Text>()?.0,
                        "message" => scan.message = map.next_value::<Text>()?.0,
                        other => {
                            if scan.others.len() < 5 {
                                scan.others.push(super::excerpt(other));
                            }
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(scan)
            }
        }

        deserializer.deserialize_map(ScanVisitor)
    }
}

/// A string value, or nothing for any other JSON value (skipped unread).
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(super::excerpt(v))))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text, E> {
                Ok(Text(None))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text, E> {
                Ok(Text(None))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text, E> {
                Ok(Text(None))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
                Ok(Text(None))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }

        deserializer.deserialize_any(TextVisitor)
    }
}

#[derive(Deserialize)]
struct ResultScan {
    #[serde(default)]
    data: Sum<IgnoredAny>,
}

/// A count of what a page holds, for progress and the manifest.
trait Weight {
    fn weight(&self) -> u64;
}

impl Weight for IgnoredAny {
    fn weight(&self) -> u64 {
        1
    }
}

impl Weight for ResultScan {
    fn weight(&self) -> u64 {
        self.data.0
    }
}

/// The summed weight of an array's elements; anything that is not an array (`null`, the
/// `{}` an empty answer may carry) weighs nothing.
struct Sum<T>(u64, PhantomData<T>);

impl<T> Default for Sum<T> {
    fn default() -> Self {
        Sum(0, PhantomData)
    }
}

impl<'de, T: Deserialize<'de> + Weight> Deserialize<'de> for Sum<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SumVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + Weight> Visitor<'de> for SumVisitor<T> {
            type Value = Sum<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sum<T>, A::Error> {
                let mut total = 0;
                while let Some(item) = seq.next_element::<T>()? {
                    total += item.weight();
                }
                Ok(Sum(total, PhantomData))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Sum<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Sum::default())
            }

            fn visit_unit<E: de::Error>(self) -> Result<Sum<T>, E> {
                Ok(Sum::default())
            }
        }

        deserializer.deserialize_any(SumVisitor(PhantomData))
    }
}

/// The one key of the line written before each observation body: the time it was observed.
pub const ENVELOPE_KEY: &str = "gcaggObservedAt";

impl From<CopyError> for ReadError {
    /// A broken connection is worth another request; a page that is no page, or a failed
    /// write, is not.
    fn from(e: CopyError) -> ReadError {
        match e {
            CopyError::Read(_) => ReadError::Retry(e.into()),
            CopyError::Write(_) => ReadError::Fail(e.into()),
            CopyError::Invalid(_) | CopyError::NotAPage(_) => {
                ReadError::Fail(anyhow::Error::new(ApiFailure(e.to_string())))
            }
        }
    }
}

/// A file of complete pages, one per line (a scratch file, or a chunk file's temporary).
pub struct PageFile {
    file: File,
    /// Bytes of complete pages.
    len: u64,
    /// Pages written.
    pub pages: u64,
    /// Rows (entities) in them.
    pub rows: u64,
}

impl PageFile {
    /// Wraps a new, empty file.
    pub fn new(file: File) -> PageFile {
        PageFile {
            file,
            len: 0,
            pages: 0,
            rows: 0,
        }
    }

    /// Appends one page from `body`; on failure the file is cut back to its last complete page.
    pub fn append(&mut self, body: impl Read) -> Result<PageInfo, CopyError> {
        self.append_spelled(&[], body, Spelling::OneLine)
    }

    /// Appends the envelope line `{"gcaggObservedAt":"<observed_at>"}`, then the page from
    /// `body` byte for byte, then a newline; on failure the file is cut back to its last
    /// complete page, envelope included.
    pub fn append_observed(&mut self, observed_at: &str, body: impl Read) -> Result<PageInfo, CopyError> {
        let envelope = format!("{{\"{ENVELOPE_KEY}\":{}}}\n", serde_json::Value::from(observed_at));
        self.append_spelled(envelope.as_bytes(), body, Spelling::Raw)
    }

    fn append_spelled(&mut self, prefix: &[u8], body: impl Read, spelling: Spelling) -> Result<PageInfo, CopyError> {
        let mut out = BufWriter::with_capacity(64 * 1024, &mut self.file);
        let copied = out
            .write_all(prefix)
            .map_err(CopyError::Write)
            .and_then(|()| copy(body, &mut out, spelling));
        drop(out);
        let info = match copied {
            Ok(info) => info,
            Err(e) => {
                self.file.set_len(self.len).map_err(CopyError::Write)?;
                self.file.seek(SeekFrom::Start(self.len)).map_err(CopyError::Write)?;
                return Err(e);
            }
        };
        self.len = self.file.stream_position().map_err(CopyError::Write)?;
        self.pages += 1;
        self.rows += info.rows;
        Ok(info)
    }

    /// The file, its write position at the end of the last page.
    pub fn into_file(self) -> File {
        self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> (String, PageInfo) {
        let mut out = Vec::new();
        let info = copy(body.as_bytes(), &mut out, Spelling::OneLine).unwrap();
        (String::from_utf8(out).unwrap(), info)
    }

    #[test]
    fn pretty_pages_become_one_line_with_values_untouched() {
        let body = "{\n  \"results\" : [ { \"group\" : { \"q\" : \"a b\\\" \\\\\" },\n \"data\" : [ {\"interval\":\"x / y\",\
                    \"metrics\":[{\"metric\":\"m\",\"stats\":{\"sum\" : 150784.0, \"ratio\": 0.47586206896551725,\"n\":1e3}}]},{} ] } ],\r\n\t\"cursor\" : \"c 1\" }\n";
        let (line, info) = page(body);
        assert_eq!(
            line,
            "{\"results\":[{\"group\":{\"q\":\"a b\\\" \\\\\"},\"data\":[{\"interval\":\"x / y\",\
             \"metrics\":[{\"metric\":\"m\",\"stats\":{\"sum\":150784.0,\"ratio\":0.47586206896551725,\"n\":1e3}}]},{}]}],\"cursor\":\"c 1\"}\n"
        );
        assert_eq!(
            info,
            PageInfo {
                cursor: Some("c 1".into()),
                rows: 2
            }
        );
    }

    #[test]
    fn empty_and_null_results_count_nothing() {
        for body in ["{}", "{\"results\":null}", "{\"results\":{}}", "{\"results\":[]}"] {
            assert_eq!(page(body), (format!("{body}\n"), PageInfo::default()));
        }
    }

    #[test]
    fn refuses_objects_that_are_not_pages() {
        for body in [
            r#"{"message":"Rate limit exceeded","code":"too.many.requests","status":429}"#,
            r#"{"status":"ok"}"#,
        ] {
            assert!(
                matches!(
                    copy(body.as_bytes(), io::sink(), Spelling::OneLine),
                    Err(CopyError::NotAPage(_))
                ),
                "{body}"
            );
        }
        for body in [
            "{\"entities\":[]}",
            "{\"cursor\":null,\"x\":1}",
            "{\"results\":[],\"message\":\"m\"}",
        ] {
            assert!(copy(body.as_bytes(), io::sink(), Spelling::OneLine).is_ok(), "{body}");
        }
    }

    #[test]
    fn refuses_what_is_not_one_json_document() {
        for body in ["", "{\"results\":[", "{} {}", "<html>", "{\"cursor\":3}"] {
            assert!(
                matches!(
                    copy(body.as_bytes(), io::sink(), Spelling::OneLine),
                    Err(CopyError::Invalid(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_broken_page_is_cut_back_out() {
        struct Breaks<'a>(&'a [u8]);
        impl Read for Breaks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::from(io::ErrorKind::ConnectionReset));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut file = PageFile::new(tempfile::tempfile().unwrap());
        file.append(&b"{\"results\":[]}"[..]).unwrap();
        assert!(matches!(
            file.append(Breaks(b"{\"results\":[{")),
            Err(CopyError::Read(_))
        ));
        file.append(&b"{ }"[..]).unwrap();
        let mut text = String::new();
        let mut f = file.into_file();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut text).unwrap();
        assert_eq!(text, "{\"results\":[]}\n{}\n");
    }

    #[test]
    fn an_observed_body_keeps_every_byte_after_its_envelope() {
        let mut file = PageFile::new(tempfile::tempfile().unwrap());
        let body = "{\n  \"results\" : [ {\"group\": {\"queueId\": \"a b\"}, \"data\": [ ]} ]\r\n}\n";
        file.append_observed("2024-05-01T10:15:02.123Z", body.as_bytes())
            .unwrap();
        assert!(file
            .append_observed("2024-05-01T10:15:03.000Z", &br#"{"message":"m","code":"c"}"#[..])
            .is_err());
        let mut text = String::new();
        let mut f = file.into_file();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut text).unwrap();
        assert_eq!(
            text,
            format!("{{\"gcaggObservedAt\":\"2024-05-01T10:15:02.123Z\"}}\n{body}\n")
        );
    }
}
