//! End to end over HTTP against the real `folio` binary, on SQLite and on PostgreSQL: the
//! ClientProfile routes (register, get, update, block, unblock, status, list, `GET /Client`),
//! their refusals and their auth matrix.

#![recursion_limit = "256"]

mod common;

use common::{
    AUDITOR_KEY, CLIENT_A_KEY, CLIENT_B_KEY, SYSTEM_KEY, Server, Storage, assert_failure_envelope,
    uuid_of,
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

end_to_end!(
    a_client_lives_registered_updated_blocked_and_unblocked,
    clients_are_listed_by_status_type_and_search,
    client_refusals_carry_their_codes_and_fields,
    each_role_reaches_only_its_client_routes,
);

/// Every field of the seed's ClientDto, set (the seed's own example, with valid values).
fn full_profile(id: Uuid) -> Value {
    json!({
        "id": id,
        "type": "company",
        "editorUserId": "c5c2f4a5-c36d-4d4d-9e5c-2659c938a266",
        "onboardingId": "f4fce315-9b7c-4302-989a-521be9ec9bca",
        "address": {"streetLine1": "1 Main St", "streetLine2": "Floor 2", "city": "Riga",
            "state": "Riga", "zip": "LV-1010", "country": "LV"},
        "phoneNumber": "+371 2000 0000",
        "email": "office@acme.example",
        "riskLevel": 42,
        "isDefaultCompliant": true,
        "legalName": "Acme SIA",
        "companyRegistrationDate": "2019-08-24",
        "countryOfRegistration": "LV",
        "taxResidencyCountry": "LV",
        "registrationNumber": "40003000000",
        "industry": "accountingOrConsultingOrLegalServices",
        "industryOther": "bookkeeping",
        "turnover": "bellow100KEur",
        "webSite": "https://acme.example",
        "taxNumber": "LV40003000000",
        "payInsCountries": ["uk", "eea"],
        "payOutsCountries": ["other"],
        "isEngagedGambling10K": false,
        "isFoundation": false,
        "isPubliclyListed": true,
        "isRelevantActivity": true,
        "purposesAccountOpening": ["administrativeAndOperationalExpenses", "other"],
        "purposesAccountOpeningOther": "payroll",
        "businessPartners": [{"name": "Beta Ltd", "incorporationCountryCode": "GB",
            "plannedTransfersQuantityMonth": 12, "plannedTransfersEurVolumeMonth": "15000.5",
            "additionalInfo": "supplier", "basisPartnership": "contract",
            "website": "https://beta.example"}],
        "fundFlows": {"plannedIncomingTransfersQuantity": 10,
            "plannedIncomingTransfersEurVolume": "100000",
            "plannedOutboundTransfersQuantity": 20,
            "plannedOutboundTransfersEurVolume": "90000.25"},
        "complianceEvaluation": {"reviewPeriodicity": "yearly", "appliedLimits": "standard",
            "additionalInfo": "none"},
        "customOptions": {"tier": "gold", "flags": [1, 2]},
        "relatedIndividuals": [{
            "firstName": "Ivan", "lastName": "Ivanov", "email": "test@local.com",
            "isUbo": true, "isShareholder": false, "isDirector": false,
            "isRepresentative": false, "isPep": false,
            "residenceCountry": "LV", "citizenshipCountry": "LV", "birthDate": "1980-08-24",
            "ownership": "25.5",
            "document": {"issuedBy": "PMLP", "expirationDate": "2030-08-24", "type": "passport",
                "number": "LV123", "issuedCountryCode": "LV", "issuedDate": "2020-08-24"},
            "beneficialOwnerPepDetails": "n/a", "usaTaxResidency": false,
            "giinNumber": "98Q96B.00000.LE.250",
            "residentialAddress": {"streetLine1": "2 Side St", "city": "Riga", "country": "LV"},
            "applicantId": "fc65ce03-c5e6-455c-b628-f1607e292785",
            "percentageOwnership": "25.5"
        }],
        "companyType": "private"
    })
}

/// Decimals in a profile come back as decimal strings; compare them as numbers.
fn same_decimal(left: &Value, right: &Value) -> bool {
    common::decimal(left) == common::decimal(right)
}

/// Every field sent is answered with the same value (decimals compared as numbers).
fn assert_round_trips(sent: &Value, got: &Value, path: &str) {
    match (sent, got) {
        (Value::Object(sent), Value::Object(got)) => {
            for (name, value) in sent {
                let inner = format!("{path}.{name}");
                let other = got
                    .get(name)
                    .unwrap_or_else(|| panic!("{inner} is missing"));
                assert_round_trips(value, other, &inner);
            }
        }
        (Value::Array(sent), Value::Array(got)) => {
            assert_eq!(sent.len(), got.len(), "{path}");
            for (i, (a, b)) in sent.iter().zip(got).enumerate() {
                assert_round_trips(a, b, &format!("{path}[{i}]"));
            }
        }
        (Value::String(a), Value::String(b)) if a.parse::<f64>().is_ok() => {
            assert!(same_decimal(sent, got), "{path}: {a} vs {b}");
        }
        (a, b) => assert_eq!(a, b, "{path}"),
    }
}

async fn list(server: &Server, query: &str) -> Value {
    let reply = server.get(&format!("/internal/Clients{query}")).await;
    reply.value().clone()
}

async fn put(server: &Server, path: &str, body: Value) -> common::Reply {
    server
        .request(Some(SYSTEM_KEY), Method::PUT, path, Some(body), &[])
        .await
}

async fn a_client_lives_registered_updated_blocked_and_unblocked(storage: &Storage) {
    let server = Server::start(storage).await;
    let id = server.client_a;
    let profile = full_profile(id);

    // Register: the answer is the ClientDto with every field, id, status and created.
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::POST,
            "/internal/Clients",
            Some(profile.clone()),
            &[("Idempotency-Key", "register-a".into())],
        )
        .await;
    let created = reply.value().clone();
    let position = reply.position();
    assert_eq!(uuid_of(&created), id);
    assert_eq!(created["status"], "active");
    assert!(
        created["created"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_round_trips(&profile, &created, "");
    assert_eq!(reply.body["successes"][0]["metadata"]["duplicate"], false);

    // A retry under the same key: the first answer, marked duplicate, nothing new.
    let retry = server
        .request(
            Some(SYSTEM_KEY),
            Method::POST,
            "/internal/Clients",
            Some(profile.clone()),
            &[("Idempotency-Key", "register-a".into())],
        )
        .await;
    assert_eq!(retry.value()["id"], created["id"]);
    assert_eq!(retry.body["successes"][0]["metadata"]["duplicate"], true);
    assert_eq!(retry.position(), position);

    // Get: the same DTO, read with X-Folio-Min-Position.
    let reply = server
        .request(
            Some(SYSTEM_KEY),
            Method::GET,
            &format!("/internal/Clients/{id}"),
            None,
            &[("X-Folio-Min-Position", position.to_string())],
        )
        .await;
    assert_eq!(reply.value(), &created);
    // The client's own key reads the same on the front office.
    let reply = server
        .request(Some(CLIENT_A_KEY), Method::GET, "/Client", None, &[])
        .await;
    assert_eq!(reply.value(), &created);

    // Update: a partial patch; absent fields stay, null clears, lists are replaced.
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}"),
        json!({"legalName": "Acme Holding SIA", "email": null, "riskLevel": 7,
            "payInsCountries": ["uk"], "address": {"city": "Jurmala", "country": "LV"}}),
    )
    .await;
    let updated = reply.value().clone();
    assert!(reply.position() > position);
    assert_eq!(updated["legalName"], "Acme Holding SIA");
    assert_eq!(updated["email"], Value::Null);
    assert_eq!(updated["riskLevel"], 7);
    assert_eq!(updated["payInsCountries"], json!(["uk"]));
    assert_eq!(
        updated["address"],
        json!({"city": "Jurmala", "country": "LV"})
    );
    assert_eq!(updated["phoneNumber"], created["phoneNumber"]);
    assert_eq!(updated["relatedIndividuals"], created["relatedIndividuals"]);
    assert_eq!(updated["created"], created["created"]);
    let reply = server.get(&format!("/internal/Clients/{id}")).await;
    assert_eq!(reply.value(), &updated);

    // The client's accounts work until it is blocked.
    let account = server.open_account(id, "EUR").await;
    server.pay_in(account, "100", "EUR").await;

    // Block: no money out, no new account; money in still arrives.
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/block"),
        json!({"reason": "KYC review"}),
    )
    .await;
    assert_eq!(reply.value()["status"], "blocked");
    let reply = server
        .post(
            "/internal/Payments",
            json!({"sourceAccountId": account, "amount": 10, "currency": "EUR"}),
        )
        .await;
    assert_eq!(reply.error_code(422), "ClientBlocked");
    assert_eq!(reply.body["errors"][0]["metadata"]["clientId"], json!(id));
    let reply = server
        .post("/Accounts", json!({"clientId": id, "currency": "EUR"}))
        .await;
    assert_eq!(reply.error_code(422), "ClientBlocked");
    server.pay_in(account, "5", "EUR").await;
    assert_eq!(server.balances(account).await.0, "105");
    // Blocking a blocked client is a state conflict.
    let reply = put(&server, &format!("/internal/Clients/{id}/block"), json!({})).await;
    assert_eq!(reply.error_code(409), "InvalidClientState");
    // Setting the status it has changes nothing.
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/status"),
        json!({"status": "blocked"}),
    )
    .await;
    assert_eq!(reply.value()["status"], "blocked");
    assert_eq!(reply.body["successes"][0]["message"], "client unchanged");

    // Unblock: money flows out again.
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/unblock"),
        json!({}),
    )
    .await;
    assert_eq!(reply.value()["status"], "active");
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/unblock"),
        json!({}),
    )
    .await;
    assert_eq!(reply.error_code(409), "InvalidClientState");
    let reply = server
        .post(
            "/internal/Payments",
            json!({"sourceAccountId": account, "amount": 10, "currency": "EUR"}),
        )
        .await;
    assert_eq!(reply.value()["status"], "posted");
    server.open_account(id, "USD").await;

    // The status route blocks and unblocks too; inactive cannot be set.
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/status"),
        json!({"status": "blocked", "reason": "again"}),
    )
    .await;
    assert_eq!(reply.value()["status"], "blocked");
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/status"),
        json!({"status": "inactive"}),
    )
    .await;
    assert_eq!(reply.error_code(409), "InvalidClientState");
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/status"),
        json!({"status": "active"}),
    )
    .await;
    assert_eq!(reply.value()["status"], "active");
}

