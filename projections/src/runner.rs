//! The projector worker: follows the log, folds each batch in memory and writes it with its
//! checkpoint in one transaction; wakes on new events instead of polling; reports its position
//! so readers can wait for their own writes; and rebuilds the read models blue/green.

use crate::error::ProjectionError;
use crate::fold::{Changes, Fold, FoldScope, FoldState};
use crate::store::{ReadModelStore, Tables};
use chrono_tz::Tz;
use folio_domain::codec;
use folio_store::{EventStore, RecordedEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock, watch};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Most events folded into one read-model transaction.
    pub batch_size: usize,
    /// The time zone business days follow.
    pub time_zone: Tz,
    /// Wait before retrying after a failed batch.
    pub retry_delay: Duration,
    /// After a batch smaller than `batch_size`, the ledger projector (statement lines, daily
    /// balances, payments: the heavy writes) waits this long before reading the next one, so
    /// the events arriving meanwhile are written in one read-model transaction instead of
    /// many small ones (each commit has a fixed cost). Raises the ledger's lag by up to this
    /// much; the balances projector never waits. Zero (the default) reads again at once.
    pub gather: Duration,
    /// Gather only after a batch of at least this many events: a busy log is written in large
    /// transactions, while a quiet one is projected at once (its few events cost little CPU,
    /// and waiting would only delay readers). Zero gathers after every batch.
    pub gather_min_events: usize,
    /// Events a rebuild folds into one write while it fills its fresh tables (large: its
    /// tables serve nobody yet, and every transaction has a fixed cost).
    pub rebuild_batch_size: usize,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        ProjectorConfig {
            batch_size: 4_096,
            time_zone: Tz::UTC,
            retry_delay: Duration::from_millis(200),
            gather: Duration::ZERO,
            gather_min_events: 0,
            rebuild_batch_size: 50_000,
        }
    }
}

/// Progress of a rebuild, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebuildProgress {
    pub events_done: u64,
    pub events_total: u64,
    pub events_per_second: f64,
}

/// Shared between the workers and their handles.
struct Shared {
    log: Arc<dyn EventStore>,
    models: Arc<dyn ReadModelStore>,
    config: ProjectorConfig,
    /// How far the balances scope has come.
    balances_position: watch::Sender<u64>,
    /// How far the ledger scope (statements, daily balances, payments) has come.
    ledger_position: watch::Sender<u64>,
    /// The position of the last batch that changed a transfer row (or of a swap), so the
    /// transfer process manager reads the transfers when they moved, not after every commit.
    transfers_changed: watch::Sender<u64>,
    /// Shared by the workers while they write a batch; exclusive for a rebuild's swap.
    write_lock: RwLock<()>,
    /// Bumped by a swap: the worker's in-memory fold no longer matches the tables.
    tables_generation: AtomicU64,
    rebuilding: Mutex<()>,
}

/// A handle to a running projector. Cheap to clone.
#[derive(Clone)]
pub struct Projector {
    shared: Arc<Shared>,
}

pub struct ProjectorWorker {
    handle: Projector,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ProjectorWorker {
    pub fn handle(&self) -> Projector {
        self.handle.clone()
    }

    /// Finishes the batches in hand and stops.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "a projector task ended abnormally");
            }
        }
    }
}

impl Projector {
    /// Starts the projectors following `log` into `models`: one for the balances, one for the
    /// ledger's statements, daily balances and payments.
    pub async fn start(
        log: Arc<dyn EventStore>,
        models: Arc<dyn ReadModelStore>,
        config: ProjectorConfig,
    ) -> Result<ProjectorWorker, ProjectionError> {
        let handle = Projector::detached(log, models, config).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let tasks = [FoldScope::Balances, FoldScope::Ledger]
            .into_iter()
            .map(|scope| tokio::spawn(run(handle.shared.clone(), scope, shutdown_rx.clone())))
            .collect();
        Ok(ProjectorWorker {
            handle,
            shutdown,
            tasks,
        })
    }

