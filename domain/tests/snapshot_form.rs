//! The snapshot's stored form: binary payment records beside JSON for the rest. Every snapshot
//! must read back exactly (decimal scales and sub-second expiries included), snapshots written
//! as one JSON document before this form must still read, and damaged bytes must be refused
//! with an error, never a panic or a different state.

use folio_domain::{DigestKey, Ledger, LedgerSnapshot, SnapshotError, StoredSnapshot};
use proptest::prelude::*;
use serde_json::{Value, json};

fn uuid(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

fn leg(debit: u128, credit: u128, amount: &str, currency: &str) -> Value {
    json!({"debit": uuid(debit), "credit": uuid(credit), "amount": amount, "currency": currency})
}

/// A snapshot with a payment in every status, several legs, currencies of 0, 2 and 3 minor
/// units, amounts whose scale matters (`1.10` is not written `1.1`), an expiry with
/// nanoseconds and one in a leap second, and the other lists filled.
fn rich_snapshot() -> LedgerSnapshot {
    let value = json!({
        "accounts": [{
            "id": uuid(1), "number": "FL1", "clientId": uuid(100), "currency": "EUR",
            "accountType": "current", "status": "active", "name": "main",
            "policy": {"allowNegative": false, "overdraftLimit": "0"},
            "debitsPending": "1.10", "debitsPosted": "0", "creditsPending": "0",
            "creditsPosted": "250.00", "isDefault": true, "order": 0, "revision": 4
        }],
        "payments": [
            {"id": uuid(10), "status": "draft", "legs": [leg(1, 2, "1.10", "EUR")],
             "expiresAt": null, "revision": 0},
            {"id": uuid(11), "status": "pending",
             "legs": [leg(1, 2, "1.10", "EUR"), leg(3, 4, "7", "JPY"), leg(5, 6, "0.125", "BHD")],
             "expiresAt": "2026-11-25T04:05:06.123456789Z", "revision": 1},
            {"id": uuid(12), "status": "posted", "legs": [], "expiresAt": null, "revision": 1},
            {"id": uuid(13), "status": "cancelled", "legs": [], "expiresAt": null,
             "revision": 2},
            {"id": uuid(14), "status": "expired", "legs": [], "expiresAt": null,
             "revision": 18446744073709551615u64},
            {"id": uuid(16), "status": "pending", "legs": [leg(1, 2, "2", "EUR")],
             "expiresAt": "2016-12-31T23:59:60.5Z", "revision": 0},
            {"id": uuid(15), "status": "pending",
             "legs": [leg(1, 2, "79228162514264337593543950335", "EUR"),
                      leg(2, 1, "0.0000000000000000000000000001", "EUR")],
             "expiresAt": "1970-01-01T00:00:00Z", "revision": 3}
        ],
        "idempotency": [["key-1", {"fingerprint": "ab", "receipt": {"entity": "payment", "id": uuid(10)}}]],
        "clients": [], "transfers": [], "documents": [], "recipients": [], "confirmations": []
    });
    serde_json::from_value(value).expect("a valid snapshot")
}

/// The exact JSON of a snapshot: `Decimal`'s equality ignores scale, its JSON does not.
fn exact(snapshot: &LedgerSnapshot) -> String {
    serde_json::to_string(snapshot).expect("serializes")
}

#[test]
fn a_snapshot_reads_back_exactly_from_its_stored_form() {
    // Given a snapshot with every kind of payment
    let snapshot = rich_snapshot();

    // When it is stored and read back
    let bytes = snapshot.to_bytes().unwrap();
    let read = LedgerSnapshot::from_bytes(&bytes).unwrap();

    // Then it is the same snapshot, to the last digit and nanosecond
    assert_eq!(exact(&read), exact(&snapshot));
    assert_eq!(read, snapshot);
    // And its first bytes say how many payments it holds
    assert_eq!(
        LedgerSnapshot::payments_in(&bytes[..LedgerSnapshot::HEADER_BYTES]),
        Some(7)
    );
}

#[test]
fn a_snapshot_stored_as_json_before_the_binary_form_still_reads() {
    // Given a snapshot as older versions stored it: one JSON document
    let snapshot = rich_snapshot();
    let json = serde_json::to_vec(&snapshot).unwrap();

    // When it is read, Then it is the same snapshot, and it does not claim a payment count
    let read = LedgerSnapshot::from_bytes(&json).unwrap();
    assert_eq!(exact(&read), exact(&snapshot));
    assert_eq!(LedgerSnapshot::payments_in(&json), None);
}

#[test]
fn settled_payments_take_a_fraction_of_their_json_size() {
    // Given 1,000 posted payments (a settled payment keeps only its id, status and revision)
    let payments: Vec<Value> = (0..1_000u128)
        .map(|n| json!({"id": uuid(n), "status": "posted", "legs": [], "expiresAt": null, "revision": 1}))
        .collect();
    let snapshot: LedgerSnapshot = serde_json::from_value(json!({
        "accounts": [], "payments": payments, "idempotency": []
    }))
    .unwrap();

    // Then each takes 27 bytes stored, against over 100 as JSON
    let stored = snapshot.to_bytes().unwrap().len();
    let as_json = serde_json::to_vec(&snapshot).unwrap().len();
    assert!(stored < 28 * 1_000 + 200, "{stored}");
    assert!(as_json > 100 * 1_000, "{as_json}");
}

#[test]
fn every_cut_of_the_stored_form_is_refused() {
    // Given a stored snapshot
    let bytes = rich_snapshot().to_bytes().unwrap();

    // When it is cut short anywhere, Then it does not read (an error, not a panic)
    for len in 0..bytes.len() {
        assert!(
            LedgerSnapshot::from_bytes(&bytes[..len]).is_err(),
            "cut at {len} of {}",
            bytes.len()
        );
    }
    // And bytes after its payments are refused too
    let mut longer = bytes.clone();
    longer.push(0);
    let error = LedgerSnapshot::from_bytes(&longer).unwrap_err();
    assert!(
        error.to_string().contains("1 bytes after the payments"),
        "{error}"
    );
}

/// Where the first payment record starts in `bytes`.
fn first_record(bytes: &[u8]) -> usize {
    let rest_len = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
    24 + rest_len
}

#[test]
fn damaged_records_are_refused_with_the_offset_of_the_field() {
    let bytes = rich_snapshot().to_bytes().unwrap();
    let first = first_record(&bytes);
    let damaged = |at: usize, byte: u8| {
        let mut copy = bytes.clone();
        copy[at] = byte;
        match LedgerSnapshot::from_bytes(&copy) {
            Err(SnapshotError::Binary { offset, reason }) => (offset, reason),
            other => panic!("damage at {at} read as {other:?}"),
        }
    };
    let in_first = |reason: &str| format!("payment record 0 (from offset {first}): {reason}");
    // The first payment (a draft with one EUR leg): id 16, status 1, revision 8, expiry flag 1,
    // legs 1, then debit 16, credit 16, amount 16, currency 3.
    let status = first + 16;
    assert_eq!(damaged(status, 9), (status, in_first("status 9")));
    let expiry = status + 1 + 8;
    assert_eq!(damaged(expiry, 2), (expiry, in_first("expiry flag 2")));
    let amount = expiry + 1 + 1 + 32;
    let (offset, reason) = damaged(amount + 2, 29); // scale 29
    assert_eq!(offset, amount);
    assert!(reason.starts_with(&in_first("amount flags")), "{reason}");
    let (_, reason) = damaged(amount, 1); // a stray flag bit
    assert!(reason.starts_with(&in_first("amount flags")), "{reason}");
    let currency = amount + 16;
    let (offset, reason) = damaged(currency, b'X'); // "XUR"
    assert_eq!(offset, currency);
    assert!(reason.starts_with(&in_first("currency")), "{reason}");
}

#[test]
fn a_newer_form_or_a_header_cut_short_is_named_not_read_as_json() {
    let bytes = rich_snapshot().to_bytes().unwrap();
    // A form version this build does not know
    let mut newer = bytes.clone();
    newer[7] = 3;
    let error = LedgerSnapshot::from_bytes(&newer).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("form version 3, this build reads version 2"),
        "{error}"
    );
    // A header cut inside its name is still the binary form, cut short
    for len in 1..8 {
        let error = LedgerSnapshot::from_bytes(&bytes[..len]).unwrap_err();
        assert!(
            matches!(error, SnapshotError::Binary { .. }),
            "{len}: {error}"
        );
    }
}

