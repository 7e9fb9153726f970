//! Document decisions: an upload names an owner that exists and bytes already stored; a
//! deletion hides a live document of that owner. Both are events, so an auditor sees them.

use super::{Ledger, check_text, invalid};
use crate::command::UploadDocument;
use crate::document::{ContentKind, Document, DocumentOwner, file_name_problem, is_sha256_hex};
use crate::error::LedgerError;
use crate::event::*;
use crate::ids::DocumentId;
use crate::ledger::Receipt;

type Decided = Result<(Vec<Event>, Receipt), LedgerError>;

impl Ledger {
    /// A blocked client may still upload: blocking stops money leaving, and the documents that
    /// would lift a block (KYC remediation) must be able to arrive.
    pub(super) fn decide_upload_document(&self, upload: &UploadDocument) -> Decided {
        if self.documents.contains_key(&upload.document_id) {
            return Err(LedgerError::DocumentAlreadyExists(upload.document_id));
        }
        self.check_owner(upload.owner)?;
        if let Some(problem) = file_name_problem(&upload.file_name) {
            return Err(invalid(format!("fileName: {problem}")));
        }
        if ContentKind::from_media_type(&upload.content_type)
            .is_none_or(|kind| kind.media_type() != upload.content_type)
        {
            return Err(invalid(format!(
                "contentType: {:?} is not one of the accepted media types",
                upload.content_type
            )));
        }
        if upload.size == 0 {
            return Err(invalid("size: an empty file is not a document"));
        }
        if !is_sha256_hex(&upload.sha256) {
            return Err(invalid("sha256: expected 64 lower-case hex digits"));
        }
        let event = Event {
            body: EventBody::Document(DocumentEvent::Uploaded(Box::new(DocumentUploaded {
                document_id: upload.document_id,
                owner: upload.owner,
                document_type: upload.document_type,
                file_name: upload.file_name.clone(),
                content_type: upload.content_type.clone(),
                size: upload.size,
                sha256: upload.sha256.clone(),
            }))),
            revision: 0,
            idempotency: None,
        };
        Ok((vec![event], Receipt::Document(upload.document_id)))
    }

    pub(super) fn decide_delete_document(
        &self,
        document_id: DocumentId,
        owner: DocumentOwner,
        reason: &Option<String>,
    ) -> Decided {
        if let Some(reason) = reason {
            check_text("reason", reason)?;
        }
        // Another owner's document is not found: the route's owner never learns of it.
        let document = self
            .documents
            .get(&document_id)
            .filter(|document| document.owner == owner)
            .ok_or(LedgerError::DocumentNotFound(document_id))?;
        if document.deleted {
            return Err(LedgerError::DocumentDeleted(document_id));
        }
        let event = Event {
            body: EventBody::Document(DocumentEvent::Deleted(DocumentDeleted {
                document_id,
                owner,
                reason: reason.clone(),
            })),
            revision: document.revision + 1,
            idempotency: None,
        };
        Ok((vec![event], Receipt::Document(document_id)))
    }

    fn check_owner(&self, owner: DocumentOwner) -> Result<(), LedgerError> {
        match owner {
            DocumentOwner::Client(id) if !self.clients.contains_key(&id) => {
                Err(LedgerError::ClientNotFound(id))
            }
            DocumentOwner::Transfer(id) if !self.transfers.contains_key(&id) => {
                Err(LedgerError::TransferNotFound(id))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn apply_document(&mut self, event: &DocumentEvent, revision: u64) {
        match event {
            DocumentEvent::Uploaded(uploaded) => {
                self.documents.insert(
                    uploaded.document_id,
                    Document {
                        id: uploaded.document_id,
                        owner: uploaded.owner,
                        sha256: uploaded.sha256.clone(),
                        deleted: false,
                        revision,
                    },
                );
            }
            DocumentEvent::Deleted(deleted) => {
                if let Some(document) = self.documents.get_mut(&deleted.document_id) {
                    document.deleted = true;
                    document.revision = revision;
                }
            }
        }
    }
}
