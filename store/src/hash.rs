//! The hash chain: `hash = SHA-256(previous hash ‖ canonical bytes of this event)`.
//!
//! The canonical bytes are a length-prefixed encoding of every envelope field and the payload, so
//! no two different events share an encoding and a changed byte anywhere changes the hash.

use crate::model::{NewEvent, RecordedEvent};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The fields the hash covers, borrowed from either a new or a recorded event.
pub struct HashInput<'a> {
    pub global_position: u64,
    pub stream_id: &'a str,
    pub stream_revision: u64,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: u16,
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub idempotency_key: Option<&'a str>,
    pub payload: &'a str,
    pub metadata: Option<&'a str>,
}

impl<'a> HashInput<'a> {
    pub fn for_new(event: &'a NewEvent, global_position: u64) -> Self {
        HashInput {
            global_position,
            stream_id: &event.stream_id,
            stream_revision: event.stream_revision,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            idempotency_key: event.idempotency_key.as_deref(),
            payload: &event.payload,
            metadata: event.metadata.as_deref(),
        }
    }

    pub fn for_recorded(event: &'a RecordedEvent) -> Self {
        HashInput {
            global_position: event.global_position,
            stream_id: &event.stream_id,
            stream_revision: event.stream_revision,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            idempotency_key: event.idempotency_key.as_deref(),
            payload: &event.payload,
            metadata: event.metadata.as_deref(),
        }
    }
}

/// `SHA-256(previous ‖ canonical(input))`.
pub fn chain_hash(previous: &[u8; 32], input: &HashInput<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(input.global_position.to_be_bytes());
    put_str(&mut hasher, input.stream_id);
    hasher.update(input.stream_revision.to_be_bytes());
    hasher.update(input.event_id.as_bytes());
    put_str(&mut hasher, input.event_type);
    hasher.update(input.schema_version.to_be_bytes());
    hasher.update(input.recorded_at.timestamp_micros().to_be_bytes());
    put_uuid(&mut hasher, input.correlation_id);
    put_uuid(&mut hasher, input.causation_id);
    put_opt_str(&mut hasher, input.idempotency_key);
    put_str(&mut hasher, input.payload);
    put_opt_str(&mut hasher, input.metadata);
    hasher.finalize().into()
}

/// Recomputes a recorded event's hash from its predecessor's and says whether it matches.
pub fn verify_link(previous: &[u8; 32], event: &RecordedEvent) -> bool {
    chain_hash(previous, &HashInput::for_recorded(event)) == event.hash
}

fn put_str(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_be_bytes());
    hasher.update(text.as_bytes());
}

fn put_opt_str(hasher: &mut Sha256, text: Option<&str>) {
    match text {
        None => hasher.update([0u8]),
        Some(text) => {
            hasher.update([1u8]);
            put_str(hasher, text);
        }
    }
}

fn put_uuid(hasher: &mut Sha256, id: Option<Uuid>) {
    match id {
        None => hasher.update([0u8]),
        Some(id) => {
            hasher.update([1u8]);
            hasher.update(id.as_bytes());
        }
    }
}
