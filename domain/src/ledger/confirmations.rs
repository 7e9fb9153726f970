//! Confirmation decisions: issuing a code's hash, and the reusable check of a typed code that any
//! operation needing one (a transfer's confirmation, a plain verification) runs first.

use super::{Ledger, check_text, invalid};
use crate::command::{IssueConfirmation, OtpProof};
use crate::confirmation::{Confirmation, MAX_ATTEMPTS, NewConfirmation};
use crate::error::LedgerError;
use crate::event::*;
use crate::ids::{AccountId, ClientId, ConfirmationId, TransferId};
use crate::ledger::Receipt;
use chrono::{DateTime, Duration, Utc};

type Decided = Result<(Vec<Event>, Receipt), LedgerError>;

/// Longest validity a code may be issued with: one day.
pub const MAX_VALIDITY_MS: u64 = 24 * 60 * 60 * 1000;
/// Longest operation name accepted.
pub const MAX_OPERATION_LEN: usize = 64;

/// What checking a code found: the event to record either way.
pub(crate) enum CodeCheck {
    /// The code matched: the event spends it.
    Verified(Event),
    /// The code did not match: the event counts the attempt, and nothing else may happen.
    Failed(Event, ConfirmationId),
}

fn confirmation_event(confirmation: &Confirmation, event: ConfirmationEvent) -> Event {
    Event {
        body: EventBody::Confirmation(event),
        revision: confirmation.revision + 1,
        idempotency: None,
    }
}

impl Ledger {
    /// The event issuing `new` for `account_id` (and `transfer_id`), decided at `at`.
    pub(super) fn issue_event(
        &self,
        new: &NewConfirmation,
        account_id: AccountId,
        transfer_id: Option<TransferId>,
        operation: &str,
        at: DateTime<Utc>,
    ) -> Result<Event, LedgerError> {
        if self.confirmations.contains_key(&new.confirmation_id) {
            return Err(LedgerError::ConfirmationAlreadyExists(new.confirmation_id));
        }
        let account = self
            .accounts
            .get(&account_id)
            .ok_or(LedgerError::AccountNotFound(account_id))?;
        if account.client_id.is_none() {
            return Err(invalid(
                "a code confirms an operation on a client's account",
            ));
        }
        if operation.trim().is_empty() || operation.len() > MAX_OPERATION_LEN {
            return Err(invalid(format!(
                "operation: an operation is named with 1 to {MAX_OPERATION_LEN} bytes"
            )));
        }
        check_text("operation", operation)?;
        let is_hex = |text: &str, len: usize| {
            text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
        };
        // Only hashes are recorded: anything else in these fields could be a code in clear.
        if !is_hex(&new.code_hash, 64) || !is_hex(&new.salt, 32) {
            return Err(invalid(
                "a confirmation carries a SHA-256 hash (64 hex digits) and a 16-byte salt (32 hex digits)",
            ));
        }
        if new.valid_for_ms == 0 || new.valid_for_ms > MAX_VALIDITY_MS {
            return Err(invalid("a code is valid for 1 ms to one day"));
        }
        // Bounded above, so the cast and the addition cannot overflow.
        let expires_at = at + Duration::milliseconds(new.valid_for_ms as i64);
        Ok(Event {
            body: EventBody::Confirmation(ConfirmationEvent::Issued(Box::new(
                ConfirmationIssued {
                    confirmation_id: new.confirmation_id,
                    account_id,
                    transfer_id,
                    operation: operation.to_string(),
                    code_hash: new.code_hash.clone(),
                    salt: new.salt.clone(),
                    expires_at,
                },
            ))),
            revision: 0,
            idempotency: None,
        })
    }

