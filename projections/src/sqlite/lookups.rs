//! The lookup tables of statement lines by account (`account_lines`) and by payment
//! (`payment_lines`), and of payments by account (`account_payments`), kept on SQLite instead of
//! indexes on the two big tables. Live writes add their rows beside the lines and payments; a
//! rebuild collects the keys in memory and writes them sorted after its bulk, one ordered sweep
//! each, where CREATE INDEX had SQLite's sorter order ~6M keys, most arriving in random order
//! (the rebuild's largest single cost).

use super::many::{RowBinder, insert_many};
use crate::error::ProjectionError;
use crate::fold::Changes;
use crate::rows::TransactionRow;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

/// (account or payment, position, line) of a statement line.
type LineKey = ([u8; 16], i64, u32);
/// (account, created_at in µs, payment) for a payment's source and its destination.
type PaymentKey = ([u8; 16], i64, [u8; 16]);

/// Keys a rebuild holds per table before writing them (sorted) to make room: 3Mi (96–120 MiB a
/// table, plus one batch's), so a 1M-event log's 2M lines fit in one sweep. A larger log's keys
/// go in several sweeps, each dirtying the pages it adds to: memory stays bounded whatever the
/// log's length.
pub const KEYS_HELD_PER_TABLE: usize = 3 << 20;

/// The lookup rows of some batches.
#[derive(Debug, Default)]
pub(super) struct LookupRows {
    account_lines: Vec<LineKey>,
    payment_lines: Vec<LineKey>,
    account_payments: Vec<PaymentKey>,
    /// Rows per table a collection holds before `write_full` writes them (0: no bound).
    held: usize,
    /// The tables (lines by account, by payment, payments by account) `write_full` wrote.
    swept: [bool; 3],
}

impl LookupRows {
    /// An empty collection holding up to `held` rows a table (a rebuild's).
    pub(super) fn bounded(held: usize) -> LookupRows {
        LookupRows {
            held: held.max(1),
            ..LookupRows::default()
        }
    }

    /// The lookup rows of a batch's lines and payments. A payment's accounts and creation time
    /// never change, so writing its keys again (each time the payment moves on) adds nothing.
    pub(super) fn of(changes: &Changes) -> LookupRows {
        let line_keys = |id: fn(&TransactionRow) -> &Uuid| {
            changes
                .transactions
                .iter()
                .map(|t| (*id(t).as_bytes(), t.position as i64, t.line))
                .collect()
        };
        let mut payments = Vec::with_capacity(changes.payments.len() * 2);
        for p in &changes.payments {
            for account in [p.source_account_id, p.destination_account_id]
                .into_iter()
                .flatten()
            {
                payments.push((
                    *account.0.as_bytes(),
                    p.created_at.timestamp_micros(),
                    *p.payment_id.0.as_bytes(),
                ));
            }
        }
        LookupRows {
            account_lines: line_keys(|t| &t.account_id.0),
            payment_lines: line_keys(|t| &t.payment_id.0),
            account_payments: payments,
            ..LookupRows::default()
        }
    }

    /// Takes in a batch's rows; each table's vector grows to at most its bound plus one batch.
    pub(super) fn absorb(&mut self, other: LookupRows) {
        extend_bounded(&mut self.account_lines, other.account_lines, self.held);
        extend_bounded(&mut self.payment_lines, other.payment_lines, self.held);
        extend_bounded(
            &mut self.account_payments,
            other.account_payments,
            self.held,
        );
    }

    /// Writes the rows in the order given (a live batch's few rows go wherever their account's
    /// are). Rows already there are left as they are.
    pub(super) fn write(&self, c: &Connection, prefix: &str) -> Result<(), ProjectionError> {
        write_keys(c, prefix, ACCOUNT_LINES, &self.account_lines)?;
        write_keys(c, prefix, PAYMENT_LINES, &self.payment_lines)?;
        write_keys(c, prefix, ACCOUNT_PAYMENTS, &self.account_payments)
    }

