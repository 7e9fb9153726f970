//! A batch's rows and its checkpoint in one transaction, one `INSERT … UNNEST` per table.

use super::rows::{enum_text, to_i64};
use crate::error::ProjectionError;
use crate::fold::{Changes, FoldScope};
use crate::rows::{
    AccountRow, ClientRow, Counters, DailyRow, DocumentDeletion, DocumentRow, PaymentRow,
    RecipientRow, RecipientVisibility, TransactionRow, TransferRow, visibility_text,
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use uuid::Uuid;

/// Each table's rows go in one `INSERT … SELECT * FROM UNNEST(…)` per chunk, each column bound
/// as one array: one round trip and one plan for thousands of rows.
///
/// Rows per statement: large enough that round trips vanish in a rebuild's 50,000-event
/// batches, small enough to keep each bind message a few megabytes.
const CHUNK: usize = 10_000;

/// Locks the checkpoint row: writers of the same tables take turns, and each sees the position
/// the last one committed.
const LOCK_CHECKPOINT: &str =
    "SELECT position FROM rm_checkpoints WHERE projection = $1 FOR UPDATE";

/// Moves the checkpoint forward only (the row may be missing: then it is created).
const MOVE_CHECKPOINT: &str = "INSERT INTO rm_checkpoints (projection, position) VALUES ($1, $2) \
     ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position \
     WHERE rm_checkpoints.position < EXCLUDED.position";

/// Writes `changes` to the tables with `prefix` and moves `checkpoint`, all in one transaction.
/// A batch at or below the checkpoint is ignored, so a retried write never double-applies.
pub(super) async fn write(
    pool: &PgPool,
    prefix: &'static str,
    checkpoint: &str,
    changes: &Changes,
) -> Result<(), ProjectionError> {
    // No checkpoint reads as 0, and a batch at 0 is at it.
    if changes.position == 0 {
        return Ok(());
    }
    let position = to_i64(changes.position, "position")?;
    let mut tx = pool.begin().await?;
    let previous: Option<i64> = sqlx::query_scalar(LOCK_CHECKPOINT)
        .bind(checkpoint)
        .fetch_optional(&mut *tx)
        .await?;
    let previous = previous.unwrap_or(0);
    if position <= previous {
        // Stale: dropping `tx` rolls it back.
        return Ok(());
    }
    let moved = sqlx::query(MOVE_CHECKPOINT)
        .bind(checkpoint)
        .bind(position)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if moved == 0 {
        // Another writer created the missing row meanwhile and got further.
        return Ok(());
    }
    // A row may appear twice in one batch (an upsert cannot touch a row twice in a statement):
    // the last one wins, as successive `INSERT OR REPLACE`s do on SQLite.
    // A rebuild fills both scopes' account tables from its one fold.
    let mut account_tables = vec![accounts_table(changes.scope)];
    if prefix == "rebuild_" && changes.scope == FoldScope::Ledger {
        account_tables.push(accounts_table(FoldScope::Balances));
    }
    for table in account_tables {
        for chunk in last_per_key(&changes.accounts, |a| a.account_id).chunks(CHUNK) {
            accounts(&mut tx, prefix, table, chunk).await?;
        }
    }
    for chunk in new_lines(&changes.transactions, previous).chunks(CHUNK) {
        transactions(&mut tx, prefix, chunk).await?;
    }
    for chunk in last_per_key(&changes.daily, |d| (d.account_id, d.day)).chunks(CHUNK) {
        daily(&mut tx, prefix, chunk).await?;
    }
    for chunk in last_per_key(&changes.payments, |p| p.payment_id).chunks(CHUNK) {
        payments(&mut tx, prefix, chunk).await?;
    }
    for chunk in last_per_key(&changes.clients, |c| c.client_id).chunks(CHUNK) {
        clients(&mut tx, prefix, chunk).await?;
    }
    for chunk in last_per_key(&changes.transfers, |t| t.transfer_id).chunks(CHUNK) {
        transfers(&mut tx, prefix, chunk).await?;
    }
    for chunk in last_per_key(&changes.documents, |d| d.document_id).chunks(CHUNK) {
        documents(&mut tx, prefix, chunk).await?;
    }
    for chunk in changes.deleted_documents.chunks(CHUNK) {
        document_deletions(&mut tx, prefix, chunk).await?;
    }
    for chunk in last_per_key(&changes.recipients, |r| r.recipient_id).chunks(CHUNK) {
        recipients(&mut tx, prefix, chunk).await?;
    }
    // In log order, after the rows they change (written by earlier batches).
    for change in &changes.recipient_visibility {
        recipient_visibility(&mut tx, prefix, change).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Locks `scope`'s checkpoint row and fails unless it is still at `at`: the projector's own
/// writes lock the same row, so none can commit between this check and the repair's commit.
async fn expect_checkpoint(tx: &mut Tx, scope: FoldScope, at: u64) -> Result<(), ProjectionError> {
    let found: Option<i64> = sqlx::query_scalar(LOCK_CHECKPOINT)
        .bind(scope.name())
        .fetch_optional(&mut **tx)
        .await?;
    let found = u64::try_from(found.unwrap_or(0)).unwrap_or(0);
    if found != at {
        return Err(ProjectionError::CheckpointMoved {
            scope: scope.name(),
            expected: at,
            found,
        });
    }
    Ok(())
}

/// Ops' repair of account counters (see `ReadModelStore::repair_counters`).
pub(super) async fn repair_counters(
    pool: &PgPool,
    scope: FoldScope,
    at: u64,
    counters: &[Counters],
) -> Result<Vec<folio_domain::AccountId>, ProjectionError> {
    let table = accounts_table(scope);
    let mut tx = pool.begin().await?;
    expect_checkpoint(&mut tx, scope, at).await?;
    let mut changed = Vec::new();
    for fix in counters {
        let [balance, held, available] = fix.amounts();
        // NUMERIC compares by value, so 10 and 10.00 are the same counter.
        let updated = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET debits_pending = $2::numeric, debits_posted = $3::numeric, \
             credits_pending = $4::numeric, credits_posted = $5::numeric, balance = $6::numeric, \
             held = $7::numeric, available = $8::numeric WHERE account_id = $1 \
             AND (debits_pending, debits_posted, credits_pending, credits_posted) \
             IS DISTINCT FROM ($2::numeric, $3::numeric, $4::numeric, $5::numeric)"
        )))
        .bind(fix.account_id.0)
        .bind(fix.debits_pending.to_string())
        .bind(fix.debits_posted.to_string())
        .bind(fix.credits_pending.to_string())
        .bind(fix.credits_posted.to_string())
        .bind(balance.to_string())
        .bind(held.to_string())
        .bind(available.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated > 0 {
            changed.push(fix.account_id);
        }
    }
    tx.commit().await?;
    Ok(changed)
}

/// Ops' rewrite of daily balances (see `ReadModelStore::replace_daily_rows`).
pub(super) async fn replace_daily_rows(
    pool: &PgPool,
    at: u64,
    account_ids: &[folio_domain::AccountId],
    from: NaiveDate,
    rows: &[DailyRow],
) -> Result<u64, ProjectionError> {
    let mut tx = pool.begin().await?;
    expect_checkpoint(&mut tx, FoldScope::Ledger, at).await?;
    let ids: Vec<Uuid> = account_ids.iter().map(|id| id.0).collect();
    sqlx::query(
        "DELETE FROM rm_daily_balances WHERE day >= $1 \
         AND (cardinality($2::uuid[]) = 0 OR account_id = ANY($2::uuid[]))",
    )
    .bind(from)
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<&DailyRow> = last_per_key(rows, |d| (d.account_id, d.day));
    for chunk in rows.chunks(CHUNK) {
        daily(&mut tx, "", chunk).await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// The statement lines not stored yet, each (position, line) once, the first kept — what
/// `INSERT OR IGNORE` keeps on SQLite. Lines are only ever written with a checkpoint at or past
/// their position, so every line at or below `previous` is stored and every later one is not:
/// a plain INSERT suffices, without the cost of `ON CONFLICT` (about 40% of the statement).
fn new_lines(lines: &[TransactionRow], previous: i64) -> Vec<&TransactionRow> {
    let mut seen = HashSet::with_capacity(lines.len());
    lines
        .iter()
        .filter(|t| i64::try_from(t.position).map_or(true, |position| position > previous))
        .filter(|t| seen.insert((t.position, t.line)))
        .collect()
}

/// The rows in order, keeping only the last of each key.
fn last_per_key<T, K: Eq + Hash>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut last: HashMap<K, usize> = HashMap::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        last.insert(key(row), index);
    }
    rows.iter()
        .enumerate()
        .filter(|(index, row)| last.get(&key(row)) == Some(index))
        .map(|(_, row)| row)
        .collect()
}

type Tx = Transaction<'static, Postgres>;

/// The table a scope keeps its account rows in.
pub(super) fn accounts_table(scope: FoldScope) -> &'static str {
    match scope {
        FoldScope::Balances => "rm_accounts",
        FoldScope::Ledger => "rm_ledger_accounts",
    }
}

