//! A snapshot's stored form: its payments as fixed binary records, everything else as JSON.
//!
//! Payments are nearly all of a large ledger's state (10M of them against 10k accounts), and as
//! JSON each took ~104 bytes (a settled one) and a text parse of its uuid; as a record it takes
//! 27 bytes that decode with copies and range checks. The rest (accounts, idempotency records,
//! clients, transfers, …) stays JSON: small, and free to grow fields with `serde(default)`.
//!
//! ```text
//! magic "FOLIOSN" version 2 | payments u64 | rest_len u64 | rest (JSON, "payments": []) | records
//! record: id [16] | status u8 | revision u64 | expires u8 (0 none, 1 then secs i64, nanos u32)
//!         | legs u8 | legs × (debit [16] | credit [16] | amount [16] | currency [3])
//! ```
//! Integers are little-endian; `amount` is `Decimal::serialize`'s form, checked on the way in
//! (scale ≤ 28, no stray flag bits). Every record that decodes stores back to the very same
//! bytes (one spelling per state), which is what lets `verify` compare records by their bytes.
//! Snapshots written before this form (one JSON document) still read: JSON cannot begin with
//! the magic's `F`. The form is one-way: an older build cannot read it (README: upgrading).

use super::{Ledger, LedgerSnapshot};
use crate::ids::{AccountId, PaymentId};
use crate::money::Currency;
use crate::payment::{Leg, Payment, PaymentStatus};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use siphasher::sip128::{Hasher128, SipHasher24};
use std::hash::Hasher;
use uuid::Uuid;

/// The first bytes of a binary snapshot, then its form's version.
const MAGIC_NAME: &[u8; 7] = b"FOLIOSN";
const VERSION: u8 = 2;
const MAGIC: &[u8; 8] = b"FOLIOSN\x02";
/// Magic, payment count and the rest's length.
const HEADER_BYTES: usize = 24;
/// The fewest bytes a payment record takes (no legs, no expiry).
const MIN_PAYMENT_BYTES: usize = 16 + 1 + 8 + 1 + 1;
const LEG_BYTES: usize = 16 + 16 + 16 + 3;
/// The flag bits a `Decimal` may use: the sign and a 5-bit scale.
const DECIMAL_FLAGS: u32 = 0x801F_0000;

/// Why stored snapshot bytes do not decode.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("snapshot bytes at offset {offset}: {reason}")]
    Binary { offset: usize, reason: String },
}

/// The snapshot's JSON part: every list but the payments, borrowed.
#[derive(Serialize)]
struct Rest<'a> {
    accounts: &'a [crate::account::Account],
    payments: [(); 0],
    idempotency: &'a [(String, super::IdempotencyRecord)],
    clients: &'a [crate::client::Client],
    transfers: &'a [crate::transfer::Transfer],
    documents: &'a [crate::document::Document],
    recipients: &'a [crate::recipient::Recipient],
    confirmations: &'a [crate::confirmation::Confirmation],
}

impl LedgerSnapshot {
    /// The stored form (see the module's doc).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        let rest = serde_json::to_vec(&Rest {
            accounts: &self.accounts,
            payments: [],
            idempotency: &self.idempotency,
            clients: &self.clients,
            transfers: &self.transfers,
            documents: &self.documents,
            recipients: &self.recipients,
            confirmations: &self.confirmations,
        })?;
        let payment_bytes: usize = self.payments.iter().map(payment_record_len).sum();
        let mut bytes = Vec::with_capacity(HEADER_BYTES + rest.len() + payment_bytes);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.payments.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&(rest.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&rest);
        for payment in &self.payments {
            write_payment(&mut bytes, payment)?;
        }
        debug_assert_eq!(bytes.len(), HEADER_BYTES + rest.len() + payment_bytes);
        Ok(bytes)
    }

    /// Reads either stored form: the binary one, or the single JSON document of older snapshots.
    pub fn from_bytes(bytes: &[u8]) -> Result<LedgerSnapshot, SnapshotError> {
        if !is_binary(bytes) {
            return Ok(serde_json::from_slice(bytes)?);
        }
        let (mut snapshot, records) = split(bytes)?;
        snapshot.payments = records.decode_all(bytes)?;
        Ok(snapshot)
    }

    /// How many payments a stored snapshot holds, from its first 24 bytes; None for the JSON
    /// form (or fewer bytes), which does not say.
    pub fn payments_in(prefix: &[u8]) -> Option<u64> {
        if prefix.len() < HEADER_BYTES || !prefix.starts_with(MAGIC) {
            return None;
        }
        let count: [u8; 8] = prefix[8..16].try_into().ok()?;
        Some(u64::from_le_bytes(count))
    }

    /// How many leading bytes `payments_in` needs.
    pub const HEADER_BYTES: usize = HEADER_BYTES;
}

