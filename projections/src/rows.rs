//! The rows of the read models, as the fold produces them and the backends store them.

use chrono::{DateTime, NaiveDate, Utc};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, ClientProfile, ClientStatus, Currency,
    DocumentId, DocumentOwner, DocumentType, Leg, PaymentId, PaymentStatus, RecipientId,
    RecipientType, TransferDirection, TransferId, TransferStatus, TransferType,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An account's balances and record (the balance read model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    pub account_id: AccountId,
    pub number: String,
    pub client_id: Option<ClientId>,
    pub currency: Currency,
    pub account_type: AccountType,
    pub status: AccountStatus,
    pub name: Option<String>,
    pub overdraft_limit: Decimal,
    pub debits_pending: Decimal,
    pub debits_posted: Decimal,
    pub credits_pending: Decimal,
    pub credits_posted: Decimal,
    /// Its client's default account for its currency.
    #[serde(default)]
    pub is_default: bool,
    /// Its place in its client's display order (0 first).
    #[serde(default)]
    pub order: u32,
    /// Events applied to this account (its own and the payments that touched it).
    pub version: u64,
    pub last_position: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AccountRow {
    pub fn balance(&self) -> Decimal {
        self.credits_posted - self.debits_posted
    }

    pub fn held(&self) -> Decimal {
        self.debits_pending
    }

    pub fn available_balance(&self) -> Decimal {
        self.balance() - self.held()
    }
}

/// An account's four counters as ops' repair proves them from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub account_id: AccountId,
    pub debits_pending: Decimal,
    pub debits_posted: Decimal,
    pub credits_pending: Decimal,
    pub credits_posted: Decimal,
}

impl Counters {
    /// The balance, held and available columns that follow from the counters.
    pub fn amounts(&self) -> [Decimal; 3] {
        let balance = self.credits_posted - self.debits_posted;
        [balance, self.debits_pending, balance - self.debits_pending]
    }

    pub fn of_row(row: &AccountRow) -> Counters {
        Counters {
            account_id: row.account_id,
            debits_pending: row.debits_pending,
            debits_posted: row.debits_posted,
            credits_pending: row.credits_pending,
            credits_posted: row.credits_posted,
        }
    }
}

/// A client's profile and status (the clients read model): what ClientDto is made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRow {
    pub client_id: ClientId,
    pub status: ClientStatus,
    /// Every ClientDto field a command sets (type, legalName, email, address, …).
    pub profile: ClientProfile,
    /// Why the client is blocked (None while it is not).
    pub block_reason: Option<String>,
    /// Events applied to this client (its stream's revision + 1).
    pub version: u64,
    pub last_position: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ClientRow {
    /// The lower-cased legal name and e-mail, one per line: what a name/e-mail search scans.
    pub fn search_text(&self) -> String {
        let email = self.profile.email.as_deref().unwrap_or_default();
        format!("{}\n{}", self.profile.legal_name, email).to_lowercase()
    }
}

/// What a statement line did to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransactionType {
    /// Posted money in.
    Deposit,
    /// Posted money out.
    Withdrawal,
    /// Money reserved by a pending payment (balance unchanged, available down).
    Hold,
    /// A hold released: paid back on cancel or expiry, or ahead of the withdrawal on post.
    Payback,
}

impl TransactionType {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Deposit => "deposit",
            TransactionType::Withdrawal => "withdrawal",
            TransactionType::Hold => "hold",
            TransactionType::Payback => "payback",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionType> {
        match text {
            "deposit" => Some(TransactionType::Deposit),
            "withdrawal" => Some(TransactionType::Withdrawal),
            "hold" => Some(TransactionType::Hold),
            "payback" => Some(TransactionType::Payback),
            _ => None,
        }
    }
}

/// One statement line: a movement on one account with the balances right after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionRow {
    /// Deterministic (from position and line), so a rebuild gives every line the same id.
    pub transaction_id: Uuid,
    pub position: u64,
    /// Order of the line within its event.
    pub line: u32,
    pub payment_id: PaymentId,
    pub account_id: AccountId,
    pub transaction_type: TransactionType,
    pub amount: Decimal,
    pub currency: Currency,
    pub balance_after: Decimal,
    pub available_after: Decimal,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One account's posted movement on one business day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyRow {
    pub account_id: AccountId,
    pub day: NaiveDate,
    pub currency: Currency,
    pub opening: Decimal,
    pub total_debits: Decimal,
    pub total_credits: Decimal,
    pub closing: Decimal,
    /// Posted movements (deposits and withdrawals) that day.
    pub movements: u64,
}

