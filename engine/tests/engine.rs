//! The engine against a real SQLite log: batching, durability of answers, rejections,
//! idempotency, restart from snapshot, fencing, commit failures and hold expiry.

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, CommandKind, CreateMode, CreatePayment,
    Currency, Ledger, LedgerSnapshot, LegRequest, OpenAccount, PaymentId, PaymentStatus, Receipt,
};
use folio_engine::codec::from_recorded;
use folio_engine::{
    Clock, CommandRequest, Engine, EngineConfig, EngineError, EngineHandle, recover,
};
use folio_store::{AppendOutcome, EventStore, Head, NewEvent, RecordedEvent, Snapshot, StoreError};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use tokio::sync::watch;
use uuid::Uuid;

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    folio_store::open_store(&url).await.unwrap()
}

fn open(account_id: AccountId) -> CommandRequest {
    CommandRequest::new(CommandKind::OpenAccount(OpenAccount {
        account_id,
        client_id: Some(ClientId(Uuid::from_u128(7))),
        currency: eur(),
        account_type: AccountType::Current,
        name: None,
        number: None,
        overdraft_limit: Decimal::ZERO,
        status: AccountStatus::Active,
    }))
}

fn pay(
    payment_id: PaymentId,
    debit: Option<AccountId>,
    credit: Option<AccountId>,
    amount: Decimal,
    mode: CreateMode,
) -> CommandRequest {
    CommandRequest::new(CommandKind::CreatePayment(CreatePayment {
        payment_id,
        legs: vec![LegRequest {
            debit,
            credit,
            amount,
            currency: eur(),
        }],
        mode,
        description: None,
        external_id: None,
        metadata: None,
        expires_at: None,
    }))
}

async fn open_funded(handle: &EngineHandle, count: usize, funding: Decimal) -> Vec<AccountId> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let id = AccountId(Uuid::now_v7());
        handle.execute(open(id)).await.unwrap();
        let pay_in = pay(
            PaymentId(Uuid::now_v7()),
            None,
            Some(id),
            funding,
            CreateMode::Posted,
        );
        handle.execute(pay_in).await.unwrap();
        ids.push(id);
    }
    ids
}

