//! Long-running jobs: the jobs API, ENTS's export mapping (`/api/cell/datas` + `/api/status/{id}`)
//! and artifact downloads. A job is seen only by its owner (and admins); others get 404.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use loam_db::jobs::Job;
use loam_jobs::{ExportCells, Payload};
use loam_schemas::errors::ErrorResponse;
use loam_schemas::jobs::{JobResponse, Progress, ResultId, TaskStatus};
use loam_schemas::wire::rfc3339;

use crate::access::{self, Need};
use crate::error::ApiError;
use crate::extract::Ids;
use crate::identity::{Caller, Person};
use crate::middleware::RequestId;
use crate::state::AppState;

fn job_response(job: Job) -> JobResponse {
    JobResponse {
        id: job.id,
        kind: job.kind,
        state: job.state,
        progress: Progress {
            done: job.progress_done,
            total: job.progress_total,
        },
        attempts: job.attempts,
        error: job.error,
        result: job.result.and_then(|r| serde_json::from_str(&r).ok()),
        request_id: job.request_id,
        created_at: rfc3339(job.created_at),
        updated_at: rfc3339(job.updated_at),
        started_at: job.started_at.map(rfc3339),
        finished_at: job.finished_at.map(rfc3339),
    }
}

/// The job, if the caller owns it (admins: any).
async fn owned(state: &AppState, person: &Person, id: String) -> Result<Job, ApiError> {
    let job = state.db().run(move |c| loam_db::jobs::find(c, &id)).await?;
    match job {
        Some(job)
            if person.is_admin || job.owner_id.as_deref() == Some(person.user_id.as_str()) =>
        {
            Ok(job)
        }
        _ => Err(ApiError::NotFound("Job not found".into())),
    }
}

/// Starts a CSV export of cells (ENTS's old endpoint): `cellIds` (comma-separated), `resample`,
/// `startTime`, `endTime`; answers the job id to poll.
#[utoipa::path(get, path = "/api/cell/datas", tag = "jobs",
    params(
        ("cellIds" = String, Query, description = "Comma-separated cell ids"),
        ("resample" = Option<String>, Query, description = "Bucket width (default hour)"),
        ("startTime" = Option<String>, Query, description = "RFC 1123"),
        ("endTime" = Option<String>, Query, description = "RFC 1123"),
    ),
    responses(
        (status = 200, description = "The job id", body = ResultId),
        (status = 400, description = "Bad parameter", body = ErrorResponse),
        (status = 404, description = "A cell is unknown (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn start_cell_export(
    State(state): State<AppState>,
    person: Person,
    request_id: axum::Extension<RequestId>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ResultId>, ApiError> {
    let w = super::series::window(
        &params,
        &["cellIds", "resample", "startTime", "endTime", "stream"],
    )?;
    let raw = params
        .get("cellIds")
        .map(String::as_str)
        .unwrap_or_default();
    let mut cell_ids = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id: u32 = part.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_cell_ids",
                "cellIds must be comma-separated integers",
            )
        })?;
        cell_ids.push(
            access::cell(&state, &Caller::Person(person.clone()), id, Need::Read)
                .await?
                .id,
        );
    }
    if cell_ids.is_empty() {
        return Err(ApiError::bad_request(
            "missing_parameter",
            "cellIds is required",
        ));
    }
    let resample = params
        .get("resample")
        .cloned()
        .unwrap_or_else(|| "hour".to_owned());
    let payload = Payload::ExportCells(ExportCells {
        cell_ids,
        start: w.start,
        end: w.end,
        resample,
    });
    let id = loam_jobs::enqueue(
        state.db(),
        &payload,
        Some(person.user_id.clone()),
        Some(request_id.0.0.clone()),
    )
    .await?;
    Ok(Json(ResultId { result_id: id }))
}

/// ENTS's polling endpoint for an export: PENDING, then SUCCESS with the CSV text.
#[utoipa::path(get, path = "/api/status/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "`{\"state\", \"status\"}`", body = TaskStatus),
        (status = 404, description = "No such job (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn task_status(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<String>,
) -> Result<Json<TaskStatus>, ApiError> {
    let job = owned(&state, &person, id).await?;
    let status = match job.state.as_str() {
        "queued" | "running" => TaskStatus {
            state: "PENDING",
            status: "Pending...".into(),
        },
        "succeeded" => {
            let path = loam_jobs::artifact_path(&state.config().artifacts(), &job.id);
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            TaskStatus {
                state: "SUCCESS",
                status: text,
            }
        }
        other => TaskStatus {
            state: "FAILURE",
            status: job.error.unwrap_or_else(|| other.to_owned()),
        },
    };
    Ok(Json(status))
}

/// The caller's jobs, newest first.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs",
    responses(
        (status = 200, description = "Jobs", body = Vec<JobResponse>),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
    ))]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    person: Person,
) -> Result<Json<Vec<JobResponse>>, ApiError> {
    let jobs = state
        .db()
        .run(move |c| loam_db::jobs::list_for_owner(c, &person.user_id))
        .await?;
    Ok(Json(jobs.into_iter().map(job_response).collect()))
}

/// One job.
#[utoipa::path(get, path = "/api/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobResponse),
        (status = 404, description = "No such job (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<String>,
) -> Result<Json<JobResponse>, ApiError> {
    Ok(Json(job_response(owned(&state, &person, id).await?)))
}

/// Cancels a queued or running job.
#[utoipa::path(delete, path = "/api/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled", body = JobResponse),
        (status = 404, description = "No such job (or not yours)", body = ErrorResponse),
        (status = 409, description = "The job already ended", body = ErrorResponse),
    ))]
pub(crate) async fn cancel_job(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<String>,
) -> Result<Json<JobResponse>, ApiError> {
    let job = owned(&state, &person, id).await?;
    let (job_id, now) = (job.id.clone(), loam_db::now());
    if !state
        .db()
        .run(move |c| loam_db::jobs::cancel(c, &job_id, now))
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "the job already ended ({})",
            job.state
        )));
    }
    Ok(Json(job_response(owned(&state, &person, job.id).await?)))
}

/// A job's artifact (the export file), for its owner.
#[utoipa::path(get, path = "/api/jobs/{job_id}/artifact", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The file", content_type = "text/csv"),
        (status = 404, description = "No such job or artifact (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn download_artifact(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<String>,
) -> Result<Response, ApiError> {
    let job = owned(&state, &person, id).await?;
    let path = loam_jobs::artifact_path(&state.config().artifacts(), &job.id);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::NotFound("the artifact is not ready or has expired".into()))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"loam-export-{}.csv\"", job.id),
            ),
        ],
        bytes,
    )
        .into_response())
}
