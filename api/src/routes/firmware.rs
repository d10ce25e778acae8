//! The firmware registry: publish an image (multipart, streamed to disk, content-addressed by
//! sha-256, metadata committed only once the bytes are in place), search, list versions, read
//! metadata, download with `ETag` and `Range` resume, delete; and the image each logger should
//! run.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loam_db::DbError;
use loam_db::models::{Firmware, NewFirmware};
use loam_schemas::devices::{
    DesiredFirmwareRequest, DesiredFirmwareResponse, DeviceErrorCode, FirmwarePage,
    FirmwareResponse, FirmwareVersions, valid_firmware_token,
};
use loam_schemas::errors::ErrorResponse;
use loam_schemas::wire::rfc3339;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Ids, Valid};
use crate::firmware_store::{RangeAnswer, Staged, parse_range};
use crate::state::AppState;

/// Longest image name.
const NAME_MAX: usize = 100;
/// Longest version.
const VERSION_MAX: usize = 64;
/// Longest release notes.
const NOTES_MAX: usize = 10_000;
/// Largest page of a search.
const PAGE_MAX: i64 = 500;

fn response(f: Firmware) -> FirmwareResponse {
    FirmwareResponse {
        download_path: format!("/api/firmware/{}/{}/download", f.name, f.version),
        name: f.name,
        version: f.version,
        notes: f.notes,
        sha256: f.sha256,
        size: f.size_bytes,
        created_at: rfc3339(f.created_at),
    }
}

fn form_error(message: impl Into<String>) -> ApiError {
    ApiError::device(DeviceErrorCode::FirmwareFormInvalid, message)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if valid_firmware_token(name, NAME_MAX) {
        Ok(())
    } else {
        Err(ApiError::device(
            DeviceErrorCode::FirmwareNameInvalid,
            format!("name must be 1–{NAME_MAX} characters of A–Z, a–z, 0–9, '.', '_' or '-'"),
        ))
    }
}

fn check_version(version: &str) -> Result<(), ApiError> {
    if valid_firmware_token(version, VERSION_MAX) {
        Ok(())
    } else {
        Err(ApiError::device(
            DeviceErrorCode::FirmwareVersionInvalid,
            format!("version must be 1–{VERSION_MAX} characters of A–Z, a–z, 0–9, '.', '_' or '-'"),
        ))
    }
}

fn firmware_not_found() -> ApiError {
    ApiError::NotFound("Firmware not found".into())
}

/// Reads a text part, refusing more than `max` bytes.
async fn text_part(mut field: Field<'_>, what: &str, max: usize) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| form_error(format!("the multipart body is malformed: {e}")))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > max {
            return Err(form_error(format!("{what} is longer than {max} bytes")));
        }
    }
    String::from_utf8(bytes).map_err(|_| form_error(format!("{what} is not UTF-8 text")))
}

/// Streams the file part to a staged file, stopping at the size limit.
async fn file_part(state: &AppState, mut field: Field<'_>) -> Result<Staged, ApiError> {
    let max = state.config().firmware_max_bytes as u64;
    let mut staged = state
        .firmware()
        .stage()
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot stage firmware: {e}")))?;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(staged),
            Err(e) => {
                staged.discard().await;
                return Err(form_error(format!("the multipart body is malformed: {e}")));
            }
        };
        if staged.size() + chunk.len() as u64 > max {
            staged.discard().await;
            return Err(ApiError::device(
                DeviceErrorCode::FirmwareTooLarge,
                format!("the image is larger than LOAM_FIRMWARE_MAX_BYTES ({max} bytes)"),
            ));
        }
        if let Err(e) = staged.write(&chunk).await {
            staged.discard().await;
            return Err(ApiError::Internal(anyhow::anyhow!(
                "cannot write firmware: {e}"
            )));
        }
    }
}

/// A checked publishing form: valid name and version, and the image already staged on disk.
struct PublishForm {
    name: String,
    version: String,
    notes: Option<String>,
    file: Staged,
}

