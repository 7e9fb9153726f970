//! Documents end to end, on SQLite (bytes as files under the data directory) and PostgreSQL
//! (bytes in the database): multipart upload, list, download, delete, the refusals, the roles,
//! transfer documents, and a restart that keeps everything.

mod common;

use common::{
    AUDITOR_KEY, Backend, CLIENT_A_KEY, CLIENT_B_KEY, SYSTEM_KEY, Server, Storage, uuid_of,
};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;

end_to_end!(
    upload_list_download_delete_and_restart,
    refused_uploads_change_nothing,
    roles_and_transfer_documents
);

/// A small but real PDF header and body (the bytes only need to start like a PDF).
fn pdf_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n% Folio test passport\n".to_vec();
    bytes.extend((0..5_000u32).map(|i| (i % 251) as u8));
    bytes
}

fn file_form(name: &str, content_type: &str, bytes: Vec<u8>, kind: Option<&str>) -> Form {
    let part = Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(content_type)
        .expect("a valid media type");
    let form = Form::new();
    let form = match kind {
        Some(kind) => form.text("type", kind.to_string()),
        None => form,
    };
    form.part("file", part)
}

async fn register_client(server: &Server, id: Uuid) {
    let reply = server
        .post(
            "/internal/Clients",
            json!({"id": id, "type": "individual", "legalName": "Ann Example"}),
        )
        .await;
    reply.value();
}

/// What the content store holds: files under `documents/` (SQLite) or rows (PostgreSQL).
async fn stored_contents(storage: &Storage) -> usize {
    match storage.backend() {
        Backend::Sqlite => {
            let root = storage.data_dir().join("documents");
            let mut count = 0;
            let mut stack = vec![root];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        count += 1;
                    }
                }
            }
            count
        }
        Backend::Postgres => {
            let url = storage.database_url().expect("a database");
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM document_contents")
                .fetch_one(&mut connection)
                .await
                .unwrap();
            count as usize
        }
    }
}

