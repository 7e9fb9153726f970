//! Transfers (API.md §3.2–3.3), one scenario per transition and refusal: *given* a ledger,
//! *when* a transfer command arrives, *then* these transfer and payment events are recorded
//! together — or the command is refused with this code and the ledger is left exactly as it was.

use chrono::{DateTime, Duration, Utc};
use folio_domain::codec;
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, Command, CommandKind, CreateMode,
    CreatePayment, CreateTransfer, Currency, Event, EventBody, FeeSchedule, Ledger, LegRequest,
    OpenAccount, PaymentEvent, PaymentId, PaymentStatus, Receipt, ReceiveTransfer,
    TransferDirection, TransferEvent, TransferId, TransferOutcome, TransferStatus, TransferType,
    external_transfer_type,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::seconds(seconds)
}

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn acc(n: u128) -> AccountId {
    AccountId(Uuid::from_u128(n))
}

fn tr(n: u128) -> TransferId {
    TransferId(Uuid::from_u128(0x7700 + n))
}

fn pay(n: u128) -> PaymentId {
    PaymentId(Uuid::from_u128(0xAA00 + n))
}

fn run(ledger: &mut Ledger, kind: CommandKind) -> Vec<Event> {
    let command = Command {
        at: t(1),
        idempotency_key: None,
        kind,
    };
    let executed = ledger.execute(&command).expect("accepted");
    for event in &executed.events {
        let (event_type, version, payload) = codec::encode(&event.body);
        assert_eq!(
            codec::decode(event_type, version, &payload).unwrap(),
            event.body
        );
    }
    ledger.check_invariants().unwrap();
    executed.events
}

/// Refused with `code`, and the ledger is exactly as it was.
fn refused(ledger: &mut Ledger, kind: CommandKind, code: &str) {
    let before = ledger.to_snapshot();
    let command = Command {
        at: t(2),
        idempotency_key: None,
        kind,
    };
    let error = ledger.execute(&command).expect_err("refused");
    assert_eq!(error.code(), code, "{error}");
    assert_eq!(ledger.to_snapshot(), before);
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| codec::event_type(&e.body)).collect()
}

/// Alice (1, EUR, 100 paid in) and Bob (2, EUR, number BOB-1), both clients' accounts.
fn given() -> Ledger {
    let mut ledger = Ledger::new();
    for (n, number) in [(1, "ALICE-1"), (2, "BOB-1")] {
        run(
            &mut ledger,
            CommandKind::OpenAccount(OpenAccount {
                account_id: acc(n),
                client_id: Some(ClientId(Uuid::from_u128(0xC000 + n))),
                currency: eur(),
                account_type: AccountType::Current,
                name: None,
                number: Some(number.to_string()),
                overdraft_limit: Decimal::ZERO,
                status: AccountStatus::Active,
            }),
        );
    }
    run(
        &mut ledger,
        CommandKind::CreatePayment(CreatePayment {
            payment_id: pay(0),
            legs: vec![LegRequest {
                debit: None,
                credit: Some(acc(1)),
                amount: dec!(100),
                currency: eur(),
            }],
            mode: CreateMode::Posted,
            description: None,
            external_id: None,
            metadata: None,
            expires_at: None,
        }),
    );
    ledger
}

fn create(n: u128, to: &str, amount: Decimal) -> CommandKind {
    CommandKind::CreateOutgoingTransfer(Box::new(CreateTransfer {
        transfer_id: tr(n),
        payment_id: pay(n),
        source_account_id: acc(1),
        beneficiary_account: Some(to.to_string()),
        beneficiary_name: Some("Bea".into()),
        recipient_id: None,
        amount,
        currency: eur(),
        reference: Some("invoice 7".into()),
        description: None,
        fees: FeeSchedule::default(),
        confirmation: None,
    }))
}

const IBAN: &str = "DE89370400440532013000";

