//! The projectors run alone, in their own process: `folio-projector` follows a log another
//! process wrote, brings both read models to its head, and stops cleanly on SIGTERM.

use folio_domain::{
    AccountId, AccountStatus, AccountType, ClientId, CommandKind, CreateMode, CreatePayment,
    Currency, LegRequest, OpenAccount, PaymentId,
};
use folio_engine::{CommandRequest, Engine, EngineConfig};
use folio_projections::sqlite::SqliteReadModels;
use folio_projections::{FoldScope, ReadModelStore};
use rust_decimal_macros::dec;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::test]
async fn folio_projector_follows_a_log_on_its_own_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log_url = format!("sqlite://{}", dir.path().join("events.db").display());
    let models_path = dir.path().join("readmodels.db");

    // Another process's history: an account paid into three times.
    let log = folio_store::open_store(&log_url).await.unwrap();
    let engine = Engine::start(log.clone(), EngineConfig::default())
        .await
        .unwrap();
    let handle = engine.handle();
    let eur = Currency::from_code("EUR").unwrap();
    let account = AccountId(Uuid::now_v7());
    handle
        .execute(CommandRequest::new(CommandKind::OpenAccount(OpenAccount {
            account_id: account,
            client_id: Some(ClientId(Uuid::now_v7())),
            currency: eur,
            account_type: AccountType::Current,
            name: None,
            number: None,
            overdraft_limit: dec!(0),
            status: AccountStatus::Active,
        })))
        .await
        .unwrap();
    let mut head = 0;
    for _ in 0..3 {
        let paid = handle
            .execute(CommandRequest::new(CommandKind::CreatePayment(
                CreatePayment {
                    payment_id: PaymentId(Uuid::now_v7()),
                    legs: vec![LegRequest {
                        debit: None,
                        credit: Some(account),
                        amount: dec!(10.5),
                        currency: eur,
                    }],
                    mode: CreateMode::Posted,
                    description: None,
                    external_id: None,
                    metadata: None,
                    expires_at: None,
                },
            )))
            .await
            .unwrap();
        head = paid.position;
    }
    engine.shutdown().await;
    drop(log);

    let mut child = Command::new(env!("CARGO_BIN_EXE_folio-projector"))
        .args([
            "--log",
            &log_url,
            "--read-models",
            &models_path.display().to_string(),
        ])
        .args(["--report-every", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting folio-projector");

    let models = SqliteReadModels::open(&models_path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let balances = models.checkpoint(FoldScope::Balances).await.unwrap();
        let ledger = models.checkpoint(FoldScope::Ledger).await.unwrap();
        if balances >= head && ledger >= head {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the projector did not reach the head ({balances}, {ledger} < {head})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = models
        .account(account)
        .await
        .unwrap()
        .expect("the account's balance row");
    assert_eq!(row.balance(), dec!(31.5));

    // SIGTERM: it finishes the batch in hand and exits successfully.
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "folio-projector exited with {status}");
}
