//! The ledger's rules, one scenario each, written against DESIGN.md "Domain" and API.md §2.3,
//! §2.5 and §3.1: *given* a history of events, *when* a command arrives, *then* these events are
//! recorded — or the command is refused with this code and the ledger is left exactly as it was.

use chrono::{DateTime, Duration, Utc};
use folio_domain::event::{
    AccountBlocked, AccountOpened, AccountRenamed, AccountStatusChanged, PaymentCancelled,
    PaymentCreated, PaymentExpired, PaymentPended, PaymentPosted,
};
use folio_domain::{
    AccountEvent, AccountId, AccountStatus, AccountType, BalancePolicy, ClientId, Command,
    CommandKind, CreateMode, CreatePayment, Currency, Event, EventBody, Executed, IdempotencyStamp,
    LedgerError, Leg, LegRequest, OpenAccount, PaymentEvent, PaymentId, PaymentStatus, PostedLeg,
    Receipt,
};
use folio_domain::{Ledger, LedgerSnapshot};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::HashMap;
use uuid::Uuid;

// ------------------------------------------------------------------------------------ harness

/// The instant every scenario starts at; `t(s)` is `s` seconds later.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::seconds(seconds)
}

fn cur(code: &str) -> Currency {
    Currency::from_code(code).unwrap()
}

fn acc(n: u128) -> AccountId {
    AccountId(Uuid::from_u128(n))
}

fn pay(n: u128) -> PaymentId {
    PaymentId(Uuid::from_u128(0xAA00 + n))
}

fn client(n: u128) -> ClientId {
    ClientId(Uuid::from_u128(0xC000 + n))
}

fn settlement(code: &str) -> AccountId {
    Ledger::settlement_account_id(cur(code))
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

/// A ledger built by applying `events` to an empty one.
fn given(events: Vec<Event>) -> Given {
    let mut ledger = Ledger::new();
    for event in &events {
        ledger.apply(event);
    }
    ledger
        .check_invariants()
        .expect("the given history is consistent");
    Given { ledger }
}

fn given_bodies(bodies: Vec<EventBody>) -> Given {
    given(history(bodies))
}

impl Given {
    /// The command, decided at `t(0)` without an idempotency key.
    fn when(self, kind: CommandKind) -> Then {
        self.when_command(Command {
            at: t(0),
            idempotency_key: None,
            kind,
        })
    }

    fn when_at(self, at: DateTime<Utc>, kind: CommandKind) -> Then {
        self.when_command(Command {
            at,
            idempotency_key: None,
            kind,
        })
    }

    fn when_keyed(self, key: &str, kind: CommandKind) -> Then {
        self.when_command(Command {
            at: t(0),
            idempotency_key: Some(key.to_string()),
            kind,
        })
    }

    fn when_command(self, command: Command) -> Then {
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
    /// The command was accepted and recorded exactly these events; returns the ledger after.
    fn then_events(self, expected: Vec<EventBody>) -> Ledger {
        let executed = match self.result {
            Ok(executed) => executed,
            Err(err) => panic!("expected events, the command was refused: {err}"),
        };
        assert!(!executed.duplicate, "a first request is not a duplicate");
        let bodies: Vec<EventBody> = executed.events.iter().map(|e| e.body.clone()).collect();
        assert_eq!(bodies, expected);
        // The recorded events are the whole change: replaying them on the old state gives the new.
        let mut replayed = self.before.clone();
        for event in &executed.events {
            replayed.apply(event);
        }
        assert_eq!(replayed, self.after, "the events explain the new state");
        self.after
            .check_invariants()
            .expect("invariants hold after an accepted command");
        self.after
    }

    /// The command was accepted, whatever its events; they must still explain the new state.
    fn then_executed(self) -> (Executed, Ledger) {
        let executed = self.result.clone().expect("the command is accepted");
        let bodies = executed.events.iter().map(|e| e.body.clone()).collect();
        let ledger = self.then_events(bodies);
        (executed, ledger)
    }

    /// The command was refused with `code`, and the ledger did not change at all.
    fn then_error(self, code: &str) -> Ledger {
        match &self.result {
            Ok(executed) => panic!("expected {code}, the command was accepted: {executed:?}"),
            Err(err) => assert_eq!(err.code(), code, "refused for the wrong reason: {err}"),
        }
        let before: LedgerSnapshot = self.before.to_snapshot();
        assert_eq!(
            before,
            self.after.to_snapshot(),
            "a refusal changes nothing"
        );
        assert_eq!(self.before, self.after, "a refusal changes nothing");
        self.after
    }

    /// The command was a retry: nothing recorded, the first outcome's receipt returned.
    fn then_duplicate(self, receipt: Receipt) -> Ledger {
        let executed = self.result.expect("a retry is answered");
        assert!(executed.duplicate, "the retry is reported as a duplicate");
        assert!(executed.events.is_empty(), "a retry records nothing");
        assert_eq!(executed.receipt, receipt, "a retry gets the first receipt");
        assert_eq!(self.before, self.after, "a retry changes nothing");
        self.after
    }
}

fn bal(ledger: &Ledger, id: AccountId) -> (Decimal, Decimal, Decimal) {
    let a = ledger.account(id).expect("account exists");
    (a.balance(), a.held(), a.available_balance())
}

fn status_of(ledger: &Ledger, id: PaymentId) -> PaymentStatus {
    ledger.payment(id).expect("payment exists").status
}

// ------------------------------------------------------------------------------------ events

fn opened_with(
    id: u128,
    code: &str,
    account_type: AccountType,
    status: AccountStatus,
    overdraft: Decimal,
) -> EventBody {
    let customer = !account_type.is_internal();
    EventBody::Account(AccountEvent::Opened(AccountOpened {
        account_id: acc(id),
        number: format!("N-{id}"),
        client_id: customer.then(|| client(id)),
        currency: cur(code),
        account_type,
        status,
        name: None,
        policy: BalancePolicy::for_type(account_type, overdraft),
    }))
}

/// An active current account.
fn opened(id: u128, code: &str) -> EventBody {
    opened_with(
        id,
        code,
        AccountType::Current,
        AccountStatus::Active,
        Decimal::ZERO,
    )
}

fn settlement_opened(code: &str) -> EventBody {
    EventBody::Account(AccountEvent::Opened(AccountOpened {
        account_id: settlement(code),
        number: format!("SETTLEMENT-{code}"),
        client_id: None,
        currency: cur(code),
        account_type: AccountType::Settlement,
        status: AccountStatus::Active,
        name: Some(format!("{code} settlement")),
        policy: BalancePolicy::for_type(AccountType::Settlement, Decimal::ZERO),
    }))
}

fn leg(debit: AccountId, credit: AccountId, amount: Decimal, code: &str) -> Leg {
    Leg {
        debit,
        credit,
        amount,
        currency: cur(code),
    }
}

fn created(payment: u128, status: PaymentStatus, legs: Vec<Leg>) -> EventBody {
    created_full(payment, status, legs, None)
}

fn created_full(
    payment: u128,
    status: PaymentStatus,
    legs: Vec<Leg>,
    expires_at: Option<DateTime<Utc>>,
) -> EventBody {
    EventBody::Payment(PaymentEvent::Created(PaymentCreated {
        payment_id: pay(payment),
        status,
        legs,
        description: None,
        external_id: None,
        metadata: None,
        expires_at,
    }))
}

fn pended(payment: u128, legs: Vec<Leg>, expires_at: Option<DateTime<Utc>>) -> EventBody {
    EventBody::Payment(PaymentEvent::Pended(PaymentPended {
        payment_id: pay(payment),
        legs,
        expires_at,
    }))
}

fn posted(payment: u128, legs: Vec<PostedLeg>) -> EventBody {
    EventBody::Payment(PaymentEvent::Posted(PaymentPosted {
        payment_id: pay(payment),
        legs,
    }))
}

fn posted_leg(leg: &Leg, posted: Decimal) -> PostedLeg {
    PostedLeg {
        debit: leg.debit,
        credit: leg.credit,
        currency: leg.currency,
        held: leg.amount,
        posted,
    }
}

fn cancelled(payment: u128, released: Vec<Leg>, reason: Option<&str>) -> EventBody {
    EventBody::Payment(PaymentEvent::Cancelled(PaymentCancelled {
        payment_id: pay(payment),
        released,
        reason: reason.map(str::to_string),
    }))
}

fn expired(payment: u128, released: Vec<Leg>) -> EventBody {
    EventBody::Payment(PaymentEvent::Expired(PaymentExpired {
        payment_id: pay(payment),
        released,
    }))
}

fn account_event(body: AccountEvent) -> EventBody {
    EventBody::Account(body)
}

fn changed(id: u128) -> AccountStatusChanged {
    AccountStatusChanged {
        account_id: acc(id),
    }
}

/// Customer accounts 1.. in EUR, active, each paid in its balance from the settlement account.
fn funded(balances: &[Decimal]) -> Vec<EventBody> {
    let mut bodies = vec![settlement_opened("EUR")];
    for (i, balance) in balances.iter().enumerate() {
        let id = i as u128 + 1;
        bodies.push(opened(id, "EUR"));
        if !balance.is_zero() {
            bodies.push(created(
                900 + id,
                PaymentStatus::Posted,
                vec![leg(settlement("EUR"), acc(id), *balance, "EUR")],
            ));
        }
    }
    bodies
}

/// Funded accounts plus payment 1: a pending hold of `held` from account 1 to account 2.
fn with_hold(balance: Decimal, held: Decimal, expires_at: Option<DateTime<Utc>>) -> Vec<EventBody> {
    let mut bodies = funded(&[balance, dec!(0)]);
    bodies.push(created(
        1,
        PaymentStatus::Draft,
        vec![leg(acc(1), acc(2), held, "EUR")],
    ));
    bodies.push(pended(
        1,
        vec![leg(acc(1), acc(2), held, "EUR")],
        expires_at,
    ));
    bodies
}

fn hold_leg(held: Decimal) -> Leg {
    leg(acc(1), acc(2), held, "EUR")
}

// ------------------------------------------------------------------------------------ commands

fn open(id: u128, code: &str, account_type: AccountType) -> OpenAccount {
    OpenAccount {
        account_id: acc(id),
        client_id: (!account_type.is_internal()).then(|| client(id)),
        currency: cur(code),
        account_type,
        name: None,
        number: None,
        overdraft_limit: Decimal::ZERO,
        status: AccountStatus::Active,
    }
}

fn req(
    debit: Option<AccountId>,
    credit: Option<AccountId>,
    amount: Decimal,
    code: &str,
) -> LegRequest {
    LegRequest {
        debit,
        credit,
        amount,
        currency: cur(code),
    }
}

fn create(payment: u128, mode: CreateMode, legs: Vec<LegRequest>) -> CreatePayment {
    CreatePayment {
        payment_id: pay(payment),
        legs,
        mode,
        description: None,
        external_id: None,
        metadata: None,
        expires_at: None,
    }
}

fn payment(payment: u128, mode: CreateMode, legs: Vec<LegRequest>) -> CommandKind {
    CommandKind::CreatePayment(create(payment, mode, legs))
}

/// An EUR move of `amount` from account `from` to account `to`.
fn transfer(
    payment_id: u128,
    from: u128,
    to: u128,
    amount: Decimal,
    mode: CreateMode,
) -> CommandKind {
    payment(
        payment_id,
        mode,
        vec![req(Some(acc(from)), Some(acc(to)), amount, "EUR")],
    )
}

fn pend(payment: u128, expires_at: Option<DateTime<Utc>>) -> CommandKind {
    CommandKind::PendPayment {
        payment_id: pay(payment),
        expires_at,
    }
}

fn post(payment: u128, amount: Option<Decimal>) -> CommandKind {
    CommandKind::PostPayment {
        payment_id: pay(payment),
        amount,
    }
}

fn cancel(payment: u128) -> CommandKind {
    CommandKind::CancelPayment {
        payment_id: pay(payment),
        reason: None,
    }
}

fn expire(payment: u128) -> CommandKind {
    CommandKind::ExpirePayment {
        payment_id: pay(payment),
    }
}

fn block(id: u128) -> CommandKind {
    CommandKind::BlockAccount {
        account_id: acc(id),
        reason: None,
    }
}

fn unblock(id: u128) -> CommandKind {
    CommandKind::UnblockAccount {
        account_id: acc(id),
    }
}

fn activate(id: u128) -> CommandKind {
    CommandKind::ActivateAccount {
        account_id: acc(id),
    }
}

fn close(id: u128) -> CommandKind {
    CommandKind::CloseAccount {
        account_id: acc(id),
    }
}

fn rename(id: u128, name: Option<&str>) -> CommandKind {
    CommandKind::RenameAccount {
        account_id: acc(id),
        name: name.map(str::to_string),
    }
}

// ======================================================================== opening accounts

#[test]
fn a_customer_account_opens_with_a_generated_number() {
    let ledger = given(vec![])
        .when(CommandKind::OpenAccount(open(
            1,
            "EUR",
            AccountType::Current,
        )))
        .then_events(vec![account_event(AccountEvent::Opened(AccountOpened {
            account_id: acc(1),
            number: "FL0000000001".to_string(),
            client_id: Some(client(1)),
            currency: cur("EUR"),
            account_type: AccountType::Current,
            status: AccountStatus::Active,
            name: None,
            policy: BalancePolicy {
                allow_negative: false,
                overdraft_limit: Decimal::ZERO,
            },
        }))]);
    let account = ledger.account(acc(1)).unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(bal(&ledger, acc(1)), (dec!(0), dec!(0), dec!(0)));
    assert_eq!(ledger.account_by_number("FL0000000001").unwrap().id, acc(1));
}

#[test]
fn generated_numbers_skip_numbers_already_taken() {
    // One account exists and holds the number the next one would get.
    let taken = AccountOpened {
        account_id: acc(1),
        number: "FL0000000002".to_string(),
        client_id: Some(client(1)),
        currency: cur("EUR"),
        account_type: AccountType::Current,
        status: AccountStatus::Active,
        name: None,
        policy: BalancePolicy::for_type(AccountType::Current, Decimal::ZERO),
    };
    let ledger = given_bodies(vec![account_event(AccountEvent::Opened(taken.clone()))])
        .when(CommandKind::OpenAccount(open(
            2,
            "EUR",
            AccountType::Savings,
        )))
        .then_executed()
        .1;
    let number = &ledger.account(acc(2)).unwrap().number;
    assert_ne!(number, "FL0000000002");
    assert_eq!(ledger.account_by_number(number).unwrap().id, acc(2));
    assert_eq!(ledger.account_by_number("FL0000000002").unwrap().id, acc(1));
}

#[test]
fn a_customer_account_needs_a_client() {
    let mut command = open(1, "EUR", AccountType::Savings);
    command.client_id = None;
    given(vec![])
        .when(CommandKind::OpenAccount(command))
        .then_error("InvalidCommand");
}

#[test]
fn an_internal_account_belongs_to_no_client_and_may_go_negative() {
    let mut command = open(1, "EUR", AccountType::Fee);
    command.client_id = Some(client(1));
    given(vec![])
        .when(CommandKind::OpenAccount(command))
        .then_error("InvalidCommand");

    let ledger = given(vec![])
        .when(CommandKind::OpenAccount(open(
            1,
            "EUR",
            AccountType::Suspense,
        )))
        .then_executed()
        .1;
    let account = ledger.account(acc(1)).unwrap();
    assert_eq!(account.client_id, None);
    assert!(account.policy.allow_negative);
}

#[test]
fn an_account_opens_with_an_explicit_number() {
    let mut command = open(1, "EUR", AccountType::Current);
    command.number = Some("DE-0042".to_string());
    command.name = Some("Household".to_string());
    command.status = AccountStatus::Inactive;
    command.overdraft_limit = dec!(250.50);
    let ledger = given(vec![])
        .when(CommandKind::OpenAccount(command))
        .then_events(vec![account_event(AccountEvent::Opened(AccountOpened {
            account_id: acc(1),
            number: "DE-0042".to_string(),
            client_id: Some(client(1)),
            currency: cur("EUR"),
            account_type: AccountType::Current,
            status: AccountStatus::Inactive,
            name: Some("Household".to_string()),
            policy: BalancePolicy {
                allow_negative: false,
                overdraft_limit: dec!(250.50),
            },
        }))]);
    assert_eq!(ledger.account_by_number("DE-0042").unwrap().id, acc(1));
}

#[test]
fn an_account_number_is_taken_once() {
    let mut command = open(2, "EUR", AccountType::Current);
    command.number = Some("N-1".to_string());
    given_bodies(vec![opened(1, "EUR")])
        .when(CommandKind::OpenAccount(command))
        .then_error("AccountNumberTaken");
}

#[test]
fn a_settlement_accounts_number_is_taken_even_before_it_opens() {
    // The settlement account opens itself with the first pay-in; a customer who took its number
    // first would leave two accounts sharing one number.
    let mut command = open(1, "EUR", AccountType::Current);
    command.number = Some("SETTLEMENT-EUR".to_string());
    given(vec![])
        .when(CommandKind::OpenAccount(command))
        .then_error("AccountNumberTaken");
}

#[test]
fn the_bank_may_open_a_settlement_account_under_its_own_number() {
    let command = OpenAccount {
        account_id: settlement("EUR"),
        client_id: None,
        currency: cur("EUR"),
        account_type: AccountType::Settlement,
        name: None,
        number: Some("SETTLEMENT-EUR".to_string()),
        overdraft_limit: Decimal::ZERO,
        status: AccountStatus::Active,
    };
    let mut ledger = given_bodies(vec![opened(1, "EUR")])
        .when(CommandKind::OpenAccount(command))
        .then_executed()
        .1;
    // The first pay-in uses it and opens nothing more.
    ledger = Given { ledger }
        .when(payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(5), "EUR")],
        ))
        .then_events(vec![created(
            1,
            PaymentStatus::Posted,
            vec![leg(settlement("EUR"), acc(1), dec!(5), "EUR")],
        )]);
    assert_eq!(
        ledger.account_by_number("SETTLEMENT-EUR").unwrap().id,
        settlement("EUR")
    );
}

