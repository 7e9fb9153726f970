//! One-time codes end to end over HTTP against the real `folio` binary (SQLite): the codes are
//! read where the SMS gateway's simulator puts them (the `--otp-outbox` file). The whole
//! outgoing path to a recipient with a real code, five wrong codes and the lock, a restart
//! between attempts keeping the count, expiry, single use, idempotent retries and client keys.

mod common;

use common::{Backend, CLIENT_A_KEY, CLIENT_B_KEY, Reply, SYSTEM_KEY, Server, Storage, uuid_of};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

async fn call(
    server: &Server,
    key: &str,
    method: Method,
    path: &str,
    body: Value,
    idempotency_key: Option<&str>,
) -> Reply {
    let headers: Vec<(&str, String)> = idempotency_key
        .map(|k| ("Idempotency-Key", k.to_string()))
        .into_iter()
        .collect();
    server
        .request(Some(key), method, path, Some(body), &headers)
        .await
}

/// Alice (client A) with 100 EUR and a saved recipient; returns (account, recipient).
async fn given_alice(server: &Server) -> (Uuid, Uuid) {
    let alice = server.open_account(server.client_a, "EUR").await;
    server.pay_in(alice, "100", "EUR").await;
    let recipient = call(
        server,
        CLIENT_A_KEY,
        Method::POST,
        "/Recipients",
        json!({"name": "Bea", "type": "individual", "iban": "DE89370400440532013000",
            "currency": "EUR", "country": "DE"}),
        None,
    )
    .await;
    (alice, uuid_of(recipient.value()))
}

/// A 30 EUR transfer from Alice to her recipient: (transfer id, confirmation id).
async fn create(
    server: &Server,
    alice: Uuid,
    recipient: Uuid,
    key: Option<&str>,
) -> (Uuid, String) {
    let created = call(
        server,
        CLIENT_A_KEY,
        Method::POST,
        "/Transfers/outgoing",
        json!({"sourceAccountId": alice, "recipientId": recipient, "amount": "30",
            "currency": "EUR"}),
        key,
    )
    .await;
    let value = created.value();
    (
        uuid_of(value),
        value["confirmationId"]
            .as_str()
            .expect("a confirmationId")
            .to_string(),
    )
}

async fn confirm(server: &Server, transfer: Uuid, confirmation: &str, code: &str) -> Reply {
    confirm_as(server, CLIENT_A_KEY, transfer, confirmation, code).await
}

async fn confirm_as(
    server: &Server,
    key: &str,
    transfer: Uuid,
    confirmation: &str,
    code: &str,
) -> Reply {
    call(
        server,
        key,
        Method::PUT,
        &format!("/Transfers/outgoing/{transfer}/confirm"),
        json!({"confirmationId": confirmation, "code": code}),
        None,
    )
    .await
}

/// The answer to a confirmation that was accepted. The answer is the transfer as read back
/// after the command, and the transfer manager may already have handed it to the rail by
/// then: its history shows it confirmed right after awaiting confirmation, whatever came next.
fn assert_confirmed(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let history: Vec<&str> = reply.value()["statusHistory"]
        .as_array()
        .expect("a status history")
        .iter()
        .filter_map(|step| step["status"].as_str())
        .collect();
    assert_eq!(
        history.get(..2),
        Some(&["pendingConfirmation", "confirmed"][..]),
        "{}",
        reply.body
    );
    let status = reply.value()["status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        ["confirmed", "processing", "completed"].contains(&status.as_str()),
        "{}",
        reply.body
    );
}

/// A code that is not `code` (six digits too).
fn wrong(code: &str) -> String {
    let last = code.as_bytes()[5];
    format!(
        "{}{}",
        &code[..5],
        if last == b'9' {
            '0'
        } else {
            (last + 1) as char
        }
    )
}

