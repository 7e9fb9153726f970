//! Checks of the read models once the projectors have caught up: every account row, the
//! statement lines' running balances, the daily balances and a sample of payments against the
//! ledger recomputed from the log; and a rebuilt set of read models against the live one.

use crate::rng::Rng;
use chrono::NaiveDate;
use folio_domain::{AccountId, Ledger, PaymentId, PaymentStatus};
use folio_projections::ReadModelStore;
use folio_projections::query::{AccountFilter, PageRequest, PaymentFilter, TransactionFilter};
use folio_projections::rows::AccountRow;
use std::collections::BTreeMap;

/// Payments compared one by one per check (all of them would make long runs quadratic).
const PAYMENT_SAMPLE: usize = 64;

fn failed(error: impl std::fmt::Display) -> String {
    format!("a read-model query failed: {error}")
}

/// Every account row, by id.
pub async fn all_accounts(
    models: &dyn ReadModelStore,
) -> Result<BTreeMap<AccountId, AccountRow>, String> {
    let mut rows = BTreeMap::new();
    let mut number = 1;
    loop {
        let page = models
            .accounts(&AccountFilter::default(), PageRequest::new(number, 100))
            .await
            .map_err(failed)?;
        let done = page.items.len() < 100;
        for row in page.items {
            rows.insert(row.account_id, row);
        }
        if done {
            return Ok(rows);
        }
        number += 1;
    }
}

/// The read models against the ledger the auditor recomputed, both at `position`.
pub async fn check_against_ledger(
    models: &dyn ReadModelStore,
    ledger: &Ledger,
    position: u64,
    rng: &mut Rng,
) -> Result<(), String> {
    let rows = all_accounts(models).await?;
    let mut accounts = 0;
    for account in ledger.accounts() {
        accounts += 1;
        let row = rows.get(&account.id).ok_or_else(|| {
            format!(
                "account {} has no balance row at position {position}",
                account.id
            )
        })?;
        let same = row.debits_pending == account.debits_pending
            && row.debits_posted == account.debits_posted
            && row.credits_pending == account.credits_pending
            && row.credits_posted == account.credits_posted
            && row.status == account.status
            && row.currency == account.currency
            && row.is_default == account.is_default
            && row.order == account.order
            && row.last_position <= position;
        if !same {
            return Err(format!(
                "account {} at position {position}: the balance row says {row:?}, the log says {account:?}",
                account.id
            ));
        }
        check_statement(models, account.id, row).await?;
    }
    if accounts != rows.len() {
        return Err(format!(
            "the log has {accounts} accounts, the balance read model {}",
            rows.len()
        ));
    }
    check_daily(models, &rows).await?;
    check_payments(models, ledger, rng).await
}

/// The last statement line of an account carries its balance and available amount.
async fn check_statement(
    models: &dyn ReadModelStore,
    account_id: AccountId,
    row: &AccountRow,
) -> Result<(), String> {
    let filter = TransactionFilter {
        account_ids: vec![account_id],
        ..TransactionFilter::default()
    };
    let first = models
        .transactions(&filter, PageRequest::new(1, 1))
        .await
        .map_err(failed)?;
    let Ok(lines) = u32::try_from(first.total_count) else {
        return Err(format!("account {account_id}: too many statement lines"));
    };
    if lines == 0 {
        if !row.balance().is_zero() || !row.held().is_zero() {
            return Err(format!(
                "account {account_id} has balance {} and held {} but no statement line",
                row.balance(),
                row.held()
            ));
        }
        return Ok(());
    }
    let last = models
        .transactions(&filter, PageRequest::new(lines, 1))
        .await
        .map_err(failed)?;
    let Some(line) = last.items.first() else {
        return Err(format!(
            "account {account_id}: the last statement page is empty"
        ));
    };
    if line.balance_after != row.balance() || line.available_after != row.available_balance() {
        return Err(format!(
            "account {account_id}: the last statement line says balance {} available {}, \
             the balance row {} and {}",
            line.balance_after,
            line.available_after,
            row.balance(),
            row.available_balance()
        ));
    }
    Ok(())
}

