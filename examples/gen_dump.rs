//! Writes a deterministic, realistic Genesys Cloud aggregate dump for `scripts/bench`.
//!
//! ```text
//! cargo run --release --example gen_dump -- --shape pages  --size-mb 512 --seed 42 -o pages.ndjson
//! cargo run --release --example gen_dump -- --shape single --size-mb 1024 --seed 42 -o single.json
//! cargo run --release --example gen_dump -- --shape single --sorted-keys --size-mb 1024 -o sorted.json
//! cargo run --release --example gen_dump -- --shape tiny --size-mb 64 --seed 42 -o tiny.ndjson
//! ```
//!
//! - `pages`: async job result pages, one compact JSON document per line, as `gcagg fetch
//!   --async` writes them. Each page holds 50 results (`group` = `queueId` UUID + `mediaType`),
//!   each with 48 half-hour intervals of one day, each with ~20 conversation metrics. Every
//!   page but the last carries a `cursor`.
//! - `single`: one page whose one `results` array fills the whole file (the SPEC §6 memory
//!   case), with the same per-result content.
//! - `tiny`: many tiny pages, one per line, each one result with one interval and one or two
//!   metrics (about 270 bytes), as a sync query per queue and interval answers: what costs is
//!   the work per page, not per byte.
//!
//! `--sorted-keys` writes every object's keys in sorted order, as `jq -S` does, so each result
//! has its `data` before its `group`.
//!
//! Sizes are in MB of 10^6 bytes; the file stops at the first page (or result) boundary at or
//! past the target, so it overshoots by less than one page (about 4 MB) or one result (~80 kB).
//! The same seed and size always give the same bytes: the generator uses its own small PRNG,
//! no clock, no hash map iteration and no thread.

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Results per async page: a typical `pageSize` for aggregate jobs.
const GROUPS_PER_PAGE: usize = 50;
/// Half-hour buckets in one day (`granularity: PT30M`).
const INTERVALS: u32 = 48;
/// Queues in the pool that pages cycle through; with [`MEDIA`] this gives 200 groups, i.e.
/// four pages per day of data.
const QUEUES: u64 = 40;
/// Media types of conversation aggregates, as the API spells them.
const MEDIA: [&str; 5] = ["voice", "chat", "email", "callback", "message"];
/// Days since 1970-01-01 of 2024-05-01, the first day of the generated data.
const FIRST_DAY: i64 = 19844;

/// How a metric's stats look in real responses.
#[derive(Clone, Copy)]
enum Kind {
    /// `nOffered`: `{"count": n}`, the bucket's volume that the other counts stay within.
    Offered,
    /// Other `n*` metrics: `{"count": n}`.
    Count,
    /// `t*` metrics: milliseconds, `{"max", "min", "count", "sum"}`; the number is a typical
    /// mean duration in ms.
    Timer(u64),
    /// `oServiceLevel`: `{"ratio", "numerator", "denominator", "target"}`.
    ServiceLevel,
    /// `oServiceTarget`: `{"current"}`, the configured target as a fraction.
    Target,
}

/// The metrics a typical queue-performance query asks for, in request order (the API answers
/// in that order). Each is present in a bucket with probability [`PRESENT`], so a data point
/// carries about 20 of these 24, as real ones omit metrics without data.
const METRICS: [(&str, Kind); 24] = [
    ("nOffered", Kind::Offered),
    ("nConnected", Kind::Count),
    ("nTransferred", Kind::Count),
    ("nOverSla", Kind::Count),
    ("nBlindTransferred", Kind::Count),
    ("nConsult", Kind::Count),
    ("tAnswered", Kind::Timer(18_000)),
    ("tAbandon", Kind::Timer(45_000)),
    ("tShortAbandon", Kind::Timer(4_000)),
    ("tWait", Kind::Timer(30_000)),
    ("tAlert", Kind::Timer(9_000)),
    ("tHandle", Kind::Timer(310_000)),
    ("tTalk", Kind::Timer(240_000)),
    ("tTalkComplete", Kind::Timer(250_000)),
    ("tAcw", Kind::Timer(60_000)),
    ("tHeld", Kind::Timer(50_000)),
    ("tHeldComplete", Kind::Timer(55_000)),
    ("tAcd", Kind::Timer(25_000)),
    ("tIvr", Kind::Timer(40_000)),
    ("tFlowOut", Kind::Timer(20_000)),
    ("tNotResponding", Kind::Timer(15_000)),
    ("tMonitoring", Kind::Timer(120_000)),
    ("oServiceLevel", Kind::ServiceLevel),
    ("oServiceTarget", Kind::Target),
];

