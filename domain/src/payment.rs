//! Payments: legs, lifecycle statuses, and the payment state the ledger keeps.

use crate::ids::{AccountId, PaymentId};
use crate::money::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One movement of a payment: `amount` of `currency` from `debit` to `credit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: Decimal,
    pub currency: Currency,
}

/// How a posted leg settled a hold: `held` leaves the pending counters, `posted` moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostedLeg {
    pub debit: AccountId,
    pub credit: AccountId,
    pub currency: Currency,
    pub held: Decimal,
    pub posted: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PaymentStatus {
    /// Recorded; no money moves.
    Draft,
    /// Funds held on the debited accounts.
    Pending,
    /// Money moved. Final.
    Posted,
    /// Cancelled from draft or pending (holds paid back). Final.
    Cancelled,
    /// A pending payment whose expiry passed; its holds were released. Final.
    Expired,
}

impl PaymentStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentStatus::Posted | PaymentStatus::Cancelled | PaymentStatus::Expired
        )
    }
}

/// A payment's state as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: PaymentId,
    pub status: PaymentStatus,
    pub legs: Vec<Leg>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Revision of the last event on `payment-{id}`.
    pub revision: u64,
}
