//! Job records as the API shows them.

use serde::Serialize;
use utoipa::ToSchema;

/// How far a job got.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Progress {
    /// Units done.
    pub done: i64,
    /// Units in all (0 while unknown).
    pub total: i64,
}

/// A long-running job.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResultId {
    /// The job id to poll with `/api/status/{id}`.
    pub result_id: String,
}

/// ENTS's `GET /api/status/{id}` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskStatus {
    /// `PENDING`, `SUCCESS` or `FAILURE`.
    pub state: &'static str,
    /// `Pending...`, the CSV text, or the error.
    pub status: String,
}
