//! `ApiError`: every way a request can fail, mapped to a status and the envelope in one place.

use crate::envelope::{Envelope, ErrorReason};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use folio_domain::LedgerError;
use folio_engine::EngineError;
use folio_projections::ProjectionError;
use serde_json::{Map, Value, json};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    /// Bad input: a malformed body, a wrong type, a bad parameter. `field` names where.
    #[error("{message}")]
    Validation {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A file whose type Folio does not keep, or whose bytes are not what it claims to be.
    #[error("{message}")]
    UnsupportedMediaType { code: &'static str, message: String },
    /// The content store failed: the bytes could not be kept or read.
    #[error("document content store: {0}")]
    Content(#[from] folio_store::ContentError),
    #[error("{method} is not allowed on this route")]
    MethodNotAllowed { method: String },
    /// The ledger refused the command; nothing changed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Engine(EngineError),
    /// The read models did not reach a position in time (read-your-writes).
    #[error(
        "the read models have not reached position {wanted} yet (they are at {reached}); retry shortly"
    )]
    ReadModelsBehind {
        wanted: u64,
        reached: u64,
        /// Set when a command committed but its result cannot be read back yet.
        committed_at: Option<u64>,
    },
    /// A background job of the kind asked for is already running.
    #[error("a {kind} job is already running ({job_id}); poll it and retry when it ends")]
    JobRunning {
        kind: &'static str,
        job_id: uuid::Uuid,
    },
    /// A wrong one-time code: its failed attempt was recorded (the position is where).
    #[error("the code does not match confirmation {confirmation_id}")]
    OtpInvalid {
        confirmation_id: folio_domain::ConfirmationId,
        position: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// The rate provider quotes no rate for the pair asked.
    #[error(transparent)]
    Rate(#[from] crate::rates::RateError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The HTTP status and the stable code of `metadata.code`.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Validation { .. } => (StatusCode::BAD_REQUEST, "ValidationFailed"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
            }
            ApiError::UnsupportedMediaType { code, .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, code)
            }
            ApiError::Content(_) => (StatusCode::SERVICE_UNAVAILABLE, "ContentStoreFailed"),
            ApiError::Ledger(error) => (ledger_status(error), error.code()),
            ApiError::Engine(EngineError::Rejected(error)) => (ledger_status(error), error.code()),
            ApiError::Engine(EngineError::CommitFailed(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "CommitFailed")
            }
            ApiError::Engine(EngineError::Fenced(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "WriterFenced")
            }
            ApiError::Engine(EngineError::Stopped) => {
                (StatusCode::SERVICE_UNAVAILABLE, "ShuttingDown")
            }
            ApiError::Engine(EngineError::Recovery(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "RecoveryFailed")
            }
            ApiError::ReadModelsBehind { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "ReadModelsBehind")
            }
            ApiError::JobRunning { .. } => (StatusCode::CONFLICT, "JobRunning"),
            ApiError::OtpInvalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "OtpInvalid"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
            ApiError::Rate(crate::rates::RateError::NoRate { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "RateUnavailable")
            }
            ApiError::Rate(crate::rates::RateError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "RateUnavailable")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        }
    }

    fn metadata(&self, code: &str) -> Map<String, Value> {
        let mut metadata = Map::new();
        metadata.insert("code".into(), json!(code));
        let mut put = |key: &str, value: Value| {
            metadata.insert(key.to_string(), value);
        };
        match self {
            ApiError::Validation {
                field: Some(field), ..
            } => put("field", json!(field)),
            ApiError::PayloadTooLarge { limit } => put("limit", json!(limit)),
            ApiError::ReadModelsBehind {
                wanted,
                reached,
                committed_at,
            } => {
                put("wanted", json!(wanted));
                put("reached", json!(reached));
                if let Some(position) = committed_at {
                    put("committedAt", json!(position));
                }
            }
            ApiError::Ledger(error) | ApiError::Engine(EngineError::Rejected(error)) => {
                ledger_metadata(error, &mut put)
            }
            ApiError::JobRunning { job_id, .. } => put("jobId", json!(job_id)),
            ApiError::OtpInvalid {
                confirmation_id,
                position,
            } => {
                put("confirmationId", json!(confirmation_id));
                put("position", json!(position));
            }
            _ => {}
        }
        metadata
    }
}

