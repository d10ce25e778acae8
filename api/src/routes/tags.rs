//! Tags and the cell↔tag links. Tag bodies keep ENTS's 400 answers for every validation failure.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use loam_db::DbError;
use loam_db::models::TagWithCount;
use loam_schemas::auth::MessageResponse;
use loam_schemas::errors::ErrorResponse;
use loam_schemas::tags::{TagCells, TagMessage, TagResponse, TagsAssigned};
use loam_schemas::wire::iso_naive;
use serde_json::{Map, Value};

use crate::access::{self, Need};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::extract::Ids;
use crate::state::AppState;

pub(crate) fn tag_response(t: TagWithCount) -> TagResponse {
    TagResponse {
        cell_count: t.cell_count,
        id: t.tag.id,
        name: t.tag.name,
        description: t.tag.description,
        created_at: iso_naive(t.tag.created_at),
    }
}

fn tag_not_found() -> ApiError {
    ApiError::NotFound("Tag not found".into())
}

/// A tag body checked as ENTS checks it: an object with only `name` (1–255 characters after
/// trimming) and `description` (string or null).
struct TagBody {
    name: Option<String>,
    description: Option<Option<String>>,
}

fn parse_tag_body(body: &axum::body::Bytes, name_required: bool) -> Result<TagBody, ApiError> {
    let invalid =
        |what: String| ApiError::bad_request("invalid_data", format!("Invalid data: {what}"));
    let value: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
        })?
    };
    let Value::Object(fields) = value else {
        return Err(invalid("expected an object".into()));
    };
    if fields.is_empty() {
        return Err(ApiError::bad_request("no_data", "No data provided"));
    }
    if let Some(unknown) = fields.keys().find(|k| *k != "name" && *k != "description") {
        return Err(invalid(format!("{unknown}: Unknown field.")));
    }
    let name = match fields.get("name") {
        None if name_required => {
            return Err(invalid("name: Missing data for required field.".into()));
        }
        None => None,
        Some(Value::String(s)) => {
            let trimmed = s.trim();
            if trimmed.is_empty() || trimmed.chars().count() > 255 {
                return Err(invalid("name: Length must be between 1 and 255.".into()));
            }
            Some(trimmed.to_owned())
        }
        Some(_) => return Err(invalid("name: Not a valid string.".into())),
    };
    let description = match fields.get("description") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => return Err(invalid("description: Not a valid string.".into())),
    };
    Ok(TagBody { name, description })
}

fn duplicate(err: DbError) -> ApiError {
    match err {
        DbError::UniqueViolation { .. } => {
            ApiError::bad_request("duplicate_name", "Tag with this name already exists")
        }
        other => other.into(),
    }
}

/// Lists tags; `search` keeps names containing it (case-insensitive).
#[utoipa::path(get, path = "/api/tag/", tag = "tags",
    params(("search" = Option<String>, Query, description = "Name substring")),
    responses((status = 200, description = "Tags, ordered by id", body = Vec<TagResponse>)))]
pub(crate) async fn list_tags(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TagResponse>>, ApiError> {
    let search = params.get("search").cloned();
    if search
        .as_deref()
        .is_some_and(|s| crate::extract::searchable(s).is_none())
    {
        return Ok(Json(Vec::new()));
    }
    let tags = state
        .db()
        .run(move |c| loam_db::tags::list(c, search.as_deref()))
        .await?;
    Ok(Json(tags.into_iter().map(tag_response).collect()))
}

/// Creates a tag owned by the caller.
#[utoipa::path(post, path = "/api/tag/", tag = "tags",
    request_body(content = Object, description = "`{\"name\": …, \"description\"?: …}`"),
    responses(
        (status = 201, description = "Created", body = TagMessage),
        (status = 400, description = "Invalid data or duplicate name", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
    ))]
pub(crate) async fn create_tag(
    State(state): State<AppState>,
    person: crate::caller::Person,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<TagMessage>), ApiError> {
    let TagBody { name, description } = parse_tag_body(&body, true)?;
    let name = name.unwrap_or_default();
    let description = description.flatten();
    let owner = person.user_id.clone();
    let tag = state
        .db()
        .run(move |c| loam_db::tags::insert(c, &name, description.as_deref(), Some(&owner)))
        .await
        .map_err(duplicate)?;
    Ok((
        StatusCode::CREATED,
        Json(TagMessage {
            message: "Tag created successfully".into(),
            tag: tag_response(tag),
        }),
    ))
}

/// One tag.
#[utoipa::path(get, path = "/api/tag/{tag_id}", tag = "tags",
    params(("tag_id" = u32, Path, description = "Tag id")),
    responses(
        (status = 200, description = "The tag", body = TagResponse),
        (status = 404, description = "No such tag", body = ErrorResponse),
    ))]
