//! `AppState`: what every handler shares — the engine, the read models, the projector, the
//! keys and the metrics — and the two things handlers do with them: run a command, read a row.

use crate::auth::{ApiKeys, Caller};
use crate::error::ApiError;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::rates::RateProvider;
use folio_domain::{CommandKind, FeeSchedule};
use folio_engine::codec::Trace;
use folio_engine::{CommandRequest, Committed, EngineHandle};
use folio_projections::{Projector, ReadModelStore};
use folio_store::EventStore;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long a query waits for `X-Folio-Min-Position` (and a retried command for the read models
/// to show its first answer).
pub const READ_YOUR_WRITES_TIMEOUT: Duration = Duration::from_secs(5);

/// Shared by every handler and middleware; cloned for each of them on every request, so it is
/// one `Arc` (a clone is one atomic increment, not one per field).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub engine: EngineHandle,
    pub log: Arc<dyn EventStore>,
    pub projector: Projector,
    pub keys: Arc<ApiKeys>,
    pub metrics: Arc<Metrics>,
    /// `/health/ready` fails when a read model is more events than this behind the log.
    pub ready_max_lag: u64,
    /// The time zone business days follow (the projector's), for reports over whole days.
    pub time_zone: chrono_tz::Tz,
    /// Where document bytes are kept (files under the data directory, or PostgreSQL).
    pub documents: Arc<dyn folio_store::ContentStore>,
    /// The largest document accepted, in bytes (`--max-document-bytes`).
    pub max_document_bytes: u64,
    /// Ops' background jobs (the balance check, daily-balance recalculations).
    pub jobs: Arc<Jobs>,
    /// Where FX transfers get their quotes.
    pub rates: Arc<dyn RateProvider>,
    /// The fee of an outgoing or internal transfer per rail, passed in with each command.
    pub fees: FeeSchedule,
    /// How one-time codes are made and sent.
    pub otp: crate::otp::OtpConfig,
}

impl AppState {
    pub fn models(&self) -> &dyn ReadModelStore {
        self.projector.models().as_ref()
    }

    /// The log and the live read models, as the replay tool's checks read them.
    pub fn replay_source(&self) -> folio_replay::Source {
        folio_replay::Source::live(self.log.clone(), self.projector.models().clone())
    }

    /// Runs a command: answers once its events are committed (durable), without waiting for
    /// the read models. The answer is built from the committed events (`crate::committed`).
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
        Ok(self.engine.execute(request).await?)
    }

    /// Waits until the read models include `position`, for the answers that must read an entity
    /// back (a retried command, whose first answer is only in the read models).
    pub async fn wait_for_read_models(&self, position: u64) -> Result<(), ApiError> {
        self.projector
            .wait_for(position, READ_YOUR_WRITES_TIMEOUT)
            .await
            .map_err(|error| match ApiError::from(error) {
                ApiError::ReadModelsBehind {
                    wanted, reached, ..
                } => ApiError::ReadModelsBehind {
                    wanted,
                    reached,
                    committed_at: Some(position),
                },
                other => other,
            })
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
