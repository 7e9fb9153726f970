//! ClientProfile (API.md §2.2): register, list, get, update, block, unblock and set the status
//! of clients (system), and `GET /Client`, the calling client key's own profile.

use super::page_request;
use crate::answer::Answer;
use crate::auth::Caller;
use crate::client_dto::{ClientDto, CreateClientRequest, READ_ONLY_FIELDS};
use crate::dto::PagedList;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, JsonBody, QueryParams, from_value, parse_uuid};
use crate::state::AppState;
use axum::extract::{Path, State};
use folio_domain::client::validate_profile;
use folio_domain::{
    ClientId, ClientPatch, ClientProfile, ClientStatus, ClientType, CommandKind, LedgerError,
    Receipt,
};
use folio_engine::Committed;
use folio_projections::query::ClientFilter;
use folio_projections::rows::ClientRow;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListClientsQuery {
    pub status: Option<ClientStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub client_type: Option<ClientType>,
    /// A case-insensitive part of the legal name or the e-mail address.
    pub search: Option<String>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why (kept with the client while it is blocked).
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientStatusRequest {
    /// `active` or `blocked` (no command makes a client inactive).
    pub status: ClientStatus,
    pub reason: Option<String>,
}

/// Longest block or unblock reason, in bytes.
const MAX_REASON_LEN: usize = 512;

/// Register a client (active) with its profile.
#[utoipa::path(post, path = "/internal/Clients", tag = "Clients", request_body = CreateClientRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "The new client", body = Envelope<ClientDto>),
        (status = 400, description = "Invalid profile; metadata.field names the field", body = Envelope<Object>),
        (status = 409, description = "The id is taken, or the key was used for another request", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn create_client(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Answer<ClientDto>, ApiError> {
    let mut body = body;
    let client_id = match body.remove("id") {
        None | Some(Value::Null) => ClientId(Uuid::now_v7()),
        Some(Value::String(text)) => ClientId(parse_uuid("id", &text)?),
        Some(_) => return Err(ApiError::validation("id", "id: expected a uuid string")),
    };
    refuse_read_only(&body)?;
    let profile: ClientProfile = from_value(Value::Object(body))?;
    validate_profile(&profile).map_err(profile_error)?;
    let command = CommandKind::RegisterClient {
        client_id,
        profile: Box::new(profile),
    };
    run(&state, &context, command, "client registered").await
}

/// Clients, filtered by status, type and a name/e-mail search, oldest first, paged.
#[utoipa::path(get, path = "/internal/Clients", tag = "Clients", params(ListClientsQuery),
    responses((status = 200, description = "One page of clients", body = Envelope<PagedList<ClientDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_clients(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListClientsQuery>,
) -> Result<Answer<PagedList<ClientDto>>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    if query.search.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(ApiError::validation(
            "search",
            "search: at most 200 characters",
        ));
    }
    let filter = ClientFilter {
        client_ids: Vec::new(),
        statuses: query.status.into_iter().collect(),
        types: query.client_type.into_iter().collect(),
        search: query.search,
    };
    let found = state.models().clients(&filter, page).await?;
    let items = found
        .items
        .iter()
        .map(ClientDto::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Answer::read(PagedList {
        items,
        page_number: found.page_number,
        page_size: found.page_size,
        total_count: found.total_count,
        total_pages: found.total_pages,
    }))
}

/// One client: the seed's ClientDto, every field.
#[utoipa::path(get, path = "/internal/Clients/{clientId}", tag = "Clients",
    params(("clientId" = Uuid, Path)),
    responses((status = 200, description = "The client", body = Envelope<ClientDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such client", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_client(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Answer<ClientDto>, ApiError> {
    let id = ClientId(parse_uuid("clientId", &client_id)?);
    let row = load_client(&state, id).await?;
    Ok(Answer::read(ClientDto::from_row(&row)?))
}

/// Change the fields the body names: an absent field is kept, null clears an optional one,
/// lists are replaced whole.
#[utoipa::path(put, path = "/internal/Clients/{clientId}", tag = "Clients", request_body = ClientPatch,
    params(("clientId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The client as it now is", body = Envelope<ClientDto>),
        (status = 400, description = "Invalid field; metadata.field names it", body = Envelope<Object>),
        (status = 404, description = "No such client", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn update_client(
    State(state): State<AppState>,
    context: CommandContext,
    Path(client_id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Answer<ClientDto>, ApiError> {
    let id = ClientId(parse_uuid("clientId", &client_id)?);
    refuse_read_only(&body)?;
    for required in ["type", "legalName"] {
        if body.get(required).is_some_and(Value::is_null) {
            return Err(ApiError::validation(
                required,
                format!("{required} is required: it can be changed but not cleared"),
            ));
        }
    }
    let patch: ClientPatch = from_value(Value::Object(body))?;
    if patch.is_empty() {
        return Err(ApiError::Validation {
            field: None,
            message: "the update names no field to change".into(),
        });
    }
    // Checked here too, to name the field; the ledger checks again against its own state.
    if let Some(row) = state.models().client(id).await? {
        validate_profile(&patch.applied_to(&row.profile)).map_err(profile_error)?;
    }
    let command = CommandKind::UpdateClient {
        client_id: id,
        patch: Box::new(patch),
    };
    run(&state, &context, command, "client updated").await
}

/// Block a client: no new account, no money out of its accounts (money in still arrives).
#[utoipa::path(put, path = "/internal/Clients/{clientId}/block", tag = "Clients", request_body = ReasonRequest,
    params(("clientId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The client, blocked", body = Envelope<ClientDto>),
        (status = 404, description = "No such client", body = Envelope<Object>),
        (status = 409, description = "The client is blocked already", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn block_client(
    State(state): State<AppState>,
    context: CommandContext,
    Path(client_id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Result<Answer<ClientDto>, ApiError> {
    let id = ClientId(parse_uuid("clientId", &client_id)?);
    let reason = checked_reason(body.reason)?;
    let command = CommandKind::BlockClient {
        client_id: id,
        reason,
    };
    run(&state, &context, command, "client blocked").await
}

/// Unblock a client.
#[utoipa::path(put, path = "/internal/Clients/{clientId}/unblock", tag = "Clients", request_body = ReasonRequest,
    params(("clientId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The client, active", body = Envelope<ClientDto>),
        (status = 404, description = "No such client", body = Envelope<Object>),
        (status = 409, description = "The client is not blocked", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn unblock_client(
    State(state): State<AppState>,
    context: CommandContext,
    Path(client_id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Result<Answer<ClientDto>, ApiError> {
    let id = ClientId(parse_uuid("clientId", &client_id)?);
    let reason = checked_reason(body.reason)?;
    let command = CommandKind::UnblockClient {
        client_id: id,
        reason,
    };
    run(&state, &context, command, "client unblocked").await
}

/// Set a client's status: `blocked` blocks it, `active` unblocks it, the status it already has
/// changes nothing; `inactive` is refused (409 `InvalidClientState`).
#[utoipa::path(put, path = "/internal/Clients/{clientId}/status", tag = "Clients", request_body = ClientStatusRequest,
    params(("clientId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The client with that status", body = Envelope<ClientDto>),
        (status = 404, description = "No such client", body = Envelope<Object>),
        (status = 409, description = "The client cannot take that status", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn set_client_status(
    State(state): State<AppState>,
    context: CommandContext,
    Path(client_id): Path<String>,
    JsonBody(body): JsonBody<ClientStatusRequest>,
) -> Result<Answer<ClientDto>, ApiError> {
    let id = ClientId(parse_uuid("clientId", &client_id)?);
    let reason = checked_reason(body.reason)?;
    let row = match state.models().client(id).await? {
        Some(row) => row,
        None => return Err(LedgerError::ClientNotFound(id).into()),
    };
    let command = match (row.status, body.status) {
        (from, to) if from == to => {
            return Ok(Answer::committed(
                ClientDto::from_row(&row)?,
                row.last_position,
                false,
                "client unchanged",
            ));
        }
        (_, ClientStatus::Blocked) => CommandKind::BlockClient {
            client_id: id,
            reason,
        },
        (ClientStatus::Blocked, ClientStatus::Active) => CommandKind::UnblockClient {
            client_id: id,
            reason,
        },
        (from, to) => {
            return Err(LedgerError::InvalidClientState {
                client: id,
                from,
                to,
            }
            .into());
        }
    };
    run(&state, &context, command, "client status changed").await
}

/// The calling client key's own profile (front office).
#[utoipa::path(get, path = "/Client", tag = "Clients",
    responses((status = 200, description = "The caller's client", body = Envelope<ClientDto>),
        (status = 404, description = "The key belongs to no client, or the client is not registered", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn own_client(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Answer<ClientDto>, ApiError> {
    let Some(id) = caller.own_client() else {
        return Err(ApiError::NotFound(
            "GET /Client answers a client key's own profile; this key belongs to no client".into(),
        ));
    };
    let row = load_client(&state, id).await?;
    Ok(Answer::read(ClientDto::from_row(&row)?))
}

async fn load_client(state: &AppState, id: ClientId) -> Result<ClientRow, ApiError> {
    state
        .models()
        .client(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("client {id} not found")))
}

/// The client a command answered with, as the read models now show it.
/// Runs a client command under the caller's idempotency key and answers with the client.
async fn run(
    state: &AppState,
    context: &CommandContext,
    command: CommandKind,
    message: &'static str,
) -> Result<Answer<ClientDto>, ApiError> {
    let key = context.key_with_external_id(None)?;
    let committed = state.execute(command, key, context.correlation_id).await?;
    answer(state, &committed, message).await
}

async fn answer(
    state: &AppState,
    committed: &Committed,
    message: &'static str,
) -> Result<Answer<ClientDto>, ApiError> {
    let Receipt::Client(id) = committed.receipt else {
        return Err(ApiError::Internal(
            "the command did not answer with a client".into(),
        ));
    };
    // Commands answer without waiting for the read models; a client is answered as read back.
    state.wait_for_read_models(committed.position).await?;
    let row = state.models().client(id).await?.ok_or_else(|| {
        ApiError::Internal(format!("client {id} is missing from the read models"))
    })?;
    Ok(Answer::committed(
        ClientDto::from_row(&row)?,
        committed.position,
        committed.duplicate,
        message,
    ))
}

/// `id` (on update), `status` and `created` are the ledger's: naming one in a profile body is
/// refused with the field named, rather than ignored.
fn refuse_read_only(body: &Map<String, Value>) -> Result<(), ApiError> {
    for field in READ_ONLY_FIELDS {
        if body.contains_key(field) {
            let hint = match field {
                "status" => "; use /block, /unblock or /status",
                _ => "",
            };
            return Err(ApiError::validation(
                field,
                format!("{field} is read-only{hint}"),
            ));
        }
    }
    Ok(())
}

fn checked_reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    match reason {
        Some(text) if text.len() > MAX_REASON_LEN || text.contains('\0') => {
            Err(ApiError::validation(
                "reason",
                format!("reason: at most {MAX_REASON_LEN} bytes, without NUL"),
            ))
        }
        other => Ok(other),
    }
}

/// A profile the domain refuses, as a 400 naming the field: the domain's messages start with
/// the field's JSON path (`relatedIndividuals[0].email is not an e-mail address`).
fn profile_error(message: String) -> ApiError {
    let head = message.split_whitespace().next().unwrap_or_default();
    let is_path = !head.is_empty()
        && head != "the"
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_'));
    ApiError::Validation {
        field: is_path.then(|| head.to_string()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_errors_name_their_field() {
        let error = profile_error("relatedIndividuals[0].email is not an e-mail address".into());
        assert!(matches!(
            error,
            ApiError::Validation { field: Some(f), .. } if f == "relatedIndividuals[0].email"
        ));
        let error = profile_error("the profile is longer than 65536 bytes as JSON".into());
        assert!(matches!(error, ApiError::Validation { field: None, .. }));
    }
}
