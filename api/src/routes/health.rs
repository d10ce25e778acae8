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
    // Both probed at once, each bounded: the answer comes within the probe timeout even when a
    // dependency is frozen (accepting connections but never answering).
    let database = async {
        match tokio::time::timeout(PROBE_TIMEOUT, state.db().ping(PROBE_TIMEOUT)).await {
            Ok(Ok(())) => Probe::Ok,
            Ok(Err(err)) => Probe::Down(err.to_string()),
            Err(_) => Probe::Silent,
        }
    };
    let redis = async {
        match state.redis() {
            None => None,
            Some(client) => Some(ping_redis(client).await),
        }
    };
    let (database, redis) = tokio::join!(database, redis);
    database.log("the database");
    if let Some(redis) = &redis {
        redis.log("redis");
    }
    let healthy = database.is_ok() && redis.as_ref().is_none_or(Probe::is_ok);
    let body = Readiness {
        status: if healthy { "ok" } else { "unavailable" }.into(),
        database: database.word().into(),
        redis: redis.as_ref().map_or("not configured", Probe::word).into(),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// What a dependency's probe found; the error text goes to the log, never to the caller.
enum Probe {
    Ok,
    Down(String),
    Silent,
}

impl Probe {
    fn is_ok(&self) -> bool {
        matches!(self, Probe::Ok)
    }

    fn word(&self) -> &'static str {
        match self {
            Probe::Ok => "ok",
            Probe::Down(_) => "down",
            Probe::Silent => "not responding",
        }
    }

    fn log(&self, what: &str) {
        match self {
            Probe::Ok => {}
            Probe::Down(err) => tracing::warn!(error = %err, "readiness: {what} is down"),
            Probe::Silent => tracing::warn!(
                "readiness: {what} did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
        }
    }
}

async fn ping_redis(client: &redis::Client) -> Probe {
    let probe = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => Probe::Ok,
        Ok(Err(err)) => Probe::Down(err.to_string()),
        Err(_) => Probe::Silent,
    }
}