/// Each account's days chain (opening = previous closing) and end at its balance.
async fn check_daily(
    models: &dyn ReadModelStore,
    rows: &BTreeMap<AccountId, AccountRow>,
) -> Result<(), String> {
    let until = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap_or_default();
    let days = models.daily_rows(&[], until).await.map_err(failed)?;
    let mut last: BTreeMap<AccountId, rust_decimal::Decimal> = BTreeMap::new();
    for day in &days {
        let previous = last.get(&day.account_id).copied().unwrap_or_default();
        if day.opening != previous
            || day.closing != day.opening + day.total_credits - day.total_debits
        {
            return Err(format!(
                "daily balance of {} on {} does not chain: {day:?} after closing {previous}",
                day.account_id, day.day
            ));
        }
        last.insert(day.account_id, day.closing);
    }
    for (id, row) in rows {
        let closing = last.get(id).copied().unwrap_or_default();
        if closing != row.balance() {
            return Err(format!(
                "account {id}: the last daily closing is {closing}, the balance {}",
                row.balance()
            ));
        }
    }
    Ok(())
}

async fn check_payments(
    models: &dyn ReadModelStore,
    ledger: &Ledger,
    rng: &mut Rng,
) -> Result<(), String> {
    let mut ids: Vec<(PaymentId, PaymentStatus)> =
        ledger.payments().map(|p| (p.id, p.status)).collect();
    ids.sort_by_key(|(id, _)| *id);
    let total = models
        .payments(&PaymentFilter::default(), PageRequest::new(1, 1))
        .await
        .map_err(failed)?
        .total_count;
    if total != ids.len() as u64 {
        return Err(format!(
            "the log has {} payments, the payments read model {total}",
            ids.len()
        ));
    }
    for _ in 0..PAYMENT_SAMPLE.min(ids.len()) {
        let Some((id, status)) = rng.pick(&ids).copied() else {
            break;
        };
        let row = models
            .payment(id)
            .await
            .map_err(failed)?
            .ok_or_else(|| format!("payment {id} has no row"))?;
        if row.status != status {
            return Err(format!(
                "payment {id}: the read model says {:?}, the log {status:?}",
                row.status
            ));
        }
    }
    Ok(())
}

/// A read model rebuilt from the log against the live one: equal account rows, equal payment
/// and statement line counts.
pub async fn compare_rebuilt(
    live: &dyn ReadModelStore,
    rebuilt: &dyn ReadModelStore,
) -> Result<(), String> {
    let live_rows = all_accounts(live).await?;
    let rebuilt_rows = all_accounts(rebuilt).await?;
    if live_rows != rebuilt_rows {
        let differing = live_rows
            .iter()
            .find(|(id, row)| rebuilt_rows.get(id) != Some(row))
            .map(|(id, row)| format!("{id}: live {row:?}, rebuilt {:?}", rebuilt_rows.get(id)));
        return Err(format!(
            "the rebuilt balance rows differ from the live ones ({} vs {} rows); first: {}",
            rebuilt_rows.len(),
            live_rows.len(),
            differing.unwrap_or_else(|| "an extra rebuilt row".into())
        ));
    }
    let (live_counts, rebuilt_counts) = (counts(live).await?, counts(rebuilt).await?);
    if live_counts != rebuilt_counts {
        return Err(format!(
            "payments and statement lines: live {live_counts:?}, rebuilt {rebuilt_counts:?}"
        ));
    }
    Ok(())
}

/// How many payments and statement lines a read model holds.
async fn counts(models: &dyn ReadModelStore) -> Result<(u64, u64), String> {
    let payments = models
        .payments(&PaymentFilter::default(), PageRequest::new(1, 1))
        .await
        .map_err(failed)?
        .total_count;
    let lines = models
        .transactions(&TransactionFilter::default(), PageRequest::new(1, 1))
        .await
        .map_err(failed)?
        .total_count;
    Ok((payments, lines))
}
