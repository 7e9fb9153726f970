//! The seeded fixture generator: a realistic history written through the real engine (simulated
//! clock, seeded event ids), then projected into read models, with its expected balances.

mod plan;
mod sim;

pub use plan::Plan;
pub use sim::{SeededIds, SimClock, SplitMix};

use crate::error::ReplayError;
use crate::source::{LOG_FILE, READ_MODELS_FILE};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use folio_domain::Ledger;
use folio_engine::{CommandRequest, Engine, EngineConfig, EngineError, recover};
use folio_projections::{Projector, ProjectorConfig, open_read_models};
use folio_store::open_store;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What to generate.
#[derive(Debug, Clone)]
pub struct FixtureOptions {
    pub seed: u64,
    pub clients: u32,
    /// Payment operations to attempt (each is one command; most record one event).
    pub operations: u64,
    /// Commands submitted together (one simulated instant); larger is faster.
    pub chunk: usize,
    /// The first instant of the history.
    pub start: DateTime<Utc>,
    /// Calendar days the operations are spread over.
    pub days: u32,
    /// Events between engine snapshots.
    pub snapshot_every: u64,
    /// Also project the read models (`readmodels.db`) as the server would.
    pub read_models: bool,
    pub time_zone: Tz,
}

/// An account's amounts at the end of the generated history.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ExpectedBalance {
    pub account_id: String,
    pub currency: String,
    pub account_type: String,
    pub balance: rust_decimal::Decimal,
    pub held: rust_decimal::Decimal,
    pub available: rust_decimal::Decimal,
}

/// What was generated.
#[derive(Debug, Clone, Serialize)]
pub struct FixtureSummary {
    pub seed: u64,
    pub events: u64,
    pub accounts: usize,
    pub commands: u64,
    pub refused: u64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// Writes the history into `dir` (which must not hold a log yet).
pub async fn generate(dir: &Path, options: &FixtureOptions) -> Result<FixtureSummary, ReplayError> {
    std::fs::create_dir_all(dir)?;
    let log_path = dir.join(LOG_FILE);
    if log_path.exists() {
        return Err(ReplayError::Input(format!(
            "{} exists: fixtures go into a fresh directory",
            log_path.display()
        )));
    }
    let log = open_store(&format!("sqlite://{}", log_path.display())).await?;
    let clock = Arc::new(SimClock::new(options.start));
    let config = EngineConfig {
        clock: clock.clone(),
        event_ids: Arc::new(SeededIds::new(options.seed ^ 0x1d5, clock.clone())),
        snapshot_every_events: options.snapshot_every,
        batch_limit: options.chunk.max(1),
        ..EngineConfig::default()
    };
    let engine = Engine::start(log.clone(), config).await?;
    let handle = engine.handle();
    let mut plan = Plan::new(options);
    let (mut commands, mut refused) = (0u64, 0u64);
    let step = plan.step_micros();
    while let Some(chunk) = plan.next_chunk() {
        // Every command of a chunk enters the queue in order before any is answered, so the
        // engine decides them in this order whatever its batching: the log is reproducible.
        let answers = futures_util::future::join_all(chunk.into_iter().map(|(key, kind)| {
            let mut request = CommandRequest::new(kind);
            request.idempotency_key = key;
            handle.execute(request)
        }))
        .await;
        let mut results = Vec::with_capacity(answers.len());
        for result in answers {
            commands += 1;
            match result {
                Ok(committed) => results.push(Some(committed.position)),
                Err(EngineError::Rejected(_)) => {
                    refused += 1;
                    results.push(None);
                }
                Err(other) => return Err(other.into()),
            }
        }
        plan.answered(&results);
        clock.advance(plan.gap(step));
    }
    engine.shutdown().await;
    let recovered = recover(log.as_ref()).await?;
    let head = recovered.head.position;
    write_expected(dir, &recovered.ledger)?;
    if options.read_models {
        let models = open_read_models(&dir.join(READ_MODELS_FILE).display().to_string()).await?;
        let config = ProjectorConfig {
            time_zone: options.time_zone,
            ..ProjectorConfig::default()
        };
        let worker = Projector::start(log.clone(), models, config).await?;
        worker
            .handle()
            .wait_for(head, Duration::from_secs(3600))
            .await?;
        worker.shutdown().await;
    }
    drop(log);
    for file in [LOG_FILE, READ_MODELS_FILE, "readmodels.balances.db"] {
        checkpoint_wal(&dir.join(file)).await?;
    }
    Ok(FixtureSummary {
        seed: options.seed,
        events: head,
        accounts: recovered.ledger.accounts().count(),
        commands,
        refused,
        first_at: options.start,
        last_at: clock.now_at(),
    })
}

/// Folds a SQLite file's write-ahead log into it, so the directory can be copied (or
/// committed) as plain database files.
async fn checkpoint_wal(path: &Path) -> Result<(), ReplayError> {
    /// Leaving WAL mode needs every other connection closed, and the store's last connections
    /// close a moment after its handle is dropped (a background catch-up of its account index
    /// may still hold it): retry for this long before giving up.
    const CLOSE_WAIT: Duration = Duration::from_secs(30);
    if !path.exists() {
        return Ok(());
    }
    let failed =
        |error: rusqlite::Error| ReplayError::Input(format!("{}: {error}", path.display()));
    let conn = rusqlite::Connection::open(path).map_err(failed)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(failed)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(failed)?;
    let started = std::time::Instant::now();
    loop {
        let mode = conn.query_row("PRAGMA journal_mode = DELETE", [], |row| {
            row.get::<_, String>(0)
        });
        match mode {
            Ok(mode) if mode.eq_ignore_ascii_case("delete") => return Ok(()),
            Ok(_) | Err(_) if started.elapsed() < CLOSE_WAIT => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(mode) => {
                return Err(ReplayError::Input(format!(
                    "{}: still in {mode} mode: another connection keeps it open",
                    path.display()
                )));
            }
            Err(error) => return Err(failed(error)),
        }
    }
}

/// `expected-balances.json`: every account's balance, held and available at the head.
fn write_expected(dir: &Path, ledger: &Ledger) -> Result<(), ReplayError> {
    let mut balances: Vec<ExpectedBalance> = ledger
        .accounts()
        .map(|account| ExpectedBalance {
            account_id: account.id.to_string(),
            currency: account.currency.code().to_string(),
            account_type: format!("{:?}", account.account_type),
            balance: account.balance(),
            held: account.held(),
            available: account.available_balance(),
        })
        .collect();
    balances.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    let text =
        serde_json::to_string_pretty(&balances).map_err(|error| ReplayError::Io(error.into()))?;
    std::fs::write(dir.join("expected-balances.json"), text + "\n")?;
    Ok(())
}