async fn clients_are_listed_by_status_type_and_search(storage: &Storage) {
    let server = Server::start(storage).await;
    let mut ids = Vec::new();
    for (i, (kind, name, email)) in [
        ("company", "Alpha Trading", "desk@alpha.example"),
        ("individual", "Jane Doe", "jane@mail.example"),
        ("company", "Beta 100% Foods", "info@beta.example"),
        ("individual", "John Alpha", "john@mail.example"),
        ("company", "Gamma_Works", "hello@gamma.example"),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = server
            .post(
                "/internal/Clients",
                json!({"type": kind, "legalName": name, "email": email, "riskLevel": i}),
            )
            .await;
        ids.push(uuid_of(reply.value()));
    }
    let reply = put(
        &server,
        &format!("/internal/Clients/{}/block", ids[2]),
        json!({}),
    )
    .await;
    reply.value();

    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["legalName"].as_str().unwrap().to_string())
            .collect()
    };
    let page = list(&server, "").await;
    assert_eq!(page["totalCount"], 5);
    assert_eq!(
        names(&page),
        [
            "Alpha Trading",
            "Jane Doe",
            "Beta 100% Foods",
            "John Alpha",
            "Gamma_Works"
        ]
    );
    // Every item is a whole ClientDto.
    assert!(
        page["items"][0]
            .as_object()
            .unwrap()
            .contains_key("companyType")
    );
    let page = list(&server, "?type=individual").await;
    assert_eq!(names(&page), ["Jane Doe", "John Alpha"]);
    let page = list(&server, "?status=blocked").await;
    assert_eq!(names(&page), ["Beta 100% Foods"]);
    assert_eq!(page["items"][0]["status"], "blocked");
    let page = list(&server, "?status=active&type=company").await;
    assert_eq!(names(&page), ["Alpha Trading", "Gamma_Works"]);
    // Search: case-insensitive, in the name or the e-mail; % and _ are literal.
    let page = list(&server, "?search=ALPHA").await;
    assert_eq!(names(&page), ["Alpha Trading", "John Alpha"]);
    let page = list(&server, "?search=mail.example").await;
    assert_eq!(names(&page), ["Jane Doe", "John Alpha"]);
    let page = list(&server, "?search=100%25").await;
    assert_eq!(names(&page), ["Beta 100% Foods"]);
    let page = list(&server, "?search=a_w").await;
    assert_eq!(names(&page), ["Gamma_Works"]);
    let page = list(&server, "?search=nobody").await;
    assert_eq!(page["totalCount"], 0);
    // Paging.
    let page = list(&server, "?pageSize=2&pageNumber=3").await;
    assert_eq!(names(&page), ["Gamma_Works"]);
    assert_eq!(page["totalPages"], 3);
    assert_eq!(page["pageNumber"], 3);
    assert_eq!(page["pageSize"], 2);
    let page = list(&server, "?pageSize=2&pageNumber=2&type=company").await;
    assert_eq!(names(&page), ["Gamma_Works"]);
    assert_eq!(page["totalCount"], 3);
    // Bad parameters name themselves.
    let reply = server.get("/internal/Clients?status=gone").await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "status");
    let reply = server.get("/internal/Clients?pageSize=101").await;
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "pageSize");
}

