//! Instants and ISO-8601 durations, just enough for query intervals.
//!
//! An [`Instant`] keeps the UTC offset it was written with, so chunk boundaries of a split
//! interval are written in the user's own offset. Calendar parts of a [`Duration`] (years,
//! months, weeks, days) are added to the wall-clock date at that fixed offset; time parts
//! are added as elapsed seconds. There is no time-zone database: a `+01:00` interval stays
//! `+01:00` across a daylight-saving change.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const DAY: i64 = 86_400;

/// A point in time with the UTC offset it is written in; instants compare as points in
/// time, whatever their offsets.
#[derive(Debug, Clone, Copy)]
pub struct Instant {
    /// Milliseconds since the Unix epoch (UTC).
    millis: i64,
    /// Offset from UTC in seconds; written as `Z` when 0.
    offset: i32,
}

impl Instant {
    /// The current time in UTC, whole seconds.
    pub fn now() -> Instant {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000));
        Instant {
            millis: secs * 1000,
            offset: 0,
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z` or `±HH:MM`.
    pub fn parse(text: &str) -> Option<Instant> {
        let b = text.as_bytes();
        let num = |from: usize, len: usize| -> Option<i64> {
            let digits = b.get(from..from + len)?;
            digits
                .iter()
                .try_fold(0i64, |n, &d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
        };
        let sep = |at: usize, c: u8| b.get(at) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b't')) && sep(13, b':')) {
            return None;
        }
        let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (hour, minute) = (num(11, 2)?, num(14, 2)?);
        let mut at = 16;
        let mut second = 0;
        let mut millis = 0;
        if sep(at, b':') {
            second = num(at + 1, 2)?;
            at += 3;
            if sep(at, b'.') || sep(at, b',') {
                at += 1;
                let start = at;
                while b.get(at).is_some_and(u8::is_ascii_digit) {
                    at += 1;
                }
                // Milliseconds are the API's precision; finer digits are dropped.
                let digits = &text[start..at];
                if digits.is_empty() {
                    return None;
                }
                let ms: String = digits.chars().chain("00".chars()).take(3).collect();
                millis = ms.parse::<i64>().ok()?;
            }
        }
        let offset = match &text[at..] {
            "Z" | "z" => 0,
            rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && sep(at + 3, b':') => {
                let secs = num(at + 1, 2)? * 3600 + num(at + 4, 2)? * 60;
                i32::try_from(if rest.starts_with('-') { -secs } else { secs }).ok()?
            }
            _ => return None,
        };
        let valid = (1..=12).contains(&month)
            && (1..=days_in_month(year, month)).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60;
        if !valid {
            return None;
        }
        let local = days_from_civil(year, month, day) * DAY + hour * 3600 + minute * 60 + second;
        Some(Instant {
            millis: (local - i64::from(offset)) * 1000 + millis,
            offset,
        })
    }

    /// This instant moved by `duration` (backwards when `times` is negative), `times` times.
    pub fn add(self, duration: &Duration, times: i64) -> Instant {
        let local_ms = self.millis + i64::from(self.offset) * 1000;
        let (days, ms_of_day) = (local_ms.div_euclid(DAY * 1000), local_ms.rem_euclid(DAY * 1000));
        let (year, month, day) = civil_from_days(days);
        let months = year * 12 + (month - 1) + duration.months * times;
        let (year, month) = (months.div_euclid(12), months.rem_euclid(12) + 1);
        // Adding a month to 31 January lands on the last day of February, as calendars do.
        let day = day.min(days_in_month(year, month));
        let days = days_from_civil(year, month, day) + duration.days * times;
        let local_ms = days * DAY * 1000 + ms_of_day + duration.seconds * times * 1000;
        Instant {
            millis: local_ms - i64::from(self.offset) * 1000,
            offset: self.offset,
        }
    }

    /// This instant moved back to a whole multiple of `step` since the epoch (UTC).
    pub fn truncate(self, step_secs: i64) -> Instant {
        let step = step_secs.max(1) * 1000;
        Instant {
            millis: self.millis.div_euclid(step) * step,
            offset: self.offset,
        }
    }
}

impl PartialEq for Instant {
    fn eq(&self, other: &Self) -> bool {
        self.millis == other.millis
    }
}

impl Eq for Instant {}

impl PartialOrd for Instant {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Instant {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.millis.cmp(&other.millis)
    }
}

impl fmt::Display for Instant {
    /// `2024-05-01T00:00:00.000Z`, or with `+hh:mm` for a non-zero offset.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local_ms = self.millis + i64::from(self.offset) * 1000;
        let (days, ms) = (local_ms.div_euclid(DAY * 1000), local_ms.rem_euclid(DAY * 1000));
        let (year, month, day) = civil_from_days(days);
        let secs = ms / 1000;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            ms % 1000
        )?;
        if self.offset == 0 {
            return f.write_str("Z");
        }
        let sign = if self.offset < 0 { '-' } else { '+' };
        let abs = self.offset.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60)
    }
}

/// The longest duration accepted, in years of each unit.
const MAX_YEARS: i64 = 1000;

/// An ISO-8601 duration such as `P1D`, `PT30M` or `P1M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    /// Calendar months (a year is 12).
    months: i64,
    /// Calendar days (a week is 7).
    days: i64,
    /// Elapsed seconds.
    seconds: i64,
}

