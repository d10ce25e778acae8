//! Device uploads: who may write what, then one all-or-nothing commit, then live events. The
//! device hears 2xx only after the commit.

use loam_db::measurements::{NewData, NewRow, StoreError, Value};
use loam_ingest::{DecodeError, LiveEvent, RowData, Upload};

use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

/// Why an upload was not stored.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// A cell or logger does not exist (legacy door: ENTS's 501 + `08 01`).
    UnknownTarget(String),
    /// Anything else, already mapped to HTTP.
    Api(ApiError),
}

impl From<ApiError> for UploadError {
    fn from(err: ApiError) -> Self {
        UploadError::Api(err)
    }
}

impl From<DecodeError> for UploadError {
    fn from(err: DecodeError) -> Self {
        UploadError::Api(ApiError::bad_request("invalid_upload", err.to_string()))
    }
}

fn timestamp(secs: i64) -> Result<chrono::NaiveDateTime, UploadError> {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.naive_utc())
        .ok_or_else(|| DecodeError::AbsurdTimestamp(secs).into())
}

/// Checks, stores and announces an upload; returns the events emitted.
pub(crate) async fn store(
    state: &AppState,
    caller: &Caller,
    upload: Upload,
) -> Result<Vec<LiveEvent>, UploadError> {
    loam_ingest::check_timestamps(&upload, chrono::Utc::now().timestamp())?;
    authorize(state, caller, &upload).await?;
    let rows = upload
        .rows
        .iter()
        .map(|r| {
            Ok(NewRow {
                cell_id: i32::try_from(r.cell_id)
                    .map_err(|_| UploadError::UnknownTarget(format!("cell {}", r.cell_id)))?,
                logger_id: r.logger_id.and_then(|l| i32::try_from(l).ok()),
                ts: timestamp(r.ts)?,
                data: match &r.data {
                    RowData::Power { voltage, current } => NewData::Power {
                        voltage: *voltage,
                        current: *current,
                    },
                    RowData::Teros {
                        vwc,
                        raw_vwc,
                        temp,
                        ec,
                    } => NewData::Teros {
                        vwc: *vwc,
                        raw_vwc: *raw_vwc,
                        temp: *temp,
                        ec: ec.and_then(|e| i32::try_from(e).ok()),
                        water_pot: None,
                    },
                    RowData::Sensor {
                        name,
                        measurement,
                        unit,
                        value,
                    } => NewData::Sensor {
                        name: name.clone(),
                        measurement: measurement.clone(),
                        unit: unit.clone(),
                        value: match value {
                            loam_ingest::Number::Float(f) => Value::Float(*f),
                            loam_ingest::Number::Int(i) => Value::Int(*i),
                        },
                    },
                },
            })
        })
        .collect::<Result<Vec<_>, UploadError>>()?;
    let now = loam_db::now();
    let stored = state
        .db()
        .run(move |c| Ok(loam_db::measurements::store(c, &rows, now)))
        .await
        .map_err(ApiError::from)?;
    match stored {
        Ok(new_rows) => tracing::debug!(new_rows, "upload stored"),
        Err(StoreError::UnknownCell(id)) => {
            return Err(UploadError::UnknownTarget(format!(
                "cell {id} does not exist"
            )));
        }
        Err(StoreError::UnknownLogger(id)) => {
            return Err(UploadError::UnknownTarget(format!(
                "logger {id} does not exist"
            )));
        }
        Err(StoreError::Db(e)) => return Err(ApiError::from(e).into()),
    }
    let events: Vec<LiveEvent> = upload
        .events
        .into_iter()
        .filter(|e| e.cell_id != 0)
        .collect();
    state.live().publish(&events);
    Ok(events)
}

/// A device key writes only as its own logger, and only into cells its owner may write.
/// Anonymous uploads reach here only in ENTS compatibility mode (the route's access class).
async fn authorize(state: &AppState, caller: &Caller, upload: &Upload) -> Result<(), UploadError> {
    let Caller::Device(device) = caller else {
        return Ok(());
    };
    let own_logger = u32::try_from(device.logger_id).unwrap_or(0);
    if let Some(other) = upload
        .rows
        .iter()
        .filter_map(|r| r.logger_id)
        .find(|l| *l != own_logger && *l != 0)
    {
        return Err(ApiError::Forbidden(format!(
            "this device key belongs to logger {own_logger} and cannot write as logger {other}"
        ))
        .into());
    }
    if device.owner_is_admin {
        return Ok(());
    }
    let mut cells: Vec<i32> = upload
        .rows
        .iter()
        .filter_map(|r| i32::try_from(r.cell_id).ok())
        .collect();
    cells.sort_unstable();
    cells.dedup();
    let owner = device.owner_id.clone();
    let foreign = state
        .db()
        .run(move |c| {
            for cell in cells {
                if !loam_db::cells::is_member(c, cell, &owner)? {
                    return Ok(Some(cell));
                }
            }
            Ok(None)
        })
        .await
        .map_err(ApiError::from)?;
    match foreign {
        Some(cell) => Err(ApiError::NotFound(format!("cell {cell} not found for this key")).into()),
        None => Ok(()),
    }
}
