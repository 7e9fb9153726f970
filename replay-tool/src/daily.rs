//! `daily-check` and the reconciliation report: every account's daily-balance row of a day
//! against the log at that day's end, and Σ balances = 0 per currency, both in the log and in
//! the read model.

use crate::error::ReplayError;
use crate::findings::{Finding, Report};
use crate::progress::Progress;
use crate::scan::{Flow, scan};
use crate::source::Source;
use crate::time::{day_end, day_start};
use chrono::NaiveDate;
use chrono_tz::Tz;
use folio_domain::{AccountId, Currency, Ledger};
use folio_projections::FoldScope;
use folio_projections::daily::fill_days;
use folio_projections::query::DayRange;
use folio_projections::rows::DailyRow;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One account whose daily closing differs from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingDifference {
    pub account_id: AccountId,
    pub currency: Currency,
    /// The balance the log proves at the day's end (zero when the log has not opened it).
    pub expected: Decimal,
    /// The read model's closing of that day (None: no row, not even an earlier one).
    pub found: Option<Decimal>,
}

impl ClosingDifference {
    /// What the read model holds minus what the log proves.
    pub fn difference(&self) -> Decimal {
        self.found.unwrap_or_default() - self.expected
    }
}

/// The outcome of a daily check: the printable report and its figures.
#[derive(Debug, Clone)]
pub struct DailyCheck {
    pub day: NaiveDate,
    pub accounts_checked: u64,
    /// Every account whose closing differs, ordered by account.
    pub differences: Vec<ClosingDifference>,
    /// Every finding (the differences, a read model behind the day, a currency whose sum is not
    /// zero) with the summary lines.
    pub report: Report,
}

/// The log replayed up to the end of a business day.
struct LogAtDayEnd {
    ledger: Ledger,
    last_position: u64,
    /// Accounts the log moved on or after the day `moved_since` given to `replay_to_day_end`.
    moved: HashSet<AccountId>,
}

/// Replays the log up to the end of `day` in `tz` (and no further than `until`, when given).
async fn replay_to_day_end(
    source: &Source,
    day: NaiveDate,
    tz: Tz,
    until: Option<u64>,
    moved_since: Option<NaiveDate>,
    quiet: bool,
) -> Result<LogAtDayEnd, ReplayError> {
    let end = day_end(day, tz);
    let since = moved_since.map(|from| day_start(from, tz));
    let head = source.log.head().await?.position;
    let limit = until.unwrap_or(head).min(head);
    let mut ledger = Ledger::new();
    let mut last_position = 0;
    let mut moved = HashSet::new();
    let mut progress = Progress::new("daily-check", limit, quiet);
    let mut decode_error = None;
    scan(source.reader(), 0, head, true, &mut progress, |visit| {
        if visit.recorded_at > end || visit.global_position > limit {
            return Ok(Flow::Stop);
        }
        match visit.event {
            Some(Ok(decoded)) => {
                ledger.apply(decoded);
                if since.is_some_and(|since| visit.recorded_at >= since) {
                    moved.extend(decoded.body.touched_accounts());
                }
            }
            Some(Err(error)) => {
                decode_error = Some((visit.global_position, error.clone()));
                return Ok(Flow::Stop);
            }
            None => return Ok(Flow::Stop),
        }
        last_position = visit.global_position;
        Ok(Flow::Continue)
    })
    .await?;
    progress.finish(last_position);
    if let Some((position, reason)) = decode_error {
        return Err(ReplayError::Input(format!(
            "event {position} cannot be decoded ({reason}): run verify"
        )));
    }
    Ok(LogAtDayEnd {
        ledger,
        last_position,
        moved,
    })
}

/// Each account's daily row for `day` as the read model answers it (idle days carried forward).
async fn model_closings(source: &Source, day: NaiveDate) -> Result<Vec<DailyRow>, ReplayError> {
    let models = source.read_models().await?;
    let stored = models.daily_rows(&[], day).await?;
    Ok(fill_days(&stored, DayRange { from: day, to: day }))
}

