//! The records that go into and come out of the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An event as the writer hands it to the store, before it has a position and a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub stream_id: String,
    /// 0 for the first event of a stream.
    pub stream_revision: u64,
    /// UUIDv7, unique across the log.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub idempotency_key: Option<String>,
    /// The event body as JSON text (exact decimals as strings).
    pub payload: String,
    /// Optional JSON object of envelope metadata (e.g. the idempotency fingerprint).
    pub metadata: Option<String>,
}

/// An event as stored: the new event plus its position and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub global_position: u64,
    pub stream_id: String,
    pub stream_revision: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub idempotency_key: Option<String>,
    pub payload: String,
    pub metadata: Option<String>,
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

/// The log's head: last position and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub position: u64,
    pub hash: [u8; 32],
}

/// What a successful append reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Position of the first appended event (head + 1 before the append).
    pub first_position: u64,
    /// The new head.
    pub head: Head,
}

/// A serialized engine state taken at a log position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub position: u64,
    pub taken_at: DateTime<Utc>,
    pub state: Vec<u8>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(D::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom("a hash is 32 bytes"))
    }
}
