//! The OpenAPI description of every route and schema, built with utoipa; the payment routes
//! are listed under both of their prefixes.

use crate::routes::{
    accounts, clients, confirmations, documents, fx_transfers, health, ops, payments, recipients,
    replay, transactions, transfers,
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
        documents::upload_client_document,
        documents::upload_client_documents,
        documents::list_client_documents,
        documents::get_client_document,
        documents::download_client_document,
        documents::delete_client_document,
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
        transfers::list_transfers,
        transfers::get_transfer,
        transfers::transfer_type,
        transfers::create_outgoing,
        transfers::confirm_outgoing,
        transfers::cancel_outgoing,
        transfers::list_internal,
        transfers::list_outgoing,
        transfers::list_incoming,
        transfers::assign_incoming,
        transfers::continue_outgoing,
        transfers::suspend_outgoing,
        transfers::execute_transfer,
        transfers::incoming_request,
        transfers::provider_completed,
        transfers::provider_rejected,
        transfers::provider_failed,
        fx_transfers::create_fx,
        fx_transfers::get_fx,
        fx_transfers::confirm_fx,
        fx_transfers::cancel_fx,
        fx_transfers::list_fx,
        ops::daily_account_balance,
        ops::available_currencies,
        ops::treasury_summary,
        replay::recalculate,
        replay::calculate_balances,
        replay::recalculate_daily_balances,
        replay::daily_check_summary,
        replay::daily_check_details,
        replay::reconciliation_report,
        replay::start_balance_check,
        replay::list_balance_checks,
        replay::get_balance_check,
        replay::get_job,
        health::live,
        health::ready,
        health::metrics,
    ),
    modifiers(&BearerAuth, &MirroredPayments, &TransferAliases),
    tags(
        (name = "Clients", description = "ClientProfile: clients' profiles and status (API.md §2.2)"),
        (name = "Documents", description = "Clients' documents: multipart upload, list, download, delete (API.md §2.2)"),
        (name = "Accounts", description = "GeneralLedger accounts (API.md §2.3)"),
        (name = "Payments", description = "GeneralLedger payments (API.md §2.5), also under /v2/internal/Payments"),
        (name = "Transfers", description = "TransferOrchestrator: outgoing, internal, incoming and FX transfers (API.md §2.6); the transfer routes' other spellings (/v2/Transfers, /Transfers/outgoing/{id}, /Transfers/incoming/{id}) answer as /Transfers and /Transfers/{id}"),
        (name = "Transactions", description = "Statement lines and reports (API.md §2.4)"),
        (name = "Balances", description = "Daily balances, currencies, treasury (API.md §2.4)"),
        (name = "BackgroundJob", description = "Ops' background jobs: the balance check and recalculations"),
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

/// `/v2/Transfers…` and the outgoing/incoming spellings of a transfer's details answer as
/// `/Transfers` and `/Transfers/{transferId}`.
struct TransferAliases;

impl Modify for TransferAliases {
    fn modify(&self, openapi: &mut Document) {
        let aliases = [
            ("/Transfers", "/v2/Transfers", "v2"),
            (
                "/Transfers/{transferId}",
                "/v2/Transfers/{transferId}",
                "v2",
            ),
            (
                "/Transfers/{transferId}",
                "/Transfers/outgoing/{transferId}",
                "outgoing",
            ),
            (
                "/Transfers/{transferId}",
                "/Transfers/incoming/{transferId}",
                "incoming",
            ),
        ];
        for (path, alias, suffix) in aliases {
            let Some(mut item) = openapi.paths.paths.get(path).cloned() else {
                continue;
            };
            for operation in operations(&mut item) {
                operation.operation_id = operation
                    .operation_id
                    .as_ref()
                    .map(|id| format!("{id}_{suffix}"));
            }
            openapi.paths.paths.insert(alias.to_string(), item);
        }
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