async fn client_refusals_carry_their_codes_and_fields(storage: &Storage) {
    let server = Server::start(storage).await;
    let id = server.client_a;
    server
        .post(
            "/internal/Clients",
            json!({"id": id, "type": "individual", "legalName": "Ann"}),
        )
        .await
        .value();
    let unknown = Uuid::new_v4();
    // 404: unknown on reads and on commands.
    let reply = server.get(&format!("/internal/Clients/{unknown}")).await;
    assert_eq!(reply.error_code(404), "NotFound");
    let reply = put(
        &server,
        &format!("/internal/Clients/{unknown}"),
        json!({"legalName": "x"}),
    )
    .await;
    assert_eq!(reply.error_code(404), "ClientNotFound");
    let reply = put(
        &server,
        &format!("/internal/Clients/{unknown}/block"),
        json!({}),
    )
    .await;
    assert_eq!(reply.error_code(404), "ClientNotFound");
    let reply = put(
        &server,
        &format!("/internal/Clients/{unknown}/status"),
        json!({"status": "blocked"}),
    )
    .await;
    assert_eq!(reply.error_code(404), "ClientNotFound");
    // Client B's key: its client is not registered.
    let reply = server
        .request(Some(CLIENT_B_KEY), Method::GET, "/Client", None, &[])
        .await;
    assert_eq!(reply.error_code(404), "NotFound");
    // 409: registering the same id again.
    let reply = server
        .post(
            "/internal/Clients",
            json!({"id": id, "type": "individual", "legalName": "Ann again"}),
        )
        .await;
    assert_eq!(reply.error_code(409), "ClientAlreadyExists");
    assert_eq!(reply.body["errors"][0]["metadata"]["clientId"], json!(id));

    // 400s naming the field.
    let cases: Vec<(&str, Value, &str)> = vec![
        ("POST", json!({"legalName": "No type"}), "type"),
        ("POST", json!({"type": "company"}), "legalName"),
        (
            "POST",
            json!({"type": "company", "legalName": "  "}),
            "legalName",
        ),
        ("POST", json!({"type": "alien", "legalName": "x"}), "type"),
        (
            "POST",
            json!({"type": "company", "legalName": "x", "email": "not-an-address"}),
            "email",
        ),
        (
            "POST",
            json!({"type": "company", "legalName": "x", "riskLevel": 101}),
            "riskLevel",
        ),
        (
            "POST",
            json!({"type": "company", "legalName": "x", "address": {"country": "Latvia"}}),
            "address.country",
        ),
        (
            "POST",
            json!({"type": "individual", "legalName": "x", "companyType": "private"}),
            "companyType",
        ),
        (
            "POST",
            json!({"type": "company", "legalName": "x",
                "relatedIndividuals": [{"firstName": "a"}, {"email": "nope"}]}),
            "relatedIndividuals[1].email",
        ),
        (
            "POST",
            json!({"type": "company", "legalName": "x", "nickname": "y"}),
            "nickname",
        ),
        (
            "POST",
            json!({"type": "company", "legalName": "x", "id": "nope"}),
            "id",
        ),
        (
            "POST",
            json!({"type": "company", "legalName": "x", "status": "blocked"}),
            "status",
        ),
        (
            "POST",
            json!({"type": "company", "legalName": "x", "created": "2020-01-01T00:00:00Z"}),
            "created",
        ),
        ("PUT", json!({"phoneNumber": "call me"}), "phoneNumber"),
        ("PUT", json!({"legalName": null}), "legalName"),
        ("PUT", json!({"companyType": "public"}), "companyType"),
        ("PUT", json!({"id": id}), "id"),
        ("PUT", json!({"riskLevel": "high"}), "riskLevel"),
    ];
    for (method, body, field) in cases {
        let reply = match method {
            "POST" => server.post("/internal/Clients", body.clone()).await,
            _ => put(&server, &format!("/internal/Clients/{id}"), body.clone()).await,
        };
        assert_eq!(reply.error_code(400), "ValidationFailed", "{method} {body}");
        assert_eq!(
            reply.body["errors"][0]["metadata"]["field"], field,
            "{method} {body}: {}",
            reply.body
        );
    }
    // An empty update and a bad id in the path.
    let reply = put(&server, &format!("/internal/Clients/{id}"), json!({})).await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    let reply = server.get("/internal/Clients/not-a-uuid").await;
    assert_eq!(reply.error_code(400), "ValidationFailed");
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "clientId");
    let reply = put(
        &server,
        &format!("/internal/Clients/{id}/block"),
        json!({"reason": "x".repeat(600)}),
    )
    .await;
    assert_eq!(reply.body["errors"][0]["metadata"]["field"], "reason");
    // Nothing of that changed the client.
    let reply = server.get(&format!("/internal/Clients/{id}")).await;
    let value = reply.value();
    assert_eq!(value["legalName"], "Ann");
    assert_eq!(value["status"], "active");
    assert_eq!(value["phoneNumber"], Value::Null);
}

