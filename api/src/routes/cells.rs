//! Cells: the deployment sites measurements belong to.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use loam_db::DbError;
use loam_db::cells::{CellChanges, CellFilter, Visibility};
use loam_db::models::{Cell, NewCell};
use loam_schemas::auth::MessageResponse;
use loam_schemas::cells::CellResponse;
use loam_schemas::cells::SensorResponse;
use loam_schemas::cells::{CellCreated, CreateCellRequest, UpdateCellRequest};
use loam_schemas::errors::ErrorResponse;

use crate::access::{self, Need};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Ids, Valid};
use crate::state::AppState;

/// The ENTS cell object for a stored cell.
pub(crate) fn cell_response(cell: Cell) -> CellResponse {
    CellResponse {
        id: cell.id,
        name: cell.name,
        location: cell.location,
        latitude: cell.latitude,
        longitude: cell.longitude,
        archive: cell.archive,
        public: cell.public,
    }
}

/// Lists cells as the ENTS dashboard and `ents` client read them: every cell in ENTS
/// compatibility mode; otherwise the public ones plus, for a signed-in person, their own.
#[utoipa::path(get, path = "/api/cell/id", tag = "cells",
    responses(
        (status = 200, description = "Cells, ordered by id", body = Vec<CellResponse>),
        (status = 401, description = "Credentials were sent and are invalid", body = ErrorResponse),
        (status = 503, description = "The database is unreachable (the answer says so; retry later)", body = ErrorResponse),
    ))]
pub(crate) async fn list_cell_ids(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<CellResponse>>, ApiError> {
    let visibility = access::visibility(&state.gate(), &caller);
    let cells = state
        .db()
        .run(move |c| loam_db::cells::list(c, &visibility, &CellFilter::default()))
        .await?;
    Ok(Json(cells.into_iter().map(cell_response).collect()))
}

/// Lists cells with ENTS's filters: `name` (substring, case-insensitive; then `user` is
/// ignored), `user` (any value: only cells the caller is a member of), `tags` (comma-separated
/// ids, any of them).
#[utoipa::path(get, path = "/api/cell/", tag = "cells",
    params(
        ("name" = Option<String>, Query, description = "Name substring"),
        ("user" = Option<String>, Query, description = "Any value: only my cells"),
        ("tags" = Option<String>, Query, description = "Comma-separated tag ids"),
    ),
    responses(
        (status = 200, description = "Cells, ordered by id", body = Vec<CellResponse>),
        (status = 400, description = "Bad filter", body = ErrorResponse),
        (status = 401, description = "No valid credentials", body = ErrorResponse),
    ))]
pub(crate) async fn list_cells(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<CellResponse>>, ApiError> {
    if params.contains_key("category") {
        return Err(ApiError::bad_request(
            "unknown_filter",
            "tags have no category; filter by `tags` instead",
        ));
    }
    let tag_ids = match params
        .get("tags")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        Some(list) => Some(
            list.split(',')
                .map(|t| t.trim().parse::<i32>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ApiError::bad_request("invalid_tags", "Invalid tag IDs format"))?,
        ),
        None => None,
    };
    let name = params.get("name").filter(|n| !n.is_empty()).cloned();
    if name
        .as_deref()
        .is_some_and(|n| crate::extract::searchable(n).is_none())
    {
        return Ok(Json(Vec::new()));
    }
    let mine = name.is_none() && params.get("user").is_some_and(|u| !u.is_empty());
    let visibility = match (&caller, mine) {
        (Caller::Person(p), true) => Visibility::MemberOnly(p.user_id.clone()),
        _ => access::visibility(&state.gate(), &caller),
    };
    let filter = CellFilter { name, tag_ids };
    let cells = state
        .db()
        .run(move |c| loam_db::cells::list(c, &visibility, &filter))
        .await?;
    Ok(Json(cells.into_iter().map(cell_response).collect()))
}

/// One cell.
#[utoipa::path(get, path = "/api/cell/{cell_id}", tag = "cells",
    params(("cell_id" = u32, Path, description = "Cell id")),
    responses(
        (status = 200, description = "The cell", body = CellResponse),
        (status = 404, description = "No such cell (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn get_cell(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<CellResponse>, ApiError> {
    Ok(Json(cell_response(
        access::cell(&state.gate(), &caller, id, Need::Read).await?,
    )))
}

/// Creates a cell (ENTS body). The caller becomes owner and first member; an admin may name
/// another owner with `userEmail`. All or nothing: an unknown tag leaves no cell behind.
#[utoipa::path(post, path = "/api/cell/", tag = "cells",
    request_body = CreateCellRequest,
    responses(
        (status = 200, description = "Created", body = CellCreated),
        (status = 400, description = "Duplicate name or malformed JSON", body = ErrorResponse),
        (status = 401, description = "Credentials required (outside compatibility mode)", body = ErrorResponse),
        (status = 404, description = "A tag id does not exist", body = ErrorResponse),
        (status = 422, description = "A field is missing or invalid", body = ErrorResponse),
    ))]
