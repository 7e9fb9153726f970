//! The DTOs of API.md §2 and their mapping from the read models' rows.

use crate::money::Amount;
use chrono::{DateTime, NaiveDate, Utc};
use folio_domain::{AccountStatus, AccountType, PaymentStatus};
use folio_projections::query::{CurrencyTotals, Page};
use folio_projections::rows::{AccountRow, DailyRow, PaymentRow, TransactionRow, TransactionType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What an account is for: customer (`current`, `savings`) or bank-owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AccountTypeDto {
    Current,
    Savings,
    /// A bank-owned GL account (the ledger's FX position accounts).
    Internal,
    Fee,
    Suspense,
    Settlement,
}

impl From<AccountType> for AccountTypeDto {
    fn from(value: AccountType) -> Self {
        match value {
            AccountType::Current => AccountTypeDto::Current,
            AccountType::Savings => AccountTypeDto::Savings,
            AccountType::FxPosition => AccountTypeDto::Internal,
            AccountType::Fee => AccountTypeDto::Fee,
            AccountType::Suspense => AccountTypeDto::Suspense,
            AccountType::Settlement => AccountTypeDto::Settlement,
        }
    }
}

impl From<AccountTypeDto> for AccountType {
    fn from(value: AccountTypeDto) -> Self {
        match value {
            AccountTypeDto::Current => AccountType::Current,
            AccountTypeDto::Savings => AccountType::Savings,
            AccountTypeDto::Internal => AccountType::FxPosition,
            AccountTypeDto::Fee => AccountType::Fee,
            AccountTypeDto::Suspense => AccountType::Suspense,
            AccountTypeDto::Settlement => AccountType::Settlement,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AccountStatusDto {
    Inactive,
    Active,
    Blocked,
    Closed,
}

impl From<AccountStatus> for AccountStatusDto {
    fn from(value: AccountStatus) -> Self {
        match value {
            AccountStatus::Inactive => AccountStatusDto::Inactive,
            AccountStatus::Active => AccountStatusDto::Active,
            AccountStatus::Blocked => AccountStatusDto::Blocked,
            AccountStatus::Closed => AccountStatusDto::Closed,
        }
    }
}

impl From<AccountStatusDto> for AccountStatus {
    fn from(value: AccountStatusDto) -> Self {
        match value {
            AccountStatusDto::Inactive => AccountStatus::Inactive,
            AccountStatusDto::Active => AccountStatus::Active,
            AccountStatusDto::Blocked => AccountStatus::Blocked,
            AccountStatusDto::Closed => AccountStatus::Closed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PaymentStatusDto {
    Draft,
    Pending,
    Posted,
    Cancelled,
}

impl From<PaymentStatus> for PaymentStatusDto {
    fn from(value: PaymentStatus) -> Self {
        match value {
            PaymentStatus::Draft => PaymentStatusDto::Draft,
            PaymentStatus::Pending => PaymentStatusDto::Pending,
            PaymentStatus::Posted => PaymentStatusDto::Posted,
            // The API never sets an expiry, so this only shows for payments made otherwise;
            // API.md's enum has no `expired`: an expired hold was paid back like a cancel.
            PaymentStatus::Cancelled | PaymentStatus::Expired => PaymentStatusDto::Cancelled,
        }
    }
}

impl PaymentStatusDto {
    /// The ledger statuses this API status stands for.
    pub fn ledger_statuses(self) -> Vec<PaymentStatus> {
        match self {
            PaymentStatusDto::Draft => vec![PaymentStatus::Draft],
            PaymentStatusDto::Pending => vec![PaymentStatus::Pending],
            PaymentStatusDto::Posted => vec![PaymentStatus::Posted],
            PaymentStatusDto::Cancelled => vec![PaymentStatus::Cancelled, PaymentStatus::Expired],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TransactionTypeDto {
    Deposit,
    Withdrawal,
    Hold,
    /// A hold released (cancel, expiry, or ahead of the withdrawal on post).
    Payback,
}

impl From<TransactionType> for TransactionTypeDto {
    fn from(value: TransactionType) -> Self {
        match value {
            TransactionType::Deposit => TransactionTypeDto::Deposit,
            TransactionType::Withdrawal => TransactionTypeDto::Withdrawal,
            TransactionType::Hold => TransactionTypeDto::Hold,
            TransactionType::Payback => TransactionTypeDto::Payback,
        }
    }
}

impl From<TransactionTypeDto> for TransactionType {
    fn from(value: TransactionTypeDto) -> Self {
        match value {
            TransactionTypeDto::Deposit => TransactionType::Deposit,
            TransactionTypeDto::Withdrawal => TransactionType::Withdrawal,
            TransactionTypeDto::Hold => TransactionType::Hold,
            TransactionTypeDto::Payback => TransactionType::Payback,
        }
    }
}

/// An account with its balances. `availableBalance = balance - heldAmount`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDto {
    pub id: Uuid,
    /// Null for bank-owned accounts.
    pub client_id: Option<Uuid>,
    pub account_number: String,
    pub iban: Option<String>,
    pub name: Option<String>,
    #[schema(example = "EUR")]
    pub currency: String,
    #[serde(rename = "type")]
    pub account_type: AccountTypeDto,
    pub status: AccountStatusDto,
    pub balance: Amount,
    pub held_amount: Amount,
    pub available_balance: Amount,
    /// The client's default account for this currency (at most one per client and currency).
    pub is_default: bool,
    /// Its place in the client's display order (`PUT /Accounts/reorder-accounts`; 0 first).
    pub order: i32,
    pub created: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
}

impl From<&AccountRow> for AccountDto {
    fn from(row: &AccountRow) -> Self {
        AccountDto {
            id: row.account_id.0,
            client_id: row.client_id.map(|id| id.0),
            account_number: row.number.clone(),
            iban: None,
            name: row.name.clone(),
            currency: row.currency.code().to_string(),
            account_type: row.account_type.into(),
            status: row.status.into(),
            balance: row.balance().into(),
            held_amount: row.held().into(),
            available_balance: row.available_balance().into(),
            is_default: row.is_default,
            order: i32::try_from(row.order).unwrap_or(i32::MAX),
            created: row.created_at,
            updated: (row.updated_at != row.created_at).then_some(row.updated_at),
        }
    }
}

/// One statement line: a movement on one account and the balances right after it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionDto {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub account_id: Uuid,
    #[serde(rename = "type")]
    pub transaction_type: TransactionTypeDto,
    pub amount: Amount,
    pub currency: String,
    pub balance_after: Amount,
    pub available_balance_after: Amount,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
}

impl From<&TransactionRow> for TransactionDto {
    fn from(row: &TransactionRow) -> Self {
        TransactionDto {
            id: row.transaction_id,
            payment_id: row.payment_id.0,
            account_id: row.account_id.0,
            transaction_type: row.transaction_type.into(),
            amount: row.amount.into(),
            currency: row.currency.code().to_string(),
            balance_after: row.balance_after.into(),
            available_balance_after: row.available_after.into(),
            description: row.description.clone(),
            created: row.created_at,
        }
    }
}

/// A payment: its status, sides, amount and the statement lines it made.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentDto {
    pub id: Uuid,
    pub status: PaymentStatusDto,
    /// Null for a pay-in (the money comes from outside).
    pub source_account_id: Option<Uuid>,
    /// Null for a pay-out (the money leaves the bank).
    pub destination_account_id: Option<Uuid>,
    pub amount: Amount,
    pub currency: String,
    pub description: Option<String>,
    pub external_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub transactions: Vec<TransactionDto>,
    pub created: DateTime<Utc>,
    pub pended_at: Option<DateTime<Utc>>,
    pub posted_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl PaymentDto {
    pub fn from_row(row: &PaymentRow, transactions: &[TransactionRow]) -> PaymentDto {
        PaymentDto {
            id: row.payment_id.0,
            status: row.status.into(),
            source_account_id: row.source_account_id.map(|id| id.0),
            destination_account_id: row.destination_account_id.map(|id| id.0),
            amount: row.amount.into(),
            currency: row.currency.code().to_string(),
            description: row.description.clone(),
            external_id: row.external_id.clone(),
            metadata: row.metadata.clone(),
            transactions: transactions.iter().map(TransactionDto::from).collect(),
            created: row.created_at,
            pended_at: row.pended_at,
            posted_at: row.posted_at,
            cancelled_at: row.cancelled_at.or(row.expired_at),
        }
    }
}

/// One page of items (`pageNumber` is 1-based).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PagedList<T> {
    pub items: Vec<T>,
    pub page_number: u32,
    pub page_size: u32,
    pub total_count: u64,
    pub total_pages: u64,
}

impl<T> PagedList<T> {
    pub fn map<R>(page: Page<R>, convert: impl Fn(&R) -> T) -> PagedList<T> {
        PagedList {
            items: page.items.iter().map(convert).collect(),
            page_number: page.page_number,
            page_size: page.page_size,
            total_count: page.total_count,
            total_pages: page.total_pages,
        }
    }
}

/// Totals of one currency over the selected accounts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggregatedAmountDto {
    pub currency: String,
    pub balance: Amount,
    pub held_amount: Amount,
    pub available_balance: Amount,
    pub accounts_count: u64,
}

impl From<&CurrencyTotals> for AggregatedAmountDto {
    fn from(totals: &CurrencyTotals) -> Self {
        AggregatedAmountDto {
            currency: totals.currency.code().to_string(),
            balance: totals.balance.into(),
            held_amount: totals.held.into(),
            available_balance: totals.available.into(),
            accounts_count: totals.accounts,
        }
    }
}

/// The treasury's view of one currency.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TreasurySummaryDto {
    pub currency: String,
    pub total_balance: Amount,
    pub total_held: Amount,
    pub total_available: Amount,
    pub accounts_count: u64,
}

impl From<&CurrencyTotals> for TreasurySummaryDto {
    fn from(totals: &CurrencyTotals) -> Self {
        TreasurySummaryDto {
            currency: totals.currency.code().to_string(),
            total_balance: totals.balance.into(),
            total_held: totals.held.into(),
            total_available: totals.available.into(),
            accounts_count: totals.accounts,
        }
    }
}

/// One account's posted movement on one business day.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyAccountBalanceDto {
    pub account_id: Uuid,
    pub date: NaiveDate,
    pub currency: String,
    pub opening_balance: Amount,
    pub closing_balance: Amount,
    pub total_debit: Amount,
    pub total_credit: Amount,
}

impl From<&DailyRow> for DailyAccountBalanceDto {
    fn from(row: &DailyRow) -> Self {
        DailyAccountBalanceDto {
            account_id: row.account_id.0,
            date: row.day,
            currency: row.currency.code().to_string(),
            opening_balance: row.opening.into(),
            closing_balance: row.closing.into(),
            total_debit: row.total_debits.into(),
            total_credit: row.total_credits.into(),
        }
    }
}

/// An account's statement for a period: balances at its ends, its totals and its lines.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionReportDto {
    pub account_id: Uuid,
    pub date_from: NaiveDate,
    pub date_to: NaiveDate,
    pub currency: String,
    pub opening_balance: Amount,
    pub closing_balance: Amount,
    pub total_debit: Amount,
    pub total_credit: Amount,
    pub transactions: Vec<TransactionDto>,
}
