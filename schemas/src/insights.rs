//! The dashboard helpers' answers.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/data-availability/`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Availability {
    /// Latest device time (ISO, naive UTC) or null.
    pub latest_timestamp: Option<String>,
    /// Earliest device time (ISO, naive UTC) or null.
    pub earliest_timestamp: Option<String>,
    /// Whether the latest is within the last 14 days.
    pub has_recent_data: bool,
    /// `success` or `No data found for specified cells`.
    pub message: Cow<'static, str>,
}

/// One chartable panel.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CatalogEntry {
    /// `power-vi`, `power-p`, `teros`, `temp` or `s:<sensor id>`.
    pub panel_id: String,
    /// Title.
    pub label: String,
    /// Subtitle.
    pub description: String,
    /// `power`, `teros` or `generic`.
    pub category: String,
    /// `builtin` or `sensor`.
    pub kind: String,
    /// Sensor panels: the series id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensor_id: Option<i32>,
    /// Sensor panels: the series kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensor_name: Option<String>,
    /// Sensor panels: the quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement: Option<String>,
    /// Sensor panels: the unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// `GET /api/catalog/sensors`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Catalog {
    /// The cell asked about.
    pub cell_id: u32,
    /// Its panels.
    pub entries: Vec<CatalogEntry>,
}

/// A valid expression.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EquationValid {
    /// Always true.
    pub ok: bool,
    /// Sorted unique references as written.
    pub refs: Vec<String>,
    /// The trimmed expression.
    pub expression: String,
}
