//! Transfer decisions: each step records its transfer event together with the payment event it drives.

use super::confirmations::CodeCheck;
use super::{
    INTERNAL_NUMBER_PREFIXES, Ledger, check_account_number, check_can_move, check_text, invalid,
    payment_event,
};
use crate::account::{AccountStatus, AccountType, BalancePolicy};
use crate::command::{
    CreateFxTransfer, CreateMode, CreatePayment, CreateTransfer, LegRequest, OtpProof,
    ReceiveTransfer,
};
use crate::error::LedgerError;
use crate::event::*;
use crate::fx::{MAX_QUOTE_VALIDITY_MS, fx_amounts};
use crate::ids::{AccountId, PaymentId, RecipientId, TransferId};
use crate::ledger::Receipt;
use crate::money::Currency;
use crate::payment::{Leg, Payment, PaymentStatus, PostedLeg};
use crate::transfer::{
    Transfer, TransferDirection, TransferOutcome, TransferStatus, TransferType,
    external_transfer_type, is_iban,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

type Decided = Result<(Vec<Event>, Receipt), LedgerError>;

/// A transfer step event at the revision after `transfer`'s plus `offset`.
fn step_event(transfer: &Transfer, offset: u64, event: TransferEvent) -> Event {
    Event {
        body: EventBody::Transfer(event),
        revision: transfer.revision + 1 + offset,
        idempotency: None,
    }
}

fn stepped(transfer_id: TransferId, reason: Option<String>) -> TransferStepped {
    TransferStepped {
        transfer_id,
        reason,
        provider_reference: None,
    }
}

fn check_optional_text(field: &str, text: &Option<String>) -> Result<(), LedgerError> {
    match text {
        Some(text) => check_text(field, text),
        None => Ok(()),
    }
}

/// A posted payment event's legs for a pending payment's holds, posted in full.
fn posted_in_full(legs: &[Leg]) -> Vec<PostedLeg> {
    legs.iter()
        .map(|leg| PostedLeg {
            debit: leg.debit,
            credit: leg.credit,
            currency: leg.currency,
            held: leg.amount,
            posted: leg.amount,
        })
        .collect()
}

/// The cancel event of a draft or pending payment at `offset` revisions after its current one
/// (the holds of a pending one are paid back).
fn cancel_event(payment: &Payment, offset: u64, reason: Option<String>) -> Event {
    let released = if payment.status == PaymentStatus::Pending {
        payment.legs.clone()
    } else {
        Vec::new()
    };
    let mut event = payment_event(
        payment,
        PaymentEvent::Cancelled(PaymentCancelled {
            payment_id: payment.id,
            released,
            reason,
        }),
    );
    event.revision += offset;
    event
}

impl Ledger {
    fn known_transfer(&self, id: TransferId) -> Result<&Transfer, LedgerError> {
        self.transfers
            .get(&id)
            .ok_or(LedgerError::TransferNotFound(id))
    }

    /// The transfer, if its status is one `allowed` for `action`.
    fn transfer_in(
        &self,
        id: TransferId,
        action: &'static str,
        allowed: &[TransferStatus],
    ) -> Result<&Transfer, LedgerError> {
        let transfer = self.known_transfer(id)?;
        if !allowed.contains(&transfer.status) {
            return Err(LedgerError::InvalidTransferState {
                transfer: id,
                status: transfer.status,
                action,
            });
        }
        Ok(transfer)
    }

    /// The transfer's payment; a transfer whose payment is unknown is a corrupted state.
    fn transfer_payment(
        &self,
        transfer: &Transfer,
    ) -> Result<std::borrow::Cow<'_, Payment>, LedgerError> {
        self.payment(transfer.payment_id)
            .ok_or(LedgerError::PaymentNotFound(transfer.payment_id))
    }

    pub(super) fn decide_create_transfer(
        &self,
        create: &CreateTransfer,
        at: DateTime<Utc>,
    ) -> Decided {
        if self.transfers.contains_key(&create.transfer_id) {
            return Err(LedgerError::TransferAlreadyExists(create.transfer_id));
        }
        check_optional_text("reference", &create.reference)?;
        check_optional_text("beneficiary name", &create.beneficiary_name)?;
        check_optional_text("beneficiary account", &create.beneficiary_account)?;
        create.currency.check_amount(create.amount)?;
        let source = self
            .accounts
            .get(&create.source_account_id)
            .ok_or(LedgerError::AccountNotFound(create.source_account_id))?;
        let Some(client_id) = source.client_id else {
            return Err(invalid(
                "a transfer is sent from a client's account, not one of the bank's",
            ));
        };
        // A saved recipient names the account and the name; otherwise the caller gives them.
        let (beneficiary, beneficiary_name) =
            match (&create.recipient_id, &create.beneficiary_account) {
                (Some(recipient_id), None) => {
                    let recipient = self.transfer_recipient(
                        RecipientId(*recipient_id),
                        client_id,
                        create.currency,
                    )?;
                    (recipient.account.as_str(), Some(recipient.name.clone()))
                }
                (None, Some(account)) => (account.as_str(), create.beneficiary_name.clone()),
                _ => {
                    return Err(invalid(
                        "give exactly one of recipientId and beneficiaryAccount",
                    ));
                }
            };
        let destination = self.account_by_number(beneficiary);
        let (direction, transfer_type, destination_id) = match destination {
            Some(account) if account.client_id.is_none() => {
                return Err(invalid(format!(
                    "account {beneficiary} is the bank's: it receives no transfers"
                )));
            }
            Some(account) => (
                TransferDirection::Internal,
                TransferType::Internal,
                Some(account.id),
            ),
            None => {
                if !is_iban(beneficiary) {
                    check_account_number(beneficiary)?;
                }
                (
                    TransferDirection::Outgoing,
                    external_transfer_type(beneficiary, create.currency),
                    None,
                )
            }
        };
        for fixed in [
            create.fees.internal,
            create.fees.sepa,
            create.fees.sepa_instant,
            create.fees.swift,
            create.fees.faster_payments,
        ] {
            if fixed.is_sign_negative() && !fixed.is_zero() {
                return Err(invalid("a fee in the fee schedule is negative"));
            }
        }
        let fee = create.fees.fee(transfer_type, create.currency);
        let mut legs = vec![LegRequest {
            debit: Some(create.source_account_id),
            credit: destination_id,
            amount: create.amount,
            currency: create.currency,
        }];
        let mut opened = Vec::new();
        if !fee.is_zero() {
            legs.push(self.fee_leg(create.source_account_id, fee, create.currency, &mut opened));
        }
        let payment = CreatePayment {
            payment_id: create.payment_id,
            legs,
            mode: CreateMode::Draft,
            description: create.description.clone(),
            external_id: None,
            metadata: Some(serde_json::json!({ "transferId": create.transfer_id.to_string() })),
            expires_at: None,
        };
        let (mut events, _) = self.decide_create_after(&payment, at, opened)?;
        if let Some(confirmation) = &create.confirmation {
            events.push(self.issue_event(
                confirmation,
                create.source_account_id,
                Some(create.transfer_id),
                "outgoingTransfer",
                at,
            )?);
        }
        // The transfer's event last: it carries the command's receipt.
        events.push(Event {
            body: EventBody::Transfer(TransferEvent::Created(Box::new(TransferCreated {
                transfer_id: create.transfer_id,
                direction,
                transfer_type,
                payment_id: create.payment_id,
                source_account_id: create.source_account_id,
                destination_account_id: destination_id,
                beneficiary_account: beneficiary.to_string(),
                beneficiary_name,
                recipient_id: create.recipient_id,
                amount: create.amount,
                currency: create.currency,
                fee,
                confirmation_id: create
                    .confirmation
                    .as_ref()
                    .map(|confirmation| confirmation.confirmation_id),
                reference: create.reference.clone(),
                description: create.description.clone(),
                fx: None,
            }))),
            revision: 0,
            idempotency: None,
        });
        Ok((events, Receipt::Transfer(create.transfer_id)))
    }

    /// A leg of `fee` from `source` to the bank's fee account, opened (into `opened`) the
    /// first time it is needed.
    fn fee_leg(
        &self,
        source: AccountId,
        fee: Decimal,
        currency: Currency,
        opened: &mut Vec<Event>,
    ) -> LegRequest {
        opened.extend(self.internal_opening(AccountType::Fee, currency));
        LegRequest {
            debit: Some(source),
            credit: Some(Ledger::internal_account_id(AccountType::Fee, currency)),
            amount: fee,
            currency,
        }
    }

    /// An FX transfer between two accounts of one client: its payment (a draft) takes the
    /// source amount into the source currency's FX position, the spread into the fee account,
    /// and pays the destination amount out of the destination currency's FX position.
    pub(super) fn decide_create_fx(&self, create: &CreateFxTransfer, at: DateTime<Utc>) -> Decided {
        if self.transfers.contains_key(&create.transfer_id) {
            return Err(LedgerError::TransferAlreadyExists(create.transfer_id));
        }
        let (from, to) = (create.source_currency, create.destination_currency);
        if from == to {
            return Err(invalid(format!(
                "an FX transfer converts between two currencies, not {from} to {from}"
            )));
        }
        let amounts = fx_amounts(
            create.source_amount,
            create.destination_amount,
            from,
            to,
            &create.quote,
        )?;
        let mut quote = create.quote.clone();
        if let Some(valid_for_ms) = create.quote_valid_for_ms {
            if quote.expires_at.is_some() {
                return Err(invalid(
                    "a quote carries its expiry or is given a validity, not both",
                ));
            }
            let valid_for = i64::try_from(valid_for_ms)
                .ok()
                .filter(|ms| (1..=MAX_QUOTE_VALIDITY_MS).contains(ms))
                .ok_or_else(|| {
                    invalid(format!(
                        "a quote is valid for 1 to {MAX_QUOTE_VALIDITY_MS} ms, not {valid_for_ms}"
                    ))
                })?;
            quote.expires_at = Some(at + chrono::Duration::milliseconds(valid_for));
        }
        // After the quote's terms are checked, so a malformed quote is named as such.
        if let Some(expired_at) = quote.expires_at
            && at > expired_at
        {
            return Err(LedgerError::FxQuoteExpired {
                transfer: create.transfer_id,
                expired_at,
            });
        }
        let mut clients = Vec::with_capacity(2);
        for (id, currency) in [
            (create.source_account_id, from),
            (create.destination_account_id, to),
        ] {
            let account = self
                .accounts
                .get(&id)
                .ok_or(LedgerError::AccountNotFound(id))?;
            let Some(client_id) = account.client_id else {
                return Err(invalid(format!(
                    "account {id} is the bank's: an FX transfer is between a client's accounts"
                )));
            };
            if account.currency != currency {
                return Err(LedgerError::CurrencyMismatch {
                    account: id,
                    account_currency: account.currency,
                    payment_currency: currency,
                });
            }
            clients.push(client_id);
        }
        if clients[0] != clients[1] {
            return Err(invalid(
                "an FX transfer is between two accounts of the same client",
            ));
        }
        let mut opened: Vec<Event> = [
            (AccountType::FxPosition, from),
            (AccountType::FxPosition, to),
        ]
        .into_iter()
        .filter_map(|(kind, currency)| self.internal_opening(kind, currency))
        .collect();
        let mut legs = vec![
            LegRequest {
                debit: Some(create.source_account_id),
                credit: Some(Ledger::internal_account_id(AccountType::FxPosition, from)),
                amount: amounts.source,
                currency: from,
            },
            LegRequest {
                debit: Some(Ledger::internal_account_id(AccountType::FxPosition, to)),
                credit: Some(create.destination_account_id),
                amount: amounts.destination,
                currency: to,
            },
        ];
        if !amounts.fee.is_zero() {
            legs.push(self.fee_leg(create.source_account_id, amounts.fee, from, &mut opened));
        }
        let payment = CreatePayment {
            payment_id: create.payment_id,
            legs,
            mode: CreateMode::Draft,
            description: Some(format!("FX {from} → {to}")),
            external_id: None,
            metadata: Some(serde_json::json!({ "transferId": create.transfer_id.to_string() })),
            expires_at: None,
        };
        let (mut events, _) = self.decide_create_after(&payment, at, opened)?;
        // Quoting money the client cannot move is refused now, not only at confirmation.
        let Some(EventBody::Payment(PaymentEvent::Created(drafted))) =
            events.last().map(|event| &event.body)
        else {
            return Err(invalid("the FX payment was not drafted"));
        };
        let pending: Vec<_> = events.iter().filter_map(super::opened_account).collect();
        check_can_move(
            &drafted.legs,
            |id| {
                self.accounts
                    .get(&id)
                    .or_else(|| pending.iter().find(|account| account.id == id))
            },
            |id| self.client_is_blocked(id),
        )?;
        let number = self
            .accounts
            .get(&create.destination_account_id)
            .map(|account| account.number.clone())
            .unwrap_or_default();
        events.push(Event {
            body: EventBody::Transfer(TransferEvent::Created(Box::new(TransferCreated {
                transfer_id: create.transfer_id,
                direction: TransferDirection::ForeignExchange,
                transfer_type: TransferType::Internal,
                payment_id: create.payment_id,
                source_account_id: create.source_account_id,
                destination_account_id: Some(create.destination_account_id),
                beneficiary_account: number,
                beneficiary_name: None,
                recipient_id: None,
                amount: amounts.source,
                currency: from,
                fee: amounts.fee,
                reference: None,
                description: None,
                // Between one client's own accounts: no code to confirm with.
                confirmation_id: None,
                fx: Some(FxTerms {
                    destination_amount: amounts.destination,
                    destination_currency: to,
                    quote,
                }),
            }))),
            revision: 0,
            idempotency: None,
        });
        Ok((events, Receipt::Transfer(create.transfer_id)))
    }

    /// The code check a transfer's confirmation needs: none for a transfer issued without a
    /// confirmation; otherwise the code of its own confirmation, checked (`Err` refuses,
    /// `Ok(Some(Failed))` records the failed attempt alone).
    pub(crate) fn transfer_code_check(
        &self,
        transfer: &Transfer,
        otp: Option<&OtpProof>,
        at: DateTime<Utc>,
    ) -> Result<Option<CodeCheck>, LedgerError> {
        match (transfer.confirmation_id, otp) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(invalid(format!(
                "transfer {} was issued without a one-time code: confirm it without one",
                transfer.id
            ))),
            (Some(_), None) => Err(LedgerError::OtpRequired(transfer.id)),
            (Some(expected), Some(proof)) if proof.confirmation_id != expected => {
                Err(LedgerError::ConfirmationNotFound(proof.confirmation_id))
            }
            (Some(_), Some(proof)) => self.check_code(proof, at).map(Some),
        }
    }

    /// Pends the payment (funds held); an internal or FX transfer is posted and completed too.
    /// The code is checked first: a wrong one records only its failed attempt.
    pub(super) fn decide_confirm_transfer(
        &self,
        transfer_id: TransferId,
        otp: Option<&OtpProof>,
        at: DateTime<Utc>,
    ) -> Decided {
        let transfer = self.transfer_in(
            transfer_id,
            "confirm",
            &[TransferStatus::PendingConfirmation],
        )?;
        // Checked before the code, so a late confirmation spends no attempt.
        if let Some(expired_at) = transfer.quote_expires_at
            && at > expired_at
        {
            return Err(LedgerError::FxQuoteExpired {
                transfer: transfer_id,
                expired_at,
            });
        }
        let verified = match self.transfer_code_check(transfer, otp, at)? {
            None => None,
            Some(CodeCheck::Failed(event, id)) => {
                return Ok((vec![event], Receipt::ConfirmationFailed(id)));
            }
            Some(CodeCheck::Verified(event)) => Some(event),
        };
        let payment = self.transfer_payment(transfer)?;
        let (mut events, _) = self.decide_pend(payment.id, None, at)?;
        if let Some(verified) = verified {
            events.insert(0, verified);
        }
        events.push(step_event(
            transfer,
            0,
            TransferEvent::Confirmed(stepped(transfer_id, None)),
        ));
        if matches!(
            transfer.direction,
            TransferDirection::Internal | TransferDirection::ForeignExchange
        ) {
            let mut posted = payment_event(
                &payment,
                PaymentEvent::Posted(PaymentPosted {
                    payment_id: payment.id,
                    legs: posted_in_full(&payment.legs),
                }),
            );
            posted.revision += 1;
            // The payment events first, then the transfer's: the last one carries the receipt.
            let after_pend = events
                .iter()
                .position(|event| matches!(event.body, EventBody::Payment(_)))
                .map_or(0, |pend| pend + 1);
            events.insert(after_pend, posted);
            events.push(step_event(
                transfer,
                1,
                TransferEvent::Completed(stepped(transfer_id, None)),
            ));
        }
        Ok((events, Receipt::Transfer(transfer_id)))
    }

    pub(super) fn decide_cancel_transfer(
        &self,
        transfer_id: TransferId,
        reason: &Option<String>,
    ) -> Decided {
        check_optional_text("reason", reason)?;
        let transfer = self.transfer_in(
            transfer_id,
            "cancel",
            &[
                TransferStatus::PendingConfirmation,
                TransferStatus::Confirmed,
            ],
        )?;
        let payment = self.transfer_payment(transfer)?;
        let events = vec![
            cancel_event(&payment, 0, reason.clone()),
            step_event(
                transfer,
                0,
                TransferEvent::Cancelled(stepped(transfer_id, reason.clone())),
            ),
        ];
        Ok((events, Receipt::Transfer(transfer_id)))
    }

    pub(super) fn decide_start_processing(&self, transfer_id: TransferId) -> Decided {
        let transfer = self.transfer_in(transfer_id, "process", &[TransferStatus::Confirmed])?;
        let event = step_event(
            transfer,
            0,
            TransferEvent::ProcessingStarted(stepped(transfer_id, None)),
        );
        Ok((vec![event], Receipt::Transfer(transfer_id)))
    }

    /// Ops' manual execution of an outgoing transfer: a confirmed one starts processing now, a
    /// suspended one resumes; either way the process manager hands it to the rail.
    pub(super) fn decide_execute(&self, transfer_id: TransferId) -> Decided {
        let transfer = self.transfer_in(
            transfer_id,
            "execute",
            &[TransferStatus::Confirmed, TransferStatus::Suspended],
        )?;
        if transfer.direction != TransferDirection::Outgoing {
            return Err(LedgerError::InvalidTransferState {
                transfer: transfer_id,
                status: transfer.status,
                action: "execute a transfer that is not outgoing",
            });
        }
        let step = stepped(transfer_id, Some("manual execution".to_string()));
        let event = if transfer.status == TransferStatus::Confirmed {
            TransferEvent::ProcessingStarted(step)
        } else {
            TransferEvent::Continued(step)
        };
        Ok((
            vec![step_event(transfer, 0, event)],
            Receipt::Transfer(transfer_id),
        ))
    }

    pub(super) fn decide_suspend(
        &self,
        transfer_id: TransferId,
        reason: &Option<String>,
    ) -> Decided {
        check_optional_text("reason", reason)?;
        let transfer = self.transfer_in(transfer_id, "suspend", &[TransferStatus::Processing])?;
        let event = step_event(
            transfer,
            0,
            TransferEvent::Suspended(stepped(transfer_id, reason.clone())),
        );
        Ok((vec![event], Receipt::Transfer(transfer_id)))
    }

    pub(super) fn decide_continue(&self, transfer_id: TransferId) -> Decided {
        let transfer = self.transfer_in(transfer_id, "continue", &[TransferStatus::Suspended])?;
        let event = step_event(
            transfer,
            0,
            TransferEvent::Continued(stepped(transfer_id, None)),
        );
        Ok((vec![event], Receipt::Transfer(transfer_id)))
    }

    /// The provider's answer: only a transfer handed to the rail (processing) takes one.
    pub(super) fn decide_outcome(
        &self,
        transfer_id: TransferId,
        outcome: &TransferOutcome,
    ) -> Decided {
        let transfer = self.transfer_in(
            transfer_id,
            "record the provider's answer on",
            &[TransferStatus::Processing],
        )?;
        let payment = self.transfer_payment(transfer)?;
        if payment.status != PaymentStatus::Pending {
            return Err(LedgerError::InvalidPaymentState {
                payment: payment.id,
                status: payment.status,
                action: "settle the transfer",
            });
        }
        let events = match outcome {
            TransferOutcome::Completed { provider_reference } => {
                check_optional_text("provider reference", provider_reference)?;
                vec![
                    payment_event(
                        &payment,
                        PaymentEvent::Posted(PaymentPosted {
                            payment_id: payment.id,
                            legs: posted_in_full(&payment.legs),
                        }),
                    ),
                    step_event(
                        transfer,
                        0,
                        TransferEvent::Completed(TransferStepped {
                            transfer_id,
                            reason: None,
                            provider_reference: provider_reference.clone(),
                        }),
                    ),
                ]
            }
            TransferOutcome::Rejected { reason } | TransferOutcome::Failed { reason } => {
                check_optional_text("reason", reason)?;
                let step = stepped(transfer_id, reason.clone());
                let event = if matches!(outcome, TransferOutcome::Rejected { .. }) {
                    TransferEvent::Rejected(step)
                } else {
                    TransferEvent::Failed(step)
                };
                vec![
                    cancel_event(&payment, 0, reason.clone()),
                    step_event(transfer, 0, event),
                ]
            }
        };
        Ok((events, Receipt::Transfer(transfer_id)))
    }

    /// The account an incoming transfer names, if it can take the money: a client's account in
    /// the transfer's currency, neither blocked nor closed.
    fn beneficiary_for(&self, number: &str, currency: Currency) -> Option<AccountId> {
        self.account_by_number(number)
            .filter(|account| {
                account.client_id.is_some()
                    && account.currency == currency
                    && matches!(
                        account.status,
                        AccountStatus::Active | AccountStatus::Inactive
                    )
            })
            .map(|account| account.id)
    }

    /// The opening of the bank's `account_type` account for `currency`, when it does not exist.
    fn internal_opening(&self, account_type: AccountType, currency: Currency) -> Option<Event> {
        let id = Ledger::internal_account_id(account_type, currency);
        if self.accounts.contains_key(&id) {
            return None;
        }
        let prefix = INTERNAL_NUMBER_PREFIXES
            .iter()
            .find(|(_, kind)| *kind == account_type)
            .map_or("SETTLEMENT-", |(prefix, _)| prefix);
        let name = prefix.trim_end_matches('-').to_lowercase();
        Some(Event {
            body: EventBody::Account(AccountEvent::Opened(AccountOpened {
                account_id: id,
                number: format!("{prefix}{}", currency.code()),
                client_id: None,
                currency,
                account_type,
                status: AccountStatus::Active,
                name: Some(format!("{} {name}", currency.code())),
                policy: BalancePolicy::for_type(account_type, Decimal::ZERO),
            })),
            revision: 0,
            idempotency: None,
        })
    }

    /// Posts the pay-in (settlement → beneficiary, or → suspense) with the transfer's record.
    pub(super) fn decide_receive(&self, receive: &ReceiveTransfer) -> Decided {
        if self.transfers.contains_key(&receive.transfer_id) {
            return Err(LedgerError::TransferAlreadyExists(receive.transfer_id));
        }
        if self.has_payment(receive.payment_id) {
            return Err(LedgerError::PaymentAlreadyExists(receive.payment_id));
        }
        receive.currency.check_amount(receive.amount)?;
        if receive.provider_reference.is_empty() {
            return Err(invalid("the provider reference is empty"));
        }
        for (field, text) in [
            ("provider reference", Some(&receive.provider_reference)),
            ("beneficiary account", Some(&receive.beneficiary_account)),
            ("payer name", receive.payer_name.as_ref()),
            ("payer account", receive.payer_account.as_ref()),
            ("reference", receive.reference.as_ref()),
        ] {
            if let Some(text) = text {
                check_text(field, text)?;
            }
        }
        let currency = receive.currency;
        let destination = self.beneficiary_for(&receive.beneficiary_account, currency);
        let mut events: Vec<Event> = [AccountType::Settlement, AccountType::Suspense]
            .into_iter()
            .filter(|kind| *kind == AccountType::Settlement || destination.is_none())
            .filter_map(|kind| self.internal_opening(kind, currency))
            .collect();
        let credit = destination
            .unwrap_or_else(|| Ledger::internal_account_id(AccountType::Suspense, currency));
        events.push(Event {
            body: EventBody::Payment(PaymentEvent::Created(PaymentCreated {
                payment_id: receive.payment_id,
                status: PaymentStatus::Posted,
                legs: vec![Leg {
                    debit: Ledger::settlement_account_id(currency),
                    credit,
                    amount: receive.amount,
                    currency,
                }],
                description: receive.reference.clone(),
                external_id: None,
                metadata: Some(
                    serde_json::json!({ "transferId": receive.transfer_id.to_string() }),
                ),
                expires_at: None,
            })),
            revision: 0,
            idempotency: None,
        });
        events.push(Event {
            body: EventBody::Transfer(TransferEvent::Received(Box::new(TransferReceived {
                transfer_id: receive.transfer_id,
                payment_id: receive.payment_id,
                provider_reference: receive.provider_reference.clone(),
                amount: receive.amount,
                currency,
                payer_name: receive.payer_name.clone(),
                payer_account: receive.payer_account.clone(),
                beneficiary_account: receive.beneficiary_account.clone(),
                reference: receive.reference.clone(),
                destination_account_id: destination,
            }))),
            revision: 0,
            idempotency: None,
        });
        let outcome = stepped(receive.transfer_id, None);
        events.push(Event {
            body: EventBody::Transfer(match destination {
                Some(_) => TransferEvent::Completed(outcome),
                None => TransferEvent::Unrecognized(outcome),
            }),
            revision: 1,
            idempotency: None,
        });
        Ok((events, Receipt::Transfer(receive.transfer_id)))
    }

    /// Moves the money of an unrecognized incoming transfer from suspense to `account_id`.
    pub(super) fn decide_assign(
        &self,
        transfer_id: TransferId,
        account_id: AccountId,
        payment_id: PaymentId,
        at: DateTime<Utc>,
    ) -> Decided {
        let transfer = self.transfer_in(transfer_id, "assign", &[TransferStatus::Unrecognized])?;
        let account = self
            .accounts
            .get(&account_id)
            .ok_or(LedgerError::AccountNotFound(account_id))?;
        if account.client_id.is_none() {
            return Err(invalid(format!(
                "account {account_id} is the bank's: assign to a client's account"
            )));
        }
        let suspense = Ledger::internal_account_id(AccountType::Suspense, transfer.currency);
        let legs = [Leg {
            debit: suspense,
            credit: account_id,
            amount: transfer.amount,
            currency: transfer.currency,
        }];
        check_can_move(&legs, |id| self.accounts.get(&id), |_| false)?;
        let payment = CreatePayment {
            payment_id,
            legs: vec![LegRequest {
                debit: Some(suspense),
                credit: Some(account_id),
                amount: transfer.amount,
                currency: transfer.currency,
            }],
            mode: CreateMode::Posted,
            description: Some("assigned incoming transfer".to_string()),
            external_id: None,
            metadata: Some(serde_json::json!({ "transferId": transfer_id.to_string() })),
            expires_at: None,
        };
        let (mut events, _) = self.decide_create(&payment, at)?;
        events.push(step_event(
            transfer,
            0,
            TransferEvent::Assigned(TransferAssigned {
                transfer_id,
                account_id,
                payment_id,
            }),
        ));
        events.push(step_event(
            transfer,
            1,
            TransferEvent::Completed(stepped(transfer_id, None)),
        ));
        Ok((events, Receipt::Transfer(transfer_id)))
    }

    pub(super) fn apply_transfer(&mut self, event: &TransferEvent, revision: u64) {
        let id = event.transfer_id();
        match event {
            TransferEvent::Created(created) => {
                self.transfers.insert(
                    id,
                    Transfer {
                        id,
                        direction: created.direction,
                        status: TransferStatus::PendingConfirmation,
                        payment_id: created.payment_id,
                        amount: created.amount,
                        currency: created.currency,
                        revision,
                        confirmation_id: created.confirmation_id,
                        quote_expires_at: created.fx.as_ref().and_then(|fx| fx.quote.expires_at),
                    },
                );
                return;
            }
            TransferEvent::Received(received) => {
                self.transfers.insert(
                    id,
                    Transfer {
                        id,
                        direction: TransferDirection::Incoming,
                        status: TransferStatus::Received,
                        payment_id: received.payment_id,
                        amount: received.amount,
                        currency: received.currency,
                        revision,
                        confirmation_id: None,
                        quote_expires_at: None,
                    },
                );
                return;
            }
            _ => {}
        }
        let Some(transfer) = self.transfers.get_mut(&id) else {
            return;
        };
        transfer.revision = revision;
        transfer.status = match event {
            TransferEvent::Created(_) => TransferStatus::PendingConfirmation,
            TransferEvent::Received(_) => TransferStatus::Received,
            TransferEvent::Confirmed(_) => TransferStatus::Confirmed,
            TransferEvent::ProcessingStarted(_) | TransferEvent::Continued(_) => {
                TransferStatus::Processing
            }
            TransferEvent::Suspended(_) => TransferStatus::Suspended,
            TransferEvent::Completed(_) => TransferStatus::Completed,
            TransferEvent::Rejected(_) => TransferStatus::Rejected,
            TransferEvent::Failed(_) => TransferStatus::Failed,
            TransferEvent::Cancelled(_) => TransferStatus::Cancelled,
            TransferEvent::Unrecognized(_) => TransferStatus::Unrecognized,
            TransferEvent::Assigned(assigned) => {
                transfer.payment_id = assigned.payment_id;
                TransferStatus::Assigned
            }
        };
    }
}
