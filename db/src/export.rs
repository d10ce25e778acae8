//! Reads for exports: raw rows in pages by (time, id), so an export of any size holds one page in
//! memory at a time and every page is an index range scan. Values come out in the read API's
//! units (the same conversions as [`crate::series`]), so an export equals what the API serves.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::Sensor;
use crate::schema::{data, power_data, sensors, teros_data};
use crate::series::{PowerPoint, TerosPoint};
use crate::{DbConn, DbError};
use loam_readings::Number;

/// A point of a generic series: time and value.
pub type ValuePoint = (NaiveDateTime, Option<Number>);

/// Where the next page starts: after this (device time, row id).
pub type Cursor = Option<(NaiveDateTime, i64)>;

/// The next page of a cell's raw power in `[start, end]`, and the cursor after it (`None` at
/// the end).
pub fn power_page(
    conn: &mut DbConn,
    cell_id: i32,
    (start, end): (NaiveDateTime, NaiveDateTime),
    after: Cursor,
    limit: i64,
) -> Result<(Vec<PowerPoint>, Cursor), DbError> {
    let mut q = power_data::table
        .filter(power_data::cell_id.eq(cell_id))
        .filter(power_data::ts.le(end))
        .into_boxed();
    q = match after {
        None => q.filter(power_data::ts.ge(start)),
        // `ts >= last` bounds the index range scan; the OR only breaks ties.
        Some((ts, id)) => q.filter(power_data::ts.ge(ts)).filter(
            power_data::ts
                .gt(ts)
                .or(power_data::ts.eq(ts).and(power_data::id.gt(id))),
        ),
    };
    let rows: Vec<(i64, NaiveDateTime, Option<f64>, Option<f64>)> = q
        .order((power_data::ts.asc(), power_data::id.asc()))
        .select((
            power_data::id,
            power_data::ts,
            power_data::voltage,
            power_data::current,
        ))
        .limit(limit)
        .load(conn)?;
    let next = next_cursor(&rows, limit, |r| (r.1, r.0));
    let points = rows
        .into_iter()
        .map(|(_, ts, v, i)| crate::series::power_point(ts, v, i, v.zip(i).map(|(v, i)| v * i)))
        .collect();
    Ok((points, next))
}

/// The next page of a cell's raw TEROS rows (see [`power_page`]).
pub fn teros_page(
    conn: &mut DbConn,
    cell_id: i32,
    (start, end): (NaiveDateTime, NaiveDateTime),
    after: Cursor,
    limit: i64,
) -> Result<(Vec<TerosPoint>, Cursor), DbError> {
    let mut q = teros_data::table
        .filter(teros_data::cell_id.eq(cell_id))
        .filter(teros_data::ts.le(end))
        .into_boxed();
    q = match after {
        None => q.filter(teros_data::ts.ge(start)),
        // `ts >= last` bounds the index range scan; the OR only breaks ties.
        Some((ts, id)) => q.filter(teros_data::ts.ge(ts)).filter(
            teros_data::ts
                .gt(ts)
                .or(teros_data::ts.eq(ts).and(teros_data::id.gt(id))),
        ),
    };
    type Row = (
        i64,
        NaiveDateTime,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<i32>,
    );
    let rows: Vec<Row> = q
        .order((teros_data::ts.asc(), teros_data::id.asc()))
        .select((
            teros_data::id,
            teros_data::ts,
            teros_data::vwc,
            teros_data::raw_vwc,
            teros_data::temp,
            teros_data::ec,
        ))
        .limit(limit)
        .load(conn)?;
    let next = next_cursor(&rows, limit, |r| (r.1, r.0));
    let points = rows
        .into_iter()
        .map(|(_, ts, vwc, raw_vwc, temp, ec)| TerosPoint {
            ts,
            vwc: crate::units::vwc_percent(vwc),
            raw_vwc,
            temp,
            ec: ec.map(i64::from),
        })
        .collect();
    Ok((points, next))
}

/// The next page of a generic series' raw values (see [`power_page`]); integer series keep
/// integers, as the read API does.
pub fn sensor_page(
    conn: &mut DbConn,
    sensor: &Sensor,
    (start, end): (NaiveDateTime, NaiveDateTime),
    after: Cursor,
    limit: i64,
) -> Result<(Vec<ValuePoint>, Cursor), DbError> {
    let mut q = data::table
        .filter(data::sensor_id.eq(sensor.id))
        .filter(data::ts.le(end))
        .into_boxed();
    q = match after {
        None => q.filter(data::ts.ge(start)),
        Some((ts, id)) => q
            .filter(data::ts.ge(ts))
            .filter(data::ts.gt(ts).or(data::ts.eq(ts).and(data::id.gt(id)))),
    };
    let rows: Vec<(i64, NaiveDateTime, Option<f64>, Option<i64>)> = q
        .order((data::ts.asc(), data::id.asc()))
        .select((data::id, data::ts, data::float_val, data::int_val))
        .limit(limit)
        .load(conn)?;
    let next = next_cursor(&rows, limit, |r| (r.1, r.0));
    let is_int = sensor.data_type == "int";
    let points = rows
        .into_iter()
        .map(|(_, ts, float_val, int_val)| {
            let value = match (is_int, int_val) {
                (true, Some(i)) => Some(Number::Int(i)),
                _ => float_val.map(Number::Float),
            };
            (ts, value)
        })
        .collect();
    Ok((points, next))
}

/// A cell's generic series, by name and measurement.
pub fn sensors_of_cell(conn: &mut DbConn, cell_id: i32) -> Result<Vec<Sensor>, DbError> {
    Ok(sensors::table
        .filter(sensors::cell_id.eq(cell_id))
        .order((sensors::name.asc(), sensors::measurement.asc()))
        .select(Sensor::as_select())
        .load(conn)?)
}

fn next_cursor<R>(rows: &[R], limit: i64, key: impl Fn(&R) -> (NaiveDateTime, i64)) -> Cursor {
    if (rows.len() as i64) < limit {
        None
    } else {
        rows.last().map(key)
    }
}
