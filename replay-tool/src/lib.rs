//! folio-replay: the auditors' and ops' tools over Folio's event log (verify, history, as-of
//! balances, rebuild, daily check, export) and the seeded fixture generator.

pub mod compare;
pub mod daily;
pub mod error;
pub mod export;
pub mod fastdecode;
pub mod findings;
pub mod fixtures;
pub mod history;
pub mod page;
pub mod progress;
pub mod readonly;
pub mod repair;
pub mod scan;
pub mod source;
pub mod time;
pub mod verify;

pub use error::ReplayError;
pub use findings::{Finding, Report};
pub use source::Source;
