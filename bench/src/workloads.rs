//! The engine workloads: uniform, hot and two-phase payments over funded accounts.

use crate::rng::Rng;
use anyhow::{Context, Result, bail};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, CommandKind, CreateMode, CreatePayment,
    Currency, LegRequest, OpenAccount, PaymentId,
};
use folio_engine::{CommandRequest, Engine, EngineConfig, EngineHandle};
use folio_projections::{FoldScope, Projector, ProjectorConfig};
use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Create-and-post payments between random funded accounts.
    Uniform,
    /// The same, with 80% of payments crediting one account.
    Hot,
    /// Pend (hold) then post, as pairs.
    TwoPhase,
    /// Writes a log of at least `payments` events, then rebuilds every read model from it.
    Rebuild,
    /// The uniform workload with the projector running: time from commit to visible.
    Lag,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::Hot => "hot",
            Workload::TwoPhase => "two-phase",
            Workload::Rebuild => "rebuild",
            Workload::Lag => "lag",
        }
    }
}

pub struct WorkloadOptions {
    pub payments: u64,
    pub accounts: u32,
    pub concurrency: usize,
    pub batch_limit: usize,
    /// The lag workload's projector gather (see `ProjectorConfig::gather`).
    pub gather: std::time::Duration,
    pub gather_min_events: usize,
}

/// One line of the benchmark's output.
pub struct Report {
    pub line: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// What one run of payments measured.
struct Measured {
    payments_per_s: f64,
    latency_us: Histogram<u64>,
    /// Commit-to-visible times of sampled commands (with a projector running).
    lag_us: Option<Histogram<u64>>,
}

/// Opens `url`, starts an engine on it, funds the accounts, runs the workload and reports.
/// `read_models` is where the projection workloads keep their read models (a SQLite file or a
/// PostgreSQL URL).
pub async fn run(
    workload: Workload,
    url: &str,
    read_models: &str,
    options: &WorkloadOptions,
) -> Result<Report> {
    let store = folio_store::open_store(url)
        .await
        .with_context(|| format!("opening the store at {url}"))?;
    let backend = store.backend_name();
    let engine = Engine::start(
        store.clone(),
        EngineConfig {
            batch_limit: options.batch_limit,
            ..EngineConfig::default()
        },
    )
    .await?;
    let handle = engine.handle();
    let currency = Currency::from_code("EUR")?;
    let accounts = Arc::new(open_funded_accounts(&handle, options.accounts, currency).await?);
    let line = match workload {
        Workload::Uniform | Workload::Hot | Workload::TwoPhase => {
            let measured = drive(&handle, workload, options, accounts, currency, None).await?;
            engine.shutdown().await;
            format!(
                "{:<10} {:<8} {:>8.0} payments/s  p50 {:.1} ms  p99 {:.1} ms  ({} payments)",
                workload.name(),
                backend,
                measured.payments_per_s,
                ms(&measured.latency_us, 0.50),
                ms(&measured.latency_us, 0.99),
                options.payments
            )
        }
        Workload::Lag => {
            let models = folio_projections::open_read_models(read_models)
                .await
                .with_context(|| format!("opening the read models at {read_models}"))?;
            let config = ProjectorConfig {
                gather: options.gather,
                gather_min_events: options.gather_min_events,
                ..ProjectorConfig::default()
            };
            let worker = Projector::start(store.clone(), models, config).await?;
            let projector = worker.handle();
            projector
                .wait_for(
                    handle.committed_position(),
                    std::time::Duration::from_secs(60),
                )
                .await?;
            let measured = drive(
                &handle,
                Workload::Uniform,
                options,
                accounts,
                currency,
                Some(projector),
            )
            .await?;
            engine.shutdown().await;
            worker.shutdown().await;
            let lag = measured.lag_us.context("lag samples")?;
            format!(
                "{:<10} {:<8} p50 {:.1} ms  p99 {:.1} ms  commit-to-visible in the balance read model, \
                 under the uniform load at {:.0} payments/s ({} samples)",
                workload.name(),
                backend,
                ms(&lag, 0.50),
                ms(&lag, 0.99),
                measured.payments_per_s,
                lag.len()
            )
        }
        Workload::Rebuild => {
            drive(
                &handle,
                Workload::Uniform,
                options,
                accounts,
                currency,
                None,
            )
            .await?;
            engine.shutdown().await;
            let events = store.head().await?.position;
            let models = folio_projections::open_read_models(read_models)
                .await
                .with_context(|| format!("opening the read models at {read_models}"))?;
            let projector = Projector::detached(store, models, ProjectorConfig::default()).await?;
            let started = Instant::now();
            let mut last_report = Instant::now();
            projector
                .rebuild(|progress| {
                    if last_report.elapsed().as_secs() >= 5 {
                        last_report = Instant::now();
                        eprintln!(
                            "rebuild: {}/{} events, {:.0} events/s",
                            progress.events_done, progress.events_total, progress.events_per_second
                        );
                    }
                })
                .await?;
            let seconds = started.elapsed().as_secs_f64();
            format!(
                "{:<10} {:<8} {:>8.0} events/s  ({} events in {:.1} s: fold, write unindexed, index, swap)",
                workload.name(),
                backend,
                events as f64 / seconds,
                events,
                seconds
            )
        }
    };
    Ok(Report { line })
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// Every this many payments a worker samples the commit-to-visible time.
const LAG_SAMPLE_EVERY: u64 = 64;

/// Runs `options.payments` payments from `options.concurrency` callers at once.
async fn drive(
    handle: &EngineHandle,
    workload: Workload,
    options: &WorkloadOptions,
    accounts: Arc<Vec<AccountId>>,
    currency: Currency,
    projector: Option<Projector>,
) -> Result<Measured> {
    let hot_account = accounts[0];
    let remaining = Arc::new(AtomicU64::new(options.payments));
    let lag_us = Arc::new(std::sync::Mutex::new(new_histogram()?));
    let completed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(options.concurrency);
    for worker in 0..options.concurrency {
        let handle = handle.clone();
        let accounts = accounts.clone();
        let remaining = remaining.clone();
        let projector = projector.clone();
        let lag_us = lag_us.clone();
        let completed = completed.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x5EED_0000 + worker as u64);
            // A plain vector per caller: thousands of histograms would cost more than the
            // engine (each is a large zeroed array).
            let mut latency_us: Vec<u32> = Vec::new();
            while take_one(&remaining) {
                let debit = accounts[rng.below(accounts.len() as u64) as usize];
                let credit = match workload {
                    Workload::Hot if rng.below(10) < 8 => hot_account,
                    _ => accounts[rng.below(accounts.len() as u64) as usize],
                };
                if debit == credit {
                    // Keep the count honest: this payment is still owed.
                    remaining.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let amount = Decimal::new(1 + rng.below(1000) as i64, 2);
                let mode = match workload {
                    Workload::TwoPhase => CreateMode::Pending,
                    _ => CreateMode::Posted,
                };
                let payment_id = PaymentId(Uuid::now_v7());
                let create = payment(payment_id, debit, credit, amount, currency, mode);
                let position = timed(&handle, create, &mut latency_us).await?;
                if workload == Workload::TwoPhase {
                    let post = CommandKind::PostPayment {
                        payment_id,
                        amount: None,
                    };
                    timed(&handle, post, &mut latency_us).await?;
                }
                let done = completed.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(projector) = &projector
                    && done.is_multiple_of(LAG_SAMPLE_EVERY)
                {
                    // Acknowledged means committed: from here to visible is the lag.
                    let committed_at = Instant::now();
                    projector
                        .wait_for_scope(
                            FoldScope::Balances,
                            position,
                            std::time::Duration::from_secs(30),
                        )
                        .await?;
                    if let Ok(mut lag) = lag_us.lock() {
                        lag.saturating_record(committed_at.elapsed().as_micros() as u64);
                    }
                }
            }
            anyhow::Ok(latency_us)
        }));
    }
    let mut per_worker = Vec::with_capacity(workers.len());
    for worker in workers {
        per_worker.push(worker.await??);
    }
    let elapsed = started.elapsed();
    let mut latency_us = new_histogram()?;
    for sample in per_worker.into_iter().flatten() {
        latency_us.saturating_record(u64::from(sample));
    }
    let lag_us = match projector {
        Some(_) => Some(
            lag_us
                .lock()
                .map_err(|_| anyhow::anyhow!("the lag histogram was poisoned"))?
                .clone(),
        ),
        None => None,
    };
    Ok(Measured {
        payments_per_s: options.payments as f64 / elapsed.as_secs_f64(),
        latency_us,
        lag_us,
    })
}

