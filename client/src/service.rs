//! The service itself: health, readiness, metrics, and its own documentation.

use loam_schemas::health::{EntsHealth, Liveness, Readiness};

operations! {
    /// ENTS's health check (fixed bytes).
    GET "/api/" => fn ents_health() -> json EntsHealth;
    /// Whether the process is up.
    GET "/healthz" => fn healthz() -> json Liveness;
    /// Whether the database (and Redis, when configured) answer; 503 lists what does not.
    GET "/readyz" => fn readyz() -> json Readiness;
    /// Prometheus metrics (text format): what the server counted, for a quick look without a
    /// Prometheus.
    GET "/metrics" => fn metrics() -> text;
    /// The OpenAPI document this client is checked against.
    GET "/api/openapi.json" => fn openapi() -> json serde_json::Value;
    /// The front page (HTML): what the server is and where its documentation lives.
    GET "/" => fn home_page() -> text;
    /// The API reference page (HTML).
    GET "/api/docs" => fn docs_page() -> text;
    /// The script the reference page runs.
    GET "/api/docs/redoc.standalone.js" => fn docs_script() -> text;
}