pub(crate) async fn get_tag(
    State(state): State<AppState>,
    Ids(id): Ids<u32>,
) -> Result<Json<TagResponse>, ApiError> {
    let id = i32::try_from(id).map_err(|_| tag_not_found())?;
    let tag = state
        .db()
        .run(move |c| loam_db::tags::find(c, id))
        .await?
        .ok_or_else(tag_not_found)?;
    Ok(Json(tag_response(tag)))
}

/// The tag, if the caller made it (admins: any); otherwise 404.
async fn own_tag(state: &AppState, caller: &Caller, id: u32) -> Result<TagWithCount, ApiError> {
    let id = i32::try_from(id).map_err(|_| tag_not_found())?;
    let tag = state.db().run(move |c| loam_db::tags::find(c, id)).await?;
    match tag {
        Some(t) if access::owns(caller, t.tag.created_by.as_deref()) => Ok(t),
        _ => Err(tag_not_found()),
    }
}

/// Changes one of the caller's tags.
#[utoipa::path(put, path = "/api/tag/{tag_id}", tag = "tags",
    params(("tag_id" = u32, Path, description = "Tag id")),
    request_body(content = Object, description = "`{\"name\"?: …, \"description\"?: …}`"),
    responses(
        (status = 200, description = "Updated", body = TagMessage),
        (status = 400, description = "Invalid data or duplicate name", body = ErrorResponse),
        (status = 404, description = "No such tag (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn update_tag(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    body: axum::body::Bytes,
) -> Result<Json<TagMessage>, ApiError> {
    let tag = own_tag(&state, &caller, id).await?;
    let TagBody { name, description } = parse_tag_body(&body, false)?;
    let updated = state
        .db()
        .run(move |c| {
            let description = description.as_ref().map(|d| d.as_deref());
            loam_db::tags::update(c, tag.tag.id, name.as_deref(), description)
        })
        .await
        .map_err(duplicate)?;
    Ok(Json(TagMessage {
        message: "Tag updated successfully".into(),
        tag: tag_response(updated),
    }))
}

/// Deletes one of the caller's tags (its cell links go too).
#[utoipa::path(delete, path = "/api/tag/{tag_id}", tag = "tags",
    params(("tag_id" = u32, Path, description = "Tag id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 404, description = "No such tag (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn delete_tag(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<MessageResponse>, ApiError> {
    let tag = own_tag(&state, &caller, id).await?;
    state
        .db()
        .run(move |c| loam_db::tags::delete(c, tag.tag.id))
        .await?;
    Ok(Json(MessageResponse {
        message: "Tag deleted successfully".into(),
    }))
}

/// The tags of a cell.
#[utoipa::path(get, path = "/api/cell/{cell_id}/tags", tag = "tags",
    params(("cell_id" = u32, Path, description = "Cell id")),
    responses(
        (status = 200, description = "Tags", body = Vec<TagResponse>),
        (status = 404, description = "No such cell (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn list_cell_tags(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<Vec<TagResponse>>, ApiError> {
    let cell = access::cell(&state.gate(), &caller, id, Need::Read).await?;
    let tags = state
        .db()
        .run(move |c| loam_db::tags::of_cell(c, cell.id))
        .await?;
    Ok(Json(tags.into_iter().map(tag_response).collect()))
}

/// Replaces a cell's tag set (`{"tag_ids": [...]}`).
#[utoipa::path(post, path = "/api/cell/{cell_id}/tags", tag = "tags",
    params(("cell_id" = u32, Path, description = "Cell id")),
    request_body(content = Object, description = "`{\"tag_ids\": [1, 2]}`"),
    responses(
        (status = 200, description = "Assigned", body = TagsAssigned),
        (status = 400, description = "tag_ids missing or not a list", body = ErrorResponse),
        (status = 401, description = "Credentials required (outside compatibility mode)", body = ErrorResponse),
        (status = 404, description = "No such cell (or not yours), or unknown tag", body = ErrorResponse),
    ))]
pub(crate) async fn assign_cell_tags(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    body: axum::body::Bytes,
) -> Result<Json<TagsAssigned>, ApiError> {
    let cell = access::cell(&state.gate(), &caller, id, Need::DashboardWrite).await?;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ids = match value.get("tag_ids") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "missing_field",
                "tag_ids is required",
            ));
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_i64().and_then(|n| i32::try_from(n).ok()))
            .collect::<Option<Vec<i32>>>()
            .ok_or_else(|| {
                ApiError::bad_request("invalid_tags", "tag_ids must be a list of integers")
            })?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_tags",
                "tag_ids must be a list",
            ));
        }
    };
    let tags = state
        .db()
        .run(move |c| {
            loam_db::cells::replace_tags(c, cell.id, &ids)?;
            loam_db::tags::of_cell(c, cell.id)
        })
        .await
        .map_err(super::cells::cell_write_error)?;
    Ok(Json(TagsAssigned {
        message: "Tags assigned successfully".into(),
        tags: tags.into_iter().map(tag_response).collect(),
    }))
}

