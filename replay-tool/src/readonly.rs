//! A read-only view of a SQLite log: its connection is opened with `SQLITE_OPEN_READ_ONLY`, so
//! the tool cannot write to the log file even by accident (no migration, no index file).

use crate::page::{self, Page};
use async_trait::async_trait;
use chrono::DateTime;
use folio_domain::LedgerSnapshot;
use folio_engine::codec::from_recorded;
use folio_store::{AppendOutcome, EventStore, Head, NewEvent, RecordedEvent, Snapshot, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use uuid::Uuid;

/// About how much text a row holds (its payload, stream id, type and key), to size a page.
const TEXT_PER_ROW: usize = 400;

/// The most rows a page makes room for before it reads them.
const MAX_PREALLOCATED_ROWS: usize = 65_536;

const COLUMNS: &str = "global_position, stream_id, stream_revision, event_id, event_type, \
     schema_version, recorded_at, correlation_id, causation_id, idempotency_key, payload, \
     metadata, hash";

/// What `latest_snapshot_outline` tells of the latest snapshot before it is read.
pub struct SnapshotOutline {
    pub position: u64,
    /// At most this many bytes.
    pub bytes: u64,
    /// Its first bytes (up to `LedgerSnapshot::HEADER_BYTES`).
    pub prefix: Vec<u8>,
}

/// A SQLite log opened for reading only.
pub struct ReadOnlySqlite {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// Connections of finished `read_range` calls, for the next ones.
    spare: Mutex<Vec<Connection>>,
    head: watch::Sender<u64>,
}

impl ReadOnlySqlite {
    pub fn open(path: &Path) -> Result<ReadOnlySqlite, StoreError> {
        let conn = connect(path)?;
        let position = read_head(&conn)?.position;
        Ok(ReadOnlySqlite {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
            spare: Mutex::new(Vec::new()),
            head: watch::channel(position).0,
        })
    }

    /// The events at positions after `after` up to `until`, read into one page on a connection
    /// of their own (kept for the next call), so several ranges can be read at once. Blocking:
    /// call it from the blocking pool.
    pub fn read_range(&self, after: u64, until: u64) -> Result<Page, StoreError> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match spare {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let rows = usize::try_from(until.saturating_sub(after)).unwrap_or(usize::MAX);
        let page = query_page(
            &conn,
            &format!(
                "SELECT {COLUMNS} FROM events WHERE global_position > ?1 \
                 AND global_position <= ?2 ORDER BY global_position"
            ),
            params![to_sql(after), to_sql(until)],
            rows.min(MAX_PREALLOCATED_ROWS),
        );
        self.spare
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        page
    }

    /// The latest snapshot's position, at most how many bytes it holds (its first part's
    /// length times the number of parts: no part is longer than the first) and its first
    /// bytes (where a binary snapshot says how many payments it holds), without reading it
    /// whole. Blocking.
    pub fn latest_snapshot_outline(&self) -> Result<Option<SnapshotOutline>, StoreError> {
        let conn = connect(&self.path)?;
        let latest = conn
            .query_row(
                "SELECT position, length(state), substr(state, 1, ?1) FROM snapshots \
                 ORDER BY position DESC LIMIT 1",
                [LedgerSnapshot::HEADER_BYTES as i64],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((position, first, prefix)) = latest else {
            return Ok(None);
        };
        let has_parts: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_parts')",
            [],
            |row| row.get(0),
        )?;
        let parts: i64 = if has_parts {
            conn.query_row(
                "SELECT count(*) FROM snapshot_parts WHERE position = ?1",
                [position],
                |row| row.get(0),
            )?
        } else {
            0
        };
        let position =
            u64::try_from(position).map_err(|_| corrupt(0, "a negative snapshot position"))?;
        let bytes = u64::try_from(first)
            .unwrap_or(0)
            .saturating_mul(u64::try_from(parts).unwrap_or(0).saturating_add(1));
        Ok(Some(SnapshotOutline {
            position,
            bytes,
            prefix,
        }))
    }

    /// The snapshot stored at `position`, read on a connection of its own (the store's own
    /// reader), so it can be read while a scan runs; None if a newer save pruned it. Blocking.
    pub fn load_snapshot_at_blocking(&self, position: u64) -> Result<Option<Snapshot>, StoreError> {
        folio_store::load_sqlite_snapshot_at(&connect(&self.path)?, position)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&conn)
        })
        .await
        .map_err(|error| StoreError::WorkerGone(error.to_string()))?
    }
}

