//! PostgreSQL reads: the head, events by position, stream or account, and snapshots.

use crate::convert::{clamp_i64, to_hash, to_u16, to_u64};
use crate::{Head, RecordedEvent, Snapshot, StoreError};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// The columns of `events` in the order `event_from_row` reads them.
macro_rules! event_columns {
    () => {
        "global_position, stream_id, stream_revision, event_id, event_type, schema_version, \
         recorded_at, correlation_id, causation_id, idempotency_key, payload, metadata, hash"
    };
}

pub(crate) fn event_from_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let position = to_u64(row.try_get(0)?, 0, "global_position")?;
    let hash: &[u8] = row.try_get(12)?;
    Ok(RecordedEvent {
        global_position: position,
        stream_id: row.try_get(1)?,
        stream_revision: to_u64(row.try_get(2)?, position, "stream_revision")?,
        event_id: row.try_get(3)?,
        event_type: row.try_get(4)?,
        schema_version: to_u16(row.try_get::<i32, _>(5)?.into(), position, "schema_version")?,
        recorded_at: row.try_get(6)?,
        correlation_id: row.try_get(7)?,
        causation_id: row.try_get(8)?,
        idempotency_key: row.try_get(9)?,
        payload: row.try_get(10)?,
        metadata: row.try_get(11)?,
        hash: to_hash(hash, position)?,
    })
}

fn events_from_rows(rows: &[PgRow]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter().map(event_from_row).collect()
}

/// The head as the fencing row records it (the same transaction that inserts events moves it).
pub(crate) async fn load_head<'e>(executor: impl PgExecutor<'e>) -> Result<Head, StoreError> {
    let row = sqlx::query("SELECT position, hash FROM event_head")
        .fetch_one(executor)
        .await?;
    let position = to_u64(row.try_get(0)?, 0, "head position")?;
    Ok(Head {
        position,
        hash: to_hash(row.try_get::<&[u8], _>(1)?, position)?,
    })
}

pub(crate) async fn read_all<'e>(
    executor: impl PgExecutor<'e>,
    after: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2"
    ))
    .bind(clamp_i64(after))
    .bind(clamp_i64(u64::try_from(limit).unwrap_or(u64::MAX)))
    .fetch_all(executor)
    .await?;
    events_from_rows(&rows)
}

pub(crate) async fn read_stream<'e>(
    executor: impl PgExecutor<'e>,
    stream_id: &str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE stream_id = $1 ORDER BY stream_revision"
    ))
    .bind(stream_id)
    .fetch_all(executor)
    .await?;
    events_from_rows(&rows)
}

/// The events the account index lists for `account`, up to `until`, in position order.
pub(crate) async fn read_indexed<'e>(
    executor: impl PgExecutor<'e>,
    account: Uuid,
    until: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM account_events JOIN events USING (global_position) \
         WHERE account_id = $1 AND global_position <= $2 ORDER BY global_position"
    ))
    .bind(account)
    .bind(clamp_i64(until))
    .fetch_all(executor)
    .await?;
    events_from_rows(&rows)
}

/// The latest snapshot with its parts joined (call it inside a transaction, so the row and its
/// parts are of the same save).
pub(crate) async fn load_snapshot(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT position, taken_at, state FROM snapshots ORDER BY position DESC LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored_position: i64 = row.try_get(0)?;
    let taken_at: DateTime<Utc> = row.try_get(1)?;
    let mut state: Vec<u8> = row.try_get(2)?;
    let parts = sqlx::query("SELECT bytes FROM snapshot_parts WHERE position = $1 ORDER BY part")
        .bind(stored_position)
        .fetch_all(&mut **tx)
        .await?;
    for part in parts {
        let bytes: Vec<u8> = part.try_get(0)?;
        state.extend_from_slice(&bytes);
    }
    Ok(Some(Snapshot {
        position: to_u64(stored_position, 0, "snapshot position")?,
        taken_at,
        state,
    }))
}

/// A stored hash at `position`, if the log has that event.
pub(crate) async fn hash_at<'e>(
    executor: impl PgExecutor<'e>,
    position: u64,
) -> Result<Option<[u8; 32]>, StoreError> {
    let row = sqlx::query("SELECT hash FROM events WHERE global_position = $1")
        .bind(clamp_i64(position))
        .fetch_optional(executor)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(to_hash(row.try_get::<&[u8], _>(0)?, position)?)),
    }
}
