//! Long-running jobs: the jobs API, ENTS's export mapping (`/api/cell/datas` + `/api/status/{id}`)
//! and artifact downloads. A job is seen only by its owner (and admins); others get 404.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use loam_db::jobs::Job;
use loam_jobs::export::Series;
use loam_jobs::{ExportCells, ExportZip, ImportCsv, NewJob, Payload};
use loam_schemas::errors::ErrorResponse;
use loam_schemas::jobs::{
    ExportRequest, ExportResample, ExportSeries, JobResponse, Progress, ResultId, TaskStatus,
};
use loam_schemas::wire::rfc3339;

use crate::access::{self, Need};
use crate::caller::{Caller, Person};
use crate::error::ApiError;
use crate::extract::{Ids, Valid};
use crate::middleware::RequestId;
use crate::state::AppState;

pub(crate) fn job_response(job: Job) -> JobResponse {
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
        Some(job) if access::owns(&Caller::Person(person.clone()), job.owner_id.as_deref()) => {
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
    let w = crate::extract::series_window(
        &params,
        &["cellIds", "resample", "startTime", "endTime", "stream"],
        None,
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
            access::cell(
                &state.gate(),
                &Caller::Person(person.clone()),
                id,
                Need::Read,
            )
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
    let job = submit_for(&state, &person, &request_id.0, payload).await?;
    let id = job.id;
    Ok(Json(ResultId { result_id: id }))
}

/// ENTS's polling endpoint for an export: PENDING, then SUCCESS with the CSV text. It knows only
/// the CSV exports `/api/cell/datas` starts; other jobs are followed at `/api/jobs/{id}`.
#[utoipa::path(get, path = "/api/status/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "`{\"state\", \"status\"}`", body = TaskStatus),
        (status = 404, description = "No such CSV export job (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn task_status(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<String>,
) -> Result<Json<TaskStatus>, ApiError> {
    let job = owned(&state, &person, id).await?;
    if job.kind != "export_cells" {
        return Err(ApiError::NotFound(
            "not a CSV export from /api/cell/datas; follow this job at /api/jobs/{id}".into(),
        ));
    }
    let status = match job.state.as_str() {
        "queued" | "running" => TaskStatus {
            state: "PENDING".into(),
            status: "Pending...".into(),
        },
        "succeeded" => {
            let path = artifact_file(&state, &job.id).await?;
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            TaskStatus {
                state: "SUCCESS".into(),
                status: text,
            }
        }
        other => TaskStatus {
            state: "FAILURE".into(),
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
        (status = 200, description = "The file: CSV for an ENTS export (`/api/cell/datas`), ZIP for the others", content(("text/csv"), ("application/zip"))),
        (status = 404, description = "No such job or artifact (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn download_artifact(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<String>,
) -> Result<Response, ApiError> {
    let job = owned(&state, &person, id).await?;
    let path = artifact_file(&state, &job.id).await?;
    serve_file(&path, &download_name(&job)).await
}

/// The file of a job's artifact, or 404 when there is none (not built yet, or expired).
async fn artifact_file(state: &AppState, job_id: &str) -> Result<std::path::PathBuf, ApiError> {
    let id = job_id.to_owned();
    let name = state
        .db()
        .run(move |c| loam_db::jobs::artifact(c, &id))
        .await?
        .ok_or_else(|| ApiError::NotFound("the artifact is not ready or has expired".into()))?;
    Ok(state.job_settings().artifact_path(&name))
}

/// The name a download is saved under.
fn download_name(job: &Job) -> String {
    let result = loam_jobs::result_of(job);
    let from_result = result["file_name"].as_str().map(str::to_owned);
    from_result.unwrap_or_else(|| match job.kind.as_str() {
        "export_cells" => format!("loam-export-{}.csv", job.id),
        _ => format!("loam-export-{}.zip", job.id),
    })
}

/// Streams a file (an artifact) with its content type and download name.
pub(crate) async fn serve_file(path: &std::path::Path, name: &str) -> Result<Response, ApiError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|_| ApiError::NotFound("the artifact is not ready or has expired".into()))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .len();
    let kind = if name.ends_with(".zip") {
        "application/zip"
    } else {
        "text/csv; charset=utf-8"
    };
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Queues a person's job, tagged with the request that asked for it.
pub(crate) async fn submit_for(
    state: &AppState,
    person: &Person,
    request_id: &RequestId,
    payload: Payload,
) -> Result<Job, loam_jobs::QueueError> {
    let job = NewJob {
        payload,
        owner: Some(person.user_id.clone()),
        request_id: Some(request_id.0.clone()),
        reuse: false,
    };
    state.jobs().submit(state.db(), job).await
}

/// `202 Accepted` with the job and where to follow it (the job itself unless `location` says).
pub(crate) fn accepted(job: Job, location: Option<String>) -> Response {
    let location = location.unwrap_or_else(|| format!("/api/jobs/{}", job.id));
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job_response(job)),
    )
        .into_response()
}

/// Starts a ZIP export (one CSV per cell and series; format in the README): 202 with the job.
#[utoipa::path(post, path = "/api/exports", tag = "jobs",
    request_body = ExportRequest,
    responses(
        (status = 202, description = "The export job; follow `Location`", body = JobResponse),
        (status = 404, description = "A cell is unknown (or not yours)", body = ErrorResponse),
        (status = 422, description = "Invalid request", body = ErrorResponse),
        (status = 503, description = "The job queue is unavailable", body = ErrorResponse),
    ))]
