//! Loggers and their device keys, in ENTS's shapes (`uuid` and owner never shown; a key's
//! secret only once, at creation).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// A logger as ENTS shows it (`uuid` and owner never included).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoggerResponse {
    /// Id devices use.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Free-text type (`ents`, `other`, …).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// LoRaWAN device EUI.
    pub device_eui: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// ISO 8601, naive UTC.
    pub date_created: String,
}

/// `POST /api/logger/`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
pub struct CreateLoggerRequest {
    /// Unique name (required).
    #[validate(length(max = 255))]
    pub name: Option<String>,
    /// Owner's email (required, as in ENTS).
    #[serde(rename = "userEmail")]
    pub user_email: Option<String>,
    /// Free-text type; `ents` asks for TTN registration.
    #[serde(rename = "type")]
    #[validate(length(max = 64))]
    pub kind: Option<String>,
    /// Device EUI; stored trimmed and upper-cased.
    #[validate(length(max = 64))]
    pub device_eui: Option<String>,
    /// Free text.
    #[validate(length(max = 1000))]
    pub description: Option<String>,
    /// TTN: device EUI (16 hex digits).
    pub dev_eui: Option<String>,
    /// TTN: join EUI (16 hex digits).
    pub join_eui: Option<String>,
    /// TTN: AppKey (32 hex digits).
    pub app_key: Option<String>,
}

/// `PUT /api/logger/{id}`: name and description only.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
pub struct UpdateLoggerRequest {
    /// New name.
    #[validate(length(min = 1, max = 255))]
    pub name: Option<String>,
    /// New description.
    #[validate(length(max = 1000))]
    pub description: Option<String>,
}

/// After creating a logger.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoggerCreated {
    /// What happened.
    pub message: String,
    /// New id.
    pub logger_id: i32,
    /// For `ents` loggers: whether TTN registration happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttn_registered: Option<bool>,
}

/// `POST /api/logger/{id}/keys`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeviceKeyRequest {
    /// A label.
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// `ingest`, `read`, `firmware`.
    #[validate(length(min = 1, max = 3))]
    pub scopes: Vec<String>,
    /// Optional expiry (RFC 3339).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A device key as listed (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceKeyResponse {
    /// Key id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Visible prefix.
    pub prefix: String,
    /// Last four characters.
    pub last4: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry (RFC 3339) or null.
    pub expires_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last use (RFC 3339) or null.
    pub last_used_at: Option<String>,
}

/// A new device key: the only time `key` is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceKeyCreated {
    /// Key id.
    pub id: String,
    /// The full key; store it on the device now.
    pub key: String,
    /// Label.
    pub name: String,
    /// Visible prefix.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry (RFC 3339) or null.
    pub expires_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}
