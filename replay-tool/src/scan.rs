//! One pass over the log in position order, as a pipeline: the log is cut into ranges of
//! positions, each range is read (from SQLite straight into a page's two buffers, on a
//! connection of its own), hash-checked and decoded on the blocking pool, several ranges at once,
//! and the caller visits the events in order while the next ranges are being prepared.

use crate::error::ReplayError;
use crate::fastdecode;
use crate::page::{Page, Row};
use crate::progress::Progress;
use crate::source::LogReader;
use folio_domain::Event;
use folio_engine::codec::with_envelope;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Positions per range (one page).
pub const PAGE: u64 = 8_192;
/// Pages prepared ahead of the visitor.
const AHEAD: usize = 4;

/// One event as the visitor gets it.
pub struct Visit<'a> {
    pub record: Row<'a>,
    /// Whether its hash follows from the previous stored event's.
    pub link_ok: bool,
    /// The decoded event, or why it cannot be decoded (None when decoding was not asked for).
    pub event: Option<&'a Result<Event, String>>,
}

/// A page of events with their link checks and decoded forms.
struct Prepared {
    page: Page,
    /// Whether each row follows the row before it in the page (the first row's link needs the
    /// previous page: the visitor checks it).
    links_ok: Vec<bool>,
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
        let prepared = preparing
            .await
            .map_err(|error| ReplayError::Task(error.to_string()))??;
        for (index, record) in prepared.page.rows().enumerate() {
            visited += 1;
            let link_ok = if index == 0 {
                record.follows(&previous)
            } else {
                prepared.links_ok[index]
            };
            previous = *record.hash;
            let step = Visit {
                record,
                link_ok,
                event: prepared.decoded.get(index),
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

/// Checks the links inside a page and decodes its events.
fn prepare(page: Page, decode: bool) -> Prepared {
    let mut links_ok = Vec::with_capacity(page.len());
    let mut decoded = Vec::with_capacity(if decode { page.len() } else { 0 });
    let mut previous: Option<&[u8; 32]> = None;
    for row in page.rows() {
        links_ok.push(previous.is_none_or(|previous| row.follows(previous)));
        previous = Some(row.hash);
        if decode {
            // What `from_parts` gives, with the payment events' bodies read sooner.
            let event =
                fastdecode::decode(row.event_type, row.schema_version, row.payload).map(|body| {
                    with_envelope(body, row.stream_revision, row.idempotency_key, row.metadata)
                });
            decoded.push(event.map_err(|error| error.to_string()));
        }
    }
    Prepared {
        page,
        links_ok,
        decoded,
    }
}
