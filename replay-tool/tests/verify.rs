//! `verify` on the committed sample and on copies tampered in several ways.

mod common;

use common::*;
use folio_store::hash::{HashInput, chain_hash};
use folio_store::{RecordedEvent, SqliteStore};
use rusqlite::params;

#[test]
fn verify_passes_on_the_sample() {
    let dir = sample_copy();
    let run = replay_dir(dir.path(), &["verify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("3311 events"), "{}", run.stdout);
    assert!(run.stdout.contains("RESULT passed"), "{}", run.stdout);
}

/// Sanity of the fixtures themselves: every account's balance in the read model equals the
/// committed expected balances.
#[test]
fn the_sample_read_models_hold_the_expected_balances() {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("readmodels.balances.db"));
    for expected in expected_balances() {
        let id = uuid::Uuid::parse_str(expected["account_id"].as_str().unwrap()).unwrap();
        let (balance, held): (String, String) = conn
            .query_row(
                "SELECT balance, held FROM accounts WHERE account_id = ?1",
                params![&id.as_bytes()[..]],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(balance, expected["balance"].as_str().unwrap(), "{id}");
        assert_eq!(held, expected["held"].as_str().unwrap(), "{id}");
    }
}

#[test]
fn a_changed_byte_of_a_payload_is_caught() {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    let payload: String = conn
        .query_row(
            "SELECT payload FROM events WHERE global_position = 1500",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // One byte: the first hex digit of the payment id, changed to another hex digit.
    let at = payload.find(|c: char| c.is_ascii_hexdigit()).unwrap();
    let mut bytes = payload.into_bytes();
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(bytes).unwrap();
    conn.execute(
        "UPDATE events SET payload = ?1 WHERE global_position = 1500",
        params![tampered],
    )
    .unwrap();
    let run = replay_dir(dir.path(), &["verify"]);
    assert_fails_at(&run, &["MISMATCH log field=hash", "first_position=1500"]);
}

#[test]
fn a_changed_byte_of_an_envelope_field_is_caught() {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    conn.execute(
        "UPDATE events SET recorded_at = recorded_at + 1 WHERE global_position = 2222",
        [],
    )
    .unwrap();
    let run = replay_dir(dir.path(), &["verify", "--skip-read-models"]);
    assert_fails_at(&run, &["field=hash", "first_position=2222"]);
}

#[test]
fn a_deleted_event_is_caught() {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    conn.execute("DELETE FROM events WHERE global_position = 1234", [])
        .unwrap();
    let run = replay_dir(dir.path(), &["verify"]);
    assert_fails_at(
        &run,
        &["field=global_position expected=1234 found=1235 first_position=1235"],
    );
}

#[test]
fn a_swapped_order_is_caught() {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    // Events 2000 and 2001 trade places (their positions stay where they were).
    let columns = "stream_id, stream_revision, event_id, event_type, schema_version, \
                   recorded_at, correlation_id, causation_id, idempotency_key, payload, metadata, hash";
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE swap AS SELECT global_position, {columns} FROM events \
           WHERE global_position IN (2000, 2001);
         DELETE FROM events WHERE global_position IN (2000, 2001);
         INSERT INTO events (global_position, {columns}) \
           SELECT 4001 - global_position, {columns} FROM swap;"
    ))
    .unwrap();
    let run = replay_dir(dir.path(), &["verify"]);
    assert_fails_at(&run, &["field=hash", "first_position=2000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_amount_with_its_own_hash_recomputed_is_caught_and_placed() {
    let dir = sample_copy();
    let path = dir.path().join("events.db");
    // Find a posted single-leg transfer past the middle of the log, edit its amount and give
    // that row alone a hash that follows from its predecessor.
    let (previous, mut event): (RecordedEvent, RecordedEvent) = {
        let store = SqliteStore::open(&path).unwrap();
        let events = folio_store::EventStore::read_all(&store, 1600, 2000)
            .await
            .unwrap();
        let at = 1 + events[1..]
            .iter()
            .position(|e| {
                e.event_type == "PaymentCreated"
                    && e.payload.contains("\"status\":\"posted\"")
                    && e.payload.matches("\"debit\"").count() == 1
            })
            .expect("a posted payment");
        (events[at - 1].clone(), events[at].clone())
    };
    let position = event.global_position;
    let mut payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
    let amount: rust_decimal::Decimal = payload["legs"][0]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    payload["legs"][0]["amount"] =
        serde_json::Value::String((amount + rust_decimal::Decimal::ONE).to_string());
    event.payload = payload.to_string();
    let hash = chain_hash(&previous.hash, &HashInput::for_recorded(&event));
    let conn = sql(&path);
    conn.execute(
        "UPDATE events SET payload = ?1, hash = ?2 WHERE global_position = ?3",
        params![event.payload, &hash[..], position as i64],
    )
    .unwrap();
    let run = replay_dir(dir.path(), &["verify"]);
    // The edited row's own link holds; the next one's breaks, and the balances the read models
    // hold leave the log's exactly at the edited event.
    assert_fails_at(
        &run,
        &[
            "MISMATCH log field=hash",
            &format!("first_position={}", position + 1),
            "MISMATCH balances account=",
            "field=balance",
            &format!("first_position={position}"),
        ],
    );
}

#[test]
fn a_snapshot_that_disagrees_with_the_log_is_caught() {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    let (position, state): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT position, state FROM snapshots ORDER BY position DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the sample has a snapshot");
    let mut snapshot: serde_json::Value = serde_json::from_slice(&state).unwrap();
    let account = snapshot["accounts"][3].clone();
    let credits: rust_decimal::Decimal =
        account["creditsPosted"].as_str().unwrap().parse().unwrap();
    snapshot["accounts"][3]["creditsPosted"] =
        serde_json::Value::String((credits + rust_decimal::Decimal::TEN).to_string());
    conn.execute(
        "UPDATE snapshots SET state = ?1 WHERE position = ?2",
        params![serde_json::to_vec(&snapshot).unwrap(), position],
    )
    .unwrap();
    let run = replay_dir(dir.path(), &["verify"]);
    assert_fails_at(
        &run,
        &[
            &format!(
                "MISMATCH snapshot account={}",
                account["id"].as_str().unwrap()
            ),
            &format!("first_position={position}"),
        ],
    );
}

/// The latest snapshot's position and its decoded state, and a way to store it back.
fn latest_snapshot(conn: &rusqlite::Connection) -> (i64, serde_json::Value) {
    let (position, state): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT position, state FROM snapshots ORDER BY position DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the sample has a snapshot");
    (position, serde_json::from_slice(&state).unwrap())
}

#[test]
fn a_snapshot_with_a_changed_payment_is_caught() {
    // Given the sample whose latest snapshot has one payment's revision changed
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    let (position, mut snapshot) = latest_snapshot(&conn);
    let payments = snapshot["payments"].as_array().unwrap().len();
    let revision = snapshot["payments"][payments / 2]["revision"]
        .as_u64()
        .unwrap();
    snapshot["payments"][payments / 2]["revision"] = (revision + 1).into();
    conn.execute(
        "UPDATE snapshots SET state = ?1 WHERE position = ?2",
        params![serde_json::to_vec(&snapshot).unwrap(), position],
    )
    .unwrap();

    // When it is verified, Then the snapshot is reported at its position
    let run = replay_dir(dir.path(), &["verify"]);
    assert_fails_at(
        &run,
        &[
            "MISMATCH snapshot field=payments/clients/idempotency",
            &format!("first_position={position}"),
        ],
    );
}

#[test]
fn a_snapshot_that_does_not_decode_is_reported() {
    // Given the sample whose latest snapshot is cut short
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    let (position, snapshot) = latest_snapshot(&conn);
    let bytes = serde_json::to_vec(&snapshot).unwrap();
    conn.execute(
        "UPDATE snapshots SET state = ?1 WHERE position = ?2",
        params![&bytes[..bytes.len() / 2], position],
    )
    .unwrap();

    // When it is verified, Then the snapshot is reported as undecodable, first
    let run = replay_dir(dir.path(), &["verify", "--skip-read-models"]);
    assert_fails_at(
        &run,
        &[
            "MISMATCH snapshot field=state expected=a decodable ledger snapshot",
            &format!("first_position={position}"),
        ],
    );
}

#[test]
fn a_snapshot_past_the_head_is_reported() {
    // Given the sample whose latest snapshot claims a position past the log's head
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    let (position, _) = latest_snapshot(&conn);
    conn.execute(
        "UPDATE snapshots SET position = ?1 WHERE position = ?2",
        params![position + 1000, position],
    )
    .unwrap();

    // When it is verified, Then its position is reported
    let run = replay_dir(dir.path(), &["verify", "--skip-read-models"]);
    assert_fails_at(
        &run,
        &[
            "MISMATCH snapshot field=position",
            &format!("found={}", position + 1000),
        ],
    );
}

/// Stores the sample's latest snapshot again in the binary form the engine now writes, with
/// `edit` applied to its JSON first; returns its position.
fn store_latest_as_binary(
    conn: &rusqlite::Connection,
    edit: impl FnOnce(&mut serde_json::Value),
) -> i64 {
    let (position, mut snapshot) = latest_snapshot(conn);
    edit(&mut snapshot);
    let state: folio_domain::LedgerSnapshot = serde_json::from_value(snapshot).unwrap();
    let bytes = state.to_bytes().unwrap();
    assert_eq!(
        folio_domain::LedgerSnapshot::payments_in(&bytes),
        Some(state.payments().len() as u64)
    );
    conn.execute(
        "UPDATE snapshots SET state = ?1 WHERE position = ?2",
        params![bytes, position],
    )
    .unwrap();
    position
}

#[test]
fn verify_passes_on_a_snapshot_in_the_binary_form() {
    // Given the sample whose latest snapshot is stored as the engine now stores snapshots
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    store_latest_as_binary(&conn, |_| {});

    // When it is verified, Then it passes
    let run = replay_dir(dir.path(), &["verify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("RESULT passed"), "{}", run.stdout);
}

/// Stores the sample's latest snapshot in the binary form with `edit` applied, and checks that
/// `verify` reports the snapshot as a different state at its position.
fn assert_binary_edit_caught(edit: impl FnOnce(&mut serde_json::Value)) {
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    let position = store_latest_as_binary(&conn, edit);
    let run = replay_dir(dir.path(), &["verify", "--skip-read-models"]);
    assert_fails_at(
        &run,
        &[
            "MISMATCH snapshot field=payments/clients/idempotency",
            &format!("first_position={position}"),
        ],
    );
}

#[test]
fn a_binary_snapshot_with_a_changed_payment_is_caught() {
    // Given the sample's latest snapshot in the binary form, one payment's revision changed
    assert_binary_edit_caught(|snapshot| {
        let payments = snapshot["payments"].as_array().unwrap().len();
        let revision = snapshot["payments"][payments / 3]["revision"]
            .as_u64()
            .unwrap();
        snapshot["payments"][payments / 3]["revision"] = (revision + 1).into();
    });
}

#[test]
fn a_binary_snapshot_cut_short_is_reported() {
    // Given the sample's latest snapshot in the binary form, its last byte cut off
    let dir = sample_copy();
    let conn = sql(&dir.path().join("events.db"));
    let position = store_latest_as_binary(&conn, |_| {});
    conn.execute(
        "UPDATE snapshots SET state = substr(state, 1, length(state) - 1) WHERE position = ?1",
        params![position],
    )
    .unwrap();

    // When it is verified, Then the snapshot is reported as undecodable
    let run = replay_dir(dir.path(), &["verify", "--skip-read-models"]);
    assert_fails_at(
        &run,
        &[
            "MISMATCH snapshot field=state expected=a decodable ledger snapshot",
            &format!("first_position={position}"),
        ],
    );
}

#[test]
fn a_binary_snapshot_with_a_changed_idempotency_record_is_caught() {
    // Given the sample's latest snapshot in the binary form, one idempotency record's
    // fingerprint changed in its JSON part
    assert_binary_edit_caught(|snapshot| {
        let records = snapshot["idempotency"].as_array().unwrap().len();
        assert!(records > 0, "the sample keeps idempotency records");
        snapshot["idempotency"][records / 2][1]["fingerprint"] = "0000".into();
    });
}
