//! `verify`: one pass over the whole log — hash chain, gapless positions, per-stream revisions,
//! schemas, time order — recomputing every account with the domain's own `Ledger::apply`, then
//! the latest snapshot and the read models compared with what the log proves.

use crate::compare::{self, Expected};
use crate::error::ReplayError;
use crate::findings::{Finding, Report};
use crate::progress::Progress;
use crate::scan::{Flow, Visit, scan};
use crate::source::Source;
use folio_domain::{AccountId, ClientId, EventBody, Ledger, LedgerSnapshot, PaymentId, TransferId};
use folio_projections::FoldScope;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use uuid::Uuid;

/// Options of a verify run.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Skip the read models (log and snapshot only).
    pub skip_read_models: bool,
    pub quiet: bool,
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

/// Runs the whole check and returns its report.
pub async fn verify(source: &Source, options: &VerifyOptions) -> Result<Report, ReplayError> {
    let mut report = Report::default();
    let snapshot = source.log.load_snapshot().await?;
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
    let snapshot_state = match &snapshot {
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
    let pass = log_pass(
        source,
        &capture_at,
        snapshot_state,
        &mut report,
        options.quiet,
    )
    .await?;
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
    match &models {
        None => report.note("read models: not compared"),
        Some(models) => {
            compare::compare_read_models(source, models.as_ref(), &checkpoints, &pass, &mut report)
                .await?;
        }
    }
    Ok(report)
}

/// The pass over the log itself.
pub async fn log_pass(
    source: &Source,
    capture_at: &BTreeSet<u64>,
    snapshot: Option<(u64, LedgerSnapshot)>,
    report: &mut Report,
    quiet: bool,
) -> Result<LogPass, ReplayError> {
    let head = source.log.head().await?.position;
    let mut progress = Progress::new("verify", head, quiet);
    let mut checker = Checker {
        next_position: 1,
        last_recorded_at: None,
        ledger: Ledger::new(),
        findings: Vec::new(),
        captured: HashMap::new(),
        capture_at,
        snapshot,
    };
    if capture_at.contains(&0) {
        checker.captured.insert(0, Expected::default());
    }
    let scanned = scan(source.reader(), 0, head, true, &mut progress, |visit| {
        checker.check(visit);
        Ok(Flow::Continue)
    })
    .await;
    let events = match scanned {
        Ok(events) => events,
        Err(ReplayError::Store(folio_store::StoreError::Corrupt { position, reason })) => {
            checker.findings.push(Finding {
                area: "log",
                subject: None,
                field: "row".into(),
                expected: "a well-formed event row".into(),
                found: reason,
                position: Some(position),
            });
            checker.next_position - 1
        }
        Err(other) => return Err(other),
    };
    let elapsed = progress.finish(checker.next_position.saturating_sub(1));
    if checker.next_position - 1 != head {
        checker.findings.push(Finding {
            area: "log",
            subject: None,
            field: "head".into(),
            expected: format!("the scan to end at the head {head}"),
            found: format!("it ended at {}", checker.next_position - 1),
            position: Some(checker.next_position),
        });
    }
    if let Some((position, _)) = &checker.snapshot {
        checker.findings.push(Finding {
            area: "snapshot",
            subject: None,
            field: "position".into(),
            expected: format!("a position within the log (head {head})"),
            found: position.to_string(),
            position: Some(*position),
        });
    }
    for finding in checker.findings {
        report.add(finding);
    }
    Ok(LogPass {
        head,
        events,
        elapsed,
        ledger: checker.ledger,
        captured: checker.captured,
    })
}

struct Checker<'a> {
    next_position: u64,
    last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    ledger: Ledger,
    findings: Vec<Finding>,
    captured: HashMap<u64, Expected>,
    capture_at: &'a BTreeSet<u64>,
    snapshot: Option<(u64, LedgerSnapshot)>,
}

impl Checker<'_> {
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
        _ => ledger.transfer(TransferId(id)).map(|t| t.revision),
    };
    last.map_or(0, |revision| revision + 1)
}

/// A stream as (kind, id): 0 account, 1 payment, 2 client, 3 transfer.
fn stream_key(body: &EventBody) -> (u8, Uuid) {
    match body {
        EventBody::Account(event) => (0, event.account_id().0),
        EventBody::Payment(event) => (1, event.payment_id().0),
        EventBody::Client(event) => (2, event.client_id().0),
        EventBody::Transfer(event) => (3, event.transfer_id().0),
    }
}

fn parse_stream(stream_id: &str) -> Option<(u8, Uuid)> {
    let (kind, id) = stream_id.split_once('-')?;
    let kind = match kind {
        "account" => 0,
        "payment" => 1,
        "client" => 2,
        "transfer" => 3,
        _ => return None,
    };
    Some((kind, Uuid::parse_str(id).ok()?))
}
