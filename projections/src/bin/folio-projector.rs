//! `folio-projector`: runs Folio's projectors on their own, outside the server, so read models
//! can be kept on other machines against the same PostgreSQL (or beside a SQLite log).

use anyhow::{Context, Result};
use clap::Parser;
use folio_projections::{FoldScope, Projector, ProjectorConfig, open_read_models};
use std::time::Duration;

// As in the server: the projectors free whole batches of rows on other threads than the ones
// that allocated them, which glibc's malloc handles poorly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "folio-projector",
    about = "Runs Folio's projectors alone: follows the event log into the read models",
    long_about = "Runs Folio's projectors alone: follows the event log into the read models \
(balances; statement lines, daily balances and payments) until stopped with Ctrl-C or SIGTERM, \
and reports each projector's lag.\n\n\
Examples:\n  folio-projector --log sqlite://data/events.db --read-models data/readmodels.db\n  \
folio-projector --log postgres://folio@db/folio --read-models postgres://folio@db/folio\n  \
folio-projector --log sqlite://data/events.db --read-models data/readmodels.db --rebuild"
)]
struct Cli {
    /// The event log: sqlite://path or postgres://…
    #[arg(long, env = "FOLIO_LOG_URL")]
    log: String,
    /// The read models: a SQLite file (sqlite://path or a path) or postgres://…
    #[arg(long, env = "FOLIO_READ_MODELS_URL")]
    read_models: String,
    /// The time zone business days follow (IANA name).
    #[arg(long, env = "FOLIO_TIME_ZONE", default_value = "UTC")]
    time_zone: chrono_tz::Tz,
    /// Rebuild every read model from the log first (blue/green), then follow it.
    #[arg(long)]
    rebuild: bool,
    /// Seconds between lag reports.
    #[arg(long, default_value_t = 10)]
    report_every: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let log = folio_store::open_store(&cli.log)
        .await
        .with_context(|| format!("opening the log at {}", cli.log))?;
    let models = open_read_models(&cli.read_models)
        .await
        .with_context(|| format!("opening the read models at {}", cli.read_models))?;
    let config = ProjectorConfig {
        time_zone: cli.time_zone,
        ..ProjectorConfig::default()
    };
    if cli.rebuild {
        // Before the live projectors start: they would otherwise replay the log alongside.
        let offline = Projector::detached(log.clone(), models.clone(), config.clone()).await?;
        let position = offline
            .rebuild(|progress| {
                tracing::info!(
                    done = progress.events_done,
                    total = progress.events_total,
                    events_per_second = progress.events_per_second as u64,
                    "rebuilding"
                );
            })
            .await?;
        tracing::info!(position, "rebuild swapped in");
    }
    let worker = Projector::start(log, models, config).await?;
    let projector = worker.handle();
    let mut report = tokio::time::interval(Duration::from_secs(cli.report_every.max(1)));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    loop {
        tokio::select! {
            _ = report.tick() => {
                tracing::info!(
                    balances_position = projector.scope_position(FoldScope::Balances),
                    balances_lag = projector.lag(FoldScope::Balances),
                    ledger_position = projector.scope_position(FoldScope::Ledger),
                    ledger_lag = projector.lag(FoldScope::Ledger),
                    "projecting"
                );
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    tracing::info!("stopping after the batches in hand");
    worker.shutdown().await;
    Ok(())
}
