//! Transfers (API.md §2.6): outgoing create/confirm/cancel, lists and details, the transfer type, manual execution, and the ops and provider routes.

use super::{DateBound, page_request};
use crate::answer::Answer;
use crate::auth::Caller;
use crate::dto::PagedList;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, JsonBody, QueryParams, parse_uuid};
use crate::money::Amount;
use crate::routes::confirmations::{deliver, issue_code, verdict};
use crate::state::AppState;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use folio_domain::{
    AccountId, CommandKind, ConfirmationId, CreateTransfer, Currency, OtpProof, PaymentId, Receipt,
    ReceiveTransfer, TransferDirection, TransferId, TransferOutcome, TransferStatus, TransferType,
    external_transfer_type,
};
use folio_engine::Committed;
use folio_projections::query::TransferFilter;
use folio_projections::rows::TransferRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// One step of a transfer's status history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferStepDto {
    pub status: TransferStatus,
    pub at: DateTime<Utc>,
    /// Why (a cancel, rejection, failure, suspension or manual execution).
    pub reason: Option<String>,
}

/// A transfer as API.md's TransferDto, with its counterparty, provider reference and history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferDto {
    pub id: Uuid,
    pub direction: TransferDirection,
    pub status: TransferStatus,
    pub transfer_type: Option<TransferType>,
    pub source_account_id: Option<Uuid>,
    pub destination_account_id: Option<Uuid>,
    pub recipient_id: Option<Uuid>,
    /// What leaves the source account, fee excluded (an FX transfer's source amount).
    pub amount: Amount,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Charged on top of `amount` to the bank's fee account (an FX transfer's spread).
    pub fee: Amount,
    /// An FX transfer's rate: units of the destination currency per unit of the source.
    pub rate: Option<Amount>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub payment_id: Uuid,
    pub beneficiary_account: Option<String>,
    pub beneficiary_name: Option<String>,
    pub payer_name: Option<String>,
    pub payer_account: Option<String>,
    pub provider_reference: Option<String>,
    /// The one-time-code confirmation that confirming this transfer needs (its code was sent
    /// to the account holder when the transfer was created).
    pub confirmation_id: Option<Uuid>,
    pub status_history: Vec<TransferStepDto>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl From<&TransferRow> for TransferDto {
    fn from(row: &TransferRow) -> Self {
        TransferDto {
            id: row.transfer_id.0,
            direction: row.direction,
            status: row.status,
            transfer_type: row.transfer_type,
            source_account_id: row.source_account_id.map(|id| id.0),
            destination_account_id: row.destination_account_id.map(|id| id.0),
            recipient_id: row.recipient_id,
            amount: row.amount.into(),
            currency: row.currency.code().to_string(),
            fee: row.fee.into(),
            rate: row.rate.map(Into::into),
            reference: row.reference.clone(),
            description: row.details.description.clone(),
            payment_id: row.payment_id.0,
            beneficiary_account: row.details.beneficiary_account.clone(),
            beneficiary_name: row.details.beneficiary_name.clone(),
            payer_name: row.details.payer_name.clone(),
            payer_account: row.details.payer_account.clone(),
            provider_reference: row.details.provider_reference.clone(),
            confirmation_id: row.details.confirmation_id,
            status_history: row
                .status_history
                .iter()
                .map(|step| TransferStepDto {
                    status: step.status,
                    at: step.at,
                    reason: step.reason.clone(),
                })
                .collect(),
            created: row.created_at,
            updated: row.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutgoingRequest {
    pub source_account_id: Uuid,
    /// One of the client's saved recipients (API.md); its account and name are used.
    pub recipient_id: Option<Uuid>,
    /// Instead of a recipient: the beneficiary's IBAN or account number, and name.
    pub beneficiary_account: Option<String>,
    pub beneficiary_name: Option<String>,
    pub amount: Amount,
    pub currency: String,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub external_id: Option<String>,
}

/// The confirmation: the transfer's confirmationId and the one-time code sent for it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmRequest {
    pub confirmation_id: Option<Uuid>,
    pub code: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignRequest {
    pub account_id: Uuid,
}

/// A provider notification of an incoming payment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IncomingRequest {
    pub provider_reference: String,
    pub amount: Amount,
    pub currency: String,
    pub payer_name: Option<String>,
    pub payer_account: Option<String>,
    pub beneficiary_account: String,
    pub reference: Option<String>,
}

/// A provider's final answer on an outgoing transfer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderAnswerRequest {
    pub transfer_id: Uuid,
    pub provider_reference: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub direction: Option<TransferDirection>,
    pub status: Option<TransferStatus>,
    /// Transfers with this account on either side (a client key must give one of its own).
    pub account_id: Option<Uuid>,
    /// A date (whole day) or an ISO-8601 date-time.
    #[param(value_type = Option<String>)]
    pub date_from: Option<DateBound>,
    #[param(value_type = Option<String>)]
    pub date_to: Option<DateBound>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TypeQuery {
    pub recipient_account: String,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferTypeDto {
    pub transfer_type: TransferType,
}

/// The account, if the caller may act on it (404 otherwise, as for accounts).
pub(crate) async fn own_account(
    state: &AppState,
    caller: &Caller,
    id: AccountId,
) -> Result<(), ApiError> {
    let row = state.models().account(id).await?;
    match row {
        Some(row) if caller.may_see(row.client_id) => Ok(()),
        _ => Err(ApiError::NotFound(format!("account {id} not found"))),
    }
}

/// The transfer row, if the caller may see it (a client: one of its accounts is a side).
pub(super) async fn load(
    state: &AppState,
    caller: &Caller,
    id: TransferId,
) -> Result<TransferRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("transfer {id} not found"));
    let row = state.models().transfer(id).await?.ok_or_else(not_found)?;
    if caller.own_client().is_none() {
        return Ok(row);
    }
    for side in [row.source_account_id, row.destination_account_id]
        .into_iter()
        .flatten()
    {
        if own_account(state, caller, side).await.is_ok() {
            return Ok(row);
        }
    }
    Err(not_found())
}

pub(super) async fn answer(
    state: &AppState,
    caller: &Caller,
    committed: &Committed,
    message: &'static str,
) -> Result<Answer<TransferDto>, ApiError> {
    let Receipt::Transfer(id) = committed.receipt else {
        return Err(ApiError::Internal(
            "the command did not answer with a transfer".into(),
        ));
    };
    // Commands answer without waiting for the read models; a transfer is answered as read back.
    state.wait_for_read_models(committed.position).await?;
    let row = load(state, caller, id).await?;
    Ok(Answer::committed(
        TransferDto::from(&row),
        committed.position,
        committed.duplicate,
        message,
    ))
}

pub(super) fn transfer_id(text: &str) -> Result<TransferId, ApiError> {
    Ok(TransferId(parse_uuid("transferId", text)?))
}

/// POST /Transfers/outgoing: a transfer to an IBAN or account number, awaiting confirmation.
#[utoipa::path(post, path = "/Transfers/outgoing", tag = "Transfers", request_body = OutgoingRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "The transfer, pendingConfirmation (its payment a draft)", body = Envelope<TransferDto>),
        (status = 400, description = "Invalid input (amount, currency, beneficiary)", body = Envelope<Object>),
        (status = 404, description = "The source account is unknown (or not the caller's)", body = Envelope<Object>),
        (status = 409, description = "The key or externalId was used for another request", body = Envelope<Object>),
        (status = 422, description = "Refused by a rule: CurrencyMismatch, …", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn create_outgoing(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<OutgoingRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let source = AccountId(body.source_account_id);
    own_account(&state, &context.caller, source).await?;
    let currency = Currency::from_code(&body.currency)?;
    let key = context.key_with_external_id(body.external_id.as_deref())?;
    if body.recipient_id.is_some() == body.beneficiary_account.is_some() {
        return Err(ApiError::validation(
            "recipientId",
            "recipientId: give exactly one of recipientId and beneficiaryAccount",
        ));
    }
    // Every transfer is confirmed with a one-time code, issued in the same command.
    let issued = issue_code(&state)?;
    let command = CommandKind::CreateOutgoingTransfer(Box::new(CreateTransfer {
        transfer_id: TransferId(Uuid::now_v7()),
        payment_id: PaymentId(Uuid::now_v7()),
        source_account_id: source,
        beneficiary_account: body.beneficiary_account,
        beneficiary_name: body.beneficiary_name,
        recipient_id: body.recipient_id,
        amount: body.amount.0,
        currency,
        reference: body.reference,
        description: body.description,
        fees: state.fees.clone(),
        confirmation: Some(issued.confirmation.clone()),
    }));
    let committed = state.execute(command, key, context.correlation_id).await?;
    deliver(&state, &committed, issued, source, "outgoingTransfer").await;
    answer(&state, &context.caller, &committed, "transfer created").await
}

/// A step on an existing transfer, after checking the caller may see it.
pub(super) async fn step(
    state: &AppState,
    context: &CommandContext,
    id: TransferId,
    command: CommandKind,
    key: Option<String>,
    message: &'static str,
) -> Result<Answer<TransferDto>, ApiError> {
    load(state, &context.caller, id).await?;
    let committed = state.execute(command, key, context.correlation_id).await?;
    answer(state, &context.caller, &committed, message).await
}

/// The code a confirmation body carries: both fields or neither. The ledger is given the
/// code keyed with the server's secret (see `OtpKey`).
pub(crate) fn otp_proof(
    state: &AppState,
    body: ConfirmRequest,
) -> Result<Option<OtpProof>, ApiError> {
    match (body.confirmation_id, body.code) {
        (Some(confirmation_id), Some(code)) => Ok(Some(OtpProof {
            confirmation_id: ConfirmationId(confirmation_id),
            code: state.otp.key.keyed(&code),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::validation(
            "code",
            "code: the one-time code is missing",
        )),
        (None, Some(_)) => Err(ApiError::validation(
            "confirmationId",
            "confirmationId: the transfer's confirmationId is missing",
        )),
    }
}

/// PUT /Transfers/outgoing/{id}/confirm: holds the funds (an internal transfer settles).
#[utoipa::path(put, path = "/Transfers/outgoing/{transferId}/confirm", tag = "Transfers", request_body = ConfirmRequest,
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Confirmed (funds and fee held); an internal transfer completed", body = Envelope<TransferDto>),
        (status = 400, description = "Not a uuid, or a bad body", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Not pendingConfirmation (InvalidTransferState), or a key conflict", body = Envelope<Object>),
        (status = 422, description = "InsufficientFunds, AccountBlocked, …", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn confirm_outgoing(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConfirmRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::ConfirmTransfer {
        transfer_id: id,
        otp: otp_proof(&state, body)?,
    };
    load(&state, &context.caller, id).await?;
    let committed = state.execute(command, key, context.correlation_id).await?;
    verdict(&committed)?;
    answer(&state, &context.caller, &committed, "transfer confirmed").await
}

/// PUT /Transfers/outgoing/{id}/cancel: only before processing; the hold is paid back.
#[utoipa::path(put, path = "/Transfers/outgoing/{transferId}/cancel", tag = "Transfers", request_body = ReasonRequest,
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Cancelled; the hold and fee paid back", body = Envelope<TransferDto>),
        (status = 400, description = "Not a uuid, or a bad body", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Already processing or final (InvalidTransferState)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn cancel_outgoing(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::CancelTransfer {
        transfer_id: id,
        reason: body.reason,
    };
    step(&state, &context, id, command, key, "transfer cancelled").await
}

/// GET /Transfers/{id} and its /v2, outgoing and incoming spellings.
#[utoipa::path(get, path = "/Transfers/{transferId}", tag = "Transfers",
    params(("transferId" = Uuid, Path)),
    responses((status = 200, description = "The transfer", body = Envelope<TransferDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such transfer (or not the caller's)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Answer<TransferDto>, ApiError> {
    let row = load(&state, &caller, transfer_id(&id)?).await?;
    Ok(Answer::read(TransferDto::from(&row)))
}

/// One page of transfers matching the query (and `direction`, when the route names one).
pub(super) async fn list_rows(
    state: &AppState,
    caller: &Caller,
    query: ListQuery,
    direction: Option<TransferDirection>,
) -> Result<folio_projections::query::Page<TransferRow>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    match query.account_id {
        Some(id) => own_account(state, caller, AccountId(id)).await?,
        None if caller.own_client().is_some() => {
            return Err(ApiError::validation(
                "accountId",
                "accountId: a client key reads one of its accounts at a time",
            ));
        }
        None => {}
    }
    let filter = TransferFilter {
        directions: direction.or(query.direction).into_iter().collect(),
        statuses: query.status.into_iter().collect(),
        account_ids: query.account_id.map(AccountId).into_iter().collect(),
        from: query.date_from.map(DateBound::start),
        to: query.date_to.map(DateBound::end),
    };
    Ok(state.models().transfers(&filter, page).await?)
}

async fn list(
    state: &AppState,
    caller: &Caller,
    query: ListQuery,
    direction: Option<TransferDirection>,
) -> Result<Answer<PagedList<TransferDto>>, ApiError> {
    let found = list_rows(state, caller, query, direction).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        TransferDto::from(row)
    })))
}

/// GET /Transfers and /v2/Transfers: newest first.
#[utoipa::path(get, path = "/Transfers", tag = "Transfers", params(ListQuery),
    responses((status = 200, description = "One page of transfers, newest first", body = Envelope<PagedList<TransferDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>),
        (status = 404, description = "accountId is unknown (or not the caller's)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_transfers(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Answer<PagedList<TransferDto>>, ApiError> {
    list(&state, &caller, query, None).await
}

/// GET /internal/Transfers/internal|outgoing|incoming.
#[utoipa::path(get, path = "/internal/Transfers/internal", tag = "Transfers", params(ListQuery),
    responses((status = 200, description = "One page of internal transfers, newest first", body = Envelope<PagedList<TransferDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>),
        (status = 404, description = "accountId is unknown", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_internal(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Answer<PagedList<TransferDto>>, ApiError> {
    list(&state, &caller, query, Some(TransferDirection::Internal)).await
}

#[utoipa::path(get, path = "/internal/Transfers/outgoing", tag = "Transfers", params(ListQuery),
    responses((status = 200, description = "One page of outgoing transfers, newest first", body = Envelope<PagedList<TransferDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>),
        (status = 404, description = "accountId is unknown", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_outgoing(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Answer<PagedList<TransferDto>>, ApiError> {
    list(&state, &caller, query, Some(TransferDirection::Outgoing)).await
}

#[utoipa::path(get, path = "/internal/Transfers/incoming", tag = "Transfers", params(ListQuery),
    responses((status = 200, description = "One page of incoming transfers, newest first", body = Envelope<PagedList<TransferDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>),
        (status = 404, description = "accountId is unknown", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_incoming(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Answer<PagedList<TransferDto>>, ApiError> {
    list(&state, &caller, query, Some(TransferDirection::Incoming)).await
}

/// GET /Transfers/type: internal for a Folio client's account, else by account and currency.
#[utoipa::path(get, path = "/Transfers/type", tag = "Transfers", params(TypeQuery),
    responses((status = 200, description = "The rail a transfer to this account would take", body = Envelope<TransferTypeDto>),
        (status = 400, description = "Invalid parameter or currency", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn transfer_type(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TypeQuery>,
) -> Result<Answer<TransferTypeDto>, ApiError> {
    let currency = Currency::from_code(&query.currency)?;
    let found = state
        .models()
        .account_by_number(&query.recipient_account)
        .await?;
    let transfer_type = match found {
        Some(row) if row.client_id.is_some() => TransferType::Internal,
        _ => external_transfer_type(&query.recipient_account, currency),
    };
    Ok(Answer::read(TransferTypeDto { transfer_type }))
}

/// PUT /internal/Transfers/incoming/{id}/assign: suspense → the named account.
#[utoipa::path(put, path = "/internal/Transfers/incoming/{transferId}/assign", tag = "Transfers", request_body = AssignRequest,
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Assigned and completed", body = Envelope<TransferDto>),
        (status = 400, description = "Not a uuid, or a bad body", body = Envelope<Object>),
        (status = 404, description = "No such transfer or account", body = Envelope<Object>),
        (status = 409, description = "Not unrecognized (InvalidTransferState)", body = Envelope<Object>),
        (status = 422, description = "The account cannot take it (AccountBlocked, CurrencyMismatch, …)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn assign_incoming(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssignRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::AssignIncomingTransfer {
        transfer_id: id,
        account_id: AccountId(body.account_id),
        payment_id: PaymentId(Uuid::now_v7()),
    };
    step(
        &state,
        &context,
        id,
        command,
        key,
        "incoming transfer assigned",
    )
    .await
}

/// POST /internal/Transfers/outgoing/{id}/continue: a suspended transfer is processing again.
#[utoipa::path(post, path = "/internal/Transfers/outgoing/{transferId}/continue", tag = "Transfers",
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Processing again", body = Envelope<TransferDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Not suspended (InvalidTransferState)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn continue_outgoing(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
) -> Result<Answer<TransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::ContinueTransfer { transfer_id: id };
    step(&state, &context, id, command, key, "transfer continued").await
}

/// POST /internal/Transfers/outgoing/{id}/suspend: ops stop a processing transfer.
#[utoipa::path(post, path = "/internal/Transfers/outgoing/{transferId}/suspend", tag = "Transfers", request_body = ReasonRequest,
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Suspended", body = Envelope<TransferDto>),
        (status = 400, description = "Not a uuid, or a bad body", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Not processing (InvalidTransferState)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn suspend_outgoing(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::SuspendTransfer {
        transfer_id: id,
        reason: body.reason,
    };
    step(&state, &context, id, command, key, "transfer suspended").await
}

/// POST /internal/IncomingRequests: money coming in. The provider reference is the key, so
/// a repeated notification is answered with the same transfer.
#[utoipa::path(post, path = "/internal/IncomingRequests", tag = "Transfers", request_body = IncomingRequest,
    responses((status = 200, description = "Received: completed to the beneficiary, or unrecognized (on suspense)", body = Envelope<TransferDto>),
        (status = 400, description = "Invalid input", body = Envelope<Object>),
        (status = 409, description = "The provider reference was used for another notification", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn incoming_request(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<IncomingRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let currency = Currency::from_code(&body.currency)?;
    if body.provider_reference.trim().is_empty() || body.provider_reference.len() > 200 {
        return Err(ApiError::validation(
            "providerReference",
            "providerReference has 1 to 200 characters",
        ));
    }
    let key = Some(format!("incoming:{}", body.provider_reference));
    let command = CommandKind::ReceiveIncomingTransfer(Box::new(ReceiveTransfer {
        transfer_id: TransferId(Uuid::now_v7()),
        payment_id: PaymentId(Uuid::now_v7()),
        provider_reference: body.provider_reference,
        amount: body.amount.0,
        currency,
        payer_name: body.payer_name,
        payer_account: body.payer_account,
        beneficiary_account: body.beneficiary_account,
        reference: body.reference,
    }));
    let committed = state.execute(command, key, context.correlation_id).await?;
    answer(
        &state,
        &context.caller,
        &committed,
        "incoming transfer received",
    )
    .await
}

/// The provider's answer, under the same key the process manager uses for it: whichever
/// arrives first is recorded, the same answer again is a duplicate, a different one a conflict.
async fn provider_answer(
    state: &AppState,
    context: &CommandContext,
    id: Uuid,
    outcome: TransferOutcome,
) -> Result<Answer<TransferDto>, ApiError> {
    let id = TransferId(id);
    let command = CommandKind::RecordTransferOutcome {
        transfer_id: id,
        outcome,
    };
    let key = Some(format!("rail:{id}:outcome"));
    step(state, context, id, command, key, "provider answer recorded").await
}

/// POST /internal/IncomingRequests/completed
#[utoipa::path(post, path = "/internal/IncomingRequests/completed", tag = "Transfers", request_body = ProviderAnswerRequest,
    responses((status = 200, description = "The transfer, completed (the payment posted)", body = Envelope<TransferDto>),
        (status = 400, description = "Invalid input", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Not processing, or another answer was recorded first", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn provider_completed(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<ProviderAnswerRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let outcome = TransferOutcome::Completed {
        provider_reference: body.provider_reference,
    };
    provider_answer(&state, &context, body.transfer_id, outcome).await
}

/// POST /internal/IncomingRequests/rejected
#[utoipa::path(post, path = "/internal/IncomingRequests/rejected", tag = "Transfers", request_body = ProviderAnswerRequest,
    responses((status = 200, description = "The transfer, rejected (hold and fee paid back)", body = Envelope<TransferDto>),
        (status = 400, description = "Invalid input", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Not processing, or another answer was recorded first", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn provider_rejected(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<ProviderAnswerRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let outcome = TransferOutcome::Rejected {
        reason: body.reason,
    };
    provider_answer(&state, &context, body.transfer_id, outcome).await
}

/// POST /internal/IncomingRequests/failed
#[utoipa::path(post, path = "/internal/IncomingRequests/failed", tag = "Transfers", request_body = ProviderAnswerRequest,
    responses((status = 200, description = "The transfer, failed (hold and fee paid back)", body = Envelope<TransferDto>),
        (status = 400, description = "Invalid input", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Not processing, or another answer was recorded first", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn provider_failed(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<ProviderAnswerRequest>,
) -> Result<Answer<TransferDto>, ApiError> {
    let outcome = TransferOutcome::Failed {
        reason: body.reason,
    };
    provider_answer(&state, &context, body.transfer_id, outcome).await
}

/// POST /internal/Transfers/{id}/execute: ops execute a confirmed or suspended outgoing transfer
/// now; it is processing, and the process manager (woken by the commit) hands it to the rail.
#[utoipa::path(post, path = "/internal/Transfers/{transferId}/execute", tag = "Transfers",
    params(("transferId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Processing: handed to the rail", body = Envelope<TransferDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such transfer", body = Envelope<Object>),
        (status = 409, description = "Not a confirmed or suspended outgoing transfer (InvalidTransferState)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn execute_transfer(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
) -> Result<Answer<TransferDto>, ApiError> {
    let id = transfer_id(&id)?;
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::ExecuteTransfer { transfer_id: id };
    step(&state, &context, id, command, key, "transfer executed").await
}
