//! `folio-replay`: the auditors' and ops' command line over Folio's event log.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use folio_domain::AccountId;
use folio_projections::{Projector, ProjectorConfig};
use folio_replay::export::ExportFormat;
use folio_replay::history::{self, Format};
use folio_replay::progress::Progress;
use folio_replay::time::{parse_date, parse_from, parse_tz, parse_until};
use folio_replay::verify::VerifyOptions;
use folio_replay::{Source, daily, export, verify};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use uuid::Uuid;

// A log pass decodes and frees millions of small events on several threads: mimalloc keeps
// that memory in per-thread pages where glibc's malloc returned and re-faulted it (README:
// "`verify` speed").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "folio-replay",
    about = "Audits and recalculates a Folio ledger from its immutable event log",
    long_about = "Audits and recalculates a Folio ledger from its immutable event log. It reads \
the log of a data directory (SQLite: events.db and the readmodels*.db files the folio server \
keeps there; a copy taken offline works too) or of a PostgreSQL database, and never appends to it.\n\n\
Exit status: 0 when every check passed, 1 when a check found mismatches (each listed), 2 on an \
error.\n\nExamples:\n  folio-replay --data-dir ./data verify\n  \
folio-replay --database-url postgres://folio@127.0.0.1/folio daily-check --date 2026-11-23"
)]
struct Cli {
    #[command(flatten)]
    source: SourceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct SourceArgs {
    /// The data directory of a SQLite ledger (events.db, readmodels.db, readmodels.balances.db).
    #[arg(long, global = true, env = "FOLIO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL (log and read models in the same database); wins over --data-dir.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The time zone of business days (the server's --time-zone), for dates and daily balances.
    #[arg(long, global = true, default_value = "UTC")]
    time_zone: String,
    /// No progress output on stderr.
    #[arg(long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Checks the whole log and compares the read models and the snapshot with it.
    #[command(
        long_about = "One pass over the whole log: the hash chain (a changed byte anywhere in \
an event breaks it), gapless positions, per-stream revisions, time order and every event's schema; \
every account's balance, held and available amount recomputed from genesis with the domain's own \
rules; then compared with the latest snapshot and with the read models (balances, the last daily \
closing and the last statement line of every account, at each read model's checkpoint). Prints a \
summary and one MISMATCH line per difference (account, field, expected, found, first position \
where they diverge); exits 1 if there is any.\n\nExample:\n  folio-replay --data-dir ./data verify"
    )]
    Verify {
        /// Check the log and the snapshot only.
        #[arg(long)]
        skip_read_models: bool,
    },
    /// An account's events in order with the balance, held and available after each.
    #[command(
        long_about = "An account's raw events in log order (its own stream and every \
payment leg that touched it: on SQLite found by reading the whole log, on PostgreSQL through \
the account index), each with the account's balance, held and available amount right after it, recomputed with \
the domain's rules.\n\nExample:\n  folio-replay --data-dir ./data history --account \
0190a5c4-1c2d-7e3f-8a9b-0c1d2e3f4a5b --from 2026-11-01 --to 2026-11-30 --format csv"
    )]
    History {
        #[arg(long)]
        account: Uuid,
        /// From this instant (RFC 3339) or the start of this day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Up to this instant (RFC 3339) or the end of this day (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// An account's balance, held and available at a past instant, from the log alone.
    #[command(
        long_about = "The balance, held and available amount of an account as they were at \
an instant, replaying the account's events recorded at or before it.\n\n--as-of takes an RFC 3339 \
instant or a date (the end of that business day in --time-zone).\n\nExample:\n  folio-replay \
--data-dir ./data balance --account 0190a5c4-1c2d-7e3f-8a9b-0c1d2e3f4a5b --as-of 2026-11-23T17:00:00Z"
    )]
    Balance {
        #[arg(long)]
        account: Uuid,
        #[arg(long)]
        as_of: String,
    },
    /// Rebuilds the read models from the log (blue/green), then verifies them.
    #[command(
        long_about = "Ops' recalculation: fills fresh read-model tables from position 0 \
while the live ones keep serving, indexes them and swaps them in atomically (the projections' \
blue/green rebuild), then runs verify. The tables are rebuilt and swapped together, so every \
projection name rebuilds all of them. Run it while no server projects into these read models.\n\n\
Example:\n  folio-replay --data-dir ./data rebuild --projection all"
    )]
    Rebuild {
        /// all, balances, transactions, daily-balances, payments or clients.
        #[arg(long, default_value = "all")]
        projection: String,
    },
    /// Every account's daily balance of a day against the log, and Σ balances = 0 per currency.
    #[command(
        long_about = "For every account, the daily-balance read model's closing of --date \
(a business day in --time-zone, idle days carried forward) against the balance the log proves at \
that day's end; and the sum of all balances per currency, which double entry keeps at 0, in the \
log and in the read model. Prints passed/failed with the details.\n\nExample:\n  folio-replay \
--data-dir ./data daily-check --date 2026-11-23"
    )]
    DailyCheck {
        #[arg(long)]
        date: String,
    },
    /// Writes the log as CSV or JSON Lines to stdout.
    #[command(
        long_about = "The log for external tools, in position order, every envelope field \
(position, stream, revision, id, type, schema version, recorded_at, correlation and causation \
ids, idempotency key, payload, metadata, hash in hex) on stdout.\n\nExample:\n  folio-replay \
--data-dir ./data export --format jsonl --from-position 1000 > events.jsonl"
    )]
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// The first position written.
        #[arg(long, default_value_t = 1)]
        from_position: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the command; Ok(false) when a check failed.
