//! The routes of API.md, one module per family, and what they share: paging and date bounds.

pub mod accounts;
pub mod clients;
pub mod confirmations;
pub mod documents;
pub mod fx_transfers;
pub mod health;
pub mod ops;
pub mod payments;
pub mod recipients;
pub mod replay;
pub mod transactions;
pub mod transfers;

use crate::error::ApiError;
use chrono::{DateTime, NaiveDate, Utc};
use folio_projections::query::{MAX_PAGE_SIZE, PageRequest};
use serde::{Deserialize, Deserializer};

/// `pageNumber` (1-based, default 1) and `pageSize` (default 20, at most 100).
pub fn page_request(number: Option<u32>, size: Option<u32>) -> Result<PageRequest, ApiError> {
    let number = number.unwrap_or(1);
    let size = size.unwrap_or(20);
    if number == 0 {
        return Err(ApiError::validation("pageNumber", "pageNumber starts at 1"));
    }
    if size == 0 || size > MAX_PAGE_SIZE {
        return Err(ApiError::validation(
            "pageSize",
            format!("pageSize is between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(PageRequest::new(number, size))
}

/// A `dateFrom`/`dateTo` bound: a date (`2026-11-24`, the whole day) or an instant
/// (`2026-11-24T10:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBound {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

impl DateBound {
    /// As a lower bound: the start of the day, or the instant.
    pub fn start(self) -> DateTime<Utc> {
        match self {
            DateBound::Day(day) => day.and_time(chrono::NaiveTime::MIN).and_utc(),
            DateBound::Instant(at) => at,
        }
    }

    /// As an exclusive upper bound: the end of the day (the next day's start), or the instant.
    pub fn end(self) -> DateTime<Utc> {
        match self {
            DateBound::Day(day) => day
                .succ_opt()
                .unwrap_or(day)
                .and_time(chrono::NaiveTime::MIN)
                .and_utc(),
            DateBound::Instant(at) => at,
        }
    }
}

impl<'de> Deserialize<'de> for DateBound {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if let Ok(day) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            return Ok(DateBound::Day(day));
        }
        DateTime::parse_from_rfc3339(&text)
            .map(|at| DateBound::Instant(at.with_timezone(&Utc)))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "{text:?} is neither a date (YYYY-MM-DD) nor an ISO-8601 date-time"
                ))
            })
    }
}

/// Parses currency codes, refusing unknown ones with the ledger's `UnknownCurrency`.
pub fn currencies(codes: &[String]) -> Result<Vec<folio_domain::Currency>, ApiError> {
    codes
        .iter()
        .map(|code| folio_domain::Currency::from_code(code).map_err(ApiError::from))
        .collect()
}
