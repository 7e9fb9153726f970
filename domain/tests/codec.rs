//! The stored form of events: every type round-trips, and anything the codec does not know is an
//! error, never a guess.

use chrono::{DateTime, Utc};
use folio_domain::client::{
    Address, BusinessPartner, ClientPatch, ClientProfile, ClientType, CompanyType,
    ComplianceEvaluation, CountryGroup, FundFlows, IdentityDocument, Industry, RelatedIndividual,
    Turnover,
};
use folio_domain::codec::{self, CURRENT_SCHEMA_VERSION, DecodeError};
use folio_domain::event::{
    AccountBlocked, AccountDefaultChanged, AccountOpened, AccountRenamed, AccountReordered,
    AccountStatusChanged, ClientRegistered, ClientStatusChanged, ClientUpdated, PaymentCancelled,
    PaymentCreated, PaymentExpired, PaymentPended, PaymentPosted,
};
use folio_domain::{
    AccountEvent, AccountId, AccountStatus, AccountType, BalancePolicy, ClientEvent, ClientId,
    Currency, EventBody, Leg, PaymentEvent, PaymentId, PaymentStatus, PostedLeg,
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

fn client() -> ClientId {
    ClientId(Uuid::from_u128(9))
}

/// A company profile with every field set, nested ones included.
fn full_profile() -> ClientProfile {
    let address = Address {
        street_line1: Some("1 Main Street".into()),
        street_line2: Some("Floor 2".into()),
        city: Some("Berlin".into()),
        state: Some("BE".into()),
        zip: Some("10115".into()),
        country: Some("DE".into()),
    };
    ClientProfile {
        editor_user_id: Some(Uuid::from_u128(10)),
        onboarding_id: Some(Uuid::from_u128(11)),
        address: Some(address.clone()),
        phone_number: Some("+49 30 1234567".into()),
        email: Some("ops@example.com".into()),
        risk_level: Some(3),
        is_default_compliant: Some(true),
        company_registration_date: chrono::NaiveDate::from_ymd_opt(2019, 8, 24),
        country_of_registration: Some("DE".into()),
        tax_residency_country: Some("DE".into()),
        registration_number: Some("HRB 1234".into()),
        industry: Some(Industry::EmiOrPi),
        industry_other: Some("payments".into()),
        turnover: Some(Turnover::Bellow100KEur),
        web_site: Some("https://example.com".into()),
        tax_number: Some("DE123".into()),
        pay_ins_countries: Some(vec![CountryGroup::Uk, CountryGroup::Eea]),
        pay_outs_countries: Some(vec![CountryGroup::Other]),
        is_engaged_gambling_10k: Some(false),
        is_foundation: Some(false),
        is_publicly_listed: Some(true),
        is_relevant_activity: Some(true),
        purposes_account_opening: Some(vec![
            folio_domain::client::AccountOpeningPurpose::DepositsAndSavings,
        ]),
        purposes_account_opening_other: Some("treasury".into()),
        business_partners: Some(vec![BusinessPartner {
            name: Some("Partner GmbH".into()),
            incorporation_country_code: Some("AT".into()),
            planned_transfers_quantity_month: Some(12),
            planned_transfers_eur_volume_month: Some(dec!(15000.50)),
            additional_info: None,
            basis_partnership: Some("supplier".into()),
            website: None,
        }]),
        fund_flows: Some(FundFlows {
            planned_incoming_transfers_quantity: Some(4),
            planned_incoming_transfers_eur_volume: Some(dec!(1000)),
            planned_outbound_transfers_quantity: None,
            planned_outbound_transfers_eur_volume: Some(dec!(0.01)),
        }),
        compliance_evaluation: Some(ComplianceEvaluation {
            review_periodicity: Some("yearly".into()),
            applied_limits: None,
            additional_info: Some("ok".into()),
        }),
        custom_options: Some(serde_json::json!({"tier": "gold", "score": 0.1})),
        related_individuals: Some(vec![RelatedIndividual {
            first_name: Some("Ivan".into()),
            last_name: Some("Ivanov".into()),
            email: Some("test@local.com".into()),
            is_ubo: Some(true),
            is_pep: Some(false),
            residence_country: Some("RU".into()),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 2),
            ownership: Some(dec!(25.5)),
            document: Some(IdentityDocument {
                document_type: Some("passport".into()),
                number: Some("X123".into()),
                expiration_date: chrono::NaiveDate::from_ymd_opt(2030, 1, 1),
                ..IdentityDocument::default()
            }),
            residential_address: Some(address),
            applicant_id: Some(Uuid::from_u128(12)),
            ..RelatedIndividual::default()
        }]),
        company_type: Some(CompanyType::SoleTrader),
        ..ClientProfile::new(ClientType::Company, "Example Ltd".into())
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
        (
            "ClientRegistered",
            EventBody::Client(ClientEvent::Registered(Box::new(ClientRegistered {
                client_id: client(),
                profile: full_profile(),
            }))),
        ),
        (
            "ClientRegistered",
            EventBody::Client(ClientEvent::Registered(Box::new(ClientRegistered {
                client_id: client(),
                profile: ClientProfile::new(ClientType::Individual, "Jane Doe".into()),
            }))),
        ),
        (
            "ClientUpdated",
            EventBody::Client(ClientEvent::Updated(Box::new(ClientUpdated {
                client_id: client(),
                patch: ClientPatch {
                    legal_name: Some("Renamed Ltd".into()),
                    email: Some(None),
                    phone_number: Some(Some("+44 20 7946 0000".into())),
                    turnover: Some(Some(Turnover::Above5000KEur)),
                    ..ClientPatch::default()
                },
            }))),
        ),
        (
            "ClientBlocked",
            EventBody::Client(ClientEvent::Blocked(ClientStatusChanged {
                client_id: client(),
                reason: Some("sanctions check".into()),
            })),
        ),
        (
            "ClientUnblocked",
            EventBody::Client(ClientEvent::Unblocked(ClientStatusChanged {
                client_id: client(),
                reason: None,
            })),
        ),
        (
            "AccountDefaultChanged",
            EventBody::Account(AccountEvent::DefaultChanged(AccountDefaultChanged {
                account_id: account(),
                is_default: true,
            })),
        ),
        (
            "AccountDefaultChanged",
            EventBody::Account(AccountEvent::DefaultChanged(AccountDefaultChanged {
                account_id: other(),
                is_default: false,
            })),
        ),
        (
            "AccountReordered",
            EventBody::Account(AccountEvent::Reordered(AccountReordered {
                account_id: account(),
                order: 7,
            })),
        ),
    ]
}

