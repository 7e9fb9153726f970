//! The faults the simulation injects, and the wrappers that inject them into the real event
//! store and the real read-model store. Every wrapper call runs the real backend to completion
//! before returning (see `block`), so a seed decides every interleaving.

use crate::block::Io;
use crate::rng::Rng;
use crate::trace::Trace;
use async_trait::async_trait;
use chrono::NaiveDate;
use folio_domain::{AccountId, ClientId, Currency, PaymentId};
use folio_projections::ProjectionError;
use folio_projections::fold::{Changes, FoldScope, FoldState};
use folio_projections::query::{
    AccountFilter, ClientFilter, CurrencyTotals, Page, PageRequest, PaymentFilter,
    TransactionFilter,
};
use folio_projections::rows::{
    AccountRow, ClientRow, Counters, DailyRow, PaymentRow, TransactionRow,
};
use folio_projections::store::{ReadModelStore, Tables};
use folio_store::{AppendOutcome, EventStore, Head, NewEvent, RecordedEvent, Snapshot, StoreError};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// One kind of fault; `--faults` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// An append fails before anything is written.
    AppendFail,
    /// An append commits, but its answer is lost.
    LostAnswer,
    /// An append stalls for up to 50 (simulated) milliseconds first.
    Stall,
    /// The store rejects a whole batch.
    Reject,
    /// The process dies: the engine and the projectors lose their memory and restart from
    /// what the files hold.
    Crash,
    /// A read-model write fails before or after its transaction commits.
    ProjectorFail,
    /// The projector is killed and restarted.
    ProjectorKill,
    /// The wall clock jumps forward or backward.
    Clock,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::AppendFail,
        Fault::LostAnswer,
        Fault::Stall,
        Fault::Reject,
        Fault::Crash,
        Fault::ProjectorFail,
        Fault::ProjectorKill,
        Fault::Clock,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::AppendFail => "append-fail",
            Fault::LostAnswer => "lost-answer",
            Fault::Stall => "stall",
            Fault::Reject => "reject",
            Fault::Crash => "crash",
            Fault::ProjectorFail => "projector-fail",
            Fault::ProjectorKill => "projector-kill",
            Fault::Clock => "clock",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of faults: `all`, `none`, or a comma-separated list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSet(u16);

impl FaultSet {
    pub fn all() -> FaultSet {
        FaultSet(Fault::ALL.iter().fold(0, |bits, fault| bits | fault.bit()))
    }

    pub fn none() -> FaultSet {
        FaultSet(0)
    }

    pub fn contains(self, fault: Fault) -> bool {
        self.0 & fault.bit() != 0
    }

    pub fn parse(text: &str) -> Result<FaultSet, String> {
        match text.trim() {
            "all" => return Ok(FaultSet::all()),
            "none" | "" => return Ok(FaultSet::none()),
            _ => {}
        }
        let mut bits = 0;
        for name in text.split(',').map(str::trim) {
            let fault = Fault::ALL
                .iter()
                .find(|fault| fault.name() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                    format!(
                        "unknown fault {name:?}; known: all, none, {}",
                        known.join(", ")
                    )
                })?;
            bits |= fault.bit();
        }
        Ok(FaultSet(bits))
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == FaultSet::all() {
            return write!(f, "all");
        }
        let names: Vec<&str> = Fault::ALL
            .iter()
            .filter(|fault| self.contains(**fault))
            .map(|fault| fault.name())
            .collect();
        if names.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", names.join(","))
        }
    }
}

/// The seeded chance behind every injected fault, shared by the wrappers.
pub struct Dice {
    rng: Mutex<Rng>,
    faults: FaultSet,
    /// Off while the simulation settles at the end: nothing more is injected.
    armed: AtomicBool,
    trace: Trace,
}

