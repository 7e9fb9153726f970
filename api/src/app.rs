//! The router: every route, the middleware every request goes through (request id, tracing,
//! metrics, auth, read-your-writes) and the envelope for unknown routes and methods.

use crate::answer::MIN_POSITION_HEADER;
use crate::auth::{Caller, Role, authorize, is_public_route};
use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::routes::{
    accounts, clients, confirmations, documents, fx_transfers, health, ops, payments, recipients,
    replay, transactions, transfers,
};
use crate::state::{AppState, READ_YOUR_WRITES_TIMEOUT};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/Accounts",
            post(accounts::open_account).get(accounts::list_accounts),
        )
        .route(
            "/Accounts/reorder-accounts",
            put(accounts::reorder_accounts),
        )
        .route("/Accounts/send-otp", post(confirmations::send_otp))
        .route(
            "/Accounts/otp-verification",
            post(confirmations::verify_otp),
        )
        .route(
            "/Recipients",
            get(recipients::list_recipients).post(recipients::add_recipient),
        )
        .route("/v2/Recipients", get(recipients::list_recipients))
        .route("/Recipients/{id}", get(recipients::get_recipient))
        .route("/v2/Recipients/{id}", get(recipients::get_recipient))
        .route(
            "/Recipients/{id}/visibility",
            put(recipients::set_visibility),
        )
        .route(
            "/Accounts/{id}",
            get(accounts::get_account)
                .patch(accounts::update_account)
                .delete(accounts::close_account),
        )
        .route("/v2/internal/Accounts", post(accounts::open_account_v2))
        .route(
            "/v2/internal/Accounts/recalculate",
            post(replay::recalculate),
        )
        .route(
            "/internal/Accounts/calculateBalances",
            post(replay::calculate_balances),
        )
        .route(
            "/internal/DailyAccountBalance/recalculate",
            post(replay::recalculate_daily_balances),
        )
        .route("/internal/DailyCheck", get(replay::daily_check_summary))
        .route(
            "/internal/DailyCheck/details",
            get(replay::daily_check_details),
        )
        .route(
            "/internal/Reports/ReconciliationReport",
            get(replay::reconciliation_report),
        )
        .route(
            "/internal/BackgroundJob/AccountBalanceCheckJob",
            post(replay::start_balance_check).get(replay::list_balance_checks),
        )
        .route(
            "/internal/BackgroundJob/AccountBalanceCheckJob/{jobId}",
            get(replay::get_balance_check),
        )
        .route("/internal/BackgroundJob/{jobId}", get(replay::get_job))
        .route(
            "/v2/ledger/internal/Accounts/search",
            post(accounts::search_accounts),
        )
        .route(
            "/v2/ledger/internal/Accounts/by-account-numbers",
            post(accounts::accounts_by_numbers),
        )
        .route(
            "/v2/ledger/internal/Accounts/getAggregatedAmounts",
            get(accounts::aggregated_amounts),
        )
        .route(
            "/v2/ledger/internal/Accounts/{accountId}",
            get(accounts::get_account_v2),
        )
        .route("/Client", get(clients::own_client))
        .route(
            "/internal/Clients",
            get(clients::list_clients).post(clients::create_client),
        )
        .route(
            "/internal/Clients/{clientId}",
            get(clients::get_client).put(clients::update_client),
        )
        .route(
            "/internal/Clients/{clientId}/block",
            put(clients::block_client),
        )
        .route(
            "/internal/Clients/{clientId}/unblock",
            put(clients::unblock_client),
        )
        .route(
            "/internal/Clients/{clientId}/status",
            put(clients::set_client_status),
        )
        .merge(document_routes())
        .nest("/internal/Payments", payments::routes())
        .nest("/v2/internal/Payments", payments::routes())
        .route("/Transactions", get(transactions::transactions_by_filter))
        .route(
            "/internal/Transactions",
            get(transactions::list_transactions),
        )
        .route(
            "/internal/Transactions/query",
            post(transactions::query_transactions),
        )
        .route(
            "/internal/Transactions/report",
            get(transactions::transactions_report),
        )
        .route(
            "/internal/Transactions/{id}",
            get(transactions::get_transaction),
        )
        .route(
            "/internal/DailyAccountBalance",
            post(ops::daily_account_balance),
        )
        .route(
            "/BaasProvider/available-currencies",
            get(ops::available_currencies),
        )
        .route(
            "/internal/TreasuryManagement/summary",
            get(ops::treasury_summary),
        )
        .route("/Transfers", get(transfers::list_transfers))
        .route("/v2/Transfers", get(transfers::list_transfers))
        .route("/Transfers/type", get(transfers::transfer_type))
        .route("/Transfers/outgoing", post(transfers::create_outgoing))
        .route("/Transfers/outgoing/{id}", get(transfers::get_transfer))
        .route(
            "/Transfers/outgoing/{id}/confirm",
            put(transfers::confirm_outgoing),
        )
        .route(
            "/Transfers/outgoing/{id}/cancel",
            put(transfers::cancel_outgoing),
        )
        .route("/Transfers/incoming/{id}", get(transfers::get_transfer))
        .route("/Transfers/fx", post(fx_transfers::create_fx))
        .route("/Transfers/fx/{id}", get(fx_transfers::get_fx))
        .route("/Transfers/fx/{id}/confirm", put(fx_transfers::confirm_fx))
        .route("/Transfers/fx/{id}/cancel", put(fx_transfers::cancel_fx))
        .route("/internal/Transfers/fx", get(fx_transfers::list_fx))
        .route(
            "/internal/Transfers/{id}/execute",
            post(transfers::execute_transfer),
        )
        .route("/Transfers/{id}", get(transfers::get_transfer))
        .route("/v2/Transfers/{id}", get(transfers::get_transfer))
        .route(
            "/internal/Transfers/internal",
            get(transfers::list_internal),
        )
        .route(
            "/internal/Transfers/outgoing",
            get(transfers::list_outgoing),
        )
        .route(
            "/internal/Transfers/incoming",
            get(transfers::list_incoming),
        )
        .route(
            "/internal/Transfers/incoming/{id}/assign",
            put(transfers::assign_incoming),
        )
        .route(
            "/internal/Transfers/outgoing/{id}/continue",
            post(transfers::continue_outgoing),
        )
        .route(
            "/internal/Transfers/outgoing/{id}/suspend",
            post(transfers::suspend_outgoing),
        )
        .route(
            "/internal/IncomingRequests",
            post(transfers::incoming_request),
        )
        .route(
            "/internal/IncomingRequests/completed",
            post(transfers::provider_completed),
        )
        .route(
            "/internal/IncomingRequests/rejected",
            post(transfers::provider_rejected),
        )
        .route(
            "/internal/IncomingRequests/failed",
            post(transfers::provider_failed),
        )
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi_json))
        .route("/docs", get(health::docs))
        // Innermost first: read-your-writes waits only for authenticated callers, and the
        // metrics see every answer of a known route, refusals included.
        .route_layer(middleware::from_fn_with_state(state.clone(), min_position))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    api.layer(CatchPanicLayer::custom(|_| {
        ApiError::Internal("the request handler panicked".into()).into_response()
    }))
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(
        TraceLayer::new_for_http()
            // One line per answer (status, latency) inside the request's span, so it carries
            // the request id: at DEBUG, since a line written per request costs more than the
            // request itself at load (`RUST_LOG=folio=info,tower_http=debug` shows them).
            // Failures (5xx) are logged at ERROR by the layer's default.
            .on_response(DefaultOnResponse::new().level(Level::DEBUG))
            .make_span_with(|request: &Request| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request_id,
                )
            }),
    )
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The document routes: a client's (system), and a transfer's under `/internal/Transfers`
/// (system) and `/Transfers` (its client). Uploads take bodies beyond the 64 KiB of JSON
/// routes: the handler enforces `--max-document-bytes` per file as the bytes arrive.
fn document_routes() -> Router<AppState> {
    let upload = |handler: MethodRouter<AppState>| handler.layer(DefaultBodyLimit::disable());
    let mut routes = Router::new()
        .route(
            "/internal/Clients/{clientId}/Documents",
            get(documents::list_client_documents),
        )
        .route(
            "/internal/Clients/{clientId}/Documents/upload",
            upload(post(documents::upload_client_document)),
        )
        .route(
            "/internal/Clients/{clientId}/Documents/upload/bulk",
            upload(post(documents::upload_client_documents)),
        )
        .route(
            "/internal/Clients/{clientId}/Documents/{documentId}",
            get(documents::get_client_document).delete(documents::delete_client_document),
        )
        .route(
            "/internal/Clients/{clientId}/Documents/{documentId}/download",
            get(documents::download_client_document),
        );
    for prefix in ["/internal/Transfers", "/Transfers"] {
        routes = routes
            .route(
                &format!("{prefix}/{{id}}/Documents"),
                get(documents::list_transfer_documents),
            )
            .route(
                &format!("{prefix}/{{id}}/Documents/upload"),
                upload(post(documents::upload_transfer_document)),
            )
            .route(
                &format!("{prefix}/{{id}}/Documents/upload/bulk"),
                upload(post(documents::upload_transfer_documents)),
            )
            .route(
                &format!("{prefix}/{{id}}/Documents/{{documentId}}"),
                get(documents::get_transfer_document).delete(documents::delete_transfer_document),
            )
            .route(
                &format!("{prefix}/{{id}}/Documents/{{documentId}}/download"),
                get(documents::download_transfer_document),
            );
    }
    routes
}

