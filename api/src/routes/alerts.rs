//! Alert rules on the caller's loggers and cells, their events and their webhook delivery log.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use loam_schemas::alerts::{
    AlertEventResponse, AlertRuleResponse, CreateAlertRule, DeliveryAttemptResponse,
    UpdateAlertRule,
};
use loam_schemas::errors::ErrorResponse;

use crate::alerts::{attempt_response, owned_rule, rule_response};
use crate::caller::Person;
use crate::error::ApiError;
use crate::extract::{Ids, Valid, page};
use crate::state::AppState;

/// Creates a rule: silence of a logger the caller owns, or a threshold on a cell they may read.
/// The answer carries the secret its webhooks are signed with.
#[utoipa::path(post, path = "/api/alerts", tag = "field",
    request_body = CreateAlertRule,
    responses(
        (status = 201, description = "The rule", body = AlertRuleResponse),
        (status = 404, description = "The logger or cell does not exist, or is not yours", body = ErrorResponse),
        (status = 409, description = "The caller already has the most rules one person may have (500)", body = ErrorResponse),
    ))]
pub(crate) async fn create_rule(
    State(state): State<AppState>,
    person: Person,
    Valid(req): Valid<CreateAlertRule>,
) -> Result<(StatusCode, Json<AlertRuleResponse>), ApiError> {
    let rule = crate::alerts::new_rule(&state.gate(), &person, req).await?;
    let cap = crate::alerts::MAX_RULES_PER_PERSON;
    let stored = state
        .db()
        .run(move |c| loam_db::alerts::insert_rule(c, &rule, cap))
        .await?
        .map_err(|existing| {
            ApiError::Conflict(format!(
                "you have {existing} alert rules, the most one person may have; delete one first"
            ))
        })?;
    Ok((StatusCode::CREATED, Json(rule_response(stored)?)))
}

/// The caller's rules, by id.
#[utoipa::path(get, path = "/api/alerts", tag = "field",
    responses((status = 200, description = "The caller's rules", body = Vec<AlertRuleResponse>)))]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    person: Person,
) -> Result<Json<Vec<AlertRuleResponse>>, ApiError> {
    let owner = person.user_id.clone();
    let rules = state
        .db()
        .run(move |c| loam_db::alerts::list_rules(c, Some(&owner)))
        .await?;
    Ok(Json(
        rules
            .into_iter()
            .map(rule_response)
            .collect::<Result<_, _>>()?,
    ))
}

/// One rule with its state (`firing` or `ok`).
#[utoipa::path(get, path = "/api/alerts/{rule_id}", tag = "field",
    params(("rule_id" = u32, Path, description = "Rule id")),
    responses(
        (status = 200, description = "The rule", body = AlertRuleResponse),
        (status = 404, description = "No such rule, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn get_rule(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
) -> Result<Json<AlertRuleResponse>, ApiError> {
    let rule = owned_rule(&state.gate(), &person, id).await?;
    Ok(Json(rule_response(rule)?))
}

/// Renames, enables or disables a rule, or changes its repeat interval, recovery notices or
/// webhook.
#[utoipa::path(patch, path = "/api/alerts/{rule_id}", tag = "field",
    params(("rule_id" = u32, Path, description = "Rule id")),
    request_body = UpdateAlertRule,
    responses(
        (status = 200, description = "The rule as it is now", body = AlertRuleResponse),
        (status = 404, description = "No such rule, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn update_rule(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
    Valid(req): Valid<UpdateAlertRule>,
) -> Result<Json<AlertRuleResponse>, ApiError> {
    let rule = owned_rule(&state.gate(), &person, id).await?;
    let changes = crate::alerts::changes(req);
    let updated = state
        .db()
        .run(move |c| loam_db::alerts::update_rule(c, rule.id, &changes))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("alert rule {id} not found")))?;
    Ok(Json(rule_response(updated)?))
}

/// Deletes a rule with its events and delivery log.
#[utoipa::path(delete, path = "/api/alerts/{rule_id}", tag = "field",
    params(("rule_id" = u32, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
) -> Result<StatusCode, ApiError> {
    let rule = owned_rule(&state.gate(), &person, id).await?;
    state
        .db()
        .run(move |c| loam_db::alerts::delete_rule(c, rule.id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The rule's events (firing, repeat, resolved), newest first.
#[utoipa::path(get, path = "/api/alerts/{rule_id}/events", tag = "field",
    params(
        ("rule_id" = u32, Path, description = "Rule id"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 100, at most 1000)"),
    ),
    responses(
        (status = 200, description = "Events, newest first", body = Vec<AlertEventResponse>),
        (status = 400, description = "limit is not a non-negative integer", body = ErrorResponse),
        (status = 404, description = "No such rule, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn rule_events(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AlertEventResponse>>, ApiError> {
    let (limit, _) = page(&params, 100, 1000)?;
    let rule = owned_rule(&state.gate(), &person, id).await?;
    let rule_id = rule.id;
    let events = state
        .db()
        .run(move |c| loam_db::alerts::events(c, rule_id, limit))
        .await?;
    Ok(Json(
        events
            .iter()
            .map(|e| loam_jobs::alerts::event_response(e, &rule.name))
            .collect(),
    ))
}

/// The rule's webhook delivery log: every attempt with the receiver's status, newest first.
#[utoipa::path(get, path = "/api/alerts/{rule_id}/deliveries", tag = "field",
    params(
        ("rule_id" = u32, Path, description = "Rule id"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 100, at most 1000)"),
    ),
    responses(
        (status = 200, description = "Attempts, newest first", body = Vec<DeliveryAttemptResponse>),
        (status = 400, description = "limit is not a non-negative integer", body = ErrorResponse),
        (status = 404, description = "No such rule, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn rule_deliveries(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<DeliveryAttemptResponse>>, ApiError> {
    let (limit, _) = page(&params, 100, 1000)?;
    let rule = owned_rule(&state.gate(), &person, id).await?;
    let rule_id = rule.id;
    let attempts = state
        .db()
        .run(move |c| loam_db::alerts::attempts(c, rule_id, limit))
        .await?;
    Ok(Json(attempts.into_iter().map(attempt_response).collect()))
}
