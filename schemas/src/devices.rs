//! Devices that can trust the platform: the server's receipt key, enrolment with quotas, upload
//! receipts, the firmware registry, and the numbered error codes of these endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// `GET /api/receipts/key`: what devices verify enrolments and receipts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptKeyResponse {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The server's public key, 64 hex characters.
    pub public_key: String,
}

/// `POST /api/logger/{id}/enrol`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
pub struct EnrolRequest {
    /// The device's Ed25519 public key, 64 hex characters.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// An enrolment, signed so the device can check it offline: the signature covers
/// `"loam-enrol-v1"` ‖ logger id (u64 BE) ‖ public key (32 bytes) ‖ slots (u32 BE) ‖ expiry
/// (i64 BE, Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentResponse {
    /// The logger.
    pub logger_id: i32,
    /// The enrolled device key (hex).
    pub public_key: String,
    /// Upload slots left (one per started 4 KiB of upload body).
    pub available_slots: u32,
    /// When the slots lapse, Unix seconds.
    pub quota_expiry: i64,
    /// The server's Ed25519 signature over the layout above (hex).
    pub signature: String,
}

/// `PUT /api/logger/{id}/quota` (admins): new values; an absent field is left as it is.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
pub struct QuotaRequest {
    /// Slots the logger should have.
    #[validate(range(min = 0, max = 4294967295_i64))]
    pub available_slots: Option<i64>,
    /// New expiry, Unix seconds.
    pub quota_expiry: Option<i64>,
}

/// A stored upload receipt (`GET /api/logger/{id}/receipts/{locator}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptResponse {
    /// The logger.
    pub logger_id: i32,
    /// The device's locator (hex).
    pub locator: String,
    /// SHA-256 of the upload's body (hex).
    pub body_sha256: String,
    /// Rows the upload held, all committed.
    pub rows: u32,
    /// Commit time, Unix microseconds.
    pub commit_us: i64,
    /// The `Loam-Receipt` header value: `v1.<hex payload>.<hex signature>`.
    pub receipt: String,
}

/// Firmware metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FirmwareResponse {
    /// Image name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Release notes.
    pub notes: Option<String>,
    /// SHA-256 of the image (hex); also its `ETag`.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// When it was published (RFC 3339).
    pub created_at: String,
    /// Where to download it.
    pub download_path: String,
}

/// A page of `GET /api/firmware`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FirmwarePage {
    /// Images on this page, by name, newest version first.
    pub items: Vec<FirmwareResponse>,
    /// Matches in all.
    pub total: i64,
    /// The page size asked for.
    pub limit: i64,
    /// Matches skipped.
    pub offset: i64,
}

/// Every version of one image, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FirmwareVersions {
    /// Image name.
    pub name: String,
    /// Versions, newest first.
    pub versions: Vec<FirmwareResponse>,
}

/// `PUT /api/logger/{id}/firmware`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
pub struct DesiredFirmwareRequest {
    /// Image name.
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// Version.
    #[validate(length(min = 1, max = 64))]
    pub version: String,
}

/// What a logger should install (`GET /api/logger/{id}/firmware`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DesiredFirmwareResponse {
    /// The logger.
    pub logger_id: i32,
    /// The image, or null when none was chosen.
    pub firmware: Option<FirmwareResponse>,
}

/// The numbered error codes of the device endpoints. The code string is the body's
/// `error.code`, the number is `error.details.number`; neither ever changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceErrorCode {
    /// 1001 (400): `Loam-Locator` is not 32 hex characters.
    LocatorInvalid,
    /// 1002 (400): a locator was sent but the upload names no single logger.
    LocatorWithoutLogger,
    /// 1003 (409): the locator already names another body of this logger.
    LocatorReused,
    /// 1004 (400): `public_key` is not a 32-byte Ed25519 key in hex.
    PublicKeyInvalid,
    /// 1005 (429): the enrolment has too few slots for this upload.
    QuotaExhausted,
    /// 1006 (429): the enrolment's quota expired.
    QuotaExpired,
    /// 1007 (404): the logger is not enrolled.
    NotEnrolled,
    /// 1101 (422): a firmware name is not `[A-Za-z0-9._-]{1,100}`.
    FirmwareNameInvalid,
    /// 1102 (422): a firmware version is not `[A-Za-z0-9._-]{1,64}`.
    FirmwareVersionInvalid,
    /// 1103 (413): the image is larger than `LOAM_FIRMWARE_MAX_BYTES`.
    FirmwareTooLarge,
    /// 1104 (409): this name and version exist already.
    FirmwareExists,
    /// 1105 (400): the multipart form lacks a part or is malformed.
    FirmwareFormInvalid,
    /// 1106 (416): the `Range` lies outside the image.
    RangeNotSatisfiable,
}

