//! Command answers built from what the writer committed, not read back from the read models.
//!
//! The engine answers a command with its events and the state of the accounts they touched as
//! the writer decided them (`Committed::accounts`). Folding those events over that state with
//! the projections' own fold gives exactly the rows the read models will show once they reach
//! the command's position — the payment, its new statement lines with their running balances,
//! the accounts — without waiting for the projectors. Reads stay read-your-writes through
//! `X-Folio-Position` / `X-Folio-Min-Position`.

use chrono::{DateTime, Utc};
use folio_domain::Account;
use folio_engine::Committed;
use folio_projections::rows::{AccountRow, PaymentRow, TransactionRow};
use folio_projections::{Changes, Fold, FoldScope, FoldState};

/// The log position of the command's first event (its events are the last ones up to
/// `committed.position`).
pub fn first_position(committed: &Committed) -> u64 {
    (committed.position + 1).saturating_sub(committed.events.len() as u64)
}

/// Folds the command's events over the state they were decided against. `open_payment` is the
/// payment's row just before the command (None when the command creates it).
pub fn fold(
    committed: &Committed,
    time_zone: chrono_tz::Tz,
    open_payment: Option<PaymentRow>,
) -> Changes {
    let first = first_position(committed);
    let state = FoldState {
        accounts: committed
            .accounts
            .iter()
            .map(|account| account_row(account, committed.at))
            .collect(),
        latest_days: Vec::new(),
        open_payments: open_payment.into_iter().collect(),
        clients: Vec::new(),
        open_transfers: Vec::new(),
        position: first.saturating_sub(1),
    };
    let mut fold = Fold::new(FoldScope::Ledger, time_zone, state);
    for (offset, event) in committed.events.iter().enumerate() {
        fold.apply(first + offset as u64, committed.at, &event.body);
    }
    fold.take_changes()
}

/// The read-model row of an account as the writer holds it. The writer keeps no timestamps:
/// `created_at` and `updated_at` are `at` (a caller that knows the opening time sets it).
fn account_row(account: &Account, at: DateTime<Utc>) -> AccountRow {
    AccountRow {
        account_id: account.id,
        number: account.number.clone(),
        client_id: account.client_id,
        currency: account.currency,
        account_type: account.account_type,
        status: account.status,
        name: account.name.clone(),
        overdraft_limit: account.policy.overdraft_limit,
        debits_pending: account.debits_pending,
        debits_posted: account.debits_posted,
        credits_pending: account.credits_pending,
        credits_posted: account.credits_posted,
        is_default: account.is_default,
        order: account.order,
        version: 0,
        last_position: 0,
        created_at: at,
        updated_at: at,
    }
}

/// The statement lines of `payment` among `lines`, in log order.
pub fn lines_of(
    lines: Vec<TransactionRow>,
    payment: folio_domain::PaymentId,
) -> Vec<TransactionRow> {
    lines
        .into_iter()
        .filter(|line| line.payment_id == payment)
        .collect()
}
