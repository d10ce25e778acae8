//! Field operations: device health of one logger or the whole fleet, and alert rules with their
//! events and webhook delivery log.

use loam_schemas::alerts::{
    AlertEventResponse, AlertRuleResponse, CreateAlertRule, DeliveryAttemptResponse,
    UpdateAlertRule,
};
use loam_schemas::fleet::{FleetHealth, LoggerHealth};
use serde::Serialize;

operations! {
    /// How one logger is doing (its owner, or its own device key).
    GET "/api/logger/{logger_id}/health" => fn logger_health(logger_id: i32) -> json LoggerHealth;
    /// The caller's loggers by health, quietest first.
    GET "/api/health/loggers" => fn fleet_health(; query filter: FleetFilter) -> json FleetHealth;
    /// Creates an alert rule; the answer carries its webhook signing secret.
    POST "/api/alerts" => fn create_alert(; json rule: CreateAlertRule) -> json AlertRuleResponse;
    /// The caller's alert rules.
    GET "/api/alerts" => fn list_alerts() -> json Vec<AlertRuleResponse>;
    /// One alert rule with its state.
    GET "/api/alerts/{rule_id}" => fn alert(rule_id: i32) -> json AlertRuleResponse;
    /// Changes an alert rule.
    PATCH "/api/alerts/{rule_id}" => fn update_alert(rule_id: i32; json update: UpdateAlertRule) -> json AlertRuleResponse;
    /// Deletes an alert rule with its history.
    DELETE "/api/alerts/{rule_id}" => fn delete_alert(rule_id: i32) -> empty;
    /// What a rule raised, newest first.
    GET "/api/alerts/{rule_id}/events" => fn alert_events(rule_id: i32; query page: Limit) -> json Vec<AlertEventResponse>;
    /// Every webhook attempt of a rule, newest first.
    GET "/api/alerts/{rule_id}/deliveries" => fn alert_deliveries(rule_id: i32; query page: Limit) -> json Vec<DeliveryAttemptResponse>;
}

/// How many entries of a log to fetch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Limit {
    /// At most this many (the server's default when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
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
