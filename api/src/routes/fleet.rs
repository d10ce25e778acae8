//! Device health: one logger's, or the caller's whole fleet by state.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use loam_schemas::errors::ErrorResponse;
use loam_schemas::fleet::{FleetHealth, LoggerHealth};

use crate::access::{self, OwnKey};
use crate::caller::{Caller, Person};
use crate::error::ApiError;
use crate::extract::Ids;
use crate::fleet::FleetFilter;
use crate::state::AppState;

/// How one logger is doing: last seen, usual interval, silence, battery, quota and firmware
/// (its owner, or its own device key).
#[utoipa::path(get, path = "/api/logger/{logger_id}/health", tag = "field",
    params(("logger_id" = u32, Path, description = "Logger id")),
    responses(
        (status = 200, description = "The logger's health", body = LoggerHealth),
        (status = 404, description = "No such logger, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn logger_health(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<LoggerHealth>, ApiError> {
    let logger = access::logger(&state.gate(), &caller, id, OwnKey::Yes).await?;
    let now = loam_db::now();
    let facts = state
        .db()
        .run(move |c| loam_db::health::of_logger(c, logger, now))
        .await?;
    Ok(Json(crate::fleet::logger_health(&facts, now)))
}

/// The caller's loggers (an administrator's: every logger) by health, quietest first; `state`
/// keeps one state, `cell_id` the loggers whose recent uploads went to that cell.
#[utoipa::path(get, path = "/api/health/loggers", tag = "field",
    params(
        ("cell_id" = Option<u32>, Query, description = "Only loggers that recently uploaded into this cell"),
        ("state" = Option<String>, Query, description = "ok, late, silent or never_seen"),
    ),
    responses(
        (status = 200, description = "The fleet's health", body = FleetHealth),
        (status = 400, description = "An unknown state or a cell id that is not a number", body = ErrorResponse),
    ))]
pub(crate) async fn fleet_health(
    State(state): State<AppState>,
    person: Person,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<FleetHealth>, ApiError> {
    let filter = FleetFilter {
        cell_id: match params.get("cell_id").map(|v| v.trim()) {
            None | Some("") => None,
            Some(v) => Some(v.parse::<i32>().ok().filter(|c| *c > 0).ok_or_else(|| {
                ApiError::bad_request("bad_parameter", "cell_id is a positive whole number")
            })?),
        },
        state: match params.get("state").map(|v| v.trim()) {
            None | Some("") => None,
            Some(v) => Some(loam_watch::device::State::parse(v).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_parameter",
                    "state is one of ok, late, silent, never_seen",
                )
            })?),
        },
    };
    let owner = (!person.is_admin).then(|| person.user_id.clone());
    let now = loam_db::now();
    let facts = state
        .db()
        .run(move |c| loam_db::health::fleet(c, owner.as_deref(), now))
        .await?;
    Ok(Json(crate::fleet::fleet_health(&facts, filter, now)))
}
