//! The projector against real stores, on both backends: the engine writes a log, the projector
//! follows it into read models — SQLite files in a temporary directory, or a fresh PostgreSQL
//! database (from `DATABASE_URL`) holding both the log and the read models. Read-your-writes, a
//! failed batch, a rebuild under load, and the two backends' rows compared with each other.
//!
//! The PostgreSQL tests fail, never skip, without a server: start a throw-away one with
//! `bash scripts/pg-cluster.sh start` and export the `DATABASE_URL` it prints.

use async_trait::async_trait;
use chrono::NaiveDate;
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, ClientPatch, ClientProfile, ClientStatus,
    ClientType, CommandKind, CreateFxTransfer, CreateMode, CreatePayment, Currency, FxQuote,
    Ledger, LegRequest, OpenAccount, PaymentId, TransferDirection, TransferId, TransferStatus,
};
use folio_engine::{CommandRequest, Engine, EngineConfig, EngineHandle, recover};
use folio_projections::query::*;
use folio_projections::rows::*;
use folio_projections::{
    Changes, FoldScope, FoldState, ProjectionError, Projector, ProjectorConfig, ReadModelStore,
    Tables, open_read_models,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use uuid::Uuid;

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a scenario once per backend: `scenario::sqlite` and `scenario::postgres`.
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                super::$scenario(Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$scenario(Backend::Postgres).await;
            }
        }
    };
}

/// The server every PostgreSQL test creates its databases on. Never a silent skip.
fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set, and the PostgreSQL tests need a server: start a throw-away \
             one with `bash scripts/pg-cluster.sh start` and export DATABASE_URL=<the URL it prints>"
        ),
    }
}

/// `url` with its database name replaced by `name` (user, host, port and options kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, options) = match url.split_once('?') {
        Some((base, options)) => (base, Some(options)),
        None => (url, None),
    };
    let authority = base.find("://").map(|at| at + 3).unwrap_or(0);
    let path = base[authority..]
        .find('/')
        .map(|at| authority + at)
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(options) = options {
        out.push('?');
        out.push_str(options);
    }
    out
}

async fn admin_connection() -> PgConnection {
    PgConnection::connect(&database_url())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach the PostgreSQL server at DATABASE_URL ({error}): start one with \
             `bash scripts/pg-cluster.sh start` and export the URL it prints"
            )
        })
}

/// A fresh, empty PostgreSQL database; its URL.
async fn fresh_database() -> String {
    let name = format!("folio_projections_{}", Uuid::new_v4().simple());
    let mut admin = admin_connection().await;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("cannot create the test database {name}: {error}"));
    admin.close().await.ok();
    with_database(&database_url(), &name)
}

/// Drops the databases a test created (its connections are cut first).
async fn drop_databases(urls: &[String]) {
    if urls.is_empty() {
        return;
    }
    let mut admin = admin_connection().await;
    for url in urls {
        let Some(name) = url
            .rsplit('/')
            .next()
            .map(|tail| tail.split('?').next().unwrap_or(tail))
        else {
            continue;
        };
        if let Err(error) = sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        {
            eprintln!("could not drop the test database {name}: {error}");
        }
    }
}

/// Where one test keeps its log and read models.
struct Setup {
    backend: Backend,
    dir: TempDir,
    /// The PostgreSQL databases this test created, the log's first.
    databases: Vec<String>,
}

impl Setup {
    async fn new(backend: Backend) -> Setup {
        let mut databases = Vec::new();
        if backend == Backend::Postgres {
            databases.push(fresh_database().await);
        }
        Setup {
            backend,
            dir: tempfile::tempdir().unwrap(),
            databases,
        }
    }

    fn sqlite_url(&self, file: &str) -> String {
        format!("sqlite://{}", self.dir.path().join(file).display())
    }

    async fn log(&self) -> Arc<dyn folio_store::EventStore> {
        let url = match self.backend {
            Backend::Sqlite => self.sqlite_url("events.db"),
            Backend::Postgres => self.databases[0].clone(),
        };
        folio_store::open_store(&url).await.unwrap()
    }

    /// The read models beside the log: a file next to it, or the log's own database.
    async fn models(&self) -> Arc<dyn ReadModelStore> {
        let url = match self.backend {
            Backend::Sqlite => self.sqlite_url("readmodels.db"),
            Backend::Postgres => self.databases[0].clone(),
        };
        let models = open_read_models(&url).await.unwrap();
        assert_eq!(models.backend_name(), self.expected_name());
        models
    }

    /// Another, independent set of read models: another file, or another database.
    async fn other_models(&mut self, name: &str) -> Arc<dyn ReadModelStore> {
        let url = match self.backend {
            Backend::Sqlite => self.sqlite_url(&format!("{name}.db")),
            Backend::Postgres => {
                let url = fresh_database().await;
                self.databases.push(url.clone());
                url
            }
        };
        open_read_models(&url).await.unwrap()
    }

    fn expected_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    async fn finish(self) {
        drop_databases(&self.databases).await;
    }
}

async fn open_funded(handle: &EngineHandle, count: usize) -> Vec<AccountId> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let id = AccountId(Uuid::now_v7());
        handle
            .execute(CommandRequest::new(CommandKind::OpenAccount(OpenAccount {
                account_id: id,
                client_id: Some(ClientId(Uuid::from_u128(5))),
                currency: eur(),
                account_type: AccountType::Current,
                name: Some("test".into()),
                number: None,
                overdraft_limit: Decimal::ZERO,
                status: AccountStatus::Active,
            })))
            .await
            .unwrap();
        handle
            .execute(payment(None, Some(id), dec!(1000), CreateMode::Posted))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

fn payment(
    debit: Option<AccountId>,
    credit: Option<AccountId>,
    amount: Decimal,
    mode: CreateMode,
) -> CommandRequest {
    CommandRequest::new(CommandKind::CreatePayment(CreatePayment {
        payment_id: PaymentId(Uuid::now_v7()),
        legs: vec![LegRequest {
            debit,
            credit,
            amount,
            currency: eur(),
        }],
        mode,
        description: Some("test payment".into()),
        external_id: None,
        metadata: None,
        expires_at: None,
    }))
}

/// A mixed load: posted payments, holds later posted (some partially) or cancelled.
async fn mixed_load(handle: &EngineHandle, accounts: &[AccountId], rounds: usize) -> u64 {
    let mut position = 0;
    for i in 0..rounds {
        let from = accounts[i % accounts.len()];
        let to = accounts[(i * 7 + 1) % accounts.len()];
        if from == to {
            continue;
        }
        let posted = handle
            .execute(payment(
                Some(from),
                Some(to),
                dec!(1.25),
                CreateMode::Posted,
            ))
            .await
            .unwrap();
        let held = handle
            .execute(payment(Some(from), Some(to), dec!(3), CreateMode::Pending))
            .await
            .unwrap();
        let folio_domain::Receipt::Payment(held_id) = held.receipt else {
            panic!()
        };
        let next = match i % 3 {
            0 => CommandKind::PostPayment {
                payment_id: held_id,
                amount: None,
            },
            1 => CommandKind::PostPayment {
                payment_id: held_id,
                amount: Some(dec!(2)),
            },
            _ => CommandKind::CancelPayment {
                payment_id: held_id,
                reason: Some("changed mind".into()),
            },
        };
        let last = handle.execute(CommandRequest::new(next)).await.unwrap();
        position = position.max(posted.position).max(last.position);
    }
    position
}

/// The id of test client `n`.
fn client_id(n: u128) -> ClientId {
    ClientId(Uuid::from_u128(0xC11E_0000 + n))
}

/// A log the engine wrote on `backend`: `clients` client histories, then `rounds` rounds of
/// mixed payments over `accounts` funded accounts. The engine keeps running.
struct History {
    setup: Setup,
    log: Arc<dyn folio_store::EventStore>,
    engine: Engine,
    handle: EngineHandle,
    accounts: Vec<AccountId>,
    /// The position of the last event written.
    last: u64,
}

