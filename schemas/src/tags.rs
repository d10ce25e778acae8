//! Tags and the cells they label, in ENTS's shapes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cells::CellResponse;

/// A tag as ENTS shows it (`created_by` never included).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagResponse {
    /// Cells carrying it.
    pub cell_count: i64,
    /// Id.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// ISO 8601, naive UTC.
    pub created_at: String,
}

/// `{"message", "tag"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagMessage {
    /// What happened.
    pub message: Cow<'static, str>,
    /// The tag.
    pub tag: TagResponse,
}

/// `{"message", "tags"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagsAssigned {
    /// "Tags assigned successfully".
    pub message: Cow<'static, str>,
    /// The cell's tags now.
    pub tags: Vec<TagResponse>,
}

/// `GET /api/tags/{id}/cells`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagCells {
    /// The tag.
    pub tag: TagResponse,
    /// Cells carrying it that the caller may see.
    pub cells: Vec<CellResponse>,
}
