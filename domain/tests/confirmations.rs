//! One-time-code confirmations: *given* a ledger with an account (and a transfer), *when* a code
//! is issued or tried, *then* these events are recorded — or the attempt is refused with this
//! code and the ledger is left exactly as it was.

use chrono::{DateTime, Duration, Utc};
use folio_domain::codec;
use folio_domain::confirmation::{MAX_ATTEMPTS, code_hash};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, Command, CommandKind, ConfirmationId,
    CreateMode, CreatePayment, CreateTransfer, Currency, Event, IssueConfirmation, Ledger,
    LedgerError, LegRequest, NewConfirmation, OpenAccount, OtpProof, PaymentId, Receipt,
    TransferId, TransferStatus,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

const SALT: &str = "00112233445566778899aabbccddeeff";
const CODE: &str = "123456";
const WRONG: &str = "654321";
/// Five minutes, the API's default.
const VALID_FOR_MS: u64 = 300_000;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::seconds(seconds)
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

fn conf(n: u128) -> ConfirmationId {
    ConfirmationId(Uuid::from_u128(0x0C00 + n))
}

fn new_confirmation(n: u128) -> NewConfirmation {
    NewConfirmation {
        confirmation_id: conf(n),
        code_hash: code_hash(SALT, CODE),
        salt: SALT.to_string(),
        valid_for_ms: VALID_FOR_MS,
    }
}

fn execute_at(ledger: &mut Ledger, at: DateTime<Utc>, kind: CommandKind) -> (Vec<Event>, Receipt) {
    let executed = ledger
        .execute(&Command {
            at,
            idempotency_key: None,
            kind,
        })
        .expect("accepted");
    for event in &executed.events {
        let (event_type, version, payload) = codec::encode(&event.body);
        assert_eq!(
            codec::decode(event_type, version, &payload).unwrap(),
            event.body
        );
    }
    ledger.check_invariants().unwrap();
    (executed.events, executed.receipt)
}

/// Refused at `at` with `code`, and the ledger is exactly as it was.
fn refused_at(ledger: &mut Ledger, at: DateTime<Utc>, kind: CommandKind, code: &str) {
    let before = ledger.to_snapshot();
    let error = ledger
        .execute(&Command {
            at,
            idempotency_key: None,
            kind,
        })
        .expect_err("refused");
    assert_eq!(error.code(), code, "{error}");
    assert_eq!(ledger.to_snapshot(), before);
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| codec::event_type(&e.body)).collect()
}

