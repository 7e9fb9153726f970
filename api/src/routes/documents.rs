//! Documents of clients and transfers (API.md §2.2 and §2.6): multipart upload of one file or
//! several, list, download and delete. The bytes go to the content store first (durably), then
//! the `DocumentUploaded` event names them; a deletion is an event too, and the bytes stay.

use super::page_request;
use crate::answer::Answer;
use crate::auth::Caller;
use crate::dto::PagedList;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::extract::{CommandContext, QueryParams, parse_uuid};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use folio_domain::document::sanitize_file_name;
use folio_domain::{
    ClientId, CommandKind, ContentKind, DocumentId, DocumentOwner, DocumentType, LedgerError,
    Receipt, TransferId, UploadDocument,
};
use folio_engine::Committed;
use folio_projections::query::DocumentFilter;
use folio_projections::rows::DocumentRow;
use folio_store::content::StagedContent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most files one bulk upload may carry.
pub const MAX_BULK_FILES: usize = 10;
/// Bytes of a refused upload still read (and discarded) so the answer reaches the caller
/// rather than a reset connection; beyond this the connection is simply closed.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// Longest text field (`type`) of an upload form.
const MAX_TEXT_FIELD: usize = 64;

/// A document's metadata. `clientId` is the owning client (of the transfer, for a transfer's
/// document, when the transfer has a client's account); `transferId` is set for a transfer's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDto {
    pub id: Uuid,
    pub client_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub document_type: DocumentType,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the bytes (lower-case hex): what the download's ETag carries.
    pub sha256: String,
    pub created: DateTime<Utc>,
    /// Set on a deleted document (seen only in the answer to the deletion and in lists with
    /// `includeDeleted=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DateTime<Utc>>,
}

impl DocumentDto {
    fn from_row(row: &DocumentRow, client: Option<ClientId>) -> DocumentDto {
        DocumentDto {
            id: row.document_id.0,
            client_id: client.map(|id| id.0),
            transfer_id: match row.owner {
                DocumentOwner::Transfer(id) => Some(id.0),
                DocumentOwner::Client(_) => None,
            },
            document_type: row.document_type,
            file_name: row.file_name.clone(),
            content_type: row.content_type.clone(),
            size: row.size,
            sha256: row.sha256.clone(),
            created: row.created_at,
            deleted: row.deleted_at,
        }
    }
}

/// The multipart form of an upload (for the OpenAPI description; the handler streams it).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file (its part's filename and Content-Type are kept: PDF, PNG, JPEG or plain text).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// What the document is (default `other`).
    #[schema(rename = "type")]
    document_type: Option<DocumentType>,
}

/// The multipart form of a bulk upload: several `file` (or `files`) parts and one `type`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BulkUploadForm {
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
    #[schema(rename = "type")]
    document_type: Option<DocumentType>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListDocumentsQuery {
    pub page_number: Option<u32>,
    pub page_size: Option<u32>,
    /// Also list deleted documents (their `deleted` time set): the history auditors review.
    pub include_deleted: Option<bool>,
}

/// Whose documents a route serves, once the caller was found allowed to see them.
#[derive(Debug, Clone, Copy)]
struct Owner {
    owner: DocumentOwner,
    /// The client shown as `clientId` (for a transfer: the client of its account, if any).
    client: Option<ClientId>,
}

async fn client_owner(state: &AppState, text: &str) -> Result<Owner, ApiError> {
    let id = ClientId(parse_uuid("clientId", text)?);
    if state.models().client(id).await?.is_none() {
        return Err(LedgerError::ClientNotFound(id).into());
    }
    Ok(Owner {
        owner: DocumentOwner::Client(id),
        client: Some(id),
    })
}

/// A transfer the caller may see: any for system and auditor, for a client key one with an
/// account of its own on either side (another client's transfer is not found).
async fn transfer_owner(state: &AppState, caller: &Caller, text: &str) -> Result<Owner, ApiError> {
    let id = TransferId(parse_uuid("transferId", text)?);
    let row = state
        .models()
        .transfer(id)
        .await?
        .ok_or(LedgerError::TransferNotFound(id))?;
    let mut client = None;
    for side in [row.source_account_id, row.destination_account_id]
        .into_iter()
        .flatten()
    {
        if let Some(account) = state.models().account(side).await?
            && account.client_id.is_some()
        {
            client = account.client_id;
            break;
        }
    }
    let owner = Owner {
        owner: DocumentOwner::Transfer(id),
        client,
    };
    match caller.own_client() {
        None => Ok(owner),
        Some(own) if client == Some(own) => Ok(owner),
        Some(_) => Err(LedgerError::TransferNotFound(id).into()),
    }
}

