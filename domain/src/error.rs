//! Every reason the ledger refuses a command, each with a stable code. A refusal changes nothing.

use crate::account::AccountStatus;
use crate::client::ClientStatus;
use crate::ids::{
    AccountId, ClientId, ConfirmationId, DocumentId, PaymentId, RecipientId, TransferId,
};
use crate::money::Currency;
use crate::payment::PaymentStatus;
use crate::transfer::TransferStatus;
use chrono::{DateTime, Utc};
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
    #[error("recipient {0} not found")]
    RecipientNotFound(RecipientId),
    #[error("recipient {0} already exists")]
    RecipientAlreadyExists(RecipientId),
    #[error("recipient {0} is hidden: show it again before sending to it")]
    RecipientHidden(RecipientId),
    #[error(
        "recipient {recipient} takes {recipient_currency}, the transfer is in {transfer_currency}"
    )]
    RecipientCurrencyMismatch {
        recipient: RecipientId,
        recipient_currency: Currency,
        transfer_currency: Currency,
    },
    #[error("confirmation {0} not found")]
    ConfirmationNotFound(ConfirmationId),
    #[error("confirmation {0} already exists")]
    ConfirmationAlreadyExists(ConfirmationId),
    #[error("the code of confirmation {0} has expired: ask for a new one")]
    OtpExpired(ConfirmationId),
    #[error("confirmation {0} had too many wrong codes: ask for a new one")]
    OtpAttemptsExceeded(ConfirmationId),
    #[error("the code of confirmation {0} was already used")]
    OtpAlreadyUsed(ConfirmationId),
    #[error("transfer {0} needs its one-time code (confirmationId and code)")]
    OtpRequired(TransferId),
    #[error(
        "the FX quote of transfer {transfer} expired at {expired_at}: cancel it and ask for a new quote"
    )]
    FxQuoteExpired {
        transfer: TransferId,
        expired_at: DateTime<Utc>,
    },
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
            LedgerError::RecipientNotFound(_) => "RecipientNotFound",
            LedgerError::RecipientAlreadyExists(_) => "RecipientAlreadyExists",
            LedgerError::RecipientHidden(_) => "RecipientHidden",
            LedgerError::RecipientCurrencyMismatch { .. } => "CurrencyMismatch",
            LedgerError::ConfirmationNotFound(_) => "ConfirmationNotFound",
            LedgerError::ConfirmationAlreadyExists(_) => "ConfirmationAlreadyExists",
            LedgerError::OtpExpired(_) => "OtpExpired",
            LedgerError::OtpAttemptsExceeded(_) => "OtpAttemptsExceeded",
            LedgerError::OtpAlreadyUsed(_) => "OtpAlreadyUsed",
            LedgerError::OtpRequired(_) => "OtpRequired",
            LedgerError::FxQuoteExpired { .. } => "FxQuoteExpired",
            LedgerError::IdempotencyConflict { .. } => "IdempotencyConflict",
            LedgerError::InvalidCommand { .. } => "InvalidCommand",
        }
    }
}