/// The ledger a full replay of the log from position 0 builds, ignoring snapshots.
async fn replay_from_genesis(store: &dyn EventStore) -> Ledger {
    let mut ledger = Ledger::new();
    let mut after = 0;
    loop {
        let page = store.read_all(after, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.global_position;
        for record in &page {
            ledger.apply(&from_recorded(record).unwrap());
        }
    }
    ledger
}

#[tokio::test]
async fn concurrent_payments_are_all_committed_before_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 10, dec!(1000)).await;

    let mut tasks = Vec::new();
    for i in 0..2000u32 {
        let handle = handle.clone();
        let debit = accounts[(i % 10) as usize];
        let credit = accounts[((i + 3) % 10) as usize];
        tasks.push(tokio::spawn(async move {
            let payment_id = PaymentId(Uuid::now_v7());
            let committed = handle
                .execute(pay(
                    payment_id,
                    Some(debit),
                    Some(credit),
                    dec!(0.25),
                    CreateMode::Posted,
                ))
                .await
                .unwrap();
            // Acknowledged means durable: the log already holds the command's events.
            assert!(committed.position <= handle.committed_position());
            (payment_id, committed.position)
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(task.await.unwrap());
    }
    let stats = handle.stats();
    assert!(
        stats.batches_committed.load(Ordering::Relaxed) < 2000 + 20,
        "commands were batched"
    );
    engine.shutdown().await;

    let ledger = replay_from_genesis(store.as_ref()).await;
    ledger.check_invariants().unwrap();
    for (payment_id, position) in &acknowledged {
        let payment = ledger
            .payment(*payment_id)
            .expect("acknowledged payment is in the log");
        assert_eq!(payment.status, PaymentStatus::Posted);
        let stream = store
            .read_stream(&format!("payment-{payment_id}"))
            .await
            .unwrap();
        assert_eq!(stream.len(), 1);
        assert!(stream[0].global_position <= *position);
    }
    // Each account sent 200 × 0.25 and received 200 × 0.25.
    for account in &accounts {
        assert_eq!(ledger.account(*account).unwrap().balance(), dec!(1000));
    }
}

#[tokio::test]
async fn a_rejected_command_gets_its_code_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 2, dec!(10)).await;
    let head_before = store.head().await.unwrap();

    let too_much = pay(
        PaymentId(Uuid::now_v7()),
        Some(accounts[0]),
        Some(accounts[1]),
        dec!(10.01),
        CreateMode::Posted,
    );
    match handle.execute(too_much).await {
        Err(EngineError::Rejected(error)) => assert_eq!(error.code(), "InsufficientFunds"),
        other => panic!("expected InsufficientFunds, got {other:?}"),
    }
    let unknown = pay(
        PaymentId(Uuid::now_v7()),
        Some(AccountId(Uuid::now_v7())),
        Some(accounts[1]),
        dec!(1),
        CreateMode::Posted,
    );
    match handle.execute(unknown).await {
        Err(EngineError::Rejected(error)) => assert_eq!(error.code(), "AccountNotFound"),
        other => panic!("expected AccountNotFound, got {other:?}"),
    }
    assert_eq!(store.head().await.unwrap(), head_before);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 2, dec!(100)).await;

    let first_id = PaymentId(Uuid::now_v7());
    let first = handle
        .execute(
            pay(
                first_id,
                Some(accounts[0]),
                Some(accounts[1]),
                dec!(5),
                CreateMode::Posted,
            )
            .with_idempotency_key("order-42"),
        )
        .await
        .unwrap();
    assert!(!first.duplicate);
    let head = store.head().await.unwrap();

    // The same request again, as a client would send it after a timeout: a new server-side id.
    let retry = handle
        .execute(
            pay(
                PaymentId(Uuid::now_v7()),
                Some(accounts[0]),
                Some(accounts[1]),
                dec!(5),
                CreateMode::Posted,
            )
            .with_idempotency_key("order-42"),
        )
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.receipt, Receipt::Payment(first_id));
    assert_eq!(
        store.head().await.unwrap(),
        head,
        "a duplicate records nothing"
    );

    let different = handle
        .execute(
            pay(
                PaymentId(Uuid::now_v7()),
                Some(accounts[0]),
                Some(accounts[1]),
                dec!(6),
                CreateMode::Posted,
            )
            .with_idempotency_key("order-42"),
        )
        .await;
    match different {
        Err(EngineError::Rejected(error)) => assert_eq!(error.code(), "IdempotencyConflict"),
        other => panic!("expected IdempotencyConflict, got {other:?}"),
    }
    engine.shutdown().await;

    // The key survives a restart: the record is rebuilt from the log.
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let again = engine
        .handle()
        .execute(
            pay(
                PaymentId(Uuid::now_v7()),
                Some(accounts[0]),
                Some(accounts[1]),
                dec!(5),
                CreateMode::Posted,
            )
            .with_idempotency_key("order-42"),
        )
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.receipt, Receipt::Payment(first_id));
    engine.shutdown().await;
}

/// Runs `payments` payments between `accounts` funded accounts (every third one pending) on an
/// engine that snapshots every `snapshot_every` events, then shuts it down; returns its
/// configuration and the accounts.
async fn history_with_snapshots(
    store: &Arc<dyn EventStore>,
    snapshot_every: u64,
    accounts: usize,
    payments: usize,
) -> (EngineConfig, Vec<AccountId>) {
    let config = EngineConfig {
        snapshot_every_events: snapshot_every,
        ..EngineConfig::default()
    };
    let engine = Engine::start(store.clone(), config.clone()).await.unwrap();
    let handle = engine.handle();
    let ids = open_funded(&handle, accounts, dec!(100)).await;
    for i in 0..payments {
        let mode = if i % 3 == 0 {
            CreateMode::Pending
        } else {
            CreateMode::Posted
        };
        let command = pay(
            PaymentId(Uuid::now_v7()),
            Some(ids[i % accounts]),
            Some(ids[(i + 1) % accounts]),
            dec!(1.5),
            mode,
        );
        handle.execute(command).await.unwrap();
    }
    engine.shutdown().await;
    (config, ids)
}