    /// Writes every table's rows sorted into its key order.
    pub(super) fn write_sorted(
        &mut self,
        c: &Connection,
        prefix: &str,
    ) -> Result<(), ProjectionError> {
        self.write_sorted_over(c, prefix, 0).map(|_| ())
    }

    /// Whether some table holds more rows than its bound.
    pub(super) fn is_full(&self) -> bool {
        self.held > 0 && self.longest() > self.held
    }

    /// Writes sorted the rows of each table over its bound; `forget_full` forgets them once
    /// the transaction has committed (so a failed write loses nothing).
    pub(super) fn write_full(
        &mut self,
        c: &Connection,
        prefix: &str,
    ) -> Result<(), ProjectionError> {
        self.swept = self.write_sorted_over(c, prefix, self.held)?;
        Ok(())
    }

    pub(super) fn forget_full(&mut self) {
        let [account_lines, payment_lines, account_payments] = std::mem::take(&mut self.swept);
        if account_lines {
            self.account_lines.clear();
        }
        if payment_lines {
            self.payment_lines.clear();
        }
        if account_payments {
            self.account_payments.clear();
        }
    }

    /// Writes each table holding more than `held` rows; says which it wrote.
    fn write_sorted_over(
        &mut self,
        c: &Connection,
        prefix: &str,
        held: usize,
    ) -> Result<[bool; 3], ProjectionError> {
        let swept = [
            self.account_lines.len() > held,
            self.payment_lines.len() > held,
            self.account_payments.len() > held,
        ];
        let LookupRows {
            account_lines,
            payment_lines,
            account_payments,
            ..
        } = self;
        // The second and third tables are sorted on another thread while the first is sorted
        // and written on this one (the connection's).
        std::thread::scope(|scope| {
            let others = scope.spawn(move || {
                if swept[1] {
                    sort_keys(payment_lines);
                }
                if swept[2] {
                    sort_keys(account_payments);
                }
                (payment_lines, account_payments)
            });
            if swept[0] {
                sort_keys(account_lines);
                write_keys(c, prefix, ACCOUNT_LINES, account_lines)?;
            }
            let (payment_lines, account_payments) = others.join().map_err(|_| {
                ProjectionError::Internal("sorting the lookup rows panicked".into())
            })?;
            if swept[1] {
                write_keys(c, prefix, PAYMENT_LINES, payment_lines)?;
            }
            if swept[2] {
                write_keys(c, prefix, ACCOUNT_PAYMENTS, account_payments)?;
            }
            Ok(swept)
        })
    }

    fn longest(&self) -> usize {
        self.account_lines
            .len()
            .max(self.payment_lines.len())
            .max(self.account_payments.len())
    }
}

/// Appends `from`, growing `into` by doubling as usual but never past `held` plus this batch
/// (`held` 0: no bound), so a bounded collection's memory is what its bound says.
fn extend_bounded<T>(into: &mut Vec<T>, from: Vec<T>, held: usize) {
    let needed = into.len() + from.len();
    if held > 0 && needed > into.capacity() {
        let target = (into.capacity() * 2).min(held + from.len()).max(needed);
        into.reserve_exact(target - into.len());
    }
    into.extend(from);
}

/// The lookup tables and their columns, all three of each the primary key.
const ACCOUNT_LINES: &str = "account_lines (account_id, position, line)";
const PAYMENT_LINES: &str = "payment_lines (payment_id, position, line)";
const ACCOUNT_PAYMENTS: &str = "account_payments (account_id, created_at, payment_id)";

/// A lookup table's row.
trait LookupKey: Ord {
    fn bind(&self, row: &mut RowBinder<'_, '_>) -> Result<(), ProjectionError>;
}

impl LookupKey for LineKey {
    fn bind(&self, row: &mut RowBinder<'_, '_>) -> Result<(), ProjectionError> {
        row.bind(&self.0[..])?.bind(self.1)?.bind(self.2)?;
        Ok(())
    }
}

