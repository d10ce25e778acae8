//! Cell members and sharing. Listings show members to members only and never carry API keys.

use axum::Json;
use axum::extract::State;
use loam_db::models::User;
use loam_schemas::errors::ErrorResponse;
use loam_schemas::members::{MemberResponse, Shared, UserCells, UsersAssigned};
use serde_json::Value;

use crate::access::{self, Need};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::extract::Ids;
use crate::state::AppState;

fn member(u: User) -> MemberResponse {
    MemberResponse {
        id: u.id,
        first_name: u.first_name,
        last_name: u.last_name,
        email: u.email,
    }
}

fn body_object(body: &axum::body::Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// The members of a cell (only its members and admins may look).
#[utoipa::path(get, path = "/api/cell/{cell_id}/users", tag = "sharing",
    params(("cell_id" = u32, Path, description = "Cell id")),
    responses(
        (status = 200, description = "Members", body = Vec<MemberResponse>),
        (status = 404, description = "No such cell (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<Vec<MemberResponse>>, ApiError> {
    let cell = access::cell(&state.gate(), &caller, id, Need::Write).await?;
    let users = state
        .db()
        .run(move |c| loam_db::cells::members(c, cell.id))
        .await?;
    Ok(Json(users.into_iter().map(member).collect()))
}

/// Replaces the members of a cell (`{"user_ids": ["<uuid>", …]}`).
#[utoipa::path(post, path = "/api/cell/{cell_id}/users", tag = "sharing",
    params(("cell_id" = u32, Path, description = "Cell id")),
    request_body(content = Object, description = "`{\"user_ids\": [\"<uuid>\"]}`"),
    responses(
        (status = 200, description = "Assigned", body = UsersAssigned),
        (status = 400, description = "user_ids missing or not a list", body = ErrorResponse),
        (status = 404, description = "No such cell (or not yours), or unknown user", body = ErrorResponse),
    ))]
pub(crate) async fn replace_members(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    body: axum::body::Bytes,
) -> Result<Json<UsersAssigned>, ApiError> {
    let cell = access::cell(&state.gate(), &caller, id, Need::Write).await?;
    let ids: Vec<String> = match body_object(&body).get("user_ids") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "missing_field",
                "user_ids is required",
            ));
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::bad_request("invalid_user_ids", "user_ids must be a list of strings")
            })?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_user_ids",
                "user_ids must be a list",
            ));
        }
    };
    let users = state
        .db()
        .run(move |c| loam_db::cells::replace_members(c, cell.id, &ids))
        .await?;
    Ok(Json(UsersAssigned {
        message: "Users assigned successfully".into(),
        users: users.into_iter().map(member).collect(),
    }))
}

/// Adds a member by email.
#[utoipa::path(post, path = "/api/cell/{cell_id}/share", tag = "sharing",
    params(("cell_id" = u32, Path, description = "Cell id")),
    request_body(content = Object, description = "`{\"email\": \"…\"}`"),
    responses(
        (status = 200, description = "Shared", body = Shared),
        (status = 400, description = "Email missing/empty, or already a member", body = ErrorResponse),
        (status = 404, description = "No such cell (or not yours), or unknown email", body = ErrorResponse),
    ))]
pub(crate) async fn share_cell(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    body: axum::body::Bytes,
) -> Result<Json<Shared>, ApiError> {
    let cell = access::cell(&state.gate(), &caller, id, Need::Write).await?;
    let email = match body_object(&body).get("email") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("missing_field", "email is required"));
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(ApiError::bad_request(
                "empty_email",
                "email cannot be empty",
            ));
        }
        Some(Value::String(s)) => crate::accounts::normalize_email(s),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_email",
                "email must be a string",
            ));
        }
    };
    let shown = email.clone();
    let outcome = state
        .db()
        .run(move |c| {
            let Some(user) = loam_db::users::find_by_email(c, &email)? else {
                return Ok(None);
            };
            let added = loam_db::cells::add_member(c, cell.id, &user.id)?;
            Ok(Some((added, user)))
        })
        .await?;
    match outcome {
        None => Err(ApiError::NotFound(format!(
            "User with email {shown} not found"
        ))),
        Some((false, _)) => Err(ApiError::bad_request(
            "already_member",
            "User already has access to this cell",
        )),
        Some((true, user)) => Ok(Json(Shared {
            message: "Cell shared successfully".into(),
            user: member(user),
        })),
    }
}