/// Whether `bytes` are (meant to be) the binary form: they begin with its name, or with part of
/// it when cut short. No JSON document begins with `F`.
fn is_binary(bytes: &[u8]) -> bool {
    let name = bytes.len().min(MAGIC_NAME.len());
    name > 0 && bytes[..name] == MAGIC_NAME[..name]
}

/// Reads a binary snapshot's header and JSON part; its payment records are left where they are.
fn split(bytes: &[u8]) -> Result<(LedgerSnapshot, Records), SnapshotError> {
    let mut reader = Reader { bytes, offset: 0 };
    let name = reader.take(MAGIC_NAME.len())?;
    if name != MAGIC_NAME {
        return Err(reader.error_at(0, "not a binary snapshot"));
    }
    let version = reader.u8()?;
    if version != VERSION {
        return Err(reader.error_at(
            MAGIC_NAME.len(),
            format!("form version {version}, this build reads version {VERSION}"),
        ));
    }
    let count = reader.u64()?;
    let rest_len = reader.u64()?;
    let rest_at = reader.offset;
    let rest_len = usize::try_from(rest_len).map_err(|_| reader.error("JSON part too long"))?;
    let rest = reader.take(rest_len)?;
    let snapshot: LedgerSnapshot = serde_json::from_slice(rest).map_err(|error| {
        reader.error_at(
            rest_at,
            format!("JSON part (from offset {rest_at}): {error}"),
        )
    })?;
    if !snapshot.payments.is_empty() {
        return Err(reader.error_at(rest_at, "payments inside the JSON part"));
    }
    // A count the bytes cannot hold is refused before any room is made for it.
    let fits = reader.remaining() / MIN_PAYMENT_BYTES;
    let count = usize::try_from(count)
        .ok()
        .filter(|count| *count <= fits)
        .ok_or_else(|| {
            reader.error(format!(
                "the header claims {count} payments; the {} bytes left hold at most {fits}",
                reader.remaining()
            ))
        })?;
    Ok((
        snapshot,
        Records {
            start: reader.offset,
            count,
        },
    ))
}

/// Where a binary snapshot's payment records lie in its bytes.
#[derive(Debug, Clone, Copy)]
struct Records {
    start: usize,
    count: usize,
}

impl Records {
    fn decode_all(self, bytes: &[u8]) -> Result<Vec<Payment>, SnapshotError> {
        let mut reader = Reader {
            bytes,
            offset: self.start,
        };
        let mut payments = Vec::with_capacity(self.count);
        for index in 0..self.count {
            payments.push(reader.payment(index)?);
        }
        reader.at_end()?;
        Ok(payments)
    }
}

/// A stored snapshot opened for comparison: everything but its payment records decoded, the
/// records left as bytes until `Ledger::matches_stored` reads them (millions of payments are
/// never built into a list).
pub struct StoredSnapshot {
    /// Everything but the binary payments (for a JSON snapshot: everything).
    rest: LedgerSnapshot,
    bytes: Vec<u8>,
    /// None for a JSON snapshot.
    records: Option<Records>,
}

impl std::fmt::Debug for StoredSnapshot {
    // Not the bytes: they may be a gigabyte.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StoredSnapshot")
            .field("bytes", &self.bytes.len())
            .field("payments", &self.payment_count())
            .field("binary", &self.records.is_some())
            .finish()
    }
}

impl StoredSnapshot {
    /// Opens either stored form; a JSON snapshot is decoded whole, with room made for
    /// `json_payments_room` payments (a hint, as in `LedgerSnapshot::from_json_with_room`).
    pub fn open(
        bytes: Vec<u8>,
        json_payments_room: usize,
    ) -> Result<StoredSnapshot, SnapshotError> {
        if !is_binary(&bytes) {
            let rest = LedgerSnapshot::from_json_with_room(&bytes, json_payments_room)?;
            return Ok(StoredSnapshot {
                rest,
                bytes: Vec::new(),
                records: None,
            });
        }
        let (rest, records) = split(&bytes)?;
        Ok(StoredSnapshot {
            rest,
            bytes,
            records: Some(records),
        })
    }

    pub fn accounts(&self) -> &[crate::account::Account] {
        &self.rest.accounts
    }

