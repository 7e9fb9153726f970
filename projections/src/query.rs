//! Filters and pages for read-model queries.

use crate::rows::TransactionType;
use chrono::{DateTime, NaiveDate, Utc};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, ClientStatus, ClientType, Currency,
    DocumentOwner, PaymentId, PaymentStatus,
};
use rust_decimal::Decimal;
use serde::Serialize;

/// Most rows one page may hold.
pub const MAX_PAGE_SIZE: u32 = 100;

/// A 1-based page request; sizes above `MAX_PAGE_SIZE` are clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub number: u32,
    pub size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            number: 1,
            size: 20,
        }
    }
}

impl PageRequest {
    pub fn new(number: u32, size: u32) -> PageRequest {
        PageRequest {
            number: number.max(1),
            size: size.clamp(1, MAX_PAGE_SIZE),
        }
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.number.max(1) - 1) * u64::from(self.size)
    }
}

/// One page of rows and the totals a client pages with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page_number: u32,
    pub page_size: u32,
    pub total_count: u64,
    pub total_pages: u64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, request: PageRequest, total_count: u64) -> Page<T> {
        let size = u64::from(request.size.max(1));
        Page {
            items,
            page_number: request.number,
            page_size: request.size,
            total_count,
            total_pages: total_count.div_ceil(size),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountFilter {
    pub client_ids: Vec<ClientId>,
    pub account_ids: Vec<AccountId>,
    pub numbers: Vec<String>,
    pub currencies: Vec<Currency>,
    pub statuses: Vec<AccountStatus>,
    pub types: Vec<AccountType>,
}

/// The recipient list's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientFilter {
    /// One client's recipients; None lists every client's (the bank's view).
    pub client_id: Option<ClientId>,
    /// Hidden recipients too (by default only the visible ones are listed).
    pub include_hidden: bool,
}

/// The client list's filters (API.md §2.2: status, type), plus ids and a text search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientFilter {
    pub client_ids: Vec<ClientId>,
    pub statuses: Vec<ClientStatus>,
    pub types: Vec<ClientType>,
    /// Case-insensitive substring of the legal name or the e-mail address.
    pub search: Option<String>,
}

impl ClientFilter {
    /// The search as a LIKE pattern over `ClientRow::search_text` (escape character `\`), or
    /// None for no search.
    pub fn search_pattern(&self) -> Option<String> {
        let search = self.search.as_deref()?.to_lowercase();
        if search.is_empty() {
            return None;
        }
        let mut pattern = String::with_capacity(search.len() + 2);
        pattern.push('%');
        for c in search.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(pattern)
    }
}

/// One owner's documents, oldest first; deleted ones only when asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentFilter {
    pub owner: DocumentOwner,
    pub include_deleted: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransactionFilter {
    pub account_ids: Vec<AccountId>,
    pub payment_ids: Vec<PaymentId>,
    pub types: Vec<TransactionType>,
    pub currencies: Vec<Currency>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub amount_from: Option<Decimal>,
    pub amount_to: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaymentFilter {
    /// Payments whose source or destination is one of these.
    pub account_ids: Vec<AccountId>,
    pub statuses: Vec<PaymentStatus>,
    pub currencies: Vec<Currency>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Totals of one currency (optionally of one client's accounts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurrencyTotals {
    pub currency: Currency,
    pub balance: Decimal,
    pub held: Decimal,
    pub available: Decimal,
    pub accounts: u64,
}

/// A date range of daily balances, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The transfer lists' filters (API.md §2.6): direction, status, account (either side), dates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransferFilter {
    pub directions: Vec<folio_domain::TransferDirection>,
    pub statuses: Vec<folio_domain::TransferStatus>,
    /// Transfers whose source or destination is one of these.
    pub account_ids: Vec<AccountId>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}
