//! `AppState`: what every handler shares — the engine, the read models, the projector, the
//! keys and the metrics — and the two things handlers do with them: run a command, read a row.

use crate::auth::{ApiKeys, Caller};
use crate::error::ApiError;
use crate::metrics::Metrics;
use folio_domain::CommandKind;
use folio_engine::codec::Trace;
use folio_engine::{CommandRequest, Committed, EngineHandle};
use folio_projections::{Projector, ReadModelStore};
use folio_store::EventStore;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long a command's answer waits for the read models to show its effect, and how long a
/// query waits for `X-Folio-Min-Position`.
pub const READ_YOUR_WRITES_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub log: Arc<dyn EventStore>,
    pub projector: Projector,
    pub keys: Arc<ApiKeys>,
    pub metrics: Arc<Metrics>,
    /// `/health/ready` fails when a read model is more events than this behind the log.
    pub ready_max_lag: u64,
    /// The time zone business days follow (the projector's), for reports over whole days.
    pub time_zone: chrono_tz::Tz,
}

impl AppState {
    pub fn models(&self) -> &dyn ReadModelStore {
        self.projector.models().as_ref()
    }

    /// Runs a command and waits until the read models include it, so the handler can answer
    /// with the entity as it now is.
    pub async fn execute(
        &self,
        kind: CommandKind,
        idempotency_key: Option<String>,
        correlation_id: Option<Uuid>,
    ) -> Result<Committed, ApiError> {
        let request = CommandRequest {
            kind,
            idempotency_key,
            trace: Trace {
                correlation_id,
                causation_id: None,
            },
        };
        let committed = self.engine.execute(request).await?;
        self.projector
            .wait_for(committed.position, READ_YOUR_WRITES_TIMEOUT)
            .await
            .map_err(|error| match ApiError::from(error) {
                ApiError::ReadModelsBehind {
                    wanted, reached, ..
                } => ApiError::ReadModelsBehind {
                    wanted,
                    reached,
                    committed_at: Some(committed.position),
                },
                other => other,
            })?;
        Ok(committed)
    }
}

/// Turns "not there" and "not yours" into the same 404, so a client key learns nothing about
/// other clients' accounts.
pub fn visible<T>(
    caller: &Caller,
    row: Option<T>,
    owner: impl Fn(&T) -> Option<folio_domain::ClientId>,
    what: impl FnOnce() -> String,
) -> Result<T, ApiError> {
    match row {
        Some(row) if caller.may_see(owner(&row)) => Ok(row),
        _ => Err(ApiError::NotFound(what())),
    }
}
