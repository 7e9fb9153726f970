//! One-time codes (API.md §2.3): `POST /Accounts/send-otp` issues a code for an operation on an
//! account, `POST /Accounts/otp-verification` checks one. Transfers issue and check theirs
//! through the same pieces (`issue_code`, `deliver`, `verdict`).

use crate::answer::Answer;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, JsonBody};
use crate::otp::{IssuedCode, OtpMessage};
use crate::routes::transfers::own_account;
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use folio_domain::{
    AccountId, CommandKind, ConfirmationEvent, ConfirmationId, EventBody, IssueConfirmation,
    Receipt,
};
use folio_engine::Committed;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendOtpRequest {
    pub account_id: Uuid,
    /// What the code confirms (`withdrawal`, `changePhone`, …): 1 to 64 bytes.
    pub operation: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationDto {
    pub confirmation_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyOtpRequest {
    pub confirmation_id: Uuid,
    pub code: String,
}

/// A fresh code, or 503 when the operating system's random source fails.
pub fn issue_code(state: &AppState) -> Result<IssuedCode, ApiError> {
    state
        .otp
        .issue()
        .map_err(|error| ApiError::Unavailable(format!("no random source for a code: {error}")))
}

/// When the confirmation `id` that `committed` issued expires.
pub fn issued_expiry(committed: &Committed, id: ConfirmationId) -> Option<DateTime<Utc>> {
    committed.events.iter().find_map(|event| match &event.body {
        EventBody::Confirmation(ConfirmationEvent::Issued(issued))
            if issued.confirmation_id == id =>
        {
            Some(issued.expires_at)
        }
        _ => None,
    })
}

/// Sends the code once its confirmation is committed; a retried command (nothing new recorded)
/// sends nothing, since its code was sent the first time.
pub async fn deliver(
    state: &AppState,
    committed: &Committed,
    issued: IssuedCode,
    account_id: AccountId,
    operation: &str,
) {
    let id = issued.confirmation.confirmation_id;
    if let Some(expires_at) = issued_expiry(committed, id) {
        let message = OtpMessage {
            confirmation_id: id,
            account_id,
            operation: operation.to_string(),
            code: issued.code,
            expires_at,
        };
        state.otp.sender.send(&message).await;
    }
}

/// A command that checked a code: a failed attempt (recorded) is the `OtpInvalid` refusal.
pub fn verdict(committed: &Committed) -> Result<(), ApiError> {
    match committed.receipt {
        Receipt::ConfirmationFailed(confirmation_id) => Err(ApiError::OtpInvalid {
            confirmation_id,
            position: committed.position,
        }),
        _ => Ok(()),
    }
}

#[utoipa::path(post, path = "/Accounts/send-otp", tag = "Accounts", request_body = SendOtpRequest,
    responses((status = 200, description = "A code was sent; confirm with its confirmationId", body = Envelope<ConfirmationDto>),
        (status = 400, description = "Invalid body", body = Envelope<Object>),
        (status = 404, description = "No such account, or another client's", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn send_otp(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<SendOtpRequest>,
) -> Result<Answer<ConfirmationDto>, ApiError> {
    let account_id = AccountId(body.account_id);
    own_account(&state, &context.caller, account_id).await?;
    let issued = issue_code(&state)?;
    let id = issued.confirmation.confirmation_id;
    let command = CommandKind::IssueConfirmation(Box::new(IssueConfirmation {
        account_id,
        operation: body.operation.clone(),
        confirmation: issued.confirmation.clone(),
    }));
    // Every call is a new code (a resend): no idempotency key, so a retry is never answered
    // with a confirmation whose code this caller may not have received.
    let committed = state.execute(command, None, context.correlation_id).await?;
    let expires_at = issued_expiry(&committed, id)
        .ok_or_else(|| ApiError::Internal("the confirmation was not issued".into()))?;
    deliver(&state, &committed, issued, account_id, &body.operation).await;
    Ok(Answer::committed(
        ConfirmationDto {
            confirmation_id: id.0,
            expires_at,
        },
        committed.position,
        committed.duplicate,
        "code sent",
    ))
}

#[utoipa::path(post, path = "/Accounts/otp-verification", tag = "Accounts", request_body = VerifyOtpRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key is answered the same, and counts once")),
    responses((status = 200, description = "The code matched (true); it is spent", body = Envelope<bool>),
        (status = 400, description = "Invalid body", body = Envelope<Object>),
        (status = 404, description = "No such confirmation, or another client's", body = Envelope<Object>),
        (status = 409, description = "The code was already used", body = Envelope<Object>),
        (status = 422, description = "OtpInvalid (the attempt counted) or OtpExpired", body = Envelope<Object>),
        (status = 429, description = "OtpAttemptsExceeded: five wrong codes; ask for a new one", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn verify_otp(
    State(state): State<AppState>,
    context: CommandContext,
    JsonBody(body): JsonBody<VerifyOtpRequest>,
) -> Result<Answer<bool>, ApiError> {
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::VerifyConfirmation {
        confirmation_id: ConfirmationId(body.confirmation_id),
        code: state.otp.key.keyed(&body.code),
        client_id: context.caller.own_client(),
    };
    let committed = state.execute(command, key, context.correlation_id).await?;
    verdict(&committed)?;
    Ok(Answer::committed(
        true,
        committed.position,
        committed.duplicate,
        "code verified",
    ))
}