async fn wait_for_status(server: &Server, id: Uuid, status: &str) {
    for _ in 0..200 {
        if server.get(&format!("/Transfers/{id}")).await.value()["status"] == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("transfer {id} never reached {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_a_recipient_is_confirmed_with_the_code_sent_for_it() {
    let storage = Storage::new(Backend::Sqlite).await;
    let server = Server::start(&storage).await;
    let (alice, recipient) = given_alice(&server).await;
    let (transfer, confirmation) = create(&server, alice, recipient, Some("tr-1")).await;
    // A retry of the creation is the same transfer, and sends no second code.
    let (again, same_confirmation) = create(&server, alice, recipient, Some("tr-1")).await;
    assert_eq!((again, &same_confirmation), (transfer, &confirmation));
    let code = server.otp_code(&confirmation);
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    // The development sender also logs it, marked as such.
    assert!(server.log().contains("DEVELOPMENT OTP SENDER"));

    // No code, or a malformed body: refused, nothing held.
    let none = call(
        &server,
        CLIENT_A_KEY,
        Method::PUT,
        &format!("/Transfers/outgoing/{transfer}/confirm"),
        json!({}),
        None,
    )
    .await;
    assert_eq!(none.error_code(422), "OtpRequired");
    // Client B cannot confirm (or see) Alice's transfer.
    let other = call(
        &server,
        CLIENT_B_KEY,
        Method::PUT,
        &format!("/Transfers/outgoing/{transfer}/confirm"),
        json!({"confirmationId": confirmation, "code": code}),
        None,
    )
    .await;
    assert_eq!(other.error_code(404), "NotFound");
    assert_eq!(server.balances(alice).await.1, "0");

    let confirmed = confirm(&server, transfer, &confirmation, &code).await;
    assert_confirmed(&confirmed);
    assert_eq!(server.balances(alice).await.1, "30");
    wait_for_status(&server, transfer, "completed").await;
    assert_eq!(server.balances(alice).await.0, "70");
    // A transfer's code is checked only by confirming that transfer.
    let reused = call(
        &server,
        CLIENT_A_KEY,
        Method::POST,
        "/Accounts/otp-verification",
        json!({"confirmationId": confirmation, "code": code}),
        None,
    )
    .await;
    assert_eq!(reused.error_code(400), "InvalidCommand");
    server.terminate().await;
    storage.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_codes_lock_the_confirmation_across_a_restart() {
    let storage = Storage::new(Backend::Sqlite).await;
    let server = Server::start(&storage).await;
    let (alice, recipient) = given_alice(&server).await;
    let (transfer, confirmation) = create(&server, alice, recipient, None).await;
    let code = server.otp_code(&confirmation);
    let bad = wrong(&code);
    let mut position = 0;
    for attempt in 1..=3 {
        let reply = confirm(&server, transfer, &confirmation, &bad).await;
        assert_eq!(reply.error_code(422), "OtpInvalid", "attempt {attempt}");
        let metadata = &reply.body["errors"][0]["metadata"];
        assert_eq!(metadata["confirmationId"], confirmation);
        // Where the failed attempt was recorded, like a command's X-Folio-Position.
        position = metadata["position"].as_u64().expect("a position");
    }
    // The failed attempts are events in the log: a restart does not reset the count.
    assert!(server.terminate().await);
    // A restarted harness gives its client keys new clients: the system confirms from here on.
    let server = Server::start(&storage).await;
    server.remember_position(position);
    for attempt in 4..=5 {
        let reply = confirm_as(&server, SYSTEM_KEY, transfer, &confirmation, &bad).await;
        assert_eq!(reply.error_code(422), "OtpInvalid", "attempt {attempt}");
    }
    // The sixth attempt is refused even with the right code.
    let locked = confirm_as(&server, SYSTEM_KEY, transfer, &confirmation, &code).await;
    assert_eq!(locked.error_code(429), "OtpAttemptsExceeded");
    let row = server.get(&format!("/Transfers/{transfer}")).await;
    assert_eq!(row.value()["status"], "pendingConfirmation");
    assert_eq!(server.balances(alice).await.1, "0");
    // The transfer can still be cancelled.
    let cancelled = call(
        &server,
        SYSTEM_KEY,
        Method::PUT,
        &format!("/Transfers/outgoing/{transfer}/cancel"),
        json!({}),
        None,
    )
    .await;
    assert_eq!(cancelled.value()["status"], "cancelled");
    server.terminate().await;
    storage.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_otp_and_verification_with_retries_reuse_and_client_keys() {
    let storage = Storage::new(Backend::Sqlite).await;
    let server = Server::start(&storage).await;
    let (alice, _) = given_alice(&server).await;
    let sent = call(
        &server,
        CLIENT_A_KEY,
        Method::POST,
        "/Accounts/send-otp",
        json!({"accountId": alice, "operation": "withdrawal"}),
        None,
    )
    .await;
    let confirmation = sent.value()["confirmationId"].as_str().unwrap().to_string();
    let expires_at: chrono::DateTime<chrono::Utc> =
        sent.value()["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = expires_at - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::seconds(280) && ttl <= chrono::Duration::seconds(300),
        "{ttl}"
    );
    let code = server.otp_code(&confirmation);
    // Another client may neither ask a code for Alice's account nor check Alice's code.
    let foreign = call(
        &server,
        CLIENT_B_KEY,
        Method::POST,
        "/Accounts/send-otp",
        json!({"accountId": alice, "operation": "withdrawal"}),
        None,
    )
    .await;
    assert_eq!(foreign.error_code(404), "NotFound");
    let verify = |key: &'static str, code: String, idempotency: Option<&'static str>| {
        let body = json!({"confirmationId": confirmation, "code": code});
        let server = &server;
        async move {
            call(
                server,
                key,
                Method::POST,
                "/Accounts/otp-verification",
                body,
                idempotency,
            )
            .await
        }
    };
    assert_eq!(
        verify(CLIENT_B_KEY, code.clone(), None)
            .await
            .error_code(404),
        "ConfirmationNotFound"
    );
    // A wrong code retried under its key is answered the same and counts once: after it, four
    // more wrong codes are still answered OtpInvalid, and only then is the confirmation locked.
    let bad = wrong(&code);
    for _ in 0..2 {
        let reply = verify(CLIENT_A_KEY, bad.clone(), Some("v-1")).await;
        assert_eq!(reply.error_code(422), "OtpInvalid");
    }
    let right = verify(CLIENT_A_KEY, code.clone(), None).await;
    assert_eq!(right.value(), &json!(true));
    // Used: refused even with the right code.
    assert_eq!(
        verify(CLIENT_A_KEY, code.clone(), None)
            .await
            .error_code(409),
        "OtpAlreadyUsed"
    );

    // The retry under v-1 counted once: four more wrong codes leave one attempt.
    let sent = call(
        &server,
        CLIENT_A_KEY,
        Method::POST,
        "/Accounts/send-otp",
        json!({"accountId": alice, "operation": "withdrawal"}),
        None,
    )
    .await;
    let second = sent.value()["confirmationId"].as_str().unwrap().to_string();
    assert_ne!(second, confirmation);
    let second_code = server.otp_code(&second);
    let body = |code: &str| json!({"confirmationId": second, "code": code});
    for key in ["w-1", "w-1", "w-2", "w-3", "w-4"] {
        let reply = call(
            &server,
            CLIENT_A_KEY,
            Method::POST,
            "/Accounts/otp-verification",
            body(&wrong(&second_code)),
            Some(key),
        )
        .await;
        assert_eq!(reply.error_code(422), "OtpInvalid");
    }
    let fifth_then_right = call(
        &server,
        CLIENT_A_KEY,
        Method::POST,
        "/Accounts/otp-verification",
        body(&second_code),
        None,
    )
    .await;
    assert_eq!(fifth_then_right.value(), &json!(true));
    server.terminate().await;
    storage.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_past_its_expiry_is_refused() {
    let storage = Storage::new(Backend::Sqlite).await;
    let server = Server::start_with(&storage, &["--otp-ttl-secs", "1"]).await;
    let (alice, _) = given_alice(&server).await;
    let sent = call(
        &server,
        CLIENT_A_KEY,
        Method::POST,
        "/Accounts/send-otp",
        json!({"accountId": alice, "operation": "withdrawal"}),
        None,
    )
    .await;
    let confirmation = sent.value()["confirmationId"].as_str().unwrap().to_string();
    let code = server.otp_code(&confirmation);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let late = call(
        &server,
        CLIENT_A_KEY,
        Method::POST,
        "/Accounts/otp-verification",
        json!({"confirmationId": confirmation, "code": code}),
        None,
    )
    .await;
    assert_eq!(late.error_code(422), "OtpExpired");
    server.terminate().await;
    storage.finish().await;
}

/// The log records the code keyed with the server's secret (`<data-dir>/otp.key`): someone who
/// reads the log (an auditor, a backup) cannot check a guess against it, while the server, after
/// a restart, still verifies the code it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_reveals_no_code_and_the_key_survives_a_restart() {
    use hmac::{Hmac, Mac};
    let storage = Storage::new(Backend::Sqlite).await;
    let server = Server::start(&storage).await;
    let (alice, recipient) = given_alice(&server).await;
    let (transfer, confirmation) = create(&server, alice, recipient, None).await;
    let code = server.otp_code(&confirmation);

    let log = rusqlite::Connection::open(storage.data_dir().join("events.db")).unwrap();
    let payload: String = log
        .query_row(
            "SELECT payload FROM events WHERE event_type = 'ConfirmationIssued' \
             ORDER BY global_position DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let issued: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(issued["confirmationId"], confirmation);
    let (salt, recorded) = (
        issued["salt"].as_str().unwrap(),
        issued["codeHash"].as_str().unwrap(),
    );
    assert!(
        !payload.contains(&code),
        "the code itself is not in the log"
    );
    assert_ne!(
        folio_domain::confirmation::code_hash(salt, &code),
        recorded,
        "the salted hash of the code alone does not match: a guess cannot be checked"
    );
    let key_hex = std::fs::read_to_string(storage.data_dir().join("otp.key")).unwrap();
    let key = hex::decode(key_hex.trim()).unwrap();
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(code.as_bytes());
    let keyed = hex::encode(mac.finalize().into_bytes());
    assert_eq!(
        folio_domain::confirmation::code_hash(salt, &keyed),
        recorded,
        "with the server's key it does"
    );

    assert!(server.terminate().await);
    let server = Server::start(&storage).await;
    let confirmed = confirm_as(&server, SYSTEM_KEY, transfer, &confirmation, &code).await;
    assert_confirmed(&confirmed);
    server.terminate().await;
    storage.finish().await;
}
