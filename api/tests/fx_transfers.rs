//! End to end over HTTP against the real `folio` binary, on SQLite and on PostgreSQL: FX
//! transfers (create at the configured rates, confirm → completed with all five accounts
//! checked, a destination amount, cancel, refusals, idempotent retries, the ops list), fees on
//! outgoing transfers (charged, paid back on rejection), manual execution, and Σ balances = 0
//! per currency after all of it.

mod common;

use common::{CLIENT_A_KEY, Reply, Server, Storage, decimal, uuid_of};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

end_to_end!(
    fx_fees_and_manual_execution_move_the_money_once,
    an_fx_quote_is_confirmed_in_time_or_not_at_all
);

/// USD 1.25 and JPY 160 per EUR, a 1 % spread, SWIFT 5, and a rail that never answers by itself.
const SERVER_ARGS: &[&str] = &[
    "--rail",
    "manual",
    "--fx-rates",
    "USD=1.25,JPY=160",
    "--fx-spread",
    "0.01",
    "--transfer-fees",
    "swift=5",
];

async fn send(
    server: &Server,
    method: Method,
    path: &str,
    body: Value,
    key: Option<&str>,
) -> Reply {
    let headers: Vec<(&str, String)> = key
        .map(|key| vec![("Idempotency-Key", key.to_string())])
        .unwrap_or_default();
    server
        .request(Some(common::SYSTEM_KEY), method, path, Some(body), &headers)
        .await
}

async fn fx(server: &Server, body: Value, key: Option<&str>) -> Reply {
    send(server, Method::POST, "/Transfers/fx", body, key).await
}

async fn put(server: &Server, path: &str, key: Option<&str>) -> Reply {
    send(server, Method::PUT, path, json!({}), key).await
}

/// Confirms an outgoing transfer with the one-time code the server sent for it.
async fn confirm_outgoing(server: &Server, id: Uuid) {
    let body = server.confirmation_for(id).await;
    let path = format!("/Transfers/outgoing/{id}/confirm");
    let confirmed = send(server, Method::PUT, &path, body, None).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
}

fn amount(value: &Value, field: &str) -> String {
    decimal(&value[field])
}

/// (balance, held, available) of an account, as decimal strings.
async fn assert_balances(server: &Server, account: Uuid, expected: (&str, &str, &str), step: &str) {
    let (balance, held, available) = server.balances(account).await;
    assert_eq!(
        (balance.as_str(), held.as_str(), available.as_str()),
        expected,
        "balance, held, available of {account} after {step}"
    );
}

