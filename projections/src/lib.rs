//! Folio's read side: projector workers turn the event log into read models — account
//! balances, statement lines (transactions), daily balances, payments, transfers and totals —
//! on SQLite (their own file beside the log) or PostgreSQL.

pub mod daily;
pub mod error;
pub mod fold;
mod fold_documents;
mod fold_recipients;
mod fold_transfers;
pub mod postgres;
pub mod query;
pub mod rows;
pub mod runner;
pub mod sqlite;
pub mod store;

pub use error::ProjectionError;
pub use fold::{Changes, Fold, FoldScope, FoldState, LineText, PaymentText, RowTexts};
pub use runner::{PauseGuard, Projector, ProjectorConfig, ProjectorWorker, RebuildProgress};
pub use store::{ReadModelStore, Tables};

use folio_store::open::{StoreLocation, parse_url};
use std::sync::Arc;

/// Opens the read models a location names, with the same grammar as the log's URL:
/// `postgres://…`/`postgresql://…` for PostgreSQL, `sqlite://path` or a plain path for SQLite.
pub async fn open_read_models(location: &str) -> Result<Arc<dyn ReadModelStore>, ProjectionError> {
    let parsed = parse_url(location).map_err(|error| match error {
        folio_store::StoreError::InvalidUrl { url, reason } => {
            ProjectionError::InvalidUrl { url, reason }
        }
        other => ProjectionError::InvalidUrl {
            url: location.to_string(),
            reason: other.to_string(),
        },
    })?;
    match parsed {
        StoreLocation::Postgres(url) => Ok(Arc::new(postgres::PgReadModels::connect(&url).await?)),
        StoreLocation::Sqlite(path) => {
            // Opening a file and creating its schema blocks: off the async workers.
            let models = tokio::task::spawn_blocking(move || sqlite::SqliteReadModels::open(&path))
                .await
                .map_err(|e| ProjectionError::WorkerGone(e.to_string()))??;
            Ok(Arc::new(models))
        }
    }
}
