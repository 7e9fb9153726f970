//! End to end over HTTP against the real `folio` binary, on SQLite and on PostgreSQL: the
//! payment lifecycle with balances after each step, every refusal of the domain with its
//! status and code, idempotent retries, and many concurrent payments among few accounts.

mod common;

use common::{Server, Storage, decimal, uuid_of};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

end_to_end!(
    payment_lifecycle_moves_balances_step_by_step,
    every_domain_refusal_has_its_status_and_code_and_changes_nothing,
    a_retry_with_the_same_key_returns_the_first_answer,
    concurrent_payments_keep_the_books_balanced,
    reports_and_daily_balances_follow_the_payments,
    sigkill_under_load_loses_no_acknowledged_payment,
    a_command_answer_is_what_the_read_models_show_at_its_position,
);

fn assert_balances(actual: (String, String, String), expected: (&str, &str, &str), step: &str) {
    assert_eq!(
        (actual.0.as_str(), actual.1.as_str(), actual.2.as_str()),
        expected,
        "balance, held, available after {step}"
    );
}

fn line_types(payment: &Value, account: Uuid) -> Vec<String> {
    payment["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["accountId"] == json!(account))
        .map(|line| line["type"].as_str().unwrap().to_string())
        .collect()
}

async fn payment_lifecycle_moves_balances_step_by_step(storage: &Storage) {
    let server = Server::start(storage).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    let bob = server.open_account(server.client_b, "EUR").await;
    assert_balances(server.balances(alice).await, ("0", "0", "0"), "opening");

    // Create: posted at once.
    let reply = server
        .post(
            "/internal/Payments",
            json!({"destinationAccountId": alice, "amount": 100.25, "currency": "EUR",
                   "description": "salary"}),
        )
        .await;
    let payment = reply.value();
    assert_eq!(payment["status"], "posted");
    assert!(payment["sourceAccountId"].is_null());
    assert_eq!(payment["destinationAccountId"], json!(alice));
    assert_eq!(decimal(&payment["amount"]), "100.25");
    assert!(payment["postedAt"].is_string());
    assert_eq!(line_types(payment, alice), ["deposit"]);
    assert_balances(
        server.balances(alice).await,
        ("100.25", "0", "100.25"),
        "the pay-in",
    );

    // Draft: nothing moves.
    let reply = server
        .post(
            "/internal/Payments/draft",
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": "40.00",
                   "currency": "EUR"}),
        )
        .await;
    let draft = reply.value();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["transactions"], json!([]));
    let draft_id = uuid_of(draft);
    assert_balances(
        server.balances(alice).await,
        ("100.25", "0", "100.25"),
        "the draft",
    );

    // Pend: the funds are held on the source.
    let reply = server
        .post(&format!("/internal/Payments/{draft_id}/pend"), json!({}))
        .await;
    let pending = reply.value();
    assert_eq!(pending["status"], "pending");
    assert!(pending["pendedAt"].is_string());
    assert_eq!(line_types(pending, alice), ["hold"]);
    assert_balances(
        server.balances(alice).await,
        ("100.25", "40", "60.25"),
        "the pend",
    );
    assert_balances(
        server.balances(bob).await,
        ("0", "0", "0"),
        "the pend (bob)",
    );

    // Post part of the hold (through the /v2 mirror): 30 moves, the other 10 is released.
    let reply = server
        .post(
            &format!("/v2/internal/Payments/{draft_id}/post"),
            json!({"amount": 30}),
        )
        .await;
    let posted = reply.value();
    assert_eq!(posted["status"], "posted");
    assert_balances(
        server.balances(alice).await,
        ("70.25", "0", "70.25"),
        "the partial post",
    );
    assert_balances(
        server.balances(bob).await,
        ("30", "0", "30"),
        "the partial post (bob)",
    );
    assert!(line_types(posted, alice).contains(&"withdrawal".to_string()));
    assert_eq!(line_types(posted, bob), ["deposit"]);

    // Cancel a pending payment: the hold is paid back.
    let reply = server
        .post(
            "/internal/Payments/draft",
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 20,
                   "currency": "EUR"}),
        )
        .await;
    let second = uuid_of(reply.value());
    server
        .post(&format!("/internal/Payments/{second}/pend"), json!({}))
        .await
        .value();
    assert_balances(
        server.balances(alice).await,
        ("70.25", "20", "50.25"),
        "the second pend",
    );
    let reply = server
        .post(
            &format!("/internal/Payments/{second}/cancel"),
            json!({"reason": "customer changed their mind"}),
        )
        .await;
    let cancelled = reply.value();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelledAt"].is_string());
    assert_eq!(line_types(cancelled, alice), ["hold", "payback"]);
    assert_balances(
        server.balances(alice).await,
        ("70.25", "0", "70.25"),
        "the cancel",
    );
    assert_balances(
        server.balances(bob).await,
        ("30", "0", "30"),
        "the cancel (bob)",
    );

    // Cancelling a draft moves nothing; a pay-out takes money out of the bank.
    let reply = server
        .post(
            "/internal/Payments/draft",
            json!({"sourceAccountId": bob, "amount": 5, "currency": "EUR"}),
        )
        .await;
    let third = uuid_of(reply.value());
    let reply = server
        .post(&format!("/internal/Payments/{third}/cancel"), json!({}))
        .await;
    assert_eq!(reply.value()["transactions"], json!([]));
    server
        .post(
            "/internal/Payments",
            json!({"sourceAccountId": bob, "amount": 12.5, "currency": "EUR"}),
        )
        .await
        .value();
    assert_balances(
        server.balances(bob).await,
        ("17.5", "0", "17.5"),
        "the pay-out",
    );

    // The payment reads back with its lines, and the list filters by account and status.
    let reply = server.get(&format!("/internal/Payments/{draft_id}")).await;
    assert_eq!(reply.value()["status"], "posted");
    let reply = server
        .get(&format!(
            "/internal/Payments?accountId={alice}&status=cancelled"
        ))
        .await;
    let page = reply.value();
    assert_eq!(page["totalCount"], 1);
    assert_eq!(page["items"][0]["id"], json!(second));
    assert!(server.terminate().await, "a clean exit on SIGTERM");
}

