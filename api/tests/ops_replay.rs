//! Ops' routes over the log, end to end over HTTP on SQLite and PostgreSQL: balances calculated
//! from the log agree with the read models, a read model corrupted behind the server's back is
//! found by the daily check, the reconciliation report and the balance check job, and repaired
//! by the recalculations; the dry run saves nothing; the writing routes refuse the auditor.

mod common;

use chrono::NaiveDate;
use common::{AUDITOR_KEY, CLIENT_A_KEY, Corruption, Server, Storage, decimal};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

end_to_end!(
    calculated_balances_agree_with_the_read_models_and_save_nothing,
    a_corrupted_daily_balance_is_found_and_rebuilt,
    a_corrupted_account_balance_is_recalculated_from_the_log,
    the_balance_check_job_finds_nothing_on_a_healthy_ledger_and_the_corruption_after,
    ops_routes_refuse_bad_input_and_the_roles_they_do_not_serve,
);

/// Alice gets 100 and holds 30 for Bob, who got 50 and was paid 20 by Alice. Returns (alice,
/// bob, the business day of the payments).
async fn some_payments(server: &Server) -> (Uuid, Uuid, NaiveDate) {
    let alice = server.open_account(server.client_a, "EUR").await;
    let bob = server.open_account(server.client_b, "EUR").await;
    server.pay_in(alice, "100", "EUR").await;
    server.pay_in(bob, "50", "EUR").await;
    let reply = server
        .post(
            "/internal/Payments",
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": "20", "currency": "EUR"}),
        )
        .await;
    let created = reply.value()["created"].as_str().unwrap().to_string();
    let draft = server
        .post(
            "/internal/Payments/draft",
            json!({"sourceAccountId": alice, "destinationAccountId": bob, "amount": "30", "currency": "EUR"}),
        )
        .await;
    let id = draft.value()["id"].as_str().unwrap().to_string();
    server
        .post(&format!("/internal/Payments/{id}/pend"), json!({}))
        .await
        .value();
    // A read sent with the last position waits for the projectors: a row corrupted after this
    // is not overwritten by a batch still on its way.
    server.balances(bob).await;
    let day = chrono::DateTime::parse_from_rfc3339(&created)
        .unwrap()
        .date_naive();
    (alice, bob, day)
}

fn amounts(value: &Value) -> (String, String, String) {
    (
        decimal(&value["balance"]),
        decimal(&value["heldAmount"]),
        decimal(&value["availableBalance"]),
    )
}

/// The calculated balances of `accounts`, by account id.
async fn calculate(server: &Server, accounts: &[Uuid], date: Option<NaiveDate>) -> Vec<Value> {
    let mut body = json!({"accountIds": accounts});
    if let Some(date) = date {
        body["date"] = json!(date.to_string());
    }
    let reply = server
        .post("/internal/Accounts/calculateBalances", body)
        .await;
    reply.value().as_array().unwrap().clone()
}

async fn daily_check(server: &Server, day: NaiveDate) -> (Value, Vec<Value>) {
    let summary = server
        .get(&format!("/internal/DailyCheck?date={day}"))
        .await;
    let details = server
        .get(&format!("/internal/DailyCheck/details?date={day}"))
        .await;
    (
        summary.value().clone(),
        details.value().as_array().unwrap().clone(),
    )
}

async fn calculated_balances_agree_with_the_read_models_and_save_nothing(storage: &Storage) {
    let server = Server::start(storage).await;
    let (alice, bob, day) = some_payments(&server).await;

    let calculated = calculate(&server, &[alice, bob], None).await;
    assert_eq!(calculated.len(), 2);
    assert_eq!(calculated[0]["accountId"], json!(alice));
    assert_eq!(calculated[0]["currency"], "EUR");
    assert_eq!(amounts(&calculated[0]), server.balances(alice).await);
    assert_eq!(amounts(&calculated[1]), server.balances(bob).await);
    assert_eq!(
        amounts(&calculated[0]),
        ("80".into(), "30".into(), "50".into())
    );

    // As of the end of the payments' day: the daily balances' closing of that day.
    let as_of_day = calculate(&server, &[alice, bob], Some(day)).await;
    let daily = server
        .post(
            "/internal/DailyAccountBalance",
            json!({"accountIds": [alice, bob], "dateFrom": day.to_string(), "dateTo": day.to_string()}),
        )
        .await;
    let daily = daily.value().as_array().unwrap().clone();
    for (calculated, account) in as_of_day.iter().zip([alice, bob]) {
        let row = daily
            .iter()
            .find(|row| row["accountId"] == json!(account))
            .unwrap();
        assert_eq!(
            decimal(&calculated["balance"]),
            decimal(&row["closingBalance"])
        );
    }
    // The day before, neither account was open yet: nothing was held.
    let before = calculate(&server, &[alice], day.pred_opt()).await;
    assert_eq!(amounts(&before[0]), ("0".into(), "0".into(), "0".into()));

    // A dry run over a corrupted row finds the right figures and leaves the row as it is.
    storage
        .corrupt(Corruption::CreditsPosted {
            account: bob,
            amount: "999",
        })
        .await;
    let corrupted = server.balances(bob).await;
    assert_eq!(corrupted.0, "999");
    let calculated = calculate(&server, &[bob], None).await;
    assert_eq!(
        amounts(&calculated[0]),
        ("70".into(), "0".into(), "70".into())
    );
    assert_eq!(server.balances(bob).await, corrupted, "the dry run saved");
}