// ---------------------------------------------------------------- receiving files

/// One file received whole into the staging area, its type checked.
struct ReceivedFile {
    file_name: String,
    kind: ContentKind,
    content: StagedContent,
}

struct ReceivedForm {
    files: Vec<ReceivedFile>,
    document_type: DocumentType,
}

/// Reads the whole form, staging each file as it streams in. On a refusal the rest of the body
/// is read and discarded (up to `DRAIN_LIMIT`) so the caller gets the answer; staged files are
/// dropped, which removes them.
async fn receive(
    state: &AppState,
    multipart: Result<Multipart, MultipartRejection>,
    max_files: usize,
) -> Result<ReceivedForm, ApiError> {
    let mut multipart = multipart.map_err(|rejection| ApiError::Validation {
        field: None,
        message: format!("expected a multipart/form-data body with a file part: {rejection}"),
    })?;
    match read_form(state, &mut multipart, max_files).await {
        Ok(form) => Ok(form),
        Err(error) => {
            drain(&mut multipart).await;
            Err(error)
        }
    }
}

async fn read_form(
    state: &AppState,
    multipart: &mut Multipart,
    max_files: usize,
) -> Result<ReceivedForm, ApiError> {
    let mut files = Vec::new();
    let mut document_type = None;
    while let Some(field) = multipart.next_field().await.map_err(form_error)? {
        match field.name().unwrap_or_default() {
            "file" | "files" => {
                if files.len() == max_files {
                    return Err(ApiError::validation(
                        "file",
                        format!("at most {max_files} file(s) per request"),
                    ));
                }
                files.push(receive_file(state, field).await?);
            }
            "type" => {
                let text = small_text(field).await?;
                let parsed = serde_json::from_value(serde_json::Value::String(text.clone()))
                    .map_err(|_| {
                        ApiError::validation(
                            "type",
                            format!(
                                "type {text:?}: expected identity, proofOfAddress, \
                                 companyRegistration, invoice, contract or other"
                            ),
                        )
                    })?;
                document_type = Some(parsed);
            }
            other => {
                return Err(ApiError::validation(
                    other,
                    format!("unknown form field {other:?}: expected file and type"),
                ));
            }
        }
    }
    if files.is_empty() {
        return Err(ApiError::validation("file", "the form has no file part"));
    }
    Ok(ReceivedForm {
        files,
        document_type: document_type.unwrap_or(DocumentType::Other),
    })
}

/// Streams one file part to the staging area, refusing it as soon as it passes the size limit
/// or its first bytes contradict its type.
async fn receive_file(state: &AppState, mut field: Field<'_>) -> Result<ReceivedFile, ApiError> {
    let file_name = field
        .file_name()
        .and_then(sanitize_file_name)
        .ok_or_else(|| ApiError::validation("file", "the file part needs a file name"))?;
    let declared = field
        .content_type()
        .map(str::to_string)
        .filter(|declared| !declared.starts_with("application/octet-stream"));
    let declared_kind = match &declared {
        Some(declared) => Some(ContentKind::from_media_type(declared).ok_or_else(|| {
            ApiError::UnsupportedMediaType {
                code: "UnsupportedContentType",
                message: format!(
                    "{declared:?} is not accepted: send application/pdf, image/png, image/jpeg or text/plain"
                ),
            }
        })?),
        None => None,
    };
    let limit = state.max_document_bytes;
    let mut staged = state.documents.stage().await?;
    let mut start = Vec::with_capacity(ContentKind::SNIFF_LEN);
    let mut text = folio_domain::document::TextCheck::default();
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        if staged.size() + chunk.len() as u64 > limit {
            return Err(ApiError::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            });
        }
        if start.len() < ContentKind::SNIFF_LEN {
            let wanted = (ContentKind::SNIFF_LEN - start.len()).min(chunk.len());
            start.extend_from_slice(&chunk[..wanted]);
        }
        text.feed(&chunk);
        staged.write(&chunk).await?;
    }
    if staged.size() == 0 {
        return Err(ApiError::validation("file", "the file is empty"));
    }
    let kind = match declared_kind {
        Some(kind) => kind,
        None => ContentKind::sniff(&start)
            .or_else(|| text.is_text().then_some(ContentKind::PlainText))
            .ok_or_else(|| ApiError::UnsupportedMediaType {
                code: "UnsupportedContentType",
                message: "the file is not a PDF, PNG, JPEG or plain text".into(),
            })?,
    };
    let matches = match kind {
        ContentKind::PlainText => text.is_text(),
        other => other.matches_start(&start),
    };
    if !matches {
        return Err(mismatch(format!(
            "the file's bytes are not {} (its first bytes say otherwise)",
            kind.media_type()
        )));
    }
    if let Some(extension_kind) = kind_of_extension(&file_name)
        && extension_kind != kind
    {
        return Err(mismatch(format!(
            "the file name {file_name:?} says {}, its content is {}",
            extension_kind.media_type(),
            kind.media_type()
        )));
    }
    Ok(ReceivedFile {
        file_name,
        kind,
        content: staged.finish().await?,
    })
}

