//! `verify`: one pass over the whole log — hash chain, gapless positions, per-stream revisions,
//! schemas, time order — recomputing every account with the domain's own `Ledger::apply`, then
//! the latest snapshot and the read models compared with what the log proves.

use crate::compare::{self, Expected};
use crate::error::ReplayError;
use crate::findings::{Finding, Report};
use crate::progress::{Progress, SharedProgress};
use crate::scan::{Flow, PAGE, Visit, scan, stream_key};
use crate::source::Source;
use folio_domain::{
    AccountId, ClientId, ConfirmationId, DocumentId, Ledger, LedgerSnapshot, PaymentId,
    RecipientId, StoredSnapshot, TransferId,
};
use folio_projections::{FoldScope, Projector};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;
use uuid::Uuid;

/// Options of a verify run.
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// Skip the read models (log and snapshot only).
    pub skip_read_models: bool,
    pub quiet: bool,
    /// Where the progress goes instead of stderr (a background job's status).
    pub progress: Option<Arc<SharedProgress>>,
}

/// What the pass over the log proved, for the comparisons that follow it.
pub struct LogPass {
    pub head: u64,
    pub events: u64,
    pub elapsed: Duration,
    pub ledger: Ledger,
    /// The accounts as they were right after each position of interest.
    pub captured: HashMap<u64, Expected>,
}

/// Runs the whole check and returns its report. The read models must not move meanwhile (an
/// offline copy, or no projector running): a running server's are checked with `verify_live`.
pub async fn verify(source: &Source, options: &VerifyOptions) -> Result<Report, ReplayError> {
    let mut report = Report::default();
    let models = if options.skip_read_models || !source.has_read_models() {
        None
    } else {
        Some(source.read_models().await?)
    };
    let mut capture_at = BTreeSet::new();
    let mut checkpoints = Vec::new();
    if let Some(models) = &models {
        for scope in [FoldScope::Balances, FoldScope::Ledger] {
            let position = models.checkpoint(scope).await?;
            capture_at.insert(position);
            checkpoints.push((scope, position));
        }
    }
    let mut pass = PassRun::start(source, capture_at, options, &mut report).await?;
    pass.scan().await?;
    let pass = pass.finish(&mut report)?;
    summarize(source, &pass, &mut report);
    match &models {
        None => report.note("read models: not compared"),
        Some(models) => {
            compare::compare_read_models(source, models.as_ref(), &checkpoints, &pass, &mut report)
                .await?;
        }
    }
    Ok(report)
}

/// `verify` against a running server's read models, which its projectors keep moving: the log
/// is checked to its head first; then the projectors are paused between two batches, the
/// pass continues to their checkpoints (the events that arrived meanwhile) and the read models
/// are compared with the log at those checkpoints. The pause lasts the comparison only; tracing
/// a mismatch back to its first position reads statement lines, which never change once
/// written, so it runs after the projectors have resumed.
pub async fn verify_live(
    source: &Source,
    projector: &Projector,
    options: &VerifyOptions,
) -> Result<Report, ReplayError> {
    let mut report = Report::default();
    let models = source.read_models().await?;
    let mut pass = PassRun::start(source, BTreeSet::new(), options, &mut report).await?;
    pass.scan().await?;
    // Let the projectors reach the pass's end, so the checkpoints are at or after it.
    if let Err(error) = projector.wait_for(pass.position(), LIVE_CATCH_UP).await {
        report.note(format!("read models: still behind the log ({error})"));
    }
    let pending = {
        let _paused = projector.pause().await;
        let mut checkpoints = Vec::new();
        for scope in [FoldScope::Balances, FoldScope::Ledger] {
            let position = models.checkpoint(scope).await?;
            pass.capture(position);
            checkpoints.push((scope, position));
        }
        pass.scan().await?;
        let pass = pass.finish(&mut report)?;
        summarize(source, &pass, &mut report);
        compare::read_model_differences(models.as_ref(), &checkpoints, &pass, &mut report).await?
    };
    compare::report_differences(source, models.as_ref(), pending, &mut report).await?;
    Ok(report)
}

/// How long a live verify waits for the projectors to reach the end of its log pass.
const LIVE_CATCH_UP: Duration = Duration::from_secs(30);

