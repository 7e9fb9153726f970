//! ClientDto (API.md §2.2, the seed's): a client's profile with its id, status and `created`,
//! every top-level field present (null when unset), and its OpenAPI schema.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use folio_domain::{ClientProfile, ClientStatus};
use folio_projections::rows::ClientRow;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::LazyLock;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

/// The fields a client's answer always carries besides its profile's.
pub const READ_ONLY_FIELDS: [&str; 3] = ["id", "status", "created"];

/// A client as the API shows it. Built from the read model's row.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct ClientDto(Map<String, Value>);

impl ClientDto {
    pub fn from_row(row: &ClientRow) -> Result<ClientDto, ApiError> {
        let mut fields = match serde_json::to_value(&row.profile) {
            Ok(Value::Object(fields)) => fields,
            Ok(other) => {
                return Err(ApiError::Internal(format!(
                    "client {} has a profile that is not an object: {other}",
                    row.client_id
                )));
            }
            Err(error) => {
                return Err(ApiError::Internal(format!(
                    "client {}'s profile cannot be written: {error}",
                    row.client_id
                )));
            }
        };
        for name in PROFILE_FIELDS.iter() {
            fields.entry(name.clone()).or_insert(Value::Null);
        }
        fields.insert("id".into(), json!(row.client_id.0));
        fields.insert("status".into(), json!(row.status));
        fields.insert("created".into(), json!(row.created_at));
        Ok(ClientDto(fields))
    }

    /// One field of the answer.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }
}

/// Every top-level field of a profile, from its schema: the same list serde writes when all
/// are set, so the answer names each one even when it is unset.
static PROFILE_FIELDS: LazyLock<Vec<String>> = LazyLock::new(|| match ClientProfile::schema() {
    RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
    _ => Vec::new(),
});

/// The documented shape of ClientDto: the profile's fields plus id, status and created.
#[derive(Serialize, ToSchema)]
#[schema(as = ClientDto)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ClientDtoSchema {
    id: Uuid,
    status: ClientStatus,
    created: DateTime<Utc>,
    #[serde(flatten)]
    profile: ClientProfile,
}

impl PartialSchema for ClientDto {
    fn schema() -> RefOr<Schema> {
        ClientDtoSchema::schema()
    }
}

impl ToSchema for ClientDto {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ClientDto")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ClientDtoSchema as ToSchema>::schemas(schemas);
    }
}

/// What `POST /internal/Clients` takes: the profile, and optionally the new client's id.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateClientRequest {
    /// The new client's id (its client keys name it); a new one is made when absent.
    id: Option<Uuid>,
    #[serde(flatten)]
    profile: ClientProfile,
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_domain::{ClientId, ClientType};

    #[test]
    fn every_profile_field_is_present_even_when_unset() {
        let row = ClientRow {
            client_id: ClientId(Uuid::nil()),
            status: ClientStatus::Active,
            profile: ClientProfile::new(ClientType::Company, "Acme".into()),
            block_reason: None,
            version: 1,
            last_position: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let dto = ClientDto::from_row(&row).unwrap();
        for field in [
            "id",
            "type",
            "legalName",
            "email",
            "address",
            "companyType",
            "isEngagedGambling10K",
            "relatedIndividuals",
            "customOptions",
            "created",
            "status",
        ] {
            assert!(dto.get(field).is_some(), "{field} is present");
        }
        assert_eq!(dto.get("email"), Some(&Value::Null));
        assert!(PROFILE_FIELDS.len() >= 32, "{:?}", *PROFILE_FIELDS);
    }
}
