//! `folio-sim`: runs deterministic simulations and prints a line per seed, or the violation
//! found with the command that replays it.

use anyhow::bail;
use clap::Parser;
use folio_sim::{FaultSet, SimConfig, run};
use std::path::PathBuf;
use std::time::Instant;

/// Runs Folio's engine, event store and projectors under a seeded scheduler with injected
/// faults, checking every invariant continuously. A failure prints its seed and a one-line
/// command that replays it exactly.
///
/// Examples:
///   folio-sim                                  one run of 100,000 steps on a random seed
///   folio-sim --seed 42 --steps 1000000        one long run, replayable
///   folio-sim --runs 10 --steps 100000         ten runs on fresh random seeds
///   folio-sim --seed 7 --faults crash,clock    only some faults
///   folio-sim --seed 7 --check-determinism     run twice, compare the traces bit for bit
#[derive(Parser, Debug)]
#[command(name = "folio-sim", version, verbatim_doc_comment)]
struct Args {
    /// The seed of the (first) run; random when absent.
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated steps per run (a step is one client action, fault or tick of 1 ms).
    #[arg(long, default_value_t = 100_000)]
    steps: u64,
    /// How many runs, on consecutive seeds from the first.
    #[arg(long, default_value_t = 1)]
    runs: u64,
    /// Faults to inject: `all`, `none`, or a comma-separated list of append-fail, lost-answer,
    /// stall, reject, crash, projector-fail, projector-kill, clock.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Commands in flight at most (the simulated clients).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Steps between full checks of the read models.
    #[arg(long, default_value_t = 25_000)]
    models_every: u64,
    /// Keep the run's files here instead of a temporary directory (one run only).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write every line of the trace to this file (one run only).
    #[arg(long)]
    trace_out: Option<PathBuf>,
    /// For a build with a planted bug: succeed only if a violation is found (and print it).
    #[arg(long)]
    expect_violation: bool,
    /// Run each seed twice and fail unless both traces agree bit for bit.
    #[arg(long)]
    check_determinism: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let faults = FaultSet::parse(&args.faults).map_err(anyhow::Error::msg)?;
    if args.dir.is_some() && (args.runs > 1 || args.check_determinism) {
        bail!("--dir keeps one run's files: use it with a single run");
    }
    let first_seed = args.seed.unwrap_or_else(random_seed);
    let mut total_steps = 0u64;
    let started = Instant::now();
    for run_index in 0..args.runs {
        let seed = first_seed.wrapping_add(run_index);
        let mut config = SimConfig::new(seed, args.steps);
        config.faults = faults;
        config.clients = args.clients.max(1);
        config.models_every = args.models_every.max(1);
        config.dir = args.dir.clone();
        config.trace_out = args.trace_out.clone();
        println!("seed {seed}: {} steps, faults {faults}", args.steps);
        let run_started = Instant::now();
        let report = match run(&config) {
            Ok(report) => report,
            Err(violation) => {
                eprintln!("{violation}");
                if args.expect_violation {
                    println!("sim: the planted bug was caught at step {}", violation.step);
                    return Ok(());
                }
                bail!(
                    "seed {seed} broke an invariant; replay: {}",
                    violation.replay
                );
            }
        };
        let seconds = run_started.elapsed().as_secs_f64();
        println!(
            "seed {seed}: ok — {} commands ({} acknowledged, {} refused, {} retried in doubt), \
             {} events, {} crashes, {} projector kills, {} acknowledgements matched in the log; \
             {:.0} steps/s; trace {:016x}",
            report.commands_sent,
            report.acknowledged,
            report.rejected,
            report.in_doubt_retries,
            report.events,
            report.crashes,
            report.projector_kills,
            report.acks_verified,
            args.steps as f64 / seconds.max(1e-9),
            report.trace_digest
        );
        if args.check_determinism {
            let again = run(&config).map_err(|v| anyhow::anyhow!("second run: {v}"))?;
            if again != report {
                bail!(
                    "seed {seed} is not deterministic: trace {:016x} then {:016x}",
                    report.trace_digest,
                    again.trace_digest
                );
            }
            println!("seed {seed}: replayed bit for bit");
        }
        total_steps += args.steps;
    }
    if args.expect_violation {
        bail!("a violation was expected (a planted bug), but {total_steps} steps found none");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sim: {} runs, {total_steps} steps, no violation, {:.0} steps/s",
        args.runs,
        total_steps as f64 / seconds.max(1e-9)
    );
    Ok(())
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}
