//! FX transfers, fees on outgoing transfers and manual execution: *given* a ledger, *when* a
//! transfer command arrives, *then* these events and balances — or this refusal, with the
//! ledger left exactly as it was.

use chrono::{DateTime, Duration, Utc};
use folio_domain::codec;
use folio_domain::event::{FxTerms, TransferCreated};
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, Command, CommandKind, CreateFxTransfer,
    CreateMode, CreatePayment, CreateTransfer, Currency, Event, EventBody, FeeSchedule, FxQuote,
    Ledger, LegRequest, OpenAccount, PaymentEvent, PaymentId, PaymentStatus, TransferDirection,
    TransferEvent, TransferId, TransferOutcome, TransferStatus,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::seconds(seconds)
}

fn c(code: &str) -> Currency {
    Currency::from_code(code).unwrap()
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

fn client(n: u128) -> ClientId {
    ClientId(Uuid::from_u128(0xC000 + n))
}

fn internal(kind: AccountType, code: &str) -> AccountId {
    Ledger::internal_account_id(kind, c(code))
}

fn command(kind: CommandKind, key: Option<&str>) -> Command {
    Command {
        at: t(1),
        idempotency_key: key.map(str::to_string),
        kind,
    }
}

fn run(ledger: &mut Ledger, kind: CommandKind) -> Vec<Event> {
    let executed = ledger.execute(&command(kind, None)).expect("accepted");
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
    let error = ledger.execute(&command(kind, None)).expect_err("refused");
    assert_eq!(error.code(), code, "{error}");
    assert_eq!(ledger.to_snapshot(), before);
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| codec::event_type(&e.body)).collect()
}

fn balance(ledger: &Ledger, id: AccountId) -> (Decimal, Decimal) {
    let account = ledger.account(id).unwrap();
    (account.balance(), account.held())
}

fn status(ledger: &Ledger, n: u128) -> TransferStatus {
    ledger.transfer(tr(n)).unwrap().status
}

fn open(ledger: &mut Ledger, n: u128, owner: u128, code: &str) {
    run(
        ledger,
        CommandKind::OpenAccount(OpenAccount {
            account_id: acc(n),
            client_id: Some(client(owner)),
            currency: c(code),
            account_type: AccountType::Current,
            name: None,
            number: Some(format!("ACC-{n}")),
            overdraft_limit: Decimal::ZERO,
            status: AccountStatus::Active,
        }),
    );
}

fn pay_in(ledger: &mut Ledger, n: u128, account: u128, amount: Decimal, code: &str) {
    run(
        ledger,
        CommandKind::CreatePayment(CreatePayment {
            payment_id: pay(0x100 + n),
            legs: vec![LegRequest {
                debit: None,
                credit: Some(acc(account)),
                amount,
                currency: c(code),
            }],
            mode: CreateMode::Posted,
            description: None,
            external_id: None,
            metadata: None,
            expires_at: None,
        }),
    );
}

/// Alice (client 1) holds EUR account 1 (200 paid in), USD account 2 and JPY account 3; Bob
/// (client 2) holds USD account 4.
fn given() -> Ledger {
    let mut ledger = Ledger::new();
    open(&mut ledger, 1, 1, "EUR");
    open(&mut ledger, 2, 1, "USD");
    open(&mut ledger, 3, 1, "JPY");
    open(&mut ledger, 4, 2, "USD");
    pay_in(&mut ledger, 1, 1, dec!(200), "EUR");
    ledger
}

fn quote(rate: Decimal, spread: Decimal) -> FxQuote {
    FxQuote {
        rate,
        spread,
        quoted_at: t(0),
        provider: "fixed-table".into(),
        expires_at: None,
    }
}

struct Fx {
    from: u128,
    to: u128,
    source: Option<Decimal>,
    destination: Option<Decimal>,
    pair: (&'static str, &'static str),
    quote: FxQuote,
}

