//! User administration (administrators only): accounts as an administrator sees them, a new
//! password, and the audit trail of these actions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// An account as an administrator sees it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminUserResponse {
    /// UUID.
    pub id: String,
    /// Sign-in email.
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the account is an administrator.
    pub is_admin: bool,
    /// When it was disabled (RFC 3339, UTC); null while it may sign in.
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was made (RFC 3339, UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A page of `GET /api/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    /// Accounts on this page, by email.
    pub users: Vec<AdminUserResponse>,
    /// Matches in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    /// Matches skipped.
    pub offset: i64,
}

/// `PUT /api/admin/users/{user_id}/password`: the account's new password.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// At least 10 characters, as at registration.
    #[validate(length(
        min = 10,
        max = 1024,
        message = "must be between 10 and 1024 characters"
    ))]
    pub password: String,
}

/// One administrative action, as the audit trail shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryResponse {
    /// Order of recording.
    pub id: i32,
    /// When it happened (RFC 3339, UTC).
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who did it: an administrator's id, or `cli` for `loam user …` on the server.
    pub actor_id: String,
    /// The actor's email (null for `cli` or a deleted account).
    pub actor_email: Option<String>,
    /// `grant_admin`, `revoke_admin`, `disable`, `enable` or `set_password`.
    pub action: String,
    /// The account acted on.
    pub subject_id: Option<String>,
    /// Its email (null for a deleted account).
    pub subject_email: Option<String>,
    /// Particulars of the action (never a password).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of `GET /api/admin/audit`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Records on this page.
    pub entries: Vec<AuditEntryResponse>,
    /// Records in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    /// Records skipped.
    pub offset: i64,
}
