//! The stored form of events: `event_type`, `schema_version` and a JSON payload. Every version
//! ever written stays decodable (older versions are upcast here, on read).

use crate::event::{
    AccountEvent, ClientEvent, ConfirmationEvent, DocumentEvent, EventBody, PaymentEvent,
    RecipientEvent, TransferEvent,
};
use thiserror::Error;

/// The schema version every event type is written with today.
pub const CURRENT_SCHEMA_VERSION: u16 = 1;

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event type {event_type} has no schema version {version}")]
    UnknownVersion { event_type: String, version: u16 },
    #[error("payload of {event_type} v{version} does not match its schema: {source}")]
    Payload {
        event_type: String,
        version: u16,
        source: serde_json::Error,
    },
}

/// The event's type name as stored in the log.
pub fn event_type(body: &EventBody) -> &'static str {
    match body {
        EventBody::Account(AccountEvent::Opened(_)) => "AccountOpened",
        EventBody::Account(AccountEvent::Renamed(_)) => "AccountRenamed",
        EventBody::Account(AccountEvent::Activated(_)) => "AccountActivated",
        EventBody::Account(AccountEvent::Blocked(_)) => "AccountBlocked",
        EventBody::Account(AccountEvent::Unblocked(_)) => "AccountUnblocked",
        EventBody::Account(AccountEvent::Closed(_)) => "AccountClosed",
        EventBody::Account(AccountEvent::DefaultChanged(_)) => "AccountDefaultChanged",
        EventBody::Account(AccountEvent::Reordered(_)) => "AccountReordered",
        EventBody::Payment(PaymentEvent::Created(_)) => "PaymentCreated",
        EventBody::Payment(PaymentEvent::Pended(_)) => "PaymentPended",
        EventBody::Payment(PaymentEvent::Posted(_)) => "PaymentPosted",
        EventBody::Payment(PaymentEvent::Cancelled(_)) => "PaymentCancelled",
        EventBody::Payment(PaymentEvent::Expired(_)) => "PaymentExpired",
        EventBody::Client(ClientEvent::Registered(_)) => "ClientRegistered",
        EventBody::Client(ClientEvent::Updated(_)) => "ClientUpdated",
        EventBody::Client(ClientEvent::Blocked(_)) => "ClientBlocked",
        EventBody::Client(ClientEvent::Unblocked(_)) => "ClientUnblocked",
        EventBody::Transfer(event) => transfer_event_type(event),
        EventBody::Document(DocumentEvent::Uploaded(_)) => "DocumentUploaded",
        EventBody::Document(DocumentEvent::Deleted(_)) => "DocumentDeleted",
        EventBody::Recipient(RecipientEvent::Added(_)) => "RecipientAdded",
        EventBody::Recipient(RecipientEvent::VisibilityChanged(_)) => "RecipientVisibilityChanged",
        EventBody::Confirmation(ConfirmationEvent::Issued(_)) => "ConfirmationIssued",
        EventBody::Confirmation(ConfirmationEvent::AttemptFailed(_)) => "ConfirmationAttemptFailed",
        EventBody::Confirmation(ConfirmationEvent::Verified(_)) => "ConfirmationVerified",
    }
}

fn transfer_event_type(event: &TransferEvent) -> &'static str {
    match event {
        TransferEvent::Created(_) => "TransferCreated",
        TransferEvent::Confirmed(_) => "TransferConfirmed",
        TransferEvent::ProcessingStarted(_) => "TransferProcessingStarted",
        TransferEvent::Suspended(_) => "TransferSuspended",
        TransferEvent::Continued(_) => "TransferContinued",
        TransferEvent::Completed(_) => "TransferCompleted",
        TransferEvent::Rejected(_) => "TransferRejected",
        TransferEvent::Failed(_) => "TransferFailed",
        TransferEvent::Cancelled(_) => "TransferCancelled",
        TransferEvent::Received(_) => "TransferReceived",
        TransferEvent::Unrecognized(_) => "TransferUnrecognized",
        TransferEvent::Assigned(_) => "TransferAssigned",
    }
}