/// 100 EUR from Alice's EUR account to her USD account at 1.25 with a 0.5 % spread.
fn eur_to_usd() -> Fx {
    Fx {
        from: 1,
        to: 2,
        source: Some(dec!(100)),
        destination: None,
        pair: ("EUR", "USD"),
        quote: quote(dec!(1.25), dec!(0.005)),
    }
}

fn fx(n: u128, fx: Fx) -> CommandKind {
    CommandKind::CreateFxTransfer(Box::new(CreateFxTransfer {
        transfer_id: tr(n),
        payment_id: pay(n),
        source_account_id: acc(fx.from),
        destination_account_id: acc(fx.to),
        source_amount: fx.source,
        destination_amount: fx.destination,
        source_currency: c(fx.pair.0),
        destination_currency: c(fx.pair.1),
        quote: fx.quote,
        quote_valid_for_ms: None,
    }))
}

fn created(events: &[Event]) -> &TransferCreated {
    events
        .iter()
        .find_map(|event| match &event.body {
            EventBody::Transfer(TransferEvent::Created(created)) => Some(&**created),
            _ => None,
        })
        .expect("a TransferCreated event")
}

fn confirm(n: u128) -> CommandKind {
    CommandKind::ConfirmTransfer {
        transfer_id: tr(n),
        otp: None,
    }
}

#[test]
fn an_fx_transfer_drafts_three_legs_and_confirming_settles_all_of_them_at_once() {
    let mut ledger = given();
    let events = run(&mut ledger, fx(1, eur_to_usd()));
    // The bank's FX positions and its fee account open with the first FX transfer.
    assert_eq!(
        types(&events),
        [
            "AccountOpened",
            "AccountOpened",
            "AccountOpened",
            "PaymentCreated",
            "TransferCreated"
        ]
    );
    let transfer = created(&events);
    assert_eq!(transfer.direction, TransferDirection::ForeignExchange);
    assert_eq!((transfer.amount, transfer.currency), (dec!(100), c("EUR")));
    assert_eq!(transfer.fee, dec!(0.50), "0.5 % of 100 EUR");
    assert_eq!(transfer.destination_account_id, Some(acc(2)));
    assert_eq!(
        transfer.fx,
        Some(FxTerms {
            destination_amount: dec!(125.00),
            destination_currency: c("USD"),
            quote: quote(dec!(1.25), dec!(0.005)),
        }),
        "the quote is recorded as given"
    );
    assert_eq!(ledger.payment(pay(1)).unwrap().status, PaymentStatus::Draft);
    assert_eq!(ledger.payment(pay(1)).unwrap().legs.len(), 3);
    assert_eq!(
        balance(&ledger, acc(1)),
        (dec!(200), dec!(0)),
        "a draft moves nothing"
    );

    let events = run(&mut ledger, confirm(1));
    assert_eq!(
        types(&events),
        [
            "PaymentPended",
            "PaymentPosted",
            "TransferConfirmed",
            "TransferCompleted"
        ]
    );
    assert_eq!(status(&ledger, 1), TransferStatus::Completed);
    assert_eq!(balance(&ledger, acc(1)), (dec!(99.50), dec!(0)));
    assert_eq!(balance(&ledger, acc(2)), (dec!(125.00), dec!(0)));
    let fx_eur = internal(AccountType::FxPosition, "EUR");
    let fx_usd = internal(AccountType::FxPosition, "USD");
    let fees = internal(AccountType::Fee, "EUR");
    assert_eq!(balance(&ledger, fx_eur), (dec!(100), dec!(0)));
    assert_eq!(balance(&ledger, fx_usd), (dec!(-125.00), dec!(0)));
    assert_eq!(balance(&ledger, fees), (dec!(0.50), dec!(0)));
    assert_eq!(ledger.account(fx_eur).unwrap().number, "FXPOSITION-EUR");
    assert_eq!(ledger.account(fees).unwrap().number, "FEES-EUR");

    // The accounts exist now: the second transfer opens none.
    let second = Fx {
        source: Some(dec!(10)),
        ..eur_to_usd()
    };
    let events = run(&mut ledger, fx(2, second));
    assert_eq!(types(&events), ["PaymentCreated", "TransferCreated"]);
}

