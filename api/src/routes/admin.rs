//! User administration for administrators (`/api/admin/…`): list and search accounts, grant
//! and revoke admin rights, disable and enable accounts, set passwords, read the audit trail.
//! Others get 403, as for the other administrators' routes (open-data approval, quotas).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use loam_db::models::User;
use loam_schemas::admin::{
    AdminUserResponse, AuditEntryResponse, AuditPage, SetPasswordRequest, UserPage,
};
use loam_schemas::errors::ErrorResponse;

use crate::admin::{Actor, Admin, AuditRow};
use crate::caller::Person;
use crate::error::ApiError;
use crate::extract::{Ids, Valid};
use crate::state::AppState;

/// Largest page of accounts or audit records.
const PAGE_MAX: i64 = 500;

fn admin_of<'a>(state: &'a AppState, person: &Person) -> Result<Admin<'a>, ApiError> {
    if !person.is_admin {
        return Err(ApiError::Forbidden(
            "only administrators manage accounts".into(),
        ));
    }
    Ok(Admin::server(state.db(), state.auth()))
}

fn user_response(user: User) -> AdminUserResponse {
    AdminUserResponse {
        id: user.id,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        is_admin: user.is_admin,
        disabled_at: user.disabled_at.map(|t| t.and_utc()),
        created_at: user.created_at.and_utc(),
    }
}

fn audit_response(row: AuditRow) -> AuditEntryResponse {
    let detail = serde_json::from_str(&row.entry.detail)
        .unwrap_or(serde_json::Value::String(row.entry.detail));
    AuditEntryResponse {
        id: row.entry.id,
        at: row.entry.at.and_utc(),
        actor_id: row.entry.actor_id,
        actor_email: row.actor_email,
        action: row.entry.action,
        subject_id: row.entry.subject_id,
        subject_email: row.subject_email,
        detail,
    }
}

/// Lists accounts, optionally those whose email or name contains `q` (case-insensitive).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    params(
        ("q" = Option<String>, Query, description = "Substring of the email, given or family name"),
        ("limit" = Option<i64>, Query, description = "Page size (default 50, at most 500)"),
        ("offset" = Option<i64>, Query, description = "Matches to skip"),
    ),
    responses(
        (status = 200, description = "A page of accounts, by email", body = UserPage),
        (status = 400, description = "limit or offset is not a non-negative integer", body = ErrorResponse),
        (status = 403, description = "The caller is not an administrator", body = ErrorResponse),
    ))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    person: Person,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<UserPage>, ApiError> {
    let admin = admin_of(&state, &person)?;
    let (limit, offset) = crate::extract::page(&params, 50, PAGE_MAX)?;
    let query = params.get("q").cloned();
    if query.as_deref().is_some_and(|q| q.contains('\0')) {
        // Postgres text cannot hold NUL, so no account matches; say so instead of failing.
        return Err(ApiError::bad_request(
            "bad_parameter",
            "q must not contain NUL characters",
        ));
    }
    // Emails and names are short; a longer search cannot match and SQLite refuses long patterns.
    if query.as_deref().is_some_and(|q| q.chars().count() > 320) {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "q is longer than any email or name (at most 320 characters)",
        ));
    }
    let (users, total) = admin.list(query, limit, offset).await?;
    Ok(Json(UserPage {
        users: users.into_iter().map(user_response).collect(),
        total,
        limit,
        offset,
    }))
}

/// Makes an account an administrator (idempotent). Its holder's existing tokens carry the right
/// within 2 s.
#[utoipa::path(put, path = "/api/admin/users/{user_id}/admin", tag = "admin",
    params(("user_id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account, now an administrator", body = AdminUserResponse),
        (status = 403, description = "The caller is not an administrator", body = ErrorResponse),
        (status = 404, description = "No such account", body = ErrorResponse),
    ))]
pub(crate) async fn grant_admin(
    State(state): State<AppState>,
    person: Person,
    Ids(user_id): Ids<String>,
) -> Result<Json<AdminUserResponse>, ApiError> {
    let admin = admin_of(&state, &person)?;
    let user = admin
        .set_admin(Actor::Person(&person.user_id), &user_id, true)
        .await?;
    Ok(Json(user_response(user)))
}