/// The bank's account with this number (FX positions and fee accounts open themselves).
async fn bank_account(server: &Server, number: &str) -> Uuid {
    let reply = server
        .post(
            "/v2/ledger/internal/Accounts/by-account-numbers",
            json!({"accountNumbers": [number]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    uuid_of(&reply.value()[0])
}

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

async fn outgoing(server: &Server, from: Uuid, to: &str, amount: &str) -> Reply {
    server
        .post(
            "/Transfers/outgoing",
            json!({"sourceAccountId": from, "beneficiaryAccount": to, "amount": amount,
                "currency": "EUR"}),
        )
        .await
}

/// Σ balances = 0 for every currency (the treasury summary counts every account).
async fn assert_books_balance(server: &Server) {
    let reply = server.get("/internal/TreasuryManagement/summary").await;
    let rows = reply.value().as_array().unwrap();
    for code in ["EUR", "USD", "JPY"] {
        let row = rows
            .iter()
            .find(|row| row["currency"] == code)
            .unwrap_or_else(|| panic!("no {code} row in {rows:?}"));
        assert_eq!(decimal(&row["totalBalance"]), "0", "{row}");
    }
}

async fn fx_fees_and_manual_execution_move_the_money_once(storage: &Storage) {
    let server = Server::start_with(storage, SERVER_ARGS).await;
    let eur = server.open_account(server.client_a, "EUR").await;
    let usd = server.open_account(server.client_a, "USD").await;
    let jpy = server.open_account(server.client_a, "JPY").await;
    let bobs_usd = server.open_account(server.client_b, "USD").await;
    server.pay_in(eur, "200", "EUR").await;

    // FX by source amount: 100 EUR → 125 USD, 1 EUR spread on top.
    let body = json!({"sourceAccountId": eur, "destinationAccountId": usd,
        "sourceAmount": "100", "sourceCurrency": "EUR", "destinationCurrency": "USD"});
    let created = fx(&server, body.clone(), Some("fx-1")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let dto = created.value();
    assert_eq!(dto["status"], "pendingConfirmation");
    assert_eq!(dto["direction"], "foreignExchange");
    assert_eq!(
        (
            amount(dto, "sourceAmount"),
            amount(dto, "destinationAmount"),
            amount(dto, "rate"),
            amount(dto, "fee"),
            amount(dto, "spread"),
        ),
        (
            "100".into(),
            "125".into(),
            "1.25".into(),
            "1".into(),
            "0.01".into()
        )
    );
    assert_eq!(
        (&dto["sourceCurrency"], &dto["destinationCurrency"]),
        (&json!("EUR"), &json!("USD"))
    );
    assert_eq!(dto["rateProvider"], "fixed-table");
    let lasts = instant(dto, "quoteExpiresAt") - instant(dto, "quotedAt");
    assert!(
        (chrono::Duration::seconds(60)..chrono::Duration::seconds(61)).contains(&lasts),
        "a quote lasts a minute by default, from the ledger's decision: {lasts}"
    );
    let first = uuid_of(dto);
    assert_balances(&server, eur, ("200", "0", "200"), "the FX draft").await;

    let retry = fx(&server, body.clone(), Some("fx-1")).await;
    assert_eq!(
        uuid_of(retry.value()),
        first,
        "a retry is the same transfer"
    );
    assert_eq!(retry.body["successes"][0]["metadata"]["duplicate"], true);
    let mut other = body.clone();
    other["sourceAmount"] = json!("101");
    assert_eq!(
        fx(&server, other, Some("fx-1")).await.error_code(409),
        "IdempotencyConflict"
    );

    let read = server.get(&format!("/Transfers/fx/{first}")).await;
    assert_eq!(read.value()["destinationAmount"], dto["destinationAmount"]);
    let plain = server.get(&format!("/Transfers/{first}")).await;
    assert_eq!(plain.value()["direction"], "foreignExchange");

    let confirmed = put(
        &server,
        &format!("/Transfers/fx/{first}/confirm"),
        Some("fx-1-ok"),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.value()["status"], "completed");
    let again = put(
        &server,
        &format!("/Transfers/fx/{first}/confirm"),
        Some("fx-1-ok"),
    )
    .await;
    assert_eq!(again.body["successes"][0]["metadata"]["duplicate"], true);
    let fx_eur = bank_account(&server, "FXPOSITION-EUR").await;
    let fx_usd = bank_account(&server, "FXPOSITION-USD").await;
    let fees = bank_account(&server, "FEES-EUR").await;
    assert_balances(&server, eur, ("99", "0", "99"), "the FX confirm").await;
    assert_balances(&server, usd, ("125", "0", "125"), "the FX confirm").await;
    assert_balances(&server, fx_eur, ("100", "0", "100"), "the FX confirm").await;
    assert_balances(&server, fx_usd, ("-125", "0", "-125"), "the FX confirm").await;
    assert_balances(&server, fees, ("1", "0", "1"), "the FX confirm").await;

    // FX by destination amount: 1002 JPY is 6.2625 EUR, paid as 6.27 (+ 0.06 spread).
    let by_destination = fx(
        &server,
        json!({"sourceAccountId": eur, "destinationAccountId": jpy,
            "destinationAmount": 1002, "sourceCurrency": "EUR", "destinationCurrency": "JPY"}),
        None,
    )
    .await;
    assert_eq!(by_destination.status, 200, "{}", by_destination.body);
    assert_eq!(amount(by_destination.value(), "sourceAmount"), "6.27");
    assert_eq!(amount(by_destination.value(), "fee"), "0.06");
    let jpy_transfer = uuid_of(by_destination.value());
    put(
        &server,
        &format!("/Transfers/fx/{jpy_transfer}/confirm"),
        None,
    )
    .await;
    assert_balances(&server, jpy, ("1002", "0", "1002"), "the JPY FX").await;
    assert_balances(&server, eur, ("92.67", "0", "92.67"), "the JPY FX").await;

    // Cancelled before confirmation: nothing was held, nothing moves; confirming it is refused.
    let to_cancel = fx(
        &server,
        json!({"sourceAccountId": eur, "destinationAccountId": usd,
            "sourceAmount": "10", "sourceCurrency": "EUR", "destinationCurrency": "USD"}),
        None,
    )
    .await;
    let cancel_id = uuid_of(to_cancel.value());
    let cancelled = send(
        &server,
        Method::PUT,
        &format!("/Transfers/fx/{cancel_id}/cancel"),
        json!({"reason": "rate"}),
        None,
    )
    .await;
    assert_eq!(cancelled.value()["status"], "cancelled");
    let payment = server
        .get(&format!(
            "/internal/Payments/{}",
            cancelled.value()["paymentId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(payment.value()["status"], "cancelled");
    assert_eq!(
        put(&server, &format!("/Transfers/fx/{cancel_id}/confirm"), None)
            .await
            .error_code(409),
        "InvalidTransferState"
    );
    assert_balances(&server, eur, ("92.67", "0", "92.67"), "the cancel").await;
    assert_balances(&server, usd, ("125", "0", "125"), "the cancel").await;

    // Refusals, each changing nothing.
    let refusals = [
        (
            json!({"sourceAccountId": eur, "destinationAccountId": usd, "sourceAmount": "1",
            "destinationAmount": "1", "sourceCurrency": "EUR", "destinationCurrency": "USD"}),
            400,
            "ValidationFailed",
        ),
        (
            json!({"sourceAccountId": usd, "destinationAccountId": usd, "sourceAmount": "1",
            "sourceCurrency": "USD", "destinationCurrency": "USD"}),
            400,
            "InvalidCommand",
        ),
        (
            json!({"sourceAccountId": usd, "destinationAccountId": bobs_usd, "sourceAmount": "1",
            "sourceCurrency": "USD", "destinationCurrency": "EUR"}),
            422,
            "CurrencyMismatch",
        ),
        (
            json!({"sourceAccountId": eur, "destinationAccountId": bobs_usd, "sourceAmount": "1",
            "sourceCurrency": "EUR", "destinationCurrency": "USD"}),
            400,
            "InvalidCommand",
        ),
        (
            json!({"sourceAccountId": eur, "destinationAccountId": usd, "sourceAmount": "500",
            "sourceCurrency": "EUR", "destinationCurrency": "USD"}),
            422,
            "InsufficientFunds",
        ),
        (
            json!({"sourceAccountId": eur, "destinationAccountId": usd, "sourceAmount": "1.001",
            "sourceCurrency": "EUR", "destinationCurrency": "USD"}),
            400,
            "InvalidAmount",
        ),
        (
            json!({"sourceAccountId": eur, "destinationAccountId": usd, "sourceAmount": "1",
            "sourceCurrency": "EUR", "destinationCurrency": "XXX"}),
            400,
            "UnknownCurrency",
        ),
    ];
    for (body, status, code) in refusals {
        let reply = fx(&server, body.clone(), None).await;
        assert_eq!(reply.error_code(status), code, "{body}");
    }
    let theirs = server
        .request(
            Some(CLIENT_A_KEY),
            Method::POST,
            "/Transfers/fx",
            Some(
                json!({"sourceAccountId": usd, "destinationAccountId": bobs_usd,
                "sourceAmount": "1", "sourceCurrency": "USD", "destinationCurrency": "USD"}),
            ),
            &[],
        )
        .await;
    assert_eq!(theirs.error_code(404), "NotFound", "not Alice's account");
    assert_balances(&server, eur, ("92.67", "0", "92.67"), "the refusals").await;

    // Ops list FX transfers; an outgoing transfer is no FX transfer.
    let listed = server.get("/internal/Transfers/fx").await;
    assert_eq!(listed.value()["totalCount"], 3, "{}", listed.body);
    assert_eq!(
        listed.value()["items"][0]["id"],
        json!(cancel_id),
        "newest first"
    );
    let only_cancelled = server.get("/internal/Transfers/fx?status=cancelled").await;
    assert_eq!(only_cancelled.value()["totalCount"], 1);

    // A SWIFT transfer costs 5 EUR, held with the amount and paid back on rejection.
    let swift = outgoing(&server, eur, "US12345678", "30").await;
    assert_eq!(swift.status, 200, "{}", swift.body);
    assert_eq!(swift.value()["transferType"], "swift");
    assert_eq!(amount(swift.value(), "fee"), "5");
    let swift = uuid_of(swift.value());
    assert_eq!(
        server
            .get(&format!("/Transfers/fx/{swift}"))
            .await
            .error_code(404),
        "NotFound"
    );
    confirm_outgoing(&server, swift).await;
    assert_balances(&server, eur, ("92.67", "35", "57.67"), "the SWIFT hold").await;
    wait_for_status(&server, swift, "processing").await;
    let rejected = server
        .post(
            "/internal/IncomingRequests/rejected",
            json!({"transferId": swift, "reason": "unknown beneficiary"}),
        )
        .await;
    assert_eq!(rejected.value()["status"], "rejected");
    assert_balances(&server, eur, ("92.67", "0", "92.67"), "the rejection").await;
    assert_balances(&server, fees, ("1.06", "0", "1.06"), "the rejection").await;
    let sepa = outgoing(&server, eur, "DE89370400440532013000", "1").await;
    assert_eq!(amount(sepa.value(), "fee"), "0", "SEPA is free");
    let sepa = uuid_of(sepa.value());

    // Manual execution: refused before confirmation; resumes a suspended transfer.
    let execute = |id: Uuid| format!("/internal/Transfers/{id}/execute");
    let early = send(&server, Method::POST, &execute(sepa), json!({}), None).await;
    assert_eq!(early.error_code(409), "InvalidTransferState");
    let paid = uuid_of(outgoing(&server, eur, "US12345678", "10").await.value());
    confirm_outgoing(&server, paid).await;
    wait_for_status(&server, paid, "processing").await;
    let suspended = server
        .post(
            &format!("/internal/Transfers/outgoing/{paid}/suspend"),
            json!({"reason": "compliance"}),
        )
        .await;
    assert_eq!(suspended.value()["status"], "suspended");
    let executed = send(
        &server,
        Method::POST,
        &execute(paid),
        json!({}),
        Some("ex-1"),
    )
    .await;
    assert_eq!(executed.status, 200, "{}", executed.body);
    assert_eq!(executed.value()["status"], "processing");
    let history = executed.value()["statusHistory"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["reason"], "manual execution");
    let retried = send(
        &server,
        Method::POST,
        &execute(paid),
        json!({}),
        Some("ex-1"),
    )
    .await;
    assert_eq!(retried.body["successes"][0]["metadata"]["duplicate"], true);
    let twice = send(
        &server,
        Method::POST,
        &execute(paid),
        json!({}),
        Some("ex-2"),
    )
    .await;
    assert_eq!(twice.error_code(409), "InvalidTransferState");
    let auditor = server
        .request(
            Some(common::AUDITOR_KEY),
            Method::POST,
            &execute(paid),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(auditor.status, 403);
    let done = server
        .post(
            "/internal/IncomingRequests/completed",
            json!({"transferId": paid, "providerReference": "P-9"}),
        )
        .await;
    assert_eq!(done.value()["status"], "completed");
    assert_balances(&server, eur, ("77.67", "0", "77.67"), "the executed payout").await;
    assert_balances(&server, fees, ("6.06", "0", "6.06"), "the executed payout").await;

    assert_books_balance(&server).await;
    server.terminate().await;
}

fn instant(value: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    value[field]
        .as_str()
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .unwrap_or_else(|| panic!("{field} is not an instant: {value}"))
        .to_utc()
}

/// Quotes that last three seconds: a transfer confirmed later is refused and moves nothing; it
/// can be cancelled, and a fresh quote confirmed at once goes through.
async fn an_fx_quote_is_confirmed_in_time_or_not_at_all(storage: &Storage) {
    let mut args = SERVER_ARGS.to_vec();
    args.extend(["--fx-quote-ttl-secs", "3"]);
    let server = Server::start_with(storage, &args).await;
    let eur = server.open_account(server.client_a, "EUR").await;
    let usd = server.open_account(server.client_a, "USD").await;
    // The books check below looks at every currency of the suite.
    server.open_account(server.client_a, "JPY").await;
    server.pay_in(eur, "200", "EUR").await;
    let body = json!({"sourceAccountId": eur, "destinationAccountId": usd,
        "sourceAmount": "100", "sourceCurrency": "EUR", "destinationCurrency": "USD"});

    let stale = fx(&server, body.clone(), None).await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    let dto = stale.value();
    let expires_at = instant(dto, "quoteExpiresAt");
    let lasts = expires_at - instant(dto, "quotedAt");
    assert!(
        (chrono::Duration::seconds(3)..chrono::Duration::seconds(4)).contains(&lasts),
        "{lasts}"
    );
    let stale_id = uuid_of(dto);
    let wait = (expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(300)).await;

    let late = put(&server, &format!("/Transfers/fx/{stale_id}/confirm"), None).await;
    assert_eq!(late.error_code(422), "FxQuoteExpired", "{}", late.body);
    let metadata = &late.body["errors"][0]["metadata"];
    assert_eq!(metadata["transferId"], json!(stale_id));
    assert_eq!(instant(metadata, "quoteExpiresAt"), expires_at);
    assert_balances(&server, eur, ("200", "0", "200"), "a late confirmation").await;
    assert_balances(&server, usd, ("0", "0", "0"), "a late confirmation").await;
    let read = server.get(&format!("/Transfers/fx/{stale_id}")).await;
    assert_eq!(read.value()["status"], "pendingConfirmation");

    let cancelled = put(&server, &format!("/Transfers/fx/{stale_id}/cancel"), None).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.value()["status"], "cancelled");

    let fresh = fx(&server, body, None).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let fresh_id = uuid_of(fresh.value());
    let confirmed = put(&server, &format!("/Transfers/fx/{fresh_id}/confirm"), None).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.value()["status"], "completed");
    assert_balances(&server, eur, ("99", "0", "99"), "the fresh quote").await;
    assert_balances(&server, usd, ("125", "0", "125"), "the fresh quote").await;
    assert_books_balance(&server).await;
}
