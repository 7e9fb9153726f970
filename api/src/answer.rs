//! Successful answers: the envelope around a value, and the log position a command reached.

use crate::envelope::{Envelope, Reason};
use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, json};

/// The global log position a command's answer reached (read-your-writes).
pub const POSITION_HEADER: HeaderName = HeaderName::from_static("x-folio-position");
/// A query waits until the read models include this position.
pub const MIN_POSITION_HEADER: HeaderName = HeaderName::from_static("x-folio-min-position");

/// A 200 with the envelope around `value`; commands also carry their position.
pub struct Answer<T> {
    value: T,
    committed: Option<Committed>,
    status: StatusCode,
}

struct Committed {
    position: u64,
    message: &'static str,
    duplicate: bool,
}

impl<T> Answer<T> {
    /// The answer to a query.
    pub fn read(value: T) -> Answer<T> {
        Answer {
            value,
            committed: None,
            status: StatusCode::OK,
        }
    }

    /// A 202: the work was started and goes on in the background.
    pub fn accepted(value: T) -> Answer<T> {
        Answer {
            status: StatusCode::ACCEPTED,
            ..Answer::read(value)
        }
    }

    /// The answer to a command that committed at (or, if a retry, was found before) `position`.
    pub fn committed(value: T, position: u64, duplicate: bool, message: &'static str) -> Answer<T> {
        Answer {
            value,
            committed: Some(Committed {
                position,
                message,
                duplicate,
            }),
            status: StatusCode::OK,
        }
    }
}

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        let successes = match &self.committed {
            None => Vec::new(),
            Some(committed) => {
                let mut metadata = Map::new();
                metadata.insert("position".into(), json!(committed.position));
                metadata.insert("duplicate".into(), json!(committed.duplicate));
                vec![Reason {
                    message: committed.message.to_string(),
                    metadata,
                }]
            }
        };
        // `value` and `valueOrDefault` carry the same value: serialized once, written twice.
        let value = match serde_json::value::to_raw_value(&self.value) {
            Ok(value) => value,
            Err(error) => {
                return crate::error::ApiError::Internal(format!(
                    "an answer could not be serialized: {error}"
                ))
                .into_response();
            }
        };
        let mut response = (
            self.status,
            Json(Envelope::success(value.as_ref(), successes)),
        )
            .into_response();
        if let Some(committed) = self.committed
            && let Ok(value) = HeaderValue::from_str(&committed.position.to_string())
        {
            response.headers_mut().insert(POSITION_HEADER, value);
        }
        response
    }
}
