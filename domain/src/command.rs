//! Commands: what a caller asks the ledger to do. Ids and time come in with the command, so
//! deciding one is a pure function of the ledger state.

use crate::account::{AccountStatus, AccountType};
use crate::client::{ClientPatch, ClientProfile};
use crate::confirmation::NewConfirmation;
use crate::document::{DocumentOwner, DocumentType};
use crate::fx::FxQuote;
use crate::ids::{
    AccountId, ClientId, ConfirmationId, DocumentId, PaymentId, RecipientId, TransferId,
};
use crate::money::Currency;
use crate::recipient::RecipientType;
use crate::transfer::{FeeSchedule, TransferOutcome};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A command with the time it is decided at and an optional idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// The instant the command is decided at (the engine stamps it, monotonic).
    pub at: DateTime<Utc>,
    /// A retry with the same key and the same request returns the first outcome.
    pub idempotency_key: Option<String>,
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "camelCase")]
pub enum CommandKind {
    OpenAccount(OpenAccount),
    RenameAccount {
        account_id: AccountId,
        name: Option<String>,
    },
    ActivateAccount {
        account_id: AccountId,
    },
    BlockAccount {
        account_id: AccountId,
        reason: Option<String>,
    },
    UnblockAccount {
        account_id: AccountId,
    },
    CloseAccount {
        account_id: AccountId,
    },
    /// `is_default: true` makes a customer account its client's default for its currency (the
    /// previous default, if any, stops being it); `false` makes it no longer the default.
    SetDefaultAccount {
        account_id: AccountId,
        is_default: bool,
    },
    /// Gives the listed accounts, all of `client_id`, the display order 0, 1, … in the order
    /// listed; the client's other accounts keep theirs.
    ReorderAccounts {
        client_id: ClientId,
        account_ids: Vec<AccountId>,
    },
    CreatePayment(CreatePayment),
    PendPayment {
        payment_id: PaymentId,
        expires_at: Option<DateTime<Utc>>,
    },
    /// Posts a pending payment; `amount` below the held amount posts part and releases the rest
    /// (single-leg payments only).
    PostPayment {
        payment_id: PaymentId,
        amount: Option<Decimal>,
    },
    CancelPayment {
        payment_id: PaymentId,
        reason: Option<String>,
    },
    /// Releases a pending payment whose expiry has passed (refused once it is final, expired
    /// included).
    ExpirePayment {
        payment_id: PaymentId,
    },
    /// Registers a client (active) with its profile.
    RegisterClient {
        client_id: ClientId,
        profile: Box<ClientProfile>,
    },
    /// Changes the fields the patch names; the rest of the profile stays.
    UpdateClient {
        client_id: ClientId,
        patch: Box<ClientPatch>,
    },
    /// No new accounts and no money out of the client's accounts until unblocked.
    BlockClient {
        client_id: ClientId,
        reason: Option<String>,
    },
    UnblockClient {
        client_id: ClientId,
        reason: Option<String>,
    },
    /// A transfer from a client's account to an IBAN or account number: internal when the
    /// number is a Folio account's, outgoing otherwise. Its payment is a draft until confirmed.
    CreateOutgoingTransfer(Box<CreateTransfer>),
    /// An FX transfer between two accounts of one client in different currencies, at the
    /// quote given. Its payment is a draft until confirmed.
    CreateFxTransfer(Box<CreateFxTransfer>),
    /// Holds the funds (pend); an internal or FX transfer is also posted and completed at once.
    /// A transfer issued with a confirmation needs its code: a wrong one records a failed
    /// attempt and confirms nothing.
    ConfirmTransfer {
        transfer_id: TransferId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        otp: Option<OtpProof>,
    },
    /// Only before processing: the hold, if any, is paid back.
    CancelTransfer {
        transfer_id: TransferId,
        reason: Option<String>,
    },
    /// Ops execute a confirmed or suspended outgoing transfer now: it is processing (the
    /// process manager hands it to the rail).
    ExecuteTransfer {
        transfer_id: TransferId,
    },
    /// The process manager is about to hand a confirmed transfer to the rail.
    StartTransferProcessing {
        transfer_id: TransferId,
    },
    SuspendTransfer {
        transfer_id: TransferId,
        reason: Option<String>,
    },
    /// Ops resume a suspended transfer: it is processing again.
    ContinueTransfer {
        transfer_id: TransferId,
    },
    /// The provider's final answer: completed posts the payment, rejected or failed cancels it.
    RecordTransferOutcome {
        transfer_id: TransferId,
        outcome: TransferOutcome,
    },
    /// A provider notification of money coming in.
    ReceiveIncomingTransfer(Box<ReceiveTransfer>),
    /// Moves an unrecognized incoming transfer's money from the suspense account to `account_id`.
    AssignIncomingTransfer {
        transfer_id: TransferId,
        account_id: AccountId,
        payment_id: PaymentId,
    },
    /// Records a document whose bytes are already durable under `sha256` (the API stores
    /// them first, so an acknowledged upload never lacks its bytes).
    UploadDocument(Box<UploadDocument>),
    /// The document is no longer listed or served; its events (and bytes) stay for audit.
    DeleteDocument {
        document_id: DocumentId,
        /// The owner the caller named: a document of another owner is not found.
        owner: DocumentOwner,
        reason: Option<String>,
    },
    /// Saves a beneficiary for `client_id`'s transfers.
    AddRecipient(Box<AddRecipient>),
    /// Hides a recipient from new transfers (its history stays), or shows it again.
    SetRecipientVisibility {
        recipient_id: RecipientId,
        is_visible: bool,
    },
    /// Issues a one-time code for an operation on an account (its hash only).
    IssueConfirmation(Box<IssueConfirmation>),
    /// Checks a code: a match spends it, a mismatch records a failed attempt. `client_id` is the
    /// caller's client (None for the bank), whose account the confirmation must be for.
    VerifyConfirmation {
        confirmation_id: ConfirmationId,
        code: String,
        client_id: Option<ClientId>,
    },
}

