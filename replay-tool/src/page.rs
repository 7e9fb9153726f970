//! A page of log rows in two buffers — the rows' fixed-size fields, and all their text back to
//! back — so reading a page costs a handful of allocations instead of five or six per event.

use chrono::{DateTime, Utc};
use folio_store::RecordedEvent;
use folio_store::hash::{HashInput, chain_hash};
use std::ops::Range;
use uuid::Uuid;

/// One stored event, borrowed from its page (or from a `RecordedEvent`).
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
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
    pub hash: &'a [u8; 32],
}

impl<'a> Row<'a> {
    pub fn of(event: &'a RecordedEvent) -> Row<'a> {
        Row {
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
            hash: &event.hash,
        }
    }

    /// Whether the stored hash is `SHA-256(previous ‖ this event)`, hashed straight from the
    /// borrowed fields.
    pub fn follows(&self, previous: &[u8; 32]) -> bool {
        let input = HashInput {
            global_position: self.global_position,
            stream_id: self.stream_id,
            stream_revision: self.stream_revision,
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            idempotency_key: self.idempotency_key,
            payload: self.payload,
            metadata: self.metadata,
        };
        chain_hash(previous, &input) == *self.hash
    }

    pub fn to_recorded(&self) -> RecordedEvent {
        RecordedEvent {
            global_position: self.global_position,
            stream_id: self.stream_id.to_string(),
            stream_revision: self.stream_revision,
            event_id: self.event_id,
            event_type: self.event_type.to_string(),
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            idempotency_key: self.idempotency_key.map(str::to_string),
            payload: self.payload.to_string(),
            metadata: self.metadata.map(str::to_string),
            hash: *self.hash,
        }
    }
}

/// A row's fixed-size fields and where its texts lie in the page's text buffer.
#[derive(Debug)]
struct Stored {
    global_position: u64,
    stream_revision: u64,
    event_id: Uuid,
    recorded_at: DateTime<Utc>,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    schema_version: u16,
    hash: [u8; 32],
    stream_id: Range<usize>,
    event_type: Range<usize>,
    idempotency_key: Option<Range<usize>>,
    payload: Range<usize>,
    metadata: Option<Range<usize>>,
}

/// Rows in log order.
#[derive(Debug, Default)]
pub struct Page {
    text: String,
    rows: Vec<Stored>,
}

impl Page {
    /// An empty page with room for `rows` rows of about `text` bytes of text in all.
    pub fn with_capacity(rows: usize, text: usize) -> Page {
        Page {
            text: String::with_capacity(text),
            rows: Vec::with_capacity(rows),
        }
    }

    pub fn from_records(events: &[RecordedEvent]) -> Page {
        let text = events
            .iter()
            .map(|event| event.payload.len() + event.stream_id.len() + 64)
            .sum();
        let mut page = Page::with_capacity(events.len(), text);
        for event in events {
            page.push(&Row::of(event));
        }
        page
    }

    /// Copies `row` to the end of the page.
    pub fn push(&mut self, row: &Row<'_>) {
        let stored = Stored {
            global_position: row.global_position,
            stream_revision: row.stream_revision,
            event_id: row.event_id,
            recorded_at: row.recorded_at,
            correlation_id: row.correlation_id,
            causation_id: row.causation_id,
            schema_version: row.schema_version,
            hash: *row.hash,
            stream_id: self.keep(row.stream_id),
            event_type: self.keep(row.event_type),
            idempotency_key: row.idempotency_key.map(|key| self.keep(key)),
            payload: self.keep(row.payload),
            metadata: row.metadata.map(|metadata| self.keep(metadata)),
        };
        self.rows.push(stored);
    }

    fn keep(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row at `index` (panics past the end, like a slice).
    pub fn row(&self, index: usize) -> Row<'_> {
        let stored = &self.rows[index];
        let text = |range: &Range<usize>| &self.text[range.clone()];
        Row {
            global_position: stored.global_position,
            stream_id: text(&stored.stream_id),
            stream_revision: stored.stream_revision,
            event_id: stored.event_id,
            event_type: text(&stored.event_type),
            schema_version: stored.schema_version,
            recorded_at: stored.recorded_at,
            correlation_id: stored.correlation_id,
            causation_id: stored.causation_id,
            idempotency_key: stored.idempotency_key.as_ref().map(text),
            payload: text(&stored.payload),
            metadata: stored.metadata.as_ref().map(text),
            hash: &stored.hash,
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        (0..self.rows.len()).map(|index| self.row(index))
    }

    pub fn last(&self) -> Option<Row<'_>> {
        self.len().checked_sub(1).map(|index| self.row(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_store::hash::HashInput;

    fn recorded(position: u64, key: Option<&str>, previous: &[u8; 32]) -> RecordedEvent {
        let mut event = RecordedEvent {
            global_position: position,
            stream_id: format!("payment-{}", Uuid::from_u128(position.into())),
            stream_revision: position * 2,
            event_id: Uuid::from_u128(1000 + u128::from(position)),
            event_type: "PaymentCreated".into(),
            schema_version: 1,
            recorded_at: DateTime::from_timestamp_micros(1_790_000_000_000_000 + position as i64)
                .unwrap(),
            correlation_id: key.map(|_| Uuid::from_u128(7)),
            causation_id: None,
            idempotency_key: key.map(str::to_string),
            payload: format!("{{\"n\":{position},\"text\":\"é€\"}}"),
            metadata: key.map(|_| "{\"fingerprint\":\"ab\"}".to_string()),
            hash: [0; 32],
        };
        event.hash = chain_hash(previous, &HashInput::for_recorded(&event));
        event
    }

    #[test]
    fn rows_come_back_as_they_went_in_and_their_links_check() {
        // Given three chained events, one with every optional field set
        let first = recorded(1, None, &[0; 32]);
        let second = recorded(2, Some("key-2"), &first.hash);
        let third = recorded(3, None, &second.hash);
        let events = vec![first, second, third];

        // When they are copied into a page
        let page = Page::from_records(&events);

        // Then each row reads back equal, and each links to the one before it
        assert_eq!(page.len(), 3);
        let mut previous = [0u8; 32];
        for (row, event) in page.rows().zip(&events) {
            assert_eq!(&row.to_recorded(), event);
            assert!(row.follows(&previous));
            previous = *row.hash;
        }
        assert_eq!(page.last().map(|row| row.global_position), Some(3));
    }

    #[test]
    fn a_changed_field_breaks_the_link() {
        // Given a chained event whose payload then changes by one byte
        let mut event = recorded(1, Some("k"), &[0; 32]);
        event.payload = event.payload.replace("\"n\":1", "\"n\":2");

        // When its row is checked against the previous hash
        let page = Page::from_records(std::slice::from_ref(&event));

        // Then the link does not follow
        assert!(!page.row(0).follows(&[0; 32]));
    }
}
