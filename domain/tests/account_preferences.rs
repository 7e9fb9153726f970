//! Account defaults and display order, one scenario each: *given* a history of events, *when* a
//! command arrives, *then* these events are recorded — or the command is refused with this code
//! and the ledger is left exactly as it was.

use chrono::{DateTime, Utc};
use folio_domain::event::AccountStatusChanged;
use folio_domain::event::{AccountDefaultChanged, AccountOpened, AccountReordered};
use folio_domain::{
    AccountEvent, AccountId, AccountStatus, AccountType, BalancePolicy, ClientId, Command,
    CommandKind, Currency, Event, EventBody, Ledger, LedgerError, Receipt,
};
use rust_decimal::Decimal;
use std::collections::HashMap;
use uuid::Uuid;

// ------------------------------------------------------------------------------------ harness

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn currency(code: &str) -> Currency {
    Currency::from_code(code).unwrap()
}

fn client(n: u128) -> ClientId {
    ClientId(Uuid::from_u128(0xC000 + n))
}

fn acc(n: u128) -> AccountId {
    AccountId(Uuid::from_u128(n))
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

fn given(bodies: Vec<EventBody>) -> Given {
    let mut ledger = Ledger::new();
    for event in &history(bodies) {
        ledger.apply(event);
    }
    ledger.check_invariants().expect("a consistent history");
    Given { ledger }
}

struct Given {
    ledger: Ledger,
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
    result: Result<folio_domain::Executed, LedgerError>,
}

impl Then {
    /// Accepted with exactly these events, which explain the new state; returns the ledger.
    fn then_events(self, expected: Vec<EventBody>, receipt: Receipt) -> Ledger {
        let executed = match self.result {
            Ok(executed) => executed,
            Err(err) => panic!("expected events, the command was refused: {err}"),
        };
        assert!(!executed.duplicate);
        assert_eq!(executed.receipt, receipt);
        let bodies: Vec<EventBody> = executed.events.iter().map(|e| e.body.clone()).collect();
        assert_eq!(bodies, expected);
        let mut replayed = self.before.clone();
        for event in &executed.events {
            replayed.apply(event);
        }
        assert_eq!(replayed, self.after, "the events explain the new state");
        // A snapshot keeps the flag and the order.
        assert_eq!(
            Ledger::from_snapshot(self.after.to_snapshot()),
            self.after,
            "a snapshot restores the same state"
        );
        self.after.check_invariants().expect("invariants hold");
        self.after
    }

    /// Refused with `code`, and the ledger did not change at all.
    fn then_error(self, code: &str) {
        match &self.result {
            Ok(executed) => panic!("expected {code}, the command was accepted: {executed:?}"),
            Err(err) => assert_eq!(err.code(), code, "refused for the wrong reason: {err}"),
        }
        assert_eq!(self.before, self.after, "a refusal changes nothing");
    }
}

// ------------------------------------------------------------------------------------ events

/// An active current account `id` of client `owner` in `code`.
fn opened(id: u128, owner: u128, code: &str) -> EventBody {
    EventBody::Account(AccountEvent::Opened(AccountOpened {
        account_id: acc(id),
        number: format!("N-{id}"),
        client_id: Some(client(owner)),
        currency: currency(code),
        account_type: AccountType::Current,
        status: AccountStatus::Active,
        name: None,
        policy: BalancePolicy::for_type(AccountType::Current, Decimal::ZERO),
    }))
}

fn default_changed(id: u128, is_default: bool) -> EventBody {
    EventBody::Account(AccountEvent::DefaultChanged(AccountDefaultChanged {
        account_id: acc(id),
        is_default,
    }))
}

fn reordered(id: u128, order: u32) -> EventBody {
    EventBody::Account(AccountEvent::Reordered(AccountReordered {
        account_id: acc(id),
        order,
    }))
}

fn set_default(id: u128, is_default: bool) -> CommandKind {
    CommandKind::SetDefaultAccount {
        account_id: acc(id),
        is_default,
    }
}

fn reorder(owner: u128, ids: &[u128]) -> CommandKind {
    CommandKind::ReorderAccounts {
        client_id: client(owner),
        account_ids: ids.iter().map(|id| acc(*id)).collect(),
    }
}

/// Client 1: accounts 1 and 2 in EUR, 3 in USD. Client 2: account 4 in EUR.
fn accounts() -> Vec<EventBody> {
    vec![
        opened(1, 1, "EUR"),
        opened(2, 1, "EUR"),
        opened(3, 1, "USD"),
        opened(4, 2, "EUR"),
    ]
}

fn defaults(ledger: &Ledger) -> Vec<u128> {
    (1..=4)
        .filter(|n| ledger.account(acc(*n)).is_some_and(|a| a.is_default))
        .collect()
}

// ------------------------------------------------------------------------------------ defaults

#[test]
fn an_account_becomes_its_clients_default() {
    let ledger = given(accounts())
        .when(set_default(1, true))
        .then_events(vec![default_changed(1, true)], Receipt::Account(acc(1)));
    assert_eq!(defaults(&ledger), [1]);
}

#[test]
fn a_new_default_clears_the_old_one_of_the_same_client_and_currency_only() {
    let mut bodies = accounts();
    bodies.extend([
        default_changed(1, true),
        default_changed(3, true),
        default_changed(4, true),
    ]);
    let ledger = given(bodies).when(set_default(2, true)).then_events(
        vec![default_changed(1, false), default_changed(2, true)],
        Receipt::Account(acc(2)),
    );
    // Client 1's USD default and client 2's EUR default stay.
    assert_eq!(defaults(&ledger), [2, 3, 4]);
}

#[test]
fn setting_the_default_again_records_it_again_and_clears_nothing() {
    let mut bodies = accounts();
    bodies.push(default_changed(1, true));
    let ledger = given(bodies)
        .when(set_default(1, true))
        .then_events(vec![default_changed(1, true)], Receipt::Account(acc(1)));
    assert_eq!(defaults(&ledger), [1]);
}

#[test]
fn a_default_can_be_unset() {
    let mut bodies = accounts();
    bodies.push(default_changed(1, true));
    let ledger = given(bodies)
        .when(set_default(1, false))
        .then_events(vec![default_changed(1, false)], Receipt::Account(acc(1)));
    assert!(defaults(&ledger).is_empty());
}

#[test]
fn an_unknown_account_cannot_be_a_default() {
    given(accounts())
        .when(set_default(9, true))
        .then_error("AccountNotFound");
}

#[test]
fn a_bank_account_cannot_be_a_default() {
    let mut bodies = accounts();
    bodies.push(EventBody::Account(AccountEvent::Opened(AccountOpened {
        account_id: acc(8),
        number: "FEE-EUR".into(),
        client_id: None,
        currency: currency("EUR"),
        account_type: AccountType::Fee,
        status: AccountStatus::Active,
        name: None,
        policy: BalancePolicy::for_type(AccountType::Fee, Decimal::ZERO),
    })));
    given(bodies)
        .when(set_default(8, true))
        .then_error("InvalidCommand");
}

#[test]
fn a_closed_account_cannot_become_the_default_but_can_stop_being_it() {
    let mut bodies = accounts();
    bodies.push(default_changed(2, true));
    bodies.push(EventBody::Account(AccountEvent::Closed(
        AccountStatusChanged { account_id: acc(2) },
    )));
    given(bodies.clone())
        .when(set_default(2, true))
        .then_error("AccountClosed");
    given(bodies)
        .when(set_default(2, false))
        .then_events(vec![default_changed(2, false)], Receipt::Account(acc(2)));
}

#[test]
fn a_retried_default_is_answered_once() {
    let first = given(accounts())
        .when_keyed(Some("default-1"), set_default(2, true))
        .then_events(vec![default_changed(2, true)], Receipt::Account(acc(2)));
    let retry = Given { ledger: first }.when_keyed(Some("default-1"), set_default(2, true));
    let executed = retry.result.as_ref().expect("a retry is answered");
    assert!(executed.duplicate && executed.events.is_empty());
    assert_eq!(executed.receipt, Receipt::Account(acc(2)));
    assert_eq!(retry.before, retry.after);
    Given {
        ledger: retry.after,
    }
    .when_keyed(Some("default-1"), set_default(1, true))
    .then_error("IdempotencyConflict");
}

// ------------------------------------------------------------------------------------ order

#[test]
fn a_reorder_numbers_the_listed_accounts_in_order() {
    let ledger = given(accounts()).when(reorder(1, &[3, 1, 2])).then_events(
        vec![reordered(3, 0), reordered(1, 1), reordered(2, 2)],
        Receipt::Account(acc(2)),
    );
    let order = |n| ledger.account(acc(n)).map(|a| a.order);
    assert_eq!((order(3), order(1), order(2)), (Some(0), Some(1), Some(2)));
}

#[test]
fn a_partial_reorder_leaves_the_other_accounts_alone() {
    let mut bodies = accounts();
    bodies.extend([reordered(1, 0), reordered(2, 1), reordered(3, 2)]);
    let ledger = given(bodies)
        .when(reorder(1, &[2]))
        .then_events(vec![reordered(2, 0)], Receipt::Account(acc(2)));
    assert_eq!(ledger.account(acc(3)).map(|a| a.order), Some(2));
}

#[test]
fn a_reorder_refuses_what_is_not_the_clients_list() {
    given(accounts())
        .when(reorder(1, &[]))
        .then_error("InvalidCommand");
    given(accounts())
        .when(reorder(1, &[1, 2, 1]))
        .then_error("InvalidCommand");
    given(accounts())
        .when(reorder(1, &[1, 4]))
        .then_error("InvalidCommand");
    given(accounts())
        .when(reorder(1, &[1, 9]))
        .then_error("AccountNotFound");
    given(accounts())
        .when(reorder(
            1,
            &(0..=folio_domain::ledger::MAX_REORDER as u128).collect::<Vec<_>>(),
        ))
        .then_error("InvalidCommand");
}