    /// How many payments it holds.
    pub fn payment_count(&self) -> usize {
        match self.records {
            Some(records) => records.count,
            None => self.rest.payments.len(),
        }
    }
}

/// The secret key of one comparison's digests: 16 bytes the caller draws at random for each
/// comparison (the domain draws no randomness itself).
#[derive(Clone, Copy)]
pub struct DigestKey(pub [u8; 16]);

impl Ledger {
    /// Whether a stored snapshot restores to this ledger's state. A JSON snapshot is compared
    /// as `matches_snapshot` compares it (amounts by value). A binary one is compared more
    /// strictly: its JSON part entry by entry, and its payment records by their bytes against
    /// the records of this ledger's payments (`3.50` is not `3.5`), in any order.
    ///
    /// Looking 10M payments up one by one is 10M cache misses (a third of a 10M-event
    /// `verify`'s CPU); instead both sides are read in memory order and reduced to a digest: the
    /// wrapping sum of the 128-bit SipHash-2-4, under `key`, of each payment's record. This
    /// ledger holds each id once and both sides hold as many payments, so equal sums mean the
    /// same records (a payment twice in place of another changes the sum), but for a chance of
    /// about 2^-128 per comparison that no stored snapshot can aim at without the key. Err when
    /// a record does not decode (each is decoded, not only hashed).
    pub fn matches_stored(
        &self,
        stored: &StoredSnapshot,
        key: DigestKey,
    ) -> Result<bool, SnapshotError> {
        let Some(records) = stored.records else {
            return Ok(self.matches_snapshot(&stored.rest));
        };
        let others = match self.matches_all_but_payments(&stored.rest) {
            Some(answer) => answer,
            // A list out of order (not written by `to_snapshot`): restore it to compare.
            None => self.matches_restored_all_but_payments(stored.rest.clone()),
        };
        Ok(others && self.matches_records(&stored.bytes, records, key)?)
    }

    /// Whether the records hold exactly this ledger's payments (see `matches_stored`).
    fn matches_records(
        &self,
        bytes: &[u8],
        records: Records,
        key: DigestKey,
    ) -> Result<bool, SnapshotError> {
        if records.count != self.payment_count() {
            return Ok(false);
        }
        let ours = || {
            let mut record = Vec::with_capacity(MIN_PAYMENT_BYTES + 12 + 4 * LEG_BYTES);
            let mut digest = 0u128;
            for payment in self.payments() {
                record.clear();
                write_payment(&mut record, &payment)?;
                digest = digest.wrapping_add(record_hash(key, &record));
            }
            Ok::<_, SnapshotError>(digest)
        };
        let theirs = || {
            let mut reader = Reader {
                bytes,
                offset: records.start,
            };
            let mut digest = 0u128;
            for index in 0..records.count {
                let from = reader.offset;
                reader.payment(index)?;
                digest = digest.wrapping_add(record_hash(key, &bytes[from..reader.offset]));
            }
            reader.at_end()?;
            Ok::<_, SnapshotError>(digest)
        };
        // The two sides on two threads when there are many.
        let (ours, theirs) = if records.count < super::PARALLEL_LOOKUPS_FROM {
            (ours(), theirs())
        } else {
            std::thread::scope(|scope| {
                let other = scope.spawn(ours);
                let theirs = theirs();
                let ours = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (ours, theirs)
            })
        };
        // The snapshot's error first: it is the one a reader can act on.
        let theirs = theirs?;
        Ok(theirs == ours?)
    }
}

/// One record's 128-bit SipHash-2-4 under the comparison's key.
fn record_hash(key: DigestKey, record: &[u8]) -> u128 {
    let mut hasher = SipHasher24::new_with_key(&key.0);
    hasher.write(record);
    hasher.finish128().as_u128()
}

fn payment_record_len(payment: &Payment) -> usize {
    MIN_PAYMENT_BYTES
        + if payment.expires_at.is_some() { 12 } else { 0 }
        + payment.legs.len() * LEG_BYTES
}

fn status_code(status: PaymentStatus) -> u8 {
    match status {
        PaymentStatus::Draft => 0,
        PaymentStatus::Pending => 1,
        PaymentStatus::Posted => 2,
        PaymentStatus::Cancelled => 3,
        PaymentStatus::Expired => 4,
    }
}

fn status_of(code: u8) -> Option<PaymentStatus> {
    Some(match code {
        0 => PaymentStatus::Draft,
        1 => PaymentStatus::Pending,
        2 => PaymentStatus::Posted,
        3 => PaymentStatus::Cancelled,
        4 => PaymentStatus::Expired,
        _ => return None,
    })
}

