//! One pass over the log in position order, as a pipeline: the log is cut into ranges of
//! positions, each range is read (from SQLite straight into a page's two buffers, on a
//! connection of its own), hash-checked and decoded on the blocking pool, several ranges at once,
//! and the caller visits the events in order while the next ranges are being prepared.

use crate::error::ReplayError;
use crate::fastdecode;
use crate::page::{Page, Row};
use crate::progress::Progress;
use crate::source::LogReader;
use chrono::{DateTime, Utc};
use folio_domain::{Event, EventBody};
use folio_engine::codec::with_envelope;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Positions per range (one page).
pub const PAGE: u64 = 8_192;
/// Pages prepared ahead of the visitor.
const AHEAD: usize = 4;

/// One event as the visitor gets it: what an in-order check needs of it, read from a compact
/// summary the preparing thread wrote, and the whole stored row on demand.
pub struct Visit<'a> {
    pub global_position: u64,
    pub stream_revision: u64,
    pub recorded_at: DateTime<Utc>,
    /// Whether its hash follows from the previous stored event's.
    pub link_ok: bool,
    /// Whether its stream id names the entity its decoded event is about (true when it was not
    /// decoded).
    pub stream_ok: bool,
    /// The decoded event, or why it cannot be decoded (None when decoding was not asked for).
    pub event: Option<&'a Result<Event, String>>,
    page: &'a Page,
    index: usize,
}

impl<'a> Visit<'a> {
    /// The stored row. The visitor's thread did not prepare it, so its fields are far from
    /// this core's caches: verify reads it only to report a finding (export and the other
    /// callers that need whole rows read it for every event).
    pub fn record(&self) -> Row<'a> {
        self.page.row(self.index)
    }
}

/// What the in-order visitor reads of every event, packed (32 bytes), so that it pulls a few
/// cache lines a page across cores rather than every row's fields.
#[derive(Clone, Copy)]
struct Summary {
    global_position: u64,
    stream_revision: u64,
    recorded_at: DateTime<Utc>,
    link_ok: bool,
    stream_ok: bool,
}

/// A page of events with their link checks and decoded forms.
struct Prepared {
    page: Page,
    /// One per row; a row's link is checked against the row before it in the page (the first
    /// row's link needs the previous page: the visitor checks it).
    summaries: Vec<Summary>,
    decoded: Vec<Result<Event, String>>,
}