#[test]
fn account_numbers_stay_unique_when_the_settlement_account_opens_itself() {
    let mut ledger = Ledger::new();
    let mut command = open(1, "EUR", AccountType::Current);
    command.number = Some("SETTLEMENT-EUR".to_string());
    // Whatever the ledger decides about the number, it must never end up on two accounts.
    let _ = ledger.execute(&Command {
        at: t(0),
        idempotency_key: None,
        kind: CommandKind::OpenAccount(command),
    });
    ledger
        .execute(&Command {
            at: t(1),
            idempotency_key: None,
            kind: CommandKind::OpenAccount(open(2, "EUR", AccountType::Current)),
        })
        .unwrap();
    ledger
        .execute(&Command {
            at: t(2),
            idempotency_key: None,
            kind: payment(
                1,
                CreateMode::Posted,
                vec![req(None, Some(acc(2)), dec!(5), "EUR")],
            ),
        })
        .unwrap();
    let mut numbers: Vec<&str> = ledger.accounts().map(|a| a.number.as_str()).collect();
    numbers.sort_unstable();
    let count = numbers.len();
    numbers.dedup();
    assert_eq!(numbers.len(), count, "two accounts share a number");
    for account in ledger.accounts() {
        assert_eq!(
            ledger.account_by_number(&account.number).unwrap().id,
            account.id
        );
    }
    assert_eq!(Ledger::from_snapshot(ledger.to_snapshot()), ledger);
}

#[test]
fn an_account_number_is_letters_digits_and_dashes() {
    for bad in ["", "has space", "slash/", "Ä1", &"9".repeat(35)] {
        let mut command = open(1, "EUR", AccountType::Current);
        command.number = Some(bad.to_string());
        given(vec![])
            .when(CommandKind::OpenAccount(command))
            .then_error("InvalidCommand");
    }
}

#[test]
fn an_account_id_is_used_once() {
    given_bodies(vec![opened(1, "EUR")])
        .when(CommandKind::OpenAccount(open(
            1,
            "USD",
            AccountType::Current,
        )))
        .then_error("AccountAlreadyExists");
}

#[test]
fn a_new_account_is_active_or_inactive() {
    for status in [AccountStatus::Blocked, AccountStatus::Closed] {
        let mut command = open(1, "EUR", AccountType::Current);
        command.status = status;
        given(vec![])
            .when(CommandKind::OpenAccount(command))
            .then_error("InvalidCommand");
    }
}