fn write_payment(bytes: &mut Vec<u8>, payment: &Payment) -> Result<(), SnapshotError> {
    let at = bytes.len();
    let legs = u8::try_from(payment.legs.len()).map_err(|_| SnapshotError::Binary {
        offset: at,
        reason: format!("payment {} has {} legs", payment.id, payment.legs.len()),
    })?;
    bytes.extend_from_slice(payment.id.0.as_bytes());
    bytes.push(status_code(payment.status));
    bytes.extend_from_slice(&payment.revision.to_le_bytes());
    match payment.expires_at {
        None => bytes.push(0),
        Some(expires_at) => {
            bytes.push(1);
            bytes.extend_from_slice(&expires_at.timestamp().to_le_bytes());
            bytes.extend_from_slice(&expires_at.timestamp_subsec_nanos().to_le_bytes());
        }
    }
    bytes.push(legs);
    for leg in &payment.legs {
        bytes.extend_from_slice(leg.debit.0.as_bytes());
        bytes.extend_from_slice(leg.credit.0.as_bytes());
        bytes.extend_from_slice(&leg.amount.serialize());
        bytes.extend_from_slice(leg.currency.code().as_bytes());
    }
    Ok(())
}

/// Reads the binary part front to back; every error names the offset of the field it is about.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, reason: impl Into<String>) -> SnapshotError {
        self.error_at(self.offset, reason)
    }

    fn error_at(&self, offset: usize, reason: impl Into<String>) -> SnapshotError {
        SnapshotError::Binary {
            offset,
            reason: reason.into(),
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    fn at_end(&self) -> Result<(), SnapshotError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(self.error(format!("{left} bytes after the payments"))),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], SnapshotError> {
        if self.remaining() < len {
            return Err(self.error(format!("{len} bytes wanted, {} left", self.remaining())));
        }
        let taken = &self.bytes[self.offset..self.offset + len];
        self.offset += len;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let taken = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(taken);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn uuid(&mut self) -> Result<Uuid, SnapshotError> {
        Ok(Uuid::from_bytes(self.array()?))
    }

    /// The record of the `index`th payment; its errors name the payment.
    fn payment(&mut self, index: usize) -> Result<Payment, SnapshotError> {
        let start = self.offset;
        self.payment_fields().map_err(|error| match error {
            SnapshotError::Binary { offset, reason } => SnapshotError::Binary {
                offset,
                reason: format!("payment record {index} (from offset {start}): {reason}"),
            },
            other => other,
        })
    }

    fn payment_fields(&mut self) -> Result<Payment, SnapshotError> {
        let id = PaymentId(self.uuid()?);
        let at = self.offset;
        let code = self.u8()?;
        let status = status_of(code).ok_or_else(|| self.error_at(at, format!("status {code}")))?;
        let revision = self.u64()?;
        let at = self.offset;
        let expires_at = match self.u8()? {
            0 => None,
            1 => {
                let at = self.offset;
                let seconds = i64::from_le_bytes(self.array()?);
                let nanos = u32::from_le_bytes(self.array()?);
                let expires_at: DateTime<Utc> = DateTime::from_timestamp(seconds, nanos)
                    .ok_or_else(|| self.error_at(at, format!("expiry {seconds} s {nanos} ns")))?;
                Some(expires_at)
            }
            other => return Err(self.error_at(at, format!("expiry flag {other}"))),
        };
        let count = self.u8()?;
        let mut legs = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let debit = AccountId(self.uuid()?);
            let credit = AccountId(self.uuid()?);
            let at = self.offset;
            let raw: [u8; 16] = self.array()?;
            let flags = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            let scale = (flags >> 16) & 0xFF;
            if flags & !DECIMAL_FLAGS != 0 || scale > 28 {
                return Err(self.error_at(at, format!("amount flags {flags:#010x}")));
            }
            let amount = Decimal::deserialize(raw);
            let at = self.offset;
            let code: [u8; 3] = self.array()?;
            let currency = std::str::from_utf8(&code)
                .ok()
                .and_then(|code| Currency::from_code(code).ok())
                .ok_or_else(|| self.error_at(at, format!("currency {code:?}")))?;
            legs.push(Leg {
                debit,
                credit,
                amount,
                currency,
            });
        }
        Ok(Payment {
            id,
            status,
            legs,
            expires_at,
            revision,
        })
    }
}
