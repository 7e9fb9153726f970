//! The read models on PostgreSQL (sqlx): `rm_*` tables that may share the log's database.

mod filter;
mod rebuild;
mod rows;
mod write;

use crate::error::ProjectionError;
use crate::fold::{Changes, FoldScope, FoldState};
use crate::query::*;
use crate::rows::*;
use crate::store::{ReadModelStore, Tables};
use async_trait::async_trait;
use chrono::NaiveDate;
use filter::Conditions;
use folio_domain::{AccountId, ClientId, Currency, DocumentId, PaymentId, RecipientId, TransferId};
use rows::{
    ACCOUNT_COLUMNS, CLIENT_COLUMNS, DAILY_COLUMNS, DOCUMENT_COLUMNS, PAYMENT_COLUMNS,
    RECIPIENT_COLUMNS, TRANSACTION_COLUMNS, TRANSFER_COLUMNS,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool, Row};
use std::time::Duration;
use uuid::Uuid;

const SCHEMA: &str = include_str!("schema_postgres.sql");
const ACCOUNT_TABLE: &str = include_str!("account_table_postgres.sql");
const INDEXES: &str = include_str!("indexes_postgres.sql");
const REBUILD: &str = "ledger-rebuild";
/// Reads that must agree with each other (a page and its total, a state and its checkpoint)
/// share one snapshot.
const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/// The projector's writer and a few concurrent readers.
const POOL_SIZE: u32 = 6;
/// Serialises schema creation between processes connecting at once: concurrent
/// `CREATE TABLE IF NOT EXISTS` of the same table can still fail on the catalog's unique index.
const SCHEMA_LOCK: i64 = 0x666f_6c69_6f5f_726d; // "folio_rm"

/// The read models in a PostgreSQL database. Cheap to clone; every clone shares the pool.
///
/// Same rows and semantics as [`crate::sqlite::SqliteReadModels`]: a batch and its checkpoint in
/// one transaction, blue/green rebuilds into `rebuild_rm_*` tables, and queries that return the
/// same pages in the same order. Amounts are NUMERIC and travel as text: exact both ways, without
/// turning on an sqlx feature for the whole workspace.
#[derive(Clone)]
pub struct PgReadModels {
    pool: PgPool,
}

impl PgReadModels {
    /// Connects and creates the live tables and their indexes if they are missing.
    pub async fn connect(url: &str) -> Result<PgReadModels, ProjectionError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS rm_checkpoints (\
             projection text PRIMARY KEY, position bigint NOT NULL);",
        )
        .execute(&mut *tx)
        .await?;
        // The live checkpoint rows always exist, so a write always has a row to lock.
        for scope in [FoldScope::Balances, FoldScope::Ledger] {
            sqlx::query(
                "INSERT INTO rm_checkpoints (projection, position) VALUES ($1, 0) \
                 ON CONFLICT (projection) DO NOTHING",
            )
            .bind(scope.name())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::raw_sql(AssertSqlSafe(schema_sql("")))
            .execute(&mut *tx)
            .await?;
        // Read models created before accounts had a default flag and an order (false and 0:
        // no event set them before).
        sqlx::raw_sql(
            "ALTER TABLE rm_accounts ADD COLUMN IF NOT EXISTS is_default boolean NOT NULL DEFAULT false, \
             ADD COLUMN IF NOT EXISTS sort_order integer NOT NULL DEFAULT 0; \
             ALTER TABLE rm_ledger_accounts ADD COLUMN IF NOT EXISTS is_default boolean NOT NULL DEFAULT false, \
             ADD COLUMN IF NOT EXISTS sort_order integer NOT NULL DEFAULT 0; \
             ALTER TABLE rm_transfers ADD COLUMN IF NOT EXISTS details jsonb, \
             ADD COLUMN IF NOT EXISTS destination_amount numeric, \
             ADD COLUMN IF NOT EXISTS destination_currency text;",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::raw_sql(AssertSqlSafe(with_prefix(INDEXES, "")))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(PgReadModels { pool })
    }

    /// The connection pool (for tests and tools that inspect the tables).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Every table of the read models, named with `prefix`: both scopes' account tables from one
/// definition, then the rest.
fn schema_sql(prefix: &'static str) -> String {
    let mut sql = String::new();
    for scope in [FoldScope::Balances, FoldScope::Ledger] {
        sql.push_str(&ACCOUNT_TABLE.replace("{t}", write::accounts_table(scope)));
    }
    sql.push_str(SCHEMA);
    with_prefix(&sql, prefix)
}

/// A schema or index script for one set of tables. Only the two constant prefixes are ever
/// substituted, which is why the result may be run as SQL.
fn with_prefix(script: &str, prefix: &'static str) -> String {
    script.replace("{p}", prefix)
}

/// The table prefix and checkpoint name of a set of tables.
fn target(tables: Tables, scope: FoldScope) -> (&'static str, &'static str) {
    match tables {
        Tables::Live => ("", scope.name()),
        Tables::Rebuild => ("rebuild_", REBUILD),
    }
}

async fn read_checkpoint<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    name: &str,
) -> Result<u64, ProjectionError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM rm_checkpoints WHERE projection = $1")
            .bind(name)
            .fetch_optional(executor)
            .await?;
    rows::to_u64(position.unwrap_or(0), "checkpoint")
}