#[test]
fn an_overdraft_limit_is_a_non_negative_amount_of_the_currency() {
    let mut command = open(1, "EUR", AccountType::Current);
    command.overdraft_limit = dec!(-10);
    given(vec![])
        .when(CommandKind::OpenAccount(command.clone()))
        .then_error("InvalidCommand");
    command.overdraft_limit = dec!(10.001);
    given(vec![])
        .when(CommandKind::OpenAccount(command.clone()))
        .then_error("InvalidAmount");
    command.currency = cur("JPY");
    command.overdraft_limit = dec!(100.5);
    given(vec![])
        .when(CommandKind::OpenAccount(command))
        .then_error("InvalidAmount");
}

// ======================================================================== account lifecycle

#[test]
fn an_account_is_renamed_and_its_name_cleared() {
    let ledger = given_bodies(vec![opened(1, "EUR")])
        .when(rename(1, Some("Holidays")))
        .then_events(vec![account_event(AccountEvent::Renamed(AccountRenamed {
            account_id: acc(1),
            name: Some("Holidays".to_string()),
        }))]);
    assert_eq!(
        ledger.account(acc(1)).unwrap().name.as_deref(),
        Some("Holidays")
    );
    assert_eq!(ledger.account(acc(1)).unwrap().revision, 1);

    let ledger = Given { ledger }
        .when(rename(1, None))
        .then_events(vec![account_event(AccountEvent::Renamed(AccountRenamed {
            account_id: acc(1),
            name: None,
        }))]);
    assert_eq!(ledger.account(acc(1)).unwrap().name, None);
    assert_eq!(ledger.account(acc(1)).unwrap().revision, 2);
}

#[test]
fn a_name_has_a_length_limit() {
    given_bodies(vec![opened(1, "EUR")])
        .when(rename(1, Some(&"x".repeat(513))))
        .then_error("InvalidCommand");
}

#[test]
fn an_unknown_account_cannot_be_renamed_or_changed() {
    for kind in [
        rename(7, Some("x")),
        activate(7),
        block(7),
        unblock(7),
        close(7),
    ] {
        given(vec![]).when(kind).then_error("AccountNotFound");
    }
}

#[test]
fn an_inactive_account_is_activated_once() {
    let history = vec![opened_with(
        1,
        "EUR",
        AccountType::Current,
        AccountStatus::Inactive,
        Decimal::ZERO,
    )];
    let ledger = given_bodies(history)
        .when(activate(1))
        .then_events(vec![account_event(AccountEvent::Activated(changed(1)))]);
    assert_eq!(
        ledger.account(acc(1)).unwrap().status,
        AccountStatus::Active
    );
    Given { ledger }
        .when(activate(1))
        .then_error("InvalidAccountState");
}

#[test]
fn an_account_is_blocked_and_unblocked() {
    let ledger = given_bodies(vec![opened(1, "EUR")])
        .when(CommandKind::BlockAccount {
            account_id: acc(1),
            reason: Some("fraud check".to_string()),
        })
        .then_events(vec![account_event(AccountEvent::Blocked(AccountBlocked {
            account_id: acc(1),
            reason: Some("fraud check".to_string()),
        }))]);
    assert_eq!(
        ledger.account(acc(1)).unwrap().status,
        AccountStatus::Blocked
    );
    let ledger = Given { ledger }
        .when(block(1))
        .then_error("InvalidAccountState");
    // Activation does not lift a block: only unblock does.
    let ledger = Given { ledger }
        .when(activate(1))
        .then_error("InvalidAccountState");
    let ledger = Given { ledger }
        .when(unblock(1))
        .then_events(vec![account_event(AccountEvent::Unblocked(changed(1)))]);
    assert_eq!(
        ledger.account(acc(1)).unwrap().status,
        AccountStatus::Active
    );
    Given { ledger }
        .when(unblock(1))
        .then_error("InvalidAccountState");
}

#[test]
fn an_inactive_account_can_be_blocked() {
    let history = vec![opened_with(
        1,
        "EUR",
        AccountType::Current,
        AccountStatus::Inactive,
        Decimal::ZERO,
    )];
    let ledger = given_bodies(history).when(block(1)).then_executed().1;
    assert_eq!(
        ledger.account(acc(1)).unwrap().status,
        AccountStatus::Blocked
    );
}

#[test]
fn an_empty_account_closes() {
    let ledger = given_bodies(vec![opened(1, "EUR")])
        .when(close(1))
        .then_events(vec![account_event(AccountEvent::Closed(changed(1)))]);
    assert_eq!(
        ledger.account(acc(1)).unwrap().status,
        AccountStatus::Closed
    );
}

#[test]
fn an_account_whose_money_came_and_went_closes() {
    let mut history = funded(&[dec!(10)]);
    history.push(created(
        1,
        PaymentStatus::Posted,
        vec![leg(acc(1), settlement("EUR"), dec!(10), "EUR")],
    ));
    given_bodies(history)
        .when(close(1))
        .then_events(vec![account_event(AccountEvent::Closed(changed(1)))]);
}

#[test]
fn an_account_with_money_does_not_close() {
    given_bodies(funded(&[dec!(0.01)]))
        .when(close(1))
        .then_error("AccountNotEmpty");
}

#[test]
fn an_account_in_overdraft_does_not_close() {
    let mut history = vec![
        settlement_opened("EUR"),
        opened_with(
            1,
            "EUR",
            AccountType::Current,
            AccountStatus::Active,
            dec!(50),
        ),
    ];
    history.push(created(
        1,
        PaymentStatus::Posted,
        vec![leg(acc(1), settlement("EUR"), dec!(20), "EUR")],
    ));
    given_bodies(history)
        .when(close(1))
        .then_error("AccountNotEmpty");
}

#[test]
fn an_account_with_a_hold_or_incoming_money_does_not_close() {
    // Account 1 holds 10 for account 2: neither may close, though account 2's balance is 0.
    let history = with_hold(dec!(10), dec!(10), None);
    given_bodies(history.clone())
        .when(close(1))
        .then_error("AccountNotEmpty");
    given_bodies(history)
        .when(close(2))
        .then_error("AccountNotEmpty");
}

#[test]
fn a_blocked_empty_account_closes() {
    let history = vec![
        opened(1, "EUR"),
        account_event(AccountEvent::Blocked(AccountBlocked {
            account_id: acc(1),
            reason: None,
        })),
    ];
    given_bodies(history)
        .when(close(1))
        .then_events(vec![account_event(AccountEvent::Closed(changed(1)))]);
}

#[test]
fn a_closed_account_is_final() {
    let history = vec![
        opened(1, "EUR"),
        account_event(AccountEvent::Closed(changed(1))),
    ];
    for kind in [
        rename(1, Some("again")),
        activate(1),
        block(1),
        unblock(1),
        close(1),
    ] {
        given_bodies(history.clone())
            .when(kind)
            .then_error("AccountClosed");
    }
}

// ======================================================================== create (posted)

#[test]
fn a_posted_payment_moves_the_money_at_once() {
    let ledger = given_bodies(funded(&[dec!(100), dec!(0)]))
        .when(transfer(1, 1, 2, dec!(30.25), CreateMode::Posted))
        .then_events(vec![created(
            1,
            PaymentStatus::Posted,
            vec![leg(acc(1), acc(2), dec!(30.25), "EUR")],
        )]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(69.75), dec!(0), dec!(69.75)));
    assert_eq!(bal(&ledger, acc(2)), (dec!(30.25), dec!(0), dec!(30.25)));
    assert_eq!(status_of(&ledger, pay(1)), PaymentStatus::Posted);
}

#[test]
fn a_payment_may_spend_the_whole_balance_and_not_a_cent_more() {
    let history = funded(&[dec!(100), dec!(0)]);
    given_bodies(history.clone())
        .when(transfer(1, 1, 2, dec!(100.01), CreateMode::Posted))
        .then_error("InsufficientFunds");
    let ledger = given_bodies(history)
        .when(transfer(1, 1, 2, dec!(100), CreateMode::Posted))
        .then_executed()
        .1;
    assert_eq!(bal(&ledger, acc(1)), (dec!(0), dec!(0), dec!(0)));
}

#[test]
fn the_description_external_id_and_metadata_are_recorded() {
    let mut command = create(
        1,
        CreateMode::Posted,
        vec![req(Some(acc(1)), Some(acc(2)), dec!(5), "EUR")],
    );
    command.description = Some("rent".to_string());
    command.external_id = Some("ext-1".to_string());
    command.metadata = Some(serde_json::json!({"invoice": 42, "tags": ["a", "b"]}));
    given_bodies(funded(&[dec!(10), dec!(0)]))
        .when(CommandKind::CreatePayment(command))
        .then_events(vec![EventBody::Payment(PaymentEvent::Created(
            PaymentCreated {
                payment_id: pay(1),
                status: PaymentStatus::Posted,
                legs: vec![leg(acc(1), acc(2), dec!(5), "EUR")],
                description: Some("rent".to_string()),
                external_id: Some("ext-1".to_string()),
                metadata: Some(serde_json::json!({"invoice": 42, "tags": ["a", "b"]})),
                expires_at: None,
            },
        ))]);
}

#[test]
fn a_pay_in_opens_the_settlement_account_the_first_time_only() {
    let ledger = given_bodies(vec![opened(1, "EUR")])
        .when(payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(40), "EUR")],
        ))
        .then_events(vec![
            settlement_opened("EUR"),
            created(
                1,
                PaymentStatus::Posted,
                vec![leg(settlement("EUR"), acc(1), dec!(40), "EUR")],
            ),
        ]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(40), dec!(0), dec!(40)));
    // The settlement account mirrors money outside the ledger: it goes negative.
    assert_eq!(bal(&ledger, settlement("EUR")).0, dec!(-40));
    assert_eq!(
        ledger.account(settlement("EUR")).unwrap().account_type,
        AccountType::Settlement
    );

    let ledger = Given { ledger }
        .when(payment(
            2,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(2), "EUR")],
        ))
        .then_events(vec![created(
            2,
            PaymentStatus::Posted,
            vec![leg(settlement("EUR"), acc(1), dec!(2), "EUR")],
        )]);
    assert_eq!(bal(&ledger, settlement("EUR")).0, dec!(-42));
}

#[test]
fn settlement_accounts_are_per_currency() {
    let ledger = given_bodies(vec![settlement_opened("EUR"), opened(1, "JPY")])
        .when(payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(500), "JPY")],
        ))
        .then_events(vec![
            settlement_opened("JPY"),
            created(
                1,
                PaymentStatus::Posted,
                vec![leg(settlement("JPY"), acc(1), dec!(500), "JPY")],
            ),
        ]);
    assert_ne!(settlement("JPY"), settlement("EUR"));
    assert_eq!(bal(&ledger, settlement("EUR")).0, dec!(0));
}

