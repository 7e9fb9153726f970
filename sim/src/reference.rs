//! A small, independent model of the balances: it knows nothing of the domain's code, only
//! what each acknowledged request asked for, and so checks the ledger from the outside.

use folio_domain::{AccountId, CommandKind, CreateMode, Currency, Ledger};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub debits_pending: Decimal,
    pub debits_posted: Decimal,
    pub credits_pending: Decimal,
    pub credits_posted: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Draft,
    Pending,
    Final,
}

#[derive(Debug, Clone)]
struct RefLeg {
    debit: AccountId,
    credit: AccountId,
    amount: Decimal,
}

#[derive(Debug, Clone)]
struct RefPayment {
    stage: Stage,
    legs: Vec<RefLeg>,
    expires: bool,
}

#[derive(Default)]
pub struct Reference {
    accounts: BTreeMap<AccountId, Counters>,
    payments: HashMap<folio_domain::PaymentId, RefPayment>,
    /// Commands that move money this model does not follow (transfers: the workload generates
    /// none). Any of them makes `compare` fail rather than pass on a wrong model.
    unmodelled: Vec<&'static str>,
}

impl Reference {
    /// Applies what an acknowledged (first-time or duplicate) command asked for.
    pub fn apply(&mut self, kind: &CommandKind) {
        match kind {
            CommandKind::OpenAccount(open) => {
                self.accounts.entry(open.account_id).or_default();
            }
            CommandKind::CreatePayment(create) => {
                let legs: Vec<RefLeg> = create
                    .legs
                    .iter()
                    .map(|leg| RefLeg {
                        debit: leg.debit.unwrap_or_else(|| settlement(leg.currency)),
                        credit: leg.credit.unwrap_or_else(|| settlement(leg.currency)),
                        amount: leg.amount,
                    })
                    .collect();
                let stage = match create.mode {
                    CreateMode::Draft => Stage::Draft,
                    CreateMode::Pending => {
                        self.hold(&legs, Decimal::ONE);
                        Stage::Pending
                    }
                    CreateMode::Posted => {
                        for leg in &legs {
                            self.post(leg, leg.amount);
                        }
                        Stage::Final
                    }
                };
                self.payments.insert(
                    create.payment_id,
                    RefPayment {
                        stage,
                        legs,
                        expires: create.expires_at.is_some(),
                    },
                );
            }
            CommandKind::PendPayment {
                payment_id,
                expires_at,
            } => {
                if let Some(mut payment) = self.payments.remove(payment_id) {
                    if payment.stage == Stage::Draft {
                        self.hold(&payment.legs, Decimal::ONE);
                        payment.stage = Stage::Pending;
                        payment.expires = expires_at.is_some();
                    }
                    self.payments.insert(*payment_id, payment);
                }
            }
            CommandKind::PostPayment { payment_id, amount } => {
                if let Some(mut payment) = self.payments.remove(payment_id) {
                    if payment.stage == Stage::Pending {
                        self.hold(&payment.legs, -Decimal::ONE);
                        let single = payment.legs.len() == 1;
                        for leg in &payment.legs {
                            let moved = match amount {
                                Some(amount) if single => *amount,
                                _ => leg.amount,
                            };
                            self.post(leg, moved);
                        }
                        payment.stage = Stage::Final;
                    }
                    self.payments.insert(*payment_id, payment);
                }
            }
            CommandKind::CancelPayment { payment_id, .. } => {
                if let Some(mut payment) = self.payments.remove(payment_id) {
                    if payment.stage == Stage::Pending {
                        self.hold(&payment.legs, -Decimal::ONE);
                    }
                    payment.stage = Stage::Final;
                    self.payments.insert(*payment_id, payment);
                }
            }
            // Expiry is the writer's own doing; `expire_all` settles it at the end.
            CommandKind::ExpirePayment { .. } => {}
            // Clients move no money; their blocks show up as refusals, which change nothing.
            CommandKind::RegisterClient { .. }
            | CommandKind::UpdateClient { .. }
            | CommandKind::BlockClient { .. }
            | CommandKind::UnblockClient { .. } => {}
            CommandKind::RenameAccount { .. }
            | CommandKind::ActivateAccount { .. }
            | CommandKind::BlockAccount { .. }
            | CommandKind::UnblockAccount { .. }
            | CommandKind::CloseAccount { .. }
            // Defaults and display order move no money either.
            | CommandKind::SetDefaultAccount { .. }
            | CommandKind::ReorderAccounts { .. }
            // Documents are paperwork: no money moves.
            | CommandKind::UploadDocument(_)
            | CommandKind::DeleteDocument { .. } => {}
            // Transfers move money through their payments, which this model does not derive
            // from transfer commands: the workload generates none, and one seen is reported.
            CommandKind::CreateOutgoingTransfer(_)
            | CommandKind::CreateFxTransfer(_)
            | CommandKind::ExecuteTransfer { .. }
            | CommandKind::ConfirmTransfer { .. }
            | CommandKind::CancelTransfer { .. }
            | CommandKind::StartTransferProcessing { .. }
            | CommandKind::SuspendTransfer { .. }
            | CommandKind::ContinueTransfer { .. }
            | CommandKind::RecordTransferOutcome { .. }
            | CommandKind::ReceiveIncomingTransfer(_)
            | CommandKind::AssignIncomingTransfer { .. } => self.unmodelled.push("transfer"),
            // Recipients and confirmations move no money.
            CommandKind::AddRecipient(_)
            | CommandKind::SetRecipientVisibility { .. }
            | CommandKind::IssueConfirmation(_)
            | CommandKind::VerifyConfirmation { .. } => {}
        }
    }