impl LookupKey for PaymentKey {
    fn bind(&self, row: &mut RowBinder<'_, '_>) -> Result<(), ProjectionError> {
        row.bind(&self.0[..])?.bind(self.1)?.bind(&self.2[..])?;
        Ok(())
    }
}

fn write_keys<K: LookupKey>(
    c: &Connection,
    prefix: &str,
    table: &str,
    keys: &[K],
) -> Result<(), ProjectionError> {
    insert_many(
        c,
        &format!("INSERT OR IGNORE INTO {prefix}{table}"),
        3,
        "",
        keys,
        |row, _, key| key.bind(row),
    )
}

/// Into key order, duplicates dropped: written so, each row is appended to its B-tree, or
/// (keys of a later sweep) added to the pages in one ordered pass.
fn sort_keys<K: Ord>(keys: &mut Vec<K>) {
    keys.sort_unstable();
    keys.dedup();
}

/// How the lookup tables are filled from the rows they look up.
const FILL_ACCOUNT_LINES: &str = "INSERT OR IGNORE INTO account_lines (account_id, position, line) \
     SELECT account_id, position, line FROM transactions";
const FILL_PAYMENT_LINES: &str = "INSERT OR IGNORE INTO payment_lines (payment_id, position, line) \
     SELECT payment_id, position, line FROM transactions";
const FILL_ACCOUNT_PAYMENTS: &str = "INSERT OR IGNORE INTO account_payments (account_id, created_at, payment_id) \
     SELECT source_account_id, created_at, payment_id FROM payments WHERE source_account_id IS NOT NULL; \
     INSERT OR IGNORE INTO account_payments (account_id, created_at, payment_id) \
     SELECT destination_account_id, created_at, payment_id FROM payments \
     WHERE destination_account_id IS NOT NULL;";

