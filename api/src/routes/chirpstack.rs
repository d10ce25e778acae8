//! `POST /api/chirpstack?event=…`: ChirpStack v4's HTTP integration. `up` events are decoded
//! like TTN webhooks (same ports, same rules, same all-or-nothing commit; a retried event stores
//! nothing new); the other event types are acknowledged and ignored. ChirpStack sends the key
//! as a custom header (`X-API-Key`): a device key, or an integration key (see
//! `routing::Access::Integration`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loam_ingest::ttn::Uplink;
use loam_schemas::errors::ErrorResponse;
use loam_schemas::uploads::ChirpstackAnswer;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::uploads::{self, UploadError};

/// The metrics door of this route.
const DOOR: &str = "chirpstack";

fn answer(event: &str, status: &str, reason: Option<&str>) -> Response {
    Json(ChirpstackAnswer {
        status: status.to_owned(),
        event: event.to_owned(),
        reason: reason.map(str::to_owned),
    })
    .into_response()
}

fn refused(err: UploadError) -> Response {
    uploads::refused(DOOR, &err);
    ApiError::from(err).into_response()
}

/// ChirpStack v4 HTTP integration: stores `event=up` uplinks (port 1 legacy protobuf, 2
/// generic, 202 time sync) with the key's rights; answers 2xx only after the commit.
#[utoipa::path(post, path = "/api/chirpstack", tag = "ingest",
    params(("event" = String, Query, description = "ChirpStack's event type: `up` is stored; `join`, `status`, `ack`, `txack`, `log`, `location` and `integration` are acknowledged and ignored")),
    // Inline, not a typed body: the door decodes by hand (base64 frames, ports), answering 400
    // for anything it cannot read.
    request_body(content = inline(loam_schemas::uploads::ChirpstackUplink), content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (the rows are committed), or ignored: another event type, a time sync (fPort 202) or an empty frame", body = ChirpstackAnswer),
        (status = 400, description = "Missing or unknown event, invalid JSON, an undecodable frame, an absurd or too old timestamp, an unknown cell or logger", body = ErrorResponse),
        (status = 403, description = "A key without the ingest scope; a device key writing as another logger; an integration key naming a logger its owner does not own", body = ErrorResponse),
        (status = 404, description = "fPort not recognized, or a cell the key's owner may not write", body = ErrorResponse),
        (status = 415, description = "Not application/json (set the integration's payload encoding to JSON)", body = ErrorResponse),
        (status = 503, description = "overloaded: the upload queue is full; nothing was stored, ChirpStack retries", body = ErrorResponse),
    ))]
pub(crate) async fn chirpstack_event(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(event) = query.get("event").map(|e| e.trim()) else {
        return refused(
            ApiError::bad_request(
                "missing_event",
                "name the event type: POST /api/chirpstack?event=up (ChirpStack's HTTP integration adds it)",
            )
            .into(),
        );
    };
    if loam_ingest::chirpstack::IGNORED_EVENTS.contains(&event) {
        return answer(event, "ignored", Some("only up events carry measurements"));
    }
    if event != "up" {
        return refused(
            ApiError::bad_request(
                "unknown_event",
                format!(
                    "unknown ChirpStack event {event:?}: up is stored; {} are acknowledged",
                    loam_ingest::chirpstack::IGNORED_EVENTS.join(", ")
                ),
            )
            .into(),
        );
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return refused(
            ApiError::UnsupportedMediaType(
                "send ChirpStack events as application/json (the integration's JSON encoding)"
                    .into(),
            )
            .into(),
        );
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return refused(ApiError::bad_request("invalid_json", "the body is not valid JSON").into());
    };
    let uplink = match loam_ingest::chirpstack::parse(&value) {
        Ok(uplink) => uplink,
        Err(err) => return refused(err.into()),
    };
    let upload = match loam_ingest::decode_uplink(&uplink) {
        Some(Ok(upload)) => upload,
        Some(Err(err)) => return refused(err.into()),
        None => {
            return match uplink {
                Uplink::UnknownPort => {
                    refused(ApiError::NotFound("fPort not recognized (1, 2 or 202)".into()).into())
                }
                Uplink::TimeSync => answer(event, "ignored", Some("time sync (fPort 202)")),
                _ => answer(event, "ignored", Some("no fPort: an empty frame")),
            };
        }
    };
    tracing::debug!(device = %loam_ingest::chirpstack::device(&value), "ChirpStack uplink");
    let envelope = uploads::Envelope {
        door: DOOR,
        body: &body,
        locator: None,
        firmware: None,
    };
    match uploads::store(&state.ingest(), &caller, upload, envelope).await {
        Ok(_) => (StatusCode::OK, answer(event, "stored", None)).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}