#[test]
fn a_destination_amount_is_bought_with_a_source_rounded_in_the_banks_favour() {
    let mut ledger = given();
    // 1002 JPY at 160 per EUR is 6.2625 EUR: the client pays 6.27 (half-up would say 6.26,
    // and 6.26 EUR buys only 1001.6 JPY).
    let events = run(
        &mut ledger,
        fx(
            1,
            Fx {
                from: 1,
                to: 3,
                source: None,
                destination: Some(dec!(1002)),
                pair: ("EUR", "JPY"),
                quote: quote(dec!(160), dec!(0)),
            },
        ),
    );
    let transfer = created(&events);
    assert_eq!(transfer.amount, dec!(6.27));
    assert_eq!(transfer.fee, dec!(0), "no spread, no fee leg");
    assert_eq!(ledger.payment(pay(1)).unwrap().legs.len(), 2);
    run(&mut ledger, confirm(1));
    assert_eq!(
        balance(&ledger, acc(3)),
        (dec!(1002), dec!(0)),
        "exactly as asked"
    );
    assert_eq!(balance(&ledger, acc(1)), (dec!(193.73), dec!(0)));
}

#[test]
fn a_source_amount_converts_half_up_to_the_destinations_minor_units() {
    let mut ledger = given();
    // 0.03 EUR at 150 is 4.5 yen: half a yen rounds up to 5 (banker's rounding would give 4).
    let events = run(
        &mut ledger,
        fx(
            1,
            Fx {
                from: 1,
                to: 3,
                source: Some(dec!(0.03)),
                destination: None,
                pair: ("EUR", "JPY"),
                quote: quote(dec!(150), dec!(0)),
            },
        ),
    );
    assert_eq!(
        created(&events).fx.as_ref().unwrap().destination_amount,
        dec!(5)
    );
    // 0.01 EUR at 0.004 is 0.00004 yen: nothing to deliver, refused.
    refused(
        &mut ledger,
        fx(
            2,
            Fx {
                from: 1,
                to: 3,
                source: Some(dec!(0.01)),
                destination: None,
                pair: ("EUR", "JPY"),
                quote: quote(dec!(0.004), dec!(0)),
            },
        ),
        "InvalidAmount",
    );
}

#[test]
fn an_fx_transfer_beyond_the_funds_is_refused_at_creation_and_at_confirmation() {
    let mut ledger = given();
    // 199.50 EUR + 1 EUR spread (0.5 %, half-up of 0.9975) is more than the 200 there.
    let too_much = Fx {
        source: Some(dec!(199.50)),
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, too_much), "InsufficientFunds");
    // Created while the money was there, confirmed after it left.
    run(&mut ledger, fx(2, eur_to_usd()));
    run(
        &mut ledger,
        CommandKind::CreatePayment(CreatePayment {
            payment_id: pay(0x50),
            legs: vec![LegRequest {
                debit: Some(acc(1)),
                credit: None,
                amount: dec!(150),
                currency: c("EUR"),
            }],
            mode: CreateMode::Posted,
            description: None,
            external_id: None,
            metadata: None,
            expires_at: None,
        }),
    );
    refused(&mut ledger, confirm(2), "InsufficientFunds");
}

