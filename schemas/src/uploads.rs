//! What devices send through the JSON door, documented for the OpenAPI reference (the body is
//! decoded by `loam-ingest`, which refuses anything that does not fit).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/sensor_json/`: one measurement as ENTS's JSON form (reference §6.5).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"type": "power", "cellId": 1, "loggerId": 1, "ts": 1765000000,
                          "data": {"voltage": 3.3, "current": 0.01}}))]
pub struct JsonMeasurement {
    /// `power` (data: `voltage` V, `current` A), `teros12` (`vwcRaw`, `vwcAdj`, `temp`, optional
    /// `ec`), or a generic kind: `phytos31`, `bme280`, `teros21`, `sen0308`, `sen0257`,
    /// `yfs210c`, `pcap02`, `co2`, `D10` (their measurements as keys of `data`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The cell.
    #[serde(rename = "cellId")]
    pub cell_id: u32,
    /// The logger (required for power).
    #[serde(rename = "loggerId")]
    pub logger_id: Option<u32>,
    /// Device time, Unix seconds.
    pub ts: f64,
    /// The values, by name.
    pub data: BTreeMap<String, f64>,
}
