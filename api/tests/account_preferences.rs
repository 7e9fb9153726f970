//! End to end over HTTP against the real `folio` binary, on SQLite and on PostgreSQL: an
//! account's `isDefault` (PATCH, v2 open) and `order` (`PUT /Accounts/reorder-accounts`), one
//! default per client and currency, their refusals, and both surviving a restart.

mod common;

use common::{AUDITOR_KEY, CLIENT_A_KEY, SYSTEM_KEY, Server, Storage, uuid_of};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

end_to_end!(
    one_default_per_client_and_currency,
    a_client_orders_its_accounts,
);

async fn patch(server: &Server, key: &str, id: Uuid, body: Value) -> common::Reply {
    server
        .request(
            Some(key),
            Method::PATCH,
            &format!("/Accounts/{id}"),
            Some(body),
            &[],
        )
        .await
}

async fn reorder(server: &Server, key: &str, ids: &[Uuid]) -> common::Reply {
    server
        .request(
            Some(key),
            Method::PUT,
            "/Accounts/reorder-accounts",
            Some(json!({ "accountIds": ids })),
            &[],
        )
        .await
}

async fn is_default(server: &Server, id: Uuid) -> bool {
    server.get(&format!("/Accounts/{id}")).await.value()["isDefault"]
        .as_bool()
        .unwrap()
}

async fn one_default_per_client_and_currency(storage: &Storage) {
    let server = Server::start(storage).await;
    let (a, b) = (server.client_a, server.client_b);
    let first = server.open_account(a, "EUR").await;
    // Opened as the default on the system route.
    let open_default = json!({"clientId": a, "currency": "EUR", "type": "current",
        "isDefault": true, "externalId": "open-default-1"});
    let reply = server
        .post("/v2/internal/Accounts", open_default.clone())
        .await;
    let second = uuid_of(reply.value());
    assert_eq!(reply.value()["isDefault"], true);
    assert!(reply.position() > 0);
    assert!(!is_default(&server, first).await);
    // The same request again: the same account, still the default.
    let reply = server.post("/v2/internal/Accounts", open_default).await;
    assert_eq!(uuid_of(reply.value()), second);
    assert_eq!(reply.value()["isDefault"], true);

    // The client makes its first account the default: the second stops being it.
    let reply = patch(&server, CLIENT_A_KEY, first, json!({"isDefault": true})).await;
    assert_eq!(reply.value()["isDefault"], true);
    assert!(!is_default(&server, second).await);
    // Other currencies and other clients keep their own defaults.
    let reply = server
        .post(
            "/v2/internal/Accounts",
            json!({"clientId": a, "currency": "USD", "type": "savings", "isDefault": true}),
        )
        .await;
    let dollars = uuid_of(reply.value());
    let reply = server
        .post(
            "/v2/internal/Accounts",
            json!({"clientId": b, "currency": "EUR", "type": "current", "isDefault": true}),
        )
        .await;
    let theirs = uuid_of(reply.value());
    for id in [first, dollars, theirs] {
        assert!(is_default(&server, id).await, "{id} is a default");
    }
    // Listing shows the flag: exactly one EUR default for client A.
    let reply = server
        .get(&format!("/Accounts?clientId={a}&currency=EUR"))
        .await;
    let defaults: Vec<&Value> = reply.value()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(uuid_of(defaults[0]), first);

    // Unset, and unset again (nothing to record, still 200).
    let reply = patch(&server, SYSTEM_KEY, first, json!({"isDefault": false})).await;
    assert_eq!(reply.value()["isDefault"], false);
    let reply = patch(&server, SYSTEM_KEY, first, json!({"isDefault": false})).await;
    assert_eq!(reply.value()["isDefault"], false);
    patch(&server, SYSTEM_KEY, second, json!({"isDefault": true}))
        .await
        .value();

    // Refusals: a bank account, a closed account, the auditor, another client's account.
    let reply = server
        .post(
            "/v2/internal/Accounts",
            json!({"currency": "EUR", "type": "fee", "isDefault": true}),
        )
        .await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "isDefault");
    let fee = uuid_of(
        server
            .post(
                "/v2/internal/Accounts",
                json!({"currency": "EUR", "type": "fee"}),
            )
            .await
            .value(),
    );
    let reply = patch(&server, SYSTEM_KEY, fee, json!({"isDefault": true})).await;
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "isDefault");
    let closed = server.open_account(a, "EUR").await;
    server
        .request(
            Some(SYSTEM_KEY),
            Method::DELETE,
            &format!("/Accounts/{closed}"),
            None,
            &[],
        )
        .await
        .value();
    let reply = patch(&server, SYSTEM_KEY, closed, json!({"isDefault": true})).await;
    assert_eq!(reply.error_code(422), "AccountClosed");
    let reply = patch(&server, AUDITOR_KEY, first, json!({"isDefault": true})).await;
    assert_eq!(reply.error_code(403), "Forbidden");
    let reply = patch(&server, CLIENT_A_KEY, theirs, json!({"isDefault": false})).await;
    assert_eq!(reply.error_code(404), "NotFound");
    assert!(is_default(&server, second).await && is_default(&server, theirs).await);

    // A restart finds the same defaults.
    assert!(server.terminate().await);
    let server = Server::start(storage).await;
    for (id, expected) in [
        (first, false),
        (second, true),
        (dollars, true),
        (theirs, true),
    ] {
        assert_eq!(is_default(&server, id).await, expected, "{id}");
    }
}

