//! Extractors that turn every bad input into an `ApiError` naming the field: JSON bodies, query
//! strings, path ids, the caller and the command headers.

use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A JSON body. An empty body reads as `{}`, so `{}`-bodied commands may omit it.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit: BODY_LIMIT }
                } else {
                    ApiError::Validation {
                        field: None,
                        message: format!("the request body could not be read: {rejection}"),
                    }
                }
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        if has_escaped_nul(text) {
            return Err(nul_refused());
        }
        parse_json(text).map(JsonBody)
    }
}

/// No text Folio keeps or searches may hold a NUL character (PostgreSQL's text cannot; the
/// ledger refuses it in commands): refused at the door, for queries too.
fn nul_refused() -> ApiError {
    ApiError::Validation {
        field: None,
        message: "text must not contain NUL characters (\\u0000)".into(),
    }
}

/// True when the JSON text holds the escape `\u0000` (a NUL inside a string; raw NUL bytes
/// are not valid JSON and fail parsing anyway). A `\u0000` preceded by an escaped backslash
/// (`\\u0000`) is the literal text, not a NUL.
fn has_escaped_nul(json: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"\\u0000";
    json.windows(ESCAPE.len())
        .enumerate()
        .filter(|(_, window)| window.eq_ignore_ascii_case(ESCAPE))
        .any(|(start, _)| {
            let backslashes = json[..start]
                .iter()
                .rev()
                .take_while(|byte| **byte == b'\\')
                .count();
            backslashes % 2 == 0
        })
}

/// Deserializes `bytes`, naming the field at fault (`amount`, `accountIds[2]`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::Validation {
                field: None,
                message: format!("the request body is not valid JSON: {inner}"),
            }
        } else {
            field_error(&path, &inner.to_string())
        }
    })?;
    deserializer.end().map_err(|error| ApiError::Validation {
        field: None,
        message: format!("the request body is not valid JSON: {error}"),
    })?;
    Ok(value)
}

/// Deserializes a JSON value already read (a body taken apart first), naming the field at fault.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        field_error(&path, &error.into_inner().to_string())
    })
}

fn field_error(path: &str, message: &str) -> ApiError {
    // serde names a missing or an unknown field in the message, at the parent's path.
    let named = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"));
    let field = match (path, named) {
        (_, Some(rest)) => {
            let name = rest.split('`').next().unwrap_or(rest);
            if path == "." {
                name.to_string()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                // serde_path_to_error already put an unknown field on the path.
                path.to_string()
            } else {
                format!("{path}.{name}")
            }
        }
        (".", None) => String::new(),
        (path, None) => path.to_string(),
    };
    let message = if field.is_empty() {
        format!("the request is invalid: {message}")
    } else {
        format!("{field}: {message}")
    };
    ApiError::Validation {
        field: (!field.is_empty()).then_some(field),
        message,
    }
}

/// A query string, with the parameter at fault named on error.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        if form_urlencoded::parse(query.as_bytes())
            .any(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(nul_refused());
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|error| {
                let path = error.path().to_string();
                field_error(&path, &error.into_inner().to_string())
            })
    }
}

/// Parses a path or body id, naming `field` when it is not a uuid.
pub fn parse_uuid(field: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::validation(field, format!("{field}: {text:?} is not a uuid")))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .copied()
            .ok_or_else(|| ApiError::Internal("the request was not authenticated".into()))
    }
}

/// What every command needs besides its body: the caller, the `Idempotency-Key` header and
/// the request id (recorded as the events' correlation id when it is a uuid).
pub struct CommandContext {
    pub caller: Caller,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<Uuid>,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let idempotency_key = match parts.headers.get(IDEMPOTENCY_KEY) {
            None => None,
            Some(value) => {
                let key = value
                    .to_str()
                    .map_err(|_| {
                        ApiError::validation("Idempotency-Key", "Idempotency-Key must be ASCII")
                    })?
                    .trim();
                if key.is_empty() || key.len() > 200 {
                    return Err(ApiError::validation(
                        "Idempotency-Key",
                        "Idempotency-Key must have 1 to 200 characters",
                    ));
                }
                Some(key.to_string())
            }
        };
        let correlation_id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| Uuid::parse_str(text).ok());
        Ok(CommandContext {
            caller,
            idempotency_key,
            correlation_id,
        })
    }
}

impl CommandContext {
    /// The idempotency key of a command that may also carry an `externalId` in its body: the
    /// two must agree when both are given.
    pub fn key_with_external_id(
        &self,
        external_id: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        match (self.idempotency_key.as_deref(), external_id) {
            (Some(header), Some(body)) if header != body => Err(ApiError::validation(
                "externalId",
                "externalId and the Idempotency-Key header differ: give one, or the same value",
            )),
            (Some(key), _) | (None, Some(key)) => Ok(Some(self.caller.scoped_key(key))),
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod nul_tests {
    use super::has_escaped_nul;

    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_before_it_is_not_one() {
        assert!(has_escaped_nul(br#"{"accountNumbers":["ab\u0000c"]}"#));
        assert!(has_escaped_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"a":"\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"a":"u0000 \u0041"}"#));
    }
}
