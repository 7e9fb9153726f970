//! The `EventStore` contract: one suite, written once, run against every backend.
//!
//! Each test is an async fn taking a `Backend`, which can open any number of store instances on
//! one fresh database: a temporary directory for SQLite, a fresh database created on the
//! server named by `DATABASE_URL` for PostgreSQL. The PostgreSQL tests panic when that server
//! is not configured or reachable: they never pass by skipping.

use chrono::{DateTime, TimeZone, Utc};
use folio_domain::event::{
    AccountOpened, PaymentCancelled, PaymentCreated, PaymentPended, PaymentPosted,
};
use folio_domain::{
    AccountEvent, AccountId, AccountStatus, AccountType, BalancePolicy, Currency, EventBody, Leg,
    PaymentEvent, PaymentId, PaymentStatus, PostedLeg,
};
use folio_store::hash::verify_link;
use folio_store::{EventStore, NewEvent, RecordedEvent, SqliteStore, StoreError};
use rust_decimal::Decimal;
use sqlx::Connection;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Backends

enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(PgDatabase),
}

impl Backend {
    fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().expect("a temporary directory"))
    }

    async fn postgres() -> Backend {
        Backend::Postgres(PgDatabase::create().await)
    }

    /// A new store instance on this backend's database (a second call is a second writer).
    async fn open(&self) -> Arc<dyn EventStore> {
        match self {
            Backend::Sqlite(dir) => {
                let url = format!("sqlite://{}", dir.path().join("events.db").display());
                folio_store::open_store(&url)
                    .await
                    .expect("open the SQLite store")
            }
            Backend::Postgres(db) => folio_store::open_store(&db.url)
                .await
                .expect("open the PostgreSQL store"),
        }
    }

    /// A store on this backend's database opened with `options`.
    async fn open_with(&self, options: &folio_store::StoreOptions) -> Arc<dyn EventStore> {
        let url = match self {
            Backend::Sqlite(dir) => format!("sqlite://{}", dir.path().join("events.db").display()),
            Backend::Postgres(db) => db.url.clone(),
        };
        folio_store::open_store_with(&url, options)
            .await
            .expect("open the store")
    }

    async fn finish(self) {
        if let Backend::Postgres(db) = self {
            db.drop_database().await;
        }
    }
}

/// A scratch database on the server `DATABASE_URL` names, so tests run in parallel, each alone.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> PgDatabase {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "DATABASE_URL is not set: the PostgreSQL contract tests need a server. \
                 Run scripts/test.sh (it starts a throw-away cluster) or set DATABASE_URL."
            )
        });
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot reach PostgreSQL at DATABASE_URL={admin_url}: {error}")
            });
        let name = format!("folio_test_{}", Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot create a test database on {admin_url}: {error}")
            });
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        PgDatabase {
            admin_url,
            name,
            url: url.to_string(),
        }
    }

    async fn drop_database(self) {
        // Best effort: the cluster is throw-away, but a long run should not pile databases up.
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}

/// Each test fn once per backend: `sqlite::name` and `postgres::name`.
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::Backend::sqlite();
                    super::$test(&backend).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::Backend::postgres().await;
                    super::$test(&backend).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

contract!(
    append_then_read_everything_back,
    positions_are_gapless_from_one_across_batches,
    the_hash_chain_links_every_event,
    a_wrong_expected_head_is_fenced_and_writes_nothing,
    a_second_writer_with_a_stale_head_is_fenced,
    a_taken_stream_revision_conflicts_and_writes_nothing,
    a_taken_event_id_conflicts_and_writes_nothing,
    an_empty_batch_writes_nothing_but_is_still_fenced,
    subscribers_see_new_heads_from_this_and_other_instances,
    snapshots_round_trip_and_the_latest_wins,
    a_snapshot_larger_than_one_value_is_stored_in_parts,
    read_account_follows_the_index,
    the_account_index_rebuilds_to_the_same_answer,
    the_account_index_handles_more_events_than_one_read,
    reopening_keeps_everything,
);

// ---------------------------------------------------------------------------------------------
// Events

fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + second, 0)
        .single()
        .expect("a valid time")
}