#[test]
fn a_refused_first_pay_in_does_not_open_the_settlement_account() {
    let history = vec![
        opened(1, "EUR"),
        account_event(AccountEvent::Blocked(AccountBlocked {
            account_id: acc(1),
            reason: None,
        })),
    ];
    let ledger = given_bodies(history)
        .when(payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(5), "EUR")],
        ))
        .then_error("AccountBlocked");
    assert!(ledger.account(settlement("EUR")).is_none());
}

#[test]
fn a_pay_out_credits_the_settlement_account() {
    let ledger = given_bodies(funded(&[dec!(50)]))
        .when(payment(
            1,
            CreateMode::Posted,
            vec![req(Some(acc(1)), None, dec!(20), "EUR")],
        ))
        .then_events(vec![created(
            1,
            PaymentStatus::Posted,
            vec![leg(acc(1), settlement("EUR"), dec!(20), "EUR")],
        )]);
    assert_eq!(bal(&ledger, acc(1)).0, dec!(30));
    assert_eq!(bal(&ledger, settlement("EUR")).0, dec!(-30));
}

#[test]
fn a_pay_out_is_refused_beyond_the_balance() {
    given_bodies(funded(&[dec!(50)]))
        .when(payment(
            1,
            CreateMode::Posted,
            vec![req(Some(acc(1)), None, dec!(50.01), "EUR")],
        ))
        .then_error("InsufficientFunds");
}

#[test]
fn a_leg_needs_at_least_one_side_and_a_payment_at_least_one_leg() {
    given_bodies(funded(&[dec!(50)]))
        .when(payment(
            1,
            CreateMode::Posted,
            vec![req(None, None, dec!(1), "EUR")],
        ))
        .then_error("InvalidCommand");
    given_bodies(funded(&[dec!(50)]))
        .when(payment(1, CreateMode::Posted, vec![]))
        .then_error("InvalidCommand");
    let too_many = (0..17)
        .map(|_| req(None, Some(acc(1)), dec!(1), "EUR"))
        .collect();
    given_bodies(funded(&[dec!(50)]))
        .when(payment(1, CreateMode::Posted, too_many))
        .then_error("InvalidCommand");
}

#[test]
fn all_legs_of_a_payment_commit_together() {
    let ledger = given_bodies(funded(&[dec!(100), dec!(0), dec!(0)]))
        .when(payment(
            1,
            CreateMode::Posted,
            vec![
                req(Some(acc(1)), Some(acc(2)), dec!(60), "EUR"),
                req(Some(acc(1)), Some(acc(3)), dec!(40), "EUR"),
            ],
        ))
        .then_events(vec![created(
            1,
            PaymentStatus::Posted,
            vec![
                leg(acc(1), acc(2), dec!(60), "EUR"),
                leg(acc(1), acc(3), dec!(40), "EUR"),
            ],
        )]);
    assert_eq!(bal(&ledger, acc(1)).0, dec!(0));
    assert_eq!(bal(&ledger, acc(2)).0, dec!(60));
    assert_eq!(bal(&ledger, acc(3)).0, dec!(40));
}

#[test]
fn a_failing_second_leg_refuses_the_whole_payment() {
    let first = req(Some(acc(1)), Some(acc(2)), dec!(10), "EUR");
    let cases: Vec<(LegRequest, &str)> = vec![
        // Together the legs spend more than account 1 has, though each alone fits.
        (
            req(Some(acc(1)), Some(acc(3)), dec!(91), "EUR"),
            "InsufficientFunds",
        ),
        (
            req(Some(acc(1)), Some(acc(99)), dec!(1), "EUR"),
            "AccountNotFound",
        ),
        (
            req(Some(acc(1)), Some(acc(4)), dec!(1), "EUR"),
            "AccountBlocked",
        ),
        (
            req(Some(acc(1)), Some(acc(1)), dec!(1), "EUR"),
            "SameAccount",
        ),
        (
            req(Some(acc(1)), Some(acc(3)), dec!(0.001), "EUR"),
            "InvalidAmount",
        ),
        (
            req(Some(acc(1)), Some(acc(5)), dec!(1), "USD"),
            "CurrencyMismatch",
        ),
    ];
    let mut history = funded(&[dec!(100), dec!(0), dec!(0), dec!(0)]);
    history.push(account_event(AccountEvent::Blocked(AccountBlocked {
        account_id: acc(4),
        reason: None,
    })));
    history.push(opened(5, "USD"));
    for mode in [CreateMode::Posted, CreateMode::Pending] {
        for (second, code) in &cases {
            given_bodies(history.clone())
                .when(payment(1, mode, vec![first.clone(), second.clone()]))
                .then_error(code);
        }
    }
}

#[test]
fn two_pay_in_legs_open_the_settlement_account_once() {
    given_bodies(vec![opened(1, "EUR"), opened(2, "EUR")])
        .when(payment(
            1,
            CreateMode::Posted,
            vec![
                req(None, Some(acc(1)), dec!(1), "EUR"),
                req(None, Some(acc(2)), dec!(2), "EUR"),
            ],
        ))
        .then_events(vec![
            settlement_opened("EUR"),
            created(
                1,
                PaymentStatus::Posted,
                vec![
                    leg(settlement("EUR"), acc(1), dec!(1), "EUR"),
                    leg(settlement("EUR"), acc(2), dec!(2), "EUR"),
                ],
            ),
        ]);
}

#[test]
fn a_payment_id_is_used_once() {
    let mut history = funded(&[dec!(100), dec!(0)]);
    history.push(created(
        1,
        PaymentStatus::Posted,
        vec![leg(acc(1), acc(2), dec!(1), "EUR")],
    ));
    for mode in [CreateMode::Draft, CreateMode::Pending, CreateMode::Posted] {
        given_bodies(history.clone())
            .when(transfer(1, 1, 2, dec!(1), mode))
            .then_error("PaymentAlreadyExists");
    }
}

// ======================================================================== account rules for payments

#[test]
fn an_overdraft_limit_is_respected() {
    let history = vec![
        settlement_opened("EUR"),
        opened_with(
            1,
            "EUR",
            AccountType::Current,
            AccountStatus::Active,
            dec!(100),
        ),
        opened(2, "EUR"),
    ];
    given_bodies(history.clone())
        .when(transfer(1, 1, 2, dec!(100.01), CreateMode::Posted))
        .then_error("InsufficientFunds");
    let ledger = given_bodies(history)
        .when(transfer(1, 1, 2, dec!(100), CreateMode::Posted))
        .then_executed()
        .1;
    assert_eq!(bal(&ledger, acc(1)), (dec!(-100), dec!(0), dec!(-100)));
    Given { ledger }
        .when(transfer(2, 1, 2, dec!(0.01), CreateMode::Posted))
        .then_error("InsufficientFunds");
}

#[test]
fn a_hold_counts_against_the_overdraft_limit() {
    let mut history = vec![
        settlement_opened("EUR"),
        opened_with(
            1,
            "EUR",
            AccountType::Current,
            AccountStatus::Active,
            dec!(100),
        ),
        opened(2, "EUR"),
    ];
    history.push(created(
        1,
        PaymentStatus::Pending,
        vec![leg(acc(1), acc(2), dec!(60), "EUR")],
    ));
    given_bodies(history.clone())
        .when(transfer(2, 1, 2, dec!(40.01), CreateMode::Posted))
        .then_error("InsufficientFunds");
    given_bodies(history)
        .when(transfer(2, 1, 2, dec!(40), CreateMode::Pending))
        .then_executed();
}

#[test]
fn internal_accounts_may_go_negative() {
    let history = vec![
        opened_with(
            1,
            "EUR",
            AccountType::Fee,
            AccountStatus::Active,
            Decimal::ZERO,
        ),
        opened(2, "EUR"),
    ];
    let ledger = given_bodies(history)
        .when(transfer(1, 1, 2, dec!(1000000), CreateMode::Posted))
        .then_executed()
        .1;
    assert_eq!(bal(&ledger, acc(1)).0, dec!(-1000000));
}

#[test]
fn an_inactive_account_receives_but_does_not_send() {
    let history = vec![
        settlement_opened("EUR"),
        opened_with(
            1,
            "EUR",
            AccountType::Current,
            AccountStatus::Inactive,
            Decimal::ZERO,
        ),
        opened(2, "EUR"),
        created(
            900,
            PaymentStatus::Posted,
            vec![leg(settlement("EUR"), acc(2), dec!(50), "EUR")],
        ),
    ];
    let ledger = given_bodies(history.clone())
        .when(transfer(1, 2, 1, dec!(20), CreateMode::Posted))
        .then_executed()
        .1;
    assert_eq!(bal(&ledger, acc(1)).0, dec!(20));
    Given { ledger }
        .when(transfer(2, 1, 2, dec!(5), CreateMode::Posted))
        .then_error("AccountInactive");
    given_bodies(history.clone())
        .when(payment(
            2,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(5), "EUR")],
        ))
        .then_executed();
    given_bodies(history)
        .when(payment(
            2,
            CreateMode::Posted,
            vec![req(Some(acc(1)), None, dec!(5), "EUR")],
        ))
        .then_error("AccountInactive");
}

#[test]
fn a_blocked_account_neither_sends_nor_receives() {
    let mut history = funded(&[dec!(50), dec!(50)]);
    history.push(account_event(AccountEvent::Blocked(AccountBlocked {
        account_id: acc(1),
        reason: None,
    })));
    for kind in [
        transfer(1, 1, 2, dec!(5), CreateMode::Posted),
        transfer(1, 2, 1, dec!(5), CreateMode::Posted),
        transfer(1, 1, 2, dec!(5), CreateMode::Pending),
        transfer(1, 2, 1, dec!(5), CreateMode::Pending),
        payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(5), "EUR")],
        ),
        payment(
            1,
            CreateMode::Posted,
            vec![req(Some(acc(1)), None, dec!(5), "EUR")],
        ),
    ] {
        given_bodies(history.clone())
            .when(kind)
            .then_error("AccountBlocked");
    }
}

