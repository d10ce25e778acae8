//! Device uploads: who may write what, then one all-or-nothing commit, then live events. The
//! device hears 2xx only after the commit.

use loam_db::writes::{DeviceClaim, NewRow, StoreError};
use loam_ingest::{DecodeError, Upload};
use loam_receipts::{Locator, Receipt};
use loam_schemas::devices::DeviceErrorCode;
use loam_uplinks::{Refusal, Writer};

use crate::caller::Caller;
use crate::commit_queue::CommitQueue;
use crate::error::ApiError;
use crate::live_hub::LiveHub;

/// What storing an upload uses, borrowed from the state: the group commit, the live hub, the
/// receipt key and the retention horizon. Built by `AppState::ingest`.
pub(crate) struct Ingest<'a> {
    /// Group commit for device uploads.
    pub commits: &'a CommitQueue,
    /// Where committed rows are announced.
    pub live: &'a LiveHub,
    /// Signs upload receipts.
    pub receipts: &'a loam_receipts::ServerKey,
    /// Rows before this are refused (`LOAM_RAW_RETENTION_DAYS`); `None` keeps every row.
    pub raw_since: Option<chrono::NaiveDateTime>,
}

/// Why an upload was not stored.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// A cell or logger does not exist (legacy door: ENTS's 501 + `08 01`).
    UnknownTarget(String),
    /// Anything else, already mapped to HTTP.
    Api(ApiError),
}

impl From<ApiError> for UploadError {
    fn from(err: ApiError) -> Self {
        UploadError::Api(err)
    }
}

/// Where no door answers an unknown target its own way: a 400 naming it.
impl From<UploadError> for ApiError {
    fn from(err: UploadError) -> Self {
        match err {
            UploadError::UnknownTarget(why) => ApiError::bad_request("unknown_target", why),
            UploadError::Api(err) => err,
        }
    }
}

impl From<DecodeError> for UploadError {
    fn from(err: DecodeError) -> Self {
        UploadError::Api(ApiError::bad_request("invalid_upload", err.to_string()))
    }
}

/// A rule's refusal as the doors answer it.
impl From<Refusal> for UploadError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Decode(err) => err.into(),
            Refusal::OlderThanRetention { ts, horizon } => ApiError::bad_request(
                "older_than_retention",
                format!(
                    "timestamp {ts} is older than this server keeps raw rows (LOAM_RAW_RETENTION_DAYS: \
                     from {} on); nothing was stored",
                    loam_schemas::wire::http_date(horizon)
                ),
            )
            .into(),
            Refusal::OtherLogger { own, other } => ApiError::Forbidden(format!(
                "this device key belongs to logger {own} and cannot write as logger {other}"
            ))
            .into(),
            Refusal::UnknownCell(id) => UploadError::UnknownTarget(format!("cell {id}")),
        }
    }
}

/// Who writes, as the shared upload rules see the caller. A person reaches an upload door only
/// with an integration key (the ChirpStack door's access class); anonymous callers only in ENTS
/// compatibility mode.
pub(crate) fn writer(caller: &Caller) -> Writer {
    match caller {
        Caller::Anonymous => Writer::Anonymous,
        Caller::Device(d) => Writer::Device {
            logger_id: d.logger_id,
            owner_id: d.owner_id.clone(),
            owner_is_admin: d.owner_is_admin,
        },
        Caller::Person(p) => Writer::Integration {
            owner_id: p.user_id.clone(),
            owner_is_admin: p.is_admin,
        },
    }
}

/// What the HTTP request says about an upload beyond its rows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Envelope<'a> {
    /// Which door it came through, for metrics: `protobuf`, `generic`, `ttn`, `json`,
    /// `json_insert`.
    pub door: &'static str,
    /// The body exactly as received: hashed into the receipt, sized for the quota.
    pub body: &'a [u8],
    /// The device's `Loam-Locator`, when it sent one.
    pub locator: Option<Locator>,
    /// The firmware version the device reported (`Loam-Firmware`), kept for its health.
    pub firmware: Option<&'a str>,
}

/// Bytes of upload body one quota slot pays for.
const SLOT_BYTES: usize = 4096;

/// Reads the optional `Loam-Locator` header; a malformed one refuses the upload.
pub(crate) fn locator(headers: &axum::http::HeaderMap) -> Result<Option<Locator>, ApiError> {
    match headers.get("loam-locator") {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| Locator::parse(v).ok())
            .map(Some)
            .ok_or_else(invalid_locator),
    }
}

/// Reads the optional `Loam-Firmware` header (the version the device runs, compared with the
/// desired one in its health); a malformed one refuses the upload.
pub(crate) fn reported_firmware(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("loam-firmware") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
        })
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "firmware_invalid",
                "Loam-Firmware is the running version: 1 to 64 of A-Z a-z 0-9 . _ - +",
            )
        })
}

/// The refusal of a malformed locator, in a header or a path.
pub(crate) fn invalid_locator() -> ApiError {
    ApiError::device(
        DeviceErrorCode::LocatorInvalid,
        "a Loam-Locator is 32 hex characters (16 bytes), e.g. a hash of the payload",
    )
}

/// Checks, stores and announces an upload; returns the signed receipt when it carried a
/// locator. Counts the outcome in the metrics (`loam_uploads_stored_total`, `loam_upload_rows_total`,
/// `loam_rows_stored_total`, `loam_upload_rejections_total`).
pub(crate) async fn store(
    ingest: &Ingest<'_>,
    caller: &Caller,
    upload: Upload,
    envelope: Envelope<'_>,
) -> Result<Option<String>, UploadError> {
    let door = envelope.door;
    let tables = loam_uplinks::rules::rows_by_table(&upload);
    let outcome = store_counted(ingest, caller, upload, envelope).await;
    match &outcome {
        Ok((_, new_rows)) => loam_uplinks::rules::count_stored(door, tables, *new_rows),
        Err(err) => refused(door, err),
    }
    outcome.map(|(receipt, _)| receipt)
}