    /// Checks `proof` against its confirmation at `at`. Refused (nothing recorded) when the code
    /// was used, the attempts are spent (the next one is refused even with the right code) or
    /// it has expired; otherwise the code's match or mismatch is an event to record.
    pub(crate) fn check_code(
        &self,
        proof: &OtpProof,
        at: DateTime<Utc>,
    ) -> Result<CodeCheck, LedgerError> {
        check_text("code", &proof.code)?;
        let id = proof.confirmation_id;
        let confirmation = self
            .confirmations
            .get(&id)
            .ok_or(LedgerError::ConfirmationNotFound(id))?;
        if confirmation.verified {
            return Err(LedgerError::OtpAlreadyUsed(id));
        }
        if confirmation.failed_attempts >= MAX_ATTEMPTS {
            return Err(LedgerError::OtpAttemptsExceeded(id));
        }
        if confirmation.is_expired_at(at) {
            return Err(LedgerError::OtpExpired(id));
        }
        let attempt = ConfirmationAttempt {
            confirmation_id: id,
            attempt: confirmation.failed_attempts + 1,
        };
        Ok(if confirmation.matches(&proof.code) {
            CodeCheck::Verified(confirmation_event(
                confirmation,
                ConfirmationEvent::Verified(attempt),
            ))
        } else {
            CodeCheck::Failed(
                confirmation_event(confirmation, ConfirmationEvent::AttemptFailed(attempt)),
                id,
            )
        })
    }

    pub(super) fn decide_issue(&self, issue: &IssueConfirmation, at: DateTime<Utc>) -> Decided {
        let event = self.issue_event(
            &issue.confirmation,
            issue.account_id,
            None,
            &issue.operation,
            at,
        )?;
        Ok((
            vec![event],
            Receipt::Confirmation(issue.confirmation.confirmation_id),
        ))
    }

    /// A plain verification (no transfer attached): the caller's client must own the account.
    pub(super) fn decide_verify(
        &self,
        confirmation_id: ConfirmationId,
        code: &str,
        client_id: Option<ClientId>,
        at: DateTime<Utc>,
    ) -> Decided {
        let not_found = LedgerError::ConfirmationNotFound(confirmation_id);
        let confirmation = self
            .confirmations
            .get(&confirmation_id)
            .ok_or(not_found.clone())?;
        if let Some(client_id) = client_id {
            let owner = self
                .accounts
                .get(&confirmation.account_id)
                .and_then(|account| account.client_id);
            if owner != Some(client_id) {
                return Err(not_found);
            }
        }
        if let Some(transfer_id) = confirmation.transfer_id {
            return Err(invalid(format!(
                "confirmation {confirmation_id} is for transfer {transfer_id}: confirm the transfer with it"
            )));
        }
        let proof = OtpProof {
            confirmation_id,
            code: code.to_string(),
        };
        Ok(match self.check_code(&proof, at)? {
            CodeCheck::Verified(event) => (vec![event], Receipt::Confirmation(confirmation_id)),
            CodeCheck::Failed(event, id) => (vec![event], Receipt::ConfirmationFailed(id)),
        })
    }

    pub(super) fn apply_confirmation(&mut self, event: &ConfirmationEvent, revision: u64) {
        if let ConfirmationEvent::Issued(issued) = event {
            self.confirmations.insert(
                issued.confirmation_id,
                Confirmation {
                    id: issued.confirmation_id,
                    account_id: issued.account_id,
                    transfer_id: issued.transfer_id,
                    operation: issued.operation.clone(),
                    code_hash: issued.code_hash.clone(),
                    salt: issued.salt.clone(),
                    expires_at: issued.expires_at,
                    failed_attempts: 0,
                    verified: false,
                    revision,
                },
            );
            return;
        }
        let Some(confirmation) = self.confirmations.get_mut(&event.confirmation_id()) else {
            return;
        };
        confirmation.revision = revision;
        match event {
            ConfirmationEvent::Issued(_) => {}
            ConfirmationEvent::AttemptFailed(attempt) => {
                confirmation.failed_attempts = attempt.attempt
            }
            ConfirmationEvent::Verified(_) => confirmation.verified = true,
        }
    }
}