impl PublishForm {
    /// Reads and checks the parts; on any refusal the staged file is deleted again.
    async fn read(state: &AppState, mut multipart: Multipart) -> Result<Self, ApiError> {
        let (mut name, mut version, mut notes, mut file) = (None, None, None, None);
        let outcome = async {
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| form_error(format!("the multipart body is malformed: {e}")))?
            {
                match field.name().unwrap_or_default() {
                    "name" => name = Some(text_part(field, "name", 1024).await?),
                    "version" => version = Some(text_part(field, "version", 1024).await?),
                    "notes" => notes = Some(text_part(field, "notes", NOTES_MAX).await?),
                    "file" if file.is_none() => {
                        // Refuse bad names before reading megabytes.
                        name.as_deref().map(check_name).transpose()?;
                        version.as_deref().map(check_version).transpose()?;
                        file = Some(file_part(state, field).await?);
                    }
                    other => {
                        return Err(form_error(format!(
                            "unexpected part {other:?}; send name, version, notes and file"
                        )));
                    }
                }
            }
            let name = name
                .take()
                .ok_or_else(|| form_error("the name part is missing"))?;
            let version = version
                .take()
                .ok_or_else(|| form_error("the version part is missing"))?;
            check_name(&name)?;
            check_version(&version)?;
            Ok((name, version))
        }
        .await;
        match (outcome, file) {
            (Ok((name, version)), Some(file)) => Ok(Self {
                name,
                version,
                notes: notes.filter(|n| !n.is_empty()),
                file,
            }),
            (Ok(_), None) => Err(form_error("the file part is missing")),
            (Err(err), file) => {
                if let Some(file) = file {
                    file.discard().await;
                }
                Err(err)
            }
        }
    }
}

/// Publishes a firmware image. The bytes are streamed to disk, hashed, and moved into the
/// content-addressed store inside the metadata transaction: a refused or failed upload leaves
/// neither a row nor a file.
#[utoipa::path(post, path = "/api/firmware", tag = "firmware",
    request_body(content_type = "multipart/form-data", description = "Parts `name`, `version`, optional `notes`, and `file` (the image)"),
    responses(
        (status = 201, description = "Published", body = FirmwareResponse),
        (status = 400, description = "firmware_form_invalid (1105): a part is missing or the form is malformed", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 403, description = "A device key without the firmware scope", body = ErrorResponse),
        (status = 408, description = "upload_stalled: no byte arrived for LOAM_UPLOAD_IDLE_SECS; nothing was kept", body = ErrorResponse),
        (status = 409, description = "firmware_exists (1104): this name and version exist", body = ErrorResponse),
        (status = 413, description = "firmware_too_large (1103)", body = ErrorResponse),
        (status = 415, description = "Not multipart/form-data", body = ErrorResponse),
        (status = 422, description = "firmware_name_invalid (1101) / firmware_version_invalid (1102)", body = ErrorResponse),
    ))]
pub(crate) async fn upload_firmware(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<FirmwareResponse>), ApiError> {
    let multipart = multipart.map_err(|_| {
        ApiError::UnsupportedMediaType("send the firmware as multipart/form-data".into())
    })?;
    let PublishForm {
        name,
        version,
        notes,
        file,
    } = PublishForm::read(&state, multipart).await?;
    let finished = file
        .finish()
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot sync firmware: {e}")))?;
    let owner = match &caller {
        Caller::Person(p) => Some(p.user_id.clone()),
        Caller::Device(d) => Some(d.owner_id.clone()),
        Caller::Anonymous => None,
    };
    let store = state.firmware().clone();
    let (sha256, size) = (finished.sha256.clone(), finished.size);
    let outcome = {
        let staged = finished.clone();
        let (name, version) = (name.clone(), version.clone());
        state
            .db()
            .run(move |c| {
                let new = NewFirmware {
                    name: &name,
                    version: &version,
                    notes: notes.as_deref(),
                    sha256: &staged.sha256,
                    size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
                    user_id: owner.as_deref(),
                    created_at: loam_db::now(),
                };
                loam_db::firmware::insert(c, &new, || store.place(&staged).map(drop))
            })
            .await
    };
    match outcome {
        Ok(row) => {
            tracing::info!(firmware.name = %row.name, firmware.version = %row.version, size, "firmware published");
            Ok((StatusCode::CREATED, Json(response(row))))
        }
        Err(err) => {
            // Nothing of a failed upload stays: its staged file, or a file it placed that no
            // version uses (checked under the digest's lock, so a concurrent publish keeps it).
            finished.discard().await;
            let store = state.firmware().clone();
            let released = state
                .db()
                .run(move |c| loam_db::firmware::release_bytes(c, &sha256, |sha| store.remove(sha)))
                .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "could not release the bytes of a failed firmware upload");
            }
            Err(match err {
                DbError::UniqueViolation { .. } => ApiError::device(
                    DeviceErrorCode::FirmwareExists,
                    format!("{name} {version} is already published; choose a new version"),
                ),
                other => other.into(),
            })
        }
    }
}

