//! Alert rules on a person's loggers and cells, the events they raise and the delivery log of
//! their webhooks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// Which side of the bound breaches a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSide {
    /// Values strictly below the bound.
    Below,
    /// Values strictly above the bound.
    Above,
}

/// What a rule watches for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCondition {
    /// The rule's logger uploads nothing for `minutes`, or for `factor` times its usual interval
    /// (at least one of them; either that holds fires).
    Silence {
        /// Minutes of silence (1 to 525600).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
        /// Multiples of the logger's learned interval (1 to 1000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        factor: Option<f64>,
    },
    /// A series of the rule's cell stays below/above `bound` for `for_minutes`. `series` is
    /// `power.voltage`, `power.current`, `teros.vwc`, `teros.raw_vwc`, `teros.temp`, `teros.ec`,
    /// `teros.water_pot`, or `sensor/<name>/<measurement>` for a generic sensor, in stored units
    /// (volts, amperes, VWC as a fraction: 10 % is 0.10).
    Threshold {
        /// The watched series.
        series: String,
        /// Which side breaches.
        side: ThresholdSide,
        /// The bound.
        bound: f64,
        /// Minutes the breach must last (0 to 10080).
        for_minutes: u32,
    },
}

impl AlertCondition {
    /// `silence` or `threshold`.
    pub fn kind(&self) -> &'static str {
        match self {
            AlertCondition::Silence { .. } => "silence",
            AlertCondition::Threshold { .. } => "threshold",
        }
    }
}

fn condition_in_range(condition: &AlertCondition) -> Result<(), ValidationError> {
    let problem = |why: &'static str| Err(ValidationError::new("range").with_message(why.into()));
    match condition {
        AlertCondition::Silence { minutes, factor } => {
            if minutes.is_none() && factor.is_none() {
                return problem("a silence rule needs minutes or factor");
            }
            if minutes.is_some_and(|m| !(1..=525_600).contains(&m)) {
                return problem("minutes is between 1 and 525600");
            }
            if factor.is_some_and(|k| !(1.0..=1000.0).contains(&k)) {
                return problem("factor is between 1 and 1000");
            }
        }
        AlertCondition::Threshold {
            series,
            bound,
            for_minutes,
            ..
        } => {
            if !bound.is_finite() {
                return problem("bound is a finite number");
            }
            if *for_minutes > 10_080 {
                return problem("for_minutes is at most 10080 (a week)");
            }
            if series.is_empty() || series.len() > 200 {
                return problem("series names a series, e.g. power.voltage");
            }
        }
    }
    Ok(())
}

fn http_url(url: &str) -> Result<(), ValidationError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "http://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("url").with_message("an http:// or https:// URL".into()))
    }
}

/// `POST /api/alerts`: a new rule. A silence rule names a logger; a threshold rule a cell.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlertRule {
    /// A name people recognise in a notification.
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    /// The logger a silence rule watches.
    pub logger_id: Option<i32>,
    /// The cell a threshold rule watches.
    pub cell_id: Option<i32>,
    /// The condition.
    #[validate(custom(function = "condition_in_range"))]
    pub condition: AlertCondition,
    /// While it keeps firing, notify again this often (minutes, 1 to 10080); absent: once.
    #[validate(range(min = 1, max = 10_080))]
    pub repeat_minutes: Option<u32>,
    /// Notify when it resolves too (default true).
    pub notify_recovery: Option<bool>,
    /// Where to POST its events (signed, see the README); absent: events and live only.
    #[validate(length(max = 2000), custom(function = "http_url"))]
    pub webhook_url: Option<String>,
    /// Evaluated or not (default true).
    pub enabled: Option<bool>,
}

/// Reads a field that may be absent (`None`) or a value, but not `null` (it clears nothing).
fn absent_or<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Reads a field that may be absent (outer `None`), `null` (`Some(None)`) or a value.
fn absent_null_or<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn update_in_range(update: &UpdateAlertRule) -> Result<(), ValidationError> {
    if let Some(Some(m)) = update.repeat_minutes
        && !(1..=10_080).contains(&m)
    {
        return Err(ValidationError::new("range")
            .with_message("repeat_minutes is between 1 and 10080".into()));
    }
    if let Some(Some(url)) = &update.webhook_url {
        if url.len() > 2000 {
            return Err(ValidationError::new("length")
                .with_message("webhook_url is at most 2000 characters".into()));
        }
        http_url(url)?;
    }
    Ok(())
}

/// `PATCH /api/alerts/{id}`: what may change (absent: unchanged; `null` clears).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "update_in_range"))]
pub struct UpdateAlertRule {
    /// New name.
    #[validate(length(min = 1, max = 200))]
    #[serde(
        default,
        deserialize_with = "absent_or",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Enable or disable (disabling also ends a firing: the rule shows `ok`).
    #[serde(
        default,
        deserialize_with = "absent_or",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
    /// New repeat interval in minutes (1 to 10080); `null` notifies once.
    #[serde(
        default,
        deserialize_with = "absent_null_or",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>)]
    pub repeat_minutes: Option<Option<u32>>,
    /// Notify resolving.
    #[serde(
        default,
        deserialize_with = "absent_or",
        skip_serializing_if = "Option::is_none"
    )]
    pub notify_recovery: Option<bool>,
    /// New webhook; `null` removes it.
    #[serde(
        default,
        deserialize_with = "absent_null_or",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
}

/// A rule as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertRuleResponse {
    /// Id.
    pub id: i32,
    /// Name.
    pub name: String,
    /// Watched logger.
    pub logger_id: Option<i32>,
    /// Watched cell.
    pub cell_id: Option<i32>,
    /// Condition.
    pub condition: AlertCondition,
    /// Repeat interval in minutes.
    pub repeat_minutes: Option<i32>,
    /// Whether resolving is notified.
    pub notify_recovery: bool,
    /// Webhook.
    pub webhook_url: Option<String>,
    /// The key of the webhook signature (`Loam-Signature`), the owner's to verify with.
    pub secret: String,
    /// Evaluated or not.
    pub enabled: bool,
    /// `firing` or `ok`.
    pub state: String,
    /// When the current firing began (RFC 3339).
    pub firing_since: Option<String>,
    /// When it last notified (RFC 3339).
    pub last_notified_at: Option<String>,
    /// Creation (RFC 3339).
    pub created_at: String,
}

/// An event a rule raised; also the webhook body's `event` and the live `alert` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertEventResponse {
    /// Id (increasing).
    pub id: i64,
    /// The rule.
    pub rule_id: i32,
    /// The rule's name.
    pub rule_name: String,
    /// `firing`, `repeat` or `resolved`.
    pub kind: String,
    /// When (RFC 3339).
    pub at: String,
    /// The cell concerned.
    pub cell_id: Option<i32>,
    /// The logger concerned.
    pub logger_id: Option<i32>,
    /// What happened.
    pub message: String,
    /// The deciding value: silence in seconds, or the latest reading.
    pub value: Option<f64>,
}

/// One attempt at delivering an event to a rule's webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttemptResponse {
    /// Attempt id.
    pub id: i64,
    /// The delivery (one per event).
    pub delivery_id: i64,
    /// The event carried.
    pub event_id: i64,
    /// Its kind.
    pub event_kind: String,
    /// When (RFC 3339).
    pub at: String,
    /// The receiver's HTTP status; `null` when none came (refused, timed out).
    pub status: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i32,
    /// The delivery's state now: `pending` (retrying), `delivered` or `failed`.
    pub delivery_state: String,
}
