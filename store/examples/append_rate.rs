//! Measures the store's append rate: 1,000,000 single-leg posted payments (real domain
//! payloads) appended in 4,096-event batches, durably, and prints events/s; then how fast the
//! account index catches up with them.
//!
//! ```text
//! cargo run --release -p folio-store --example append_rate                 # temp SQLite file
//! cargo run --release -p folio-store --example append_rate -- postgres://… # a scratch database
//! cargo run --release -p folio-store --example append_rate -- URL EVENTS BATCH [background]
//! ```
//!
//! `background` keeps the account indexer running behind the writer, as a server does.

use chrono::Utc;
use folio_domain::event::PaymentCreated;
use folio_domain::{AccountId, Currency, EventBody, Leg, PaymentEvent, PaymentId, PaymentStatus};
use folio_store::{NewEvent, StoreOptions, open_store_with};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};
use uuid::Uuid;

const ACCOUNTS: u128 = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let temp = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", temp.path().join("events.db").display()));
    let total: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let batch: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(4096);

    // By default the writer runs alone on the machine; `background` adds the account indexer
    // that a server runs behind it, competing for the same two cores.
    let options = StoreOptions {
        index_in_background: args.next().as_deref() == Some("background"),
        ..StoreOptions::default()
    };
    let store = open_store_with(&url, &options).await?;
    let currency = Currency::from_code("EUR")?;
    let mut head = store.head().await?.position;
    let started_at = head;

    let mut appending = Duration::ZERO;
    let wall = Instant::now();
    let mut written = 0;
    while written < total {
        let count = batch.min(total - written);
        let events: Vec<NewEvent> = (0..count).map(|i| payment(written + i, currency)).collect();
        let started = Instant::now();
        let outcome = store.append(head, events).await?;
        appending += started.elapsed();
        head = outcome.head.position;
        written += count;
    }
    let wall = wall.elapsed();
    println!(
        "{}: {written} events in batches of {batch} (head {started_at} -> {head}): \
         {:.0} events/s appending ({:.2?}), {:.0} events/s wall including event building",
        store.backend_name(),
        written as f64 / appending.as_secs_f64(),
        appending,
        written as f64 / wall.as_secs_f64(),
    );

    // The account index, built afterwards in one go (as the background indexer would after
    // falling behind): how fast it can follow the writer.
    let indexing = Instant::now();
    let indexed = store.catch_up_account_index().await?;
    let indexing = indexing.elapsed();
    println!(
        "{}: account index caught up to {indexed}: {:.0} events/s ({:.2?})",
        store.backend_name(),
        (indexed - started_at) as f64 / indexing.as_secs_f64(),
        indexing,
    );
    Ok(())
}

/// A posted single-leg payment between two of `ACCOUNTS` accounts, as the engine would log it.
fn payment(n: u64, currency: Currency) -> NewEvent {
    let n = u128::from(n);
    let debit = AccountId(Uuid::from_u128(1 + n % ACCOUNTS));
    let credit = AccountId(Uuid::from_u128(1 + (n * 7 + 1) % ACCOUNTS));
    let payment_id = PaymentId(Uuid::now_v7());
    let body = EventBody::Payment(PaymentEvent::Created(PaymentCreated {
        payment_id,
        status: PaymentStatus::Posted,
        legs: vec![Leg {
            debit,
            credit,
            amount: Decimal::new(1234, 2),
            currency,
        }],
        description: None,
        external_id: None,
        metadata: None,
        expires_at: None,
    }));
    let (event_type, schema_version, payload) = folio_domain::codec::encode(&body);
    NewEvent {
        stream_id: body.stream_id(),
        stream_revision: 0,
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version,
        recorded_at: Utc::now(),
        correlation_id: Some(Uuid::now_v7()),
        causation_id: None,
        idempotency_key: None,
        payload,
        metadata: None,
    }
}
