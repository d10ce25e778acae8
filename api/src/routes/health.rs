//! Liveness, readiness and the ENTS health check.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use loam_schemas::errors::ErrorResponse;
use loam_schemas::health::{ENTS_HEALTH_BODY, EntsHealth, Liveness, Readiness};

use crate::error::ApiError;

use crate::state::AppState;

/// ENTS's health check, byte for byte (its own tests compare the bytes).
#[utoipa::path(get, path = "/api/", tag = "health",
    responses((status = 200, description = "Alive", body = EntsHealth)))]
pub(crate) async fn ents_health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ENTS_HEALTH_BODY,
    )
}

/// Process liveness for orchestrators: answers as long as the server loop runs.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive", body = Liveness)))]
pub(crate) async fn healthz() -> Json<Liveness> {
    Json(Liveness {
        status: "ok".into(),
    })
}

/// Readiness: the database (and Redis, when configured) answer now; 503 names what is down.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Every dependency answered", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let body = loam_telemetry::probes::readiness(state.db(), state.redis(), state.config()).await;
    let status = if body.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus metrics in the text format (0.0.4): requests, uploads, commits, jobs, the
/// database pool, Redis. The README lists the names. With `LOAM_METRICS_LISTEN` set they are
/// served only there, and this answers 404.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain", body = String),
        (status = 404, description = "Served on LOAM_METRICS_LISTEN instead", body = ErrorResponse),
    ))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if state.config().metrics_listen.is_some() {
        return Err(ApiError::NotFound(
            "metrics are served on LOAM_METRICS_LISTEN".into(),
        ));
    }
    Ok(metrics_answer(&state).await)
}

/// The metrics answer itself (also served on `LOAM_METRICS_LISTEN`).
pub(crate) async fn metrics_answer(state: &AppState) -> impl IntoResponse + use<> {
    let text = loam_telemetry::probes::metrics(state.db(), state.redis()).await;
    ([(header::CONTENT_TYPE, loam_metrics::CONTENT_TYPE)], text)
}
