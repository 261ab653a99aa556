//! Zoned times, time zones and ISO-8601 durations, just enough for query intervals.
//!
//! A [`ZonedTime`] is a point in time seen in a time zone: the fixed offset it was written
//! with, or a [`Zone`] such as `Europe/Berlin`. Calendar parts of an [`IsoDuration`] (years,
//! months, weeks, days) are added to the wall-clock date in that zone, so a day that
//! starts at local midnight ends at the next local midnight, 23 or 25 hours later across
//! a daylight-saving change; time parts are added as elapsed seconds. The calendar and the
//! time-zone rules are jiff's, which reads the system's time-zone database and falls back
//! on the copy built into the binary.

use std::fmt;

use jiff::civil::Time;
use jiff::fmt::temporal::{DateTimeParser, Pieces};
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, Timestamp, ZonedDateTime};

const DAY: i64 = 86_400;

/// A point in time and the time zone it is written and counted in; instants compare as
/// points in time, whatever their zones.
#[derive(Debug, Clone)]
pub struct ZonedTime(ZonedDateTime);

impl ZonedTime {
    /// The current time in UTC, whole seconds.
    pub fn now() -> ZonedTime {
        let now = Timestamp::now();
        let secs = Timestamp::from_second(now.as_second()).unwrap_or(now);
        ZonedTime(secs.to_zoned_datetime(TimeZone::UTC))
    }

    /// The current time in UTC to the millisecond, as an observation is stamped.
    pub fn now_millis() -> ZonedTime {
        let now = Timestamp::now();
        let millis = Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
        ZonedTime(millis.to_zoned_datetime(TimeZone::UTC))
    }

    /// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z` or `±HH:MM`: the form the API
    /// takes, which is also sent as written when the interval is not split.
    pub fn parse(text: &str) -> Option<ZonedTime> {
        let b = text.as_bytes();
        let offset_written = match b.last()? {
            b'Z' | b'z' => true,
            _ => b.len() > 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':',
        };
        // jiff reads more forms (`2024-05-01 00Z`, `+0100`, `[Europe/Berlin]`) than the API's
        // ISO-8601 reader is known to take; anything else is refused before any request.
        let api_form = b.get(10).is_some_and(|c| c.eq_ignore_ascii_case(&b'T'))
            && b.get(13) == Some(&b':')
            && !text.contains('[')
            && offset_written;
        if !api_form {
            return None;
        }
        let pieces = Pieces::parse(text).ok()?;
        let offset = pieces.to_numeric_offset()?;
        let at = offset.to_timestamp(pieces.date().to_datetime(pieces.time()?)).ok()?;
        Some(ZonedTime(at.to_zoned_datetime(TimeZone::fixed(offset))))
    }

    /// The same instant, seen and counted in `zone`.
    pub fn in_zone(&self, zone: &Zone) -> ZonedTime {
        ZonedTime(self.0.with_time_zone(zone.tz.clone()))
    }

    /// This instant moved by `duration` (backwards when `times` is negative), `times` times;
    /// past the calendar's range (the years -9999 to 9999) it stops at the range's end.
    pub fn add(&self, duration: &IsoDuration, times: i64) -> ZonedTime {
        let span = || -> Option<Span> {
            Span::new()
                .try_months(duration.months.checked_mul(times)?)
                .ok()?
                .try_days(duration.days.checked_mul(times)?)
                .ok()?
                .try_seconds(duration.seconds.checked_mul(times)?)
                .ok()
        };
        let moved = span().and_then(|span| self.0.checked_add(span).ok());
        ZonedTime(moved.unwrap_or_else(|| {
            let bound = if times < 0 { Timestamp::MIN } else { Timestamp::MAX };
            bound.to_zoned_datetime(self.0.time_zone().clone())
        }))
    }

    /// This instant moved back to a whole multiple of `step_secs` since its local midnight,
    /// on the wall clock (a step that divides a day: `PT30M`, `PT1H`, `P1D`).
    pub fn truncate(&self, step_secs: i64) -> ZonedTime {
        let t = self.0.time();
        let of_day = i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second());
        let kept = of_day - of_day.rem_euclid(step_secs.max(1));
        let time = Time::new((kept / 3600) as i8, (kept / 60 % 60) as i8, (kept % 60) as i8, 0);
        // A local time that the clock skips is taken at the end of the gap, as calendars do.
        let moved = time.and_then(|time| self.0.with().time(time).build());
        // Only out of the calendar's range could the moved time not exist; then stay put.
        ZonedTime(moved.unwrap_or_else(|_| self.0.clone()))
    }
}