fn status(ledger: &Ledger, n: u128) -> TransferStatus {
    ledger.transfer(tr(n)).unwrap().status
}

fn balance(ledger: &Ledger, id: AccountId) -> (Decimal, Decimal) {
    let account = ledger.account(id).unwrap();
    (account.balance(), account.held())
}

fn outcome(n: u128, outcome: TransferOutcome) -> CommandKind {
    CommandKind::RecordTransferOutcome {
        transfer_id: tr(n),
        outcome,
    }
}

/// Alice's outgoing transfer `n` of 30 EUR, created, confirmed and handed to the rail.
fn processing(ledger: &mut Ledger, n: u128) {
    run(ledger, create(n, IBAN, dec!(30)));
    run(
        ledger,
        CommandKind::ConfirmTransfer {
            transfer_id: tr(n),
            otp: None,
        },
    );
    run(
        ledger,
        CommandKind::StartTransferProcessing { transfer_id: tr(n) },
    );
}

#[test]
fn creating_an_outgoing_transfer_drafts_its_payment_in_the_same_command() {
    let mut ledger = given();
    let events = run(&mut ledger, create(1, IBAN, dec!(30)));
    // The settlement account (the credited side) was opened by the pay-in already.
    assert_eq!(types(&events), ["PaymentCreated", "TransferCreated"]);
    let EventBody::Transfer(TransferEvent::Created(created)) = &events[1].body else {
        panic!("a transfer event last");
    };
    assert_eq!(created.direction, TransferDirection::Outgoing);
    assert_eq!(created.transfer_type, TransferType::Sepa);
    assert_eq!(created.payment_id, pay(1));
    assert_eq!(events[1].body.stream_id(), format!("transfer-{}", tr(1)));
    assert_eq!(status(&ledger, 1), TransferStatus::PendingConfirmation);
    assert_eq!(ledger.payment(pay(1)).unwrap().status, PaymentStatus::Draft);
    assert_eq!(balance(&ledger, acc(1)), (dec!(100), dec!(0)));
}

#[test]
fn confirming_holds_the_funds_and_processing_then_completion_posts_them() {
    let mut ledger = given();
    run(&mut ledger, create(1, IBAN, dec!(30)));
    let events = run(
        &mut ledger,
        CommandKind::ConfirmTransfer {
            transfer_id: tr(1),
            otp: None,
        },
    );
    assert_eq!(types(&events), ["PaymentPended", "TransferConfirmed"]);
    assert_eq!(balance(&ledger, acc(1)), (dec!(100), dec!(30)));
    assert_eq!(status(&ledger, 1), TransferStatus::Confirmed);
    let events = run(
        &mut ledger,
        CommandKind::StartTransferProcessing { transfer_id: tr(1) },
    );
    assert_eq!(types(&events), ["TransferProcessingStarted"]);
    let events = run(
        &mut ledger,
        outcome(
            1,
            TransferOutcome::Completed {
                provider_reference: Some("P-1".into()),
            },
        ),
    );
    assert_eq!(types(&events), ["PaymentPosted", "TransferCompleted"]);
    assert_eq!(balance(&ledger, acc(1)), (dec!(70), dec!(0)));
    assert_eq!(status(&ledger, 1), TransferStatus::Completed);
    assert_eq!(
        ledger.payment(pay(1)).unwrap().status,
        PaymentStatus::Posted
    );
}

#[test]
fn a_rejection_or_failure_pays_the_hold_back() {
    for (n, answer, expected, event) in [
        (
            1,
            TransferOutcome::Rejected {
                reason: Some("closed".into()),
            },
            TransferStatus::Rejected,
            "TransferRejected",
        ),
        (
            2,
            TransferOutcome::Failed { reason: None },
            TransferStatus::Failed,
            "TransferFailed",
        ),
    ] {
        let mut ledger = given();
        processing(&mut ledger, n);
        let events = run(&mut ledger, outcome(n, answer));
        assert_eq!(types(&events), ["PaymentCancelled", event]);
        let EventBody::Payment(PaymentEvent::Cancelled(cancelled)) = &events[0].body else {
            panic!("a cancel first");
        };
        assert_eq!(cancelled.released.len(), 1, "the hold is paid back");
        assert_eq!(balance(&ledger, acc(1)), (dec!(100), dec!(0)));
        assert_eq!(status(&ledger, n), expected);
    }
}