/// Starts an engine on `store` and checks its first payment lands right after the head.
async fn assert_restarts_at_the_head(
    store: &Arc<dyn EventStore>,
    config: EngineConfig,
    accounts: &[AccountId],
) {
    let head = store.head().await.unwrap();
    let engine = Engine::start(store.clone(), config).await.unwrap();
    let next = engine
        .handle()
        .execute(pay(
            PaymentId(Uuid::now_v7()),
            Some(accounts[0]),
            Some(accounts[1]),
            dec!(1),
            CreateMode::Posted,
        ))
        .await
        .unwrap();
    assert_eq!(next.position, head.position + 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn restart_recovers_from_the_snapshot_and_the_events_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let (config, accounts) = history_with_snapshots(&store, 25, 4, 60).await;

    let snapshot = store
        .load_snapshot()
        .await
        .unwrap()
        .expect("a snapshot was saved");
    let head = store.head().await.unwrap();
    assert!(snapshot.position > 0 && snapshot.position <= head.position);

    let recovered = recover(store.as_ref()).await.unwrap();
    assert_eq!(recovered.head, head);
    assert_eq!(recovered.snapshot_position, snapshot.position);
    let from_genesis = replay_from_genesis(store.as_ref()).await;
    assert_eq!(
        recovered.ledger, from_genesis,
        "snapshot + tail equals a full replay"
    );
    recovered.ledger.check_invariants().unwrap();

    // And the restarted engine keeps going from there.
    assert_restarts_at_the_head(&store, config, &accounts).await;
}

#[tokio::test]
async fn snapshots_are_stored_in_the_binary_form_and_json_ones_from_older_versions_still_recover() {
    // Given an engine that has saved snapshots
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    history_with_snapshots(&store, 10, 3, 30).await;

    // Then the latest is in the binary form, and it holds the ledger at its position
    let stored = store.load_snapshot().await.unwrap().expect("a snapshot");
    let payments = LedgerSnapshot::payments_in(&stored.state).expect("the binary form");
    let state = LedgerSnapshot::from_bytes(&stored.state).unwrap();
    assert_eq!(payments, state.payments().len() as u64);

    // When a snapshot stored as older versions stored it (one JSON document) is the latest
    let json = serde_json::to_vec(&state).unwrap();
    store
        .save_snapshot(stored.position, json.clone())
        .await
        .unwrap();
    assert_eq!(store.load_snapshot().await.unwrap().unwrap().state, json);

    // Then recovery reads it and reaches the state a full replay gives
    let recovered = recover(store.as_ref()).await.unwrap();
    assert_eq!(recovered.snapshot_position, stored.position);
    assert_eq!(recovered.snapshot_unreadable, None);
    assert_eq!(recovered.ledger, replay_from_genesis(store.as_ref()).await);
}

#[tokio::test]
async fn a_snapshot_that_does_not_decode_costs_a_full_replay_not_the_start() {
    // Given an engine that has saved snapshots
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let (config, accounts) = history_with_snapshots(&store, 10, 2, 15).await;

    // When the latest snapshot is damaged (or written by a newer version)
    let latest = store.load_snapshot().await.unwrap().expect("a snapshot");
    let mut damaged = latest.state.clone();
    damaged.truncate(damaged.len() - 1);
    store.save_snapshot(latest.position, damaged).await.unwrap();

    // Then recovery says so and replays the whole log, reaching the same ledger
    let recovered = recover(store.as_ref()).await.unwrap();
    assert_eq!(recovered.snapshot_position, 0);
    let why = recovered
        .snapshot_unreadable
        .expect("the snapshot was passed over");
    assert!(
        why.contains(&format!(
            "the snapshot at {} does not decode",
            latest.position
        )),
        "{why}"
    );
    assert_eq!(recovered.ledger, replay_from_genesis(store.as_ref()).await);

    // And the engine starts and goes on from the head
    assert_restarts_at_the_head(&store, config, &accounts).await;
}

#[tokio::test]
async fn a_second_writer_is_fenced_off_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store_a = sqlite_store(&dir).await;
    let engine_a = Engine::start(store_a.clone(), EngineConfig::default())
        .await
        .unwrap();
    let a = engine_a.handle();
    let accounts = open_funded(&a, 2, dec!(100)).await;

    // B opens the same log and recovers the same head...
    let store_b = sqlite_store(&dir).await;
    let engine_b = Engine::start(store_b.clone(), EngineConfig::default())
        .await
        .unwrap();
    let b = engine_b.handle();
    // ...then A moves the head on.
    a.execute(pay(
        PaymentId(Uuid::now_v7()),
        Some(accounts[0]),
        Some(accounts[1]),
        dec!(1),
        CreateMode::Posted,
    ))
    .await
    .unwrap();
    let head = store_a.head().await.unwrap();

    let fenced = b
        .execute(pay(
            PaymentId(Uuid::now_v7()),
            Some(accounts[1]),
            Some(accounts[0]),
            dec!(1),
            CreateMode::Posted,
        ))
        .await;
    assert!(
        matches!(fenced, Err(EngineError::Fenced(_))),
        "got {fenced:?}"
    );
    assert_eq!(
        store_a.head().await.unwrap(),
        head,
        "the fenced writer wrote nothing"
    );
    // B stopped: it takes no more commands.
    let after = b.execute(open(AccountId(Uuid::now_v7()))).await;
    assert!(
        matches!(after, Err(EngineError::Fenced(_) | EngineError::Stopped)),
        "got {after:?}"
    );
    // A is unaffected.
    a.execute(open(AccountId(Uuid::now_v7()))).await.unwrap();
    engine_b.shutdown().await;
    engine_a.shutdown().await;
}

