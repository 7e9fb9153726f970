//! The documents read model's part of the fold: a row per upload, marked when deleted.

use crate::fold::Fold;
use crate::rows::{DocumentDeletion, DocumentRow};
use chrono::{DateTime, Utc};
use folio_domain::DocumentEvent;

impl Fold {
    pub(crate) fn apply_document(
        &mut self,
        position: u64,
        at: DateTime<Utc>,
        event: &DocumentEvent,
    ) {
        match event {
            DocumentEvent::Uploaded(uploaded) => {
                self.new_documents.insert(
                    uploaded.document_id,
                    DocumentRow {
                        document_id: uploaded.document_id,
                        owner: uploaded.owner,
                        document_type: uploaded.document_type,
                        file_name: uploaded.file_name.clone(),
                        content_type: uploaded.content_type.clone(),
                        size: uploaded.size,
                        sha256: uploaded.sha256.clone(),
                        created_at: at,
                        deleted_at: None,
                        last_position: position,
                    },
                );
            }
            DocumentEvent::Deleted(deleted) => {
                // Uploaded in this same batch: its row is written once, already deleted.
                if let Some(row) = self.new_documents.get_mut(&deleted.document_id) {
                    row.deleted_at = Some(at);
                    row.last_position = position;
                    return;
                }
                self.deleted_documents.push(DocumentDeletion {
                    document_id: deleted.document_id,
                    deleted_at: at,
                    last_position: position,
                });
            }
        }
    }
}