#[test]
fn cancel_before_processing_pays_back_and_after_is_refused() {
    let mut ledger = given();
    run(&mut ledger, create(1, IBAN, dec!(30)));
    let events = run(
        &mut ledger,
        CommandKind::CancelTransfer {
            transfer_id: tr(1),
            reason: None,
        },
    );
    assert_eq!(types(&events), ["PaymentCancelled", "TransferCancelled"]);
    assert_eq!(status(&ledger, 1), TransferStatus::Cancelled);

    run(&mut ledger, create(2, IBAN, dec!(30)));
    run(
        &mut ledger,
        CommandKind::ConfirmTransfer {
            transfer_id: tr(2),
            otp: None,
        },
    );
    run(
        &mut ledger,
        CommandKind::CancelTransfer {
            transfer_id: tr(2),
            reason: Some("changed my mind".into()),
        },
    );
    assert_eq!(balance(&ledger, acc(1)), (dec!(100), dec!(0)));

    processing(&mut ledger, 3);
    refused(
        &mut ledger,
        CommandKind::CancelTransfer {
            transfer_id: tr(3),
            reason: None,
        },
        "InvalidTransferState",
    );
}

#[test]
fn suspend_and_continue_while_processing() {
    let mut ledger = given();
    processing(&mut ledger, 1);
    let events = run(
        &mut ledger,
        CommandKind::SuspendTransfer {
            transfer_id: tr(1),
            reason: Some("compliance".into()),
        },
    );
    assert_eq!(types(&events), ["TransferSuspended"]);
    refused(
        &mut ledger,
        outcome(1, TransferOutcome::Failed { reason: None }),
        "InvalidTransferState",
    );
    run(
        &mut ledger,
        CommandKind::ContinueTransfer { transfer_id: tr(1) },
    );
    assert_eq!(status(&ledger, 1), TransferStatus::Processing);
    refused(
        &mut ledger,
        CommandKind::ContinueTransfer { transfer_id: tr(1) },
        "InvalidTransferState",
    );
}

#[test]
fn a_transfer_to_a_folio_account_is_internal_and_settles_on_confirmation() {
    let mut ledger = given();
    let events = run(&mut ledger, create(1, "BOB-1", dec!(25)));
    let EventBody::Transfer(TransferEvent::Created(created)) = &events[1].body else {
        panic!("no settlement account to open: the transfer event second");
    };
    assert_eq!(created.direction, TransferDirection::Internal);
    assert_eq!(created.transfer_type, TransferType::Internal);
    assert_eq!(created.destination_account_id, Some(acc(2)));
    let events = run(
        &mut ledger,
        CommandKind::ConfirmTransfer {
            transfer_id: tr(1),
            otp: None,
        },
    );
    assert_eq!(
        types(&events),
        [
            "PaymentPended",
            "PaymentPosted",
            "TransferConfirmed",
            "TransferCompleted"
        ]
    );
    assert_eq!(balance(&ledger, acc(1)), (dec!(75), dec!(0)));
    assert_eq!(balance(&ledger, acc(2)), (dec!(25), dec!(0)));
    assert_eq!(status(&ledger, 1), TransferStatus::Completed);
    refused(
        &mut ledger,
        CommandKind::StartTransferProcessing { transfer_id: tr(1) },
        "InvalidTransferState",
    );
}

