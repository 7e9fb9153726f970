//! The PostgreSQL append: move the fencing head row, insert the batch in one statement, notify.

use super::read::load_head;
use crate::convert::{corrupt, to_i64};
use crate::hash::{HashInput, chain_hash};
use crate::{AppendOutcome, Head, NewEvent, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The channel every append notifies with its new head; `subscribe` listens on it.
pub(crate) const CHANNEL: &str = "folio_events";

/// The whole batch in one statement: one array per column, unnested into rows. One round trip
/// and one plan for 4,096 events instead of 4,096 statements.
const INSERT_BATCH: &str = "INSERT INTO events (global_position, stream_id, stream_revision, \
     event_id, event_type, schema_version, recorded_at, correlation_id, causation_id, \
     idempotency_key, payload, metadata, hash) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], \
     $6::int4[], $7::timestamptz[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], \
     $12::text[], $13::bytea[])";

/// Appends `events` after `head` (which the caller has checked equals the expected head) and
/// returns the new head. The conditional update of `event_head` is the fence: if another
/// writer moved it, nothing is written and the head it found is returned as `Fenced`.
pub(crate) async fn append(
    pool: &PgPool,
    head: Head,
    events: &[NewEvent],
) -> Result<AppendOutcome, StoreError> {
    let first_position = head.position + 1;
    let batch = Columns::new(head, events)?;
    let new_head = batch.head;

    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE event_head SET position = $1, hash = $2 WHERE position = $3 AND hash = $4",
    )
    .bind(to_i64(new_head.position, "position")?)
    .bind(&new_head.hash[..])
    .bind(to_i64(head.position, "position")?)
    .bind(&head.hash[..])
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        let found = load_head(&mut *tx).await?;
        // Dropping `tx` rolls back.
        return Err(StoreError::Fenced {
            expected: head.position,
            found: found.position,
        });
    }

    sqlx::query(INSERT_BATCH)
        .bind(&batch.positions)
        .bind(&batch.stream_ids)
        .bind(&batch.revisions)
        .bind(&batch.event_ids)
        .bind(&batch.event_types)
        .bind(&batch.schema_versions)
        .bind(&batch.recorded_at)
        .bind(&batch.correlation_ids)
        .bind(&batch.causation_ids)
        .bind(&batch.idempotency_keys)
        .bind(&batch.payloads)
        .bind(&batch.metadata)
        .bind(&batch.hashes)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;

    // Delivered only when the transaction commits, in commit order.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(new_head.position.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(AppendOutcome {
        first_position,
        head: new_head,
    })
}

/// The batch as one array per column, with positions and chained hashes assigned.
struct Columns<'a> {
    positions: Vec<i64>,
    stream_ids: Vec<&'a str>,
    revisions: Vec<i64>,
    event_ids: Vec<Uuid>,
    event_types: Vec<&'a str>,
    schema_versions: Vec<i32>,
    recorded_at: Vec<DateTime<Utc>>,
    correlation_ids: Vec<Option<Uuid>>,
    causation_ids: Vec<Option<Uuid>>,
    idempotency_keys: Vec<Option<&'a str>>,
    payloads: Vec<&'a str>,
    metadata: Vec<Option<&'a str>>,
    hashes: Vec<Vec<u8>>,
    head: Head,
}

impl<'a> Columns<'a> {
    fn new(head: Head, events: &'a [NewEvent]) -> Result<Self, StoreError> {
        let n = events.len();
        let mut columns = Columns {
            positions: Vec::with_capacity(n),
            stream_ids: Vec::with_capacity(n),
            revisions: Vec::with_capacity(n),
            event_ids: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            schema_versions: Vec::with_capacity(n),
            recorded_at: Vec::with_capacity(n),
            correlation_ids: Vec::with_capacity(n),
            causation_ids: Vec::with_capacity(n),
            idempotency_keys: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            head,
        };
        for event in events {
            let position = columns.head.position + 1;
            // The hash covers whole microseconds; store exactly what was hashed, so reading
            // the event back verifies whatever precision the caller's clock had.
            let micros = event.recorded_at.timestamp_micros();
            let recorded_at = DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| corrupt(position, format!("timestamp {micros} out of range")))?;
            let hash = chain_hash(&columns.head.hash, &HashInput::for_new(event, position));
            columns.positions.push(to_i64(position, "global position")?);
            columns.stream_ids.push(&event.stream_id);
            columns
                .revisions
                .push(to_i64(event.stream_revision, "stream revision")?);
            columns.event_ids.push(event.event_id);
            columns.event_types.push(&event.event_type);
            columns
                .schema_versions
                .push(i32::from(event.schema_version));
            columns.recorded_at.push(recorded_at);
            columns.correlation_ids.push(event.correlation_id);
            columns.causation_ids.push(event.causation_id);
            columns
                .idempotency_keys
                .push(event.idempotency_key.as_deref());
            columns.payloads.push(&event.payload);
            columns.metadata.push(event.metadata.as_deref());
            columns.hashes.push(hash.to_vec());
            columns.head = Head { position, hash };
        }
        Ok(columns)
    }
}

/// A unique violation (stream revision or event id taken) is the caller's conflict.
fn conflict(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
            "{} ({})",
            db.message(),
            db.constraint().unwrap_or("unique constraint")
        )),
        _ => StoreError::Postgres(error),
    }
}