async fn every_domain_refusal_has_its_status_and_code_and_changes_nothing(storage: &Storage) {
    let server = Server::start(storage).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    let bob = server.open_account(server.client_a, "EUR").await;
    let dollars = server.open_account(server.client_a, "USD").await;
    server.pay_in(alice, "50", "EUR").await;
    let before = server.balances(alice).await;
    let unknown = Uuid::new_v4();

    let pay = |body: Value| {
        let server = &server;
        async move { server.post("/internal/Payments", body).await }
    };
    let cases: Vec<(&str, u16, Value)> = vec![
        (
            "InvalidAmount",
            400,
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": "0.001", "currency": "EUR"}),
        ),
        (
            "InvalidAmount",
            400,
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": -5, "currency": "EUR"}),
        ),
        (
            "InvalidAmount",
            400,
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 0, "currency": "EUR"}),
        ),
        (
            "UnknownCurrency",
            400,
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 1, "currency": "XXX"}),
        ),
        (
            "CurrencyMismatch",
            422,
            json!({"sourceAccountId": alice, "destinationAccountId": dollars, "amount": 1, "currency": "EUR"}),
        ),
        (
            "AccountNotFound",
            404,
            json!({"sourceAccountId": alice, "destinationAccountId": unknown, "amount": 1, "currency": "EUR"}),
        ),
        (
            "SameAccount",
            400,
            json!({"sourceAccountId": alice, "destinationAccountId": alice, "amount": 1, "currency": "EUR"}),
        ),
        (
            "InsufficientFunds",
            422,
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": "50.01", "currency": "EUR"}),
        ),
        (
            "InvalidCommand",
            400,
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 1, "currency": "EUR", "description": "x".repeat(600)}),
        ),
    ];
    for (code, status, body) in cases {
        let reply = pay(body.clone()).await;
        assert_eq!(reply.error_code(status), code, "{body}");
    }
    let reply = pay(json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": "50.01", "currency": "EUR"})).await;
    reply.error_code(422);
    assert_eq!(
        reply.body["errors"][0]["metadata"]["accountId"],
        json!(alice)
    );
    assert_eq!(
        reply.body["errors"][0]["metadata"]["availableBalance"],
        "50"
    );

    // Payment states.
    let reply = server
        .post(&format!("/internal/Payments/{unknown}/pend"), json!({}))
        .await;
    assert_eq!(reply.error_code(404), "PaymentNotFound");
    let draft = uuid_of(
        server
            .post("/internal/Payments/draft", json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 10, "currency": "EUR"}))
            .await
            .value(),
    );
    let reply = server
        .post(&format!("/internal/Payments/{draft}/post"), json!({}))
        .await;
    assert_eq!(reply.error_code(409), "InvalidPaymentState");
    server
        .post(&format!("/internal/Payments/{draft}/pend"), json!({}))
        .await
        .value();
    let reply = server
        .post(
            &format!("/internal/Payments/{draft}/post"),
            json!({"amount": 11}),
        )
        .await;
    assert_eq!(
        reply.error_code(400),
        "InvalidAmount",
        "posting more than the hold"
    );
    server
        .post(&format!("/internal/Payments/{draft}/cancel"), json!({}))
        .await
        .value();
    let reply = server
        .post(&format!("/internal/Payments/{draft}/cancel"), json!({}))
        .await;
    assert_eq!(reply.error_code(409), "InvalidPaymentState");
    assert_eq!(
        server.balances(alice).await,
        before,
        "refusals change nothing"
    );

    // Account states.
    let reply = server
        .post("/v2/internal/Accounts", json!({"clientId": server.client_a, "currency": "EUR", "type": "savings", "accountNumber": "SAVINGS-1"}))
        .await;
    reply.value();
    let reply = server
        .post("/v2/internal/Accounts", json!({"clientId": server.client_b, "currency": "EUR", "type": "current", "accountNumber": "SAVINGS-1"}))
        .await;
    assert_eq!(reply.error_code(409), "AccountNumberTaken");
    let reply = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::DELETE,
            &format!("/Accounts/{alice}"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.error_code(422), "AccountNotEmpty");
    let patch = |account: Uuid, body: Value| {
        let server = &server;
        async move {
            server
                .request(
                    Some(common::SYSTEM_KEY),
                    Method::PATCH,
                    &format!("/Accounts/{account}"),
                    Some(body),
                    &[],
                )
                .await
        }
    };
    assert_eq!(
        patch(bob, json!({"status": "blocked"})).await.value()["status"],
        "blocked"
    );
    let reply = pay(json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 1, "currency": "EUR"})).await;
    assert_eq!(reply.error_code(422), "AccountBlocked");
    assert_eq!(
        patch(bob, json!({"status": "active"})).await.value()["status"],
        "active"
    );
    let reply = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::DELETE,
            &format!("/Accounts/{bob}"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.value(), &json!(true));
    let reply = pay(json!({"destinationAccountId": bob, "amount": 1, "currency": "EUR"})).await;
    assert_eq!(reply.error_code(422), "AccountClosed");
    let reply = patch(bob, json!({"status": "active"})).await;
    assert_eq!(reply.error_code(409), "InvalidAccountState");
    let reply = patch(alice, json!({"status": "inactive"})).await;
    assert_eq!(reply.error_code(409), "InvalidAccountState");
    let reply = patch(unknown, json!({"name": "x"})).await;
    assert_eq!(reply.error_code(404), "NotFound");
    assert_eq!(
        server.balances(alice).await,
        before,
        "refusals change nothing"
    );
}

