//! Alert rules as their owners manage them: checking a new rule against what the owner may
//! watch, and shaping stored rules, events and delivery attempts into wire answers.

use loam_db::alerts::{AlertRule, AttemptRecord, NewAlertRule, RuleChanges};
use loam_schemas::alerts::{
    AlertCondition, AlertRuleResponse, CreateAlertRule, DeliveryAttemptResponse, UpdateAlertRule,
};
use loam_schemas::wire::rfc3339;

use crate::access::{self, Gate, Need, OwnKey};
use crate::caller::{Caller, Person};
use crate::error::ApiError;

/// Rules one person may have: enough for every logger of a large deployment, few enough that
/// one account cannot load the evaluation.
pub(crate) const MAX_RULES_PER_PERSON: i64 = 500;

/// The wire form of a rule (for its owner: the signing secret included).
pub(crate) fn rule_response(rule: AlertRule) -> Result<AlertRuleResponse, ApiError> {
    let condition: AlertCondition = serde_json::from_str(&rule.condition).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("rule {}: stored condition: {e}", rule.id))
    })?;
    Ok(AlertRuleResponse {
        id: rule.id,
        name: rule.name,
        logger_id: rule.logger_id,
        cell_id: rule.cell_id,
        condition,
        repeat_minutes: rule.repeat_minutes,
        notify_recovery: rule.notify_recovery,
        webhook_url: rule.webhook_url,
        secret: rule.secret,
        enabled: rule.enabled,
        state: if rule.firing_since.is_some() {
            "firing"
        } else {
            "ok"
        }
        .to_owned(),
        firing_since: rule.firing_since.map(rfc3339),
        last_notified_at: rule.last_notified_at.map(rfc3339),
        created_at: rfc3339(rule.created_at),
    })
}

/// The wire form of a delivery attempt.
pub(crate) fn attempt_response(a: AttemptRecord) -> DeliveryAttemptResponse {
    DeliveryAttemptResponse {
        id: a.id,
        delivery_id: a.delivery_id,
        event_id: a.event_id,
        event_kind: a.event_kind,
        at: rfc3339(a.at),
        status: a.status,
        error: a.error,
        duration_ms: a.duration_ms,
        delivery_state: a.delivery_state,
    }
}

/// Checks a new rule against what `person` may watch and makes its record: a silence rule on
/// a logger they own, a threshold rule on a cell they may read and a series Loam knows.
pub(crate) async fn new_rule(
    gate: &Gate<'_>,
    person: &Person,
    req: CreateAlertRule,
) -> Result<NewAlertRule, ApiError> {
    let caller = Caller::Person(person.clone());
    let positive = |id: Option<i32>, field: &'static str| match id {
        Some(id) => u32::try_from(id)
            .ok()
            .filter(|id| *id > 0)
            .map(Some)
            .ok_or_else(|| ApiError::invalid(field, "a positive id")),
        None => Ok(None),
    };
    let (logger_id, cell_id) = (
        positive(req.logger_id, "logger_id")?,
        positive(req.cell_id, "cell_id")?,
    );
    match &req.condition {
        AlertCondition::Silence { .. } => {
            let Some(logger) = logger_id else {
                return Err(ApiError::invalid(
                    "logger_id",
                    "a silence rule watches a logger",
                ));
            };
            access::logger(gate, &caller, logger, OwnKey::No).await?;
            if let Some(cell) = cell_id {
                access::cell(gate, &caller, cell, Need::Read).await?;
            }
        }
        AlertCondition::Threshold { series, .. } => {
            let Some(cell) = cell_id else {
                return Err(ApiError::invalid(
                    "cell_id",
                    "a threshold rule watches a cell",
                ));
            };
            if loam_jobs::alerts::parse_series(series).is_none() {
                return Err(ApiError::invalid(
                    "condition.series",
                    "power.voltage, power.current, teros.vwc, teros.raw_vwc, teros.temp, \
                     teros.ec, teros.water_pot or sensor/<name>/<measurement>",
                ));
            }
            access::cell(gate, &caller, cell, Need::Read).await?;
            if let Some(logger) = logger_id {
                access::logger(gate, &caller, logger, OwnKey::No).await?;
            }
        }
    }
    let condition = serde_json::to_string(&req.condition)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("condition: {e}")))?;
    Ok(NewAlertRule {
        owner_id: person.user_id.clone(),
        name: req.name,
        cell_id: cell_id.and_then(|c| i32::try_from(c).ok()),
        logger_id: logger_id.and_then(|l| i32::try_from(l).ok()),
        condition,
        repeat_minutes: req.repeat_minutes.and_then(|m| i32::try_from(m).ok()),
        notify_recovery: req.notify_recovery.unwrap_or(true),
        webhook_url: req.webhook_url,
        secret: loam_auth::random_secret(),
        enabled: req.enabled.unwrap_or(true),
        evaluated_period: 0,
        created_at: loam_db::now(),
    })
}

/// The stored changes of an update.
pub(crate) fn changes(req: UpdateAlertRule) -> RuleChanges {
    RuleChanges {
        name: req.name,
        enabled: req.enabled,
        repeat_minutes: req
            .repeat_minutes
            .map(|m| m.and_then(|m| i32::try_from(m).ok())),
        notify_recovery: req.notify_recovery,
        webhook_url: req.webhook_url,
    }
}

/// The rule, if `person` owns it (administrators: any); otherwise 404, never a hint.
pub(crate) async fn owned_rule(
    gate: &Gate<'_>,
    person: &Person,
    id: u32,
) -> Result<AlertRule, ApiError> {
    let not_found = || ApiError::NotFound(format!("alert rule {id} not found"));
    let id = i32::try_from(id).map_err(|_| not_found())?;
    let rule = gate
        .db
        .run(move |c| loam_db::alerts::find_rule(c, id))
        .await?
        .ok_or_else(not_found)?;
    if person.is_admin || rule.owner_id == person.user_id {
        Ok(rule)
    } else {
        Err(not_found())
    }
}
