//! Loggers (field devices) and their device keys.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use loam_auth::{ApiKeyKind, PlainKey};
use loam_db::DbError;
use loam_db::models::{ApiKey, Logger, NewLogger};
use loam_schemas::auth::MessageResponse;
use loam_schemas::errors::ErrorResponse;
use loam_schemas::loggers::{
    CreateDeviceKeyRequest, CreateLoggerRequest, DeviceKeyCreated, DeviceKeyResponse,
    LoggerCreated, LoggerResponse, UpdateLoggerRequest,
};
use loam_schemas::wire::{iso_naive, rfc3339};

use crate::access;
use crate::caller::{Caller, Person, Scope};
use crate::error::ApiError;
use crate::extract::{Ids, Valid};
use crate::state::AppState;

fn logger_response(l: Logger) -> LoggerResponse {
    LoggerResponse {
        id: l.id,
        name: l.name,
        kind: l.kind,
        device_eui: l.device_eui,
        description: l.description,
        date_created: iso_naive(l.date_created),
    }
}

/// The logger, if the caller owns it (admins: any); otherwise 404, never a hint.
async fn owned(state: &AppState, caller: &Caller, id: u32) -> Result<Logger, ApiError> {
    access::logger(&state.gate(), caller, id, access::OwnKey::No).await
}

/// Lists the caller's loggers (admins: all; `?user=` keeps ENTS's "only mine").
#[utoipa::path(get, path = "/api/logger/", tag = "loggers",
    params(("user" = Option<String>, Query, description = "Any value: only my loggers")),
    responses(
        (status = 200, description = "Loggers, ordered by id", body = Vec<LoggerResponse>),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
    ))]
pub(crate) async fn list_loggers(
    State(state): State<AppState>,
    person: Person,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<LoggerResponse>>, ApiError> {
    let mine = params.get("user").is_some_and(|u| !u.is_empty());
    let owner = (mine || !person.is_admin).then(|| person.user_id.clone());
    let list = state
        .db()
        .run(move |c| loam_db::loggers::list(c, owner.as_deref()))
        .await?;
    Ok(Json(list.into_iter().map(logger_response).collect()))
}

/// Creates a logger owned by the caller (an admin may name another owner with `userEmail`).
#[utoipa::path(post, path = "/api/logger/", tag = "loggers",
    request_body = CreateLoggerRequest,
    responses(
        (status = 201, description = "Created", body = LoggerCreated),
        (status = 400, description = "Missing field or duplicate name", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 422, description = "A field is invalid", body = ErrorResponse),
    ))]
pub(crate) async fn create_logger(
    State(state): State<AppState>,
    caller: Caller,
    Valid(body): Valid<CreateLoggerRequest>,
) -> Result<(StatusCode, Json<LoggerCreated>), ApiError> {
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name.map(str::to_owned) else {
        return Err(ApiError::bad_request(
            "missing_field",
            "Missing required field: name",
        ));
    };
    let Some(email) = body.user_email.as_deref().filter(|e| !e.trim().is_empty()) else {
        return Err(ApiError::bad_request(
            "missing_field",
            "Missing required field: userEmail",
        ));
    };
    let owner = crate::accounts::owner_for(&state.accounts(), &caller, email).await?;
    let kind = body.kind.clone().unwrap_or_default();
    let eui = body.device_eui.as_deref().map(|e| e.trim().to_uppercase());
    let description = body.description.clone().unwrap_or_default();
    let uuid = uuid::Uuid::new_v4().to_string();
    let insert_name = name.clone();
    let id = state
        .db()
        .run(move |c| {
            loam_db::loggers::insert(
                c,
                &NewLogger {
                    name: &insert_name,
                    uuid: &uuid,
                    kind: Some(&kind),
                    device_eui: eui.as_deref(),
                    description: Some(&description),
                    date_created: loam_db::now(),
                    user_id: Some(&owner),
                },
            )
        })
        .await
        .map_err(|e| match e {
            DbError::UniqueViolation { .. } => {
                ApiError::bad_request("duplicate_name", "Duplicate logger name")
            }
            other => other.into(),
        })?;
    let is_ents = body
        .kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("ents"));
    let created = if is_ents {
        LoggerCreated {
            message: "Successfully added logger (TTN registration skipped: missing or invalid LoRaWAN credentials)"
                .into(),
            logger_id: id,
            ttn_registered: Some(false),
        }
    } else {
        LoggerCreated {
            message: "Successfully added logger".into(),
            logger_id: id,
            ttn_registered: None,
        }
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// One of the caller's loggers.
#[utoipa::path(get, path = "/api/logger/{logger_id}", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    responses(
        (status = 200, description = "The logger", body = LoggerResponse),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn get_logger(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<LoggerResponse>, ApiError> {
    Ok(Json(logger_response(owned(&state, &caller, id).await?)))
}

/// Renames or re-describes one of the caller's loggers.
#[utoipa::path(put, path = "/api/logger/{logger_id}", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    request_body = UpdateLoggerRequest,
    responses(
        (status = 200, description = "Updated", body = MessageResponse),
        (status = 400, description = "Nothing to update, or duplicate name", body = ErrorResponse),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn update_logger(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    Valid(body): Valid<UpdateLoggerRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    let logger = owned(&state, &caller, id).await?;
    if body.name.is_none() && body.description.is_none() {
        return Err(ApiError::bad_request(
            "no_fields",
            "No valid fields to update",
        ));
    }
    state
        .db()
        .run(move |c| {
            loam_db::loggers::update(
                c,
                logger.id,
                body.name.as_deref(),
                body.description.as_deref(),
            )
        })
        .await
        .map_err(|e| match e {
            DbError::UniqueViolation { .. } => {
                ApiError::bad_request("duplicate_name", "Duplicate logger name")
            }
            other => other.into(),
        })?;
    Ok(Json(MessageResponse {
        message: "Successfully updated logger".into(),
    }))
}

/// Deletes one of the caller's loggers; its measurements stay, detached, and its keys die.
#[utoipa::path(delete, path = "/api/logger/{logger_id}", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn delete_logger(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<MessageResponse>, ApiError> {
    let logger = owned(&state, &caller, id).await?;
    state
        .db()
        .run(move |c| loam_db::loggers::delete(c, logger.id))
        .await?;
    state.auth().key_cache.clear();
    Ok(Json(MessageResponse {
        message: "Logger deleted successfully".into(),
    }))
}

fn key_response(k: ApiKey) -> DeviceKeyResponse {
    DeviceKeyResponse {
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        last4: k.last4,
        scopes: k
            .scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        expires_at: k.expires_at.map(rfc3339),
        created_at: rfc3339(k.created_at),
        last_used_at: k.last_used_at.map(rfc3339),
    }
}

/// Creates a device key for one of the caller's loggers; the response is the only time the key
/// is shown.
#[utoipa::path(post, path = "/api/logger/{logger_id}/keys", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    request_body = CreateDeviceKeyRequest,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = DeviceKeyCreated),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
        (status = 422, description = "Unknown scope or bad expiry", body = ErrorResponse),
    ))]
