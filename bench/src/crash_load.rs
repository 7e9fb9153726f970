//! The crash test's load: payments through the engine, printing each acknowledged one, until
//! the test kills this process with SIGKILL.

use crate::rng::Rng;
use crate::workloads::{open_funded_accounts, payment};
use anyhow::{Context, Result};
use folio_domain::{AccountId, CreateMode, Currency, PaymentId};
use folio_engine::{CommandRequest, Engine, EngineConfig, EngineHandle};
use rust_decimal::Decimal;
use std::io::Write;
use std::sync::Arc;
use uuid::Uuid;

#[derive(clap::Args, Debug)]
pub struct CrashLoadArgs {
    /// Store URL (sqlite://… or postgres://…) of an empty log.
    #[arg(long)]
    store: String,
    /// Funded accounts the payments move between.
    #[arg(long, default_value_t = 50)]
    accounts: u32,
    /// Commands in flight at once.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
}

pub async fn run(args: CrashLoadArgs) -> Result<()> {
    let store = folio_store::open_store(&args.store)
        .await
        .with_context(|| format!("opening {}", args.store))?;
    let engine = Engine::start(store, EngineConfig::default()).await?;
    let handle = engine.handle();
    let currency = Currency::from_code("EUR")?;
    let accounts = Arc::new(open_funded_accounts(&handle, args.accounts, currency).await?);
    println!("READY");
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        workers.push(tokio::spawn(pay_until_killed(
            handle.clone(),
            accounts.clone(),
            currency,
            worker as u64 + 1,
        )));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

/// One caller: payments between random accounts, each printed once the engine acknowledged it
/// (durable), forever — the test ends this process with SIGKILL.
async fn pay_until_killed(
    handle: EngineHandle,
    accounts: Arc<Vec<AccountId>>,
    currency: Currency,
    seed: u64,
) -> Result<()> {
    let mut rng = Rng::new(seed);
    loop {
        let debit = accounts[rng.below(accounts.len() as u64) as usize];
        let credit = accounts[rng.below(accounts.len() as u64) as usize];
        if debit == credit {
            continue;
        }
        let payment_id = PaymentId(Uuid::now_v7());
        let amount = Decimal::new(1 + rng.below(5000) as i64, 2);
        let command = payment(
            payment_id,
            debit,
            credit,
            amount,
            currency,
            CreateMode::Posted,
        );
        handle.execute(CommandRequest::new(command)).await?;
        // Printed only after the engine's durable answer: every line is a promise.
        let mut out = std::io::stdout().lock();
        writeln!(out, "ACK {payment_id}")?;
        out.flush()?;
    }
}
