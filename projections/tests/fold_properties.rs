//! For random command histories, the read models the fold builds agree with the domain's own
//! `Ledger`: balances, held and available amounts; daily balances roll up to the final balance;
//! statement lines' running balances follow from their amounts.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, Command, CommandKind, CreateMode,
    CreatePayment, Currency, Ledger, LegRequest, OpenAccount, PaymentId,
};
use folio_projections::rows::{AccountRow, DailyRow, PaymentRow, TransactionRow, TransactionType};
use folio_projections::{Changes, Fold, FoldScope, FoldState};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Step {
    Open {
        currency: usize,
        overdraft: bool,
    },
    PayIn {
        account: usize,
        cents: i64,
    },
    Pay {
        from: usize,
        to: usize,
        cents: i64,
        mode: u8,
    },
    Pend {
        payment: usize,
        expires_in_s: Option<i64>,
    },
    Post {
        payment: usize,
        partial_cents: Option<i64>,
    },
    Cancel {
        payment: usize,
    },
    Block {
        account: usize,
    },
    Unblock {
        account: usize,
    },
    /// Time passes (hours), crossing business days in the test's time zone.
    Wait {
        hours: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..3usize, any::<bool>()).prop_map(|(currency, overdraft)| Step::Open { currency, overdraft }),
        3 => (0..16usize, 1..100_000i64).prop_map(|(account, cents)| Step::PayIn { account, cents }),
        6 => (0..16usize, 0..16usize, 1..50_000i64, 0..3u8)
            .prop_map(|(from, to, cents, mode)| Step::Pay { from, to, cents, mode }),
        2 => (0..32usize, proptest::option::of(1..7200i64))
            .prop_map(|(payment, expires_in_s)| Step::Pend { payment, expires_in_s }),
        3 => (0..32usize, proptest::option::of(1..50_000i64))
            .prop_map(|(payment, partial_cents)| Step::Post { payment, partial_cents }),
        1 => (0..32usize).prop_map(|payment| Step::Cancel { payment }),
        1 => (0..16usize).prop_map(|account| Step::Block { account }),
        1 => (0..16usize).prop_map(|account| Step::Unblock { account }),
        2 => (1..30i64).prop_map(|hours| Step::Wait { hours }),
    ]
}

const CURRENCIES: [&str; 3] = ["EUR", "JPY", "BHD"];

struct Run {
    ledger: Ledger,
    fold: Fold,
    /// The balances projector's fold of the same events.
    balances: Fold,
    position: u64,
    at: DateTime<Utc>,
    accounts: Vec<AccountId>,
    payments: Vec<PaymentId>,
    changes: Vec<Changes>,
    /// The same events folded as a rebuild's bulk folds them: account and current day rows
    /// left out of every batch, a batch held back until the next, the last one taking in the
    /// rest.
    bulk: Fold,
    bulk_pending: Option<Changes>,
    bulk_changes: Vec<Changes>,
}

impl Run {
    fn execute(&mut self, kind: CommandKind) {
        let command = Command {
            at: self.at,
            idempotency_key: None,
            kind,
        };
        let processed = self.ledger.process(&command);
        let mut events = processed.expired;
        if let Ok(executed) = processed.result {
            events.extend(executed.events);
        }
        for event in &events {
            self.position += 1;
            self.fold.apply(self.position, self.at, &event.body);
            self.balances.apply(self.position, self.at, &event.body);
            self.bulk.apply(self.position, self.at, &event.body);
        }
        // Batches of varying size: every few commands the fold hands its changes over.
        if self.position.is_multiple_of(3) {
            self.changes.push(self.fold.take_changes());
            let batch = self.bulk.take_changes_but_latest_rows();
            if let Some(held) = self.bulk_pending.replace(batch) {
                self.bulk_changes.push(held);
            }
        }
    }
}

fn amount(cents: i64, currency: Currency) -> Decimal {
    // Scale to the currency's minor units so the amount is valid for it.
    Decimal::new(cents, currency.minor_units())
}

