//! The read side of the SQLite log: a small pool of read-only connections and the queries.

use super::conn::open_log_reader;
use crate::convert::{clamp_i64, corrupt, from_micros, to_hash, to_i64, to_u16, to_u64, to_uuid};
use crate::{Head, RecordedEvent, Snapshot, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Mutex;
use uuid::Uuid;

/// How many idle read connections are kept; more are opened on demand and closed after use.
const MAX_IDLE: usize = 4;

/// Read-only connections to the log, never the writer's.
pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A connection borrowed from the pool; it goes back when dropped.
pub(crate) struct Reader<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl ReaderPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn get(&self) -> Result<Reader<'_>, StoreError> {
        let idle = self.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_log_reader(&self.path)?,
        };
        Ok(Reader {
            pool: self,
            conn: Some(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A panic while holding this lock cannot leave the Vec half-changed: keep using it.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // `conn` is only taken in `drop`.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A connection left inside a transaction (a panic mid-read) is not reused.
            if conn.is_autocommit() {
                let mut idle = self.pool.lock();
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
        }
    }
}

/// The columns of `events` in the order `event_from_row` reads them.
pub(crate) const EVENT_COLUMNS: &str = "global_position, stream_id, stream_revision, event_id, \
     event_type, schema_version, recorded_at, correlation_id, causation_id, idempotency_key, \
     payload, metadata, hash";

/// Reads one row of `EVENT_COLUMNS`, checking every stored value's shape.
pub(crate) fn event_from_row(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
    let position = to_u64(row.get(0)?, 0, "global_position")?;
    let blob = |index: usize| blob_at(row, index, position);
    let optional_uuid = |index: usize, what: &str| -> Result<Option<Uuid>, StoreError> {
        match row.get_ref(index)? {
            ValueRef::Null => Ok(None),
            _ => Ok(Some(to_uuid(blob(index)?, position, what)?)),
        }
    };
    Ok(RecordedEvent {
        global_position: position,
        stream_id: row.get(1)?,
        stream_revision: to_u64(row.get(2)?, position, "stream_revision")?,
        event_id: to_uuid(blob(3)?, position, "event_id")?,
        event_type: row.get(4)?,
        schema_version: to_u16(row.get(5)?, position, "schema_version")?,
        recorded_at: from_micros(row.get(6)?, position)?,
        correlation_id: optional_uuid(7, "correlation_id")?,
        causation_id: optional_uuid(8, "causation_id")?,
        idempotency_key: row.get(9)?,
        payload: row.get(10)?,
        metadata: row.get(11)?,
        hash: to_hash(blob(12)?, position)?,
    })
}

/// A BLOB column; any other type means the row was not written by this store.
pub(crate) fn blob_at<'r>(
    row: &'r Row<'_>,
    index: usize,
    position: u64,
) -> Result<&'r [u8], StoreError> {
    row.get_ref(index)?
        .as_blob()
        .map_err(|error| corrupt(position, format!("column {index}: {error}")))
}

/// The last event's position and hash, or zeroes for an empty log. A primary-key lookup.
pub(crate) fn read_head(conn: &Connection) -> Result<Head, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT global_position, hash FROM events ORDER BY global_position DESC LIMIT 1",
        )?
        .query_row([], |row| {
            let position: i64 = row.get(0)?;
            let hash: Vec<u8> = row.get(1)?;
            Ok((position, hash))
        })
        .optional()?;
    match row {
        None => Ok(Head::default()),
        Some((position, hash)) => {
            let position = to_u64(position, 0, "global_position")?;
            Ok(Head {
                position,
                hash: to_hash(&hash, position)?,
            })
        }
    }
}

pub(crate) fn read_all(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let limit = clamp_i64(u64::try_from(limit).unwrap_or(u64::MAX));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > ?1 \
         ORDER BY global_position LIMIT ?2"
    ))?;
    let mut rows = stmt.query(params![clamp_i64(after), limit])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event_from_row(row)?);
    }
    Ok(events)
}

