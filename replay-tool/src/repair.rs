//! Ops' repairs of a running server's read models from the log: account counters and daily
//! balances recomputed with the domain's and the projection's own rules, written under a pause
//! of the live projectors and checked against their checkpoints.

use crate::error::ReplayError;
use crate::progress::{Progress, SharedProgress};
use crate::scan::{Flow, scan};
use crate::source::Source;
use chrono::{DateTime, NaiveDate, Utc};
use folio_domain::{Account, AccountId, Currency, Event, Ledger};
use folio_engine::codec::from_recorded;
use folio_projections::rows::Counters;
use folio_projections::runner::fold_events;
use folio_projections::{Fold, FoldScope, FoldState, ProjectionError, Projector};
use folio_store::{EventStore, RecordedEvent};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Events read or folded at a time.
const PAGE: usize = 8_192;
use std::time::Duration;

/// How long a repair waits for the projectors to reach the position it has folded to.
const CATCH_UP: Duration = Duration::from_secs(30);

/// An account as the log proves it at an instant.
#[derive(Debug, Clone)]
pub struct AccountAsOf {
    pub account_id: AccountId,
    pub currency: Currency,
    /// None: the account was not opened yet then.
    pub account: Option<Account>,
}

/// Replays `id`'s events (its stream and every payment leg on it) recorded at or before `until`
/// (the whole history when None). An account the log never opened is `UnknownAccount`.
pub async fn account_as_of(
    log: &dyn EventStore,
    id: AccountId,
    until: Option<DateTime<Utc>>,
) -> Result<AccountAsOf, ReplayError> {
    let events = log.read_account(id.0).await?;
    let mut ledger = Ledger::new();
    let mut at_until = None;
    for record in &events {
        ledger.apply(&decode(record)?);
        if until.is_none_or(|until| record.recorded_at <= until) {
            at_until = ledger.account(id).cloned();
        }
    }
    let currency = ledger
        .account(id)
        .map(|account| account.currency)
        .ok_or(ReplayError::UnknownAccount(id))?;
    Ok(AccountAsOf {
        account_id: id,
        currency,
        account: at_until,
    })
}

fn decode(record: &RecordedEvent) -> Result<Event, ReplayError> {
    from_recorded(record).map_err(|error| {
        ReplayError::Input(format!(
            "event {} cannot be decoded ({error}): run verify",
            record.global_position
        ))
    })
}

/// Recomputes each account's counters from the log and writes them where the balances read
/// model (and the ledger projector's own copy) differs. Returns the accounts repaired.
///
/// Why it is safe while the projectors run: the accounts' events are read first, then the live
/// projectors are paused between two batches (`Projector::pause`), so no batch commits while
/// the checkpoints are read, the events up to them replayed and the fixes written; each write's
/// transaction also checks the checkpoint is still the one the counters were proved at (another
/// process projecting into the same PostgreSQL would move it: then the repair fails and nothing
/// is written). When the pause ends the projectors reload their folds from the repaired tables,
/// so the next batch continues from the right counters instead of overwriting them.
pub async fn recalculate_accounts(
    source: &Source,
    projector: &Projector,
    ids: &[AccountId],
) -> Result<BTreeSet<AccountId>, ReplayError> {
    let log = source.log.as_ref();
    let read_up_to = log.head().await?.position;
    let mut histories: HashMap<AccountId, Vec<RecordedEvent>> = HashMap::new();
    for &id in ids {
        let mut events = log.read_account(id.0).await?;
        events.retain(|event| event.global_position <= read_up_to);
        if events.is_empty() {
            return Err(ReplayError::UnknownAccount(id));
        }
        histories.insert(id, events);
    }
    let models = projector.models();
    let _paused = projector.pause().await;
    let mut checkpoints = Vec::new();
    for scope in [FoldScope::Balances, FoldScope::Ledger] {
        checkpoints.push((scope, models.checkpoint(scope).await?));
    }
    let latest = checkpoints.iter().map(|(_, at)| *at).max().unwrap_or(0);
    // The events committed while the histories were read (the projectors may be past them).
    let mut after = read_up_to;
    while after < latest {
        let page = log.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
        for record in page.into_iter().filter(|r| r.global_position <= latest) {
            let touched = decode(&record)?.body.touched_accounts();
            for id in touched {
                if let Some(history) = histories.get_mut(&id) {
                    history.push(record.clone());
                }
            }
        }
    }
    let mut repaired = BTreeSet::new();
    for (scope, at) in checkpoints {
        let mut proved = Vec::new();
        for (&id, history) in &histories {
            let mut ledger = Ledger::new();
            for record in history.iter().take_while(|r| r.global_position <= at) {
                ledger.apply(&decode(record)?);
            }
            if let Some(account) = ledger.account(id) {
                proved.push(Counters {
                    account_id: id,
                    debits_pending: account.debits_pending,
                    debits_posted: account.debits_posted,
                    credits_pending: account.credits_pending,
                    credits_posted: account.credits_posted,
                });
            }
        }
        repaired.extend(models.repair_counters(scope, at, proved).await?);
    }
    Ok(repaired)
}

