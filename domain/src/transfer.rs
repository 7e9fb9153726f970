//! Transfers: their directions, statuses, rail types and the state the ledger keeps (API.md §3.2–3.3).

use crate::ids::{ConfirmationId, PaymentId, TransferId};
use crate::money::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TransferDirection {
    /// To an account outside Folio, through the payment rail.
    Outgoing,
    /// From outside Folio, announced by the provider.
    Incoming,
    /// Between two Folio accounts: settles at once on confirmation.
    Internal,
    /// Between two accounts of one client in different currencies: settles at once on
    /// confirmation, through the bank's FX position accounts.
    ForeignExchange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TransferStatus {
    PendingConfirmation,
    /// Funds held; waiting for the process manager to hand it to the rail.
    Confirmed,
    /// Handed to the rail; waiting for the provider's answer.
    Processing,
    /// Stopped by ops (or after repeated rail errors) until `continue`.
    Suspended,
    Completed,
    Cancelled,
    Rejected,
    Failed,
    /// Incoming: announced by the provider (recorded with its outcome in the same command).
    Received,
    /// Incoming: no beneficiary found; the money is on the suspense account.
    Unrecognized,
    /// Incoming: ops named the account; the money left the suspense account.
    Assigned,
}

impl TransferStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TransferStatus::Completed
                | TransferStatus::Cancelled
                | TransferStatus::Rejected
                | TransferStatus::Failed
        )
    }
}

/// The rail a transfer travels on (API.md §2.6 `TransferType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TransferType {
    Internal,
    Sepa,
    SepaInstant,
    Swift,
    FasterPayments,
}

/// Countries of the SEPA scheme, by the two letters that start their IBANs.
const SEPA_COUNTRIES: &[&str] = &[
    "AD", "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GI", "GR",
    "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "MT", "NL", "NO", "PL", "PT", "RO",
    "SE", "SI", "SK", "SM", "VA",
];

/// Is `account` shaped like an IBAN (two letters, two digits, 11 to 30 letters or digits)?
pub fn is_iban(account: &str) -> bool {
    let bytes = account.as_bytes();
    (15..=34).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..4].iter().all(u8::is_ascii_digit)
        && bytes[4..].iter().all(u8::is_ascii_alphanumeric)
}

/// The rail for an account outside Folio: GBP to a UK account (an IBAN starting `GB` or a plain
/// account number) is Faster Payments, EUR to a SEPA-country IBAN is SEPA, anything else SWIFT.
/// `SepaInstant` is never chosen by this rule: it is for a caller that asks for it.
pub fn external_transfer_type(account: &str, currency: Currency) -> TransferType {
    let country = account.get(..2).filter(|_| is_iban(account));
    match (currency.code(), country) {
        ("GBP", Some("GB")) => TransferType::FasterPayments,
        ("GBP", None) if account.bytes().all(|b| b.is_ascii_digit()) => {
            TransferType::FasterPayments
        }
        ("EUR", Some(country)) if SEPA_COUNTRIES.contains(&country) => TransferType::Sepa,
        _ => TransferType::Swift,
    }
}

/// The fixed fee of an outgoing or internal transfer, per rail, in units of the transfer's
/// currency (rounded half-up to its minor units). All zero by default: the server passes its
/// configured schedule in with each command (README.md, "Fees").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeeSchedule {
    pub internal: Decimal,
    pub sepa: Decimal,
    pub sepa_instant: Decimal,
    pub swift: Decimal,
    pub faster_payments: Decimal,
}

impl FeeSchedule {
    /// The fee for a transfer of `transfer_type` in `currency` (zero: no fee leg).
    pub fn fee(&self, transfer_type: TransferType, currency: Currency) -> Decimal {
        let fixed = match transfer_type {
            TransferType::Internal => self.internal,
            TransferType::Sepa => self.sepa,
            TransferType::SepaInstant => self.sepa_instant,
            TransferType::Swift => self.swift,
            TransferType::FasterPayments => self.faster_payments,
        };
        crate::fx::round_half_up(fixed, currency)
    }
}

/// The provider's final answer on an outgoing transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum TransferOutcome {
    /// Paid out: the backing payment is posted.
    Completed { provider_reference: Option<String> },
    /// Refused by the beneficiary's side: the hold is paid back.
    Rejected { reason: Option<String> },
    /// The provider could not execute it: the hold is paid back.
    Failed { reason: Option<String> },
}

/// A transfer's state as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    pub id: TransferId,
    pub direction: TransferDirection,
    pub status: TransferStatus,
    /// The payment backing the transfer now (for an assigned incoming one, the move out of
    /// suspense).
    pub payment_id: PaymentId,
    pub amount: Decimal,
    pub currency: Currency,
    /// Revision of the last event on `transfer-{id}`.
    pub revision: u64,
    /// The confirmation whose code confirming needs (absent in snapshots before OTP existed).
    #[serde(default)]
    pub confirmation_id: Option<ConfirmationId>,
    /// An FX transfer's quote cannot be confirmed after this instant (absent for other
    /// transfers, quotes that never expire, and in snapshots before quotes expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_expires_at: Option<DateTime<Utc>>,
}