/// The real SQLite store with one injected fault: the next append fails, either before the
/// commit or after it (the answer is lost). Stands in for a disk or network failure.
struct FaultyStore {
    inner: Arc<dyn EventStore>,
    fail_next_before_commit: AtomicBool,
    fail_next_after_commit: AtomicBool,
}

#[async_trait]
impl EventStore for FaultyStore {
    async fn append(
        &self,
        expected_head: u64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        if self.fail_next_before_commit.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::other("injected: disk full")));
        }
        let outcome = self.inner.append(expected_head, events).await?;
        if self.fail_next_after_commit.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Io(std::io::Error::other(
                "injected: answer lost",
            )));
        }
        Ok(outcome)
    }
    async fn head(&self) -> Result<Head, StoreError> {
        self.inner.head().await
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id).await
    }
    async fn read_account(&self, account_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_account(account_id).await
    }
    fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.subscribe()
    }
    async fn save_snapshot(&self, position: u64, state: Vec<u8>) -> Result<(), StoreError> {
        self.inner.save_snapshot(position, state).await
    }
    async fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot().await
    }
    fn backend_name(&self) -> &'static str {
        "faulty-sqlite"
    }
}

#[tokio::test]
async fn a_failed_commit_is_reported_and_the_writer_reloads_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyStore {
        inner: sqlite_store(&dir).await,
        fail_next_before_commit: AtomicBool::new(false),
        fail_next_after_commit: AtomicBool::new(false),
    });
    let store: Arc<dyn EventStore> = faulty.clone();
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 2, dec!(100)).await;

    // Before commit: the payment is not recorded, the caller is told, the state is not kept.
    faulty.fail_next_before_commit.store(true, Ordering::SeqCst);
    let lost_id = PaymentId(Uuid::now_v7());
    let failed = handle
        .execute(pay(
            lost_id,
            Some(accounts[0]),
            Some(accounts[1]),
            dec!(100),
            CreateMode::Posted,
        ))
        .await;
    assert!(
        matches!(failed, Err(EngineError::CommitFailed(_))),
        "got {failed:?}"
    );
    // The writer reloaded: the 100 it had decided to move is still there to move.
    let moved = handle
        .execute(pay(
            PaymentId(Uuid::now_v7()),
            Some(accounts[0]),
            Some(accounts[1]),
            dec!(100),
            CreateMode::Posted,
        ))
        .await
        .unwrap();
    assert!(!moved.duplicate);

    // After commit, answer lost: the caller retries with its key and learns it went through.
    faulty.fail_next_after_commit.store(true, Ordering::SeqCst);
    let kept_id = PaymentId(Uuid::now_v7());
    let request = pay(
        kept_id,
        Some(accounts[1]),
        Some(accounts[0]),
        dec!(30),
        CreateMode::Posted,
    )
    .with_idempotency_key("retry-me");
    let failed = handle.execute(request.clone()).await;
    assert!(
        matches!(failed, Err(EngineError::CommitFailed(_))),
        "got {failed:?}"
    );
    let retried = handle.execute(request).await.unwrap();
    assert!(retried.duplicate, "the first attempt had committed");
    assert_eq!(retried.receipt, Receipt::Payment(kept_id));
    engine.shutdown().await;

    let ledger = replay_from_genesis(store.as_ref()).await;
    assert!(ledger.payment(lost_id).is_none());
    assert_eq!(
        ledger.payment(kept_id).unwrap().status,
        PaymentStatus::Posted
    );
    assert_eq!(ledger.account(accounts[0]).unwrap().balance(), dec!(30));
    assert_eq!(ledger.account(accounts[1]).unwrap().balance(), dec!(170));
    ledger.check_invariants().unwrap();
}

