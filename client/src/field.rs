//! Field operations: device health of one logger or the whole fleet.

use loam_schemas::fleet::{FleetHealth, LoggerHealth};
use serde::Serialize;

operations! {
    /// How one logger is doing (its owner, or its own device key).
    GET "/api/logger/{logger_id}/health" => fn logger_health(logger_id: i32) -> json LoggerHealth;
    /// The caller's loggers by health, quietest first.
    GET "/api/health/loggers" => fn fleet_health(; query filter: FleetFilter) -> json FleetHealth;
}

/// Filter for [`Client::fleet_health`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetFilter {
    /// Only loggers whose recent uploads went to this cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_id: Option<i32>,
    /// Only loggers in this state: `ok`, `late`, `silent` or `never_seen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}
