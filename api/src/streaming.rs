//! Raw reads of long ranges, streamed: the answers keep ENTS's column-wise JSON
//! (`{"i": [...], "p": [...], "timestamp": [...], "v": [...]}` and the TEROS and sensor shapes)
//! while the database is read once, in time windows, and the server's memory stays flat however
//! long the range.
//!
//! Column-wise JSON means the first column must be complete before the second begins. So one
//! pass over the rows writes the first column straight to the client and the others to spill
//! buffers (kept in memory while small, moved to an unnamed temporary file in the data directory
//! past [`SPILL_IN_MEMORY`]), which are then copied out in order. Each window is read (on the
//! blocking pool) and formatted while the previous one is sent, so the database, the formatting
//! and the socket work at the same time. A client that stops reading for longer than the request
//! timeout is cut off, and one that leaves stops the work at once.

use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use futures_util::StreamExt;
use loam_db::measurements::{PowerRow, SensorValue, TerosRow};
use loam_db::{DbConn, DbError};
use serde_json::ser::{CompactFormatter, Formatter};
use tokio::sync::mpsc;

/// Rows a window aims for; each window's span adapts to the data's density.
const PAGE: i64 = 8_000;
/// The first window's span, seconds.
const FIRST_SPAN: i64 = 6 * 3600;
/// Bytes a spilled column keeps in memory before it moves to a temporary file.
const SPILL_IN_MEMORY: usize = 256 * 1024;
/// Bytes per chunk when a spilled column is copied out.
const COPY_CHUNK: usize = 256 * 1024;

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

/// Writes one row's value of a column, preceded by a comma.
type WriteValue = fn(&Row, &mut Format, &mut Vec<u8>);

/// One key of the answer: an array filled row by row, or a constant.
enum Field {
    Column(&'static str, WriteValue),
    Constant(&'static str, String),
}

/// What formatting a window needs beyond the row: whether integers stay integers, and the
/// current day's date text (rows come in time order, so it changes rarely).
struct Format {
    is_int: bool,
    day: Option<(NaiveDate, String)>,
}

impl Format {
    /// `"Sun, 01 Jan 2023 00:00:00 GMT"`, exactly as [`loam_schemas::wire::http_date`] writes
    /// it, without formatting the date again for every row of the same day.
    fn time(&mut self, ts: NaiveDateTime, out: &mut Vec<u8>) {
        let date = ts.date();
        let prefix = match &self.day {
            Some((day, text)) if *day == date => text,
            _ => {
                let text = date.format("%a, %d %b %Y ").to_string();
                &self.day.insert((date, text)).1
            }
        };
        out.extend_from_slice(b",\"");
        out.extend_from_slice(prefix.as_bytes());
        for (i, part) in [ts.hour(), ts.minute(), ts.second()]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(b':');
            }
            let part = u8::try_from(part).unwrap_or(99);
            out.push(b'0' + part / 10);
            out.push(b'0' + part % 10);
        }
        out.extend_from_slice(b" GMT\"");
    }
}

