//! ENTS's legacy JSON inserts by name (`POST /api/power/`, `POST /api/teros/`, reference §6.6).
//! Unlike ENTS, they never create cells or loggers: the names must exist, and the usual upload
//! rules apply (device key, or anonymous in compatibility mode; all or nothing; stored once).

use axum::Json;
use axum::extract::State;
use loam_ingest::{Door, Row, RowData, Upload};
use loam_schemas::errors::ErrorResponse;
use loam_schemas::series::{LegacyPowerInsert, LegacyPowerRow, LegacyTerosInsert, LegacyTerosRow};
use loam_schemas::wire::iso_naive;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::extract::Valid;
use crate::state::AppState;
use crate::uploads::{self, UploadError};

fn unknown(what: &str, name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "{what} {name:?} does not exist; create it first (Loam does not create {what}s by name)"
    ))
}

/// Stores one row through the device upload path (the JSON doors answer 404 for unknown names).
async fn store_one_row(state: &AppState, caller: &Caller, row: Row) -> Result<(), ApiError> {
    let upload = Upload {
        door: Door::Legacy,
        rows: vec![row],
        events: Vec::new(),
    };
    // The JSON inserts carry no locator: one slot each for an enrolled logger, no receipt.
    let envelope = uploads::Envelope {
        door: "json_insert",
        ..uploads::Envelope::default()
    };
    match uploads::store(&state.ingest(), caller, upload, envelope).await {
        Ok(_) => Ok(()),
        Err(UploadError::UnknownTarget(why)) => Err(ApiError::NotFound(why)),
        Err(UploadError::Api(err)) => Err(err),
    }
}

/// Stores a power reading addressed by logger and cell names, and echoes the stored row.
#[utoipa::path(post, path = "/api/power/", tag = "ingest",
    request_body = LegacyPowerInsert,
    responses(
        (status = 200, description = "The stored row", body = LegacyPowerRow),
        (status = 401, description = "A device key is required (outside compatibility mode)", body = ErrorResponse),
        (status = 404, description = "The cell or logger does not exist", body = ErrorResponse),
        (status = 422, description = "A field is missing or invalid", body = ErrorResponse),
        (status = 503, description = "overloaded: the upload queue is full; nothing was stored, retry after Retry-After seconds", body = ErrorResponse),
    ))]
pub(crate) async fn insert_power(
    State(state): State<AppState>,
    caller: Caller,
    Valid(body): Valid<LegacyPowerInsert>,
) -> Result<Json<LegacyPowerRow>, ApiError> {
    let (cell_name, logger_name) = (body.cell.clone(), body.logger.clone());
    let (cell, logger) = state
        .db()
        .run(move |c| {
            Ok((
                loam_db::cells::find_by_name(c, &cell_name)?,
                loam_db::loggers::find_by_name(c, &logger_name)?,
            ))
        })
        .await?;
    let cell = cell.ok_or_else(|| unknown("cell", &body.cell))?;
    let logger = logger.ok_or_else(|| unknown("logger", &body.logger))?;
    let ts = body.ts.floor() as i64;
    let row = Row {
        cell_id: cell.id as u32,
        logger_id: Some(logger.id as u32),
        ts,
        data: RowData::Power {
            voltage: body.v,
            current: body.i,
        },
    };
    store_one_row(&state, &caller, row).await?;
    let at = chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default();
    let stored = state
        .db()
        .run(move |c| loam_db::measurements::find_power(c, cell.id, logger.id, at))
        .await?
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("a committed power row was not found"))
        })?;
    Ok(Json(LegacyPowerRow {
        current: stored.current,
        id: stored.id,
        ts: iso_naive(stored.ts),
        ts_server: iso_naive(stored.ts_server),
        voltage: stored.voltage,
    }))
}

/// Stores a TEROS reading addressed by cell name, and echoes the stored row.
#[utoipa::path(post, path = "/api/teros/", tag = "ingest",
    request_body = LegacyTerosInsert,
    responses(
        (status = 200, description = "The stored row", body = LegacyTerosRow),
        (status = 401, description = "A device key is required (outside compatibility mode)", body = ErrorResponse),
        (status = 404, description = "The cell does not exist", body = ErrorResponse),
        (status = 422, description = "A field is missing or invalid", body = ErrorResponse),
        (status = 503, description = "overloaded: the upload queue is full; nothing was stored, retry after Retry-After seconds", body = ErrorResponse),
    ))]
pub(crate) async fn insert_teros(
    State(state): State<AppState>,
    caller: Caller,
    Valid(body): Valid<LegacyTerosInsert>,
) -> Result<Json<LegacyTerosRow>, ApiError> {
    let cell_name = body.cell.clone();
    let cell = state
        .db()
        .run(move |c| loam_db::cells::find_by_name(c, &cell_name))
        .await?
        .ok_or_else(|| unknown("cell", &body.cell))?;
    let ts = body.ts.floor() as i64;
    let row = Row {
        cell_id: cell.id as u32,
        logger_id: None,
        ts,
        data: RowData::Teros {
            vwc: body.vwc,
            raw_vwc: body.raw_vwc,
            temp: body.temp,
            ec: Some(body.ec.round() as i64),
            water_pot: body.water_pot,
        },
    };
    store_one_row(&state, &caller, row).await?;
    let at = chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default();
    let stored = state
        .db()
        .run(move |c| loam_db::measurements::find_teros(c, cell.id, at))
        .await?
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("a committed TEROS row was not found"))
        })?;
    Ok(Json(LegacyTerosRow {
        ec: stored.ec,
        id: stored.id,
        raw_vwc: stored.raw_vwc,
        temp: stored.temp,
        ts: iso_naive(stored.ts),
        ts_server: iso_naive(stored.ts_server),
        vwc: stored.vwc,
        water_pot: stored.water_pot,
    }))
}