/// How much of the log a read-only connection maps into memory: all of it.
const MMAP_BYTES: u64 = 1 << 40;

/// A read-only connection: it cannot write to the log file even by accident.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Memory-mapped reads spare copying every page out of the kernel's cache; the log only
    // ever grows, so no mapped page is truncated away. The whole log is mapped: the bundled
    // SQLite is built with a 1 TiB cap instead of its 2 GB one (`.cargo/config.toml`).
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -65536; PRAGMA mmap_size = {MMAP_BYTES}; PRAGMA query_only = ON;"
    ))?;
    // SQLite lowers the mapping to its compiled cap without a word: a build outside this
    // workspace (`cargo install`, another LIBSQLITE3_FLAGS) keeps the 2 GB one and reads slower.
    let granted: i64 = conn.query_row("PRAGMA mmap_size", [], |row| row.get(0))?;
    if u64::try_from(granted).unwrap_or(0) < MMAP_BYTES {
        tracing::warn!(
            granted_bytes = granted,
            "SQLite maps less of the log than asked (built without this workspace's \
             .cargo/config.toml?): verify reads more slowly"
        );
    }
    Ok(conn)
}

fn to_sql(position: u64) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

fn read_only() -> StoreError {
    StoreError::InvalidInput("the replay tool opens the log read-only".into())
}

fn corrupt(position: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        position,
        reason: reason.into(),
    }
}

fn read_head(conn: &Connection) -> Result<Head, StoreError> {
    let row = conn
        .query_row(
            "SELECT global_position, hash FROM events ORDER BY global_position DESC LIMIT 1",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
        )
        .optional()?;
    match row {
        None => Ok(Head::default()),
        Some((position, hash)) => {
            let position = u64::try_from(position).map_err(|_| corrupt(0, "negative head"))?;
            let hash = hash
                .try_into()
                .map_err(|_| corrupt(position, "a hash is 32 bytes"))?;
            Ok(Head { position, hash })
        }
    }
}

/// One stored row borrowed from SQLite's buffers, every value's shape checked.
fn borrow_row<'r>(row: &'r Row<'_>) -> Result<page::Row<'r>, StoreError> {
    let position =
        u64::try_from(row.get::<_, i64>(0)?).map_err(|_| corrupt(0, "a negative position"))?;
    let blob = |index: usize| -> Result<&'r [u8], StoreError> {
        match row.get_ref(index)? {
            ValueRef::Blob(bytes) => Ok(bytes),
            _ => Err(corrupt(position, format!("column {index} is not a blob"))),
        }
    };
    let text = |index: usize| -> Result<&'r str, StoreError> {
        match row.get_ref(index)? {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| corrupt(position, format!("column {index} is not UTF-8 text"))),
            _ => Err(corrupt(position, format!("column {index} is not text"))),
        }
    };
    let optional_text = |index: usize| -> Result<Option<&'r str>, StoreError> {
        match row.get_ref(index)? {
            ValueRef::Null => Ok(None),
            _ => text(index).map(Some),
        }
    };
    let uuid = |index: usize| -> Result<Uuid, StoreError> {
        Uuid::from_slice(blob(index)?)
            .map_err(|_| corrupt(position, format!("column {index} is not a 16-byte uuid")))
    };
    let optional_uuid = |index: usize| -> Result<Option<Uuid>, StoreError> {
        match row.get_ref(index)? {
            ValueRef::Null => Ok(None),
            _ => Ok(Some(uuid(index)?)),
        }
    };
    let micros: i64 = row.get(6)?;
    Ok(page::Row {
        global_position: position,
        stream_id: text(1)?,
        stream_revision: u64::try_from(row.get::<_, i64>(2)?)
            .map_err(|_| corrupt(position, "a negative stream revision"))?,
        event_id: uuid(3)?,
        event_type: text(4)?,
        schema_version: u16::try_from(row.get::<_, i64>(5)?)
            .map_err(|_| corrupt(position, "schema version out of range"))?,
        recorded_at: DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| corrupt(position, format!("timestamp {micros} out of range")))?,
        correlation_id: optional_uuid(7)?,
        causation_id: optional_uuid(8)?,
        idempotency_key: optional_text(9)?,
        payload: text(10)?,
        metadata: optional_text(11)?,
        hash: blob(12)?
            .try_into()
            .map_err(|_| corrupt(position, "a hash is 32 bytes"))?,
    })
}