#[test]
fn a_closed_account_neither_sends_nor_receives() {
    let mut history = funded(&[dec!(0), dec!(50)]);
    history.push(account_event(AccountEvent::Closed(changed(1))));
    for kind in [
        transfer(1, 1, 2, dec!(5), CreateMode::Posted),
        transfer(1, 2, 1, dec!(5), CreateMode::Posted),
        transfer(1, 2, 1, dec!(5), CreateMode::Pending),
        payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(5), "EUR")],
        ),
    ] {
        given_bodies(history.clone())
            .when(kind)
            .then_error("AccountClosed");
    }
}

#[test]
fn accounts_must_hold_the_payments_currency() {
    let mut history = funded(&[dec!(50)]);
    history.push(opened(2, "USD"));
    for kind in [
        payment(
            1,
            CreateMode::Posted,
            vec![req(Some(acc(1)), Some(acc(2)), dec!(5), "EUR")],
        ),
        payment(
            1,
            CreateMode::Posted,
            vec![req(Some(acc(1)), Some(acc(2)), dec!(5), "USD")],
        ),
        payment(
            1,
            CreateMode::Draft,
            vec![req(Some(acc(1)), Some(acc(2)), dec!(5), "EUR")],
        ),
        payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(5), "USD")],
        ),
    ] {
        given_bodies(history.clone())
            .when(kind)
            .then_error("CurrencyMismatch");
    }
}

#[test]
fn a_leg_moves_between_two_different_accounts() {
    for mode in [CreateMode::Draft, CreateMode::Pending, CreateMode::Posted] {
        given_bodies(funded(&[dec!(50)]))
            .when(transfer(1, 1, 1, dec!(5), mode))
            .then_error("SameAccount");
    }
}

#[test]
fn amounts_are_positive_and_fit_the_currencys_minor_units() {
    let history = vec![opened(1, "EUR"), opened(2, "JPY"), opened(3, "BHD")];
    let cases: &[(&str, u128, Decimal, bool)] = &[
        ("EUR", 1, dec!(0), false),
        ("EUR", 1, dec!(-5), false),
        ("EUR", 1, dec!(0.001), false),
        ("EUR", 1, dec!(10.125), false),
        ("EUR", 1, dec!(10.12), true),
        ("EUR", 1, dec!(10.120), true),
        ("EUR", 1, dec!(0.01), true),
        ("EUR", 1, dec!(1000000000000000), true),
        ("EUR", 1, dec!(1000000000000000.01), false),
        ("JPY", 2, dec!(100), true),
        ("JPY", 2, dec!(100.0), true),
        ("JPY", 2, dec!(100.5), false),
        ("JPY", 2, dec!(0.01), false),
        ("BHD", 3, dec!(1.125), true),
        ("BHD", 3, dec!(0.001), true),
        ("BHD", 3, dec!(1.1255), false),
    ];
    for (code, account, amount, ok) in cases {
        for mode in [CreateMode::Draft, CreateMode::Pending, CreateMode::Posted] {
            let then = given_bodies(history.clone()).when(payment(
                1,
                mode,
                vec![req(None, Some(acc(*account)), *amount, code)],
            ));
            if *ok {
                then.then_executed();
            } else {
                then.then_error("InvalidAmount");
            }
        }
    }
}

#[test]
fn unknown_accounts_are_refused_even_for_a_draft() {
    for kind in [
        transfer(1, 1, 9, dec!(5), CreateMode::Draft),
        transfer(1, 9, 1, dec!(5), CreateMode::Draft),
        transfer(1, 1, 9, dec!(5), CreateMode::Posted),
        payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(9)), dec!(5), "EUR")],
        ),
        payment(
            1,
            CreateMode::Posted,
            vec![req(Some(acc(9)), None, dec!(5), "EUR")],
        ),
    ] {
        given_bodies(funded(&[dec!(50)]))
            .when(kind)
            .then_error("AccountNotFound");
    }
}

#[test]
fn unknown_payments_are_refused() {
    for kind in [
        pend(5, None),
        post(5, None),
        post(5, Some(dec!(1))),
        cancel(5),
        expire(5),
    ] {
        given_bodies(funded(&[dec!(50)]))
            .when(kind)
            .then_error("PaymentNotFound");
    }
}

// ======================================================================== draft and pend

#[test]
fn a_draft_moves_no_money() {
    let history = funded(&[dec!(50), dec!(0)]);
    let ledger = given_bodies(history)
        .when(transfer(1, 1, 2, dec!(20), CreateMode::Draft))
        .then_events(vec![created(
            1,
            PaymentStatus::Draft,
            vec![leg(acc(1), acc(2), dec!(20), "EUR")],
        )]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(0), dec!(50)));
    assert_eq!(bal(&ledger, acc(2)), (dec!(0), dec!(0), dec!(0)));
    assert_eq!(ledger.account(acc(2)).unwrap().credits_pending, dec!(0));
    assert_eq!(status_of(&ledger, pay(1)), PaymentStatus::Draft);
}

#[test]
fn a_draft_defers_status_and_funds_checks_to_pend() {
    // Account 1 is blocked and account 3 inactive with nothing: the drafts are recorded anyway.
    let mut history = funded(&[dec!(5), dec!(0)]);
    history.push(account_event(AccountEvent::Blocked(AccountBlocked {
        account_id: acc(2),
        reason: None,
    })));
    history.push(opened_with(
        3,
        "EUR",
        AccountType::Current,
        AccountStatus::Inactive,
        Decimal::ZERO,
    ));
    let cases = [
        (
            transfer(1, 1, 2, dec!(1), CreateMode::Draft),
            "AccountBlocked",
        ),
        (
            transfer(1, 1, 3, dec!(50), CreateMode::Draft),
            "InsufficientFunds",
        ),
        (
            transfer(1, 3, 1, dec!(1), CreateMode::Draft),
            "AccountInactive",
        ),
    ];
    for (draft, code) in cases {
        let ledger = given_bodies(history.clone()).when(draft).then_executed().1;
        Given { ledger }.when(pend(1, None)).then_error(code);
    }
}

#[test]
fn a_draft_carries_no_expiry() {
    let mut command = create(
        1,
        CreateMode::Draft,
        vec![req(Some(acc(1)), Some(acc(2)), dec!(5), "EUR")],
    );
    command.expires_at = Some(t(60));
    given_bodies(funded(&[dec!(50), dec!(0)]))
        .when(CommandKind::CreatePayment(command.clone()))
        .then_error("InvalidCommand");
    command.mode = CreateMode::Posted;
    given_bodies(funded(&[dec!(50), dec!(0)]))
        .when(CommandKind::CreatePayment(command))
        .then_error("InvalidCommand");
}

#[test]
fn pending_a_draft_holds_the_funds() {
    let mut history = funded(&[dec!(50), dec!(0)]);
    let the_leg = leg(acc(1), acc(2), dec!(20), "EUR");
    history.push(created(1, PaymentStatus::Draft, vec![the_leg.clone()]));
    let ledger = given_bodies(history)
        .when(pend(1, Some(t(60))))
        .then_events(vec![pended(1, vec![the_leg], Some(t(60)))]);
    // balance unchanged, held up, available down; the credit side sees it as incoming only.
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(20), dec!(30)));
    assert_eq!(bal(&ledger, acc(2)), (dec!(0), dec!(0), dec!(0)));
    assert_eq!(ledger.account(acc(2)).unwrap().credits_pending, dec!(20));
    let payment = ledger.payment(pay(1)).unwrap();
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!(payment.revision, 1);
    assert_eq!(ledger.next_expiry(), Some(t(60)));
}

#[test]
fn pend_needs_the_funds() {
    let mut history = funded(&[dec!(50), dec!(0)]);
    history.push(created(
        1,
        PaymentStatus::Draft,
        vec![leg(acc(1), acc(2), dec!(50.01), "EUR")],
    ));
    given_bodies(history)
        .when(pend(1, None))
        .then_error("InsufficientFunds");
}

#[test]
fn a_pay_in_draft_pends_without_a_customer_hold() {
    let history = vec![
        settlement_opened("EUR"),
        opened(1, "EUR"),
        created(
            1,
            PaymentStatus::Draft,
            vec![leg(settlement("EUR"), acc(1), dec!(20), "EUR")],
        ),
    ];
    let ledger = given_bodies(history).when(pend(1, None)).then_executed().1;
    assert_eq!(bal(&ledger, acc(1)), (dec!(0), dec!(0), dec!(0)));
}

#[test]
fn a_pending_payment_can_be_created_in_one_step() {
    let ledger = given_bodies(funded(&[dec!(50), dec!(0)]))
        .when(transfer(1, 1, 2, dec!(20), CreateMode::Pending))
        .then_events(vec![created(
            1,
            PaymentStatus::Pending,
            vec![leg(acc(1), acc(2), dec!(20), "EUR")],
        )]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(20), dec!(30)));
    given_bodies(funded(&[dec!(50), dec!(0)]))
        .when(transfer(1, 1, 2, dec!(50.01), CreateMode::Pending))
        .then_error("InsufficientFunds");
}

#[test]
fn an_expiry_lies_in_the_future() {
    let mut history = funded(&[dec!(50), dec!(0)]);
    history.push(created(
        1,
        PaymentStatus::Draft,
        vec![leg(acc(1), acc(2), dec!(5), "EUR")],
    ));
    for at in [t(0), t(-1)] {
        given_bodies(history.clone())
            .when(pend(1, Some(at)))
            .then_error("InvalidCommand");
        let mut command = create(
            2,
            CreateMode::Pending,
            vec![req(Some(acc(1)), Some(acc(2)), dec!(5), "EUR")],
        );
        command.expires_at = Some(at);
        given_bodies(history.clone())
            .when(CommandKind::CreatePayment(command))
            .then_error("InvalidCommand");
    }
}

#[test]
fn only_a_draft_is_pended() {
    given_bodies(with_hold(dec!(50), dec!(10), None))
        .when(pend(1, None))
        .then_error("InvalidPaymentState");
}

// ======================================================================== post

#[test]
fn posting_in_full_turns_the_hold_into_a_debit() {
    let ledger = given_bodies(with_hold(dec!(50), dec!(20), None))
        .when(post(1, None))
        .then_events(vec![posted(
            1,
            vec![posted_leg(&hold_leg(dec!(20)), dec!(20))],
        )]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(30), dec!(0), dec!(30)));
    assert_eq!(bal(&ledger, acc(2)), (dec!(20), dec!(0), dec!(20)));
    assert_eq!(ledger.account(acc(2)).unwrap().credits_pending, dec!(0));
    assert_eq!(status_of(&ledger, pay(1)), PaymentStatus::Posted);
}