async fn member_target(
    state: &AppState,
    caller: &Caller,
    cell: u32,
    user_id: String,
) -> Result<(i32, User), ApiError> {
    let cell = access::cell(&state.gate(), caller, cell, Need::Write).await?;
    let user = state
        .db()
        .run(move |c| loam_db::users::find(c, &user_id))
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    Ok((cell.id, user))
}

/// Adds one member by user id (ENTS's route, which was broken there).
#[utoipa::path(put, path = "/api/cell/{cell_id}/users/{user_id}", tag = "sharing",
    params(("cell_id" = u32, Path, description = "Cell id"), ("user_id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "Added", body = Shared),
        (status = 400, description = "Already a member", body = ErrorResponse),
        (status = 404, description = "No such cell (or not yours) or user", body = ErrorResponse),
    ))]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Ids((cell_id, user_id)): Ids<(u32, String)>,
) -> Result<Json<Shared>, ApiError> {
    let (cell, user) = member_target(&state, &caller, cell_id, user_id).await?;
    let id = user.id.clone();
    if !state
        .db()
        .run(move |c| loam_db::cells::add_member(c, cell, &id))
        .await?
    {
        return Err(ApiError::bad_request(
            "already_member",
            "User already assigned to cell",
        ));
    }
    Ok(Json(Shared {
        message: "User added to cell successfully".into(),
        user: member(user),
    }))
}

/// Removes one member by user id.
#[utoipa::path(delete, path = "/api/cell/{cell_id}/users/{user_id}", tag = "sharing",
    params(("cell_id" = u32, Path, description = "Cell id"), ("user_id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "Removed", body = loam_schemas::auth::MessageResponse),
        (status = 404, description = "No such cell (or not yours), user, or membership", body = ErrorResponse),
    ))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Ids((cell_id, user_id)): Ids<(u32, String)>,
) -> Result<Json<loam_schemas::auth::MessageResponse>, ApiError> {
    let (cell, user) = member_target(&state, &caller, cell_id, user_id).await?;
    if !state
        .db()
        .run(move |c| loam_db::cells::remove_member(c, cell, &user.id))
        .await?
    {
        return Err(ApiError::NotFound("User not assigned to this cell".into()));
    }
    Ok(Json(loam_schemas::auth::MessageResponse {
        message: "User removed from cell successfully".into(),
    }))
}

/// A person's cells (their own listing; admins may look at anyone's).
#[utoipa::path(get, path = "/api/users/{user_id}/cells", tag = "sharing",
    params(("user_id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "The person and their cells", body = UserCells),
        (status = 404, description = "No such user (or not you)", body = ErrorResponse),
    ))]
pub(crate) async fn user_cells(
    State(state): State<AppState>,
    person: crate::caller::Person,
    Ids(user_id): Ids<String>,
) -> Result<Json<UserCells>, ApiError> {
    if !crate::access::owns(&crate::caller::Caller::Person(person), Some(&user_id)) {
        return Err(ApiError::NotFound("User not found".into()));
    }
    let (user, cells) = state
        .db()
        .run(move |c| {
            let user = loam_db::users::find(c, &user_id)?;
            let cells = loam_db::cells::list(
                c,
                &loam_db::cells::Visibility::MemberOnly(user_id.clone()),
                &Default::default(),
            )?;
            Ok((user, cells))
        })
        .await?;
    let user = user.ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    Ok(Json(UserCells {
        user: member(user),
        cells: cells.into_iter().map(super::cells::cell_response).collect(),
    }))
}
