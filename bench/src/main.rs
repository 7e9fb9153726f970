//! `folio-bench`: Folio's load generator. With no arguments it runs the standard engine
//! workloads on SQLite in a temporary directory and prints one line per workload.

mod crash_load;
mod http;
mod rng;
mod workloads;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use workloads::{Workload, WorkloadOptions};

// The binaries it measures against (`folio`, `folio-replay`) use mimalloc: so does the
// in-process engine, projector and rebuild measured here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "folio-bench",
    about = "Benchmarks Folio's engine in-process, durable, and prints one line per workload",
    long_about = "Benchmarks Folio's engine in-process, durable (every batch is committed with fsync \
before it is acknowledged), and prints one line per workload:\n\n  \
uniform  sqlite  123456 payments/s  p50 0.4 ms  p99 2.1 ms\n\n\
With no subcommand it runs the standard set (uniform, hot, two-phase) on SQLite in a \
temporary directory, or on PostgreSQL when --database-url is given.\n\n\
Examples:\n  folio-bench\n  folio-bench --payments 200000 --workloads uniform\n  \
folio-bench --database-url postgres://folio@127.0.0.1:5432/bench"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// PostgreSQL URL to benchmark instead of SQLite (the database must be empty).
    #[arg(long, env = "FOLIO_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory for the SQLite files (default: a fresh temporary directory, removed after).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Payments per workload (two-phase: pend+post pairs).
    #[arg(long, default_value_t = 1_000_000)]
    payments: u64,
    /// Funded customer accounts the payments move between.
    #[arg(long, default_value_t = 10_000)]
    accounts: u32,
    /// Commands in flight at once (callers waiting for their answer).
    #[arg(long, default_value_t = 1024)]
    concurrency: usize,
    /// Most commands per batch (one store transaction).
    #[arg(long, default_value_t = 4096)]
    batch_limit: usize,
    /// lag: the projectors' gather after a busy batch, in milliseconds (the server's
    /// --projection-gather-ms defaults to 30; 0 measures the projectors alone).
    #[arg(long, default_value_t = 0)]
    gather_ms: u64,
    /// lag: the smallest batch the projectors gather after (the server's default).
    #[arg(long, default_value_t = 64)]
    gather_min_events: usize,
    /// Which workloads to run, comma-separated: uniform, hot, two-phase, rebuild, lag.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "uniform,hot,two-phase,rebuild,lag"
    )]
    workloads: Vec<Workload>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs payments through the engine and prints `ACK <payment id>` for each acknowledged one
    /// (used by the crash test, which kills this process with SIGKILL mid-load).
    CrashLoad(crash_load::CrashLoadArgs),
    /// The REST benchmark: starts the release `folio` binary on a fresh SQLite directory (or
    /// targets --url), opens and funds accounts over HTTP, then sends create-and-post payments
    /// over keep-alive connections and prints one `http` line (payments/s, p50/p99/p999).
    Http(http::HttpArgs),
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match cli.command {
        Some(Command::CrashLoad(args)) => runtime.block_on(crash_load::run(args)),
        Some(Command::Http(args)) => runtime.block_on(http::run(args)),
        None => runtime.block_on(run_standard(cli.run)),
    }
}

async fn run_standard(args: RunArgs) -> Result<()> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    for workload in &args.workloads {
        let url = match (&args.database_url, &args.data_dir) {
            (Some(url), _) => {
                workloads::reset_postgres(url).await?;
                url.clone()
            }
            (None, Some(dir)) => {
                let dir = dir.join(workload.name());
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                format!("sqlite://{}", dir.join("events.db").display())
            }
            (None, None) => {
                let dir = temp.path().join(workload.name());
                std::fs::create_dir_all(&dir)?;
                format!("sqlite://{}", dir.join("events.db").display())
            }
        };
        let options = WorkloadOptions {
            payments: args.payments,
            accounts: args.accounts,
            concurrency: args.concurrency,
            batch_limit: args.batch_limit,
            gather: std::time::Duration::from_millis(args.gather_ms),
            gather_min_events: args.gather_min_events,
        };
        // The read models go where the log is: the same PostgreSQL database, or a file beside
        // the SQLite log.
        let read_models = match &args.database_url {
            Some(url) => url.clone(),
            None => url
                .trim_start_matches("sqlite://")
                .replace("events.db", "readmodels.db"),
        };
        let report = workloads::run(*workload, &url, &read_models, &options).await?;
        println!("{report}");
    }
    Ok(())
}
