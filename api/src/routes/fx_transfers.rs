//! FX transfers (API.md §2.6, §3.4): created at the rate provider's quote, read, confirmed (settled at once), cancelled, and listed for ops.

use super::transfers::{
    ListQuery, ReasonRequest, TransferDto, list_rows, load, own_account, transfer_id,
};
use crate::answer::Answer;
use crate::auth::Caller;
use crate::dto::PagedList;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, JsonBody, QueryParams};
use crate::money::Amount;
use crate::state::AppState;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use folio_domain::{
    AccountId, CommandKind, CreateFxTransfer, Currency, PaymentId, Receipt, TransferDirection,
    TransferId,
};
use folio_engine::Committed;
use folio_projections::rows::TransferRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A conversion between two accounts of one client: exactly one of the two amounts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FxRequest {
    pub source_account_id: Uuid,
    pub destination_account_id: Uuid,
    /// What leaves the source account (the spread is charged on top of it).
    pub source_amount: Option<Amount>,
    /// What must arrive; the source amount is then rounded up in the bank's favour.
    pub destination_amount: Option<Amount>,
    #[schema(example = "EUR")]
    pub source_currency: String,
    #[schema(example = "USD")]
    pub destination_currency: String,
    /// Unique per caller: a repeat with the same body returns the same transfer.
    pub external_id: Option<String>,
}

/// API.md's FxTransferDto: the TransferDto (`amount`/`currency` are the source side, `fee` the
/// spread, `rate` the mid rate) with both sides and the quote.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FxTransferDto {
    #[serde(flatten)]
    pub transfer: TransferDto,
    pub source_amount: Amount,
    #[schema(example = "EUR")]
    pub source_currency: String,
    pub destination_amount: Amount,
    #[schema(example = "USD")]
    pub destination_currency: String,
    /// The bank's margin, a fraction of the source amount (0.005 = 0.5 %).
    pub spread: Amount,
    pub quoted_at: DateTime<Utc>,
    /// The last instant the transfer can be confirmed at this quote; later, confirming is
    /// refused (422 `FxQuoteExpired`): cancel it and create it again for a new quote. Null for
    /// quotes given before quotes expired.
    pub quote_expires_at: Option<DateTime<Utc>>,
    /// The rate provider that quoted it.
    pub rate_provider: String,
}

impl FxTransferDto {
    /// The DTO of an FX transfer's row; none for any other transfer.
    fn from_row(row: &TransferRow) -> Option<FxTransferDto> {
        let (Some(destination_amount), Some(destination_currency), Some(quote)) = (
            row.destination_amount,
            row.destination_currency,
            row.details.quote.as_ref(),
        ) else {
            return None;
        };
        (row.direction == TransferDirection::ForeignExchange).then(|| FxTransferDto {
            transfer: TransferDto::from(row),
            source_amount: row.amount.into(),
            source_currency: row.currency.code().to_string(),
            destination_amount: destination_amount.into(),
            destination_currency: destination_currency.code().to_string(),
            spread: quote.spread.into(),
            quoted_at: quote.quoted_at,
            quote_expires_at: quote.expires_at,
            rate_provider: quote.provider.clone(),
        })
    }
}

/// The FX transfer, if the caller may see it (any other transfer is not found here).
async fn load_fx(
    state: &AppState,
    caller: &Caller,
    id: TransferId,
) -> Result<FxTransferDto, ApiError> {
    let row = load(state, caller, id).await?;
    FxTransferDto::from_row(&row)
        .ok_or_else(|| ApiError::NotFound(format!("transfer {id} is not an FX transfer")))
}

/// Answers a committed FX command with the transfer as the read models show it.
async fn answer(
    state: &AppState,
    caller: &Caller,
    committed: &Committed,
    message: &'static str,
) -> Result<Answer<FxTransferDto>, ApiError> {
    let Receipt::Transfer(id) = committed.receipt else {
        return Err(ApiError::Internal(
            "the command did not answer with a transfer".into(),
        ));
    };
    state.wait_for_read_models(committed.position).await?;
    let dto = load_fx(state, caller, id).await?;
    Ok(Answer::committed(
        dto,
        committed.position,
        committed.duplicate,
        message,
    ))
}

