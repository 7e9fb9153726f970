//! The single writer: a decider task that owns the ledger and an appender task that commits.
//!
//! The decider takes every waiting command (up to `batch_limit`), decides each against the
//! in-memory ledger, encodes the batch's events and hands the batch to the appender. While the
//! appender waits for the store to commit batch N, the decider is already deciding batch N+1:
//! on two cores the CPU work and the fsync overlap. Batches commit strictly in order, each
//! conditional on the head the previous one reached, and callers are answered only after the
//! commit of the batch holding their command. If a commit fails, every later batch decided on
//! top of it is failed too and the decider reloads its state from the store.

use crate::clock::{Clock, SystemClock};
use crate::codec::{Trace, to_new_event};
use crate::error::EngineError;
use crate::ids::{EventIds, RandomEventIds};
use crate::recovery::recover;
use chrono::{DateTime, Utc};
use folio_domain::{
    Account, AccountId, Command, CommandKind, Event, EventBody, Ledger, LedgerSnapshot,
    PaymentEvent, Receipt,
};
use folio_store::{EventStore, NewEvent, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct EngineConfig {
    /// Most commands decided and committed together.
    pub batch_limit: usize,
    /// Commands that may wait for the writer before `execute` waits for room.
    pub queue_capacity: usize,
    /// Batches decided but not yet committed (the pipeline's depth).
    pub batches_in_flight: usize,
    /// Events between snapshots (0: only at shutdown).
    pub snapshot_every_events: u64,
    pub clock: Arc<dyn Clock>,
    pub event_ids: Arc<dyn EventIds>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_limit: 4096,
            queue_capacity: 65_536,
            batches_in_flight: 2,
            snapshot_every_events: 1_000_000,
            clock: Arc::new(SystemClock),
            event_ids: Arc::new(RandomEventIds),
        }
    }
}

/// A command as a caller submits it; the engine stamps the time.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    pub kind: CommandKind,
    pub idempotency_key: Option<String>,
    pub trace: Trace,
}

impl CommandRequest {
    pub fn new(kind: CommandKind) -> CommandRequest {
        CommandRequest {
            kind,
            idempotency_key: None,
            trace: Trace::default(),
        }
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> CommandRequest {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// A durable answer: the command's events are committed up to `position`.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub receipt: Receipt,
    /// The idempotency key was seen before with the same request: nothing new was recorded.
    pub duplicate: bool,
    /// The global position the log had reached once this command's events were in it: a reader
    /// that has applied up to here sees the command's effect.
    pub position: u64,
    pub events: Vec<Event>,
    /// Every existing account the events touch, as it was just before them (an account the
    /// command opens is not here). With `events` this gives the command's effect — balances
    /// after each movement included — without reading the read models back.
    pub accounts: Vec<Account>,
    /// The instant the command was decided at (the events' `recorded_at`).
    pub at: DateTime<Utc>,
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub commands_accepted: AtomicU64,
    pub commands_rejected: AtomicU64,
    pub batches_committed: AtomicU64,
    pub events_committed: AtomicU64,
    pub commit_micros_total: AtomicU64,
    pub commit_failures: AtomicU64,
    pub reloads: AtomicU64,
}

/// How long the writer sleeps when no hold is due (a placeholder: the branch is disabled then).
const IDLE_WAIT: Duration = Duration::from_secs(3600);

type Reply = oneshot::Sender<Result<Committed, EngineError>>;

struct Submission {
    request: CommandRequest,
    reply: Reply,
}

/// The handle callers submit commands through. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    submissions: mpsc::Sender<Submission>,
    committed: watch::Receiver<u64>,
    stats: Arc<EngineStats>,
}

impl EngineHandle {
    /// Submits a command and waits until it is decided and, if it recorded anything, committed.
    pub async fn execute(&self, request: CommandRequest) -> Result<Committed, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.submissions
            .send(Submission { request, reply })
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// The last position this engine committed.
    pub fn committed_position(&self) -> u64 {
        *self.committed.borrow()
    }

    /// A receiver of the committed position.
    pub fn subscribe_committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }
}

/// A running engine: its handle and its tasks.
pub struct Engine {
    handle: EngineHandle,
    shutdown: watch::Sender<bool>,
    decider: JoinHandle<()>,
}