/// A plain event of a type the domain does not know (the index skips it).
fn event(stream: &str, revision: u64) -> NewEvent {
    NewEvent {
        stream_id: stream.to_owned(),
        stream_revision: revision,
        event_id: Uuid::now_v7(),
        event_type: "TestEvent".to_owned(),
        schema_version: 1,
        recorded_at: at(revision as i64),
        correlation_id: None,
        causation_id: None,
        idempotency_key: None,
        payload: format!("{{\"stream\":\"{stream}\",\"n\":{revision}}}"),
        metadata: None,
    }
}

/// An event with every optional field set and a nanosecond timestamp.
fn full_event(stream: &str, revision: u64) -> NewEvent {
    NewEvent {
        correlation_id: Some(Uuid::now_v7()),
        causation_id: Some(Uuid::now_v7()),
        idempotency_key: Some(format!("key-{stream}-{revision}")),
        metadata: Some("{\"fingerprint\":\"abc\"}".to_owned()),
        recorded_at: Utc
            .timestamp_opt(1_750_000_000, 123_456_789)
            .single()
            .expect("a valid time"),
        payload: "{ \"spaced\" :  [1, 2.50, \"x\"] }".to_owned(),
        ..event(stream, revision)
    }
}

/// A domain event as the engine would log it.
fn domain_event(body: EventBody, revision: u64) -> NewEvent {
    let (event_type, schema_version, payload) = folio_domain::codec::encode(&body);
    NewEvent {
        stream_id: body.stream_id(),
        event_type: event_type.to_owned(),
        schema_version,
        payload,
        ..event("unused", revision)
    }
}

fn eur() -> Currency {
    Currency::from_code("EUR").expect("EUR is known")
}

fn opened(account: AccountId) -> NewEvent {
    domain_event(
        EventBody::Account(AccountEvent::Opened(AccountOpened {
            account_id: account,
            number: format!("ACC-{}", account.0.simple()),
            client_id: None,
            currency: eur(),
            account_type: AccountType::Current,
            status: AccountStatus::Active,
            name: None,
            policy: BalancePolicy {
                allow_negative: false,
                overdraft_limit: Decimal::ZERO,
            },
        })),
        0,
    )
}

fn leg(debit: AccountId, credit: AccountId) -> Leg {
    Leg {
        debit,
        credit,
        amount: Decimal::new(1050, 2),
        currency: eur(),
    }
}

fn created(payment: PaymentId, status: PaymentStatus, legs: Vec<Leg>) -> NewEvent {
    domain_event(
        EventBody::Payment(PaymentEvent::Created(PaymentCreated {
            payment_id: payment,
            status,
            legs,
            description: None,
            external_id: None,
            metadata: None,
            expires_at: None,
        })),
        0,
    )
}

fn strip(events: &[RecordedEvent]) -> Vec<(u64, String, u64)> {
    events
        .iter()
        .map(|e| (e.global_position, e.stream_id.clone(), e.stream_revision))
        .collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.global_position).collect()
}

async fn everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store.read_all(0, usize::MAX).await.expect("read_all")
}

fn assert_chain(events: &[RecordedEvent]) {
    let mut previous = [0u8; 32];
    for event in events {
        assert!(
            verify_link(&previous, event),
            "hash link broken at position {}",
            event.global_position
        );
        previous = event.hash;
    }
}

/// Waits until `store`'s head watch reaches `position`, or fails after a few seconds.
async fn wait_for_head(receiver: &mut tokio::sync::watch::Receiver<u64>, position: u64) {
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if *receiver.borrow_and_update() >= position {
                return;
            }
            receiver.changed().await.expect("the head watch stays open");
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "the head watch never reached {position} (it shows {})",
        *receiver.borrow()
    );
}

// ---------------------------------------------------------------------------------------------
// The contract