fn mismatch(message: String) -> ApiError {
    ApiError::UnsupportedMediaType {
        code: "ContentTypeMismatch",
        message,
    }
}

/// The kind a file name's extension announces, if it is one of the accepted kinds'.
fn kind_of_extension(file_name: &str) -> Option<ContentKind> {
    let (_, extension) = file_name.rsplit_once('.')?;
    match extension.to_ascii_lowercase().as_str() {
        "pdf" => Some(ContentKind::Pdf),
        "png" => Some(ContentKind::Png),
        "jpg" | "jpeg" => Some(ContentKind::Jpeg),
        "txt" => Some(ContentKind::PlainText),
        _ => None,
    }
}

/// A short text field, read with a bound.
async fn small_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_TEXT_FIELD {
            return Err(ApiError::validation(&name, format!("{name}: too long")));
        }
    }
    String::from_utf8(bytes)
        .map(|text| text.trim().to_string())
        .map_err(|_| ApiError::validation(&name, format!("{name}: not UTF-8 text")))
}

fn form_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::Validation {
        field: None,
        message: format!(
            "the multipart body could not be read: {}",
            error.body_text()
        ),
    }
}

/// Reads and discards what is left of the body, up to `DRAIN_LIMIT`.
async fn drain(multipart: &mut Multipart) {
    let mut drained = 0u64;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            drained += chunk.len() as u64;
            if drained > DRAIN_LIMIT {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------- recording

/// Keeps each file's bytes (durably), then records its upload under `key` (`key#n` for the
/// n-th file of a bulk upload, so a retried bulk upload converges file by file).
async fn record(
    state: &AppState,
    context: &CommandContext,
    owner: Owner,
    form: ReceivedForm,
) -> Result<(Vec<DocumentDto>, u64, bool), ApiError> {
    let key = context.key_with_external_id(None)?;
    let bulk = form.files.len() > 1;
    let mut documents = Vec::with_capacity(form.files.len());
    let mut position = 0;
    let mut all_duplicates = true;
    for (index, file) in form.files.into_iter().enumerate() {
        let upload = UploadDocument {
            document_id: DocumentId(Uuid::now_v7()),
            owner: owner.owner,
            document_type: form.document_type,
            file_name: file.file_name,
            content_type: file.kind.media_type().to_string(),
            size: file.content.size(),
            sha256: file.content.sha256().to_string(),
        };
        // The bytes first: once the event is committed, its document must be downloadable.
        state.documents.keep(file.content).await?;
        let file_key = key.as_ref().map(|key| match bulk {
            true => format!("{key}#{index}"),
            false => key.clone(),
        });
        let committed = state
            .execute(
                CommandKind::UploadDocument(Box::new(upload.clone())),
                file_key,
                context.correlation_id,
            )
            .await?;
        position = position.max(committed.position);
        all_duplicates &= committed.duplicate;
        documents.push(uploaded_dto(state, owner, &upload, &committed).await?);
    }
    Ok((documents, position, all_duplicates))
}

/// The answer for an upload: built from the command for a new one; a retry's first document
/// is read back.
async fn uploaded_dto(
    state: &AppState,
    owner: Owner,
    upload: &UploadDocument,
    committed: &Committed,
) -> Result<DocumentDto, ApiError> {
    let Receipt::Document(id) = committed.receipt else {
        return Err(ApiError::Internal(
            "the command did not answer with a document".into(),
        ));
    };
    if !committed.duplicate {
        return Ok(DocumentDto {
            id: id.0,
            client_id: owner.client.map(|client| client.0),
            transfer_id: match owner.owner {
                DocumentOwner::Transfer(transfer) => Some(transfer.0),
                DocumentOwner::Client(_) => None,
            },
            document_type: upload.document_type,
            file_name: upload.file_name.clone(),
            content_type: upload.content_type.clone(),
            size: upload.size,
            sha256: upload.sha256.clone(),
            created: committed.at,
            deleted: None,
        });
    }
    state.wait_for_read_models(committed.position).await?;
    let row = state.models().document(id).await?.ok_or_else(|| {
        ApiError::Internal(format!("document {id} is missing from the read models"))
    })?;
    Ok(DocumentDto::from_row(&row, owner.client))
}

async fn upload_one(
    state: AppState,
    context: CommandContext,
    owner: Owner,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Answer<DocumentDto>, ApiError> {
    let form = receive(&state, multipart, 1).await?;
    let (mut documents, position, duplicate) = record(&state, &context, owner, form).await?;
    let document = documents
        .pop()
        .ok_or_else(|| ApiError::Internal("an upload recorded no document".into()))?;
    Ok(Answer::committed(
        document,
        position,
        duplicate,
        "document uploaded",
    ))
}

async fn upload_many(
    state: AppState,
    context: CommandContext,
    owner: Owner,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Answer<Vec<DocumentDto>>, ApiError> {
    let form = receive(&state, multipart, MAX_BULK_FILES).await?;
    let (documents, position, duplicate) = record(&state, &context, owner, form).await?;
    Ok(Answer::committed(
        documents,
        position,
        duplicate,
        "documents uploaded",
    ))
}

// ---------------------------------------------------------------- reading and deleting

async fn list(
    state: AppState,
    owner: Owner,
    query: ListDocumentsQuery,
) -> Result<Answer<PagedList<DocumentDto>>, ApiError> {
    let page = page_request(query.page_number, query.page_size)?;
    let filter = DocumentFilter {
        owner: owner.owner,
        include_deleted: query.include_deleted.unwrap_or(false),
    };
    let found = state.models().documents(&filter, page).await?;
    Ok(Answer::read(PagedList::map(found, |row| {
        DocumentDto::from_row(row, owner.client)
    })))
}

/// The live document `text` names, if it is `owner`'s (another owner's is not found).
async fn live_document(
    state: &AppState,
    owner: Owner,
    text: &str,
) -> Result<DocumentRow, ApiError> {
    let id = DocumentId(parse_uuid("documentId", text)?);
    match state.models().document(id).await? {
        Some(row) if row.owner == owner.owner && row.deleted_at.is_none() => Ok(row),
        _ => Err(LedgerError::DocumentNotFound(id).into()),
    }
}

async fn download(state: AppState, owner: Owner, document: &str) -> Result<Response, ApiError> {
    let row = live_document(&state, owner, document).await?;
    let bytes = state.documents.read(&row.sha256).await?.ok_or_else(|| {
        ApiError::Internal(format!(
            "the bytes of document {} ({}) are missing from the content store",
            row.document_id, row.sha256
        ))
    })?;
    let mut response = (StatusCode::OK, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    let header_value = |text: String| {
        HeaderValue::from_str(&text).map_err(|error| ApiError::Internal(error.to_string()))
    };
    headers.insert(
        header::CONTENT_TYPE,
        header_value(row.content_type.clone())?,
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        header_value(content_disposition(&row.file_name))?,
    );
    headers.insert(header::ETAG, header_value(format!("\"{}\"", row.sha256))?);
    // Identity papers and invoices: never cached by anything between Folio and its caller,
    // never rendered as something else than their type.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII fallback with quotes and
/// backslashes replaced, and the exact name percent-encoded (RFC 6266, RFC 8187).
fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(file_name.len() * 3);
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

async fn delete(
    state: AppState,
    context: CommandContext,
    owner: Owner,
    document: &str,
) -> Result<Answer<DocumentDto>, ApiError> {
    let id = DocumentId(parse_uuid("documentId", document)?);
    let key = context.key_with_external_id(None)?;
    let command = CommandKind::DeleteDocument {
        document_id: id,
        owner: owner.owner,
        reason: None,
    };
    let committed = state.execute(command, key, context.correlation_id).await?;
    state.wait_for_read_models(committed.position).await?;
    let row = state.models().document(id).await?.ok_or_else(|| {
        ApiError::Internal(format!("document {id} is missing from the read models"))
    })?;
    Ok(Answer::committed(
        DocumentDto::from_row(&row, owner.client),
        committed.position,
        committed.duplicate,
        "document deleted",
    ))
}

// ---------------------------------------------------------------- client routes

/// Upload one document of a client (multipart: `file`, optional `type`).
#[utoipa::path(post, path = "/internal/Clients/{clientId}/Documents/upload", tag = "Documents",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(("clientId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and file returns the first document")),
    responses((status = 200, description = "The document", body = Envelope<DocumentDto>),
        (status = 400, description = "No file, a bad field or file name", body = Envelope<Object>),
        (status = 404, description = "No such client", body = Envelope<Object>),
        (status = 409, description = "The key was used for another upload", body = Envelope<Object>),
        (status = 413, description = "The file is larger than --max-document-bytes", body = Envelope<Object>),
        (status = 415, description = "A type Folio does not keep, or bytes that are not that type", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn upload_client_document(
    State(state): State<AppState>,
    context: CommandContext,
    Path(client_id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Answer<DocumentDto>, ApiError> {
    let owner = client_owner(&state, &client_id).await?;
    upload_one(state, context, owner, multipart).await
}

/// Upload several documents of a client in one request (up to 10 `file` parts, one `type`).
#[utoipa::path(post, path = "/internal/Clients/{clientId}/Documents/upload/bulk", tag = "Documents",
    request_body(content = BulkUploadForm, content_type = "multipart/form-data"),
    params(("clientId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The documents, in the order sent", body = Envelope<Vec<DocumentDto>>),
        (status = 400, description = "No file, too many, a bad field or file name", body = Envelope<Object>),
        (status = 404, description = "No such client", body = Envelope<Object>),
        (status = 409, description = "The key was used for another upload", body = Envelope<Object>),
        (status = 413, description = "A file is larger than --max-document-bytes", body = Envelope<Object>),
        (status = 415, description = "A type Folio does not keep, or bytes that are not that type", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn upload_client_documents(
    State(state): State<AppState>,
    context: CommandContext,
    Path(client_id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Answer<Vec<DocumentDto>>, ApiError> {
    let owner = client_owner(&state, &client_id).await?;
    upload_many(state, context, owner, multipart).await
}

/// A client's documents, oldest first, paged.
#[utoipa::path(get, path = "/internal/Clients/{clientId}/Documents", tag = "Documents",
    params(("clientId" = Uuid, Path), ListDocumentsQuery),
    responses((status = 200, description = "One page of documents", body = Envelope<PagedList<DocumentDto>>),
        (status = 400, description = "Invalid parameter", body = Envelope<Object>),
        (status = 404, description = "No such client", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn list_client_documents(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    QueryParams(query): QueryParams<ListDocumentsQuery>,
) -> Result<Answer<PagedList<DocumentDto>>, ApiError> {
    let owner = client_owner(&state, &client_id).await?;
    list(state, owner, query).await
}

/// One document's metadata.
#[utoipa::path(get, path = "/internal/Clients/{clientId}/Documents/{documentId}", tag = "Documents",
    params(("clientId" = Uuid, Path), ("documentId" = Uuid, Path)),
    responses((status = 200, description = "The document", body = Envelope<DocumentDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such client or document", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn get_client_document(
    State(state): State<AppState>,
    Path((client_id, document_id)): Path<(String, String)>,
) -> Result<Answer<DocumentDto>, ApiError> {
    let owner = client_owner(&state, &client_id).await?;
    let row = live_document(&state, owner, &document_id).await?;
    Ok(Answer::read(DocumentDto::from_row(&row, owner.client)))
}

/// The document's bytes, with its Content-Type and a Content-Disposition filename.
#[utoipa::path(get, path = "/internal/Clients/{clientId}/Documents/{documentId}/download", tag = "Documents",
    params(("clientId" = Uuid, Path), ("documentId" = Uuid, Path)),
    responses((status = 200, description = "The file", content(
            (Vec<u8> = "application/pdf"), (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (String = "text/plain"))),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such client or document (or it was deleted)", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn download_client_document(
    State(state): State<AppState>,
    Path((client_id, document_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let owner = client_owner(&state, &client_id).await?;
    download(state, owner, &document_id).await
}

/// Delete a document: it is no longer listed or served; the event and the bytes stay.
#[utoipa::path(delete, path = "/internal/Clients/{clientId}/Documents/{documentId}", tag = "Documents",
    params(("clientId" = Uuid, Path), ("documentId" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "The document, deleted", body = Envelope<DocumentDto>),
        (status = 400, description = "Not a uuid", body = Envelope<Object>),
        (status = 404, description = "No such client or document", body = Envelope<Object>),
        (status = 409, description = "Deleted already", body = Envelope<Object>)),
    security(("bearer" = [])))]
pub async fn delete_client_document(
    State(state): State<AppState>,
    context: CommandContext,
    Path((client_id, document_id)): Path<(String, String)>,
) -> Result<Answer<DocumentDto>, ApiError> {
    let owner = client_owner(&state, &client_id).await?;
    delete(state, context, owner, &document_id).await
}

// ---------------------------------------------------------------- transfer routes
// Served twice: under /internal/Transfers (system; auditor reads) and /Transfers (a client key
// for its own transfers). The handlers are the same; the caller decides what is visible.

pub async fn upload_transfer_document(
    State(state): State<AppState>,
    context: CommandContext,
    Path(transfer_id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Answer<DocumentDto>, ApiError> {
    let owner = transfer_owner(&state, &context.caller, &transfer_id).await?;
    upload_one(state, context, owner, multipart).await
}

pub async fn upload_transfer_documents(
    State(state): State<AppState>,
    context: CommandContext,
    Path(transfer_id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Answer<Vec<DocumentDto>>, ApiError> {
    let owner = transfer_owner(&state, &context.caller, &transfer_id).await?;
    upload_many(state, context, owner, multipart).await
}

pub async fn list_transfer_documents(
    State(state): State<AppState>,
    caller: Caller,
    Path(transfer_id): Path<String>,
    QueryParams(query): QueryParams<ListDocumentsQuery>,
) -> Result<Answer<PagedList<DocumentDto>>, ApiError> {
    let owner = transfer_owner(&state, &caller, &transfer_id).await?;
    list(state, owner, query).await
}

pub async fn get_transfer_document(
    State(state): State<AppState>,
    caller: Caller,
    Path((transfer_id, document_id)): Path<(String, String)>,
) -> Result<Answer<DocumentDto>, ApiError> {
    let owner = transfer_owner(&state, &caller, &transfer_id).await?;
    let row = live_document(&state, owner, &document_id).await?;
    Ok(Answer::read(DocumentDto::from_row(&row, owner.client)))
}

pub async fn download_transfer_document(
    State(state): State<AppState>,
    caller: Caller,
    Path((transfer_id, document_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let owner = transfer_owner(&state, &caller, &transfer_id).await?;
    download(state, owner, &document_id).await
}

pub async fn delete_transfer_document(
    State(state): State<AppState>,
    context: CommandContext,
    Path((transfer_id, document_id)): Path<(String, String)>,
) -> Result<Answer<DocumentDto>, ApiError> {
    let owner = transfer_owner(&state, &context.caller, &transfer_id).await?;
    delete(state, context, owner, &document_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_quotes_nothing_it_should_not() {
        assert_eq!(
            content_disposition("invoice 1.pdf"),
            "attachment; filename=\"invoice 1.pdf\"; filename*=UTF-8''invoice%201.pdf"
        );
        assert_eq!(
            content_disposition("a\"b€.txt"),
            "attachment; filename=\"a_b_.txt\"; filename*=UTF-8''a%22b%E2%82%AC.txt"
        );
    }

    #[test]
    fn extensions_name_their_kind() {
        assert_eq!(kind_of_extension("x.PDF"), Some(ContentKind::Pdf));
        assert_eq!(kind_of_extension("scan.jpg"), Some(ContentKind::Jpeg));
        assert_eq!(kind_of_extension("README"), None);
        assert_eq!(kind_of_extension("data.bin"), None);
    }
}