async fn run(cli: Cli) -> Result<bool> {
    let args = &cli.source;
    let tz = parse_tz(&args.time_zone)?;
    let source = Source::open(args.data_dir.as_deref(), args.database_url.as_deref())
        .await
        .context("opening the log")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match cli.command {
        Command::Verify { skip_read_models } => {
            let options = VerifyOptions {
                skip_read_models,
                quiet: args.quiet,
                progress: None,
            };
            let report = verify::verify(&source, &options).await?;
            write!(out, "{report}")?;
            Ok(report.passed())
        }
        Command::History {
            account,
            from,
            to,
            format,
        } => {
            let from = from.map(|t| parse_from(&t, tz)).transpose()?;
            let to = to.map(|t| parse_until(&t, tz)).transpose()?;
            let steps = history::history(source.log.as_ref(), AccountId(account), from, to).await?;
            history::write_steps(&mut out, &steps, format)?;
            Ok(true)
        }
        Command::Balance { account, as_of } => {
            let until = parse_until(&as_of, tz)?;
            match history::balance_as_of(source.log.as_ref(), AccountId(account), until).await? {
                None => writeln!(
                    out,
                    "account {account} did not exist at {}",
                    until.to_rfc3339()
                )?,
                Some(step) => writeln!(
                    out,
                    "account {account} as of {}: balance {} held {} available {} {} (position {})",
                    until.to_rfc3339(),
                    step.balance,
                    step.held,
                    step.available,
                    step.currency,
                    step.position
                )?,
            }
            Ok(true)
        }
        Command::Rebuild { projection } => {
            const NAMES: [&str; 6] = [
                "all",
                "balances",
                "transactions",
                "daily-balances",
                "payments",
                "clients",
            ];
            if !NAMES.contains(&projection.as_str()) {
                anyhow::bail!("--projection {projection:?}: one of {}", NAMES.join(", "));
            }
            let models = source.read_models().await?;
            let config = ProjectorConfig {
                time_zone: tz,
                ..ProjectorConfig::default()
            };
            let projector = Projector::detached(source.log.clone(), models, config).await?;
            let head = source.log.head().await?.position;
            let mut progress = Progress::new("rebuild", head, args.quiet);
            let position = projector
                .rebuild(|step| progress.set(step.events_done))
                .await
                .context("rebuilding the read models")?;
            let elapsed = progress.finish(position);
            writeln!(
                out,
                "rebuilt every read model ({projection}) up to position {position} in {:.2} s",
                elapsed.as_secs_f64()
            )?;
            let report = verify::verify(
                &source,
                &VerifyOptions {
                    skip_read_models: false,
                    quiet: args.quiet,
                    progress: None,
                },
            )
            .await?;
            write!(out, "{report}")?;
            Ok(report.passed())
        }
        Command::DailyCheck { date } => {
            let day = parse_date(&date)?;
            let report = daily::daily_check(&source, day, tz, None, args.quiet)
                .await?
                .report;
            write!(out, "{report}")?;
            Ok(report.passed())
        }
        Command::Export {
            format,
            from_position,
        } => {
            export::export(source.reader(), from_position, format, &mut out, args.quiet).await?;
            Ok(true)
        }
    }
}
