//! Raw reads of long ranges, streamed: the answers keep ENTS's column-wise JSON
//! (`{"i": [...], "p": [...], "timestamp": [...], "v": [...]}` and the TEROS and sensor shapes),
//! written one column at a time from time windows of rows, so the server's memory stays flat
//! however long the range. Every pass reads the rows that existed when the read began (an id
//! bound), so the columns always line up.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use loam_db::measurements::{PowerRow, SensorValue, TerosRow};
use loam_schemas::wire::http_date;

use crate::state::AppState;

/// Rows a window aims for; each window's span adapts to the data's density.
const PAGE: i64 = 20_000;
/// The first window's span, seconds.
const FIRST_SPAN: i64 = 6 * 3600;

/// Which raw series a stream reads.
#[derive(Clone)]
pub(crate) enum Raw {
    /// A cell's power rows.
    Power(i32),
    /// A cell's TEROS rows.
    Teros(i32),
    /// A generic series, with its metadata fields `(measurement, type, unit)`.
    Sensor {
        id: i32,
        is_int: bool,
        measurement: String,
        data_type: String,
        unit: String,
    },
}

enum Row {
    Power(PowerRow),
    Teros(TerosRow),
    Value(SensorValue),
}

/// One key of the answer: an array filled row by row, or a constant.
enum Field {
    Column(&'static str, fn(&Row, bool) -> String),
    Constant(&'static str, String),
}

fn number(v: Option<f64>) -> String {
    match v.and_then(serde_json::Number::from_f64) {
        Some(n) => n.to_string(),
        None => "null".to_owned(),
    }
}

fn time(row: &Row, _: bool) -> String {
    let ts = match row {
        Row::Power(r) => r.ts,
        Row::Teros(r) => r.ts,
        Row::Value(r) => r.ts,
    };
    format!("\"{}\"", http_date(ts))
}

fn power(row: &Row, f: fn(&PowerRow) -> Option<f64>) -> String {
    match row {
        Row::Power(r) => number(f(r)),
        _ => "null".to_owned(),
    }
}

fn teros(row: &Row, f: fn(&TerosRow) -> Option<f64>) -> String {
    match row {
        Row::Teros(r) => number(f(r)),
        _ => "null".to_owned(),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

impl Raw {
    /// The answer's keys in ENTS's (alphabetical) order.
    fn fields(&self) -> Vec<Field> {
        match self {
            Raw::Power(_) => vec![
                Field::Column("i", |r, _| power(r, |p| p.current.map(|i| i * 1e6))),
                Field::Column("p", |r, _| {
                    power(r, |p| p.voltage.zip(p.current).map(|(v, i)| v * i * 1e6))
                }),
                Field::Column("timestamp", time),
                Field::Column("v", |r, _| power(r, |p| p.voltage.map(|v| v * 1e3))),
            ],
            Raw::Teros(_) => vec![
                Field::Column("ec", |r, _| match r {
                    Row::Teros(t) => t.ec.map_or_else(|| "null".to_owned(), |e| e.to_string()),
                    _ => "null".to_owned(),
                }),
                Field::Column("raw_vwc", |r, _| teros(r, |t| t.raw_vwc)),
                Field::Constant("raw_vwc_unit", json_string("raw")),
                Field::Column("temp", |r, _| teros(r, |t| t.temp)),
                Field::Column("timestamp", time),
                Field::Column("vwc", |r, _| {
                    teros(r, |t| {
                        t.vwc
                            .map(|v| if v > 0.0 && v <= 1.0 { v * 100.0 } else { v })
                    })
                }),
                Field::Constant("vwc_unit", json_string("%")),
            ],
            Raw::Sensor {
                measurement,
                data_type,
                unit,
                ..
            } => vec![
                Field::Column("data", |r, is_int| match r {
                    Row::Value(v) => match (is_int, v.int_val) {
                        (true, Some(i)) => i.to_string(),
                        _ => number(v.float_val),
                    },
                    _ => "null".to_owned(),
                }),
                Field::Constant("measurement", json_string(measurement)),
                Field::Column("timestamp", time),
                Field::Constant("type", json_string(data_type)),
                Field::Constant("unit", json_string(unit)),
            ],
        }
    }

    async fn max_id(&self, state: &AppState) -> Result<i64, loam_db::DbError> {
        match self {
            Raw::Power(_) => state.db().run(loam_db::measurements::power_max_id).await,
            Raw::Teros(_) => state.db().run(loam_db::measurements::teros_max_id).await,
            Raw::Sensor { .. } => state.db().run(loam_db::measurements::data_max_id).await,
        }
    }

    async fn window(
        &self,
        state: &AppState,
        from: NaiveDateTime,
        to: NaiveDateTime,
        last: bool,
        max_id: i64,
    ) -> Result<Vec<Row>, loam_db::DbError> {
        use loam_db::measurements as m;
        match *self {
            Raw::Power(cell) => {
                let rows = state
                    .db()
                    .run(move |c| m::power_window(c, cell, from, to, last, max_id))
                    .await?;
                Ok(rows.into_iter().map(Row::Power).collect())
            }
            Raw::Teros(cell) => {
                let rows = state
                    .db()
                    .run(move |c| m::teros_window(c, cell, from, to, last, max_id))
                    .await?;
                Ok(rows.into_iter().map(Row::Teros).collect())
            }
            Raw::Sensor { id, .. } => {
                let rows = state
                    .db()
                    .run(move |c| m::sensor_window(c, id, from, to, last, max_id))
                    .await?;
                Ok(rows.into_iter().map(Row::Value).collect())
            }
        }
    }
}

struct Cursor {
    field: usize,
    /// Start of the next window; `None` at the start of a field.
    from: Option<NaiveDateTime>,
    span: i64,
    first_value: bool,
    max_id: Option<i64>,
}

fn failed(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// One step of the stream: a constant field, or the next window of the current column.
async fn next_chunk(
    state: &AppState,
    raw: &Raw,
    fields: &[Field],
    range: (NaiveDateTime, NaiveDateTime),
    cursor: &mut Cursor,
) -> Result<String, std::io::Error> {
    let mut chunk = String::new();
    let opening = cursor.from.is_none() && cursor.first_value;
    if opening {
        chunk.push(if cursor.field == 0 { '{' } else { ',' });
    }
    let is_int = matches!(raw, Raw::Sensor { is_int: true, .. });
    let done_field = match &fields[cursor.field] {
        Field::Constant(name, value) => {
            chunk.push_str(&format!("\"{name}\":{value}"));
            true
        }
        Field::Column(name, write) => {
            if opening {
                chunk.push_str(&format!("\"{name}\":["));
            }
            let max_id = match cursor.max_id {
                Some(id) => id,
                None => {
                    let id = raw.max_id(state).await.map_err(failed)?;
                    cursor.max_id = Some(id);
                    id
                }
            };
            let from = cursor.from.unwrap_or(range.0);
            let to = from + chrono::Duration::seconds(cursor.span);
            let last = to >= range.1;
            let to = if last { range.1 } else { to };
            let page = raw
                .window(state, from, to, last, max_id)
                .await
                .map_err(failed)?;
            for row in &page {
                if !cursor.first_value {
                    chunk.push(',');
                }
                cursor.first_value = false;
                chunk.push_str(&write(row, is_int));
            }
            // Aim the next window at about PAGE rows.
            let rows = i64::try_from(page.len()).unwrap_or(i64::MAX).max(1);
            cursor.span = (cursor.span.saturating_mul(PAGE) / rows).clamp(60, 30 * 86_400);
            if last {
                chunk.push(']');
            } else {
                cursor.from = Some(to);
            }
            last
        }
    };
    if done_field {
        cursor.field += 1;
        cursor.from = None;
        cursor.span = FIRST_SPAN;
        cursor.first_value = true;
        if cursor.field == fields.len() {
            chunk.push_str("}\n");
        }
    }
    Ok(chunk)
}

/// Streams a raw series over `range` (inclusive) as ENTS's JSON.
pub(crate) fn raw(state: AppState, raw: Raw, range: (NaiveDateTime, NaiveDateTime)) -> Response {
    let start = Cursor {
        field: 0,
        from: None,
        span: FIRST_SPAN,
        first_value: true,
        max_id: None,
    };
    let fields = std::sync::Arc::new(raw.fields());
    let stream = futures_util::stream::unfold(Some(start), move |cursor| {
        let (state, raw, fields) = (state.clone(), raw.clone(), std::sync::Arc::clone(&fields));
        async move {
            let mut cursor = cursor?;
            if cursor.field == fields.len() {
                return None;
            }
            match next_chunk(&state, &raw, &fields, range, &mut cursor).await {
                Ok(chunk) => Some((
                    Ok::<Bytes, std::io::Error>(Bytes::from(chunk)),
                    Some(cursor),
                )),
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