/// Read models written before the lookup tables existed: fills them from the lines and
/// payments and drops the indexes they replace. Also read models an earlier version wrote to
/// after that (its newest line or payment has no lookup rows): fills in what is missing. One
/// immediate transaction, so two processes opening the same file do it once.
pub(super) fn adopt_lookup_tables(c: &mut Connection) -> Result<(), ProjectionError> {
    let replaced = [
        ("transactions", "transactions_account", FILL_ACCOUNT_LINES),
        ("transactions", "transactions_payment", FILL_PAYMENT_LINES),
        ("payments", "payments_source", FILL_ACCOUNT_PAYMENTS),
        ("payments", "payments_destination", FILL_ACCOUNT_PAYMENTS),
    ];
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut filled = Vec::new();
    for (table, index, fill) in replaced {
        // The live index is named `index` or, after a rebuild, `index_g<µs>`.
        let mut statement = tx.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 \
             AND (name = ?2 OR substr(name, 1, length(?2) + 2) = ?2 || '_g')",
        )?;
        let names = statement
            .query_map(params![table, index], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        drop(statement);
        if names.is_empty() {
            continue;
        }
        tracing::info!(index, "read models: replacing an index by its lookup table");
        if !filled.contains(&fill) {
            tx.execute_batch(fill)?;
            filled.push(fill);
        }
        for name in names {
            tx.execute_batch(&format!("DROP INDEX \"{name}\";"))?;
        }
    }
    if filled.is_empty() && newest_rows_unlisted(&tx)? {
        tracing::warn!("read models: lines or payments without lookup rows; filling them in");
        for fill in [
            FILL_ACCOUNT_LINES,
            FILL_PAYMENT_LINES,
            FILL_ACCOUNT_PAYMENTS,
        ] {
            tx.execute_batch(fill)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// A payment's id, creation time, source and destination.
type NewestPayment = (Vec<u8>, i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Whether the newest statement line or payment lacks its lookup rows (a version before the
/// lookup tables wrote it): two primary-key probes each.
fn newest_rows_unlisted(c: &Connection) -> Result<bool, ProjectionError> {
    let line: Option<(Vec<u8>, Vec<u8>, i64, i64)> = c
        .query_row(
            "SELECT account_id, payment_id, position, line FROM transactions \
             ORDER BY position DESC, line DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?;
    if let Some((account, payment, position, line)) = line {
        let listed: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM account_lines WHERE account_id = ?1 AND position = ?3 \
             AND line = ?4) AND EXISTS (SELECT 1 FROM payment_lines WHERE payment_id = ?2 \
             AND position = ?3 AND line = ?4)",
            params![account, payment, position, line],
            |row| row.get(0),
        )?;
        if !listed {
            return Ok(true);
        }
    }
    let payment: Option<NewestPayment> = c
        .query_row(
            "SELECT payment_id, created_at, source_account_id, destination_account_id \
             FROM payments ORDER BY rowid DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?;
    if let Some((payment, created_at, source, destination)) = payment {
        for account in [source, destination].into_iter().flatten() {
            let listed: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM account_payments WHERE account_id = ?1 \
                 AND created_at = ?2 AND payment_id = ?3)",
                params![account, created_at, payment],
                |row| row.get(0),
            )?;
            if !listed {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(account: u8, position: i64, line: u32) -> LineKey {
        ([account; 16], position, line)
    }

    /// Keys written in several sorted sweeps (a rebuild of a log too large to hold them all)
    /// and directly (the catch-up after the sweeps) end as the one sorted set, duplicates
    /// written once.
    #[test]
    fn keys_written_in_sweeps_end_as_one_sorted_set() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join("lookups.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE account_lines (account_id BLOB NOT NULL, position INTEGER NOT NULL, \
             line INTEGER NOT NULL, PRIMARY KEY (account_id, position, line)) WITHOUT ROWID; \
             CREATE TABLE payment_lines (payment_id BLOB NOT NULL, position INTEGER NOT NULL, \
             line INTEGER NOT NULL, PRIMARY KEY (payment_id, position, line)) WITHOUT ROWID; \
             CREATE TABLE account_payments (account_id BLOB NOT NULL, created_at INTEGER NOT NULL, \
             payment_id BLOB NOT NULL, PRIMARY KEY (account_id, created_at, payment_id)) WITHOUT ROWID;",
        )
        .unwrap();
        let mut held = LookupRows::bounded(50);
        let mut expected = Vec::new();
        // 300 batches of 7 lines over 5 accounts, in log order (so in random account order);
        // every batch's first line again in the next one, as a retried batch would write it
        for batch in 0..300_i64 {
            let mut rows = LookupRows::default();
            for n in 0..7_i64 {
                let position = batch * 7 + n;
                let key = line((position * 7919 % 5) as u8, position, (n % 2) as u32);
                rows.account_lines.push(key);
                expected.push(key);
            }
            if batch > 0 {
                rows.account_lines.push(expected[expected.len() - 8]);
            }
            held.absorb(rows);
            assert!(
                held.account_lines.capacity() <= 50 + 8,
                "{}",
                held.account_lines.capacity()
            );
            if held.is_full() {
                held.write_full(&c, "").unwrap();
                held.forget_full();
                assert!(held.account_lines.is_empty());
            }
        }
        held.write_sorted(&c, "").unwrap();
        let after = line(9, 99_999, 0);
        LookupRows {
            account_lines: vec![after, expected[3]],
            ..LookupRows::default()
        }
        .write(&c, "")
        .unwrap();
        expected.push(after);
        expected.sort_unstable();

        let mut statement = c
            .prepare("SELECT account_id, position, line FROM account_lines")
            .unwrap();
        let stored: Vec<LineKey> = statement
            .query_map([], |row| {
                let id: Vec<u8> = row.get(0)?;
                Ok((id.try_into().unwrap(), row.get(1)?, row.get(2)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, expected);
    }
}
