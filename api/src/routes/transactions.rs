//! Transactions (API.md §2.4): statement lines by filter, by id, listed, queried, and an
//! account's report for a period.

use super::accounts::load_account;
use super::{DateBound, currencies, page_request};
use crate::answer::Answer;
use crate::auth::Caller;
use crate::dto::{PagedList, TransactionDto, TransactionReportDto, TransactionTypeDto};
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams, parse_uuid};
use crate::money::Amount;
use crate::state::AppState;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use folio_domain::{AccountId, PaymentId};
use folio_projections::daily::{MAX_DAYS, daily_balances};
use folio_projections::query::{DayRange, MAX_PAGE_SIZE, PageRequest, TransactionFilter};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most lines one report lists; a longer period is refused so an answer stays bounded.
const MAX_REPORT_LINES: u64 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TransactionsByFilterQuery {
    /// Required with a client key (one of its own accounts).
    pub account_id: Option<Uuid>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub transaction_type: Option<TransactionTypeDto>,
    /// A date (whole day) or an ISO-8601 date-time.
    #[param(value_type = Option<String>)]
    pub date_from: Option<DateBound>,
    #[param(value_type = Option<String>)]
    pub date_to: Option<DateBound>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListTransactionsQuery {
    pub account_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionQueryRequest {
    #[serde(default)]
    pub account_ids: Vec<Uuid>,
    #[serde(default)]
    pub payment_ids: Vec<Uuid>,
    #[serde(default)]
    pub types: Vec<TransactionTypeDto>,
    #[serde(default)]
    pub currencies: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub date_from: Option<DateBound>,
    #[schema(value_type = Option<String>)]
    pub date_to: Option<DateBound>,
    pub amount_from: Option<Amount>,
    pub amount_to: Option<Amount>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    pub account_id: Uuid,
    #[param(value_type = String, format = Date)]
    pub date_from: NaiveDate,
    #[param(value_type = String, format = Date)]
    pub date_to: NaiveDate,
}

/// Statement lines of an account (front office), filtered and paged.
#[utoipa::path(get, path = "/Transactions", tag = "Transactions", params(TransactionsByFilterQuery),
    responses((status = 200, description = "One page of statement lines", body = Envelope<PagedList<TransactionDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>),
        (status = 404, description = "No such account (or not the caller's)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn transactions_by_filter(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<TransactionsByFilterQuery>,
) -> Result<Answer<PagedList<TransactionDto>>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    match query.account_id {
        Some(id) => {
            load_account(&state, &caller, AccountId(id)).await?;
        }
        None if caller.own_client().is_some() => {
            return Err(ApiError::validation(
                "accountId",
                "accountId: a client key reads one of its accounts at a time",
            ));
        }
        None => {}
    }
    let filter = TransactionFilter {
        account_ids: query.account_id.map(AccountId).into_iter().collect(),
        types: query.transaction_type.map(Into::into).into_iter().collect(),
        from: query.date_from.map(DateBound::start),
        to: query.date_to.map(DateBound::end),
        ..TransactionFilter::default()
    };
    let found = state.models().transactions(&filter, page).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        TransactionDto::from(row)
    })))
}

/// One statement line.
#[utoipa::path(get, path = "/internal/Transactions/{id}", tag = "Transactions",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The line", body = Envelope<TransactionDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such line", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_transaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Answer<TransactionDto>, ApiError> {
    let id = parse_uuid("id", &id)?;
    let row = state
        .models()
        .transaction(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("transaction {id} not found")))?;
    Ok(Answer::read(TransactionDto::from(&row)))
}

/// Statement lines of an account and/or a payment, paged (system).
#[utoipa::path(get, path = "/internal/Transactions", tag = "Transactions", params(ListTransactionsQuery),
    responses((status = 200, description = "One page of statement lines", body = Envelope<PagedList<TransactionDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_transactions(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListTransactionsQuery>,
) -> Result<Answer<PagedList<TransactionDto>>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    let filter = TransactionFilter {
        account_ids: query.account_id.map(AccountId).into_iter().collect(),
        payment_ids: query.payment_id.map(PaymentId).into_iter().collect(),
        ..TransactionFilter::default()
    };
    let found = state.models().transactions(&filter, page).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        TransactionDto::from(row)
    })))
}

