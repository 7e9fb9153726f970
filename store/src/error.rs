//! The store's error type.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The conditional append found another head: a second writer got there first, or this
    /// writer's view of the log is stale. Nothing was written.
    #[error("append fenced: expected head {expected}, found {found}")]
    Fenced { expected: u64, found: u64 },
    /// A unique constraint (stream revision or event id) refused the batch. Nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid store url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("stored data is corrupt at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    /// An event or argument the store cannot represent (e.g. a revision beyond `i64::MAX`).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database's schema is not one this build knows (newer, or a migration failed).
    #[error("schema: {0}")]
    Schema(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store's worker stopped: {0}")]
    WorkerGone(String),
}