#[test]
fn every_event_type_round_trips() {
    let samples = samples();
    let mut types: Vec<&str> = samples.iter().map(|(t, _)| *t).collect();
    types.dedup();
    assert_eq!(types.len(), 17, "one sample per event type");
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

#[test]
fn a_client_update_tells_a_cleared_field_from_an_untouched_one() {
    let body = &samples()
        .into_iter()
        .find(|(t, _)| *t == "ClientUpdated")
        .unwrap()
        .1;
    let (_, _, payload) = codec::encode(body);
    // Cleared: present as null. Untouched: absent.
    assert!(payload.contains(r#""email":null"#), "{payload}");
    assert!(!payload.contains("webSite"), "{payload}");
    let EventBody::Client(ClientEvent::Updated(updated)) =
        codec::decode("ClientUpdated", 1, &payload).unwrap()
    else {
        panic!("decoded to another type");
    };
    assert_eq!(updated.patch.email, Some(None));
    assert_eq!(updated.patch.web_site, None);
}

#[test]
fn client_payloads_use_the_api_field_names_and_refuse_unknown_ones() {
    let (_, _, registered) = codec::encode(&samples()[15].1);
    for name in [
        r#""type":"company""#,
        r#""legalName":"Example Ltd""#,
        r#""isEngagedGambling10K":false"#,
        r#""industry":"emiOrPi""#,
        r#""turnover":"bellow100KEur""#,
        r#""companyType":"soleTrader""#,
        r#""streetLine1":"1 Main Street""#,
        r#""plannedTransfersEurVolumeMonth":"15000.50""#,
    ] {
        assert!(
            registered.contains(name),
            "{name} missing from {registered}"
        );
    }
    // Unknown or misspelled fields, at the top and nested, are errors.
    assert_payload_error(
        "ClientRegistered",
        &registered.replace(r#""legalName""#, r#""legal_name""#),
    );
    assert_payload_error(
        "ClientRegistered",
        &registered.replace(r#""streetLine1""#, r#""street""#),
    );
    assert_payload_error(
        "ClientRegistered",
        &registered.replace(r#""emiOrPi""#, r#""banking""#),
    );
    let (_, _, blocked) = codec::encode(&samples()[18].1);
    assert_payload_error("ClientBlocked", &blocked.replace("reason", "why"));
    assert_payload_error("ClientUpdated", &blocked.replace("reason", "patch"));
}

#[test]
fn default_and_order_events_refuse_fields_they_do_not_know() {
    let id = account();
    let payload = format!(r#"{{"accountId":"{id}","isDefault":true}}"#);
    assert!(codec::decode("AccountDefaultChanged", 1, &payload).is_ok());
    let extra = format!(r#"{{"accountId":"{id}","isDefault":true,"currency":"EUR"}}"#);
    assert!(matches!(
        codec::decode("AccountDefaultChanged", 1, &extra),
        Err(DecodeError::Payload { .. })
    ));
    let extra = format!(r#"{{"accountId":"{id}","order":1,"clientId":null}}"#);
    assert!(matches!(
        codec::decode("AccountReordered", 1, &extra),
        Err(DecodeError::Payload { .. })
    ));
    let negative = format!(r#"{{"accountId":"{id}","order":-1}}"#);
    assert!(codec::decode("AccountReordered", 1, &negative).is_err());
    let (_, _, payload) = codec::encode(&EventBody::Account(AccountEvent::Reordered(
        AccountReordered {
            account_id: id,
            order: 2,
        },
    )));
    assert_eq!(payload, format!(r#"{{"accountId":"{id}","order":2}}"#));
}
