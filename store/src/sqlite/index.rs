//! The SQLite account index: `account_events` in its own file beside the log, kept by catch-up.

use super::read;
use crate::StoreError;
use crate::account_index::{IndexSource, READ_CHUNK, index_rows};
use crate::convert::{clamp_i64, to_hash, to_i64, to_u16, to_u64};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Indexes the log's events after the index's checkpoint, up to at least `up_to`, in
/// transactions of up to `batch` events; each writes its rows and the new checkpoint together, so a
/// crash never leaves a half-indexed batch. Returns the position the index now covers.
///
/// If the checkpoint's event is no longer in the log with the same hash (the log file was
/// replaced underneath the index), the index is cleared and built again.
pub(crate) fn catch_up_account_index(
    log: &Connection,
    index: &mut Connection,
    up_to: u64,
    batch: usize,
) -> Result<u64, StoreError> {
    loop {
        let (position, hash) = read_checkpoint(index)?;
        // Checked even when there is nothing to index: an index that outlived its log must
        // not answer for the new one.
        if position > 0 && log_hash_at(log, position)? != Some(hash) {
            tracing::warn!(
                position,
                "the account index does not match the log; rebuilding it"
            );
            clear(index)?;
            continue;
        }
        if position >= up_to {
            return Ok(position);
        }
        // Read the log in chunks (only the rows stay in memory, not the payloads) until the
        // batch is full, then write the rows in key order in one transaction: each index page
        // is dirtied once per batch, so larger batches write far less per event.
        let mut rows = Vec::new();
        let mut last = None;
        let mut read = 0;
        while read < batch {
            let events = read_sources(log, last.map_or(position, |(p, _)| p), READ_CHUNK)?;
            let Some(&(ref newest, hash)) = events.last() else {
                break;
            };
            last = Some((newest.position, hash));
            read += events.len();
            let sources: Vec<IndexSource> = events.into_iter().map(|(source, _)| source).collect();
            rows.extend(index_rows(&sources)?);
            if sources.len() < READ_CHUNK {
                break;
            }
        }
        let Some((last_position, last_hash)) = last else {
            // The log ends before `up_to` (it was read from another snapshot): nothing to do.
            return Ok(position);
        };
        rows.sort_unstable();

        let tx = index.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process indexing the same log may have got here first: start over from its
        // checkpoint rather than write the same rows twice.
        if read_checkpoint(&tx)?.0 != position {
            continue;
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO account_events (account_id, global_position) \
                 VALUES (?1, ?2)",
            )?;
            for (account, position) in &rows {
                insert.execute(params![&account.as_bytes()[..], clamp_i64(*position)])?;
            }
        }
        tx.prepare_cached("UPDATE account_index_checkpoint SET position = ?1, hash = ?2")?
            .execute(params![to_i64(last_position, "position")?, &last_hash[..]])?;
        tx.commit()?;
    }
}

/// Clears the index, then builds it again from the whole log in large batches.
pub(crate) fn rebuild_account_index(
    log: &Connection,
    index: &mut Connection,
    up_to: u64,
    batch: usize,
) -> Result<u64, StoreError> {
    clear(index)?;
    catch_up_account_index(log, index, up_to, batch)
}

/// The positions of the events that touched `account`, ascending.
pub(crate) fn account_positions(
    index: &Connection,
    account: &[u8],
) -> Result<Vec<u64>, StoreError> {
    let mut stmt = index.prepare_cached(
        "SELECT global_position FROM account_events WHERE account_id = ?1 \
         ORDER BY global_position",
    )?;
    let mut rows = stmt.query([account])?;
    let mut positions = Vec::new();
    while let Some(row) = rows.next()? {
        positions.push(to_u64(row.get(0)?, 0, "indexed position")?);
    }
    Ok(positions)
}

fn clear(index: &mut Connection) -> Result<(), StoreError> {
    let tx = index.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Without a WHERE clause SQLite truncates the table instead of deleting row by row.
    tx.execute_batch(
        "DELETE FROM account_events;
         UPDATE account_index_checkpoint SET position = 0, hash = zeroblob(32);",
    )?;
    tx.commit()?;
    Ok(())
}

fn read_checkpoint(index: &Connection) -> Result<(u64, [u8; 32]), StoreError> {
    let (position, hash): (i64, Vec<u8>) = index
        .prepare_cached("SELECT position, hash FROM account_index_checkpoint WHERE id = 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let position = to_u64(position, 0, "index checkpoint")?;
    Ok((position, to_hash(&hash, position)?))
}

fn log_hash_at(log: &Connection, position: u64) -> Result<Option<[u8; 32]>, StoreError> {
    let hash: Option<Vec<u8>> = log
        .prepare_cached("SELECT hash FROM events WHERE global_position = ?1")?
        .query_row([clamp_i64(position)], |row| row.get(0))
        .optional()?;
    hash.map(|hash| to_hash(&hash, position)).transpose()
}

fn read_sources(
    log: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<(IndexSource, [u8; 32])>, StoreError> {
    let mut stmt = log.prepare_cached(
        "SELECT global_position, event_type, schema_version, payload, hash FROM events \
         WHERE global_position > ?1 ORDER BY global_position LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![clamp_i64(after), clamp_i64(limit as u64)])?;
    let mut sources = Vec::with_capacity(limit.min(65536));
    while let Some(row) = rows.next()? {
        let position = to_u64(row.get(0)?, 0, "global_position")?;
        let hash = to_hash(read::blob_at(row, 4, position)?, position)?;
        sources.push((
            IndexSource {
                position,
                event_type: row.get(1)?,
                schema_version: to_u16(row.get(2)?, position, "schema_version")?,
                payload: row.get(3)?,
            },
            hash,
        ));
    }
    Ok(sources)
}
