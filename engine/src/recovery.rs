//! Start-up: the latest snapshot plus the events after it rebuild the ledger.

use crate::codec::from_recorded;
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use folio_domain::{Ledger, LedgerSnapshot};
use folio_store::{EventStore, Head};
use std::time::Instant;

/// Events read per round trip while replaying.
const REPLAY_PAGE: usize = 8192;

/// A rebuilt ledger and the head it reflects.
pub struct Recovered {
    pub ledger: Ledger,
    pub head: Head,
    /// Position of the snapshot it started from (0 if none).
    pub snapshot_position: u64,
    /// Why the latest snapshot was passed over for a replay from position 0, if it was.
    pub snapshot_unreadable: Option<String>,
    pub events_replayed: u64,
    /// When the last event in the log was recorded: a restarted writer never stamps earlier,
    /// even if the machine's clock was set back while it was down.
    pub last_recorded_at: Option<DateTime<Utc>>,
}

/// Rebuilds the ledger from the latest snapshot and the events after it.
pub async fn recover(store: &dyn EventStore) -> Result<Recovered, EngineError> {
    let started = Instant::now();
    let failed = |what: &str, reason: String| EngineError::Recovery(format!("{what}: {reason}"));
    let mut snapshot_unreadable = None;
    let (mut ledger, snapshot_position) = match store
        .load_snapshot()
        .await
        .map_err(|e| failed("loading the snapshot", e.to_string()))?
    {
        None => (Ledger::new(), 0),
        Some(snapshot) => match LedgerSnapshot::from_bytes(&snapshot.state) {
            Ok(state) => (Ledger::from_snapshot(state), snapshot.position),
            Err(error) => {
                // A snapshot is derived from the log, which stays the truth: one this build
                // cannot read (damaged, or written by a newer version) costs a replay from
                // position 0, not the start. `folio-replay verify` reports it too.
                tracing::error!(
                    position = snapshot.position,
                    %error,
                    "the latest snapshot does not decode; replaying the whole log instead"
                );
                snapshot_unreadable = Some(format!(
                    "the snapshot at {} does not decode: {error}",
                    snapshot.position
                ));
                (Ledger::new(), 0)
            }
        },
    };
    let mut position = snapshot_position;
    let mut events_replayed = 0u64;
    let mut last_recorded_at = None;
    loop {
        let page = store
            .read_all(position, REPLAY_PAGE)
            .await
            .map_err(|e| failed(&format!("reading after {position}"), e.to_string()))?;
        let Some(last) = page.last() else { break };
        let last_position = last.global_position;
        last_recorded_at = Some(last.recorded_at);
        for record in &page {
            let event = from_recorded(record).map_err(|e| {
                failed(
                    &format!("decoding event {}", record.global_position),
                    e.to_string(),
                )
            })?;
            ledger.apply(&event);
        }
        events_replayed += page.len() as u64;
        position = last_position;
    }
    let head = store
        .head()
        .await
        .map_err(|e| failed("reading the head", e.to_string()))?;
    if head.position != position {
        return Err(failed(
            "replay",
            format!("read up to {position} but the head is {}", head.position),
        ));
    }
    // Read once more only when the snapshot was taken at the head (nothing was replayed).
    let last_recorded_at = match (last_recorded_at, head.position) {
        (Some(at), _) => Some(at),
        (None, 0) => None,
        (None, position) => store
            .read_all(position - 1, 1)
            .await
            .map_err(|e| failed("reading the last event", e.to_string()))?
            .first()
            .map(|last| last.recorded_at),
    };
    tracing::info!(
        snapshot_position,
        events_replayed,
        head = head.position,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ledger recovered"
    );
    Ok(Recovered {
        ledger,
        head,
        snapshot_position,
        snapshot_unreadable,
        events_replayed,
        last_recorded_at,
    })
}