/// A payment's status, legs and the time of each transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub payment_id: PaymentId,
    pub status: PaymentStatus,
    pub legs: Vec<Leg>,
    /// The first leg's customer-facing sides (None where it is the settlement account).
    pub source_account_id: Option<AccountId>,
    pub destination_account_id: Option<AccountId>,
    pub amount: Decimal,
    pub currency: Currency,
    /// What was finally moved (a partial post moves less than `amount`).
    pub posted_amount: Option<Decimal>,
    pub description: Option<String>,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub pended_at: Option<DateTime<Utc>>,
    pub posted_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_position: u64,
}

/// One step of a transfer's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferStep {
    pub status: TransferStatus,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a transfer row keeps beyond its filtered columns (stored as JSON in `details`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// For an assigned incoming transfer: the pay-in that parked the money on suspense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_payment_id: Option<PaymentId>,
    /// For an FX transfer: the quote it was converted at (rate, spread, time, provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<folio_domain::FxQuote>,
    /// The one-time-code confirmation confirming the transfer needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_id: Option<Uuid>,
}

/// A client's saved beneficiary (the recipient read model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientRow {
    pub recipient_id: RecipientId,
    pub client_id: ClientId,
    pub is_visible: bool,
    pub details: RecipientDetails,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_position: u64,
}

/// A recipient's bank details and address (stored as JSON in `details`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientDetails {
    pub name: String,
    pub recipient_type: RecipientType,
    pub account_number: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub sort_code: Option<String>,
    pub currency: Currency,
    pub country: String,
    pub address: Option<String>,
}

/// A recipient hidden or shown again, for a row an earlier batch wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientVisibility {
    pub recipient_id: RecipientId,
    pub is_visible: bool,
    pub at: DateTime<Utc>,
    pub position: u64,
}

impl RecipientRow {
    /// `visible` or `hidden`: the text both backends filter on.
    pub fn visibility(&self) -> &'static str {
        visibility_text(self.is_visible)
    }
}

pub fn visibility_text(is_visible: bool) -> &'static str {
    if is_visible { "visible" } else { "hidden" }
}

/// A transfer with its parties, amounts and status history (the transfer read model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRow {
    pub transfer_id: TransferId,
    pub direction: TransferDirection,
    pub status: TransferStatus,
    pub transfer_type: Option<TransferType>,
    /// The client's account debited (outgoing, internal).
    pub source_account_id: Option<AccountId>,
    /// The Folio account credited (internal, incoming once recognized or assigned).
    pub destination_account_id: Option<AccountId>,
    pub recipient_id: Option<Uuid>,
    /// What leaves the source (an FX transfer's source amount), fee excluded.
    pub amount: Decimal,
    pub currency: Currency,
    pub fee: Decimal,
    pub rate: Option<Decimal>,
    /// An FX transfer's other side: what arrives, in which currency.
    pub destination_amount: Option<Decimal>,
    pub destination_currency: Option<Currency>,
    pub reference: Option<String>,
    pub payment_id: PaymentId,
    pub status_history: Vec<TransferStep>,
    pub details: TransferDetails,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_position: u64,
}

/// A document's metadata (the documents read model); its bytes are in the content store under
/// `sha256`. A deleted document keeps its row, with `deleted_at`, so the history stays queryable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRow {
    pub document_id: DocumentId,
    pub owner: DocumentOwner,
    pub document_type: DocumentType,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub last_position: u64,
}

impl DocumentRow {
    /// `client` or `transfer`, and the owner's id: the two columns the owner is stored in.
    pub fn owner_columns(&self) -> (&'static str, Uuid) {
        owner_columns(self.owner)
    }
}

/// The (kind, id) columns of an owner.
pub fn owner_columns(owner: DocumentOwner) -> (&'static str, Uuid) {
    match owner {
        DocumentOwner::Client(id) => ("client", id.0),
        DocumentOwner::Transfer(id) => ("transfer", id.0),
    }
}

/// The owner stored as (kind, id), or None for a kind this build does not know.
pub fn owner_from_columns(kind: &str, id: Uuid) -> Option<DocumentOwner> {
    match kind {
        "client" => Some(DocumentOwner::Client(ClientId(id))),
        "transfer" => Some(DocumentOwner::Transfer(TransferId(id))),
        _ => None,
    }
}

/// A document deleted by an event of a batch whose upload was written by an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentDeletion {
    pub document_id: DocumentId,
    pub deleted_at: DateTime<Utc>,
    pub last_position: u64,
}