#[test]
fn refusals_of_creation_and_confirmation() {
    let mut ledger = given();
    refused(&mut ledger, create(1, IBAN, dec!(0)), "InvalidAmount");
    refused(&mut ledger, create(1, IBAN, dec!(1.001)), "InvalidAmount");
    refused(
        &mut ledger,
        create(1, "not an account!", dec!(1)),
        "InvalidCommand",
    );
    refused(&mut ledger, create(1, "ALICE-1", dec!(1)), "SameAccount");
    refused(
        &mut ledger,
        create(1, "SETTLEMENT-EUR", dec!(1)),
        "InvalidCommand",
    );
    let mut from_unknown = create(1, IBAN, dec!(1));
    if let CommandKind::CreateOutgoingTransfer(create) = &mut from_unknown {
        create.source_account_id = acc(9);
    }
    refused(&mut ledger, from_unknown, "AccountNotFound");
    // Created without a funds check; the confirmation holds and so needs the funds.
    run(&mut ledger, create(1, IBAN, dec!(500)));
    refused(
        &mut ledger,
        create(1, IBAN, dec!(5)),
        "TransferAlreadyExists",
    );
    refused(
        &mut ledger,
        CommandKind::ConfirmTransfer {
            transfer_id: tr(1),
            otp: None,
        },
        "InsufficientFunds",
    );
    refused(
        &mut ledger,
        CommandKind::ConfirmTransfer {
            transfer_id: tr(9),
            otp: None,
        },
        "TransferNotFound",
    );
    refused(
        &mut ledger,
        CommandKind::StartTransferProcessing { transfer_id: tr(1) },
        "InvalidTransferState",
    );
    refused(
        &mut ledger,
        outcome(1, TransferOutcome::Failed { reason: None }),
        "InvalidTransferState",
    );
}

fn receive(n: u128, beneficiary: &str, amount: Decimal) -> CommandKind {
    CommandKind::ReceiveIncomingTransfer(Box::new(ReceiveTransfer {
        transfer_id: tr(n),
        payment_id: pay(n),
        provider_reference: format!("IN-{n}"),
        amount,
        currency: eur(),
        payer_name: Some("Payer".into()),
        payer_account: Some("FR7630006000011234567890189".into()),
        beneficiary_account: beneficiary.to_string(),
        reference: Some("rent".into()),
    }))
}

#[test]
fn an_incoming_transfer_to_a_known_account_is_deposited_at_once() {
    let mut ledger = given();
    let events = run(&mut ledger, receive(1, "BOB-1", dec!(40)));
    assert_eq!(
        types(&events),
        ["PaymentCreated", "TransferReceived", "TransferCompleted"]
    );
    assert_eq!(balance(&ledger, acc(2)), (dec!(40), dec!(0)));
    assert_eq!(status(&ledger, 1), TransferStatus::Completed);
    assert_eq!(
        ledger.transfer(tr(1)).unwrap().direction,
        TransferDirection::Incoming
    );
}

#[test]
fn an_unrecognized_incoming_transfer_waits_on_suspense_until_assigned() {
    let mut ledger = given();
    let events = run(&mut ledger, receive(1, "NOBODY-7", dec!(40)));
    assert_eq!(
        types(&events),
        [
            "AccountOpened",
            "PaymentCreated",
            "TransferReceived",
            "TransferUnrecognized"
        ]
    );
    let suspense = Ledger::internal_account_id(AccountType::Suspense, eur());
    assert_eq!(balance(&ledger, suspense), (dec!(40), dec!(0)));
    assert_eq!(status(&ledger, 1), TransferStatus::Unrecognized);
    let assign = |account| CommandKind::AssignIncomingTransfer {
        transfer_id: tr(1),
        account_id: account,
        payment_id: pay(50),
    };
    refused(&mut ledger, assign(acc(9)), "AccountNotFound");
    refused(&mut ledger, assign(suspense), "InvalidCommand");
    let events = run(&mut ledger, assign(acc(2)));
    assert_eq!(
        types(&events),
        ["PaymentCreated", "TransferAssigned", "TransferCompleted"]
    );
    assert_eq!(balance(&ledger, suspense), (dec!(0), dec!(0)));
    assert_eq!(balance(&ledger, acc(2)), (dec!(40), dec!(0)));
    assert_eq!(ledger.transfer(tr(1)).unwrap().payment_id, pay(50));
    refused(&mut ledger, assign(acc(2)), "InvalidTransferState");
    // A second unrecognized one reuses the suspense account.
    let events = run(&mut ledger, receive(2, "BOB-1-WRONG", dec!(1)));
    assert_eq!(types(&events)[0], "PaymentCreated");
}

