//! Between the domain's events and the store's records: envelope fields, payload, idempotency.

use chrono::{DateTime, Utc};
use folio_domain::codec::{self, DecodeError};
use folio_domain::{Event, EventBody, IdempotencyStamp};
use folio_store::{NewEvent, RecordedEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Envelope metadata stored beside the payload.
#[derive(Debug, Serialize, Deserialize)]
struct Metadata {
    fingerprint: String,
}

/// Who asked for the command and why: copied onto every event it produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trace {
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}

/// The record the store appends for `event`, under the id `event_id`.
pub fn to_new_event(
    event: &Event,
    event_id: Uuid,
    recorded_at: DateTime<Utc>,
    trace: Trace,
) -> NewEvent {
    let (event_type, schema_version, payload) = codec::encode(&event.body);
    let (idempotency_key, metadata) = match &event.idempotency {
        None => (None, None),
        Some(stamp) => (
            Some(stamp.key.clone()),
            serde_json::to_string(&Metadata {
                fingerprint: stamp.fingerprint.clone(),
            })
            .ok(),
        ),
    };
    NewEvent {
        stream_id: event.body.stream_id(),
        stream_revision: event.revision,
        event_id,
        event_type: event_type.to_string(),
        schema_version,
        recorded_at,
        correlation_id: trace.correlation_id,
        causation_id: trace.causation_id,
        idempotency_key,
        payload,
        metadata,
    }
}

/// The domain event a stored record holds.
pub fn from_recorded(record: &RecordedEvent) -> Result<Event, DecodeError> {
    from_parts(
        &record.event_type,
        record.schema_version,
        &record.payload,
        record.stream_revision,
        record.idempotency_key.as_deref(),
        record.metadata.as_deref(),
    )
}

/// The domain event stored as these fields, borrowed from wherever the row lies (the replay
/// tool decodes straight from its page buffers).
pub fn from_parts(
    event_type: &str,
    schema_version: u16,
    payload: &str,
    stream_revision: u64,
    idempotency_key: Option<&str>,
    metadata: Option<&str>,
) -> Result<Event, DecodeError> {
    let body = codec::decode(event_type, schema_version, payload)?;
    Ok(with_envelope(
        body,
        stream_revision,
        idempotency_key,
        metadata,
    ))
}

/// The event a row holds, from its decoded `body` and the row's envelope fields (the stream
/// revision, and the idempotency key and metadata that make its stamp).
pub fn with_envelope(
    body: EventBody,
    stream_revision: u64,
    idempotency_key: Option<&str>,
    metadata: Option<&str>,
) -> Event {
    let idempotency = match (idempotency_key, metadata) {
        (Some(key), Some(metadata)) => {
            serde_json::from_str::<Metadata>(metadata)
                .ok()
                .map(|metadata| IdempotencyStamp {
                    key: key.to_string(),
                    fingerprint: metadata.fingerprint,
                })
        }
        _ => None,
    };
    Event {
        body,
        revision: stream_revision,
        idempotency,
    }
}
