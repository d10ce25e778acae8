//! The dashboard's helpers: data availability, the sensor catalog and equation validation.
//! Their error bodies are ENTS's `{"error": "…"}`, which the dashboard shows as is.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use loam_schemas::insights::{Availability, Catalog, CatalogEntry, EquationValid};
use loam_schemas::wire::iso_naive;
use serde_json::{Value, json};

use crate::access::{self, Need};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;

fn ents_error(message: &str) -> ApiError {
    ApiError::Ents {
        status: StatusCode::BAD_REQUEST,
        body: json!({ "error": message }),
    }
}

/// Earliest and latest measurement time over some cells, and whether the latest is recent.
#[utoipa::path(get, path = "/api/data-availability/", tag = "insights",
    params(("cell_ids" = String, Query, description = "Comma-separated cell ids")),
    responses(
        (status = 200, description = "The span (nulls when there is no data)", body = Availability),
        (status = 400, description = "`{\"error\": …}` for a missing or malformed cell_ids"),
    ))]
pub(crate) async fn data_availability(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Availability>, ApiError> {
    let raw = params
        .get("cell_ids")
        .ok_or_else(|| ents_error("cell_ids parameter is required"))?;
    let mut ids = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        ids.push(
            part.parse::<u32>()
                .map_err(|_| ents_error("Invalid cell_ids format"))?,
        );
    }
    if ids.is_empty() {
        return Err(ents_error("At least one valid cell_id is required"));
    }
    let mut readable = Vec::new();
    for id in ids {
        // Cells the caller may not read contribute nothing, exactly like unknown ones.
        if let Some(cell) = readable_or_nothing(&state, &caller, id).await? {
            readable.push(cell.id);
        }
    }
    let span = state
        .db()
        .run(move |c| loam_db::measurements::time_span(c, &readable))
        .await?;
    Ok(Json(match span {
        None => Availability {
            latest_timestamp: None,
            earliest_timestamp: None,
            has_recent_data: false,
            message: "No data found for specified cells".into(),
        },
        Some((earliest, latest)) => Availability {
            latest_timestamp: Some(iso_naive(latest)),
            earliest_timestamp: Some(iso_naive(earliest)),
            has_recent_data: latest >= loam_db::now() - chrono::Duration::days(14),
            message: "success".into(),
        },
    }))
}

fn builtin(panel_id: &str, label: &str, description: &str, category: &str) -> CatalogEntry {
    CatalogEntry {
        panel_id: panel_id.into(),
        label: label.into(),
        description: description.into(),
        category: category.into(),
        kind: "builtin".into(),
        sensor_id: None,
        sensor_name: None,
        measurement: None,
        unit: None,
    }
}

/// The chartable panels of a cell: power and TEROS when it has such data, then each sensor
/// series with data.
#[utoipa::path(get, path = "/api/catalog/sensors", tag = "insights",
    params(("cell_id" = u32, Query, description = "Cell id")),
    responses(
        (status = 200, description = "Panels", body = Catalog),
        (status = 400, description = "`{\"error\": \"cell_id parameter is required\"}`"),
    ))]
pub(crate) async fn sensor_catalog(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Catalog>, ApiError> {
    let cell_id: u32 = params
        .get("cell_id")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ents_error("cell_id parameter is required"))?;
    let mut entries = Vec::new();
    if let Some(cell) = readable_or_nothing(&state, &caller, cell_id).await? {
        let contents = state
            .db()
            .run(move |c| loam_db::measurements::contents(c, cell.id))
            .await?;
        if contents.has_power {
            entries.push(builtin(
                "power-vi",
                "Voltage & Current",
                "power \u{b7} voltage & current",
                "power",
            ));
            entries.push(builtin("power-p", "Power", "power \u{b7} \u{b5}W", "power"));
        }
        if contents.has_teros {
            entries.push(builtin(
                "teros",
                "VWC & EC",
                "teros \u{b7} volumetric water & conductivity",
                "teros",
            ));
            entries.push(builtin(
                "temp",
                "Temperature",
                "teros \u{b7} \u{b0}C",
                "teros",
            ));
        }
        let mut sensors = contents.sensors;
        // Byte order (C collation), as ENTS's database sorted them, on every backend.
        sensors.sort_by(|a, b| {
            (a.name.as_bytes(), a.measurement.as_bytes(), a.id).cmp(&(
                b.name.as_bytes(),
                b.measurement.as_bytes(),
                b.id,
            ))
        });
        for s in sensors {
            let unit = s.unit.clone().unwrap_or_default();
            let label = [&s.measurement, &s.name]
                .into_iter()
                .find(|t| !t.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("Sensor {}", s.id));
            let description = [s.name.as_str(), s.measurement.as_str(), unit.as_str()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" \u{b7} ");
            entries.push(CatalogEntry {
                panel_id: format!("s:{}", s.id),
                label,
                description,
                category: "generic".into(),
                kind: "sensor".into(),
                sensor_id: Some(s.id),
                sensor_name: Some(s.name),
                measurement: Some(s.measurement),
                unit: Some(unit),
            });
        }
    }
    Ok(Json(Catalog { cell_id, entries }))
}

/// Python's `int()` of a JSON value, as ENTS applied it to `cell_ids`.
fn python_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Checks a derived-series expression without evaluating it.
#[utoipa::path(post, path = "/api/equations/validate", tag = "insights",
    request_body(content = Object, description = "`{\"expression\": \"1:vwc / 1:temp\", \"cell_ids\"?: [1]}`"),
    responses(
        (status = 200, description = "Valid", body = EquationValid),
        (status = 400, description = "`{\"error\": \"<why>\"}`"),
    ))]
pub(crate) async fn validate_equation(body: Bytes) -> Result<Json<EquationValid>, ApiError> {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Object(Default::default()));
    let cell_ids = match value.get("cell_ids") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(python_int)
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| ents_error("cell_ids must be an array of integers"))?,
        ),
        _ => return Err(ents_error("cell_ids must be an array of integers")),
    };
    let expression = match value.get("expression") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let valid =
        crate::equations::validate(&expression, cell_ids.as_deref()).map_err(|m| ents_error(&m))?;
    Ok(Json(EquationValid {
        ok: true,
        refs: valid.refs,
        expression: valid.expression,
    }))
}

/// The cell when the caller may read it; `None` for one they may not (or that does not exist),
/// which contributes nothing, as in ENTS. Any other failure (the database down) is an error,
/// not an empty answer.
async fn readable_or_nothing(
    state: &AppState,
    caller: &Caller,
    id: u32,
) -> Result<Option<loam_db::models::Cell>, ApiError> {
    match access::cell(&state.gate(), caller, id, Need::Read).await {
        Ok(cell) => Ok(Some(cell)),
        Err(ApiError::NotFound(_) | ApiError::Unauthorized(_)) => Ok(None),
        Err(other) => Err(other),
    }
}
