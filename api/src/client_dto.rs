//! ClientDto (API.md §2.2, the seed's): a client's profile with its id, status and `created`,
//! every top-level field present (null when unset), and its OpenAPI schema.

use crate::error::ApiError;
use folio_domain::{ClientProfile, ClientStatus};
use folio_projections::rows::ClientRow;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::LazyLock;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
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

/// The documented shape of ClientDto: the profile's own schema (it refuses unknown fields as
/// a request) opened up and given the three fields the ledger sets.
impl PartialSchema for ClientDto {
    fn schema() -> RefOr<Schema> {
        let mut schema = ClientProfile::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.additional_properties = None;
            object.description = Some(
                "A client: every profile field (null when unset) plus id, status and created."
                    .into(),
            );
            object
                .properties
                .insert("id".into(), string_schema(KnownFormat::Uuid));
            object
                .properties
                .insert("status".into(), ClientStatus::schema());
            object
                .properties
                .insert("created".into(), string_schema(KnownFormat::DateTime));
            // The answer writes every unset field as null.
            let mut required = object.required.clone();
            required.extend(READ_ONLY_FIELDS.iter().map(|field| field.to_string()));
            for (name, property) in object.properties.iter_mut() {
                if !required.contains(name) {
                    let original = std::mem::replace(property, RefOr::T(Schema::default()));
                    *property = RefOr::T(Schema::AnyOf(
                        AnyOfBuilder::new()
                            .item(ObjectBuilder::new().schema_type(Type::Null).build())
                            .item(original)
                            .build(),
                    ));
                }
            }
            for field in READ_ONLY_FIELDS {
                if !object.required.iter().any(|name| name == field) {
                    object.required.push(field.to_string());
                }
            }
        }
        schema
    }
}

/// A string schema of a known format (uuid, date-time).
fn string_schema(format: KnownFormat) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .build(),
    ))
}

impl ToSchema for ClientDto {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ClientDto")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ClientProfile as ToSchema>::schemas(schemas);
        schemas.push((
            <ClientStatus as ToSchema>::name().into_owned(),
            <ClientStatus as PartialSchema>::schema(),
        ));
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
    use chrono::Utc;
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