/// A clock the test moves by hand (it may also step backwards).
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

#[tokio::test]
async fn an_expired_hold_is_released_and_time_never_runs_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let start = Utc::now();
    let clock = Arc::new(ManualClock(AtomicI64::new(start.timestamp_micros())));
    let engine = Engine::start(
        store.clone(),
        EngineConfig {
            clock: clock.clone(),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 2, dec!(100)).await;

    let draft_id = PaymentId(Uuid::now_v7());
    handle
        .execute(pay(
            draft_id,
            Some(accounts[0]),
            Some(accounts[1]),
            dec!(40),
            CreateMode::Draft,
        ))
        .await
        .unwrap();
    let expires_at = start + ChronoDuration::seconds(30);
    let pended = handle
        .execute(CommandRequest::new(CommandKind::PendPayment {
            payment_id: draft_id,
            expires_at: Some(expires_at),
        }))
        .await
        .unwrap();
    // The clock steps back an hour: the engine's time does not.
    clock.0.store(
        (start - ChronoDuration::hours(1)).timestamp_micros(),
        Ordering::SeqCst,
    );
    let later = handle
        .execute(open(AccountId(Uuid::now_v7())))
        .await
        .unwrap();
    assert!(later.at >= pended.at, "recorded time is monotonic");

    // Past the expiry, the next command releases the hold before it is decided.
    clock.0.store(
        (expires_at + ChronoDuration::seconds(1)).timestamp_micros(),
        Ordering::SeqCst,
    );
    let post = handle
        .execute(CommandRequest::new(CommandKind::PostPayment {
            payment_id: draft_id,
            amount: None,
        }))
        .await;
    match post {
        Err(EngineError::Rejected(error)) => assert_eq!(error.code(), "InvalidPaymentState"),
        other => panic!("posting an expired hold must fail, got {other:?}"),
    }
    engine.shutdown().await;
    let ledger = replay_from_genesis(store.as_ref()).await;
    assert_eq!(
        ledger.payment(draft_id).unwrap().status,
        PaymentStatus::Expired
    );
    assert_eq!(ledger.account(accounts[0]).unwrap().held(), Decimal::ZERO);
    assert_eq!(
        ledger.account(accounts[0]).unwrap().available_balance(),
        dec!(100)
    );
}

