//! The auditor: follows the log as it grows and checks what must always hold — gapless
//! positions, consecutive revisions, an unbroken hash chain, unique event ids and idempotency
//! keys, every acknowledged command's events in the log exactly as acknowledged, and the
//! ledger recomputed from the log within its invariants.

use crate::block::Io;
use chrono::{DateTime, Utc};
use folio_domain::{Currency, Event, EventBody, Ledger, PaymentEvent};
use folio_engine::codec::from_recorded;
use folio_store::hash::verify_link;
use folio_store::{EventStore, RecordedEvent};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// A command the engine acknowledged, as it acknowledged it.
#[derive(Debug, Clone)]
pub struct Ack {
    pub label: String,
    /// The position of its last event.
    pub position: u64,
    pub events: Vec<Event>,
    pub at: DateTime<Utc>,
}

pub struct Auditor {
    log: Arc<dyn EventStore>,
    io: Io,
    pub ledger: Ledger,
    position: u64,
    hash: [u8; 32],
    revisions: HashMap<String, u64>,
    event_ids: HashSet<Uuid>,
    keys: HashSet<String>,
    /// Acknowledgements not yet matched with the log, by their last position.
    acks: BTreeMap<u64, Ack>,
    pub acks_verified: u64,
}

const READ_BATCH: usize = 4096;

impl Auditor {
    pub fn new(log: Arc<dyn EventStore>, io: Io) -> Auditor {
        Auditor {
            log,
            io,
            ledger: Ledger::new(),
            position: 0,
            hash: [0; 32],
            revisions: HashMap::new(),
            event_ids: HashSet::new(),
            keys: HashSet::new(),
            acks: BTreeMap::new(),
            acks_verified: 0,
        }
    }

