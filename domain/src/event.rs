//! Events: the immutable facts the ledger records. One enum per aggregate; each event type is
//! its own struct so the log's `event_type` column picks the decoder without a tag lookup.

use crate::account::{AccountStatus, AccountType, BalancePolicy};
use crate::client::{ClientPatch, ClientProfile};
use crate::document::{DocumentOwner, DocumentType};
use crate::fx::FxQuote;
use crate::ids::{
    AccountId, ClientId, ConfirmationId, DocumentId, PaymentId, RecipientId, TransferId,
};
use crate::money::Currency;
use crate::payment::{Leg, PaymentStatus, PostedLeg};
use crate::recipient::RecipientType;
use crate::transfer::{TransferDirection, TransferType};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An event as the ledger produces and applies it: its body, the revision it takes in its
/// stream, and, on the last event of a keyed command, the idempotency stamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub body: EventBody,
    /// 0 for the first event of the stream.
    pub revision: u64,
    pub idempotency: Option<IdempotencyStamp>,
}

/// The idempotency key of the command that produced an event and the fingerprint of its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyStamp {
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    Account(AccountEvent),
    Payment(PaymentEvent),
    Client(ClientEvent),
    Transfer(TransferEvent),
    Document(DocumentEvent),
    Recipient(RecipientEvent),
    Confirmation(ConfirmationEvent),
}

/// A client's saved beneficiaries.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipientEvent {
    Added(Box<RecipientAdded>),
    VisibilityChanged(RecipientVisibilityChanged),
}

/// One-time-code confirmations. A failed attempt is a fact too, so a restart keeps the count.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmationEvent {
    Issued(Box<ConfirmationIssued>),
    AttemptFailed(ConfirmationAttempt),
    Verified(ConfirmationAttempt),
}

/// A document's life: uploaded once, deleted at most once. Its bytes live in the content store
/// under `sha256`; the log keeps what an auditor needs to find and check them.
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentEvent {
    Uploaded(Box<DocumentUploaded>),
    Deleted(DocumentDeleted),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientAdded {
    pub recipient_id: RecipientId,
    pub client_id: ClientId,
    pub name: String,
    pub recipient_type: RecipientType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_code: Option<String>,
    pub currency: Currency,
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientVisibilityChanged {
    pub recipient_id: RecipientId,
    pub is_visible: bool,
}

/// A code was issued: only its salted hash is recorded, never the code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmationIssued {
    pub confirmation_id: ConfirmationId,
    pub account_id: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<TransferId>,
    pub operation: String,
    pub code_hash: String,
    pub salt: String,
    pub expires_at: DateTime<Utc>,
}

/// An attempt at a confirmation's code (failed or verified: the event type says which);
/// `attempt` counts from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmationAttempt {
    pub confirmation_id: ConfirmationId,
    pub attempt: u32,
}

impl RecipientEvent {
    pub fn recipient_id(&self) -> RecipientId {
        match self {
            RecipientEvent::Added(e) => e.recipient_id,
            RecipientEvent::VisibilityChanged(e) => e.recipient_id,
        }
    }
}

