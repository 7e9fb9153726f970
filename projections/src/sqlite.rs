//! The read models on SQLite: their own database file beside the log, so readers never block
//! the log's writer. One writer connection (the projector's) and a few reader connections.

mod lookups;
mod many;

use crate::error::ProjectionError;
use crate::fold::{Changes, FoldScope, FoldState, LineText, PaymentText, RowTexts};
use crate::query::*;
use crate::rows::*;
use crate::store::{ReadModelStore, Tables};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, ClientStatus, Currency, DocumentId,
    DocumentType, PaymentId, PaymentStatus, RecipientId, TransferId,
};
pub use lookups::KEYS_HELD_PER_TABLE;
use lookups::LookupRows;
use many::insert_many;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter, types::Value};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const SCHEMA: &str = include_str!("schema_sqlite.sql");
const ACCOUNT_TABLE: &str = include_str!("account_table_sqlite.sql");
const INDEXES: &str = include_str!("indexes_sqlite.sql");
/// The checkpoint a rebuild keeps while it fills its tables.
const REBUILD: &str = "rebuild";
const READERS: usize = 4;
/// WAL pages between automatic checkpoints for the live projectors' small writes (SQLite's
/// default).
const LIVE_CHECKPOINT_PAGES: u32 = 1_000;
/// The same for a rebuild's bulk writes (64 MiB of WAL): each checkpoint fsyncs the WAL and the
/// database file, and at the live interval every commit of a rebuild's batch (~9,000 pages for
/// 50,000 events) would pay one.
const REBUILD_CHECKPOINT_PAGES: u32 = 16_384;
/// Helper threads SQLite's sorter may use while a rebuild builds its indexes.
const SORTER_THREADS: u32 = 2;
/// The page cache of every connection, in KiB.
const CACHE_KIB: u32 = 131_072;
/// The page cache (and so the sorter's in-memory run) while a rebuild builds its indexes: a
/// 2M-line statement index makes about four runs.
const SORTER_RUN_KIB: u32 = 32_768;

/// The read models in two files: the balances in their own (`<stem>.balances.db`), so their
/// projector never waits behind the ledger projector's larger writes on SQLite's one-writer-
/// per-file lock; everything else in the file named at open. Each file holds its tables and its
/// scope's checkpoint, so each is consistent on its own after any crash.
pub struct SqliteReadModels {
    ledger: Db,
    balances: Db,
    /// While a rebuild's bulk runs: the lookup rows of the lines and payments it has written,
    /// written sorted once the bulk is done (`lookups`).
    rebuild_keys: Arc<Mutex<Option<LookupRows>>>,
    /// The most lookup rows per table a rebuild holds in memory (`lookups`).
    rebuild_keys_held: usize,
}

/// One database file: its one writer connection and a small pool of readers.
struct Db {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl SqliteReadModels {
    /// Opens (creating if needed) the read models at `path` and the balances beside it.
    pub fn open(path: &Path) -> Result<SqliteReadModels, ProjectionError> {
        Ok(SqliteReadModels {
            ledger: Db::open(path)?,
            balances: Db::open(&balances_path(path))?,
            rebuild_keys: Arc::new(Mutex::new(None)),
            rebuild_keys_held: lookups::KEYS_HELD_PER_TABLE,
        })
    }

    /// Bounds the lookup rows per table a rebuild holds in memory (default
    /// [`KEYS_HELD_PER_TABLE`], ~100 MiB a table); past it they are written in sorted sweeps.
    pub fn with_rebuild_keys_held(mut self, keys: usize) -> SqliteReadModels {
        self.rebuild_keys_held = keys.max(1);
        self
    }

    fn keys(&self) -> Result<std::sync::MutexGuard<'_, Option<LookupRows>>, ProjectionError> {
        self.rebuild_keys
            .lock()
            .map_err(|_| ProjectionError::WorkerGone("the rebuild's keys were poisoned".into()))
    }

    fn db(&self, scope: FoldScope) -> &Db {
        match scope {
            FoldScope::Balances => &self.balances,
            FoldScope::Ledger => &self.ledger,
        }
    }

    /// Reads from the ledger file (statement lines, daily balances, payments).
    async fn with_reader<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        self.ledger.with_reader(work).await
    }
}

/// `readmodels.db` → `readmodels.balances.db`.
fn balances_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "readmodels".to_string());
    path.with_file_name(format!("{stem}.balances.db"))
}

impl Db {
    fn open(path: &Path) -> Result<Db, ProjectionError> {
        let mut writer = open_connection(path)?;
        writer.execute_batch(
            "CREATE TABLE IF NOT EXISTS checkpoints (projection TEXT PRIMARY KEY, position INTEGER NOT NULL);",
        )?;
        writer.execute_batch(&schema_sql(""))?;
        add_preference_columns(&writer)?;
        add_transfer_details_column(&writer)?;
        lookups::adopt_lookup_tables(&mut writer)?;
        if !has_indexes(&writer, "accounts")? {
            writer.execute_batch(&indexes_sql("", &index_suffix()))?;
        } else {
            // Read models created before these tables (or their indexes) existed: only those
            // tables' indexes are missing.
            for table in ["clients", "documents", "recipients", "transfers"] {
                if has_indexes(&writer, table)? {
                    continue;
                }
                let on_table = format!(" ON {table} ");
                let table_indexes: String = indexes_sql("", &index_suffix())
                    .lines()
                    .filter(|line| line.contains(&on_table))
                    .collect::<Vec<_>>()
                    .join("\n");
                writer.execute_batch(&table_indexes)?;
            }
        }
        Ok(Db {
            path: path.to_path_buf(),
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    async fn with_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = writer.lock().map_err(|_| {
                ProjectionError::WorkerGone("the writer connection was poisoned".into())
            })?;
            work(&mut connection)
        })
        .await
        .map_err(|e| ProjectionError::WorkerGone(e.to_string()))?
    }