    fn read(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, String> {
        let log = self.log.clone();
        self.io
            .run(async move { log.read_all(after, limit).await })?
            .map_err(|e| format!("the auditor cannot read the log: {e}"))
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// Registers an acknowledgement; checked now if the log has been audited that far.
    pub fn expect(&mut self, ack: Ack) -> Result<(), String> {
        if ack.position <= self.position {
            let first = ack.position + 1 - ack.events.len() as u64;
            let records = self.read(first - 1, ack.events.len())?;
            self.verify_ack(&ack, &records, first)?;
        } else if let Some(previous) = self.acks.insert(ack.position, ack) {
            return Err(format!(
                "two commands were acknowledged with the same last position {}: {}",
                previous.position, previous.label
            ));
        }
        Ok(())
    }

    fn verify_ack(
        &mut self,
        ack: &Ack,
        records: &[RecordedEvent],
        first: u64,
    ) -> Result<(), String> {
        for (index, expected) in ack.events.iter().enumerate() {
            let position = first + index as u64;
            let record = records
                .iter()
                .find(|record| record.global_position == position)
                .ok_or_else(|| {
                    format!(
                        "acknowledged command {} ({} events up to {}): position {position} is not in the log",
                        ack.label,
                        ack.events.len(),
                        ack.position
                    )
                })?;
            let found = from_recorded(record)
                .map_err(|e| format!("position {position} does not decode: {e}"))?;
            if &found != expected || record.recorded_at != ack.at {
                return Err(format!(
                    "acknowledged command {} expected at position {position}: {expected:?} at {}, \
                     but the log holds {found:?} at {}",
                    ack.label, ack.at, record.recorded_at
                ));
            }
        }
        self.acks_verified += 1;
        Ok(())
    }

    /// Reads and checks everything appended since the last audit. Returns the head reached.
    pub fn audit(&mut self) -> Result<u64, String> {
        loop {
            let records = self.read(self.position, READ_BATCH)?;
            if records.is_empty() {
                break;
            }
            let first = self.position + 1;
            for record in &records {
                self.check_record(record)?;
            }
            let last = self.position;
            let due: Vec<u64> = self.acks.range(..=last).map(|(p, _)| *p).collect();
            for position in due {
                if let Some(ack) = self.acks.remove(&position) {
                    let ack_first = ack.position + 1 - ack.events.len() as u64;
                    if ack_first < first {
                        let records = self.read(ack_first - 1, ack.events.len())?;
                        self.verify_ack(&ack, &records, ack_first)?;
                    } else {
                        self.verify_ack(&ack, &records, ack_first)?;
                    }
                }
            }
            self.check_balances()?;
        }
        Ok(self.position)
    }

    fn check_record(&mut self, record: &RecordedEvent) -> Result<(), String> {
        let position = record.global_position;
        if position != self.position + 1 {
            return Err(format!(
                "positions are not gapless: {} follows {}",
                position, self.position
            ));
        }
        if !verify_link(&self.hash, record) {
            return Err(format!("the hash chain breaks at position {position}"));
        }
        let expected_revision = self
            .revisions
            .get(&record.stream_id)
            .map_or(0, |last| last + 1);
        if record.stream_revision != expected_revision {
            return Err(format!(
                "stream {} takes revision {} at position {position}, expected {expected_revision}",
                record.stream_id, record.stream_revision
            ));
        }
        if !self.event_ids.insert(record.event_id) {
            return Err(format!(
                "event id {} appears twice (again at {position})",
                record.event_id
            ));
        }
        if let Some(key) = &record.idempotency_key
            && !self.keys.insert(key.clone())
        {
            return Err(format!(
                "idempotency key {key:?} took effect twice (again at position {position})"
            ));
        }
        let event = from_recorded(record)
            .map_err(|e| format!("position {position} does not decode: {e}"))?;
        self.check_expiry_timing(&event, record.recorded_at, position)?;
        self.ledger.apply(&event);
        self.revisions
            .insert(record.stream_id.clone(), record.stream_revision);
        self.position = position;
        self.hash = record.hash;
        Ok(())
    }

    /// A hold is released at its expiry, not before, and never posted once it has passed.
    fn check_expiry_timing(
        &self,
        event: &Event,
        at: DateTime<Utc>,
        position: u64,
    ) -> Result<(), String> {
        let EventBody::Payment(payment_event) = &event.body else {
            return Ok(());
        };
        let id = payment_event.payment_id();
        let expires_at = self
            .ledger
            .payment(id)
            .and_then(|payment| payment.expires_at);
        match (payment_event, expires_at) {
            (PaymentEvent::Expired(_), None) => Err(format!(
                "payment {id} expired at position {position} but had no expiry"
            )),
            (PaymentEvent::Expired(_), Some(expires_at)) if at < expires_at => Err(format!(
                "payment {id} expired at {at} (position {position}), before its expiry {expires_at}"
            )),
            (PaymentEvent::Posted(_), Some(expires_at)) if at >= expires_at => Err(format!(
                "payment {id} was posted at {at} (position {position}), after its expiry {expires_at}"
            )),
            _ => Ok(()),
        }
    }

    /// The cheap invariants, over the accounts only: Σ balances = 0 per currency and no
    /// customer account below its limit.
    pub fn check_balances(&self) -> Result<(), String> {
        let mut sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for account in self.ledger.accounts() {
            *sums.entry(account.currency).or_default() += account.balance();
            if !account.policy.allow_negative
                && account.available_balance() + account.policy.overdraft_limit < Decimal::ZERO
            {
                return Err(format!(
                    "customer account {} is below its limit at position {}: available {}, overdraft {}",
                    account.id,
                    self.position,
                    account.available_balance(),
                    account.policy.overdraft_limit
                ));
            }
        }
        for (currency, sum) in sums {
            if !sum.is_zero() {
                return Err(format!(
                    "{currency}: the balances sum to {sum}, not 0, at position {}",
                    self.position
                ));
            }
        }
        Ok(())
    }

    /// Every invariant the ledger knows, over accounts and payments (costlier).
    pub fn check_all(&self) -> Result<(), String> {
        self.ledger
            .check_invariants()
            .map_err(|broken| format!("at position {}: {broken}", self.position))
    }

    /// Acknowledgements the log never caught up with.
    pub fn unmatched_acks(&self) -> Vec<&Ack> {
        self.acks.values().collect()
    }
}
