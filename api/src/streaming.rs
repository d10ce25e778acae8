//! Raw reads of long ranges, streamed: the answer keeps ENTS's column-wise JSON
//! (`{"i": [...], "p": [...], "timestamp": [...], "v": [...]}`), written one column at a time from
//! pages of rows, so the server's memory stays flat however long the range. Every pass reads the
//! rows that existed when the read began (an id bound), so the columns always line up.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use loam_db::measurements::PowerRow;
use loam_schemas::wire::http_date;

use crate::state::AppState;

/// Rows fetched per page.
const PAGE: i64 = 20_000;

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
    after: Option<(NaiveDateTime, i64)>,
    first_value: bool,
    max_id: Option<i64>,
}

/// Streams the raw power rows of a cell over `range`.
pub(crate) fn raw_power(
    state: AppState,
    cell: i32,
    range: (NaiveDateTime, NaiveDateTime),
) -> Response {
    let start = Cursor {
        column: 0,
        after: None,
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
            let max_id = match cursor.max_id {
                Some(id) => id,
                None => match state.db().run(loam_db::measurements::power_max_id).await {
                    Ok(id) => {
                        cursor.max_id = Some(id);
                        id
                    }
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                },
            };
            let mut chunk = String::new();
            if cursor.after.is_none() && cursor.first_value {
                chunk.push(if cursor.column == 0 { '{' } else { ',' });
                chunk.push_str(&format!("\"{}\":[", POWER_COLUMNS[cursor.column].0));
            }
            let after = cursor.after;
            let page = state
                .db()
                .run(move |c| {
                    loam_db::measurements::power_page(c, cell, range, max_id, after, PAGE)
                })
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            let write = POWER_COLUMNS[cursor.column].1;
            for (_, row) in &page {
                if !cursor.first_value {
                    chunk.push(',');
                }
                cursor.first_value = false;
                chunk.push_str(&write(row));
            }
            match page.last() {
                Some((id, row)) if page.len() as i64 == PAGE => cursor.after = Some((row.ts, *id)),
                _ => {
                    chunk.push(']');
                    cursor.column += 1;
                    cursor.after = None;
                    cursor.first_value = true;
                    if cursor.column == POWER_COLUMNS.len() {
                        chunk.push_str("}\n");
                    }
                }
            }
            Some((
                Ok::<Bytes, std::io::Error>(Bytes::from(chunk)),
                Some(cursor),
            ))
        }
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