impl Engine {
    /// Recovers the ledger from `store` (snapshot + later events) and starts the writer.
    pub async fn start(
        store: Arc<dyn EventStore>,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let recovered = recover(store.as_ref()).await?;
        let (submissions, inbox) = mpsc::channel(config.queue_capacity.max(1));
        let (committed_tx, committed) = watch::channel(recovered.head.position);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(EngineStats::default());
        let (batches_tx, batches_rx) = mpsc::channel(config.batches_in_flight.max(1));
        let (signal_tx, signal_rx) = watch::channel(AppenderSignal::Healthy);
        let appender = tokio::spawn(run_appender(
            store.clone(),
            batches_rx,
            committed_tx,
            signal_tx,
            stats.clone(),
        ));
        // Never before what the log already holds: the clock may have been set back while
        // this writer was down.
        let last_at = match recovered.last_recorded_at {
            Some(last) => last.max(config.clock.now()),
            None => config.clock.now(),
        };
        let decider = Decider {
            ledger: recovered.ledger,
            head: recovered.head.position,
            generation: 0,
            last_at,
            events_since_snapshot: recovered.events_replayed,
            store,
            config,
            stats: stats.clone(),
            batches: batches_tx,
            signals: signal_rx,
        };
        let decider = tokio::spawn(decider.run(inbox, shutdown_rx, appender));
        Ok(Engine {
            handle: EngineHandle {
                submissions,
                committed,
                stats,
            },
            shutdown,
            decider,
        })
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops taking commands, decides and commits every command already queued, saves a
    /// snapshot and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(error) = self.decider.await {
            tracing::error!(%error, "the engine's writer task ended abnormally");
        }
    }
}

/// What the appender tells the decider.
#[derive(Debug, Clone, PartialEq)]
enum AppenderSignal {
    Healthy,
    /// A commit failed: batches of generations below this one are void; reload and go on.
    Reload {
        void_below: u64,
    },
    /// Another writer owns the log: stop.
    Fenced(String),
}

enum AppenderMessage {
    Batch(Batch),
    /// Save this snapshot once everything before it is committed.
    Snapshot {
        generation: u64,
        position: u64,
        state: Box<LedgerSnapshot>,
    },
}

struct Batch {
    generation: u64,
    expected_head: u64,
    events: Vec<NewEvent>,
    answers: Vec<Answer>,
}

/// One caller's answer, waiting for its batch's commit.
struct Answer {
    reply: Reply,
    outcome: Result<Committed, EngineError>,
}

struct Decider {
    ledger: Ledger,
    /// The head once every batch handed to the appender commits.
    head: u64,
    generation: u64,
    last_at: DateTime<Utc>,
    events_since_snapshot: u64,
    store: Arc<dyn EventStore>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
    batches: mpsc::Sender<AppenderMessage>,
    signals: watch::Receiver<AppenderSignal>,
}