fn summarize(source: &Source, pass: &LogPass, report: &mut Report) {
    report.note(format!(
        "log: {} ({}), {} events, head {}, {:.2} s, {:.0} events/s",
        source.description,
        source.log.backend_name(),
        pass.events,
        pass.head,
        pass.elapsed.as_secs_f64(),
        pass.events as f64 / pass.elapsed.as_secs_f64().max(1e-9)
    ));
    report.note(format!(
        "recomputed: {} accounts, {} payments",
        pass.ledger.accounts().count(),
        pass.ledger.payment_count()
    ));
    if let Err(broken) = pass.ledger.check_invariants() {
        report.add(Finding {
            area: "invariants",
            subject: None,
            field: "ledger".into(),
            expected: "every invariant holds".into(),
            found: broken,
            position: Some(pass.head),
        });
    }
}

/// The pass over the log, which may be continued: `scan` reads from where the last one ended.
struct PassRun<'s> {
    source: &'s Source,
    checker: Checker,
    progress: Progress,
    head: u64,
    events: u64,
    /// A row the store could not read ended the pass: nothing after it can be checked.
    broken: bool,
}

impl<'s> PassRun<'s> {
    /// Starts loading and decoding the snapshot to compare on a thread of its own (the pass
    /// needs it only when it reaches its position) and sets up the pass.
    async fn start(
        source: &'s Source,
        capture_at: BTreeSet<u64>,
        options: &VerifyOptions,
        _report: &mut Report,
    ) -> Result<PassRun<'s>, ReplayError> {
        // The snapshot's position and at most how many payments it holds.
        let (snapshot, outline) = match source.sqlite() {
            // Only its outline now: its bytes are read while the log is.
            Some(sqlite) => {
                let reader = sqlite.clone();
                let latest = tokio::task::spawn_blocking(move || reader.latest_snapshot_outline())
                    .await
                    .map_err(|error| ReplayError::Task(error.to_string()))??;
                match latest {
                    None => (PendingSnapshot::None, None),
                    Some(outline) => {
                        let position = outline.position;
                        let payments = snapshot_payments_at_most(outline.bytes, &outline.prefix);
                        // Exactly the one chosen: against a live log a newer snapshot may be
                        // saved meanwhile, past the head this pass stops at. If that save
                        // pruned this one, nothing is compared (rather than a false mismatch).
                        let sqlite = sqlite.clone();
                        let load = move || Ok(sqlite.load_snapshot_at_blocking(position)?);
                        (
                            PendingSnapshot::coming(position, load),
                            Some((position, payments)),
                        )
                    }
                }
            }
            None => match source.log.load_snapshot().await? {
                None => (PendingSnapshot::None, None),
                Some(snapshot) => {
                    let position = snapshot.position;
                    let payments =
                        snapshot_payments_at_most(snapshot.state.len() as u64, &snapshot.state);
                    let load = move || Ok(Some(snapshot));
                    (
                        PendingSnapshot::coming(position, load),
                        Some((position, payments)),
                    )
                }
            },
        };
        let head = source.log.head().await?.position;
        let progress = match &options.progress {
            Some(shared) => Progress::shared("verify", head, shared.clone()),
            None => Progress::new("verify", head, options.quiet),
        };
        let mut checker = Checker {
            next_position: 1,
            last_recorded_at: None,
            ledger: Ledger::new(),
            findings: Vec::new(),
            captured: HashMap::new(),
            capture_at: BTreeSet::new(),
            snapshot,
            snapshot_unreadable: None,
            head,
        };
        // Room for every payment the log can hold up to its head, once: the map's doublings
        // (each a rehash into fresh memory, on the pass's own thread) cost more than the pass's
        // decoding. Without a snapshot it grows as the payments come.
        if let Some((position, payments)) = outline {
            checker
                .ledger
                .reserve_payments_for(payments_at_most(head, position, payments));
        }
        for position in capture_at {
            checker.capture(position);
        }
        Ok(PassRun {
            source,
            checker,
            progress,
            head,
            events: 0,
            broken: false,
        })
    }

    /// The last position checked.
    fn position(&self) -> u64 {
        self.checker.next_position - 1
    }

    /// Captures the accounts at `position`: now if the pass is there, else when it gets there.
    fn capture(&mut self, position: u64) {
        self.checker.capture(position);
    }

    /// Checks every event from the last position checked to the log's head.
    async fn scan(&mut self) -> Result<(), ReplayError> {
        if self.broken {
            return Ok(());
        }
        let head = self.source.log.head().await?.position;
        let checker = &mut self.checker;
        let scanned = scan(
            self.source.reader(),
            checker.next_position - 1,
            head,
            true,
            &mut self.progress,
            |visit| {
                checker.check(&visit)?;
                Ok(Flow::Continue)
            },
        )
        .await;
        match scanned {
            Ok(events) => self.events += events,
            Err(ReplayError::Store(folio_store::StoreError::Corrupt { position, reason })) => {
                self.checker.findings.push(Finding {
                    area: "log",
                    subject: None,
                    field: "row".into(),
                    expected: "a well-formed event row".into(),
                    found: reason,
                    position: Some(position),
                });
                self.events = self.position();
                self.broken = true;
            }
            Err(other) => return Err(other),
        }
        if self.position() < head {
            self.checker.findings.push(Finding {
                area: "log",
                subject: None,
                field: "head".into(),
                expected: format!("the scan to end at the head {head}"),
                found: format!("it ended at {}", self.position()),
                position: Some(self.checker.next_position),
            });
            self.broken = true;
        }
        self.head = self.head.max(head);
        Ok(())
    }

    fn finish(mut self, report: &mut Report) -> Result<LogPass, ReplayError> {
        let elapsed = self.progress.finish(self.position());
        // A snapshot past the end of the pass: wait for it, to report it.
        self.checker.wait_for_snapshot()?;
        if let Some(finding) = self.checker.snapshot_unreadable.take() {
            report.add(finding);
        }
        if let PendingSnapshot::Ready(position, _) = &self.checker.snapshot {
            self.checker.findings.push(Finding {
                area: "snapshot",
                subject: None,
                field: "position".into(),
                expected: format!("a position within the log (head {})", self.head),
                found: position.to_string(),
                position: Some(*position),
            });
        }
        for finding in self.checker.findings {
            report.add(finding);
        }
        Ok(LogPass {
            head: self.head,
            events: self.events,
            elapsed,
            ledger: self.checker.ledger,
            captured: self.checker.captured,
        })
    }
}