async fn append_then_read_everything_back(backend: &Backend) {
    let store = backend.open().await;
    assert_eq!(store.head().await.expect("head").position, 0);
    assert_eq!(store.head().await.expect("head").hash, [0u8; 32]);

    let batch = vec![
        event("a", 0),
        full_event("a", 1),
        event("b", 0),
        event("a", 2),
        event("b", 1),
    ];
    let outcome = store.append(0, batch.clone()).await.expect("append");
    assert_eq!(outcome.first_position, 1);
    assert_eq!(outcome.head.position, 5);
    assert_eq!(store.head().await.expect("head"), outcome.head);

    let all = everything(&*store).await;
    assert_eq!(all.len(), 5);
    for (recorded, new) in all.iter().zip(&batch) {
        assert_eq!(recorded.stream_id, new.stream_id);
        assert_eq!(recorded.stream_revision, new.stream_revision);
        assert_eq!(recorded.event_id, new.event_id);
        assert_eq!(recorded.event_type, new.event_type);
        assert_eq!(recorded.schema_version, new.schema_version);
        // Timestamps are stored to the microsecond.
        assert_eq!(
            recorded.recorded_at.timestamp_micros(),
            new.recorded_at.timestamp_micros()
        );
        assert_eq!(recorded.correlation_id, new.correlation_id);
        assert_eq!(recorded.causation_id, new.causation_id);
        assert_eq!(recorded.idempotency_key, new.idempotency_key);
        assert_eq!(
            recorded.payload, new.payload,
            "the payload is kept byte for byte"
        );
        assert_eq!(recorded.metadata, new.metadata);
    }
    assert_eq!(all[4].hash, outcome.head.hash);

    let page = store.read_all(2, 2).await.expect("read_all page");
    assert_eq!(positions(&page), vec![3, 4]);
    assert!(
        store
            .read_all(5, 10)
            .await
            .expect("read past the head")
            .is_empty()
    );
    assert!(store.read_all(0, 0).await.expect("read nothing").is_empty());
    assert!(
        store
            .read_all(u64::MAX, 10)
            .await
            .expect("read far")
            .is_empty()
    );

    let a = store.read_stream("a").await.expect("read_stream");
    assert_eq!(
        strip(&a),
        vec![(1, "a".into(), 0), (2, "a".into(), 1), (4, "a".into(), 2)]
    );
    let b = store.read_stream("b").await.expect("read_stream");
    assert_eq!(positions(&b), vec![3, 5]);
    assert!(
        store
            .read_stream("nope")
            .await
            .expect("read_stream")
            .is_empty()
    );
    assert_eq!(store.backend_name(), backend_name(backend));
}

fn backend_name(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite(_) => "sqlite",
        Backend::Postgres(_) => "postgres",
    }
}

async fn positions_are_gapless_from_one_across_batches(backend: &Backend) {
    let store = backend.open().await;
    let mut head = 0;
    let mut revision = 0;
    for size in [1usize, 7, 300, 2, 4096, 1] {
        let batch: Vec<NewEvent> = (0..size).map(|i| event("s", revision + i as u64)).collect();
        let outcome = store.append(head, batch).await.expect("append");
        assert_eq!(outcome.first_position, head + 1);
        assert_eq!(outcome.head.position, head + size as u64);
        head = outcome.head.position;
        revision += size as u64;
    }
    let all = everything(&*store).await;
    assert_eq!(positions(&all), (1..=head).collect::<Vec<_>>());
    let stream = store.read_stream("s").await.expect("read_stream");
    let revisions: Vec<u64> = stream.iter().map(|e| e.stream_revision).collect();
    assert_eq!(revisions, (0..revision).collect::<Vec<_>>());
}

async fn the_hash_chain_links_every_event(backend: &Backend) {
    let store = backend.open().await;
    let first = store
        .append(0, vec![full_event("x", 0), event("y", 0)])
        .await
        .expect("append");
    let second = store
        .append(2, vec![event("x", 1), full_event("y", 1), event("z", 0)])
        .await
        .expect("append");
    let all = everything(&*store).await;
    assert_chain(&all);
    assert_eq!(first.head.hash, all[1].hash);
    assert_eq!(second.head.hash, all[4].hash);
    assert_eq!(store.head().await.expect("head").hash, all[4].hash);

    // A changed byte anywhere breaks the link.
    let mut tampered = all[2].clone();
    tampered.payload.push(' ');
    assert!(!verify_link(&all[1].hash, &tampered));
}

async fn a_wrong_expected_head_is_fenced_and_writes_nothing(backend: &Backend) {
    let store = backend.open().await;
    store
        .append(0, vec![event("a", 0), event("a", 1)])
        .await
        .expect("append");
    for wrong in [0, 1, 3, 100] {
        match store.append(wrong, vec![event("b", 0)]).await {
            Err(StoreError::Fenced { expected, found }) => {
                assert_eq!((expected, found), (wrong, 2));
            }
            other => panic!("expected Fenced for head {wrong}, got {other:?}"),
        }
    }
    assert_eq!(store.head().await.expect("head").position, 2);
    assert_eq!(everything(&*store).await.len(), 2);
    assert!(store.read_stream("b").await.expect("read").is_empty());
    // The right head still works afterwards.
    let outcome = store.append(2, vec![event("b", 0)]).await.expect("append");
    assert_eq!(outcome.head.position, 3);
    assert_chain(&everything(&*store).await);
}

