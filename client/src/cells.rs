//! Cells, their tags, and the people they are shared with.

use loam_schemas::auth::MessageResponse;
use loam_schemas::cells::CellResponse;
use loam_schemas::cells::SensorResponse;
use loam_schemas::cells::{CellCreated, CreateCellRequest, UpdateCellRequest};
use loam_schemas::members::{MemberResponse, Shared, UserCells, UsersAssigned};
use loam_schemas::tags::{TagCells, TagMessage, TagResponse, TagsAssigned};
use serde::Serialize;

operations! {
    /// Cells the caller may see, filtered.
    GET "/api/cell/" => fn list_cells(; query filter: CellFilter) -> json Vec<CellResponse>;
    /// Creates a cell.
    POST "/api/cell/" => fn create_cell(; json cell: CreateCellRequest) -> json CellCreated;
    /// Cells as the ENTS dashboard lists them: the public ones plus the caller's own (all in ENTS mode).
    GET "/api/cell/id" => fn list_cell_ids() -> json Vec<CellResponse>;
    /// ENTS's no-op `POST /api/cell/id` (kept for the dashboard; changes nothing).
    POST "/api/cell/id" => fn post_cell_ids() -> empty;
    /// One cell.
    GET "/api/cell/{cell_id}" => fn cell(cell_id: i32) -> json CellResponse;
    /// Changes a cell (owner or admin).
    PUT "/api/cell/{cell_id}" => fn update_cell(cell_id: i32; json update: UpdateCellRequest) -> json MessageResponse;
    /// Deletes a cell and its measurements (owner or admin).
    DELETE "/api/cell/{cell_id}" => fn delete_cell(cell_id: i32) -> json MessageResponse;
    /// The sensors a cell has.
    GET "/api/cell/{cell_id}/sensors" => fn cell_sensors(cell_id: i32) -> json Vec<SensorResponse>;
    /// Tags, optionally by name substring.
    GET "/api/tag/" => fn list_tags(; query filter: TagFilter) -> json Vec<TagResponse>;
    /// Creates a tag.
    POST "/api/tag/" => fn create_tag(; json tag: TagFields) -> json TagMessage;
    /// One tag.
    GET "/api/tag/{tag_id}" => fn tag(tag_id: i32) -> json TagResponse;
    /// Renames or re-describes a tag.
    PUT "/api/tag/{tag_id}" => fn update_tag(tag_id: i32; json tag: TagFields) -> json TagMessage;
    /// Deletes a tag (cells keep existing).
    DELETE "/api/tag/{tag_id}" => fn delete_tag(tag_id: i32) -> json MessageResponse;
    /// The cells carrying a tag that the caller may see.
    GET "/api/tags/{tag_id}/cells" => fn tag_cells(tag_id: i32) -> json TagCells;
    /// A cell's tags.
    GET "/api/cell/{cell_id}/tags" => fn cell_tags(cell_id: i32) -> json Vec<TagResponse>;
    /// Replaces a cell's tags.
    POST "/api/cell/{cell_id}/tags" => fn assign_cell_tags(cell_id: i32; json tags: TagIds) -> json TagsAssigned;
    /// Adds one tag to a cell.
    PUT "/api/cell/{cell_id}/tags/{tag_id}" => fn add_cell_tag(cell_id: i32, tag_id: i32) -> json TagMessage;
    /// Takes one tag off a cell.
    DELETE "/api/cell/{cell_id}/tags/{tag_id}" => fn remove_cell_tag(cell_id: i32, tag_id: i32) -> json MessageResponse;
    /// The people a cell is shared with.
    GET "/api/cell/{cell_id}/users" => fn cell_members(cell_id: i32) -> json Vec<MemberResponse>;
    /// Replaces a cell's members.
    POST "/api/cell/{cell_id}/users" => fn replace_cell_members(cell_id: i32; json users: UserIds) -> json UsersAssigned;
    /// Shares a cell with the person who has this email.
    POST "/api/cell/{cell_id}/share" => fn share_cell(cell_id: i32; json with: ShareWith) -> json Shared;
    /// Adds one person (by id) to a cell.
    PUT "/api/cell/{cell_id}/users/{user_id}" => fn add_cell_member(cell_id: i32, user_id: &str) -> json Shared;
    /// Removes one person from a cell.
    DELETE "/api/cell/{cell_id}/users/{user_id}" => fn remove_cell_member(cell_id: i32, user_id: &str) -> json MessageResponse;
    /// A person and the cells they are a member of.
    GET "/api/users/{user_id}/cells" => fn user_cells(user_id: &str) -> json UserCells;
}

/// Filters for [`Client::list_cells`]; the default lists every cell the caller may see.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CellFilter {
    /// Name substring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only the caller's own cells (ENTS sends `user=<anything>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Comma-separated tag ids the cells must carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
}

/// Filter for [`Client::list_tags`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagFilter {
    /// Name substring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
}

/// A tag's fields: both for creating (name required), either for changing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagFields {
    /// Unique name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The whole tag set of a cell.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagIds {
    /// Tag ids.
    pub tag_ids: Vec<i32>,
}

/// The whole member set of a cell.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserIds {
    /// People's UUIDs.
    pub user_ids: Vec<String>,
}

/// Whom to share a cell with.
#[derive(Debug, Clone, Serialize)]
pub struct ShareWith {
    /// Their sign-in email.
    pub email: String,
}
