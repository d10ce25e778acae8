//! Loggers, their device keys, and their registration on The Things Network.

use loam_schemas::auth::MessageResponse;
use loam_schemas::jobs::{JobResponse, TtnRegistration};
use loam_schemas::loggers::{
    CreateDeviceKeyRequest, CreateLoggerRequest, DeviceKeyCreated, DeviceKeyResponse,
    LoggerCreated, LoggerResponse, UpdateLoggerRequest,
};
use serde::Serialize;

operations! {
    /// The caller's loggers (admins: every logger).
    GET "/api/logger/" => fn list_loggers(; query filter: LoggerFilter) -> json Vec<LoggerResponse>;
    /// Creates a logger.
    POST "/api/logger/" => fn create_logger(; json logger: CreateLoggerRequest) -> json LoggerCreated;
    /// One logger.
    GET "/api/logger/{logger_id}" => fn logger(logger_id: i32) -> json LoggerResponse;
    /// Renames or re-describes a logger.
    PUT "/api/logger/{logger_id}" => fn update_logger(logger_id: i32; json update: UpdateLoggerRequest) -> json MessageResponse;
    /// Deletes a logger (its measurements stay, detached).
    DELETE "/api/logger/{logger_id}" => fn delete_logger(logger_id: i32) -> json MessageResponse;
    /// A logger's device keys (never their secrets).
    GET "/api/logger/{logger_id}/keys" => fn list_device_keys(logger_id: i32) -> json Vec<DeviceKeyResponse>;
    /// Creates a device key; the secret is in the answer only.
    POST "/api/logger/{logger_id}/keys" => fn create_device_key(logger_id: i32; json key: CreateDeviceKeyRequest) -> json DeviceKeyCreated;
    /// Revokes a device key.
    DELETE "/api/logger/{logger_id}/keys/{key_id}" => fn revoke_device_key(logger_id: i32, key_id: &str) -> empty;
    /// The logger's device as The Things Network knows it (the upstream answer, passed on).
    GET "/api/logger/{logger_id}/ttn" => fn ttn_device(logger_id: i32) -> json serde_json::Value;
    /// Registers the logger on The Things Network; the upstream call runs as a job.
    POST "/api/logger/{logger_id}/ttn" => fn register_on_ttn(logger_id: i32; json device: TtnRegistration) -> json JobResponse;
    /// Removes the logger from The Things Network, as a job.
    DELETE "/api/logger/{logger_id}/ttn" => fn remove_from_ttn(logger_id: i32) -> json JobResponse;
}

/// Filter for [`Client::list_loggers`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoggerFilter {
    /// Only the caller's own loggers, also for admins (ENTS sends `user=<anything>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}