async fn a_second_writer_with_a_stale_head_is_fenced(backend: &Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    first
        .append(0, vec![event("a", 0)])
        .await
        .expect("first append");

    // The second instance still believes the log is empty.
    match second.append(0, vec![event("b", 0)]).await {
        Err(StoreError::Fenced {
            expected: 0,
            found: 1,
        }) => {}
        other => panic!("expected the second writer to be fenced, got {other:?}"),
    }
    // Having learned the head, it may append; now the first one is the stale writer.
    second
        .append(1, vec![event("b", 0), event("b", 1)])
        .await
        .expect("second append at the real head");
    match first.append(1, vec![event("a", 1)]).await {
        Err(StoreError::Fenced {
            expected: 1,
            found: 3,
        }) => {}
        other => panic!("expected the first writer to be fenced, got {other:?}"),
    }
    first
        .append(3, vec![event("a", 1)])
        .await
        .expect("first append at the real head");

    let all = everything(&*first).await;
    assert_eq!(positions(&all), vec![1, 2, 3, 4]);
    assert_chain(&all);
    assert_eq!(all, everything(&*second).await);
}

async fn a_taken_stream_revision_conflicts_and_writes_nothing(backend: &Backend) {
    let store = backend.open().await;
    store.append(0, vec![event("a", 0)]).await.expect("append");
    let clash = vec![event("b", 0), event("a", 0)];
    match store.append(1, clash).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Twice the same revision inside one batch, too.
    match store.append(1, vec![event("c", 0), event("c", 0)]).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.head().await.expect("head").position, 1);
    assert!(store.read_stream("b").await.expect("read").is_empty());
    assert!(store.read_stream("c").await.expect("read").is_empty());
    // The writer carries on from the unchanged head.
    let outcome = store
        .append(1, vec![event("b", 0), event("a", 1)])
        .await
        .expect("append after a conflict");
    assert_eq!(outcome.head.position, 3);
    assert_chain(&everything(&*store).await);
}

async fn a_taken_event_id_conflicts_and_writes_nothing(backend: &Backend) {
    let store = backend.open().await;
    let first = event("a", 0);
    store.append(0, vec![first.clone()]).await.expect("append");
    let reused = NewEvent {
        event_id: first.event_id,
        ..event("b", 0)
    };
    match store.append(1, vec![event("c", 0), reused]).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    let twin = event("d", 0);
    let twin_again = NewEvent {
        event_id: twin.event_id,
        ..event("e", 0)
    };
    match store.append(1, vec![twin, twin_again]).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.head().await.expect("head").position, 1);
    assert_eq!(everything(&*store).await.len(), 1);
    store
        .append(1, vec![event("b", 0)])
        .await
        .expect("append after a conflict");
    assert_chain(&everything(&*store).await);
}

async fn an_empty_batch_writes_nothing_but_is_still_fenced(backend: &Backend) {
    let store = backend.open().await;
    let outcome = store.append(0, Vec::new()).await.expect("empty append");
    assert_eq!(outcome.first_position, 1);
    assert_eq!(outcome.head.position, 0);
    assert!(matches!(
        store.append(4, Vec::new()).await,
        Err(StoreError::Fenced {
            expected: 4,
            found: 0
        })
    ));

    let appended = store.append(0, vec![event("a", 0)]).await.expect("append");
    let outcome = store.append(1, Vec::new()).await.expect("empty append");
    assert_eq!(outcome.head, appended.head);
    assert_eq!(outcome.first_position, 2);
    assert!(matches!(
        store.append(0, Vec::new()).await,
        Err(StoreError::Fenced {
            expected: 0,
            found: 1
        })
    ));
    assert_eq!(everything(&*store).await.len(), 1);

    // A second instance's append is seen by an empty append of the first.
    let other = backend.open().await;
    other.append(1, vec![event("a", 1)]).await.expect("append");
    assert!(matches!(
        store.append(1, Vec::new()).await,
        Err(StoreError::Fenced {
            expected: 1,
            found: 2
        })
    ));
    assert_eq!(
        store
            .append(2, Vec::new())
            .await
            .expect("empty")
            .head
            .position,
        2
    );
}