#[test]
fn a_payment_count_the_bytes_cannot_hold_is_refused_before_any_room_is_made() {
    // Given a stored snapshot whose header claims 2^60 payments
    let mut bytes = rich_snapshot().to_bytes().unwrap();
    bytes[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());

    // Then it is refused (no attempt to reserve room for them)
    let error = LedgerSnapshot::from_bytes(&bytes).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("the header claims {} payments", 1u64 << 60)),
        "{error}"
    );
}

#[test]
fn payments_inside_the_json_part_are_refused() {
    // Given a stored snapshot whose JSON part was edited to carry a payment of its own
    let snapshot = rich_snapshot();
    let bytes = snapshot.to_bytes().unwrap();
    let first = first_record(&bytes);
    let mut rest: Value = serde_json::from_slice(&bytes[24..first]).unwrap();
    rest["payments"] = serde_json::to_value(snapshot.payments()).unwrap();
    let rest = serde_json::to_vec(&rest).unwrap();
    let mut edited = bytes[..16].to_vec();
    edited.extend_from_slice(&(rest.len() as u64).to_le_bytes());
    edited.extend_from_slice(&rest);
    edited.extend_from_slice(&bytes[first..]);

    // Then it does not read
    let error = LedgerSnapshot::from_bytes(&edited).unwrap_err();
    assert!(
        error.to_string().contains("inside the JSON part"),
        "{error}"
    );
}

