//! scratch: bulk write throughput (temporary, not to be committed)
use chrono::NaiveDate;
use folio_domain::*;
use folio_projections::rows::*;
use folio_projections::{Changes, ReadModelStore, Tables, open_read_models};
use rust_decimal_macros::dec;
use std::time::Instant;
use uuid::Uuid;

fn batch(start: u64, events: u64, accounts: &[AccountId]) -> Changes {
    let eur = Currency::from_code("EUR").unwrap();
    let at = chrono::Utc::now();
    let mut c = Changes::default();
    for (i, a) in accounts.iter().enumerate() {
        c.accounts.push(AccountRow { account_id: *a, number: format!("N{i}"), client_id: None, currency: eur, account_type: AccountType::Current, status: AccountStatus::Active, name: Some("x".into()), overdraft_limit: dec!(0), debits_pending: dec!(1.5), debits_posted: dec!(100.25), credits_pending: dec!(0), credits_posted: dec!(2000.125), version: start + events, last_position: start + events, created_at: at, updated_at: at });
        c.daily.push(DailyRow { account_id: *a, day: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), currency: eur, opening: dec!(0), total_debits: dec!(1), total_credits: dec!(2), closing: dec!(1), movements: 3 });
    }
    for p in start + 1..=start + events {
        let pid = PaymentId(Uuid::now_v7());
        let from = accounts[(p as usize) % accounts.len()];
        let to = accounts[(p as usize * 7 + 1) % accounts.len()];
        c.payments.push(PaymentRow { payment_id: pid, status: PaymentStatus::Posted, legs: vec![Leg { debit: from, credit: to, amount: dec!(1.25), currency: eur }], source_account_id: Some(from), destination_account_id: Some(to), amount: dec!(1.25), currency: eur, posted_amount: Some(dec!(1.25)), description: Some("bench".into()), external_id: None, metadata: None, created_at: at, pended_at: None, posted_at: Some(at), cancelled_at: None, expired_at: None, cancel_reason: None, expires_at: None, last_position: p });
        for (line, acc) in [from, to].into_iter().enumerate() {
            c.transactions.push(TransactionRow { transaction_id: Uuid::now_v7(), position: p, line: line as u32, payment_id: pid, account_id: acc, transaction_type: TransactionType::Deposit, amount: dec!(1.25), currency: eur, balance_after: dec!(100), available_after: dec!(99), description: Some("bench".into()), created_at: at });
        }
    }
    c.position = start + events;
    c
}

async fn run(models: &dyn ReadModelStore, label: &str) {
    let accounts: Vec<AccountId> = (0..10_000).map(|_| AccountId(Uuid::now_v7())).collect();
    let total = 300_000u64;
    let per = 50_000u64;
    let batches: Vec<Changes> = (0..total / per).map(|b| batch(b * per, per, &accounts)).collect();
    models.rebuild_begin().await.unwrap();
    let t = Instant::now();
    for b in batches { models.write(Tables::Rebuild, b).await.unwrap(); }
    let w = t.elapsed();
    let t = Instant::now();
    models.rebuild_index().await.unwrap();
    let i = t.elapsed();
    let t = Instant::now();
    models.rebuild_swap().await.unwrap();
    let s = t.elapsed();
    println!("{label}: write {total} events in {w:?} = {:.0} ev/s; index {i:?}; swap {s:?}", total as f64 / w.as_secs_f64());
    // live incremental batches of 1000 events
    let t = Instant::now();
    let mut pos = total;
    for _ in 0..20 { let b = batch(pos, 1000, &accounts[..1000]); pos += 1000; models.write(Tables::Live, b).await.unwrap(); }
    println!("{label}: live 20x1000 events in {:?} = {:.0} ev/s", t.elapsed(), 20000.0 / t.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open_read_models(&format!("sqlite://{}", dir.path().join("rm.db").display())).await.unwrap();
    run(sqlite.as_ref(), "sqlite").await;
    let pg = open_read_models(&std::env::var("DATABASE_URL").unwrap()).await.unwrap();
    run(pg.as_ref(), "postgres").await;
}
