//! The stored form of events: every type round-trips, and anything the codec does not know is an
//! error, never a guess.

use chrono::{DateTime, Utc};
use folio_domain::codec::{self, CURRENT_SCHEMA_VERSION, DecodeError};
use folio_domain::event::{
    AccountBlocked, AccountOpened, AccountRenamed, AccountStatusChanged, PaymentCancelled,
    PaymentCreated, PaymentExpired, PaymentPended, PaymentPosted,
};
use folio_domain::{
    AccountEvent, AccountId, AccountStatus, AccountType, BalancePolicy, ClientId, Currency,
    EventBody, Leg, PaymentEvent, PaymentId, PaymentStatus, PostedLeg,
};
use rust_decimal_macros::dec;
use uuid::Uuid;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + seconds, 123_000_000).unwrap()
}

fn account() -> AccountId {
    AccountId(Uuid::from_u128(1))
}

fn other() -> AccountId {
    AccountId(Uuid::from_u128(2))
}

fn payment() -> PaymentId {
    PaymentId(Uuid::from_u128(3))
}

fn leg() -> Leg {
    Leg {
        debit: account(),
        credit: other(),
        amount: dec!(10.25),
        currency: Currency::from_code("EUR").unwrap(),
    }
}

fn bhd_leg() -> Leg {
    Leg {
        debit: other(),
        credit: account(),
        amount: dec!(0.125),
        currency: Currency::from_code("BHD").unwrap(),
    }
}

/// One event of every type, with its stored type name; optional fields both set and unset.
fn samples() -> Vec<(&'static str, EventBody)> {
    let opened = AccountOpened {
        account_id: account(),
        number: "FL0000000001".to_string(),
        client_id: Some(ClientId(Uuid::from_u128(9))),
        currency: Currency::from_code("JPY").unwrap(),
        account_type: AccountType::Savings,
        status: AccountStatus::Inactive,
        name: Some("Ünïcode \"quoted\" name".to_string()),
        policy: BalancePolicy::for_type(AccountType::Savings, dec!(500)),
    };
    let internal = AccountOpened {
        client_id: None,
        name: None,
        account_type: AccountType::FxPosition,
        policy: BalancePolicy::for_type(AccountType::FxPosition, dec!(0)),
        ..opened.clone()
    };
    let created = PaymentCreated {
        payment_id: payment(),
        status: PaymentStatus::Pending,
        legs: vec![leg(), bhd_leg()],
        description: Some("rent".to_string()),
        external_id: Some("ext-1".to_string()),
        metadata: Some(serde_json::json!({"invoice": 42, "rate": 1.0876, "tags": ["a"]})),
        expires_at: Some(at(60)),
    };
    let bare = PaymentCreated {
        status: PaymentStatus::Posted,
        legs: vec![leg()],
        description: None,
        external_id: None,
        metadata: None,
        expires_at: None,
        ..created.clone()
    };
    let status = AccountStatusChanged {
        account_id: account(),
    };
    use AccountEvent as A;
    use EventBody::{Account, Payment};
    use PaymentEvent as P;
    vec![
        ("AccountOpened", Account(A::Opened(opened))),
        ("AccountOpened", Account(A::Opened(internal))),
        (
            "AccountRenamed",
            Account(A::Renamed(AccountRenamed {
                account_id: account(),
                name: Some("new".to_string()),
            })),
        ),
        (
            "AccountRenamed",
            Account(A::Renamed(AccountRenamed {
                account_id: account(),
                name: None,
            })),
        ),
        ("AccountActivated", Account(A::Activated(status.clone()))),
        (
            "AccountBlocked",
            Account(A::Blocked(AccountBlocked {
                account_id: account(),
                reason: Some("fraud".to_string()),
            })),
        ),
        ("AccountUnblocked", Account(A::Unblocked(status.clone()))),
        ("AccountClosed", Account(A::Closed(status))),
        ("PaymentCreated", Payment(P::Created(created))),
        ("PaymentCreated", Payment(P::Created(bare))),
        (
            "PaymentPended",
            Payment(P::Pended(PaymentPended {
                payment_id: payment(),
                legs: vec![leg()],
                expires_at: Some(at(90)),
            })),
        ),
        (
            "PaymentPosted",
            Payment(P::Posted(PaymentPosted {
                payment_id: payment(),
                legs: vec![PostedLeg {
                    debit: account(),
                    credit: other(),
                    currency: Currency::from_code("EUR").unwrap(),
                    held: dec!(10.25),
                    posted: dec!(7.5),
                }],
            })),
        ),
        (
            "PaymentCancelled",
            Payment(P::Cancelled(PaymentCancelled {
                payment_id: payment(),
                released: vec![leg()],
                reason: Some("changed mind".to_string()),
            })),
        ),
        (
            "PaymentCancelled",
            Payment(P::Cancelled(PaymentCancelled {
                payment_id: payment(),
                released: vec![],
                reason: None,
            })),
        ),
        (
            "PaymentExpired",
            Payment(P::Expired(PaymentExpired {
                payment_id: payment(),
                released: vec![leg(), bhd_leg()],
            })),
        ),
    ]
}

