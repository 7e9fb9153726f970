//! End to end over HTTP against the real `folio` binary, on SQLite and on PostgreSQL: the
//! envelope for malformed input, paging, read-your-writes, the auth matrix, the account
//! routes, OpenAPI, health and metrics, and a graceful shutdown followed by a restart.

mod common;

use common::{
    AUDITOR_KEY, CLIENT_A_KEY, CLIENT_B_KEY, SYSTEM_KEY, Server, Storage, assert_failure_envelope,
    uuid_of,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

end_to_end!(
    malformed_input_gets_the_envelope_naming_the_field,
    pages_carry_their_totals,
    a_reader_waits_for_its_own_writes,
    each_role_reaches_only_its_routes,
    account_routes_find_update_and_close_accounts,
    openapi_health_and_metrics_describe_the_server,
    sigterm_finishes_the_commands_in_flight_and_a_restart_finds_them,
);

async fn malformed_input_gets_the_envelope_naming_the_field(storage: &Storage) {
    let server = Server::start(storage).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    let field_of = |reply: &common::Reply| {
        assert_eq!(reply.error_code(400), "ValidationFailed");
        reply.body["errors"][0]["metadata"]["field"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let post = |path: &'static str, body: &'static str| {
        let server = &server;
        async move {
            server
                .raw(SYSTEM_KEY, Method::POST, path, body.as_bytes().to_vec())
                .await
        }
    };
    // Not JSON at all, or cut short: no field to name, still the envelope.
    let reply = post("/internal/Payments", "{\"amount\": ").await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    let reply = post("/internal/Payments", "not json").await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    // A wrong type, a bad uuid, an unknown enum value, a missing field.
    let body =
        format!("{{\"destinationAccountId\":\"{alice}\",\"amount\":true,\"currency\":\"EUR\"}}");
    let reply = server
        .raw(
            SYSTEM_KEY,
            Method::POST,
            "/internal/Payments",
            body.into_bytes(),
        )
        .await;
    assert_eq!(field_of(&reply), "amount");
    let reply = post(
        "/internal/Payments",
        r#"{"destinationAccountId":"not-a-uuid","amount":1,"currency":"EUR"}"#,
    )
    .await;
    assert_eq!(field_of(&reply), "destinationAccountId");
    let reply = server
        .post(
            "/Accounts",
            json!({"clientId": server.client_a, "currency": "EUR", "type": "gold"}),
        )
        .await;
    assert_eq!(field_of(&reply), "type");
    let reply = post("/internal/Payments", r#"{"currency":"EUR"}"#).await;
    assert_eq!(field_of(&reply), "amount");
    let reply = post(
        "/v2/ledger/internal/Accounts/search",
        r#"{"accountIds":["0b6f7c7e-0000-4000-8000-000000000000","nope"]}"#,
    )
    .await;
    assert_eq!(field_of(&reply), "accountIds[1]");
    // Path and query parameters.
    let reply = server
        .post("/internal/Payments/12345/pend", json!({}))
        .await;
    assert_eq!(field_of(&reply), "paymentId");
    let reply = server.get("/Accounts?pageSize=abc").await;
    assert_eq!(field_of(&reply), "pageSize");
    let reply = server.get("/Accounts?status=sleeping").await;
    assert_eq!(field_of(&reply), "status");
    let reply = server.get("/internal/Payments?dateFrom=yesterday").await;
    assert_eq!(field_of(&reply), "dateFrom");
    let reply = server
        .get(&format!("/internal/Transactions/report?accountId={alice}"))
        .await;
    assert_eq!(field_of(&reply), "dateFrom");
    // Too large a body.
    let huge = format!(
        "{{\"destinationAccountId\":\"{alice}\",\"amount\":1,\"currency\":\"EUR\",\"description\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let reply = server
        .raw(
            SYSTEM_KEY,
            Method::POST,
            "/internal/Payments",
            huge.into_bytes(),
        )
        .await;
    assert_eq!(reply.error_code(413), "PayloadTooLarge");
    // Unknown routes and methods.
    let reply = server.get("/NoSuchThing").await;
    assert_eq!(reply.error_code(404), "NotFound");
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::DELETE,
            "/internal/Payments",
            None,
            &[],
        )
        .await;
    assert_eq!(reply.error_code(405), "MethodNotAllowed");
    // Nothing above moved money.
    assert_eq!(server.balances(alice).await.0, "0");
}

async fn pages_carry_their_totals(storage: &Storage) {
    let server = Server::start(storage).await;
    let mut opened = Vec::new();
    for _ in 0..25 {
        opened.push(server.open_account(server.client_b, "GBP").await);
    }
    let path = |number: u32, size: u32| {
        format!(
            "/Accounts?clientId={}&pageNumber={number}&pageSize={size}",
            server.client_b
        )
    };
    let reply = server.get(&path(3, 10)).await;
    let page = reply.value();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert_eq!(page["pageNumber"], 3);
    assert_eq!(page["pageSize"], 10);
    assert_eq!(page["totalCount"], 25);
    assert_eq!(page["totalPages"], 3);
    let mut listed = Vec::new();
    for number in 1..=3 {
        let reply = server.get(&path(number, 10)).await;
        listed.extend(
            reply.value()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(uuid_of),
        );
    }
    listed.sort();
    opened.sort();
    assert_eq!(listed, opened, "the pages together list every account once");
    let reply = server
        .get(&format!("/Accounts?clientId={}", server.client_b))
        .await;
    assert_eq!(reply.value()["pageSize"], 20, "the default page size");
    let reply = server.get(&path(9, 10)).await;
    assert_eq!(
        reply.value()["items"],
        json!([]),
        "past the end: an empty page"
    );
    for (number, size, field) in [
        (1, 101, "pageSize"),
        (0, 10, "pageNumber"),
        (1, 0, "pageSize"),
    ] {
        let reply = server.get(&path(number, size)).await;
        assert_eq!(reply.error_code(400), "ValidationFailed");
        assert_eq!(reply.body["errors"][0]["metadata"]["field"], field);
    }
    let reply = server
        .post(
            "/v2/ledger/internal/Accounts/search",
            json!({"clientIds": [server.client_b], "currencies": ["GBP"], "pageNumber": 2, "pageSize": 20}),
        )
        .await;
    let page = reply.value();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert_eq!(page["totalPages"], 2);
}

async fn a_reader_waits_for_its_own_writes(storage: &Storage) {
    let server = Server::start(storage).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    for round in 1..=20 {
        let reply = server
            .post(
                "/internal/Payments",
                json!({"destinationAccountId": alice, "amount": 1, "currency": "EUR"}),
            )
            .await;
        let position = reply.position();
        assert!(position > 0);
        let reply = server
            .request(
                Some(SYSTEM_KEY),
                Method::GET,
                &format!("/Accounts/{alice}"),
                None,
                &[("X-Folio-Min-Position", position.to_string())],
            )
            .await;
        assert_eq!(
            common::decimal(&reply.value()["balance"]),
            round.to_string(),
            "the read includes the write at {position}"
        );
    }
    // A position the log has not reached: a bounded wait, then a clear 503.
    let started = Instant::now();
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::GET,
            &format!("/Accounts/{alice}"),
            None,
            &[("X-Folio-Min-Position", "1000000".to_string())],
        )
        .await;
    assert_eq!(reply.error_code(503), "ReadModelsBehind");
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(started.elapsed() < Duration::from_secs(20));
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::GET,
            "/Accounts",
            None,
            &[("X-Folio-Min-Position", "soon".to_string())],
        )
        .await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
}

async fn each_role_reaches_only_its_routes(storage: &Storage) {
    let server = Server::start(storage).await;
    let own = server.open_account(server.client_a, "EUR").await;
    let other = server.open_account(server.client_b, "EUR").await;
    let payment = server.pay_in(own, "10", "EUR").await;
    let today = chrono::Utc::now().date_naive();

    // (method, path, body) of each route family, and what each role gets.
    struct Case {
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
        system: u16,
        auditor: u16,
        client: u16,
    }
    let case =
        |method: Method, path: String, body: Option<serde_json::Value>, system, auditor, client| {
            Case {
                method,
                path,
                body,
                system,
                auditor,
                client,
            }
        };
    let cases = vec![
        // Accounts (front office): a client sees and opens its own only.
        case(Method::GET, format!("/Accounts/{own}"), None, 200, 200, 200),
        case(
            Method::GET,
            format!("/Accounts/{other}"),
            None,
            200,
            200,
            404,
        ),
        case(Method::GET, "/Accounts".into(), None, 200, 200, 200),
        case(
            Method::POST,
            "/Accounts".into(),
            Some(json!({"clientId": server.client_a, "currency": "EUR"})),
            200,
            403,
            200,
        ),
        case(
            Method::POST,
            "/Accounts".into(),
            Some(json!({"clientId": server.client_b, "currency": "EUR"})),
            200,
            403,
            403,
        ),
        case(
            Method::PATCH,
            format!("/Accounts/{other}"),
            Some(json!({"name": "theirs"})),
            200,
            403,
            404,
        ),
        // Accounts (system).
        case(
            Method::POST,
            "/v2/ledger/internal/Accounts/search".into(),
            Some(json!({})),
            200,
            200,
            403,
        ),
        case(
            Method::POST,
            "/v2/internal/Accounts".into(),
            Some(json!({"clientId": server.client_a, "currency": "EUR", "type": "current"})),
            200,
            403,
            403,
        ),
        // Payments (system only).
        case(
            Method::GET,
            format!("/internal/Payments/{payment}"),
            None,
            200,
            200,
            403,
        ),
        case(
            Method::POST,
            "/internal/Payments".into(),
            Some(json!({"destinationAccountId": own, "amount": 1, "currency": "EUR"})),
            200,
            403,
            403,
        ),
        case(
            Method::POST,
            "/v2/internal/Payments/draft".into(),
            Some(json!({"destinationAccountId": own, "amount": 1, "currency": "EUR"})),
            200,
            403,
            403,
        ),
        // Transactions.
        case(
            Method::GET,
            format!("/Transactions?accountId={own}"),
            None,
            200,
            200,
            200,
        ),
        case(
            Method::GET,
            format!("/Transactions?accountId={other}"),
            None,
            200,
            200,
            404,
        ),
        case(
            Method::GET,
            "/internal/Transactions".into(),
            None,
            200,
            200,
            403,
        ),
        case(
            Method::POST,
            "/internal/Transactions/query".into(),
            Some(json!({})),
            200,
            200,
            403,
        ),
        // Balances and treasury.
        case(
            Method::POST,
            "/internal/DailyAccountBalance".into(),
            Some(json!({"dateFrom": today, "dateTo": today})),
            200,
            200,
            403,
        ),
        case(
            Method::GET,
            "/internal/TreasuryManagement/summary".into(),
            None,
            200,
            200,
            403,
        ),
        case(
            Method::GET,
            "/BaasProvider/available-currencies".into(),
            None,
            200,
            200,
            200,
        ),
    ];
    for case in &cases {
        for (role, key, expected) in [
            ("system", SYSTEM_KEY, case.system),
            ("auditor", AUDITOR_KEY, case.auditor),
            ("client", CLIENT_A_KEY, case.client),
        ] {
            let reply = server
                .request(
                    Some(key),
                    case.method.clone(),
                    &case.path,
                    case.body.clone(),
                    &[],
                )
                .await;
            assert_eq!(
                reply.status.as_u16(),
                expected,
                "{role} {} {}: {}",
                case.method,
                case.path,
                reply.body
            );
            if !reply.status.is_success() {
                assert_failure_envelope(&reply.body);
            }
        }
        // No key, or a wrong one: 401 on every route.
        let reply = server
            .request(
                None,
                case.method.clone(),
                &case.path,
                case.body.clone(),
                &[],
            )
            .await;
        assert_eq!(reply.error_code(401), "Unauthorized", "{}", case.path);
        assert_eq!(reply.headers.get("www-authenticate").unwrap(), "Bearer");
        let reply = server
            .request(
                Some("wrong-key-0001"),
                case.method.clone(),
                &case.path,
                case.body.clone(),
                &[],
            )
            .await;
        assert_eq!(reply.error_code(401), "Unauthorized", "{}", case.path);
    }
    // A client lists only its own accounts, and may not ask for another client's.
    let reply = server
        .request(Some(CLIENT_B_KEY), Method::GET, "/Accounts", None, &[])
        .await;
    let page = reply.value();
    // Client B's accounts: the one opened first and the one the system case opened for it.
    assert_eq!(page["totalCount"], 2);
    let items = page["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .all(|item| item["clientId"] == json!(server.client_b))
    );
    assert!(items.iter().any(|item| item["id"] == json!(other)));
    let reply = server
        .request(
            Some(CLIENT_B_KEY),
            Method::GET,
            &format!("/Accounts?clientId={}", server.client_a),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.error_code(403), "Forbidden");
    // Only the bank blocks an account.
    let reply = server
        .request(
            Some(CLIENT_A_KEY),
            Method::PATCH,
            &format!("/Accounts/{own}"),
            Some(json!({"status": "blocked"})),
            &[],
        )
        .await;
    assert_eq!(reply.error_code(403), "Forbidden");
}

async fn account_routes_find_update_and_close_accounts(storage: &Storage) {
    let server = Server::start(storage).await;
    let reply = server
        .post(
            "/v2/internal/Accounts",
            json!({"clientId": server.client_a, "currency": "JPY", "type": "savings", "name": "Yen",
                   "accountNumber": "JP-0001", "externalId": "open-jp-1"}),
        )
        .await;
    let account = reply.value().clone();
    let id = uuid_of(&account);
    assert_eq!(account["accountNumber"], "JP-0001");
    assert_eq!(account["type"], "savings");
    assert_eq!(account["status"], "active");
    assert_eq!(account["isDefault"], false);
    assert!(account["iban"].is_null());
    // The same externalId again: the same account.
    let reply = server
        .post(
            "/v2/internal/Accounts",
            json!({"clientId": server.client_a, "currency": "JPY", "type": "savings", "name": "Yen",
                   "accountNumber": "JP-0001", "externalId": "open-jp-1"}),
        )
        .await;
    assert_eq!(uuid_of(reply.value()), id);
    // By id, by number (same path), and on the system route.
    assert_eq!(
        uuid_of(server.get(&format!("/Accounts/{id}")).await.value()),
        id
    );
    assert_eq!(uuid_of(server.get("/Accounts/JP-0001").await.value()), id);
    assert_eq!(
        uuid_of(
            server
                .get(&format!("/v2/ledger/internal/Accounts/{id}"))
                .await
                .value()
        ),
        id
    );
    assert_eq!(
        server.get("/Accounts/NO-SUCH").await.error_code(404),
        "NotFound"
    );
    let reply = server
        .post(
            "/v2/ledger/internal/Accounts/by-account-numbers",
            json!({"accountNumbers": ["JP-0001", "NO-SUCH"]}),
        )
        .await;
    assert_eq!(reply.value().as_array().unwrap().len(), 1);
    // A bank account has no client.
    let reply = server
        .post(
            "/v2/internal/Accounts",
            json!({"currency": "JPY", "type": "fee", "name": "Fees"}),
        )
        .await;
    assert!(reply.value()["clientId"].is_null());
    assert_eq!(reply.value()["type"], "fee");
    // PATCH renames and changes status; the answer carries the position.
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::PATCH,
            &format!("/Accounts/{id}"),
            Some(json!({"name": "Savings ¥"})),
            &[],
        )
        .await;
    assert_eq!(reply.value()["name"], "Savings ¥");
    assert!(reply.position() > 0);
    assert!(reply.value()["updated"].is_string());
    // isDefault and the account order are kept (tests/account_preferences.rs has the rules).
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::PATCH,
            &format!("/Accounts/{id}"),
            Some(json!({"isDefault": true})),
            &[],
        )
        .await;
    assert_eq!(reply.value()["isDefault"], true);
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::PUT,
            "/Accounts/reorder-accounts",
            Some(json!({"accountIds": [id]})),
            &[],
        )
        .await;
    assert_eq!(reply.value(), &json!(true));
    // DELETE closes an empty account.
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::DELETE,
            &format!("/Accounts/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.value(), &json!(true));
    assert_eq!(
        server.get(&format!("/Accounts/{id}")).await.value()["status"],
        "closed"
    );
    let reply = server
        .post(
            "/v2/ledger/internal/Accounts/search",
            json!({"statuses": ["closed"]}),
        )
        .await;
    assert_eq!(reply.value()["totalCount"], 1);
}

