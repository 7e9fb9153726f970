//! The transfer process manager: follows the transfer read model and hands confirmed outgoing transfers to the rail.
//!
//! Each pass takes the outgoing transfers that are `confirmed` or `processing`:
//! - `confirmed`: records `StartTransferProcessing` (key `rail:{id}:start`) *before* calling the
//!   rail, so a cancel can no longer race a payout;
//! - `processing`: submits the transfer to the rail (the rail deduplicates on the transfer id),
//!   then records the provider's final answer as `RecordTransferOutcome` (key
//!   `rail:{id}:outcome`).
//!
//! Every step is keyed, so a pass repeated after a crash — between the start and the rail call,
//! or between the rail's answer and its record — resumes where the log says it is and never
//! moves money twice: the answer is recorded once, a repeat is a duplicate or refused.

use crate::rail::{PaymentRail, RailAnswer, RailInstruction};
use folio_domain::{CommandKind, LedgerError, TransferDirection, TransferId, TransferStatus};
use folio_engine::{CommandRequest, EngineError, EngineHandle};
use folio_projections::Projector;
use folio_projections::query::{MAX_PAGE_SIZE, PageRequest, TransferFilter};
use folio_projections::rows::TransferRow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a pass runs when nothing wakes it earlier.
const POLL: Duration = Duration::from_millis(250);

pub struct TransferManager {
    engine: EngineHandle,
    projector: Projector,
    rail: Arc<dyn PaymentRail>,
    /// Transfers the rail accepted without answering, in this process, with the number of
    /// steps in their history when submitted: not resubmitted every pass (a restart resubmits
    /// them once), but again once they moved (suspended, then continued or executed by ops).
    accepted: HashMap<TransferId, usize>,
}

impl TransferManager {
    pub fn new(engine: EngineHandle, projector: Projector, rail: Arc<dyn PaymentRail>) -> Self {
        TransferManager {
            engine,
            projector,
            rail,
            accepted: HashMap::new(),
        }
    }

    /// Runs passes until `stop` turns true.
    pub fn spawn(mut self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            // Woken when a batch changed the transfers (not after every commit: under a
            // payment load that was a read-model query per engine batch for nothing).
            let mut moved = self.projector.subscribe_transfers();
            loop {
                if *stop.borrow() {
                    return;
                }
                if let Err(error) = self.pass().await {
                    tracing::warn!(%error, "transfer process manager: pass failed, retrying");
                }
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = moved.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        })
    }

    /// One pass over the confirmed and processing outgoing transfers.
    pub async fn pass(&mut self) -> Result<(), String> {
        let filter = TransferFilter {
            directions: vec![TransferDirection::Outgoing],
            statuses: vec![TransferStatus::Confirmed, TransferStatus::Processing],
            ..TransferFilter::default()
        };
        let page = self
            .projector
            .models()
            .transfers(&filter, PageRequest::new(1, MAX_PAGE_SIZE))
            .await
            .map_err(|e| e.to_string())?;
        for row in page.items {
            self.advance(&row).await?;
        }
        Ok(())
    }

    async fn advance(&mut self, row: &TransferRow) -> Result<(), String> {
        let id = row.transfer_id;
        let mut steps = row.status_history.len();
        if row.status == TransferStatus::Confirmed {
            let start = CommandKind::StartTransferProcessing { transfer_id: id };
            if !self.record(start, format!("rail:{id}:start")).await? {
                return Ok(());
            }
            // The row in hand predates the start just recorded.
            steps += 1;
        } else if self.accepted.get(&id) == Some(&steps) {
            return Ok(());
        }
        let instruction = RailInstruction {
            transfer_id: id,
            transfer_type: row.transfer_type,
            beneficiary_account: row.details.beneficiary_account.clone(),
            amount: row.amount,
            currency: row.currency,
        };
        match self.rail.submit(&instruction).await {
            Ok(RailAnswer::Final(outcome)) => {
                let command = CommandKind::RecordTransferOutcome {
                    transfer_id: id,
                    outcome,
                };
                self.record(command, format!("rail:{id}:outcome")).await?;
            }
            Ok(RailAnswer::Accepted) => {
                self.accepted.insert(id, steps);
            }
            Err(error) => {
                tracing::warn!(transfer = %id, %error, "the rail did not take the transfer; retrying");
            }
        }
        Ok(())
    }

    /// Records a step; false when the ledger refused it because the transfer moved on (another
    /// path — ops, a provider notification, a cancel — got there first).
    async fn record(&self, kind: CommandKind, key: String) -> Result<bool, String> {
        let request = CommandRequest::new(kind).with_idempotency_key(key);
        match self.engine.execute(request).await {
            Ok(committed) => {
                // The next pass must see this step in the read model.
                self.projector
                    .wait_for(committed.position, Duration::from_secs(5))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(true)
            }
            Err(EngineError::Rejected(
                LedgerError::InvalidTransferState { .. } | LedgerError::IdempotencyConflict { .. },
            )) => Ok(false),
            Err(error) => Err(error.to_string()),
        }
    }
}