    async fn with_reader<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let taken = readers.lock().ok().and_then(|mut pool| pool.pop());
            let connection = match taken {
                Some(connection) => connection,
                None => open_connection(&path)?,
            };
            let result = work(&connection);
            if let Ok(mut pool) = readers.lock()
                && pool.len() < READERS
            {
                pool.push(connection);
            }
            result
        })
        .await
        .map_err(|e| ProjectionError::WorkerGone(e.to_string()))?
    }

    /// Drops any rebuild tables and creates empty ones.
    fn rebuild_begin(c: &mut Connection) -> Result<(), ProjectionError> {
        let tx = c.transaction()?;
        drop_tables(&tx, "rebuild_")?;
        tx.execute_batch(&schema_sql("rebuild_"))?;
        tx.execute(
            "DELETE FROM checkpoints WHERE projection = ?1",
            params![REBUILD],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces the live tables with the rebuilt ones and sets `scope`'s checkpoint.
    fn rebuild_swap(c: &mut Connection, scope: FoldScope) -> Result<(), ProjectionError> {
        let tx = c.transaction()?;
        let position = read_checkpoint(&tx, REBUILD)?;
        drop_tables(&tx, "")?;
        for table in TABLES {
            tx.execute_batch(&format!("ALTER TABLE rebuild_{table} RENAME TO {table};"))?;
        }
        tx.execute(
            "INSERT INTO checkpoints (projection, position) VALUES (?1, ?2) \
             ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
            params![scope.name(), position as i64],
        )?;
        tx.execute(
            "DELETE FROM checkpoints WHERE projection = ?1",
            params![REBUILD],
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn open_connection(path: &Path) -> Result<Connection, ProjectionError> {
    let connection = Connection::open(path)?;
    // Every statement a batch's write uses (multi-row inserts take up to three shapes a
    // table) stays prepared.
    connection.set_prepared_statement_cache_capacity(64);
    // Read models are derived data: NORMAL is durable enough (a lost tail is re-projected from
    // the log, whose checkpoint is in the same transaction).
    connection.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-{CACHE_KIB}; \
         PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=10000;"
    ))?;
    Ok(connection)
}

#[async_trait]
impl ReadModelStore for SqliteReadModels {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn checkpoint(&self, scope: FoldScope) -> Result<u64, ProjectionError> {
        self.db(scope)
            .with_reader(move |c| read_checkpoint(c, scope.name()))
            .await
    }

    async fn load_state(&self, scope: FoldScope) -> Result<FoldState, ProjectionError> {
        self.db(scope).with_writer(move |c| {
            let position = read_checkpoint(c, scope.name())?;
            let mut accounts = Vec::new();
            let mut statement = c.prepare(&format!("SELECT * FROM {}", accounts_table(scope)))?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                accounts.push(account_from_row(row)?);
            }
            if scope == FoldScope::Balances {
                return Ok(FoldState {
                    accounts,
                    latest_days: Vec::new(),
                    open_payments: Vec::new(),
                    clients: Vec::new(),
                    open_transfers: Vec::new(),
                    position,
                });
            }
            let mut open_transfers = Vec::new();
            let mut statement = c.prepare(
                "SELECT * FROM transfers WHERE status NOT IN ('completed', 'cancelled', 'rejected', 'failed')",
            )?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                open_transfers.push(transfer_from_row(row)?);
            }
            let mut clients = Vec::new();
            let mut statement = c.prepare("SELECT * FROM clients")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                clients.push(client_from_row(row)?);
            }
            // Each account's latest day: the row with the greatest day per account.
            let mut latest_days = Vec::new();
            let mut statement = c.prepare(
                "SELECT d.* FROM daily_balances d JOIN (SELECT account_id, MAX(day) AS day \
                 FROM daily_balances GROUP BY account_id) m ON d.account_id = m.account_id AND d.day = m.day",
            )?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                latest_days.push(daily_from_row(row)?);
            }
            let mut open_payments = Vec::new();
            let mut statement =
                c.prepare("SELECT * FROM payments WHERE status IN ('draft', 'pending')")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                open_payments.push(payment_from_row(row)?);
            }
            Ok(FoldState {
                accounts,
                latest_days,
                open_payments,
                clients,
                open_transfers,
                position,
            })
        })
        .await
    }

    fn prepare(&self, changes: &mut Changes) {
        // A payment whose text cannot be written out is left to the write, which reports it.
        let Ok(payments) = changes.payments.iter().map(payment_text).collect() else {
            return;
        };
        changes.texts = RowTexts {
            transactions: changes.transactions.iter().map(transaction_text).collect(),
            payments,
        };
    }

    async fn write(&self, tables: Tables, changes: Changes) -> Result<(), ProjectionError> {
        match tables {
            Tables::Live => {
                let checkpoint = changes.scope.name();
                let db = self.db(changes.scope);
                db.with_writer(move |c| write_batch(c, "", checkpoint, &changes, None))
                    .await
            }
            Tables::Rebuild => {
                // A rebuild's one fold feeds both files: the account rows to the balances file,
                // everything to the ledger file. Each file keeps its own rebuild checkpoint.
                let balances = Changes {
                    scope: FoldScope::Balances,
                    accounts: changes.accounts.clone(),
                    position: changes.position,
                    ..Changes::default()
                };
                self.balances
                    .with_writer(move |c| {
                        with_rare_checkpoints(c, |c| {
                            write_batch(c, "rebuild_", REBUILD, &balances, None)
                        })
                    })
                    .await?;
                let keys = self.rebuild_keys.clone();
                self.ledger
                    .with_writer(move |c| {
                        let mut collecting = keys.lock().map_err(|_| {
                            ProjectionError::WorkerGone("the rebuild's keys were poisoned".into())
                        })?;
                        with_rare_checkpoints(c, |c| {
                            write_batch(c, "rebuild_", REBUILD, &changes, collecting.as_mut())
                        })
                    })
                    .await
            }
        }
    }

    async fn rebuild_begin(&self) -> Result<(), ProjectionError> {
        self.balances.with_writer(Db::rebuild_begin).await?;
        self.ledger.with_writer(Db::rebuild_begin).await?;
        *self.keys()? = Some(LookupRows::bounded(self.rebuild_keys_held));
        Ok(())
    }

    async fn rebuild_checkpoint(&self) -> Result<u64, ProjectionError> {
        let balances = self
            .balances
            .with_writer(|c| read_checkpoint(c, REBUILD))
            .await?;
        let ledger = self
            .ledger
            .with_writer(|c| read_checkpoint(c, REBUILD))
            .await?;
        Ok(balances.min(ledger))
    }

    async fn rebuild_index(&self) -> Result<(), ProjectionError> {
        // The lookup tables first: later writes (the catch-up) add their rows directly.
        let keys = self.keys()?.take();
        if let Some(mut keys) = keys {
            self.ledger
                .with_writer(move |c| {
                    with_rare_checkpoints(c, |c| {
                        let tx = c.transaction()?;
                        keys.write_sorted(&tx, "rebuild_")?;
                        tx.commit()?;
                        Ok(())
                    })
                })
                .await?;
        }
        for db in [&self.balances, &self.ledger] {
            // Index names are unique per build, so the rebuilt tables' indexes keep their
            // names through the swap's rename without colliding with the old ones.
            db.with_writer(|c| {
                // Helper threads for SQLite's sorter: CREATE INDEX is the rebuild's largest
                // single cost and otherwise sorts on one core while the other idles. The
                // sorter hands its helpers one run at a time, a run is as large as the page
                // cache, and it uses no helpers at all while temporary data is kept in memory:
                // so a smaller cache and temporary files (the OS's page cache holds them)
                // while indexing, for several runs per large index sorted in parallel.
                c.execute_batch(&format!(
                    "PRAGMA threads={SORTER_THREADS}; PRAGMA temp_store=FILE; \
                     PRAGMA cache_size=-{SORTER_RUN_KIB};"
                ))?;
                let built = c.execute_batch(&indexes_sql("rebuild_", &index_suffix()));
                c.execute_batch(&format!(
                    "PRAGMA threads=0; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-{CACHE_KIB};"
                ))?;
                built?;
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    async fn rebuild_swap(&self) -> Result<(), ProjectionError> {
        self.balances
            .with_writer(|c| Db::rebuild_swap(c, FoldScope::Balances))
            .await?;
        self.ledger
            .with_writer(|c| Db::rebuild_swap(c, FoldScope::Ledger))
            .await
    }

    async fn repair_counters(
        &self,
        scope: FoldScope,
        at: u64,
        counters: Vec<Counters>,
    ) -> Result<Vec<AccountId>, ProjectionError> {
        self.db(scope)
            .with_writer(move |c| {
                let tx = c.transaction()?;
                expect_checkpoint(&tx, scope, at)?;
                let changed = repair_counters(&tx, accounts_table(scope), &counters)?;
                tx.commit()?;
                Ok(changed)
            })
            .await
    }

    async fn replace_daily_rows(
        &self,
        at: u64,
        accounts: &[AccountId],
        from: NaiveDate,
        rows: Vec<DailyRow>,
    ) -> Result<u64, ProjectionError> {
        let accounts: Vec<Vec<u8>> = accounts.iter().map(|id| id.0.as_bytes().to_vec()).collect();
        self.ledger
            .with_writer(move |c| {
                let tx = c.transaction()?;
                expect_checkpoint(&tx, FoldScope::Ledger, at)?;
                if accounts.is_empty() {
                    tx.execute(
                        "DELETE FROM daily_balances WHERE day >= ?1",
                        params![from.to_string()],
                    )?;
                } else {
                    let mut delete = tx.prepare_cached(
                        "DELETE FROM daily_balances WHERE account_id = ?1 AND day >= ?2",
                    )?;
                    for account in &accounts {
                        delete.execute(params![account, from.to_string()])?;
                    }
                }
                write_daily(&tx, "", &rows)?;
                tx.commit()?;
                Ok(rows.len() as u64)
            })
            .await
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountRow>, ProjectionError> {
        self.balances
            .with_reader(move |c| {
                c.query_row(
                    "SELECT * FROM accounts WHERE account_id = ?1",
                    params![id.0.as_bytes()],
                    |row| Ok(account_from_row(row)),
                )
                .optional()?
                .transpose()
            })
            .await
    }

    async fn account_by_number(&self, number: &str) -> Result<Option<AccountRow>, ProjectionError> {
        let number = number.to_string();
        self.balances
            .with_reader(move |c| {
                c.query_row(
                    "SELECT * FROM accounts WHERE number = ?1",
                    params![number],
                    |row| Ok(account_from_row(row)),
                )
                .optional()?
                .transpose()
            })
            .await
    }

    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: PageRequest,
    ) -> Result<Page<AccountRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.blobs("client_id", filter.client_ids.iter().map(|id| id.0));
        conditions.blobs("account_id", filter.account_ids.iter().map(|id| id.0));
        conditions.texts("number", filter.numbers.iter().cloned());
        conditions.texts(
            "currency",
            filter.currencies.iter().map(|c| c.code().to_string()),
        );
        conditions.texts("status", filter.statuses.iter().map(enum_text));
        conditions.texts("account_type", filter.types.iter().map(enum_text));
        self.balances
            .with_reader(move |c| {
                paged(
                    c,
                    "accounts",
                    &conditions,
                    "created_at, account_id",
                    page,
                    account_from_row,
                )
            })
            .await
    }

    async fn client(&self, id: ClientId) -> Result<Option<ClientRow>, ProjectionError> {
        self.with_reader(move |c| {
            c.query_row(
                "SELECT * FROM clients WHERE client_id = ?1",
                params![id.0.as_bytes()],
                |row| Ok(client_from_row(row)),
            )
            .optional()?
            .transpose()
        })
        .await
    }

    async fn clients(
        &self,
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<Page<ClientRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.blobs("client_id", filter.client_ids.iter().map(|id| id.0));
        conditions.texts("status", filter.statuses.iter().map(enum_text));
        conditions.texts("client_type", filter.types.iter().map(enum_text));
        if let Some(pattern) = filter.search_pattern() {
            conditions.like("search_text", pattern);
        }
        self.with_reader(move |c| {
            paged(
                c,
                "clients",
                &conditions,
                "created_at, client_id",
                page,
                client_from_row,
            )
        })
        .await
    }

    async fn recipient(&self, id: RecipientId) -> Result<Option<RecipientRow>, ProjectionError> {
        self.with_reader(move |c| {
            c.query_row(
                "SELECT * FROM recipients WHERE recipient_id = ?1",
                params![id.0.as_bytes()],
                |row| Ok(recipient_from_row(row)),
            )
            .optional()?
            .transpose()
        })
        .await
    }

    async fn recipients(
        &self,
        filter: &RecipientFilter,
        page: PageRequest,
    ) -> Result<Page<RecipientRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.blobs("client_id", filter.client_id.map(|id| id.0));
        if !filter.include_hidden {
            conditions.texts("visibility", [visibility_text(true).to_string()]);
        }
        self.with_reader(move |c| {
            paged(
                c,
                "recipients",
                &conditions,
                "created_at, recipient_id",
                page,
                recipient_from_row,
            )
        })
        .await
    }

    async fn transfer(&self, id: TransferId) -> Result<Option<TransferRow>, ProjectionError> {
        self.with_reader(move |c| {
            c.query_row(
                "SELECT * FROM transfers WHERE transfer_id = ?1",
                params![id.0.as_bytes()],
                |row| Ok(transfer_from_row(row)),
            )
            .optional()?
            .transpose()
        })
        .await
    }

    async fn transfers(
        &self,
        filter: &TransferFilter,
        page: PageRequest,
    ) -> Result<Page<TransferRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.texts("direction", filter.directions.iter().map(enum_text));
        conditions.texts("status", filter.statuses.iter().map(enum_text));
        if !filter.account_ids.is_empty() {
            let ids: Vec<Uuid> = filter.account_ids.iter().map(|id| id.0).collect();
            conditions.either_blob("source_account_id", "destination_account_id", &ids);
        }
        conditions.time_range("created_at", filter.from, filter.to);
        self.with_reader(move |c| {
            paged(
                c,
                "transfers",
                &conditions,
                "created_at DESC, transfer_id",
                page,
                transfer_from_row,
            )
        })
        .await
    }

    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>, ProjectionError> {
        self.with_reader(move |c| {
            c.query_row(
                "SELECT * FROM documents WHERE document_id = ?1",
                params![id.0.as_bytes()],
                |row| Ok(document_from_row(row)),
            )
            .optional()?
            .transpose()
        })
        .await
    }

    async fn documents(
        &self,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<DocumentRow>, ProjectionError> {
        let (kind, id) = owner_columns(filter.owner);
        let mut conditions = Conditions::default();
        conditions.blobs("owner_id", [id]);
        conditions.texts("owner_kind", [kind.to_string()]);
        if !filter.include_deleted {
            conditions.clauses.push("deleted_at IS NULL".into());
        }
        self.with_reader(move |c| {
            paged(
                c,
                "documents",
                &conditions,
                "created_at, document_id",
                page,
                document_from_row,
            )
        })
        .await
    }

    async fn payment(&self, id: PaymentId) -> Result<Option<PaymentRow>, ProjectionError> {
        self.with_reader(move |c| {
            c.query_row(
                "SELECT * FROM payments WHERE payment_id = ?1",
                params![id.0.as_bytes()],
                |row| Ok(payment_from_row(row)),
            )
            .optional()?
            .transpose()
        })
        .await
    }

    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<PaymentRow>, ProjectionError> {
        let accounts: Vec<Uuid> = filter.account_ids.iter().map(|id| id.0).collect();
        // One account's payments are read from its lookup rows, in creation order and within
        // the period, each payment then found by its id; several accounts' through a subquery
        // (a payment between two of them has two lookup rows but is listed once).
        let driven = accounts.len() == 1;
        let column = |name: &str| {
            if driven {
                format!("p.{name}")
            } else {
                name.to_string()
            }
        };
        let mut conditions = Conditions::default();
        let mut lookup = Conditions::default();
        let key = if driven { "a." } else { "" };
        lookup.blobs(&format!("{key}account_id"), accounts.iter().copied());
        lookup.time_range(&format!("{key}created_at"), filter.from, filter.to);
        if driven {
            conditions = lookup;
        } else {
            if !accounts.is_empty() {
                conditions.looked_up("payment_id", "payment_id", "account_payments", lookup);
            }
            conditions.time_range("created_at", filter.from, filter.to);
        }
        let lookup_only = conditions.clauses.len();
        conditions.texts(&column("status"), filter.statuses.iter().map(enum_text));
        conditions.texts(
            &column("currency"),
            filter.currencies.iter().map(|c| c.code().to_string()),
        );
        let listing_from_lookup = lookup_only == conditions.clauses.len();
        self.with_reader(move |c| {
            let listing = if driven {
                Listing {
                    columns: "p.*",
                    from: ACCOUNT_PAYMENTS_JOIN,
                    count_from: if listing_from_lookup {
                        "account_payments a"
                    } else {
                        ACCOUNT_PAYMENTS_JOIN
                    },
                    order: "a.created_at, a.payment_id",
                }
            } else {
                Listing {
                    columns: "*",
                    from: "payments",
                    count_from: "payments",
                    order: "created_at, payment_id",
                }
            };
            paged_from(c, &listing, &conditions, page, payment_from_row)
        })
        .await
    }

    async fn transaction(&self, id: Uuid) -> Result<Option<TransactionRow>, ProjectionError> {
        // A line's id encodes its place in the log, so the primary key finds it: no index on
        // the id is kept (one fewer B-tree to update per line).
        let Some((position, line)) = crate::fold::transaction_place(id) else {
            return Ok(None);
        };
        self.with_reader(move |c| {
            c.query_row(
                "SELECT * FROM transactions WHERE position = ?1 AND line = ?2",
                params![position as i64, line],
                |row| Ok(transaction_from_row(row)),
            )
            .optional()?
            .transpose()
        })
        .await
    }

    async fn transactions(
        &self,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<TransactionRow>, ProjectionError> {
        // The accounts' lines are read from their lookup rows, in log order, each line then
        // found by its primary key: a page reads no more lines than it shows (plus its offset).
        let driven = !filter.account_ids.is_empty();
        let column = |name: &str| {
            if driven {
                format!("t.{name}")
            } else {
                name.to_string()
            }
        };
        let mut conditions = Conditions::default();
        conditions.blobs("l.account_id", filter.account_ids.iter().map(|id| id.0));
        if !filter.payment_ids.is_empty() {
            // A payment's few lines: its lookup rows give their positions, and the other
            // lines at those positions (of other payments' legs) are left out by payment.
            let ids: Vec<Uuid> = filter.payment_ids.iter().map(|id| id.0).collect();
            let mut lookup = Conditions::default();
            lookup.blobs("payment_id", ids.iter().copied());
            conditions.looked_up(&column("position"), "position", "payment_lines", lookup);
            conditions.blobs(&column("payment_id"), ids);
        }
        let lookup_only = conditions.clauses.len();
        conditions.texts(
            &column("type"),
            filter.types.iter().map(|t| t.as_str().to_string()),
        );
        conditions.texts(
            &column("currency"),
            filter.currencies.iter().map(|c| c.code().to_string()),
        );
        conditions.time_range(&column("created_at"), filter.from, filter.to);
        // Amount bounds compare exactly: the minor-unit column holds amount × 10^3, which every
        // currency (at most 3 decimals) fits without rounding.
        // A lower bound rounds up and an upper bound down to whole thousandths, so a bound with
        // more decimals than any stored amount selects exactly the amounts within it.
        if let Some(from) = filter.amount_from {
            conditions.integer_at_least(
                &column("amount_minor"),
                milli_units_bound(from, Bound::Lower),
            );
        }
        if let Some(to) = filter.amount_to {
            conditions
                .integer_at_most(&column("amount_minor"), milli_units_bound(to, Bound::Upper));
        }
        // Counted in the lookup table alone when only the accounts are asked for.
        let count_lookup_only =
            driven && filter.payment_ids.is_empty() && lookup_only == conditions.clauses.len();
        self.with_reader(move |c| {
            let listing = if driven {
                Listing {
                    columns: "t.*",
                    from: ACCOUNT_LINES_JOIN,
                    count_from: if count_lookup_only {
                        "account_lines l"
                    } else {
                        ACCOUNT_LINES_JOIN
                    },
                    order: "l.position, l.line",
                }
            } else {
                Listing {
                    columns: "*",
                    from: "transactions",
                    count_from: "transactions",
                    order: "position, line",
                }
            };
            paged_from(c, &listing, &conditions, page, transaction_from_row)
        })
        .await
    }

    async fn last_transactions(&self) -> Result<Vec<TransactionRow>, ProjectionError> {
        self.with_reader(|c| {
            // Each account with lines, then its last line that is there: read backwards from
            // its lookup rows, so a line missing from the table (a damaged file, which verify
            // is there to find) yields the one before it, as a scan of the table would.
            let mut accounts =
                c.prepare("SELECT DISTINCT account_id FROM account_lines ORDER BY account_id")?;
            let accounts = accounts
                .query_map([], |row| row.get::<_, Vec<u8>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut last = c.prepare(&format!(
                "SELECT t.* FROM {ACCOUNT_LINES_JOIN} WHERE l.account_id = ?1 \
                 ORDER BY l.position DESC, l.line DESC LIMIT 1"
            ))?;
            let mut out = Vec::with_capacity(accounts.len());
            for account in accounts {
                if let Some(line) = last
                    .query_row([account], |row| Ok(transaction_from_row(row)))
                    .optional()?
                {
                    out.push(line?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn daily_rows(
        &self,
        account_ids: &[AccountId],
        until: NaiveDate,
    ) -> Result<Vec<DailyRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.blobs("account_id", account_ids.iter().map(|id| id.0));
        conditions.text_at_most("day", until.to_string());
        self.with_reader(move |c| {
            let sql = format!(
                "SELECT * FROM daily_balances{} ORDER BY account_id, day",
                conditions.where_clause()
            );
            let mut statement = c.prepare(&sql)?;
            let mut rows = statement.query(params_from_iter(conditions.values.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(daily_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn totals(
        &self,
        client_id: Option<ClientId>,
        currency: Option<Currency>,
    ) -> Result<Vec<CurrencyTotals>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.blobs("client_id", client_id.map(|id| id.0));
        conditions.texts("currency", currency.map(|c| c.code().to_string()));
        self.balances
            .with_reader(move |c| {
                // Exact sums: decimals are summed in Rust, not as SQLite floats.
                let sql = format!(
                    "SELECT currency, balance, held, available FROM accounts{} ORDER BY currency",
                    conditions.where_clause()
                );
                let mut statement = c.prepare(&sql)?;
                let mut rows = statement.query(params_from_iter(conditions.values.iter()))?;
                let mut totals: Vec<CurrencyTotals> = Vec::new();
                while let Some(row) = rows.next()? {
                    let currency = currency_from(&row.get::<_, String>(0)?)?;
                    let balance = decimal(&row.get::<_, String>(1)?)?;
                    let held = decimal(&row.get::<_, String>(2)?)?;
                    let available = decimal(&row.get::<_, String>(3)?)?;
                    let overflow =
                        || ProjectionError::Corrupt(format!("the {currency} totals overflow"));
                    match totals.last_mut() {
                        Some(last) if last.currency == currency => {
                            last.balance =
                                last.balance.checked_add(balance).ok_or_else(overflow)?;
                            last.held = last.held.checked_add(held).ok_or_else(overflow)?;
                            last.available =
                                last.available.checked_add(available).ok_or_else(overflow)?;
                            last.accounts += 1;
                        }
                        _ => totals.push(CurrencyTotals {
                            currency,
                            balance,
                            held,
                            available,
                            accounts: 1,
                        }),
                    }
                }
                Ok(totals)
            })
            .await
    }
}

/// Every table of the read models, named with `prefix`: both scopes' account tables from one
/// definition, then the rest.
fn schema_sql(prefix: &str) -> String {
    let mut sql = String::new();
    for scope in [FoldScope::Balances, FoldScope::Ledger] {
        sql.push_str(&ACCOUNT_TABLE.replace("{t}", accounts_table(scope)));
    }
    sql.push_str(SCHEMA);
    sql.replace("{p}", prefix)
}

/// The index script for tables with `prefix`, index names ending in `suffix`.
fn indexes_sql(prefix: &str, suffix: &str) -> String {
    INDEXES.replace("{p}", prefix).replace("{i}", suffix)
}

/// A suffix no earlier build of these indexes used: the time in microseconds.
fn index_suffix() -> String {
    format!("_g{}", Utc::now().timestamp_micros())
}

/// Read models created before accounts had a default flag and an order get the two columns
/// (false and 0: no event set them before).
fn add_preference_columns(c: &Connection) -> Result<(), ProjectionError> {
    for table in ["accounts", "ledger_accounts"] {
        let mut statement = c.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
        let columns = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if !columns.iter().any(|name| name == "is_default") {
            c.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;"
            ))?;
        }
        if !columns.iter().any(|name| name == "sort_order") {
            c.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN sort_order INTEGER NOT NULL DEFAULT 0;"
            ))?;
        }
    }
    Ok(())
}

/// Read models created before transfers were projected get the `details` column, and those
/// created before FX transfers their destination columns (empty: no event filled them before).
fn add_transfer_details_column(c: &Connection) -> Result<(), ProjectionError> {
    let mut statement = c.prepare("SELECT name FROM pragma_table_info('transfers')")?;
    let columns = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for column in ["details", "destination_amount", "destination_currency"] {
        if !columns.iter().any(|name| name == column) {
            c.execute_batch(&format!("ALTER TABLE transfers ADD COLUMN {column} TEXT;"))?;
        }
    }
    Ok(())
}

/// Whether `table` has indexes of its own (beyond its primary key).
fn has_indexes(c: &Connection, table: &str) -> Result<bool, ProjectionError> {
    let count: i64 = c.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL",
        params![table],
        |row| row.get(0),
    )?;
    Ok(count > 0)
}

const TABLES: [&str; 12] = [
    "clients",
    "documents",
    "recipients",
    "accounts",
    "ledger_accounts",
    "transactions",
    "account_lines",
    "payment_lines",
    "daily_balances",
    "payments",
    "account_payments",
    "transfers",
];

/// The table a scope keeps its account rows in.
fn accounts_table(scope: FoldScope) -> &'static str {
    match scope {
        FoldScope::Balances => "accounts",
        FoldScope::Ledger => "ledger_accounts",
    }
}

fn drop_tables(c: &Connection, prefix: &str) -> Result<(), ProjectionError> {
    for table in TABLES {
        c.execute_batch(&format!("DROP TABLE IF EXISTS {prefix}{table};"))?;
    }
    Ok(())
}

fn read_checkpoint(c: &Connection, name: &str) -> Result<u64, ProjectionError> {
    let position: Option<i64> = c
        .query_row(
            "SELECT position FROM checkpoints WHERE projection = ?1",
            params![name],
            |row| row.get(0),
        )
        .optional()?;
    Ok(position.unwrap_or(0) as u64)
}

/// Runs `work` (a rebuild's write) with the larger checkpoint interval, then restores the live
/// one, so the live projectors sharing this connection keep their short checkpoints. Each
/// commit's size decides whether it checkpoints, so the interval only needs to be in force
/// around the rebuild's own commits.
fn with_rare_checkpoints<T>(
    c: &mut Connection,
    work: impl FnOnce(&mut Connection) -> Result<T, ProjectionError>,
) -> Result<T, ProjectionError> {
    c.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint={REBUILD_CHECKPOINT_PAGES};"
    ))?;
    let result = work(c);
    c.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint={LIVE_CHECKPOINT_PAGES};"
    ))?;
    result
}

/// Writes a batch and moves `checkpoint` in one transaction; a batch at or below the checkpoint
/// is stale and ignored, so a retried write never double-applies. The lines' and payments'
/// lookup rows go into `collect` when given (a rebuild's bulk; kept once committed), else into
/// their tables with the batch.
fn write_batch(
    c: &mut Connection,
    prefix: &str,
    checkpoint: &str,
    changes: &Changes,
    collect: Option<&mut LookupRows>,
) -> Result<(), ProjectionError> {
    let tx = c.transaction()?;
    let current = read_checkpoint(&tx, checkpoint)?;
    if changes.position <= current {
        return Ok(());
    }
    let accounts = format!("{prefix}{}", accounts_table(changes.scope));
    write_accounts(&tx, &accounts, &changes.accounts)?;
    write_rows(&tx, prefix, changes)?;
    let keys = LookupRows::of(changes);
    if collect.is_none() {
        keys.write(&tx, prefix)?;
    }
    tx.execute(
        "INSERT INTO checkpoints (projection, position) VALUES (?1, ?2) \
         ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
        params![checkpoint, changes.position as i64],
    )?;
    tx.commit()?;
    if let Some(collected) = collect {
        collected.absorb(keys);
        // The keys held stay bounded: a large log's are written in several sorted sweeps.
        if collected.is_full() {
            let tx = c.transaction()?;
            collected.write_full(&tx, prefix)?;
            tx.commit()?;
            collected.forget_full();
        }
    }
    Ok(())
}

/// Upserts account rows. An existing row is updated in place: its indexed columns (number,
/// client, currency) never change, so no index is touched, where `INSERT OR REPLACE` would
/// delete and reinsert the row in every index.
fn write_accounts(c: &Connection, table: &str, rows: &[AccountRow]) -> Result<(), ProjectionError> {
    let mut update = c.prepare_cached(&format!(
        "UPDATE {table} SET status = ?2, name = ?3, overdraft_limit = ?4, debits_pending = ?5, \
         debits_posted = ?6, credits_pending = ?7, credits_posted = ?8, balance = ?9, held = ?10, \
         available = ?11, version = ?12, last_position = ?13, updated_at = ?14, is_default = ?15, \
         sort_order = ?16 WHERE account_id = ?1"
    ))?;
    let mut insert = c.prepare_cached(&format!(
        "INSERT INTO {table} (account_id, number, client_id, currency, account_type, status, name, \
         overdraft_limit, debits_pending, debits_posted, credits_pending, credits_posted, balance, held, available, \
         version, last_position, created_at, updated_at, is_default, sort_order) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
         ?20, ?21)"
    ))?;
    for a in rows {
        // The exact decimals as text, formatted once for whichever statement runs.
        let [
            overdraft,
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
            balance,
            held,
            available,
        ] = [
            a.overdraft_limit,
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
            a.balance(),
            a.held(),
            a.available_balance(),
        ]
        .map(|amount| amount.to_string());
        let status = enum_text(&a.status);
        let updated = update.execute(params![
            a.account_id.0.as_bytes(),
            status,
            a.name,
            overdraft,
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
            balance,
            held,
            available,
            a.version as i64,
            a.last_position as i64,
            a.updated_at.timestamp_micros(),
            a.is_default,
            i64::from(a.order),
        ])?;
        if updated > 0 {
            continue;
        }
        insert.execute(params![
            a.account_id.0.as_bytes(),
            a.number,
            a.client_id.map(|id| id.0.as_bytes().to_vec()),
            a.currency.code(),
            enum_text(&a.account_type),
            status,
            a.name,
            overdraft,
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
            balance,
            held,
            available,
            a.version as i64,
            a.last_position as i64,
            a.created_at.timestamp_micros(),
            a.updated_at.timestamp_micros(),
            a.is_default,
            i64::from(a.order),
        ])?;
    }
    Ok(())
}

fn write_daily(c: &Connection, prefix: &str, rows: &[DailyRow]) -> Result<(), ProjectionError> {
    let mut daily = c.prepare_cached(&format!(
        "INSERT INTO {prefix}daily_balances (account_id, day, currency, opening, total_debits, total_credits, \
         closing, movements) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (account_id, day) DO UPDATE SET currency = excluded.currency, \
         opening = excluded.opening, total_debits = excluded.total_debits, \
         total_credits = excluded.total_credits, closing = excluded.closing, \
         movements = excluded.movements"
    ))?;
    for d in rows {
        daily.execute(params![
            d.account_id.0.as_bytes(),
            d.day.to_string(),
            d.currency.code(),
            d.opening.to_string(),
            d.total_debits.to_string(),
            d.total_credits.to_string(),
            d.closing.to_string(),
            d.movements as i64,
        ])?;
    }
    Ok(())
}

/// Sets the counters of the rows that differ; returns their accounts.
fn repair_counters(
    c: &Connection,
    table: &str,
    counters: &[Counters],
) -> Result<Vec<AccountId>, ProjectionError> {
    let mut select = c.prepare_cached(&format!(
        "SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM {table} \
         WHERE account_id = ?1"
    ))?;
    let mut update = c.prepare_cached(&format!(
        "UPDATE {table} SET debits_pending = ?2, debits_posted = ?3, credits_pending = ?4, \
         credits_posted = ?5, balance = ?6, held = ?7, available = ?8 WHERE account_id = ?1"
    ))?;
    let mut changed = Vec::new();
    for fix in counters {
        let id = fix.account_id.0.as_bytes();
        let stored: Option<[String; 4]> = select
            .query_row(params![id], |row| {
                Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?])
            })
            .optional()?;
        let Some(stored) = stored else { continue };
        let [dp, dpo, cp, cpo] = stored;
        let stored = [decimal(&dp)?, decimal(&dpo)?, decimal(&cp)?, decimal(&cpo)?];
        let wanted = [
            fix.debits_pending,
            fix.debits_posted,
            fix.credits_pending,
            fix.credits_posted,
        ];
        if stored == wanted {
            continue;
        }
        let [balance, held, available] = fix.amounts();
        update.execute(params![
            id,
            fix.debits_pending.to_string(),
            fix.debits_posted.to_string(),
            fix.credits_pending.to_string(),
            fix.credits_posted.to_string(),
            balance.to_string(),
            held.to_string(),
            available.to_string(),
        ])?;
        changed.push(fix.account_id);
    }
    Ok(changed)
}

