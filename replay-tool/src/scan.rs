//! One pass over the log in position order: pages are read (and their hash links checked) by a
//! task of their own while the caller works on the previous page.

use crate::error::ReplayError;
use crate::progress::Progress;
use folio_store::hash::verify_link;
use folio_store::{EventStore, RecordedEvent};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events read per round trip.
pub const PAGE: usize = 16_384;

/// A page of events, each with whether its hash follows from the previous event's.
pub struct Page {
    pub events: Vec<RecordedEvent>,
    pub links_ok: Vec<bool>,
}

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Reads every event after `after` and hands each to `visit` with its link check. Returns the
/// number of events visited. A read error (a row the store cannot decode) ends the scan with it.
pub async fn scan<F>(
    log: Arc<dyn EventStore>,
    after: u64,
    progress: &mut Progress,
    mut visit: F,
) -> Result<u64, ReplayError>
where
    F: FnMut(&RecordedEvent, bool) -> Result<Flow, ReplayError>,
{
    let (pages, mut receive) = mpsc::channel::<Result<Page, ReplayError>>(3);
    let reader = tokio::spawn(read_pages(log, after, pages));
    let mut visited = 0u64;
    let mut stopped = false;
    while let Some(page) = receive.recv().await {
        let page = page?;
        for (event, link_ok) in page.events.iter().zip(page.links_ok.iter()) {
            visited += 1;
            if visit(event, *link_ok)? == Flow::Stop {
                stopped = true;
                break;
            }
        }
        if let Some(last) = page.events.last() {
            progress.set(last.global_position);
        }
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

/// The reading side: pages in order, hash links checked against the previous stored hash.
async fn read_pages(
    log: Arc<dyn EventStore>,
    after: u64,
    pages: mpsc::Sender<Result<Page, ReplayError>>,
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
        let mut links_ok = Vec::with_capacity(events.len());
        for event in &events {
            links_ok.push(verify_link(&previous, event));
            previous = event.hash;
        }
        if pages.send(Ok(Page { events, links_ok })).await.is_err() {
            return;
        }
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