/// Counts and times every answer by route template.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // MatchedPath is an Arc<str>: cloning it allocates nothing.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    state.metrics.record(
        &method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Resolves the bearer key to a caller and applies the role's route rules. With no keys
/// configured every caller is the system (the server then listens on loopback only).
async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = request.uri().path().to_string();
    let role = if state.keys.is_empty() {
        Role::System
    } else if is_public_route(&path) {
        Role::Auditor
    } else {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::Unauthorized("an Authorization: Bearer <key> header is required".into())
            })?
            .to_str()
            .ok()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be Bearer <key>".into())
            })?;
        state
            .keys
            .role_of(presented)
            .ok_or_else(|| ApiError::Unauthorized("the API key is not valid".into()))?
    };
    if !is_public_route(&path) {
        authorize(role, request.method(), &path)?;
    }
    request.extensions_mut().insert(Caller { role });
    Ok(next.run(request).await)
}

/// `X-Folio-Min-Position: N`: waits until the read models include position N.
async fn min_position(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(value) = request.headers().get(MIN_POSITION_HEADER) {
        let position: u64 = value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| {
                ApiError::validation(
                    "X-Folio-Min-Position",
                    "X-Folio-Min-Position must be a non-negative integer (a log position)",
                )
            })?;
        state
            .projector
            .wait_for(position, READ_YOUR_WRITES_TIMEOUT)
            .await?;
    }
    Ok(next.run(request).await)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route {} {}",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed {
        method: request.method().to_string(),
    }
}
