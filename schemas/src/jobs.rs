//! Job records as the API shows them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How far a job got.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// Units done.
    pub done: i64,
    /// Units in all (0 while unknown).
    pub total: i64,
}

/// A long-running job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobResponse {
    /// Job id (ULID).
    pub id: String,
    /// What it does, e.g. `export_cells`.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// How far it got.
    pub progress: Progress,
    /// Times a runner started it.
    pub attempts: i32,
    /// Why it failed.
    pub error: Option<String>,
    /// What came out (e.g. `{"download": "/api/jobs/<id>/artifact"}`).
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// The request that created it.
    pub request_id: Option<String>,
    /// RFC 3339 times.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// When the last attempt started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
}

/// ENTS's `{"result_id": …}` answer to `GET /api/cell/datas`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResultId {
    /// The job id to poll with `/api/status/{id}`.
    pub result_id: String,
}

/// ENTS's `GET /api/status/{id}` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskStatus {
    /// `PENDING`, `SUCCESS` or `FAILURE`.
    pub state: Cow<'static, str>,
    /// `Pending...`, the CSV text, or the error.
    pub status: String,
}

/// A series family to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportSeries {
    /// Power: `power.csv`.
    Power,
    /// TEROS-12: `teros.csv`.
    Teros,
    /// Every generic sensor series: `<name>.<measurement>.csv`.
    Sensors,
}

/// Bucket width of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportResample {
    /// Raw rows.
    None,
    /// Hourly averages.
    Hour,
    /// Daily averages.
    Day,
}

/// `POST /api/exports`: a ZIP with one CSV per cell and series.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, validator::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Cells to export (1 to 100).
    #[validate(length(min = 1, max = 100))]
    pub cell_ids: Vec<u32>,
    /// First time included (RFC 3339).
    pub start: chrono::DateTime<chrono::Utc>,
    /// Last time included (RFC 3339).
    pub end: chrono::DateTime<chrono::Utc>,
    /// `none` (default), `hour` or `day`.
    #[serde(default = "raw")]
    pub resample: ExportResample,
    /// Which series (default: all).
    #[serde(default)]
    pub series: Vec<ExportSeries>,
}

fn raw() -> ExportResample {
    ExportResample::None
}

/// `POST /api/logger/{id}/ttn`: LoRaWAN credentials for registration (never stored).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, validator::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TtnRegistration {
    /// Device EUI, 16 hex digits (other characters are ignored).
    #[validate(length(min = 16, max = 64))]
    pub dev_eui: String,
    /// Join EUI, 16 hex digits.
    #[validate(length(min = 16, max = 64))]
    pub join_eui: String,
    /// AppKey, 32 hex digits.
    #[validate(length(min = 32, max = 128))]
    pub app_key: String,
}
