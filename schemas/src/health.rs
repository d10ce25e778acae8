//! Health and readiness answers.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// ENTS's health answer; its bytes are fixed (see [`ENTS_HEALTH_BODY`]).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntsHealth {
    /// Always "I'm alive and healthy! Super healthy :D".
    #[schema(example = "I'm alive and healthy! Super healthy :D")]
    pub hello: String,
}

/// The exact bytes ENTS answers `GET /api/` with (its test suite compares bytes, spacing included).
pub const ENTS_HEALTH_BODY: &[u8] = b"{\"hello\": \"I'm alive and healthy! Super healthy :D\"}\n";

/// Readiness of each dependency, so an operator sees which one is down.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every configured dependency answered.
    pub status: Cow<'static, str>,
    /// `ok`, `down` (refused or failed) or `not responding` (no answer within 2 s); the cause
    /// is in the server's log.
    pub database: Cow<'static, str>,
    /// The same for Redis, or `not configured`.
    pub redis: Cow<'static, str>,
    /// `ok` when the artifacts folder (exports, staged imports) can be written, else
    /// `not writable` (the path and cause are in the log).
    pub artifacts: Cow<'static, str>,
    /// The worker's MQTT uplink subscription, when `LOAM_MQTT_URL` is set: `connected`,
    /// `connecting` or `reconnecting` (reported only: jobs still run while the broker is away).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<Cow<'static, str>>,
}

/// Liveness: the process answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    pub status: Cow<'static, str>,
}
