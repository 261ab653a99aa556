//! The API's timestamps as epoch milliseconds and UTC dates.

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp (`Z` or `±hh:mm` offset), the
/// form of the API's interval halves; `None` for anything else.
pub fn epoch_millis(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// The UTC calendar date (`YYYY-MM-DD`) of an instant in epoch milliseconds.
pub fn utc_date(millis: i64) -> Option<String> {
    let at = jiff::Timestamp::from_millisecond(millis).ok()?;
    Some(at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date().to_string())
}
