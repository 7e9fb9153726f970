//! Recipients end to end over HTTP, on SQLite and on PostgreSQL: add (with every refusal of bad
//! bank details naming its field), list (hidden ones only when asked), details, visibility,
//! client-key isolation and the system naming the client, idempotent retries, and outgoing
//! transfers to a recipient (another client's, a hidden one, another currency refused).

mod common;

use common::{CLIENT_A_KEY, CLIENT_B_KEY, Reply, SYSTEM_KEY, Server, Storage, uuid_of};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

end_to_end!(
    recipients_are_added_listed_hidden_and_kept_to_their_client,
    a_transfer_to_a_recipient_pays_its_account,
);

const IBAN: &str = "DE89370400440532013000";

fn bea() -> Value {
    json!({"name": "Bea Schmidt", "type": "individual", "iban": "de89 3704 0044 0532 0130 00",
        "bic": "DEUTDEFF", "currency": "EUR", "country": "DE", "address": "Hauptstr. 1, Berlin"})
}

async fn call(
    server: &Server,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    server.request(Some(key), method, path, body, &[]).await
}

async fn add(server: &Server, key: &str, body: Value) -> Reply {
    call(server, key, Method::POST, "/Recipients", Some(body)).await
}

fn ids(reply: &Reply) -> Vec<Uuid> {
    reply.value()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(uuid_of)
        .collect()
}

async fn recipients_are_added_listed_hidden_and_kept_to_their_client(storage: &Storage) {
    let server = Server::start(storage).await;
    let added = add(&server, CLIENT_A_KEY, bea()).await;
    let dto = added.value().clone();
    let id = uuid_of(&dto);
    assert_eq!(dto["clientId"], server.client_a.to_string());
    assert_eq!(dto["iban"], IBAN, "the IBAN is kept in its electronic form");
    assert_eq!(dto["type"], "individual");
    assert_eq!(dto["isVisible"], true);
    assert_eq!(dto["accountNumber"], Value::Null);
    assert_eq!(dto["sortCode"], Value::Null);
    assert!(dto["created"].is_string());

    // Every bad detail is refused with the field it concerns, and nothing is added.
    let mut bad_iban = bea();
    bad_iban["iban"] = json!("DE89370400440532013001");
    let mut both = bea();
    both["accountNumber"] = json!("12345678");
    let mut neither = bea();
    neither["iban"] = Value::Null;
    let mut bic = bea();
    bic["bic"] = json!("DEUT12FF");
    let mut country = bea();
    country["country"] = json!("XX");
    let mut currency = bea();
    currency["currency"] = json!("XYZ");
    let mut kind = bea();
    kind["type"] = json!("robot");
    for (body, field) in [
        (bad_iban, "iban"),
        (both, "accountNumber"),
        (neither, "accountNumber"),
        (bic, "bic"),
        (country, "country"),
        (currency, "currency"),
        (kind, "type"),
    ] {
        let reply = add(&server, CLIENT_A_KEY, body).await;
        assert_eq!(reply.error_code(400), "ValidationFailed", "{field}");
        assert_eq!(reply.body["errors"][0]["metadata"]["field"], field);
    }

    // A UK company by account number and sort code, added by the system for client B.
    let uk = json!({"clientId": server.client_b, "name": "Acme Ltd", "type": "company",
        "accountNumber": "31926819", "sortCode": "60-16-13", "currency": "GBP", "country": "GB"});
    let acme = add(&server, SYSTEM_KEY, uk.clone()).await;
    assert_eq!(acme.value()["clientId"], server.client_b.to_string());
    assert_eq!(acme.value()["sortCode"], "601613");
    let acme = uuid_of(acme.value());
    let mut unnamed = uk.clone();
    unnamed.as_object_mut().unwrap().remove("clientId");
    assert_eq!(
        add(&server, SYSTEM_KEY, unnamed).await.error_code(400),
        "ValidationFailed"
    );
    assert_eq!(
        add(&server, CLIENT_A_KEY, uk).await.error_code(403),
        "Forbidden"
    );

    // Each client sees its own; the system sees all, or one client's when it names it.
    for path in ["/Recipients", "/v2/Recipients"] {
        let mine = call(&server, CLIENT_A_KEY, Method::GET, path, None).await;
        assert_eq!(ids(&mine), [id]);
        assert_eq!(mine.value()["totalCount"], 1);
    }
    let theirs = call(&server, CLIENT_B_KEY, Method::GET, "/Recipients", None).await;
    assert_eq!(ids(&theirs), [acme]);
    let all = server.get("/Recipients").await;
    assert_eq!(ids(&all), [id, acme]);
    let only_b = server
        .get(&format!("/Recipients?clientId={}", server.client_b))
        .await;
    assert_eq!(ids(&only_b), [acme]);
    for path in [format!("/Recipients/{id}"), format!("/v2/Recipients/{id}")] {
        let own = call(&server, CLIENT_A_KEY, Method::GET, &path, None).await;
        assert_eq!(own.value(), &dto);
        let other = call(&server, CLIENT_B_KEY, Method::GET, &path, None).await;
        assert_eq!(other.error_code(404), "NotFound");
    }
    let hide_other = call(
        &server,
        CLIENT_B_KEY,
        Method::PUT,
        &format!("/Recipients/{id}/visibility"),
        Some(json!({"isVisible": false})),
    )
    .await;
    assert_eq!(hide_other.error_code(404), "NotFound");

    // Hidden: not listed unless asked, still readable, and shown again.
    let hidden = call(
        &server,
        CLIENT_A_KEY,
        Method::PUT,
        &format!("/Recipients/{id}/visibility"),
        Some(json!({"isVisible": false})),
    )
    .await;
    assert_eq!(hidden.value()["isVisible"], false);
    let listed = call(&server, CLIENT_A_KEY, Method::GET, "/Recipients", None).await;
    assert_eq!(ids(&listed), Vec::<Uuid>::new());
    let with_hidden = call(
        &server,
        CLIENT_A_KEY,
        Method::GET,
        "/Recipients?includeHidden=true",
        None,
    )
    .await;
    assert_eq!(ids(&with_hidden), [id]);
    assert_eq!(with_hidden.value()["items"][0]["isVisible"], false);
    let shown = call(
        &server,
        CLIENT_A_KEY,
        Method::PUT,
        &format!("/Recipients/{id}/visibility"),
        Some(json!({"isVisible": true})),
    )
    .await;
    assert_eq!(shown.value()["isVisible"], true);

    // A retry under the same key is the same recipient; another body under it a conflict.
    let key = [("Idempotency-Key", "add-1".to_string())];
    let first = server
        .request(
            Some(CLIENT_A_KEY),
            Method::POST,
            "/Recipients",
            Some(bea()),
            &key,
        )
        .await;
    let retry = server
        .request(
            Some(CLIENT_A_KEY),
            Method::POST,
            "/Recipients",
            Some(bea()),
            &key,
        )
        .await;
    assert_eq!(uuid_of(retry.value()), uuid_of(first.value()));
    assert_eq!(retry.body["successes"][0]["metadata"]["duplicate"], true);
    let mut other = bea();
    other["name"] = json!("Someone else");
    let conflict = server
        .request(
            Some(CLIENT_A_KEY),
            Method::POST,
            "/Recipients",
            Some(other),
            &key,
        )
        .await;
    assert_eq!(conflict.error_code(409), "IdempotencyConflict");
    server.terminate().await;
}

