//! Documents, one scenario per rule: *given* a ledger with a client, *when* a document command
//! arrives, *then* this event is recorded — or the command is refused with this code and the
//! ledger is left exactly as it was.

use chrono::{DateTime, Utc};
use folio_domain::codec;
use folio_domain::event::{DocumentDeleted, DocumentUploaded};
use folio_domain::{
    ClientId, ClientProfile, ClientType, Command, CommandKind, DocumentEvent, DocumentId,
    DocumentOwner, DocumentType, Event, EventBody, Ledger, Receipt, TransferId, UploadDocument,
};
use uuid::Uuid;

fn t() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn client() -> ClientId {
    ClientId(Uuid::from_u128(0xC1))
}

fn doc(n: u128) -> DocumentId {
    DocumentId(Uuid::from_u128(0xD0 + n))
}

fn command(kind: CommandKind, key: Option<&str>) -> Command {
    Command {
        at: t(),
        idempotency_key: key.map(str::to_string),
        kind,
    }
}

fn run(ledger: &mut Ledger, kind: CommandKind) -> Vec<Event> {
    let executed = ledger.execute(&command(kind, None)).expect("accepted");
    for event in &executed.events {
        let (event_type, version, payload) = codec::encode(&event.body);
        assert_eq!(
            codec::decode(event_type, version, &payload).unwrap(),
            event.body
        );
    }
    executed.events
}

fn refused(ledger: &mut Ledger, kind: CommandKind, code: &str) {
    let before = ledger.to_snapshot();
    let error = ledger.execute(&command(kind, None)).expect_err("refused");
    assert_eq!(error.code(), code, "{error}");
    assert_eq!(ledger.to_snapshot(), before);
}

/// A registered client and no documents.
fn given() -> Ledger {
    let mut ledger = Ledger::new();
    run(
        &mut ledger,
        CommandKind::RegisterClient {
            client_id: client(),
            profile: Box::new(ClientProfile::new(ClientType::Individual, "Ann".into())),
        },
    );
    ledger
}

fn upload(n: u128, owner: DocumentOwner) -> UploadDocument {
    UploadDocument {
        document_id: doc(n),
        owner,
        document_type: DocumentType::Identity,
        file_name: "passport.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1234,
        sha256: DIGEST.into(),
    }
}

fn upload_command(upload: UploadDocument) -> CommandKind {
    CommandKind::UploadDocument(Box::new(upload))
}

fn delete(n: u128) -> CommandKind {
    CommandKind::DeleteDocument {
        document_id: doc(n),
        owner: DocumentOwner::Client(client()),
        reason: Some("superseded".into()),
    }
}

#[test]
fn an_upload_for_a_registered_client_records_its_metadata() {
    let mut ledger = given();
    let events = run(
        &mut ledger,
        upload_command(upload(1, DocumentOwner::Client(client()))),
    );
    assert_eq!(
        events,
        vec![Event {
            body: EventBody::Document(DocumentEvent::Uploaded(Box::new(DocumentUploaded {
                document_id: doc(1),
                owner: DocumentOwner::Client(client()),
                document_type: DocumentType::Identity,
                file_name: "passport.pdf".into(),
                content_type: "application/pdf".into(),
                size: 1234,
                sha256: DIGEST.into(),
            }))),
            revision: 0,
            idempotency: None,
        }]
    );
    assert_eq!(codec::event_type(&events[0].body), "DocumentUploaded");
    assert_eq!(events[0].body.stream_id(), format!("document-{}", doc(1)));
    assert!(!ledger.document(doc(1)).unwrap().deleted);
}

#[test]
fn a_deletion_is_recorded_once_and_a_second_is_refused() {
    let mut ledger = given();
    run(
        &mut ledger,
        upload_command(upload(1, DocumentOwner::Client(client()))),
    );
    let events = run(&mut ledger, delete(1));
    assert_eq!(
        events,
        vec![Event {
            body: EventBody::Document(DocumentEvent::Deleted(DocumentDeleted {
                document_id: doc(1),
                owner: DocumentOwner::Client(client()),
                reason: Some("superseded".into()),
            })),
            revision: 1,
            idempotency: None,
        }]
    );
    assert!(ledger.document(doc(1)).unwrap().deleted);
    refused(&mut ledger, delete(1), "DocumentDeleted");
}

