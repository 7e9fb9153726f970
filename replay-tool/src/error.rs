//! The library's errors (the binaries wrap them with anyhow).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("event store: {0}")]
    Store(#[from] folio_store::StoreError),
    #[error("read models: {0}")]
    ReadModels(#[from] folio_projections::ProjectionError),
    #[error("engine: {0}")]
    Engine(#[from] folio_engine::EngineError),
    #[error("{0}")]
    Input(String),
    #[error("the log has no account {0}")]
    UnknownAccount(folio_domain::AccountId),
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
    #[error("a background task failed: {0}")]
    Task(String),
}