#[test]
fn fx_transfers_between_wrong_accounts_are_refused() {
    let mut ledger = given();
    let same_currency = Fx {
        to: 1,
        pair: ("EUR", "EUR"),
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, same_currency), "InvalidCommand");
    let other_client = Fx {
        to: 4,
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, other_client), "InvalidCommand");
    let wrong_currency = Fx {
        pair: ("EUR", "JPY"),
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, wrong_currency), "CurrencyMismatch");
    let unknown = Fx {
        to: 99,
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, unknown), "AccountNotFound");
    let both_amounts = Fx {
        destination: Some(dec!(125)),
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, both_amounts), "InvalidCommand");
    let no_rate = Fx {
        quote: quote(dec!(0), dec!(0)),
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, no_rate), "InvalidCommand");
    // The bank's own accounts are no FX transfer's side.
    run(&mut ledger, fx(2, eur_to_usd()));
    let from_the_bank = CommandKind::CreateFxTransfer(Box::new(CreateFxTransfer {
        transfer_id: tr(3),
        payment_id: pay(3),
        source_account_id: internal(AccountType::FxPosition, "EUR"),
        destination_account_id: acc(2),
        source_amount: Some(dec!(1)),
        destination_amount: None,
        source_currency: c("EUR"),
        destination_currency: c("USD"),
        quote: quote(dec!(1.25), dec!(0)),
        quote_valid_for_ms: None,
    }));
    refused(&mut ledger, from_the_bank, "InvalidCommand");
}

#[test]
fn blocked_or_closed_accounts_take_no_fx_transfer() {
    let mut ledger = given();
    run(
        &mut ledger,
        CommandKind::BlockAccount {
            account_id: acc(1),
            reason: None,
        },
    );
    refused(&mut ledger, fx(1, eur_to_usd()), "AccountBlocked");
    run(
        &mut ledger,
        CommandKind::UnblockAccount { account_id: acc(1) },
    );
    run(
        &mut ledger,
        CommandKind::CloseAccount { account_id: acc(2) },
    );
    refused(&mut ledger, fx(1, eur_to_usd()), "AccountClosed");
}

#[test]
fn cancelling_an_unconfirmed_fx_transfer_moves_nothing_and_a_completed_one_stays() {
    let mut ledger = given();
    run(&mut ledger, fx(1, eur_to_usd()));
    let events = run(
        &mut ledger,
        CommandKind::CancelTransfer {
            transfer_id: tr(1),
            reason: Some("rate too low".into()),
        },
    );
    assert_eq!(types(&events), ["PaymentCancelled", "TransferCancelled"]);
    assert_eq!(balance(&ledger, acc(1)), (dec!(200), dec!(0)));
    assert_eq!(balance(&ledger, acc(2)), (dec!(0), dec!(0)));
    refused(&mut ledger, confirm(1), "InvalidTransferState");

    run(&mut ledger, fx(2, eur_to_usd()));
    run(&mut ledger, confirm(2));
    let cancel = CommandKind::CancelTransfer {
        transfer_id: tr(2),
        reason: None,
    };
    refused(&mut ledger, cancel, "InvalidTransferState");
}

#[test]
fn a_retry_quoted_afresh_is_the_same_request_and_another_amount_is_not() {
    let mut ledger = given();
    let first = ledger
        .execute(&command(fx(1, eur_to_usd()), Some("fx-1")))
        .unwrap();
    assert!(!first.duplicate);
    let requoted = Fx {
        quote: FxQuote {
            quoted_at: t(5),
            rate: dec!(1.26),
            ..quote(dec!(1.25), dec!(0.005))
        },
        ..eur_to_usd()
    };
    // New ids and a new quote, as the API makes for a retry: still the same request.
    let retry = ledger
        .execute(&command(fx(9, requoted), Some("fx-1")))
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.receipt, first.receipt);
    let other = Fx {
        source: Some(dec!(101)),
        ..eur_to_usd()
    };
    let conflict = ledger
        .execute(&command(fx(10, other), Some("fx-1")))
        .unwrap_err();
    assert_eq!(conflict.code(), "IdempotencyConflict");
}

// ------------------------------------------------------------------ fees and manual execution

const IBAN: &str = "DE89370400440532013000";

