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
use rusqlite::{Connection, params};
use uuid::Uuid;

/// (account or payment, position, line) of a statement line.
type LineKey = ([u8; 16], i64, u32);
/// (account, created_at in µs, payment) for a payment's source and its destination.
type PaymentKey = ([u8; 16], i64, [u8; 16]);

/// Keys a rebuild holds per table before writing them (sorted) to make room: 3Mi, so that with
/// a batch's keys on top a table's keys stay within a vector of 4Mi (128–160 MiB), and a
/// 1M-event log's 2M lines fit in one sweep. A larger log's keys go in several sweeps, each
/// dirtying the pages it adds to: memory stays bounded whatever the log's length.
pub(super) const KEYS_HELD_PER_TABLE: usize = 3 << 20;

/// The lookup rows of some batches.
#[derive(Debug, Default)]
pub(super) struct LookupRows {
    account_lines: Vec<LineKey>,
    payment_lines: Vec<LineKey>,
    account_payments: Vec<PaymentKey>,
}

impl LookupRows {
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
        }
    }

    pub(super) fn absorb(&mut self, other: LookupRows) {
        self.account_lines.extend(other.account_lines);
        self.payment_lines.extend(other.payment_lines);
        self.account_payments.extend(other.account_payments);
    }

    /// Writes the rows in the order given (a live batch's few rows go wherever their account's
    /// are). Rows already there are left as they are.
    pub(super) fn write(&self, c: &Connection, prefix: &str) -> Result<(), ProjectionError> {
        write_keys(c, prefix, ACCOUNT_LINES, &self.account_lines)?;
        write_keys(c, prefix, PAYMENT_LINES, &self.payment_lines)?;
        write_keys(c, prefix, ACCOUNT_PAYMENTS, &self.account_payments)
    }

    /// Writes every table's rows sorted into its key order, and forgets them.
    pub(super) fn write_sorted(
        &mut self,
        c: &Connection,
        prefix: &str,
    ) -> Result<(), ProjectionError> {
        self.write_sorted_over(c, prefix, 0)
    }

    /// Writes sorted, and forgets, the rows of each table holding more than `held` (in one
    /// transaction, when there are any).
    pub(super) fn write_sorted_over(
        &mut self,
        c: &Connection,
        prefix: &str,
        held: usize,
    ) -> Result<(), ProjectionError> {
        if self.account_lines.len() > held {
            write_sorted_keys(c, prefix, ACCOUNT_LINES, &mut self.account_lines)?;
        }
        if self.payment_lines.len() > held {
            write_sorted_keys(c, prefix, PAYMENT_LINES, &mut self.payment_lines)?;
        }
        if self.account_payments.len() > held {
            write_sorted_keys(c, prefix, ACCOUNT_PAYMENTS, &mut self.account_payments)?;
        }
        Ok(())
    }

    /// Whether some table holds more than `held` rows.
    pub(super) fn holds_over(&self, held: usize) -> bool {
        [
            self.account_lines.len(),
            self.payment_lines.len(),
            self.account_payments.len(),
        ]
        .into_iter()
        .any(|count| count > held)
    }
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

/// In key order, each row is appended to its B-tree, or (keys of a later sweep) added to
/// the pages in one ordered pass.
fn write_sorted_keys<K: LookupKey>(
    c: &Connection,
    prefix: &str,
    table: &str,
    keys: &mut Vec<K>,
) -> Result<(), ProjectionError> {
    keys.sort_unstable();
    keys.dedup();
    write_keys(c, prefix, table, keys)?;
    keys.clear();
    Ok(())
}

/// Read models written before the lookup tables existed: fills them from the lines and
/// payments and drops the indexes they replace, in one transaction.
pub(super) fn adopt_lookup_tables(c: &mut Connection) -> Result<(), ProjectionError> {
    let replaced = [
        (
            "transactions",
            "transactions_account",
            "INSERT OR IGNORE INTO account_lines (account_id, position, line) \
             SELECT account_id, position, line FROM transactions",
        ),
        (
            "transactions",
            "transactions_payment",
            "INSERT OR IGNORE INTO payment_lines (payment_id, position, line) \
             SELECT payment_id, position, line FROM transactions",
        ),
        (
            "payments",
            "payments_source",
            "INSERT OR IGNORE INTO account_payments (account_id, created_at, payment_id) \
             SELECT source_account_id, created_at, payment_id FROM payments \
             WHERE source_account_id IS NOT NULL",
        ),
        (
            "payments",
            "payments_destination",
            "INSERT OR IGNORE INTO account_payments (account_id, created_at, payment_id) \
             SELECT destination_account_id, created_at, payment_id FROM payments \
             WHERE destination_account_id IS NOT NULL",
        ),
    ];
    let tx = c.transaction()?;
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
        tx.execute_batch(fill)?;
        for name in names {
            tx.execute_batch(&format!("DROP INDEX \"{name}\";"))?;
        }
    }
    tx.commit()?;
    Ok(())
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
        let mut held = LookupRows::default();
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
            if held.holds_over(50) {
                held.write_sorted_over(&c, "", 50).unwrap();
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