async fn a_retry_with_the_same_key_returns_the_first_answer(storage: &Storage) {
    let server = Server::start(storage).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    let body = json!({"destinationAccountId": alice, "amount": 10, "currency": "EUR"});
    let key = vec![("Idempotency-Key", "pay-in-0001".to_string())];
    let first = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/internal/Payments",
            Some(body.clone()),
            &key,
        )
        .await;
    let retry = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/internal/Payments",
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(uuid_of(first.value()), uuid_of(retry.value()));
    assert_eq!(retry.body["successes"][0]["metadata"]["duplicate"], true);
    assert_balances(
        server.balances(alice).await,
        ("10", "0", "10"),
        "a retried pay-in",
    );
    // The same key for another request is a conflict; nothing moves.
    let other = json!({"destinationAccountId": alice, "amount": 11, "currency": "EUR"});
    let reply = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/internal/Payments",
            Some(other),
            &key,
        )
        .await;
    assert_eq!(reply.error_code(409), "IdempotencyConflict");

    // externalId in the body works the same way, and must agree with the header.
    let with_external = json!({"destinationAccountId": alice, "amount": 5, "currency": "EUR", "externalId": "ext-42"});
    let first = server
        .post("/internal/Payments", with_external.clone())
        .await;
    let retry = server
        .post("/v2/internal/Payments", with_external.clone())
        .await;
    assert_eq!(uuid_of(first.value()), uuid_of(retry.value()));
    assert_eq!(retry.value()["externalId"], "ext-42");
    let reply = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/internal/Payments",
            Some(with_external),
            &[("Idempotency-Key", "other".to_string())],
        )
        .await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    assert_balances(server.balances(alice).await, ("15", "0", "15"), "retries");

    // A refused command does not use its key up: fixed, it goes through under the same key.
    let bob = server.open_account(server.client_a, "EUR").await;
    let key = vec![("Idempotency-Key", "move-0001".to_string())];
    let body = json!({"sourceAccountId": bob, "destinationAccountId": alice, "amount": 3, "currency": "EUR"});
    let reply = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/internal/Payments",
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(reply.error_code(422), "InsufficientFunds");
    server.pay_in(bob, "3", "EUR").await;
    let reply = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/internal/Payments",
            Some(body),
            &key,
        )
        .await;
    assert_eq!(reply.value()["status"], "posted");

    // Keys are per caller: a client's key never finds another caller's command.
    let open = json!({"clientId": server.client_a, "currency": "EUR"});
    let key = vec![("Idempotency-Key", "open-1".to_string())];
    let by_system = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::POST,
            "/Accounts",
            Some(open.clone()),
            &key,
        )
        .await;
    let by_client = server
        .request(
            Some(common::CLIENT_A_KEY),
            Method::POST,
            "/Accounts",
            Some(open.clone()),
            &key,
        )
        .await;
    assert_ne!(uuid_of(by_system.value()), uuid_of(by_client.value()));
    let again = server
        .request(
            Some(common::CLIENT_A_KEY),
            Method::POST,
            "/Accounts",
            Some(open),
            &key,
        )
        .await;
    assert_eq!(uuid_of(by_client.value()), uuid_of(again.value()));
}

