//! Request extractors whose failures become [`ApiError`]s, so malformed input always gets Loam's
//! JSON envelope: 400 for unparseable JSON, 415 for the wrong content type, 413 past the size
//! limit, 422 naming the field for missing fields, wrong types and failed `validator` rules; and
//! the series reads' query parameters (ENTS's times, `resample`, `stream`), refused with a 400
//! naming the parameter.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors};

use std::collections::HashMap;

use loam_db::series::{Resample, Window};
use loam_schemas::wire::parse_http_date;

use crate::error::{ApiError, FieldErrors};

/// A JSON body that must also pass its `validator` rules.
pub(crate) struct Valid<T>(pub T);

impl<S, T> FromRequest<S> for Valid<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        value.validate().map_err(validation_failed)?;
        Ok(Valid(value))
    }
}

/// Maps axum's JSON rejections onto Loam's statuses.
pub(crate) fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "expected a JSON body with Content-Type: application/json".into(),
        ),
        JsonRejection::JsonSyntaxError(err) => ApiError::BadRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {}", err.body_text()),
        },
        JsonRejection::JsonDataError(err) => {
            let text = err.body_text();
            ApiError::invalid(field_of(&text), text)
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest {
            code: "bad_request",
            message: other.body_text(),
        },
    }
}

/// serde's messages name the field as "missing field `email`" or "email: invalid type …".
fn field_of(message: &str) -> String {
    if let Some(rest) = message.split("field `").nth(1)
        && let Some(name) = rest.split('`').next()
    {
        return name.to_owned();
    }
    let detail = message
        .split_once("target type: ")
        .map(|(_, d)| d)
        .unwrap_or(message);
    detail
        .split_once(": ")
        .map(|(head, _)| head)
        .filter(|f| {
            !f.is_empty()
                && f.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        })
        .unwrap_or("body")
        .to_owned()
}

/// `{"field": ["message", …]}` for every failed rule.
pub(crate) fn validation_failed(errors: ValidationErrors) -> ApiError {
    let mut fields = FieldErrors::default();
    for (field, errs) in errors.field_errors() {
        for e in errs {
            match &e.message {
                Some(m) => fields.push(field.to_string(), m.to_string()),
                None => fields.push(field.to_string(), format!("failed the {} rule", e.code)),
            }
        }
    }
    ApiError::Invalid(fields)
}

/// Path parameters, ids as ENTS's `<int:…>` converters read them: unsigned decimal integers
/// only; anything that does not parse (negative, non-numeric, too large, not UTF-8) is Loam's
/// JSON 404, as the route would not have matched. Every route reads its path through this, never
/// through axum's `Path`, whose rejection is a plain-text 400.
pub(crate) struct Ids<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Ids<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Ids(value)),
            Err(_) => Err(ApiError::no_route(parts.method.as_str(), parts.uri.path())),
        }
    }
}

/// Reads ENTS's time parameters: RFC 1123 times (default: the last 30 days), `resample`
/// (default `hour`) and `stream`; unknown parameters are refused.
/// A listing's page from `limit` and `offset`: `limit` defaults to `default_limit` and is kept
/// within 1..=`max_limit`; either one that is not a non-negative integer is a 400.
/// A text query parameter that can be searched for: `None` when it contains NUL (U+0000),
/// which no stored text does, so such a search matches nothing (and never reaches Postgres,
/// which refuses NUL in text).
pub(crate) fn searchable(value: &str) -> Option<&str> {
    (!value.contains('\0')).then_some(value)
}

pub(crate) fn page(
    params: &HashMap<String, String>,
    default_limit: i64,
    max_limit: i64,
) -> Result<(i64, i64), ApiError> {
    let number = |key: &str, default: i64| match params.get(key) {
        None => Ok(default),
        Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad_request(
                "bad_parameter",
                format!("{key} must be a non-negative integer"),
            )
        }),
    };
    Ok((
        number("limit", default_limit)?.clamp(1, max_limit),
        number("offset", 0)?,
    ))
}

pub(crate) fn series_window(
    params: &HashMap<String, String>,
    allowed: &[&str],
    raw_since: Option<chrono::NaiveDateTime>,
) -> Result<Window, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            "unknown_parameter",
            format!("unknown query parameter {unknown:?}"),
        ));
    }
    let time = |name: &str| -> Result<Option<chrono::NaiveDateTime>, ApiError> {
        match params.get(name) {
            None => Ok(None),
            Some(text) => parse_http_date(text).map(Some).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_time",
                    format!(
                        "{name} must be an RFC 1123 date such as 'Sat, 13 Jan 2024 18:00:00 GMT'"
                    ),
                )
            }),
        }
    };
    let end = time("endTime")?.unwrap_or_else(loam_db::now);
    let start = time("startTime")?.unwrap_or(end - chrono::Duration::days(30));
    let resample = match params.get("resample") {
        None => Resample::Hour,
        Some(name) => Resample::parse(name).ok_or_else(|| {
            ApiError::bad_request("invalid_resample", "resample must be one of none, second, minute, hour, day, week, month, quarter, year")
        })?,
    };
    let stream = match params.get("stream").map(String::as_str) {
        None => false,
        Some(
            "1" | "true" | "True" | "TRUE" | "t" | "T" | "yes" | "Yes" | "YES" | "y" | "Y" | "on"
            | "On" | "ON",
        ) => true,
        Some(
            "0" | "false" | "False" | "FALSE" | "f" | "F" | "no" | "No" | "NO" | "n" | "N" | "off"
            | "Off" | "OFF",
        ) => false,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_stream",
                "stream must be a boolean such as true or false",
            ));
        }
    };
    Ok(Window {
        start,
        end,
        resample,
        stream,
        raw_since,
    })
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: missing field `email` at line 1"
            ),
            "email"
        );
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: password: invalid type: integer `3`, expected a string at line 1 column 14"
            ),
            "password"
        );
    }
}
