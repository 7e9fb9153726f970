//! Probes, metrics and the API's description: `/health/live`, `/health/ready`, `/metrics`,
//! `/openapi.json` and `/docs`.

use crate::answer::Answer;
use crate::envelope::Envelope;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use folio_projections::FoldScope;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveDto {
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadyDto {
    pub status: String,
    pub log_position: u64,
    pub balances_lag: u64,
    pub ledger_lag: u64,
    pub max_lag: u64,
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "Health",
    responses((status = 200, description = "Alive", body = Envelope<LiveDto>)))]
pub async fn live() -> Answer<LiveDto> {
    Answer::read(LiveDto {
        status: "live".into(),
    })
}

/// The log answers and every read model is within the lag bound.
#[utoipa::path(get, path = "/health/ready", tag = "Health",
    responses((status = 200, description = "Ready", body = Envelope<ReadyDto>),
        (status = 503, description = "The log is unreachable or the read models lag", body = Envelope<Object>)))]
pub async fn ready(State(state): State<AppState>) -> Result<Answer<ReadyDto>, ApiError> {
    let head =
        state.log.head().await.map_err(|error| {
            ApiError::Unavailable(format!("the event log is unreachable: {error}"))
        })?;
    let balances_lag = state.projector.lag(FoldScope::Balances);
    let ledger_lag = state.projector.lag(FoldScope::Ledger);
    if balances_lag.max(ledger_lag) > state.ready_max_lag {
        return Err(ApiError::Unavailable(format!(
            "the read models lag the log: balances {balances_lag}, ledger {ledger_lag} events \
             (bound {})",
            state.ready_max_lag
        )));
    }
    Ok(Answer::read(ReadyDto {
        status: "ready".into(),
        log_position: head.position,
        balances_lag,
        ledger_lag,
        max_lag: state.ready_max_lag,
    }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "Health",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(state.engine.stats(), &state.projector);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// This API's OpenAPI 3.1 description.
pub async fn openapi_json() -> impl IntoResponse {
    Json(crate::openapi::document())
}

/// A page that renders `/openapi.json`: every route, its parameters, bodies and answers.
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