    /// A handle with no worker behind it: for offline work such as ops' rebuild from the replay
    /// tool, while no server runs against these read models.
    pub async fn detached(
        log: Arc<dyn EventStore>,
        models: Arc<dyn ReadModelStore>,
        config: ProjectorConfig,
    ) -> Result<Projector, ProjectionError> {
        let (balances_position, _) = watch::channel(models.checkpoint(FoldScope::Balances).await?);
        let (ledger_position, _) = watch::channel(models.checkpoint(FoldScope::Ledger).await?);
        let (transfers_changed, _) = watch::channel(0);
        Ok(Projector {
            shared: Arc::new(Shared {
                log,
                models,
                config,
                balances_position,
                ledger_position,
                transfers_changed,
                write_lock: RwLock::new(()),
                tables_generation: AtomicU64::new(0),
                rebuilding: Mutex::new(()),
            }),
        })
    }

    /// The last log position every read model includes.
    pub fn position(&self) -> u64 {
        self.scope_position(FoldScope::Balances)
            .min(self.scope_position(FoldScope::Ledger))
    }

    /// The last log position the read models of `scope` include.
    pub fn scope_position(&self, scope: FoldScope) -> u64 {
        *self.shared.sender(scope).borrow()
    }

    pub fn subscribe(&self, scope: FoldScope) -> watch::Receiver<u64> {
        self.shared.sender(scope).subscribe()
    }

    /// Changes whenever a batch written to the live tables changed a transfer row (or the
    /// tables were swapped); the value is that batch's position.
    pub fn subscribe_transfers(&self) -> watch::Receiver<u64> {
        self.shared.transfers_changed.subscribe()
    }

    /// Head of the log minus the position of the read models of `scope`.
    pub fn lag(&self, scope: FoldScope) -> u64 {
        let head = *self.shared.log.subscribe().borrow();
        head.saturating_sub(self.scope_position(scope))
    }

    /// The time zone business days follow.
    pub fn time_zone(&self) -> Tz {
        self.shared.config.time_zone
    }

    pub fn models(&self) -> &Arc<dyn ReadModelStore> {
        &self.shared.models
    }