/// `(event_type, schema_version, payload)` of an event body.
pub fn encode(body: &EventBody) -> (&'static str, u16, String) {
    // Event structs hold only strings, numbers, uuids, decimals and JSON values with string keys:
    // serializing them to JSON cannot fail, so the empty fallback is unreachable in practice.
    let payload = match body {
        EventBody::Account(AccountEvent::Opened(e)) => serde_json::to_string(e),
        EventBody::Account(AccountEvent::Renamed(e)) => serde_json::to_string(e),
        EventBody::Account(AccountEvent::Blocked(e)) => serde_json::to_string(e),
        EventBody::Account(
            AccountEvent::Activated(e) | AccountEvent::Unblocked(e) | AccountEvent::Closed(e),
        ) => serde_json::to_string(e),
        EventBody::Account(AccountEvent::DefaultChanged(e)) => serde_json::to_string(e),
        EventBody::Account(AccountEvent::Reordered(e)) => serde_json::to_string(e),
        EventBody::Payment(PaymentEvent::Created(e)) => serde_json::to_string(e),
        EventBody::Payment(PaymentEvent::Pended(e)) => serde_json::to_string(e),
        EventBody::Payment(PaymentEvent::Posted(e)) => serde_json::to_string(e),
        EventBody::Payment(PaymentEvent::Cancelled(e)) => serde_json::to_string(e),
        EventBody::Payment(PaymentEvent::Expired(e)) => serde_json::to_string(e),
        EventBody::Client(ClientEvent::Registered(e)) => serde_json::to_string(e),
        EventBody::Client(ClientEvent::Updated(e)) => serde_json::to_string(e),
        EventBody::Client(ClientEvent::Blocked(e) | ClientEvent::Unblocked(e)) => {
            serde_json::to_string(e)
        }
        EventBody::Transfer(TransferEvent::Created(e)) => serde_json::to_string(e),
        EventBody::Transfer(TransferEvent::Received(e)) => serde_json::to_string(e),
        EventBody::Transfer(TransferEvent::Assigned(e)) => serde_json::to_string(e),
        EventBody::Transfer(
            TransferEvent::Confirmed(e)
            | TransferEvent::ProcessingStarted(e)
            | TransferEvent::Suspended(e)
            | TransferEvent::Continued(e)
            | TransferEvent::Completed(e)
            | TransferEvent::Rejected(e)
            | TransferEvent::Failed(e)
            | TransferEvent::Cancelled(e)
            | TransferEvent::Unrecognized(e),
        ) => serde_json::to_string(e),
        EventBody::Document(DocumentEvent::Uploaded(e)) => serde_json::to_string(e),
        EventBody::Document(DocumentEvent::Deleted(e)) => serde_json::to_string(e),
        EventBody::Recipient(RecipientEvent::Added(e)) => serde_json::to_string(e),
        EventBody::Recipient(RecipientEvent::VisibilityChanged(e)) => serde_json::to_string(e),
        EventBody::Confirmation(ConfirmationEvent::Issued(e)) => serde_json::to_string(e),
        EventBody::Confirmation(
            ConfirmationEvent::AttemptFailed(e) | ConfirmationEvent::Verified(e),
        ) => serde_json::to_string(e),
    }
    .unwrap_or_default();
    (event_type(body), CURRENT_SCHEMA_VERSION, payload)
}

