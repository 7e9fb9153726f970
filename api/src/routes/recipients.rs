//! Recipients (API.md §2.6): a client's saved beneficiaries — add, list, details, visibility.
//!
//! A client key acts on its own client's recipients only (another client's is a 404). The
//! system role names the client: `clientId` in the body of an add (required) and, optionally, as
//! a query filter of the list.

use super::page_request;
use crate::answer::Answer;
use crate::auth::Caller;
use crate::dto::PagedList;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, JsonBody, QueryParams, parse_uuid};
use crate::state::AppState;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use folio_domain::{
    AddRecipient, ClientId, CommandKind, Currency, LedgerError, Receipt, RecipientId, RecipientType,
};
use folio_projections::query::RecipientFilter;
use folio_projections::rows::RecipientRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// API.md's RecipientDto.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientDto {
    pub id: Uuid,
    pub client_id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "individual")]
    pub recipient_type: RecipientType,
    pub account_number: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub sort_code: Option<String>,
    pub currency: String,
    pub country: String,
    pub address: Option<String>,
    pub is_visible: bool,
    pub created: DateTime<Utc>,
}

impl From<&RecipientRow> for RecipientDto {
    fn from(row: &RecipientRow) -> Self {
        let details = &row.details;
        RecipientDto {
            id: row.recipient_id.0,
            client_id: row.client_id.0,
            name: details.name.clone(),
            recipient_type: details.recipient_type,
            account_number: details.account_number.clone(),
            iban: details.iban.clone(),
            bic: details.bic.clone(),
            sort_code: details.sort_code.clone(),
            currency: details.currency.code().to_string(),
            country: details.country.clone(),
            address: details.address.clone(),
            is_visible: row.is_visible,
            created: row.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddRecipientRequest {
    /// The client the recipient belongs to: required for the system role; a client key may
    /// leave it out or name its own client.
    pub client_id: Option<Uuid>,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "company")]
    pub recipient_type: RecipientType,
    /// Exactly one of accountNumber and iban.
    pub account_number: Option<String>,
    /// Spaces are ignored and letters upper-cased; checked with its mod-97 check digits.
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub sort_code: Option<String>,
    pub currency: String,
    /// ISO-3166 alpha-2.
    pub country: String,
    pub address: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VisibilityRequest {
    pub is_visible: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRecipientsQuery {
    /// The system role's filter by client (a client key always lists its own).
    pub client_id: Option<Uuid>,
    /// Hidden recipients too (default false).
    pub include_hidden: Option<bool>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

/// The client a caller acts for: its own (a client key), or the one the system names.
fn acting_client(caller: &Caller, named: Option<Uuid>) -> Result<ClientId, ApiError> {
    match (caller.own_client(), named) {
        (Some(own), None) => Ok(own),
        (Some(own), Some(named)) if own.0 == named => Ok(own),
        (Some(_), Some(_)) => Err(ApiError::Forbidden(
            "a client key adds recipients for its own client only".into(),
        )),
        (None, Some(named)) => Ok(ClientId(named)),
        (None, None) => Err(ApiError::validation(
            "clientId",
            "clientId: the system role names the client the recipient belongs to",
        )),
    }
}

/// The recipient row, if the caller may see it.
async fn load(
    state: &AppState,
    caller: &Caller,
    id: RecipientId,
) -> Result<RecipientRow, ApiError> {
    match state.models().recipient(id).await? {
        Some(row) if caller.may_see(Some(row.client_id)) => Ok(row),
        _ => Err(ApiError::NotFound(format!("recipient {id} not found"))),
    }
}

fn recipient_id(text: &str) -> Result<RecipientId, ApiError> {
    Ok(RecipientId(parse_uuid("recipientId", text)?))
}

/// The ledger's validation messages start with the field they concern (`iban: …`).
fn field_error(error: ApiError) -> ApiError {
    match error {
        ApiError::Ledger(LedgerError::InvalidCommand { reason }) => {
            let field = reason
                .split_once(':')
                .map(|(field, _)| field.to_string())
                .filter(|field| {
                    [
                        "name",
                        "accountNumber",
                        "iban",
                        "bic",
                        "sortCode",
                        "country",
                        "address",
                    ]
                    .contains(&field.as_str())
                });
            ApiError::Validation {
                field,
                message: reason,
            }
        }
        other => other,
    }
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    committed: &folio_engine::Committed,
    message: &'static str,
) -> Result<Answer<RecipientDto>, ApiError> {
    let Receipt::Recipient(id) = committed.receipt else {
        return Err(ApiError::Internal(
            "the command did not answer with a recipient".into(),
        ));
    };
    state.wait_for_read_models(committed.position).await?;
    let row = load(state, caller, id).await?;
    Ok(Answer::committed(
        RecipientDto::from(&row),
        committed.position,
        committed.duplicate,
        message,
    ))
}

/// An IBAN as typed (`DE89 3704 …`, lower case) in its electronic form.
fn electronic_iban(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

#[utoipa::path(post, path = "/Recipients", tag = "Recipients", request_body = AddRecipientRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "The new recipient", body = Envelope<RecipientDto>),
        (status = 400, description = "Invalid details; metadata.field names the field", body = Envelope<Object>),
        (status = 403, description = "A client key naming another client", body = Envelope<Object>),
        (status = 409, description = "The key was used for another request", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn add_recipient(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<AddRecipientRequest>,
) -> Result<Answer<RecipientDto>, ApiError> {
    let client_id = acting_client(&context.caller, body.client_id)?;
    let currency = Currency::from_code(&body.currency)
        .map_err(|error| ApiError::validation("currency", error.to_string()))?;
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::AddRecipient(Box::new(AddRecipient {
        recipient_id: RecipientId(Uuid::now_v7()),
        client_id,
        name: body.name,
        recipient_type: body.recipient_type,
        account_number: body.account_number,
        iban: body.iban.as_deref().map(electronic_iban),
        bic: body.bic.map(|bic| bic.to_ascii_uppercase()),
        sort_code: body.sort_code.map(|code| code.replace('-', "")),
        currency,
        country: body.country,
        address: body.address,
    }));
    let committed = state
        .execute(command, key, context.correlation_id)
        .await
        .map_err(field_error)?;
    answer(&state, &context.caller, &committed, "recipient added").await
}

#[utoipa::path(get, path = "/Recipients", tag = "Recipients", params(ListRecipientsQuery),
    responses((status = 200, description = "One page of recipients, oldest first", body = Envelope<PagedList<RecipientDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_recipients(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListRecipientsQuery>,
) -> Result<Answer<PagedList<RecipientDto>>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    let client_id = match (caller.own_client(), query.client_id) {
        (Some(own), None) => Some(own),
        (Some(own), Some(named)) if own.0 == named => Some(own),
        (Some(_), Some(_)) => {
            return Err(ApiError::Forbidden(
                "a client key lists its own client's recipients only".into(),
            ));
        }
        (None, named) => named.map(ClientId),
    };
    let filter = RecipientFilter {
        client_id,
        include_hidden: query.include_hidden.unwrap_or(false),
    };
    let found = state.models().recipients(&filter, page).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        RecipientDto::from(row)
    })))
}

#[utoipa::path(get, path = "/Recipients/{recipientId}", tag = "Recipients",
    params(("recipientId" = Uuid, Path)),
    responses((status = 200, description = "The recipient (hidden ones too)", body = Envelope<RecipientDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such recipient, or another client's", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_recipient(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Answer<RecipientDto>, ApiError> {
    let row = load(&state, &caller, recipient_id(&id)?).await?;
    Ok(Answer::read(RecipientDto::from(&row)))
}

#[utoipa::path(put, path = "/Recipients/{recipientId}/visibility", tag = "Recipients",
    params(("recipientId" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    request_body = VisibilityRequest,
    responses((status = 200, description = "The recipient", body = Envelope<RecipientDto>),
        (status = 400, description = "Invalid body or id", body = Envelope<Object>),
        (status = 404, description = "No such recipient, or another client's", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn set_visibility(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VisibilityRequest>,
) -> Result<Answer<RecipientDto>, ApiError> {
    let id = recipient_id(&id)?;
    let row = load(&state, &context.caller, id).await?;
    if row.is_visible == body.is_visible {
        // Already so: nothing to record.
        return Ok(Answer::read(RecipientDto::from(&row)));
    }
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::SetRecipientVisibility {
        recipient_id: id,
        is_visible: body.is_visible,
    };
    let committed = state.execute(command, key, context.correlation_id).await?;
    let message = if body.is_visible {
        "recipient shown"
    } else {
        "recipient hidden"
    };
    answer(&state, &context.caller, &committed, message).await
}
