//! Folio's rules of money. Pure: no I/O, no async, no clock, no randomness — ids and time come
//! in with each command, so every decision replays exactly.

pub mod account;
pub mod client;
pub mod codec;
pub mod command;
pub mod document;
pub mod error;
pub mod event;
pub mod fx;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod payment;
pub mod transfer;

pub use account::{Account, AccountStatus, AccountType, BalancePolicy};
pub use client::{Client, ClientPatch, ClientProfile, ClientStatus, ClientType};
pub use command::{
    Command, CommandKind, CreateFxTransfer, CreateMode, CreatePayment, CreateTransfer, LegRequest,
    OpenAccount, ReceiveTransfer, UploadDocument,
};
pub use document::{ContentKind, Document, DocumentOwner, DocumentType};
pub use error::LedgerError;
pub use event::{
    AccountEvent, ClientEvent, DocumentEvent, Event, EventBody, IdempotencyStamp, PaymentEvent,
    TransferEvent,
};
pub use fx::{FxAmounts, FxQuote, fx_amounts};
pub use ids::{AccountId, ClientId, DocumentId, PaymentId, TransferId};
pub use ledger::{Executed, Ledger, LedgerSnapshot, Processed, Receipt};
pub use money::Currency;
pub use payment::{Leg, Payment, PaymentStatus, PostedLeg};
pub use transfer::{
    FeeSchedule, Transfer, TransferDirection, TransferOutcome, TransferStatus, TransferType,
    external_transfer_type,
};