#[test]
fn posting_the_held_amount_explicitly_is_a_full_post() {
    let ledger = given_bodies(with_hold(dec!(50), dec!(20), None))
        .when(post(1, Some(dec!(20.00))))
        .then_executed()
        .1;
    assert_eq!(bal(&ledger, acc(1)), (dec!(30), dec!(0), dec!(30)));
}

#[test]
fn posting_part_releases_the_rest_of_the_hold() {
    let ledger = given_bodies(with_hold(dec!(50), dec!(20), None))
        .when(post(1, Some(dec!(12.5))))
        .then_events(vec![posted(
            1,
            vec![posted_leg(&hold_leg(dec!(20)), dec!(12.5))],
        )]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(37.5), dec!(0), dec!(37.5)));
    assert_eq!(bal(&ledger, acc(2)), (dec!(12.5), dec!(0), dec!(12.5)));
    assert_eq!(ledger.account(acc(2)).unwrap().credits_pending, dec!(0));
}

#[test]
fn posting_more_than_held_or_a_bad_amount_is_refused() {
    for amount in [dec!(20.01), dec!(0), dec!(-1), dec!(1.001)] {
        given_bodies(with_hold(dec!(50), dec!(20), None))
            .when(post(1, Some(amount)))
            .then_error("InvalidAmount");
    }
}

#[test]
fn a_multi_leg_payment_posts_in_full_only() {
    let mut history = funded(&[dec!(50), dec!(0), dec!(0)]);
    let legs = vec![
        leg(acc(1), acc(2), dec!(10), "EUR"),
        leg(acc(1), acc(3), dec!(5), "EUR"),
    ];
    history.push(created(1, PaymentStatus::Pending, legs.clone()));
    given_bodies(history.clone())
        .when(post(1, Some(dec!(4))))
        .then_error("InvalidCommand");
    let ledger = given_bodies(history)
        .when(post(1, None))
        .then_events(vec![posted(
            1,
            legs.iter().map(|l| posted_leg(l, l.amount)).collect(),
        )]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(35), dec!(0), dec!(35)));
    assert_eq!(bal(&ledger, acc(2)).0, dec!(10));
    assert_eq!(bal(&ledger, acc(3)).0, dec!(5));
}

#[test]
fn a_draft_cannot_be_posted() {
    let mut history = funded(&[dec!(50), dec!(0)]);
    history.push(created(
        1,
        PaymentStatus::Draft,
        vec![leg(acc(1), acc(2), dec!(5), "EUR")],
    ));
    given_bodies(history)
        .when(post(1, None))
        .then_error("InvalidPaymentState");
}

#[test]
fn a_hold_does_not_post_into_or_out_of_a_blocked_account() {
    for blocked in [1, 2] {
        let mut history = with_hold(dec!(50), dec!(20), None);
        history.push(account_event(AccountEvent::Blocked(AccountBlocked {
            account_id: acc(blocked),
            reason: None,
        })));
        given_bodies(history)
            .when(post(1, None))
            .then_error("AccountBlocked");
    }
}

// ======================================================================== cancel

#[test]
fn cancelling_a_draft_moves_nothing() {
    let mut history = funded(&[dec!(50), dec!(0)]);
    history.push(created(
        1,
        PaymentStatus::Draft,
        vec![leg(acc(1), acc(2), dec!(5), "EUR")],
    ));
    let ledger = given_bodies(history)
        .when(CommandKind::CancelPayment {
            payment_id: pay(1),
            reason: Some("customer changed mind".to_string()),
        })
        .then_events(vec![cancelled(1, vec![], Some("customer changed mind"))]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(0), dec!(50)));
    assert_eq!(status_of(&ledger, pay(1)), PaymentStatus::Cancelled);
}

#[test]
fn cancelling_a_pending_payment_pays_the_hold_back() {
    let ledger = given_bodies(with_hold(dec!(50), dec!(20), Some(t(60))))
        .when(cancel(1))
        .then_events(vec![cancelled(1, vec![hold_leg(dec!(20))], None)]);
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(0), dec!(50)));
    assert_eq!(ledger.account(acc(2)).unwrap().credits_pending, dec!(0));
    assert_eq!(status_of(&ledger, pay(1)), PaymentStatus::Cancelled);
    assert_eq!(
        ledger.next_expiry(),
        None,
        "a cancelled hold no longer expires"
    );
}

#[test]
fn a_hold_on_a_blocked_account_can_still_be_paid_back() {
    let mut history = with_hold(dec!(50), dec!(20), None);
    history.push(account_event(AccountEvent::Blocked(AccountBlocked {
        account_id: acc(1),
        reason: None,
    })));
    let ledger = given_bodies(history).when(cancel(1)).then_executed().1;
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(0), dec!(50)));
}

// ======================================================================== final states

/// Histories with payment 1 posted, cancelled and expired.
fn final_histories() -> Vec<(PaymentStatus, Vec<EventBody>)> {
    let mut posted_history = with_hold(dec!(50), dec!(20), Some(t(60)));
    posted_history.push(posted(1, vec![posted_leg(&hold_leg(dec!(20)), dec!(20))]));
    let mut created_posted = funded(&[dec!(50), dec!(0)]);
    created_posted.push(created(1, PaymentStatus::Posted, vec![hold_leg(dec!(20))]));
    let mut cancelled_history = with_hold(dec!(50), dec!(20), Some(t(60)));
    cancelled_history.push(cancelled(1, vec![hold_leg(dec!(20))], None));
    let mut cancelled_draft = funded(&[dec!(50), dec!(0)]);
    cancelled_draft.push(created(1, PaymentStatus::Draft, vec![hold_leg(dec!(20))]));
    cancelled_draft.push(cancelled(1, vec![], None));
    let mut expired_history = with_hold(dec!(50), dec!(20), Some(t(-10)));
    expired_history.push(expired(1, vec![hold_leg(dec!(20))]));
    vec![
        (PaymentStatus::Posted, posted_history),
        (PaymentStatus::Posted, created_posted),
        (PaymentStatus::Cancelled, cancelled_history),
        (PaymentStatus::Cancelled, cancelled_draft),
        (PaymentStatus::Expired, expired_history),
    ]
}

#[test]
fn posted_cancelled_and_expired_payments_are_final() {
    for (status, history) in final_histories() {
        let ledger = given_bodies(history.clone()).ledger;
        assert_eq!(status_of(&ledger, pay(1)), status);
        for kind in [
            pend(1, None),
            post(1, None),
            post(1, Some(dec!(1))),
            cancel(1),
        ] {
            given_bodies(history.clone())
                .when_at(t(100), kind)
                .then_error("InvalidPaymentState");
        }
        given_bodies(history)
            .when_at(t(100), expire(1))
            .then_error("InvalidPaymentState");
    }
}

// ======================================================================== expiry

#[test]
fn process_releases_due_holds_before_the_command() {
    let mut ledger = given_bodies(with_hold(dec!(50), dec!(20), Some(t(60)))).ledger;
    // A second before the expiry nothing happens; the post then succeeds.
    let mut early = ledger.clone();
    let processed = early.process(&Command {
        at: t(59),
        idempotency_key: None,
        kind: post(1, None),
    });
    assert!(processed.expired.is_empty());
    assert!(processed.result.is_ok());

    // At the expiry the hold is released first, and the post finds the payment expired.
    let processed = ledger.process(&Command {
        at: t(60),
        idempotency_key: None,
        kind: post(1, None),
    });
    let bodies: Vec<EventBody> = processed.expired.iter().map(|e| e.body.clone()).collect();
    assert_eq!(bodies, vec![expired(1, vec![hold_leg(dec!(20))])]);
    assert_eq!(processed.expired[0].revision, 2);
    assert_eq!(
        processed.result.unwrap_err().code(),
        "InvalidPaymentState",
        "an expired payment does not post"
    );
    // The expiry stands even though the command was refused.
    assert_eq!(status_of(&ledger, pay(1)), PaymentStatus::Expired);
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(0), dec!(50)));
    assert_eq!(ledger.account(acc(2)).unwrap().credits_pending, dec!(0));
    assert_eq!(ledger.next_expiry(), None);
    ledger.check_invariants().unwrap();
}

#[test]
fn expire_due_releases_every_due_hold_in_order() {
    let mut history = funded(&[dec!(100), dec!(0)]);
    for (id, expiry) in [(1, t(30)), (2, t(10)), (3, t(90))] {
        history.push(created_full(
            id,
            PaymentStatus::Pending,
            vec![leg(acc(1), acc(2), dec!(10), "EUR")],
            Some(expiry),
        ));
    }
    // Payment 4 is held without expiry: it never expires by itself.
    history.push(created(
        4,
        PaymentStatus::Pending,
        vec![leg(acc(1), acc(2), dec!(10), "EUR")],
    ));
    let mut ledger = given_bodies(history).ledger;
    assert_eq!(ledger.next_expiry(), Some(t(10)));
    assert!(ledger.expire_due(t(9)).is_empty());
    let events = ledger.expire_due(t(30));
    let ids: Vec<String> = events.iter().map(|e| e.body.stream_id()).collect();
    assert_eq!(
        ids,
        vec![format!("payment-{}", pay(2)), format!("payment-{}", pay(1))]
    );
    assert_eq!(bal(&ledger, acc(1)), (dec!(100), dec!(20), dec!(80)));
    assert_eq!(ledger.next_expiry(), Some(t(90)));
    assert!(
        ledger.expire_due(t(30)).is_empty(),
        "an expiry happens once"
    );
    assert_eq!(ledger.expire_due(t(1000)).len(), 1);
    assert_eq!(status_of(&ledger, pay(4)), PaymentStatus::Pending);
    assert_eq!(bal(&ledger, acc(1)), (dec!(100), dec!(10), dec!(90)));
    ledger.check_invariants().unwrap();
}

#[test]
fn a_hold_created_pending_expires_too() {
    let mut history = funded(&[dec!(100), dec!(0)]);
    history.push(created_full(
        1,
        PaymentStatus::Pending,
        vec![hold_leg(dec!(10))],
        Some(t(5)),
    ));
    let mut ledger = given_bodies(history).ledger;
    let events = ledger.expire_due(t(5));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body, expired(1, vec![hold_leg(dec!(10))]));
    assert_eq!(bal(&ledger, acc(1)), (dec!(100), dec!(0), dec!(100)));
}

