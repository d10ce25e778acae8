//! Time-series reads: power, TEROS and generic sensors, raw or averaged per bucket.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use loam_db::series::{Resample, Window};
use loam_readings::Number;
use loam_schemas::errors::ErrorResponse;
use loam_schemas::series::{PowerSeries, SensorSeriesResponse, TerosSeries};
use loam_schemas::wire::http_date;

use crate::access::{self, Need};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::extract::Ids;
use crate::state::AppState;

const POWER_PARAMS: &[&str] = &["startTime", "endTime", "resample", "stream", "cellIds"];
const SENSOR_PARAMS: &[&str] = &[
    "name",
    "cellId",
    "measurement",
    "startTime",
    "endTime",
    "resample",
    "stream",
];

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// Header naming the oldest device time whose raw rows are kept, on raw answers that reach
/// past it.
const RAW_SINCE_HEADER: &str = "loam-raw-since";

/// A read of raw rows (`none`, `second`, `minute`, or `stream`) reaching past the retention
/// horizon: refused with 410 when all of it lies before the horizon, otherwise answered from
/// the horizon on with a note (`Loam-Raw-Since` and a `Warning`). Resampled reads need neither:
/// they are answered from rollups, which are kept.
fn past_horizon(w: &Window) -> Result<Option<chrono::NaiveDateTime>, ApiError> {
    let raw = w.stream
        || matches!(
            w.resample,
            Resample::None | Resample::Second | Resample::Minute
        );
    let Some(horizon) = w.raw_since.filter(|h| raw && w.start < *h) else {
        return Ok(None);
    };
    if w.end < horizon {
        return Err(ApiError::Expired(format!(
            "raw rows before {} are no longer kept (LOAM_RAW_RETENTION_DAYS); ask for \
             resample=hour or wider, answered from the rollups that are kept",
            http_date(horizon)
        )));
    }
    Ok(Some(horizon))
}

/// Adds the retention note to a raw answer that starts past the horizon.
fn noted(mut response: Response, horizon: Option<chrono::NaiveDateTime>) -> Response {
    if let Some(horizon) = horizon {
        let since = http_date(horizon);
        let warning = format!("299 loam \"raw rows before {since} are no longer kept\"");
        for (name, value) in [(RAW_SINCE_HEADER, since), ("warning", warning)] {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// Whether the caller may read the cell; unknown cells read as empty where every cell is
/// readable (ENTS compatibility), as ENTS answered.
async fn readable(state: &AppState, caller: &Caller, id: u32) -> Result<Option<i32>, ApiError> {
    if id == 0 {
        return Ok(None);
    }
    match access::cell(&state.gate(), caller, id, Need::Read).await {
        Ok(cell) => Ok(Some(cell.id)),
        Err(ApiError::NotFound(_)) if state.config().ents_compat => Ok(None),
        Err(e) => Err(e),
    }
}

async fn power(
    state: AppState,
    caller: Caller,
    id: u32,
    params: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let w = crate::extract::series_window(&params, POWER_PARAMS, state.raw_since())?;
    let Some(cell) = readable(&state, &caller, id).await? else {
        return Ok(Json(PowerSeries::default()).into_response());
    };
    let horizon = past_horizon(&w)?;
    if w.resample == Resample::None && !w.stream {
        let raw = crate::streaming::Raw::Power(cell);
        return Ok(noted(
            crate::streaming::raw(state.raw_source(), raw, (w.start, w.end)),
            horizon,
        ));
    }
    let points = state
        .db()
        .run(move |c| loam_db::series::power(c, cell, w))
        .await?;
    let mut out = PowerSeries::default();
    for p in points {
        out.timestamp.push(http_date(p.ts));
        out.v.push(p.v);
        out.i.push(p.i);
        out.p.push(p.p);
    }
    Ok(noted(Json(out).into_response(), horizon))
}

/// A cell's power series in mV, µA and µW.
#[utoipa::path(get, path = "/api/power/{cell_id}", tag = "series",
    params(
        ("cell_id" = u32, Path, description = "Cell id"),
        ("startTime" = Option<String>, Query, description = "RFC 1123 (default: 30 days before endTime)"),
        ("endTime" = Option<String>, Query, description = "RFC 1123 (default: now)"),
        ("resample" = Option<String>, Query, description = "none, second, minute, hour (default), day, week, month, quarter, year"),
        ("stream" = Option<bool>, Query, description = "Raw rows at server time"),
    ),
    responses(
        (status = 200, description = "The series", body = PowerSeries),
        (status = 400, description = "Bad parameter", body = ErrorResponse),
        (status = 404, description = "Not your cell", body = ErrorResponse),
        (status = 410, description = "Raw rows asked for lie wholly before the retention horizon", body = ErrorResponse),
    ))]
pub(crate) async fn read_power(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    power(state, caller, id, params).await
}

/// ENTS's `/api/power/` without an id: cell 0, always empty.
#[utoipa::path(get, path = "/api/power/", tag = "series",
    responses((status = 200, description = "Empty series", body = PowerSeries)))]