/// Fails unless `checkpoint` is still at `at` (inside the repair's transaction).
fn expect_checkpoint(c: &Connection, scope: FoldScope, at: u64) -> Result<(), ProjectionError> {
    let found = read_checkpoint(c, scope.name())?;
    if found != at {
        return Err(ProjectionError::CheckpointMoved {
            scope: scope.name(),
            expected: at,
            found,
        });
    }
    Ok(())
}

/// Statement lines, daily balances, payments and clients (empty in the balances scope).
fn write_rows(c: &Connection, prefix: &str, changes: &Changes) -> Result<(), ProjectionError> {
    let mut clients = c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {prefix}clients (client_id, client_type, status, legal_name, email, \
         phone_number, search_text, profile, block_reason, version, last_position, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?;
    for client in &changes.clients {
        let profile = serde_json::to_string(&client.profile)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?;
        clients.execute(params![
            client.client_id.0.as_bytes(),
            enum_text(&client.profile.client_type),
            enum_text(&client.status),
            client.profile.legal_name,
            client.profile.email,
            client.profile.phone_number,
            client.search_text(),
            profile,
            client.block_reason,
            client.version as i64,
            client.last_position as i64,
            client.created_at.timestamp_micros(),
            client.updated_at.timestamp_micros(),
        ])?;
    }
    let mut recipients = c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {prefix}recipients (recipient_id, client_id, visibility, details, \
         last_position, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?;
    for r in &changes.recipients {
        recipients.execute(params![
            r.recipient_id.0.as_bytes(),
            r.client_id.0.as_bytes(),
            r.visibility(),
            to_json(&r.details)?,
            r.last_position as i64,
            r.created_at.timestamp_micros(),
            r.updated_at.timestamp_micros(),
        ])?;
    }
    let mut visibility = c.prepare_cached(&format!(
        "UPDATE {prefix}recipients SET visibility = ?2, last_position = ?3, updated_at = ?4 \
         WHERE recipient_id = ?1"
    ))?;
    for v in &changes.recipient_visibility {
        visibility.execute(params![
            v.recipient_id.0.as_bytes(),
            visibility_text(v.is_visible),
            v.position as i64,
            v.at.timestamp_micros(),
        ])?;
    }
    let mut transfers = c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {prefix}transfers (transfer_id, direction, status, transfer_type, \
         source_account_id, destination_account_id, recipient_id, amount, currency, fee, rate, \
         reference, payment_id, status_history, details, created_at, updated_at, last_position, \
         destination_amount, destination_currency) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
         ?19, ?20)"
    ))?;
    for t in &changes.transfers {
        transfers.execute(params![
            t.transfer_id.0.as_bytes(),
            enum_text(&t.direction),
            enum_text(&t.status),
            t.transfer_type.as_ref().map(enum_text),
            t.source_account_id.map(|id| id.0.as_bytes().to_vec()),
            t.destination_account_id.map(|id| id.0.as_bytes().to_vec()),
            t.recipient_id.map(|id| id.as_bytes().to_vec()),
            t.amount.to_string(),
            t.currency.code(),
            t.fee.to_string(),
            t.rate.map(|rate| rate.to_string()),
            t.reference,
            t.payment_id.0.as_bytes(),
            to_json(&t.status_history)?,
            to_json(&t.details)?,
            t.created_at.timestamp_micros(),
            t.updated_at.timestamp_micros(),
            t.last_position as i64,
            t.destination_amount.map(|amount| amount.to_string()),
            t.destination_currency
                .map(|currency| currency.code().to_string()),
        ])?;
    }
    write_documents(c, prefix, changes)?;
    let texts = &changes.texts;
    insert_many(
        c,
        &format!(
            "INSERT OR IGNORE INTO {prefix}transactions (position, line, transaction_id, payment_id, \
             account_id, type, amount, amount_minor, currency, balance_after, available_after, \
             description, created_at)"
        ),
        13,
        "",
        &changes.transactions,
        |row, index, t| {
            let written;
            let text = match texts.transactions.get(index) {
                Some(text) if (text.position, text.line) == (t.position, t.line) => text,
                _ => {
                    written = transaction_text(t);
                    &written
                }
            };
            row.bind(t.position as i64)?
                .bind(t.line)?
                .bind(&t.transaction_id.as_bytes()[..])?
                .bind(&t.payment_id.0.as_bytes()[..])?
                .bind(&t.account_id.0.as_bytes()[..])?
                .bind(t.transaction_type.as_str())?
                .bind(text.amount.as_str())?
                .bind(to_milli_units(t.amount))?
                .bind(t.currency.code())?
                .bind(text.balance_after.as_str())?
                .bind(text.available_after.as_str())?
                .bind(t.description.as_deref())?
                .bind(t.created_at.timestamp_micros())?;
            Ok(())
        },
    )?;
    write_daily(c, prefix, &changes.daily)?;
    // An upsert, not INSERT OR REPLACE: a payment moving on (pended, posted, cancelled) is updated
    // in place, and its source, destination and creation time (set once, by its creation; the
    // lookup rows in account_payments and the creation-time index hold them) are left out of
    // the update; REPLACE deleted and reinserted the row in every index. The same holds for the
    // daily rows above and their day index.
    insert_many(
        c,
        &format!(
            "INSERT INTO {prefix}payments (payment_id, status, legs, source_account_id, \
             destination_account_id, amount, currency, posted_amount, description, external_id, \
             metadata, created_at, pended_at, posted_at, cancelled_at, expired_at, cancel_reason, \
             expires_at, last_position)"
        ),
        19,
        "ON CONFLICT (payment_id) DO UPDATE SET status = excluded.status, legs = excluded.legs, \
         amount = excluded.amount, currency = excluded.currency, \
         posted_amount = excluded.posted_amount, description = excluded.description, \
         external_id = excluded.external_id, metadata = excluded.metadata, \
         pended_at = excluded.pended_at, posted_at = excluded.posted_at, \
         cancelled_at = excluded.cancelled_at, expired_at = excluded.expired_at, \
         cancel_reason = excluded.cancel_reason, expires_at = excluded.expires_at, \
         last_position = excluded.last_position",
        &changes.payments,
        |row, index, p| {
            let written;
            let text = match texts.payments.get(index) {
                Some(text) if text.payment_id == p.payment_id => text,
                _ => {
                    written = payment_text(p)?;
                    &written
                }
            };
            row.bind(&p.payment_id.0.as_bytes()[..])?
                .bind(text.status.as_str())?
                .bind(text.legs.as_str())?
                .bind(p.source_account_id.map(|id| id.0.as_bytes().to_vec()))?
                .bind(p.destination_account_id.map(|id| id.0.as_bytes().to_vec()))?
                .bind(text.amount.as_str())?
                .bind(p.currency.code())?
                .bind(text.posted_amount.as_deref())?
                .bind(p.description.as_deref())?
                .bind(p.external_id.as_deref())?
                .bind(p.metadata.as_ref().map(|m| m.to_string()))?
                .bind(p.created_at.timestamp_micros())?
                .bind(p.pended_at.map(|t| t.timestamp_micros()))?
                .bind(p.posted_at.map(|t| t.timestamp_micros()))?
                .bind(p.cancelled_at.map(|t| t.timestamp_micros()))?
                .bind(p.expired_at.map(|t| t.timestamp_micros()))?
                .bind(p.cancel_reason.as_deref())?
                .bind(p.expires_at.map(|t| t.timestamp_micros()))?
                .bind(p.last_position as i64)?;
            Ok(())
        },
    )
}

