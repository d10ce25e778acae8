//! Time-series answers, with keys in alphabetical order as ENTS's `jsonify` writes them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/power/{cell}`: mV, µA, µW.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PowerSeries {
    /// Current, µA.
    pub i: Vec<Option<f64>>,
    /// Power, µW.
    pub p: Vec<Option<f64>>,
    /// RFC 1123 times.
    pub timestamp: Vec<String>,
    /// Voltage, mV.
    pub v: Vec<Option<f64>>,
}

/// `GET /api/teros/{cell}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TerosSeries {
    /// Electrical conductivity, µS/cm.
    pub ec: Vec<Option<i64>>,
    /// Raw VWC counts.
    pub raw_vwc: Vec<Option<f64>>,
    /// Always `raw`.
    pub raw_vwc_unit: Cow<'static, str>,
    /// Temperature, °C.
    pub temp: Vec<Option<f64>>,
    /// RFC 1123 times.
    pub timestamp: Vec<String>,
    /// Volumetric water content, %.
    pub vwc: Vec<Option<f64>>,
    /// Always `%`.
    pub vwc_unit: Cow<'static, str>,
}

impl Default for TerosSeries {
    fn default() -> Self {
        Self {
            ec: Vec::new(),
            raw_vwc: Vec::new(),
            raw_vwc_unit: "raw".into(),
            temp: Vec::new(),
            timestamp: Vec::new(),
            vwc: Vec::new(),
            vwc_unit: "%".into(),
        }
    }
}

/// `GET /api/sensor/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SensorSeriesResponse {
    /// Values (numbers; integers for raw reads of integer series).
    #[schema(value_type = Vec<Option<f64>>)]
    pub data: Vec<serde_json::Value>,
    /// The quantity, or "" when the series does not exist.
    pub measurement: String,
    /// RFC 1123 times.
    pub timestamp: Vec<String>,
    /// `float` or `int`, or "".
    #[serde(rename = "type")]
    pub data_type: String,
    /// The unit, or "".
    pub unit: String,
}

/// ENTS's legacy `POST /api/power/`: a power reading addressed by logger and cell names.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, validator::Validate, ToSchema)]
pub struct LegacyPowerInsert {
    /// Logger name (must exist).
    #[validate(length(min = 1, max = 255))]
    pub logger: String,
    /// Cell name (must exist).
    #[validate(length(min = 1, max = 255))]
    pub cell: String,
    /// Device time, Unix seconds.
    pub ts: f64,
    /// Volts.
    pub v: f64,
    /// Amps.
    pub i: f64,
    /// Ignored (ENTS accepted it).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// The stored power row, echoed with keys sorted as ENTS's `jsonify` wrote them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LegacyPowerRow {
    /// Amps.
    pub current: Option<f64>,
    /// Row id.
    pub id: i64,
    /// Device time, ISO 8601 naive UTC.
    pub ts: String,
    /// Insert time, ISO 8601 naive UTC.
    pub ts_server: String,
    /// Volts.
    pub voltage: Option<f64>,
}

/// ENTS's legacy `POST /api/teros/`: a TEROS reading addressed by cell name.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, validator::Validate, ToSchema)]
pub struct LegacyTerosInsert {
    /// Cell name (must exist).
    #[validate(length(min = 1, max = 255))]
    pub cell: String,
    /// Device time, Unix seconds.
    pub ts: f64,
    /// Calibrated VWC.
    pub vwc: f64,
    /// Raw counts.
    pub raw_vwc: f64,
    /// °C.
    pub temp: f64,
    /// µS/cm (rounded to an integer).
    pub ec: f64,
    /// kPa.
    pub water_pot: Option<f64>,
    /// Ignored (ENTS accepted it).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// The stored TEROS row, keys sorted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LegacyTerosRow {
    /// µS/cm.
    pub ec: Option<i32>,
    /// Row id.
    pub id: i64,
    /// Raw counts.
    pub raw_vwc: Option<f64>,
    /// °C.
    pub temp: Option<f64>,
    /// Device time, ISO 8601 naive UTC.
    pub ts: String,
    /// Insert time, ISO 8601 naive UTC.
    pub ts_server: String,
    /// Calibrated VWC as stored.
    pub vwc: Option<f64>,
    /// kPa.
    pub water_pot: Option<f64>,
}