fn run(steps: &[Step]) -> Run {
    let start = Utc.with_ymd_and_hms(2026, 3, 28, 20, 0, 0).unwrap();
    let mut run = Run {
        ledger: Ledger::new(),
        // A zone with a daylight-saving change inside the generated period.
        fold: Fold::new(FoldScope::Ledger, Tz::Europe__Berlin, FoldState::default()),
        balances: Fold::new(
            FoldScope::Balances,
            Tz::Europe__Berlin,
            FoldState::default(),
        ),
        position: 0,
        at: start,
        accounts: Vec::new(),
        payments: Vec::new(),
        changes: Vec::new(),
        bulk: Fold::new(FoldScope::Ledger, Tz::Europe__Berlin, FoldState::default()),
        bulk_pending: None,
        bulk_changes: Vec::new(),
    };
    let currency_of =
        |run: &Run, account: AccountId| run.ledger.account(account).map(|a| a.currency);
    for step in steps {
        run.at += Duration::seconds(1);
        match step {
            Step::Open {
                currency,
                overdraft,
            } => {
                let account_id = AccountId(Uuid::from_u128(run.accounts.len() as u128 + 1));
                let currency = Currency::from_code(CURRENCIES[*currency]).unwrap();
                run.accounts.push(account_id);
                run.execute(CommandKind::OpenAccount(OpenAccount {
                    account_id,
                    client_id: Some(ClientId(Uuid::from_u128(99))),
                    currency,
                    account_type: AccountType::Current,
                    name: None,
                    number: None,
                    overdraft_limit: if *overdraft {
                        Decimal::new(100, 0)
                    } else {
                        Decimal::ZERO
                    },
                    status: AccountStatus::Active,
                }));
            }
            Step::PayIn { account, cents } => {
                let Some(&account) = run.accounts.get(*account) else {
                    continue;
                };
                let Some(currency) = currency_of(&run, account) else {
                    continue;
                };
                let payment_id = PaymentId(Uuid::from_u128(1_000_000 + run.position as u128));
                run.execute(CommandKind::CreatePayment(CreatePayment {
                    payment_id,
                    legs: vec![LegRequest {
                        debit: None,
                        credit: Some(account),
                        amount: amount(*cents, currency),
                        currency,
                    }],
                    mode: CreateMode::Posted,
                    description: Some("pay-in".into()),
                    external_id: None,
                    metadata: None,
                    expires_at: None,
                }));
            }
            Step::Pay {
                from,
                to,
                cents,
                mode,
            } => {
                let (Some(&from), Some(&to)) = (run.accounts.get(*from), run.accounts.get(*to))
                else {
                    continue;
                };
                let Some(currency) = currency_of(&run, from) else {
                    continue;
                };
                let payment_id = PaymentId(Uuid::from_u128(2_000_000 + run.payments.len() as u128));
                run.payments.push(payment_id);
                let mode = match mode {
                    0 => CreateMode::Posted,
                    1 => CreateMode::Pending,
                    _ => CreateMode::Draft,
                };
                run.execute(CommandKind::CreatePayment(CreatePayment {
                    payment_id,
                    legs: vec![LegRequest {
                        debit: Some(from),
                        credit: Some(to),
                        amount: amount(*cents, currency),
                        currency,
                    }],
                    mode,
                    description: None,
                    external_id: None,
                    metadata: None,
                    expires_at: None,
                }));
            }
            Step::Pend {
                payment,
                expires_in_s,
            } => {
                let Some(&payment_id) = run.payments.get(*payment) else {
                    continue;
                };
                let expires_at = expires_in_s.map(|s| run.at + Duration::seconds(s));
                run.execute(CommandKind::PendPayment {
                    payment_id,
                    expires_at,
                });
            }
            Step::Post {
                payment,
                partial_cents,
            } => {
                let Some(&payment_id) = run.payments.get(*payment) else {
                    continue;
                };
                let amount = partial_cents.and_then(|cents| {
                    let leg = run.ledger.payment(payment_id)?.legs.first()?.clone();
                    Some(amount(cents, leg.currency))
                });
                run.execute(CommandKind::PostPayment { payment_id, amount });
            }
            Step::Cancel { payment } => {
                let Some(&payment_id) = run.payments.get(*payment) else {
                    continue;
                };
                run.execute(CommandKind::CancelPayment {
                    payment_id,
                    reason: None,
                });
            }
            Step::Block { account } => {
                let Some(&account_id) = run.accounts.get(*account) else {
                    continue;
                };
                run.execute(CommandKind::BlockAccount {
                    account_id,
                    reason: None,
                });
            }
            Step::Unblock { account } => {
                let Some(&account_id) = run.accounts.get(*account) else {
                    continue;
                };
                run.execute(CommandKind::UnblockAccount { account_id });
            }
            Step::Wait { hours } => run.at += Duration::hours(*hours),
        }
    }
    run.changes.push(run.fold.take_changes());
    let rest = run.bulk.take_changes();
    match run.bulk_pending.take() {
        Some(mut held) => {
            held.absorb(rest);
            run.bulk_changes.push(held);
        }
        None => run.bulk_changes.push(rest),
    }
    run
}