/// A statement line's decimals as stored.
fn transaction_text(t: &TransactionRow) -> LineText {
    LineText {
        position: t.position,
        line: t.line,
        amount: t.amount.to_string(),
        balance_after: t.balance_after.to_string(),
        available_after: t.available_after.to_string(),
    }
}

/// A payment's text columns as stored.
fn payment_text(p: &PaymentRow) -> Result<PaymentText, ProjectionError> {
    Ok(PaymentText {
        payment_id: p.payment_id,
        status: enum_text(&p.status),
        legs: to_json(&p.legs)?,
        amount: p.amount.to_string(),
        posted_amount: p.posted_amount.map(|amount| amount.to_string()),
    })
}

/// New document rows, then the deletions of documents written by earlier batches.
fn write_documents(c: &Connection, prefix: &str, changes: &Changes) -> Result<(), ProjectionError> {
    let mut documents = c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {prefix}documents (document_id, owner_kind, owner_id, document_type, \
         file_name, content_type, size, sha256, created_at, deleted_at, last_position) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?;
    for d in &changes.documents {
        let (kind, owner) = d.owner_columns();
        documents.execute(params![
            d.document_id.0.as_bytes(),
            kind,
            owner.as_bytes(),
            enum_text(&d.document_type),
            d.file_name,
            d.content_type,
            i64::try_from(d.size).map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
            d.sha256,
            d.created_at.timestamp_micros(),
            d.deleted_at.map(|t| t.timestamp_micros()),
            d.last_position as i64,
        ])?;
    }
    let mut deletions = c.prepare_cached(&format!(
        "UPDATE {prefix}documents SET deleted_at = ?2, last_position = ?3 WHERE document_id = ?1"
    ))?;
    for d in &changes.deleted_documents {
        deletions.execute(params![
            d.document_id.0.as_bytes(),
            d.deleted_at.timestamp_micros(),
            d.last_position as i64,
        ])?;
    }
    Ok(())
}

