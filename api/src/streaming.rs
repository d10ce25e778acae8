//! Raw reads of long ranges, streamed: the answer keeps ENTS's column-wise JSON
//! (`{"i": [...], "p": [...], "timestamp": [...], "v": [...]}`), written one column at a time from
//! time windows of rows, so the server's memory stays flat however long the range. Every pass
//! reads the rows that existed when the read began (an id bound), so the columns always line up.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use loam_db::measurements::PowerRow;
use loam_schemas::wire::http_date;

use crate::state::AppState;

/// Rows a window aims for; each window's span adapts to the data's density.
const PAGE: i64 = 20_000;
/// The first window's span, seconds.
const FIRST_SPAN: i64 = 6 * 3600;

/// How one power column is written from a row.
type Column = (&'static str, fn(&PowerRow) -> String);

fn number(v: Option<f64>) -> String {
    match v.and_then(serde_json::Number::from_f64) {
        Some(n) => n.to_string(),
        None => "null".to_owned(),
    }
}

const POWER_COLUMNS: [Column; 4] = [
    ("i", |r| number(r.current.map(|i| i * 1e6))),
    ("p", |r| {
        number(r.voltage.zip(r.current).map(|(v, i)| v * i * 1e6))
    }),
    ("timestamp", |r| format!("\"{}\"", http_date(r.ts))),
    ("v", |r| number(r.voltage.map(|v| v * 1e3))),
];

struct Cursor {
    column: usize,
    /// Start of the next window; `None` at the start of a column.
    from: Option<NaiveDateTime>,
    span: i64,
    first_value: bool,
    max_id: Option<i64>,
}

fn failed(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// One step of the stream: the next window of the current column, as JSON text.
async fn next_chunk(
    state: &AppState,
    cell: i32,
    range: (NaiveDateTime, NaiveDateTime),
    cursor: &mut Cursor,
) -> Result<String, std::io::Error> {
    let max_id = match cursor.max_id {
        Some(id) => id,
        None => {
            let id = state
                .db()
                .run(loam_db::measurements::power_max_id)
                .await
                .map_err(failed)?;
            cursor.max_id = Some(id);
            id
        }
    };
    let mut chunk = String::new();
    if cursor.from.is_none() {
        chunk.push(if cursor.column == 0 { '{' } else { ',' });
        chunk.push_str(&format!("\"{}\":[", POWER_COLUMNS[cursor.column].0));
    }
    let from = cursor.from.unwrap_or(range.0);
    let to = from + chrono::Duration::seconds(cursor.span);
    let last = to >= range.1;
    let to = if last { range.1 } else { to };
    let page = state
        .db()
        .run(move |c| loam_db::measurements::power_window(c, cell, from, to, last, max_id))
        .await
        .map_err(failed)?;
    let write = POWER_COLUMNS[cursor.column].1;
    for row in &page {
        if !cursor.first_value {
            chunk.push(',');
        }
        cursor.first_value = false;
        chunk.push_str(&write(row));
    }
    // Aim the next window at about PAGE rows.
    let rows = i64::try_from(page.len()).unwrap_or(i64::MAX).max(1);
    cursor.span = (cursor.span.saturating_mul(PAGE) / rows).clamp(60, 30 * 86_400);
    if last {
        chunk.push(']');
        cursor.column += 1;
        cursor.from = None;
        cursor.span = FIRST_SPAN;
        cursor.first_value = true;
        if cursor.column == POWER_COLUMNS.len() {
            chunk.push_str("}\n");
        }
    } else {
        cursor.from = Some(to);
    }
    Ok(chunk)
}

/// Streams the raw power rows of a cell over `range` (inclusive).
pub(crate) fn raw_power(
    state: AppState,
    cell: i32,
    range: (NaiveDateTime, NaiveDateTime),
) -> Response {
    let start = Cursor {
        column: 0,
        from: None,
        span: FIRST_SPAN,
        first_value: true,
        max_id: None,
    };
    let stream = futures_util::stream::unfold(Some(start), move |cursor| {
        let state = state.clone();
        async move {
            let mut cursor = cursor?;
            if cursor.column == POWER_COLUMNS.len() {
                return None;
            }
            match next_chunk(&state, cell, range, &mut cursor).await {
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