async fn subscribers_see_new_heads_from_this_and_other_instances(backend: &Backend) {
    let store = backend.open().await;
    let mut receiver = store.subscribe();
    assert_eq!(*receiver.borrow_and_update(), 0);
    store
        .append(0, vec![event("a", 0), event("a", 1)])
        .await
        .expect("append");
    wait_for_head(&mut receiver, 2).await;

    // A commit by another instance (another process, as far as the store can tell).
    let other = backend.open().await;
    let mut other_receiver = other.subscribe();
    wait_for_head(&mut other_receiver, 2).await;
    other.append(2, vec![event("b", 0)]).await.expect("append");
    wait_for_head(&mut receiver, 3).await;
    wait_for_head(&mut other_receiver, 3).await;

    // A new subscriber starts at the current head.
    assert!(*store.subscribe().borrow() >= 3);
}

async fn snapshots_round_trip_and_the_latest_wins(backend: &Backend) {
    let store = backend.open().await;
    assert!(store.load_snapshot().await.expect("load").is_none());

    store
        .save_snapshot(10, b"ten".to_vec())
        .await
        .expect("save");
    let snapshot = store
        .load_snapshot()
        .await
        .expect("load")
        .expect("a snapshot");
    assert_eq!(snapshot.position, 10);
    assert_eq!(snapshot.state, b"ten");
    assert!((Utc::now() - snapshot.taken_at).num_seconds().abs() < 300);

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    store.save_snapshot(20, big.clone()).await.expect("save");
    store
        .save_snapshot(15, b"older".to_vec())
        .await
        .expect("save");
    let snapshot = store
        .load_snapshot()
        .await
        .expect("load")
        .expect("a snapshot");
    assert_eq!(snapshot.position, 20);
    assert_eq!(snapshot.state, big);

    // Saving at the same position again replaces it.
    store
        .save_snapshot(20, b"again".to_vec())
        .await
        .expect("save");
    let snapshot = store
        .load_snapshot()
        .await
        .expect("load")
        .expect("a snapshot");
    assert_eq!((snapshot.position, snapshot.state), (20, b"again".to_vec()));
}

/// Both databases refuse one value over 1 GB, which the snapshot of a ledger of about ten
/// million payments passes: a snapshot is kept in parts. Parts of 1,000 bytes here.
async fn a_snapshot_larger_than_one_value_is_stored_in_parts(backend: &Backend) {
    let small_parts = folio_store::StoreOptions {
        snapshot_part_bytes: 1_000,
        ..Default::default()
    };
    let store = backend.open_with(&small_parts).await;
    let state = |seed: u32, len: u32| -> Vec<u8> {
        (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
    };
    let latest = |store: Arc<dyn EventStore>| async move {
        let snapshot = store
            .load_snapshot()
            .await
            .expect("load")
            .expect("a snapshot");
        (snapshot.position, snapshot.state)
    };
    // 4,500 bytes: five parts; exactly three parts; then a smaller one at the same position.
    store
        .save_snapshot(10, state(1, 4_500))
        .await
        .expect("save");
    assert_eq!(latest(store.clone()).await, (10, state(1, 4_500)));
    store
        .save_snapshot(20, state(2, 3_000))
        .await
        .expect("save");
    assert_eq!(latest(store.clone()).await, (20, state(2, 3_000)));
    store
        .save_snapshot(20, state(3, 1_500))
        .await
        .expect("save");
    assert_eq!(
        latest(store.clone()).await,
        (20, state(3, 1_500)),
        "a snapshot saved again at its position leaves none of its old parts"
    );
    // Two are kept: saving more drops the oldest with its parts, and the latest stays whole.
    store
        .save_snapshot(30, state(4, 2_001))
        .await
        .expect("save");
    assert_eq!(latest(store.clone()).await, (30, state(4, 2_001)));
    store.save_snapshot(40, Vec::new()).await.expect("save");
    assert_eq!(latest(store.clone()).await, (40, Vec::new()));
    store
        .save_snapshot(50, state(5, 4_000))
        .await
        .expect("save");
    drop(store);
    // A store opened with the default (large) parts reads what the other wrote.
    let store = backend.open_with(&Default::default()).await;
    assert_eq!(latest(store).await, (50, state(5, 4_000)));
    // No stored value is longer than a part.
    let longest = "SELECT MAX(n) FROM (SELECT length(state) AS n FROM snapshots \
                   UNION ALL SELECT length(bytes) FROM snapshot_parts) AS lengths";
    let longest: i64 = match backend {
        Backend::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("events.db"))
            .expect("open the log")
            .query_row(longest, [], |row| row.get(0))
            .expect("lengths"),
        Backend::Postgres(db) => {
            let mut connection = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            let longest: i32 = sqlx::query_scalar(longest)
                .fetch_one(&mut connection)
                .await
                .expect("lengths");
            i64::from(longest)
        }
    };
    assert_eq!(longest, 1_000);
}