pub(crate) fn read_stream(
    conn: &Connection,
    stream_id: &str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ?1 ORDER BY stream_revision"
    ))?;
    let mut rows = stmt.query([stream_id])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event_from_row(row)?);
    }
    Ok(events)
}

/// The events at `positions` (ascending), read in one transaction so they come from one
/// snapshot of the log. A missing position means the index points past the log.
pub(crate) fn read_positions(
    conn: &mut Connection,
    positions: &[u64],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let tx = conn.transaction()?;
    let mut events = Vec::with_capacity(positions.len());
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_position = ?1"
        ))?;
        for &position in positions {
            let mut rows = stmt.query([clamp_i64(position)])?;
            match rows.next()? {
                Some(row) => events.push(event_from_row(row)?),
                None => {
                    return Err(corrupt(
                        position,
                        "the account index names an event the log does not have".into(),
                    ));
                }
            }
        }
    }
    tx.finish()?;
    Ok(events)
}

/// The first column of `row` as a blob borrowed from SQLite (the error `get::<Vec<u8>>` gives
/// for another type).
fn blob<'r>(row: &'r rusqlite::Row<'_>, name: &str) -> Result<&'r [u8], rusqlite::Error> {
    let value = row.get_ref(0)?;
    value
        .as_blob()
        .map_err(|_| rusqlite::Error::InvalidColumnType(0, name.to_string(), value.data_type()))
}

/// The latest snapshot with its parts joined, read in one transaction so the row and its parts
/// are of the same save. A log from before parts existed (a copy opened read-only) has none.
pub fn load_sqlite_snapshot(conn: &Connection) -> Result<Option<Snapshot>, StoreError> {
    load_snapshot_row(conn, None)
}

/// The snapshot stored at `position`, if it is still kept (a newer save prunes old ones): for a
/// reader that chose a snapshot by its position and must not be handed a newer one.
pub fn load_sqlite_snapshot_at(
    conn: &Connection,
    position: u64,
) -> Result<Option<Snapshot>, StoreError> {
    load_snapshot_row(conn, Some(position))
}

fn load_snapshot_row(conn: &Connection, at: Option<u64>) -> Result<Option<Snapshot>, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let row = match at {
        None => tx
            .prepare_cached(
                "SELECT position, taken_at FROM snapshots ORDER BY position DESC LIMIT 1",
            )?
            .query_row([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
            .optional()?,
        Some(position) => tx
            .prepare_cached("SELECT position, taken_at FROM snapshots WHERE position = ?1")?
            .query_row([to_i64(position, "snapshot position")?], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()?,
    };
    let Some((stored_position, taken_at)) = row else {
        return Ok(None);
    };
    let has_parts: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_parts')",
        )?
        .query_row([], |row| row.get(0))?;
    let parts: i64 = if has_parts {
        tx.prepare_cached("SELECT count(*) FROM snapshot_parts WHERE position = ?1")?
            .query_row([stored_position], |row| row.get(0))?
    } else {
        0
    };
    // Each value is copied once, from SQLite's buffer to its place in `state`: no part is longer
    // than the first (see `snapshot_parts`), so the room is made once (a longer one would only
    // make `state` grow).
    let mut state = Vec::new();
    {
        let mut first = tx.prepare_cached("SELECT state FROM snapshots WHERE position = ?1")?;
        let mut rows = first.query([stored_position])?;
        if let Some(row) = rows.next()? {
            let bytes = blob(row, "state")?;
            let parts = usize::try_from(parts).unwrap_or(0);
            state.reserve_exact(bytes.len().saturating_mul(parts.saturating_add(1)));
            state.extend_from_slice(bytes);
        }
    }
    if parts > 0 {
        let mut rows_of = tx
            .prepare_cached("SELECT bytes FROM snapshot_parts WHERE position = ?1 ORDER BY part")?;
        let mut rows = rows_of.query([stored_position])?;
        while let Some(row) = rows.next()? {
            state.extend_from_slice(blob(row, "bytes")?);
        }
    }
    let position = to_u64(stored_position, 0, "snapshot position")?;
    Ok(Some(Snapshot {
        position,
        taken_at: from_micros(taken_at, position)?,
        state,
    }))
}
