//! One pass over the log in position order, as a pipeline: one task reads pages, each page's
//! hash links are checked and its events decoded on the blocking pool (pages in parallel: a
//! page's first link needs only the previous page's last stored hash), and the caller visits
//! the events in order while the next pages are being prepared.

use crate::error::ReplayError;
use crate::progress::Progress;
use folio_domain::Event;
use folio_engine::codec::from_recorded;
use folio_store::hash::verify_link;
use folio_store::{EventStore, RecordedEvent};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Events read per round trip.
pub const PAGE: usize = 8_192;
/// Pages prepared ahead of the visitor.
const AHEAD: usize = 4;

/// One event as the visitor gets it.
pub struct Visit<'a> {
    pub record: &'a RecordedEvent,
    /// Whether its hash follows from the previous stored event's.
    pub link_ok: bool,
    /// The decoded event, or why it cannot be decoded (None when decoding was not asked for).
    pub event: Option<&'a Result<Event, String>>,
}

/// A page of events with their link checks and decoded forms.
struct Page {
    events: Vec<RecordedEvent>,
    links_ok: Vec<bool>,
    decoded: Vec<Result<Event, String>>,
}

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Reads every event after `after` and hands each to `visit`, decoded when `decode` is set.
/// Returns the number of events visited. A read error (a row the store cannot decode) ends the
/// scan with it.
pub async fn scan<F>(
    log: Arc<dyn EventStore>,
    after: u64,
    decode: bool,
    progress: &mut Progress,
    mut visit: F,
) -> Result<u64, ReplayError>
where
    F: FnMut(Visit<'_>) -> Result<Flow, ReplayError>,
{
    let (pages, mut receive) = mpsc::channel::<Result<JoinHandle<Page>, ReplayError>>(AHEAD);
    let reader = tokio::spawn(read_pages(log, after, decode, pages));
    let mut visited = 0u64;
    let mut stopped = false;
    while let Some(page) = receive.recv().await {
        let page = page?
            .await
            .map_err(|error| ReplayError::Task(error.to_string()))?;
        for (index, record) in page.events.iter().enumerate() {
            visited += 1;
            let step = Visit {
                record,
                link_ok: page.links_ok[index],
                event: page.decoded.get(index),
            };
            if visit(step)? == Flow::Stop {
                stopped = true;
                break;
            }
        }
        if let Some(last) = page.events.last() {
            progress.set(last.global_position);
        }
        // Freeing a page's many small allocations is work too: not on the visitor's thread.
        tokio::task::spawn_blocking(move || drop(page));
        if stopped {
            break;
        }
    }
    drop(receive);
    reader
        .await
        .map_err(|error| ReplayError::Task(error.to_string()))?;
    Ok(visited)
}

/// The reading side: pages in order, each handed to the blocking pool for its checks.
async fn read_pages(
    log: Arc<dyn EventStore>,
    after: u64,
    decode: bool,
    pages: mpsc::Sender<Result<JoinHandle<Page>, ReplayError>>,
) {
    let mut position = after;
    let mut previous = match previous_hash(log.as_ref(), after).await {
        Ok(hash) => hash,
        Err(error) => {
            let _ = pages.send(Err(error)).await;
            return;
        }
    };
    loop {
        let events = match log.read_all(position, PAGE).await {
            Ok(events) => events,
            Err(error) => {
                let _ = pages.send(Err(error.into())).await;
                return;
            }
        };
        let Some(last) = events.last() else { return };
        position = last.global_position;
        let first_previous = previous;
        previous = last.hash;
        let prepared = tokio::task::spawn_blocking(move || prepare(events, first_previous, decode));
        if pages.send(Ok(prepared)).await.is_err() {
            return;
        }
    }
}

/// Checks a page's links (from the stored hash before it) and decodes its events.
fn prepare(events: Vec<RecordedEvent>, mut previous: [u8; 32], decode: bool) -> Page {
    let mut links_ok = Vec::with_capacity(events.len());
    for event in &events {
        links_ok.push(verify_link(&previous, event));
        previous = event.hash;
    }
    let decoded = if decode {
        events
            .iter()
            .map(|event| from_recorded(event).map_err(|error| error.to_string()))
            .collect()
    } else {
        Vec::new()
    };
    Page {
        events,
        links_ok,
        decoded,
    }
}

/// The stored hash of the event at `position` (zeroes before the first event).
async fn previous_hash(log: &dyn EventStore, position: u64) -> Result<[u8; 32], ReplayError> {
    if position == 0 {
        return Ok([0u8; 32]);
    }
    let events = log.read_all(position - 1, 1).await?;
    Ok(events.first().map(|event| event.hash).unwrap_or([0u8; 32]))
}
