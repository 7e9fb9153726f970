//! Measures the read-model rebuild alone on an existing log: rebuilds every read model from
//! position 0 into `READ_MODELS` (a SQLite file, created if needed, or a PostgreSQL URL) and
//! prints events/s with the time spent filling the tables and building their indexes (the
//! `rebuild: tables filled and indexed` line at `RUST_LOG=info`). The log is only read.
//!
//! ```text
//! folio-bench --workloads rebuild --data-dir /tmp/rb      # writes a 1M-event log to reuse
//! cargo run --release -p folio-projections --example rebuild_rate -- \
//!     sqlite:///tmp/rb/rebuild/events.db /tmp/rb/readmodels.db
//! ```

use folio_projections::{Projector, ProjectorConfig, open_read_models};
use std::time::Instant;

// The allocator of the binaries that rebuild (`folio`, `folio-replay`, `folio-bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let (Some(log), Some(read_models)) = (args.next(), args.next()) else {
        return Err("usage: rebuild_rate LOG_URL READ_MODELS".into());
    };
    let store = folio_store::open_store(&log).await?;
    let events = store.head().await?.position;
    let models = open_read_models(&read_models).await?;
    let projector = Projector::detached(store, models, ProjectorConfig::default()).await?;
    let started = Instant::now();
    let position = projector.rebuild(|_| {}).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rebuild {:.0} events/s ({events} events, swapped in at {position}, {seconds:.2} s)",
        events as f64 / seconds
    );
    Ok(())
}