async fn link_target(
    state: &AppState,
    caller: &Caller,
    cell_id: u32,
    tag_id: u32,
) -> Result<(i32, TagWithCount), ApiError> {
    let cell = access::cell(&state.gate(), caller, cell_id, Need::DashboardWrite).await?;
    let tag_id = i32::try_from(tag_id).map_err(|_| tag_not_found())?;
    let tag = state
        .db()
        .run(move |c| loam_db::tags::find(c, tag_id))
        .await?
        .ok_or_else(tag_not_found)?;
    Ok((cell.id, tag))
}

/// Adds one tag to a cell.
#[utoipa::path(put, path = "/api/cell/{cell_id}/tags/{tag_id}", tag = "tags",
    params(("cell_id" = u32, Path, description = "Cell id"), ("tag_id" = u32, Path, description = "Tag id")),
    responses(
        (status = 200, description = "Added", body = TagMessage),
        (status = 400, description = "Already assigned", body = ErrorResponse),
        (status = 404, description = "No such cell or tag", body = ErrorResponse),
    ))]
pub(crate) async fn add_cell_tag(
    State(state): State<AppState>,
    caller: Caller,
    Ids((cell_id, tag_id)): Ids<(u32, u32)>,
) -> Result<Json<TagMessage>, ApiError> {
    let (cell, tag) = link_target(&state, &caller, cell_id, tag_id).await?;
    let id = tag.tag.id;
    let updated = state
        .db()
        .run(move |c| {
            let added = loam_db::cells::add_tag(c, cell, id)?;
            Ok((added, loam_db::tags::find(c, id)?))
        })
        .await?;
    match updated {
        (true, Some(tag)) => Ok(Json(TagMessage {
            message: "Tag added to cell successfully".into(),
            tag: tag_response(tag),
        })),
        (false, _) => Err(ApiError::bad_request(
            "already_assigned",
            "Tag already assigned to cell",
        )),
        (true, None) => Err(tag_not_found()),
    }
}

/// Removes one tag from a cell.
#[utoipa::path(delete, path = "/api/cell/{cell_id}/tags/{tag_id}", tag = "tags",
    params(("cell_id" = u32, Path, description = "Cell id"), ("tag_id" = u32, Path, description = "Tag id")),
    responses(
        (status = 200, description = "Removed", body = MessageResponse),
        (status = 404, description = "No such cell or tag, or not assigned", body = ErrorResponse),
    ))]
pub(crate) async fn remove_cell_tag(
    State(state): State<AppState>,
    caller: Caller,
    Ids((cell_id, tag_id)): Ids<(u32, u32)>,
) -> Result<Json<MessageResponse>, ApiError> {
    let (cell, tag) = link_target(&state, &caller, cell_id, tag_id).await?;
    let id = tag.tag.id;
    let removed = state
        .db()
        .run(move |c| loam_db::cells::remove_tag(c, cell, id))
        .await?;
    if !removed {
        return Err(ApiError::NotFound("Tag not assigned to this cell".into()));
    }
    Ok(Json(MessageResponse {
        message: "Tag removed from cell successfully".into(),
    }))
}

/// The cells carrying a tag (those the caller may see).
#[utoipa::path(get, path = "/api/tags/{tag_id}/cells", tag = "tags",
    params(("tag_id" = u32, Path, description = "Tag id")),
    responses(
        (status = 200, description = "The tag and its cells", body = TagCells),
        (status = 404, description = "No such tag", body = ErrorResponse),
    ))]
pub(crate) async fn list_tag_cells(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<TagCells>, ApiError> {
    let id = i32::try_from(id).map_err(|_| tag_not_found())?;
    let visibility = access::visibility(&state.gate(), &caller);
    let (tag, cells) = state
        .db()
        .run(move |c| {
            let tag = loam_db::tags::find(c, id)?;
            let tagged = loam_db::cells::list(
                c,
                &visibility,
                &loam_db::cells::CellFilter {
                    name: None,
                    tag_ids: Some(vec![id]),
                },
            )?;
            Ok((tag, tagged))
        })
        .await?;
    let tag = tag.ok_or_else(tag_not_found)?;
    Ok(Json(TagCells {
        tag: tag_response(tag),
        cells: cells.into_iter().map(super::cells::cell_response).collect(),
    }))
}