/// Probability that a metric has data in a bucket (absent metrics are omitted, not zero).
const PRESENT: f64 = 0.85;
/// Probability that a bucket carries the query's view (a range-bound variant of `tAbandon`).
const VIEW: f64 = 0.25;

/// SplitMix64: tiny, fast, and fully determined by its seed on every platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An integer in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// The UUID of queue `index`: derived from the seed alone, so page content does not depend
/// on how much was generated before.
fn queue_id(seed: u64, index: u64) -> String {
    let mut rng = Rng(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03));
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// The civil date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Appends `"<start>/<end>"` for half-hour bucket `slot` of `day`, in the API's UTC format.
fn write_interval(out: &mut Vec<u8>, day: i64, slot: u32) {
    let stamp = |out: &mut Vec<u8>, day: i64, minute: u32| {
        let (y, m, d) = civil(day);
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:00.000Z",
            minute / 60,
            minute % 60
        );
    };
    out.push(b'"');
    stamp(out, day, slot * 30);
    out.push(b'/');
    let end = (slot + 1) * 30;
    if end == 24 * 60 {
        stamp(out, day + 1, 0);
    } else {
        stamp(out, day, end);
    }
    out.push(b'"');
}

/// Appends one timer's stats: counts and milliseconds are integers, as the API sends them.
fn write_timer(out: &mut Vec<u8>, rng: &mut Rng, mean: u64, count: u64) {
    let mean = (mean as f64 * (0.5 + rng.unit())) as u64;
    if count == 1 {
        let _ = write!(out, r#"{{"max":{mean},"min":{mean},"count":1,"sum":{mean}}}"#);
        return;
    }
    let min = (mean as f64 * (0.02 + 0.4 * rng.unit())) as u64 + 1;
    let max = (mean as f64 * (1.5 + 4.0 * rng.unit())) as u64;
    let sum = mean * count + rng.range(0, 999);
    let _ = write!(out, r#"{{"max":{max},"min":{min},"count":{count},"sum":{sum}}}"#);
}

/// Appends one `data[]` element: an interval and its metrics (and sometimes the view).
fn write_bucket(out: &mut Vec<u8>, rng: &mut Rng, day: i64, slot: u32) {
    // Busier in office hours, as contact centres are; never zero, as buckets without any
    // data are omitted by the API rather than sent empty.
    let busy = if (16..40).contains(&slot) { 120 } else { 25 };
    let offered = rng.range(1, busy);
    out.extend_from_slice(br#"{"interval":"#);
    write_interval(out, day, slot);
    out.extend_from_slice(br#","metrics":["#);
    let mut first = true;
    for &(name, kind) in &METRICS {
        if !rng.chance(PRESENT) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = write!(out, r#"{{"metric":"{name}","stats":"#);
        match kind {
            Kind::Offered => {
                let _ = write!(out, r#"{{"count":{offered}}}"#);
            }
            Kind::Count => {
                let _ = write!(out, r#"{{"count":{}}}"#, rng.range(0, offered));
            }
            Kind::Timer(mean) => {
                let count = rng.range(1, offered);
                write_timer(out, rng, mean, count);
            }
            Kind::ServiceLevel => {
                let denominator = offered;
                let numerator = rng.range(0, denominator);
                // `{:?}` prints the shortest text that reads back to the same f64, keeping
                // `.0` on whole numbers, as the API does (0.47586206896551725, 1.0).
                let ratio = numerator as f64 / denominator as f64;
                let _ = write!(
                    out,
                    r#"{{"ratio":{ratio:?},"numerator":{numerator},"denominator":{denominator},"target":0.8}}"#
                );
            }
            Kind::Target => out.extend_from_slice(br#"{"current":0.8}"#),
        }
        out.push(b'}');
    }
    out.push(b']');
    if rng.chance(VIEW) {
        out.extend_from_slice(br#","views":[{"name":"abandonUnder20s","stats":"#);
        let count = rng.range(1, offered);
        write_timer(out, rng, 8_000, count);
        out.extend_from_slice(b"}]");
    }
    out.push(b'}');
}

/// Appends one `results[]` element: the group of `index` in the pool and one day of buckets.
fn write_result(out: &mut Vec<u8>, rng: &mut Rng, seed: u64, index: u64, day: i64) {
    let queue = queue_id(seed, index / MEDIA.len() as u64);
    let media = MEDIA[(index % MEDIA.len() as u64) as usize];
    let _ = write!(
        out,
        r#"{{"group":{{"queueId":"{queue}","mediaType":"{media}"}},"data":["#
    );
    for slot in 0..INTERVALS {
        if slot > 0 {
            out.push(b',');
        }
        write_bucket(out, rng, day, slot);
    }
    out.extend_from_slice(b"]}");
}

/// An opaque cursor, shaped like the API's (URL-safe base64 text).
fn write_cursor(out: &mut Vec<u8>, rng: &mut Rng) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    out.extend_from_slice(br#","cursor":""#);
    for _ in 0..88 {
        out.push(ALPHABET[(rng.next_u64() % 64) as usize]);
    }
    out.push(b'"');
}

/// Rewrites one JSON value with every object's keys in sorted order, as `jq -S` does.
/// serde_json's map is ordered by key (no `preserve_order`), and the generator's numbers
/// (integers, and doubles printed shortest-round-trip) come back out spelled as they went in.
fn sort_keys(json: &[u8]) -> std::io::Result<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(json)?;
    Ok(serde_json::to_vec(&value)?)
}

/// Writes tiny pages, one per line, until `target` bytes are reached: each holds one result
/// of one interval with `nOffered`, and half of them `tHandle` too.
fn write_tiny(out: &mut impl Write, seed: u64, target: u64, sorted: bool) -> std::io::Result<u64> {
    let mut rng = Rng(seed);
    let pool = QUEUES * MEDIA.len() as u64;
    let mut page = Vec::with_capacity(512);
    let (mut written, mut index) = (0u64, 0u64);
    while written < target {
        page.clear();
        let group = index % pool;
        let queue = queue_id(seed, group / MEDIA.len() as u64);
        let media = MEDIA[(group % MEDIA.len() as u64) as usize];
        let slot = (index / pool % u64::from(INTERVALS)) as u32;
        let day = FIRST_DAY + (index / pool / u64::from(INTERVALS)) as i64;
        let _ = write!(
            page,
            r#"{{"results":[{{"group":{{"queueId":"{queue}","mediaType":"{media}"}},"data":[{{"interval":"#
        );
        write_interval(&mut page, day, slot);
        let offered = rng.range(1, 40);
        let _ = write!(
            page,
            r#","metrics":[{{"metric":"nOffered","stats":{{"count":{offered}}}}}"#
        );
        if rng.chance(0.5) {
            page.extend_from_slice(br#",{"metric":"tHandle","stats":"#);
            let count = rng.range(1, offered);
            write_timer(&mut page, &mut rng, 310_000, count);
            page.push(b'}');
        }
        page.extend_from_slice(b"]}]}]}");
        if sorted {
            page = sort_keys(&page)?;
        }
        page.push(b'\n');
        out.write_all(&page)?;
        written += page.len() as u64;
        index += 1;
    }
    Ok(written)
}

/// Writes async pages, one per line, until `target` bytes are reached.
fn write_pages(out: &mut impl Write, seed: u64, target: u64, sorted: bool) -> std::io::Result<u64> {
    let mut rng = Rng(seed);
    let pool = QUEUES * MEDIA.len() as u64;
    let mut page = Vec::with_capacity(8 << 20);
    let (mut written, mut index) = (0u64, 0u64);
    while written < target {
        page.clear();
        page.extend_from_slice(br#"{"results":["#);
        for i in 0..GROUPS_PER_PAGE {
            if i > 0 {
                page.push(b',');
            }
            let day = FIRST_DAY + (index / pool) as i64;
            write_result(&mut page, &mut rng, seed, index % pool, day);
            index += 1;
        }
        page.push(b']');
        // The last page is the one that reaches the target: it has no cursor.
        if written + page.len() as u64 + 2 < target {
            write_cursor(&mut page, &mut rng);
        }
        page.push(b'}');
        if sorted {
            page = sort_keys(&page)?;
        }
        page.push(b'\n');
        out.write_all(&page)?;
        written += page.len() as u64;
    }
    Ok(written)
}

/// Writes one page whose `results` array grows until `target` bytes are reached.
fn write_single(out: &mut impl Write, seed: u64, target: u64, sorted: bool) -> std::io::Result<u64> {
    let mut rng = Rng(seed);
    let mut result = Vec::with_capacity(1 << 20);
    out.write_all(br#"{"results":["#)?;
    let (mut written, mut index) = (12u64, 0u64);
    while written < target {
        result.clear();
        if index > 0 {
            result.push(b',');
        }
        // Every result is its own group (new queues keep coming), all on the same day, as
        // one sync query over many queues answers.
        let start = result.len();
        write_result(&mut result, &mut rng, seed, index, FIRST_DAY);
        if sorted {
            let sorted = sort_keys(&result[start..])?;
            result.truncate(start);
            result.extend_from_slice(&sorted);
        }
        out.write_all(&result)?;
        written += result.len() as u64;
        index += 1;
    }
    out.write_all(b"]}\n")?;
    Ok(written + 3)
}

/// Which dump to write.
#[derive(Clone, Copy)]
enum Shape {
    Pages,
    Single,
    Tiny,
}

/// What the command line asked for.
struct Args {
    shape: Shape,
    sorted: bool,
    size_mb: u64,
    seed: u64,
    output: PathBuf,
}

const USAGE: &str = "usage: gen_dump --shape pages|single|tiny [--sorted-keys] --size-mb N [--seed S] -o FILE";

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        shape: Shape::Pages,
        sorted: false,
        size_mb: 0,
        seed: 42,
        output: PathBuf::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag}: missing value\n{USAGE}"));
        match flag.as_str() {
            "--shape" => {
                args.shape = match value()?.as_str() {
                    "pages" => Shape::Pages,
                    "single" => Shape::Single,
                    "tiny" => Shape::Tiny,
                    other => return Err(format!("--shape {other}: expected pages, single or tiny").into()),
                }
            }
            "--sorted-keys" => args.sorted = true,
            "--size-mb" => args.size_mb = value()?.parse().map_err(|e| format!("--size-mb: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "-o" | "--output" => args.output = value()?.into(),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}").into()),
        }
    }
    if args.size_mb == 0 || args.output.as_os_str().is_empty() {
        return Err(USAGE.into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let target = args.size_mb * 1_000_000;
    let file = File::create(&args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let written = match args.shape {
        Shape::Pages => write_pages(&mut out, args.seed, target, args.sorted)?,
        Shape::Single => write_single(&mut out, args.seed, target, args.sorted)?,
        Shape::Tiny => write_tiny(&mut out, args.seed, target, args.sorted)?,
    };
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    println!("{written} bytes written to {}", args.output.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(FIRST_DAY), (2024, 5, 1));
        assert_eq!(civil(FIRST_DAY + 29), (2024, 5, 30));
        assert_eq!(civil(FIRST_DAY + 31), (2024, 6, 1));
    }

    #[test]
    fn last_interval_ends_next_day() {
        let mut out = Vec::new();
        write_interval(&mut out, FIRST_DAY + 30, 47);
        assert_eq!(out, br#""2024-05-31T23:30:00.000Z/2024-06-01T00:00:00.000Z""#);
    }

    #[test]
    fn pages_are_deterministic_valid_json_with_a_cursor_on_all_but_the_last() {
        let mut a = Vec::new();
        write_pages(&mut a, 7, 9_000_000, false).unwrap();
        let mut b = Vec::new();
        write_pages(&mut b, 7, 9_000_000, false).unwrap();
        assert_eq!(a, b);
        let pages: Vec<serde_json::Value> = a
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert!(pages.len() >= 2);
        let (last, rest) = pages.split_last().unwrap();
        assert!(rest.iter().all(|p| p["cursor"].is_string()));
        assert!(last.get("cursor").is_none());
        assert_eq!(pages[0]["results"].as_array().unwrap().len(), GROUPS_PER_PAGE);
        assert_eq!(
            pages[0]["results"][0]["data"].as_array().unwrap().len(),
            INTERVALS as usize
        );
    }

    #[test]
    fn single_page_is_one_document() {
        let mut out = Vec::new();
        let n = write_single(&mut out, 7, 500_000, false).unwrap();
        assert_eq!(n, out.len() as u64);
        let page: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(page["results"].as_array().unwrap().len() > 1);
    }

    #[test]
    fn sorted_keys_put_data_before_group_and_keep_the_values() {
        let (mut plain, mut sorted) = (Vec::new(), Vec::new());
        write_single(&mut plain, 7, 300_000, false).unwrap();
        write_single(&mut sorted, 7, 300_000, true).unwrap();
        let text = String::from_utf8(sorted.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"results":[{"data":[{"interval":"#),
            "{}",
            &text[..80]
        );
        let value = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
        assert_eq!(value(&plain), value(&sorted));
    }

    #[test]
    fn tiny_pages_are_small_valid_pages() {
        let mut out = Vec::new();
        write_tiny(&mut out, 7, 100_000, false).unwrap();
        let lines: Vec<&[u8]> = out.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
        assert!(lines.len() > 300, "{} pages", lines.len());
        assert!(lines.iter().all(|l| l.len() < 400));
        for line in lines {
            let page: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert_eq!(page["results"][0]["data"].as_array().unwrap().len(), 1);
        }
    }
}
