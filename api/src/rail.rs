//! The payment rail (the BaaS provider outside Folio) and its built-in, seeded simulator.
//!
//! `SimulatedRail` is the one simulator Folio ships: it stands in for a real provider by default
//! and in tests. Its answer to a transfer is a pure function of the seed and the transfer id
//! (an FNV-1a hash drawn against the rejection and failure rates), so resubmitting the same
//! transfer after a crash gets the same answer — as a real provider deduplicating on the
//! instruction id we send would. `--rail manual` makes it accept and never answer: the answer
//! then comes through `POST /internal/IncomingRequests/completed|rejected|failed`.

use async_trait::async_trait;
use folio_domain::{Currency, TransferId, TransferOutcome, TransferType};
use rust_decimal::Decimal;
use std::time::Duration;
use thiserror::Error;

/// What Folio asks the provider to pay out. `transfer_id` is the provider's idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct RailInstruction {
    pub transfer_id: TransferId,
    pub transfer_type: Option<TransferType>,
    pub beneficiary_account: Option<String>,
    pub amount: Decimal,
    pub currency: Currency,
}

/// The provider's answer to a submission.
#[derive(Debug, Clone, PartialEq)]
pub enum RailAnswer {
    /// Final: completed, rejected or failed.
    Final(TransferOutcome),
    /// Accepted; the answer comes later through the provider-notification routes.
    Accepted,
}

#[derive(Debug, Error)]
pub enum RailError {
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentRail: Send + Sync + 'static {
    /// Submits (or resubmits: the provider deduplicates on the transfer id) an instruction.
    async fn submit(&self, instruction: &RailInstruction) -> Result<RailAnswer, RailError>;
}

/// The simulator's knobs (`--rail-*` options of `folio serve`).
#[derive(Debug, Clone, PartialEq)]
pub struct RailSimulatorConfig {
    /// How long the "provider" takes to answer.
    pub delay: Duration,
    /// Share of transfers rejected (0.0–1.0).
    pub rejection_rate: f64,
    /// Share of transfers failed (0.0–1.0), drawn after the rejections.
    pub failure_rate: f64,
    pub seed: u64,
    /// Accept every submission and never answer (answers come through the internal routes).
    pub manual: bool,
}

impl Default for RailSimulatorConfig {
    fn default() -> Self {
        RailSimulatorConfig {
            delay: Duration::from_millis(200),
            rejection_rate: 0.0,
            failure_rate: 0.0,
            seed: 1,
            manual: false,
        }
    }
}

/// The built-in rail simulator (see the module docs).
pub struct SimulatedRail {
    config: RailSimulatorConfig,
}

impl SimulatedRail {
    pub fn new(config: RailSimulatorConfig) -> SimulatedRail {
        SimulatedRail { config }
    }

    /// A draw in [0, 1) fixed by the seed and the transfer id.
    fn draw(&self, transfer_id: TransferId) -> f64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ self.config.seed;
        for byte in transfer_id.0.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        (hash >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The answer this simulator gives to `transfer_id`, whenever asked.
    pub fn outcome(&self, transfer_id: TransferId) -> TransferOutcome {
        let draw = self.draw(transfer_id);
        if draw < self.config.rejection_rate {
            TransferOutcome::Rejected {
                reason: Some("simulated: the beneficiary bank refused the payment".into()),
            }
        } else if draw < self.config.rejection_rate + self.config.failure_rate {
            TransferOutcome::Failed {
                reason: Some("simulated: the provider could not execute the payment".into()),
            }
        } else {
            TransferOutcome::Completed {
                provider_reference: Some(format!("SIM-{}", transfer_id.0.simple())),
            }
        }
    }
}

#[async_trait]
impl PaymentRail for SimulatedRail {
    async fn submit(&self, instruction: &RailInstruction) -> Result<RailAnswer, RailError> {
        if self.config.manual {
            return Ok(RailAnswer::Accepted);
        }
        tokio::time::sleep(self.config.delay).await;
        Ok(RailAnswer::Final(self.outcome(instruction.transfer_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn the_same_transfer_always_gets_the_same_answer_and_the_rates_hold() {
        let rail = SimulatedRail::new(RailSimulatorConfig {
            rejection_rate: 0.2,
            failure_rate: 0.1,
            ..RailSimulatorConfig::default()
        });
        let (mut rejected, mut failed) = (0, 0);
        for n in 0..10_000u128 {
            let id = TransferId(Uuid::from_u128(n * 7919));
            assert_eq!(rail.outcome(id), rail.outcome(id));
            match rail.outcome(id) {
                TransferOutcome::Rejected { .. } => rejected += 1,
                TransferOutcome::Failed { .. } => failed += 1,
                TransferOutcome::Completed { .. } => {}
            }
        }
        assert!((1_700..2_300).contains(&rejected), "{rejected}");
        assert!((700..1_300).contains(&failed), "{failed}");
    }
}