impl PartialEq for ZonedTime {
    fn eq(&self, other: &Self) -> bool {
        self.0.timestamp() == other.0.timestamp()
    }
}

impl Eq for ZonedTime {}

impl PartialOrd for ZonedTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ZonedTime {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.timestamp().cmp(&other.0.timestamp())
    }
}

impl fmt::Display for ZonedTime {
    /// `2024-05-01T00:00:00.000Z`, or with the zone's `+hh:mm` there for a non-zero offset.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.strftime("%Y-%m-%dT%H:%M:%S%.3f"))?;
        if self.0.offset() == Offset::UTC {
            return f.write_str("Z");
        }
        write!(f, "{}", self.0.strftime("%:z"))
    }
}

/// A time zone for the calendar of a query: an IANA zone, or UTC or a fixed whole-hour
/// offset, each with the IANA name the API's `timeZone` takes.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    /// `Europe/Berlin`, `UTC`, `Etc/GMT-2` (the name of the fixed offset +02:00).
    name: String,
}

impl Zone {
    /// Parses an IANA name in any case (`Europe/Berlin`, `utc`), `Z`, or an offset
    /// (`+02:00`, `-05`); the error says why a text is none of them.
    pub fn parse(text: &str) -> Result<Zone, String> {
        if text.eq_ignore_ascii_case("z") {
            return Ok(Zone::fixed(Offset::UTC));
        }
        if text.starts_with(['+', '-']) {
            static PARSER: DateTimeParser = DateTimeParser::new();
            let offset = PARSER
                .parse_time_zone(text)
                .ok()
                .and_then(|tz| tz.to_fixed_offset().ok())
                .ok_or("expected an offset such as +02:00 or -05:00")?;
            // The API takes IANA names only, and those of fixed offsets are whole hours.
            if offset.seconds() % 3600 != 0 || !(-12..=14).contains(&(offset.seconds() / 3600)) {
                return Err("no IANA time zone has this fixed offset; name the zone, e.g. Asia/Kolkata".into());
            }
            return Ok(Zone::fixed(offset));
        }
        match TimeZone::get(text) {
            Ok(tz) => {
                let name = tz.iana_name().unwrap_or(text).to_owned();
                Ok(Zone { tz, name })
            }
            Err(_) => Err(unknown_zone(text)),
        }
    }

    fn fixed(offset: Offset) -> Zone {
        let hours = offset.seconds() / 3600;
        // IANA's Etc/GMT names count the other way: Etc/GMT-2 is two hours ahead of UTC.
        let name = if hours == 0 {
            "UTC".to_owned()
        } else {
            format!("Etc/GMT{:+}", -hours)
        };
        Zone {
            tz: TimeZone::fixed(offset),
            name,
        }
    }

    /// The IANA name, as the time-zone database spells it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Why `name` is no time zone, with the nearest known name when one is close: to the
/// whole name, or for a bare city (`berlin`) to the city part of a name.
fn unknown_zone(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let distance = |known: &str| {
        let known = known.to_ascii_lowercase();
        let city = known.rsplit('/').next().filter(|_| !lower.contains('/'));
        let whole = strsim::levenshtein(&lower, &known);
        city.map_or(whole, |city| whole.min(strsim::levenshtein(&lower, city)))
    };
    let nearest = jiff::tz::db()
        .available()
        .map(|known| (distance(known.as_str()), known.as_str().to_owned()))
        .min();
    match nearest {
        Some((d, known)) if d <= 3 && d * 3 <= name.len() => format!("unknown time zone; did you mean {known}?"),
        _ => "unknown time zone; expected an IANA name such as Europe/Berlin or America/New_York, Z, or an \
              offset such as +02:00"
            .to_owned(),
    }
}

/// The longest duration accepted, in years of each unit.
const MAX_YEARS: i64 = 1000;

/// An ISO-8601 duration such as `P1D`, `PT30M` or `P1M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoDuration {
    /// Calendar months (a year is 12).
    months: i64,
    /// Calendar days (a week is 7).
    days: i64,
    /// Elapsed seconds.
    seconds: i64,
}

