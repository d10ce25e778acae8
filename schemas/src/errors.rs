//! The error envelope every Loam-native endpoint answers with.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Loam's error body: a stable machine code, a sentence for people, optional details (e.g. which
/// field failed), and the request id to quote when reporting a problem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorDetail,
    /// The request's `x-request-id`, also in the response header and the server log.
    pub request_id: String,
}

/// The inside of [`ErrorResponse`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code such as `not_found` or `validation_failed`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Extra structure, e.g. `{"field": ["message", ...]}` for validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}
