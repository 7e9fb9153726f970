//! The account index's backend-independent half: which accounts an event touched.
//!
//! The index maps each account to the positions of the events that touched it (its own
//! stream's events and every payment leg that debits or credits it). It is derived data: a
//! background task keeps it right behind the writer, `read_account` catches it up before it
//! answers, and it can be dropped and rebuilt from the log at any time. The SQL lives in each
//! backend; this module only turns stored events into `(account, position)` rows.

use crate::StoreError;
use folio_domain::codec::{self, DecodeError};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How many events one catch-up transaction indexes at most. Index keys are random (account
/// ids), so a transaction dirties about one page per distinct account it touches whatever its
/// size: larger batches write far fewer bytes per event.
pub(crate) const CATCH_UP_BATCH: usize = 262_144;

/// A rebuild indexes the whole log: a few very large transactions (rows are 24 bytes each in
/// memory, about 100 MB per 2M events).
pub(crate) const REBUILD_BATCH: usize = 2_097_152;

/// Events read from the log per query while a batch fills: only the index rows of a batch are
/// kept, never all its payloads.
pub(crate) const READ_CHUNK: usize = 16384;

/// The columns of a stored event the index needs.
pub(crate) struct IndexSource {
    pub position: u64,
    pub event_type: String,
    pub schema_version: u16,
    pub payload: String,
}

/// The accounts one stored event touched.
///
/// Event types the domain does not know (a log may carry other producers' events) touch no
/// account. A known type whose version or payload the domain cannot decode is an error: the
/// index must be complete, so it stops there rather than skip a ledger event.
pub fn touched_accounts(
    event_type: &str,
    schema_version: u16,
    payload: &str,
    position: u64,
) -> Result<Vec<Uuid>, StoreError> {
    match codec::decode(event_type, schema_version, payload) {
        Ok(body) => Ok(body.touched_accounts().into_iter().map(|id| id.0).collect()),
        Err(DecodeError::UnknownType(_)) => Ok(Vec::new()),
        Err(error) => Err(StoreError::Corrupt {
            position,
            reason: format!("the account index cannot decode this event: {error}"),
        }),
    }
}

/// The index rows of a batch of events, sorted by `(account, position)` so the B-tree inserts
/// walk the index in order instead of jumping around it.
pub(crate) fn index_rows(events: &[IndexSource]) -> Result<Vec<(Uuid, u64)>, StoreError> {
    let mut rows = Vec::with_capacity(events.len() * 2);
    for event in events {
        let accounts = touched_accounts(
            &event.event_type,
            event.schema_version,
            &event.payload,
            event.position,
        )?;
        rows.extend(
            accounts
                .into_iter()
                .map(|account| (account, event.position)),
        );
    }
    rows.sort_unstable();
    Ok(rows)
}

/// How long the background indexer lets appends pile up before it indexes them: fewer, larger
/// transactions cost the writer's machine less CPU, and `read_account` never depends on it.
const COALESCE: Duration = Duration::from_millis(250);

/// After a failed catch-up, wait this long before trying again (the error is logged).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Spawns the background indexer: every time the head moves, `catch_up(head)` runs. The task
/// ends when the head's sender is dropped (the store is gone) or `catch_up` returns `None`.
pub(crate) fn spawn_indexer<F, Fut>(
    mut head: watch::Receiver<u64>,
    mut catch_up: F,
) -> JoinHandle<()>
where
    F: FnMut(u64) -> Option<Fut> + Send + 'static,
    Fut: Future<Output = Result<u64, StoreError>> + Send,
{
    tokio::spawn(async move {
        loop {
            let target = *head.borrow_and_update();
            if target > 0 {
                let Some(run) = catch_up(target) else { return };
                if let Err(error) = run.await {
                    tracing::warn!(%error, "account index catch-up failed; will retry");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
            if head.changed().await.is_err() {
                return;
            }
            tokio::time::sleep(COALESCE).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_event_types_touch_nothing() {
        let touched = touched_accounts("SomethingElse", 1, "{}", 1);
        assert!(matches!(touched, Ok(ref accounts) if accounts.is_empty()));
    }

    #[test]
    fn undecodable_known_events_stop_the_index() {
        let touched = touched_accounts("AccountOpened", 1, "{\"nope\":1}", 7);
        assert!(matches!(
            touched,
            Err(StoreError::Corrupt { position: 7, .. })
        ));
    }
}
