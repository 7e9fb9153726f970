//! `daily-check`: every account's daily-balance row of a day against the log at that day's end,
//! and Σ balances = 0 per currency, both in the log and in the read model.

use crate::error::ReplayError;
use crate::findings::{Finding, Report};
use crate::progress::Progress;
use crate::scan::{Flow, scan};
use crate::source::Source;
use crate::time::day_end;
use chrono::NaiveDate;
use chrono_tz::Tz;
use folio_domain::{Currency, Ledger};
use folio_projections::FoldScope;
use folio_projections::daily::fill_days;
use folio_projections::query::DayRange;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// Runs the check of `day` (business days in `tz`, as the server's projector keeps them).
pub async fn daily_check(
    source: &Source,
    day: NaiveDate,
    tz: Tz,
    quiet: bool,
) -> Result<Report, ReplayError> {
    let mut report = Report::default();
    let end = day_end(day, tz);
    let head = source.log.head().await?.position;
    let mut ledger = Ledger::new();
    let mut last_position = 0;
    let mut progress = Progress::new("daily-check", head, quiet);
    let mut decode_error = None;
    scan(source.reader(), 0, head, true, &mut progress, |visit| {
        let event = visit.record;
        if event.recorded_at > end {
            return Ok(Flow::Stop);
        }
        match visit.event {
            Some(Ok(decoded)) => ledger.apply(decoded),
            Some(Err(error)) => {
                decode_error = Some((event.global_position, error.clone()));
                return Ok(Flow::Stop);
            }
            None => return Ok(Flow::Stop),
        }
        last_position = event.global_position;
        Ok(Flow::Continue)
    })
    .await?;
    progress.finish(last_position);
    if let Some((position, reason)) = decode_error {
        return Err(ReplayError::Input(format!(
            "event {position} cannot be decoded ({reason}): run verify"
        )));
    }
    report.note(format!(
        "daily check of {day} ({tz}): the day ends at {} (log position {last_position})",
        end.to_rfc3339()
    ));
    let models = source.read_models().await?;
    let checkpoint = models.checkpoint(FoldScope::Ledger).await?;
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
    let stored = models.daily_rows(&[], day).await?;
    let rows = fill_days(&stored, DayRange { from: day, to: day });
    let closing: HashMap<_, _> = rows.iter().map(|row| (row.account_id, row)).collect();
    let mut log_sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
    let mut model_sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
    let (mut passed, mut failed) = (0u64, 0u64);
    let mut accounts: Vec<_> = ledger.accounts().collect();
    accounts.sort_by_key(|account| account.id);
    for account in accounts {
        *log_sums.entry(account.currency).or_default() += account.balance();
        let found = closing.get(&account.id).map(|row| row.closing);
        *model_sums.entry(account.currency).or_default() += found.unwrap_or_default();
        if found.unwrap_or_default() == account.balance() {
            passed += 1;
        } else {
            failed += 1;
            report.add(Finding {
                area: "daily_balances",
                subject: Some(account.id.to_string()),
                field: format!("closing {day}"),
                expected: account.balance().to_string(),
                found: found.map_or("no row".into(), |value| value.to_string()),
                position: Some(last_position),
            });
        }
    }
    for row in rows
        .iter()
        .filter(|row| ledger.account(row.account_id).is_none())
    {
        failed += 1;
        report.add(Finding {
            area: "daily_balances",
            subject: Some(row.account_id.to_string()),
            field: format!("closing {day}"),
            expected: "no row (the log has not opened the account by then)".into(),
            found: row.closing.to_string(),
            position: None,
        });
    }
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
    report.note(format!(
        "accounts: {passed} passed, {failed} failed; currencies: {}",
        currencies.join(", ")
    ));
    Ok(report)
}
