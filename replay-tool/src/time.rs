//! Instants and business days on the command line: RFC 3339 instants, or dates in a time zone.

use crate::error::ReplayError;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The first instant of `day` in `tz` (the earliest, should midnight fall in a DST gap).
pub fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = day.and_time(chrono::NaiveTime::MIN);
    // A zone may skip midnight (DST): the day starts at the first local time that exists.
    for _ in 0..4 {
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += Duration::minutes(30);
    }
    local.and_utc()
}

/// The last instant (to the microsecond) of `day` in `tz`.
pub fn day_end(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day);
    day_start(next, tz) - Duration::microseconds(1)
}

pub fn parse_date(text: &str) -> Result<NaiveDate, ReplayError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|error| {
        ReplayError::Input(format!("{text:?} is not a date (YYYY-MM-DD): {error}"))
    })
}

/// An RFC 3339 instant, or a date meaning the end of that day in `tz` (for `--as-of`, `--to`).
pub fn parse_until(text: &str, tz: Tz) -> Result<DateTime<Utc>, ReplayError> {
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(at) => Ok(at.with_timezone(&Utc)),
        Err(_) => Ok(day_end(parse_date(text)?, tz)),
    }
}

/// An RFC 3339 instant, or a date meaning the start of that day in `tz` (for `--from`).
pub fn parse_from(text: &str, tz: Tz) -> Result<DateTime<Utc>, ReplayError> {
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(at) => Ok(at.with_timezone(&Utc)),
        Err(_) => Ok(day_start(parse_date(text)?, tz)),
    }
}

pub fn parse_tz(text: &str) -> Result<Tz, ReplayError> {
    text.parse::<Tz>()
        .map_err(|error| ReplayError::Input(format!("time zone {text:?}: {error}")))
}