pub(crate) async fn create_cell(
    State(state): State<AppState>,
    caller: Caller,
    Valid(body): Valid<CreateCellRequest>,
) -> Result<Json<CellCreated>, ApiError> {
    let owner = crate::accounts::owner_for(&state.accounts(), &caller, &body.user_email).await?;
    let name = body.name.trim().to_owned();
    let tag_ids = body.tag_ids.unwrap_or_default();
    let insert_name = name.clone();
    let result = state
        .db()
        .run(move |c| {
            loam_db::cells::insert_with(
                c,
                &NewCell {
                    name: &insert_name,
                    location: Some(&body.location),
                    latitude: Some(body.latitude),
                    longitude: Some(body.longitude),
                    user_id: Some(&owner),
                    archive: body.archive,
                    public: body.public.unwrap_or(false),
                    created_at: loam_db::now(),
                },
                &tag_ids,
            )
        })
        .await;
    let id = result.map_err(cell_write_error)?;
    Ok(Json(CellCreated {
        message: "Successfully added cell".into(),
        id,
        name,
    }))
}

/// ENTS's answers for the ways a cell write can collide.
pub(crate) fn cell_write_error(err: DbError) -> ApiError {
    match err {
        DbError::UniqueViolation { .. } => {
            ApiError::bad_request("duplicate_name", "Duplicate cell name")
        }
        other => other.into(),
    }
}

/// Changes a cell (`lat`/`long` keys as in ENTS; `public` is Loam's); `tag_ids` replaces tags.
#[utoipa::path(put, path = "/api/cell/{cell_id}", tag = "cells",
    params(("cell_id" = u32, Path, description = "Cell id")),
    request_body = UpdateCellRequest,
    responses(
        (status = 200, description = "Updated", body = MessageResponse),
        (status = 400, description = "Bad tag list or duplicate name", body = ErrorResponse),
        (status = 404, description = "No such cell (or not yours), or unknown tag", body = ErrorResponse),
        (status = 422, description = "A field breaks its rule: a coordinate that is not a number (or numeric text) in range, an archive flag that is not a boolean", body = ErrorResponse),
    ))]
pub(crate) async fn update_cell(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    Valid(body): Valid<UpdateCellRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    let cell = access::cell(&state.gate(), &caller, id, Need::Write).await?;
    let tag_ids = match &body.tag_ids {
        None => None,
        Some(serde_json::Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_i64().and_then(|n| i32::try_from(n).ok()))
                .collect::<Option<Vec<i32>>>()
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_tags", "tag_ids must be a list of integers")
                })?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_tags",
                "tag_ids must be a list",
            ));
        }
    };
    let changes = CellChanges {
        name: body.name.map(|n| n.trim().to_owned()),
        location: body.location,
        latitude: body.lat,
        longitude: body.long,
        archive: body.archive,
        public: body.public,
    };
    state
        .db()
        .run(move |c| loam_db::cells::update(c, cell.id, &changes, tag_ids.as_deref()))
        .await
        .map_err(cell_write_error)?;
    Ok(Json(MessageResponse {
        message: "Successfully updated cell".into(),
    }))
}

/// Deletes a cell with its data, members and tag links.
#[utoipa::path(delete, path = "/api/cell/{cell_id}", tag = "cells",
    params(("cell_id" = u32, Path, description = "Cell id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 404, description = "No such cell (or not yours)", body = ErrorResponse),
    ))]
pub(crate) async fn delete_cell(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<MessageResponse>, ApiError> {
    let cell = access::cell(&state.gate(), &caller, id, Need::Write).await?;
    state
        .db()
        .run(move |c| loam_db::cells::delete(c, cell.id))
        .await?;
    Ok(Json(MessageResponse {
        message: "Cell deleted successfully".into(),
    }))
}

/// The generic sensor series of a cell.
#[utoipa::path(get, path = "/api/cell/{cell_id}/sensors", tag = "cells",
    params(("cell_id" = u32, Path, description = "Cell id")),
    responses(
        (status = 200, description = "Sensor rows (empty for an unknown cell in compatibility mode)", body = Vec<SensorResponse>),
        (status = 404, description = "Not your cell", body = ErrorResponse),
    ))]
pub(crate) async fn list_cell_sensors(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
) -> Result<Json<Vec<SensorResponse>>, ApiError> {
    let cell = match access::cell(&state.gate(), &caller, id, Need::Read).await {
        Ok(cell) => cell,
        // ENTS answers [] for unknown cells; kept where every cell is readable anyway.
        Err(ApiError::NotFound(_)) if state.config().ents_compat => return Ok(Json(Vec::new())),
        Err(e) => return Err(e),
    };
    let rows = state
        .db()
        .run(move |c| loam_db::cells::sensors(c, cell.id))
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|s| SensorResponse {
                id: s.id,
                cell_id: s.cell_id,
                measurement: s.measurement,
                data_type: s.data_type,
                unit: s.unit,
                name: s.name,
            })
            .collect(),
    ))
}

/// ENTS accepted `POST /api/cell/id` and did nothing; kept for old clients.
#[utoipa::path(post, path = "/api/cell/id", tag = "cells",
    responses((status = 200, description = "Nothing happens; the body is `null`")))]
pub(crate) async fn post_cell_ids_noop() -> Json<Option<()>> {
    Json(None)
}