impl Decider {
    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Submission>,
        mut shutdown: watch::Receiver<bool>,
        appender: JoinHandle<()>,
    ) {
        let mut waiting = Vec::with_capacity(self.config.batch_limit);
        let mut shutting_down = false;
        loop {
            let expiry_wait = self.ledger.next_expiry().map(|expiry| {
                (expiry - self.config.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            });
            tokio::select! {
                biased;
                changed = shutdown.changed(), if !shutting_down => {
                    // A dropped engine counts as a shutdown request too.
                    let _ = changed;
                    shutting_down = true;
                    inbox.close();
                    continue;
                }
                received = inbox.recv_many(&mut waiting, self.config.batch_limit) => {
                    if received == 0 {
                        break;
                    }
                }
                _ = tokio::time::sleep(expiry_wait.unwrap_or(IDLE_WAIT)), if expiry_wait.is_some() => {}
            }
            let signal = self.signals.borrow_and_update().clone();
            match signal {
                AppenderSignal::Healthy => {}
                AppenderSignal::Reload { void_below } if void_below > self.generation => {
                    if let Err(error) = self.reload(void_below).await {
                        tracing::error!(%error, "the writer cannot reload its state; stopping");
                        fail_all(
                            &mut waiting,
                            &mut inbox,
                            EngineError::Recovery(error.to_string()),
                        )
                        .await;
                        break;
                    }
                }
                AppenderSignal::Reload { .. } => {}
                AppenderSignal::Fenced(reason) => {
                    tracing::error!(%reason, "fenced off by another writer; stopping");
                    fail_all(&mut waiting, &mut inbox, EngineError::Fenced(reason)).await;
                    break;
                }
            }
            let batch = self.decide_batch(&mut waiting);
            if self
                .batches
                .send(AppenderMessage::Batch(batch))
                .await
                .is_err()
            {
                break;
            }
            if self.config.snapshot_every_events > 0
                && self.events_since_snapshot >= self.config.snapshot_every_events
            {
                self.send_snapshot().await;
            }
        }
        if self.events_since_snapshot > 0 && *self.signals.borrow() == AppenderSignal::Healthy {
            self.send_snapshot().await;
        }
        drop(self.batches);
        if let Err(error) = appender.await {
            tracing::error!(%error, "the engine's appender task ended abnormally");
        }
    }

    /// Decides every waiting command at one instant and encodes the batch.
    fn decide_batch(&mut self, waiting: &mut Vec<Submission>) -> Batch {
        let at = self.next_instant();
        let expected_head = self.head;
        let mut events = Vec::with_capacity(waiting.len() + 1);
        let mut answers = Vec::with_capacity(waiting.len());
        // Holds whose time has come are released first (also when no command arrives). Every
        // command of the batch is decided at this same instant, so this is `Ledger::process`'s
        // expiry step done once for the batch, and each command is then simply executed.
        for event in self.ledger.expire_due(at) {
            let id = self.config.event_ids.next_event_id();
            events.push(to_new_event(&event, id, at, Trace::default()));
        }
        for Submission { request, reply } in waiting.drain(..) {
            let command = Command {
                at,
                idempotency_key: request.idempotency_key,
                kind: request.kind,
            };
            // `Ledger::execute`, split so the touched accounts are seen before the events apply.
            let outcome = match self.ledger.decide(&command) {
                Ok(executed) => {
                    let accounts = accounts_before(&self.ledger, &executed.events);
                    for event in &executed.events {
                        self.ledger.apply(event);
                    }
                    for event in &executed.events {
                        let id = self.config.event_ids.next_event_id();
                        events.push(to_new_event(event, id, at, request.trace));
                    }
                    self.stats.commands_accepted.fetch_add(1, Ordering::Relaxed);
                    Ok(Committed {
                        receipt: executed.receipt,
                        duplicate: executed.duplicate,
                        position: expected_head + events.len() as u64,
                        events: executed.events,
                        accounts,
                        at,
                    })
                }
                Err(rejection) => {
                    self.stats.commands_rejected.fetch_add(1, Ordering::Relaxed);
                    Err(EngineError::Rejected(rejection))
                }
            };
            answers.push(Answer { reply, outcome });
        }
        self.head += events.len() as u64;
        self.events_since_snapshot += events.len() as u64;
        Batch {
            generation: self.generation,
            expected_head,
            events,
            answers,
        }
    }

    /// The instant the next batch is decided at: the clock, truncated to the microseconds the log
    /// stores, and never before the previous batch's (a clock stepping back does not reorder
    /// history or un-expire holds).
    fn next_instant(&mut self) -> DateTime<Utc> {
        let now = self.config.clock.now();
        let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        if now > self.last_at {
            self.last_at = now;
        }
        self.last_at
    }

    async fn send_snapshot(&mut self) {
        let message = AppenderMessage::Snapshot {
            generation: self.generation,
            position: self.head,
            state: Box::new(self.ledger.to_snapshot()),
        };
        self.events_since_snapshot = 0;
        let _ = self.batches.send(message).await;
    }

    async fn reload(&mut self, void_below: u64) -> Result<(), EngineError> {
        self.stats.reloads.fetch_add(1, Ordering::Relaxed);
        let recovered = recover(self.store.as_ref()).await?;
        tracing::warn!(
            head = recovered.head.position,
            "a commit failed; the writer reloaded its state from the store"
        );
        self.ledger = recovered.ledger;
        self.head = recovered.head.position;
        self.generation = void_below;
        self.events_since_snapshot = recovered.events_replayed;
        Ok(())
    }
}

/// The accounts `events` touch or name (a draft's legs too: its sides are shown by account
/// type) that exist already, each once, in their current state.
fn accounts_before(ledger: &Ledger, events: &[Event]) -> Vec<Account> {
    let mut ids: Vec<AccountId> = Vec::with_capacity(2);
    let mut add = |id: AccountId| {
        if !ids.contains(&id) {
            ids.push(id);
        }
    };
    for event in events {
        if let EventBody::Payment(PaymentEvent::Created(created)) = &event.body {
            for leg in &created.legs {
                add(leg.debit);
                add(leg.credit);
            }
        }
        for id in event.body.touched_accounts() {
            add(id);
        }
    }
    ids.into_iter()
        .filter_map(|id| ledger.account(id).cloned())
        .collect()
}