/// 400 for input the ledger finds invalid, 404 for unknown entities, 409 for state and
/// idempotency conflicts, 422 for business rules that refuse a well-formed request.
fn ledger_status(error: &LedgerError) -> StatusCode {
    match error {
        LedgerError::InvalidAmount { .. }
        | LedgerError::UnknownCurrency { .. }
        | LedgerError::SameAccount(_)
        | LedgerError::InvalidCommand { .. } => StatusCode::BAD_REQUEST,
        LedgerError::AccountNotFound(_)
        | LedgerError::PaymentNotFound(_)
        | LedgerError::ClientNotFound(_)
        | LedgerError::TransferNotFound(_)
        | LedgerError::DocumentNotFound(_)
        | LedgerError::RecipientNotFound(_)
        | LedgerError::ConfirmationNotFound(_) => StatusCode::NOT_FOUND,
        LedgerError::AccountAlreadyExists(_)
        | LedgerError::AccountNumberTaken(_)
        | LedgerError::PaymentAlreadyExists(_)
        | LedgerError::InvalidAccountState { .. }
        | LedgerError::InvalidPaymentState { .. }
        | LedgerError::ClientAlreadyExists(_)
        | LedgerError::InvalidClientState { .. }
        | LedgerError::TransferAlreadyExists(_)
        | LedgerError::RecipientAlreadyExists(_)
        | LedgerError::ConfirmationAlreadyExists(_)
        | LedgerError::OtpAlreadyUsed(_)
        | LedgerError::InvalidTransferState { .. }
        | LedgerError::DocumentAlreadyExists(_)
        | LedgerError::DocumentDeleted(_)
        | LedgerError::IdempotencyConflict { .. } => StatusCode::CONFLICT,
        LedgerError::InsufficientFunds { .. }
        | LedgerError::CurrencyMismatch { .. }
        | LedgerError::AccountBlocked(_)
        | LedgerError::AccountClosed(_)
        | LedgerError::AccountInactive(_)
        | LedgerError::ClientBlocked(_)
        | LedgerError::RecipientHidden(_)
        | LedgerError::RecipientCurrencyMismatch { .. }
        | LedgerError::OtpExpired(_)
        | LedgerError::OtpRequired(_)
        | LedgerError::FxQuoteExpired { .. }
        | LedgerError::AccountNotEmpty { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        // Too many wrong codes: the confirmation is locked; a new code is needed.
        LedgerError::OtpAttemptsExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
    }
}

/// The ids and figures of a refusal, so a client need not parse the message.
fn ledger_metadata(error: &LedgerError, put: &mut impl FnMut(&str, Value)) {
    match error {
        LedgerError::AccountNotFound(id)
        | LedgerError::AccountAlreadyExists(id)
        | LedgerError::AccountBlocked(id)
        | LedgerError::AccountClosed(id)
        | LedgerError::AccountInactive(id)
        | LedgerError::SameAccount(id) => put("accountId", json!(id)),
        LedgerError::CurrencyMismatch {
            account,
            account_currency,
            payment_currency,
        } => {
            put("accountId", json!(account));
            put("accountCurrency", json!(account_currency.code()));
            put("paymentCurrency", json!(payment_currency.code()));
        }
        LedgerError::InsufficientFunds {
            account,
            available,
            requested,
        } => {
            put("accountId", json!(account));
            put("availableBalance", json!(available.to_string()));
            put("requested", json!(requested.to_string()));
        }
        LedgerError::AccountNotEmpty {
            account,
            balance,
            held,
            ..
        } => {
            put("accountId", json!(account));
            put("balance", json!(balance.to_string()));
            put("heldAmount", json!(held.to_string()));
        }
        LedgerError::PaymentNotFound(id) | LedgerError::PaymentAlreadyExists(id) => {
            put("paymentId", json!(id))
        }
        LedgerError::TransferNotFound(id) | LedgerError::TransferAlreadyExists(id) => {
            put("transferId", json!(id))
        }
        LedgerError::DocumentNotFound(id)
        | LedgerError::DocumentAlreadyExists(id)
        | LedgerError::DocumentDeleted(id) => put("documentId", json!(id)),
        LedgerError::InvalidTransferState {
            transfer, status, ..
        } => {
            put("transferId", json!(transfer));
            put("status", json!(status));
        }
        LedgerError::InvalidPaymentState {
            payment, action, ..
        } => {
            put("paymentId", json!(payment));
            put("action", json!(action));
        }
        LedgerError::InvalidAccountState { account, .. } => put("accountId", json!(account)),
        LedgerError::ClientNotFound(id)
        | LedgerError::ClientAlreadyExists(id)
        | LedgerError::ClientBlocked(id) => put("clientId", json!(id)),
        LedgerError::InvalidClientState { client, from, to } => {
            put("clientId", json!(client));
            put("from", json!(from));
            put("to", json!(to));
        }
        LedgerError::AccountNumberTaken(number) => put("accountNumber", json!(number)),
        LedgerError::UnknownCurrency { code } => put("currency", json!(code)),
        LedgerError::InvalidAmount {
            amount, currency, ..
        } => {
            put("amount", json!(amount.to_string()));
            put("currency", json!(currency.code()));
        }
        LedgerError::RecipientNotFound(id)
        | LedgerError::RecipientAlreadyExists(id)
        | LedgerError::RecipientHidden(id) => put("recipientId", json!(id)),
        LedgerError::RecipientCurrencyMismatch {
            recipient,
            recipient_currency,
            transfer_currency,
        } => {
            put("recipientId", json!(recipient));
            put("recipientCurrency", json!(recipient_currency.code()));
            put("paymentCurrency", json!(transfer_currency.code()));
        }
        LedgerError::ConfirmationNotFound(id)
        | LedgerError::ConfirmationAlreadyExists(id)
        | LedgerError::OtpExpired(id)
        | LedgerError::OtpAttemptsExceeded(id)
        | LedgerError::OtpAlreadyUsed(id) => put("confirmationId", json!(id)),
        LedgerError::OtpRequired(id) => put("transferId", json!(id)),
        LedgerError::FxQuoteExpired {
            transfer,
            expired_at,
        } => {
            put("transferId", json!(transfer));
            put("quoteExpiresAt", json!(expired_at));
        }
        LedgerError::IdempotencyConflict { .. } | LedgerError::InvalidCommand { .. } => {}
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Rejected(refusal) => ApiError::Ledger(refusal),
            other => ApiError::Engine(other),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::WaitTimeout { wanted, reached } => ApiError::ReadModelsBehind {
                wanted,
                reached,
                committed_at: None,
            },
            ProjectionError::WorkerGone(reason) => {
                ApiError::Unavailable(format!("the read models are not being updated: {reason}"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<folio_replay::ReplayError> for ApiError {
    fn from(error: folio_replay::ReplayError) -> Self {
        use folio_replay::ReplayError;
        match error {
            ReplayError::UnknownAccount(id) => ApiError::Ledger(LedgerError::AccountNotFound(id)),
            ReplayError::ReadModels(ProjectionError::CheckpointMoved { .. }) => {
                ApiError::Unavailable(format!("{error}; retry"))
            }
            ReplayError::ReadModels(inner) => ApiError::from(inner),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(code, error = %self, "request failed");
        } else {
            tracing::debug!(code, error = %self, "request refused");
        }
        let error = ErrorReason {
            message: self.to_string(),
            metadata: self.metadata(code),
            reasons: Vec::new(),
        };
        let mut response = (status, Json(Envelope::failure(error))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::ReadModelsBehind {
            committed_at: Some(position),
            ..
        } = self
            && let Ok(value) = HeaderValue::from_str(&position.to_string())
        {
            response
                .headers_mut()
                .insert(crate::answer::POSITION_HEADER, value);
        }
        response
    }
}