async fn history(backend: Backend, clients: u128, accounts: usize, rounds: usize) -> History {
    let setup = Setup::new(backend).await;
    let log = setup.log().await;
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    client_load(&handle, clients).await;
    let accounts = open_funded(&handle, accounts).await;
    let last = mixed_load(&handle, &accounts, rounds).await;
    History {
        setup,
        log,
        engine,
        handle,
        accounts,
        last,
    }
}

/// Clients 1..=count: companies and individuals, every third one with a Unicode name, updated
/// (e-mail changed or cleared), every fourth blocked with a reason, client 4 unblocked again.
/// Returns the last position written.
async fn client_load(handle: &EngineHandle, count: u128) -> u64 {
    let mut position = 0;
    let run = |kind: CommandKind| {
        let handle = handle.clone();
        async move { handle.execute(CommandRequest::new(kind)).await.unwrap() }
    };
    for n in 1..=count {
        let (client_type, name) = match n % 3 {
            0 => (ClientType::Company, format!("Ünïcode Bäckerei {n} GmbH")),
            1 => (ClientType::Company, format!("Acme {n} Ltd")),
            _ => (ClientType::Individual, format!("Jane Doe {n}")),
        };
        let profile = ClientProfile {
            email: Some(format!("client{n}@example.com")),
            phone_number: Some("+49 30 1234567".into()),
            country_of_registration: Some("DE".into()),
            risk_level: Some((n % 5) as i32),
            custom_options: Some(serde_json::json!({"tier": n, "rate": 0.1})),
            ..ClientProfile::new(client_type, name)
        };
        position = run(CommandKind::RegisterClient {
            client_id: client_id(n),
            profile: Box::new(profile),
        })
        .await
        .position;
        if n % 2 == 0 {
            let email = (n % 4 != 0).then(|| format!("renamed{n}@example.org"));
            let patch = ClientPatch {
                email: Some(email),
                ..ClientPatch::default()
            };
            position = run(CommandKind::UpdateClient {
                client_id: client_id(n),
                patch: Box::new(patch),
            })
            .await
            .position;
        }
        if n % 4 == 0 {
            position = run(CommandKind::BlockClient {
                client_id: client_id(n),
                reason: Some(format!("review {n}")),
            })
            .await
            .position;
        }
    }
    if count >= 4 {
        position = run(CommandKind::UnblockClient {
            client_id: client_id(4),
            reason: None,
        })
        .await
        .position;
    }
    position
}

