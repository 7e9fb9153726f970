//! Blue/green rebuilds: fresh `rebuild_rm_*` tables, indexed last, swapped in atomically.

use super::{INDEXES, REBUILD, schema_sql, with_prefix};
use crate::error::ProjectionError;
use crate::fold::FoldScope;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

/// The read-model tables, without prefix. The checkpoints table is shared by both sets.
pub(super) const TABLES: [&str; 9] = [
    "rm_clients",
    "rm_documents",
    "rm_recipients",
    "rm_accounts",
    "rm_ledger_accounts",
    "rm_transactions",
    "rm_daily_balances",
    "rm_payments",
    "rm_transfers",
];

const PREFIX: &str = "rebuild_";

/// Memory for building the indexes of a full history: sorting in memory instead of in
/// temporary files. Only for this transaction.
const INDEX_MEMORY: &str = "SET LOCAL maintenance_work_mem = '256MB'";

/// Drops the tables of an interrupted rebuild and creates empty ones, without secondary indexes
/// (only the primary keys the upserts need).
pub(super) async fn begin(pool: &PgPool) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    drop_tables(&mut tx, PREFIX).await?;
    sqlx::raw_sql(AssertSqlSafe(schema_sql(PREFIX)))
        .execute(&mut *tx)
        .await?;
    // Back to 0, and there for the rebuild's writes to lock.
    sqlx::query(
        "INSERT INTO rm_checkpoints (projection, position) VALUES ($1, 0) \
         ON CONFLICT (projection) DO UPDATE SET position = 0",
    )
    .bind(REBUILD)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Builds the rebuild tables' indexes and gathers their statistics, so the planner knows the
/// tables' sizes from the moment they are swapped in.
pub(super) async fn index(pool: &PgPool) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    sqlx::query(INDEX_MEMORY).execute(&mut *tx).await?;
    sqlx::raw_sql(AssertSqlSafe(with_prefix(INDEXES, PREFIX)))
        .execute(&mut *tx)
        .await?;
    let tables: Vec<String> = TABLES
        .iter()
        .map(|table| format!("{PREFIX}{table}"))
        .collect();
    sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE {};", tables.join(", "))))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// In one transaction: drops the live tables, renames the rebuilt ones (and their indexes and
/// constraints, so the next rebuild's names are free) to the live names, and moves the live
/// checkpoint to the rebuild's. Readers block on the swap for its duration and then see the
/// new tables; nobody ever sees a mix.
pub(super) async fn swap(pool: &PgPool) -> Result<(), ProjectionError> {
    let mut tx = pool.begin().await?;
    let position: i64 = sqlx::query_scalar(
        "SELECT COALESCE((SELECT position FROM rm_checkpoints WHERE projection = $1), 0)",
    )
    .bind(REBUILD)
    .fetch_one(&mut *tx)
    .await?;
    drop_tables(&mut tx, "").await?;
    for table in TABLES {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE {PREFIX}{table} RENAME TO {table};"
        )))
        .execute(&mut *tx)
        .await?;
    }
    // Renaming an index that backs a constraint renames the constraint too.
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
         AND tablename::text = ANY($1) AND starts_with(indexname::text, $2)",
    )
    .bind(
        TABLES
            .iter()
            .map(|table| table.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(PREFIX)
    .fetch_all(&mut *tx)
    .await?;
    for name in indexes {
        let live_name = &name[PREFIX.len()..];
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER INDEX {} RENAME TO {};",
            quote_identifier(&name),
            quote_identifier(live_name)
        )))
        .execute(&mut *tx)
        .await?;
    }
    // Indexes `rebuild_index` was not asked for are built now: the live tables always have all.
    sqlx::raw_sql(AssertSqlSafe(with_prefix(INDEXES, "")))
        .execute(&mut *tx)
        .await?;
    for scope in [FoldScope::Balances, FoldScope::Ledger] {
        sqlx::query(
            "INSERT INTO rm_checkpoints (projection, position) VALUES ($1, $2) \
             ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position",
        )
        .bind(scope.name())
        .bind(position)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM rm_checkpoints WHERE projection = $1")
        .bind(REBUILD)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn drop_tables(
    tx: &mut Transaction<'static, Postgres>,
    prefix: &str,
) -> Result<(), ProjectionError> {
    let tables: Vec<String> = TABLES
        .iter()
        .map(|table| format!("{prefix}{table}"))
        .collect();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS {};",
        tables.join(", ")
    )))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A catalog name as a quoted SQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
