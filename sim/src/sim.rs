//! One simulation run: a seeded world of clients, the real engine, store and projectors in one
//! simulated process, faults injected by chance, every invariant checked as it goes and at
//! the end.

use crate::audit::{Ack, Auditor};
use crate::block::Io;
use crate::clock::SimClock;
use crate::faults::{Dice, Fault, FaultSet, FaultyLog, FaultyModels};
use crate::models;
use crate::reference::Reference;
use crate::rng::Rng;
use crate::trace::Trace;
use crate::workload::Workload;
use chrono::{TimeZone, Utc};
use folio_domain::{CommandKind, LedgerError, PaymentId, Receipt};
use folio_engine::{CommandRequest, Committed, Engine, EngineConfig, EngineError, EventIds};
use folio_projections::sqlite::SqliteReadModels;
use folio_projections::{Projector, ProjectorConfig, ProjectorWorker, ReadModelStore};
use folio_store::{EventStore, SqliteStore, StoreOptions};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub steps: u64,
    pub faults: FaultSet,
    /// Commands in flight at most (the simulated clients).
    pub clients: usize,
    /// Steps between audits of the log.
    pub audit_every: u64,
    /// Steps between full checks of the read models (the system is let settle first).
    pub models_every: u64,
    /// Where the files go (a fresh temporary directory when absent).
    pub dir: Option<PathBuf>,
    /// Write every trace line to this file.
    pub trace_out: Option<PathBuf>,
}

impl SimConfig {
    pub fn new(seed: u64, steps: u64) -> SimConfig {
        SimConfig {
            seed,
            steps,
            faults: FaultSet::all(),
            clients: 64,
            audit_every: 64,
            models_every: 25_000,
            dir: None,
            trace_out: None,
        }
    }

    /// The command line that replays this run.
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --release -p folio-sim -- --seed {} --steps {} --faults {}",
            self.seed, self.steps, self.faults
        )
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub steps: u64,
    pub commands_sent: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    pub in_doubt_retries: u64,
    pub crashes: u64,
    pub projector_kills: u64,
    pub events: u64,
    pub acks_verified: u64,
    /// Equal for two runs of one seed.
    pub trace_digest: u64,
}

/// A broken invariant, with what it takes to replay it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub seed: u64,
    pub step: u64,
    pub message: String,
    pub replay: String,
    pub recent: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "VIOLATION at step {} (seed {}): {}",
            self.step, self.seed, self.message
        )?;
        writeln!(f, "replay: {}", self.replay)?;
        writeln!(f, "last steps:")?;
        for line in &self.recent {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs a simulation to the end on its own single-threaded runtime with paused time.
pub fn run(config: &SimConfig) -> Result<Report, Violation> {
    let trace = Trace::default();
    if let Some(path) = &config.trace_out
        && let Err(error) = trace.write_to(path)
    {
        eprintln!("cannot write the trace to {}: {error}", path.display());
    }
    let fail = |step: u64, message: String| Violation {
        seed: config.seed,
        step,
        message,
        replay: config.replay_command(),
        recent: trace.recent(),
    };
    let io_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| fail(0, format!("cannot build the I/O runtime: {e}")))?;
    let io = Io::new(&io_runtime);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| fail(0, format!("cannot build the runtime: {e}")))?;
    let temporary;
    let dir = match &config.dir {
        Some(dir) => dir.clone(),
        None => {
            temporary = tempfile::Builder::new()
                .prefix("folio-sim-")
                .tempdir_in(scratch_root())
                .map_err(|e| fail(0, format!("cannot make a temporary directory: {e}")))?;
            temporary.path().to_path_buf()
        }
    };
    let mut sim = runtime.block_on(Simulation::new(config.clone(), dir, trace.clone(), io));
    let outcome = runtime.block_on(async {
        match &mut sim {
            Ok(sim) => sim.run().await,
            Err(message) => Err(message.clone()),
        }
    });
    let step = sim.as_ref().map(|sim| sim.step).unwrap_or(0);
    let report = outcome.map_err(|message| fail(step, message));
    if let Ok(sim) = sim {
        runtime.block_on(sim.stop());
    }
    trace.flush();
    report
}

