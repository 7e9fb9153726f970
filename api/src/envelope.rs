//! The FluentResults envelope (API.md §4) every answer is wrapped in, errors included.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A success or an error reason: a message and its metadata (`code` for errors).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub message: String,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// An error reason, with the errors that caused it (FluentResults' `IError.Reasons`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReason {
    pub message: String,
    /// Always carries `code`, the stable error code clients match on.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    #[schema(no_recursion)]
    pub reasons: Vec<ErrorReason>,
}

/// `Result<T>` as FluentResults serializes it. `reasons` holds every success and error in order;
/// `errors` and `successes` are its filtered views. A failed result has `null` values.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub is_failed: bool,
    pub is_success: bool,
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Value>,
    pub errors: Vec<ErrorReason>,
    pub successes: Vec<Reason>,
    pub value_or_default: Option<T>,
    pub value: Option<T>,
}

impl<T: Clone> Envelope<T> {
    pub fn success(value: T, successes: Vec<Reason>) -> Envelope<T> {
        Envelope {
            is_failed: false,
            is_success: true,
            reasons: successes.iter().map(to_value).collect(),
            errors: Vec::new(),
            successes,
            value_or_default: Some(value.clone()),
            value: Some(value),
        }
    }
}

impl Envelope<Value> {
    pub fn failure(error: ErrorReason) -> Envelope<Value> {
        Envelope {
            is_failed: true,
            is_success: false,
            reasons: vec![to_value(&error)],
            errors: vec![error],
            successes: Vec::new(),
            value_or_default: None,
            value: None,
        }
    }
}

fn to_value(reason: &impl Serialize) -> Value {
    // Reasons are plain maps and strings: serializing them to a Value cannot fail.
    serde_json::to_value(reason).unwrap_or(Value::Null)
}