/// Statement lines matching every given criterion (system).
#[utoipa::path(post, path = "/internal/Transactions/query", tag = "Transactions",
    request_body = TransactionQueryRequest,
    responses((status = 200, description = "One page of statement lines", body = Envelope<PagedList<TransactionDto>>),
        (status = 400, description = "Invalid input", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn query_transactions(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TransactionQueryRequest>,
) -> Result<Answer<PagedList<TransactionDto>>, ApiError> {
    let page = page_request(body.page_number, body.page_size)?;
    let filter = TransactionFilter {
        account_ids: body.account_ids.into_iter().map(AccountId).collect(),
        payment_ids: body.payment_ids.into_iter().map(PaymentId).collect(),
        types: body.types.into_iter().map(Into::into).collect(),
        currencies: currencies(&body.currencies)?,
        from: body.date_from.map(DateBound::start),
        to: body.date_to.map(DateBound::end),
        amount_from: body.amount_from.map(|amount| amount.0),
        amount_to: body.amount_to.map(|amount| amount.0),
    };
    let found = state.models().transactions(&filter, page).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        TransactionDto::from(row)
    })))
}

/// An account's statement for whole days: opening and closing balance, posted debits and
/// credits, and every line (business days in UTC).
#[utoipa::path(get, path = "/internal/Transactions/report", tag = "Transactions", params(ReportQuery),
    responses((status = 200, description = "The report", body = Envelope<TransactionReportDto>),
        (status = 400, description = "Invalid parameter or period", body = Envelope<Object>),
        (status = 404, description = "No such account", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn transactions_report(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Answer<TransactionReportDto>, ApiError> {
    let range = day_range(query.date_from, query.date_to)?;
    let account = load_account(&state, &caller, AccountId(query.account_id)).await?;
    let days = daily_balances(state.models(), &[account.account_id], range).await?;
    let opening = days.first().map_or(Decimal::ZERO, |day| day.opening);
    let closing = days.last().map_or(opening, |day| day.closing);
    let total_debit = days.iter().map(|day| day.total_debits).sum::<Decimal>();
    let total_credit = days.iter().map(|day| day.total_credits).sum::<Decimal>();
    // Lines of the same business days the daily balances cover, so the totals and the lines
    // agree whatever the time zone.
    let filter = TransactionFilter {
        account_ids: vec![account.account_id],
        from: Some(start_of_day(range.from, state.time_zone)),
        to: Some(start_of_day(
            range.to.succ_opt().unwrap_or(range.to),
            state.time_zone,
        )),
        ..TransactionFilter::default()
    };
    let mut transactions = Vec::new();
    let mut number = 1;
    loop {
        let page = state
            .models()
            .transactions(&filter, PageRequest::new(number, MAX_PAGE_SIZE))
            .await?;
        if page.total_count > MAX_REPORT_LINES {
            return Err(ApiError::validation(
                "dateTo",
                format!(
                    "the period holds {} lines, more than the {MAX_REPORT_LINES} a report lists: \
                     choose a shorter one",
                    page.total_count
                ),
            ));
        }
        transactions.extend(page.items.iter().map(TransactionDto::from));
        if u64::from(number) >= page.total_pages {
            break;
        }
        number += 1;
    }
    Ok(Answer::read(TransactionReportDto {
        account_id: account.account_id.0,
        date_from: range.from,
        date_to: range.to,
        currency: account.currency.code().to_string(),
        opening_balance: opening.into(),
        closing_balance: closing.into(),
        total_debit: total_debit.into(),
        total_credit: total_credit.into(),
        transactions,
    }))
}

/// The instant `day` starts in `zone` (the first valid local time on a day that starts in a
/// DST gap).
fn start_of_day(day: NaiveDate, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |local| local.with_timezone(&Utc))
}

/// A checked day range: `from` ≤ `to`, at most `MAX_DAYS` days.
pub fn day_range(from: NaiveDate, to: NaiveDate) -> Result<DayRange, ApiError> {
    if from > to {
        return Err(ApiError::validation("dateTo", "dateTo is before dateFrom"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::validation(
            "dateTo",
            format!("a period spans at most {MAX_DAYS} days"),
        ));
    }
    Ok(DayRange { from, to })
}