/// Everything a client can read from the models, for comparing two sets of tables.
/// What a projection of `log` from scratch into another set of read models (`fresh`) holds
/// once it has reached `position`.
async fn fresh_projection(
    setup: &mut Setup,
    log: &Arc<dyn folio_store::EventStore>,
    position: u64,
) -> Everything {
    let fresh = setup.other_models("fresh").await;
    let worker = Projector::start(log.clone(), fresh.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();
    worker.shutdown().await;
    everything(fresh.as_ref()).await
}

type Everything = (
    Vec<AccountRow>,
    Vec<TransactionRow>,
    Vec<DailyRow>,
    Vec<PaymentRow>,
    Vec<ClientRow>,
);

async fn everything(
    models: &dyn ReadModelStore,
) -> (
    Vec<AccountRow>,
    Vec<TransactionRow>,
    Vec<DailyRow>,
    Vec<PaymentRow>,
    Vec<ClientRow>,
) {
    let mut clients = Vec::new();
    let mut page = 1;
    loop {
        let batch = models
            .clients(&ClientFilter::default(), PageRequest::new(page, 100))
            .await
            .unwrap();
        clients.extend(batch.items);
        if u64::from(page) >= batch.total_pages {
            break;
        }
        page += 1;
    }
    let mut accounts = Vec::new();
    let mut transactions = Vec::new();
    let mut payments = Vec::new();
    page = 1;
    loop {
        let batch = models
            .accounts(&AccountFilter::default(), PageRequest::new(page, 100))
            .await
            .unwrap();
        accounts.extend(batch.items);
        if u64::from(page) >= batch.total_pages {
            break;
        }
        page += 1;
    }
    page = 1;
    loop {
        let batch = models
            .transactions(&TransactionFilter::default(), PageRequest::new(page, 100))
            .await
            .unwrap();
        transactions.extend(batch.items);
        if u64::from(page) >= batch.total_pages {
            break;
        }
        page += 1;
    }
    page = 1;
    loop {
        let batch = models
            .payments(&PaymentFilter::default(), PageRequest::new(page, 100))
            .await
            .unwrap();
        payments.extend(batch.items);
        if u64::from(page) >= batch.total_pages {
            break;
        }
        page += 1;
    }
    let daily = models
        .daily_rows(&[], NaiveDate::from_ymd_opt(2999, 1, 1).unwrap())
        .await
        .unwrap();
    assert_lookups_agree(models, &accounts, &transactions, &payments).await;
    // Row versions and update times depend on batch boundaries only through `version`, which
    // counts events and so is the same whatever the batching.
    (accounts, transactions, daily, payments, clients)
}

/// Every page of a filtered query.
async fn all_pages<T, F>(mut page_of: impl FnMut(PageRequest) -> F) -> Vec<T>
where
    F: std::future::Future<Output = Result<Page<T>, ProjectionError>>,
{
    let mut items = Vec::new();
    let mut page = 1;
    loop {
        let batch = page_of(PageRequest::new(page, 7)).await.unwrap();
        items.extend(batch.items);
        if u64::from(page) >= batch.total_pages {
            return items;
        }
        page += 1;
    }
}

/// Every page a query gives (`filter` says which), together, are the rows of `all` that `keep`
/// keeps, in their order.
async fn assert_pages_match<T, F>(
    page_of: impl FnMut(PageRequest) -> F,
    filter: &dyn std::fmt::Debug,
    all: &[T],
    keep: impl Fn(&T) -> bool,
) where
    T: Clone + PartialEq + std::fmt::Debug,
    F: std::future::Future<Output = Result<Page<T>, ProjectionError>>,
{
    let found = all_pages(page_of).await;
    let expected: Vec<_> = all.iter().filter(|row| keep(row)).cloned().collect();
    assert_eq!(found, expected, "rows of {filter:?}");
}

/// The queries by account and by payment (answered through lookups a backend keeps beside the
/// rows: indexes, or SQLite's lookup tables, which a rebuild fills on its own) give exactly the
/// rows the unfiltered lists hold for that account or payment, in the same order, every page.
async fn assert_lookups_agree(
    models: &dyn ReadModelStore,
    accounts: &[AccountRow],
    transactions: &[TransactionRow],
    payments: &[PaymentRow],
) {
    let involves = |p: &PaymentRow, id: AccountId| {
        p.source_account_id == Some(id) || p.destination_account_id == Some(id)
    };
    for account in accounts {
        let id = account.account_id;
        let filter = TransactionFilter {
            account_ids: vec![id],
            ..TransactionFilter::default()
        };
        assert_pages_match(
            |page| models.transactions(&filter, page),
            &filter,
            transactions,
            |t| t.account_id == id,
        )
        .await;
        let filter = PaymentFilter {
            account_ids: vec![id],
            ..PaymentFilter::default()
        };
        assert_pages_match(
            |page| models.payments(&filter, page),
            &filter,
            payments,
            |p| involves(p, id),
        )
        .await;
    }
    // Several accounts at once, and accounts with other filters
    let (from, to) = match transactions.len() {
        0 => (None, None),
        n => (
            Some(transactions[n / 3].created_at),
            Some(transactions[2 * n / 3].created_at),
        ),
    };
    let within = |at: &chrono::DateTime<chrono::Utc>| {
        from.is_none_or(|from| *at >= from) && to.is_none_or(|to| *at < to)
    };
    for pair in accounts.windows(2) {
        let ids = [pair[0].account_id, pair[1].account_id];
        let filter = TransactionFilter {
            account_ids: ids.to_vec(),
            ..TransactionFilter::default()
        };
        assert_pages_match(
            |page| models.transactions(&filter, page),
            &filter,
            transactions,
            |t| ids.contains(&t.account_id),
        )
        .await;
        let filter = TransactionFilter {
            account_ids: vec![ids[0]],
            types: vec![TransactionType::Deposit],
            from,
            to,
            ..TransactionFilter::default()
        };
        assert_pages_match(
            |page| models.transactions(&filter, page),
            &filter,
            transactions,
            |t| {
                t.account_id == ids[0]
                    && t.transaction_type == TransactionType::Deposit
                    && within(&t.created_at)
            },
        )
        .await;
        let filter = PaymentFilter {
            account_ids: ids.to_vec(),
            ..PaymentFilter::default()
        };
        assert_pages_match(
            |page| models.payments(&filter, page),
            &filter,
            payments,
            |p| involves(p, ids[0]) || involves(p, ids[1]),
        )
        .await;
        for account_ids in [vec![ids[0]], ids.to_vec()] {
            let filter = PaymentFilter {
                account_ids: account_ids.clone(),
                from,
                to,
                ..PaymentFilter::default()
            };
            assert_pages_match(
                |page| models.payments(&filter, page),
                &filter,
                payments,
                |p| account_ids.iter().any(|id| involves(p, *id)) && within(&p.created_at),
            )
            .await;
        }
    }
    for line in transactions.iter().step_by(5) {
        let filter = TransactionFilter {
            account_ids: vec![line.account_id],
            payment_ids: vec![line.payment_id],
            ..TransactionFilter::default()
        };
        assert_pages_match(
            |page| models.transactions(&filter, page),
            &filter,
            transactions,
            |t| t.account_id == line.account_id && t.payment_id == line.payment_id,
        )
        .await;
    }
    for payment in payments.iter().step_by(3) {
        let id = payment.payment_id;
        let filter = TransactionFilter {
            payment_ids: vec![id],
            ..TransactionFilter::default()
        };
        assert_pages_match(
            |page| models.transactions(&filter, page),
            &filter,
            transactions,
            |t| t.payment_id == id,
        )
        .await;
    }
}

fn assert_models_match_ledger(accounts: &[AccountRow], ledger: &Ledger) {
    assert_eq!(accounts.len(), ledger.accounts().count());
    for row in accounts {
        let account = ledger
            .account(row.account_id)
            .expect("account in the ledger");
        assert_eq!(
            row.balance(),
            account.balance(),
            "balance of {}",
            row.account_id
        );
        assert_eq!(row.held(), account.held());
        assert_eq!(row.available_balance(), account.available_balance());
        assert_eq!(row.status, account.status);
        assert_eq!(
            row.is_default, account.is_default,
            "default of {}",
            row.account_id
        );
        assert_eq!(row.order, account.order, "order of {}", row.account_id);
    }
}

/// Defaults and order among `accounts` (all of client 5, in EUR): the first made the default,
/// then the second (which clears the first), and the last three put first, in reverse.
async fn preferences(handle: &EngineHandle, accounts: &[AccountId]) -> u64 {
    let run = |kind: CommandKind| {
        let handle = handle.clone();
        async move { handle.execute(CommandRequest::new(kind)).await.unwrap() }
    };
    for account in &accounts[..2] {
        run(CommandKind::SetDefaultAccount {
            account_id: *account,
            is_default: true,
        })
        .await;
    }
    run(CommandKind::ReorderAccounts {
        client_id: ClientId(Uuid::from_u128(5)),
        account_ids: accounts.iter().rev().take(3).copied().collect(),
    })
    .await
    .position
}

on_both_backends!(the_read_models_follow_the_log_and_a_reader_can_wait_for_its_write);

async fn the_read_models_follow_the_log_and_a_reader_can_wait_for_its_write(backend: Backend) {
    let setup = Setup::new(backend).await;
    let log = setup.log().await;
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let models = setup.models().await;
    let worker = Projector::start(log.clone(), models.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    let projector = worker.handle();

    let accounts = open_funded(&handle, 6).await;
    preferences(&handle, &accounts).await;
    let position = mixed_load(&handle, &accounts, 60).await;
    projector
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();

    let recovered = recover(log.as_ref()).await.unwrap();
    let (rows, transactions, _, payments, _) = everything(models.as_ref()).await;
    assert_models_match_ledger(&rows, &recovered.ledger);
    let row = |id: AccountId| rows.iter().find(|r| r.account_id == id).unwrap().clone();
    assert!(!row(accounts[0]).is_default && row(accounts[1]).is_default);
    assert_eq!(
        [5, 4, 3].map(|i| row(accounts[i]).order),
        [0, 1, 2],
        "the reorder's accounts in order"
    );
    assert_eq!(payments.len(), recovered.ledger.payments().count());

    // A single account's statement, newest filters: holds only, and an amount range.
    let account = accounts[0];
    let holds = models
        .transactions(
            &TransactionFilter {
                account_ids: vec![account],
                types: vec![TransactionType::Hold],
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .unwrap();
    assert!(holds.total_count > 0);
    assert!(
        holds
            .items
            .iter()
            .all(|t| t.transaction_type == TransactionType::Hold && t.account_id == account)
    );
    let ranged = models
        .transactions(
            &TransactionFilter {
                amount_from: Some(dec!(1.25)),
                amount_to: Some(dec!(2)),
                ..Default::default()
            },
            PageRequest::new(1, 100),
        )
        .await
        .unwrap();
    assert!(ranged.total_count > 0);
    assert!(
        ranged
            .items
            .iter()
            .all(|t| t.amount >= dec!(1.25) && t.amount <= dec!(2))
    );
    assert_eq!(
        transactions
            .iter()
            .filter(|t| t.amount >= dec!(1.25) && t.amount <= dec!(2))
            .count() as u64,
        ranged.total_count
    );

    // Totals per currency: Σ balances = 0 (the settlement account mirrors the customers').
    let totals = models.totals(None, Some(eur())).await.unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].balance, Decimal::ZERO);
    assert_eq!(totals[0].accounts, 7);
    let client_totals = models
        .totals(Some(ClientId(Uuid::from_u128(5))), None)
        .await
        .unwrap();
    assert_eq!(client_totals[0].balance, dec!(6000));

    // Read-your-writes: a payment's read model is there once the reader waits for its position.
    let committed = handle
        .execute(payment(
            Some(accounts[1]),
            Some(accounts[2]),
            dec!(7),
            CreateMode::Posted,
        ))
        .await
        .unwrap();
    projector
        .wait_for(committed.position, Duration::from_secs(5))
        .await
        .unwrap();
    let folio_domain::Receipt::Payment(payment_id) = committed.receipt else {
        panic!()
    };
    let stored = models
        .payment(payment_id)
        .await
        .unwrap()
        .expect("visible after waiting");
    assert_eq!(stored.status, folio_domain::PaymentStatus::Posted);
    assert_eq!(stored.source_account_id, Some(accounts[1]));
    // Waiting for a position nobody wrote times out with a clear error.
    let too_far = projector
        .wait_for(committed.position + 1000, Duration::from_millis(100))
        .await;
    assert!(matches!(too_far, Err(ProjectionError::WaitTimeout { .. })));

    worker.shutdown().await;
    engine.shutdown().await;
    drop((models, log));
    setup.finish().await;
}

/// Real read models, with the Nth write failing before it commits.
struct FailingWrites {
    inner: Arc<dyn ReadModelStore>,
    fail_at: u32,
    writes: AtomicU32,
}

#[async_trait]
impl ReadModelStore for FailingWrites {
    fn backend_name(&self) -> &'static str {
        "failing"
    }
    async fn checkpoint(&self, scope: FoldScope) -> Result<u64, ProjectionError> {
        self.inner.checkpoint(scope).await
    }
    async fn load_state(&self, scope: FoldScope) -> Result<FoldState, ProjectionError> {
        self.inner.load_state(scope).await
    }
    fn prepare(&self, changes: &mut Changes) {
        self.inner.prepare(changes);
    }
    async fn write(&self, tables: Tables, changes: Changes) -> Result<(), ProjectionError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(ProjectionError::WorkerGone(
                "injected: the projector died mid-batch".into(),
            ));
        }
        self.inner.write(tables, changes).await
    }
    async fn rebuild_begin(&self) -> Result<(), ProjectionError> {
        self.inner.rebuild_begin().await
    }
    async fn rebuild_checkpoint(&self) -> Result<u64, ProjectionError> {
        self.inner.rebuild_checkpoint().await
    }
    async fn rebuild_index(&self) -> Result<(), ProjectionError> {
        self.inner.rebuild_index().await
    }
    async fn rebuild_swap(&self) -> Result<(), ProjectionError> {
        self.inner.rebuild_swap().await
    }
    async fn repair_counters(
        &self,
        scope: FoldScope,
        at: u64,
        counters: Vec<Counters>,
    ) -> Result<Vec<AccountId>, ProjectionError> {
        self.inner.repair_counters(scope, at, counters).await
    }
    async fn replace_daily_rows(
        &self,
        at: u64,
        accounts: &[AccountId],
        from: NaiveDate,
        rows: Vec<DailyRow>,
    ) -> Result<u64, ProjectionError> {
        self.inner
            .replace_daily_rows(at, accounts, from, rows)
            .await
    }
    async fn account(&self, id: AccountId) -> Result<Option<AccountRow>, ProjectionError> {
        self.inner.account(id).await
    }
    async fn account_by_number(&self, number: &str) -> Result<Option<AccountRow>, ProjectionError> {
        self.inner.account_by_number(number).await
    }
    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: PageRequest,
    ) -> Result<Page<AccountRow>, ProjectionError> {
        self.inner.accounts(filter, page).await
    }
    async fn client(&self, id: ClientId) -> Result<Option<ClientRow>, ProjectionError> {
        self.inner.client(id).await
    }
    async fn recipient(
        &self,
        id: folio_domain::RecipientId,
    ) -> Result<Option<folio_projections::rows::RecipientRow>, ProjectionError> {
        self.inner.recipient(id).await
    }
    async fn recipients(
        &self,
        filter: &folio_projections::query::RecipientFilter,
        page: PageRequest,
    ) -> Result<Page<folio_projections::rows::RecipientRow>, ProjectionError> {
        self.inner.recipients(filter, page).await
    }
    async fn clients(
        &self,
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<Page<ClientRow>, ProjectionError> {
        self.inner.clients(filter, page).await
    }
    async fn transfer(
        &self,
        id: folio_domain::TransferId,
    ) -> Result<Option<folio_projections::rows::TransferRow>, ProjectionError> {
        self.inner.transfer(id).await
    }
    async fn transfers(
        &self,
        filter: &folio_projections::query::TransferFilter,
        page: PageRequest,
    ) -> Result<Page<folio_projections::rows::TransferRow>, ProjectionError> {
        self.inner.transfers(filter, page).await
    }
    async fn document(
        &self,
        id: folio_domain::DocumentId,
    ) -> Result<Option<folio_projections::rows::DocumentRow>, ProjectionError> {
        self.inner.document(id).await
    }
    async fn documents(
        &self,
        filter: &folio_projections::query::DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<folio_projections::rows::DocumentRow>, ProjectionError> {
        self.inner.documents(filter, page).await
    }
    async fn payment(&self, id: PaymentId) -> Result<Option<PaymentRow>, ProjectionError> {
        self.inner.payment(id).await
    }
    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<PaymentRow>, ProjectionError> {
        self.inner.payments(filter, page).await
    }
    async fn transaction(&self, id: Uuid) -> Result<Option<TransactionRow>, ProjectionError> {
        self.inner.transaction(id).await
    }
    async fn transactions(
        &self,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<TransactionRow>, ProjectionError> {
        self.inner.transactions(filter, page).await
    }
    async fn daily_rows(
        &self,
        ids: &[AccountId],
        until: NaiveDate,
    ) -> Result<Vec<DailyRow>, ProjectionError> {
        self.inner.daily_rows(ids, until).await
    }
    async fn totals(
        &self,
        client: Option<ClientId>,
        currency: Option<Currency>,
    ) -> Result<Vec<CurrencyTotals>, ProjectionError> {
        self.inner.totals(client, currency).await
    }
}

on_both_backends!(a_batch_that_fails_mid_way_is_neither_skipped_nor_repeated);

async fn a_batch_that_fails_mid_way_is_neither_skipped_nor_repeated(backend: Backend) {
    let History {
        mut setup,
        log,
        engine,
        last: position,
        ..
    } = history(backend, 9, 5, 40).await;

    // Small batches so the failure lands in the middle of the history.
    let config = ProjectorConfig {
        batch_size: 16,
        retry_delay: Duration::from_millis(10),
        ..ProjectorConfig::default()
    };
    let failing = Arc::new(FailingWrites {
        inner: setup.models().await,
        fail_at: 4,
        writes: AtomicU32::new(0),
    });
    let worker = Projector::start(log.clone(), failing.clone(), config.clone())
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();
    worker.shutdown().await;
    assert!(
        failing.writes.load(Ordering::SeqCst) > 4,
        "the failure happened and work went on"
    );

    // A fresh projection of the same log into another set of read models is identical.
    let fresh = setup.other_models("fresh").await;
    let worker = Projector::start(log.clone(), fresh.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();
    worker.shutdown().await;
    assert_eq!(
        everything(failing.inner.as_ref()).await,
        everything(fresh.as_ref()).await
    );

    // A batch at or below the checkpoint is ignored: replaying the last one changes nothing.
    let before = everything(fresh.as_ref()).await;
    let mut stale = Changes {
        position,
        ..Changes::default()
    };
    stale.accounts = before
        .0
        .iter()
        .cloned()
        .map(|mut row| {
            row.version += 100;
            row
        })
        .collect();
    fresh.write(Tables::Live, stale).await.unwrap();
    assert_eq!(fresh.checkpoint(FoldScope::Ledger).await.unwrap(), position);
    assert_eq!(
        fresh.checkpoint(FoldScope::Balances).await.unwrap(),
        position
    );
    assert_eq!(everything(fresh.as_ref()).await, before);

    engine.shutdown().await;
    drop((failing, fresh, log));
    setup.finish().await;
}

on_both_backends!(a_quiet_log_is_projected_at_once_and_a_busy_one_gathers);

/// With an hour's gather after batches of 64 events or more: lone payments are visible at once,
/// while after a large batch the ledger projector waits (and still stops at once when asked)
/// and the balances projector does not.
async fn a_quiet_log_is_projected_at_once_and_a_busy_one_gathers(backend: Backend) {
    let setup = Setup::new(backend).await;
    let log = setup.log().await;
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 2).await;
    let config = ProjectorConfig {
        gather: Duration::from_secs(3600),
        gather_min_events: 64,
        ..ProjectorConfig::default()
    };
    let pay = || {
        payment(
            Some(accounts[0]),
            Some(accounts[1]),
            dec!(1),
            CreateMode::Posted,
        )
    };

    let worker = Projector::start(log.clone(), setup.models().await, config.clone())
        .await
        .unwrap();
    for _ in 0..3 {
        let committed = handle.execute(pay()).await.unwrap();
        worker
            .handle()
            .wait_for(committed.position, Duration::from_secs(5))
            .await
            .expect("a lone payment is projected without gathering");
    }
    worker.shutdown().await;

    // 100 payments wait in the log: the restarted projector takes them in one batch, then
    // gathers, so the next lone payment is not visible for the hour.
    let mut last = 0;
    for _ in 0..100 {
        last = handle.execute(pay()).await.unwrap().position;
    }
    let worker = Projector::start(log.clone(), setup.models().await, config)
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(last, Duration::from_secs(10))
        .await
        .unwrap();
    let lone = handle.execute(pay()).await.unwrap().position;
    worker
        .handle()
        .wait_for_scope(FoldScope::Balances, lone, Duration::from_secs(5))
        .await
        .expect("the balances projector never gathers");
    let waited = worker
        .handle()
        .wait_for(lone, Duration::from_millis(500))
        .await;
    assert!(
        matches!(waited, Err(ProjectionError::WaitTimeout { .. })),
        "the ledger projector gathers after a large batch: {waited:?}"
    );
    let stopping = std::time::Instant::now();
    worker.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "a gathering projector stops when asked"
    );
    engine.shutdown().await;
    setup.finish().await;
}

on_both_backends!(a_rebuild_under_load_ends_equal_to_the_live_projection);

async fn a_rebuild_under_load_ends_equal_to_the_live_projection(backend: Backend) {
    let History {
        mut setup,
        log,
        engine,
        handle,
        accounts,
        last: _,
    } = history(backend, 9, 6, 50).await;

    let models = setup.models().await;
    let worker = Projector::start(log.clone(), models.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    let projector = worker.handle();

    // The engine keeps writing while the rebuild runs.
    let writer = {
        let handle = handle.clone();
        let accounts = accounts.clone();
        tokio::spawn(async move { mixed_load(&handle, &accounts, 40).await })
    };
    let mut reports = Vec::new();
    let swapped_at = projector
        .rebuild(|progress| reports.push(progress))
        .await
        .unwrap();
    let last_write = writer.await.unwrap();
    assert!(!reports.is_empty(), "the rebuild reported progress");
    assert!(
        reports.last().unwrap().events_done >= swapped_at.min(reports.last().unwrap().events_done)
    );
    assert!(swapped_at > 0);

    projector
        .wait_for(last_write, Duration::from_secs(10))
        .await
        .unwrap();
    let recovered = recover(log.as_ref()).await.unwrap();
    let rebuilt_then_followed = everything(models.as_ref()).await;
    assert_models_match_ledger(&rebuilt_then_followed.0, &recovered.ledger);

    assert_eq!(
        rebuilt_then_followed,
        fresh_projection(&mut setup, &log, last_write).await
    );

    // A second rebuild finds its table and index names free again, and changes nothing.
    let again = projector.rebuild(|_| {}).await.unwrap();
    assert!(again >= last_write);
    assert_eq!(everything(models.as_ref()).await, rebuilt_then_followed);
    if backend == Backend::Postgres {
        assert_live_indexes_only(&setup.databases[0]).await;
    }
    worker.shutdown().await;
    engine.shutdown().await;
    drop((models, log));
    setup.finish().await;
}

on_both_backends!(a_rebuild_in_many_small_batches_ends_equal_to_a_fresh_projection);

/// A rebuild writes account rows and current day rows once, with its last batch, rather than
/// with every batch: in many small batches (account rows changing in most of them) it ends
/// with the very rows a projection written batch by batch holds.
async fn a_rebuild_in_many_small_batches_ends_equal_to_a_fresh_projection(backend: Backend) {
    let History {
        mut setup,
        log,
        engine,
        last,
        ..
    } = history(backend, 5, 5, 60).await;

    // Given read models rebuilt in batches of 7 events
    let models = setup.models().await;
    let config = ProjectorConfig {
        rebuild_batch_size: 7,
        ..ProjectorConfig::default()
    };
    let worker = Projector::start(log.clone(), models.clone(), config)
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(last, Duration::from_secs(10))
        .await
        .unwrap();
    let mut batches = 0;
    let swapped_at = worker.handle().rebuild(|_| batches += 1).await.unwrap();
    assert!(swapped_at >= last);
    assert!(batches > 10, "{batches} batches");

    // Then they hold what the log says, and what a projection from scratch holds
    let rebuilt = everything(models.as_ref()).await;
    let recovered = recover(log.as_ref()).await.unwrap();
    assert_models_match_ledger(&rebuilt.0, &recovered.ledger);
    assert_eq!(
        rebuilt,
        fresh_projection(&mut setup, &log, swapped_at).await
    );
    worker.shutdown().await;
    engine.shutdown().await;
    drop((models, log));
    setup.finish().await;
}

on_both_backends!(a_row_twice_in_one_batch_is_written_as_its_last_version);

/// The fold hands each row over once per batch, but a backend must not depend on it: an upsert
/// keeps the last version of a row (successive writes), a statement line its first.
async fn a_row_twice_in_one_batch_is_written_as_its_last_version(backend: Backend) {
    let setup = Setup::new(backend).await;
    let models = setup.models().await;
    let at = chrono::DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap();
    let account = AccountRow {
        account_id: AccountId(Uuid::now_v7()),
        number: "NL00FOLI0000000001".into(),
        client_id: None,
        currency: eur(),
        account_type: AccountType::Current,
        status: AccountStatus::Active,
        name: Some("first".into()),
        overdraft_limit: dec!(0),
        debits_pending: dec!(0),
        debits_posted: dec!(0),
        credits_pending: dec!(0),
        credits_posted: dec!(10.5),
        is_default: true,
        order: 3,
        version: 1,
        last_position: 1,
        created_at: at,
        updated_at: at,
    };
    let later = AccountRow {
        name: Some("last".into()),
        credits_posted: dec!(12.125),
        is_default: false,
        order: 1,
        version: 2,
        ..account.clone()
    };
    let day = DailyRow {
        account_id: account.account_id,
        day: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
        currency: eur(),
        opening: dec!(0),
        total_debits: dec!(0),
        total_credits: dec!(10.5),
        closing: dec!(10.5),
        movements: 1,
    };
    let later_day = DailyRow {
        total_credits: dec!(12.125),
        closing: dec!(12.125),
        movements: 2,
        ..day.clone()
    };
    let line = TransactionRow {
        transaction_id: Uuid::now_v7(),
        position: 2,
        line: 0,
        payment_id: PaymentId(Uuid::now_v7()),
        account_id: account.account_id,
        transaction_type: TransactionType::Deposit,
        amount: dec!(10.5),
        currency: eur(),
        balance_after: dec!(10.5),
        available_after: dec!(10.5),
        description: Some("kept".into()),
        created_at: at,
    };
    let repeated_line = TransactionRow {
        transaction_id: Uuid::now_v7(),
        description: Some("dropped".into()),
        ..line.clone()
    };
    // Account rows as the balances projector writes them (to the table `account()` reads);
    // lines and days as the ledger projector writes them.
    let balances = Changes {
        scope: FoldScope::Balances,
        accounts: vec![account, later.clone()],
        position: 3,
        ..Changes::default()
    };
    let ledger = Changes {
        scope: FoldScope::Ledger,
        daily: vec![day, later_day.clone()],
        transactions: vec![line.clone(), repeated_line],
        position: 3,
        ..Changes::default()
    };
    models.write(Tables::Live, balances).await.unwrap();
    models.write(Tables::Live, ledger).await.unwrap();
    assert_eq!(models.checkpoint(FoldScope::Balances).await.unwrap(), 3);
    assert_eq!(models.checkpoint(FoldScope::Ledger).await.unwrap(), 3);
    assert_eq!(
        models.account(later.account_id).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        models
            .daily_rows(&[later.account_id], later_day.day)
            .await
            .unwrap(),
        vec![later_day]
    );
    let lines = models
        .transactions(&TransactionFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(lines.items, vec![line]);
    drop(models);
    setup.finish().await;
}

/// Processes starting at once all create the schema, or find it, without tripping on each other.
#[tokio::test]
async fn postgres_read_models_connect_concurrently_and_idempotently() {
    let setup = Setup::new(Backend::Postgres).await;
    let url = setup.databases[0].clone();
    let connecting: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                open_read_models(&url)
                    .await
                    .map(|models| models.backend_name())
            })
        })
        .collect();
    for connected in connecting {
        assert_eq!(connected.await.unwrap().unwrap(), "postgres");
    }
    let again = open_read_models(&url).await.unwrap();
    for scope in [FoldScope::Balances, FoldScope::Ledger] {
        assert_eq!(again.checkpoint(scope).await.unwrap(), 0);
        assert_eq!(again.load_state(scope).await.unwrap().position, 0);
    }
    assert!(
        again
            .accounts(&AccountFilter::default(), PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    drop(again);
    setup.finish().await;
}

#[tokio::test]
async fn a_read_model_location_names_its_backend_or_says_what_is_wrong() {
    for bad in [
        "",
        "mysql://localhost/folio",
        "sqlite://",
        "postgres://[::1",
    ] {
        match open_read_models(bad).await {
            Err(ProjectionError::InvalidUrl { reason, .. }) => assert!(!reason.is_empty()),
            Err(other) => panic!("{bad:?}: {other}"),
            Ok(_) => panic!("{bad:?} opened"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.db");
    assert_eq!(
        open_read_models(plain.to_str().unwrap())
            .await
            .unwrap()
            .backend_name(),
        "sqlite"
    );
    assert!(plain.exists());
}

/// After swaps, every read-model index carries its live name, and no rebuild table is left.
async fn assert_live_indexes_only(url: &str) {
    let mut connection = PgConnection::connect(url).await.unwrap();
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT tablename::text, indexname::text FROM pg_indexes \
         WHERE schemaname = current_schema() AND tablename::text <> 'rm_checkpoints' \
         AND (starts_with(tablename::text, 'rm_') OR starts_with(tablename::text, 'rebuild_')) \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert!(
        names
            .iter()
            .all(|(table, index)| table.starts_with("rm_") && index.starts_with("rm_")),
        "{names:?}"
    );
    // One primary key per table (schema_postgres.sql, and the account table twice: balances
    // and ledger), plus every index of indexes_postgres.sql.
    let expected = include_str!("../src/schema_postgres.sql")
        .matches("PRIMARY KEY")
        .count()
        + 2 * include_str!("../src/account_table_postgres.sql")
            .matches("PRIMARY KEY")
            .count()
        + include_str!("../src/indexes_postgres.sql")
            .matches("CREATE ")
            .count();
    assert_eq!(names.len(), expected, "{names:?}");
    connection.close().await.ok();
}

/// One log projected into SQLite and into PostgreSQL read models: the same rows, pages and
/// totals, before and after a rebuild of the PostgreSQL ones.
#[tokio::test]
async fn sqlite_and_postgres_read_models_hold_the_same_rows() {
    let pg = Setup::new(Backend::Postgres).await;
    let sqlite = Setup::new(Backend::Sqlite).await;
    let log = pg.log().await;
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    client_load(&handle, 13).await;
    let accounts = open_funded(&handle, 6).await;
    preferences(&handle, &accounts).await;
    let position = mixed_load(&handle, &accounts, 60).await;

    let on_postgres = pg.models().await;
    let on_sqlite = sqlite.models().await;
    for models in [&on_postgres, &on_sqlite] {
        // Small batches: many transactions, rows rewritten across them.
        let config = ProjectorConfig {
            batch_size: 25,
            ..ProjectorConfig::default()
        };
        let worker = Projector::start(log.clone(), models.clone(), config)
            .await
            .unwrap();
        worker
            .handle()
            .wait_for(position, Duration::from_secs(10))
            .await
            .unwrap();
        worker.shutdown().await;
    }
    let expected = everything(on_sqlite.as_ref()).await;
    assert!(!expected.1.is_empty() && !expected.2.is_empty() && !expected.3.is_empty());
    assert_eq!(expected.4.len(), 13);
    assert_eq!(everything(on_postgres.as_ref()).await, expected);
    assert_same_answers(on_sqlite.as_ref(), on_postgres.as_ref(), &accounts).await;

    let projector =
        Projector::detached(log.clone(), on_postgres.clone(), ProjectorConfig::default())
            .await
            .unwrap();
    assert_eq!(projector.rebuild(|_| {}).await.unwrap(), position);
    assert_eq!(everything(on_postgres.as_ref()).await, expected);
    assert_same_answers(on_sqlite.as_ref(), on_postgres.as_ref(), &accounts).await;

    engine.shutdown().await;
    drop((on_postgres, on_sqlite, log, projector));
    pg.finish().await;
}

/// Filtered pages, single-row lookups, daily rows and totals agree between two backends.
async fn assert_same_answers(
    a: &dyn ReadModelStore,
    b: &dyn ReadModelStore,
    accounts: &[AccountId],
) {
    let page = PageRequest::new(2, 7);
    let account_filter = AccountFilter {
        client_ids: vec![ClientId(Uuid::from_u128(5))],
        ..Default::default()
    };
    assert_eq!(
        a.accounts(&account_filter, page).await.unwrap(),
        b.accounts(&account_filter, page).await.unwrap()
    );
    let statement = TransactionFilter {
        account_ids: vec![accounts[0], accounts[1]],
        types: vec![TransactionType::Deposit, TransactionType::Withdrawal],
        amount_from: Some(dec!(1.249)),
        amount_to: Some(dec!(3.0001)),
        ..Default::default()
    };
    let first = a.transactions(&statement, page).await.unwrap();
    assert!(first.total_count > 0);
    assert_eq!(first, b.transactions(&statement, page).await.unwrap());
    let payments = PaymentFilter {
        account_ids: vec![accounts[2]],
        statuses: vec![
            folio_domain::PaymentStatus::Posted,
            folio_domain::PaymentStatus::Cancelled,
        ],
        ..Default::default()
    };
    let first = a.payments(&payments, page).await.unwrap();
    assert!(first.total_count > 0);
    assert_eq!(first, b.payments(&payments, page).await.unwrap());
    let some = &first.items[0];
    assert_eq!(
        a.payment(some.payment_id).await.unwrap(),
        b.payment(some.payment_id).await.unwrap()
    );
    let line = a
        .transactions(&TransactionFilter::default(), PageRequest::new(1, 1))
        .await
        .unwrap()
        .items[0]
        .clone();
    assert_eq!(
        b.transaction(line.transaction_id).await.unwrap(),
        Some(line)
    );
    let account = a.account(accounts[3]).await.unwrap().unwrap();
    assert_eq!(
        b.account(accounts[3]).await.unwrap().as_ref(),
        Some(&account)
    );
    assert_eq!(
        b.account_by_number(&account.number).await.unwrap(),
        Some(account)
    );
    let until = NaiveDate::from_ymd_opt(2999, 1, 1).unwrap();
    assert_eq!(
        a.daily_rows(&accounts[..2], until).await.unwrap(),
        b.daily_rows(&accounts[..2], until).await.unwrap()
    );
    assert_eq!(
        a.totals(None, None).await.unwrap(),
        b.totals(None, None).await.unwrap()
    );
    let client = Some(ClientId(Uuid::from_u128(5)));
    assert_eq!(
        a.totals(client, Some(eur())).await.unwrap(),
        b.totals(client, Some(eur())).await.unwrap()
    );
    for scope in [FoldScope::Balances, FoldScope::Ledger] {
        assert_eq!(
            a.load_state(scope).await.unwrap().position,
            b.load_state(scope).await.unwrap().position
        );
    }
    let client_filters = [
        ClientFilter {
            statuses: vec![ClientStatus::Active],
            types: vec![ClientType::Company],
            ..Default::default()
        },
        ClientFilter {
            search: Some("BÄCKEREI".into()),
            ..Default::default()
        },
        ClientFilter {
            search: Some("example.org".into()),
            statuses: vec![ClientStatus::Blocked, ClientStatus::Active],
            ..Default::default()
        },
    ];
    for filter in &client_filters {
        let first = a.clients(filter, PageRequest::new(2, 2)).await.unwrap();
        assert!(first.total_count > 2, "{filter:?} pages past the first");
        assert_eq!(
            first,
            b.clients(filter, PageRequest::new(2, 2)).await.unwrap()
        );
    }
    let some = client_id(8);
    assert_eq!(a.client(some).await.unwrap(), b.client(some).await.unwrap());
}

on_both_backends!(the_clients_read_model_answers_by_id_and_by_filter);

/// One row per client with its profile, status, block reason, version and times; lookups and
/// filtered pages with their totals; and the ledger's client rules seen through the engine.
async fn the_clients_read_model_answers_by_id_and_by_filter(backend: Backend) {
    let setup = Setup::new(backend).await;
    let log = setup.log().await;
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let position = client_load(&handle, 12).await;
    // A blocked client opens no account; the refusal records nothing.
    let refused = handle
        .execute(CommandRequest::new(CommandKind::OpenAccount(OpenAccount {
            account_id: AccountId(Uuid::now_v7()),
            client_id: Some(client_id(8)),
            currency: eur(),
            account_type: AccountType::Current,
            name: None,
            number: None,
            overdraft_limit: Decimal::ZERO,
            status: AccountStatus::Active,
        })))
        .await;
    assert!(
        matches!(
            refused,
            Err(folio_engine::EngineError::Rejected(
                folio_domain::LedgerError::ClientBlocked(id)
            )) if id == client_id(8)
        ),
        "{refused:?}"
    );
    let models = setup.models().await;
    let worker = Projector::start(log.clone(), models.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();

    // Client 8: registered, e-mail cleared, blocked.
    let row = models
        .client(client_id(8))
        .await
        .unwrap()
        .expect("client 8");
    assert_eq!(row.status, ClientStatus::Blocked);
    assert_eq!(row.block_reason.as_deref(), Some("review 8"));
    assert_eq!(row.profile.email, None);
    assert_eq!(row.profile.legal_name, "Jane Doe 8");
    assert_eq!(
        row.profile.custom_options,
        Some(serde_json::json!({"tier": 8, "rate": 0.1}))
    );
    assert_eq!(row.version, 3);
    assert!(row.updated_at >= row.created_at);
    // Client 4: blocked, then unblocked: active, no reason, four events.
    let row = models
        .client(client_id(4))
        .await
        .unwrap()
        .expect("client 4");
    assert_eq!(
        (row.status, row.block_reason, row.version),
        (ClientStatus::Active, None, 4)
    );
    assert_eq!(models.client(client_id(99)).await.unwrap(), None);

    let all = models
        .clients(&ClientFilter::default(), PageRequest::new(1, 5))
        .await
        .unwrap();
    assert_eq!(
        (all.total_count, all.total_pages, all.items.len()),
        (12, 3, 5)
    );
    assert_eq!(all.items[0].client_id, client_id(1), "oldest first");
    let blocked = models
        .clients(
            &ClientFilter {
                statuses: vec![ClientStatus::Blocked],
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    let ids: Vec<ClientId> = blocked.items.iter().map(|c| c.client_id).collect();
    assert_eq!(ids, vec![client_id(8), client_id(12)]);
    let individuals = models
        .clients(
            &ClientFilter {
                types: vec![ClientType::Individual],
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(individuals.total_count, 4);
    // Search: case-insensitive (Unicode too), over names and e-mails; % and _ are literal.
    for (search, expected) in [
        ("bäckerei", vec![3, 6, 9, 12]),
        ("ÜNÏCODE BÄCKEREI 1", vec![12]),
        ("@example.org", vec![2, 6, 10]),
        ("client1", vec![1, 11]),
        ("%", vec![]),
        ("_", vec![]),
    ] {
        let page = models
            .clients(
                &ClientFilter {
                    search: Some(search.into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        let ids: Vec<ClientId> = page.items.iter().map(|c| c.client_id).collect();
        let expected: Vec<ClientId> = expected.into_iter().map(client_id).collect();
        assert_eq!(ids, expected, "search {search:?}");
        assert_eq!(page.total_count, expected.len() as u64);
    }

    worker.shutdown().await;
    engine.shutdown().await;
    drop((models, log));
    setup.finish().await;
}

on_both_backends!(read_models_made_before_defaults_gain_their_columns);

/// Account tables written before accounts had a default flag and an order get both columns when
/// opened (false and 0), and the projector goes on filling them.
async fn read_models_made_before_defaults_gain_their_columns(backend: Backend) {
    let setup = Setup::new(backend).await;
    let log = setup.log().await;
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let accounts = open_funded(&handle, 2).await;
    let position = handle
        .execute(CommandRequest::new(CommandKind::SetDefaultAccount {
            account_id: accounts[0],
            is_default: true,
        }))
        .await
        .unwrap()
        .position;
    let project_to = |position: u64| {
        let models = setup.models();
        let log = log.clone();
        async move {
            let models = models.await;
            let worker = Projector::start(log, models.clone(), ProjectorConfig::default())
                .await
                .unwrap();
            worker
                .handle()
                .wait_for(position, Duration::from_secs(10))
                .await
                .unwrap();
            worker.shutdown().await;
            models
        }
    };
    let models = project_to(position).await;
    assert!(
        models
            .account(accounts[0])
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    drop(models);

    // Take the tables back to their earlier shape: no is_default, no sort_order.
    match backend {
        Backend::Sqlite => {
            for file in ["readmodels.db", "readmodels.balances.db"] {
                let c = rusqlite::Connection::open(setup.dir.path().join(file)).unwrap();
                for table in ["accounts", "ledger_accounts"] {
                    c.execute_batch(&format!(
                        "ALTER TABLE {table} DROP COLUMN is_default; \
                         ALTER TABLE {table} DROP COLUMN sort_order;"
                    ))
                    .unwrap();
                }
            }
        }
        Backend::Postgres => {
            let mut c = PgConnection::connect(&setup.databases[0]).await.unwrap();
            for table in ["rm_accounts", "rm_ledger_accounts"] {
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "ALTER TABLE {table} DROP COLUMN is_default, DROP COLUMN sort_order"
                )))
                .execute(&mut c)
                .await
                .unwrap();
            }
            c.close().await.unwrap();
        }
    }

    // Reopened: the rows read as never defaulted, and new events fill the columns.
    let position = handle
        .execute(CommandRequest::new(CommandKind::SetDefaultAccount {
            account_id: accounts[1],
            is_default: true,
        }))
        .await
        .unwrap()
        .position;
    let models = project_to(position).await;
    let first = models.account(accounts[0]).await.unwrap().unwrap();
    let second = models.account(accounts[1]).await.unwrap().unwrap();
    assert!(!first.is_default, "the clearing event was projected");
    assert!(second.is_default);
    assert_eq!((first.order, second.order), (0, 0));
    engine.shutdown().await;
    drop(models);
    setup.finish().await;
}

on_both_backends!(fx_transfers_carry_both_sides_and_old_tables_gain_the_columns);

/// An FX transfer's row carries its destination amount and currency, rate and quote on either
/// backend, and a transfers table made before FX transfers gains the destination columns.
async fn fx_transfers_carry_both_sides_and_old_tables_gain_the_columns(backend: Backend) {
    let setup = Setup::new(backend).await;
    let log = setup.log().await;
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let source = open_funded(&handle, 1).await[0];
    let usd = Currency::from_code("USD").unwrap();
    let destination = AccountId(Uuid::now_v7());
    let opened = handle
        .execute(CommandRequest::new(CommandKind::OpenAccount(OpenAccount {
            account_id: destination,
            client_id: Some(ClientId(Uuid::from_u128(5))),
            currency: usd,
            account_type: AccountType::Current,
            name: None,
            number: None,
            overdraft_limit: Decimal::ZERO,
            status: AccountStatus::Active,
        })))
        .await
        .unwrap();
    let models = setup.models().await;
    let worker = Projector::start(log.clone(), models.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(opened.position, Duration::from_secs(10))
        .await
        .unwrap();
    worker.shutdown().await;
    drop(models);

    // Take the transfers table back to its shape before FX transfers.
    match backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(setup.dir.path().join("readmodels.db")).unwrap();
            c.execute_batch(
                "ALTER TABLE transfers DROP COLUMN destination_amount; \
                 ALTER TABLE transfers DROP COLUMN destination_currency;",
            )
            .unwrap();
        }
        Backend::Postgres => {
            let mut c = PgConnection::connect(&setup.databases[0]).await.unwrap();
            sqlx::raw_sql(
                "ALTER TABLE rm_transfers DROP COLUMN destination_amount, \
                 DROP COLUMN destination_currency",
            )
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
    }

    let transfer_id = TransferId(Uuid::now_v7());
    let quote = FxQuote {
        rate: dec!(1.1612),
        spread: dec!(0.005),
        quoted_at: chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap(),
        provider: "fixed-table".into(),
        expires_at: None,
    };
    handle
        .execute(CommandRequest::new(CommandKind::CreateFxTransfer(
            Box::new(CreateFxTransfer {
                transfer_id,
                payment_id: PaymentId(Uuid::now_v7()),
                source_account_id: source,
                destination_account_id: destination,
                source_amount: Some(dec!(10.01)),
                destination_amount: None,
                source_currency: eur(),
                destination_currency: usd,
                quote: quote.clone(),
                quote_valid_for_ms: None,
            }),
        )))
        .await
        .unwrap();
    let confirmed = handle
        .execute(CommandRequest::new(CommandKind::ConfirmTransfer {
            transfer_id,
            otp: None,
        }))
        .await
        .unwrap();
    let models = setup.models().await;
    let worker = Projector::start(log, models.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(confirmed.position, Duration::from_secs(10))
        .await
        .unwrap();
    let row = models.transfer(transfer_id).await.unwrap().unwrap();
    // 10.01 × 1.1612 = 11.623612 → 11.62 USD; the spread 0.05005 → 0.05 EUR.
    assert_eq!(row.direction, TransferDirection::ForeignExchange);
    assert_eq!(row.status, TransferStatus::Completed);
    assert_eq!((row.amount, row.currency), (dec!(10.01), eur()));
    assert_eq!(row.fee, dec!(0.05));
    assert_eq!(row.rate, Some(dec!(1.1612)));
    assert_eq!(row.destination_amount, Some(dec!(11.62)));
    assert_eq!(row.destination_currency, Some(usd));
    assert_eq!(row.details.quote, Some(quote));
    let listed = models
        .transfers(
            &TransferFilter {
                directions: vec![TransferDirection::ForeignExchange],
                ..TransferFilter::default()
            },
            PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(listed.items, vec![row]);
    let destination_row = models.account(destination).await.unwrap().unwrap();
    assert_eq!(destination_row.balance(), dec!(11.62));
    worker.shutdown().await;
    engine.shutdown().await;
    drop(models);
    setup.finish().await;
}

/// Read models SQLite wrote before it kept lookup tables (statement lines and payments found by
/// account and payment through indexes on their tables) are moved over when opened: the tables
/// filled, the indexes they replace dropped, and every query answering as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_models_of_the_earlier_layout_get_their_lookup_tables_when_opened() {
    let History {
        setup,
        log,
        engine,
        last,
        ..
    } = history(Backend::Sqlite, 3, 5, 30).await;
    let models = setup.models().await;
    let worker = Projector::start(log.clone(), models.clone(), ProjectorConfig::default())
        .await
        .unwrap();
    worker
        .handle()
        .wait_for(last, Duration::from_secs(10))
        .await
        .unwrap();
    worker.shutdown().await;
    let before = everything(models.as_ref()).await;
    assert!(!before.1.is_empty() && !before.3.is_empty());
    drop(models);

    // Given the earlier layout: no lookup tables, indexes instead (named as the first open and
    // as a rebuild name them)
    let path = setup.dir.path().join("readmodels.db");
    let earlier_indexes = |c: &rusqlite::Connection| -> Vec<String> {
        let mut statement = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND (name LIKE 'transactions%' \
                 OR name LIKE 'payments_source%' OR name LIKE 'payments_destination%') ORDER BY name",
            )
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE account_lines; DROP TABLE payment_lines; DROP TABLE account_payments; \
             CREATE INDEX transactions_account_g1795598497776323 ON transactions (account_id, position); \
             CREATE INDEX transactions_payment ON transactions (payment_id); \
             CREATE INDEX payments_source ON payments (source_account_id, created_at); \
             CREATE INDEX payments_destination_g17 ON payments (destination_account_id, created_at);",
        )
        .unwrap();
        assert_eq!(earlier_indexes(&c).len(), 4);
    }

    // When they are opened again
    let models = setup.models().await;

    // Then every query answers as before, the lookups included, and the indexes are gone
    assert_eq!(everything(models.as_ref()).await, before);
    let c = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(earlier_indexes(&c), Vec::<String>::new());
    let looked_up: i64 = c
        .query_row(
            "SELECT (SELECT COUNT(*) FROM account_lines) + (SELECT COUNT(*) FROM payment_lines)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(looked_up, 2 * before.1.len() as i64);
    drop(models);

    // Given a version before the lookup tables wrote the newest lines afterwards (so they
    // have no lookup rows) when it is opened again, then they are filled in
    c.execute_batch(
        "DELETE FROM account_lines WHERE position >= (SELECT MAX(position) - 3 FROM transactions); \
         DELETE FROM payment_lines WHERE position >= (SELECT MAX(position) - 3 FROM transactions);",
    )
    .unwrap();
    drop(c);
    let models = setup.models().await;
    assert_eq!(everything(models.as_ref()).await, before);
    engine.shutdown().await;
    drop((models, log));
    setup.finish().await;
}

/// A rebuild holding few lookup rows in memory writes them in many sorted sweeps (as a log too
/// large to hold them all would), and ends with the rows, lookups included, of a projection
/// written batch by batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_rebuild_writing_its_lookup_rows_in_sweeps_ends_equal_to_a_fresh_projection() {
    let History {
        mut setup,
        log,
        engine,
        last,
        ..
    } = history(Backend::Sqlite, 3, 5, 40).await;
    let path = setup.dir.path().join("swept.db");
    let models: Arc<dyn ReadModelStore> = Arc::new(
        folio_projections::sqlite::SqliteReadModels::open(&path)
            .unwrap()
            .with_rebuild_keys_held(20),
    );
    let config = ProjectorConfig {
        rebuild_batch_size: 7,
        ..ProjectorConfig::default()
    };
    let worker = Projector::start(log.clone(), models.clone(), config)
        .await
        .unwrap();
    let swapped_at = worker.handle().rebuild(|_| {}).await.unwrap();
    assert!(swapped_at >= last);

    let rebuilt = everything(models.as_ref()).await;
    assert!(rebuilt.1.len() > 100, "{} lines", rebuilt.1.len());
    assert_eq!(
        rebuilt,
        fresh_projection(&mut setup, &log, swapped_at).await
    );
    worker.shutdown().await;
    engine.shutdown().await;
    drop((models, log));
    setup.finish().await;
}
