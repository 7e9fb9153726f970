//! `verify`: one pass over the whole log — hash chain, gapless positions, per-stream revisions,
//! schemas, time order — recomputing every account with the domain's own `Ledger::apply`, then
//! the latest snapshot and the read models compared with what the log proves.

use crate::compare::{self, Expected};
use crate::error::ReplayError;
use crate::findings::{Finding, Report};
use crate::progress::{Progress, SharedProgress};
use crate::scan::{Flow, Visit, scan};
use crate::source::Source;
use folio_domain::{
    AccountId, ClientId, ConfirmationId, DocumentId, EventBody, Ledger, LedgerSnapshot, PaymentId,
    RecipientId, TransferId,
};
use folio_projections::{FoldScope, Projector};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
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
    let pass = pass.finish(&mut report);
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
        let pass = pass.finish(&mut report);
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
        pass.ledger.payments().count()
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
    /// Loads the snapshot to compare (a finding if it cannot be decoded) and sets up the pass.
    async fn start(
        source: &'s Source,
        capture_at: BTreeSet<u64>,
        options: &VerifyOptions,
        report: &mut Report,
    ) -> Result<PassRun<'s>, ReplayError> {
        let snapshot = match source.log.load_snapshot().await? {
            None => None,
            Some(snapshot) => match serde_json::from_slice::<LedgerSnapshot>(&snapshot.state) {
                Ok(state) => Some((snapshot.position, state)),
                Err(error) => {
                    report.add(Finding {
                        area: "snapshot",
                        subject: None,
                        field: "state".into(),
                        expected: "a decodable ledger snapshot".into(),
                        found: format!("{error}"),
                        position: Some(snapshot.position),
                    });
                    None
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
        };
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
                checker.check(visit);
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

    fn finish(mut self, report: &mut Report) -> LogPass {
        let elapsed = self.progress.finish(self.position());
        if let Some((position, _)) = &self.checker.snapshot {
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
        LogPass {
            head: self.head,
            events: self.events,
            elapsed,
            ledger: self.checker.ledger,
            captured: self.checker.captured,
        }
    }
}

struct Checker {
    next_position: u64,
    last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    ledger: Ledger,
    findings: Vec<Finding>,
    captured: HashMap<u64, Expected>,
    capture_at: BTreeSet<u64>,
    snapshot: Option<(u64, LedgerSnapshot)>,
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

    fn check(&mut self, visit: Visit<'_>) {
        let event = visit.record;
        let link_ok = visit.link_ok;
        let position = event.global_position;
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
        if !link_ok {
            let finding = log_finding(
                "hash",
                "SHA-256(previous hash ‖ this event)".into(),
                format!(
                    "a stored hash that does not follow ({})",
                    hex::encode(event.hash)
                ),
            );
            self.findings.push(finding);
        }
        if let Some(last) = self.last_recorded_at
            && event.recorded_at < last
        {
            let finding = log_finding(
                "recorded_at",
                format!("at or after {}", last.to_rfc3339()),
                event.recorded_at.to_rfc3339(),
            );
            self.findings.push(finding);
        }
        self.last_recorded_at = Some(event.recorded_at);
        match visit.event {
            None => {}
            Some(Err(error)) => {
                let finding = log_finding(
                    "payload",
                    format!("a valid {} v{}", event.event_type, event.schema_version),
                    error.clone(),
                );
                self.findings.push(finding);
            }
            Some(Ok(decoded)) => {
                let stream = stream_key(&decoded.body);
                if parse_stream(event.stream_id) != Some(stream) {
                    let finding = log_finding(
                        "stream_id",
                        decoded.body.stream_id(),
                        event.stream_id.to_string(),
                    );
                    self.findings.push(finding);
                }
                // The ledger keeps each entity's last revision: the next event of its stream
                // must take the one after it (0 for a stream's first event).
                let next = next_revision(&self.ledger, stream);
                if event.stream_revision != next {
                    let finding = Finding {
                        area: "log",
                        subject: Some(event.stream_id.to_string()),
                        field: "stream_revision".into(),
                        expected: next.to_string(),
                        found: event.stream_revision.to_string(),
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
        if let Some((at, _)) = &self.snapshot
            && *at == position
            && let Some((_, snapshot)) = self.snapshot.take()
        {
            compare::compare_snapshot(&self.ledger, snapshot, position, &mut self.findings);
        }
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

/// A stream as (kind, id): 0 account, 1 payment, 2 client, 3 transfer, 4 document,
/// 5 recipient, 6 confirmation.
fn stream_key(body: &EventBody) -> (u8, Uuid) {
    match body {
        EventBody::Account(event) => (0, event.account_id().0),
        EventBody::Payment(event) => (1, event.payment_id().0),
        EventBody::Client(event) => (2, event.client_id().0),
        EventBody::Transfer(event) => (3, event.transfer_id().0),
        EventBody::Document(event) => (4, event.document_id().0),
        EventBody::Recipient(event) => (5, event.recipient_id().0),
        EventBody::Confirmation(event) => (6, event.confirmation_id().0),
    }
}

fn parse_stream(stream_id: &str) -> Option<(u8, Uuid)> {
    let (kind, id) = stream_id.split_once('-')?;
    let kind = match kind {
        "account" => 0,
        "payment" => 1,
        "client" => 2,
        "transfer" => 3,
        "document" => 4,
        "recipient" => 5,
        "confirmation" => 6,
        _ => return None,
    };
    Some((kind, Uuid::parse_str(id).ok()?))
}
