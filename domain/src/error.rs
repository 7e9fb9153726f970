//! Every reason the ledger refuses a command, each with a stable code. A refusal changes nothing.

use crate::account::AccountStatus;
use crate::client::ClientStatus;
use crate::ids::{AccountId, ClientId, DocumentId, PaymentId, TransferId};
use crate::money::Currency;
use crate::payment::PaymentStatus;
use crate::transfer::TransferStatus;
use rust_decimal::Decimal;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    #[error("invalid amount {amount} {currency}: {reason}")]
    InvalidAmount {
        amount: Decimal,
        currency: Currency,
        reason: String,
    },
    #[error("unknown currency {code:?}: not an ISO-4217 code Folio accepts")]
    UnknownCurrency { code: String },
    #[error("account {account} holds {account_currency}, the payment moves {payment_currency}")]
    CurrencyMismatch {
        account: AccountId,
        account_currency: Currency,
        payment_currency: Currency,
    },
    #[error("account {0} not found")]
    AccountNotFound(AccountId),
    #[error("account {0} already exists")]
    AccountAlreadyExists(AccountId),
    #[error("account number {0:?} is already taken")]
    AccountNumberTaken(String),
    #[error("account {0} is blocked")]
    AccountBlocked(AccountId),
    #[error("account {0} is closed")]
    AccountClosed(AccountId),
    #[error("account {0} is inactive and cannot send money")]
    AccountInactive(AccountId),
    #[error("account {account} cannot go from {from:?} to {to:?}")]
    InvalidAccountState {
        account: AccountId,
        from: AccountStatus,
        to: AccountStatus,
    },
    #[error(
        "account {account} cannot be closed: balance {balance}, held {held}, incoming {incoming}"
    )]
    AccountNotEmpty {
        account: AccountId,
        balance: Decimal,
        held: Decimal,
        incoming: Decimal,
    },
    #[error("a leg debits and credits the same account {0}")]
    SameAccount(AccountId),
    #[error("insufficient funds on account {account}: available {available}, needed {requested}")]
    InsufficientFunds {
        account: AccountId,
        available: Decimal,
        requested: Decimal,
    },
    #[error("payment {0} not found")]
    PaymentNotFound(PaymentId),
    #[error("payment {0} already exists")]
    PaymentAlreadyExists(PaymentId),
    #[error("payment {payment} is {status:?}: cannot {action}")]
    InvalidPaymentState {
        payment: PaymentId,
        status: PaymentStatus,
        action: &'static str,
    },
    #[error("client {0} not found")]
    ClientNotFound(ClientId),
    #[error("client {0} already exists")]
    ClientAlreadyExists(ClientId),
    #[error("client {0} is blocked")]
    ClientBlocked(ClientId),
    #[error("client {client} cannot go from {from:?} to {to:?}")]
    InvalidClientState {
        client: ClientId,
        from: ClientStatus,
        to: ClientStatus,
    },
    #[error("transfer {0} not found")]
    TransferNotFound(TransferId),
    #[error("transfer {0} already exists")]
    TransferAlreadyExists(TransferId),
    #[error("transfer {transfer} is {status:?}: cannot {action}")]
    InvalidTransferState {
        transfer: TransferId,
        status: TransferStatus,
        action: &'static str,
    },
    #[error("document {0} not found")]
    DocumentNotFound(DocumentId),
    #[error("document {0} already exists")]
    DocumentAlreadyExists(DocumentId),
    #[error("document {0} was deleted")]
    DocumentDeleted(DocumentId),
    #[error("idempotency key {key:?} was used for a different request")]
    IdempotencyConflict { key: String },
    #[error("invalid command: {reason}")]
    InvalidCommand { reason: String },
}

impl LedgerError {
    /// The stable code clients match on (the API's `metadata.code`).
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::InvalidAmount { .. } => "InvalidAmount",
            LedgerError::UnknownCurrency { .. } => "UnknownCurrency",
            LedgerError::CurrencyMismatch { .. } => "CurrencyMismatch",
            LedgerError::AccountNotFound(_) => "AccountNotFound",
            LedgerError::AccountAlreadyExists(_) => "AccountAlreadyExists",
            LedgerError::AccountNumberTaken(_) => "AccountNumberTaken",
            LedgerError::AccountBlocked(_) => "AccountBlocked",
            LedgerError::AccountClosed(_) => "AccountClosed",
            LedgerError::AccountInactive(_) => "AccountInactive",
            LedgerError::InvalidAccountState { .. } => "InvalidAccountState",
            LedgerError::AccountNotEmpty { .. } => "AccountNotEmpty",
            LedgerError::SameAccount(_) => "SameAccount",
            LedgerError::InsufficientFunds { .. } => "InsufficientFunds",
            LedgerError::PaymentNotFound(_) => "PaymentNotFound",
            LedgerError::PaymentAlreadyExists(_) => "PaymentAlreadyExists",
            LedgerError::InvalidPaymentState { .. } => "InvalidPaymentState",
            LedgerError::ClientNotFound(_) => "ClientNotFound",
            LedgerError::ClientAlreadyExists(_) => "ClientAlreadyExists",
            LedgerError::ClientBlocked(_) => "ClientBlocked",
            LedgerError::InvalidClientState { .. } => "InvalidClientState",
            LedgerError::TransferNotFound(_) => "TransferNotFound",
            LedgerError::TransferAlreadyExists(_) => "TransferAlreadyExists",
            LedgerError::InvalidTransferState { .. } => "InvalidTransferState",
            LedgerError::DocumentNotFound(_) => "DocumentNotFound",
            LedgerError::DocumentAlreadyExists(_) => "DocumentAlreadyExists",
            LedgerError::DocumentDeleted(_) => "DocumentDeleted",
            LedgerError::IdempotencyConflict { .. } => "IdempotencyConflict",
            LedgerError::InvalidCommand { .. } => "InvalidCommand",
        }
    }
}
