//! Folio's REST front door: the routes of API.md over the engine (commands) and the read
//! models (queries), the FluentResults envelope, API keys and roles, OpenAPI, health and
//! Prometheus metrics. The `folio` binary (main.rs) wires it to a log and serves it.

pub mod answer;
pub mod app;
pub mod auth;
pub mod client_dto;
pub mod committed;
pub mod dto;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod fees;
pub mod jobs;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod otp;
pub mod rail;
pub mod rates;
pub mod routes;
pub mod state;
pub mod transfer_manager;

pub use app::router;
pub use error::ApiError;
pub use state::AppState;
