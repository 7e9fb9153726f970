//! `folio`: the ledger server. Opens the event log (SQLite under a data directory, or
//! PostgreSQL), starts the writer and the projectors in-process and serves the REST API until
//! SIGTERM or Ctrl-C, then finishes the commands in flight and stops.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use folio_api::auth::ApiKeys;
use folio_api::jobs::Jobs;
use folio_api::metrics::Metrics;
use folio_api::state::Shared;
use folio_api::{AppState, router};
use folio_engine::{Engine, EngineConfig};
use folio_projections::{Projector, ProjectorConfig, open_read_models};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

// Every request allocates and frees a few dozen small buffers on whichever worker runs it, and
// the projectors free whole batches of rows on another thread: glibc's malloc spent ~10% of the
// server's CPU under the HTTP benchmark (its arenas, consolidation and cross-thread frees).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "folio",
    version,
    about = "Folio: an event-sourced ledger with a REST API (accounts, payments, transactions, balances)",
    long_about = "Folio: an event-sourced ledger with a REST API.\n\n\
`folio` (or `folio serve`) opens the event log, starts the single writer and the projectors in \
this process and serves the API of API.md: accounts, payments (create, draft, pend, post, \
cancel), transactions, daily balances. The description of every route is at /openapi.json and \
rendered at /docs; probes at /health/live and /health/ready; Prometheus metrics at /metrics.\n\n\
Storage: by default SQLite files under --data-dir (events.db, the log; readmodels*.db, the read \
models). With --database-url postgres://… the log and the read models live in that database.\n\n\
Auth: callers send `Authorization: Bearer <key>`. Keys come from FOLIO_API_KEYS \
(`key=system,key=auditor,key=client:<clientId>`) or from the file FOLIO_API_KEYS_FILE (the same \
entries, one per line). system may do everything, auditor may read everything, a client key \
sees only its client's accounts and no /internal route. Without keys the server runs open, and \
only on a loopback address.\n\n\
Examples:\n  folio                                   # SQLite in ./data, http://127.0.0.1:8080\n  \
folio serve --data-dir /var/lib/folio --listen 0.0.0.0:8080   # needs FOLIO_API_KEYS\n  \
DATABASE_URL=postgres://folio@db/folio FOLIO_OTP_KEY_FILE=/etc/folio/otp.key folio --log-format json",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the REST API (the default when no subcommand is given).
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed on start-up).
    #[arg(long, env = "FOLIO_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of the SQLite log and read models (created if missing). Ignored with
    /// --database-url.
    #[arg(long, env = "FOLIO_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user:pass@host/db) holding the log and the read models
    /// instead of SQLite.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Log lines as human-readable text or as JSON objects (one per line).
    #[arg(long, env = "FOLIO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The time zone business days (daily balances) follow, an IANA name.
    #[arg(long, env = "FOLIO_TIME_ZONE", default_value = "UTC")]
    time_zone: String,
    /// /health/ready fails when a read model is more than this many events behind the log.
    #[arg(long, env = "FOLIO_READY_MAX_LAG", default_value_t = 10_000)]
    ready_max_lag: u64,
    /// The payment rail: the built-in simulator answering by itself (`simulator`), or
    /// accepting and never answering (`manual`: answers come through /internal/IncomingRequests).
    #[arg(long, env = "FOLIO_RAIL", default_value = "simulator")]
    rail: String,
    /// The rail simulator's answer delay in milliseconds.
    #[arg(long, env = "FOLIO_RAIL_DELAY_MS", default_value_t = 200)]
    rail_delay_ms: u64,
    /// Share (0–1) of outgoing transfers the rail simulator rejects.
    #[arg(long, env = "FOLIO_RAIL_REJECTION_RATE", default_value_t = 0.0)]
    rail_rejection_rate: f64,
    /// Share (0–1) of outgoing transfers the rail simulator fails.
    #[arg(long, env = "FOLIO_RAIL_FAILURE_RATE", default_value_t = 0.0)]
    rail_failure_rate: f64,
    /// FX rates as units per euro, replacing the built-in table's (`USD=1.16,JPY=178`; every
    /// pair is crossed through the euro).
    #[arg(long, env = "FOLIO_FX_RATES", default_value = "")]
    fx_rates: String,
    /// The bank's FX spread: a fraction of the source amount charged to the fee account.
    #[arg(long, env = "FOLIO_FX_SPREAD", default_value = folio_api::rates::DEFAULT_SPREAD)]
    fx_spread: String,
    /// Seconds an FX quote can be confirmed after it is given (1 to 86400); a later
    /// confirmation is refused with 422 FxQuoteExpired and the transfer must be quoted again.
    #[arg(long, env = "FOLIO_FX_QUOTE_TTL_SECS", default_value_t = folio_api::rates::DEFAULT_QUOTE_TTL_SECS)]
    fx_quote_ttl_secs: u64,
    /// The fixed fee per transfer type in units of the transfer's currency
    /// (`internal`, `sepa`, `sepaInstant`, `swift`, `fasterPayments`; unnamed ones are free).
    #[arg(long, env = "FOLIO_TRANSFER_FEES", default_value = folio_api::fees::DEFAULT_FEES)]
    transfer_fees: String,
    /// The rail simulator's seed (its answers are a function of the seed and the transfer id).
    #[arg(long, env = "FOLIO_RAIL_SEED", default_value_t = 1)]
    rail_seed: u64,
    /// Milliseconds the ledger projector (statement lines, daily balances, payments) gathers
    /// new events before its next read-model transaction when busy, so a busy server writes a
    /// few large transactions rather than many small ones (each rewrites the same hot pages:
    /// measured ~20% less server CPU per payment at 30 than at 10). Only after a batch of at
    /// least --projection-gather-min-events events: a quiet server projects at once, and the
    /// balances projector never waits. Reads asking for X-Folio-Min-Position wait up to this
    /// much longer under load; 0 never waits.
    #[arg(long, env = "FOLIO_PROJECTION_GATHER_MS", default_value_t = 30)]
    projection_gather_ms: u64,
    /// The smallest batch after which a projector gathers (see --projection-gather-ms).
    #[arg(long, env = "FOLIO_PROJECTION_GATHER_MIN_EVENTS", default_value_t = 64)]
    projection_gather_min_events: usize,
    /// The largest document (one file of an upload) accepted, in bytes; larger ones are refused
    /// with 413. Documents are kept under --data-dir/documents, or in PostgreSQL with
    /// --database-url.
    #[arg(long, env = "FOLIO_MAX_DOCUMENT_BYTES", default_value_t = 10 * 1024 * 1024)]
    max_document_bytes: u64,
    /// How long a one-time code stays valid, in seconds.
    #[arg(long, env = "FOLIO_OTP_TTL_SECS", default_value_t = 300)]
    otp_ttl_secs: u64,
    /// The SMS gateway's simulator: the development code sender appends every code it sends
    /// to this file (one JSON line each) besides the server log. For development and tests.
    #[arg(long, env = "FOLIO_OTP_OUTBOX")]
    otp_outbox: Option<PathBuf>,
    /// The server's secret for one-time codes (64 hex digits): the log records codes hashed
    /// with it, so reading the log reveals no code. Made (mode 0600) when missing; default
    /// <data-dir>/otp.key on SQLite; required with --database-url (servers sharing a database
    /// must share this file). Codes issued under another key no longer verify.
    #[arg(long, env = "FOLIO_OTP_KEY_FILE")]
    otp_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    init_logging(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

fn load_keys() -> Result<ApiKeys> {
    let mut text = std::env::var("FOLIO_API_KEYS").unwrap_or_default();
    if let Ok(path) = std::env::var("FOLIO_API_KEYS_FILE") {
        let file = std::fs::read_to_string(&path)
            .with_context(|| format!("reading FOLIO_API_KEYS_FILE {path}"))?;
        text.push('\n');
        text.push_str(&file);
    }
    ApiKeys::parse(&text).context("parsing the API keys")
}

async fn serve(args: ServeArgs) -> Result<()> {
    let keys = load_keys()?;
    if keys.is_empty() {
        if !args.listen.ip().is_loopback() {
            bail!(
                "no API keys are configured (FOLIO_API_KEYS or FOLIO_API_KEYS_FILE), so Folio \
                 runs open and refuses to listen on the non-loopback address {}",
                args.listen
            );
        }
        tracing::warn!(
            "NO API KEYS CONFIGURED: every caller has the system role. Serving on loopback only; \
             set FOLIO_API_KEYS before exposing this server"
        );
    } else {
        tracing::info!(keys = keys.len(), "API keys loaded");
    }
    let time_zone: chrono_tz::Tz = args
        .time_zone
        .parse()
        .map_err(|error| anyhow::anyhow!("--time-zone {}: {error}", args.time_zone))?;
    if args.max_document_bytes == 0 {
        bail!("--max-document-bytes must be at least 1");
    }
    // Settings are checked before any storage is opened: a wrong one fails fast.
    let otp_key_file = match (&args.otp_key_file, &args.database_url) {
        (Some(file), _) => file.clone(),
        (None, None) => args.data_dir.join("otp.key"),
        // Several servers may share the database: a key each would make a code issued by one
        // fail on another, so the file is named, not made up per host.
        (None, Some(_)) => bail!(
            "--otp-key-file (FOLIO_OTP_KEY_FILE) is required with --database-url: every server \
             on that database must check one-time codes with the same key, so point them all at \
             one file (it is made on first start when missing)"
        ),
    };
    let otp_key = folio_api::otp::OtpKey::load_or_create(&otp_key_file)
        .map_err(|error| anyhow::anyhow!("--otp-key-file: {error}"))?;
    let (log_url, models_url) = match &args.database_url {
        Some(url) => (url.clone(), url.clone()),
        None => {
            std::fs::create_dir_all(&args.data_dir).with_context(|| {
                format!("creating the data directory {}", args.data_dir.display())
            })?;
            (
                args.data_dir.join("events.db").display().to_string(),
                args.data_dir.join("readmodels.db").display().to_string(),
            )
        }
    };
    let log = folio_store::open_store(&log_url)
        .await
        .context("opening the event log")?;
    let models = open_read_models(&models_url)
        .await
        .context("opening the read models")?;
    let documents: Arc<dyn folio_store::ContentStore> = match &args.database_url {
        // Uploads are staged (counted and hashed) in a directory of this process's own before
        // they go to the database.
        Some(url) => Arc::new(
            folio_store::PgContentStore::connect(
                url,
                std::env::temp_dir().join(format!("folio-staging-{}", std::process::id())),
            )
            .await
            .context("opening the document store")?,
        ),
        None => Arc::new(
            folio_store::FileContentStore::open(args.data_dir.join("documents"))
                .context("opening the document store")?,
        ),
    };
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .context("starting the writer")?;
    let projectors = Projector::start(
        log.clone(),
        models,
        ProjectorConfig {
            time_zone,
            gather: std::time::Duration::from_millis(args.projection_gather_ms),
            gather_min_events: args.projection_gather_min_events,
            ..ProjectorConfig::default()
        },
    )
    .await
    .context("starting the projectors")?;
    let manual = match args.rail.as_str() {
        "simulator" => false,
        "manual" => true,
        other => bail!("--rail {other}: expected simulator or manual"),
    };
    for (name, rate) in [
        ("--rail-rejection-rate", args.rail_rejection_rate),
        ("--rail-failure-rate", args.rail_failure_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            bail!("{name} {rate}: expected a share between 0 and 1");
        }
    }
    let rail = folio_api::rail::SimulatedRail::new(folio_api::rail::RailSimulatorConfig {
        delay: std::time::Duration::from_millis(args.rail_delay_ms),
        rejection_rate: args.rail_rejection_rate,
        failure_rate: args.rail_failure_rate,
        seed: args.rail_seed,
        manual,
    });
    let rates = folio_api::rates::FixedRates::new(&args.fx_rates, &args.fx_spread)
        .map_err(|error| anyhow::anyhow!("--fx-rates/--fx-spread: {error}"))?
        .with_quote_ttl_secs(args.fx_quote_ttl_secs)
        .map_err(|error| anyhow::anyhow!("--fx-quote-ttl-secs: {error}"))?;
    let fees = folio_api::fees::parse_fees(&args.transfer_fees)
        .map_err(|error| anyhow::anyhow!("--transfer-fees: {error}"))?;
    let (stop_transfers, stop_signal) = tokio::sync::watch::channel(false);
    let transfer_manager = folio_api::transfer_manager::TransferManager::new(
        engine.handle(),
        projectors.handle(),
        Arc::new(rail),
    )
    .spawn(stop_signal);
    if args.otp_ttl_secs == 0 || args.otp_ttl_secs > 86_400 {
        bail!("--otp-ttl-secs {}: expected 1 to 86400", args.otp_ttl_secs);
    }

    let otp_sender = folio_api::otp::LogOtpSender::new(args.otp_outbox.clone())
        .context("opening the OTP outbox (--otp-outbox)")?;
    tracing::warn!(
        outbox = ?args.otp_outbox,
        "one-time codes go to the DEVELOPMENT sender: they are written to this log"
    );
    let state = AppState::new(Shared {
        engine: engine.handle(),
        log: log.clone(),
        projector: projectors.handle(),
        keys: Arc::new(keys),
        metrics: Arc::new(Metrics::default()),
        ready_max_lag: args.ready_max_lag,
        time_zone,
        documents,
        max_document_bytes: args.max_document_bytes,
        jobs: Arc::new(Jobs::default()),
        rates: Arc::new(rates),
        fees,
        otp: folio_api::otp::OtpConfig {
            ttl: std::time::Duration::from_secs(args.otp_ttl_secs),
            sender: Arc::new(otp_sender),
            key: otp_key,
        },
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%address, backend = log.backend_name(), "serving");
    // Tests and scripts read the bound address from this line (port 0 picks a free port).
    println!("folio listening on http://{address}");
    // Answers are small and each connection has one request in flight: no Nagle delay.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("no request in flight any more: stopping the writer and the projectors");
    let _ = stop_transfers.send(true);
    let _ = transfer_manager.await;
    engine.shutdown().await;
    projectors.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; Ctrl-C still stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested: finishing the requests in flight");
}