async fn upload_list_download_delete_and_restart(storage: &Storage) {
    let server = Server::start(storage).await;
    let client = server.client_a;
    register_client(&server, client).await;
    let base = format!("/internal/Clients/{client}/Documents");
    let bytes = pdf_bytes();

    let uploaded = server
        .multipart(
            SYSTEM_KEY,
            &format!("{base}/upload"),
            file_form(
                "passport scan.pdf",
                "application/pdf",
                bytes.clone(),
                Some("identity"),
            ),
            &[("Idempotency-Key", "passport-1".into())],
        )
        .await;
    let document = uploaded.value().clone();
    let id = uuid_of(&document);
    assert_eq!(document["clientId"], json!(client));
    assert_eq!(document["type"], "identity");
    assert_eq!(document["fileName"], "passport scan.pdf");
    assert_eq!(document["contentType"], "application/pdf");
    assert_eq!(document["size"], json!(bytes.len()));
    assert_eq!(
        uploaded.body["successes"][0]["metadata"]["duplicate"],
        false
    );

    // The same request under the same key: the first document, nothing new recorded.
    let retried = server
        .multipart(
            SYSTEM_KEY,
            &format!("{base}/upload"),
            file_form(
                "passport scan.pdf",
                "application/pdf",
                bytes.clone(),
                Some("identity"),
            ),
            &[("Idempotency-Key", "passport-1".into())],
        )
        .await;
    assert_eq!(retried.value(), &document);
    assert_eq!(retried.body["successes"][0]["metadata"]["duplicate"], true);
    // Another file under that key is a conflict.
    let conflict = server
        .multipart(
            SYSTEM_KEY,
            &format!("{base}/upload"),
            file_form("other.txt", "text/plain", b"hello".to_vec(), None),
            &[("Idempotency-Key", "passport-1".into())],
        )
        .await;
    assert_eq!(conflict.error_code(409), "IdempotencyConflict");

    let listed = server.get(&base).await;
    assert_eq!(listed.value()["totalCount"], 1, "{}", listed.body);
    assert_eq!(listed.value()["items"][0], document);
    let one = server.get(&format!("{base}/{id}")).await;
    assert_eq!(one.value(), &document);

    let (status, headers, body) = server
        .get_bytes(SYSTEM_KEY, &format!("{base}/{id}/download"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes, "the download is byte-identical");
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"passport scan.pdf\"; filename*=UTF-8''passport%20scan.pdf"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        format!("\"{}\"", document["sha256"].as_str().unwrap())
    );
    // The passport, once however often it was sent, and the conflicting file: its bytes were
    // kept before the ledger refused the command, and stay unreferenced (README: orphans).
    assert_eq!(stored_contents(storage).await, 2);

    // A restart keeps the document, its metadata and its bytes.
    assert!(server.terminate().await, "folio stops cleanly");
    let server = Server::start(storage).await;
    let (status, _, body) = server
        .get_bytes(SYSTEM_KEY, &format!("{base}/{id}/download"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);

    let deleted = server
        .request(
            Some(SYSTEM_KEY),
            Method::DELETE,
            &format!("{base}/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.value()["id"], json!(id));
    assert!(deleted.value()["deleted"].is_string(), "{}", deleted.body);
    let (status, _, body) = server
        .get_bytes(SYSTEM_KEY, &format!("{base}/{id}/download"))
        .await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["errors"][0]["metadata"]["code"], "DocumentNotFound");
    let listed = server.get(&base).await;
    assert_eq!(listed.value()["totalCount"], 0);
    let history = server.get(&format!("{base}?includeDeleted=true")).await;
    assert_eq!(history.value()["items"][0]["id"], json!(id));
    let again = server
        .request(
            Some(SYSTEM_KEY),
            Method::DELETE,
            &format!("{base}/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(again.error_code(409), "DocumentDeleted");
    // The bytes stay for audit (see the README).
    assert_eq!(stored_contents(storage).await, 2);

    // Several files in one request; a path in a file name keeps only its last segment.
    let bulk = Form::new()
        .text("type", "proofOfAddress")
        .part(
            "file",
            Part::bytes(b"Flat 1, 2 High Street\n".to_vec())
                .file_name("../../etc/bill.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
        .part(
            "file",
            Part::bytes(b"\x89PNG\r\n\x1a\nrest-of-image".to_vec())
                .file_name("C:\\scans\\bill.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let uploaded = server
        .multipart(SYSTEM_KEY, &format!("{base}/upload/bulk"), bulk, &[])
        .await;
    let names: Vec<&str> = uploaded
        .value()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["fileName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bill.txt", "bill.png"]);
    let listed = server.get(&base).await;
    assert_eq!(listed.value()["totalCount"], 2);
    assert_eq!(listed.value()["items"][0]["type"], "proofOfAddress");
    assert_eq!(stored_contents(storage).await, 4);
    assert!(server.terminate().await);
}

async fn refused_uploads_change_nothing(storage: &Storage) {
    let server = Server::start_with(storage, &["--max-document-bytes", "4096"]).await;
    let client = server.client_a;
    register_client(&server, client).await;
    let upload = format!("/internal/Clients/{client}/Documents/upload");

    let too_big = server
        .multipart(
            SYSTEM_KEY,
            &upload,
            file_form("big.pdf", "application/pdf", pdf_bytes(), None),
            &[],
        )
        .await;
    assert_eq!(too_big.error_code(413), "PayloadTooLarge");
    assert_eq!(too_big.body["errors"][0]["metadata"]["limit"], 4096);

    let fake_pdf = server
        .multipart(
            SYSTEM_KEY,
            &upload,
            file_form(
                "invoice.pdf",
                "application/pdf",
                b"MZ\x90\0 not a pdf".to_vec(),
                None,
            ),
            &[],
        )
        .await;
    assert_eq!(fake_pdf.error_code(415), "ContentTypeMismatch");
    // Text claiming to be a PDF by its name only.
    let renamed = server
        .multipart(
            SYSTEM_KEY,
            &upload,
            file_form("invoice.pdf", "text/plain", b"just text".to_vec(), None),
            &[],
        )
        .await;
    assert_eq!(renamed.error_code(415), "ContentTypeMismatch");
    let binary_text = server
        .multipart(
            SYSTEM_KEY,
            &upload,
            file_form("notes.txt", "text/plain", b"ab\0\x01cd".to_vec(), None),
            &[],
        )
        .await;
    assert_eq!(binary_text.error_code(415), "ContentTypeMismatch");
    let executable = server
        .multipart(
            SYSTEM_KEY,
            &upload,
            file_form(
                "tool.exe",
                "application/x-msdownload",
                b"MZ\x90\0".to_vec(),
                None,
            ),
            &[],
        )
        .await;
    assert_eq!(executable.error_code(415), "UnsupportedContentType");
    let bad_type = server
        .multipart(
            SYSTEM_KEY,
            &upload,
            file_form(
                "a.pdf",
                "application/pdf",
                pdf_bytes()[..100].to_vec(),
                Some("selfie"),
            ),
            &[],
        )
        .await;
    assert_eq!(bad_type.error_code(400), "ValidationFailed");
    assert_eq!(bad_type.body["errors"][0]["metadata"]["field"], "type");
    let not_multipart = server.post(&upload, json!({"file": "JVBERi0="})).await;
    assert_eq!(not_multipart.error_code(400), "ValidationFailed");
    let two_files = Form::new()
        .part(
            "file",
            Part::bytes(b"one".to_vec())
                .file_name("1.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
        .part(
            "file",
            Part::bytes(b"two".to_vec())
                .file_name("2.txt")
                .mime_str("text/plain")
                .unwrap(),
        );
    let reply = server.multipart(SYSTEM_KEY, &upload, two_files, &[]).await;
    assert_eq!(reply.error_code(400), "ValidationFailed");

    let unknown = Uuid::new_v4();
    let reply = server
        .multipart(
            SYSTEM_KEY,
            &format!("/internal/Clients/{unknown}/Documents/upload"),
            file_form("a.txt", "text/plain", b"hello".to_vec(), None),
            &[],
        )
        .await;
    assert_eq!(reply.error_code(404), "ClientNotFound");
    let reply = server
        .get(&format!("/internal/Clients/{unknown}/Documents"))
        .await;
    assert_eq!(reply.error_code(404), "ClientNotFound");
    let reply = server
        .get(&format!("/internal/Clients/{client}/Documents/{unknown}"))
        .await;
    assert_eq!(reply.error_code(404), "DocumentNotFound");

    // Nothing of any refused upload was kept: no metadata, no bytes.
    let listed = server
        .get(&format!(
            "/internal/Clients/{client}/Documents?includeDeleted=true"
        ))
        .await;
    assert_eq!(listed.value()["totalCount"], 0);
    assert_eq!(stored_contents(storage).await, 0);
    assert!(server.terminate().await);
}

async fn roles_and_transfer_documents(storage: &Storage) {
    let server = Server::start(storage).await;
    let client = server.client_a;
    register_client(&server, client).await;
    let base = format!("/internal/Clients/{client}/Documents");
    let uploaded = server
        .multipart(
            SYSTEM_KEY,
            &format!("{base}/upload"),
            file_form(
                "id.jpg",
                "image/jpeg",
                b"\xFF\xD8\xFF\xE0jfif".to_vec(),
                Some("identity"),
            ),
            &[],
        )
        .await;
    let id = uuid_of(uploaded.value());

    // The auditor reads (list, download) but uploads and deletes nothing.
    let listed = server
        .request(Some(AUDITOR_KEY), Method::GET, &base, None, &[])
        .await;
    assert_eq!(listed.value()["totalCount"], 1);
    let (status, _, body) = server
        .get_bytes(AUDITOR_KEY, &format!("{base}/{id}/download"))
        .await;
    assert_eq!(
        (status.as_u16(), body.as_slice()),
        (200, &b"\xFF\xD8\xFF\xE0jfif"[..])
    );
    let refused = server
        .multipart(
            AUDITOR_KEY,
            &format!("{base}/upload"),
            file_form("a.txt", "text/plain", b"hello".to_vec(), None),
            &[],
        )
        .await;
    assert_eq!(refused.error_code(403), "Forbidden");
    let refused = server
        .request(
            Some(AUDITOR_KEY),
            Method::DELETE,
            &format!("{base}/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(refused.error_code(403), "Forbidden");
    // A client key never reaches /internal, not even for its own documents.
    let refused = server
        .request(Some(CLIENT_A_KEY), Method::GET, &base, None, &[])
        .await;
    assert_eq!(refused.error_code(403), "Forbidden");

    // A transfer's documents: its client uploads and reads them on /Transfers/{id}/Documents,
    // another client does not find the transfer, the system sees them under /internal.
    let account = server.open_account(client, "EUR").await;
    server.pay_in(account, "100", "EUR").await;
    let transfer = server
        .request(
            Some(CLIENT_A_KEY),
            Method::POST,
            "/Transfers/outgoing",
            Some(
                json!({"sourceAccountId": account, "beneficiaryAccount": "DE89370400440532013000",
                "amount": "10", "currency": "EUR"}),
            ),
            &[],
        )
        .await;
    let transfer = uuid_of(transfer.value());
    let invoice = server
        .multipart(
            CLIENT_A_KEY,
            &format!("/Transfers/{transfer}/Documents/upload"),
            file_form(
                "invoice-42.pdf",
                "application/pdf",
                pdf_bytes(),
                Some("invoice"),
            ),
            &[],
        )
        .await;
    let invoice = invoice.value().clone();
    assert_eq!(invoice["transferId"], json!(transfer));
    assert_eq!(invoice["clientId"], json!(client));
    let own = server
        .request(
            Some(CLIENT_A_KEY),
            Method::GET,
            &format!("/Transfers/{transfer}/Documents"),
            None,
            &[],
        )
        .await;
    assert_eq!(own.value()["items"][0], invoice);
    let (status, _, body) = server
        .get_bytes(
            CLIENT_A_KEY,
            &format!(
                "/Transfers/{transfer}/Documents/{}/download",
                uuid_of(&invoice)
            ),
        )
        .await;
    assert_eq!((status.as_u16(), body), (200, pdf_bytes()));
    let other = server
        .request(
            Some(CLIENT_B_KEY),
            Method::GET,
            &format!("/Transfers/{transfer}/Documents"),
            None,
            &[],
        )
        .await;
    assert_eq!(other.error_code(404), "TransferNotFound");
    let system = server
        .get(&format!("/internal/Transfers/{transfer}/Documents"))
        .await;
    assert_eq!(system.value()["totalCount"], 1);
    // The client's own documents are not the transfer's.
    let listed = server.get(&base).await;
    assert_eq!(listed.value()["totalCount"], 1);
    let unknown = Uuid::new_v4();
    let reply = server
        .multipart(
            SYSTEM_KEY,
            &format!("/internal/Transfers/{unknown}/Documents/upload"),
            file_form("a.txt", "text/plain", b"hello".to_vec(), None),
            &[],
        )
        .await;
    assert_eq!(reply.error_code(404), "TransferNotFound");
    assert!(server.terminate().await);
}