async fn accounts(
    tx: &mut Tx,
    prefix: &str,
    table: &str,
    rows: &[&AccountRow],
) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut numbers = Vec::with_capacity(n);
    let mut clients: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut names: Vec<Option<String>> = Vec::with_capacity(n);
    let mut amounts: [Vec<String>; 8] = Default::default();
    let mut versions = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    let mut created: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut updated: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut defaults: Vec<bool> = Vec::with_capacity(n);
    let mut orders: Vec<i32> = Vec::with_capacity(n);
    for a in rows {
        defaults.push(a.is_default);
        orders
            .push(i32::try_from(a.order).map_err(|_| {
                ProjectionError::Corrupt(format!("order {} is too large", a.order))
            })?);
        ids.push(a.account_id.0);
        numbers.push(a.number.clone());
        clients.push(a.client_id.map(|id| id.0));
        currencies.push(a.currency.code().to_string());
        types.push(enum_text(&a.account_type));
        statuses.push(enum_text(&a.status));
        names.push(a.name.clone());
        let values = [
            a.overdraft_limit,
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
            a.balance(),
            a.held(),
            a.available_balance(),
        ];
        for (column, value) in amounts.iter_mut().zip(values) {
            column.push(value.to_string());
        }
        versions.push(to_i64(a.version, "version")?);
        positions.push(to_i64(a.last_position, "last_position")?);
        created.push(a.created_at);
        updated.push(a.updated_at);
    }
    let [
        overdraft,
        debits_pending,
        debits_posted,
        credits_pending,
        credits_posted,
        balance,
        held,
        available,
    ] = amounts;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}{table} (account_id, number, client_id, currency, account_type, \
         status, name, overdraft_limit, debits_pending, debits_posted, credits_pending, \
         credits_posted, balance, held, available, version, last_position, created_at, updated_at, \
         is_default, sort_order) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[], \
         $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::bigint[], \
         $17::bigint[], $18::timestamptz[], $19::timestamptz[], $20::boolean[], $21::integer[]) \
         ON CONFLICT (account_id) DO UPDATE SET number = EXCLUDED.number, \
         client_id = EXCLUDED.client_id, currency = EXCLUDED.currency, \
         account_type = EXCLUDED.account_type, status = EXCLUDED.status, name = EXCLUDED.name, \
         overdraft_limit = EXCLUDED.overdraft_limit, debits_pending = EXCLUDED.debits_pending, \
         debits_posted = EXCLUDED.debits_posted, credits_pending = EXCLUDED.credits_pending, \
         credits_posted = EXCLUDED.credits_posted, balance = EXCLUDED.balance, \
         held = EXCLUDED.held, available = EXCLUDED.available, version = EXCLUDED.version, \
         last_position = EXCLUDED.last_position, created_at = EXCLUDED.created_at, \
         updated_at = EXCLUDED.updated_at, is_default = EXCLUDED.is_default, \
         sort_order = EXCLUDED.sort_order"
    )))
    .bind(ids)
    .bind(numbers)
    .bind(clients)
    .bind(currencies)
    .bind(types)
    .bind(statuses)
    .bind(names)
    .bind(overdraft)
    .bind(debits_pending)
    .bind(debits_posted)
    .bind(credits_pending)
    .bind(credits_posted)
    .bind(balance)
    .bind(held)
    .bind(available)
    .bind(versions)
    .bind(positions)
    .bind(created)
    .bind(updated)
    .bind(defaults)
    .bind(orders)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn transfers(
    tx: &mut Tx,
    prefix: &str,
    rows: &[&TransferRow],
) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut directions = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut types: Vec<Option<String>> = Vec::with_capacity(n);
    let mut sources: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut destinations: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut recipients: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut amounts: Vec<String> = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut fees: Vec<String> = Vec::with_capacity(n);
    let mut rates: Vec<Option<String>> = Vec::with_capacity(n);
    let mut destination_amounts: Vec<Option<String>> = Vec::with_capacity(n);
    let mut destination_currencies: Vec<Option<String>> = Vec::with_capacity(n);
    let mut references: Vec<Option<String>> = Vec::with_capacity(n);
    let mut payments = Vec::with_capacity(n);
    let mut histories = Vec::with_capacity(n);
    let mut details = Vec::with_capacity(n);
    let mut created: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut updated: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    for t in rows {
        ids.push(t.transfer_id.0);
        directions.push(enum_text(&t.direction));
        statuses.push(enum_text(&t.status));
        types.push(t.transfer_type.as_ref().map(enum_text));
        sources.push(t.source_account_id.map(|id| id.0));
        destinations.push(t.destination_account_id.map(|id| id.0));
        recipients.push(t.recipient_id);
        amounts.push(t.amount.to_string());
        currencies.push(t.currency.code().to_string());
        fees.push(t.fee.to_string());
        rates.push(t.rate.map(|rate| rate.to_string()));
        destination_amounts.push(t.destination_amount.map(|amount| amount.to_string()));
        destination_currencies.push(t.destination_currency.map(|c| c.code().to_string()));
        references.push(t.reference.clone());
        payments.push(t.payment_id.0);
        histories.push(
            serde_json::to_string(&t.status_history)
                .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        );
        details.push(
            serde_json::to_string(&t.details)
                .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        );
        created.push(t.created_at);
        updated.push(t.updated_at);
        positions.push(to_i64(t.last_position, "last_position")?);
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}rm_transfers (transfer_id, direction, status, transfer_type, \
         source_account_id, destination_account_id, recipient_id, amount, currency, fee, rate, \
         reference, payment_id, status_history, details, created_at, updated_at, last_position, \
         destination_amount, destination_currency) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], \
         $6::uuid[], $7::uuid[], $8::numeric[], $9::text[], $10::numeric[], $11::numeric[], \
         $12::text[], $13::uuid[], $14::jsonb[], $15::jsonb[], $16::timestamptz[], \
         $17::timestamptz[], $18::bigint[], $19::numeric[], $20::text[]) \
         ON CONFLICT (transfer_id) DO UPDATE SET direction = EXCLUDED.direction, \
         status = EXCLUDED.status, transfer_type = EXCLUDED.transfer_type, \
         source_account_id = EXCLUDED.source_account_id, \
         destination_account_id = EXCLUDED.destination_account_id, \
         recipient_id = EXCLUDED.recipient_id, amount = EXCLUDED.amount, \
         currency = EXCLUDED.currency, fee = EXCLUDED.fee, rate = EXCLUDED.rate, \
         reference = EXCLUDED.reference, payment_id = EXCLUDED.payment_id, \
         status_history = EXCLUDED.status_history, details = EXCLUDED.details, \
         created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, \
         last_position = EXCLUDED.last_position, \
         destination_amount = EXCLUDED.destination_amount, \
         destination_currency = EXCLUDED.destination_currency"
    )))
    .bind(ids)
    .bind(directions)
    .bind(statuses)
    .bind(types)
    .bind(sources)
    .bind(destinations)
    .bind(recipients)
    .bind(amounts)
    .bind(currencies)
    .bind(fees)
    .bind(rates)
    .bind(references)
    .bind(payments)
    .bind(histories)
    .bind(details)
    .bind(created)
    .bind(updated)
    .bind(positions)
    .bind(destination_amounts)
    .bind(destination_currencies)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn documents(
    tx: &mut Tx,
    prefix: &str,
    rows: &[&DocumentRow],
) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut content_types = Vec::with_capacity(n);
    let mut sizes = Vec::with_capacity(n);
    let mut digests = Vec::with_capacity(n);
    let mut created: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut deleted: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    for d in rows {
        let (kind, owner) = d.owner_columns();
        ids.push(d.document_id.0);
        kinds.push(kind.to_string());
        owners.push(owner);
        types.push(enum_text(&d.document_type));
        names.push(d.file_name.clone());
        content_types.push(d.content_type.clone());
        sizes.push(to_i64(d.size, "size")?);
        digests.push(d.sha256.clone());
        created.push(d.created_at);
        deleted.push(d.deleted_at);
        positions.push(to_i64(d.last_position, "last_position")?);
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}rm_documents (document_id, owner_kind, owner_id, document_type, \
         file_name, content_type, size, sha256, created_at, deleted_at, last_position) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
         $6::text[], $7::bigint[], $8::text[], $9::timestamptz[], $10::timestamptz[], \
         $11::bigint[]) \
         ON CONFLICT (document_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, \
         last_position = EXCLUDED.last_position"
    )))
    .bind(ids)
    .bind(kinds)
    .bind(owners)
    .bind(types)
    .bind(names)
    .bind(content_types)
    .bind(sizes)
    .bind(digests)
    .bind(created)
    .bind(deleted)
    .bind(positions)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn document_deletions(
    tx: &mut Tx,
    prefix: &str,
    rows: &[DocumentDeletion],
) -> Result<(), ProjectionError> {
    let ids: Vec<Uuid> = rows.iter().map(|d| d.document_id.0).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|d| d.deleted_at).collect();
    let positions = rows
        .iter()
        .map(|d| to_i64(d.last_position, "last_position"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {prefix}rm_documents d SET deleted_at = u.deleted_at, \
         last_position = u.last_position \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::bigint[]) \
         AS u(document_id, deleted_at, last_position) WHERE d.document_id = u.document_id"
    )))
    .bind(ids)
    .bind(at)
    .bind(positions)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn recipients(
    tx: &mut Tx,
    prefix: &str,
    rows: &[&RecipientRow],
) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut clients = Vec::with_capacity(n);
    let mut visibilities = Vec::with_capacity(n);
    let mut details = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    let mut created: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut updated: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    for r in rows {
        ids.push(r.recipient_id.0);
        clients.push(r.client_id.0);
        visibilities.push(r.visibility());
        details.push(
            serde_json::to_string(&r.details)
                .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        );
        positions.push(to_i64(r.last_position, "last_position")?);
        created.push(r.created_at);
        updated.push(r.updated_at);
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}rm_recipients (recipient_id, client_id, visibility, details, \
         last_position, created_at, updated_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::bigint[], \
         $6::timestamptz[], $7::timestamptz[]) \
         ON CONFLICT (recipient_id) DO UPDATE SET client_id = EXCLUDED.client_id, \
         visibility = EXCLUDED.visibility, details = EXCLUDED.details, \
         last_position = EXCLUDED.last_position, created_at = EXCLUDED.created_at, \
         updated_at = EXCLUDED.updated_at"
    )))
    .bind(ids)
    .bind(clients)
    .bind(visibilities)
    .bind(details)
    .bind(positions)
    .bind(created)
    .bind(updated)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn recipient_visibility(
    tx: &mut Tx,
    prefix: &str,
    change: &RecipientVisibility,
) -> Result<(), ProjectionError> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {prefix}rm_recipients SET visibility = $2, last_position = $3, updated_at = $4 \
         WHERE recipient_id = $1"
    )))
    .bind(change.recipient_id.0)
    .bind(visibility_text(change.is_visible))
    .bind(to_i64(change.position, "last_position")?)
    .bind(change.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn clients(tx: &mut Tx, prefix: &str, rows: &[&ClientRow]) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut emails: Vec<Option<String>> = Vec::with_capacity(n);
    let mut phones: Vec<Option<String>> = Vec::with_capacity(n);
    let mut searches = Vec::with_capacity(n);
    let mut profiles = Vec::with_capacity(n);
    let mut reasons: Vec<Option<String>> = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    let mut created: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut updated: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    for c in rows {
        ids.push(c.client_id.0);
        types.push(enum_text(&c.profile.client_type));
        statuses.push(enum_text(&c.status));
        names.push(c.profile.legal_name.clone());
        emails.push(c.profile.email.clone());
        phones.push(c.profile.phone_number.clone());
        searches.push(c.search_text());
        profiles.push(
            serde_json::to_string(&c.profile)
                .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        );
        reasons.push(c.block_reason.clone());
        versions.push(to_i64(c.version, "version")?);
        positions.push(to_i64(c.last_position, "last_position")?);
        created.push(c.created_at);
        updated.push(c.updated_at);
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}rm_clients (client_id, client_type, status, legal_name, email, \
         phone_number, search_text, profile, block_reason, version, last_position, created_at, \
         updated_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::bigint[], $11::bigint[], \
         $12::timestamptz[], $13::timestamptz[]) \
         ON CONFLICT (client_id) DO UPDATE SET client_type = EXCLUDED.client_type, \
         status = EXCLUDED.status, legal_name = EXCLUDED.legal_name, email = EXCLUDED.email, \
         phone_number = EXCLUDED.phone_number, search_text = EXCLUDED.search_text, \
         profile = EXCLUDED.profile, block_reason = EXCLUDED.block_reason, \
         version = EXCLUDED.version, last_position = EXCLUDED.last_position, \
         created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at"
    )))
    .bind(ids)
    .bind(types)
    .bind(statuses)
    .bind(names)
    .bind(emails)
    .bind(phones)
    .bind(searches)
    .bind(profiles)
    .bind(reasons)
    .bind(versions)
    .bind(positions)
    .bind(created)
    .bind(updated)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn transactions(
    tx: &mut Tx,
    prefix: &str,
    rows: &[&TransactionRow],
) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut positions = Vec::with_capacity(n);
    let mut lines = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut payments = Vec::with_capacity(n);
    let mut accounts = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut balances = Vec::with_capacity(n);
    let mut availables = Vec::with_capacity(n);
    let mut descriptions: Vec<Option<String>> = Vec::with_capacity(n);
    let mut created: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    for t in rows {
        positions.push(to_i64(t.position, "position")?);
        lines.push(i64::from(t.line));
        ids.push(t.transaction_id);
        payments.push(t.payment_id.0);
        accounts.push(t.account_id.0);
        types.push(t.transaction_type.as_str().to_string());
        amounts.push(t.amount.to_string());
        currencies.push(t.currency.code().to_string());
        balances.push(t.balance_after.to_string());
        availables.push(t.available_after.to_string());
        descriptions.push(t.description.clone());
        created.push(t.created_at);
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}rm_transactions (position, line, transaction_id, payment_id, \
         account_id, type, amount, currency, balance_after, available_after, description, \
         created_at) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::uuid[], $4::uuid[], $5::uuid[], \
         $6::text[], $7::numeric[], $8::text[], $9::numeric[], $10::numeric[], $11::text[], \
         $12::timestamptz[])"
    )))
    .bind(positions)
    .bind(lines)
    .bind(ids)
    .bind(payments)
    .bind(accounts)
    .bind(types)
    .bind(amounts)
    .bind(currencies)
    .bind(balances)
    .bind(availables)
    .bind(descriptions)
    .bind(created)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn daily(tx: &mut Tx, prefix: &str, rows: &[&DailyRow]) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut accounts = Vec::with_capacity(n);
    let mut days: Vec<NaiveDate> = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut openings = Vec::with_capacity(n);
    let mut debits = Vec::with_capacity(n);
    let mut credits = Vec::with_capacity(n);
    let mut closings = Vec::with_capacity(n);
    let mut movements = Vec::with_capacity(n);
    for d in rows {
        accounts.push(d.account_id.0);
        days.push(d.day);
        currencies.push(d.currency.code().to_string());
        openings.push(d.opening.to_string());
        debits.push(d.total_debits.to_string());
        credits.push(d.total_credits.to_string());
        closings.push(d.closing.to_string());
        movements.push(to_i64(d.movements, "movements")?);
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}rm_daily_balances (account_id, day, currency, opening, total_debits, \
         total_credits, closing, movements) \
         SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::text[], $4::numeric[], $5::numeric[], \
         $6::numeric[], $7::numeric[], $8::bigint[]) \
         ON CONFLICT (account_id, day) DO UPDATE SET currency = EXCLUDED.currency, \
         opening = EXCLUDED.opening, total_debits = EXCLUDED.total_debits, \
         total_credits = EXCLUDED.total_credits, closing = EXCLUDED.closing, \
         movements = EXCLUDED.movements"
    )))
    .bind(accounts)
    .bind(days)
    .bind(currencies)
    .bind(openings)
    .bind(debits)
    .bind(credits)
    .bind(closings)
    .bind(movements)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn payments(tx: &mut Tx, prefix: &str, rows: &[&PaymentRow]) -> Result<(), ProjectionError> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut legs = Vec::with_capacity(n);
    let mut sources: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut destinations: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut posted_amounts: Vec<Option<String>> = Vec::with_capacity(n);
    let mut descriptions: Vec<Option<String>> = Vec::with_capacity(n);
    let mut external_ids: Vec<Option<String>> = Vec::with_capacity(n);
    let mut metadata: Vec<Option<String>> = Vec::with_capacity(n);
    let mut created: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut times: [Vec<Option<DateTime<Utc>>>; 5] = Default::default();
    let mut reasons: Vec<Option<String>> = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    for p in rows {
        ids.push(p.payment_id.0);
        statuses.push(enum_text(&p.status));
        legs.push(
            serde_json::to_string(&p.legs).map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        );
        sources.push(p.source_account_id.map(|id| id.0));
        destinations.push(p.destination_account_id.map(|id| id.0));
        amounts.push(p.amount.to_string());
        currencies.push(p.currency.code().to_string());
        posted_amounts.push(p.posted_amount.map(|a| a.to_string()));
        descriptions.push(p.description.clone());
        external_ids.push(p.external_id.clone());
        metadata.push(p.metadata.as_ref().map(|m| m.to_string()));
        created.push(p.created_at);
        let values = [
            p.pended_at,
            p.posted_at,
            p.cancelled_at,
            p.expired_at,
            p.expires_at,
        ];
        for (column, value) in times.iter_mut().zip(values) {
            column.push(value);
        }
        reasons.push(p.cancel_reason.clone());
        positions.push(to_i64(p.last_position, "last_position")?);
    }
    let [pended, posted, cancelled, expired, expires] = times;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}rm_payments (payment_id, status, legs, source_account_id, \
         destination_account_id, amount, currency, posted_amount, description, external_id, \
         metadata, created_at, pended_at, posted_at, cancelled_at, expired_at, cancel_reason, \
         expires_at, last_position) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::uuid[], $5::uuid[], \
         $6::numeric[], $7::text[], $8::numeric[], $9::text[], $10::text[], $11::jsonb[], \
         $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], \
         $16::timestamptz[], $17::text[], $18::timestamptz[], $19::bigint[]) \
         ON CONFLICT (payment_id) DO UPDATE SET status = EXCLUDED.status, legs = EXCLUDED.legs, \
         source_account_id = EXCLUDED.source_account_id, \
         destination_account_id = EXCLUDED.destination_account_id, amount = EXCLUDED.amount, \
         currency = EXCLUDED.currency, posted_amount = EXCLUDED.posted_amount, \
         description = EXCLUDED.description, external_id = EXCLUDED.external_id, \
         metadata = EXCLUDED.metadata, created_at = EXCLUDED.created_at, \
         pended_at = EXCLUDED.pended_at, posted_at = EXCLUDED.posted_at, \
         cancelled_at = EXCLUDED.cancelled_at, expired_at = EXCLUDED.expired_at, \
         cancel_reason = EXCLUDED.cancel_reason, expires_at = EXCLUDED.expires_at, \
         last_position = EXCLUDED.last_position"
    )))
    .bind(ids)
    .bind(statuses)
    .bind(legs)
    .bind(sources)
    .bind(destinations)
    .bind(amounts)
    .bind(currencies)
    .bind(posted_amounts)
    .bind(descriptions)
    .bind(external_ids)
    .bind(metadata)
    .bind(created)
    .bind(pended)
    .bind(posted)
    .bind(cancelled)
    .bind(expired)
    .bind(reasons)
    .bind(expires)
    .bind(positions)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