#[test]
fn every_event_type_round_trips() {
    let samples = samples();
    let mut types: Vec<&str> = samples.iter().map(|(t, _)| *t).collect();
    types.dedup();
    assert_eq!(types.len(), 11, "one sample per event type");
    for (expected_type, body) in samples {
        let (event_type, version, payload) = codec::encode(&body);
        assert_eq!(event_type, expected_type);
        assert_eq!(codec::event_type(&body), expected_type);
        assert_eq!(version, CURRENT_SCHEMA_VERSION);
        assert_eq!(version, 1);
        let decoded = codec::decode(event_type, version, &payload)
            .unwrap_or_else(|err| panic!("{event_type} does not decode: {err}\n{payload}"));
        assert_eq!(decoded, body, "{event_type}");
        // Encoding is deterministic: the hash chain depends on it.
        assert_eq!(codec::encode(&decoded).2, payload);
    }
}

#[test]
fn money_is_stored_as_exact_decimal_strings() {
    let (_, _, payload) = codec::encode(&samples()[8].1);
    assert!(payload.contains(r#""amount":"10.25""#), "{payload}");
    assert!(payload.contains(r#""amount":"0.125""#), "{payload}");
    assert!(payload.contains(r#""currency":"BHD""#), "{payload}");
    // An amount stored as a JSON number is decoded exactly too (no float on the way).
    let number_payload = payload.replace(r#""amount":"10.25""#, r#""amount":10.25"#);
    let decoded = codec::decode("PaymentCreated", 1, &number_payload).unwrap();
    let EventBody::Payment(PaymentEvent::Created(created)) = decoded else {
        panic!("decoded to another type");
    };
    assert_eq!(created.legs[0].amount, dec!(10.25));
}

#[test]
fn metadata_numbers_round_trip_exactly() {
    // Client metadata is opaque: whatever number came in must come back bit for bit, or a
    // re-encoded event no longer matches its hash.
    for rate in [
        994.1414234139935_f64,
        105.00455722256841,
        1.9477003958951618e-169,
        0.1,
    ] {
        let body = EventBody::Payment(PaymentEvent::Created(PaymentCreated {
            payment_id: payment(),
            status: PaymentStatus::Draft,
            legs: vec![leg()],
            description: None,
            external_id: None,
            metadata: Some(serde_json::json!({ "rate": rate })),
            expires_at: None,
        }));
        let (event_type, version, payload) = codec::encode(&body);
        let decoded = codec::decode(event_type, version, &payload).unwrap();
        assert_eq!(decoded, body, "{rate:e} became {payload}");
    }
}

#[test]
fn an_unknown_event_type_is_an_error() {
    let (_, _, payload) = codec::encode(&samples()[0].1);
    for unknown in ["AccountDeleted", "accountOpened", ""] {
        match codec::decode(unknown, 1, &payload) {
            Err(DecodeError::UnknownType(name)) => assert_eq!(name, unknown),
            other => panic!("{unknown:?} decoded as {other:?}"),
        }
    }
}

#[test]
fn an_unknown_schema_version_is_an_error() {
    for (event_type, body) in samples() {
        let (_, _, payload) = codec::encode(&body);
        for version in [0, 2, u16::MAX] {
            match codec::decode(event_type, version, &payload) {
                Err(err @ DecodeError::UnknownVersion { .. }) => {
                    let message = err.to_string();
                    assert!(message.contains(event_type), "{message}");
                    assert!(message.contains(&version.to_string()), "{message}");
                }
                other => panic!("{event_type} v{version} decoded as {other:?}"),
            }
        }
    }
}

fn assert_payload_error(event_type: &str, payload: &str) {
    match codec::decode(event_type, 1, payload) {
        Err(err @ DecodeError::Payload { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains(event_type),
                "the error names the type: {message}"
            );
        }
        other => panic!("{event_type} {payload} decoded as {other:?}"),
    }
}

#[test]
fn a_payload_with_a_wrong_field_is_an_error_naming_the_type() {
    let (_, _, opened) = codec::encode(&samples()[0].1);
    let (_, _, created) = codec::encode(&samples()[8].1);
    // A field of the wrong type or value.
    assert_payload_error("AccountOpened", &opened.replace(r#""JPY""#, r#""XXX""#));
    assert_payload_error(
        "AccountOpened",
        &opened.replace(r#""savings""#, r#""checking""#),
    );
    assert_payload_error("PaymentCreated", &created.replace(r#""10.25""#, r#""ten""#));
    assert_payload_error("PaymentCreated", &created.replace(r#""pending""#, r#"7"#));
    assert_payload_error(
        "PaymentCreated",
        &created.replace(&Uuid::from_u128(3).to_string(), "not-a-uuid"),
    );
    // A required field missing or misspelled.
    assert_payload_error(
        "AccountOpened",
        &opened.replace(r#""number""#, r#""numbr""#),
    );
    assert_payload_error("PaymentCreated", &created.replace(r#""legs""#, r#""leg""#));
    // An optional field misspelled must not silently decode as absent.
    assert_payload_error(
        "PaymentCreated",
        &created.replace(r#""expiresAt""#, r#""expires_at""#),
    );
    assert_payload_error(
        "PaymentPended",
        r#"{"paymentId":"00000000-0000-0000-0000-000000000003","legs":[],"expiry":"2025-06-15T15:07:30Z"}"#,
    );
    // Another type's payload, and no JSON at all.
    assert_payload_error("PaymentCreated", &opened);
    assert_payload_error("AccountClosed", "");
    assert_payload_error("AccountClosed", "{");
    assert_payload_error("AccountClosed", "[]");
}