pub(crate) async fn start_export(
    State(state): State<AppState>,
    person: Person,
    request_id: axum::Extension<RequestId>,
    Valid(req): Valid<ExportRequest>,
) -> Result<Response, ApiError> {
    if req.end < req.start {
        return Err(ApiError::bad_request(
            "invalid_range",
            "end must not be before start",
        ));
    }
    let mut cell_ids = Vec::with_capacity(req.cell_ids.len());
    for id in req.cell_ids {
        let cell = access::cell(
            &state.gate(),
            &Caller::Person(person.clone()),
            id,
            Need::Read,
        )
        .await?;
        if !cell_ids.contains(&cell.id) {
            cell_ids.push(cell.id);
        }
    }
    let payload = Payload::Export(ExportZip {
        cell_ids,
        start: req.start.naive_utc(),
        end: req.end.naive_utc(),
        resample: match req.resample {
            ExportResample::None => "none",
            ExportResample::Hour => "hour",
            ExportResample::Day => "day",
        }
        .to_owned(),
        series: req
            .series
            .iter()
            .map(|s| match s {
                ExportSeries::Power => Series::Power,
                ExportSeries::Teros => Series::Teros,
                ExportSeries::Sensors => Series::Sensors,
            })
            .collect(),
    });
    let job = submit_for(&state, &person, &request_id.0, payload).await?;
    Ok(accepted(job, None))
}

/// Imports a historical CSV (the ENTS sample format, see the README) into a cell, all or
/// nothing: 202 with the job; a bad line fails the job with its line number.
#[utoipa::path(post, path = "/api/cell/{cell_id}/import", tag = "jobs",
    params(
        ("cell_id" = u32, Path, description = "Cell receiving the rows"),
        ("logger_id" = u32, Query, description = "Your logger the power rows are recorded under"),
        ("name" = Option<String>, Query, description = "The file's name, for the job's result"),
    ),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 202, description = "The import job; follow `Location`", body = JobResponse),
        (status = 400, description = "Not the expected CSV header, or bad parameters", body = ErrorResponse),
        (status = 404, description = "Cell or logger unknown (or not yours)", body = ErrorResponse),
        (status = 408, description = "upload_stalled: no byte arrived for LOAM_UPLOAD_IDLE_SECS; nothing was started", body = ErrorResponse),
        (status = 503, description = "The job queue is unavailable", body = ErrorResponse),
    ))]
pub(crate) async fn start_import(
    State(state): State<AppState>,
    person: Person,
    request_id: axum::Extension<RequestId>,
    Ids(cell_id): Ids<u32>,
    Query(params): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let caller = Caller::Person(person.clone());
    let cell = access::cell(&state.gate(), &caller, cell_id, Need::Write).await?;
    let logger_id: u32 = params
        .get("logger_id")
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request("missing_parameter", "logger_id (an integer) is required")
        })?;
    let logger =
        crate::access::logger(&state.gate(), &caller, logger_id, crate::access::OwnKey::No).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_csv", "the file is not UTF-8 text"))?;
    loam_jobs::import::check_header(text)
        .map_err(|why| ApiError::bad_request("invalid_csv", why))?;
    let file = loam_jobs::import::stage(state.job_settings(), body.to_vec())
        .await
        .map_err(|e| {
            // The client hears "unavailable"; the operator reads which folder failed.
            ApiError::Unavailable(format!(
                "cannot stage the upload in {} (LOAM_ARTIFACTS_DIR): {e}",
                state.job_settings().incoming().display()
            ))
        })?;
    let payload = Payload::Import(ImportCsv {
        cell_id: cell.id,
        logger_id: logger.id,
        file: file.clone(),
        original_name: params
            .get("name")
            .cloned()
            .unwrap_or_else(|| "upload.csv".into()),
    });
    let submitted = submit_for(&state, &person, &request_id.0, payload).await;
    let job = match submitted {
        Ok(job) => job,
        Err(e) => {
            loam_jobs::import::unstage(state.job_settings(), &file).await;
            return Err(e.into());
        }
    };
    Ok(accepted(job, None))
}