async fn a_corrupted_daily_balance_is_found_and_rebuilt(storage: &Storage) {
    let server = Server::start(storage).await;
    let (alice, bob, day) = some_payments(&server).await;

    let (summary, details) = daily_check(&server, day).await;
    assert_eq!(summary["status"], "passed", "{summary}");
    assert_eq!(summary["date"], day.to_string());
    // Alice, Bob and the EUR settlement account the pay-ins came from.
    assert_eq!(summary["accountsChecked"], 3);
    assert_eq!(summary["mismatches"], 0);
    assert!(details.is_empty());

    storage
        .corrupt(Corruption::DailyClosing {
            account: alice,
            day,
            closing: "999",
        })
        .await;
    let (summary, details) = daily_check(&server, day).await;
    assert_eq!(summary["status"], "failed", "{summary}");
    // Alice's row, and the EUR closings no longer summing to zero.
    assert_eq!(summary["mismatches"], 2, "{summary}");
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0]["accountId"], json!(alice));
    assert_eq!(decimal(&details[0]["expectedBalance"]), "80");
    assert_eq!(decimal(&details[0]["actualBalance"]), "999");
    assert_eq!(decimal(&details[0]["difference"]), "919");

    let report = server
        .get(&format!(
            "/internal/Reports/ReconciliationReport?dateFrom={day}&dateTo={day}&currency=EUR"
        ))
        .await;
    let rows = report.value()["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 3, "every account moved that day: {rows:?}");
    let alice_row = rows
        .iter()
        .find(|row| row["accountId"] == json!(alice))
        .unwrap();
    assert_eq!(decimal(&alice_row["ledgerBalance"]), "80");
    assert_eq!(decimal(&alice_row["dailyBalance"]), "999");
    assert_eq!(decimal(&alice_row["difference"]), "919");
    let bob_row = rows
        .iter()
        .find(|row| row["accountId"] == json!(bob))
        .unwrap();
    assert_eq!(decimal(&bob_row["difference"]), "0");
    let other_currency = server
        .get(&format!(
            "/internal/Reports/ReconciliationReport?dateFrom={day}&dateTo={day}&currency=GBP"
        ))
        .await;
    assert_eq!(other_currency.value()["rows"], json!([]));

    // Rebuilding Alice's rows from that day repairs it.
    let rebuilt = server
        .post(
            "/internal/DailyAccountBalance/recalculate",
            json!({"accountIds": [alice], "fromDate": day.to_string()}),
        )
        .await;
    assert_eq!(rebuilt.status, 200);
    assert_eq!(rebuilt.value(), &json!(1));
    let (summary, details) = daily_check(&server, day).await;
    assert_eq!(summary["status"], "passed", "{summary} {details:?}");

    // Rebuilding every account's rows gives the same rows back.
    let before = server
        .post(
            "/internal/DailyAccountBalance",
            json!({"dateFrom": day.to_string(), "dateTo": day.to_string()}),
        )
        .await
        .value()
        .clone();
    let rebuilt = server
        .post(
            "/internal/DailyAccountBalance/recalculate",
            json!({"fromDate": day.to_string()}),
        )
        .await;
    assert_eq!(rebuilt.value(), &json!(3));
    let after = server
        .post(
            "/internal/DailyAccountBalance",
            json!({"dateFrom": day.to_string(), "dateTo": day.to_string()}),
        )
        .await;
    assert_eq!(after.value(), &before);

    // The projector goes on from the rebuilt rows.
    server.pay_in(alice, "5", "EUR").await;
    let (summary, _) = daily_check(&server, day).await;
    assert_eq!(summary["status"], "passed", "{summary}");
}

