//! Opening SQLite connections with the log's settings, and the `user_version` migration runner.

use crate::StoreError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// The log's schema, one script per `user_version` step, applied in order at open.
const LOG_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_events.sql"),
    include_str!("../../migrations/sqlite/0002_snapshots.sql"),
    include_str!("../../migrations/sqlite/0003_snapshot_parts.sql"),
];

/// The account index's schema (its own file).
const INDEX_MIGRATIONS: &[&str] = &[include_str!(
    "../../migrations/sqlite-accounts/0001_account_events.sql"
)];

/// How long a connection waits for another's lock before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The single write connection of the log: WAL, `synchronous=FULL` (a commit is on disk
/// before `append` returns), and a 256 MiB page cache, which matters more than anything else
/// for large append transactions into indexed tables. The checkpoint thread keeps the WAL
/// short; the writer's own automatic checkpoint is set far above what that thread lets the WAL
/// reach, as a backstop should it fall behind.
pub(crate) fn open_log_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Schema(format!(
            "{} cannot use WAL (journal_mode is {mode})",
            path.display()
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA cache_size = -262144;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = OFF;
         PRAGMA wal_autocheckpoint = 50000;",
    )?;
    migrate(&conn, LOG_MIGRATIONS, path)?;
    Ok(conn)
}

/// The checkpoint thread's connection. It never writes rows; `synchronous=FULL` makes each
/// checkpoint fsync the database file before the WAL may be started again.
pub(crate) fn open_log_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA wal_autocheckpoint = 0;",
    )?;
    Ok(conn)
}

/// A read-only connection to the log, for the reader pool. It never takes the write lock.
pub(crate) fn open_log_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA cache_size = -65536;
         PRAGMA temp_store = MEMORY;
         PRAGMA query_only = ON;",
    )?;
    Ok(conn)
}

/// The account index's connection. The index is derived data, so `synchronous=NORMAL`: WAL
/// keeps it consistent after a crash, and whatever it lost is re-indexed from the log.
pub(crate) fn open_index(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -131072;
         PRAGMA temp_store = MEMORY;",
    )?;
    migrate(&conn, INDEX_MIGRATIONS, path)?;
    Ok(conn)
}

/// Applies the scripts after the database's `user_version`, each in its own write
/// transaction that also bumps the version, so a crash mid-way leaves a consistent schema and
/// two processes opening the same file at once apply each step once.
fn migrate(conn: &Connection, scripts: &[&str], path: &Path) -> Result<(), StoreError> {
    for (index, script) in scripts.iter().enumerate() {
        let target = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > i64::try_from(scripts.len()).unwrap_or(i64::MAX) {
            return Err(StoreError::Schema(format!(
                "{} has schema version {version}; this build knows up to {}",
                path.display(),
                scripts.len()
            )));
        }
        if version >= target {
            continue;
        }
        tx.execute_batch(script)
            .map_err(|error| StoreError::Schema(format!("migration {target}: {error}")))?;
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(())
}