    /// Releases every hold that has an expiry: call once the clock is past all of them.
    pub fn expire_all(&mut self) {
        let expiring: Vec<folio_domain::PaymentId> = self
            .payments
            .iter()
            .filter(|(_, payment)| payment.stage == Stage::Pending && payment.expires)
            .map(|(id, _)| *id)
            .collect();
        for id in expiring {
            if let Some(mut payment) = self.payments.remove(&id) {
                self.hold(&payment.legs, -Decimal::ONE);
                payment.stage = Stage::Final;
                self.payments.insert(id, payment);
            }
        }
    }

    fn hold(&mut self, legs: &[RefLeg], sign: Decimal) {
        for leg in legs {
            self.accounts.entry(leg.debit).or_default().debits_pending += sign * leg.amount;
            self.accounts.entry(leg.credit).or_default().credits_pending += sign * leg.amount;
        }
    }

    fn post(&mut self, leg: &RefLeg, amount: Decimal) {
        self.accounts.entry(leg.debit).or_default().debits_posted += amount;
        self.accounts.entry(leg.credit).or_default().credits_posted += amount;
    }

    /// Compares with a ledger's accounts; names the first difference.
    pub fn compare(&self, ledger: &Ledger) -> Result<(), String> {
        if !self.unmodelled.is_empty() {
            return Err(format!(
                "{} acknowledged transfer commands: the reference model does not follow them",
                self.unmodelled.len()
            ));
        }
        let mut seen = 0usize;
        for account in ledger.accounts() {
            let found = Counters {
                debits_pending: account.debits_pending,
                debits_posted: account.debits_posted,
                credits_pending: account.credits_pending,
                credits_posted: account.credits_posted,
            };
            let expected = self.accounts.get(&account.id).copied().unwrap_or_default();
            if !same(&expected, &found) {
                return Err(format!(
                    "account {}: the reference model expects {expected:?}, the log says {found:?}",
                    account.id
                ));
            }
            if self.accounts.contains_key(&account.id) {
                seen += 1;
            }
        }
        if seen != self.accounts.len() {
            return Err(format!(
                "the reference model knows {} accounts, the log has {seen} of them",
                self.accounts.len()
            ));
        }
        Ok(())
    }
}

fn same(a: &Counters, b: &Counters) -> bool {
    // Decimals compare by value (1.0 == 1.00).
    a.debits_pending == b.debits_pending
        && a.debits_posted == b.debits_posted
        && a.credits_pending == b.credits_pending
        && a.credits_posted == b.credits_posted
}

fn settlement(currency: Currency) -> AccountId {
    Ledger::settlement_account_id(currency)
}
