//! `verify` on a log longer than one page of its pass (8,192 events), tampered at the page
//! boundary and in the checks the preparing threads make (stream id) or hand to the in-order
//! one (stream revision): each is caught and placed.

mod common;

use common::*;
use folio_replay::fixtures::{FixtureOptions, generate};
use folio_store::hash::{HashInput, chain_hash};
use folio_store::{EventStore, RecordedEvent, SqliteStore};
use rusqlite::params;
use std::path::Path;

/// The first position of the pass's second page.
const SECOND_PAGE: i64 = 8_193;

/// A seeded log of a little more than 11,000 events (no read models), in a fresh directory.
async fn long_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = FixtureOptions {
        seed: 7,
        clients: 40,
        operations: 11_000,
        chunk: 8,
        start: chrono::DateTime::from_timestamp(1_788_242_400, 0).unwrap(), // 2026-09-01T06:00Z
        days: 20,
        snapshot_every: 1000,
        read_models: false,
        time_zone: chrono_tz::Tz::UTC,
    };
    let summary = generate(dir.path(), &options).await.expect("the fixtures");
    assert!(summary.events > 11_000, "{}", summary.events);
    dir
}

async fn event_at(log: &Path, position: u64) -> RecordedEvent {
    let store = SqliteStore::open(log).unwrap();
    let mut events = store.read_all(position - 1, 1).await.unwrap();
    assert_eq!(events.len(), 1);
    events.remove(0)
}

/// The first payment event at or after `from`.
fn payment_event_from(conn: &rusqlite::Connection, from: i64) -> i64 {
    conn.query_row(
        "SELECT min(global_position) FROM events \
         WHERE global_position >= ?1 AND stream_id LIKE 'payment-%'",
        [from],
        |row| row.get(0),
    )
    .unwrap()
}

fn verify(dir: &Path) -> Run {
    replay_dir(dir, &["verify", "--skip-read-models"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_untouched_log_passes() {
    let dir = long_log().await;
    let run = verify(dir.path());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("RESULT passed"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_byte_in_the_first_event_of_a_page_is_caught_there() {
    // Given a log whose second page's first event has one byte of its payload changed
    let dir = long_log().await;
    let conn = sql(&dir.path().join("events.db"));
    conn.execute(
        "UPDATE events SET payload = replace(payload, '\"', ' \"') WHERE global_position = ?1",
        [SECOND_PAGE],
    )
    .unwrap();

    // When it is verified, Then its link is reported broken at that very event
    let run = verify(dir.path());
    assert_fails_at(
        &run,
        &[
            "MISMATCH log field=hash".to_string(),
            format!("first_position={SECOND_PAGE}"),
        ],
    );
    assert!(
        !run.stdout
            .contains(&format!("first_position={}", SECOND_PAGE - 1)),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_hash_at_the_end_of_a_page_breaks_both_links() {
    // Given a log whose first page's last event has a made-up hash
    let dir = long_log().await;
    let conn = sql(&dir.path().join("events.db"));
    conn.execute(
        "UPDATE events SET hash = zeroblob(32) WHERE global_position = ?1",
        [SECOND_PAGE - 1],
    )
    .unwrap();

    // When it is verified, Then the event's own link and the next page's first link are broken
    let run = verify(dir.path());
    assert_fails_at(
        &run,
        &[
            format!("first_position={}", SECOND_PAGE - 1),
            format!("first_position={SECOND_PAGE}"),
        ],
    );
    assert_eq!(
        run.stdout.matches("field=hash").count(),
        2,
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_filed_under_another_stream_is_caught() {
    // Given a payment event past the first page moved to another payment's stream
    let dir = long_log().await;
    let conn = sql(&dir.path().join("events.db"));
    let position = payment_event_from(&conn, 9_000);
    let other = format!("payment-{}", uuid::Uuid::now_v7());
    conn.execute(
        "UPDATE events SET stream_id = ?1 WHERE global_position = ?2",
        params![other, position],
    )
    .unwrap();

    // When it is verified, Then the stream id is reported at it, naming what was found
    let run = verify(dir.path());
    assert_fails_at(
        &run,
        &[
            "field=stream_id".to_string(),
            other.clone(),
            format!("first_position={position}"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_revision_with_its_hash_recomputed_is_caught_and_names_its_stream() {
    // Given a payment event past the first page given the next revision, and a hash that
    // follows from its predecessor's (so its own link holds and its row is not kept)
    let dir = long_log().await;
    let path = dir.path().join("events.db");
    let conn = sql(&path);
    let position = payment_event_from(&conn, 9_500);
    let previous = event_at(&path, position as u64 - 1).await;
    let mut event = event_at(&path, position as u64).await;
    event.stream_revision += 1;
    let hash = chain_hash(&previous.hash, &HashInput::for_recorded(&event));
    conn.execute(
        "UPDATE events SET stream_revision = ?1, hash = ?2 WHERE global_position = ?3",
        params![event.stream_revision as i64, &hash[..], position],
    )
    .unwrap();

    // When it is verified, Then the revision is reported at it under its stream's id, and the
    // next event's link is broken
    let run = verify(dir.path());
    assert_fails_at(
        &run,
        &[
            format!(
                "MISMATCH log stream={} field=stream_revision",
                event.stream_id
            ),
            format!("found={}", event.stream_revision),
            format!("first_position={position}"),
            format!("first_position={}", position + 1),
        ],
    );
}