/// Searches images by a substring of their name, paged.
#[utoipa::path(get, path = "/api/firmware", tag = "firmware",
    params(
        ("search" = Option<String>, Query, description = "Substring of the name"),
        ("limit" = Option<i64>, Query, description = "Page size (default 100, at most 500)"),
        ("offset" = Option<i64>, Query, description = "Matches to skip"),
    ),
    responses(
        (status = 200, description = "A page of images", body = FirmwarePage),
        (status = 400, description = "limit or offset is not a non-negative integer", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
    ))]
pub(crate) async fn search_firmware(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<FirmwarePage>, ApiError> {
    let (limit, offset) = crate::extract::page(&params, 100, PAGE_MAX)?;
    let search = params.get("search").cloned();
    if search
        .as_deref()
        .is_some_and(|s| crate::extract::searchable(s).is_none())
    {
        return Ok(Json(FirmwarePage {
            items: Vec::new(),
            total: 0,
            limit,
            offset,
        }));
    }
    let (items, total) = state
        .db()
        .run(move |c| loam_db::firmware::search(c, search.as_deref(), limit, offset))
        .await?;
    Ok(Json(FirmwarePage {
        items: items.into_iter().map(response).collect(),
        total,
        limit,
        offset,
    }))
}

/// Every version of an image, newest first.
#[utoipa::path(get, path = "/api/firmware/{name}", tag = "firmware",
    params(("name" = String, Path, description = "Image name")),
    responses(
        (status = 200, description = "Versions, newest first", body = FirmwareVersions),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such image", body = ErrorResponse),
    ))]
pub(crate) async fn list_versions(
    State(state): State<AppState>,
    Ids(name): Ids<String>,
) -> Result<Json<FirmwareVersions>, ApiError> {
    let lookup = name.clone();
    let versions = state
        .db()
        .run(move |c| loam_db::firmware::versions(c, &lookup))
        .await?;
    if versions.is_empty() {
        return Err(firmware_not_found());
    }
    Ok(Json(FirmwareVersions {
        name,
        versions: versions.into_iter().map(response).collect(),
    }))
}

async fn find(state: &AppState, name: String, version: String) -> Result<Firmware, ApiError> {
    state
        .db()
        .run(move |c| loam_db::firmware::find(c, &name, &version))
        .await?
        .ok_or_else(firmware_not_found)
}

/// One version's metadata, with its sha-256 and size.
#[utoipa::path(get, path = "/api/firmware/{name}/{version}", tag = "firmware",
    params(("name" = String, Path, description = "Image name"), ("version" = String, Path, description = "Version")),
    responses(
        (status = 200, description = "Metadata", body = FirmwareResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such image or version", body = ErrorResponse),
    ))]
pub(crate) async fn get_firmware(
    State(state): State<AppState>,
    Ids((name, version)): Ids<(String, String)>,
) -> Result<Json<FirmwareResponse>, ApiError> {
    Ok(Json(response(find(&state, name, version).await?)))
}