async fn openapi_health_and_metrics_describe_the_server(storage: &Storage) {
    let server = Server::start(storage).await;
    let account = server.open_account(server.client_a, "EUR").await;
    server.pay_in(account, "1", "EUR").await;
    let http = reqwest::Client::new();
    // Public: no key needed.
    let document: serde_json::Value = http
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    for route in [
        "/Accounts",
        "/Accounts/{id}",
        "/Accounts/reorder-accounts",
        "/v2/internal/Accounts",
        "/v2/ledger/internal/Accounts/{accountId}",
        "/v2/ledger/internal/Accounts/search",
        "/v2/ledger/internal/Accounts/by-account-numbers",
        "/v2/ledger/internal/Accounts/getAggregatedAmounts",
        "/internal/Payments",
        "/internal/Payments/draft",
        "/internal/Payments/{paymentId}",
        "/internal/Payments/{paymentId}/pend",
        "/internal/Payments/{paymentId}/post",
        "/internal/Payments/{paymentId}/cancel",
        "/v2/internal/Payments",
        "/v2/internal/Payments/{paymentId}/post",
        "/Transactions",
        "/internal/Transactions",
        "/internal/Transactions/{id}",
        "/internal/Transactions/query",
        "/internal/Transactions/report",
        "/internal/DailyAccountBalance",
        "/BaasProvider/available-currencies",
        "/internal/TreasuryManagement/summary",
    ] {
        assert!(paths.contains_key(route), "{route} is described");
    }
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for schema in [
        "AccountDto",
        "PaymentDto",
        "TransactionDto",
        "Envelope_AccountDto",
        "ErrorReason",
    ] {
        assert!(schemas.contains_key(schema), "{schema} is described");
    }
    let page = http
        .get(format!("{}/docs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/openapi.json"));
    let reply = http
        .get(format!("{}/health/live", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let ready: serde_json::Value = http
        .get(format!("{}/health/ready", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["value"]["status"], "ready");
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "folio_http_requests_total{method=\"POST\",route=\"/internal/Payments\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "folio_http_request_duration_seconds_bucket{method=\"POST\",route=\"/Accounts\""
    ));
    assert!(metrics.contains("folio_engine_batches_committed_total"));
    assert!(metrics.contains("folio_engine_commit_seconds_total"));
    assert!(metrics.contains("folio_projection_lag_events{scope=\"balances\"}"));
    // The request id is echoed, and one given by the caller is kept.
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::GET,
            "/health/live",
            None,
            &[("x-request-id", "trace-me-42".into())],
        )
        .await;
    assert_eq!(reply.headers.get("x-request-id").unwrap(), "trace-me-42");
}

async fn sigterm_finishes_the_commands_in_flight_and_a_restart_finds_them(storage: &Storage) {
    let server = std::sync::Arc::new(Server::start(storage).await);
    let account = server.open_account(server.client_a, "EUR").await;
    let mut in_flight = Vec::new();
    for _ in 0..40 {
        let server = server.clone();
        in_flight.push(tokio::spawn(async move {
            server
                .try_post(
                    "/internal/Payments",
                    json!({"destinationAccountId": account, "amount": 1, "currency": "EUR"}),
                )
                .await
        }));
    }
    // Give the requests a moment to reach the server, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    let mut acknowledged: Vec<Uuid> = Vec::new();
    let mut highest_position = 0;
    for request in in_flight {
        let outcome = tokio::time::timeout(Duration::from_secs(30), request).await;
        // A request the server accepted before the signal is answered; one that arrived after
        // it closed its listener is refused at the connection (the client sees an error).
        if let Ok(Ok(Some(reply))) = outcome {
            assert!(reply.status.is_success(), "{}", reply.body);
            highest_position = highest_position.max(reply.position());
            acknowledged.push(uuid_of(reply.value()));
        }
    }
    let server = std::sync::Arc::try_unwrap(server)
        .ok()
        .expect("no other holder");
    let log_file = server.log_file.clone();
    assert!(server.wait_exit().await, "a clean exit after SIGTERM");
    let log = std::fs::read_to_string(log_file).unwrap();
    assert!(log.contains("stopped"), "a graceful stop: {log}");

    eprintln!(
        "{} payments acknowledged around the SIGTERM",
        acknowledged.len()
    );
    assert!(
        !acknowledged.is_empty(),
        "the requests in flight were answered"
    );
    let restarted = Server::start(storage).await;
    // The answers came at commit, before the read models; reads wait for the last one.
    restarted.remember_position(highest_position);
    let (balance, _, _) = restarted.balances(account).await;
    assert_eq!(
        balance,
        acknowledged.len().to_string(),
        "every acknowledged payment is kept"
    );
    for id in acknowledged {
        let reply = restarted.get(&format!("/internal/Payments/{id}")).await;
        assert_eq!(reply.value()["status"], "posted");
    }
}

/// Starts `folio` with `args` and no key, database or code-key settings from the environment,
/// expects it to refuse to start, and returns what it wrote to stderr.
async fn refused_start(args: &[&std::ffi::OsStr]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_folio"))
        .args(args)
        .env_remove("FOLIO_API_KEYS")
        .env_remove("FOLIO_API_KEYS_FILE")
        .env_remove("FOLIO_OTP_KEY_FILE")
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Without keys the server runs open, so it refuses any address but loopback.
#[tokio::test]
async fn without_keys_the_server_refuses_a_non_loopback_address() {
    let data = tempfile::tempdir().unwrap();
    let stderr = refused_start(&[
        "serve".as_ref(),
        "--listen".as_ref(),
        "0.0.0.0:0".as_ref(),
        "--data-dir".as_ref(),
        data.path().as_os_str(),
    ])
    .await;
    assert!(stderr.contains("refuses to listen"), "{stderr}");
}

/// On a shared database the one-time-code key must be named: a key made up per host would fail
/// the codes another server issued. Checked before any storage is touched.
#[tokio::test]
async fn on_postgresql_the_server_wants_its_code_key_named() {
    let stderr = refused_start(&[
        "serve".as_ref(),
        "--database-url".as_ref(),
        "postgres://nobody@127.0.0.1:1/nothing".as_ref(),
    ])
    .await;
    assert!(
        stderr.contains("--otp-key-file (FOLIO_OTP_KEY_FILE) is required with --database-url"),
        "{stderr}"
    );
}

/// `folio --help` names every setting and its environment variable.
#[tokio::test]
async fn help_explains_the_settings() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_folio"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "serve",
        "--listen",
        "FOLIO_LISTEN",
        "--data-dir",
        "FOLIO_DATA_DIR",
        "--database-url",
        "DATABASE_URL",
        "--log-format",
        "FOLIO_API_KEYS",
        "--otp-key-file",
        "FOLIO_OTP_KEY_FILE",
        "--fx-quote-ttl-secs",
        "--projection-gather-min-events",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}:\n{help}");
    }
}
