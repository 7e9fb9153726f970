//! The transfer read model's part of the fold: one row per transfer, its status history appended per step.

use crate::fold::Fold;
use crate::rows::{TransferDetails, TransferRow, TransferStep};
use chrono::{DateTime, Utc};
use folio_domain::{TransferDirection, TransferEvent, TransferStatus, TransferType};

impl Fold {
    pub(crate) fn apply_transfer(
        &mut self,
        position: u64,
        at: DateTime<Utc>,
        event: &TransferEvent,
    ) {
        let id = event.transfer_id();
        let step = |status, reason: Option<String>| TransferStep { status, at, reason };
        let row = match event {
            TransferEvent::Created(created) => TransferRow {
                transfer_id: id,
                direction: created.direction,
                status: TransferStatus::PendingConfirmation,
                transfer_type: Some(created.transfer_type),
                source_account_id: Some(created.source_account_id),
                destination_account_id: created.destination_account_id,
                recipient_id: created.recipient_id,
                amount: created.amount,
                currency: created.currency,
                fee: created.fee,
                rate: created.fx.as_ref().map(|fx| fx.quote.rate),
                destination_amount: created.fx.as_ref().map(|fx| fx.destination_amount),
                destination_currency: created.fx.as_ref().map(|fx| fx.destination_currency),
                reference: created.reference.clone(),
                payment_id: created.payment_id,
                status_history: vec![step(TransferStatus::PendingConfirmation, None)],
                details: TransferDetails {
                    beneficiary_account: Some(created.beneficiary_account.clone()),
                    beneficiary_name: created.beneficiary_name.clone(),
                    description: created.description.clone(),
                    quote: created.fx.as_ref().map(|fx| fx.quote.clone()),
                    confirmation_id: created.confirmation_id.map(|id| id.0),
                    ..TransferDetails::default()
                },
                created_at: at,
                updated_at: at,
                last_position: position,
            },
            TransferEvent::Received(received) => TransferRow {
                transfer_id: id,
                direction: TransferDirection::Incoming,
                status: TransferStatus::Received,
                transfer_type: None::<TransferType>,
                source_account_id: None,
                destination_account_id: received.destination_account_id,
                recipient_id: None,
                amount: received.amount,
                currency: received.currency,
                fee: rust_decimal::Decimal::ZERO,
                rate: None,
                destination_amount: None,
                destination_currency: None,
                reference: received.reference.clone(),
                payment_id: received.payment_id,
                status_history: vec![step(TransferStatus::Received, None)],
                details: TransferDetails {
                    beneficiary_account: Some(received.beneficiary_account.clone()),
                    payer_name: received.payer_name.clone(),
                    payer_account: received.payer_account.clone(),
                    provider_reference: Some(received.provider_reference.clone()),
                    ..TransferDetails::default()
                },
                created_at: at,
                updated_at: at,
                last_position: position,
            },
            _ => {
                let Some(mut row) = self.take_open_transfer(id) else {
                    // A transfer the read model never saw open: nothing to update safely.
                    return;
                };
                let (status, reason) = match event {
                    TransferEvent::Created(_) | TransferEvent::Received(_) => return,
                    TransferEvent::Confirmed(_) => (TransferStatus::Confirmed, None),
                    // The reason is set when ops executed it by hand.
                    TransferEvent::ProcessingStarted(e) | TransferEvent::Continued(e) => {
                        (TransferStatus::Processing, e.reason.clone())
                    }
                    TransferEvent::Suspended(e) => (TransferStatus::Suspended, e.reason.clone()),
                    TransferEvent::Completed(e) => {
                        if e.provider_reference.is_some() {
                            row.details.provider_reference = e.provider_reference.clone();
                        }
                        (TransferStatus::Completed, None)
                    }
                    TransferEvent::Rejected(e) => (TransferStatus::Rejected, e.reason.clone()),
                    TransferEvent::Failed(e) => (TransferStatus::Failed, e.reason.clone()),
                    TransferEvent::Cancelled(e) => (TransferStatus::Cancelled, e.reason.clone()),
                    TransferEvent::Unrecognized(_) => (TransferStatus::Unrecognized, None),
                    TransferEvent::Assigned(assigned) => {
                        row.details.received_payment_id = Some(row.payment_id);
                        row.payment_id = assigned.payment_id;
                        row.destination_account_id = Some(assigned.account_id);
                        (TransferStatus::Assigned, None)
                    }
                };
                row.status = status;
                row.status_history.push(step(status, reason));
                row.updated_at = at;
                row.last_position = position;
                row
            }
        };
        self.keep_transfer(row);
    }
}
