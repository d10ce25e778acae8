//! Time-series answers, with keys in alphabetical order as ENTS's `jsonify` writes them.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/power/{cell}`: mV, µA, µW.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TerosSeries {
    /// Electrical conductivity, µS/cm.
    pub ec: Vec<Option<i64>>,
    /// Raw VWC counts.
    pub raw_vwc: Vec<Option<f64>>,
    /// Always `raw`.
    pub raw_vwc_unit: &'static str,
    /// Temperature, °C.
    pub temp: Vec<Option<f64>>,
    /// RFC 1123 times.
    pub timestamp: Vec<String>,
    /// Volumetric water content, %.
    pub vwc: Vec<Option<f64>>,
    /// Always `%`.
    pub vwc_unit: &'static str,
}

impl Default for TerosSeries {
    fn default() -> Self {
        Self {
            ec: Vec::new(),
            raw_vwc: Vec::new(),
            raw_vwc_unit: "raw",
            temp: Vec::new(),
            timestamp: Vec::new(),
            vwc: Vec::new(),
            vwc_unit: "%",
        }
    }
}

/// `GET /api/sensor/`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
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
