//! The read side's error type.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProjectionError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("store: {0}")]
    Store(#[from] folio_store::StoreError),
    #[error("event at position {position} cannot be decoded: {reason}")]
    Decode { position: u64, reason: String },
    #[error("read model data is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid read-model location {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("a rebuild is already running")]
    RebuildRunning,
    #[error("timed out waiting for the read models to reach position {wanted} (at {reached})")]
    WaitTimeout { wanted: u64, reached: u64 },
    /// An ops repair was proved at one checkpoint and the read models moved past it meanwhile.
    #[error("the {scope} checkpoint moved from {expected} to {found} during the repair")]
    CheckpointMoved {
        scope: &'static str,
        expected: u64,
        found: u64,
    },
    #[error("the read-model worker stopped: {0}")]
    WorkerGone(String),
    /// A bug in a read-model write, caught before it wrote anything wrong.
    #[error("read-model write refused: {0}")]
    Internal(String),
}