/// An amount in thousandths of its unit: exact for every currency Folio accepts (≤ 3 decimals,
/// ≤ 10^15), so stored amounts never round.
pub(crate) fn to_milli_units(amount: Decimal) -> i64 {
    milli_units_bound(amount, Bound::Lower)
}

#[derive(Clone, Copy)]
enum Bound {
    Lower,
    Upper,
}

/// A filter bound in thousandths: rounded inwards (up for a lower bound, down for an upper one)
/// and clamped to the i64 range, so any client-supplied decimal is a valid, exact bound.
fn milli_units_bound(amount: Decimal, bound: Bound) -> i64 {
    let Some(scaled) = amount.checked_mul(Decimal::from(1000)) else {
        return if amount.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        };
    };
    let whole = match bound {
        Bound::Lower => scaled.ceil(),
        Bound::Upper => scaled.floor(),
    };
    let mantissa = whole.mantissa() / 10i128.pow(whole.scale());
    i64::try_from(mantissa).unwrap_or(if mantissa < 0 { i64::MIN } else { i64::MAX })
}

/// A value as JSON text.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ProjectionError> {
    serde_json::to_string(value).map_err(|e| ProjectionError::Corrupt(e.to_string()))
}

/// The serde name of an enum value (`current`, `pending`, …).
fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