struct Checker {
    next_position: u64,
    last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    ledger: Ledger,
    findings: Vec<Finding>,
    captured: HashMap<u64, Expected>,
    capture_at: BTreeSet<u64>,
    snapshot: PendingSnapshot,
    /// Why the snapshot could not be decoded (reported first).
    snapshot_unreadable: Option<Finding>,
    /// The head the pass started for (sizes the ledger's payments once the snapshot is known).
    head: u64,
}

/// The fewest bytes a payment takes in a JSON snapshot (`{"id":"<uuid>","status":"draft",
/// "legs":[],"expiresAt":null,"revision":0}` is 102), so one of `bytes` holds at most
/// `bytes / MIN_JSON_PAYMENT_BYTES` payments.
const MIN_JSON_PAYMENT_BYTES: u64 = 96;

/// At most how many payments a stored snapshot of at most `bytes` holds: the count a binary
/// snapshot's first bytes give, else what its JSON size allows.
fn snapshot_payments_at_most(bytes: u64, prefix: &[u8]) -> u64 {
    LedgerSnapshot::payments_in(prefix).unwrap_or(bytes / MIN_JSON_PAYMENT_BYTES)
}

/// At most how many payments the ledger holds at `head`, from a snapshot holding at most
/// `snapshot_payments` taken at `position`: those and one more per event after it, and never
/// more than one per event. A room hint only: it changes no result.
fn payments_at_most(head: u64, position: u64, snapshot_payments: u64) -> usize {
    let at_most = snapshot_payments
        .saturating_add(head.saturating_sub(position))
        .min(head);
    usize::try_from(at_most).unwrap_or(usize::MAX)
}

/// What the snapshot loader hands over: the latest snapshot's position and its decoded state
/// (or why it does not decode), None if the log has none any more.
type Arrival = Result<Option<(u64, Result<StoredSnapshot, String>)>, ReplayError>;

/// The snapshot to compare, loaded and decoded on a thread of its own while the log is read:
/// the pass needs it only at its position (often the head).
enum PendingSnapshot {
    None,
    /// Stored at `position` when the pass started; still on its way.
    Coming {
        position: u64,
        arrival: mpsc::Receiver<Arrival>,
    },
    /// Decoded, for the pass to compare when it reaches the position.
    Ready(u64, Box<StoredSnapshot>),
}