    /// Waits until every read model includes `position` (read-your-writes), or `timeout` passes.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for scope in [FoldScope::Balances, FoldScope::Ledger] {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.wait_for_scope(scope, position, left).await?;
        }
        Ok(())
    }

    /// Waits until the read models of `scope` include `position`, or `timeout` passes.
    pub async fn wait_for_scope(
        &self,
        scope: FoldScope,
        position: u64,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let mut reached = self.subscribe(scope);
        let waited = tokio::time::timeout(timeout, async {
            while *reached.borrow_and_update() < position {
                if reached.changed().await.is_err() {
                    return Err(ProjectionError::WorkerGone("the projector stopped".into()));
                }
            }
            Ok(())
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => Err(ProjectionError::WaitTimeout {
                wanted: position,
                reached: self.scope_position(scope),
            }),
        }
    }

    /// Pauses the live projectors between two batches until the guard is dropped, for ops'
    /// repairs of the live tables: while it is held no batch is written, so the checkpoints and
    /// rows read under it stay consistent with each other. Dropping the guard makes each
    /// projector reload its in-memory fold from the tables (as after a rebuild's swap), so a
    /// repaired row is not overwritten by the counters the fold held before the repair.
    pub async fn pause(&self) -> PauseGuard<'_> {
        PauseGuard {
            _writes: self.shared.write_lock.write().await,
            generation: &self.shared.tables_generation,
        }
    }

    /// Rebuilds every read model from position 0 into fresh tables while the live ones keep
    /// serving, indexes them, catches up with the log and swaps them in atomically. Reports
    /// progress after every batch. Returns the position the rebuilt models were swapped in at.
    pub async fn rebuild(
        &self,
        mut progress: impl FnMut(RebuildProgress) + Send,
    ) -> Result<u64, ProjectionError> {
        let shared = &self.shared;
        let _only_one = shared
            .rebuilding
            .try_lock()
            .map_err(|_| ProjectionError::RebuildRunning)?;
        shared.models.rebuild_begin().await?;
        let mut fold = Fold::new(
            FoldScope::Ledger,
            shared.config.time_zone,
            FoldState::default(),
        );
        let started = Instant::now();
        let total = shared.log.head().await?.position;
        let mut report = |done: u64, total: u64| {
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            progress(RebuildProgress {
                events_done: done,
                events_total: total.max(done),
                events_per_second: done as f64 / seconds,
            });
        };
        // Bulk: unindexed tables, large batches, and the next batch read and folded while the
        // previous one is being written (one write in flight, so writes stay in order).
        let bulk_batch = shared.config.rebuild_batch_size.max(1);
        let mut writing: Option<JoinHandle<Result<(), ProjectionError>>> = None;
        // A batch is written once the next one is folded, so that the last one can carry every
        // account row and current day row, which the batches leave out (each is written once,
        // at the end, rather than again with every batch).
        let mut pending: Option<Changes> = None;
        let filled: Result<(), ProjectionError> = async {
            loop {
                let events = shared.log.read_all(fold.position(), bulk_batch).await?;
                let caught_up = events.is_empty();
                if !caught_up {
                    fold_events(&mut fold, &events)?;
                }
                let ready = pending.take().map(|mut changes| {
                    if caught_up {
                        changes.absorb(fold.take_changes());
                    }
                    changes
                });
                if !caught_up {
                    let mut changes = fold.take_changes_but_latest_rows();
                    shared.models.prepare(&mut changes);
                    pending = Some(changes);
                }
                if let Some(changes) = ready {
                    if let Some(previous) = writing.take() {
                        previous
                            .await
                            .map_err(|e| ProjectionError::WorkerGone(e.to_string()))??;
                    }
                    let written = changes.position;
                    let models = shared.models.clone();
                    writing = Some(tokio::spawn(async move {
                        models.write(Tables::Rebuild, changes).await
                    }));
                    report(written, total);
                }
                if caught_up {
                    return Ok(());
                }
            }
        }
        .await;
        // The write in flight ends before anything else happens, a failed read or fold
        // included: left running, it could land after a retried rebuild has begun afresh.
        let written = match writing.take() {
            Some(last) => last
                .await
                .map_err(|e| ProjectionError::WorkerGone(e.to_string()))
                .and_then(|written| written),
            None => Ok(()),
        };
        filled?;
        written?;
        let bulk_done = started.elapsed();
        shared.models.rebuild_index().await?;
        tracing::info!(
            events = fold.position(),
            bulk_ms = bulk_done.as_millis() as u64,
            index_ms = (started.elapsed() - bulk_done).as_millis() as u64,
            "rebuild: tables filled and indexed"
        );
        // Events appended meanwhile, then the last few under the write lock, then the swap.
        while project_batch(shared, &mut fold, Tables::Rebuild, bulk_batch).await? > 0 {}
        let _writes_paused = shared.write_lock.write().await;
        while project_batch(shared, &mut fold, Tables::Rebuild, bulk_batch).await? > 0 {}
        shared.models.rebuild_swap().await?;
        shared.tables_generation.fetch_add(1, Ordering::SeqCst);
        let position = fold.position();
        shared.balances_position.send_replace(position);
        shared.ledger_position.send_replace(position);
        shared.transfers_changed.send_replace(position);
        report(position, position);
        Ok(position)
    }
}

/// The live projectors are paused while this lives (see [`Projector::pause`]).
pub struct PauseGuard<'a> {
    _writes: tokio::sync::RwLockWriteGuard<'a, ()>,
    generation: &'a AtomicU64,
}

