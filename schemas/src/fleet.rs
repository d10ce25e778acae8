//! Device health: how each logger is doing, derived from its uploads, so a person sees which
//! buried logger needs a visit without opening every chart.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A logger's health state, judged from its silence against its usual upload interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Uploading about as often as usual.
    Ok,
    /// Quiet for more than 2 usual intervals.
    Late,
    /// Quiet for more than 6 usual intervals.
    Silent,
    /// No upload was ever recorded.
    NeverSeen,
}

/// Desired firmware (chosen by its owner) against the version the device last reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FirmwareHealth {
    /// `name/version` the logger should run, when one was chosen.
    pub desired: Option<String>,
    /// The version the device last reported in a `Loam-Firmware` upload header.
    pub reported: Option<String>,
    /// Whether the reported version is the desired one (`null` when either is unknown).
    pub up_to_date: Option<bool>,
}

/// One logger's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoggerHealth {
    /// The logger.
    pub logger_id: i32,
    /// Its name.
    pub name: String,
    /// The judged state.
    pub state: HealthState,
    /// Last accepted upload (RFC 3339, UTC), `null` when never seen.
    pub last_seen: Option<String>,
    /// Seconds since then.
    pub silence_secs: Option<i64>,
    /// The usual interval in seconds: the median time between its recent wake-ups (a
    /// wake-up's burst of uploads counts once).
    pub interval_secs: i64,
    /// False while fewer than three wake-ups are known and 15 minutes is assumed.
    pub interval_learned: bool,
    /// Uploads accepted in the last 24 hours.
    pub uploads_24h: i64,
    /// Rows they carried.
    pub rows_24h: i64,
    /// The latest power voltage it sent (a battery proxy), V.
    pub last_voltage: Option<f64>,
    /// The cell its latest upload went to.
    pub last_cell_id: Option<i32>,
    /// Upload quota slots left, when the device is enrolled.
    pub receipt_slots: Option<i64>,
    /// When those slots lapse (RFC 3339).
    pub quota_expiry: Option<String>,
    /// Desired against reported firmware.
    pub firmware: FirmwareHealth,
}

/// How many loggers are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthCounts {
    /// `ok` loggers.
    pub ok: usize,
    /// `late` loggers.
    pub late: usize,
    /// `silent` loggers.
    pub silent: usize,
    /// `never_seen` loggers.
    pub never_seen: usize,
}

/// The caller's loggers by health, the quietest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetHealth {
    /// When it was judged (RFC 3339).
    pub at: String,
    /// Counts over the loggers listed (after the filters).
    pub counts: HealthCounts,
    /// Loggers, longest silence first; never-seen loggers last.
    pub loggers: Vec<LoggerHealth>,
}