impl PendingSnapshot {
    /// Starts a thread that loads the snapshot (`load`) and decodes it.
    fn coming(
        position: u64,
        load: impl FnOnce() -> Result<Option<folio_store::Snapshot>, ReplayError> + Send + 'static,
    ) -> PendingSnapshot {
        let (send, arrival) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let arrived = load().map(|loaded| {
                loaded.map(|snapshot| {
                    // Room for as many payments as a JSON snapshot's bytes can hold; a binary
                    // one is only opened here, its payment records read when compared.
                    let room =
                        usize::try_from(snapshot.state.len() as u64 / MIN_JSON_PAYMENT_BYTES)
                            .unwrap_or(0);
                    let state =
                        StoredSnapshot::open(snapshot.state, room).map_err(|e| e.to_string());
                    (snapshot.position, state)
                })
            });
            let _ = send.send(arrived);
        });
        PendingSnapshot::Coming { position, arrival }
    }

    fn position(&self) -> Option<u64> {
        match self {
            PendingSnapshot::None => None,
            PendingSnapshot::Coming { position, .. } | PendingSnapshot::Ready(position, _) => {
                Some(*position)
            }
        }
    }
}

fn loader_gone() -> ReplayError {
    ReplayError::Task("the snapshot loader stopped".into())
}

impl Checker {
    /// Captures the accounts at `position` now if the pass has just reached it (or it is 0),
    /// else once the pass gets there.
    fn capture(&mut self, position: u64) {
        if position == self.next_position - 1 {
            self.captured
                .insert(position, Expected::from_ledger(&self.ledger));
        } else {
            self.capture_at.insert(position);
        }
    }

    /// Takes the snapshot in once it has arrived: sizes the payments map for the head (no
    /// doubling and rehash of millions of payments later in the pass), and keeps it for its
    /// position.
    fn arrived(&mut self, arrival: Arrival) -> Result<(), ReplayError> {
        self.snapshot = match arrival? {
            None => PendingSnapshot::None,
            Some((position, Err(error))) => {
                self.snapshot_unreadable = Some(Finding {
                    area: "snapshot",
                    subject: None,
                    field: "state".into(),
                    expected: "a decodable ledger snapshot".into(),
                    found: error,
                    position: Some(position),
                });
                PendingSnapshot::None
            }
            Some((position, Ok(state))) => {
                // At most the snapshot's payments and one more per event after it.
                let payments = state
                    .payment_count()
                    .saturating_add(
                        usize::try_from(self.head.saturating_sub(position)).unwrap_or(0),
                    )
                    .min(usize::try_from(self.head).unwrap_or(usize::MAX));
                self.ledger.reserve_payments_for(payments);
                PendingSnapshot::Ready(position, Box::new(state))
            }
        };
        Ok(())
    }

    /// Takes the snapshot in if it has arrived, without waiting.
    fn poll_snapshot(&mut self) -> Result<(), ReplayError> {
        if let PendingSnapshot::Coming { arrival, .. } = &self.snapshot {
            match arrival.try_recv() {
                Ok(arrived) => self.arrived(arrived)?,
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => return Err(loader_gone()),
            }
        }
        Ok(())
    }

    /// Waits for the snapshot if it is still on its way.
    fn wait_for_snapshot(&mut self) -> Result<(), ReplayError> {
        if let PendingSnapshot::Coming { arrival, .. } = &self.snapshot {
            let arrived = arrival.recv().map_err(|_| loader_gone())?;
            self.arrived(arrived)?;
        }
        Ok(())
    }

    fn check(&mut self, visit: &Visit<'_>) -> Result<(), ReplayError> {
        let position = visit.global_position;
        let log_finding = |field: &str, expected: String, found: String| Finding {
            area: "log",
            subject: None,
            field: field.into(),
            expected,
            found,
            position: Some(position),
        };
        if position != self.next_position {
            let finding = log_finding(
                "global_position",
                self.next_position.to_string(),
                position.to_string(),
            );
            self.findings.push(finding);
        }
        self.next_position = position + 1;
        if !visit.link_ok {
            let finding = log_finding(
                "hash",
                "SHA-256(previous hash ‖ this event)".into(),
                format!(
                    "a stored hash that does not follow ({})",
                    hex::encode(visit.record().hash)
                ),
            );
            self.findings.push(finding);
        }
        if let Some(last) = self.last_recorded_at
            && visit.recorded_at < last
        {
            let finding = log_finding(
                "recorded_at",
                format!("at or after {}", last.to_rfc3339()),
                visit.recorded_at.to_rfc3339(),
            );
            self.findings.push(finding);
        }
        self.last_recorded_at = Some(visit.recorded_at);
        match visit.event {
            None => {}
            Some(Err(error)) => {
                let record = visit.record();
                let finding = log_finding(
                    "payload",
                    format!("a valid {} v{}", record.event_type, record.schema_version),
                    error.clone(),
                );
                self.findings.push(finding);
            }
            Some(Ok(decoded)) => {
                if !visit.stream_ok {
                    let finding = log_finding(
                        "stream_id",
                        decoded.body.stream_id(),
                        visit.record().stream_id.to_string(),
                    );
                    self.findings.push(finding);
                }
                // The ledger keeps each entity's last revision: the next event of its stream
                // must take the one after it (0 for a stream's first event).
                let next = next_revision(&self.ledger, stream_key(&decoded.body));
                if visit.stream_revision != next {
                    let finding = Finding {
                        area: "log",
                        subject: Some(visit.record().stream_id.to_string()),
                        field: "stream_revision".into(),
                        expected: next.to_string(),
                        found: visit.stream_revision.to_string(),
                        position: Some(position),
                    };
                    self.findings.push(finding);
                }
                self.ledger.apply(decoded);
            }
        }
        if self.capture_at.contains(&position) {
            self.captured
                .insert(position, Expected::from_ledger(&self.ledger));
        }
        if position.is_multiple_of(PAGE) {
            self.poll_snapshot()?;
        }
        if self.snapshot.position() == Some(position) {
            self.wait_for_snapshot()?;
            if self.snapshot.position() == Some(position)
                && let PendingSnapshot::Ready(_, snapshot) =
                    std::mem::replace(&mut self.snapshot, PendingSnapshot::None)
            {
                compare::compare_snapshot(&self.ledger, *snapshot, position, &mut self.findings);
            }
        }
        Ok(())
    }
}