/// The rows a sequence of batches leaves stored, as the backends write them: account, day
/// and payment rows upserted (the last version wins), statement lines written once.
#[derive(Debug, PartialEq)]
struct Stored {
    accounts: HashMap<AccountId, AccountRow>,
    days: HashMap<(AccountId, NaiveDate), DailyRow>,
    payments: HashMap<PaymentId, PaymentRow>,
    lines: HashMap<(u64, u32), TransactionRow>,
    position: u64,
}

fn stored(batches: &[Changes]) -> Stored {
    let mut stored = Stored {
        accounts: HashMap::new(),
        days: HashMap::new(),
        payments: HashMap::new(),
        lines: HashMap::new(),
        position: 0,
    };
    for batch in batches {
        for row in &batch.accounts {
            stored.accounts.insert(row.account_id, row.clone());
        }
        for row in &batch.daily {
            stored.days.insert((row.account_id, row.day), row.clone());
        }
        for row in &batch.payments {
            stored.payments.insert(row.payment_id, row.clone());
        }
        for row in &batch.transactions {
            stored
                .lines
                .entry((row.position, row.line))
                .or_insert_with(|| row.clone());
        }
        stored.position = stored.position.max(batch.position);
    }
    stored
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A rebuild writes account rows and current day rows once, with its last batch: across
    /// random histories (days closing in between, a daylight-saving change) that stores the
    /// very rows a projection written batch by batch stores.
    #[test]
    fn rows_written_once_at_the_end_store_what_every_batch_stores(
        steps in proptest::collection::vec(step(), 1..150)
    ) {
        let run = run(&steps);
        prop_assert_eq!(stored(&run.bulk_changes), stored(&run.changes));
    }

    #[test]
    fn read_models_agree_with_the_ledger(steps in proptest::collection::vec(step(), 1..150)) {
        let run = run(&steps);
        run.ledger.check_invariants().map_err(TestCaseError::fail)?;

        // Balances: every account the ledger knows, with the same counters.
        for account in run.ledger.accounts() {
            let row = run.fold.account(account.id).expect("every account has a balance row");
            prop_assert_eq!(row.balance(), account.balance());
            prop_assert_eq!(row.held(), account.held());
            prop_assert_eq!(row.available_balance(), account.available_balance());
            prop_assert_eq!(row.credits_pending, account.credits_pending);
            prop_assert_eq!(row.status, account.status);
            // The balances projector, folding only counters, agrees to the field.
            prop_assert_eq!(run.balances.account(account.id), Some(row));
        }

        // The rows each batch handed over, merged as a database would store them.
        let mut accounts = HashMap::new();
        let mut daily = HashMap::new();
        let mut lines: Vec<TransactionRow> = Vec::new();
        for changes in &run.changes {
            for row in &changes.accounts { accounts.insert(row.account_id, row.clone()); }
            for row in &changes.daily { daily.insert((row.account_id, row.day), row.clone()); }
            lines.extend(changes.transactions.iter().cloned());
        }
        for account in run.ledger.accounts() {
            let stored = &accounts[&account.id];
            prop_assert_eq!(stored.balance(), account.balance(), "stored row of {}", account.id);

            // Daily balances roll up: each day opens at the previous close, moves by its totals,
            // and the last close is the balance.
            let mut days: Vec<_> = daily.values().filter(|d| d.account_id == account.id).collect();
            days.sort_by_key(|d| d.day);
            let mut previous_close = Decimal::ZERO;
            for day in &days {
                prop_assert_eq!(day.opening, previous_close, "opening of {} on {}", account.id, day.day);
                prop_assert_eq!(day.closing, day.opening + day.total_credits - day.total_debits);
                previous_close = day.closing;
            }
            prop_assert_eq!(previous_close, account.balance(), "last close of {}", account.id);

            // Statement lines: each line's balances follow from the one before and its amount.
            let (mut balance, mut available) = (Decimal::ZERO, Decimal::ZERO);
            for line in lines.iter().filter(|l| l.account_id == account.id) {
                prop_assert!(line.amount > Decimal::ZERO);
                match line.transaction_type {
                    TransactionType::Deposit => { balance += line.amount; available += line.amount; }
                    TransactionType::Withdrawal => { balance -= line.amount; available -= line.amount; }
                    TransactionType::Hold => available -= line.amount,
                    TransactionType::Payback => available += line.amount,
                }
                prop_assert_eq!(line.balance_after, balance);
                prop_assert_eq!(line.available_after, available);
            }
            prop_assert_eq!(balance, account.balance());
            prop_assert_eq!(available, account.available_balance());
        }

        // Payments: status as the ledger says.
        for payment in run.ledger.payments() {
            let stored = run.changes.iter().rev()
                .find_map(|c| c.payments.iter().find(|p| p.payment_id == payment.id));
            prop_assert_eq!(stored.map(|p| p.status), Some(payment.status));
        }
    }
}