async fn fail_all(
    waiting: &mut Vec<Submission>,
    inbox: &mut mpsc::Receiver<Submission>,
    error: EngineError,
) {
    inbox.close();
    for submission in waiting.drain(..) {
        let _ = submission.reply.send(Err(error.clone()));
    }
    while let Some(submission) = inbox.recv().await {
        let _ = submission.reply.send(Err(error.clone()));
    }
}

async fn run_appender(
    store: Arc<dyn EventStore>,
    mut batches: mpsc::Receiver<AppenderMessage>,
    committed: watch::Sender<u64>,
    signals: watch::Sender<AppenderSignal>,
    stats: Arc<EngineStats>,
) {
    // Batches of generations below this were decided on a state that a failed commit voided.
    let mut void_below = 0u64;
    let mut fenced: Option<String> = None;
    let mut snapshot_task: Option<JoinHandle<()>> = None;
    while let Some(message) = batches.recv().await {
        let batch = match message {
            AppenderMessage::Batch(batch) => batch,
            AppenderMessage::Snapshot {
                generation,
                position,
                state,
            } => {
                if generation >= void_below && fenced.is_none() {
                    // One save at a time; the last one is awaited before the engine stops.
                    if let Some(previous) = snapshot_task.take() {
                        let _ = previous.await;
                    }
                    snapshot_task = Some(save_snapshot(store.clone(), position, state));
                }
                continue;
            }
        };
        if let Some(reason) = &fenced {
            answer_all(batch.answers, |_| Err(EngineError::Fenced(reason.clone())));
            continue;
        }
        if batch.generation < void_below {
            answer_all(batch.answers, |_| {
                Err(EngineError::CommitFailed(
                    "an earlier batch failed to commit; retry".to_string(),
                ))
            });
            continue;
        }
        if batch.events.is_empty() {
            answer_all(batch.answers, |outcome| outcome);
            continue;
        }
        let event_count = batch.events.len() as u64;
        let started = Instant::now();
        let mut answers = batch.answers;
        // A deliberately broken build that the simulator must catch (README.md, "Simulation").
        if cfg!(feature = "planted-ack-before-commit") {
            answer_all(std::mem::take(&mut answers), |outcome| outcome);
        }
        match store.append(batch.expected_head, batch.events).await {
            Ok(outcome) => {
                stats.batches_committed.fetch_add(1, Ordering::Relaxed);
                stats
                    .events_committed
                    .fetch_add(event_count, Ordering::Relaxed);
                stats
                    .commit_micros_total
                    .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                committed.send_replace(outcome.head.position);
                answer_all(answers, |outcome| outcome);
            }
            Err(StoreError::Fenced { expected, found }) => {
                let reason = format!("expected head {expected}, found {found}");
                stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                answer_all(answers, |_| Err(EngineError::Fenced(reason.clone())));
                signals.send_replace(AppenderSignal::Fenced(reason.clone()));
                fenced = Some(reason);
            }
            Err(error) => {
                tracing::error!(%error, "a batch failed to commit");
                stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                let message = error.to_string();
                answer_all(answers, |_| Err(EngineError::CommitFailed(message.clone())));
                void_below = batch.generation + 1;
                signals.send_replace(AppenderSignal::Reload { void_below });
            }
        }
    }
    if let Some(task) = snapshot_task {
        let _ = task.await;
    }
}

fn answer_all(
    answers: Vec<Answer>,
    mut decide: impl FnMut(Result<Committed, EngineError>) -> Result<Committed, EngineError>,
) {
    for answer in answers {
        // A caller that gave up waiting is no error of the engine's.
        let _ = answer.reply.send(decide(answer.outcome));
    }
}

/// Serializes and saves a snapshot off the commit path.
fn save_snapshot(
    store: Arc<dyn EventStore>,
    position: u64,
    state: Box<LedgerSnapshot>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // On a one-thread runtime there is no other core to hand the work to, and a simulation
        // needs the order of everything fixed: serialize right here.
        let one_thread = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::CurrentThread;
        let serialized = if one_thread {
            Ok(state.to_bytes())
        } else {
            tokio::task::spawn_blocking(move || state.to_bytes()).await
        };
        let bytes = match serialized {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => {
                tracing::error!(%error, "could not serialize a snapshot");
                return;
            }
            Err(error) => {
                tracing::error!(%error, "the snapshot task failed");
                return;
            }
        };
        match store.save_snapshot(position, bytes).await {
            Ok(()) => tracing::info!(position, "snapshot saved"),
            Err(error) => tracing::error!(%error, position, "could not save a snapshot"),
        }
    })
}