/// Found by the simulator: a writer restarted while the machine's clock was behind the log
/// stamped its events earlier than those already recorded, and the daily balances then
/// counted a movement into a day already closed.
#[tokio::test]
async fn a_restarted_writer_never_stamps_earlier_than_the_log_even_if_the_clock_went_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let start = Utc::now();
    let clock = Arc::new(ManualClock(AtomicI64::new(start.timestamp_micros())));
    let config = EngineConfig {
        clock: clock.clone(),
        ..EngineConfig::default()
    };
    let engine = Engine::start(store.clone(), config.clone()).await.unwrap();
    let before = engine
        .handle()
        .execute(open(AccountId(Uuid::now_v7())))
        .await
        .unwrap();
    engine.shutdown().await;

    clock.0.store(
        (start - ChronoDuration::hours(3)).timestamp_micros(),
        Ordering::SeqCst,
    );
    let engine = Engine::start(store.clone(), config).await.unwrap();
    let after = engine
        .handle()
        .execute(open(AccountId(Uuid::now_v7())))
        .await
        .unwrap();
    engine.shutdown().await;
    assert!(
        after.at >= before.at,
        "restarted with the clock 3 h behind, the writer stamped {} after {}",
        after.at,
        before.at
    );
    let records = store.read_all(0, 10).await.unwrap();
    assert!(
        records
            .windows(2)
            .all(|pair| pair[0].recorded_at <= pair[1].recorded_at),
        "recorded_at runs backwards in the log"
    );
}

#[tokio::test]
async fn the_writer_releases_due_holds_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 2, dec!(100)).await;
    let payment_id = PaymentId(Uuid::now_v7());
    let mut request = pay(
        payment_id,
        Some(accounts[0]),
        Some(accounts[1]),
        dec!(10),
        CreateMode::Pending,
    );
    if let CommandKind::CreatePayment(create) = &mut request.kind {
        create.expires_at = Some(Utc::now() + ChronoDuration::milliseconds(200));
    }
    let pended = handle.execute(request).await.unwrap();
    // No command arrives; the writer's timer releases the hold.
    let mut committed = handle.subscribe_committed();
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while *committed.borrow_and_update() <= pended.position {
            committed.changed().await.unwrap();
        }
    })
    .await
    .expect("the expiry was committed without any new command");
    let stream = store
        .read_stream(&format!("payment-{payment_id}"))
        .await
        .unwrap();
    assert_eq!(stream.last().unwrap().event_type, "PaymentExpired");
    engine.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_every_queued_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            let id = AccountId(Uuid::now_v7());
            (id, handle.execute(open(id)).await)
        }));
    }
    // Shut down mid-stream: once the writer has decided something, with more still queued.
    while handle.stats().commands_accepted.load(Ordering::Relaxed) == 0 {
        tokio::task::yield_now().await;
    }
    engine.shutdown().await;
    let ledger = replay_from_genesis(store.as_ref()).await;
    let mut acknowledged = 0;
    for task in tasks {
        // Every caller gets a definite answer: committed, or told the engine had stopped.
        match task.await.unwrap() {
            (id, Ok(_)) => {
                acknowledged += 1;
                assert!(
                    ledger.account(id).is_some(),
                    "acknowledged {id} is in the log"
                );
            }
            (id, Err(EngineError::Stopped)) => {
                assert!(
                    ledger.account(id).is_none(),
                    "refused {id} is not in the log"
                );
            }
            (id, Err(other)) => panic!("{id}: unexpected answer {other:?}"),
        }
    }
    assert!(
        acknowledged > 0,
        "commands queued before the shutdown were committed"
    );
}
