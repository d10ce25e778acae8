//! Liveness, readiness and the ENTS health check.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use loam_schemas::health::{ENTS_HEALTH_BODY, EntsHealth, Liveness, Readiness};

use crate::state::AppState;

/// How long readiness waits for each dependency before calling it down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

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
    let database = state
        .db()
        .ping(PROBE_TIMEOUT)
        .await
        .map_err(|err| err.to_string());
    let redis = match state.redis() {
        None => Ok("not configured"),
        Some(client) => ping_redis(client).await.map(|()| "ok"),
    };
    let healthy = database.is_ok() && redis.is_ok();
    if let Err(err) = &database {
        tracing::warn!(error = %err, "readiness: the database is down");
    }
    if let Err(err) = &redis {
        tracing::warn!(error = %err, "readiness: redis is down");
    }
    let body = Readiness {
        status: if healthy { "ok" } else { "unavailable" }.into(),
        database: database.map(|()| "ok".to_owned()).unwrap_or_else(|e| e),
        redis: redis.map(str::to_owned).unwrap_or_else(|e| e),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn ping_redis(client: &redis::Client) -> Result<(), String> {
    let probe = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("no answer within 2 s".to_owned()),
    }
}