async fn a_client_orders_its_accounts(storage: &Storage) {
    let server = Server::start(storage).await;
    let a = server.client_a;
    let ids: Vec<Uuid> = {
        let mut ids = Vec::new();
        for currency in ["EUR", "USD", "GBP", "EUR"] {
            ids.push(server.open_account(a, currency).await);
        }
        ids
    };
    let other = server.open_account(server.client_b, "EUR").await;
    let orders = |page: &Value| -> Vec<(Uuid, i64)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (uuid_of(item), item["order"].as_i64().unwrap()))
            .collect()
    };
    let list = format!("/Accounts?clientId={a}");
    assert!(
        orders(server.get(&list).await.value())
            .iter()
            .all(|(_, order)| *order == 0)
    );

    // The client's key puts them in its order: 0, 1, 2, 3 as listed.
    let wanted = [ids[3], ids[1], ids[0], ids[2]];
    let reply = reorder(&server, CLIENT_A_KEY, &wanted).await;
    assert_eq!(reply.value(), &json!(true));
    let position = reply.position();
    let reply = server
        .request(
            Some(CLIENT_A_KEY),
            Method::GET,
            &list,
            None,
            &[("X-Folio-Min-Position", position.to_string())],
        )
        .await;
    let got = orders(reply.value());
    for (expected, id) in wanted.iter().enumerate() {
        assert!(
            got.contains(&(*id, expected as i64)),
            "{id} has order {expected}: {got:?}"
        );
    }
    // A partial reorder moves the listed ones only.
    reorder(&server, SYSTEM_KEY, &[ids[2], ids[0]])
        .await
        .value();
    let got = orders(server.get(&list).await.value());
    for (id, order) in [(ids[2], 0), (ids[0], 1), (ids[3], 0), (ids[1], 1)] {
        assert!(
            got.contains(&(id, order)),
            "{id} has order {order}: {got:?}"
        );
    }
    // Retried under its key: the first answer, nothing new.
    let keyed = |key: &'static str, ids: Vec<Uuid>| {
        let server = &server;
        async move {
            server
                .request(
                    Some(SYSTEM_KEY),
                    Method::PUT,
                    "/Accounts/reorder-accounts",
                    Some(json!({ "accountIds": ids })),
                    &[("Idempotency-Key", key.to_string())],
                )
                .await
        }
    };
    let first = keyed("reorder-1", vec![ids[1]]).await;
    let again = keyed("reorder-1", vec![ids[1]]).await;
    assert_eq!(again.position(), first.position());
    assert_eq!(again.body["successes"][0]["metadata"]["duplicate"], true);
    let reply = keyed("reorder-1", vec![ids[0]]).await;
    assert_eq!(reply.error_code(409), "IdempotencyConflict");

    // Refusals, each naming the entry at fault; none changes an order.
    let before = orders(server.get(&list).await.value());
    let reply = reorder(&server, SYSTEM_KEY, &[]).await;
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "accountIds");
    let reply = reorder(&server, SYSTEM_KEY, &[ids[0], ids[1], ids[0]]).await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    assert_eq!(
        reply.body["errors"][0]["metadata"]["field"],
        "accountIds[2]"
    );
    let reply = reorder(&server, SYSTEM_KEY, &[ids[0], other]).await;
    assert_eq!(
        reply.body["errors"][0]["metadata"]["field"],
        "accountIds[1]"
    );
    let fee = uuid_of(
        server
            .post(
                "/v2/internal/Accounts",
                json!({"currency": "EUR", "type": "fee"}),
            )
            .await
            .value(),
    );
    let reply = reorder(&server, SYSTEM_KEY, &[fee]).await;
    assert_eq!(
        reply.body["errors"][0]["metadata"]["field"],
        "accountIds[0]"
    );
    let reply = reorder(&server, SYSTEM_KEY, &[ids[0], Uuid::new_v4()]).await;
    assert_eq!(reply.error_code(404), "NotFound");
    let reply = reorder(&server, CLIENT_A_KEY, &[ids[0], other]).await;
    assert_eq!(reply.error_code(404), "NotFound");
    let reply = reorder(&server, AUDITOR_KEY, &[ids[0]]).await;
    assert_eq!(reply.error_code(403), "Forbidden");
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::PUT,
            "/Accounts/reorder-accounts",
            Some(json!({"accountIds": ["nope"]})),
            &[],
        )
        .await;
    assert_eq!(
        reply.body["errors"][0]["metadata"]["field"],
        "accountIds[0]"
    );
    assert_eq!(orders(server.get(&list).await.value()), before);
}
