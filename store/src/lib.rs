//! Folio's immutable event log: the `EventStore` trait, its backends and the hash chain.
//!
//! The log is append-only. Every event gets a gapless `global_position` (1, 2, 3, …) assigned by
//! the single writer, a per-stream revision, and `hash = SHA-256(previous hash ‖ canonical bytes)`
//! so that any edit, deletion or reordering is detectable by `verify`.

pub mod account_index;
pub mod content;
mod convert;
pub mod error;
pub mod hash;
pub mod model;
pub mod open;
pub mod postgres;
pub mod sqlite;

pub use content::{ContentError, ContentStore, FileContentStore, PgContentStore};
pub use error::StoreError;
pub use model::{AppendOutcome, Head, NewEvent, RecordedEvent, Snapshot};
pub use open::{SNAPSHOT_PART_BYTES, StoreOptions, open_store, open_store_with};
pub use sqlite::{load_sqlite_snapshot, load_sqlite_snapshot_at};

/// A snapshot's bytes as stored: the first part (in the snapshot's own row) and the rest, each
/// at most `part_bytes` long.
pub(crate) fn snapshot_parts(state: &[u8], part_bytes: usize) -> (&[u8], Vec<&[u8]>) {
    let part_bytes = part_bytes.max(1);
    let first = &state[..state.len().min(part_bytes)];
    let rest = state[first.len()..].chunks(part_bytes).collect();
    (first, rest)
}
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use tokio::sync::watch;
use uuid::Uuid;

/// The event log as the engine, the projectors and the replay tool see it.
///
/// Positions are 1-based; a head of 0 means an empty log. `read_all(after, limit)` returns the
/// events with `global_position > after` in order.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` in one transaction, if and only if the log's head is still
    /// `expected_head`. Assigns positions `expected_head + 1 ..` and chains the hashes. A
    /// mismatch is `StoreError::Fenced` and writes nothing. On `Ok` the events are durable.
    async fn append(
        &self,
        expected_head: u64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError>;

    /// The current head: the last position and its hash (zeroes for an empty log).
    async fn head(&self) -> Result<Head, StoreError>;

    /// Up to `limit` events with `global_position > after`, in position order.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Every event of one stream, in revision order.
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Every event that touched `account_id` (its own stream and every payment leg that debits or
    /// credits it), in position order, read through the account index rather than a full scan.
    async fn read_account(&self, account_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError>;

    /// A receiver of the head position, updated after every commit this process sees (and, for
    /// backends that can tell, commits of other processes). Readers wait on it instead of polling.
    fn subscribe(&self) -> watch::Receiver<u64>;

    /// Saves a snapshot of the engine state taken at `position`.
    async fn save_snapshot(&self, position: u64, state: Vec<u8>) -> Result<(), StoreError>;

    /// The latest snapshot, if any.
    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError>;

    /// A short name of the backend for reports: `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;

    /// Brings the account index up to the current head and returns the position it covers.
    /// `read_account` does this itself; a background task also does it right behind the writer.
    /// The default is for stores without a separate index: there is nothing to catch up.
    async fn catch_up_account_index(&self) -> Result<u64, StoreError> {
        Ok(self.head().await?.position)
    }

    /// Drops the account index and builds it again from the whole log (ops' rebuild; the replay
    /// tool uses it). Returns the position the fresh index covers.
    async fn rebuild_account_index(&self) -> Result<u64, StoreError> {
        self.catch_up_account_index().await
    }
}