/// Alice's EUR account 1 (100 paid in) and Bob's account 2 (client 2).
fn given() -> Ledger {
    let mut ledger = Ledger::new();
    for n in [1, 2] {
        execute_at(
            &mut ledger,
            t(0),
            CommandKind::OpenAccount(OpenAccount {
                account_id: acc(n),
                client_id: Some(client(n)),
                currency: eur(),
                account_type: AccountType::Current,
                name: None,
                number: Some(format!("ACC-{n}")),
                overdraft_limit: Decimal::ZERO,
                status: AccountStatus::Active,
            }),
        );
    }
    execute_at(
        &mut ledger,
        t(0),
        CommandKind::CreatePayment(CreatePayment {
            payment_id: PaymentId(Uuid::from_u128(0xAA00)),
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

fn issue(n: u128) -> CommandKind {
    CommandKind::IssueConfirmation(Box::new(IssueConfirmation {
        account_id: acc(1),
        operation: "withdrawal".into(),
        confirmation: new_confirmation(n),
    }))
}

fn verify(n: u128, code: &str, client_id: Option<ClientId>) -> CommandKind {
    CommandKind::VerifyConfirmation {
        confirmation_id: conf(n),
        code: code.into(),
        client_id,
    }
}

/// Alice's account with confirmation 1 issued at t(10).
fn given_issued() -> Ledger {
    let mut ledger = given();
    execute_at(&mut ledger, t(10), issue(1));
    ledger
}

#[test]
fn issuing_records_only_the_salted_hash_and_the_expiry() {
    let mut ledger = given();
    let (events, receipt) = execute_at(&mut ledger, t(10), issue(1));
    assert_eq!(types(&events), ["ConfirmationIssued"]);
    assert_eq!(receipt, Receipt::Confirmation(conf(1)));
    let (_, _, payload) = codec::encode(&events[0].body);
    assert!(
        !payload.contains(CODE),
        "the code is in the event: {payload}"
    );
    assert!(payload.contains(&code_hash(SALT, CODE)));
    let confirmation = ledger.confirmation(conf(1)).unwrap();
    assert_eq!(confirmation.expires_at, t(10) + Duration::minutes(5));
    assert_eq!(confirmation.failed_attempts, 0);
    assert!(!confirmation.verified);
}

#[test]
fn issuing_is_refused_without_a_hash_for_a_bank_account_or_twice() {
    let mut ledger = given_issued();
    refused_at(&mut ledger, t(11), issue(1), "ConfirmationAlreadyExists");
    let mut plain = new_confirmation(2);
    plain.code_hash = CODE.into();
    let kind = CommandKind::IssueConfirmation(Box::new(IssueConfirmation {
        account_id: acc(1),
        operation: "withdrawal".into(),
        confirmation: plain,
    }));
    refused_at(&mut ledger, t(11), kind, "InvalidCommand");
    let unknown = CommandKind::IssueConfirmation(Box::new(IssueConfirmation {
        account_id: acc(9),
        operation: "withdrawal".into(),
        confirmation: new_confirmation(3),
    }));
    refused_at(&mut ledger, t(11), unknown, "AccountNotFound");
    let unnamed = CommandKind::IssueConfirmation(Box::new(IssueConfirmation {
        account_id: acc(1),
        operation: " ".into(),
        confirmation: new_confirmation(4),
    }));
    refused_at(&mut ledger, t(11), unnamed, "InvalidCommand");
}

#[test]
fn the_right_code_verifies_once_and_cannot_be_used_again() {
    let mut ledger = given_issued();
    let (events, receipt) = execute_at(&mut ledger, t(20), verify(1, CODE, Some(client(1))));
    assert_eq!(types(&events), ["ConfirmationVerified"]);
    assert_eq!(receipt, Receipt::Confirmation(conf(1)));
    assert!(ledger.confirmation(conf(1)).unwrap().verified);
    refused_at(&mut ledger, t(21), verify(1, CODE, None), "OtpAlreadyUsed");
}

#[test]
fn a_wrong_code_records_a_failed_attempt_and_answers_a_failure_receipt() {
    let mut ledger = given_issued();
    let (events, receipt) = execute_at(&mut ledger, t(20), verify(1, WRONG, None));
    assert_eq!(types(&events), ["ConfirmationAttemptFailed"]);
    assert_eq!(receipt, Receipt::ConfirmationFailed(conf(1)));
    assert_eq!(ledger.confirmation(conf(1)).unwrap().failed_attempts, 1);
    // The count is in the log: a ledger rebuilt from the events has it too.
    let rebuilt = Ledger::from_snapshot(ledger.to_snapshot());
    assert_eq!(rebuilt.confirmation(conf(1)).unwrap().failed_attempts, 1);
    // And the right code still works after a wrong one.
    let (events, _) = execute_at(&mut ledger, t(21), verify(1, CODE, None));
    assert_eq!(types(&events), ["ConfirmationVerified"]);
}

#[test]
fn after_five_wrong_codes_even_the_right_one_is_refused() {
    let mut ledger = given_issued();
    for attempt in 1..=MAX_ATTEMPTS {
        let (_, receipt) = execute_at(&mut ledger, t(20), verify(1, WRONG, None));
        assert_eq!(receipt, Receipt::ConfirmationFailed(conf(1)));
        assert_eq!(
            ledger.confirmation(conf(1)).unwrap().failed_attempts,
            attempt
        );
    }
    refused_at(
        &mut ledger,
        t(21),
        verify(1, CODE, None),
        "OtpAttemptsExceeded",
    );
    refused_at(
        &mut ledger,
        t(21),
        verify(1, WRONG, None),
        "OtpAttemptsExceeded",
    );
}

#[test]
fn a_code_expires_at_exactly_its_expiry_instant() {
    let mut ledger = given_issued();
    let expires_at = t(10) + Duration::minutes(5);
    // One millisecond before: still valid, so a wrong code still counts.
    let just_before = expires_at - Duration::milliseconds(1);
    let (events, _) = execute_at(&mut ledger, just_before, verify(1, WRONG, None));
    assert_eq!(types(&events), ["ConfirmationAttemptFailed"]);
    refused_at(&mut ledger, expires_at, verify(1, CODE, None), "OtpExpired");
    refused_at(
        &mut ledger,
        expires_at + Duration::seconds(1),
        verify(1, CODE, None),
        "OtpExpired",
    );
}

#[test]
fn another_clients_confirmation_is_not_found_and_unknown_ones_neither() {
    let mut ledger = given_issued();
    refused_at(
        &mut ledger,
        t(20),
        verify(1, CODE, Some(client(2))),
        "ConfirmationNotFound",
    );
    refused_at(
        &mut ledger,
        t(20),
        verify(9, CODE, None),
        "ConfirmationNotFound",
    );
}

fn transfer_with_code() -> CommandKind {
    CommandKind::CreateOutgoingTransfer(Box::new(CreateTransfer {
        transfer_id: TransferId(Uuid::from_u128(0x7701)),
        payment_id: PaymentId(Uuid::from_u128(0xAA01)),
        source_account_id: acc(1),
        beneficiary_account: Some("DE89370400440532013000".into()),
        beneficiary_name: Some("Bea".into()),
        recipient_id: None,
        amount: dec!(30),
        currency: eur(),
        reference: None,
        description: None,
        fees: folio_domain::transfer::FeeSchedule::default(),
        confirmation: Some(new_confirmation(5)),
    }))
}

fn confirm(code: Option<&str>, n: u128) -> CommandKind {
    CommandKind::ConfirmTransfer {
        transfer_id: TransferId(Uuid::from_u128(0x7701)),
        otp: code.map(|code| OtpProof {
            confirmation_id: conf(n),
            code: code.into(),
        }),
    }
}

#[test]
fn a_transfer_issues_its_confirmation_and_confirms_only_with_its_code() {
    let mut ledger = given();
    let (events, receipt) = execute_at(&mut ledger, t(10), transfer_with_code());
    assert_eq!(
        types(&events),
        ["PaymentCreated", "ConfirmationIssued", "TransferCreated"]
    );
    let transfer = TransferId(Uuid::from_u128(0x7701));
    assert_eq!(receipt, Receipt::Transfer(transfer));
    assert_eq!(
        ledger.confirmation(conf(5)).unwrap().transfer_id,
        Some(transfer)
    );
    // No code, another confirmation's id, or a plain verification: refused, nothing recorded.
    refused_at(&mut ledger, t(11), confirm(None, 5), "OtpRequired");
    execute_at(&mut ledger, t(11), issue(6));
    refused_at(
        &mut ledger,
        t(11),
        confirm(Some(CODE), 6),
        "ConfirmationNotFound",
    );
    refused_at(&mut ledger, t(11), verify(5, CODE, None), "InvalidCommand");
    // A wrong code: the failed attempt alone, the transfer still awaits confirmation.
    let (events, receipt) = execute_at(&mut ledger, t(12), confirm(Some(WRONG), 5));
    assert_eq!(types(&events), ["ConfirmationAttemptFailed"]);
    assert_eq!(receipt, Receipt::ConfirmationFailed(conf(5)));
    assert_eq!(
        ledger.transfer(transfer).unwrap().status,
        TransferStatus::PendingConfirmation
    );
    assert_eq!(ledger.account(acc(1)).unwrap().held(), dec!(0));
    // The right code: verified, held and confirmed in one command.
    let (events, receipt) = execute_at(&mut ledger, t(13), confirm(Some(CODE), 5));
    assert_eq!(
        types(&events),
        ["ConfirmationVerified", "PaymentPended", "TransferConfirmed"]
    );
    assert_eq!(receipt, Receipt::Transfer(transfer));
    assert_eq!(ledger.account(acc(1)).unwrap().held(), dec!(30));
}

#[test]
fn a_transfer_code_is_not_spent_when_the_confirmation_is_refused_for_funds() {
    let mut ledger = given();
    let mut command = transfer_with_code();
    if let CommandKind::CreateOutgoingTransfer(create) = &mut command {
        create.amount = dec!(500);
    }
    execute_at(&mut ledger, t(10), command);
    refused_at(
        &mut ledger,
        t(11),
        confirm(Some(CODE), 5),
        "InsufficientFunds",
    );
    assert!(!ledger.confirmation(conf(5)).unwrap().verified);
}

#[test]
fn a_transfer_confirmation_expires_and_locks_like_any_other() {
    let mut ledger = given();
    execute_at(&mut ledger, t(10), transfer_with_code());
    for _ in 0..MAX_ATTEMPTS {
        execute_at(&mut ledger, t(11), confirm(Some(WRONG), 5));
    }
    refused_at(
        &mut ledger,
        t(12),
        confirm(Some(CODE), 5),
        "OtpAttemptsExceeded",
    );

    let mut ledger = given();
    execute_at(&mut ledger, t(10), transfer_with_code());
    let expired = t(10) + Duration::minutes(5);
    refused_at(&mut ledger, expired, confirm(Some(CODE), 5), "OtpExpired");
}

#[test]
fn a_retried_wrong_code_under_its_key_is_answered_the_same_without_counting_again() {
    let mut ledger = given_issued();
    let command = Command {
        at: t(20),
        idempotency_key: Some("verify-1".into()),
        kind: verify(1, WRONG, None),
    };
    let first = ledger.execute(&command).unwrap();
    assert_eq!(first.receipt, Receipt::ConfirmationFailed(conf(1)));
    let retry = ledger.execute(&command).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.receipt, Receipt::ConfirmationFailed(conf(1)));
    assert_eq!(ledger.confirmation(conf(1)).unwrap().failed_attempts, 1);
    // The same key with another code is another request.
    let other = Command {
        kind: verify(1, CODE, None),
        ..command
    };
    assert!(matches!(
        ledger.execute(&other),
        Err(LedgerError::IdempotencyConflict { .. })
    ));
}
