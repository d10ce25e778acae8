//! Monthly open data (the netmetr-proxy seed): parameter rules and administrator approval.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Datelike;
use loam_jobs::{NewJob, OpenDataMonth, Payload};
use loam_schemas::auth::MessageResponse;
use loam_schemas::errors::ErrorResponse;
use loam_schemas::jobs::JobResponse;
use serde_json::json;

use crate::caller::Person;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;

fn ents(message: &str) -> ApiError {
    ApiError::Ents {
        status: StatusCode::BAD_REQUEST,
        body: json!({ "error": message }),
    }
}

/// `year` and `month` of a finished month, or the answer the netmetr proxy gave.
fn finished_month(params: &HashMap<String, String>) -> Result<(i32, i32), ApiError> {
    let int = |name: &str| params.get(name).and_then(|v| v.trim().parse::<i32>().ok());
    let (Some(year), Some(month)) = (int("year"), int("month")) else {
        return Err(ents("Missing or invalid parameter (year, month)."));
    };
    let today = chrono::Utc::now().date_naive();
    let ended = (year, month) < (today.year(), today.month() as i32);
    if year <= 0 || !(1..=12).contains(&month) || !ended {
        return Err(ents("Invalid date."));
    }
    Ok((year, month))
}

/// The open-data ZIP of all public cells for a finished month: 200 with the file when it is
/// built, else 202 with the job building it (poll the same URL, or follow `Location`).
#[utoipa::path(get, path = "/api/opendata", tag = "opendata",
    params(
        ("year" = i32, Query, description = "Year"),
        ("month" = i32, Query, description = "Month 1–12 (must have ended)"),
        ("variant" = Option<String>, Query, description = "`dirty` (default: the data as stored) or `clean` (approved months only)"),
    ),
    responses(
        (status = 200, description = "`loam-opendata-{dirty|clean}-YYYY-MM.zip`", content_type = "application/zip"),
        (status = 202, description = "Being built; poll again", body = JobResponse),
        (status = 400, description = "`{\"error\": \"Missing or invalid parameter (year, month).\"}` or `{\"error\": \"Invalid date.\"}`"),
        (status = 404, description = "The clean variant of a month not approved", body = ErrorResponse),
        (status = 503, description = "The job queue is unavailable", body = ErrorResponse),
    ))]
pub(crate) async fn get_opendata(
    State(state): State<AppState>,
    request_id: axum::Extension<RequestId>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (year, month) = finished_month(&params)?;
    let variant = match params.get("variant").map(|v| v.trim()) {
        None | Some("") | Some("dirty") => "dirty",
        Some("clean") => "clean",
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_variant",
                "variant must be dirty or clean",
            ));
        }
    };
    if variant == "clean"
        && !state
            .db()
            .run(move |c| loam_db::opendata::is_approved(c, year, month))
            .await?
    {
        return Err(ApiError::NotFound(format!(
            "{year}-{month:02} has not been approved for the clean export"
        )));
    }
    let month_data = OpenDataMonth {
        year,
        month: month.unsigned_abs(),
        variant: variant.to_owned(),
    };
    let job = state
        .jobs()
        .submit(
            state.db(),
            NewJob {
                payload: Payload::OpenData(month_data.clone()),
                owner: None,
                request_id: Some(request_id.0.0.clone()),
                reuse: true,
            },
        )
        .await?;
    if job.state == "succeeded" {
        let id = job.id.clone();
        if let Some(name) = state
            .db()
            .run(move |c| loam_db::jobs::artifact(c, &id))
            .await?
        {
            let path = state.job_settings().artifact_path(&name);
            return super::jobs::serve_file(&path, &month_data.file_name()).await;
        }
    }
    let location = format!("/api/opendata?year={year}&month={month}&variant={variant}");
    Ok(super::jobs::accepted(job, Some(location)))
}

/// Approves a month for the clean open-data export (administrators); idempotent.
#[utoipa::path(post, path = "/api/opendata/approve", tag = "opendata",
    params(("year" = i32, Query, description = "Year"), ("month" = i32, Query, description = "Month 1–12")),
    responses(
        (status = 200, description = "Approved now, or already approved before", body = MessageResponse),
        (status = 400, description = "Bad year or month"),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 403, description = "Only administrators approve", body = ErrorResponse),
    ))]
pub(crate) async fn approve_opendata(
    State(state): State<AppState>,
    person: Person,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<MessageResponse>, ApiError> {
    if !person.is_admin {
        return Err(ApiError::Forbidden(
            "only administrators approve open data".into(),
        ));
    }
    let (year, month) = finished_month(&params)?;
    let (by, now) = (person.user_id.clone(), loam_db::now());
    let fresh = state
        .db()
        .run(move |c| loam_db::opendata::approve(c, year, month, &by, now))
        .await?;
    let message = if fresh {
        format!("{year}-{month:02} successfully approved")
    } else {
        format!("{year}-{month:02} already approved before")
    };
    Ok(Json(MessageResponse { message }))
}