impl Dice {
    pub fn new(rng: Rng, faults: FaultSet, trace: Trace) -> Dice {
        Dice {
            rng: Mutex::new(rng),
            faults,
            armed: AtomicBool::new(true),
            trace,
        }
    }

    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, Rng> {
        self.rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True, with probability `per_mille` / 1000, when `fault` is enabled and armed; the
    /// injection is traced.
    pub fn roll(&self, fault: Fault, per_mille: u32, what: &str) -> bool {
        if !self.faults.contains(fault) || !self.armed.load(Ordering::SeqCst) {
            return false;
        }
        let hit = self.rng().chance(per_mille);
        if hit {
            self.trace.record(format!("fault {}: {what}", fault.name()));
        }
        hit
    }

    pub fn below(&self, n: u64) -> u64 {
        self.rng().below(n)
    }
}

/// How often each store fault strikes an append, per mille.
const APPEND_FAIL_PER_MILLE: u32 = 8;
const REJECT_PER_MILLE: u32 = 4;
const LOST_ANSWER_PER_MILLE: u32 = 8;
const STALL_PER_MILLE: u32 = 15;
const MODEL_FAIL_PER_MILLE: u32 = 15;

/// Whether the simulated process (or projector) behind a wrapper is still alive: once killed,
/// every call fails, so nothing it still had in hand reaches the files.
#[derive(Default)]
struct Liveness(AtomicBool);

impl Liveness {
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn check<E>(&self, dead: impl FnOnce() -> E) -> Result<(), E> {
        if self.0.load(Ordering::SeqCst) {
            Err(dead())
        } else {
            Ok(())
        }
    }
}

fn crashed() -> StoreError {
    StoreError::WorkerGone("simulated: the process crashed".into())
}

/// The real event store as one process sees it: faults on appends, and dead once the process
/// has "crashed", so that nothing a dead process still had in hand reaches the log.
pub struct FaultyLog {
    inner: Arc<dyn EventStore>,
    io: Io,
    dice: Arc<Dice>,
    liveness: Liveness,
    /// One channel per subscriber, told of every commit in the order they subscribed. (A
    /// shared channel would wake its receivers in an order tokio picks at random.)
    subscribers: Mutex<Vec<watch::Sender<u64>>>,
}

impl FaultyLog {
    pub fn new(inner: Arc<dyn EventStore>, io: Io, dice: Arc<Dice>) -> FaultyLog {
        FaultyLog {
            inner,
            io,
            dice,
            liveness: Liveness::default(),
            subscribers: Mutex::new(Vec::new()),
        }
    }

    fn publish(&self, head: u64) {
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        subscribers.retain(|subscriber| !subscriber.is_closed());
        for subscriber in subscribers.iter() {
            subscriber.send_if_modified(|seen| {
                let newer = head > *seen;
                if newer {
                    *seen = head;
                }
                newer
            });
        }
    }

    /// Runs a call of the real store to completion on the I/O runtime.
    fn call<T, F>(&self, work: impl FnOnce(Arc<dyn EventStore>) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.io
            .run(work(self.inner.clone()))
            .map_err(StoreError::WorkerGone)?
    }

    pub fn kill(&self) {
        self.liveness.kill();
    }

    fn alive(&self) -> Result<(), StoreError> {
        self.liveness.check(crashed)
    }
}

#[async_trait]
impl EventStore for FaultyLog {
    async fn append(
        &self,
        expected_head: u64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        self.alive()?;
        let what = format!("append of {} events after {expected_head}", events.len());
        if self.dice.roll(Fault::Stall, STALL_PER_MILLE, &what) {
            let millis = self.dice.below(50);
            tokio::time::sleep(Duration::from_millis(millis)).await;
            self.alive()?;
        }
        if self
            .dice
            .roll(Fault::AppendFail, APPEND_FAIL_PER_MILLE, &what)
        {
            return Err(StoreError::Io(std::io::Error::other(
                "simulated: the disk refused the write",
            )));
        }
        if self.dice.roll(Fault::Reject, REJECT_PER_MILLE, &what) {
            return Err(StoreError::Conflict(
                "simulated: the batch was rejected".into(),
            ));
        }
        let outcome =
            self.call(move |inner| async move { inner.append(expected_head, events).await })?;
        self.publish(outcome.head.position);
        if self
            .dice
            .roll(Fault::LostAnswer, LOST_ANSWER_PER_MILLE, &what)
        {
            return Err(StoreError::WorkerGone(
                "simulated: the batch committed but its answer was lost".into(),
            ));
        }
        Ok(outcome)
    }