#[async_trait]
impl ReadModelStore for PgReadModels {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn checkpoint(&self, scope: FoldScope) -> Result<u64, ProjectionError> {
        read_checkpoint(&self.pool, scope.name()).await
    }

    async fn load_state(&self, scope: FoldScope) -> Result<FoldState, ProjectionError> {
        // One snapshot, so the checkpoint matches the rows read with it.
        let mut tx = self.pool.begin_with(SNAPSHOT).await?;
        let position = read_checkpoint(&mut *tx, scope.name()).await?;
        let accounts = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM {}",
            write::accounts_table(scope)
        )))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::account)
        .collect::<Result<_, _>>()?;
        if scope == FoldScope::Balances {
            tx.commit().await?;
            return Ok(FoldState {
                accounts,
                latest_days: Vec::new(),
                open_payments: Vec::new(),
                clients: Vec::new(),
                open_transfers: Vec::new(),
                position,
            });
        }
        let open_transfers = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TRANSFER_COLUMNS} FROM rm_transfers \
             WHERE status NOT IN ('completed', 'cancelled', 'rejected', 'failed')"
        )))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::transfer)
        .collect::<Result<_, _>>()?;
        let clients = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM rm_clients"
        )))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::client)
        .collect::<Result<_, _>>()?;
        // Each account's latest day.
        let latest_days = sqlx::query(AssertSqlSafe(format!(
            "SELECT DISTINCT ON (account_id) {DAILY_COLUMNS} FROM rm_daily_balances \
             ORDER BY account_id, day DESC"
        )))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::daily)
        .collect::<Result<_, _>>()?;
        let open_payments = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM rm_payments WHERE status IN ('draft', 'pending')"
        )))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::payment)
        .collect::<Result<_, _>>()?;
        tx.commit().await?;
        Ok(FoldState {
            accounts,
            latest_days,
            open_payments,
            clients,
            open_transfers,
            position,
        })
    }

    async fn write(&self, tables: Tables, changes: Changes) -> Result<(), ProjectionError> {
        let (prefix, checkpoint) = target(tables, changes.scope);
        write::write(&self.pool, prefix, checkpoint, &changes).await
    }

    async fn rebuild_begin(&self) -> Result<(), ProjectionError> {
        rebuild::begin(&self.pool).await
    }

    async fn rebuild_checkpoint(&self) -> Result<u64, ProjectionError> {
        read_checkpoint(&self.pool, REBUILD).await
    }

    async fn rebuild_index(&self) -> Result<(), ProjectionError> {
        rebuild::index(&self.pool).await
    }

    async fn rebuild_swap(&self) -> Result<(), ProjectionError> {
        rebuild::swap(&self.pool).await
    }

    async fn repair_counters(
        &self,
        scope: FoldScope,
        at: u64,
        counters: Vec<Counters>,
    ) -> Result<Vec<AccountId>, ProjectionError> {
        write::repair_counters(&self.pool, scope, at, &counters).await
    }

    async fn replace_daily_rows(
        &self,
        at: u64,
        accounts: &[AccountId],
        from: NaiveDate,
        rows: Vec<DailyRow>,
    ) -> Result<u64, ProjectionError> {
        write::replace_daily_rows(&self.pool, at, accounts, from, &rows).await
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM rm_accounts WHERE account_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::account)
        .transpose()
    }

    async fn account_by_number(&self, number: &str) -> Result<Option<AccountRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM rm_accounts WHERE number = $1"
        )))
        .bind(number)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::account)
        .transpose()
    }

    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: PageRequest,
    ) -> Result<Page<AccountRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.uuids("client_id", filter.client_ids.iter().map(|id| id.0));
        conditions.uuids("account_id", filter.account_ids.iter().map(|id| id.0));
        conditions.texts("number", filter.numbers.iter().cloned());
        conditions.texts(
            "currency",
            filter.currencies.iter().map(|c| c.code().to_string()),
        );
        conditions.texts("status", filter.statuses.iter().map(rows::enum_text));
        conditions.texts("account_type", filter.types.iter().map(rows::enum_text));
        filter::paged(
            &self.pool,
            "rm_accounts",
            ACCOUNT_COLUMNS,
            &conditions,
            "created_at, account_id",
            page,
            rows::account,
        )
        .await
    }

    async fn transfer(&self, id: TransferId) -> Result<Option<TransferRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {TRANSFER_COLUMNS} FROM rm_transfers WHERE transfer_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::transfer)
        .transpose()
    }

    async fn transfers(
        &self,
        filter: &TransferFilter,
        page: PageRequest,
    ) -> Result<Page<TransferRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.texts("direction", filter.directions.iter().map(rows::enum_text));
        conditions.texts("status", filter.statuses.iter().map(rows::enum_text));
        conditions.either_uuid(
            "source_account_id",
            "destination_account_id",
            filter.account_ids.iter().map(|id| id.0),
        );
        conditions.time_range("created_at", filter.from, filter.to);
        filter::paged(
            &self.pool,
            "rm_transfers",
            TRANSFER_COLUMNS,
            &conditions,
            "created_at DESC, transfer_id",
            page,
            rows::transfer,
        )
        .await
    }

    async fn recipient(&self, id: RecipientId) -> Result<Option<RecipientRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RECIPIENT_COLUMNS} FROM rm_recipients WHERE recipient_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::recipient)
        .transpose()
    }

    async fn recipients(
        &self,
        filter: &RecipientFilter,
        page: PageRequest,
    ) -> Result<Page<RecipientRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.uuids("client_id", filter.client_id.map(|id| id.0));
        if !filter.include_hidden {
            conditions.texts("visibility", [visibility_text(true).to_string()]);
        }
        filter::paged(
            &self.pool,
            "rm_recipients",
            RECIPIENT_COLUMNS,
            &conditions,
            "created_at, recipient_id",
            page,
            rows::recipient,
        )
        .await
    }

    async fn client(&self, id: ClientId) -> Result<Option<ClientRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM rm_clients WHERE client_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::client)
        .transpose()
    }

    async fn clients(
        &self,
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<Page<ClientRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.uuids("client_id", filter.client_ids.iter().map(|id| id.0));
        conditions.texts("status", filter.statuses.iter().map(rows::enum_text));
        conditions.texts("client_type", filter.types.iter().map(rows::enum_text));
        if let Some(pattern) = filter.search_pattern() {
            conditions.like("search_text", pattern);
        }
        filter::paged(
            &self.pool,
            "rm_clients",
            CLIENT_COLUMNS,
            &conditions,
            "created_at, client_id",
            page,
            rows::client,
        )
        .await
    }

    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {DOCUMENT_COLUMNS} FROM rm_documents WHERE document_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::document)
        .transpose()
    }

    async fn documents(
        &self,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<DocumentRow>, ProjectionError> {
        let (kind, id) = owner_columns(filter.owner);
        let mut conditions = Conditions::default();
        conditions.uuids("owner_id", [id]);
        conditions.texts("owner_kind", [kind.to_string()]);
        if !filter.include_deleted {
            conditions.fixed("deleted_at IS NULL");
        }
        filter::paged(
            &self.pool,
            "rm_documents",
            DOCUMENT_COLUMNS,
            &conditions,
            "created_at, document_id",
            page,
            rows::document,
        )
        .await
    }

    async fn payment(&self, id: PaymentId) -> Result<Option<PaymentRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM rm_payments WHERE payment_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::payment)
        .transpose()
    }

    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<PaymentRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.either_uuid(
            "source_account_id",
            "destination_account_id",
            filter.account_ids.iter().map(|id| id.0),
        );
        conditions.texts("status", filter.statuses.iter().map(rows::enum_text));
        conditions.texts(
            "currency",
            filter.currencies.iter().map(|c| c.code().to_string()),
        );
        conditions.time_range("created_at", filter.from, filter.to);
        filter::paged(
            &self.pool,
            "rm_payments",
            PAYMENT_COLUMNS,
            &conditions,
            "created_at, payment_id",
            page,
            rows::payment,
        )
        .await
    }

    async fn transaction(&self, id: Uuid) -> Result<Option<TransactionRow>, ProjectionError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {TRANSACTION_COLUMNS} FROM rm_transactions WHERE transaction_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::transaction)
        .transpose()
    }

    async fn transactions(
        &self,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<TransactionRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.uuids("account_id", filter.account_ids.iter().map(|id| id.0));
        conditions.uuids("payment_id", filter.payment_ids.iter().map(|id| id.0));
        conditions.texts("type", filter.types.iter().map(|t| t.as_str().to_string()));
        conditions.texts(
            "currency",
            filter.currencies.iter().map(|c| c.code().to_string()),
        );
        conditions.time_range("created_at", filter.from, filter.to);
        // NUMERIC compares exactly, whatever the bound's precision.
        if let Some(from) = filter.amount_from {
            conditions.numeric_at_least("amount", from);
        }
        if let Some(to) = filter.amount_to {
            conditions.numeric_at_most("amount", to);
        }
        filter::paged(
            &self.pool,
            "rm_transactions",
            TRANSACTION_COLUMNS,
            &conditions,
            "position, line",
            page,
            rows::transaction,
        )
        .await
    }

    async fn last_transactions(&self) -> Result<Vec<TransactionRow>, ProjectionError> {
        let sql = format!(
            "SELECT DISTINCT ON (account_id) {TRANSACTION_COLUMNS} FROM rm_transactions \
             ORDER BY account_id, position DESC, line DESC"
        );
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::transaction)
            .collect()
    }

    async fn daily_rows(
        &self,
        account_ids: &[AccountId],
        until: NaiveDate,
    ) -> Result<Vec<DailyRow>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.uuids("account_id", account_ids.iter().map(|id| id.0));
        conditions.day_at_most("day", until);
        let sql = format!(
            "SELECT {DAILY_COLUMNS} FROM rm_daily_balances{} ORDER BY account_id, day",
            conditions.where_clause()
        );
        conditions
            .bind_all(sqlx::query(AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::daily)
            .collect()
    }

    async fn totals(
        &self,
        client_id: Option<ClientId>,
        currency: Option<Currency>,
    ) -> Result<Vec<CurrencyTotals>, ProjectionError> {
        let mut conditions = Conditions::default();
        conditions.uuids("client_id", client_id.map(|id| id.0));
        conditions.texts("currency", currency.map(|c| c.code().to_string()));
        // NUMERIC sums are exact. Byte order of the codes (COLLATE "C"), as SQLite sorts them,
        // whatever the database's locale.
        let sql = format!(
            "SELECT currency, SUM(balance)::text AS balance, SUM(held)::text AS held, \
             SUM(available)::text AS available, COUNT(*) AS accounts FROM rm_accounts{} \
             GROUP BY currency ORDER BY currency COLLATE \"C\"",
            conditions.where_clause()
        );
        conditions
            .bind_all(sqlx::query(AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(CurrencyTotals {
                    currency: rows::currency(&row.try_get::<String, _>("currency")?)?,
                    balance: rows::decimal(&row.try_get::<String, _>("balance")?)?,
                    held: rows::decimal(&row.try_get::<String, _>("held")?)?,
                    available: rows::decimal(&row.try_get::<String, _>("available")?)?,
                    accounts: rows::to_u64(row.try_get::<i64, _>("accounts")?, "account count")?,
                })
            })
            .collect()
    }
}