async fn transfer(
    server: &Server,
    key: &str,
    from: Uuid,
    recipient: Uuid,
    currency: &str,
) -> Reply {
    call(
        server,
        key,
        Method::POST,
        "/Transfers/outgoing",
        Some(
            json!({"sourceAccountId": from, "recipientId": recipient, "amount": "25",
            "currency": currency, "reference": "invoice 9"}),
        ),
    )
    .await
}

async fn a_transfer_to_a_recipient_pays_its_account(storage: &Storage) {
    let server = Server::start(storage).await;
    let alice = server.open_account(server.client_a, "EUR").await;
    let bob = server.open_account(server.client_b, "EUR").await;
    server.pay_in(alice, "100", "EUR").await;
    server.pay_in(bob, "100", "EUR").await;
    let bea = uuid_of(add(&server, CLIENT_A_KEY, bea()).await.value());

    let created = transfer(&server, CLIENT_A_KEY, alice, bea, "EUR").await;
    let dto = created.value();
    assert_eq!(dto["status"], "pendingConfirmation");
    assert_eq!(dto["recipientId"], bea.to_string());
    assert_eq!(dto["beneficiaryAccount"], IBAN);
    assert_eq!(dto["beneficiaryName"], "Bea Schmidt");
    assert_eq!(dto["transferType"], "sepa");
    assert!(dto["confirmationId"].is_string());

    // Bob's key and Bob's account may not use Alice's recipient: not found.
    let foreign = transfer(&server, CLIENT_B_KEY, bob, bea, "EUR").await;
    assert_eq!(foreign.error_code(404), "RecipientNotFound");
    let unknown = transfer(&server, CLIENT_A_KEY, alice, Uuid::new_v4(), "EUR").await;
    assert_eq!(unknown.error_code(404), "RecipientNotFound");
    // Another currency than the recipient's.
    let usd = server.open_account(server.client_a, "USD").await;
    server.pay_in(usd, "100", "USD").await;
    let mismatch = transfer(&server, CLIENT_A_KEY, usd, bea, "USD").await;
    assert_eq!(mismatch.error_code(422), "CurrencyMismatch");
    // Hidden: refused with its own code; nothing held anywhere.
    call(
        &server,
        CLIENT_A_KEY,
        Method::PUT,
        &format!("/Recipients/{bea}/visibility"),
        Some(json!({"isVisible": false})),
    )
    .await
    .value();
    let hidden = transfer(&server, CLIENT_A_KEY, alice, bea, "EUR").await;
    assert_eq!(hidden.error_code(422), "RecipientHidden");
    // Both a recipient and an account: refused.
    let both = call(
        &server,
        CLIENT_A_KEY,
        Method::POST,
        "/Transfers/outgoing",
        Some(
            json!({"sourceAccountId": alice, "recipientId": bea, "beneficiaryAccount": IBAN,
            "amount": "1", "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(both.error_code(400), "ValidationFailed");
    let (balance, held, _) = server.balances(alice).await;
    assert_eq!((balance.as_str(), held.as_str()), ("100", "0"));
    server.terminate().await;
}