#[test]
fn the_expire_command_releases_a_due_hold() {
    let ledger = given_bodies(with_hold(dec!(50), dec!(20), Some(t(60))))
        .when_at(t(60), expire(1))
        .then_events(vec![expired(1, vec![hold_leg(dec!(20))])]);
    assert_eq!(status_of(&ledger, pay(1)), PaymentStatus::Expired);
    assert_eq!(bal(&ledger, acc(1)), (dec!(50), dec!(0), dec!(50)));
    assert_eq!(ledger.next_expiry(), None);
}

#[test]
fn the_expire_command_refuses_a_hold_not_yet_due() {
    given_bodies(with_hold(dec!(50), dec!(20), Some(t(60))))
        .when_at(t(59), expire(1))
        .then_error("InvalidCommand");
}

#[test]
fn the_expire_command_refuses_holds_without_expiry_and_drafts() {
    given_bodies(with_hold(dec!(50), dec!(20), None))
        .when_at(t(1000), expire(1))
        .then_error("InvalidPaymentState");
    let mut history = funded(&[dec!(50), dec!(0)]);
    history.push(created(1, PaymentStatus::Draft, vec![hold_leg(dec!(5))]));
    given_bodies(history)
        .when_at(t(1000), expire(1))
        .then_error("InvalidPaymentState");
}

#[test]
fn expiring_an_expired_payment_is_refused_so_its_key_stays_unspent_and_nothing_changes() {
    let mut history = with_hold(dec!(50), dec!(20), Some(t(60)));
    history.push(expired(1, vec![hold_leg(dec!(20))]));
    given_bodies(history)
        .when_at(t(100), expire(1))
        .then_error("InvalidPaymentState");
}

// ======================================================================== idempotency

fn keyed_history(key: &str, kind: &CommandKind, bodies: Vec<EventBody>) -> Vec<Event> {
    let mut events = history(bodies);
    let last = events.last_mut().unwrap();
    last.idempotency = Some(IdempotencyStamp {
        key: key.to_string(),
        fingerprint: kind.fingerprint(),
    });
    events
}

#[test]
fn the_key_is_recorded_on_the_last_event_of_the_command() {
    let kind = payment(
        1,
        CreateMode::Posted,
        vec![req(None, Some(acc(1)), dec!(5), "EUR")],
    );
    let (executed, _) = given_bodies(vec![opened(1, "EUR")])
        .when_keyed("k-1", kind)
        .then_executed();
    assert_eq!(executed.events.len(), 2, "settlement opening and payment");
    assert_eq!(executed.events[0].idempotency, None);
    assert_eq!(
        executed.events[1]
            .idempotency
            .as_ref()
            .map(|s| s.key.as_str()),
        Some("k-1")
    );
    assert_eq!(executed.receipt, Receipt::Payment(pay(1)));
}

#[test]
fn a_retry_with_the_same_request_returns_the_first_outcome() {
    let kind = transfer(1, 1, 2, dec!(30), CreateMode::Posted);
    let mut ledger = given_bodies(funded(&[dec!(50), dec!(0)]))
        .when_keyed("k-1", kind.clone())
        .then_executed()
        .1;
    // Although a second run of the payment would now fail for want of funds, the retry is
    // answered with the first outcome.
    ledger = Given { ledger }
        .when_keyed("k-1", kind)
        .then_duplicate(Receipt::Payment(pay(1)));
    // The server assigns a new payment id to each request; a retry still matches.
    ledger = Given { ledger }
        .when_keyed("k-1", transfer(2, 1, 2, dec!(30), CreateMode::Posted))
        .then_duplicate(Receipt::Payment(pay(1)));
    assert!(ledger.payment(pay(2)).is_none());
    assert_eq!(bal(&ledger, acc(1)).0, dec!(20));
}

#[test]
fn a_retry_of_an_account_opening_returns_the_first_account() {
    let ledger = given(vec![])
        .when_keyed(
            "open-1",
            CommandKind::OpenAccount(open(1, "EUR", AccountType::Current)),
        )
        .then_executed()
        .1;
    let mut retry = open(2, "EUR", AccountType::Current);
    retry.client_id = Some(client(1));
    let ledger = Given { ledger }
        .when_keyed("open-1", CommandKind::OpenAccount(retry))
        .then_duplicate(Receipt::Account(acc(1)));
    assert!(ledger.account(acc(2)).is_none());
}

#[test]
fn the_same_key_with_a_different_request_is_a_conflict() {
    let kind = transfer(1, 1, 2, dec!(30), CreateMode::Posted);
    let history = keyed_history("k-1", &kind, {
        let mut bodies = funded(&[dec!(50), dec!(0)]);
        bodies.push(created(
            1,
            PaymentStatus::Posted,
            vec![leg(acc(1), acc(2), dec!(30), "EUR")],
        ));
        bodies
    });
    for different in [
        transfer(2, 1, 2, dec!(30.01), CreateMode::Posted),
        transfer(2, 2, 1, dec!(30), CreateMode::Posted),
        transfer(2, 1, 2, dec!(30), CreateMode::Pending),
        cancel(1),
        CommandKind::OpenAccount(open(3, "EUR", AccountType::Current)),
    ] {
        given(history.clone())
            .when_keyed("k-1", different)
            .then_error("IdempotencyConflict");
    }
}

#[test]
fn a_refused_command_does_not_consume_its_key() {
    let kind = transfer(1, 1, 2, dec!(30), CreateMode::Posted);
    let mut ledger = given_bodies(funded(&[dec!(10), dec!(0)]))
        .when_keyed("k-1", kind.clone())
        .then_error("InsufficientFunds");
    ledger
        .execute(&Command {
            at: t(1),
            idempotency_key: None,
            kind: payment(
                7,
                CreateMode::Posted,
                vec![req(None, Some(acc(1)), dec!(20), "EUR")],
            ),
        })
        .unwrap();
    // The same key with the same request now runs for real: it is not answered as a retry.
    let ledger = Given { ledger }
        .when_keyed("k-1", kind)
        .then_events(vec![created(
            1,
            PaymentStatus::Posted,
            vec![leg(acc(1), acc(2), dec!(30), "EUR")],
        )]);
    assert_eq!(bal(&ledger, acc(2)).0, dec!(30));
}

#[test]
fn a_key_after_a_refusal_may_carry_another_request() {
    let ledger = given_bodies(funded(&[dec!(10), dec!(0)]))
        .when_keyed("k-1", transfer(1, 1, 2, dec!(30), CreateMode::Posted))
        .then_error("InsufficientFunds");
    Given { ledger }
        .when_keyed("k-1", transfer(1, 1, 2, dec!(3), CreateMode::Posted))
        .then_executed();
}

#[test]
fn an_idempotency_key_is_not_empty_nor_too_long() {
    for key in [String::new(), "k".repeat(513)] {
        given_bodies(funded(&[dec!(10), dec!(0)]))
            .when_keyed(&key, transfer(1, 1, 2, dec!(3), CreateMode::Posted))
            .then_error("InvalidCommand");
    }
}

#[test]
fn idempotency_survives_a_replay_and_a_snapshot() {
    let mut live = given_bodies(funded(&[dec!(100), dec!(0)])).ledger;
    let mut log: Vec<Event> = history(funded(&[dec!(100), dec!(0)]));
    let first = transfer(1, 1, 2, dec!(30), CreateMode::Pending);
    let executed = live
        .execute(&Command {
            at: t(0),
            idempotency_key: Some("k-1".to_string()),
            kind: first.clone(),
        })
        .unwrap();
    log.extend(executed.events);
    let executed = live
        .execute(&Command {
            at: t(1),
            idempotency_key: Some("k-2".to_string()),
            kind: CommandKind::OpenAccount(open(5, "EUR", AccountType::Current)),
        })
        .unwrap();
    log.extend(executed.events);

    let mut replayed = Ledger::new();
    for event in &log {
        replayed.apply(event);
    }
    assert_eq!(replayed, live);
    let snapshot = live.to_snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    let restored = Ledger::from_snapshot(serde_json::from_str(&json).unwrap());
    assert_eq!(restored, live);

    for ledger in [replayed, restored] {
        let ledger = Given { ledger }
            .when_keyed("k-1", transfer(9, 1, 2, dec!(30), CreateMode::Pending))
            .then_duplicate(Receipt::Payment(pay(1)));
        let ledger = Given { ledger }
            .when_keyed(
                "k-2",
                CommandKind::OpenAccount(open(6, "EUR", AccountType::Current)),
            )
            .then_error("IdempotencyConflict");
        Given { ledger }
            .when_keyed("k-1", transfer(9, 1, 2, dec!(31), CreateMode::Pending))
            .then_error("IdempotencyConflict");
    }
}

// ======================================================================== revisions and snapshots

#[test]
fn each_stream_numbers_its_events_from_zero() {
    let mut ledger = given(vec![]).ledger;
    let mut log = Vec::new();
    let commands = vec![
        CommandKind::OpenAccount(open(1, "EUR", AccountType::Current)),
        CommandKind::OpenAccount(open(2, "EUR", AccountType::Current)),
        payment(
            1,
            CreateMode::Posted,
            vec![req(None, Some(acc(1)), dec!(50), "EUR")],
        ),
        rename(1, Some("a")),
        transfer(2, 1, 2, dec!(10), CreateMode::Draft),
        pend(2, None),
        post(2, Some(dec!(5))),
        block(2),
        unblock(2),
    ];
    for (i, kind) in commands.into_iter().enumerate() {
        let executed = ledger
            .execute(&Command {
                at: t(i as i64),
                idempotency_key: None,
                kind,
            })
            .unwrap();
        log.extend(executed.events);
    }
    let mut next: HashMap<String, u64> = HashMap::new();
    for event in &log {
        let expected = next.entry(event.body.stream_id()).or_default();
        assert_eq!(event.revision, *expected, "{:?}", event.body);
        *expected += 1;
    }
    assert_eq!(ledger.account(acc(1)).unwrap().revision, 1);
    assert_eq!(ledger.account(acc(2)).unwrap().revision, 2);
    assert_eq!(ledger.payment(pay(2)).unwrap().revision, 2);
    assert_eq!(Ledger::from_snapshot(ledger.to_snapshot()), ledger);
}

#[test]
fn a_snapshot_keeps_pending_expiries() {
    let ledger = given_bodies(with_hold(dec!(50), dec!(20), Some(t(60)))).ledger;
    let mut restored = Ledger::from_snapshot(ledger.to_snapshot());
    assert_eq!(restored, ledger);
    assert_eq!(restored.next_expiry(), Some(t(60)));
    assert_eq!(restored.expire_due(t(60)).len(), 1);
    assert_eq!(bal(&restored, acc(1)), (dec!(50), dec!(0), dec!(50)));
}