/// The rows `sql` selects, copied straight from SQLite's buffers into one page.
fn query_page(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    expected_rows: usize,
) -> Result<Page, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut page = Page::with_capacity(expected_rows, expected_rows * TEXT_PER_ROW);
    while let Some(row) = rows.next()? {
        page.push(&borrow_row(row)?);
    }
    Ok(page)
}

fn query_events(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let page = query_page(conn, sql, params, 0)?;
    Ok(page.rows().map(|row| row.to_recorded()).collect())
}

#[async_trait]
impl EventStore for ReadOnlySqlite {
    async fn append(&self, _: u64, _: Vec<NewEvent>) -> Result<AppendOutcome, StoreError> {
        Err(read_only())
    }

    async fn head(&self) -> Result<Head, StoreError> {
        let head = self.with(read_head).await?;
        self.head.send_replace(head.position);
        Ok(head)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let page = self
            .with(move |conn| {
                query_page(
                    conn,
                    &format!(
                        "SELECT {COLUMNS} FROM events WHERE global_position > ?1 \
                         ORDER BY global_position LIMIT ?2"
                    ),
                    params![to_sql(after), limit_sql],
                    limit.min(MAX_PREALLOCATED_ROWS),
                )
            })
            .await?;
        Ok(page.rows().map(|row| row.to_recorded()).collect())
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream_id = stream_id.to_string();
        self.with(move |conn| {
            query_events(
                conn,
                &format!(
                    "SELECT {COLUMNS} FROM events WHERE stream_id = ?1 ORDER BY stream_revision"
                ),
                params![stream_id],
            )
        })
        .await
    }

    /// From the log alone: every event is read and the ones that touch the account kept (no
    /// derived index is trusted or written).
    async fn read_account(&self, account_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut found = Vec::new();
        let mut after = 0;
        loop {
            let page = self.read_all(after, 16_384).await?;
            let Some(last) = page.last() else { break };
            after = last.global_position;
            for record in page {
                let touches = match from_recorded(&record) {
                    Ok(event) => event
                        .body
                        .touched_accounts()
                        .iter()
                        .any(|id| id.0 == account_id),
                    Err(error) => return Err(corrupt(record.global_position, error.to_string())),
                };
                if touches {
                    found.push(record);
                }
            }
        }
        Ok(found)
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    async fn save_snapshot(&self, _: u64, _: Vec<u8>) -> Result<(), StoreError> {
        Err(read_only())
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        // The store's own reader: the same parts joined the same way.
        self.with(folio_store::load_sqlite_snapshot).await
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_connection_maps_far_more_than_sqlites_default_cap() {
        // Given a log file
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER);")
            .unwrap();

        // When it is opened for reading, Then the mapping it asks for is granted in full
        // (SQLite silently lowers it to its compiled cap: 2 GB unless built otherwise)
        let conn = connect(&path).unwrap();
        let granted: i64 = conn
            .query_row("PRAGMA mmap_size", [], |row| row.get(0))
            .unwrap();
        assert_eq!(granted as u64, MMAP_BYTES);
    }
}