type Preparing = JoinHandle<Result<Prepared, ReplayError>>;

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Reads every event after `after` up to `until` (the head the caller read) and hands each to
/// `visit`, decoded when `decode` is set. Returns the number of events visited. A read error
/// (a row the store cannot decode) ends the scan with it.
pub async fn scan<F>(
    log: LogReader,
    after: u64,
    until: u64,
    decode: bool,
    progress: &mut Progress,
    mut visit: F,
) -> Result<u64, ReplayError>
where
    F: FnMut(Visit<'_>) -> Result<Flow, ReplayError>,
{
    let mut previous = log.hash_at(after).await?;
    let (pages, mut receive) = mpsc::channel::<Preparing>(AHEAD);
    let starter = tokio::spawn(start_pages(log, after, until, decode, pages));
    let mut visited = 0u64;
    let mut stopped = false;
    while let Some(preparing) = receive.recv().await {
        let mut prepared = preparing
            .await
            .map_err(|error| ReplayError::Task(error.to_string()))??;
        if let Some(first) = prepared.summaries.first_mut() {
            first.link_ok = prepared.page.row(0).follows(&previous);
        }
        if let Some(last) = prepared.page.last() {
            previous = *last.hash;
        }
        for (index, summary) in prepared.summaries.iter().enumerate() {
            visited += 1;
            let step = Visit {
                global_position: summary.global_position,
                stream_revision: summary.stream_revision,
                recorded_at: summary.recorded_at,
                link_ok: summary.link_ok,
                stream_ok: summary.stream_ok,
                event: prepared.decoded.get(index),
                page: &prepared.page,
                index,
            };
            if visit(step)? == Flow::Stop {
                stopped = true;
                break;
            }
        }
        if let Some(last) = prepared.page.last() {
            progress.set(last.global_position);
        }
        // Freeing a page's decoded events is work too: not on the visitor's thread.
        tokio::task::spawn_blocking(move || drop(prepared));
        if stopped {
            break;
        }
    }
    drop(receive);
    starter
        .await
        .map_err(|error| ReplayError::Task(error.to_string()))?;
    Ok(visited)
}

/// Starts preparing each range in order; the channel's bound keeps only a few ahead.
async fn start_pages(
    log: LogReader,
    after: u64,
    until: u64,
    decode: bool,
    pages: mpsc::Sender<Preparing>,
) {
    let mut from = after;
    while from < until {
        let to = until.min(from.saturating_add(PAGE));
        let preparing = match &log {
            LogReader::Sqlite(sqlite) => {
                let sqlite = sqlite.clone();
                tokio::task::spawn_blocking(move || {
                    let page = sqlite.read_range(from, to)?;
                    Ok(prepare(page, decode))
                })
            }
            LogReader::Store(_) => {
                let log = log.clone();
                tokio::spawn(async move {
                    let page = log.read_range(from, to).await?;
                    tokio::task::spawn_blocking(move || prepare(page, decode))
                        .await
                        .map_err(|error| ReplayError::Task(error.to_string()))
                })
            }
        };
        if pages.send(preparing).await.is_err() {
            return;
        }
        from = to;
    }
}

/// Checks the links inside a page, decodes its events and sums up what the visitor reads.
fn prepare(page: Page, decode: bool) -> Prepared {
    let mut summaries = Vec::with_capacity(page.len());
    let mut decoded = Vec::with_capacity(if decode { page.len() } else { 0 });
    let mut previous: Option<&[u8; 32]> = None;
    for row in page.rows() {
        let mut stream_ok = true;
        if decode {
            // What `from_parts` gives, with the payment events' bodies read sooner.
            let event =
                fastdecode::decode(row.event_type, row.schema_version, row.payload).map(|body| {
                    with_envelope(body, row.stream_revision, row.idempotency_key, row.metadata)
                });
            if let Ok(event) = &event {
                stream_ok = parse_stream(row.stream_id) == Some(stream_key(&event.body));
            }
            decoded.push(event.map_err(|error| error.to_string()));
        }
        summaries.push(Summary {
            global_position: row.global_position,
            stream_revision: row.stream_revision,
            recorded_at: row.recorded_at,
            link_ok: previous.is_none_or(|previous| row.follows(previous)),
            stream_ok,
        });
        previous = Some(row.hash);
    }
    Prepared {
        page,
        summaries,
        decoded,
    }
}

/// A stream as (kind, id): 0 account, 1 payment, 2 client, 3 transfer, 4 document,
/// 5 recipient, 6 confirmation.
pub fn stream_key(body: &EventBody) -> (u8, Uuid) {
    match body {
        EventBody::Account(event) => (0, event.account_id().0),
        EventBody::Payment(event) => (1, event.payment_id().0),
        EventBody::Client(event) => (2, event.client_id().0),
        EventBody::Transfer(event) => (3, event.transfer_id().0),
        EventBody::Document(event) => (4, event.document_id().0),
        EventBody::Recipient(event) => (5, event.recipient_id().0),
        EventBody::Confirmation(event) => (6, event.confirmation_id().0),
    }
}

fn parse_stream(stream_id: &str) -> Option<(u8, Uuid)> {
    let (kind, id) = stream_id.split_once('-')?;
    let kind = match kind {
        "account" => 0,
        "payment" => 1,
        "client" => 2,
        "transfer" => 3,
        "document" => 4,
        "recipient" => 5,
        "confirmation" => 6,
        _ => return None,
    };
    // The written form first (the engine's, so nearly every one), then any form `Uuid` reads.
    let written = <&[u8; 36]>::try_from(id.as_bytes())
        .ok()
        .and_then(fastdecode::canonical_uuid);
    Some((kind, written.or_else(|| Uuid::parse_str(id).ok())?))
}
