//! Reading read-model rows out of PostgreSQL, and the value conversions both directions share.

use crate::error::ProjectionError;
use crate::rows::*;
use chrono::{DateTime, NaiveDate, Utc};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, ClientStatus, Currency, DocumentId,
    DocumentType, PaymentId, PaymentStatus, TransferId,
};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::str::FromStr;
use uuid::Uuid;

/// The selected columns of each table. NUMERIC and jsonb come back as text: exact, and parsed
/// the same way as on SQLite.
pub(super) const ACCOUNT_COLUMNS: &str = "account_id, number, client_id, currency, account_type, status, name, \
     overdraft_limit::text AS overdraft_limit, debits_pending::text AS debits_pending, \
     debits_posted::text AS debits_posted, credits_pending::text AS credits_pending, \
     credits_posted::text AS credits_posted, is_default, sort_order, version, last_position, \
     created_at, updated_at";

pub(super) const CLIENT_COLUMNS: &str = "client_id, status, profile::text AS profile, \
     block_reason, version, last_position, created_at, updated_at";

pub(super) const RECIPIENT_COLUMNS: &str = "recipient_id, client_id, visibility, \
     details::text AS details, last_position, created_at, updated_at";

pub(super) fn recipient(row: &PgRow) -> Result<RecipientRow, ProjectionError> {
    let details: String = row.try_get("details")?;
    Ok(RecipientRow {
        recipient_id: folio_domain::RecipientId(row.try_get("recipient_id")?),
        client_id: ClientId(row.try_get("client_id")?),
        is_visible: row.try_get::<String, _>("visibility")? == visibility_text(true),
        details: serde_json::from_str(&details)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        last_position: to_u64(row.try_get("last_position")?, "last_position")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn client(row: &PgRow) -> Result<ClientRow, ProjectionError> {
    let profile: String = row.try_get("profile")?;
    Ok(ClientRow {
        client_id: ClientId(row.try_get("client_id")?),
        status: enum_from::<ClientStatus>(&row.try_get::<String, _>("status")?)?,
        profile: serde_json::from_str(&profile)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        block_reason: row.try_get("block_reason")?,
        version: to_u64(row.try_get("version")?, "version")?,
        last_position: to_u64(row.try_get("last_position")?, "last_position")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) const DOCUMENT_COLUMNS: &str = "document_id, owner_kind, owner_id, document_type, \
     file_name, content_type, size, sha256, created_at, deleted_at, last_position";

pub(super) fn document(row: &PgRow) -> Result<DocumentRow, ProjectionError> {
    let kind: String = row.try_get("owner_kind")?;
    Ok(DocumentRow {
        document_id: DocumentId(row.try_get("document_id")?),
        owner: owner_from_columns(&kind, row.try_get("owner_id")?)
            .ok_or_else(|| ProjectionError::Corrupt(format!("unknown owner kind {kind:?}")))?,
        document_type: enum_from::<DocumentType>(&row.try_get::<String, _>("document_type")?)?,
        file_name: row.try_get("file_name")?,
        content_type: row.try_get("content_type")?,
        size: to_u64(row.try_get("size")?, "size")?,
        sha256: row.try_get("sha256")?,
        created_at: row.try_get("created_at")?,
        deleted_at: row.try_get("deleted_at")?,
        last_position: to_u64(row.try_get("last_position")?, "last_position")?,
    })
}

pub(super) const TRANSACTION_COLUMNS: &str = "position, line, transaction_id, payment_id, account_id, type, \
     amount::text AS amount, currency, balance_after::text AS balance_after, \
     available_after::text AS available_after, description, created_at";

pub(super) const DAILY_COLUMNS: &str = "account_id, day, currency, opening::text AS opening, \
     total_debits::text AS total_debits, total_credits::text AS total_credits, \
     closing::text AS closing, movements";

pub(super) const PAYMENT_COLUMNS: &str = "payment_id, status, legs::text AS legs, source_account_id, \
     destination_account_id, amount::text AS amount, currency, posted_amount::text AS posted_amount, \
     description, external_id, metadata::text AS metadata, created_at, pended_at, posted_at, \
     cancelled_at, expired_at, cancel_reason, expires_at, last_position";

pub(super) fn account(row: &PgRow) -> Result<AccountRow, ProjectionError> {
    Ok(AccountRow {
        account_id: AccountId(row.try_get("account_id")?),
        number: row.try_get("number")?,
        client_id: row.try_get::<Option<Uuid>, _>("client_id")?.map(ClientId),
        currency: currency(&row.try_get::<String, _>("currency")?)?,
        account_type: enum_from::<AccountType>(&row.try_get::<String, _>("account_type")?)?,
        status: enum_from::<AccountStatus>(&row.try_get::<String, _>("status")?)?,
        name: row.try_get("name")?,
        overdraft_limit: decimal(&row.try_get::<String, _>("overdraft_limit")?)?,
        debits_pending: decimal(&row.try_get::<String, _>("debits_pending")?)?,
        debits_posted: decimal(&row.try_get::<String, _>("debits_posted")?)?,
        credits_pending: decimal(&row.try_get::<String, _>("credits_pending")?)?,
        credits_posted: decimal(&row.try_get::<String, _>("credits_posted")?)?,
        is_default: row.try_get("is_default")?,
        order: u32::try_from(row.try_get::<i32, _>("sort_order")?)
            .map_err(|_| ProjectionError::Corrupt("sort_order is out of range".into()))?,
        version: to_u64(row.try_get("version")?, "version")?,
        last_position: to_u64(row.try_get("last_position")?, "last_position")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn transaction(row: &PgRow) -> Result<TransactionRow, ProjectionError> {
    let kind: String = row.try_get("type")?;
    let line: i64 = row.try_get("line")?;
    Ok(TransactionRow {
        transaction_id: row.try_get("transaction_id")?,
        position: to_u64(row.try_get("position")?, "position")?,
        line: u32::try_from(line)
            .map_err(|_| ProjectionError::Corrupt(format!("line {line} is out of range")))?,
        payment_id: PaymentId(row.try_get("payment_id")?),
        account_id: AccountId(row.try_get("account_id")?),
        transaction_type: TransactionType::parse(&kind).ok_or_else(|| {
            ProjectionError::Corrupt(format!("unknown transaction type {kind:?}"))
        })?,
        amount: decimal(&row.try_get::<String, _>("amount")?)?,
        currency: currency(&row.try_get::<String, _>("currency")?)?,
        balance_after: decimal(&row.try_get::<String, _>("balance_after")?)?,
        available_after: decimal(&row.try_get::<String, _>("available_after")?)?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn daily(row: &PgRow) -> Result<DailyRow, ProjectionError> {
    Ok(DailyRow {
        account_id: AccountId(row.try_get("account_id")?),
        day: row.try_get::<NaiveDate, _>("day")?,
        currency: currency(&row.try_get::<String, _>("currency")?)?,
        opening: decimal(&row.try_get::<String, _>("opening")?)?,
        total_debits: decimal(&row.try_get::<String, _>("total_debits")?)?,
        total_credits: decimal(&row.try_get::<String, _>("total_credits")?)?,
        closing: decimal(&row.try_get::<String, _>("closing")?)?,
        movements: to_u64(row.try_get("movements")?, "movements")?,
    })
}

pub(super) fn payment(row: &PgRow) -> Result<PaymentRow, ProjectionError> {
    let legs: String = row.try_get("legs")?;
    let metadata: Option<String> = row.try_get("metadata")?;
    Ok(PaymentRow {
        payment_id: PaymentId(row.try_get("payment_id")?),
        status: enum_from::<PaymentStatus>(&row.try_get::<String, _>("status")?)?,
        legs: serde_json::from_str(&legs).map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        source_account_id: row
            .try_get::<Option<Uuid>, _>("source_account_id")?
            .map(AccountId),
        destination_account_id: row
            .try_get::<Option<Uuid>, _>("destination_account_id")?
            .map(AccountId),
        amount: decimal(&row.try_get::<String, _>("amount")?)?,
        currency: currency(&row.try_get::<String, _>("currency")?)?,
        posted_amount: row
            .try_get::<Option<String>, _>("posted_amount")?
            .map(|text| decimal(&text))
            .transpose()?,
        description: row.try_get("description")?,
        external_id: row.try_get("external_id")?,
        metadata: metadata
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?,
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
        pended_at: row.try_get("pended_at")?,
        posted_at: row.try_get("posted_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
        expired_at: row.try_get("expired_at")?,
        cancel_reason: row.try_get("cancel_reason")?,
        expires_at: row.try_get("expires_at")?,
        last_position: to_u64(row.try_get("last_position")?, "last_position")?,
    })
}

/// The serde name of an enum value (`current`, `pending`, …): the same text SQLite stores.
pub(super) fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

fn enum_from<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ProjectionError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| ProjectionError::Corrupt(format!("unknown value {text:?}")))
}

pub(super) fn decimal(text: &str) -> Result<Decimal, ProjectionError> {
    Decimal::from_str(text)
        .map_err(|_| ProjectionError::Corrupt(format!("not a decimal: {text:?}")))
}

pub(super) fn currency(code: &str) -> Result<Currency, ProjectionError> {
    Currency::from_code(code).map_err(|e| ProjectionError::Corrupt(e.to_string()))
}

/// A stored counter or position (BIGINT) as the unsigned value it was written from.
pub(super) fn to_u64(value: i64, what: &str) -> Result<u64, ProjectionError> {
    u64::try_from(value)
        .map_err(|_| ProjectionError::Corrupt(format!("{what} is negative: {value}")))
}

/// A counter or position as BIGINT; beyond `i64::MAX` it cannot be stored.
pub(super) fn to_i64(value: u64, what: &str) -> Result<i64, ProjectionError> {
    i64::try_from(value)
        .map_err(|_| ProjectionError::Corrupt(format!("{what} {value} does not fit a BIGINT")))
}

pub(super) const TRANSFER_COLUMNS: &str = "transfer_id, direction, status, transfer_type, \
     source_account_id, destination_account_id, recipient_id, amount::text AS amount, currency, \
     fee::text AS fee, rate::text AS rate, destination_amount::text AS destination_amount, \
     destination_currency, reference, payment_id, \
     status_history::text AS status_history, details::text AS details, created_at, updated_at, \
     last_position";

pub(super) fn transfer(row: &PgRow) -> Result<TransferRow, ProjectionError> {
    let corrupt = |e: serde_json::Error| ProjectionError::Corrupt(e.to_string());
    let history: String = row.try_get("status_history")?;
    let details: Option<String> = row.try_get("details")?;
    Ok(TransferRow {
        transfer_id: TransferId(row.try_get("transfer_id")?),
        direction: enum_from(&row.try_get::<String, _>("direction")?)?,
        status: enum_from(&row.try_get::<String, _>("status")?)?,
        transfer_type: row
            .try_get::<Option<String>, _>("transfer_type")?
            .map(|text| enum_from(&text))
            .transpose()?,
        source_account_id: row
            .try_get::<Option<Uuid>, _>("source_account_id")?
            .map(AccountId),
        destination_account_id: row
            .try_get::<Option<Uuid>, _>("destination_account_id")?
            .map(AccountId),
        recipient_id: row.try_get("recipient_id")?,
        amount: decimal(&row.try_get::<String, _>("amount")?)?,
        currency: currency(&row.try_get::<String, _>("currency")?)?,
        fee: row
            .try_get::<Option<String>, _>("fee")?
            .map(|text| decimal(&text))
            .transpose()?
            .unwrap_or_default(),
        rate: row
            .try_get::<Option<String>, _>("rate")?
            .map(|text| decimal(&text))
            .transpose()?,
        destination_amount: row
            .try_get::<Option<String>, _>("destination_amount")?
            .map(|text| decimal(&text))
            .transpose()?,
        destination_currency: row
            .try_get::<Option<String>, _>("destination_currency")?
            .map(|text| currency(&text))
            .transpose()?,
        reference: row.try_get("reference")?,
        payment_id: PaymentId(row.try_get("payment_id")?),
        status_history: serde_json::from_str(&history).map_err(corrupt)?,
        details: match details {
            Some(text) => serde_json::from_str(&text).map_err(corrupt)?,
            None => TransferDetails::default(),
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_position: to_u64(row.try_get("last_position")?, "last_position")?,
    })
}