#[test]
fn documents_need_an_owner_that_exists() {
    let mut ledger = given();
    let stranger = ClientId(Uuid::from_u128(0xC2));
    refused(
        &mut ledger,
        upload_command(upload(1, DocumentOwner::Client(stranger))),
        "ClientNotFound",
    );
    refused(
        &mut ledger,
        upload_command(upload(
            1,
            DocumentOwner::Transfer(TransferId(Uuid::from_u128(7))),
        )),
        "TransferNotFound",
    );
}

#[test]
fn a_blocked_client_may_still_send_documents() {
    let mut ledger = given();
    run(
        &mut ledger,
        CommandKind::BlockClient {
            client_id: client(),
            reason: Some("KYC review".into()),
        },
    );
    run(
        &mut ledger,
        upload_command(upload(1, DocumentOwner::Client(client()))),
    );
}

#[test]
fn unknown_documents_and_other_owners_documents_are_not_found() {
    let mut ledger = given();
    refused(&mut ledger, delete(1), "DocumentNotFound");
    run(
        &mut ledger,
        upload_command(upload(1, DocumentOwner::Client(client()))),
    );
    let other = CommandKind::DeleteDocument {
        document_id: doc(1),
        owner: DocumentOwner::Transfer(TransferId(Uuid::from_u128(7))),
        reason: None,
    };
    refused(&mut ledger, other, "DocumentNotFound");
    refused(
        &mut ledger,
        upload_command(upload(1, DocumentOwner::Client(client()))),
        "DocumentAlreadyExists",
    );
}

#[test]
fn bad_metadata_is_refused() {
    let mut ledger = given();
    let owner = DocumentOwner::Client(client());
    for (change, what) in [
        (
            Box::new(|u: &mut UploadDocument| u.file_name = "../etc/passwd".into())
                as Box<dyn Fn(&mut UploadDocument)>,
            "a path as file name",
        ),
        (Box::new(|u| u.file_name = String::new()), "an empty name"),
        (
            Box::new(|u| u.file_name = "a\nb.pdf".into()),
            "a control character",
        ),
        (
            Box::new(|u| u.content_type = "application/x-msdownload".into()),
            "a type not kept",
        ),
        (
            Box::new(|u| u.content_type = "Application/PDF".into()),
            "a non-canonical type",
        ),
        (Box::new(|u| u.size = 0), "an empty file"),
        (
            Box::new(|u| u.sha256 = "abc".into()),
            "a digest that is not one",
        ),
    ] {
        let mut bad = upload(1, owner);
        change(&mut bad);
        let before = ledger.to_snapshot();
        let error = ledger
            .execute(&command(upload_command(bad), None))
            .expect_err(what);
        assert_eq!(error.code(), "InvalidCommand", "{what}: {error}");
        assert_eq!(ledger.to_snapshot(), before);
    }
}

#[test]
fn a_retried_upload_returns_the_first_document_and_another_file_conflicts() {
    let mut ledger = given();
    let owner = DocumentOwner::Client(client());
    let first = ledger
        .execute(&command(upload_command(upload(1, owner)), Some("k")))
        .unwrap();
    // The server gives the retry a new id; the request is otherwise the same.
    let retry = ledger
        .execute(&command(upload_command(upload(2, owner)), Some("k")))
        .unwrap();
    assert!(retry.duplicate && retry.events.is_empty());
    assert_eq!(retry.receipt, Receipt::Document(doc(1)));
    assert_eq!(first.receipt, retry.receipt);
    let mut other = upload(3, owner);
    other.sha256 = DIGEST.replace('9', "8");
    let error = ledger
        .execute(&command(upload_command(other), Some("k")))
        .unwrap_err();
    assert_eq!(error.code(), "IdempotencyConflict");
}

#[test]
fn documents_survive_a_snapshot_and_a_replay() {
    let mut ledger = given();
    let mut history = Vec::new();
    history.extend(run(
        &mut ledger,
        upload_command(upload(1, DocumentOwner::Client(client()))),
    ));
    history.extend(run(
        &mut ledger,
        upload_command(upload(2, DocumentOwner::Client(client()))),
    ));
    history.extend(run(&mut ledger, delete(1)));
    let restored = Ledger::from_snapshot(ledger.to_snapshot());
    assert_eq!(restored.to_snapshot(), ledger.to_snapshot());
    let mut replayed = given();
    for event in &history {
        replayed.apply(event);
    }
    assert_eq!(replayed.to_snapshot(), ledger.to_snapshot());
    assert!(replayed.document(doc(1)).unwrap().deleted);
    // Deleting after a restore is still refused.
    let mut restored = restored;
    refused(&mut restored, delete(1), "DocumentDeleted");
}