fn enum_from<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ProjectionError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| ProjectionError::Corrupt(format!("unknown value {text:?}")))
}

fn decimal(text: &str) -> Result<Decimal, ProjectionError> {
    Decimal::from_str(text)
        .map_err(|_| ProjectionError::Corrupt(format!("not a decimal: {text:?}")))
}

fn currency_from(code: &str) -> Result<Currency, ProjectionError> {
    Currency::from_code(code).map_err(|e| ProjectionError::Corrupt(e.to_string()))
}

fn uuid_from(bytes: &[u8]) -> Result<Uuid, ProjectionError> {
    Uuid::from_slice(bytes).map_err(|e| ProjectionError::Corrupt(e.to_string()))
}

fn time_from(micros: i64) -> Result<DateTime<Utc>, ProjectionError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| ProjectionError::Corrupt(format!("not a timestamp: {micros}")))
}

fn opt_time(row: &Row<'_>, column: &str) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    row.get::<_, Option<i64>>(column)?
        .map(time_from)
        .transpose()
}

fn opt_uuid(row: &Row<'_>, column: &str) -> Result<Option<Uuid>, ProjectionError> {
    row.get::<_, Option<Vec<u8>>>(column)?
        .map(|bytes| uuid_from(&bytes))
        .transpose()
}