fn outgoing(n: u128, to: &str, amount: Decimal, fees: FeeSchedule) -> CommandKind {
    CommandKind::CreateOutgoingTransfer(Box::new(CreateTransfer {
        transfer_id: tr(n),
        payment_id: pay(n),
        source_account_id: acc(1),
        beneficiary_account: Some(to.to_string()),
        beneficiary_name: None,
        recipient_id: None,
        amount,
        currency: c("EUR"),
        reference: None,
        description: None,
        fees,
        confirmation: None,
    }))
}

/// SEPA free, SWIFT 5, internal 0.25.
fn schedule() -> FeeSchedule {
    FeeSchedule {
        swift: dec!(5),
        internal: dec!(0.25),
        ..FeeSchedule::default()
    }
}

/// A SWIFT payout (EUR to a US account number).
const SWIFT: &str = "US12345678";

#[test]
fn the_fee_of_the_rail_is_held_with_the_amount_and_posted_to_the_fee_account() {
    let mut ledger = given();
    let events = run(&mut ledger, outgoing(1, SWIFT, dec!(30), schedule()));
    assert_eq!(
        types(&events),
        ["AccountOpened", "PaymentCreated", "TransferCreated"]
    );
    assert_eq!(created(&events).fee, dec!(5));
    run(&mut ledger, confirm(1));
    assert_eq!(balance(&ledger, acc(1)), (dec!(200), dec!(35)));
    run(
        &mut ledger,
        CommandKind::StartTransferProcessing { transfer_id: tr(1) },
    );
    let completed = CommandKind::RecordTransferOutcome {
        transfer_id: tr(1),
        outcome: TransferOutcome::Completed {
            provider_reference: None,
        },
    };
    run(&mut ledger, completed);
    assert_eq!(balance(&ledger, acc(1)), (dec!(165), dec!(0)));
    assert_eq!(
        balance(&ledger, internal(AccountType::Fee, "EUR")),
        (dec!(5), dec!(0))
    );
    // SEPA is free: one leg, no fee.
    let events = run(&mut ledger, outgoing(2, IBAN, dec!(10), schedule()));
    assert_eq!(created(&events).fee, dec!(0));
    assert_eq!(ledger.payment(pay(2)).unwrap().legs.len(), 1);
}

#[test]
fn a_rejected_cancelled_or_failed_transfer_pays_its_fee_back() {
    for (n, end) in [
        (
            1,
            Some(TransferOutcome::Rejected {
                reason: Some("no such account".into()),
            }),
        ),
        (2, Some(TransferOutcome::Failed { reason: None })),
        (3, None),
    ] {
        let mut ledger = given();
        run(&mut ledger, outgoing(n, SWIFT, dec!(30), schedule()));
        run(&mut ledger, confirm(n));
        match end {
            Some(outcome) => {
                run(
                    &mut ledger,
                    CommandKind::StartTransferProcessing { transfer_id: tr(n) },
                );
                let events = run(
                    &mut ledger,
                    CommandKind::RecordTransferOutcome {
                        transfer_id: tr(n),
                        outcome,
                    },
                );
                let EventBody::Payment(PaymentEvent::Cancelled(cancelled)) = &events[0].body else {
                    panic!("the payment is cancelled first");
                };
                assert_eq!(cancelled.released.len(), 2, "amount and fee paid back");
            }
            None => {
                run(
                    &mut ledger,
                    CommandKind::CancelTransfer {
                        transfer_id: tr(n),
                        reason: None,
                    },
                );
            }
        }
        assert_eq!(balance(&ledger, acc(1)), (dec!(200), dec!(0)), "case {n}");
        assert_eq!(
            balance(&ledger, internal(AccountType::Fee, "EUR")),
            (dec!(0), dec!(0))
        );
    }
}