impl Duration {
    /// Parses `P[nY][nM][nW][nD][T[nH][nM][nS]]` (whole numbers), or the shorthand
    /// `<n>s|m|h|d|w` (`24h`, `7d`).
    pub fn parse(text: &str) -> Option<Duration> {
        let upper = text.trim().to_ascii_uppercase();
        let Some(body) = upper.strip_prefix('P') else {
            return Duration::shorthand(&upper);
        };
        let mut d = Duration {
            months: 0,
            days: 0,
            seconds: 0,
        };
        let mut in_time = false;
        let mut number = String::new();
        let mut any = false;
        for c in body.chars() {
            match c {
                'T' if !in_time && number.is_empty() => in_time = true,
                '0'..='9' => number.push(c),
                unit => {
                    let n: i64 = number.parse().ok()?;
                    number.clear();
                    any = true;
                    match (in_time, unit) {
                        (false, 'Y') => d.months = d.months.checked_add(n.checked_mul(12)?)?,
                        (false, 'M') => d.months = d.months.checked_add(n)?,
                        (false, 'W') => d.days = d.days.checked_add(n.checked_mul(7)?)?,
                        (false, 'D') => d.days = d.days.checked_add(n)?,
                        (true, 'H') => d.seconds = d.seconds.checked_add(n.checked_mul(3600)?)?,
                        (true, 'M') => d.seconds = d.seconds.checked_add(n.checked_mul(60)?)?,
                        (true, 'S') => d.seconds = d.seconds.checked_add(n)?,
                        _ => return None,
                    }
                }
            }
        }
        (any && number.is_empty() && d.is_usable()).then_some(d)
    }

    fn shorthand(text: &str) -> Option<Duration> {
        let unit = text.chars().last()?;
        let n: i64 = text[..text.len() - 1].parse().ok()?;
        let d = match unit {
            'S' => Duration::seconds(n),
            'M' => Duration::seconds(n.checked_mul(60)?),
            'H' => Duration::seconds(n.checked_mul(3600)?),
            'D' => Duration {
                months: 0,
                days: n,
                seconds: 0,
            },
            'W' => Duration {
                months: 0,
                days: n.checked_mul(7)?,
                seconds: 0,
            },
            _ => return None,
        };
        d.is_usable().then_some(d)
    }

    fn seconds(seconds: i64) -> Duration {
        Duration {
            months: 0,
            days: 0,
            seconds,
        }
    }

