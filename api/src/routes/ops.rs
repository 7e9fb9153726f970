//! Balances and treasury (API.md §2.4): daily account balances, the available currencies and
//! the treasury summary.

use super::transactions::day_range;
use crate::answer::Answer;
use crate::dto::{DailyAccountBalanceDto, TreasurySummaryDto};
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::state::AppState;
use axum::extract::State;
use chrono::NaiveDate;
use folio_domain::{AccountId, Currency};
use folio_projections::daily::daily_balances;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most accounts one daily-balance request names (all accounts when none is named).
const MAX_ACCOUNTS: usize = 1_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyAccountBalanceRequest {
    /// All accounts when absent or empty.
    #[serde(default)]
    pub account_ids: Vec<Uuid>,
    #[schema(value_type = String, format = Date)]
    pub date_from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub date_to: NaiveDate,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TreasuryQuery {
    pub currency: Option<String>,
}

/// Each account's opening, debits, credits and closing per business day (UTC) of the range.
#[utoipa::path(post, path = "/internal/DailyAccountBalance", tag = "Balances",
    request_body = DailyAccountBalanceRequest,
    responses((status = 200, description = "One row per account per day", body = Envelope<Vec<DailyAccountBalanceDto>>),
        (status = 400, description = "Invalid range", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn daily_account_balance(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DailyAccountBalanceRequest>,
) -> Result<Answer<Vec<DailyAccountBalanceDto>>, ApiError> {
    let range = day_range(body.date_from, body.date_to)?;
    if body.account_ids.len() > MAX_ACCOUNTS {
        return Err(ApiError::validation(
            "accountIds",
            format!("at most {MAX_ACCOUNTS} accounts at once"),
        ));
    }
    let ids: Vec<AccountId> = body.account_ids.into_iter().map(AccountId).collect();
    let rows = daily_balances(state.models(), &ids, range).await?;
    Ok(Answer::read(
        rows.iter().map(DailyAccountBalanceDto::from).collect(),
    ))
}

/// The ISO-4217 codes Folio accepts.
#[utoipa::path(get, path = "/BaasProvider/available-currencies", tag = "Balances",
    responses((status = 200, description = "Currency codes", body = Envelope<Vec<String>>)),
    security(("bearer" = [])))]
pub async fn available_currencies() -> Answer<Vec<String>> {
    Answer::read(Currency::all().map(|c| c.code().to_string()).collect())
}

/// Balance, held and available totals per currency over every account (customer and bank
/// accounts together, so each currency's total balance is zero by double entry).
#[utoipa::path(get, path = "/internal/TreasuryManagement/summary", tag = "Balances",
    params(TreasuryQuery),
    responses((status = 200, description = "Totals per currency", body = Envelope<Vec<TreasurySummaryDto>>)),
    security(("bearer" = [])))]
pub async fn treasury_summary(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TreasuryQuery>,
) -> Result<Answer<Vec<TreasurySummaryDto>>, ApiError> {
    let currency = query
        .currency
        .as_deref()
        .map(Currency::from_code)
        .transpose()?;
    let totals = state.models().totals(None, currency).await?;
    Ok(Answer::read(
        totals.iter().map(TreasurySummaryDto::from).collect(),
    ))
}
