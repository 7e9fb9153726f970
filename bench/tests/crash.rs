//! Crash test: a child process runs payments through the engine and prints every acknowledged
//! one; we SIGKILL it mid-load, reopen the log, and every acknowledged payment must be there,
//! posted, with the ledger's invariants and the hash chain intact.

use folio_domain::{PaymentId, PaymentStatus};
use folio_engine::{CommandRequest, Engine, EngineConfig, recover};
use folio_store::hash::verify_link;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Acknowledgements to wait for before pulling the plug: enough that many batches are in flight.
const ACKS_BEFORE_KILL: usize = 20_000;

fn crash_once(store_url: &str) -> Vec<PaymentId> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_folio-bench"))
        .args(["crash-load", "--store", store_url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the load process");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acknowledged = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in lines.by_ref() {
        let line = line.expect("reading the child's output");
        if let Some(id) = line.strip_prefix("ACK ") {
            acknowledged.push(PaymentId(Uuid::parse_str(id).expect("a payment id")));
            if acknowledged.len() >= ACKS_BEFORE_KILL {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the load is too slow to reach the kill point"
        );
    }
    assert!(
        acknowledged.len() >= ACKS_BEFORE_KILL,
        "the child stopped before the kill"
    );
    // Child::kill sends SIGKILL on Unix: no destructor, no flush, no graceful shutdown.
    child.kill().expect("SIGKILL");
    // Lines the child printed before it died were acknowledgements too.
    for line in lines {
        match line {
            Ok(line) => {
                if let Some(id) = line.strip_prefix("ACK ") {
                    // A line cut in half by the kill is not a complete acknowledgement.
                    if let Ok(id) = Uuid::parse_str(id) {
                        acknowledged.push(PaymentId(id));
                    }
                }
            }
            Err(_) => break,
        }
    }
    let status = child.wait().expect("reaping the child");
    assert!(!status.success(), "the child was killed, not finished");
    acknowledged
}

async fn check_after_crash(store_url: &str, acknowledged: &[PaymentId]) {
    let store = folio_store::open_store(store_url)
        .await
        .expect("reopening the log");
    let recovered = recover(store.as_ref())
        .await
        .expect("recovering after the crash");
    let ledger = &recovered.ledger;
    for payment_id in acknowledged {
        let payment = ledger
            .payment(*payment_id)
            .unwrap_or_else(|| panic!("acknowledged payment {payment_id} is missing"));
        assert_eq!(
            payment.status,
            PaymentStatus::Posted,
            "payment {payment_id}"
        );
    }
    ledger
        .check_invariants()
        .expect("ledger invariants after the crash");

    // The log is whole: gapless positions and an unbroken hash chain.
    let mut previous = [0u8; 32];
    let mut expected_position = 1;
    loop {
        let page = store.read_all(expected_position - 1, 10_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        for event in &page {
            assert_eq!(
                event.global_position, expected_position,
                "positions are gapless"
            );
            assert!(
                verify_link(&previous, event),
                "hash chain broken at {expected_position}"
            );
            previous = event.hash;
            expected_position += 1;
        }
    }
    assert_eq!(expected_position - 1, recovered.head.position);

    // And the engine starts on the crashed log and takes new commands.
    let engine = Engine::start(store.clone(), EngineConfig::default())
        .await
        .expect("restarting the engine after the crash");
    let account = folio_domain::AccountId(Uuid::now_v7());
    let committed = engine
        .handle()
        .execute(CommandRequest::new(folio_domain::CommandKind::OpenAccount(
            folio_domain::OpenAccount {
                account_id: account,
                client_id: Some(folio_domain::ClientId(Uuid::now_v7())),
                currency: folio_domain::Currency::from_code("EUR").unwrap(),
                account_type: folio_domain::AccountType::Current,
                name: None,
                number: None,
                overdraft_limit: rust_decimal::Decimal::ZERO,
                status: folio_domain::AccountStatus::Active,
            },
        )))
        .await
        .expect("a command after restart");
    assert_eq!(committed.position, recovered.head.position + 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_payment_survives_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let acknowledged = tokio::task::spawn_blocking({
        let url = url.clone();
        move || crash_once(&url)
    })
    .await
    .unwrap();
    check_after_crash(&url, &acknowledged).await;
}