    async fn head(&self) -> Result<Head, StoreError> {
        self.alive()?;
        self.call(move |inner| async move { inner.head().await })
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.alive()?;
        self.call(move |inner| async move { inner.read_all(after, limit).await })
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.alive()?;
        let stream_id = stream_id.to_string();
        self.call(move |inner| async move { inner.read_stream(&stream_id).await })
    }

    async fn read_account(&self, account_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.alive()?;
        self.call(move |inner| async move { inner.read_account(account_id).await })
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        let head = *self.inner.subscribe().borrow();
        let (sender, receiver) = watch::channel(head);
        self.subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(sender);
        receiver
    }

    async fn save_snapshot(&self, position: u64, state: Vec<u8>) -> Result<(), StoreError> {
        self.alive()?;
        self.call(move |inner| async move { inner.save_snapshot(position, state).await })
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.alive()?;
        self.call(move |inner| async move { inner.load_snapshot().await })
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
}

fn model_crashed() -> ProjectionError {
    ProjectionError::WorkerGone("simulated: the projector was killed".into())
}

/// The real read-model store as one projector sees it: failed writes (before or after their
/// transaction commits), and dead once the projector is killed.
pub struct FaultyModels {
    inner: Arc<dyn ReadModelStore>,
    io: Io,
    dice: Arc<Dice>,
    liveness: Liveness,
}

impl FaultyModels {
    pub fn new(inner: Arc<dyn ReadModelStore>, io: Io, dice: Arc<Dice>) -> FaultyModels {
        FaultyModels {
            inner,
            io,
            dice,
            liveness: Liveness::default(),
        }
    }

    /// Runs a call of the real read-model store to completion on the I/O runtime.
    fn call<T, F>(
        &self,
        work: impl FnOnce(Arc<dyn ReadModelStore>) -> F,
    ) -> Result<T, ProjectionError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, ProjectionError>> + Send + 'static,
    {
        self.io
            .run(work(self.inner.clone()))
            .map_err(ProjectionError::WorkerGone)?
    }

    pub fn kill(&self) {
        self.liveness.kill();
    }