/// Counts a refused upload (also one that could not be decoded) by door and error code.
pub(crate) fn refused(door: &'static str, err: &UploadError) {
    let reason = match err {
        UploadError::UnknownTarget(_) => "unknown_target",
        UploadError::Api(err) => err.code(),
    };
    loam_metrics::global().upload_refused(door, reason);
}

/// The upload path itself: the receipt and how many rows were new.
async fn store_counted(
    ingest: &Ingest<'_>,
    caller: &Caller,
    upload: Upload,
    envelope: Envelope<'_>,
) -> Result<(Option<String>, u64), UploadError> {
    let prepared = loam_uplinks::prepare(
        &upload,
        &writer(caller),
        chrono::Utc::now().timestamp(),
        ingest.raw_since,
    )?;
    let now = loam_db::now();
    let device = claim(
        ingest.receipts,
        prepared.logger,
        &prepared.rows,
        envelope,
        now,
    )?;
    // Cell membership (and, for integration keys, logger ownership) is checked in the commit.
    let stored = ingest
        .commits
        .submit(
            loam_db::writes::UploadRows {
                rows: prepared.rows,
                member: prepared.member,
                logger_owner: prepared.logger_owner,
                device,
            },
            now,
        )
        .await?;
    let stored = match stored {
        Ok(stored) => stored,
        Err(err) => return Err(refusal(err)),
    };
    tracing::debug!(new_rows = stored.new_rows, "upload stored");
    let events: Vec<_> = upload
        .events
        .into_iter()
        .filter(|e| e.cell_id != 0)
        .collect();
    // A replayed locator wrote nothing, so it announces nothing.
    if !stored.replayed {
        ingest.live.publish(&events);
    }
    Ok((
        stored.receipt,
        u64::try_from(stored.new_rows).unwrap_or_default(),
    ))
}

/// The claim of the logger an upload is attributed to (the rules' choice: the key's, or the one
/// logger its rows name): its quota charge and, with a locator, its signed receipt.
fn claim(
    receipts: &loam_receipts::ServerKey,
    logger: Option<i32>,
    rows: &[NewRow],
    envelope: Envelope<'_>,
    now: chrono::NaiveDateTime,
) -> Result<Option<DeviceClaim>, UploadError> {
    let Some(logger_id) = logger else {
        return match envelope.locator {
            Some(_) => Err(ApiError::device(
                DeviceErrorCode::LocatorWithoutLogger,
                "a Loam-Locator needs an upload from one logger (its device key, or one logger id in the measurements)",
            )
            .into()),
            None => Ok(None),
        };
    };
    let slots = envelope.body.len().div_ceil(SLOT_BYTES).max(1) as i64;
    let receipt = envelope.locator.map(|locator| {
        let statement = Receipt::for_body(
            locator,
            u64::try_from(logger_id).unwrap_or_default(),
            envelope.body,
            u32::try_from(rows.len()).unwrap_or(u32::MAX),
            now.and_utc().timestamp_micros(),
        );
        loam_db::models::UploadReceipt {
            logger_id,
            locator: locator.to_hex(),
            body_sha256: hex::encode(statement.body_sha256),
            row_count: i32::try_from(rows.len()).unwrap_or(i32::MAX),
            committed_at: now,
            receipt: receipts.sign_receipt(&statement),
        }
    });
    Ok(Some(DeviceClaim {
        logger_id,
        slots,
        receipt,
        firmware: envelope.firmware.map(str::to_owned),
    }))
}

/// Maps a refused upload onto its answer.
fn refusal(err: StoreError) -> UploadError {
    match err {
        StoreError::UnknownCell(id) => UploadError::UnknownTarget(format!("cell {id} does not exist")),
        StoreError::UnknownLogger(id) => {
            UploadError::UnknownTarget(format!("logger {id} does not exist"))
        }
        StoreError::NotMember(cell) => {
            ApiError::NotFound(format!("cell {cell} not found for this key")).into()
        }
        StoreError::NotOwner(logger) => ApiError::Forbidden(format!(
            "this integration key may write only as its owner's loggers, and logger {logger} is not one of them"
        ))
        .into(),
        StoreError::LocatorReused(locator) => ApiError::device(
            DeviceErrorCode::LocatorReused,
            format!(
                "locator {locator} already names another upload of this logger (a different body); choose a new locator"
            ),
        )
        .into(),
        StoreError::QuotaExhausted {
            available,
            needed,
            expiry,
        } => ApiError::Device {
            code: DeviceErrorCode::QuotaExhausted,
            message: format!(
                "upload quota exhausted: this upload needs {needed} slot(s) (one per started 4 KiB) and {available} are left; slots reset when the device enrols again (POST /api/logger/{{id}}/enrol)"
            ),
            details: Some(serde_json::json!({
                "available_slots": available,
                "needed_slots": needed,
                "quota_expiry": expiry.and_utc().timestamp(),
                "resets": "on the next enrolment",
            })),
        }
        .into(),
        StoreError::QuotaExpired(expiry) => ApiError::Device {
            code: DeviceErrorCode::QuotaExpired,
            message: format!(
                "upload quota expired at {}; it resets when the device enrols again (POST /api/logger/{{id}}/enrol)",
                loam_schemas::wire::rfc3339(expiry)
            ),
            details: Some(serde_json::json!({
                "quota_expiry": expiry.and_utc().timestamp(),
                "resets": "on the next enrolment",
            })),
        }
        .into(),
        StoreError::Db(e) => ApiError::from(e).into(),
    }
}