/// A small ledger history: accounts A, B, C opened; A pays B (posted), B pends to C then
/// posts, A drafts to C (no money moves), C pends to A then cancels, plus a non-domain event.
struct History {
    a: AccountId,
    b: AccountId,
    c: AccountId,
    events: Vec<NewEvent>,
}

fn history() -> History {
    let a = AccountId(Uuid::now_v7());
    let b = AccountId(Uuid::now_v7());
    let c = AccountId(Uuid::now_v7());
    let p1 = PaymentId(Uuid::now_v7());
    let p2 = PaymentId(Uuid::now_v7());
    let p3 = PaymentId(Uuid::now_v7());
    let p4 = PaymentId(Uuid::now_v7());
    let posted_leg = |debit, credit| PostedLeg {
        debit,
        credit,
        currency: eur(),
        held: Decimal::new(1050, 2),
        posted: Decimal::new(1050, 2),
    };
    let events = vec![
        opened(a),                                            // 1
        opened(b),                                            // 2
        opened(c),                                            // 3
        created(p1, PaymentStatus::Posted, vec![leg(a, b)]),  // 4: A, B
        created(p2, PaymentStatus::Pending, vec![leg(b, c)]), // 5: B, C
        event("other-producer", 0),                           // 6: nobody
        domain_event(
            EventBody::Payment(PaymentEvent::Posted(PaymentPosted {
                payment_id: p2,
                legs: vec![posted_leg(b, c)],
            })),
            1,
        ), // 7: B, C
        created(p3, PaymentStatus::Draft, vec![leg(a, c)]),   // 8: a draft touches nobody
        domain_event(
            EventBody::Payment(PaymentEvent::Pended(PaymentPended {
                payment_id: p3,
                legs: vec![leg(a, c)],
                expires_at: None,
            })),
            1,
        ), // 9: A, C
        created(p4, PaymentStatus::Pending, vec![leg(c, a)]), // 10: C, A
        domain_event(
            EventBody::Payment(PaymentEvent::Cancelled(PaymentCancelled {
                payment_id: p4,
                released: vec![leg(c, a)],
                reason: None,
            })),
            1,
        ), // 11: C, A
    ];
    History { a, b, c, events }
}

async fn account_positions(store: &dyn EventStore, account: AccountId) -> Vec<u64> {
    let events = store.read_account(account.0).await.expect("read_account");
    assert!(
        events
            .windows(2)
            .all(|w| w[0].global_position < w[1].global_position),
        "read_account answers in position order"
    );
    positions(&events)
}

async fn read_account_follows_the_index(backend: &Backend) {
    let store = backend.open().await;
    let History { a, b, c, events } = history();
    let (first, rest) = events.split_at(6);
    store.append(0, first.to_vec()).await.expect("append");
    assert_eq!(account_positions(&*store, a).await, vec![1, 4]);
    assert_eq!(account_positions(&*store, b).await, vec![2, 4, 5]);

    // The index catches up with whatever was appended since.
    store.append(6, rest.to_vec()).await.expect("append");
    assert_eq!(account_positions(&*store, a).await, vec![1, 4, 9, 10, 11]);
    assert_eq!(account_positions(&*store, b).await, vec![2, 4, 5, 7]);
    assert_eq!(
        account_positions(&*store, c).await,
        vec![3, 5, 7, 9, 10, 11]
    );
    assert!(
        account_positions(&*store, AccountId(Uuid::now_v7()))
            .await
            .is_empty()
    );

    // The events come back whole, identical to the log's.
    let all = everything(&*store).await;
    let via_index = store.read_account(c.0).await.expect("read_account");
    for event in &via_index {
        assert_eq!(event, &all[event.global_position as usize - 1]);
    }
    assert_eq!(store.catch_up_account_index().await.expect("catch up"), 11);

    // Another instance's appends are indexed too.
    let other = backend.open().await;
    let d = AccountId(Uuid::now_v7());
    other.append(11, vec![opened(d)]).await.expect("append");
    assert_eq!(account_positions(&*store, d).await, vec![12]);
}