    fn alive(&self) -> Result<(), ProjectionError> {
        self.liveness.check(model_crashed)
    }
}

#[async_trait]
impl ReadModelStore for FaultyModels {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn checkpoint(&self, scope: FoldScope) -> Result<u64, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.checkpoint(scope).await })
    }

    async fn load_state(&self, scope: FoldScope) -> Result<FoldState, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.load_state(scope).await })
    }

    fn prepare(&self, changes: &mut Changes) {
        self.inner.prepare(changes);
    }

    async fn write(&self, tables: Tables, changes: Changes) -> Result<(), ProjectionError> {
        self.alive()?;
        let what = format!("read-model write of {:?}", changes.scope);
        if self
            .dice
            .roll(Fault::ProjectorFail, MODEL_FAIL_PER_MILLE, &what)
        {
            if self.dice.below(2) == 0 {
                return Err(ProjectionError::WorkerGone(
                    "simulated: the write failed before its commit".into(),
                ));
            }
            self.call(move |inner| async move { inner.write(tables, changes).await })?;
            return Err(ProjectionError::WorkerGone(
                "simulated: the write committed but its answer was lost".into(),
            ));
        }
        self.call(move |inner| async move { inner.write(tables, changes).await })
    }

    async fn rebuild_begin(&self) -> Result<(), ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.rebuild_begin().await })
    }

    async fn rebuild_checkpoint(&self) -> Result<u64, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.rebuild_checkpoint().await })
    }

    async fn rebuild_index(&self) -> Result<(), ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.rebuild_index().await })
    }

    async fn rebuild_swap(&self) -> Result<(), ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.rebuild_swap().await })
    }

    async fn repair_counters(
        &self,
        scope: FoldScope,
        at: u64,
        counters: Vec<Counters>,
    ) -> Result<Vec<AccountId>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.repair_counters(scope, at, counters).await })
    }

    async fn replace_daily_rows(
        &self,
        at: u64,
        accounts: &[AccountId],
        from: NaiveDate,
        rows: Vec<DailyRow>,
    ) -> Result<u64, ProjectionError> {
        self.alive()?;
        let accounts = accounts.to_vec();
        self.call(
            move |inner| async move { inner.replace_daily_rows(at, &accounts, from, rows).await },
        )
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountRow>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.account(id).await })
    }

    async fn account_by_number(&self, number: &str) -> Result<Option<AccountRow>, ProjectionError> {
        self.alive()?;
        let number = number.to_string();
        self.call(move |inner| async move { inner.account_by_number(&number).await })
    }

    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: PageRequest,
    ) -> Result<Page<AccountRow>, ProjectionError> {
        self.alive()?;
        let filter = filter.clone();
        self.call(move |inner| async move { inner.accounts(&filter, page).await })
    }

    async fn transfer(
        &self,
        id: folio_domain::TransferId,
    ) -> Result<Option<folio_projections::rows::TransferRow>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.transfer(id).await })
    }
    async fn transfers(
        &self,
        filter: &folio_projections::query::TransferFilter,
        page: PageRequest,
    ) -> Result<Page<folio_projections::rows::TransferRow>, ProjectionError> {
        self.alive()?;
        let filter = filter.clone();
        self.call(move |inner| async move { inner.transfers(&filter, page).await })
    }

    async fn document(
        &self,
        id: folio_domain::DocumentId,
    ) -> Result<Option<folio_projections::rows::DocumentRow>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.document(id).await })
    }

    async fn documents(
        &self,
        filter: &folio_projections::query::DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<folio_projections::rows::DocumentRow>, ProjectionError> {
        self.alive()?;
        let filter = filter.clone();
        self.call(move |inner| async move { inner.documents(&filter, page).await })
    }
    async fn payment(&self, id: PaymentId) -> Result<Option<PaymentRow>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.payment(id).await })
    }

    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<PaymentRow>, ProjectionError> {
        self.alive()?;
        let filter = filter.clone();
        self.call(move |inner| async move { inner.payments(&filter, page).await })
    }

    async fn transaction(&self, id: Uuid) -> Result<Option<TransactionRow>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.transaction(id).await })
    }

    async fn transactions(
        &self,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<TransactionRow>, ProjectionError> {
        self.alive()?;
        let filter = filter.clone();
        self.call(move |inner| async move { inner.transactions(&filter, page).await })
    }

    async fn daily_rows(
        &self,
        account_ids: &[AccountId],
        until: NaiveDate,
    ) -> Result<Vec<DailyRow>, ProjectionError> {
        self.alive()?;
        let account_ids = account_ids.to_vec();
        self.call(move |inner| async move { inner.daily_rows(&account_ids, until).await })
    }

    async fn client(&self, id: ClientId) -> Result<Option<ClientRow>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.client(id).await })
    }

    async fn recipient(
        &self,
        id: folio_domain::RecipientId,
    ) -> Result<Option<folio_projections::rows::RecipientRow>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.recipient(id).await })
    }

    async fn recipients(
        &self,
        filter: &folio_projections::query::RecipientFilter,
        page: PageRequest,
    ) -> Result<Page<folio_projections::rows::RecipientRow>, ProjectionError> {
        self.alive()?;
        let filter = filter.clone();
        self.call(move |inner| async move { inner.recipients(&filter, page).await })
    }

    async fn clients(
        &self,
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<Page<ClientRow>, ProjectionError> {
        self.alive()?;
        let filter = filter.clone();
        self.call(move |inner| async move { inner.clients(&filter, page).await })
    }

    async fn totals(
        &self,
        client_id: Option<ClientId>,
        currency: Option<Currency>,
    ) -> Result<Vec<CurrencyTotals>, ProjectionError> {
        self.alive()?;
        self.call(move |inner| async move { inner.totals(client_id, currency).await })
    }
}
