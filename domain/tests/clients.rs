//! Client rules, one scenario each, written against API.md §2.2 and the README's domain section:
//! *given* a history of events, *when* a command arrives, *then* these events are recorded — or
//! the command is refused with this code and the ledger is left exactly as it was.

use chrono::{DateTime, Utc};
use folio_domain::client::{Address, ClientStatus, CompanyType, RelatedIndividual};
use folio_domain::event::{AccountOpened, ClientRegistered, ClientStatusChanged, ClientUpdated};
use folio_domain::{
    AccountEvent, AccountId, AccountStatus, AccountType, BalancePolicy, ClientEvent, ClientId,
    ClientPatch, ClientProfile, ClientType, Command, CommandKind, CreateMode, CreatePayment,
    Currency, Event, EventBody, Executed, Ledger, LedgerError, LegRequest, OpenAccount, PaymentId,
    Receipt,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::HashMap;
use uuid::Uuid;

// ------------------------------------------------------------------------------------ harness

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn client(n: u128) -> ClientId {
    ClientId(Uuid::from_u128(0xC000 + n))
}

fn acc(n: u128) -> AccountId {
    AccountId(Uuid::from_u128(n))
}

fn pay(n: u128) -> PaymentId {
    PaymentId(Uuid::from_u128(0xAA00 + n))
}

/// Numbers each event's revision within its stream, as the log would.
fn history(bodies: Vec<EventBody>) -> Vec<Event> {
    let mut next: HashMap<String, u64> = HashMap::new();
    bodies
        .into_iter()
        .map(|body| {
            let revision = next.entry(body.stream_id()).or_default();
            let event = Event {
                body,
                revision: *revision,
                idempotency: None,
            };
            *revision += 1;
            event
        })
        .collect()
}

struct Given {
    ledger: Ledger,
}

fn given(bodies: Vec<EventBody>) -> Given {
    let mut ledger = Ledger::new();
    for event in &history(bodies) {
        ledger.apply(event);
    }
    ledger.check_invariants().expect("a consistent history");
    Given { ledger }
}

impl Given {
    fn when(self, kind: CommandKind) -> Then {
        self.when_keyed(None, kind)
    }

    fn when_keyed(self, key: Option<&str>, kind: CommandKind) -> Then {
        let command = Command {
            at: t0(),
            idempotency_key: key.map(str::to_string),
            kind,
        };
        let before = self.ledger.clone();
        let mut after = self.ledger;
        let result = after.execute(&command);
        Then {
            before,
            after,
            result,
        }
    }
}

struct Then {
    before: Ledger,
    after: Ledger,
    result: Result<Executed, LedgerError>,
}

impl Then {
    /// Accepted with exactly these events, which explain the new state; returns the ledger.
    fn then_events(self, expected: Vec<EventBody>) -> Ledger {
        let executed = match self.result {
            Ok(executed) => executed,
            Err(err) => panic!("expected events, the command was refused: {err}"),
        };
        assert!(!executed.duplicate);
        let bodies: Vec<EventBody> = executed.events.iter().map(|e| e.body.clone()).collect();
        assert_eq!(bodies, expected);
        let mut replayed = self.before.clone();
        for event in &executed.events {
            replayed.apply(event);
        }
        assert_eq!(replayed, self.after, "the events explain the new state");
        self.after.check_invariants().expect("invariants hold");
        self.after
    }

    /// Refused with `code`, and the ledger did not change at all. Returns the message.
    fn then_error(self, code: &str) -> String {
        let message = match &self.result {
            Ok(executed) => panic!("expected {code}, the command was accepted: {executed:?}"),
            Err(err) => {
                assert_eq!(err.code(), code, "refused for the wrong reason: {err}");
                err.to_string()
            }
        };
        assert_eq!(self.before.to_snapshot(), self.after.to_snapshot());
        assert_eq!(self.before, self.after, "a refusal changes nothing");
        message
    }

    fn then_duplicate(self, receipt: Receipt) {
        let executed = self.result.expect("a retry is answered");
        assert!(executed.duplicate);
        assert!(executed.events.is_empty());
        assert_eq!(executed.receipt, receipt);
        assert_eq!(self.before, self.after, "a retry changes nothing");
    }
}

// ------------------------------------------------------------------------------------ events

fn profile(name: &str) -> ClientProfile {
    ClientProfile {
        email: Some("owner@example.com".into()),
        phone_number: Some("+49 30 1234567".into()),
        address: Some(Address {
            street_line1: Some("1 Main Street".into()),
            city: Some("Berlin".into()),
            country: Some("DE".into()),
            ..Address::default()
        }),
        country_of_registration: Some("DE".into()),
        company_type: Some(CompanyType::Private),
        ..ClientProfile::new(ClientType::Company, name.into())
    }
}

fn registered(n: u128) -> EventBody {
    EventBody::Client(ClientEvent::Registered(Box::new(ClientRegistered {
        client_id: client(n),
        profile: profile(&format!("Client {n}")),
    })))
}

fn blocked(n: u128, reason: Option<&str>) -> EventBody {
    EventBody::Client(ClientEvent::Blocked(ClientStatusChanged {
        client_id: client(n),
        reason: reason.map(str::to_string),
    }))
}

fn unblocked(n: u128) -> EventBody {
    EventBody::Client(ClientEvent::Unblocked(ClientStatusChanged {
        client_id: client(n),
        reason: None,
    }))
}

/// An active EUR current account `id` of client `owner`.
fn opened(id: u128, owner: u128) -> EventBody {
    EventBody::Account(AccountEvent::Opened(AccountOpened {
        account_id: acc(id),
        number: format!("N-{id}"),
        client_id: Some(client(owner)),
        currency: eur(),
        account_type: AccountType::Current,
        status: AccountStatus::Active,
        name: None,
        policy: BalancePolicy::for_type(AccountType::Current, Decimal::ZERO),
    }))
}

/// Client 1 (registered) owns account 1 with 100 EUR; client 2 owns account 2 (empty).
fn two_funded_clients() -> Vec<EventBody> {
    let mut bodies = vec![registered(1), registered(2), opened(1, 1), opened(2, 2)];
    let mut ledger = Ledger::new();
    for event in &history(bodies.clone()) {
        ledger.apply(event);
    }
    let pay_in = ledger
        .execute(&Command {
            at: t0(),
            idempotency_key: None,
            kind: transfer(900, None, Some(1), dec!(100), CreateMode::Posted),
        })
        .expect("the pay-in is accepted");
    bodies.extend(pay_in.events.into_iter().map(|e| e.body));
    bodies
}

// ------------------------------------------------------------------------------------ commands

fn register(n: u128, profile: ClientProfile) -> CommandKind {
    CommandKind::RegisterClient {
        client_id: client(n),
        profile: Box::new(profile),
    }
}

fn update(n: u128, patch: ClientPatch) -> CommandKind {
    CommandKind::UpdateClient {
        client_id: client(n),
        patch: Box::new(patch),
    }
}

fn block(n: u128, reason: Option<&str>) -> CommandKind {
    CommandKind::BlockClient {
        client_id: client(n),
        reason: reason.map(str::to_string),
    }
}

fn unblock(n: u128) -> CommandKind {
    CommandKind::UnblockClient {
        client_id: client(n),
        reason: None,
    }
}

fn open_for(account: u128, owner: u128) -> CommandKind {
    CommandKind::OpenAccount(OpenAccount {
        account_id: acc(account),
        client_id: Some(client(owner)),
        currency: eur(),
        account_type: AccountType::Current,
        name: None,
        number: None,
        overdraft_limit: Decimal::ZERO,
        status: AccountStatus::Active,
    })
}

/// EUR from account `from` to account `to` (None: the settlement account).
fn transfer(
    payment: u128,
    from: Option<u128>,
    to: Option<u128>,
    amount: Decimal,
    mode: CreateMode,
) -> CommandKind {
    CommandKind::CreatePayment(CreatePayment {
        payment_id: pay(payment),
        legs: vec![LegRequest {
            debit: from.map(acc),
            credit: to.map(acc),
            amount,
            currency: eur(),
        }],
        mode,
        description: None,
        external_id: None,
        metadata: None,
        expires_at: None,
    })
}

// ======================================================================== registering

#[test]
fn a_client_registers_active_with_its_whole_profile() {
    let ledger = given(vec![])
        .when(register(1, profile("Client 1")))
        .then_events(vec![registered(1)]);
    let client = ledger.client(client(1)).expect("registered");
    assert_eq!(client.status, ClientStatus::Active);
    assert_eq!(client.profile, profile("Client 1"));
    assert_eq!(client.block_reason, None);
    assert_eq!(client.revision, 0);
}

#[test]
fn an_individual_registers_with_a_name_only() {
    let minimal = ClientProfile::new(ClientType::Individual, "Jane Doe".into());
    let ledger = given(vec![])
        .when(register(1, minimal.clone()))
        .then_events(vec![EventBody::Client(ClientEvent::Registered(Box::new(
            ClientRegistered {
                client_id: client(1),
                profile: minimal,
            },
        )))]);
    assert_eq!(ledger.clients().count(), 1);
}

#[test]
fn registering_an_existing_id_is_refused() {
    given(vec![registered(1)])
        .when(register(1, profile("Other")))
        .then_error("ClientAlreadyExists");
}

/// Each broken field is refused as InvalidCommand with a message naming the field.
#[test]
fn invalid_profiles_are_refused_naming_the_field() {
    let cases: Vec<(&str, ClientProfile)> = vec![
        (
            "legalName",
            ClientProfile::new(ClientType::Company, "  ".into()),
        ),
        (
            "legalName",
            ClientProfile::new(ClientType::Company, "A\0B".into()),
        ),
        (
            "legalName",
            ClientProfile::new(ClientType::Company, "x".repeat(513)),
        ),
        (
            "email",
            ClientProfile {
                email: Some("not-an-address".into()),
                ..profile("C")
            },
        ),
        (
            "email",
            ClientProfile {
                email: Some("a b@example.com".into()),
                ..profile("C")
            },
        ),
        (
            "email",
            ClientProfile {
                email: Some("a@localhost".into()),
                ..profile("C")
            },
        ),
        (
            "phoneNumber",
            ClientProfile {
                phone_number: Some("call me".into()),
                ..profile("C")
            },
        ),
        (
            "riskLevel",
            ClientProfile {
                risk_level: Some(-1),
                ..profile("C")
            },
        ),
        (
            "countryOfRegistration",
            ClientProfile {
                country_of_registration: Some("Germany".into()),
                ..profile("C")
            },
        ),
        (
            "address.country",
            ClientProfile {
                address: Some(Address {
                    country: Some("de".into()),
                    ..Address::default()
                }),
                ..profile("C")
            },
        ),
        (
            "address.city",
            ClientProfile {
                address: Some(Address {
                    city: Some("Ber\0lin".into()),
                    ..Address::default()
                }),
                ..profile("C")
            },
        ),
        (
            "companyType",
            ClientProfile {
                client_type: ClientType::Individual,
                ..profile("C")
            },
        ),
        (
            "relatedIndividuals[0].percentageOwnership",
            ClientProfile {
                related_individuals: Some(vec![RelatedIndividual {
                    percentage_ownership: Some(dec!(100.5)),
                    ..RelatedIndividual::default()
                }]),
                ..profile("C")
            },
        ),
        (
            "relatedIndividuals[1].firstName",
            ClientProfile {
                related_individuals: Some(vec![
                    RelatedIndividual::default(),
                    RelatedIndividual {
                        first_name: Some("Iv\0an".into()),
                        ..RelatedIndividual::default()
                    },
                ]),
                ..profile("C")
            },
        ),
        (
            "customOptions",
            ClientProfile {
                custom_options: Some(serde_json::json!([1, 2])),
                ..profile("C")
            },
        ),
    ];
    for (field, bad) in cases {
        let message = given(vec![])
            .when(register(1, bad))
            .then_error("InvalidCommand");
        assert!(message.contains(field), "{field} not named in {message:?}");
    }
}

// ======================================================================== updating

#[test]
fn an_update_changes_only_the_fields_it_names() {
    let patch = ClientPatch {
        legal_name: Some("New Name".into()),
        email: Some(None),
        web_site: Some(Some("https://new.example".into())),
        ..ClientPatch::default()
    };
    let ledger = given(vec![registered(1)])
        .when(update(1, patch.clone()))
        .then_events(vec![EventBody::Client(ClientEvent::Updated(Box::new(
            ClientUpdated {
                client_id: client(1),
                patch,
            },
        )))]);
    let client = ledger.client(client(1)).unwrap();
    assert_eq!(client.profile.legal_name, "New Name");
    assert_eq!(client.profile.email, None, "null clears");
    assert_eq!(
        client.profile.web_site.as_deref(),
        Some("https://new.example")
    );
    assert_eq!(
        client.profile.phone_number,
        profile("x").phone_number,
        "absent keeps"
    );
    assert_eq!(client.revision, 1);
}

#[test]
fn a_blocked_client_can_still_be_updated_and_stays_blocked() {
    let ledger = given(vec![registered(1), blocked(1, Some("kyc"))])
        .when(update(
            1,
            ClientPatch {
                phone_number: Some(Some("+44 20 7946 0000".into())),
                ..ClientPatch::default()
            },
        ))
        .then_events(vec![EventBody::Client(ClientEvent::Updated(Box::new(
            ClientUpdated {
                client_id: client(1),
                patch: ClientPatch {
                    phone_number: Some(Some("+44 20 7946 0000".into())),
                    ..ClientPatch::default()
                },
            },
        )))]);
    let client = ledger.client(client(1)).unwrap();
    assert_eq!(client.status, ClientStatus::Blocked);
    assert_eq!(client.block_reason.as_deref(), Some("kyc"));
}

#[test]
fn updating_an_unknown_client_is_refused() {
    given(vec![])
        .when(update(
            1,
            ClientPatch {
                legal_name: Some("X".into()),
                ..ClientPatch::default()
            },
        ))
        .then_error("ClientNotFound");
}

#[test]
fn an_update_that_changes_nothing_is_refused() {
    let message = given(vec![registered(1)])
        .when(update(1, ClientPatch::default()))
        .then_error("InvalidCommand");
    assert!(message.contains("no field"), "{message}");
}

#[test]
fn an_update_is_validated_against_the_resulting_profile() {
    let cases = vec![
        (
            "legalName",
            ClientPatch {
                legal_name: Some(String::new()),
                ..ClientPatch::default()
            },
        ),
        (
            "email",
            ClientPatch {
                email: Some(Some("@example.com".into())),
                ..ClientPatch::default()
            },
        ),
        (
            // The profile has a company type: becoming an individual needs it cleared too.
            "companyType",
            ClientPatch {
                client_type: Some(ClientType::Individual),
                ..ClientPatch::default()
            },
        ),
    ];
    for (field, patch) in cases {
        let message = given(vec![registered(1)])
            .when(update(1, patch))
            .then_error("InvalidCommand");
        assert!(message.contains(field), "{field} not named in {message:?}");
    }
    // Cleared together, the change is valid.
    given(vec![registered(1)])
        .when(update(
            1,
            ClientPatch {
                client_type: Some(ClientType::Individual),
                company_type: Some(None),
                ..ClientPatch::default()
            },
        ))
        .then_events(vec![EventBody::Client(ClientEvent::Updated(Box::new(
            ClientUpdated {
                client_id: client(1),
                patch: ClientPatch {
                    client_type: Some(ClientType::Individual),
                    company_type: Some(None),
                    ..ClientPatch::default()
                },
            },
        )))]);
}

// ======================================================================== blocking

#[test]
fn an_active_client_is_blocked_with_its_reason() {
    let ledger = given(vec![registered(1)])
        .when(block(1, Some("sanctions hit")))
        .then_events(vec![blocked(1, Some("sanctions hit"))]);
    let client = ledger.client(client(1)).unwrap();
    assert_eq!(client.status, ClientStatus::Blocked);
    assert_eq!(client.block_reason.as_deref(), Some("sanctions hit"));
}

#[test]
fn a_blocked_client_is_unblocked_and_its_reason_cleared() {
    let ledger = given(vec![registered(1), blocked(1, Some("kyc"))])
        .when(unblock(1))
        .then_events(vec![unblocked(1)]);
    let client = ledger.client(client(1)).unwrap();
    assert_eq!(client.status, ClientStatus::Active);
    assert_eq!(client.block_reason, None);
    assert_eq!(client.revision, 2);
}

#[test]
fn blocking_a_blocked_client_is_refused() {
    let message = given(vec![registered(1), blocked(1, None)])
        .when(block(1, None))
        .then_error("InvalidClientState");
    assert!(message.contains("Blocked"), "{message}");
}

#[test]
fn unblocking_an_active_client_is_refused() {
    given(vec![registered(1)])
        .when(unblock(1))
        .then_error("InvalidClientState");
}

#[test]
fn blocking_or_unblocking_an_unknown_client_is_refused() {
    given(vec![])
        .when(block(1, None))
        .then_error("ClientNotFound");
    given(vec![]).when(unblock(1)).then_error("ClientNotFound");
}

#[test]
fn a_block_reason_with_a_nul_is_refused() {
    let message = given(vec![registered(1)])
        .when(block(1, Some("a\0b")))
        .then_error("InvalidCommand");
    assert!(message.contains("reason"), "{message}");
}

// ======================================================================== clients and money

#[test]
fn a_blocked_client_gets_no_new_account() {
    given(vec![registered(1), blocked(1, None)])
        .when(open_for(7, 1))
        .then_error("ClientBlocked");
}

#[test]
fn an_active_client_gets_a_new_account() {
    let ledger = given(vec![registered(1)])
        .when(open_for(7, 1))
        .then_events(vec![EventBody::Account(AccountEvent::Opened(
            AccountOpened {
                account_id: acc(7),
                number: "FL0000000001".into(),
                client_id: Some(client(1)),
                currency: eur(),
                account_type: AccountType::Current,
                status: AccountStatus::Active,
                name: None,
                policy: BalancePolicy::for_type(AccountType::Current, Decimal::ZERO),
            },
        ))]);
    assert!(ledger.account(acc(7)).is_some());
}

/// Accounts predate client profiles: a client id that was never registered may still own one.
#[test]
fn an_account_for_a_client_never_registered_still_opens() {
    let ledger = given(vec![])
        .when(open_for(7, 42))
        .then_events(vec![EventBody::Account(AccountEvent::Opened(
            AccountOpened {
                account_id: acc(7),
                number: "FL0000000001".into(),
                client_id: Some(client(42)),
                currency: eur(),
                account_type: AccountType::Current,
                status: AccountStatus::Active,
                name: None,
                policy: BalancePolicy::for_type(AccountType::Current, Decimal::ZERO),
            },
        ))]);
    assert!(ledger.client(client(42)).is_none());
}

#[test]
fn after_unblocking_a_client_may_open_accounts_again() {
    let mut bodies = vec![registered(1), blocked(1, None), unblocked(1)];
    bodies.push(opened(1, 1));
    let then = given(bodies).when(open_for(7, 1));
    let executed = then.result.clone().expect("accepted");
    let ledger = then.then_events(executed.events.iter().map(|e| e.body.clone()).collect());
    assert_eq!(ledger.account(acc(7)).unwrap().client_id, Some(client(1)));
}

#[test]
fn a_blocked_client_cannot_pay_out_of_its_accounts() {
    for mode in [CreateMode::Posted, CreateMode::Pending] {
        let mut bodies = two_funded_clients();
        bodies.push(blocked(1, Some("fraud")));
        given(bodies.clone())
            .when(transfer(1, Some(1), Some(2), dec!(10), mode))
            .then_error("ClientBlocked");
        // A pay-out to the settlement account too.
        given(bodies)
            .when(transfer(1, Some(1), None, dec!(10), mode))
            .then_error("ClientBlocked");
    }
}

#[test]
fn a_blocked_clients_draft_cannot_be_pended() {
    let mut bodies = two_funded_clients();
    let mut ledger = Ledger::new();
    for event in &history(bodies.clone()) {
        ledger.apply(event);
    }
    let draft = ledger
        .execute(&Command {
            at: t0(),
            idempotency_key: None,
            kind: transfer(1, Some(1), Some(2), dec!(10), CreateMode::Draft),
        })
        .expect("a draft moves no money, so it is recorded");
    bodies.extend(draft.events.into_iter().map(|e| e.body));
    bodies.push(blocked(1, None));
    given(bodies)
        .when(CommandKind::PendPayment {
            payment_id: pay(1),
            expires_at: None,
        })
        .then_error("ClientBlocked");
}

#[test]
fn a_blocked_clients_hold_is_not_posted_but_may_be_cancelled() {
    let mut bodies = two_funded_clients();
    let mut ledger = Ledger::new();
    for event in &history(bodies.clone()) {
        ledger.apply(event);
    }
    let hold = ledger
        .execute(&Command {
            at: t0(),
            idempotency_key: None,
            kind: transfer(1, Some(1), Some(2), dec!(10), CreateMode::Pending),
        })
        .expect("the hold is placed while the client is active");
    bodies.extend(hold.events.into_iter().map(|e| e.body));
    bodies.push(blocked(1, None));
    given(bodies.clone())
        .when(CommandKind::PostPayment {
            payment_id: pay(1),
            amount: None,
        })
        .then_error("ClientBlocked");
    let then = given(bodies).when(CommandKind::CancelPayment {
        payment_id: pay(1),
        reason: None,
    });
    let executed = then.result.clone().expect("a cancel pays the hold back");
    let ledger = then.then_events(executed.events.iter().map(|e| e.body.clone()).collect());
    assert_eq!(
        ledger.account(acc(1)).unwrap().available_balance(),
        dec!(100)
    );
}

#[test]
fn money_still_arrives_at_a_blocked_clients_accounts() {
    let mut bodies = two_funded_clients();
    bodies.push(blocked(2, None));
    let then = given(bodies).when(transfer(1, Some(1), Some(2), dec!(10), CreateMode::Posted));
    let executed = then
        .result
        .clone()
        .expect("a credit to a blocked client is accepted");
    let ledger = then.then_events(executed.events.iter().map(|e| e.body.clone()).collect());
    assert_eq!(ledger.account(acc(2)).unwrap().balance(), dec!(10));
}

#[test]
fn an_unblocked_client_pays_again() {
    let mut bodies = two_funded_clients();
    bodies.push(blocked(1, None));
    bodies.push(unblocked(1));
    let then = given(bodies).when(transfer(1, Some(1), Some(2), dec!(10), CreateMode::Posted));
    let executed = then.result.clone().expect("accepted");
    let ledger = then.then_events(executed.events.iter().map(|e| e.body.clone()).collect());
    assert_eq!(ledger.account(acc(1)).unwrap().balance(), dec!(90));
}

// ======================================================================== idempotency

#[test]
fn a_retried_registration_gets_the_first_receipt() {
    let first = given(vec![])
        .when_keyed(Some("reg-1"), register(1, profile("Client 1")))
        .then_events(vec![registered(1)]);
    // The retry carries a fresh server-generated id: it is still the same request.
    Given { ledger: first }
        .when_keyed(Some("reg-1"), register(2, profile("Client 1")))
        .then_duplicate(Receipt::Client(client(1)));
}

#[test]
fn a_key_reused_for_another_client_request_is_a_conflict() {
    let first = given(vec![])
        .when_keyed(Some("reg-1"), register(1, profile("Client 1")))
        .then_events(vec![registered(1)]);
    Given {
        ledger: first.clone(),
    }
    .when_keyed(Some("reg-1"), register(2, profile("Someone else")))
    .then_error("IdempotencyConflict");
    Given { ledger: first }
        .when_keyed(Some("reg-1"), block(1, None))
        .then_error("IdempotencyConflict");
}

#[test]
fn block_and_update_retries_are_duplicates() {
    let ledger = given(vec![registered(1)])
        .when_keyed(Some("b-1"), block(1, Some("kyc")))
        .then_events(vec![blocked(1, Some("kyc"))]);
    // Without the key, blocking again would be InvalidClientState: the key answers first.
    Given { ledger }
        .when_keyed(Some("b-1"), block(1, Some("kyc")))
        .then_duplicate(Receipt::Client(client(1)));
    let patch = ClientPatch {
        tax_number: Some(Some("T-1".into())),
        ..ClientPatch::default()
    };
    let ledger = given(vec![registered(1)])
        .when_keyed(Some("u-1"), update(1, patch.clone()))
        .then_events(vec![EventBody::Client(ClientEvent::Updated(Box::new(
            ClientUpdated {
                client_id: client(1),
                patch: patch.clone(),
            },
        )))]);
    Given { ledger }
        .when_keyed(Some("u-1"), update(1, patch))
        .then_duplicate(Receipt::Client(client(1)));
}

#[test]
fn a_refused_client_command_does_not_consume_its_key() {
    let refused = given(vec![registered(1)]).when_keyed(Some("k"), block(2, None));
    assert_eq!(
        refused.result.as_ref().map_err(|e| e.code()),
        Err("ClientNotFound")
    );
    // The same key, now for a request that succeeds.
    Given {
        ledger: refused.after,
    }
    .when_keyed(Some("k"), block(1, None))
    .then_events(vec![blocked(1, None)]);
}

// ======================================================================== replay and snapshots

#[test]
fn replay_and_snapshots_keep_clients() {
    let mut bodies = two_funded_clients();
    bodies.push(blocked(1, Some("kyc")));
    bodies.push(EventBody::Client(ClientEvent::Updated(Box::new(
        ClientUpdated {
            client_id: client(2),
            patch: ClientPatch {
                email: Some(None),
                ..ClientPatch::default()
            },
        },
    ))));
    let ledger = given(bodies).ledger;
    let json = serde_json::to_string(&ledger.to_snapshot()).unwrap();
    let restored = Ledger::from_snapshot(serde_json::from_str(&json).unwrap());
    assert_eq!(restored, ledger);
    assert_eq!(
        restored.client(client(1)).unwrap().status,
        ClientStatus::Blocked
    );
    assert_eq!(restored.client(client(2)).unwrap().profile.email, None);
    restored.check_invariants().expect("invariants unaffected");
    // The rule survives the snapshot.
    Given { ledger: restored }
        .when(transfer(1, Some(1), Some(2), dec!(1), CreateMode::Posted))
        .then_error("ClientBlocked");
}

#[test]
fn a_snapshot_without_clients_still_loads() {
    let ledger = given(vec![opened(1, 1)]).ledger;
    let mut json: serde_json::Value = serde_json::to_value(ledger.to_snapshot()).unwrap();
    json.as_object_mut().unwrap().remove("clients");
    let restored = Ledger::from_snapshot(serde_json::from_value(json).unwrap());
    assert_eq!(restored, ledger);
}

#[test]
fn client_events_live_in_client_streams_and_touch_no_account() {
    let body = registered(1);
    assert_eq!(body.stream_id(), format!("client-{}", client(1)));
    assert!(body.touched_accounts().is_empty());
    assert_eq!(
        LedgerError::ClientBlocked(client(1)).code(),
        "ClientBlocked"
    );
}
