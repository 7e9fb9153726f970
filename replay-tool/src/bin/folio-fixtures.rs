//! `folio-fixtures`: writes a seeded, reproducible Folio history through the real engine.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Parser;
use folio_replay::fixtures::{FixtureOptions, generate};
use folio_replay::time::parse_tz;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "folio-fixtures",
    about = "Writes a seeded, reproducible Folio history through the real engine",
    long_about = "Writes a seeded, reproducible history through the real engine into a fresh data \
directory (events.db, readmodels*.db, expected-balances.json): clients and accounts in EUR, USD, \
GBP, JPY and BHD, pay-ins and pay-outs, transfers, holds posted in full or in part, cancelled or \
left to expire, drafts, two-leg payments with a fee and FX payments through position accounts, \
spread over many business days and midnights by a simulated clock. The same seed and options give \
the same log, byte for byte.\n\nExamples:\n  folio-fixtures --out fixtures/sample --operations 3000\n  \
folio-fixtures --out /tmp/big --operations 1000000 --chunk 4096 --clients 5000 --no-read-models"
)]
struct Cli {
    /// The directory to create (it must not hold a log yet).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 60)]
    clients: u32,
    /// Payment operations after the set-up (clients, accounts, first pay-ins).
    #[arg(long, default_value_t = 3000)]
    operations: u64,
    /// Commands decided at one simulated instant (and submitted together).
    #[arg(long, default_value_t = 8)]
    chunk: usize,
    #[arg(long, default_value = "2026-09-01T06:00:00Z")]
    start: DateTime<Utc>,
    /// Days the history spans.
    #[arg(long, default_value_t = 45)]
    days: u32,
    /// Events between engine snapshots.
    #[arg(long, default_value_t = 1000)]
    snapshot_every: u64,
    /// Leave the read models out (a log for benchmarks).
    #[arg(long)]
    no_read_models: bool,
    #[arg(long, default_value = "UTC")]
    time_zone: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let options = FixtureOptions {
        seed: cli.seed,
        clients: cli.clients,
        operations: cli.operations,
        chunk: cli.chunk,
        start: cli.start,
        days: cli.days,
        snapshot_every: cli.snapshot_every,
        read_models: !cli.no_read_models,
        time_zone: parse_tz(&cli.time_zone)?,
    };
    let summary = generate(&cli.out, &options)
        .await
        .with_context(|| format!("generating into {}", cli.out.display()))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