/// Runs the check of `day` (business days in `tz`, as the server's projector keeps them),
/// reading the log up to position `until` at most (None: its head).
pub async fn daily_check(
    source: &Source,
    day: NaiveDate,
    tz: Tz,
    until: Option<u64>,
    quiet: bool,
) -> Result<DailyCheck, ReplayError> {
    let mut report = Report::default();
    let LogAtDayEnd {
        ledger,
        last_position,
        ..
    } = replay_to_day_end(source, day, tz, until, None, quiet).await?;
    report.note(format!(
        "daily check of {day} ({tz}): the day ends at {} (log position {last_position})",
        day_end(day, tz).to_rfc3339()
    ));
    let checkpoint = source
        .read_models()
        .await?
        .checkpoint(FoldScope::Ledger)
        .await?;
    if checkpoint < last_position {
        report.add(Finding {
            area: "daily_balances",
            subject: None,
            field: "checkpoint".into(),
            expected: format!("at least {last_position} (the day's last event)"),
            found: checkpoint.to_string(),
            position: Some(checkpoint + 1),
        });
    }
    let rows = model_closings(source, day).await?;
    let closing: HashMap<_, _> = rows.iter().map(|row| (row.account_id, row)).collect();
    let mut log_sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
    let mut model_sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut accounts: Vec<_> = ledger.accounts().collect();
    accounts.sort_by_key(|account| account.id);
    let accounts_checked = accounts.len() as u64;
    for account in accounts {
        *log_sums.entry(account.currency).or_default() += account.balance();
        let found = closing.get(&account.id).map(|row| row.closing);
        *model_sums.entry(account.currency).or_default() += found.unwrap_or_default();
        if found.unwrap_or_default() != account.balance() {
            report.add(Finding {
                area: "daily_balances",
                subject: Some(account.id.to_string()),
                field: format!("closing {day}"),
                expected: account.balance().to_string(),
                found: found.map_or("no row".into(), |value| value.to_string()),
                position: Some(last_position),
            });
            differences.push(ClosingDifference {
                account_id: account.id,
                currency: account.currency,
                expected: account.balance(),
                found,
            });
        }
    }
    for row in rows
        .iter()
        .filter(|row| ledger.account(row.account_id).is_none())
    {
        report.add(Finding {
            area: "daily_balances",
            subject: Some(row.account_id.to_string()),
            field: format!("closing {day}"),
            expected: "no row (the log has not opened the account by then)".into(),
            found: row.closing.to_string(),
            position: None,
        });
        differences.push(ClosingDifference {
            account_id: row.account_id,
            currency: row.currency,
            expected: Decimal::ZERO,
            found: Some(row.closing),
        });
    }
    differences.sort_by_key(|difference| difference.account_id);
    for (label, sums) in [("log", &log_sums), ("daily_balances", &model_sums)] {
        for (currency, sum) in sums {
            if !sum.is_zero() {
                report.add(Finding {
                    area: "sum",
                    subject: None,
                    field: format!("{label} Σ balances {currency}"),
                    expected: "0".into(),
                    found: sum.to_string(),
                    position: Some(last_position),
                });
            }
        }
    }
    let currencies: Vec<String> = log_sums
        .iter()
        .map(|(currency, sum)| format!("{currency} Σ={sum}"))
        .collect();
    let failed = differences.len() as u64;
    report.note(format!(
        "accounts: {} passed, {failed} failed; currencies: {}",
        accounts_checked.saturating_sub(failed),
        currencies.join(", ")
    ));
    Ok(DailyCheck {
        day,
        accounts_checked,
        differences,
        report,
    })
}

/// One account of the reconciliation report: the log's balance and the daily-balance read
/// model's closing at the end of the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationRow {
    pub account_id: AccountId,
    pub currency: Currency,
    pub ledger_balance: Decimal,
    pub daily_balance: Decimal,
}

impl ReconciliationRow {
    pub fn difference(&self) -> Decimal {
        self.daily_balance - self.ledger_balance
    }
}

/// The accounts of `currency` (all when None) that moved within `[from, to]` (business days in
/// `tz`) by the log or by the read model, and every account whose closing of `to` differs from
/// the log, each with both balances at the end of `to`. Ordered by account.
pub async fn reconciliation(
    source: &Source,
    from: NaiveDate,
    to: NaiveDate,
    currency: Option<Currency>,
    tz: Tz,
    until: Option<u64>,
) -> Result<Vec<ReconciliationRow>, ReplayError> {
    let log = replay_to_day_end(source, to, tz, until, Some(from), true).await?;
    let models = source.read_models().await?;
    let stored = models.daily_rows(&[], to).await?;
    let model_moved: HashSet<AccountId> = stored
        .iter()
        .filter(|row| row.day >= from && row.movements > 0)
        .map(|row| row.account_id)
        .collect();
    let closings: HashMap<AccountId, DailyRow> = fill_days(&stored, DayRange { from: to, to })
        .into_iter()
        .map(|row| (row.account_id, row))
        .collect();
    let mut rows = Vec::new();
    for account in log.ledger.accounts() {
        let daily_balance = closings
            .get(&account.id)
            .map_or(Decimal::ZERO, |row| row.closing);
        rows.push(ReconciliationRow {
            account_id: account.id,
            currency: account.currency,
            ledger_balance: account.balance(),
            daily_balance,
        });
    }
    for row in closings.values() {
        if log.ledger.account(row.account_id).is_none() {
            rows.push(ReconciliationRow {
                account_id: row.account_id,
                currency: row.currency,
                ledger_balance: Decimal::ZERO,
                daily_balance: row.closing,
            });
        }
    }
    rows.retain(|row| {
        currency.is_none_or(|wanted| row.currency == wanted)
            && (log.moved.contains(&row.account_id)
                || model_moved.contains(&row.account_id)
                || !row.difference().is_zero())
    });
    rows.sort_by_key(|row| row.account_id);
    Ok(rows)
}
