//! Monthly open data (the netmetr-proxy seed): parameter rules and administrator approval.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::Datelike;
use loam_schemas::auth::MessageResponse;
use loam_schemas::errors::ErrorResponse;
use serde_json::json;

use crate::error::ApiError;
use crate::identity::Person;
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

/// The open-data ZIP of all public cells for a finished month.
#[utoipa::path(get, path = "/api/opendata", tag = "opendata",
    params(("year" = i32, Query, description = "Year"), ("month" = i32, Query, description = "Month 1–12 (must have ended)")),
    responses(
        (status = 400, description = "`{\"error\": \"Missing or invalid parameter (year, month).\"}` or `{\"error\": \"Invalid date.\"}`"),
        (status = 503, description = "The export job is not available yet", body = ErrorResponse),
    ))]
pub(crate) async fn get_opendata(
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<()>, ApiError> {
    finished_month(&params)?;
    Err(ApiError::Unavailable(
        "open-data exports are not built yet".into(),
    ))
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
