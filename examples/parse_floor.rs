//! The parse floor of `scripts/bench`: parse every JSON document of a file with serde_json
//! and do nothing with it.
//!
//! ```text
//! cargo run --release --example parse_floor -- FILE            # from_slice (the floor)
//! cargo run --release --example parse_floor -- --reader FILE   # from_reader, for reference
//! ```
//!
//! SPEC §6 measures `gcagg flatten` against "merely parsing the same bytes with serde_json
//! into `IgnoredAny`". The default mode is the fastest honest way to do that: read the whole
//! file into memory, then walk every whitespace-separated document with
//! `Deserializer::from_slice(..).into_iter::<IgnoredAny>()`, which validates the full syntax
//! (strings, escapes, numbers) but builds nothing. `--reader` parses the same bytes through
//! `from_reader(BufReader)`, which is what a streaming reader of unbounded input pays.
//!
//! Like every case of the benchmark, it is timed from outside as the wall clock of the whole
//! process, so reading the file counts; the line it prints (bytes, documents, and its own
//! timing of read plus parse) is for a human checking that the bytes were really parsed.

use std::error::Error;
use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use serde::de::IgnoredAny;
use serde_json::Deserializer;

/// Buffer size for `--reader`: the same order as gcagg's own read buffer.
const READ_BUFFER: usize = 1 << 18;

fn main() -> Result<(), Box<dyn Error>> {
    let mut reader_mode = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--reader" => reader_mode = true,
            _ if path.is_none() => path = Some(arg),
            _ => return Err("usage: parse_floor [--reader] FILE".into()),
        }
    }
    let path = path.ok_or("usage: parse_floor [--reader] FILE")?;

    let start = Instant::now();
    let (bytes, documents) = if reader_mode {
        let file = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        let bytes = file.metadata()?.len();
        let reader = BufReader::with_capacity(READ_BUFFER, file);
        let mut documents = 0u64;
        for document in Deserializer::from_reader(reader).into_iter::<IgnoredAny>() {
            document.map_err(|e| format!("{path}: {e}"))?;
            documents += 1;
        }
        (bytes, documents)
    } else {
        let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        let mut documents = 0u64;
        for document in Deserializer::from_slice(&data).into_iter::<IgnoredAny>() {
            document.map_err(|e| format!("{path}: {e}"))?;
            documents += 1;
        }
        (data.len() as u64, documents)
    };
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{} {bytes} bytes, {documents} documents, {seconds:.3} s, {:.1} MB/s",
        if reader_mode { "from_reader" } else { "from_slice" },
        bytes as f64 / seconds / 1e6
    );
    Ok(())
}