async fn concurrent_payments_keep_the_books_balanced(storage: &Storage) {
    let server = Arc::new(Server::start(storage).await);
    let mut accounts = Vec::new();
    for _ in 0..4 {
        let account = server.open_account(server.client_a, "EUR").await;
        server.pay_in(account, "100", "EUR").await;
        accounts.push(account);
    }
    let accounts = Arc::new(accounts);
    let mut tasks = Vec::new();
    for caller in 0..16u64 {
        let server = server.clone();
        let accounts = accounts.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut refused = 0;
            for round in 0..15u64 {
                let from = accounts[((caller + round) % 4) as usize];
                let to = accounts[((caller * 3 + round + 1) % 4) as usize];
                if from == to {
                    continue;
                }
                let amount = format!("{}.{:02}", 5 + (caller * 7 + round * 13) % 40, round % 100);
                let reply = server
                    .post("/internal/Payments", json!({"sourceAccountId": from, "destinationAccountId": to, "amount": amount, "currency": "EUR"}))
                    .await;
                if reply.status.is_success() {
                    accepted.push(uuid_of(reply.value()));
                } else {
                    assert_eq!(reply.error_code(422), "InsufficientFunds");
                    refused += 1;
                }
            }
            (accepted, refused)
        }));
    }
    let mut accepted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (ids, refusals) = task.await.unwrap();
        accepted.extend(ids);
        refused += refusals;
    }
    assert!(
        accepted.len() > 50,
        "most payments go through ({} did)",
        accepted.len()
    );
    eprintln!("{} payments accepted, {refused} refused", accepted.len());

    for account in accounts.iter() {
        let (balance, held, _) = server.balances(*account).await;
        assert!(
            !balance.starts_with('-'),
            "no customer below zero: {balance}"
        );
        assert_eq!(held, "0");
    }
    // Σ balances = 0 per currency, settlement account included (double entry).
    let reply = server
        .get("/internal/TreasuryManagement/summary?currency=EUR")
        .await;
    let summary = reply.value();
    assert_eq!(decimal(&summary[0]["totalBalance"]), "0", "{summary}");
    let reply = server.get("/internal/TreasuryManagement/summary").await;
    for row in reply.value().as_array().unwrap() {
        assert_eq!(decimal(&row["totalBalance"]), "0", "{row}");
    }
    // Every accepted payment is there exactly once, posted; nothing else moved money between
    // the accounts.
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    let mut page = 1;
    loop {
        let reply = server
            .get(&format!(
                "/internal/Payments?status=posted&pageSize=100&pageNumber={page}"
            ))
            .await;
        let value = reply.value();
        for item in value["items"].as_array().unwrap() {
            if !item["sourceAccountId"].is_null() {
                *seen.entry(uuid_of(item)).or_default() += 1;
            }
        }
        if page >= value["totalPages"].as_u64().unwrap() {
            break;
        }
        page += 1;
    }
    assert_eq!(seen.len(), accepted.len());
    for id in &accepted {
        assert_eq!(seen.get(id), Some(&1), "payment {id} listed once");
    }
}

