//! `/api/sensor/` and `/api/sensor_json/`: device uploads (protobuf, TTN webhook, JSON) and the
//! generic series read.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loam_ingest::ttn::Uplink;
use loam_ingest::{Door, Upload};
use loam_schemas::errors::ErrorResponse;
use loam_schemas::series::SensorSeriesResponse;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::uploads::{self, UploadError};

/// ENTS's protobuf `Response{resp=ERROR}`.
const RESPONSE_ERROR: &[u8] = &[0x08, 0x01];

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Stores a decoded upload and answers as the door's firmware expects, with the signed
/// `Loam-Receipt` when the request carried a `Loam-Locator`.
async fn answer(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    (body, source): (&[u8], &'static str),
    upload: Result<Upload, loam_ingest::DecodeError>,
) -> Response {
    let refused = |err: UploadError| {
        uploads::refused(source, &err);
        ApiError::from(err).into_response()
    };
    let locator = match uploads::locator(headers) {
        Ok(locator) => locator,
        Err(err) => return refused(err.into()),
    };
    let firmware = match uploads::reported_firmware(headers) {
        Ok(firmware) => firmware,
        Err(err) => return refused(err.into()),
    };
    let upload = match upload {
        Ok(upload) => upload,
        Err(err) => return refused(err.into()),
    };
    let door = upload.door;
    let envelope = uploads::Envelope {
        door: source,
        body,
        locator,
        firmware,
    };
    match (
        uploads::store(&state.ingest(), caller, upload, envelope).await,
        door,
    ) {
        (Ok(receipt), door) => {
            let mut ok = match door {
                Door::Legacy => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                )
                    .into_response(),
                Door::Generic => text(StatusCode::OK, ""),
            };
            if let Some(value) = receipt.and_then(|r| HeaderValue::from_str(&r).ok()) {
                ok.headers_mut().insert(RECEIPT_HEADER, value);
            }
            ok
        }
        (Err(UploadError::UnknownTarget(why)), Door::Legacy) => {
            // The firmware only hears `08 01`; the operator reads why here.
            tracing::warn!(reason = %why, "legacy upload refused (501, protobuf ERROR): {why}");
            (
                StatusCode::NOT_IMPLEMENTED,
                [(header::CONTENT_TYPE, "application/octet-stream")],
                RESPONSE_ERROR,
            )
                .into_response()
        }
        (Err(UploadError::UnknownTarget(why)), Door::Generic) => {
            ApiError::bad_request("unknown_target", why).into_response()
        }
        (Err(UploadError::Api(err)), _) => err.into_response(),
    }
}

/// The response header carrying an upload's signed receipt.
const RECEIPT_HEADER: &str = "loam-receipt";

/// Device upload: protobuf `Measurement` (`application/octet-stream`), the generic message with
/// `SensorVersion: 2`, or a TTN v3 uplink webhook (`application/json`). Answers 2xx only after
/// the rows are committed; a retried upload is stored once.
#[utoipa::path(post, path = "/api/sensor/", tag = "ingest",
    params(("Loam-Locator" = Option<String>, Header, description = "32 hex characters naming this upload; the answer then carries a signed Loam-Receipt")),
    request_body(content = Vec<u8>, description = "Protobuf Measurement / RepeatedSensorMeasurements, or a TTN uplink JSON", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored (legacy: empty protobuf Response = SUCCESS; generic: empty); with a Loam-Locator, the signed Loam-Receipt header"),
        (status = 400, description = "Undecodable, no value, absurd timestamp, unknown cell (generic), locator_invalid or locator_without_logger", body = ErrorResponse),
        (status = 401, description = "A device key is required (outside compatibility mode)", body = ErrorResponse),
        (status = 403, description = "The key belongs to another logger", body = ErrorResponse),
        (status = 404, description = "TTN: f_port not recognized; or a cell the key may not write", content_type = "text/html"),
        (status = 409, description = "locator_reused: the Loam-Locator names another body of this logger", body = ErrorResponse),
        (status = 429, description = "quota_exhausted / quota_expired: the enrolled logger's upload quota is used up or lapsed", body = ErrorResponse),
        (status = 415, description = "Neither application/octet-stream nor application/json", body = ErrorResponse),
        (status = 503, description = "overloaded: more uploads are waiting for the database than LOAM_UPLOAD_QUEUE; nothing was stored, retry after Retry-After seconds", body = ErrorResponse),
        (status = 501, description = "Legacy: unknown cell or logger (protobuf Response = ERROR, bytes 08 01)", content_type = "application/octet-stream"),
    ))]
