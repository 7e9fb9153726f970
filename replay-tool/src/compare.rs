//! Comparisons with what the log proves: the latest snapshot, and the read models (balances,
//! daily balances' last closing, statement lines' last running balance), each mismatch traced
//! back to the first log position where the read model's history leaves the log's.

use crate::error::ReplayError;
use crate::findings::{Finding, Report};
use crate::progress::Progress;
use crate::scan::{Flow, scan};
use crate::source::Source;
use crate::verify::LogPass;
use chrono::NaiveDate;
use folio_domain::{Account, AccountId, Currency, DigestKey, Ledger, StoredSnapshot};
use folio_projections::query::{AccountFilter, PageRequest, TransactionFilter};
use folio_projections::rows::{DailyRow, TransactionRow};
use folio_projections::{FoldScope, ReadModelStore};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// An account's amounts as the log proves them at some position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balances {
    pub currency: Currency,
    pub balance: Decimal,
    pub held: Decimal,
    pub available: Decimal,
}

/// Every account's amounts at one position.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub accounts: HashMap<AccountId, Balances>,
}

impl Expected {
    pub fn from_ledger(ledger: &Ledger) -> Expected {
        Expected {
            accounts: ledger
                .accounts()
                .map(|account| {
                    (
                        account.id,
                        Balances {
                            currency: account.currency,
                            balance: account.balance(),
                            held: account.held(),
                            available: account.available_balance(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The most accounts traced back to their first diverging position (each costs a log scan's
/// share and the account's statement lines).
const MAX_TRACED: usize = 64;
/// A day after any business day the read models can hold.
const LAST_DAY: (i32, u32, u32) = (9999, 12, 31);

/// Compares the ledger recomputed up to `position` with the snapshot taken there.
pub fn compare_snapshot(
    ledger: &Ledger,
    snapshot: StoredSnapshot,
    position: u64,
    findings: &mut Vec<Finding>,
) {
    // Accounts are few: look them up by id; the millions of payments and idempotency records
    // are compared in place by `matches_stored`.
    let theirs: HashMap<AccountId, &Account> = snapshot
        .accounts()
        .iter()
        .map(|account| (account.id, account))
        .collect();
    let mut differs = false;
    for ours in ledger.accounts() {
        let subject = Some(ours.id.to_string());
        let Some(stored) = theirs.get(&ours.id) else {
            findings.push(Finding {
                area: "snapshot",
                subject,
                field: "account".into(),
                expected: "present".into(),
                found: "missing".into(),
                position: Some(position),
            });
            differs = true;
            continue;
        };
        for (field, expected, found) in [
            ("balance", ours.balance(), stored.balance()),
            ("held", ours.held(), stored.held()),
            (
                "available",
                ours.available_balance(),
                stored.available_balance(),
            ),
            (
                "credits_pending",
                ours.credits_pending,
                stored.credits_pending,
            ),
        ] {
            if expected != found {
                findings.push(Finding {
                    area: "snapshot",
                    subject: subject.clone(),
                    field: field.into(),
                    expected: expected.to_string(),
                    found: found.to_string(),
                    position: Some(position),
                });
                differs = true;
            }
        }
    }
    let extra = theirs
        .keys()
        .filter(|id| ledger.account(**id).is_none())
        .count();
    if extra > 0 {
        findings.push(Finding {
            area: "snapshot",
            subject: None,
            field: "accounts".into(),
            expected: "no account the log does not open".into(),
            found: format!("{extra} more"),
            position: Some(position),
        });
        differs = true;
    }
    if differs {
        return;
    }
    // A key no stored snapshot can know: drawn from the OS for this comparison only.
    let mut key = [0u8; 16];
    if let Err(error) = getrandom::fill(&mut key) {
        findings.push(Finding {
            area: "snapshot",
            subject: None,
            field: "comparison".into(),
            expected: "random bytes from the operating system".into(),
            found: error.to_string(),
            position: Some(position),
        });
        return;
    }
    match ledger.matches_stored(&snapshot, DigestKey(key)) {
        Ok(true) => {}
        Ok(false) => findings.push(Finding {
            area: "snapshot",
            subject: None,
            field: "payments/clients/idempotency".into(),
            expected: "the state the log replays to".into(),
            found: "a different state".into(),
            position: Some(position),
        }),
        // Its payment records are read only now: one that does not decode is reported as
        // an undecodable snapshot, as when the rest does not decode.
        Err(error) => findings.insert(
            0,
            Finding {
                area: "snapshot",
                subject: None,
                field: "state".into(),
                expected: "a decodable ledger snapshot".into(),
                found: error.to_string(),
                position: Some(position),
            },
        ),
    }
}

/// One read-model value that differs from the log, before it is traced.
pub struct Pending {
    area: &'static str,
    account: AccountId,
    field: &'static str,
    expected: String,
    found: String,
    /// Where to point when the account's statement lines agree with the log.
    fallback: Option<u64>,
}

/// Compares the read models with the accounts the log proves at their checkpoints.
pub async fn compare_read_models(
    source: &Source,
    models: &dyn ReadModelStore,
    checkpoints: &[(FoldScope, u64)],
    pass: &LogPass,
    report: &mut Report,
) -> Result<(), ReplayError> {
    let pending = read_model_differences(models, checkpoints, pass, report).await?;
    report_differences(source, models, pending, report).await
}

/// The read-model values that differ from the accounts the log proves at the checkpoints (the
/// read models must stay at those checkpoints meanwhile).
pub async fn read_model_differences(
    models: &dyn ReadModelStore,
    checkpoints: &[(FoldScope, u64)],
    pass: &LogPass,
    report: &mut Report,
) -> Result<Vec<Pending>, ReplayError> {
    let mut pending = Vec::new();
    for &(scope, checkpoint) in checkpoints {
        let Some(expected) = pass.captured.get(&checkpoint) else {
            report.add(Finding {
                area: "read_models",
                subject: None,
                field: format!("{} checkpoint", scope.name()),
                expected: format!("a position within the log (head {})", pass.head),
                found: checkpoint.to_string(),
                position: Some(checkpoint),
            });
            continue;
        };
        report.note(format!(
            "read models ({}): {} at position {checkpoint} of {}",
            models.backend_name(),
            scope.name(),
            pass.head
        ));
        let started = std::time::Instant::now();
        match scope {
            FoldScope::Balances => compare_balances(models, expected, &mut pending).await?,
            FoldScope::Ledger => {
                compare_daily(models, expected, &mut pending).await?;
                let daily = started.elapsed();
                compare_lines(models, expected, &mut pending).await?;
                report.note(format!(
                    "compared daily balances in {:.2} s, statement lines in {:.2} s",
                    daily.as_secs_f64(),
                    (started.elapsed() - daily).as_secs_f64()
                ));
                continue;
            }
        }
        report.note(format!(
            "compared balances in {:.2} s",
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(pending)
}

/// Traces each difference's account back to its first diverging position and reports it.
pub async fn report_differences(
    source: &Source,
    models: &dyn ReadModelStore,
    pending: Vec<Pending>,
    report: &mut Report,
) -> Result<(), ReplayError> {
    let accounts: BTreeSet<AccountId> = pending.iter().map(|p| p.account).collect();
    let traced = if accounts.is_empty() {
        HashMap::new()
    } else {
        let traced: Vec<AccountId> = accounts.into_iter().take(MAX_TRACED).collect();
        first_divergence(source, models, &traced).await?
    };
    for item in pending {
        let position = traced.get(&item.account).copied().or(item.fallback);
        report.add(Finding {
            area: item.area,
            subject: Some(item.account.to_string()),
            field: item.field.into(),
            expected: item.expected,
            found: item.found,
            position,
        });
    }
    Ok(())
}

async fn compare_balances(
    models: &dyn ReadModelStore,
    expected: &Expected,
    pending: &mut Vec<Pending>,
) -> Result<(), ReplayError> {
    let mut seen = BTreeSet::new();
    let mut number = 1;
    loop {
        let page = models
            .accounts(&AccountFilter::default(), PageRequest::new(number, 100))
            .await?;
        for row in &page.items {
            seen.insert(row.account_id);
            let Some(proved) = expected.accounts.get(&row.account_id) else {
                pending.push(Pending {
                    area: "balances",
                    account: row.account_id,
                    field: "account",
                    expected: "absent (the log never opens it)".into(),
                    found: "a row".into(),
                    fallback: Some(row.last_position),
                });
                continue;
            };
            for (field, want, got) in [
                ("balance", proved.balance, row.balance()),
                ("held", proved.held, row.held()),
                ("available", proved.available, row.available_balance()),
            ] {
                if want != got {
                    pending.push(Pending {
                        area: "balances",
                        account: row.account_id,
                        field,
                        expected: want.to_string(),
                        found: got.to_string(),
                        fallback: Some(row.last_position),
                    });
                }
            }
        }
        if page.items.is_empty() || u64::from(number) >= page.total_pages {
            break;
        }
        number += 1;
    }
    for id in expected.accounts.keys().filter(|id| !seen.contains(*id)) {
        pending.push(Pending {
            area: "balances",
            account: *id,
            field: "account",
            expected: "a row".into(),
            found: "missing".into(),
            fallback: None,
        });
    }
    Ok(())
}

async fn compare_daily(
    models: &dyn ReadModelStore,
    expected: &Expected,
    pending: &mut Vec<Pending>,
) -> Result<(), ReplayError> {
    let last_day = NaiveDate::from_ymd_opt(LAST_DAY.0, LAST_DAY.1, LAST_DAY.2)
        .ok_or_else(|| ReplayError::Input("no last day".into()))?;
    let rows = models.daily_rows(&[], last_day).await?;
    let mut last: HashMap<AccountId, &DailyRow> = HashMap::new();
    for row in &rows {
        last.insert(row.account_id, row);
    }
    for (id, proved) in &expected.accounts {
        let found = last.get(id).map(|row| row.closing).unwrap_or(Decimal::ZERO);
        if found != proved.balance {
            pending.push(Pending {
                area: "daily_balances",
                account: *id,
                field: "closing",
                expected: proved.balance.to_string(),
                found: found.to_string(),
                fallback: None,
            });
        }
    }
    Ok(())
}

async fn compare_lines(
    models: &dyn ReadModelStore,
    expected: &Expected,
    pending: &mut Vec<Pending>,
) -> Result<(), ReplayError> {
    let last: HashMap<AccountId, TransactionRow> = models
        .last_transactions()
        .await?
        .into_iter()
        .map(|line| (line.account_id, line))
        .collect();
    let mut ids: Vec<&AccountId> = expected.accounts.keys().collect();
    ids.sort();
    for id in ids {
        let proved = expected.accounts[id];
        let (balance, available, position) = match last.get(id) {
            Some(line) => (
                line.balance_after,
                line.available_after,
                Some(line.position),
            ),
            None => (Decimal::ZERO, Decimal::ZERO, None),
        };
        for (field, want, got) in [
            ("balance_after", proved.balance, balance),
            ("available_after", proved.available, available),
        ] {
            if want != got {
                pending.push(Pending {
                    area: "transactions",
                    account: *id,
                    field,
                    expected: want.to_string(),
                    found: got.to_string(),
                    fallback: position,
                });
            }
        }
    }
    for line in last
        .values()
        .filter(|line| !expected.accounts.contains_key(&line.account_id))
    {
        pending.push(Pending {
            area: "transactions",
            account: line.account_id,
            field: "account",
            expected: "no line (the log never opens it)".into(),
            found: format!("a line at {}", line.position),
            fallback: Some(line.position),
        });
    }
    Ok(())
}

/// Every statement line of an account, in order.
async fn all_lines(
    models: &dyn ReadModelStore,
    account: AccountId,
) -> Result<Vec<TransactionRow>, ReplayError> {
    let filter = TransactionFilter {
        account_ids: vec![account],
        ..TransactionFilter::default()
    };
    let mut lines = Vec::new();
    let mut number = 1;
    loop {
        let page = models
            .transactions(&filter, PageRequest::new(number, 100))
            .await?;
        let done = page.items.is_empty() || u64::from(number) >= page.total_pages;
        lines.extend(page.items);
        if done {
            return Ok(lines);
        }
        number += 1;
    }
}

/// For each account, the first log position where its statement lines stop following the log:
/// a line whose running balance differs from the recomputed one, a line the log does not
/// explain, or a movement of the log with no line.
pub async fn first_divergence(
    source: &Source,
    models: &dyn ReadModelStore,
    accounts: &[AccountId],
) -> Result<HashMap<AccountId, u64>, ReplayError> {
    let wanted: BTreeSet<AccountId> = accounts.iter().copied().collect();
    let mut history: HashMap<AccountId, Vec<(u64, Decimal, Decimal)>> = HashMap::new();
    let mut ledger = Ledger::new();
    let mut progress = Progress::new("tracing", 0, true);
    let head = source.log.head().await?.position;
    scan(source.reader(), 0, head, true, &mut progress, |visit| {
        if let Some(Ok(decoded)) = visit.event {
            ledger.apply(decoded);
            for id in decoded.body.touched_accounts() {
                if wanted.contains(&id)
                    && let Some(account) = ledger.account(id)
                {
                    history.entry(id).or_default().push((
                        visit.global_position,
                        account.balance(),
                        account.available_balance(),
                    ));
                }
            }
        }
        Ok(Flow::Continue)
    })
    .await?;
    let mut traced = HashMap::new();
    for id in accounts {
        let lines = all_lines(models, *id).await?;
        let mut by_position: BTreeMap<u64, (Decimal, Decimal)> = BTreeMap::new();
        for line in &lines {
            by_position.insert(line.position, (line.balance_after, line.available_after));
        }
        let empty = Vec::new();
        let steps = history.get(id).unwrap_or(&empty);
        let mut before = (Decimal::ZERO, Decimal::ZERO);
        let mut diverged = None;
        for &(position, balance, available) in steps {
            let after = (balance, available);
            match by_position.remove(&position) {
                Some(line) if line != after => diverged = Some(position),
                None if after != before => diverged = Some(position),
                _ => {}
            }
            if diverged.is_some() {
                break;
            }
            before = after;
        }
        // A line at a position where the log never touched the account.
        let stray = by_position.keys().next().copied();
        let first = match (diverged, stray) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(position) = first {
            traced.insert(*id, position);
        }
    }
    Ok(traced)
}
