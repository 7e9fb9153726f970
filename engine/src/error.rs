//! The engine's error type.

use folio_domain::LedgerError;
use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum EngineError {
    /// The ledger refused the command; nothing was recorded.
    #[error(transparent)]
    Rejected(#[from] LedgerError),
    /// The batch holding this command could not be committed. The command was not recorded,
    /// unless the store committed and only its answer was lost: retry with the same
    /// idempotency key to learn which.
    #[error("the command could not be committed: {0}")]
    CommitFailed(String),
    /// Another writer appended to this log; this engine stopped and accepts no more commands.
    #[error("this writer was fenced off by another writer: {0}")]
    Fenced(String),
    /// The engine is shutting down or has stopped.
    #[error("the engine is not running")]
    Stopped,
    /// Recovery could not rebuild the state from the store.
    #[error("recovery failed: {0}")]
    Recovery(String),
}