pub(crate) async fn upload_sensor(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match content_type(&headers).as_str() {
        "application/octet-stream" => {
            let generic = headers
                .get("sensorversion")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                == Some("2");
            let (upload, source) = if generic {
                (loam_ingest::decode_generic(&body), "generic")
            } else {
                (loam_ingest::decode_legacy(&body), "protobuf")
            };
            answer(&state, &caller, &headers, (&body, source), upload).await
        }
        "application/json" => {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
                return ApiError::bad_request("invalid_json", "the body is not valid JSON")
                    .into_response();
            };
            match loam_ingest::ttn::parse(&value) {
                Ok(Uplink::Legacy(bytes)) => {
                    answer(
                        &state,
                        &caller,
                        &headers,
                        (&body, "ttn"),
                        loam_ingest::decode_legacy(&bytes),
                    )
                    .await
                }
                Ok(Uplink::Generic(bytes)) => {
                    answer(
                        &state,
                        &caller,
                        &headers,
                        (&body, "ttn"),
                        loam_ingest::decode_generic(&bytes),
                    )
                    .await
                }
                Ok(Uplink::TimeSync) => text(StatusCode::OK, "Ignoring timesync request."),
                Ok(Uplink::NothingToStore) => {
                    text(StatusCode::OK, "Missing uplink_message or f_port.")
                }
                Ok(Uplink::UnknownPort) => text(StatusCode::NOT_FOUND, "f_port not recognized."),
                Err(err) => {
                    let err = UploadError::from(err);
                    uploads::refused("ttn", &err);
                    ApiError::from(err).into_response()
                }
            }
        }
        _ => ApiError::UnsupportedMediaType(
            "upload protobuf as application/octet-stream, or a TTN webhook as application/json"
                .into(),
        )
        .into_response(),
    }
}

/// Device upload of one decoded legacy measurement as JSON.
#[utoipa::path(post, path = "/api/sensor_json/", tag = "ingest",
    params(("Loam-Locator" = Option<String>, Header, description = "32 hex characters naming this upload; the answer then carries a signed Loam-Receipt")),
    // Inline, not a typed body: the door decodes by hand and answers ENTS's 400 for any body it
    // cannot read (typed bodies answer 422), so its shape is documented without the typed rule.
    request_body(content = inline(loam_schemas::uploads::JsonMeasurement), content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (empty protobuf Response = SUCCESS)"),
        (status = 400, description = "Missing or non-numeric field, unknown type, absurd timestamp", body = ErrorResponse),
        (status = 401, description = "A device key is required (outside compatibility mode)", body = ErrorResponse),
        (status = 409, description = "locator_reused", body = ErrorResponse),
        (status = 415, description = "Not application/json", body = ErrorResponse),
        (status = 429, description = "quota_exhausted / quota_expired", body = ErrorResponse),
        (status = 501, description = "Unknown cell or logger (bytes 08 01)", content_type = "application/octet-stream"),
        (status = 503, description = "overloaded: the upload queue is full; nothing was stored, retry after Retry-After seconds", body = ErrorResponse),
    ))]
pub(crate) async fn upload_sensor_json(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if content_type(&headers) != "application/json" {
        return ApiError::UnsupportedMediaType("send the measurement as application/json".into())
            .into_response();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return ApiError::bad_request("invalid_json", "the body is not valid JSON").into_response();
    };
    answer(
        &state,
        &caller,
        &headers,
        (&body, "json"),
        loam_ingest::decode_json(&value),
    )
    .await
}

/// A generic sensor series: `name`, `measurement`, `cellId`, plus the time parameters.
#[utoipa::path(get, path = "/api/sensor/", tag = "series",
    params(
        ("name" = String, Query, description = "Sensor kind, e.g. bme280 or POWER_VOLTAGE"),
        ("measurement" = String, Query, description = "Quantity, e.g. pressure or Voltage"),
        ("cellId" = u32, Query, description = "Cell id"),
        ("startTime" = Option<String>, Query, description = "RFC 1123"),
        ("endTime" = Option<String>, Query, description = "RFC 1123"),
        ("resample" = Option<String>, Query, description = "Bucket width (default hour)"),
    ),
    responses(
        (status = 200, description = "The series", body = SensorSeriesResponse),
        (status = 400, description = "Bad parameter", body = ErrorResponse),
        (status = 404, description = "No such cell, or not yours", body = ErrorResponse),
        (status = 410, description = "Raw rows asked for lie wholly before the retention horizon", body = ErrorResponse),
    ))]
pub(crate) async fn read_sensor(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    super::series::sensor(state, caller, params).await
}

/// The same read under its other ENTS path.
#[utoipa::path(get, path = "/api/sensor_json/", tag = "series",
    params(
        ("name" = String, Query, description = "Sensor kind"),
        ("measurement" = String, Query, description = "Quantity"),
        ("cellId" = u32, Query, description = "Cell id"),
        ("startTime" = Option<String>, Query, description = "RFC 1123"),
        ("endTime" = Option<String>, Query, description = "RFC 1123"),
        ("resample" = Option<String>, Query, description = "Bucket width (default hour)"),
    ),
    responses(
        (status = 200, description = "The series", body = SensorSeriesResponse),
        (status = 400, description = "Bad parameter", body = ErrorResponse),
        (status = 404, description = "No such cell, or not yours", body = ErrorResponse),
        (status = 410, description = "Raw rows asked for lie wholly before the retention horizon", body = ErrorResponse),
    ))]
pub(crate) async fn read_sensor_json(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    super::series::sensor(state, caller, params).await
}