fn amount() -> impl Strategy<Value = String> {
    (any::<i64>(), 0u32..=28)
        .prop_map(|(mantissa, scale)| rust_decimal::Decimal::new(mantissa, scale).to_string())
}

fn payment() -> impl Strategy<Value = Value> {
    let status = prop_oneof![
        Just("draft"),
        Just("pending"),
        Just("posted"),
        Just("cancelled"),
        Just("expired")
    ];
    let currency = prop_oneof![Just("EUR"), Just("JPY"), Just("BHD"), Just("USD")];
    let legs = prop::collection::vec((any::<u128>(), any::<u128>(), amount(), currency), 0..4);
    let expiry = prop::option::of((0i64..4_000_000_000, 0u32..1_000_000_000));
    (any::<u128>(), status, legs, expiry, any::<u64>()).prop_map(
        |(id, status, legs, expiry, revision)| {
            let legs: Vec<Value> = legs
                .into_iter()
                .map(|(debit, credit, amount, currency)| leg(debit, credit, &amount, currency))
                .collect();
            let expires_at = expiry.map(|(seconds, nanos)| {
                chrono::DateTime::from_timestamp(seconds, nanos)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            });
            json!({"id": uuid(id), "status": status, "legs": legs, "expiresAt": expires_at,
                   "revision": revision})
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_snapshot_reads_back_exactly(payments in prop::collection::vec(payment(), 0..20)) {
        let snapshot: LedgerSnapshot = serde_json::from_value(json!({
            "accounts": [], "payments": payments, "idempotency": []
        })).unwrap();
        let bytes = snapshot.to_bytes().unwrap();
        let read = LedgerSnapshot::from_bytes(&bytes).unwrap();
        prop_assert_eq!(exact(&read), exact(&snapshot));
        prop_assert_eq!(
            LedgerSnapshot::payments_in(&bytes),
            Some(snapshot.payments().len() as u64)
        );
        prop_assert!(Ledger::from_snapshot(read) == Ledger::from_snapshot(snapshot));
    }

    #[test]
    fn a_changed_record_byte_is_refused_or_reads_as_exactly_those_bytes(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        // Given a stored snapshot with one byte of its payment records changed
        let mut bytes = rich_snapshot().to_bytes().unwrap();
        let first = first_record(&bytes);
        let at = first + at.index(bytes.len() - first);
        bytes[at] = byte;
        // Then it is refused, or it reads as a snapshot that stores back to the very same bytes
        // (the form has one spelling per state, so `verify` sees any change that decodes)
        if let Ok(read) = LedgerSnapshot::from_bytes(&bytes) {
            prop_assert_eq!(read.to_bytes().unwrap(), bytes);
        }
    }
}

/// A ledger of `count` posted payments and one pending, and its snapshot's stored bytes.
fn ledger_of(count: u128) -> (Ledger, Vec<u8>) {
    let mut payments: Vec<Value> = (0..count)
        .map(|n| json!({"id": uuid(n << 64), "status": "posted", "legs": [], "expiresAt": null, "revision": 1}))
        .collect();
    payments.push(json!({"id": uuid(u128::MAX), "status": "pending",
        "legs": [leg(1, 2, "3.50", "EUR")], "expiresAt": "2026-11-25T04:05:06.123456789Z",
        "revision": 0}));
    let snapshot: LedgerSnapshot = serde_json::from_value(json!({
        "accounts": [], "payments": payments, "idempotency": []
    }))
    .unwrap();
    let ledger = Ledger::from_snapshot(snapshot);
    let bytes = ledger.to_snapshot().to_bytes().unwrap();
    (ledger, bytes)
}

/// Posted payments' records are 27 bytes: id 16, status 1, revision 8, expiry flag, legs.
const SETTLED_RECORD: usize = 27;

fn matches(ledger: &Ledger, bytes: Vec<u8>) -> Result<bool, SnapshotError> {
    // Any key will do for a test: what is under test is the comparison, not the key's secrecy.
    ledger.matches_stored(&StoredSnapshot::open(bytes, 0)?, DigestKey([7; 16]))
}

#[test]
fn a_stored_snapshot_is_compared_in_place_small_and_large() {
    // 1,000 payments are compared on one thread, 70,000 on two
    for count in [1_000u128, 70_000] {
        // Given a ledger and its stored snapshot
        let (ledger, bytes) = ledger_of(count);
        let first = first_record(&bytes);

        // Then it matches, as the decoded snapshot does
        assert!(matches(&ledger, bytes.clone()).unwrap(), "{count}");
        let decoded = LedgerSnapshot::from_bytes(&bytes).unwrap();
        assert!(ledger.matches_snapshot(&decoded));

        // A changed revision anywhere does not
        for index in [0, count as usize / 2, count as usize - 1] {
            let mut changed = bytes.clone();
            changed[first + index * SETTLED_RECORD + 17] ^= 1;
            assert!(!matches(&ledger, changed).unwrap(), "{count} {index}");
        }
        // Nor a changed status (posted → cancelled)
        let mut cancelled = bytes.clone();
        cancelled[first + 16] = 3;
        assert!(!matches(&ledger, cancelled).unwrap(), "{count}");

        // Two records swapped (ids no longer ascending): it still holds the same payments
        let mut swapped = bytes.clone();
        let (a, b) = (first, first + SETTLED_RECORD);
        let record_a = swapped[a..b].to_vec();
        let record_b = swapped[b..b + SETTLED_RECORD].to_vec();
        swapped[a..b].copy_from_slice(&record_b);
        swapped[b..b + SETTLED_RECORD].copy_from_slice(&record_a);
        assert!(matches(&ledger, swapped).unwrap(), "{count}");

        // One payment twice in place of another: not the ledger's payments
        let mut doubled = bytes.clone();
        doubled[b..b + SETTLED_RECORD].copy_from_slice(&record_a);
        assert!(!matches(&ledger, doubled).unwrap(), "{count}");

        // Any change to the pending payment's expiry, legs or amount (its scale included:
        // 3.5 equals 3.50 as a number, but it is not what the ledger holds) does not match
        let pending = first + count as usize * SETTLED_RECORD;
        let (nanos, debit, amount, currency) =
            (pending + 34, pending + 39, pending + 71, pending + 87);
        let edits: [(&str, usize, Vec<u8>); 4] = [
            ("expiry nanos", nanos, vec![bytes[nanos] ^ 1]),
            ("debit account", debit, vec![bytes[debit] ^ 1]),
            (
                "amount scale",
                amount,
                rust_decimal::Decimal::new(35, 1).serialize().to_vec(),
            ),
            ("currency", currency, b"USD".to_vec()),
        ];
        for (what, at, new) in edits {
            let mut changed = bytes.clone();
            changed[at..at + new.len()].copy_from_slice(&new);
            let read = LedgerSnapshot::from_bytes(&changed).unwrap();
            assert_ne!(exact(&read), exact(&decoded), "{what}");
            assert!(!matches(&ledger, changed).unwrap(), "{count} {what}");
        }

        // A record that does not decode is an error, not an answer
        let mut broken = bytes.clone();
        broken[first + (count as usize / 2) * SETTLED_RECORD + 16] = 7;
        assert!(matches!(
            matches(&ledger, broken),
            Err(SnapshotError::Binary { .. })
        ));
    }
}

#[test]
fn a_stored_snapshot_missing_a_payment_does_not_match() {
    // Given the snapshot of a ledger with one more payment than another ledger
    let (smaller, _) = ledger_of(99);
    let (_, bytes) = ledger_of(100);
    // Then neither matches the other's
    assert!(!matches(&smaller, bytes).unwrap());
    let (larger, _) = ledger_of(100);
    let (_, bytes) = ledger_of(99);
    assert!(!matches(&larger, bytes).unwrap());
}

#[test]
fn a_json_snapshot_is_compared_as_before() {
    let (ledger, bytes) = ledger_of(500);
    let snapshot = LedgerSnapshot::from_bytes(&bytes).unwrap();
    let json = serde_json::to_vec(&snapshot).unwrap();
    assert!(matches(&ledger, json).unwrap());
    let (other, _) = ledger_of(501);
    assert!(!matches(&other, serde_json::to_vec(&snapshot).unwrap()).unwrap());
}