pub(crate) async fn read_power_no_cell(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    power(state, caller, 0, params).await
}

async fn teros(
    state: AppState,
    caller: Caller,
    id: u32,
    params: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let w = crate::extract::series_window(&params, POWER_PARAMS, state.raw_since())?;
    let Some(cell) = readable(&state, &caller, id).await? else {
        return Ok(Json(TerosSeries::default()).into_response());
    };
    let horizon = past_horizon(&w)?;
    if w.resample == Resample::None && !w.stream {
        let raw = crate::streaming::Raw::Teros(cell);
        return Ok(noted(
            crate::streaming::raw(state.raw_source(), raw, (w.start, w.end)),
            horizon,
        ));
    }
    let points = state
        .db()
        .run(move |c| loam_db::series::teros(c, cell, w))
        .await?;
    let mut out = TerosSeries::default();
    for p in points {
        out.timestamp.push(http_date(p.ts));
        out.vwc.push(p.vwc);
        out.raw_vwc.push(p.raw_vwc);
        out.temp.push(p.temp);
        out.ec.push(p.ec);
    }
    Ok(noted(Json(out).into_response(), horizon))
}

/// A cell's TEROS-12 series (VWC in %).
#[utoipa::path(get, path = "/api/teros/{cell_id}", tag = "series",
    params(
        ("cell_id" = u32, Path, description = "Cell id"),
        ("startTime" = Option<String>, Query, description = "RFC 1123"),
        ("endTime" = Option<String>, Query, description = "RFC 1123"),
        ("resample" = Option<String>, Query, description = "Bucket width (default hour)"),
        ("stream" = Option<bool>, Query, description = "Raw rows at server time"),
    ),
    responses(
        (status = 200, description = "The series", body = TerosSeries),
        (status = 400, description = "Bad parameter", body = ErrorResponse),
        (status = 404, description = "Not your cell", body = ErrorResponse),
        (status = 410, description = "Raw rows asked for lie wholly before the retention horizon", body = ErrorResponse),
    ))]
pub(crate) async fn read_teros(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id): Ids<u32>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    teros(state, caller, id, params).await
}

/// ENTS's `/api/teros/` without an id: cell 0, always empty.
#[utoipa::path(get, path = "/api/teros/", tag = "series",
    responses((status = 200, description = "Empty series", body = TerosSeries)))]
pub(crate) async fn read_teros_no_cell(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    teros(state, caller, 0, params).await
}

/// A generic sensor series (`name`, `measurement`, `cellId`).
pub(crate) async fn sensor(
    state: AppState,
    caller: Caller,
    params: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let w = crate::extract::series_window(&params, SENSOR_PARAMS, state.raw_since())?;
    let required = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| bad("missing_parameter", format!("{name} is required")))
    };
    let name = required("name")?;
    let measurement = required("measurement")?;
    if crate::extract::searchable(&name).is_none()
        || crate::extract::searchable(&measurement).is_none()
    {
        return Err(bad(
            "nul_character",
            "name and measurement cannot contain a NUL character (U+0000)",
        ));
    }
    let cell_id: u32 = required("cellId")?
        .trim()
        .parse()
        .map_err(|_| bad("invalid_cell", "cellId must be an unsigned integer"))?;
    let Some(cell) = readable(&state, &caller, cell_id).await? else {
        return Ok(Json(SensorSeriesResponse::default()).into_response());
    };
    let horizon = past_horizon(&w)?;
    if w.resample == Resample::None || w.stream {
        let (n, m) = (name.clone(), measurement.clone());
        let found = state
            .db()
            .run(move |c| loam_db::measurements::find_sensor(c, cell, &n, &m))
            .await?;
        let Some(sensor) = found else {
            return Ok(Json(SensorSeriesResponse::default()).into_response());
        };
        let raw = crate::streaming::Raw::Sensor {
            id: sensor.id,
            is_int: sensor.data_type == "int",
            measurement: sensor.measurement,
            data_type: sensor.data_type,
            unit: sensor.unit.unwrap_or_default(),
        };
        return Ok(noted(
            crate::streaming::raw(state.raw_source(), raw, (w.start, w.end)),
            horizon,
        ));
    }
    let series = state
        .db()
        .run(move |c| loam_db::series::sensor(c, cell, &name, &measurement, w))
        .await?;
    let Some(sensor) = series.sensor else {
        return Ok(Json(SensorSeriesResponse::default()).into_response());
    };
    let mut out = SensorSeriesResponse {
        measurement: sensor.measurement,
        data_type: sensor.data_type,
        unit: sensor.unit.unwrap_or_default(),
        ..SensorSeriesResponse::default()
    };
    for (ts, value) in series.points {
        out.timestamp.push(http_date(ts));
        out.data.push(match value {
            Some(Number::Int(i)) => i.into(),
            Some(Number::Float(f)) => {
                serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
            }
            None => serde_json::Value::Null,
        });
    }
    Ok(noted(Json(out).into_response(), horizon))
}