fn take_one(remaining: &AtomicU64) -> bool {
    remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok()
}

fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("creating a latency histogram")
}

/// Executes one command, records its latency and returns the position it reached.
async fn timed(handle: &EngineHandle, kind: CommandKind, latency_us: &mut Vec<u32>) -> Result<u64> {
    let started = Instant::now();
    let committed = handle.execute(CommandRequest::new(kind)).await?;
    latency_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
    Ok(committed.position)
}

pub fn payment(
    payment_id: PaymentId,
    debit: AccountId,
    credit: AccountId,
    amount: Decimal,
    currency: Currency,
    mode: CreateMode,
) -> CommandKind {
    CommandKind::CreatePayment(CreatePayment {
        payment_id,
        legs: vec![LegRequest {
            debit: Some(debit),
            credit: Some(credit),
            amount,
            currency,
        }],
        mode,
        description: None,
        external_id: None,
        metadata: None,
        expires_at: None,
    })
}

/// Opens `count` current accounts and pays 1,000,000 into each, many commands at a time.
pub async fn open_funded_accounts(
    handle: &EngineHandle,
    count: u32,
    currency: Currency,
) -> Result<Vec<AccountId>> {
    if count < 2 {
        bail!("the workloads need at least two accounts");
    }
    let client = ClientId(Uuid::now_v7());
    let ids: Vec<AccountId> = (0..count).map(|_| AccountId(Uuid::now_v7())).collect();
    let funding = Decimal::new(1_000_000, 0);
    let mut tasks = Vec::with_capacity(ids.len());
    for &account_id in &ids {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            let open = CommandKind::OpenAccount(OpenAccount {
                account_id,
                client_id: Some(client),
                currency,
                account_type: AccountType::Current,
                name: None,
                number: None,
                overdraft_limit: Decimal::ZERO,
                status: AccountStatus::Active,
            });
            handle.execute(CommandRequest::new(open)).await?;
            let pay_in = CommandKind::CreatePayment(CreatePayment {
                payment_id: PaymentId(Uuid::now_v7()),
                legs: vec![LegRequest {
                    debit: None,
                    credit: Some(account_id),
                    amount: funding,
                    currency,
                }],
                mode: CreateMode::Posted,
                description: Some("funding".to_string()),
                external_id: None,
                metadata: None,
                expires_at: None,
            });
            handle.execute(CommandRequest::new(pay_in)).await?;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(ids)
}

/// Empties a scratch PostgreSQL database so each workload starts on an empty log: drops and
/// recreates its `public` schema (the store recreates its tables when opened).
pub async fn reset_postgres(url: &str) -> Result<()> {
    folio_store::postgres::wipe_for_benchmark(url)
        .await
        .with_context(|| format!("emptying the benchmark database at {url}"))
}
