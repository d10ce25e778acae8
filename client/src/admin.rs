//! User administration (administrators only): accounts, admin rights, disabling, passwords and
//! the audit trail.

use loam_schemas::admin::{AdminUserResponse, AuditPage, SetPasswordRequest, UserPage};
use serde::Serialize;

operations! {
    /// Accounts whose email or name contains `q`, a page at a time.
    GET "/api/admin/users" => fn admin_users(; query search: UserSearch) -> json UserPage;
    /// Makes an account an administrator.
    PUT "/api/admin/users/{user_id}/admin" => fn grant_admin(user_id: &str) -> json AdminUserResponse;
    /// Takes administration away (409 for the last enabled administrator).
    DELETE "/api/admin/users/{user_id}/admin" => fn revoke_admin(user_id: &str) -> json AdminUserResponse;
    /// Disables an account (409 for the last enabled administrator).
    PUT "/api/admin/users/{user_id}/disabled" => fn disable_user(user_id: &str) -> json AdminUserResponse;
    /// Enables a disabled account.
    DELETE "/api/admin/users/{user_id}/disabled" => fn enable_user(user_id: &str) -> json AdminUserResponse;
    /// Sets an account's password and ends its sessions.
    PUT "/api/admin/users/{user_id}/password" => fn set_user_password(user_id: &str; json password: SetPasswordRequest) -> json AdminUserResponse;
    /// The audit trail of these actions, newest first.
    GET "/api/admin/audit" => fn audit_log(; query page: AuditQuery) -> json AuditPage;
}

/// A page of [`Client::admin_users`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserSearch {
    /// Substring of the email or a name (none: everyone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Page size (server default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Entries to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// A page of [`Client::audit_log`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditQuery {
    /// Page size (server default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Records to skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}
