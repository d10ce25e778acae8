//! Devices that can trust the platform: the server's receipt key, enrolment of a device key with
//! an upload quota (signed, so the device can check it offline), stored upload receipts, and
//! admins' quota changes. Receipts themselves are issued by the upload doors (`uploads`).

use axum::Json;
use axum::extract::State;
use loam_db::models::Enrolment;
use loam_receipts::{DeviceKey, Locator};
use loam_schemas::devices::{
    DeviceErrorCode, EnrolRequest, EnrolmentResponse, QuotaRequest, ReceiptKeyResponse,
    ReceiptResponse,
};
use loam_schemas::errors::ErrorResponse;

use crate::caller::{Caller, Person};
use crate::error::ApiError;
use crate::extract::{Ids, Valid};
use crate::state::AppState;

/// The signed answer for an enrolment as stored.
fn signed(state: &AppState, e: &Enrolment) -> Result<EnrolmentResponse, ApiError> {
    let device_key = DeviceKey::parse(&e.public_key).map_err(|err| {
        ApiError::Internal(anyhow::anyhow!("stored device key is invalid: {err}"))
    })?;
    let statement = loam_receipts::Enrolment {
        logger_id: u64::try_from(e.logger_id).unwrap_or_default(),
        device_key,
        available_slots: u32::try_from(e.available_slots.max(0)).unwrap_or(u32::MAX),
        quota_expiry: e.quota_expiry.and_utc().timestamp(),
    };
    Ok(EnrolmentResponse {
        logger_id: e.logger_id,
        public_key: device_key.to_hex(),
        available_slots: statement.available_slots,
        quota_expiry: statement.quota_expiry,
        signature: state.receipts().sign_enrolment(&statement),
    })
}

/// The public key devices verify enrolments and receipts with.
#[utoipa::path(get, path = "/api/receipts/key", tag = "devices",
    responses((status = 200, description = "The server's Ed25519 public key", body = ReceiptKeyResponse)))]
pub(crate) async fn receipt_key(State(state): State<AppState>) -> Json<ReceiptKeyResponse> {
    Json(ReceiptKeyResponse {
        algorithm: loam_receipts::ALGORITHM.to_owned(),
        public_key: state.receipts().public_key_hex(),
    })
}

/// Enrols the logger's device key, or tops up its quota: `LOAM_RECEIPT_SLOTS` more slots (the
/// total is capped at 2³²−1) and a fresh `LOAM_RECEIPT_DAYS` expiry. The answer is signed.
#[utoipa::path(post, path = "/api/logger/{logger_id}/enrol", tag = "devices",
    params(("logger_id" = u32, Path, description = "Logger id")),
    request_body = EnrolRequest,
    responses(
        (status = 200, description = "Enrolled (or topped up), signed", body = EnrolmentResponse),
        (status = 400, description = "public_key_invalid (1004)", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such logger, or not yours", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
    ))]
pub(crate) async fn enrol(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    Valid(body): Valid<EnrolRequest>,
) -> Result<Json<EnrolmentResponse>, ApiError> {
    let logger =
        crate::access::logger(&state.gate(), &caller, id, crate::access::OwnKey::Yes).await?;
    let key = body
        .public_key
        .as_deref()
        .and_then(|k| DeviceKey::parse(k).ok())
        .ok_or_else(|| {
            ApiError::device(
                DeviceErrorCode::PublicKeyInvalid,
                "public_key must be the device's Ed25519 public key as 64 hex characters",
            )
        })?;
    let now = loam_db::now();
    let grant = i64::from(state.config().receipt_slots);
    let expiry = now + chrono::TimeDelta::days(i64::from(state.config().receipt_days));
    let enrolment = state
        .db()
        .run(move |c| loam_db::devices::enrol(c, logger.id, &key.to_hex(), grant, expiry, now))
        .await?;
    tracing::info!(
        logger.id = enrolment.logger_id,
        slots = enrolment.available_slots,
        "logger enrolled"
    );
    Ok(Json(signed(&state, &enrolment)?))
}

/// Sets an enrolled logger's quota (admins only); the answer is signed like an enrolment.
#[utoipa::path(put, path = "/api/logger/{logger_id}/quota", tag = "devices",
    params(("logger_id" = u32, Path, description = "Logger id")),
    request_body = QuotaRequest,
    responses(
        (status = 200, description = "The new quota, signed", body = EnrolmentResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 403, description = "Only admins change quotas", body = ErrorResponse),
        (status = 404, description = "No such logger, or not_enrolled (1007)", body = ErrorResponse),
        (status = 422, description = "A value is out of range", body = ErrorResponse),
    ))]
pub(crate) async fn set_quota(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
    Valid(body): Valid<QuotaRequest>,
) -> Result<Json<EnrolmentResponse>, ApiError> {
    if !person.is_admin {
        return Err(ApiError::Forbidden(
            "only administrators change quotas".into(),
        ));
    }
    let logger = crate::access::logger(
        &state.gate(),
        &Caller::Person(person),
        id,
        crate::access::OwnKey::No,
    )
    .await?;
    let expiry = match body.quota_expiry {
        Some(secs) => Some(
            chrono::DateTime::from_timestamp(secs, 0)
                .map(|t| t.naive_utc())
                .ok_or_else(|| ApiError::invalid("quota_expiry", "not a valid Unix time"))?,
        ),
        None => None,
    };
    let now = loam_db::now();
    let changed = state
        .db()
        .run(move |c| loam_db::devices::set_quota(c, logger.id, body.available_slots, expiry, now))
        .await?
        .ok_or_else(|| {
            ApiError::device(
                DeviceErrorCode::NotEnrolled,
                "this logger is not enrolled; it has no quota to change",
            )
        })?;
    Ok(Json(signed(&state, &changed)?))
}

/// The receipt stored for one of the logger's uploads. An unknown logger, someone else's logger
/// and an unknown locator all answer the same 404.
#[utoipa::path(get, path = "/api/logger/{logger_id}/receipts/{locator}", tag = "devices",
    params(
        ("logger_id" = u32, Path, description = "Logger id"),
        ("locator" = String, Path, description = "The upload's Loam-Locator (32 hex characters)"),
    ),
    responses(
        (status = 200, description = "The stored receipt", body = ReceiptResponse),
        (status = 400, description = "locator_invalid (1001)", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such receipt", body = ErrorResponse),
    ))]
pub(crate) async fn get_receipt(
    State(state): State<AppState>,
    caller: Caller,
    Ids((id, locator)): Ids<(String, String)>,
) -> Result<Json<ReceiptResponse>, ApiError> {
    let locator = Locator::parse(&locator).map_err(|_| crate::uploads::invalid_locator())?;
    let missing = || ApiError::NotFound("Receipt not found".into());
    let id: u32 = id.parse().map_err(|_| missing())?;
    // The logger's own 404 is worded like the receipt's, so neither tells which was missing;
    // an outage stays a 503.
    let logger = crate::access::logger(&state.gate(), &caller, id, crate::access::OwnKey::Yes)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => missing(),
            other => other,
        })?;
    let stored = state
        .db()
        .run(move |c| loam_db::devices::find_receipt(c, logger.id, &locator.to_hex()))
        .await?
        .ok_or_else(missing)?;
    Ok(Json(ReceiptResponse {
        logger_id: stored.logger_id,
        locator: stored.locator,
        body_sha256: stored.body_sha256,
        rows: u32::try_from(stored.row_count).unwrap_or_default(),
        commit_us: stored.committed_at.and_utc().timestamp_micros(),
        receipt: stored.receipt,
    }))
}
