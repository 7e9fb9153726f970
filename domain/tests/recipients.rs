//! Recipients: *given* a client's account, *when* a recipient is added, hidden or paid, *then*
//! these events are recorded — or the command is refused with this code and nothing changes.

use chrono::{DateTime, Utc};
use folio_domain::codec;
use folio_domain::{
    AccountId, AccountStatus, AccountType, AddRecipient, ClientId, Command, CommandKind,
    CreateTransfer, Currency, Event, EventBody, Ledger, OpenAccount, PaymentId, RecipientId,
    RecipientType, TransferDirection, TransferEvent, TransferId, TransferType,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

fn t() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn currency(code: &str) -> Currency {
    Currency::from_code(code).unwrap()
}

fn client(n: u128) -> ClientId {
    ClientId(Uuid::from_u128(0xC000 + n))
}

fn recipient(n: u128) -> RecipientId {
    RecipientId(Uuid::from_u128(0x2E00 + n))
}

fn run(ledger: &mut Ledger, kind: CommandKind) -> Vec<Event> {
    let executed = ledger
        .execute(&Command {
            at: t(),
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
    executed.events
}

fn refused(ledger: &mut Ledger, kind: CommandKind, code: &str) -> String {
    let before = ledger.to_snapshot();
    let error = ledger
        .execute(&Command {
            at: t(),
            idempotency_key: None,
            kind,
        })
        .expect_err("refused");
    assert_eq!(error.code(), code, "{error}");
    assert_eq!(ledger.to_snapshot(), before);
    error.to_string()
}

/// Client 1's EUR account 1 (50 paid in) and client 2's EUR account 2 (number BOB-1).
fn given() -> Ledger {
    let mut ledger = Ledger::new();
    for (n, number) in [(1, "ALICE-1"), (2, "BOB-1")] {
        run(
            &mut ledger,
            CommandKind::OpenAccount(OpenAccount {
                account_id: AccountId(Uuid::from_u128(n)),
                client_id: Some(client(n)),
                currency: currency("EUR"),
                account_type: AccountType::Current,
                name: None,
                number: Some(number.into()),
                overdraft_limit: Decimal::ZERO,
                status: AccountStatus::Active,
            }),
        );
    }
    ledger
}

fn add(n: u128) -> AddRecipient {
    AddRecipient {
        recipient_id: recipient(n),
        client_id: client(1),
        name: "Bea Schmidt".into(),
        recipient_type: RecipientType::Individual,
        account_number: None,
        iban: Some("DE89370400440532013000".into()),
        bic: Some("DEUTDEFF".into()),
        sort_code: None,
        currency: currency("EUR"),
        country: "DE".into(),
        address: Some("Hauptstr. 1, Berlin".into()),
    }
}

fn adding(change: impl FnOnce(&mut AddRecipient)) -> CommandKind {
    let mut add = add(1);
    change(&mut add);
    CommandKind::AddRecipient(Box::new(add))
}

#[test]
fn a_recipient_is_added_visible_with_its_details() {
    let mut ledger = given();
    let events = run(&mut ledger, adding(|_| {}));
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].body.stream_id(),
        format!("recipient-{}", recipient(1))
    );
    let saved = ledger.recipient(recipient(1)).unwrap();
    assert!(saved.is_visible);
    assert_eq!(saved.account, "DE89370400440532013000");
    assert_eq!(saved.client_id, client(1));
    // A UK recipient by account number and sort code.
    run(
        &mut ledger,
        CommandKind::AddRecipient(Box::new(AddRecipient {
            recipient_id: recipient(2),
            recipient_type: RecipientType::Company,
            account_number: Some("31926819".into()),
            iban: None,
            bic: None,
            sort_code: Some("601613".into()),
            currency: currency("GBP"),
            country: "GB".into(),
            address: None,
            ..add(2)
        })),
    );
    assert_eq!(ledger.recipient(recipient(2)).unwrap().account, "31926819");
}

#[test]
fn bad_bank_details_are_refused_naming_the_field() {
    let mut ledger = given();
    let cases: Vec<(CommandKind, &str)> = vec![
        (
            adding(|a| a.iban = Some("DE89370400440532013001".into())),
            "iban",
        ),
        (adding(|a| a.iban = Some("NOTANIBAN".into())), "iban"),
        (
            adding(|a| a.account_number = Some("12345678".into())),
            "exactly one",
        ),
        (adding(|a| a.iban = None), "exactly one"),
        (adding(|a| a.bic = Some("DEUT12FF".into())), "bic"),
        (
            adding(|a| a.sort_code = Some("60-16-13".into())),
            "sortCode",
        ),
        (adding(|a| a.country = "XX".into()), "country"),
        (adding(|a| a.country = "de".into()), "country"),
        (adding(|a| a.name = "  ".into()), "name"),
        (adding(|a| a.address = Some("a\0b".into())), "address"),
    ];
    for (kind, field) in cases {
        let message = refused(&mut ledger, kind, "InvalidCommand");
        assert!(message.contains(field), "{message} should name {field}");
    }
    run(&mut ledger, adding(|_| {}));
    refused(&mut ledger, adding(|_| {}), "RecipientAlreadyExists");
}

#[test]
fn hiding_keeps_the_recipient_and_showing_brings_it_back() {
    let mut ledger = given();
    run(&mut ledger, adding(|_| {}));
    let hide = CommandKind::SetRecipientVisibility {
        recipient_id: recipient(1),
        is_visible: false,
    };
    let events = run(&mut ledger, hide);
    assert_eq!(events[0].revision, 1);
    assert!(!ledger.recipient(recipient(1)).unwrap().is_visible);
    run(
        &mut ledger,
        CommandKind::SetRecipientVisibility {
            recipient_id: recipient(1),
            is_visible: true,
        },
    );
    assert!(ledger.recipient(recipient(1)).unwrap().is_visible);
    refused(
        &mut ledger,
        CommandKind::SetRecipientVisibility {
            recipient_id: recipient(9),
            is_visible: false,
        },
        "RecipientNotFound",
    );
}

fn transfer_to(n: u128, source: u128, amount: Decimal, code: &str) -> CommandKind {
    CommandKind::CreateOutgoingTransfer(Box::new(CreateTransfer {
        transfer_id: TransferId(Uuid::from_u128(0x7700 + n)),
        payment_id: PaymentId(Uuid::from_u128(0xAA00 + n)),
        source_account_id: AccountId(Uuid::from_u128(source)),
        beneficiary_account: None,
        beneficiary_name: None,
        recipient_id: Some(recipient(n).0),
        amount,
        currency: currency(code),
        reference: None,
        description: None,
        fees: folio_domain::transfer::FeeSchedule::default(),
        confirmation: None,
    }))
}

#[test]
fn a_transfer_to_a_recipient_pays_its_account_and_name() {
    let mut ledger = given();
    run(&mut ledger, adding(|_| {}));
    let events = run(&mut ledger, transfer_to(1, 1, dec!(10), "EUR"));
    let EventBody::Transfer(TransferEvent::Created(created)) = &events.last().unwrap().body else {
        panic!("the transfer's event comes last")
    };
    assert_eq!(created.beneficiary_account, "DE89370400440532013000");
    assert_eq!(created.beneficiary_name.as_deref(), Some("Bea Schmidt"));
    assert_eq!(created.recipient_id, Some(recipient(1).0));
    assert_eq!(created.transfer_type, TransferType::Sepa);
    // A recipient that is a Folio client's account makes the transfer internal.
    run(
        &mut ledger,
        adding(|a| {
            a.recipient_id = recipient(2);
            a.iban = None;
            a.account_number = Some("BOB-1".into());
        }),
    );
    let events = run(&mut ledger, transfer_to(2, 1, dec!(10), "EUR"));
    let EventBody::Transfer(TransferEvent::Created(created)) = &events.last().unwrap().body else {
        panic!("the transfer's event comes last")
    };
    assert_eq!(created.direction, TransferDirection::Internal);
}

#[test]
fn a_transfer_to_a_hidden_foreign_or_other_currency_recipient_is_refused() {
    let mut ledger = given();
    run(&mut ledger, adding(|_| {}));
    // Client 2's account may not use client 1's recipient: not found, as if it did not exist.
    refused(
        &mut ledger,
        transfer_to(1, 2, dec!(10), "EUR"),
        "RecipientNotFound",
    );
    refused(
        &mut ledger,
        transfer_to(9, 1, dec!(10), "EUR"),
        "RecipientNotFound",
    );
    run(
        &mut ledger,
        adding(|a| {
            a.recipient_id = recipient(3);
            a.currency = currency("USD");
        }),
    );
    refused(
        &mut ledger,
        transfer_to(3, 1, dec!(10), "EUR"),
        "CurrencyMismatch",
    );
    run(
        &mut ledger,
        CommandKind::SetRecipientVisibility {
            recipient_id: recipient(1),
            is_visible: false,
        },
    );
    refused(
        &mut ledger,
        transfer_to(1, 1, dec!(10), "EUR"),
        "RecipientHidden",
    );
    // Both a recipient and an account, or neither: refused.
    let mut both = transfer_to(1, 1, dec!(10), "EUR");
    if let CommandKind::CreateOutgoingTransfer(create) = &mut both {
        create.beneficiary_account = Some("DE89370400440532013000".into());
    }
    refused(&mut ledger, both, "InvalidCommand");
}

#[test]
fn a_snapshot_without_the_ledgers_recipient_does_not_match_it() {
    // Given a ledger with one recipient
    let mut ledger = given();
    run(&mut ledger, CommandKind::AddRecipient(Box::new(add(1))));

    // When its snapshot has lost the recipient
    let mut json = serde_json::to_value(ledger.to_snapshot()).unwrap();
    json["recipients"].as_array_mut().unwrap().clear();
    let lost: folio_domain::LedgerSnapshot = serde_json::from_value(json).unwrap();

    // Then the replay tool's comparison sees the difference, and its own snapshot still matches
    assert!(!ledger.matches_snapshot(&lost));
    assert!(ledger.matches_snapshot(&ledger.to_snapshot()));
}
