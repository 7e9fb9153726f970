//! Daily balances for a date range, idle days included: an idle day's opening and closing are
//! the previous closing, carried forward, so no row is stored for days without movement.

use crate::error::ProjectionError;
use crate::query::DayRange;
use crate::rows::DailyRow;
use crate::store::ReadModelStore;
use folio_domain::AccountId;
use rust_decimal::Decimal;

/// Longest range answered at once, to bound the answer's size.
pub const MAX_DAYS: i64 = 366;

/// One row per account per day of `range`, for accounts that existed by the range's end.
/// Days before an account's first movement are left out.
pub async fn daily_balances(
    models: &dyn ReadModelStore,
    account_ids: &[AccountId],
    range: DayRange,
) -> Result<Vec<DailyRow>, ProjectionError> {
    let stored = models.daily_rows(account_ids, range.to).await?;
    Ok(fill_days(&stored, range))
}

/// Expands stored rows (ordered by account, then day) into every day of `range`.
pub fn fill_days(stored: &[DailyRow], range: DayRange) -> Vec<DailyRow> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < stored.len() {
        let account = stored[start].account_id;
        let end = stored[start..]
            .iter()
            .position(|row| row.account_id != account)
            .map_or(stored.len(), |offset| start + offset);
        let rows = &stored[start..end];
        let mut day = range.from;
        let mut index = 0;
        // The last stored day before the range gives the carried-in balance.
        let mut carried: Option<&DailyRow> = None;
        while index < rows.len() && rows[index].day < range.from {
            carried = Some(&rows[index]);
            index += 1;
        }
        while day <= range.to {
            if index < rows.len() && rows[index].day == day {
                out.push(rows[index].clone());
                carried = Some(&rows[index]);
                index += 1;
            } else if let Some(previous) = carried {
                out.push(DailyRow {
                    account_id: account,
                    day,
                    currency: previous.currency,
                    opening: previous.closing,
                    total_debits: Decimal::ZERO,
                    total_credits: Decimal::ZERO,
                    closing: previous.closing,
                    movements: 0,
                });
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        start = end;
    }
    out
}
