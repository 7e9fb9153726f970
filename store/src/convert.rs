//! Checked conversions between the log's Rust types and the columns both backends store.

use crate::StoreError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A position, revision or limit as the signed 64-bit integer both databases store. Values
/// beyond `i64::MAX` cannot be stored, so they are refused rather than wrapped.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::InvalidInput(format!("{what} {value} exceeds i64")))
}

/// Like [`to_i64`] for bounds of a query (`after`, `limit`): clamping keeps the meaning.
pub(crate) fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored integer read back as `u64`; a negative value means the row was tampered with.
pub(crate) fn to_u64(value: i64, position: u64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(position, format!("negative {what} {value}")))
}

pub(crate) fn to_u16(value: i64, position: u64, what: &str) -> Result<u16, StoreError> {
    u16::try_from(value).map_err(|_| corrupt(position, format!("{what} {value} out of range")))
}

pub(crate) fn to_hash(bytes: &[u8], position: u64) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(position, format!("hash has {} bytes, not 32", bytes.len())))
}

pub(crate) fn to_uuid(bytes: &[u8], position: u64, what: &str) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| {
        corrupt(
            position,
            format!("{what} has {} bytes, not 16", bytes.len()),
        )
    })
}

pub(crate) fn from_micros(micros: i64, position: u64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| corrupt(position, format!("timestamp {micros} out of range")))
}

pub(crate) fn corrupt(position: u64, reason: String) -> StoreError {
    StoreError::Corrupt { position, reason }
}