async fn a_corrupted_account_balance_is_recalculated_from_the_log(storage: &Storage) {
    let server = Server::start(storage).await;
    let (alice, bob, _) = some_payments(&server).await;
    storage
        .corrupt(Corruption::CreditsPosted {
            account: bob,
            amount: "999",
        })
        .await;
    assert_eq!(server.balances(bob).await.0, "999");

    let reply = server
        .post(
            "/v2/internal/Accounts/recalculate",
            json!({"accountIds": [bob, alice]}),
        )
        .await;
    let accounts = reply.value().as_array().unwrap().clone();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["id"], json!(bob));
    assert_eq!(
        amounts(&accounts[0]),
        ("70".into(), "0".into(), "70".into())
    );
    assert_eq!(
        amounts(&accounts[1]),
        ("80".into(), "30".into(), "50".into())
    );
    assert_eq!(
        server.balances(bob).await,
        ("70".into(), "0".into(), "70".into())
    );

    // The projector continues from the repaired counters.
    server.pay_in(bob, "5", "EUR").await;
    assert_eq!(
        server.balances(bob).await,
        ("75".into(), "0".into(), "75".into())
    );
    let calculated = calculate(&server, &[bob], None).await;
    assert_eq!(amounts(&calculated[0]), server.balances(bob).await);
}

