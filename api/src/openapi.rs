//! The OpenAPI description of every route and schema, built with utoipa; the payment routes
//! are listed under both of their prefixes.

use crate::routes::{
    accounts, clients, confirmations, health, ops, payments, recipients, transactions,
};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio",
        description = "Folio's REST API: clients, accounts, payments, transactions and balances of an \
            event-sourced ledger, after the FinLego Core Banking API. Every answer is the \
            FluentResults envelope; errors carry their code in errors[].metadata.code. \
            Commands answer with the header X-Folio-Position; a query sent with \
            X-Folio-Min-Position waits (up to 5 s) until the read models include it."
    ),
    paths(
        clients::create_client,
        clients::list_clients,
        clients::get_client,
        clients::update_client,
        clients::block_client,
        clients::unblock_client,
        clients::set_client_status,
        clients::own_client,
        accounts::open_account,
        accounts::open_account_v2,
        accounts::list_accounts,
        accounts::get_account,
        accounts::get_account_v2,
        accounts::update_account,
        accounts::close_account,
        accounts::search_accounts,
        accounts::accounts_by_numbers,
        accounts::reorder_accounts,
        accounts::aggregated_amounts,
        confirmations::send_otp,
        confirmations::verify_otp,
        recipients::add_recipient,
        recipients::list_recipients,
        recipients::get_recipient,
        recipients::set_visibility,
        payments::create_payment,
        payments::create_draft,
        payments::pend_payment,
        payments::post_payment,
        payments::cancel_payment,
        payments::get_payment,
        payments::list_payments,
        transactions::transactions_by_filter,
        transactions::get_transaction,
        transactions::list_transactions,
        transactions::query_transactions,
        transactions::transactions_report,
        ops::daily_account_balance,
        ops::available_currencies,
        ops::treasury_summary,
        health::live,
        health::ready,
        health::metrics,
    ),
    modifiers(&BearerAuth, &MirroredPayments),
    tags(
        (name = "Clients", description = "ClientProfile: clients' profiles and status (API.md §2.2)"),
        (name = "Accounts", description = "GeneralLedger accounts (API.md §2.3)"),
        (name = "Payments", description = "GeneralLedger payments (API.md §2.5), also under /v2/internal/Payments"),
        (name = "Transactions", description = "Statement lines and reports (API.md §2.4)"),
        (name = "Balances", description = "Daily balances, currencies, treasury (API.md §2.4)"),
        (name = "Recipients", description = "TransferOrchestrator: a client's saved beneficiaries (API.md §2.6), also listed and read under /v2/Recipients"),
        (name = "Health", description = "Probes and metrics"),
    )
)]
struct ApiDoc;

/// The document served on `/openapi.json`.
pub fn document() -> Document {
    ApiDoc::openapi()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `/v2/internal/Payments…` mirrors `/internal/Payments…` route for route.
struct MirroredPayments;

impl Modify for MirroredPayments {
    fn modify(&self, openapi: &mut Document) {
        let mirrored: Vec<_> = openapi
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.starts_with("/internal/Payments"))
            .map(|(path, item)| {
                let mut item = item.clone();
                for operation in operations(&mut item) {
                    operation.operation_id =
                        operation.operation_id.as_ref().map(|id| format!("{id}_v2"));
                }
                (format!("/v2{path}"), item)
            })
            .collect();
        openapi.paths.paths.extend(mirrored);
    }
}

fn operations(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (name, inner) in fields {
                    match (name.as_str(), inner) {
                        ("$ref", serde_json::Value::String(target)) => found.push(target.clone()),
                        _ => refs(inner, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let document = serde_json::to_value(document()).unwrap();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(
            found
                .iter()
                .any(|target| target.ends_with("/Envelope_ClientDto")),
            "{found:?}"
        );
        for target in found {
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(
                document["components"]["schemas"].get(name).is_some(),
                "{target} is not described"
            );
        }
    }
}