impl IsoDuration {
    /// Parses `P[nY][nM][nW][nD][T[nH][nM][nS]]` (whole numbers), or the shorthand
    /// `<n>s|m|h|d|w` (`24h`, `7d`).
    pub fn parse(text: &str) -> Option<IsoDuration> {
        let upper = text.trim().to_ascii_uppercase();
        let Some(body) = upper.strip_prefix('P') else {
            return IsoDuration::shorthand(&upper);
        };
        let mut d = IsoDuration {
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

    fn shorthand(text: &str) -> Option<IsoDuration> {
        let unit = text.chars().last()?;
        let n: i64 = text[..text.len() - 1].parse().ok()?;
        let d = match unit {
            'S' => IsoDuration::seconds(n),
            'M' => IsoDuration::seconds(n.checked_mul(60)?),
            'H' => IsoDuration::seconds(n.checked_mul(3600)?),
            'D' => IsoDuration {
                months: 0,
                days: n,
                seconds: 0,
            },
            'W' => IsoDuration {
                months: 0,
                days: n.checked_mul(7)?,
                seconds: 0,
            },
            _ => return None,
        };
        d.is_usable().then_some(d)
    }

    fn seconds(seconds: i64) -> IsoDuration {
        IsoDuration {
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

/// The length in milliseconds of a duration that does not depend on the calendar, with a
/// decimal fraction allowed where a duration has one number (`1.5s`, `0.25m`, `PT1.5S`),
/// as long as it comes to whole milliseconds. What [`IsoDuration::parse`] takes otherwise.
pub fn fixed_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let Some((whole, rest)) = text.split_once('.') else {
        return IsoDuration::parse(text)?
            .fixed_seconds()?
            .checked_mul(1000)?
            .try_into()
            .ok();
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let numbers = text
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .filter(|n| !n.is_empty());
    // With one number, scaling it by 10^digits scales the whole duration.
    if digits == 0 || digits > 9 || numbers.count() != 1 {
        return None;
    }
    let scaled = IsoDuration::parse(&format!("{whole}{rest}"))?
        .fixed_seconds()?
        .checked_mul(1000)?;
    let divisor = 10i64.pow(digits as u32);
    (scaled % divisor == 0).then(|| (scaled / divisor).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> ZonedTime {
        ZonedTime::parse(s).unwrap()
    }

    #[test]
    fn fixed_durations_are_exact_to_the_millisecond() {
        for (text, ms) in [
            ("30s", 30_000),
            ("PT1M", 60_000),
            ("1.5s", 1_500),
            (" 1.25S ", 1_250),
            ("PT1.5S", 1_500),
            ("0.5m", 30_000),
            ("0.0001h", 360),
            ("1.000s", 1_000),
            (".5s", 500),
        ] {
            assert_eq!(fixed_millis(text), Some(ms), "{text}");
        }
        // Finer than a millisecond, two numbers with a fraction, no digits after the
        // point, a calendar month, nothing.
        for text in ["1.0005s", "PT1M1.5S", "1.s", "1.5", "0.5mo", "P1.5M", "0.0s", "1..5s"] {
            assert_eq!(fixed_millis(text), None, "{text}");
        }
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
            "2024-05-01 00:00:00Z",
            "2024-05-01T00Z",
            "2024-05-01T00:00:00+0100",
            "2024-05-01T00:00:00+01:00[Europe/Berlin]",
            "x",
        ] {
            assert_eq!(ZonedTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(IsoDuration::parse("PT30M").unwrap().fixed_seconds(), Some(1800));
        assert_eq!(IsoDuration::parse("P1DT1H").unwrap().fixed_seconds(), Some(90_000));
        assert_eq!(IsoDuration::parse("P2W").unwrap().fixed_seconds(), Some(14 * DAY));
        assert_eq!(IsoDuration::parse("24h"), IsoDuration::parse("PT24H"));
        assert_eq!(IsoDuration::parse("7d"), IsoDuration::parse("P7D"));
        assert_eq!(IsoDuration::parse("P1M").unwrap().fixed_seconds(), None);
        for bad in ["P", "PT", "P0D", "P1H", "PT1D", "P1.5D", "d", "-1h", "PT30"] {
            assert_eq!(IsoDuration::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn adds_calendar_and_clock_parts() {
        let day = IsoDuration::parse("P1D").unwrap();
        assert_eq!(
            at("2024-02-28T00:00Z").add(&day, 2).to_string(),
            "2024-03-01T00:00:00.000Z"
        );
        let month = IsoDuration::parse("P1M").unwrap();
        assert_eq!(
            at("2024-01-31T10:00+01:00").add(&month, 1).to_string(),
            "2024-02-29T10:00:00.000+01:00"
        );
        assert_eq!(
            at("2024-03-01T00:00Z").add(&month, -1).to_string(),
            "2024-02-01T00:00:00.000Z"
        );
        let hours = IsoDuration::parse("24h").unwrap();
        assert_eq!(
            at("2024-05-02T00:00Z").add(&hours, -1).to_string(),
            "2024-05-01T00:00:00.000Z"
        );
    }

    fn berlin() -> Zone {
        Zone::parse("Europe/Berlin").unwrap()
    }

    #[test]
    fn days_follow_the_zones_clock() {
        let day = IsoDuration::parse("P1D").unwrap();
        let spring = at("2024-03-30T00:00:00+01:00").in_zone(&berlin());
        let ends: Vec<String> = (1..=2).map(|n| spring.add(&day, n).to_string()).collect();
        assert_eq!(ends, ["2024-03-31T00:00:00.000+01:00", "2024-04-01T00:00:00.000+02:00"]);
        let autumn = at("2024-10-27T00:00:00+02:00").in_zone(&berlin());
        assert_eq!(autumn.add(&day, 1).to_string(), "2024-10-28T00:00:00.000+01:00");
        // Clock parts are elapsed time: 24 hours after midnight on a 25-hour day is 23:00.
        let hours = IsoDuration::parse("24h").unwrap();
        assert_eq!(autumn.add(&hours, 1).to_string(), "2024-10-27T23:00:00.000+01:00");
        let week = IsoDuration::parse("7d").unwrap();
        let end = at("2024-04-01T00:00:00+02:00").in_zone(&berlin());
        assert_eq!(end.add(&week, -1).to_string(), "2024-03-25T00:00:00.000+01:00");
    }

    #[test]
    fn truncates_on_the_local_clock() {
        let now = at("2024-03-31T21:47:13Z");
        assert_eq!(now.truncate(DAY).to_string(), "2024-03-31T00:00:00.000Z");
        let local = now.in_zone(&berlin());
        assert_eq!(local.truncate(DAY).to_string(), "2024-03-31T00:00:00.000+01:00");
        assert_eq!(local.truncate(1800).to_string(), "2024-03-31T23:30:00.000+02:00");
        let kolkata = now.in_zone(&Zone::parse("Asia/Kolkata").unwrap());
        assert_eq!(kolkata.truncate(3600).to_string(), "2024-04-01T03:00:00.000+05:30");
    }

    #[test]
    fn saturates_at_the_calendars_end() {
        let thousand_years = IsoDuration::parse("P1000Y").unwrap();
        let start = at("2024-01-01T00:00Z");
        assert_eq!(
            start.add(&thousand_years, 9),
            at("9000-01-01T00:00Z").add(&thousand_years, 1)
        );
        assert_eq!(start.add(&thousand_years, -20), start.add(&thousand_years, -30));
        assert!(start.add(&thousand_years, -20) < start);
    }

    #[test]
    fn parses_zones() {
        assert_eq!(berlin().name(), "Europe/Berlin");
        assert_eq!(Zone::parse("europe/berlin").unwrap().name(), "Europe/Berlin");
        assert_eq!(Zone::parse("Z").unwrap().name(), "UTC");
        assert_eq!(Zone::parse("UTC").unwrap().name(), "UTC");
        assert_eq!(Zone::parse("+02:00").unwrap().name(), "Etc/GMT-2");
        assert_eq!(Zone::parse("-05").unwrap().name(), "Etc/GMT+5");
        let fixed = at("2024-03-31T12:00Z").in_zone(&Zone::parse("+02:00").unwrap());
        assert_eq!(fixed.to_string(), "2024-03-31T14:00:00.000+02:00");
        assert!(Zone::parse("+05:30").unwrap_err().contains("Asia/Kolkata"));
        assert!(Zone::parse("Europe/Berlim")
            .unwrap_err()
            .contains("did you mean Europe/Berlin?"));
        assert!(Zone::parse("berlin")
            .unwrap_err()
            .ends_with("did you mean Europe/Berlin?"));
        assert!(Zone::parse("Mars/Olympus_Mons")
            .unwrap_err()
            .contains("expected an IANA name"));
        assert!(Zone::parse("").unwrap_err().contains("expected an IANA name"));
        assert!(Zone::parse("+25:00").is_err());
    }
}