/// Deletes a version (its publisher or an admin); the bytes go when no version uses them.
#[utoipa::path(delete, path = "/api/firmware/{name}/{version}", tag = "firmware",
    params(("name" = String, Path, description = "Image name"), ("version" = String, Path, description = "Version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such image, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn delete_firmware(
    State(state): State<AppState>,
    caller: Caller,
    Ids((name, version)): Ids<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let firmware = find(&state, name, version).await?;
    if !crate::access::owns(&caller, firmware.user_id.as_deref()) {
        return Err(firmware_not_found());
    }
    let id = firmware.id;
    let store = state.firmware().clone();
    state
        .db()
        .run(move |c| loam_db::firmware::delete(c, id, |sha| store.remove(sha)))
        .await?
        .ok_or_else(firmware_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The image's bytes: `ETag` is its sha-256, `Range: bytes=…` resumes a partial download (206),
/// `If-None-Match` with the ETag answers 304, `If-Range` with another ETag sends it whole.
#[utoipa::path(get, path = "/api/firmware/{name}/{version}/download", tag = "firmware",
    params(
        ("name" = String, Path, description = "Image name"),
        ("version" = String, Path, description = "Version"),
        ("Range" = Option<String>, Header, description = "bytes=start-end, bytes=start- or bytes=-suffix"),
    ),
    responses(
        (status = 200, description = "The whole image", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "If-None-Match matched the ETag"),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such image or version", body = ErrorResponse),
        (status = 416, description = "range_not_satisfiable (1106)", body = ErrorResponse),
    ))]
pub(crate) async fn download_firmware(
    State(state): State<AppState>,
    headers: HeaderMap,
    Ids((name, version)): Ids<(String, String)>,
) -> Result<Response, ApiError> {
    let firmware = find(&state, name, version).await?;
    let etag = format!("\"{}\"", firmware.sha256);
    let header_text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    if header_text(header::IF_NONE_MATCH).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let mut file = tokio::fs::File::open(state.firmware().path(&firmware.sha256))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("firmware file missing: {e}")))?;
    let len = u64::try_from(firmware.size_bytes).unwrap_or_default();
    let range_header = match header_text(header::IF_RANGE) {
        Some(tag) if tag.trim() != etag => None,
        _ => header_text(header::RANGE),
    };
    let (status, start, count) = match parse_range(range_header, len) {
        RangeAnswer::Whole => (StatusCode::OK, 0, len),
        RangeAnswer::Part(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.end - r.start + 1),
        RangeAnswer::Unsatisfiable => {
            let mut refused = ApiError::device(
                DeviceErrorCode::RangeNotSatisfiable,
                format!("the image has {len} bytes; the range lies outside it"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                refused.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(refused);
        }
    };
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot read firmware: {e}")))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)));
    let disposition = format!(
        "attachment; filename=\"{}-{}.bin\"",
        firmware.name, firmware.version
    );
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, count.to_string()),
            (header::ETAG, etag),
            (header::ACCEPT_RANGES, "bytes".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response();
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(value) =
            HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
    {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    Ok(response)
}

/// Chooses the image a logger should install (its owner).
#[utoipa::path(put, path = "/api/logger/{logger_id}/firmware", tag = "firmware",
    params(("logger_id" = u32, Path, description = "Logger id")),
    request_body = DesiredFirmwareRequest,
    responses(
        (status = 200, description = "The logger's desired image", body = DesiredFirmwareResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such logger (or not yours), or no such image", body = ErrorResponse),
        (status = 422, description = "A field is missing or invalid", body = ErrorResponse),
    ))]
pub(crate) async fn set_logger_firmware(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    Valid(body): Valid<DesiredFirmwareRequest>,
) -> Result<Json<DesiredFirmwareResponse>, ApiError> {
    let logger =
        crate::access::logger(&state.gate(), &caller, id, crate::access::OwnKey::No).await?;
    // A name no upload could have published is a mistake in the request, not a missing image.
    check_name(&body.name)?;
    check_version(&body.version)?;
    let firmware = find(&state, body.name, body.version).await?;
    let (logger_id, firmware_id) = (logger.id, firmware.id);
    state
        .db()
        .run(move |c| loam_db::firmware::set_desired(c, logger_id, firmware_id, loam_db::now()))
        .await?;
    Ok(Json(DesiredFirmwareResponse {
        logger_id,
        firmware: Some(response(firmware)),
    }))
}

/// What the logger should install: name, version, checksum and download path (its own device
/// key, or its owner).
#[utoipa::path(get, path = "/api/logger/{logger_id}/firmware", tag = "firmware",
    params(("logger_id" = u32, Path, description = "Logger id")),
    responses(
        (status = 200, description = "The desired image (null when none was chosen)", body = DesiredFirmwareResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 404, description = "No such logger, or not yours", body = ErrorResponse),
    ))]
pub(crate) async fn get_logger_firmware(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<DesiredFirmwareResponse>, ApiError> {
    let logger =
        crate::access::logger(&state.gate(), &caller, id, crate::access::OwnKey::Yes).await?;
    let logger_id = logger.id;
    let firmware = state
        .db()
        .run(move |c| loam_db::firmware::desired(c, logger_id))
        .await?;
    Ok(Json(DesiredFirmwareResponse {
        logger_id,
        firmware: firmware.map(response),
    }))
}
