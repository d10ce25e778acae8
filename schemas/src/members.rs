//! Who shares a cell: members as ENTS's `/api/cell/{id}/users` shows them, and their cells.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cells::CellResponse;

/// A cell member (never an API key).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberResponse {
    /// UUID.
    pub id: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Email.
    pub email: String,
}

/// `{"message", "user"}` after sharing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Shared {
    /// "Cell shared successfully".
    pub message: Cow<'static, str>,
    /// The new member.
    pub user: MemberResponse,
}

/// `{"message", "users"}` after replacing members.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsersAssigned {
    /// "Users assigned successfully".
    pub message: Cow<'static, str>,
    /// The members now.
    pub users: Vec<MemberResponse>,
}

/// `GET /api/users/{id}/cells`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserCells {
    /// The person.
    pub user: MemberResponse,
    /// The cells they are a member of.
    pub cells: Vec<CellResponse>,
}