async fn each_role_reaches_only_its_client_routes(storage: &Storage) {
    let server = Server::start(storage).await;
    let a = server.client_a;
    server
        .post(
            "/internal/Clients",
            json!({"id": a, "type": "company", "legalName": "A"}),
        )
        .await
        .value();
    let b = server.client_b;
    server
        .post(
            "/internal/Clients",
            json!({"id": b, "type": "company", "legalName": "B"}),
        )
        .await
        .value();
    // (method, path, body, system, auditor, client A). Commands are ordered so that each
    // succeeds for the system key (block, then unblock).
    let cases: Vec<(Method, String, Option<Value>, u16, u16, u16)> = vec![
        (Method::GET, "/internal/Clients".into(), None, 200, 200, 403),
        (
            Method::GET,
            format!("/internal/Clients/{a}"),
            None,
            200,
            200,
            403,
        ),
        (
            Method::POST,
            "/internal/Clients".into(),
            Some(json!({"type": "company", "legalName": "C"})),
            200,
            403,
            403,
        ),
        (
            Method::PUT,
            format!("/internal/Clients/{a}"),
            Some(json!({"webSite": "https://a.example"})),
            200,
            403,
            403,
        ),
        (
            Method::PUT,
            format!("/internal/Clients/{b}/block"),
            Some(json!({})),
            200,
            403,
            403,
        ),
        (
            Method::PUT,
            format!("/internal/Clients/{b}/unblock"),
            Some(json!({})),
            200,
            403,
            403,
        ),
        (
            Method::PUT,
            format!("/internal/Clients/{b}/status"),
            Some(json!({"status": "active"})),
            200,
            403,
            403,
        ),
        // The front office: the caller's own client; the bank's keys belong to no client.
        (Method::GET, "/Client".into(), None, 404, 404, 200),
    ];
    for (method, path, body, system, auditor, client) in &cases {
        for (role, key, expected) in [
            ("system", SYSTEM_KEY, *system),
            ("auditor", AUDITOR_KEY, *auditor),
            ("client", CLIENT_A_KEY, *client),
        ] {
            let reply = server
                .request(Some(key), method.clone(), path, body.clone(), &[])
                .await;
            assert_eq!(
                reply.status.as_u16(),
                expected,
                "{role} {method} {path}: {}",
                reply.body
            );
            if !reply.status.is_success() {
                assert_failure_envelope(&reply.body);
            }
        }
        for key in [None, Some("wrong-key-0001")] {
            let reply = server
                .request(key, method.clone(), path, body.clone(), &[])
                .await;
            assert_eq!(reply.error_code(401), "Unauthorized", "{method} {path}");
        }
    }
    // A client key sees its own profile only.
    let reply = server
        .request(Some(CLIENT_A_KEY), Method::GET, "/Client", None, &[])
        .await;
    assert_eq!(uuid_of(reply.value()), a);
    let reply = server
        .request(Some(CLIENT_B_KEY), Method::GET, "/Client", None, &[])
        .await;
    assert_eq!(uuid_of(reply.value()), b);
    // The routes and the schema are described.
    let document = server.get("/openapi.json").await.body;
    for route in [
        "/Client",
        "/internal/Clients",
        "/internal/Clients/{clientId}",
        "/internal/Clients/{clientId}/block",
        "/internal/Clients/{clientId}/unblock",
        "/internal/Clients/{clientId}/status",
    ] {
        assert!(
            document["paths"].get(route).is_some(),
            "{route} is described"
        );
    }
    let schemas = &document["components"]["schemas"];
    for schema in [
        "ClientDto",
        "ClientProfile",
        "ClientPatch",
        "AddressDto",
        "RelatedIndividualInfoDto",
    ] {
        assert!(schemas.get(schema).is_some(), "{schema} is described");
    }
}