async fn reports_and_daily_balances_follow_the_payments(storage: &Storage) {
    let server = Server::start(storage).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    let bob = server.open_account(server.client_a, "EUR").await;
    server.pay_in(alice, "100", "EUR").await;
    server
        .post("/internal/Payments", json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": "30.5", "currency": "EUR"}))
        .await
        .value();
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let reply = server
        .get(&format!(
            "/internal/Transactions/report?accountId={alice}&dateFrom={yesterday}&dateTo={today}"
        ))
        .await;
    let report = reply.value();
    assert_eq!(decimal(&report["openingBalance"]), "0");
    assert_eq!(decimal(&report["closingBalance"]), "69.5");
    assert_eq!(decimal(&report["totalCredit"]), "100");
    assert_eq!(decimal(&report["totalDebit"]), "30.5");
    let types: Vec<&str> = report["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["deposit", "withdrawal"]);
    assert_eq!(decimal(&report["transactions"][1]["balanceAfter"]), "69.5");

    let reply = server
        .post(
            "/internal/DailyAccountBalance",
            json!({"accountIds": [alice, bob], "dateFrom": today, "dateTo": today}),
        )
        .await;
    let rows = reply.value().as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    let alice_row = rows
        .iter()
        .find(|row| row["accountId"] == json!(alice))
        .unwrap();
    assert_eq!(decimal(&alice_row["closingBalance"]), "69.5");
    assert_eq!(alice_row["date"], json!(today));
    let reply = server
        .post(
            "/internal/DailyAccountBalance",
            json!({"dateFrom": today, "dateTo": yesterday}),
        )
        .await;
    assert_eq!(reply.error_code(400), "ValidationFailed");

    // Transactions by filter, by id, listed and queried.
    let reply = server
        .get(&format!("/Transactions?accountId={alice}&type=withdrawal"))
        .await;
    let page = reply.value();
    assert_eq!(page["totalCount"], 1);
    let line = uuid_of(&page["items"][0]);
    let reply = server.get(&format!("/internal/Transactions/{line}")).await;
    assert_eq!(decimal(&reply.value()["amount"]), "30.5");
    let reply = server
        .get(&format!("/internal/Transactions?accountId={bob}"))
        .await;
    assert_eq!(reply.value()["totalCount"], 1);
    let reply = server
        .post(
            "/internal/Transactions/query",
            json!({"accountIds": [alice, bob], "types": ["deposit"], "amountFrom": 50}),
        )
        .await;
    assert_eq!(reply.value()["totalCount"], 1);

    // Aggregates: one client's accounts, and the currencies on offer.
    let reply = server
        .get(&format!(
            "/v2/ledger/internal/Accounts/getAggregatedAmounts?clientId={}",
            server.client_a
        ))
        .await;
    let totals = reply.value();
    assert_eq!(decimal(&totals[0]["balance"]), "100");
    assert_eq!(totals[0]["accountsCount"], 2);
    let reply = server.get("/BaasProvider/available-currencies").await;
    let codes = reply.value().as_array().unwrap().clone();
    assert!(codes.contains(&json!("EUR")) && codes.contains(&json!("JPY")));
}

async fn sigkill_under_load_loses_no_acknowledged_payment(storage: &Storage) {
    let server = Arc::new(Server::start(storage).await);
    let mut accounts = Vec::new();
    for _ in 0..3 {
        let account = server.open_account(server.client_a, "EUR").await;
        server.pay_in(account, "1000", "EUR").await;
        accounts.push(account);
    }
    let accounts = Arc::new(accounts);
    let mut callers = Vec::new();
    for caller in 0..8usize {
        let server = server.clone();
        let accounts = accounts.clone();
        callers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for round in 0.. {
                let from = accounts[(caller + round) % 3];
                let to = accounts[(caller + round + 1) % 3];
                let body = json!({"sourceAccountId": from, "destinationAccountId": to, "amount": "0.01", "currency": "EUR"});
                match server.try_post("/internal/Payments", body).await {
                    Some(reply) if reply.status.is_success() => acknowledged.push(uuid_of(reply.value())),
                    Some(reply) => panic!("refused: {}", reply.body),
                    // The server is gone: whatever was in flight has no answer.
                    None => return acknowledged,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // SIGKILL by pid while the callers still hold the server: no chance to finish anything.
    let killed = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let mut acknowledged = Vec::new();
    for caller in callers {
        acknowledged.extend(caller.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "payments were acknowledged before the kill"
    );
    eprintln!(
        "{} payments acknowledged before SIGKILL",
        acknowledged.len()
    );

    let restarted = Server::start(storage).await;
    for id in &acknowledged {
        let reply = restarted.get(&format!("/internal/Payments/{id}")).await;
        assert_eq!(
            reply.value()["status"],
            "posted",
            "acknowledged payment {id}"
        );
    }
    // Σ balances = 0 after recovery, and every customer account stayed above zero.
    let reply = restarted
        .get("/internal/TreasuryManagement/summary?currency=EUR")
        .await;
    assert_eq!(decimal(&reply.value()[0]["totalBalance"]), "0");
    let mut total = rust_decimal::Decimal::ZERO;
    for account in accounts.iter() {
        let (balance, held, _) = restarted.balances(*account).await;
        let balance: rust_decimal::Decimal = balance.parse().unwrap();
        assert!(balance >= rust_decimal::Decimal::ZERO);
        assert_eq!(held, "0");
        total += balance;
    }
    assert_eq!(
        total,
        rust_decimal::Decimal::from(3000),
        "payments among the accounts keep their sum"
    );
}

/// Commands answer from their committed events, before the projectors have run: the payment in
/// each answer (status, times, statement lines with their running balances) must be exactly the
/// one a read at the answer's position returns, and so must an opened account.
async fn a_command_answer_is_what_the_read_models_show_at_its_position(storage: &Storage) {
    let server = Server::start(storage).await;
    let opened = server
        .post(
            "/Accounts",
            json!({"clientId": server.client_a, "currency": "EUR", "name": "Alice"}),
        )
        .await;
    let alice = uuid_of(opened.value());
    let read = server.get(&format!("/Accounts/{alice}")).await;
    assert_eq!(opened.value(), read.value(), "the opened account");
    let bob = server.open_account(server.client_b, "EUR").await;
    let same_as_read = |answer: &common::Reply, read: &common::Reply, step: &str| {
        assert_eq!(
            answer.value(),
            read.value(),
            "{step}: the answer and the read differ"
        );
    };
    let check = |step: &'static str, answer: common::Reply| {
        let server = &server;
        async move {
            let id = uuid_of(answer.value());
            let read = server
                .request(
                    Some(common::SYSTEM_KEY),
                    Method::GET,
                    &format!("/internal/Payments/{id}"),
                    None,
                    &[("X-Folio-Min-Position", answer.position().to_string())],
                )
                .await;
            same_as_read(&answer, &read, step);
            id
        }
    };
    check(
        "a pay-in",
        server
            .post(
                "/internal/Payments",
                json!({"destinationAccountId": alice, "amount": "500.10", "currency": "EUR",
                       "description": "salary", "metadata": {"source": "payroll"}}),
            )
            .await,
    )
    .await;
    check(
        "a move",
        server
            .post(
                "/internal/Payments",
                json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 20,
                       "currency": "EUR", "externalId": "move-1"}),
            )
            .await,
    )
    .await;
    // Draft → pend → post (partial), each answered before the read models have it.
    let draft = check(
        "a draft",
        server
            .post(
                "/internal/Payments/draft",
                json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 80,
                       "currency": "EUR", "description": "rent"}),
            )
            .await,
    )
    .await;
    check(
        "a pend",
        server
            .post(&format!("/internal/Payments/{draft}/pend"), json!({}))
            .await,
    )
    .await;
    check(
        "a partial post",
        server
            .post(
                &format!("/internal/Payments/{draft}/post"),
                json!({"amount": "60.5"}),
            )
            .await,
    )
    .await;
    // Draft → pend → cancel (the hold paid back), and a draft cancelled at once.
    let held = check(
        "a second draft",
        server
            .post(
                "/v2/internal/Payments/draft",
                json!({"sourceAccountId": alice, "amount": 5, "currency": "EUR"}),
            )
            .await,
    )
    .await;
    check(
        "a second pend",
        server
            .post(&format!("/v2/internal/Payments/{held}/pend"), json!({}))
            .await,
    )
    .await;
    check(
        "a cancel of a hold",
        server
            .post(
                &format!("/v2/internal/Payments/{held}/cancel"),
                json!({"reason": "changed my mind"}),
            )
            .await,
    )
    .await;
    let drafted = check(
        "a third draft",
        server
            .post(
                "/internal/Payments/draft",
                json!({"destinationAccountId": bob, "amount": 1, "currency": "EUR"}),
            )
            .await,
    )
    .await;
    check(
        "a cancel of a draft",
        server
            .post(&format!("/internal/Payments/{drafted}/cancel"), json!({}))
            .await,
    )
    .await;
    // A retry answers the first payment, read back.
    check(
        "a retry",
        server
            .post(
                "/internal/Payments",
                json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": 20,
                       "currency": "EUR", "externalId": "move-1"}),
            )
            .await,
    )
    .await;
    // A rename answers the account as the read models then show it.
    let renamed = server
        .request(
            Some(common::SYSTEM_KEY),
            Method::PATCH,
            &format!("/Accounts/{alice}"),
            Some(json!({"name": "Alice B."})),
            &[],
        )
        .await;
    let read = server.get(&format!("/Accounts/{alice}")).await;
    same_as_read(&renamed, &read, "a rename");
}