#[test]
fn incoming_refusals_change_nothing() {
    let mut ledger = given();
    refused(&mut ledger, receive(1, "BOB-1", dec!(-1)), "InvalidAmount");
    run(&mut ledger, receive(1, "BOB-1", dec!(1)));
    refused(
        &mut ledger,
        receive(1, "BOB-1", dec!(1)),
        "TransferAlreadyExists",
    );
}

#[test]
fn a_retry_under_the_same_key_is_a_duplicate_and_a_different_request_a_conflict() {
    let mut ledger = given();
    let keyed = |kind| Command {
        at: t(3),
        idempotency_key: Some("k-1".into()),
        kind,
    };
    let first = ledger.execute(&keyed(create(1, IBAN, dec!(30)))).unwrap();
    assert_eq!(first.receipt, Receipt::Transfer(tr(1)));
    // The server generates fresh ids for a retry; the fingerprint ignores them.
    let retry = ledger.execute(&keyed(create(2, IBAN, dec!(30)))).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.receipt, Receipt::Transfer(tr(1)));
    let error = ledger
        .execute(&keyed(create(3, IBAN, dec!(31))))
        .unwrap_err();
    assert_eq!(error.code(), "IdempotencyConflict");
}

#[test]
fn replay_and_snapshot_rebuild_the_transfers() {
    let mut ledger = given();
    let mut log = Vec::new();
    log.extend(run(&mut ledger, create(1, IBAN, dec!(30))));
    log.extend(run(
        &mut ledger,
        CommandKind::ConfirmTransfer {
            transfer_id: tr(1),
            otp: None,
        },
    ));
    log.extend(run(&mut ledger, receive(2, "NOBODY", dec!(3))));
    let restored = Ledger::from_snapshot(ledger.to_snapshot());
    assert_eq!(restored.to_snapshot(), ledger.to_snapshot());
    assert_eq!(
        restored.transfer(tr(1)).unwrap().status,
        TransferStatus::Confirmed
    );
    let mut replayed = given();
    for event in &log {
        replayed.apply(event);
    }
    assert_eq!(replayed.to_snapshot(), ledger.to_snapshot());
}

#[test]
fn transfer_events_refuse_unknown_fields() {
    let payload = format!(r#"{{"transferId":"{}","extra":1}}"#, tr(1));
    assert!(codec::decode("TransferConfirmed", 1, &payload).is_err());
    assert!(codec::decode("TransferConfirmed", 2, &payload).is_err());
}

#[test]
fn the_rail_follows_the_account_and_the_currency() {
    let gbp = Currency::from_code("GBP").unwrap();
    let usd = Currency::from_code("USD").unwrap();
    assert_eq!(external_transfer_type(IBAN, eur()), TransferType::Sepa);
    assert_eq!(
        external_transfer_type("GB29NWBK60161331926819", gbp),
        TransferType::FasterPayments
    );
    assert_eq!(
        external_transfer_type("12345678", gbp),
        TransferType::FasterPayments
    );
    assert_eq!(external_transfer_type(IBAN, usd), TransferType::Swift);
    assert_eq!(
        external_transfer_type("US-1234", eur()),
        TransferType::Swift
    );
}