/// Memory-backed when the machine has it: the simulation fsyncs a lot and proves nothing about
/// disks.
fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Event ids from a counter under a per-seed prefix: unique, and the same for one seed.
struct SeededEventIds {
    prefix: u64,
    next: AtomicU64,
}

impl EventIds for SeededEventIds {
    fn next_event_id(&self) -> Uuid {
        let counter = self.next.fetch_add(1, Ordering::SeqCst);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&counter.to_be_bytes());
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }
}

/// The simulated process: the engine and the projectors over the real files.
struct Process {
    log: Arc<FaultyLog>,
    models: Arc<FaultyModels>,
    engine: Engine,
    projector: ProjectorWorker,
}

/// One command a client wants done, over all its attempts.
struct Logical {
    key: String,
    kind: CommandKind,
    label: &'static str,
    outcome: Option<Outcome>,
    /// For a probe that reuses another command's key with a different request.
    probes: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Committed(Receipt),
    Rejected(&'static str),
}

struct Answer {
    logical: usize,
    result: Result<Committed, EngineError>,
}

struct Simulation {
    config: SimConfig,
    io: Io,
    dir: PathBuf,
    trace: Trace,
    rng: Rng,
    dice: Arc<Dice>,
    clock: Arc<SimClock>,
    event_ids: Arc<SeededEventIds>,
    snapshot_every: u64,
    projector_batch: usize,
    workload: Workload,
    reference: Reference,
    auditor: Auditor,
    process: Option<Process>,
    logicals: Vec<Logical>,
    acknowledged: Vec<usize>,
    in_doubt: VecDeque<usize>,
    in_flight: usize,
    answers_tx: mpsc::UnboundedSender<Answer>,
    answers: mpsc::UnboundedReceiver<Answer>,
    step: u64,
    report: Report,
}

fn store_options() -> StoreOptions {
    StoreOptions {
        index_in_background: false,
        watch_other_writers: false,
        ..Default::default()
    }
}

impl Simulation {
    async fn new(
        config: SimConfig,
        dir: PathBuf,
        trace: Trace,
        io: Io,
    ) -> Result<Simulation, String> {
        let mut rng = Rng::new(config.seed);
        let dice = Arc::new(Dice::new(rng.fork(), config.faults, trace.clone()));
        let workload = Workload::new(rng.fork());
        // A Saturday evening before a DST change, so business days and holds cross midnights.
        let origin = Utc
            .with_ymd_and_hms(2026, 3, 28, 22, 0, 0)
            .single()
            .unwrap_or_else(Utc::now)
            + chrono::Duration::seconds(rng.between(0, 86_400));
        let clock = Arc::new(SimClock::new(origin));
        let event_ids = Arc::new(SeededEventIds {
            prefix: rng.next_u64(),
            next: AtomicU64::new(0),
        });
        let auditor_log: Arc<dyn EventStore> = Arc::new(
            SqliteStore::open_with(dir.join("events.db"), &store_options())
                .map_err(|e| format!("cannot open the log: {e}"))?,
        );
        let (answers_tx, answers) = mpsc::unbounded_channel();
        let snapshot_every = rng.between(100, 3_000) as u64;
        let projector_batch = rng.between(8, 600) as usize;
        let report = Report {
            seed: config.seed,
            steps: config.steps,
            commands_sent: 0,
            acknowledged: 0,
            rejected: 0,
            in_doubt_retries: 0,
            crashes: 0,
            projector_kills: 0,
            events: 0,
            acks_verified: 0,
            trace_digest: 0,
        };
        let mut sim = Simulation {
            config,
            dir,
            trace,
            rng,
            dice,
            clock,
            event_ids,
            snapshot_every,
            projector_batch,
            workload,
            reference: Reference::default(),
            auditor: Auditor::new(auditor_log, io.clone()),
            io,
            process: None,
            logicals: Vec::new(),
            acknowledged: Vec::new(),
            in_doubt: VecDeque::new(),
            in_flight: 0,
            answers_tx,
            answers,
            step: 0,
            report,
        };
        sim.process = Some(sim.start_process().await?);
        Ok(sim)
    }

    fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            batch_limit: 256,
            queue_capacity: 4096,
            batches_in_flight: 2,
            snapshot_every_events: self.snapshot_every,
            clock: self.clock.clone(),
            event_ids: self.event_ids.clone(),
        }
    }

    async fn start_process(&mut self) -> Result<Process, String> {
        let store: Arc<dyn EventStore> = Arc::new(
            SqliteStore::open_with(self.dir.join("events.db"), &store_options())
                .map_err(|e| format!("cannot open the log: {e}"))?,
        );
        let log = Arc::new(FaultyLog::new(store, self.io.clone(), self.dice.clone()));
        // A restart may itself meet a failing disk: try again, as a supervisor would.
        let mut attempts = 0;
        let engine = loop {
            match Engine::start(log.clone(), self.engine_config()).await {
                Ok(engine) => break engine,
                Err(error) if attempts < 100 => {
                    attempts += 1;
                    self.trace.record(format!("engine start failed: {error}"));
                }
                Err(error) => return Err(format!("the engine cannot start: {error}")),
            }
        };
        let (models, projector) = self.start_projector(log.clone()).await?;
        Ok(Process {
            log,
            models,
            engine,
            projector,
        })
    }

    async fn start_projector(
        &mut self,
        log: Arc<FaultyLog>,
    ) -> Result<(Arc<FaultyModels>, ProjectorWorker), String> {
        let path = self.dir.join("readmodels.db");
        let inner: Arc<dyn ReadModelStore> = Arc::new(
            SqliteReadModels::open(&path)
                .map_err(|e| format!("cannot open the read models: {e}"))?,
        );
        let models = Arc::new(FaultyModels::new(inner, self.io.clone(), self.dice.clone()));
        let config = ProjectorConfig {
            batch_size: self.projector_batch,
            retry_delay: Duration::from_millis(20),
            ..ProjectorConfig::default()
        };
        let mut attempts = 0;
        loop {
            match Projector::start(log.clone(), models.clone(), config.clone()).await {
                Ok(worker) => return Ok((models, worker)),
                Err(error) if attempts < 100 => {
                    attempts += 1;
                    self.trace
                        .record(format!("projector start failed: {error}"));
                }
                Err(error) => return Err(format!("the projector cannot start: {error}")),
            }
        }
    }

    fn process(&self) -> Result<&Process, String> {
        self.process
            .as_ref()
            .ok_or_else(|| "no process is running".to_string())
    }

    async fn run(&mut self) -> Result<Report, String> {
        while self.step < self.config.steps {
            self.step += 1;
            self.trace.set_step(self.step);
            self.act().await?;
            // Time moves on (letting the writer and the projectors run) at random steps, so
            // batches gather a few commands, sometimes many.
            match self.rng.below(8) {
                0..=1 => tokio::time::advance(Duration::from_millis(1)).await,
                2 => tokio::task::yield_now().await,
                _ => {}
            }
            self.collect_answers()?;
            if self.step.is_multiple_of(self.config.audit_every) {
                self.auditor.audit()?;
            }
            if self.step.is_multiple_of(4096) {
                self.auditor.check_all()?;
            }
            if self.step.is_multiple_of(self.config.models_every) {
                self.settle().await?;
                self.check_models().await?;
            }
        }
        self.finish().await
    }

    /// One step's action.
    async fn act(&mut self) -> Result<(), String> {
        let faults = self.config.faults;
        if faults.contains(Fault::Crash) && self.dice.roll(Fault::Crash, 1, "the process dies") {
            return self.crash().await;
        }
        if faults.contains(Fault::ProjectorKill)
            && self
                .dice
                .roll(Fault::ProjectorKill, 1, "the projector is killed")
        {
            return self.kill_projector().await;
        }
        if faults.contains(Fault::Clock) && self.dice.roll(Fault::Clock, 2, "the clock jumps") {
            let micros = self.rng.between(-3_600_000_000, 3_600_000_000);
            self.clock.jump(micros);
            self.trace.record(format!("clock jumps {micros} µs"));
            return Ok(());
        }
        if self.in_flight >= self.config.clients {
            // Every client is waiting for an answer: a tick passes.
            tokio::time::advance(Duration::from_millis(1)).await;
            return Ok(());
        }
        if !self.in_doubt.is_empty() && self.rng.chance(300) {
            if let Some(logical) = self.in_doubt.pop_front() {
                self.report.in_doubt_retries += 1;
                self.submit(logical, "retry")?;
            }
            return Ok(());
        }
        if !self.acknowledged.is_empty() && self.rng.chance(15) {
            // The same request again under its key: must come back as the first answer.
            if let Some(&logical) = self.rng.pick(&self.acknowledged) {
                self.submit(logical, "resend")?;
            }
            return Ok(());
        }
        let now = folio_engine::Clock::now(self.clock.as_ref());
        let (kind, label) = self.workload.next(now);
        let probes = if !self.acknowledged.is_empty() && self.rng.chance(8) {
            // Only a request that differs from the first one under that key is a probe; the same
            // request again is a resend, which has its own check.
            self.rng
                .pick(&self.acknowledged)
                .copied()
                .filter(|&original| {
                    self.logicals[original].kind.fingerprint() != kind.fingerprint()
                })
        } else {
            None
        };
        let key = match probes {
            Some(original) => self.logicals[original].key.clone(),
            None => format!("sim-{}", self.logicals.len()),
        };
        self.logicals.push(Logical {
            key,
            kind,
            label: if probes.is_some() { "probe" } else { label },
            outcome: None,
            probes,
        });
        self.submit(self.logicals.len() - 1, "send")
    }

    fn submit(&mut self, logical: usize, why: &str) -> Result<(), String> {
        let entry = &self.logicals[logical];
        let request =
            CommandRequest::new(entry.kind.clone()).with_idempotency_key(entry.key.clone());
        self.trace.record(format!(
            "{why} #{logical} {} key={}",
            entry.label, entry.key
        ));
        let handle = self.process()?.engine.handle();
        let answers = self.answers_tx.clone();
        self.in_flight += 1;
        self.report.commands_sent += 1;
        tokio::spawn(async move {
            let result = handle.execute(request).await;
            let _ = answers.send(Answer { logical, result });
        });
        Ok(())
    }

    fn collect_answers(&mut self) -> Result<(), String> {
        while let Ok(answer) = self.answers.try_recv() {
            self.in_flight -= 1;
            self.on_answer(answer)?;
        }
        Ok(())
    }

    fn on_answer(&mut self, answer: Answer) -> Result<(), String> {
        let Answer { logical, result } = answer;
        let entry = &self.logicals[logical];
        let label = format!("#{logical} {} key={}", entry.label, entry.key);
        let (outcome, probes) = (entry.outcome.clone(), entry.probes);
        match result {
            Ok(committed) => {
                self.trace.record(format!(
                    "ok {label} at {} dup={} events={}",
                    committed.position,
                    committed.duplicate,
                    committed.events.len()
                ));
                match &outcome {
                    Some(Outcome::Committed(receipt)) => {
                        if !committed.duplicate || &committed.receipt != receipt {
                            return Err(format!(
                                "{label}: resending an acknowledged command had a second effect \
                                 (duplicate={}, receipt {:?}, first {receipt:?})",
                                committed.duplicate, committed.receipt
                            ));
                        }
                    }
                    Some(Outcome::Rejected(code)) => {
                        return Err(format!(
                            "{label}: refused with {code} once, accepted later under the same key"
                        ));
                    }
                    None => {
                        if let Some(original) = probes {
                            return Err(format!(
                                "{label}: reused the key of acknowledged command #{original} with a \
                                 different request and was accepted (duplicate={})",
                                committed.duplicate
                            ));
                        }
                        let kind = self.logicals[logical].kind.clone();
                        self.logicals[logical].outcome =
                            Some(Outcome::Committed(committed.receipt));
                        self.acknowledged.push(logical);
                        self.report.acknowledged += 1;
                        self.reference.apply(&kind);
                        self.workload.learn(&kind);
                        if !committed.duplicate && !committed.events.is_empty() {
                            self.auditor.expect(Ack {
                                label,
                                position: committed.position,
                                events: committed.events,
                                at: committed.at,
                            })?;
                        }
                    }
                }
            }
            Err(EngineError::Rejected(rejection)) => {
                let code = rejection.code();
                self.trace.record(format!("refused {label}: {code}"));
                match &outcome {
                    Some(Outcome::Committed(_)) => {
                        return Err(format!(
                            "{label}: resending an acknowledged command was refused with {code}: {rejection}"
                        ));
                    }
                    Some(Outcome::Rejected(_)) => {}
                    None => {
                        if probes.is_some()
                            && !matches!(rejection, LedgerError::IdempotencyConflict { .. })
                        {
                            return Err(format!(
                                "{label}: a different request under a used key was refused with \
                                 {code}, not IdempotencyConflict"
                            ));
                        }
                        self.logicals[logical].outcome = Some(Outcome::Rejected(code));
                        self.report.rejected += 1;
                    }
                }
            }
            Err(error) => {
                self.trace.record(format!("in doubt {label}: {error}"));
                if outcome.is_none() {
                    self.in_doubt.push_back(logical);
                }
            }
        }
        Ok(())
    }

    /// The process dies: nothing it still holds reaches the files; it restarts from them.
    async fn crash(&mut self) -> Result<(), String> {
        self.report.crashes += 1;
        if let Some(process) = self.process.take() {
            process.log.kill();
            process.models.kill();
            process.engine.shutdown().await;
            process.projector.shutdown().await;
        }
        self.process = Some(self.start_process().await?);
        self.trace.record("restarted after a crash");
        Ok(())
    }

    async fn kill_projector(&mut self) -> Result<(), String> {
        self.report.projector_kills += 1;
        let Some(mut process) = self.process.take() else {
            return Err("no process is running".into());
        };
        process.models.kill();
        let (models, worker) = self.start_projector(process.log.clone()).await?;
        process.models = models;
        let old = std::mem::replace(&mut process.projector, worker);
        old.shutdown().await;
        self.trace.record("projector restarted");
        self.process = Some(process);
        Ok(())
    }

    /// Waits until no command is in flight (a writer that never answers is a violation too).
    async fn quiesce(&mut self) -> Result<(), String> {
        let mut waited = 0u64;
        while self.in_flight > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.collect_answers()?;
            waited += 1;
            if waited > 600_000 {
                return Err(format!(
                    "{} commands got no answer within 10 simulated minutes",
                    self.in_flight
                ));
            }
        }
        Ok(())
    }

    /// Quiet, audited, and the projectors caught up.
    async fn settle(&mut self) -> Result<u64, String> {
        self.quiesce().await?;
        let head = self.auditor.audit()?;
        let process = self.process()?;
        let projector = process.projector.handle();
        projector
            .wait_for(head, Duration::from_secs(600))
            .await
            .map_err(|e| format!("the projectors did not reach position {head}: {e}"))?;
        Ok(head)
    }

    async fn check_models(&mut self) -> Result<(), String> {
        let head = self.auditor.position();
        let models = self.process()?.models.clone();
        let mut rng = self.rng.fork();
        models::check_against_ledger(models.as_ref(), &self.auditor.ledger, head, &mut rng).await?;
        self.trace.record(format!("read models checked at {head}"));
        Ok(())
    }

    /// No more faults: every doubt resolved, every hold expired, then everything compared.
    async fn finish(&mut self) -> Result<Report, String> {
        self.dice.disarm();
        self.trace.record("faults off; settling");
        let mut rounds = 0;
        loop {
            self.quiesce().await?;
            if self.in_doubt.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > 1_000 {
                return Err(format!("{} commands stay in doubt", self.in_doubt.len()));
            }
            while let Some(logical) = self.in_doubt.pop_front() {
                self.report.in_doubt_retries += 1;
                self.submit(logical, "final retry")?;
            }
        }
        // Past every expiry; a command (refused, it does not matter) makes the writer release
        // the due holds in its next batch.
        tokio::time::advance(Duration::from_secs(2 * 86_400)).await;
        self.logicals.push(Logical {
            key: "sim-final".into(),
            kind: CommandKind::ExpirePayment {
                payment_id: PaymentId(Uuid::nil()),
            },
            label: "final",
            outcome: None,
            probes: None,
        });
        self.submit(self.logicals.len() - 1, "send")?;
        self.quiesce().await?;
        let head = self.settle().await?;
        if let Some(ack) = self.auditor.unmatched_acks().first() {
            return Err(format!(
                "acknowledged command {} (up to position {}) is not in the log, whose head is {head}",
                ack.label, ack.position
            ));
        }
        self.auditor.check_all()?;
        self.reference.expire_all();
        self.reference.compare(&self.auditor.ledger)?;
        self.check_models().await?;

        // The writer's own state, restarted from its snapshot and the log, is the auditor's.
        let process = self
            .process
            .take()
            .ok_or_else(|| "no process is running".to_string())?;
        process.engine.shutdown().await;
        process.projector.shutdown().await;
        let live_models = process.models.clone();
        let recovered = folio_engine::recover(process.log.as_ref())
            .await
            .map_err(|e| format!("the writer cannot recover: {e}"))?;
        if recovered.head.position != head {
            return Err(format!(
                "the writer recovers to position {}, the log's head is {head}",
                recovered.head.position
            ));
        }
        for account in self.auditor.ledger.accounts() {
            if recovered.ledger.account(account.id) != Some(account) {
                return Err(format!(
                    "account {} after recovery: {:?}, from the log: {account:?}",
                    account.id,
                    recovered.ledger.account(account.id)
                ));
            }
        }

        // Ops' recalculation: rebuilt from the log, the read models equal the live ones.
        let rebuilt: Arc<dyn ReadModelStore> = Arc::new(
            SqliteReadModels::open(&self.dir.join("rebuilt.db"))
                .map_err(|e| format!("cannot open fresh read models: {e}"))?,
        );
        let rebuilt = Arc::new(FaultyModels::new(
            rebuilt,
            self.io.clone(),
            self.dice.clone(),
        ));
        let projector = Projector::detached(
            process.log.clone(),
            rebuilt.clone(),
            ProjectorConfig::default(),
        )
        .await
        .map_err(|e| format!("cannot start a rebuild: {e}"))?;
        projector
            .rebuild(|_| {})
            .await
            .map_err(|e| format!("the rebuild failed: {e}"))?;
        models::compare_rebuilt(live_models.as_ref(), rebuilt.as_ref()).await?;

        self.report.events = head;
        self.report.acks_verified = self.auditor.acks_verified;
        self.trace.record(format!("done at position {head}"));
        self.report.trace_digest = self.trace.digest();
        Ok(self.report.clone())
    }

    async fn stop(self) {
        if let Some(process) = self.process {
            process.engine.shutdown().await;
            process.projector.shutdown().await;
        }
    }
}
