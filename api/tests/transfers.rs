//! End to end over HTTP against the real `folio` binary, on SQLite and on PostgreSQL: every
//! transfer path (provider completion and rejection with payback, cancel before processing and
//! its refusal after, internal, incoming recognized and unrecognized → assign), idempotent
//! retries, a SIGKILL between pend and the provider's answer resumed on restart, and Σ balances
//! = 0 per currency after all of it. The rail is the built-in rail simulator.

mod common;

use common::{CLIENT_A_KEY, Reply, Server, Storage, decimal, uuid_of};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

end_to_end!(
    every_transfer_path_moves_the_money_once,
    a_kill_between_pend_and_the_answer_resumes_on_restart,
);

const IBAN: &str = "DE89370400440532013000";

async fn put(server: &Server, path: &str, body: Value) -> Reply {
    server
        .request(Some(common::SYSTEM_KEY), Method::PUT, path, Some(body), &[])
        .await
}

async fn number_of(server: &Server, account: Uuid) -> String {
    let reply = server.get(&format!("/Accounts/{account}")).await;
    reply.value()["accountNumber"].as_str().unwrap().to_string()
}

/// Waits until the transfer shows `status` (the process manager works in the background).
async fn wait_for_status(server: &Server, id: Uuid, status: &str) -> Value {
    for _ in 0..200 {
        let reply = server.get(&format!("/Transfers/{id}")).await;
        if reply.value()["status"] == status {
            return reply.value().clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("transfer {id} never reached {status}");
}

async fn outgoing(server: &Server, from: Uuid, amount: &str, key: &str) -> Reply {
    server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/Transfers/outgoing",
            Some(json!({"sourceAccountId": from, "beneficiaryAccount": IBAN,
                "beneficiaryName": "Bea", "amount": amount, "currency": "EUR",
                "reference": "invoice"})),
            &[("Idempotency-Key", key.to_string())],
        )
        .await
}

fn assert_balances(actual: (String, String, String), expected: (&str, &str, &str), step: &str) {
    assert_eq!(
        (actual.0.as_str(), actual.1.as_str(), actual.2.as_str()),
        expected,
        "balance, held, available after {step}"
    );
}

/// Σ balances = 0 for every currency (the treasury summary counts every account).
async fn assert_books_balance(server: &Server) {
    let reply = server.get("/internal/TreasuryManagement/summary").await;
    for row in reply.value().as_array().unwrap() {
        assert_eq!(decimal(&row["totalBalance"]), "0", "{row}");
    }
}

async fn every_transfer_path_moves_the_money_once(storage: &Storage) {
    let server = Server::start_with(storage, &["--rail", "manual"]).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    let bob = server.open_account(server.client_b, "EUR").await;
    server.pay_in(alice, "100", "EUR").await;

    // Outgoing, completed by the provider.
    let created = outgoing(&server, alice, "30", "t-1").await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.value()["status"], "pendingConfirmation");
    assert_eq!(created.value()["transferType"], "sepa");
    assert_eq!(created.value()["direction"], "outgoing");
    let first = uuid_of(created.value());
    let retry = outgoing(&server, alice, "30", "t-1").await;
    assert_eq!(
        uuid_of(retry.value()),
        first,
        "a retry answers the same transfer"
    );
    assert_eq!(retry.body["successes"][0]["metadata"]["duplicate"], true);
    assert_eq!(
        outgoing(&server, alice, "31", "t-1").await.error_code(409),
        "IdempotencyConflict"
    );
    let confirmed = put(
        &server,
        &format!("/Transfers/outgoing/{first}/confirm"),
        server.confirmation_for(first).await,
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_balances(server.balances(alice).await, ("100", "30", "70"), "confirm");
    wait_for_status(&server, first, "processing").await;
    let cancel = put(
        &server,
        &format!("/Transfers/outgoing/{first}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(cancel.error_code(409), "InvalidTransferState");
    assert_balances(
        server.balances(alice).await,
        ("100", "30", "70"),
        "a refused cancel",
    );
    let done = server
        .post(
            "/internal/IncomingRequests/completed",
            json!({"transferId": first, "providerReference": "P-1"}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.value()["status"], "completed");
    assert_eq!(done.value()["providerReference"], "P-1");
    let again = server
        .post(
            "/internal/IncomingRequests/completed",
            json!({"transferId": first, "providerReference": "P-1"}),
        )
        .await;
    assert_eq!(again.body["successes"][0]["metadata"]["duplicate"], true);
    assert_balances(
        server.balances(alice).await,
        ("70", "0", "70"),
        "completion",
    );
    let history: Vec<&str> = done.value()["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "pendingConfirmation",
            "confirmed",
            "processing",
            "completed"
        ]
    );

    // Outgoing, rejected by the provider: the hold is paid back.
    let second = uuid_of(outgoing(&server, alice, "20", "t-2").await.value());
    put(
        &server,
        &format!("/Transfers/outgoing/{second}/confirm"),
        server.confirmation_for(second).await,
    )
    .await;
    wait_for_status(&server, second, "processing").await;
    assert_balances(
        server.balances(alice).await,
        ("70", "20", "50"),
        "the second hold",
    );
    let rejected = server
        .post(
            "/internal/IncomingRequests/rejected",
            json!({"transferId": second, "reason": "account closed"}),
        )
        .await;
    assert_eq!(rejected.value()["status"], "rejected");
    assert_balances(server.balances(alice).await, ("70", "0", "70"), "rejection");
    let payment = server
        .get(&format!(
            "/internal/Payments/{}",
            rejected.value()["paymentId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(payment.value()["status"], "cancelled");

    // Cancelled before confirmation, and after confirmation (before processing is impossible
    // to hold still: the process manager starts at once, so only the first is checked).
    let third = uuid_of(outgoing(&server, alice, "5", "t-3").await.value());
    let cancelled = put(
        &server,
        &format!("/Transfers/outgoing/{third}/cancel"),
        json!({"reason": "typo"}),
    )
    .await;
    assert_eq!(cancelled.value()["status"], "cancelled");
    let late = put(
        &server,
        &format!("/Transfers/outgoing/{third}/confirm"),
        server.confirmation_for(third).await,
    )
    .await;
    assert_eq!(late.error_code(409), "InvalidTransferState");

    // Internal: to Bob's Folio account, settled on confirmation.
    let bob_number = number_of(&server, bob).await;
    let reply = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::GET,
            &format!("/Transfers/type?recipientAccount={bob_number}&currency=EUR"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.value()["transferType"], "internal");
    let internal = server
        .post(
            "/Transfers/outgoing",
            json!({"sourceAccountId": alice, "beneficiaryAccount": bob_number,
            "amount": "10", "currency": "EUR"}),
        )
        .await;
    assert_eq!(internal.value()["direction"], "internal");
    let internal = uuid_of(internal.value());
    let settled = put(
        &server,
        &format!("/Transfers/outgoing/{internal}/confirm"),
        server.confirmation_for(internal).await,
    )
    .await;
    assert_eq!(settled.value()["status"], "completed");
    assert_balances(
        server.balances(alice).await,
        ("60", "0", "60"),
        "the internal transfer",
    );
    assert_balances(
        server.balances(bob).await,
        ("10", "0", "10"),
        "the internal transfer",
    );

    // Incoming to Bob: deposited at once; the same notification again is the same transfer.
    let notification = json!({"providerReference": "IN-1", "amount": "5", "currency": "EUR",
        "payerName": "Payer", "payerAccount": "FR7630006000011234567890189",
        "beneficiaryAccount": bob_number, "reference": "rent"});
    let incoming = server
        .post("/internal/IncomingRequests", notification.clone())
        .await;
    assert_eq!(incoming.status, 200, "{}", incoming.body);
    assert_eq!(incoming.value()["status"], "completed");
    let repeated = server
        .post("/internal/IncomingRequests", notification)
        .await;
    assert_eq!(uuid_of(repeated.value()), uuid_of(incoming.value()));
    assert_balances(
        server.balances(bob).await,
        ("15", "0", "15"),
        "the incoming transfer",
    );

    // Incoming to nobody: suspense, then assigned to Alice.
    let unknown = server
        .post(
            "/internal/IncomingRequests",
            json!({"providerReference": "IN-2", "amount": "7",
            "currency": "EUR", "beneficiaryAccount": "XX00NOBODY"}),
        )
        .await;
    assert_eq!(unknown.value()["status"], "unrecognized");
    let unknown = uuid_of(unknown.value());
    let assigned = put(
        &server,
        &format!("/internal/Transfers/incoming/{unknown}/assign"),
        json!({"accountId": alice}),
    )
    .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    assert_eq!(assigned.value()["status"], "completed");
    assert_eq!(assigned.value()["destinationAccountId"], json!(alice));
    assert_balances(
        server.balances(alice).await,
        ("67", "0", "67"),
        "the assignment",
    );
    let twice = put(
        &server,
        &format!("/internal/Transfers/incoming/{unknown}/assign"),
        json!({"accountId": bob}),
    )
    .await;
    assert_eq!(twice.error_code(409), "InvalidTransferState");

    // Lists: Alice's client key sees her transfers; ops see each direction.
    let mine = server
        .request(
            Some(CLIENT_A_KEY),
            Method::GET,
            &format!("/Transfers?accountId={alice}"),
            None,
            &[],
        )
        .await;
    assert_eq!(mine.value()["totalCount"], 5, "{}", mine.body);
    let theirs = server
        .request(
            Some(CLIENT_A_KEY),
            Method::GET,
            &format!("/Transfers?accountId={bob}"),
            None,
            &[],
        )
        .await;
    assert_eq!(theirs.status, 404);
    let incoming = server.get("/internal/Transfers/incoming").await;
    assert_eq!(incoming.value()["totalCount"], 2);
    let outgoing_list = server
        .get("/internal/Transfers/outgoing?status=rejected")
        .await;
    assert_eq!(outgoing_list.value()["totalCount"], 1);
    assert_books_balance(&server).await;
}

async fn a_kill_between_pend_and_the_answer_resumes_on_restart(storage: &Storage) {
    // The simulator takes 30 s to answer: the kill lands while the transfer is processing.
    let server = Server::start_with(storage, &["--rail-delay-ms", "30000"]).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    server.pay_in(alice, "100", "EUR").await;
    let id = uuid_of(outgoing(&server, alice, "30", "k-1").await.value());
    put(
        &server,
        &format!("/Transfers/outgoing/{id}/confirm"),
        server.confirmation_for(id).await,
    )
    .await;
    wait_for_status(&server, id, "processing").await;
    let killed = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = server.wait_exit().await;

    let restarted = Server::start_with(storage, &["--rail-delay-ms", "10"]).await;
    let done = wait_for_status(&restarted, id, "completed").await;
    assert!(
        done["providerReference"]
            .as_str()
            .unwrap()
            .starts_with("SIM-")
    );
    assert_balances(
        restarted.balances(alice).await,
        ("70", "0", "70"),
        "the resumed transfer",
    );
    let history: Vec<&str> = done["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "pendingConfirmation",
            "confirmed",
            "processing",
            "completed"
        ]
    );
    assert_books_balance(&restarted).await;
    restarted.terminate().await;
}