async fn the_account_index_rebuilds_to_the_same_answer(backend: &Backend) {
    let store = backend.open().await;
    let History { a, b, c, events } = history();
    store.append(0, events).await.expect("append");
    let before = (
        account_positions(&*store, a).await,
        account_positions(&*store, b).await,
        account_positions(&*store, c).await,
    );
    assert_eq!(store.rebuild_account_index().await.expect("rebuild"), 11);
    let after = (
        account_positions(&*store, a).await,
        account_positions(&*store, b).await,
        account_positions(&*store, c).await,
    );
    assert_eq!(before, after);
}

async fn the_account_index_handles_more_events_than_one_read(backend: &Backend) {
    // More events than the indexer reads per query, so a batch spans several reads.
    const PAYMENTS: u64 = 20_000;
    let store = backend.open().await;
    let x = AccountId(Uuid::now_v7());
    let y = AccountId(Uuid::now_v7());
    let z = AccountId(Uuid::now_v7());
    let mut events = vec![opened(x), opened(y), opened(z)];
    for n in 0..PAYMENTS {
        let (debit, credit) = if n % 2 == 0 { (x, y) } else { (y, z) };
        events.push(created(
            PaymentId(Uuid::now_v7()),
            PaymentStatus::Posted,
            vec![leg(debit, credit)],
        ));
    }
    let mut head = 0;
    for batch in events.chunks(4096) {
        head = store
            .append(head, batch.to_vec())
            .await
            .expect("append")
            .head
            .position;
    }
    let expected_x: Vec<u64> = std::iter::once(1)
        .chain((0..PAYMENTS).step_by(2).map(|n| n + 4))
        .collect();
    assert_eq!(account_positions(&*store, x).await, expected_x);
    assert_eq!(
        store.read_account(y.0).await.expect("read").len() as u64,
        1 + PAYMENTS
    );
    assert_eq!(store.rebuild_account_index().await.expect("rebuild"), head);
    assert_eq!(account_positions(&*store, x).await, expected_x);
}

async fn reopening_keeps_everything(backend: &Backend) {
    let History { a, events, .. } = history();
    let (head, all, indexed) = {
        let store = backend.open().await;
        let outcome = store.append(0, events).await.expect("append");
        store
            .save_snapshot(11, b"state".to_vec())
            .await
            .expect("save");
        let indexed = account_positions(&*store, a).await;
        (outcome.head, everything(&*store).await, indexed)
    };
    // Give background tasks of the dropped store a moment to let go.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let store = backend.open().await;
    assert_eq!(store.head().await.expect("head"), head);
    assert_eq!(everything(&*store).await, all);
    let snapshot = store
        .load_snapshot()
        .await
        .expect("load")
        .expect("a snapshot");
    assert_eq!((snapshot.position, snapshot.state), (11, b"state".to_vec()));
    assert_eq!(account_positions(&*store, a).await, indexed);
    assert_eq!(*store.subscribe().borrow(), 11);

    // The chain goes on from the stored head.
    store
        .append(11, vec![event("after", 0)])
        .await
        .expect("append");
    assert_chain(&everything(&*store).await);
}

// ---------------------------------------------------------------------------------------------
// Backend-specific checks