#[test]
fn the_fee_counts_in_the_funds_check_and_fees_are_rounded_or_refused() {
    let mut ledger = given();
    // 196 + 5 is more than 200: created (drafts check nothing) but not confirmed.
    run(&mut ledger, outgoing(1, SWIFT, dec!(196), schedule()));
    refused(&mut ledger, confirm(1), "InsufficientFunds");
    // A transfer to a Folio account (Bob's) pays the internal rail's fee.
    open(&mut ledger, 5, 2, "EUR");
    let events = run(&mut ledger, outgoing(2, "ACC-5", dec!(10), schedule()));
    assert_eq!(created(&events).fee, dec!(0.25));
    run(&mut ledger, confirm(2));
    assert_eq!(balance(&ledger, acc(1)), (dec!(189.75), dec!(0)));
    assert_eq!(balance(&ledger, acc(5)), (dec!(10), dec!(0)));
    // A fixed fee finer than the currency rounds half-up: 0.125 EUR is charged as 0.13.
    let fine = FeeSchedule {
        sepa: dec!(0.125),
        ..FeeSchedule::default()
    };
    let events = run(&mut ledger, outgoing(3, IBAN, dec!(1), fine));
    assert_eq!(created(&events).fee, dec!(0.13));
    let negative = FeeSchedule {
        swift: dec!(-1),
        ..FeeSchedule::default()
    };
    refused(
        &mut ledger,
        outgoing(4, SWIFT, dec!(1), negative),
        "InvalidCommand",
    );
}

#[test]
fn manual_execution_starts_a_confirmed_transfer_or_resumes_a_suspended_one() {
    let mut ledger = given();
    run(&mut ledger, outgoing(1, IBAN, dec!(30), schedule()));
    let execute = |n| CommandKind::ExecuteTransfer { transfer_id: tr(n) };
    refused(&mut ledger, execute(1), "InvalidTransferState");
    run(&mut ledger, confirm(1));
    let events = run(&mut ledger, execute(1));
    assert_eq!(types(&events), ["TransferProcessingStarted"]);
    assert_eq!(status(&ledger, 1), TransferStatus::Processing);
    refused(&mut ledger, execute(1), "InvalidTransferState");
    run(
        &mut ledger,
        CommandKind::SuspendTransfer {
            transfer_id: tr(1),
            reason: Some("compliance".into()),
        },
    );
    let events = run(&mut ledger, execute(1));
    assert_eq!(types(&events), ["TransferContinued"]);
    assert_eq!(status(&ledger, 1), TransferStatus::Processing);
    assert_eq!(
        balance(&ledger, acc(1)),
        (dec!(200), dec!(30)),
        "still held"
    );
    // FX and internal transfers complete on confirmation: nothing left to execute.
    run(&mut ledger, fx(2, eur_to_usd()));
    run(&mut ledger, confirm(2));
    refused(&mut ledger, execute(2), "InvalidTransferState");
    refused(&mut ledger, execute(3), "TransferNotFound");
}

/// `fx` executed at `at` rather than at the suite's usual instant.
fn at(ledger: &mut Ledger, kind: CommandKind, at: DateTime<Utc>) -> Result<Vec<Event>, String> {
    let command = Command {
        at,
        idempotency_key: None,
        kind,
    };
    let before = ledger.to_snapshot();
    match ledger.execute(&command) {
        Ok(executed) => {
            ledger.check_invariants().unwrap();
            Ok(executed.events)
        }
        Err(error) => {
            assert_eq!(ledger.to_snapshot(), before, "a refusal changes nothing");
            Err(error.code().to_string())
        }
    }
}

/// Quoted at t(0), good until t(60).
fn expiring() -> Fx {
    Fx {
        quote: FxQuote {
            expires_at: Some(t(60)),
            ..quote(dec!(1.25), dec!(0.005))
        },
        ..eur_to_usd()
    }
}

