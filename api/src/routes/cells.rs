//! Cells: the deployment sites measurements belong to.

use axum::Json;
use axum::extract::State;
use loam_db::models::Cell;
use loam_schemas::cells::CellResponse;

use crate::error::ApiError;
use crate::state::AppState;

/// Lists cells as the ENTS dashboard and `ents` client read them: every cell in ENTS
/// compatibility mode, otherwise the public ones (people see their own once signed in).
#[utoipa::path(get, path = "/api/cell/id", tag = "cells",
    responses(
        (status = 200, description = "Cells, ordered by id", body = Vec<CellResponse>),
        (status = 503, description = "The database is unavailable", body = loam_schemas::errors::ErrorResponse),
    ))]
pub(crate) async fn list_cell_ids(
    State(state): State<AppState>,
) -> Result<Json<Vec<CellResponse>>, ApiError> {
    let everything = state.config().ents_compat;
    let cells = state
        .db()
        .run(move |c| {
            if everything {
                loam_db::cells::list_all(c)
            } else {
                loam_db::cells::list_public(c)
            }
        })
        .await?;
    Ok(Json(cells.into_iter().map(cell_response).collect()))
}

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