/// Takes administration away (idempotent); existing tokens lose the right within 2 s.
#[utoipa::path(delete, path = "/api/admin/users/{user_id}/admin", tag = "admin",
    params(("user_id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account, no longer an administrator", body = AdminUserResponse),
        (status = 403, description = "The caller is not an administrator", body = ErrorResponse),
        (status = 404, description = "No such account", body = ErrorResponse),
        (status = 409, description = "It is the last enabled administrator", body = ErrorResponse),
    ))]
pub(crate) async fn revoke_admin(
    State(state): State<AppState>,
    person: Person,
    Ids(user_id): Ids<String>,
) -> Result<Json<AdminUserResponse>, ApiError> {
    let admin = admin_of(&state, &person)?;
    let user = admin
        .set_admin(Actor::Person(&person.user_id), &user_id, false)
        .await?;
    Ok(Json(user_response(user)))
}

/// Disables an account (idempotent): sign-in and refresh answer 403 `account_disabled`, its
/// sessions end, and its access tokens and API keys are refused within 2 s.
#[utoipa::path(put, path = "/api/admin/users/{user_id}/disabled", tag = "admin",
    params(("user_id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account, now disabled", body = AdminUserResponse),
        (status = 403, description = "The caller is not an administrator", body = ErrorResponse),
        (status = 404, description = "No such account", body = ErrorResponse),
        (status = 409, description = "It is the last enabled administrator", body = ErrorResponse),
    ))]
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    person: Person,
    Ids(user_id): Ids<String>,
) -> Result<Json<AdminUserResponse>, ApiError> {
    let admin = admin_of(&state, &person)?;
    let user = admin
        .set_disabled(Actor::Person(&person.user_id), &user_id, true)
        .await?;
    Ok(Json(user_response(user)))
}

/// Enables a disabled account again (idempotent); its holder signs in anew.
#[utoipa::path(delete, path = "/api/admin/users/{user_id}/disabled", tag = "admin",
    params(("user_id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account, enabled", body = AdminUserResponse),
        (status = 403, description = "The caller is not an administrator", body = ErrorResponse),
        (status = 404, description = "No such account", body = ErrorResponse),
    ))]
pub(crate) async fn enable_user(
    State(state): State<AppState>,
    person: Person,
    Ids(user_id): Ids<String>,
) -> Result<Json<AdminUserResponse>, ApiError> {
    let admin = admin_of(&state, &person)?;
    let user = admin
        .set_disabled(Actor::Person(&person.user_id), &user_id, false)
        .await?;
    Ok(Json(user_response(user)))
}

/// Sets an account's password and ends its sessions (refresh tokens); access tokens already
/// issued run out on their own.
#[utoipa::path(put, path = "/api/admin/users/{user_id}/password", tag = "admin",
    params(("user_id" = String, Path, description = "The account's id")),
    request_body = SetPasswordRequest,
    responses(
        (status = 200, description = "The account; the new password works now", body = AdminUserResponse),
        (status = 403, description = "The caller is not an administrator", body = ErrorResponse),
        (status = 404, description = "No such account", body = ErrorResponse),
    ))]
pub(crate) async fn set_password(
    State(state): State<AppState>,
    person: Person,
    Ids(user_id): Ids<String>,
    Valid(body): Valid<SetPasswordRequest>,
) -> Result<Json<AdminUserResponse>, ApiError> {
    let admin = admin_of(&state, &person)?;
    let user = admin
        .set_password(Actor::Person(&person.user_id), &user_id, &body.password)
        .await?;
    Ok(Json(user_response(user)))
}

/// The audit trail of these actions (API and `loam user …`), newest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin",
    params(
        ("limit" = Option<i64>, Query, description = "Page size (default 50, at most 500)"),
        ("offset" = Option<i64>, Query, description = "Records to skip"),
    ),
    responses(
        (status = 200, description = "A page of the trail", body = AuditPage),
        (status = 400, description = "limit or offset is not a non-negative integer", body = ErrorResponse),
        (status = 403, description = "The caller is not an administrator", body = ErrorResponse),
    ))]
pub(crate) async fn audit_log(
    State(state): State<AppState>,
    person: Person,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, ApiError> {
    let admin = admin_of(&state, &person)?;
    let (limit, offset) = crate::extract::page(&params, 50, PAGE_MAX)?;
    let (rows, total) = admin.audit(limit, offset).await?;
    Ok(Json(AuditPage {
        entries: rows.into_iter().map(audit_response).collect(),
        total,
        limit,
        offset,
    }))
}
