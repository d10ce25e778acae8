//! Upstream sync with The Things Network: the server calls TTN with its own token (never sent to
//! a browser). Registering and removing run as jobs (202, the job carries the upstream's answer);
//! the status lookup is synchronous and wraps an upstream failure as 502 JSON.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use loam_jobs::ttn::{Credentials, TtnAction, hex_exact};
use loam_jobs::{Payload, TtnSync};
use loam_schemas::errors::ErrorResponse;
use loam_schemas::jobs::{JobResponse, TtnRegistration};

use crate::caller::{Caller, Person};
use crate::error::ApiError;
use crate::extract::{Ids, Valid};
use crate::middleware::RequestId;
use crate::state::AppState;

fn target(state: &AppState) -> Result<loam_jobs::ttn::TtnTarget, ApiError> {
    state.job_settings().ttn.clone().ok_or_else(|| {
        ApiError::NotConfigured(
            "upstream sync with The Things Network is not configured on this server \
             (LOAM_TTN_APP_ID, LOAM_TTN_API_KEY)"
                .into(),
        )
    })
}

async fn submit(
    state: &AppState,
    person: &Person,
    request_id: &RequestId,
    sync: TtnSync,
) -> Result<Response, ApiError> {
    let job = super::jobs::submit_for(state, person, request_id, Payload::TtnSync(sync)).await?;
    Ok(super::jobs::accepted(job, None))
}

/// The logger's end device as TTN has it.
#[utoipa::path(get, path = "/api/logger/{logger_id}/ttn", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    responses(
        (status = 200, description = "TTN's end-device document"),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
        (status = 502, description = "TTN failed; the upstream's message", body = ErrorResponse),
        (status = 503, description = "Upstream sync is not configured", body = ErrorResponse),
    ))]
pub(crate) async fn ttn_status(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let logger = crate::access::logger(
        &state.gate(),
        &Caller::Person(person),
        id,
        crate::access::OwnKey::No,
    )
    .await?;
    let target = target(&state)?;
    target
        .status(logger.id)
        .await
        .map(Json)
        .map_err(|e| ApiError::BadGateway(e.to_string()))
}

/// Registers the logger on TTN (a job; the credentials are never stored beyond it).
#[utoipa::path(post, path = "/api/logger/{logger_id}/ttn", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    request_body = TtnRegistration,
    responses(
        (status = 202, description = "The sync job; follow `Location`", body = JobResponse),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
        (status = 422, description = "Credentials are not 16/16/32 hex digits", body = ErrorResponse),
        (status = 503, description = "Not configured, or the job queue is unavailable", body = ErrorResponse),
    ))]
pub(crate) async fn ttn_register(
    State(state): State<AppState>,
    person: Person,
    request_id: axum::Extension<RequestId>,
    Ids(id): Ids<u32>,
    Valid(req): Valid<TtnRegistration>,
) -> Result<Response, ApiError> {
    let logger = crate::access::logger(
        &state.gate(),
        &Caller::Person(person.clone()),
        id,
        crate::access::OwnKey::No,
    )
    .await?;
    target(&state)?;
    let (Some(dev_eui), Some(join_eui), Some(app_key)) = (
        hex_exact(&req.dev_eui, 16),
        hex_exact(&req.join_eui, 16),
        hex_exact(&req.app_key, 32),
    ) else {
        return Err(ApiError::invalid(
            "credentials",
            "dev_eui and join_eui need 16 hex digits, app_key 32",
        ));
    };
    let sync = TtnSync {
        logger_id: logger.id,
        action: TtnAction::Register {
            name: logger.name,
            credentials: Credentials {
                dev_eui,
                join_eui,
                app_key,
            },
        },
    };
    submit(&state, &person, &request_id.0, sync).await
}

/// Removes the logger's end device from TTN (a job; already gone counts as done).
#[utoipa::path(delete, path = "/api/logger/{logger_id}/ttn", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    responses(
        (status = 202, description = "The sync job; follow `Location`", body = JobResponse),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
        (status = 503, description = "Not configured, or the job queue is unavailable", body = ErrorResponse),
    ))]
pub(crate) async fn ttn_remove(
    State(state): State<AppState>,
    person: Person,
    request_id: axum::Extension<RequestId>,
    Ids(id): Ids<u32>,
) -> Result<Response, ApiError> {
    let logger = crate::access::logger(
        &state.gate(),
        &Caller::Person(person.clone()),
        id,
        crate::access::OwnKey::No,
    )
    .await?;
    target(&state)?;
    let sync = TtnSync {
        logger_id: logger.id,
        action: TtnAction::Remove,
    };
    submit(&state, &person, &request_id.0, sync).await
}