pub(crate) async fn create_device_key(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
    Valid(body): Valid<CreateDeviceKeyRequest>,
) -> Result<(StatusCode, Json<DeviceKeyCreated>), ApiError> {
    let logger = owned(&state, &Caller::Person(person.clone()), id).await?;
    let mut scopes = Vec::new();
    for name in &body.scopes {
        let scope = Scope::parse(name).ok_or_else(|| {
            ApiError::invalid(
                "scopes",
                format!("unknown scope {name:?}; use ingest, read or firmware"),
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let now = loam_db::now();
    let expires_at = body.expires_at.map(|t| t.naive_utc());
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let plain = PlainKey::generate(ApiKeyKind::Device);
    let row = ApiKey {
        id: ulid::Ulid::new().to_string(),
        user_id: logger.user_id.clone().unwrap_or(person.user_id),
        logger_id: Some(logger.id),
        name: body.name.trim().to_owned(),
        prefix: ApiKeyKind::Device.prefix().to_owned(),
        last4: plain.last4().to_owned(),
        digest: plain.digest().to_hex(),
        scopes: scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        expires_at,
        last_used_at: None,
        revoked_at: None,
        created_at: now,
    };
    let stored = row.clone();
    state
        .db()
        .run(move |c| loam_db::api_keys::insert(c, &stored))
        .await?;
    let listed = key_response(row);
    Ok((
        StatusCode::CREATED,
        Json(DeviceKeyCreated {
            id: listed.id,
            key: plain.expose().to_owned(),
            name: listed.name,
            prefix: listed.prefix,
            scopes: listed.scopes,
            expires_at: listed.expires_at,
            created_at: listed.created_at,
        }),
    ))
}

/// The live device keys of one of the caller's loggers, without their secrets.
#[utoipa::path(get, path = "/api/logger/{logger_id}/keys", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id")),
    responses(
        (status = 200, description = "Keys, oldest first", body = Vec<DeviceKeyResponse>),
        (status = 404, description = "No such logger (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn list_device_keys(
    State(state): State<AppState>,
    person: Person,
    Ids(id): Ids<u32>,
) -> Result<Json<Vec<DeviceKeyResponse>>, ApiError> {
    let logger = owned(&state, &Caller::Person(person), id).await?;
    let keys = state
        .db()
        .run(move |c| loam_db::api_keys::list_for_logger(c, logger.id))
        .await?;
    Ok(Json(keys.into_iter().map(key_response).collect()))
}

/// Revokes a device key; it stops working within seconds on every replica.
#[utoipa::path(delete, path = "/api/logger/{logger_id}/keys/{key_id}", tag = "loggers",
    params(("logger_id" = u32, Path, description = "Logger id"), ("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn revoke_device_key(
    State(state): State<AppState>,
    person: Person,
    Ids((id, key_id)): Ids<(u32, String)>,
) -> Result<StatusCode, ApiError> {
    let logger = owned(&state, &Caller::Person(person), id).await?;
    let now = loam_db::now();
    let revoked = state
        .db()
        .run(move |c| loam_db::api_keys::revoke_device_key(c, logger.id, &key_id, now))
        .await?;
    if !revoked {
        return Err(ApiError::NotFound("Key not found".into()));
    }
    state.auth().key_cache.clear();
    Ok(StatusCode::NO_CONTENT)
}
