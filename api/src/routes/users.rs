//! The current user: profile (`/api/user`) and ENTS's single user API key (`/api/apikey/`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use loam_auth::{ApiKeyKind, PlainKey};
use loam_db::models::{ApiKey, User};
use loam_schemas::auth::{
    AccountResponse, MessageResponse, ProfileResponse, ProfileUpdate, UserKeyResponse,
};
use loam_schemas::errors::ErrorResponse;

use crate::caller::{Person, unauthenticated};
use crate::error::ApiError;
use crate::extract::Valid;
use crate::state::AppState;

/// The account form of a stored user (no secrets).
pub(crate) fn account_response(user: User) -> AccountResponse {
    AccountResponse {
        id: user.id,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        is_admin: user.is_admin,
    }
}

fn profile(user: User) -> ProfileResponse {
    ProfileResponse {
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
    }
}

async fn load(state: &AppState, person: &Person) -> Result<User, ApiError> {
    let id = person.user_id.clone();
    state
        .db()
        .run(move |c| loam_db::users::find(c, &id))
        .await?
        .ok_or_else(unauthenticated)
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/user", tag = "users",
    responses(
        (status = 200, description = "The caller's profile", body = ProfileResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
    ))]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    person: Person,
) -> Result<Json<ProfileResponse>, ApiError> {
    Ok(Json(profile(load(&state, &person).await?)))
}

/// Changes the caller's names (the email cannot change here).
#[utoipa::path(put, path = "/api/user", tag = "users",
    request_body = ProfileUpdate,
    responses(
        (status = 200, description = "The updated profile", body = ProfileResponse),
        (status = 400, description = "Nothing to update", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
        (status = 422, description = "A field broke a rule", body = ErrorResponse),
    ))]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    person: Person,
    Valid(body): Valid<ProfileUpdate>,
) -> Result<Json<ProfileResponse>, ApiError> {
    if body.first_name.is_none() && body.last_name.is_none() {
        return Err(ApiError::BadRequest {
            code: "no_input",
            message: "No input data provided".into(),
        });
    }
    let id = person.user_id.clone();
    let user = state
        .db()
        .run(move |c| {
            loam_db::users::update_names(
                c,
                &id,
                body.first_name.as_deref(),
                body.last_name.as_deref(),
            )
        })
        .await?;
    Ok(Json(profile(user)))
}

fn masked(key: &ApiKey) -> String {
    loam_auth::mask(&key.prefix, &key.last4)
}

/// The caller's API key, masked (the full key is shown only when created).
#[utoipa::path(get, path = "/api/apikey/", tag = "users",
    responses(
        (status = 200, description = "The masked key, or null", body = UserKeyResponse),
        (status = 401, description = "A bearer token is required", body = ErrorResponse),
    ))]
pub(crate) async fn get_user_key(
    State(state): State<AppState>,
    person: Person,
) -> Result<Json<UserKeyResponse>, ApiError> {
    let id = person.user_id.clone();
    let key = state
        .db()
        .run(move |c| loam_db::api_keys::find_user_key(c, &id))
        .await?;
    Ok(Json(UserKeyResponse {
        api_key: key.as_ref().map(masked),
    }))
}

/// Creates the caller's API key and shows it this once; one key per person, as in ENTS.
#[utoipa::path(post, path = "/api/apikey/", tag = "users",
    responses(
        (status = 201, description = "The new key, in full (shown only now)", body = UserKeyResponse),
        (status = 401, description = "A bearer token is required", body = ErrorResponse),
        (status = 409, description = "A key exists; delete it first (ENTS's `{\"message\"}` body)", body = MessageResponse),
    ))]
pub(crate) async fn create_user_key(
    State(state): State<AppState>,
    person: Person,
) -> Result<(StatusCode, Json<UserKeyResponse>), ApiError> {
    let plain = PlainKey::generate(ApiKeyKind::User);
    let now = loam_db::now();
    let row = ApiKey {
        id: ulid::Ulid::new().to_string(),
        user_id: person.user_id.clone(),
        logger_id: None,
        name: "user key".into(),
        prefix: ApiKeyKind::User.prefix().into(),
        last4: plain.last4().into(),
        digest: plain.digest().to_hex(),
        scopes: "read,ingest".into(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        created_at: now,
    };
    let created = state
        .db()
        .run(move |c| {
            loam_db::write_transaction(c, |c| {
                if loam_db::api_keys::find_user_key(c, &row.user_id)?.is_some() {
                    return Ok(false);
                }
                loam_db::api_keys::insert(c, &row)?;
                Ok(true)
            })
        })
        .await?;
    if !created {
        // ENTS's exact answer (reference §2.5), not Loam's envelope: the dashboard shows it.
        return Err(ApiError::Ents {
            status: StatusCode::CONFLICT,
            body: serde_json::json!({
                "message": "API key already exists. Delete existing key before creating a new one."
            }),
        });
    }
    Ok((
        StatusCode::CREATED,
        Json(UserKeyResponse {
            api_key: Some(plain.expose().to_owned()),
        }),
    ))
}

/// Revokes the caller's API key (also fine when there is none).
#[utoipa::path(delete, path = "/api/apikey/", tag = "users",
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 401, description = "A bearer token is required", body = ErrorResponse),
    ))]
pub(crate) async fn delete_user_key(
    State(state): State<AppState>,
    person: Person,
) -> Result<Json<MessageResponse>, ApiError> {
    let id = person.user_id.clone();
    let now = loam_db::now();
    state
        .db()
        .run(move |c| loam_db::api_keys::revoke_user_keys(c, &id, now))
        .await?;
    state.auth().key_cache.clear();
    Ok(Json(MessageResponse {
        message: "API key deleted".into(),
    }))
}