impl DeviceErrorCode {
    /// Every code, for the spec and for tests.
    pub const ALL: [DeviceErrorCode; 13] = [
        DeviceErrorCode::LocatorInvalid,
        DeviceErrorCode::LocatorWithoutLogger,
        DeviceErrorCode::LocatorReused,
        DeviceErrorCode::PublicKeyInvalid,
        DeviceErrorCode::QuotaExhausted,
        DeviceErrorCode::QuotaExpired,
        DeviceErrorCode::NotEnrolled,
        DeviceErrorCode::FirmwareNameInvalid,
        DeviceErrorCode::FirmwareVersionInvalid,
        DeviceErrorCode::FirmwareTooLarge,
        DeviceErrorCode::FirmwareExists,
        DeviceErrorCode::FirmwareFormInvalid,
        DeviceErrorCode::RangeNotSatisfiable,
    ];

    /// The body's `error.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceErrorCode::LocatorInvalid => "locator_invalid",
            DeviceErrorCode::LocatorWithoutLogger => "locator_without_logger",
            DeviceErrorCode::LocatorReused => "locator_reused",
            DeviceErrorCode::PublicKeyInvalid => "public_key_invalid",
            DeviceErrorCode::QuotaExhausted => "quota_exhausted",
            DeviceErrorCode::QuotaExpired => "quota_expired",
            DeviceErrorCode::NotEnrolled => "not_enrolled",
            DeviceErrorCode::FirmwareNameInvalid => "firmware_name_invalid",
            DeviceErrorCode::FirmwareVersionInvalid => "firmware_version_invalid",
            DeviceErrorCode::FirmwareTooLarge => "firmware_too_large",
            DeviceErrorCode::FirmwareExists => "firmware_exists",
            DeviceErrorCode::FirmwareFormInvalid => "firmware_form_invalid",
            DeviceErrorCode::RangeNotSatisfiable => "range_not_satisfiable",
        }
    }

    /// The stable number (`error.details.number`).
    pub fn number(self) -> u16 {
        match self {
            DeviceErrorCode::LocatorInvalid => 1001,
            DeviceErrorCode::LocatorWithoutLogger => 1002,
            DeviceErrorCode::LocatorReused => 1003,
            DeviceErrorCode::PublicKeyInvalid => 1004,
            DeviceErrorCode::QuotaExhausted => 1005,
            DeviceErrorCode::QuotaExpired => 1006,
            DeviceErrorCode::NotEnrolled => 1007,
            DeviceErrorCode::FirmwareNameInvalid => 1101,
            DeviceErrorCode::FirmwareVersionInvalid => 1102,
            DeviceErrorCode::FirmwareTooLarge => 1103,
            DeviceErrorCode::FirmwareExists => 1104,
            DeviceErrorCode::FirmwareFormInvalid => 1105,
            DeviceErrorCode::RangeNotSatisfiable => 1106,
        }
    }

    /// The HTTP status the code is answered with.
    pub fn status(self) -> u16 {
        match self {
            DeviceErrorCode::LocatorInvalid
            | DeviceErrorCode::LocatorWithoutLogger
            | DeviceErrorCode::PublicKeyInvalid
            | DeviceErrorCode::FirmwareFormInvalid => 400,
            DeviceErrorCode::NotEnrolled => 404,
            DeviceErrorCode::LocatorReused | DeviceErrorCode::FirmwareExists => 409,
            DeviceErrorCode::FirmwareTooLarge => 413,
            DeviceErrorCode::RangeNotSatisfiable => 416,
            DeviceErrorCode::FirmwareNameInvalid | DeviceErrorCode::FirmwareVersionInvalid => 422,
            DeviceErrorCode::QuotaExhausted | DeviceErrorCode::QuotaExpired => 429,
        }
    }
}

/// A firmware name or version: 1 to `max` characters of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn valid_firmware_token(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text != "."
        && text != ".."
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_numbers_are_unique() {
        let mut names: Vec<_> = DeviceErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let mut numbers: Vec<_> = DeviceErrorCode::ALL.iter().map(|c| c.number()).collect();
        names.sort_unstable();
        names.dedup();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(names.len(), DeviceErrorCode::ALL.len());
        assert_eq!(numbers.len(), DeviceErrorCode::ALL.len());
        for code in DeviceErrorCode::ALL {
            let json = serde_json::to_value(code).expect("serializes");
            assert_eq!(json, code.as_str());
        }
    }

    #[test]
    fn firmware_tokens_are_path_safe() {
        assert!(valid_firmware_token("fw_1.2-rc", 100));
        for bad in ["", "a b", "../etc", "a/b", ".", "..", "é"] {
            assert!(!valid_firmware_token(bad, 100), "{bad}");
        }
        assert!(!valid_firmware_token(&"n".repeat(101), 100));
    }
}