fn account_from_row(row: &Row<'_>) -> Result<AccountRow, ProjectionError> {
    Ok(AccountRow {
        account_id: AccountId(uuid_from(&row.get::<_, Vec<u8>>("account_id")?)?),
        number: row.get("number")?,
        client_id: opt_uuid(row, "client_id")?.map(ClientId),
        currency: currency_from(&row.get::<_, String>("currency")?)?,
        account_type: enum_from::<AccountType>(&row.get::<_, String>("account_type")?)?,
        status: enum_from::<AccountStatus>(&row.get::<_, String>("status")?)?,
        name: row.get("name")?,
        overdraft_limit: decimal(&row.get::<_, String>("overdraft_limit")?)?,
        debits_pending: decimal(&row.get::<_, String>("debits_pending")?)?,
        debits_posted: decimal(&row.get::<_, String>("debits_posted")?)?,
        credits_pending: decimal(&row.get::<_, String>("credits_pending")?)?,
        credits_posted: decimal(&row.get::<_, String>("credits_posted")?)?,
        is_default: row.get("is_default")?,
        order: u32::try_from(row.get::<_, i64>("sort_order")?)
            .map_err(|_| ProjectionError::Corrupt("sort_order is out of range".into()))?,
        version: row.get::<_, i64>("version")? as u64,
        last_position: row.get::<_, i64>("last_position")? as u64,
        created_at: time_from(row.get("created_at")?)?,
        updated_at: time_from(row.get("updated_at")?)?,
    })
}

fn transfer_from_row(row: &Row<'_>) -> Result<TransferRow, ProjectionError> {
    let history: String = row.get("status_history")?;
    let details: Option<String> = row.get("details")?;
    Ok(TransferRow {
        transfer_id: TransferId(uuid_from(&row.get::<_, Vec<u8>>("transfer_id")?)?),
        direction: enum_from(&row.get::<_, String>("direction")?)?,
        status: enum_from(&row.get::<_, String>("status")?)?,
        transfer_type: row
            .get::<_, Option<String>>("transfer_type")?
            .map(|text| enum_from(&text))
            .transpose()?,
        source_account_id: opt_uuid(row, "source_account_id")?.map(AccountId),
        destination_account_id: opt_uuid(row, "destination_account_id")?.map(AccountId),
        recipient_id: opt_uuid(row, "recipient_id")?,
        amount: decimal(&row.get::<_, String>("amount")?)?,
        currency: currency_from(&row.get::<_, String>("currency")?)?,
        fee: row
            .get::<_, Option<String>>("fee")?
            .map(|text| decimal(&text))
            .transpose()?
            .unwrap_or_default(),
        rate: row
            .get::<_, Option<String>>("rate")?
            .map(|text| decimal(&text))
            .transpose()?,
        destination_amount: row
            .get::<_, Option<String>>("destination_amount")?
            .map(|text| decimal(&text))
            .transpose()?,
        destination_currency: row
            .get::<_, Option<String>>("destination_currency")?
            .map(|text| currency_from(&text))
            .transpose()?,
        reference: row.get("reference")?,
        payment_id: PaymentId(uuid_from(&row.get::<_, Vec<u8>>("payment_id")?)?),
        status_history: serde_json::from_str(&history)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        details: match details {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| ProjectionError::Corrupt(e.to_string()))?
            }
            None => TransferDetails::default(),
        },
        created_at: time_from(row.get("created_at")?)?,
        updated_at: time_from(row.get("updated_at")?)?,
        last_position: row.get::<_, i64>("last_position")? as u64,
    })
}

fn document_from_row(row: &Row<'_>) -> Result<DocumentRow, ProjectionError> {
    let kind: String = row.get("owner_kind")?;
    let owner_id = uuid_from(&row.get::<_, Vec<u8>>("owner_id")?)?;
    Ok(DocumentRow {
        document_id: DocumentId(uuid_from(&row.get::<_, Vec<u8>>("document_id")?)?),
        owner: owner_from_columns(&kind, owner_id)
            .ok_or_else(|| ProjectionError::Corrupt(format!("unknown owner kind {kind:?}")))?,
        document_type: enum_from::<DocumentType>(&row.get::<_, String>("document_type")?)?,
        file_name: row.get("file_name")?,
        content_type: row.get("content_type")?,
        size: row.get::<_, i64>("size")? as u64,
        sha256: row.get("sha256")?,
        created_at: time_from(row.get("created_at")?)?,
        deleted_at: opt_time(row, "deleted_at")?,
        last_position: row.get::<_, i64>("last_position")? as u64,
    })
}

fn recipient_from_row(row: &Row<'_>) -> Result<RecipientRow, ProjectionError> {
    let details: String = row.get("details")?;
    Ok(RecipientRow {
        recipient_id: RecipientId(uuid_from(&row.get::<_, Vec<u8>>("recipient_id")?)?),
        client_id: ClientId(uuid_from(&row.get::<_, Vec<u8>>("client_id")?)?),
        is_visible: row.get::<_, String>("visibility")? == visibility_text(true),
        details: serde_json::from_str(&details)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        created_at: time_from(row.get("created_at")?)?,
        updated_at: time_from(row.get("updated_at")?)?,
        last_position: row.get::<_, i64>("last_position")? as u64,
    })
}

fn client_from_row(row: &Row<'_>) -> Result<ClientRow, ProjectionError> {
    let profile: String = row.get("profile")?;
    Ok(ClientRow {
        client_id: ClientId(uuid_from(&row.get::<_, Vec<u8>>("client_id")?)?),
        status: enum_from::<ClientStatus>(&row.get::<_, String>("status")?)?,
        profile: serde_json::from_str(&profile)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        block_reason: row.get("block_reason")?,
        version: row.get::<_, i64>("version")? as u64,
        last_position: row.get::<_, i64>("last_position")? as u64,
        created_at: time_from(row.get("created_at")?)?,
        updated_at: time_from(row.get("updated_at")?)?,
    })
}