    /// Positive, and no longer than [`MAX_YEARS`]: longer spans are typos, and would
    /// overflow the calendar arithmetic (`--since 9999999999999d` reached the year 94972271).
    fn is_usable(&self) -> bool {
        let positive = self.months >= 0 && self.days >= 0 && self.seconds >= 0;
        let bounded =
            self.months <= MAX_YEARS * 12 && self.days <= MAX_YEARS * 366 && self.seconds <= MAX_YEARS * 366 * DAY;
        positive && bounded && (self.months, self.days, self.seconds) != (0, 0, 0)
    }

    /// The ISO-8601 spelling the API takes, e.g. `PT30M` for `30m`, `P1D` for `1d`.
    pub fn iso(&self) -> String {
        let mut out = String::from("P");
        let (years, months) = (self.months / 12, self.months % 12);
        for (n, unit) in [(years, 'Y'), (months, 'M'), (self.days, 'D')] {
            if n > 0 {
                out.push_str(&format!("{n}{unit}"));
            }
        }
        if self.seconds > 0 {
            out.push('T');
            let (h, m, s) = (self.seconds / 3600, self.seconds / 60 % 60, self.seconds % 60);
            for (n, unit) in [(h, 'H'), (m, 'M'), (s, 'S')] {
                if n > 0 {
                    out.push_str(&format!("{n}{unit}"));
                }
            }
        }
        out
    }

    /// The length in seconds when it does not depend on the calendar (no months).
    pub fn fixed_seconds(&self) -> Option<i64> {
        (self.months == 0).then(|| self.days * DAY + self.seconds)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if month <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        month,
        day,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Instant {
        Instant::parse(s).unwrap()
    }

    #[test]
    fn parses_and_writes_instants() {
        assert_eq!(at("2024-05-01T00:00:00Z").to_string(), "2024-05-01T00:00:00.000Z");
        assert_eq!(
            at("2024-02-29T23:30:05.5+01:00").to_string(),
            "2024-02-29T23:30:05.500+01:00"
        );
        assert_eq!(at("2024-05-01T02:00+02:00"), at("2024-05-01T00:00:00.000Z"));
        for bad in [
            "2024-05-01",
            "2024-13-01T00:00Z",
            "2023-02-29T00:00Z",
            "2024-05-01T00:00:00",
            "x",
        ] {
            assert_eq!(Instant::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(Duration::parse("PT30M").unwrap().fixed_seconds(), Some(1800));
        assert_eq!(Duration::parse("P1DT1H").unwrap().fixed_seconds(), Some(90_000));
        assert_eq!(Duration::parse("P2W").unwrap().fixed_seconds(), Some(14 * DAY));
        assert_eq!(Duration::parse("24h"), Duration::parse("PT24H"));
        assert_eq!(Duration::parse("7d"), Duration::parse("P7D"));
        assert_eq!(Duration::parse("P1M").unwrap().fixed_seconds(), None);
        for bad in ["P", "PT", "P0D", "P1H", "PT1D", "P1.5D", "d", "-1h", "PT30"] {
            assert_eq!(Duration::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn adds_calendar_and_clock_parts() {
        let day = Duration::parse("P1D").unwrap();
        assert_eq!(
            at("2024-02-28T00:00Z").add(&day, 2).to_string(),
            "2024-03-01T00:00:00.000Z"
        );
        let month = Duration::parse("P1M").unwrap();
        assert_eq!(
            at("2024-01-31T10:00+01:00").add(&month, 1).to_string(),
            "2024-02-29T10:00:00.000+01:00"
        );
        assert_eq!(
            at("2024-03-01T00:00Z").add(&month, -1).to_string(),
            "2024-02-01T00:00:00.000Z"
        );
        let hours = Duration::parse("24h").unwrap();
        assert_eq!(
            at("2024-05-02T00:00Z").add(&hours, -1).to_string(),
            "2024-05-01T00:00:00.000Z"
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