/// Rebuilds the daily-balance rows from `from` on, of `ids` (every account when empty), by
/// folding the whole log with the projection's own fold. The bulk of the log is folded while
/// the projectors run; the events they added meanwhile are folded under their pause, and the
/// rows are replaced in one transaction checked against the ledger checkpoint (see
/// `recalculate_accounts` for why that is safe). Returns the number of rows written.
pub async fn recalculate_daily(
    source: &Source,
    projector: &Projector,
    ids: &[AccountId],
    from: NaiveDate,
    progress: Option<Arc<SharedProgress>>,
) -> Result<u64, ReplayError> {
    let wanted: BTreeSet<AccountId> = ids.iter().copied().collect();
    let mut fold = Fold::new(
        FoldScope::Ledger,
        projector.time_zone(),
        FoldState::default(),
    );
    let mut rows: HashMap<(AccountId, NaiveDate), folio_projections::rows::DailyRow> =
        HashMap::new();
    let mut keep = |fold: &mut Fold| {
        for row in fold.take_changes().daily {
            if row.day >= from && (wanted.is_empty() || wanted.contains(&row.account_id)) {
                rows.insert((row.account_id, row.day), row);
            }
        }
    };
    let head = source.log.head().await?.position;
    let mut progress = match progress {
        Some(shared) => Progress::shared("daily-recalculate", head, shared),
        None => Progress::new("daily-recalculate", head, true),
    };
    let mut batch = Vec::with_capacity(PAGE);
    let mut failed = None;
    scan(source.reader(), 0, head, false, &mut progress, |visit| {
        batch.push(visit.record().to_recorded());
        if batch.len() >= PAGE {
            if let Err(error) = fold_events(&mut fold, &batch) {
                failed = Some(error);
                return Ok(Flow::Stop);
            }
            batch.clear();
            keep(&mut fold);
        }
        Ok(Flow::Continue)
    })
    .await?;
    if let Some(error) = failed {
        return Err(error.into());
    }
    fold_events(&mut fold, &batch)?;
    keep(&mut fold);
    // Let the projector reach the fold's position, so the pause below is short.
    let _ = projector
        .wait_for_scope(FoldScope::Ledger, fold.position(), CATCH_UP)
        .await;
    let models = projector.models();
    let _paused = projector.pause().await;
    let at = models.checkpoint(FoldScope::Ledger).await?;
    if at < fold.position() {
        return Err(ReplayError::ReadModels(ProjectionError::WaitTimeout {
            wanted: fold.position(),
            reached: at,
        }));
    }
    while fold.position() < at {
        let page = source.log.read_all(fold.position(), PAGE).await?;
        if page.is_empty() {
            break;
        }
        let upto: Vec<RecordedEvent> = page
            .into_iter()
            .filter(|r| r.global_position <= at)
            .collect();
        let reached = upto.last().map(|r| r.global_position);
        fold_events(&mut fold, &upto)?;
        keep(&mut fold);
        if reached.is_none_or(|reached| reached >= at) {
            break;
        }
    }
    progress.finish(at);
    let mut rows: Vec<_> = rows.into_values().collect();
    rows.sort_by_key(|row| (row.account_id, row.day));
    let accounts: Vec<AccountId> = wanted.into_iter().collect();
    Ok(models.replace_daily_rows(at, &accounts, from, rows).await?)
}