fn transaction_from_row(row: &Row<'_>) -> Result<TransactionRow, ProjectionError> {
    let kind: String = row.get("type")?;
    Ok(TransactionRow {
        transaction_id: uuid_from(&row.get::<_, Vec<u8>>("transaction_id")?)?,
        position: row.get::<_, i64>("position")? as u64,
        line: row.get("line")?,
        payment_id: PaymentId(uuid_from(&row.get::<_, Vec<u8>>("payment_id")?)?),
        account_id: AccountId(uuid_from(&row.get::<_, Vec<u8>>("account_id")?)?),
        transaction_type: TransactionType::parse(&kind).ok_or_else(|| {
            ProjectionError::Corrupt(format!("unknown transaction type {kind:?}"))
        })?,
        amount: decimal(&row.get::<_, String>("amount")?)?,
        currency: currency_from(&row.get::<_, String>("currency")?)?,
        balance_after: decimal(&row.get::<_, String>("balance_after")?)?,
        available_after: decimal(&row.get::<_, String>("available_after")?)?,
        description: row.get("description")?,
        created_at: time_from(row.get("created_at")?)?,
    })
}

fn daily_from_row(row: &Row<'_>) -> Result<DailyRow, ProjectionError> {
    let day: String = row.get("day")?;
    Ok(DailyRow {
        account_id: AccountId(uuid_from(&row.get::<_, Vec<u8>>("account_id")?)?),
        day: NaiveDate::from_str(&day).map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        currency: currency_from(&row.get::<_, String>("currency")?)?,
        opening: decimal(&row.get::<_, String>("opening")?)?,
        total_debits: decimal(&row.get::<_, String>("total_debits")?)?,
        total_credits: decimal(&row.get::<_, String>("total_credits")?)?,
        closing: decimal(&row.get::<_, String>("closing")?)?,
        movements: row.get::<_, i64>("movements")? as u64,
    })
}

fn payment_from_row(row: &Row<'_>) -> Result<PaymentRow, ProjectionError> {
    let legs: String = row.get("legs")?;
    let metadata: Option<String> = row.get("metadata")?;
    Ok(PaymentRow {
        payment_id: PaymentId(uuid_from(&row.get::<_, Vec<u8>>("payment_id")?)?),
        status: enum_from::<PaymentStatus>(&row.get::<_, String>("status")?)?,
        legs: serde_json::from_str(&legs).map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        source_account_id: opt_uuid(row, "source_account_id")?.map(AccountId),
        destination_account_id: opt_uuid(row, "destination_account_id")?.map(AccountId),
        amount: decimal(&row.get::<_, String>("amount")?)?,
        currency: currency_from(&row.get::<_, String>("currency")?)?,
        posted_amount: row
            .get::<_, Option<String>>("posted_amount")?
            .map(|text| decimal(&text))
            .transpose()?,
        description: row.get("description")?,
        external_id: row.get("external_id")?,
        metadata: metadata
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        created_at: time_from(row.get("created_at")?)?,
        pended_at: opt_time(row, "pended_at")?,
        posted_at: opt_time(row, "posted_at")?,
        cancelled_at: opt_time(row, "cancelled_at")?,
        expired_at: opt_time(row, "expired_at")?,
        cancel_reason: row.get("cancel_reason")?,
        expires_at: opt_time(row, "expires_at")?,
        last_position: row.get::<_, i64>("last_position")? as u64,
    })
}

/// A WHERE clause built from optional filters, with its bound values.
#[derive(Default, Clone)]
struct Conditions {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    fn any_of(&mut self, column: &str, values: Vec<Value>) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.clauses.push(format!("{column} IN ({marks})"));
        self.values.extend(values);
    }

    fn blobs(&mut self, column: &str, ids: impl IntoIterator<Item = Uuid>) {
        let values = ids
            .into_iter()
            .map(|id| Value::Blob(id.as_bytes().to_vec()))
            .collect();
        self.any_of(column, values);
    }

    fn texts(&mut self, column: &str, texts: impl IntoIterator<Item = String>) {
        let values = texts.into_iter().map(Value::Text).collect();
        self.any_of(column, values);
    }

    fn either_blob(&mut self, first: &str, second: &str, ids: &[Uuid]) {
        let marks = vec!["?"; ids.len()].join(", ");
        self.clauses
            .push(format!("({first} IN ({marks}) OR {second} IN ({marks}))"));
        for _ in 0..2 {
            self.values
                .extend(ids.iter().map(|id| Value::Blob(id.as_bytes().to_vec())));
        }
    }

    /// Rows whose `column` is among the `selected` column of the lookup table (`lookups`)
    /// rows that meet `within`.
    fn looked_up(&mut self, column: &str, selected: &str, lookup_table: &str, within: Conditions) {
        self.clauses.push(format!(
            "{column} IN (SELECT {selected} FROM {lookup_table}{})",
            within.where_clause()
        ));
        self.values.extend(within.values);
    }

    fn time_range(&mut self, column: &str, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) {
        if let Some(from) = from {
            self.integer_at_least(column, from.timestamp_micros());
        }
        if let Some(to) = to {
            self.clauses.push(format!("{column} < ?"));
            self.values.push(Value::Integer(to.timestamp_micros()));
        }
    }

    fn integer_at_least(&mut self, column: &str, value: i64) {
        self.clauses.push(format!("{column} >= ?"));
        self.values.push(Value::Integer(value));
    }

    fn integer_at_most(&mut self, column: &str, value: i64) {
        self.clauses.push(format!("{column} <= ?"));
        self.values.push(Value::Integer(value));
    }

    /// `column LIKE pattern`, with `\` escaping the pattern's literal `%`, `_` and `\`.
    fn like(&mut self, column: &str, pattern: String) {
        self.clauses.push(format!("{column} LIKE ? ESCAPE '\\'"));
        self.values.push(Value::Text(pattern));
    }

    fn text_at_most(&mut self, column: &str, value: String) {
        self.clauses.push(format!("{column} <= ?"));
        self.values.push(Value::Text(value));
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn paged<T>(
    c: &Connection,
    table: &str,
    conditions: &Conditions,
    order: &str,
    page: PageRequest,
    convert: fn(&Row<'_>) -> Result<T, ProjectionError>,
) -> Result<Page<T>, ProjectionError> {
    let listing = Listing {
        columns: "*",
        from: table,
        count_from: table,
        order,
    };
    paged_from(c, &listing, conditions, page, convert)
}

/// What a paged query reads: `columns` of `from` in `order`, counted in `count_from` (the
/// same rows, where the conditions allow fewer tables).
struct Listing<'a> {
    columns: &'a str,
    from: &'a str,
    count_from: &'a str,
    order: &'a str,
}

/// A lookup table driving a join: its rows (already in the listing's order for one key) are
/// read first, and each finds its row in the big table by primary key. CROSS JOIN keeps
/// SQLite from starting at the big table instead.
const ACCOUNT_LINES_JOIN: &str =
    "account_lines l CROSS JOIN transactions t ON t.position = l.position AND t.line = l.line";
const ACCOUNT_PAYMENTS_JOIN: &str =
    "account_payments a CROSS JOIN payments p ON p.payment_id = a.payment_id";

fn paged_from<T>(
    c: &Connection,
    listing: &Listing<'_>,
    conditions: &Conditions,
    page: PageRequest,
    convert: fn(&Row<'_>) -> Result<T, ProjectionError>,
) -> Result<Page<T>, ProjectionError> {
    let Listing {
        columns,
        from,
        count_from,
        order,
    } = listing;
    let where_clause = conditions.where_clause();
    let total: i64 = c.query_row(
        &format!("SELECT COUNT(*) FROM {count_from}{where_clause}"),
        params_from_iter(conditions.values.iter()),
        |row| row.get(0),
    )?;
    let sql = format!(
        "SELECT {columns} FROM {from}{where_clause} ORDER BY {order} LIMIT {} OFFSET {}",
        page.size,
        page.offset()
    );
    let mut statement = c.prepare(&sql)?;
    let mut rows = statement.query(params_from_iter(conditions.values.iter()))?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        items.push(convert(row)?);
    }
    Ok(Page::new(items, page, total as u64))
}
