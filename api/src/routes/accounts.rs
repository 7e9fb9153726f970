//! Accounts (API.md §2.3): open, list, get by id or number, update, close, search, look up by
//! numbers, reorder and the aggregated amounts.

use super::{currencies, page_request};
use crate::answer::Answer;
use crate::auth::{Caller, Role};
use crate::committed;
use crate::dto::{AccountDto, AccountStatusDto, AccountTypeDto, AggregatedAmountDto, PagedList};
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, JsonBody, QueryParams, parse_uuid};
use crate::state::{AppState, visible};
use axum::extract::{Path, State};
use folio_domain::ledger::MAX_REORDER;
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, CommandKind, Currency, LedgerError,
    OpenAccount, Receipt,
};
use folio_engine::Committed;
use folio_projections::query::{AccountFilter, MAX_PAGE_SIZE, PageRequest};
use folio_projections::rows::AccountRow;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenAccountRequest {
    pub client_id: Uuid,
    #[schema(example = "EUR")]
    pub currency: String,
    pub name: Option<String>,
    /// `current` (default) or `savings`.
    #[serde(rename = "type")]
    pub account_type: Option<AccountTypeDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenAccountV2Request {
    /// Required for customer accounts; null for bank-owned ones (settlement, fee, …).
    pub client_id: Option<Uuid>,
    #[schema(example = "EUR")]
    pub currency: String,
    #[serde(rename = "type")]
    pub account_type: AccountTypeDto,
    pub name: Option<String>,
    /// Chosen by the caller, or assigned by the ledger when absent.
    pub account_number: Option<String>,
    /// Idempotency key: opening again with the same request returns the same account.
    pub external_id: Option<String>,
    /// `true`: the new account becomes its client's default for its currency (the previous
    /// default stops being it). Customer accounts only.
    pub is_default: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListAccountsQuery {
    pub client_id: Option<Uuid>,
    pub currency: Option<String>,
    pub status: Option<AccountStatusDto>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAccountRequest {
    pub name: Option<String>,
    pub status: Option<AccountStatusDto>,
    /// `true`: the account becomes its client's default for its currency (the previous default
    /// stops being it); `false`: it is no longer the default.
    pub is_default: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchAccountsRequest {
    #[serde(default)]
    pub client_ids: Vec<Uuid>,
    #[serde(default)]
    pub account_ids: Vec<Uuid>,
    #[serde(default)]
    pub account_numbers: Vec<String>,
    #[serde(default)]
    pub currencies: Vec<String>,
    #[serde(default)]
    pub statuses: Vec<AccountStatusDto>,
    #[serde(default)]
    pub types: Vec<AccountTypeDto>,
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountNumbersRequest {
    pub account_numbers: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReorderAccountsRequest {
    pub account_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AggregatedAmountsQuery {
    pub client_id: Option<Uuid>,
    pub currency: Option<String>,
}

/// Open an account for a client (front office). Status `active`.
#[utoipa::path(post, path = "/Accounts", tag = "Accounts", request_body = OpenAccountRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "The new account", body = Envelope<AccountDto>),
        (status = 400, description = "Invalid input", body = Envelope<Object>),
        (status = 403, description = "Not this caller's client", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn open_account(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<OpenAccountRequest>,
) -> Result<Answer<AccountDto>, ApiError> {
    let client_id = ClientId(body.client_id);
    if !context.caller.may_see(Some(client_id)) {
        return Err(ApiError::Forbidden(
            "a client key may only open accounts for its own client".into(),
        ));
    }
    let account_type = body.account_type.unwrap_or(AccountTypeDto::Current);
    if !matches!(
        account_type,
        AccountTypeDto::Current | AccountTypeDto::Savings
    ) {
        return Err(ApiError::validation(
            "type",
            "type: a client account is current or savings (bank accounts open on /v2/internal/Accounts)",
        ));
    }
    let open = OpenAccount {
        account_id: AccountId(Uuid::now_v7()),
        client_id: Some(client_id),
        currency: Currency::from_code(&body.currency)?,
        account_type: account_type.into(),
        name: body.name,
        number: None,
        overdraft_limit: Decimal::ZERO,
        status: AccountStatus::Active,
    };
    let key = context.key_with_external_id(None)?;
    open_and_answer(&state, &context, open, key).await
}

/// Open any account, bank-owned ones included (system).
#[utoipa::path(post, path = "/v2/internal/Accounts", tag = "Accounts", request_body = OpenAccountV2Request,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first answer")),
    responses((status = 200, description = "The new account", body = Envelope<AccountDto>),
        (status = 400, description = "Invalid input", body = Envelope<Object>),
        (status = 409, description = "Account number taken, or the key was used for another request", body = Envelope<Object>),
        (status = 422, description = "A business rule refuses it (e.g. a bank account cannot be a default)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn open_account_v2(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<OpenAccountV2Request>,
) -> Result<Answer<AccountDto>, ApiError> {
    let make_default = body.is_default == Some(true);
    if make_default
        && (body.client_id.is_none() || AccountType::from(body.account_type).is_internal())
    {
        return Err(ApiError::validation(
            "isDefault",
            "isDefault: only a client's current or savings account can be a default",
        ));
    }
    let open = OpenAccount {
        account_id: AccountId(Uuid::now_v7()),
        client_id: body.client_id.map(ClientId),
        currency: Currency::from_code(&body.currency)?,
        account_type: body.account_type.into(),
        name: body.name,
        number: body.account_number,
        overdraft_limit: Decimal::ZERO,
        status: AccountStatus::Active,
    };
    let key = context.key_with_external_id(body.external_id.as_deref())?;
    if !make_default {
        return open_and_answer(&state, &context, open, key).await;
    }
    let id = open.account_id;
    let opened = state
        .execute(
            CommandKind::OpenAccount(open),
            key.clone(),
            context.correlation_id,
        )
        .await?;
    let id = match opened.receipt {
        Receipt::Account(opened_id) => opened_id,
        _ => id,
    };
    // A second command, under its own key: a retry of the whole request finds the account
    // opened (duplicate) and then makes it the default, so the two converge.
    let committed = state
        .execute(
            CommandKind::SetDefaultAccount {
                account_id: id,
                is_default: true,
            },
            key.map(|key| format!("{key}#default")),
            context.correlation_id,
        )
        .await?;
    state.wait_for_read_models(committed.position).await?;
    let row = load_account(&state, &context.caller, id).await?;
    Ok(Answer::committed(
        AccountDto::from(&row),
        committed.position,
        opened.duplicate && committed.duplicate,
        "account opened",
    ))
}

async fn open_and_answer(
    state: &AppState,
    context: &CommandContext,
    open: OpenAccount,
    key: Option<String>,
) -> Result<Answer<AccountDto>, ApiError> {
    let committed = state
        .execute(CommandKind::OpenAccount(open), key, context.correlation_id)
        .await?;
    let account = committed_account(state, &committed).await?;
    Ok(Answer::committed(
        AccountDto::from(&account),
        committed.position,
        committed.duplicate,
        "account opened",
    ))
}

/// Accounts, filtered and paged. A client key sees its own client's only.
#[utoipa::path(get, path = "/Accounts", tag = "Accounts", params(ListAccountsQuery),
    responses((status = 200, description = "One page of accounts", body = Envelope<PagedList<AccountDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_accounts(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListAccountsQuery>,
) -> Result<Answer<PagedList<AccountDto>>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    let client = confine_client(&caller, query.client_id.map(ClientId))?;
    let filter = AccountFilter {
        client_ids: client.into_iter().collect(),
        currencies: currencies(&query.currency.into_iter().collect::<Vec<_>>())?,
        statuses: query.status.map(Into::into).into_iter().collect(),
        ..AccountFilter::default()
    };
    let found = state.models().accounts(&filter, page).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        AccountDto::from(row)
    })))
}

/// One account: a uuid segment is an account id, anything else an account number.
#[utoipa::path(get, path = "/Accounts/{id}", tag = "Accounts",
    params(("id" = String, Path, description = "An account id (uuid) or an account number")),
    responses((status = 200, description = "The account", body = Envelope<AccountDto>),
        (status = 404, description = "No such account (or not the caller's)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id_or_number): Path<String>,
) -> Result<Answer<AccountDto>, ApiError> {
    let row = match Uuid::parse_str(&id_or_number) {
        Ok(id) => state.models().account(AccountId(id)).await?,
        Err(_) => state.models().account_by_number(&id_or_number).await?,
    };
    let row = visible(
        &caller,
        row,
        |row| row.client_id,
        || format!("account {id_or_number} not found"),
    )?;
    Ok(Answer::read(AccountDto::from(&row)))
}

/// One account by id (system).
#[utoipa::path(get, path = "/v2/ledger/internal/Accounts/{accountId}", tag = "Accounts",
    params(("accountId" = Uuid, Path)),
    responses((status = 200, description = "The account", body = Envelope<AccountDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such account", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_account_v2(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
) -> Result<Answer<AccountDto>, ApiError> {
    let id = AccountId(parse_uuid("accountId", &account_id)?);
    let row = load_account(&state, &caller, id).await?;
    Ok(Answer::read(AccountDto::from(&row)))
}

/// Rename an account, change its status (`active`, `blocked`, `closed`) and/or make it its
/// client's default for its currency (`isDefault`).
#[utoipa::path(patch, path = "/Accounts/{id}", tag = "Accounts", request_body = UpdateAccountRequest,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The account as it now is", body = Envelope<AccountDto>),
        (status = 404, description = "No such account", body = Envelope<Object>),
        (status = 409, description = "The status cannot change that way", body = Envelope<Object>),
        (status = 422, description = "The account is not empty (closing)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn update_account(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateAccountRequest>,
) -> Result<Answer<AccountDto>, ApiError> {
    let id = AccountId(parse_uuid("id", &id)?);
    // The change is decided from the account's current status: read it with every command
    // committed so far applied (commands answer before the read models show them).
    state
        .wait_for_read_models(state.engine.committed_position())
        .await?;
    let row = load_account(&state, &context.caller, id).await?;
    let mut commands = Vec::new();
    if let Some(name) = body.name {
        commands.push((
            "name",
            CommandKind::RenameAccount {
                account_id: id,
                name: Some(name),
            },
        ));
    }
    if let Some(target) = body.status {
        let target = AccountStatus::from(target);
        let client_key = matches!(context.caller.role, Role::Client(_));
        if client_key && (target == AccountStatus::Blocked || row.status == AccountStatus::Blocked)
        {
            return Err(ApiError::Forbidden(
                "only the bank blocks or unblocks an account".into(),
            ));
        }
        if let Some(command) = status_command(&row, target)? {
            commands.push(("status", command));
        }
    }
    if let Some(is_default) = body.is_default {
        if is_default && row.client_id.is_none() {
            return Err(ApiError::validation(
                "isDefault",
                "isDefault: a bank account cannot be a client's default",
            ));
        }
        // Already so: nothing to record.
        if is_default != row.is_default {
            commands.push((
                "default",
                CommandKind::SetDefaultAccount {
                    account_id: id,
                    is_default,
                },
            ));
        }
    }
    let mut last: Option<Committed> = None;
    for (part, command) in commands {
        // One key per part: the two commands differ, and each must be retried on its own.
        let key = context
            .idempotency_key
            .as_deref()
            .map(|key| context.caller.scoped_key(&format!("{key}#{part}")));
        last = Some(state.execute(command, key, context.correlation_id).await?);
    }
    let row = match &last {
        Some(committed) => AccountRow {
            // The writer keeps no opening time; the row read before the change has it.
            created_at: row.created_at,
            ..committed_account(&state, committed).await?
        },
        None => row,
    };
    let position = last.as_ref().map_or(row.last_position, |c| c.position);
    Ok(Answer::committed(
        AccountDto::from(&row),
        position,
        last.is_some_and(|c| c.duplicate),
        "account updated",
    ))
}

/// The command that takes an account from its status to `target`, if any is needed.
fn status_command(
    row: &AccountRow,
    target: AccountStatus,
) -> Result<Option<CommandKind>, ApiError> {
    let account_id = row.account_id;
    Ok(match (row.status, target) {
        (from, to) if from == to => None,
        (AccountStatus::Inactive, AccountStatus::Active) => {
            Some(CommandKind::ActivateAccount { account_id })
        }
        (AccountStatus::Blocked, AccountStatus::Active) => {
            Some(CommandKind::UnblockAccount { account_id })
        }
        (_, AccountStatus::Blocked) => Some(CommandKind::BlockAccount {
            account_id,
            reason: None,
        }),
        (_, AccountStatus::Closed) => Some(CommandKind::CloseAccount { account_id }),
        (from, to) => {
            return Err(LedgerError::InvalidAccountState {
                account: account_id,
                from,
                to,
            }
            .into());
        }
    })
}

/// Close an account: only when its balance and held amount are zero.
#[utoipa::path(delete, path = "/Accounts/{id}", tag = "Accounts",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "true: the account is closed", body = Envelope<bool>),
        (status = 404, description = "No such account", body = Envelope<Object>),
        (status = 422, description = "The account is not empty", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn close_account(
    State(state): State<AppState>,
    context: CommandContext,
    Path(id): Path<String>,
) -> Result<Answer<bool>, ApiError> {
    let id = AccountId(parse_uuid("id", &id)?);
    // An account opened a moment ago is visible once the read models include it.
    state
        .wait_for_read_models(state.engine.committed_position())
        .await?;
    load_account(&state, &context.caller, id).await?;
    let key = context.key_with_external_id(None)?;
    let committed = state
        .execute(
            CommandKind::CloseAccount { account_id: id },
            key,
            context.correlation_id,
        )
        .await?;
    Ok(Answer::committed(
        true,
        committed.position,
        committed.duplicate,
        "account closed",
    ))
}

/// Accounts matching every given criterion (system).
#[utoipa::path(post, path = "/v2/ledger/internal/Accounts/search", tag = "Accounts",
    request_body = SearchAccountsRequest,
    responses((status = 200, description = "One page of accounts", body = Envelope<PagedList<AccountDto>>),
        (status = 400, description = "Invalid input", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn search_accounts(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SearchAccountsRequest>,
) -> Result<Answer<PagedList<AccountDto>>, ApiError> {
    let page = page_request(body.page_number, body.page_size)?;
    let filter = AccountFilter {
        client_ids: body.client_ids.into_iter().map(ClientId).collect(),
        account_ids: body.account_ids.into_iter().map(AccountId).collect(),
        numbers: body.account_numbers,
        currencies: currencies(&body.currencies)?,
        statuses: body.statuses.into_iter().map(Into::into).collect(),
        types: body.types.into_iter().map(AccountType::from).collect(),
    };
    let found = state.models().accounts(&filter, page).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        AccountDto::from(row)
    })))
}

/// The accounts with these numbers (at most 100), unknown numbers left out (system).
#[utoipa::path(post, path = "/v2/ledger/internal/Accounts/by-account-numbers", tag = "Accounts",
    request_body = AccountNumbersRequest,
    responses((status = 200, description = "The accounts found", body = Envelope<Vec<AccountDto>>),
        (status = 400, description = "Invalid input", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn accounts_by_numbers(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AccountNumbersRequest>,
) -> Result<Answer<Vec<AccountDto>>, ApiError> {
    if body.account_numbers.len() > MAX_PAGE_SIZE as usize {
        return Err(ApiError::validation(
            "accountNumbers",
            format!("at most {MAX_PAGE_SIZE} account numbers at once"),
        ));
    }
    if body.account_numbers.is_empty() {
        return Ok(Answer::read(Vec::new()));
    }
    let filter = AccountFilter {
        numbers: body.account_numbers,
        ..AccountFilter::default()
    };
    let found = state
        .models()
        .accounts(&filter, PageRequest::new(1, MAX_PAGE_SIZE))
        .await?;
    Ok(Answer::read(
        found.items.iter().map(AccountDto::from).collect(),
    ))
}

/// Sets the display order of one client's accounts: `order` 0, 1, … in the order listed; the
/// client's other accounts keep theirs.
#[utoipa::path(put, path = "/Accounts/reorder-accounts", tag = "Accounts",
    request_body = ReorderAccountsRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "true: the accounts are in that order", body = Envelope<bool>),
        (status = 400, description = "Empty, repeated, a bank account, or accounts of different clients; metadata.field names the entry", body = Envelope<Object>),
        (status = 404, description = "An account is unknown (or not the caller's)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn reorder_accounts(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<ReorderAccountsRequest>,
) -> Result<Answer<bool>, ApiError> {
    if body.account_ids.is_empty() {
        return Err(ApiError::validation(
            "accountIds",
            "accountIds lists the accounts in their new order: at least one",
        ));
    }
    if body.account_ids.len() > MAX_REORDER {
        return Err(ApiError::validation(
            "accountIds",
            format!("accountIds: at most {MAX_REORDER} accounts"),
        ));
    }
    let mut client: Option<ClientId> = None;
    for (i, id) in body.account_ids.iter().enumerate() {
        let field = || format!("accountIds[{i}]");
        if body.account_ids[..i].contains(id) {
            return Err(ApiError::validation(
                field(),
                format!("{}: account {id} is listed twice", field()),
            ));
        }
        let row = load_account(&state, &context.caller, AccountId(*id)).await?;
        let Some(owner) = row.client_id else {
            return Err(ApiError::validation(
                field(),
                format!("{}: account {id} is the bank's and has no order", field()),
            ));
        };
        match client {
            Some(first) if first != owner => {
                return Err(ApiError::validation(
                    field(),
                    format!(
                        "{}: account {id} is not of client {first}: one client's accounts at a time",
                        field()
                    ),
                ));
            }
            _ => client = Some(owner),
        }
    }
    let Some(client_id) = client else {
        return Err(ApiError::Internal("no client found for the reorder".into()));
    };
    let key = context.key_with_external_id(None)?;
    let committed = state
        .execute(
            CommandKind::ReorderAccounts {
                client_id,
                account_ids: body.account_ids.into_iter().map(AccountId).collect(),
            },
            key,
            context.correlation_id,
        )
        .await?;
    Ok(Answer::committed(
        true,
        committed.position,
        committed.duplicate,
        "accounts reordered",
    ))
}

/// Balance, held and available amounts per currency, optionally of one client (system).
#[utoipa::path(get, path = "/v2/ledger/internal/Accounts/getAggregatedAmounts", tag = "Accounts",
    params(AggregatedAmountsQuery),
    responses((status = 200, description = "Totals per currency", body = Envelope<Vec<AggregatedAmountDto>>)),
    security(("bearer" = [])))]
pub async fn aggregated_amounts(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AggregatedAmountsQuery>,
) -> Result<Answer<Vec<AggregatedAmountDto>>, ApiError> {
    let currency = query
        .currency
        .as_deref()
        .map(Currency::from_code)
        .transpose()?;
    let totals = state
        .models()
        .totals(query.client_id.map(ClientId), currency)
        .await?;
    Ok(Answer::read(
        totals.iter().map(AggregatedAmountDto::from).collect(),
    ))
}

/// The account's row if the caller may see it; 404 otherwise.
pub async fn load_account(
    state: &AppState,
    caller: &Caller,
    id: AccountId,
) -> Result<AccountRow, ApiError> {
    let row = state.models().account(id).await?;
    visible(
        caller,
        row,
        |row| row.client_id,
        || format!("account {id} not found"),
    )
}

/// The account as the command left it, folded from the committed events over the account as
/// the writer decided them (no read model is waited for). A retried command recorded nothing
/// new: its answer is read back once the read models include it.
async fn committed_account(
    state: &AppState,
    committed: &Committed,
) -> Result<AccountRow, ApiError> {
    let Receipt::Account(id) = committed.receipt else {
        return Err(ApiError::Internal(
            "the command did not answer with an account".into(),
        ));
    };
    if !committed.duplicate && !committed.events.is_empty() {
        let changes = committed::fold(committed, state.time_zone, None);
        if let Some(row) = changes
            .accounts
            .into_iter()
            .find(|row| row.account_id == id)
        {
            return Ok(row);
        }
    }
    state.wait_for_read_models(committed.position).await?;
    state
        .models()
        .account(id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("account {id} is missing from the read models")))
}

/// A client key lists its own client's accounts only; asking for another client is refused.
fn confine_client(caller: &Caller, asked: Option<ClientId>) -> Result<Option<ClientId>, ApiError> {
    match (caller.own_client(), asked) {
        (Some(own), Some(asked)) if own != asked => Err(ApiError::Forbidden(
            "a client key may only list its own client's accounts".into(),
        )),
        (Some(own), _) => Ok(Some(own)),
        (None, asked) => Ok(asked),
    }
}