#[test]
fn a_day_without_movement_is_answered_from_the_previous_close() {
    use folio_projections::daily::fill_days;
    use folio_projections::query::DayRange;
    use folio_projections::rows::DailyRow;
    let account = AccountId(Uuid::from_u128(1));
    let eur = Currency::from_code("EUR").unwrap();
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
    let stored = vec![
        DailyRow {
            account_id: account,
            day: day(2),
            currency: eur,
            opening: Decimal::ZERO,
            total_debits: Decimal::ZERO,
            total_credits: Decimal::new(100, 0),
            closing: Decimal::new(100, 0),
            movements: 1,
        },
        DailyRow {
            account_id: account,
            day: day(5),
            currency: eur,
            opening: Decimal::new(100, 0),
            total_debits: Decimal::new(30, 0),
            total_credits: Decimal::ZERO,
            closing: Decimal::new(70, 0),
            movements: 1,
        },
    ];
    let filled = fill_days(
        &stored,
        DayRange {
            from: day(1),
            to: day(7),
        },
    );
    let closing: Vec<_> = filled
        .iter()
        .map(|d| (d.day, d.opening, d.closing, d.movements))
        .collect();
    assert_eq!(
        closing,
        vec![
            (day(2), Decimal::ZERO, Decimal::new(100, 0), 1),
            (day(3), Decimal::new(100, 0), Decimal::new(100, 0), 0),
            (day(4), Decimal::new(100, 0), Decimal::new(100, 0), 0),
            (day(5), Decimal::new(100, 0), Decimal::new(70, 0), 1),
            (day(6), Decimal::new(70, 0), Decimal::new(70, 0), 0),
            (day(7), Decimal::new(70, 0), Decimal::new(70, 0), 0),
        ],
        "no row before the first movement; idle days carry the close forward"
    );
}
