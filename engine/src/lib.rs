//! Folio's write side: one writer task per ledger owns the `Ledger`, decides every command in
//! batches and appends each batch's events in one store transaction (group commit). Nothing is
//! answered before its batch commits.

pub mod clock;
pub mod codec;
pub mod error;
pub mod ids;
pub mod recovery;
mod writer;

pub use clock::{Clock, SystemClock};
pub use error::EngineError;
pub use ids::{EventIds, RandomEventIds};
pub use recovery::{Recovered, recover};
pub use writer::{CommandRequest, Committed, Engine, EngineConfig, EngineHandle, EngineStats};