#[test]
fn sqlite_is_at_least_3_51_3() {
    // 3.51.3 is the first release with the fix for the WAL-reset corruption bug.
    let conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    let version: String = conn
        .query_row("select sqlite_version()", [], |row| row.get(0))
        .expect("sqlite_version()");
    let parts: Vec<u32> = version
        .split('.')
        .map(|part| part.parse().expect("a numeric version part"))
        .collect();
    assert!(
        parts.as_slice() >= [3, 51, 3].as_slice(),
        "SQLite {version} is older than 3.51.3"
    );
    assert_eq!(SqliteStore::sqlite_version(), version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_index_in_its_own_file_and_rebuilds_a_lost_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("data").join("ledger.db");
    let History { a, events, .. } = history();
    {
        let store = SqliteStore::open(&path).expect("open");
        assert_eq!(
            store.index_path(),
            dir.path().join("data").join("ledger.accounts.db")
        );
        store.append(0, events).await.expect("append");
        assert_eq!(account_positions(&store, a).await, vec![1, 4, 9, 10, 11]);
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = dir
            .path()
            .join("data")
            .join(format!("ledger.accounts.db{suffix}"));
        if file.exists() {
            std::fs::remove_file(file).expect("remove the index");
        }
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(account_positions(&store, a).await, vec![1, 4, 9, 10, 11]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_index_that_no_longer_matches_its_log_is_rebuilt() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let History { a, events, .. } = history();
    {
        let store = SqliteStore::open(&path).expect("open");
        store.append(0, events).await.expect("append");
        assert_eq!(account_positions(&store, a).await, vec![1, 4, 9, 10, 11]);
    }
    // Replace the log with another one, keeping the old index file.
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("events.db{suffix}"));
        if file.exists() {
            std::fs::remove_file(file).expect("remove the log");
        }
    }
    let store = SqliteStore::open(&path).expect("reopen");
    let History { events, .. } = history();
    store.append(0, events).await.expect("append");
    assert!(account_positions(&store, a).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_background_indexer_follows_the_writer() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("events.db")).expect("open");
    let History { events, .. } = history();
    store.append(0, events).await.expect("append");
    let index = rusqlite::Connection::open(store.index_path()).expect("open the index");
    let caught_up = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let position: i64 = index
                .query_row("SELECT position FROM account_index_checkpoint", [], |row| {
                    row.get(0)
                })
                .expect("read the checkpoint");
            if position == 11 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        caught_up.is_ok(),
        "the background indexer never reached the head"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_store_refuses_unknown_schemes() {
    match folio_store::open_store("mysql://localhost/folio").await {
        Err(StoreError::InvalidUrl { .. }) => {}
        Err(other) => panic!("expected InvalidUrl, got {other}"),
        Ok(_) => panic!("expected InvalidUrl, got a store"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wipe_for_benchmark_leaves_an_empty_database() {
    let backend = Backend::postgres().await;
    let Backend::Postgres(db) = &backend else {
        unreachable!("Backend::postgres() is PostgreSQL")
    };
    {
        let store = backend.open().await;
        store.append(0, vec![event("a", 0)]).await.expect("append");
    }
    folio_store::postgres::wipe_for_benchmark(&db.url)
        .await
        .expect("wipe");
    let store = backend.open().await;
    assert_eq!(store.head().await.expect("head").position, 0);
    assert!(everything(&*store).await.is_empty());
    drop(store);
    backend.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_off_the_writer_and_stays_short() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("events.db");
    let wal = dir.path().join("events.db-wal");
    // No background readers: a reader's snapshot may hold a checkpoint back, which is right in
    // production but would make the WAL's length here depend on timing.
    let options = folio_store::StoreOptions {
        index_in_background: false,
        watch_other_writers: false,
        ..Default::default()
    };
    let store = SqliteStore::open_with(&path, &options).expect("open");
    let batches = 12u64;
    let batch = 2_048u64;
    let mut wal_after_first_batch = 0;
    for number in 0..batches {
        let checkpoints_before = store.wal_checkpoints();
        let events = (0..batch)
            .map(|offset| {
                let revision = number * batch + offset;
                NewEvent {
                    payload: format!("{{\"n\":{revision},\"pad\":\"{}\"}}", "x".repeat(700)),
                    ..event("wal-stream", revision)
                }
            })
            .collect();
        store
            .append(number * batch, events)
            .await
            .expect("append a batch");
        if number == 0 {
            wal_after_first_batch = std::fs::metadata(&wal).expect("the WAL").len();
        }
        // The checkpoint thread, not the writer, copies the batch into the database file.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while store.wal_checkpoints() == checkpoints_before {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within 20 s of batch {number}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let wal_at_end = std::fs::metadata(&wal).expect("the WAL").len();
    // Each append after a complete checkpoint starts the WAL again from its beginning, so it
    // never holds much more than one batch; without the thread it would hold all twelve.
    assert!(
        wal_at_end <= 2 * wal_after_first_batch,
        "the WAL grew to {wal_at_end} bytes; one batch took {wal_after_first_batch}"
    );
    let everything = everything(&store).await;
    assert_eq!(everything.len() as u64, batches * batch);
    assert_chain(&everything);
}