/// Create an FX transfer at the rate provider's quote (pendingConfirmation; its payment a draft).
#[utoipa::path(post, path = "/Transfers/fx", tag = "Transfers", request_body = FxRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer (at the first quote)")),
    responses((status = 200, description = "The FX transfer, pendingConfirmation", body = Envelope<FxTransferDto>),
        (status = 400, description = "Invalid input: amounts, currencies, accounts of two clients, the same currency twice", body = Envelope<Object>),
        (status = 404, description = "An account is unknown (or not the caller's)", body = Envelope<Object>),
        (status = 409, description = "The key or externalId was used for another request", body = Envelope<Object>),
        (status = 422, description = "InsufficientFunds, CurrencyMismatch, AccountBlocked, AccountClosed, RateUnavailable", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn create_fx(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<FxRequest>,
) -> Result<Answer<FxTransferDto>, ApiError> {
    let source = AccountId(body.source_account_id);
    let destination = AccountId(body.destination_account_id);
    if body.source_amount.is_some() == body.destination_amount.is_some() {
        return Err(ApiError::validation(
            "sourceAmount",
            "give exactly one of sourceAmount and destinationAmount",
        ));
    }
    let from = Currency::from_code(&body.source_currency)?;
    let to = Currency::from_code(&body.destination_currency)?;
    own_account(&state, &context.caller, source).await?;
    own_account(&state, &context.caller, destination).await?;
    let key = context.key_with_external_id(body.external_id.as_deref())?;
    let mut quote = state.rates.quote(from, to).await?;
    // The provider says how long its quote lasts; the ledger counts that from its own decision
    // instant (its clock never runs behind the last event's, which the wall clock can).
    let quote_valid_for_ms = quote.expires_at.take().map(|expires_at| {
        u64::try_from((expires_at - quote.quoted_at).num_milliseconds()).unwrap_or(0)
    });
    let command = CommandKind::CreateFxTransfer(Box::new(CreateFxTransfer {
        transfer_id: TransferId(Uuid::now_v7()),
        payment_id: PaymentId(Uuid::now_v7()),
        source_account_id: source,
        destination_account_id: destination,
        source_amount: body.source_amount.map(|amount| amount.0),
        destination_amount: body.destination_amount.map(|amount| amount.0),
        source_currency: from,
        destination_currency: to,
        quote,
        quote_valid_for_ms,
    }));
    let committed = state.execute(command, key, context.correlation_id).await?;
    answer(&state, &context.caller, &committed, "FX transfer created").await
}

/// One FX transfer.
#[utoipa::path(get, path = "/Transfers/fx/{transferId}", tag = "Transfers",
    params(("transferId" = Uuid, Path)),
    responses((status = 200, description = "The FX transfer", body = Envelope<FxTransferDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such FX transfer (or not the caller's)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_fx(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Answer<FxTransferDto>, ApiError> {
    Ok(Answer::read(
        load_fx(&state, &caller, transfer_id(&id)?).await?,
    ))
}

/// A step on an FX transfer, after checking it is one the caller may see.
async fn fx_step(
    state: &AppState,
    context: &CommandContext,
    id: TransferId,
    command: CommandKind,
    message: &'static str,
) -> Result<Answer<FxTransferDto>, ApiError> {
    load_fx(state, &context.caller, id).await?;
    let key = context.key_with_external_id(None)?;
    let committed = state.execute(command, key, context.correlation_id).await?;
    answer(state, &context.caller, &committed, message).await
}

/// Confirm an FX transfer: every leg is held and posted in one step (completed).
#[utoipa::path(put, path = "/Transfers/fx/{transferId}/confirm", tag = "Transfers",
    request_body = crate::routes::transfers::ConfirmRequest,
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Completed: converted at the quoted rate", body = Envelope<FxTransferDto>),
        (status = 400, description = "Not a uuid, or a bad body", body = Envelope<Object>),
        (status = 404, description = "No such FX transfer", body = Envelope<Object>),
        (status = 409, description = "Not pendingConfirmation (InvalidTransferState), or a key conflict", body = Envelope<Object>),
        (status = 422, description = "InsufficientFunds, AccountBlocked, AccountClosed, FxQuoteExpired (confirmed after quoteExpiresAt: cancel and quote again), …", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn confirm_fx(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<crate::routes::transfers::ConfirmRequest>,
) -> Result<Answer<FxTransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    // An FX transfer is issued without a code; one sent anyway is refused by the ledger.
    let command = CommandKind::ConfirmTransfer {
        transfer_id: id,
        otp: crate::routes::transfers::otp_proof(&state, body)?,
    };
    fx_step(&state, &context, id, command, "FX transfer completed").await
}

/// Cancel an FX transfer before it is confirmed (nothing was held: no money moves).
#[utoipa::path(put, path = "/Transfers/fx/{transferId}/cancel", tag = "Transfers", request_body = ReasonRequest,
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Cancelled", body = Envelope<FxTransferDto>),
        (status = 400, description = "Not a uuid, or a bad body", body = Envelope<Object>),
        (status = 404, description = "No such FX transfer", body = Envelope<Object>),
        (status = 409, description = "Already completed or cancelled (InvalidTransferState)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn cancel_fx(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Result<Answer<FxTransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    let command = CommandKind::CancelTransfer {
        transfer_id: id,
        reason: body.reason,
    };
    fx_step(&state, &context, id, command, "FX transfer cancelled").await
}

/// FX transfers, filtered and paged, newest first.
#[utoipa::path(get, path = "/internal/Transfers/fx", tag = "Transfers", params(ListQuery),
    responses((status = 200, description = "One page of FX transfers", body = Envelope<PagedList<FxTransferDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>),
        (status = 404, description = "accountId is unknown", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_fx(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Answer<PagedList<FxTransferDto>>, ApiError> {
    let found = list_rows(
        &state,
        &caller,
        query,
        Some(TransferDirection::ForeignExchange),
    )
    .await?;
    let items = found
        .items
        .iter()
        .map(|row| {
            FxTransferDto::from_row(row).ok_or_else(|| {
                ApiError::Internal(format!(
                    "transfer {} is listed as FX but has no FX terms",
                    row.transfer_id
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Answer::read(PagedList {
        items,
        page_number: found.page_number,
        page_size: found.page_size,
        total_count: found.total_count,
        total_pages: found.total_pages,
    }))
}
