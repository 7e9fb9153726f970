//! The ledger's settled payments, kept small: a long log's ledger holds millions of them, and
//! a replay's map of them is the largest memory it touches fresh (every page zeroed by the
//! kernel), so the usual one — no expiry, a revision under 2^32 — takes 24 bytes a map slot
//! with its id, and the others a slot of their own map. The others are the payments that were
//! held with an expiry (a settled payment keeps it; the REST API sets none today, a direct
//! engine caller can) and any past 2^32 revisions.

use super::IdMap;
use crate::ids::PaymentId;
use crate::payment::{Payment, PaymentStatus};
use chrono::{DateTime, Utc};

/// A payment in a final status, as the ledger keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Settled {
    pub status: PaymentStatus,
    pub revision: u64,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Settled {
    pub fn payment(&self, id: PaymentId) -> Payment {
        Payment {
            id,
            status: self.status,
            legs: Vec::new(),
            expires_at: self.expires_at,
            revision: self.revision,
        }
    }
}

/// A settled payment with no expiry and a revision that fits 32 bits.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Usual {
    revision: u32,
    status: PaymentStatus,
}

/// Every settled payment, each in exactly one of the two maps (which one follows from its
/// value alone, so equal sets of payments are equal maps).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct SettledPayments {
    usual: IdMap<PaymentId, Usual>,
    /// With an expiry, or a revision past 32 bits.
    others: IdMap<PaymentId, Settled>,
}

impl SettledPayments {
    /// Room for `more` payments, all taken as usual ones.
    pub fn reserve(&mut self, more: usize) {
        self.usual.reserve(more);
    }

    pub fn len(&self) -> usize {
        self.usual.len() + self.others.len()
    }

    pub fn contains(&self, id: PaymentId) -> bool {
        self.usual.contains_key(&id) || self.others.contains_key(&id)
    }

    pub fn get(&self, id: PaymentId) -> Option<Settled> {
        match self.usual.get(&id) {
            Some(usual) => Some(widen(*usual)),
            None => self.others.get(&id).copied(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (PaymentId, Settled)> + '_ {
        self.usual
            .iter()
            .map(|(id, usual)| (*id, widen(*usual)))
            .chain(self.others.iter().map(|(id, settled)| (*id, *settled)))
    }

    /// Keeps `settled` as payment `id`, in place of any earlier entry.
    pub fn insert(&mut self, id: PaymentId, settled: Settled) {
        match (settled.expires_at, u32::try_from(settled.revision)) {
            (None, Ok(revision)) => {
                let usual = Usual {
                    revision,
                    status: settled.status,
                };
                if self.usual.insert(id, usual).is_none() && !self.others.is_empty() {
                    self.others.remove(&id);
                }
            }
            _ => {
                if self.others.insert(id, settled).is_none() {
                    self.usual.remove(&id);
                }
            }
        }
    }

    pub fn remove(&mut self, id: PaymentId) -> Option<Settled> {
        match self.usual.remove(&id) {
            Some(usual) => Some(widen(usual)),
            None => self.others.remove(&id),
        }
    }
}

fn widen(usual: Usual) -> Settled {
    Settled {
        status: usual.status,
        revision: u64::from(usual.revision),
        expires_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn settled(revision: u64, expires_at: Option<DateTime<Utc>>) -> Settled {
        Settled {
            status: PaymentStatus::Posted,
            revision,
            expires_at,
        }
    }

    #[test]
    fn a_usual_settled_payment_takes_24_bytes_a_slot() {
        assert_eq!(std::mem::size_of::<(PaymentId, Usual)>(), 24);
    }

    #[test]
    fn every_kind_of_settled_payment_reads_back_as_kept_and_moves_between_the_maps() {
        // Given payments with no expiry, an expiry, and a revision past 32 bits
        let expiry = DateTime::from_timestamp(1_790_000_000, 123_456_789);
        let kinds = [
            settled(0, None),
            settled(u64::from(u32::MAX), None),
            settled(u64::from(u32::MAX) + 1, None),
            settled(7, expiry),
            settled(u64::MAX, expiry),
        ];
        let mut payments = SettledPayments::default();
        let id = |n: usize| PaymentId(Uuid::from_u128(n as u128 + 1));
        for (n, kind) in kinds.iter().enumerate() {
            payments.insert(id(n), *kind);
        }

        // Then each reads back exactly, and is counted once
        assert_eq!(payments.len(), kinds.len());
        for (n, kind) in kinds.iter().enumerate() {
            assert_eq!(payments.get(id(n)), Some(*kind));
            assert!(payments.contains(id(n)));
        }
        let mut listed: Vec<_> = payments.iter().collect();
        listed.sort_by_key(|(id, _)| *id);
        let expected: Vec<_> = kinds.iter().enumerate().map(|(n, k)| (id(n), *k)).collect();
        assert_eq!(listed, expected);

        // When each is replaced by a payment of another kind, Then only the new one is kept
        for (n, kind) in kinds.iter().enumerate() {
            let other = kinds[(n + 2) % kinds.len()];
            payments.insert(id(n), other);
            assert_eq!(payments.get(id(n)), Some(other), "{kind:?}");
            assert_eq!(payments.len(), kinds.len());
        }
        // And removing gives the last one kept, then nothing
        for (n, _) in kinds.iter().enumerate() {
            assert_eq!(payments.remove(id(n)), Some(kinds[(n + 2) % kinds.len()]));
            assert_eq!(payments.get(id(n)), None);
            assert!(!payments.contains(id(n)));
        }
        assert_eq!(payments.len(), 0);
        assert_eq!(payments, SettledPayments::default());
    }
}