/// Decodes a stored event. Unknown types and versions are errors, never guesses.
pub fn decode(
    event_type: &str,
    schema_version: u16,
    payload: &str,
) -> Result<EventBody, DecodeError> {
    if schema_version != CURRENT_SCHEMA_VERSION {
        // Version 1 is the only one written so far; an upcaster for each older version goes here.
        return Err(DecodeError::UnknownVersion {
            event_type: event_type.to_string(),
            version: schema_version,
        });
    }
    fn parse<'a, T: serde::Deserialize<'a>>(
        event_type: &str,
        version: u16,
        payload: &'a str,
    ) -> Result<T, DecodeError> {
        serde_json::from_str(payload).map_err(|source| DecodeError::Payload {
            event_type: event_type.to_string(),
            version,
            source,
        })
    }
    let v = schema_version;
    Ok(match event_type {
        "AccountOpened" => EventBody::Account(AccountEvent::Opened(parse(event_type, v, payload)?)),
        "AccountRenamed" => {
            EventBody::Account(AccountEvent::Renamed(parse(event_type, v, payload)?))
        }
        "AccountActivated" => {
            EventBody::Account(AccountEvent::Activated(parse(event_type, v, payload)?))
        }
        "AccountBlocked" => {
            EventBody::Account(AccountEvent::Blocked(parse(event_type, v, payload)?))
        }
        "AccountUnblocked" => {
            EventBody::Account(AccountEvent::Unblocked(parse(event_type, v, payload)?))
        }
        "AccountClosed" => EventBody::Account(AccountEvent::Closed(parse(event_type, v, payload)?)),
        "AccountDefaultChanged" => {
            EventBody::Account(AccountEvent::DefaultChanged(parse(event_type, v, payload)?))
        }
        "AccountReordered" => {
            EventBody::Account(AccountEvent::Reordered(parse(event_type, v, payload)?))
        }
        "PaymentCreated" => {
            EventBody::Payment(PaymentEvent::Created(parse(event_type, v, payload)?))
        }
        "PaymentPended" => EventBody::Payment(PaymentEvent::Pended(parse(event_type, v, payload)?)),
        "PaymentPosted" => EventBody::Payment(PaymentEvent::Posted(parse(event_type, v, payload)?)),
        "PaymentCancelled" => {
            EventBody::Payment(PaymentEvent::Cancelled(parse(event_type, v, payload)?))
        }
        "PaymentExpired" => {
            EventBody::Payment(PaymentEvent::Expired(parse(event_type, v, payload)?))
        }
        "ClientRegistered" => {
            EventBody::Client(ClientEvent::Registered(parse(event_type, v, payload)?))
        }
        "ClientUpdated" => EventBody::Client(ClientEvent::Updated(parse(event_type, v, payload)?)),
        "ClientBlocked" => EventBody::Client(ClientEvent::Blocked(parse(event_type, v, payload)?)),
        "ClientUnblocked" => {
            EventBody::Client(ClientEvent::Unblocked(parse(event_type, v, payload)?))
        }
        "TransferCreated" => {
            EventBody::Transfer(TransferEvent::Created(parse(event_type, v, payload)?))
        }
        "TransferConfirmed" => {
            EventBody::Transfer(TransferEvent::Confirmed(parse(event_type, v, payload)?))
        }
        "TransferProcessingStarted" => EventBody::Transfer(TransferEvent::ProcessingStarted(
            parse(event_type, v, payload)?,
        )),
        "TransferSuspended" => {
            EventBody::Transfer(TransferEvent::Suspended(parse(event_type, v, payload)?))
        }
        "TransferContinued" => {
            EventBody::Transfer(TransferEvent::Continued(parse(event_type, v, payload)?))
        }
        "TransferCompleted" => {
            EventBody::Transfer(TransferEvent::Completed(parse(event_type, v, payload)?))
        }
        "TransferRejected" => {
            EventBody::Transfer(TransferEvent::Rejected(parse(event_type, v, payload)?))
        }
        "TransferFailed" => {
            EventBody::Transfer(TransferEvent::Failed(parse(event_type, v, payload)?))
        }
        "TransferCancelled" => {
            EventBody::Transfer(TransferEvent::Cancelled(parse(event_type, v, payload)?))
        }
        "TransferReceived" => {
            EventBody::Transfer(TransferEvent::Received(parse(event_type, v, payload)?))
        }
        "TransferUnrecognized" => {
            EventBody::Transfer(TransferEvent::Unrecognized(parse(event_type, v, payload)?))
        }
        "TransferAssigned" => {
            EventBody::Transfer(TransferEvent::Assigned(parse(event_type, v, payload)?))
        }
        "DocumentUploaded" => {
            EventBody::Document(DocumentEvent::Uploaded(parse(event_type, v, payload)?))
        }
        "DocumentDeleted" => {
            EventBody::Document(DocumentEvent::Deleted(parse(event_type, v, payload)?))
        }
        "RecipientAdded" => {
            EventBody::Recipient(RecipientEvent::Added(parse(event_type, v, payload)?))
        }
        "RecipientVisibilityChanged" => EventBody::Recipient(RecipientEvent::VisibilityChanged(
            parse(event_type, v, payload)?,
        )),
        "ConfirmationIssued" => {
            EventBody::Confirmation(ConfirmationEvent::Issued(parse(event_type, v, payload)?))
        }
        "ConfirmationAttemptFailed" => EventBody::Confirmation(ConfirmationEvent::AttemptFailed(
            parse(event_type, v, payload)?,
        )),
        "ConfirmationVerified" => {
            EventBody::Confirmation(ConfirmationEvent::Verified(parse(event_type, v, payload)?))
        }
        other => return Err(DecodeError::UnknownType(other.to_string())),
    })
}