impl Drop for PauseGuard<'_> {
    fn drop(&mut self) {
        // Bumped before the write lock is released (fields drop after this body), so no
        // worker can write a batch from the fold it held before the repair.
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Reads the next batch after the fold's position, folds it and writes it. Returns the number of
/// events it applied (0 when caught up).
async fn project_batch(
    shared: &Shared,
    fold: &mut Fold,
    tables: Tables,
    batch_size: usize,
) -> Result<usize, ProjectionError> {
    let started = Instant::now();
    let events = shared.log.read_all(fold.position(), batch_size).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let read = started.elapsed();
    fold_events(fold, &events)?;
    let changes = fold.take_changes();
    let folded = started.elapsed();
    let moved_transfers = (!changes.transfers.is_empty()).then_some(changes.position);
    shared.models.write(tables, changes).await?;
    if let (Some(position), Tables::Live) = (moved_transfers, tables) {
        shared.transfers_changed.send_replace(position);
    }
    tracing::debug!(
        events = events.len(),
        read_us = read.as_micros() as u64,
        fold_us = (folded - read).as_micros() as u64,
        write_us = (started.elapsed() - folded).as_micros() as u64,
        "projection batch"
    );
    Ok(events.len())
}

/// Decodes and folds recorded events in order.
pub fn fold_events(fold: &mut Fold, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
    for record in events {
        let body = codec::decode(&record.event_type, record.schema_version, &record.payload)
            .map_err(|e| ProjectionError::Decode {
                position: record.global_position,
                reason: e.to_string(),
            })?;
        fold.apply(record.global_position, record.recorded_at, &body);
    }
    Ok(())
}

impl Shared {
    fn sender(&self, scope: FoldScope) -> &watch::Sender<u64> {
        match scope {
            FoldScope::Balances => &self.balances_position,
            FoldScope::Ledger => &self.ledger_position,
        }
    }
}

/// One projector: follows the log with a fold of `scope` until shutdown.
async fn run(shared: Arc<Shared>, scope: FoldScope, mut shutdown: watch::Receiver<bool>) {
    let mut head = shared.log.subscribe();
    let mut state: Option<(Fold, u64)> = None;
    let position = shared.sender(scope);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let generation = shared.tables_generation.load(Ordering::SeqCst);
        // (Re)load the fold when starting, after a failed batch, or after a rebuild's swap.
        let fold = match &mut state {
            Some((fold, loaded_at)) if *loaded_at == generation => fold,
            _ => match shared.models.load_state(scope).await {
                Ok(loaded) => {
                    position.send_replace(loaded.position);
                    let fold = Fold::new(scope, shared.config.time_zone, loaded);
                    &mut state.insert((fold, generation)).0
                }
                Err(error) => {
                    tracing::error!(%error, scope = scope.name(), "a projector cannot load its state; retrying");
                    tokio::time::sleep(shared.config.retry_delay).await;
                    continue;
                }
            },
        };
        let applied = {
            let _writing = shared.write_lock.read().await;
            if shared.tables_generation.load(Ordering::SeqCst) != generation {
                continue;
            }
            project_batch(&shared, fold, Tables::Live, shared.config.batch_size).await
        };
        match applied {
            Ok(0) => {
                // Biased: the order of branches is fixed, so a simulation replays exactly.
                tokio::select! {
                    biased;
                    _ = head.changed() => {}
                    _ = shutdown.changed() => {}
                    // A backstop in case a notification from another process is missed.
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            Ok(applied) => {
                position.send_replace(fold.position());
                let gather = shared.config.gather;
                // The balances projector never gathers: its transactions are small (account
                // rows only), and fresh balances are what callers watch.
                if scope == FoldScope::Ledger
                    && applied < shared.config.batch_size
                    && applied >= shared.config.gather_min_events
                    && !gather.is_zero()
                {
                    tokio::select! {
                        biased;
                        _ = shutdown.changed() => {}
                        _ = tokio::time::sleep(gather) => {}
                    }
                }
            }
            Err(error) => {
                // The batch's transaction did not commit; the fold is ahead of the tables.
                // Reload from what the tables hold and go on from their checkpoint.
                tracing::error!(%error, scope = scope.name(), "a projection batch failed; reloading");
                state = None;
                tokio::time::sleep(shared.config.retry_delay).await;
            }
        }
    }
}