// ------------------------------------------------------------------------------------ text and metadata

fn with_text(description: Option<&str>, metadata: Option<serde_json::Value>) -> CommandKind {
    let mut command = create(
        1,
        CreateMode::Posted,
        vec![req(Some(acc(1)), Some(acc(2)), dec!(1), "EUR")],
    );
    command.description = description.map(str::to_string);
    command.metadata = metadata;
    CommandKind::CreatePayment(command)
}

#[test]
fn a_nul_character_in_any_text_is_refused() {
    given_bodies(funded(&[dec!(10), dec!(0)]))
        .when(with_text(Some("rent\0march"), None))
        .then_error("InvalidCommand");
    given_bodies(funded(&[dec!(10), dec!(0)]))
        .when(CommandKind::RenameAccount {
            account_id: acc(1),
            name: Some("a\0b".to_string()),
        })
        .then_error("InvalidCommand");
    given_bodies(funded(&[dec!(10), dec!(0)]))
        .when(with_text(
            None,
            Some(serde_json::json!({ "note": "x\u{0}y" })),
        ))
        .then_error("InvalidCommand");
}

#[test]
fn metadata_is_a_bounded_json_object() {
    for not_an_object in [
        serde_json::json!([1, 2]),
        serde_json::json!("text"),
        serde_json::json!(7),
    ] {
        given_bodies(funded(&[dec!(10), dec!(0)]))
            .when(with_text(None, Some(not_an_object)))
            .then_error("InvalidCommand");
    }
    let huge = serde_json::json!({ "blob": "x".repeat(5000) });
    given_bodies(funded(&[dec!(10), dec!(0)]))
        .when(with_text(None, Some(huge)))
        .then_error("InvalidCommand");
    let (executed, ledger) = given_bodies(funded(&[dec!(10), dec!(0)]))
        .when(with_text(
            Some("fine"),
            Some(serde_json::json!({ "order": 42, "tags": ["a"] })),
        ))
        .then_executed();
    assert_eq!(executed.events.len(), 1);
    assert_eq!(bal(&ledger, acc(2)).0, dec!(1));
}

// ------------------------------------------------------------------------ snapshot comparison

/// A snapshot of `ledger` as JSON, edited by `edit`, read back.
fn edited_snapshot(ledger: &Ledger, edit: impl FnOnce(&mut serde_json::Value)) -> LedgerSnapshot {
    let mut json = serde_json::to_value(ledger.to_snapshot()).unwrap();
    edit(&mut json);
    serde_json::from_value(json).unwrap()
}

#[test]
fn a_ledger_matches_its_own_snapshot_in_any_order() {
    // Given a ledger with funded accounts, a hold and a keyed event
    let mut events = history(with_hold(dec!(100), dec!(30), None));
    events.last_mut().unwrap().idempotency = Some(IdempotencyStamp {
        key: "k-1".into(),
        fingerprint: "f".into(),
    });
    let ledger = given(events).ledger;

    // When its snapshot is compared as written, and with every list reversed
    let reversed = edited_snapshot(&ledger, |json| {
        for list in ["accounts", "payments", "idempotency"] {
            json[list].as_array_mut().unwrap().reverse();
        }
    });

    // Then both restore to the same state
    assert!(ledger.matches_snapshot(&ledger.to_snapshot()));
    assert!(ledger.matches_snapshot(&reversed));
}

#[test]
fn a_snapshot_that_differs_from_the_ledger_does_not_match() {
    // Given a ledger with two posted pay-ins and a hold
    let ledger = given_bodies(with_hold(dec!(100), dec!(30), None)).ledger;
    let payments = ledger.to_snapshot();
    let payments = serde_json::to_value(&payments).unwrap()["payments"].clone();
    assert_eq!(payments.as_array().unwrap().len(), 2, "{payments}");

    // When a payment's status is edited, a payment is dropped, or a payment is replaced by a
    // copy of the other one (no gap in the count, one entry hiding another)
    let edited = edited_snapshot(&ledger, |json| {
        json["payments"][0]["status"] = "cancelled".into();
    });
    let dropped = edited_snapshot(&ledger, |json| {
        json["payments"].as_array_mut().unwrap().pop();
    });
    let duplicated = edited_snapshot(&ledger, |json| {
        let first = json["payments"][0].clone();
        json["payments"][1] = first;
    });

    // Then none of them matches
    assert!(!ledger.matches_snapshot(&edited));
    assert!(!ledger.matches_snapshot(&dropped));
    assert!(!ledger.matches_snapshot(&duplicated));
}

#[test]
fn a_snapshot_of_many_payments_is_compared_in_full() {
    // Given a ledger restored from a snapshot of more payments than one thread looks up
    let payments: Vec<serde_json::Value> = (0..70_000u128)
        .map(|n| {
            serde_json::json!({
                "id": uuid::Uuid::from_u128(n + 1).to_string(),
                "status": "posted",
                "legs": [],
                "expiresAt": null,
                "revision": n % 3,
            })
        })
        .collect();
    let snapshot: LedgerSnapshot = serde_json::from_value(serde_json::json!({
        "accounts": [],
        "payments": payments,
        "idempotency": [],
    }))
    .unwrap();
    let ledger = Ledger::from_snapshot(snapshot);

    // When its snapshot is compared as written, and with one payment changed in either half
    let changed = |index: usize| {
        edited_snapshot(&ledger, |json| {
            json["payments"][index]["revision"] = 7.into();
        })
    };

    // Then only the unchanged one matches
    assert!(ledger.matches_snapshot(&ledger.to_snapshot()));
    assert!(!ledger.matches_snapshot(&changed(10)));
    assert!(!ledger.matches_snapshot(&changed(69_990)));
}

#[test]
fn a_snapshot_read_with_room_is_the_snapshot_serde_reads() {
    // Given a ledger's snapshot as JSON, and the same with its payments broken in several ways
    let ledger = given_bodies(with_hold(dec!(100), dec!(30), None)).ledger;
    let json = serde_json::to_vec(&ledger.to_snapshot()).unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mut broken = Vec::new();
    for payments in [
        serde_json::json!({}),
        serde_json::json!(null),
        serde_json::json!([1]),
        serde_json::json!([{ "id": "x" }]),
    ] {
        value["payments"] = payments;
        broken.push(serde_json::to_vec(&value).unwrap());
    }
    value.as_object_mut().unwrap().remove("payments");
    broken.push(serde_json::to_vec(&value).unwrap());

    // When each is read with and without room for payments
    // Then the results are the same (the error texts too)
    for room in [0, 1, 1_000] {
        assert_eq!(
            LedgerSnapshot::from_json_with_room(&json, room).unwrap(),
            serde_json::from_slice::<LedgerSnapshot>(&json).unwrap()
        );
        for bytes in &broken {
            assert_eq!(
                LedgerSnapshot::from_json_with_room(bytes, room)
                    .unwrap_err()
                    .to_string(),
                serde_json::from_slice::<LedgerSnapshot>(bytes)
                    .unwrap_err()
                    .to_string()
            );
        }
    }
    // And the room is not left for the next read
    assert!(serde_json::from_slice::<LedgerSnapshot>(&json).is_ok());
}

// ======================================================================== settled payments

/// The only payment, `pay(1)`, holds these and no legs, is counted once, and a snapshot
/// restores the same ledger.
fn assert_only_payment(
    ledger: &Ledger,
    status: PaymentStatus,
    revision: u64,
    expires_at: Option<DateTime<Utc>>,
) {
    let payment = ledger.payment(pay(1)).expect("kept");
    assert_eq!(payment.status, status);
    assert_eq!(payment.revision, revision);
    assert_eq!(payment.expires_at, expires_at);
    assert!(payment.legs.is_empty());
    assert_eq!(ledger.payment_count(), 1);
    assert_eq!(ledger.payments().count(), 1);
    assert_eq!(&Ledger::from_snapshot(ledger.to_snapshot()), ledger);
}

/// The settlement account and customer accounts 1 and 2, then `payment_events`.
fn with_accounts(payment_events: Vec<EventBody>) -> Ledger {
    let mut bodies = vec![settlement_opened("EUR"), opened(1, "EUR"), opened(2, "EUR")];
    bodies.extend(payment_events);
    given_bodies(bodies).ledger
}

#[test]
fn a_settled_payment_keeps_its_status_revision_and_expiry_and_is_refused_every_action() {
    // Given a pending payment with an expiry that is then posted
    let legs = vec![leg(settlement("EUR"), acc(2), dec!(10), "EUR")];
    let ledger = with_accounts(vec![
        created_full(1, PaymentStatus::Pending, legs, Some(t(60))),
        EventBody::Payment(PaymentEvent::Posted(PaymentPosted {
            payment_id: pay(1),
            legs: vec![PostedLeg {
                debit: settlement("EUR"),
                credit: acc(2),
                currency: cur("EUR"),
                held: dec!(10),
                posted: dec!(10),
            }],
        })),
    ]);

    // Then it reads back posted, at its last revision, with its expiry and without its legs
    assert_only_payment(&ledger, PaymentStatus::Posted, 1, Some(t(60)));
    // And every action on it is refused with its status, like before it settled
    for kind in [
        CommandKind::PostPayment {
            payment_id: pay(1),
            amount: None,
        },
        CommandKind::CancelPayment {
            payment_id: pay(1),
            reason: None,
        },
        CommandKind::PendPayment {
            payment_id: pay(1),
            expires_at: None,
        },
    ] {
        Given {
            ledger: ledger.clone(),
        }
        .when(kind)
        .then_error("InvalidPaymentState");
    }
    // And its id cannot be used again
    Given { ledger }
        .when(transfer(1, 1, 2, dec!(1), CreateMode::Posted))
        .then_error("PaymentAlreadyExists");
}

#[test]
fn a_log_that_moves_a_settled_payment_again_is_replayed_as_it_is() {
    // Given a log no engine writes: a payment posted at once, then pended again
    let legs = vec![leg(settlement("EUR"), acc(2), dec!(5), "EUR")];
    let ledger = with_accounts(vec![
        created(1, PaymentStatus::Posted, legs),
        pended(1, Vec::new(), Some(t(30))),
    ]);

    // Then the payment is open again, pending, with the new expiry and no legs, once
    assert_only_payment(&ledger, PaymentStatus::Pending, 1, Some(t(30)));
}