/// The revision the next event of a stream must take, from the entity the ledger holds.
fn next_revision(ledger: &Ledger, (kind, id): (u8, Uuid)) -> u64 {
    let last = match kind {
        0 => ledger.account(AccountId(id)).map(|a| a.revision),
        1 => ledger.payment(PaymentId(id)).map(|p| p.revision),
        2 => ledger.client(ClientId(id)).map(|c| c.revision),
        3 => ledger.transfer(TransferId(id)).map(|t| t.revision),
        4 => ledger.document(DocumentId(id)).map(|d| d.revision),
        5 => ledger.recipient(RecipientId(id)).map(|r| r.revision),
        _ => ledger.confirmation(ConfirmationId(id)).map(|c| c.revision),
    };
    last.map_or(0, |revision| revision + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_domain::{Payment, PaymentStatus};

    #[test]
    fn no_payment_takes_fewer_bytes_in_a_json_snapshot_than_the_room_hint_assumes() {
        // Given the smallest payment a snapshot can hold
        let payment = Payment {
            id: PaymentId(Uuid::nil()),
            status: PaymentStatus::Draft,
            legs: Vec::new(),
            expires_at: None,
            revision: 0,
        };

        // When it is written as JSON snapshots wrote it, Then it takes at least the bytes assumed
        let written = serde_json::to_vec(&payment).unwrap();
        assert!(
            written.len() as u64 >= MIN_JSON_PAYMENT_BYTES,
            "{}",
            written.len()
        );
    }

    #[test]
    fn the_room_hint_counts_the_snapshots_payments_and_the_events_after_it() {
        // A snapshot of 100 payments; 50 events follow it
        assert_eq!(payments_at_most(1_050, 1_000, 100), 150);
        // Never more than one payment per event
        assert_eq!(payments_at_most(120, 100, 1_000), 120);
        assert_eq!(payments_at_most(0, 0, 0), 0);
    }

    #[test]
    fn a_binary_snapshot_tells_its_payments_and_a_json_one_is_bounded_by_its_size() {
        // Given a ledger of three payments, snapshotted in the stored form and as JSON
        let mut snapshot = serde_json::json!({
            "accounts": [], "payments": [], "idempotency": []
        });
        snapshot["payments"] = serde_json::Value::Array(
            (1..=3u128)
                .map(|n| {
                    serde_json::to_value(Payment {
                        id: PaymentId(Uuid::from_u128(n)),
                        status: PaymentStatus::Posted,
                        legs: Vec::new(),
                        expires_at: None,
                        revision: 1,
                    })
                    .unwrap()
                })
                .collect(),
        );
        let state: LedgerSnapshot = serde_json::from_value(snapshot).unwrap();
        let binary = state.to_bytes().unwrap();
        let json = serde_json::to_vec(&state).unwrap();

        // Then the binary form's first bytes say 3 exactly, whatever its size
        let header = &binary[..LedgerSnapshot::HEADER_BYTES];
        assert_eq!(snapshot_payments_at_most(binary.len() as u64, header), 3);
        // And the JSON form is bounded by its bytes, at least its 3 payments
        let bound = snapshot_payments_at_most(json.len() as u64, &json[..24]);
        assert!((3..=json.len() as u64 / 96).contains(&bound), "{bound}");
    }
}