#[test]
fn a_quote_can_be_confirmed_up_to_its_expiry_and_not_a_microsecond_after() {
    let mut ledger = given();
    run(&mut ledger, fx(1, expiring()));
    run(&mut ledger, fx(2, expiring()));
    assert_eq!(
        ledger.transfer(tr(1)).unwrap().quote_expires_at,
        Some(t(60)),
        "the ledger keeps the expiry with the transfer"
    );

    let late = t(60) + Duration::microseconds(1);
    assert_eq!(
        at(&mut ledger, confirm(1), late),
        Err("FxQuoteExpired".to_string())
    );
    assert_eq!(status(&ledger, 1), TransferStatus::PendingConfirmation);
    assert_eq!(
        balance(&ledger, acc(1)),
        (dec!(200), dec!(0)),
        "nothing moved"
    );
    // The stale transfer can still be cancelled, and a fresh quote taken.
    let cancel = CommandKind::CancelTransfer {
        transfer_id: tr(1),
        reason: Some("quote expired".into()),
    };
    at(&mut ledger, cancel, late).expect("an expired transfer can be cancelled");

    // At the very instant of expiry the quote still holds.
    at(&mut ledger, confirm(2), t(60)).expect("confirmed at the expiry instant");
    assert_eq!(status(&ledger, 2), TransferStatus::Completed);
    assert_eq!(balance(&ledger, acc(2)), (dec!(125.00), dec!(0)));
}

#[test]
fn an_expired_or_inconsistent_quote_takes_no_transfer_and_an_old_quote_never_expires() {
    let mut ledger = given();
    // Already past its expiry when the command is decided.
    assert_eq!(
        at(&mut ledger, fx(1, expiring()), t(61)),
        Err("FxQuoteExpired".to_string())
    );
    // Expiring no later than it was given: not a quote anyone can honour.
    let backwards = Fx {
        quote: FxQuote {
            expires_at: Some(t(0)),
            ..quote(dec!(1.25), dec!(0.005))
        },
        ..eur_to_usd()
    };
    refused(&mut ledger, fx(1, backwards), "InvalidCommand");
    // A quote recorded before quotes expired (no expiry) is confirmed whenever.
    run(&mut ledger, fx(2, eur_to_usd()));
    assert_eq!(ledger.transfer(tr(2)).unwrap().quote_expires_at, None);
    at(&mut ledger, confirm(2), t(86_400 * 365)).expect("no expiry, no refusal");
    assert_eq!(status(&ledger, 2), TransferStatus::Completed);
}

/// `fx` with the quote's validity given as a duration, as the API passes it.
fn fx_valid_for(n: u128, fx_terms: Fx, valid_for_ms: u64) -> CommandKind {
    let CommandKind::CreateFxTransfer(mut create) = fx(n, fx_terms) else {
        unreachable!("fx builds an FX transfer")
    };
    create.quote_valid_for_ms = Some(valid_for_ms);
    CommandKind::CreateFxTransfer(create)
}

#[test]
fn a_validity_is_counted_from_the_ledgers_own_decision_instant() {
    let mut ledger = given();
    // Quoted at t(0) by the provider's clock; the ledger decides the creation at t(30).
    let events = at(&mut ledger, fx_valid_for(1, eur_to_usd(), 60_000), t(30)).unwrap();
    let recorded = created(&events).fx.as_ref().unwrap().quote.clone();
    assert_eq!(
        recorded.quoted_at,
        t(0),
        "the provider's time is kept as given"
    );
    assert_eq!(
        recorded.expires_at,
        Some(t(90)),
        "60 s from the decision at t(30)"
    );
    assert_eq!(
        ledger.transfer(tr(1)).unwrap().quote_expires_at,
        Some(t(90))
    );
    assert_eq!(
        at(&mut ledger, confirm(1), t(90) + Duration::microseconds(1)),
        Err("FxQuoteExpired".to_string())
    );
    at(&mut ledger, confirm(1), t(90)).expect("good until its expiry");

    // No validity, or an expiry and a validity both: refused.
    for valid_for in [0, 86_400_001] {
        refused(
            &mut ledger,
            fx_valid_for(2, eur_to_usd(), valid_for),
            "InvalidCommand",
        );
    }
    refused(
        &mut ledger,
        fx_valid_for(2, expiring(), 60_000),
        "InvalidCommand",
    );
}
