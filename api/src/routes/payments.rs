//! Payments (API.md §2.5): create (posted at once), draft, pend, post, cancel; get one and a
//! filtered list. Served under `/internal/Payments` and mirrored under `/v2/internal/Payments`.

use super::{DateBound, currencies, page_request};
use crate::answer::Answer;
use crate::committed;
use crate::dto::{PagedList, PaymentDto, PaymentStatusDto};
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, JsonBody, QueryParams, parse_uuid};
use crate::money::Amount;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use folio_domain::{
    AccountId, CommandKind, CreateMode, CreatePayment, Currency, EventBody, LegRequest,
    PaymentEvent, PaymentId, PaymentStatus, Receipt,
};
use folio_engine::Committed;
use folio_projections::query::{MAX_PAGE_SIZE, PageRequest, PaymentFilter, TransactionFilter};
use folio_projections::rows::{PaymentRow, TransactionRow};
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The payment routes, relative to their prefix.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", post(create_payment).get(list_payments))
        .route("/draft", post(create_draft))
        .route("/{paymentId}", get(get_payment))
        .route("/{paymentId}/pend", post(pend_payment))
        .route("/{paymentId}/post", post(post_payment))
        .route("/{paymentId}/cancel", post(cancel_payment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    /// The account debited; absent for a pay-in from outside.
    pub source_account_id: Option<Uuid>,
    /// The account credited; absent for a pay-out.
    pub destination_account_id: Option<Uuid>,
    pub amount: Amount,
    #[schema(example = "EUR")]
    pub currency: String,
    pub description: Option<String>,
    /// Unique per caller: a repeat with the same body returns the same payment.
    pub external_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PendRequest {}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostRequest {
    /// At most the held amount; the rest of the hold is released. Defaults to all of it.
    pub amount: Option<Amount>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListPaymentsQuery {
    /// Payments whose source or destination is this account.
    pub account_id: Option<Uuid>,
    pub status: Option<PaymentStatusDto>,
    pub currency: Option<String>,
    /// A date (whole day) or an ISO-8601 date-time.
    #[param(value_type = Option<String>)]
    pub date_from: Option<DateBound>,
    #[param(value_type = Option<String>)]
    pub date_to: Option<DateBound>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

/// Create a payment that moves the money at once (status `posted`).
#[utoipa::path(post, path = "/internal/Payments", tag = "Payments", request_body = PaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "The posted payment", body = Envelope<PaymentDto>),
        (status = 400, description = "Invalid input (amount, currency, accounts)", body = Envelope<Object>),
        (status = 404, description = "An account is unknown", body = Envelope<Object>),
        (status = 409, description = "The key or externalId was used for another request", body = Envelope<Object>),
        (status = 422, description = "Refused by a rule: InsufficientFunds, AccountBlocked, CurrencyMismatch, …", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn create_payment(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<PaymentRequest>,
) -> Result<Answer<PaymentDto>, ApiError> {
    create(&state, &context, body, CreateMode::Posted).await
}

/// Create a draft payment: recorded, no money moves.
#[utoipa::path(post, path = "/internal/Payments/draft", tag = "Payments", request_body = PaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The draft payment", body = Envelope<PaymentDto>),
        (status = 400, description = "Invalid input", body = Envelope<Object>),
        (status = 404, description = "An account is unknown", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn create_draft(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<PaymentRequest>,
) -> Result<Answer<PaymentDto>, ApiError> {
    create(&state, &context, body, CreateMode::Draft).await
}

async fn create(
    state: &AppState,
    context: &CommandContext,
    body: PaymentRequest,
    mode: CreateMode,
) -> Result<Answer<PaymentDto>, ApiError> {
    if body.source_account_id.is_none() && body.destination_account_id.is_none() {
        return Err(ApiError::validation(
            "sourceAccountId",
            "a payment needs a sourceAccountId, a destinationAccountId or both",
        ));
    }
    let currency = Currency::from_code(&body.currency)?;
    let key = context.key_with_external_id(body.external_id.as_deref())?;
    let command = CommandKind::CreatePayment(CreatePayment {
        payment_id: PaymentId(Uuid::now_v7()),
        legs: vec![LegRequest {
            debit: body.source_account_id.map(AccountId),
            credit: body.destination_account_id.map(AccountId),
            amount: body.amount.0,
            currency,
        }],
        mode,
        description: body.description,
        external_id: body.external_id,
        metadata: body.metadata,
        expires_at: None,
    });
    let committed = state.execute(command, key, context.correlation_id).await?;
    let message = match mode {
        CreateMode::Draft => "payment drafted",
        CreateMode::Pending => "payment pending",
        CreateMode::Posted => "payment posted",
    };
    answer(state, &committed, message).await
}

/// Pend a draft payment: the funds are held on the source account.
#[utoipa::path(post, path = "/internal/Payments/{paymentId}/pend", tag = "Payments",
    request_body(content = PendRequest, description = "Empty (`{}` or no body)"),
    params(("paymentId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The pending payment", body = Envelope<PaymentDto>),
        (status = 404, description = "No such payment", body = Envelope<Object>),
        (status = 409, description = "Not a draft", body = Envelope<Object>),
        (status = 422, description = "InsufficientFunds and other rules", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn pend_payment(
    State(state): State<AppState>,
    context: CommandContext,
    Path(payment_id): Path<String>,
    JsonBody(_body): JsonBody<PendRequest>,
) -> Result<Answer<PaymentDto>, ApiError> {
    let payment_id = PaymentId(parse_uuid("paymentId", &payment_id)?);
    let command = CommandKind::PendPayment {
        payment_id,
        expires_at: None,
    };
    transition(&state, &context, command, "payment pending").await
}

/// Post a pending payment, all of the hold or part of it (the rest is released).
#[utoipa::path(post, path = "/internal/Payments/{paymentId}/post", tag = "Payments",
    request_body = PostRequest,
    params(("paymentId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The posted payment", body = Envelope<PaymentDto>),
        (status = 400, description = "Invalid amount (above the hold, zero, …)", body = Envelope<Object>),
        (status = 404, description = "No such payment", body = Envelope<Object>),
        (status = 409, description = "Not pending", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn post_payment(
    State(state): State<AppState>,
    context: CommandContext,
    Path(payment_id): Path<String>,
    JsonBody(body): JsonBody<PostRequest>,
) -> Result<Answer<PaymentDto>, ApiError> {
    let payment_id = PaymentId(parse_uuid("paymentId", &payment_id)?);
    let command = CommandKind::PostPayment {
        payment_id,
        amount: body.amount.map(|amount| amount.0),
    };
    transition(&state, &context, command, "payment posted").await
}

/// Cancel a draft or pending payment; a hold is paid back.
#[utoipa::path(post, path = "/internal/Payments/{paymentId}/cancel", tag = "Payments",
    request_body = CancelRequest,
    params(("paymentId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The cancelled payment", body = Envelope<PaymentDto>),
        (status = 404, description = "No such payment", body = Envelope<Object>),
        (status = 409, description = "Already posted or cancelled", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn cancel_payment(
    State(state): State<AppState>,
    context: CommandContext,
    Path(payment_id): Path<String>,
    JsonBody(body): JsonBody<CancelRequest>,
) -> Result<Answer<PaymentDto>, ApiError> {
    let payment_id = PaymentId(parse_uuid("paymentId", &payment_id)?);
    let command = CommandKind::CancelPayment {
        payment_id,
        reason: body.reason,
    };
    transition(&state, &context, command, "payment cancelled").await
}

async fn transition(
    state: &AppState,
    context: &CommandContext,
    command: CommandKind,
    message: &'static str,
) -> Result<Answer<PaymentDto>, ApiError> {
    let key = context.key_with_external_id(None)?;
    let committed = state.execute(command, key, context.correlation_id).await?;
    answer(state, &committed, message).await
}

/// The payment as the command left it, built from the committed events: no read model is
/// waited for (the answer's `X-Folio-Position` lets a later read see it). A retried command
/// recorded nothing new, so its answer is read back once the read models include it.
async fn answer(
    state: &AppState,
    committed: &Committed,
    message: &'static str,
) -> Result<Answer<PaymentDto>, ApiError> {
    let Receipt::Payment(id) = committed.receipt else {
        return Err(ApiError::Internal(
            "the command did not answer with a payment".into(),
        ));
    };
    let payment = match payment_event(committed, id) {
        Some(event) if !committed.duplicate => folded_payment(state, committed, id, event).await?,
        _ => read_back(state, committed.position, id).await?,
    };
    Ok(Answer::committed(
        payment,
        committed.position,
        committed.duplicate,
        message,
    ))
}

/// The command's event on the payment's own stream.
fn payment_event(committed: &Committed, id: PaymentId) -> Option<&PaymentEvent> {
    committed.events.iter().find_map(|event| match &event.body {
        EventBody::Payment(payment) if payment.payment_id() == id => Some(payment),
        _ => None,
    })
}

async fn read_back(state: &AppState, position: u64, id: PaymentId) -> Result<PaymentDto, ApiError> {
    state.wait_for_read_models(position).await?;
    load_payment(state, id).await
}

/// Folds the command's events over the payment as it was before them. A new payment needs
/// nothing else; a transition needs the payment's earlier row and statement lines, which the
/// read models hold once they include the payment's previous event — normally long since.
async fn folded_payment(
    state: &AppState,
    committed: &Committed,
    id: PaymentId,
    event: &PaymentEvent,
) -> Result<PaymentDto, ApiError> {
    let (before, mut lines) = match event {
        PaymentEvent::Created(_) => (None, Vec::new()),
        _ => match payment_before(state, committed, id, event).await? {
            Some((row, lines)) => (Some(row), lines),
            // The read models already include this command: read it as they show it.
            None => return read_back(state, committed.position, id).await,
        },
    };
    let changes = committed::fold(committed, state.time_zone, before);
    let row = changes
        .payments
        .iter()
        .find(|row| row.payment_id == id)
        .ok_or_else(|| ApiError::Internal(format!("payment {id} is not in its own events")))?;
    lines.extend(committed::lines_of(changes.transactions, id));
    Ok(PaymentDto::from_row(row, &lines))
}

/// The payment's row and statement lines just before the command, from the read models; None
/// when they have already applied the command itself.
async fn payment_before(
    state: &AppState,
    committed: &Committed,
    id: PaymentId,
    event: &PaymentEvent,
) -> Result<Option<(PaymentRow, Vec<TransactionRow>)>, ApiError> {
    let first = committed::first_position(committed);
    // Each event of a payment moves it to another status, so the status it had before this
    // one says which row is wanted.
    let status_before = match event {
        PaymentEvent::Pended(_) => PaymentStatus::Draft,
        PaymentEvent::Cancelled(cancelled) if cancelled.released.is_empty() => PaymentStatus::Draft,
        _ => PaymentStatus::Pending,
    };
    for attempt in 0..2 {
        match state.models().payment(id).await? {
            Some(row) if row.last_position >= first => return Ok(None),
            Some(row) if row.status == status_before => {
                let mut lines = transactions_of(state, &[id])
                    .await?
                    .remove(&id)
                    .unwrap_or_default();
                lines.retain(|line| line.position < first);
                return Ok(Some((row, lines)));
            }
            _ if attempt == 0 => state.wait_for_read_models(first - 1).await?,
            _ => {}
        }
    }
    Ok(None)
}

/// One payment with its statement lines.
#[utoipa::path(get, path = "/internal/Payments/{paymentId}", tag = "Payments",
    params(("paymentId" = Uuid, Path)),
    responses((status = 200, description = "The payment", body = Envelope<PaymentDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such payment", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_payment(
    State(state): State<AppState>,
    Path(payment_id): Path<String>,
) -> Result<Answer<PaymentDto>, ApiError> {
    let id = PaymentId(parse_uuid("paymentId", &payment_id)?);
    Ok(Answer::read(load_payment(&state, id).await?))
}

/// Payments, filtered and paged, newest last.
#[utoipa::path(get, path = "/internal/Payments", tag = "Payments", params(ListPaymentsQuery),
    responses((status = 200, description = "One page of payments", body = Envelope<PagedList<PaymentDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_payments(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListPaymentsQuery>,
) -> Result<Answer<PagedList<PaymentDto>>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    let filter = PaymentFilter {
        account_ids: query.account_id.map(AccountId).into_iter().collect(),
        statuses: query
            .status
            .map(PaymentStatusDto::ledger_statuses)
            .unwrap_or_default(),
        currencies: currencies(&query.currency.into_iter().collect::<Vec<_>>())?,
        from: query.date_from.map(DateBound::start),
        to: query.date_to.map(DateBound::end),
    };
    let found = state.models().payments(&filter, page).await?;
    let ids: Vec<PaymentId> = found.items.iter().map(|row| row.payment_id).collect();
    let lines = transactions_of(&state, &ids).await?;
    let empty = Vec::new();
    Ok(Answer::read(PagedList::map(found, |row| {
        PaymentDto::from_row(row, lines.get(&row.payment_id).unwrap_or(&empty))
    })))
}

async fn load_payment(state: &AppState, id: PaymentId) -> Result<PaymentDto, ApiError> {
    let row = state
        .models()
        .payment(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("payment {id} not found")))?;
    let lines = transactions_of(state, &[id]).await?;
    Ok(PaymentDto::from_row(
        &row,
        lines.get(&id).map(Vec::as_slice).unwrap_or_default(),
    ))
}

/// Every statement line of these payments, in log order.
async fn transactions_of(
    state: &AppState,
    ids: &[PaymentId],
) -> Result<HashMap<PaymentId, Vec<TransactionRow>>, ApiError> {
    let mut lines: HashMap<PaymentId, Vec<TransactionRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(lines);
    }
    let filter = TransactionFilter {
        payment_ids: ids.to_vec(),
        ..TransactionFilter::default()
    };
    let mut number = 1;
    loop {
        let page = state
            .models()
            .transactions(&filter, PageRequest::new(number, MAX_PAGE_SIZE))
            .await?;
        let done = u64::from(number) >= page.total_pages;
        for row in page.items {
            lines.entry(row.payment_id).or_default().push(row);
        }
        if done {
            return Ok(lines);
        }
        number += 1;
    }
}
