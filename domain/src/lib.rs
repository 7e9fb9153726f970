//! Folio's rules of money. Pure: no I/O, no async, no clock, no randomness — ids and time come
//! in with each command, so every decision replays exactly.

pub mod account;
pub mod client;
pub mod codec;
pub mod command;
pub mod confirmation;
pub mod document;
pub mod error;
pub mod event;
pub mod fx;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod payment;
pub mod recipient;
pub mod transfer;

pub use account::{Account, AccountStatus, AccountType, BalancePolicy};
pub use client::{Client, ClientPatch, ClientProfile, ClientStatus, ClientType};
pub use command::{
    AddRecipient, Command, CommandKind, CreateFxTransfer, CreateMode, CreatePayment,
    CreateTransfer, IssueConfirmation, LegRequest, OpenAccount, OtpProof, ReceiveTransfer,
    UploadDocument,
};
pub use confirmation::{Confirmation, NewConfirmation};
pub use document::{ContentKind, Document, DocumentOwner, DocumentType};
pub use error::LedgerError;
pub use event::{
    AccountEvent, ClientEvent, ConfirmationEvent, DocumentEvent, Event, EventBody,
    IdempotencyStamp, PaymentEvent, RecipientEvent, TransferEvent,
};
pub use fx::{FxAmounts, FxQuote, fx_amounts};
pub use ids::{
    AccountId, ClientId, ConfirmationId, DocumentId, PaymentId, RecipientId, TransferId,
};
pub use ledger::{
    DigestKey, Executed, Ledger, LedgerSnapshot, Processed, Receipt, SnapshotError, StoredSnapshot,
};
pub use money::Currency;
pub use payment::{Leg, Payment, PaymentStatus, PostedLeg};
pub use recipient::{Recipient, RecipientType};
pub use transfer::{
    FeeSchedule, Transfer, TransferDirection, TransferOutcome, TransferStatus, TransferType,
    external_transfer_type,
};