impl ConfirmationEvent {
    pub fn confirmation_id(&self) -> ConfirmationId {
        match self {
            ConfirmationEvent::Issued(e) => e.confirmation_id,
            ConfirmationEvent::AttemptFailed(e) | ConfirmationEvent::Verified(e) => {
                e.confirmation_id
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentUploaded {
    pub document_id: DocumentId,
    pub owner: DocumentOwner,
    pub document_type: DocumentType,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentDeleted {
    pub document_id: DocumentId,
    pub owner: DocumentOwner,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DocumentEvent {
    pub fn document_id(&self) -> DocumentId {
        match self {
            DocumentEvent::Uploaded(e) => e.document_id,
            DocumentEvent::Deleted(e) => e.document_id,
        }
    }

    pub fn owner(&self) -> DocumentOwner {
        match self {
            DocumentEvent::Uploaded(e) => e.owner,
            DocumentEvent::Deleted(e) => e.owner,
        }
    }
}

/// A transfer's steps. Each is recorded in the same command as the payment operation it drives,
/// so a step and its money movement are never apart.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferEvent {
    /// An outgoing or internal transfer, awaiting confirmation (its payment is a draft).
    Created(Box<TransferCreated>),
    Confirmed(TransferStepped),
    ProcessingStarted(TransferStepped),
    Suspended(TransferStepped),
    Continued(TransferStepped),
    Completed(TransferStepped),
    Rejected(TransferStepped),
    Failed(TransferStepped),
    Cancelled(TransferStepped),
    /// An incoming transfer the provider announced (its payment is posted in the same command).
    Received(Box<TransferReceived>),
    Unrecognized(TransferStepped),
    Assigned(TransferAssigned),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AccountEvent {
    Opened(AccountOpened),
    Renamed(AccountRenamed),
    Activated(AccountStatusChanged),
    Blocked(AccountBlocked),
    Unblocked(AccountStatusChanged),
    Closed(AccountStatusChanged),
    DefaultChanged(AccountDefaultChanged),
    Reordered(AccountReordered),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PaymentEvent {
    Created(PaymentCreated),
    Pended(PaymentPended),
    Posted(PaymentPosted),
    Cancelled(PaymentCancelled),
    Expired(PaymentExpired),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Boxed, like the update: a profile is large and payment events are the hot path.
    Registered(Box<ClientRegistered>),
    Updated(Box<ClientUpdated>),
    Blocked(ClientStatusChanged),
    Unblocked(ClientStatusChanged),
}

/// A new client, active, with its whole profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientRegistered {
    pub client_id: ClientId,
    pub profile: ClientProfile,
}

/// The fields that changed (absent: unchanged; null: cleared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientUpdated {
    pub client_id: ClientId,
    pub patch: ClientPatch,
}

/// Blocked or unblocked: the event type says which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientStatusChanged {
    pub client_id: ClientId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountOpened {
    pub account_id: AccountId,
    pub number: String,
    pub client_id: Option<ClientId>,
    pub currency: Currency,
    pub account_type: AccountType,
    pub status: AccountStatus,
    pub name: Option<String>,
    pub policy: BalancePolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountRenamed {
    pub account_id: AccountId,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountBlocked {
    pub account_id: AccountId,
    pub reason: Option<String>,
}

/// Activated, unblocked or closed: the event type says which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountStatusChanged {
    pub account_id: AccountId,
}

/// The account became its client's default for its currency (`isDefault: true`), or stopped
/// being it. Making one account the default also records `false` on the one it replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountDefaultChanged {
    pub account_id: AccountId,
    pub is_default: bool,
}

/// The account's place in its client's display order (one event per account reordered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountReordered {
    pub account_id: AccountId,
    pub order: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentCreated {
    pub payment_id: PaymentId,
    /// Draft, Pending (funds held) or Posted (money moved).
    pub status: PaymentStatus,
    pub legs: Vec<Leg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A draft's funds are now held: each leg's amount is pending on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentPended {
    pub payment_id: PaymentId,
    pub legs: Vec<Leg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentPosted {
    pub payment_id: PaymentId,
    pub legs: Vec<PostedLeg>,
}

/// `released` lists the holds paid back (empty when cancelled from draft).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentCancelled {
    pub payment_id: PaymentId,
    pub released: Vec<Leg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentExpired {
    pub payment_id: PaymentId,
    pub released: Vec<Leg>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferCreated {
    pub transfer_id: TransferId,
    /// Outgoing, internal or foreign exchange.
    pub direction: TransferDirection,
    pub transfer_type: TransferType,
    pub payment_id: PaymentId,
    pub source_account_id: AccountId,
    /// The Folio account credited (internal and FX transfers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_account_id: Option<AccountId>,
    /// The beneficiary's IBAN or account number as given.
    pub beneficiary_account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<uuid::Uuid>,
    /// What leaves the source account, fee excluded (an FX transfer's source amount).
    pub amount: Decimal,
    pub currency: Currency,
    /// Charged on top of `amount` to the bank's fee account (an FX transfer's spread).
    pub fee: Decimal,
    /// The one-time-code confirmation issued with the transfer (none: confirmed without a code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_id: Option<ConfirmationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An FX transfer's other side and the quote it was converted at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx: Option<FxTerms>,
}

/// The destination side of an FX transfer and the quote that priced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FxTerms {
    pub destination_amount: Decimal,
    pub destination_currency: Currency,
    pub quote: FxQuote,
}

/// A status step; the event type says which. `reason` for cancels, rejections, failures and
/// suspensions; `provider_reference` when the provider names its own id for the transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferStepped {
    pub transfer_id: TransferId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferReceived {
    pub transfer_id: TransferId,
    /// The pay-in: settlement → beneficiary, or settlement → suspense when unrecognized.
    pub payment_id: PaymentId,
    pub provider_reference: String,
    pub amount: Decimal,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_account: Option<String>,
    pub beneficiary_account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The Folio account credited; none when unrecognized (the suspense account holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_account_id: Option<AccountId>,
}

/// Ops named the account of an unrecognized incoming transfer; `payment_id` moves the money
/// from the suspense account to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferAssigned {
    pub transfer_id: TransferId,
    pub account_id: AccountId,
    pub payment_id: PaymentId,
}

impl TransferEvent {
    pub fn transfer_id(&self) -> TransferId {
        match self {
            TransferEvent::Created(e) => e.transfer_id,
            TransferEvent::Received(e) => e.transfer_id,
            TransferEvent::Assigned(e) => e.transfer_id,
            TransferEvent::Confirmed(e)
            | TransferEvent::ProcessingStarted(e)
            | TransferEvent::Suspended(e)
            | TransferEvent::Continued(e)
            | TransferEvent::Completed(e)
            | TransferEvent::Rejected(e)
            | TransferEvent::Failed(e)
            | TransferEvent::Cancelled(e)
            | TransferEvent::Unrecognized(e) => e.transfer_id,
        }
    }
}

impl EventBody {
    /// The stream the event belongs to: `account-{id}`, `payment-{id}` or `client-{id}`.
    pub fn stream_id(&self) -> String {
        match self {
            EventBody::Account(event) => format!("account-{}", event.account_id()),
            EventBody::Payment(event) => format!("payment-{}", event.payment_id()),
            EventBody::Client(event) => format!("client-{}", event.client_id()),
            EventBody::Transfer(event) => format!("transfer-{}", event.transfer_id()),
            EventBody::Document(event) => format!("document-{}", event.document_id()),
            EventBody::Recipient(event) => format!("recipient-{}", event.recipient_id()),
            EventBody::Confirmation(event) => {
                format!("confirmation-{}", event.confirmation_id())
            }
        }
    }

    /// Every account whose counters or record this event changes, each once.
    pub fn touched_accounts(&self) -> Vec<AccountId> {
        let mut accounts = Vec::with_capacity(2);
        let mut add = |id: AccountId| {
            if !accounts.contains(&id) {
                accounts.push(id);
            }
        };
        match self {
            EventBody::Account(event) => add(event.account_id()),
            // Transfers move money only through their payments' events.
            EventBody::Client(_)
            | EventBody::Transfer(_)
            | EventBody::Document(_)
            | EventBody::Recipient(_)
            | EventBody::Confirmation(_) => {}
            EventBody::Payment(PaymentEvent::Created(e)) if e.status == PaymentStatus::Draft => {}
            EventBody::Payment(PaymentEvent::Created(PaymentCreated { legs, .. }))
            | EventBody::Payment(PaymentEvent::Pended(PaymentPended { legs, .. }))
            | EventBody::Payment(PaymentEvent::Cancelled(PaymentCancelled {
                released: legs,
                ..
            }))
            | EventBody::Payment(PaymentEvent::Expired(PaymentExpired {
                released: legs, ..
            })) => {
                for leg in legs {
                    add(leg.debit);
                    add(leg.credit);
                }
            }
            EventBody::Payment(PaymentEvent::Posted(e)) => {
                for leg in &e.legs {
                    add(leg.debit);
                    add(leg.credit);
                }
            }
        }
        accounts
    }
}

impl AccountEvent {
    pub fn account_id(&self) -> AccountId {
        match self {
            AccountEvent::Opened(e) => e.account_id,
            AccountEvent::Renamed(e) => e.account_id,
            AccountEvent::Blocked(e) => e.account_id,
            AccountEvent::DefaultChanged(e) => e.account_id,
            AccountEvent::Reordered(e) => e.account_id,
            AccountEvent::Activated(e) | AccountEvent::Unblocked(e) | AccountEvent::Closed(e) => {
                e.account_id
            }
        }
    }
}

impl ClientEvent {
    pub fn client_id(&self) -> ClientId {
        match self {
            ClientEvent::Registered(e) => e.client_id,
            ClientEvent::Updated(e) => e.client_id,
            ClientEvent::Blocked(e) | ClientEvent::Unblocked(e) => e.client_id,
        }
    }
}

impl PaymentEvent {
    pub fn payment_id(&self) -> PaymentId {
        match self {
            PaymentEvent::Created(e) => e.payment_id,
            PaymentEvent::Pended(e) => e.payment_id,
            PaymentEvent::Posted(e) => e.payment_id,
            PaymentEvent::Cancelled(e) => e.payment_id,
            PaymentEvent::Expired(e) => e.payment_id,
        }
    }
}
