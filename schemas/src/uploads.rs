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

/// The device a ChirpStack v4 event names (`deviceInfo`); informational, never trusted for
/// rights (the key decides who may write as which logger).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChirpstackDeviceInfo {
    /// Device EUI (16 hex digits).
    pub dev_eui: Option<String>,
    /// The device's name in ChirpStack.
    pub device_name: Option<String>,
    /// ChirpStack application id (UUID).
    pub application_id: Option<String>,
}

/// `POST /api/chirpstack?event=up`: ChirpStack v4's uplink event (HTTP integration, JSON
/// marshaler). Only `fPort` and `data` decide what is stored; other fields are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
    "time": "2026-01-13T18:00:05Z",
    "deviceInfo": {"devEui": "0101010101010101", "deviceName": "field-7",
                   "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97"},
    "fPort": 1, "data": "CAES...", "rxInfo": []}))]
pub struct ChirpstackUplink {
    /// ChirpStack's id of the deduplicated uplink (UUID).
    pub deduplication_id: Option<String>,
    /// When the uplink was received (RFC 3339); rows carry the device's own time.
    pub time: Option<String>,
    /// The device.
    pub device_info: Option<ChirpstackDeviceInfo>,
    /// LoRaWAN port: 1 legacy `Measurement`, 2 generic `RepeatedSensorMeasurements`, 202 time
    /// sync (acknowledged, nothing stored). Absent on an empty frame (nothing stored).
    pub f_port: Option<u32>,
    /// The frame payload, base64.
    pub data: Option<String>,
    /// Gateway reception metadata (ignored).
    #[schema(value_type = Option<Vec<Object>>)]
    pub rx_info: Option<Vec<serde_json::Value>>,
}

/// What the ChirpStack door did with an event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "stored", "event": "up"}))]
pub struct ChirpstackAnswer {
    /// `stored` (the rows are committed; a retried event stores nothing new) or `ignored`
    /// (another event type, a time sync or an empty frame: nothing to store).
    pub status: String,
    /// The event type the request named.
    pub event: String,
    /// Why nothing was stored, when ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