/// A finite number as serde_json writes it, or `null` (as serde_json writes NaN and infinities).
fn number(v: Option<f64>, out: &mut Vec<u8>) {
    out.push(b',');
    match v.filter(|v| v.is_finite()) {
        // serde_json's own formatter, so the bytes are those a serialised answer would carry.
        Some(v) => {
            let _ = CompactFormatter.write_f64(out, v);
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn integer(v: Option<i64>, out: &mut Vec<u8>) {
    out.push(b',');
    match v {
        Some(v) => {
            let _ = CompactFormatter.write_i64(out, v);
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn time(row: &Row, format: &mut Format, out: &mut Vec<u8>) {
    let ts = match row {
        Row::Power(r) => r.ts,
        Row::Teros(r) => r.ts,
        Row::Value(r) => r.ts,
    };
    format.time(ts, out);
}

fn power(row: &Row, out: &mut Vec<u8>, f: fn(&PowerRow) -> Option<f64>) {
    number(
        match row {
            Row::Power(r) => f(r),
            _ => None,
        },
        out,
    );
}

fn teros(row: &Row, out: &mut Vec<u8>, f: fn(&TerosRow) -> Option<f64>) {
    number(
        match row {
            Row::Teros(r) => f(r),
            _ => None,
        },
        out,
    );
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

impl Raw {
    /// The answer's keys in ENTS's (alphabetical) order; every shape starts with a column.
    fn fields(&self) -> Vec<Field> {
        match self {
            Raw::Power(_) => vec![
                Field::Column("i", |r, _, out| {
                    power(r, out, |p| p.current.map(|i| i * 1e6));
                }),
                Field::Column("p", |r, _, out| {
                    power(r, out, |p| {
                        p.voltage.zip(p.current).map(|(v, i)| v * i * 1e6)
                    });
                }),
                Field::Column("timestamp", time),
                Field::Column("v", |r, _, out| {
                    power(r, out, |p| p.voltage.map(|v| v * 1e3));
                }),
            ],
            Raw::Teros(_) => vec![
                Field::Column("ec", |r, _, out| {
                    integer(
                        match r {
                            Row::Teros(t) => t.ec.map(i64::from),
                            _ => None,
                        },
                        out,
                    );
                }),
                Field::Column("raw_vwc", |r, _, out| teros(r, out, |t| t.raw_vwc)),
                Field::Constant("raw_vwc_unit", json_string("raw")),
                Field::Column("temp", |r, _, out| teros(r, out, |t| t.temp)),
                Field::Column("timestamp", time),
                Field::Column("vwc", |r, _, out| {
                    teros(r, out, |t| loam_db::units::vwc_percent(t.vwc));
                }),
                Field::Constant("vwc_unit", json_string("%")),
            ],
            Raw::Sensor {
                measurement,
                data_type,
                unit,
                ..
            } => vec![
                Field::Column("data", |r, format, out| match r {
                    Row::Value(v) => match (format.is_int, v.int_val) {
                        (true, Some(i)) => integer(Some(i), out),
                        _ => number(v.float_val, out),
                    },
                    _ => number(None, out),
                }),
                Field::Constant("measurement", json_string(measurement)),
                Field::Column("timestamp", time),
                Field::Constant("type", json_string(data_type)),
                Field::Constant("unit", json_string(unit)),
            ],
        }
    }

    /// The series this read walks.
    fn series(&self) -> loam_db::measurements::Series {
        use loam_db::measurements::Series;
        match *self {
            Raw::Power(cell) => Series::Power(cell),
            Raw::Teros(cell) => Series::Teros(cell),
            Raw::Sensor { id, .. } => Series::Sensor(id),
        }
    }

    /// The rows of `[from, to)` (`[from, to]` when `last`), by time.
    fn read(
        &self,
        conn: &mut DbConn,
        from: NaiveDateTime,
        to: NaiveDateTime,
        last: bool,
    ) -> Result<Vec<Row>, DbError> {
        use loam_db::measurements as m;
        Ok(match *self {
            Raw::Power(cell) => m::power_window(conn, cell, from, to, last)?
                .into_iter()
                .map(Row::Power)
                .collect(),
            Raw::Teros(cell) => m::teros_window(conn, cell, from, to, last)?
                .into_iter()
                .map(Row::Teros)
                .collect(),
            Raw::Sensor { id, .. } => m::sensor_window(conn, id, from, to, last)?
                .into_iter()
                .map(Row::Value)
                .collect(),
        })
    }
}

/// One window's rows, formatted: each column's values (each preceded by a comma).
struct Window {
    rows: usize,
    columns: Vec<Vec<u8>>,
}

/// Reads one window on the blocking pool and formats it on the runtime. (Formatting where the
/// bytes are later freed — the runtime's long-lived workers — lets the allocator reuse and give
/// back that memory at once; buffers made on short-lived blocking threads lingered after them.)
async fn window(
    db: &loam_db::Db,
    raw: &Raw,
    fields: &[Field],
    from: NaiveDateTime,
    to: NaiveDateTime,
    last: bool,
) -> Result<Window, DbError> {
    let reader = raw.clone();
    let rows = db
        .run(move |conn| reader.read(conn, from, to, last))
        .await?;
    let mut format = Format {
        is_int: matches!(raw, Raw::Sensor { is_int: true, .. }),
        day: None,
    };
    let columns = fields
        .iter()
        .filter_map(|field| match field {
            Field::Column(_, write) => Some(write),
            Field::Constant(..) => None,
        })
        .map(|write| {
            let mut out = Vec::with_capacity(rows.len() * 12);
            for row in &rows {
                write(row, &mut format, &mut out);
            }
            out
        })
        .collect();
    Ok(Window {
        rows: rows.len(),
        columns,
    })
}

/// A column waiting for its turn: in memory while small, then in an unnamed temporary file.
struct Spill {
    dir: PathBuf,
    memory: Vec<u8>,
    file: Option<std::fs::File>,
    started: bool,
}

impl Spill {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            memory: Vec::new(),
            file: None,
            started: false,
        }
    }

    /// Appends a window's values; the column's first value loses its leading comma.
    fn push(&mut self, values: &[u8]) -> std::io::Result<()> {
        let values = match values.split_first() {
            Some((_, rest)) if !self.started => rest,
            Some(_) => values,
            None => return Ok(()),
        };
        self.started = true;
        self.memory.extend_from_slice(values);
        if self.memory.len() >= SPILL_IN_MEMORY {
            let file = match &mut self.file {
                Some(file) => file,
                None => {
                    std::fs::create_dir_all(&self.dir)?;
                    self.file.insert(tempfile::tempfile_in(&self.dir)?)
                }
            };
            file.write_all(&self.memory)?;
            self.memory.clear();
        }
        Ok(())
    }

    /// Sends the column's values in order.
    async fn send(mut self, out: &Out) -> std::io::Result<bool> {
        let Some(mut file) = self.file.take() else {
            return Ok(out.send(Bytes::from(self.memory)).await);
        };
        file.write_all(&self.memory)?;
        file.rewind()?;
        loop {
            let mut chunk = vec![0; COPY_CHUNK];
            let n = file.read(&mut chunk)?;
            if n == 0 {
                return Ok(true);
            }
            chunk.truncate(n);
            if !out.send(Bytes::from(chunk)).await {
                return Ok(false);
            }
        }
    }
}

/// The answer's way out: a bounded channel to the response body, and how long a chunk may wait
/// for the client to take it.
struct Out {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    stall_limit: std::time::Duration,
}

impl Out {
    /// Hands a chunk to the client; false when the client has gone or stopped reading for
    /// longer than the limit (the stream then ends, so a stalled reader holds nothing).
    async fn send(&self, chunk: Bytes) -> bool {
        match tokio::time::timeout(self.stall_limit, self.tx.send(Ok(chunk))).await {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                tracing::info!("a raw read's client stopped reading; the answer was cut off");
                false
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A window being read; dropping it (the client left) stops the work not yet done.
struct Prefetch(tokio::task::JoinHandle<Result<Window, DbError>>);

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The next window's span: aimed at about [`PAGE`] rows from the last window's density.
fn next_span(span: i64, rows: usize) -> i64 {
    let rows = i64::try_from(rows).unwrap_or(i64::MAX).max(1);
    (span.saturating_mul(PAGE) / rows).clamp(60, 30 * 86_400)
}

/// Writes the whole answer to `out`; returns early (Ok) when the client has gone.
async fn produce(
    source: Source,
    raw: Raw,
    range: (NaiveDateTime, NaiveDateTime),
    out: &Out,
) -> Result<(), std::io::Error> {
    let fields = std::sync::Arc::new(raw.fields());
    let Some(Field::Column(first_name, _)) = fields.first() else {
        return Err(std::io::Error::other("a raw answer starts with a column"));
    };
    let spill_dir = source.spill_dir.clone();
    let columns = fields
        .iter()
        .filter(|f| matches!(f, Field::Column(..)))
        .count();
    let mut spills: Vec<Spill> = (1..columns)
        .map(|_| Spill::new(spill_dir.clone()))
        .collect();
    let head = format!("{{\"{first_name}\":[");
    if !out.send(Bytes::from(head)).await {
        return Ok(());
    }

    let failed = |e: DbError| std::io::Error::other(e.to_string());
    // Walk only the span that holds rows: a range reaching far past the data (a client asking
    // up to the year 99999) would otherwise read empty windows for minutes.
    let series = raw.series();
    let (start, end) = range;
    let bounds = source
        .db
        .run(move |c| loam_db::measurements::bounds(c, series, start, end))
        .await
        .map_err(failed)?;
    let range = bounds.unwrap_or((start, start));
    let plan = |from: NaiveDateTime, span: i64| {
        let to = from + chrono::Duration::seconds(span);
        if to >= range.1 {
            (from, range.1, true)
        } else {
            (from, to, false)
        }
    };
    let spawn = |(from, to, last): (NaiveDateTime, NaiveDateTime, bool)| {
        let (db, raw, fields) = (
            source.db.clone(),
            raw.clone(),
            std::sync::Arc::clone(&fields),
        );
        Prefetch(tokio::spawn(async move {
            window(&db, &raw, &fields, from, to, last).await
        }))
    };
    let mut span = FIRST_SPAN;
    let mut planned = plan(range.0, span);
    let mut task = spawn(planned);
    let mut first_started = false;
    loop {
        let page = (&mut task.0)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .map_err(failed)?;
        let (_, to, last) = planned;
        // Read the next window while this one is sent.
        if out.is_closed() {
            return Ok(());
        }
        let next = (!last).then(|| {
            span = next_span(span, page.rows);
            planned = plan(to, span);
            spawn(planned)
        });
        let mut columns = page.columns.into_iter();
        let mut first = columns.next().unwrap_or_default();
        if !first_started && !first.is_empty() {
            first.remove(0);
            first_started = true;
        }
        for (spill, values) in spills.iter_mut().zip(columns) {
            spill.push(&values)?;
        }
        if !first.is_empty() && !out.send(Bytes::from(first)).await {
            return Ok(());
        }
        match next {
            Some(next) => task = next,
            None => break,
        }
    }

    let mut spills = spills.into_iter();
    let mut tail = String::from("]");
    for field in fields.iter().skip(1) {
        match field {
            Field::Constant(name, value) => {
                tail.push_str(&format!(",\"{name}\":{value}"));
            }
            Field::Column(name, _) => {
                tail.push_str(&format!(",\"{name}\":["));
                if !out.send(Bytes::from(std::mem::take(&mut tail))).await {
                    return Ok(());
                }
                let Some(spill) = spills.next() else {
                    return Err(std::io::Error::other("a column without its spill"));
                };
                if !spill.send(out).await? {
                    return Ok(());
                }
                tail.push(']');
            }
        }
    }
    tail.push_str("}\n");
    out.send(Bytes::from(tail)).await;
    Ok(())
}

/// What a raw read needs from the server: built by `AppState::raw_source`.
pub(crate) struct Source {
    /// Where the rows are read.
    pub db: loam_db::Db,
    /// Where columns after the first wait on disk until the first is written.
    pub spill_dir: std::path::PathBuf,
    /// How long a client that stopped reading may hold the answer open.
    pub stall_limit: std::time::Duration,
}

/// Streams a raw series over `range` (inclusive) as ENTS's JSON.
pub(crate) fn raw(source: Source, raw: Raw, range: (NaiveDateTime, NaiveDateTime)) -> Response {
    let (tx, rx) = mpsc::channel(2);
    let out = Out {
        tx,
        stall_limit: source.stall_limit,
    };
    tokio::spawn(async move {
        if let Err(e) = produce(source, raw, range, &out).await {
            tracing::error!(cause = %e, "raw read failed part way: {e}");
            // The client sees the body end early instead of a truncated answer passing as whole.
            let _ = out.tx.send(Err(e)).await;
        }
    });
    // Fused: the compression layer may poll once more after the end, which unfold forbids.
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .fuse();
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_numbers_match_the_serde_and_chrono_forms() {
        let mut format = Format {
            is_int: false,
            day: None,
        };
        let mut out = Vec::new();
        for ts in [
            0_i64,
            1_672_531_199,
            1_672_531_200,
            1_709_164_799,
            253_402_300_799,
        ] {
            let t = chrono::DateTime::from_timestamp(ts, 0)
                .map(|t| t.naive_utc())
                .unwrap_or_default();
            out.clear();
            format.time(t, &mut out);
            let want = format!(",\"{}\"", loam_schemas::wire::http_date(t));
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
        for v in [0.0, 1.0, -2.5, 1e21, 1e-7, 0.1 + 0.2, 123_456.789, f64::MAX] {
            out.clear();
            number(Some(v), &mut out);
            let want = format!(
                ",{}",
                serde_json::Number::from_f64(v)
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            );
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
        out.clear();
        number(Some(f64::NAN), &mut out);
        number(None, &mut out);
        assert_eq!(out, b",null,null");
    }
}
