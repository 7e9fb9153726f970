//! The PostgreSQL account index: `account_events` and its checkpoint, kept by catch-up.

use super::read::hash_at;
use crate::StoreError;
use crate::account_index::{IndexSource, READ_CHUNK, index_rows};
use crate::convert::{clamp_i64, to_hash, to_i64, to_u16, to_u64};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

/// Index rows per insert statement.
const INSERT_CHUNK: usize = 65536;

/// Indexes the events after the checkpoint, up to at least `up_to`, up to `batch` events per
/// transaction; rows and checkpoint commit together. The checkpoint row is locked
/// (`FOR UPDATE`) for the whole transaction, so indexers in other processes take turns.
/// Returns the position the index covers.
pub(crate) async fn catch_up(pool: &PgPool, up_to: u64, batch: usize) -> Result<u64, StoreError> {
    loop {
        let mut tx = pool.begin().await?;
        let (position, hash) = lock_checkpoint(&mut tx).await?;
        // Checked even when there is nothing to index: an index that outlived its log (a
        // restored or truncated `events` table) must not answer for the new one.
        if position > 0 && hash_at(&mut *tx, position).await? != Some(hash) {
            tracing::warn!(
                position,
                "the account index does not match the log; rebuilding it"
            );
            clear(&mut tx).await?;
            tx.commit().await?;
            continue;
        }
        if position >= up_to {
            tx.commit().await?;
            return Ok(position);
        }
        // Read in chunks (keeping only the index rows), then insert the rows in key order.
        let mut rows = Vec::new();
        let mut last = None;
        let mut read = 0;
        while read < batch {
            let after = last.map_or(position, |(p, _)| p);
            let (sources, newest) = read_sources(&mut tx, after, READ_CHUNK).await?;
            let Some(newest) = newest else { break };
            last = Some(newest);
            read += sources.len();
            rows.extend(index_rows(&sources)?);
            if sources.len() < READ_CHUNK {
                break;
            }
        }
        let Some((last_position, last_hash)) = last else {
            tx.commit().await?;
            return Ok(position);
        };
        rows.sort_unstable();
        for chunk in rows.chunks(INSERT_CHUNK) {
            let accounts: Vec<Uuid> = chunk.iter().map(|(account, _)| *account).collect();
            let positions: Vec<i64> = chunk.iter().map(|(_, p)| clamp_i64(*p)).collect();
            sqlx::query(
                "INSERT INTO account_events (account_id, global_position) \
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[]) ON CONFLICT DO NOTHING",
            )
            .bind(&accounts)
            .bind(&positions)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE account_index_checkpoint SET position = $1, hash = $2")
            .bind(to_i64(last_position, "position")?)
            .bind(&last_hash[..])
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
}

/// The index's columns of up to `limit` events after `after`, and the last one's position
/// and hash.
async fn read_sources(
    tx: &mut Transaction<'_, Postgres>,
    after: u64,
    limit: usize,
) -> Result<(Vec<IndexSource>, Option<(u64, [u8; 32])>), StoreError> {
    let rows = sqlx::query(
        "SELECT global_position, event_type, schema_version, payload, hash FROM events \
         WHERE global_position > $1 ORDER BY global_position LIMIT $2",
    )
    .bind(clamp_i64(after))
    .bind(clamp_i64(limit as u64))
    .fetch_all(&mut **tx)
    .await?;
    let mut sources = Vec::with_capacity(rows.len());
    let mut newest = None;
    for row in &rows {
        let position = to_u64(row.try_get(0)?, 0, "global_position")?;
        sources.push(IndexSource {
            position,
            event_type: row.try_get(1)?,
            schema_version: to_u16(row.try_get::<i32, _>(2)?.into(), position, "schema_version")?,
            payload: row.try_get(3)?,
        });
        newest = Some((position, to_hash(row.try_get::<&[u8], _>(4)?, position)?));
    }
    Ok((sources, newest))
}

/// Empties the index and resets its checkpoint, then indexes the whole log again.
pub(crate) async fn rebuild(pool: &PgPool, up_to: u64, batch: usize) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    lock_checkpoint(&mut tx).await?;
    clear(&mut tx).await?;
    tx.commit().await?;
    catch_up(pool, up_to, batch).await
}

async fn lock_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
) -> Result<(u64, [u8; 32]), StoreError> {
    let row = sqlx::query("SELECT position, hash FROM account_index_checkpoint FOR UPDATE")
        .fetch_one(&mut **tx)
        .await?;
    let position = to_u64(row.try_get(0)?, 0, "index checkpoint")?;
    Ok((position, to_hash(row.try_get::<&[u8], _>(1)?, position)?))
}

async fn clear(tx: &mut Transaction<'_, Postgres>) -> Result<(), StoreError> {
    sqlx::query("TRUNCATE account_events")
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE account_index_checkpoint SET position = 0, hash = decode(repeat('00', 32), 'hex')",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
