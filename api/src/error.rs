//! The API's one error type and its mapping to HTTP. Every Loam-native error leaves through here
//! as `{"error": {"code", "message", "details"}, "request_id"}`; handlers return [`ApiError`] and
//! never build error bodies themselves.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use loam_db::DbError;
use loam_schemas::devices::DeviceErrorCode;
use serde_json::Value;

/// Everything a request can fail with, each variant tied to one status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (unparseable JSON, bad query string).
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Explanation naming what was wrong.
        message: String,
    },
    /// 422: the request parsed but a field broke a rule; `details` maps fields to messages.
    #[error("validation failed")]
    Invalid(FieldErrors),
    /// 401: no valid credentials for a route that needs them (the message never says which
    /// part of a credential was wrong).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but this action is switched off (e.g. closed registration).
    #[error("{0}")]
    Forbidden(String),
    /// 403 `account_disabled`: the right password (or a live refresh token) of an account an
    /// administrator disabled.
    #[error("this account is disabled; ask an administrator")]
    AccountDisabled,
    /// 429: too many failed attempts from this address; retry after the given seconds.
    #[error("too many failed attempts; retry in {0} s")]
    TooManyRequests(u64),
    /// 404: no such route or resource (also used for other people's resources: no oracle).
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the write conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// 410: what was asked for existed but is no longer kept (raw rows past the retention
    /// horizon); the message says what to ask for instead.
    #[error("{0}")]
    Expired(String),
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than this server accepts (LOAM_BODY_LIMIT_BYTES)")]
    PayloadTooLarge,
    /// 415: the body's content type is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 502: an upstream service (identity provider, TTN) failed.
    #[error("{0}")]
    BadGateway(String),
    /// 503: a dependency (database, Redis) is down or the request ran out of time.
    #[error("{0}")]
    Unavailable(String),
    /// 503: an optional integration (OIDC sign-in, TTN sync) is switched off in this
    /// deployment's settings; the message says which, and that it is not an outage.
    #[error("{0}")]
    NotConfigured(String),
    /// 503: work could not be queued because Redis is unreachable (the cause is logged).
    #[error(
        "the job queue is unavailable (Redis cannot be reached); nothing was started, try again shortly"
    )]
    QueueUnavailable(String),
    /// 503: more work is arriving than the database takes in; retry after the given seconds
    /// (nothing of the request was stored).
    #[error("the server is busy storing other uploads; nothing was stored, retry in {0} s")]
    Overloaded(u64),
    /// 408: a streamed upload stopped sending for longer than `LOAM_UPLOAD_IDLE_SECS`; nothing
    /// of it was kept.
    #[error("no part of the upload arrived for {0} s; nothing was stored, send it again")]
    UploadStalled(u64),
    /// 503: the request took longer than the configured deadline.
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    /// An ENTS endpoint's own error body, kept byte-for-byte where ENTS clients read it
    /// (e.g. `{"error": "Expression is required"}`); rendered without Loam's envelope.
    #[error("{status}: {body}")]
    Ents {
        /// The status.
        status: StatusCode,
        /// The exact JSON body.
        body: Value,
    },
    /// A device endpoint's numbered error (status, code and number fixed by the code).
    #[error("{message}")]
    Device {
        /// Which failure.
        code: DeviceErrorCode,
        /// Explanation for people.
        message: String,
        /// Extra fields (merged with `number`).
        details: Option<Value>,
    },
    /// 500: a bug or an unexpected failure; the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Which fields broke which rules, rendered as the error's `details`:
/// `{"field": ["message", …]}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(std::collections::BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// One field with one message: most refusals name a single field.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.push(field, message);
        errors
    }

    /// Adds a message for a field (a field may break several rules).
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    fn to_json(&self) -> Value {
        self.0
            .iter()
            .map(|(field, messages)| (field.clone(), Value::from(messages.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

impl ApiError {
    /// 422 for one field breaking one rule.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(FieldErrors::one(field, message))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::AccountDisabled => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Expired(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_)
            | ApiError::NotConfigured(_)
            | ApiError::QueueUnavailable(_)
            | ApiError::Overloaded(_)
            | ApiError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UploadStalled(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Ents { status, .. } => *status,
            ApiError::Device { code, .. } => {
                StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Invalid(_) => "validation_failed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::AccountDisabled => "account_disabled",
            ApiError::TooManyRequests(_) => "rate_limited",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Expired(_) => "expired",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::BadGateway(_) => "upstream_failed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotConfigured(_) => "not_configured",
            ApiError::QueueUnavailable(_) => "queue_unavailable",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Timeout(_) => "timeout",
            ApiError::UploadStalled(_) => "upload_stalled",
            ApiError::Ents { .. } => "ents",
            ApiError::Device { code, .. } => code.as_str(),
            ApiError::Internal(_) => "internal",
        }
    }

    /// A 400 with a stable code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A numbered device error without extra details.
    pub fn device(code: DeviceErrorCode, message: impl Into<String>) -> Self {
        ApiError::Device {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// A 404 for an unknown route, worded for people who mistyped a path.
    pub fn no_route(method: &str, path: &str) -> Self {
        ApiError::NotFound(format!("no route for {method} {path}"))
    }
}

/// An error on its way out: the middleware that owns the request id renders it into the body, so
/// every error (including ones from extractors and fallbacks) carries the id.
#[derive(Debug, Clone)]
pub(crate) struct ErrorReport {
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// The cause chain of a 5xx, for the log line only.
    pub cause: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Ents { status, body } = self {
            return (status, axum::Json(body)).into_response();
        }
        let status = self.status();
        let code = self.code();
        let retry_after = match &self {
            ApiError::TooManyRequests(seconds) | ApiError::Overloaded(seconds) => Some(*seconds),
            ApiError::Timeout(_) => Some(1),
            _ => None,
        };
        let (message, details, cause) = match self {
            // Outages and bugs get a generic sentence; the cause goes to the log line only.
            ApiError::Unavailable(why) => (
                "a dependency is unavailable, try again shortly".to_owned(),
                None,
                Some(why),
            ),
            ApiError::Internal(err) => {
                ("internal error".to_owned(), None, Some(format!("{err:#}")))
            }
            ApiError::QueueUnavailable(why) => (
                ApiError::QueueUnavailable(String::new()).to_string(),
                None,
                Some(why),
            ),
            ApiError::Invalid(fields) => {
                ("validation failed".to_owned(), Some(fields.to_json()), None)
            }
            ApiError::Device {
                code,
                message,
                details,
            } => {
                let mut fields = match details {
                    Some(Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                };
                fields.insert("number".into(), code.number().into());
                (message, Some(Value::Object(fields)), None)
            }
            other => (other.to_string(), None, None),
        };
        let mut response = status.into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(ErrorReport {
            code,
            message,
            details,
            cause,
        });
        response
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => ApiError::NotFound("not found".into()),
            DbError::Unavailable(why) => ApiError::Unavailable(format!("database: {why}")),
            DbError::Contention(why) => {
                tracing::warn!(cause = %why, "write contention outlasted its retries");
                ApiError::Overloaded(1)
            }
            // The constraint's name is the schema's business, not the client's.
            DbError::UniqueViolation { constraint } => {
                tracing::debug!(constraint = ?constraint, "unique constraint refused a write");
                ApiError::Conflict("already exists".into())
            }
            DbError::UnknownTag(id) => ApiError::NotFound(format!("Tag with ID {id} not found")),
            DbError::UnknownUser(id) => ApiError::NotFound(format!("User with ID {id} not found")),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<loam_jobs::QueueError> for ApiError {
    fn from(err: loam_jobs::QueueError) -> Self {
        match err {
            loam_jobs::QueueError::Unavailable(why) => ApiError::QueueUnavailable(why),
            loam_jobs::QueueError::Db(e) => e.into(),
        }
    }
}