/// A confirmation's id and the code the caller typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtpProof {
    pub confirmation_id: ConfirmationId,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadDocument {
    pub document_id: DocumentId,
    pub owner: DocumentOwner,
    pub document_type: DocumentType,
    /// A plain name (no path); shown and offered on download, never used to store the bytes.
    pub file_name: String,
    /// One of the accepted media types, matching the bytes' signature.
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the bytes in lower-case hex: where the content store keeps them.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueConfirmation {
    pub account_id: AccountId,
    /// What the code confirms, as the caller names it (`withdrawal`, `changePhone`, …).
    pub operation: String,
    pub confirmation: NewConfirmation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddRecipient {
    pub recipient_id: RecipientId,
    pub client_id: ClientId,
    pub name: String,
    pub recipient_type: RecipientType,
    /// Exactly one of `account_number` and `iban`.
    pub account_number: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub sort_code: Option<String>,
    pub currency: Currency,
    pub country: String,
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTransfer {
    pub transfer_id: TransferId,
    pub payment_id: PaymentId,
    pub source_account_id: AccountId,
    /// An IBAN or account number; a Folio account's number makes the transfer internal.
    /// Exactly one of it and `recipient_id` (whose account and name are then used).
    pub beneficiary_account: Option<String>,
    pub beneficiary_name: Option<String>,
    pub recipient_id: Option<uuid::Uuid>,
    pub amount: Decimal,
    pub currency: Currency,
    pub reference: Option<String>,
    pub description: Option<String>,
    /// The fee schedule in force (the fee is charged as a second leg to the fee account).
    #[serde(default)]
    pub fees: FeeSchedule,
    /// A one-time-code confirmation to issue with the transfer: confirming then needs its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<NewConfirmation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateFxTransfer {
    pub transfer_id: TransferId,
    pub payment_id: PaymentId,
    pub source_account_id: AccountId,
    pub destination_account_id: AccountId,
    /// Exactly one of the two amounts; the other follows from the quote.
    pub source_amount: Option<Decimal>,
    pub destination_amount: Option<Decimal>,
    pub source_currency: Currency,
    pub destination_currency: Currency,
    /// The rate provider's quote, asked for by the caller (the ledger never asks).
    pub quote: FxQuote,
    /// How long the quote can be confirmed, counted from the instant the ledger decides the
    /// creation (its own clock, so the expiry never disagrees with the times it decides by);
    /// the recorded quote carries the resulting `expiresAt`. Not with a quote that already
    /// carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_valid_for_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveTransfer {
    pub transfer_id: TransferId,
    pub payment_id: PaymentId,
    pub provider_reference: String,
    pub amount: Decimal,
    pub currency: Currency,
    pub payer_name: Option<String>,
    pub payer_account: Option<String>,
    pub beneficiary_account: String,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenAccount {
    pub account_id: AccountId,
    /// Required for customer accounts (current, savings); none for internal ones.
    pub client_id: Option<ClientId>,
    pub currency: Currency,
    pub account_type: AccountType,
    pub name: Option<String>,
    /// Chosen by the caller, or assigned by the ledger when absent.
    pub number: Option<String>,
    /// How far below zero a customer account may go (0 = never).
    pub overdraft_limit: Decimal,
    /// `Active` or `Inactive`.
    pub status: AccountStatus,
}

/// How a new payment starts its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CreateMode {
    /// Recorded only; no money moves (the seed's "create draft").
    Draft,
    /// Holds the funds at once (draft + pend in one step).
    Pending,
    /// Moves the money at once (the seed's "create single transaction").
    Posted,
}

/// One leg as asked for. A missing side is the currency's settlement account: a pay-in names
/// only the credited account, a pay-out only the debited one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegRequest {
    pub debit: Option<AccountId>,
    pub credit: Option<AccountId>,
    pub amount: Decimal,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayment {
    pub payment_id: PaymentId,
    pub legs: Vec<LegRequest>,
    pub mode: CreateMode,
    pub description: Option<String>,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// Only with `CreateMode::Pending`: when the hold is released if not posted.
    pub expires_at: Option<DateTime<Utc>>,
}

impl CommandKind {
    /// A digest of what the caller asked for, without the ids the server generated for it, so
    /// that a retry of the same request matches and a different request under the same key
    /// does not.
    pub fn fingerprint(&self) -> String {
        let mut request = self.clone();
        match &mut request {
            CommandKind::OpenAccount(open) => open.account_id = AccountId(uuid::Uuid::nil()),
            CommandKind::CreatePayment(create) => create.payment_id = PaymentId(uuid::Uuid::nil()),
            CommandKind::RegisterClient { client_id, .. } => {
                *client_id = ClientId(uuid::Uuid::nil())
            }
            CommandKind::CreateOutgoingTransfer(create) => {
                create.transfer_id = TransferId(uuid::Uuid::nil());
                create.payment_id = PaymentId(uuid::Uuid::nil());
                if let Some(confirmation) = &mut create.confirmation {
                    confirmation.blank_generated();
                }
            }
            // A retry is quoted afresh (a new time at least): the quote is not what was asked.
            CommandKind::CreateFxTransfer(create) => {
                create.transfer_id = TransferId(uuid::Uuid::nil());
                create.payment_id = PaymentId(uuid::Uuid::nil());
                create.quote = FxQuote {
                    rate: Decimal::ZERO,
                    spread: Decimal::ZERO,
                    quoted_at: DateTime::<Utc>::UNIX_EPOCH,
                    provider: String::new(),
                    expires_at: None,
                };
                create.quote_valid_for_ms = None;
            }
            CommandKind::AddRecipient(add) => add.recipient_id = RecipientId(uuid::Uuid::nil()),
            CommandKind::IssueConfirmation(issue) => issue.confirmation.blank_generated(),
            CommandKind::ReceiveIncomingTransfer(receive) => {
                receive.transfer_id = TransferId(uuid::Uuid::nil());
                receive.payment_id = PaymentId(uuid::Uuid::nil());
            }
            CommandKind::AssignIncomingTransfer { payment_id, .. } => {
                *payment_id = PaymentId(uuid::Uuid::nil())
            }
            CommandKind::UploadDocument(upload) => {
                upload.document_id = DocumentId(uuid::Uuid::nil())
            }
            _ => {}
        }
        // Serializing plain data structs cannot fail; an empty digest input would still be
        // deterministic, so no error path is needed here.
        let bytes = serde_json::to_vec(&request).unwrap_or_default();
        hex::encode(&Sha256::digest(&bytes)[..16])
    }
}
