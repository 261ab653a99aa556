//! Numbers and timestamps as the input spelled them, parsed into Parquet's types: a count
//! column takes only whole numbers (`36.0` is 36, `1.5` is an error), every other value
//! column any finite number.

use crate::columns::Role;
use crate::output::epoch_millis;

/// Epoch milliseconds of an RFC 3339 timestamp, or why it is not one.
pub fn timestamp(text: &str) -> Result<i64, &'static str> {
    epoch_millis(text).ok_or("is not an RFC 3339 timestamp with a Z or ±hh:mm offset")
}

/// A finite DOUBLE, or why the text is not one.
pub fn double(text: &str) -> Result<f64, &'static str> {
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
pub fn fits(role: Role, text: &str) -> Result<(), &'static str> {
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

/// A count as a whole number: `36`, `36.0`, `3.6e1` are 36; `1.5` and anything beyond the
/// INT64 range are refused. Exact: no float round trip, so `9007199254740993.0` stays itself.
pub fn parse_count(text: &str) -> Result<i64, &'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