/// Polls a job until it is no longer running.
async fn finished_job(server: &Server, job_id: &str) -> Value {
    for _ in 0..600 {
        let reply = server
            .get(&format!(
                "/internal/BackgroundJob/AccountBalanceCheckJob/{job_id}"
            ))
            .await;
        let job = reply.value().clone();
        assert_eq!(job["jobId"], job_id);
        if job["state"] != "running" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the job {job_id} did not finish within 60 s");
}

async fn start_check(server: &Server, key: &str) -> String {
    let reply = server
        .request(
            Some(key),
            Method::POST,
            "/internal/BackgroundJob/AccountBalanceCheckJob",
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    assert_eq!(reply.value()["started"], true);
    reply.value()["jobId"].as_str().unwrap().to_string()
}

async fn the_balance_check_job_finds_nothing_on_a_healthy_ledger_and_the_corruption_after(
    storage: &Storage,
) {
    let server = Server::start(storage).await;
    let (_, bob, _) = some_payments(&server).await;

    let first = start_check(&server, common::SYSTEM_KEY).await;
    let job = finished_job(&server, &first).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "AccountBalanceCheckJob");
    assert_eq!(job["findings"], json!([]), "{job}");
    assert!(job["eventsTotal"].as_u64().unwrap() > 0);
    assert_eq!(job["eventsDone"], job["eventsTotal"]);
    assert!(job["finishedAt"].is_string());

    storage
        .corrupt(Corruption::CreditsPosted {
            account: bob,
            amount: "999",
        })
        .await;
    let second = start_check(&server, AUDITOR_KEY).await;
    assert_ne!(second, first);
    // While it runs (or once it has), a second start never runs two at once.
    let again = server
        .post("/internal/BackgroundJob/AccountBalanceCheckJob", json!({}))
        .await;
    if again.status == 200 {
        assert_eq!(again.value()["jobId"], second.as_str());
        assert_eq!(again.value()["started"], false);
    } else {
        assert_eq!(again.status, 202);
        finished_job(&server, again.value()["jobId"].as_str().unwrap()).await;
    }
    let job = finished_job(&server, &second).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let findings = job["findings"].as_array().unwrap();
    let on_bob: Vec<&Value> = findings
        .iter()
        .filter(|finding| finding["subject"] == json!(bob.to_string()))
        .collect();
    assert!(
        on_bob.iter().any(|finding| finding["area"] == "balances"
            && finding["field"] == "balance"
            && decimal(&finding["expected"]) == "70"
            && decimal(&finding["found"]) == "999"),
        "{findings:?}"
    );

    let list = server
        .get("/internal/BackgroundJob/AccountBalanceCheckJob")
        .await;
    let ids: Vec<&str> = list
        .value()
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["jobId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&first.as_str()) && ids.contains(&second.as_str()));
    let generic = server
        .get(&format!("/internal/BackgroundJob/{first}"))
        .await;
    assert_eq!(generic.value()["state"], "succeeded");
    let unknown = server
        .get(&format!("/internal/BackgroundJob/{}", Uuid::new_v4()))
        .await;
    assert_eq!(unknown.error_code(404), "NotFound");
}

async fn ops_routes_refuse_bad_input_and_the_roles_they_do_not_serve(storage: &Storage) {
    let server = Server::start(storage).await;
    let (alice, _, day) = some_payments(&server).await;
    let day = day.to_string();
    let as_role = |key: &'static str, method: Method, path: String, body: Option<Value>| {
        let server = &server;
        async move { server.request(Some(key), method, &path, body, &[]).await }
    };

    // The auditor reads but does not repair.
    for (path, body) in [
        (
            "/v2/internal/Accounts/recalculate",
            json!({"accountIds": [alice]}),
        ),
        (
            "/internal/DailyAccountBalance/recalculate",
            json!({"fromDate": day}),
        ),
    ] {
        let reply = as_role(AUDITOR_KEY, Method::POST, path.into(), Some(body)).await;
        assert_eq!(reply.error_code(403), "Forbidden", "{path}");
    }
    let reply = as_role(
        AUDITOR_KEY,
        Method::POST,
        "/internal/Accounts/calculateBalances".into(),
        Some(json!({"accountIds": [alice]})),
    )
    .await;
    assert_eq!(decimal(&reply.value()[0]["balance"]), "80");
    for path in [
        format!("/internal/DailyCheck?date={day}"),
        format!("/internal/DailyCheck/details?date={day}"),
        format!("/internal/Reports/ReconciliationReport?dateFrom={day}&dateTo={day}"),
        "/internal/BackgroundJob/AccountBalanceCheckJob".to_string(),
    ] {
        let reply = as_role(AUDITOR_KEY, Method::GET, path.clone(), None).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    }
    // A client key calls no ops route.
    for (method, path, body) in [
        (
            Method::POST,
            "/internal/Accounts/calculateBalances".to_string(),
            Some(json!({"accountIds": [alice]})),
        ),
        (
            Method::GET,
            format!("/internal/DailyCheck?date={day}"),
            None,
        ),
        (
            Method::POST,
            "/internal/BackgroundJob/AccountBalanceCheckJob".to_string(),
            Some(json!({})),
        ),
    ] {
        let reply = as_role(CLIENT_A_KEY, method, path.clone(), body).await;
        assert_eq!(reply.error_code(403), "Forbidden", "{path}");
    }

    // Bad input is refused naming the field, and changes nothing.
    let empty = server
        .post(
            "/v2/internal/Accounts/recalculate",
            json!({"accountIds": []}),
        )
        .await;
    assert_eq!(empty.error_code(400), "ValidationFailed");
    assert_eq!(empty.body["errors"][0]["metadata"]["field"], "accountIds");
    let too_many: Vec<Uuid> = (0..101).map(|_| Uuid::new_v4()).collect();
    let reply = server
        .post(
            "/internal/Accounts/calculateBalances",
            json!({"accountIds": too_many}),
        )
        .await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    let stranger = Uuid::new_v4();
    let reply = server
        .post(
            "/internal/Accounts/calculateBalances",
            json!({"accountIds": [alice, stranger]}),
        )
        .await;
    assert_eq!(reply.error_code(404), "AccountNotFound");
    assert_eq!(
        reply.body["errors"][0]["metadata"]["accountId"],
        json!(stranger)
    );
    let reply = server
        .post(
            "/v2/internal/Accounts/recalculate",
            json!({"accountIds": [stranger]}),
        )
        .await;
    assert_eq!(reply.error_code(404), "AccountNotFound");
    let reply = server.get("/internal/DailyCheck?date=yesterday").await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    let reply = server
        .get("/internal/Reports/ReconciliationReport?dateFrom=2026-02-02&dateTo=2026-02-01")
        .await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "dateTo");
    let reply = server
        .get(&format!(
            "/internal/Reports/ReconciliationReport?dateFrom={day}&dateTo={day}&currency=XXX"
        ))
        .await;
    assert_eq!(reply.error_code(400), "UnknownCurrency");
    let reply = server
        .post(
            "/internal/DailyAccountBalance/recalculate",
            json!({"fromDate": "not a date"}),
        )
        .await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    assert_eq!(
        server.balances(alice).await,
        ("80".into(), "30".into(), "50".into())
    );
}
