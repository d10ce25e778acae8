//! Measurement reads: the range reads behind the time-series endpoints and exports, and what a
//! cell holds. What an upload writes is `writes`; the writing itself is `group_commit`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::Sensor;
use crate::schema::{data, power_data, sensors, teros_data};
use crate::{DbConn, DbError};

/// A stored power row.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct PowerRow {
    /// Device time.
    pub ts: NaiveDateTime,
    /// Insert time.
    pub ts_server: NaiveDateTime,
    /// Volts.
    pub voltage: Option<f64>,
    /// Amps.
    pub current: Option<f64>,
}

/// Power rows of a cell with `start ≤ ts ≤ end`, by device time.
pub fn power_rows(
    conn: &mut DbConn,
    cell_id: i32,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<PowerRow>, DbError> {
    power_window(conn, cell_id, start, end, true)
}

/// A stored TEROS row.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct TerosRow {
    /// Device time.
    pub ts: NaiveDateTime,
    /// Insert time.
    pub ts_server: NaiveDateTime,
    /// Calibrated VWC.
    pub vwc: Option<f64>,
    /// Raw counts.
    pub raw_vwc: Option<f64>,
    /// °C.
    pub temp: Option<f64>,
    /// µS/cm.
    pub ec: Option<i32>,
}

/// TEROS rows of a cell with `start ≤ ts ≤ end`, by device time.
pub fn teros_rows(
    conn: &mut DbConn,
    cell_id: i32,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<TerosRow>, DbError> {
    teros_window(conn, cell_id, start, end, true)
}

/// The series (cell, name, measurement), if it exists.
pub fn find_sensor(
    conn: &mut DbConn,
    cell_id: i32,
    name: &str,
    measurement: &str,
) -> Result<Option<Sensor>, DbError> {
    Ok(sensors::table
        .filter(sensors::cell_id.eq(cell_id))
        .filter(sensors::name.eq(name))
        .filter(sensors::measurement.eq(measurement))
        .select(Sensor::as_select())
        .first(conn)
        .optional()?)
}

/// A stored sensor value.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct SensorValue {
    /// Device time.
    pub ts: NaiveDateTime,
    /// Float form.
    pub float_val: Option<f64>,
    /// Integer form (integer series).
    pub int_val: Option<i64>,
}

/// Values of a series with `start ≤ ts ≤ end`, by device time.
pub fn sensor_values(
    conn: &mut DbConn,
    sensor_id: i32,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<SensorValue>, DbError> {
    sensor_window(conn, sensor_id, start, end, true)
}

/// Which raw series a bounded read names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// A cell's power rows.
    Power(i32),
    /// A cell's TEROS rows.
    Teros(i32),
    /// A generic sensor series' values.
    Sensor(i32),
}

/// The first and last device time of a series within `[start, end]`, or `None` when it has no
/// row there: a raw read walks only that span, whatever range it was asked for (a read to the
/// year 99999 would otherwise walk empty windows for minutes). Two index probes.
pub fn bounds(
    conn: &mut DbConn,
    series: Series,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Option<(NaiveDateTime, NaiveDateTime)>, DbError> {
    macro_rules! probe {
        ($table:ident, $key:ident, $id:expr) => {{
            let rows = || {
                $table::table
                    .filter($table::$key.eq($id))
                    .filter($table::ts.between(start, end))
                    .select($table::ts)
            };
            let first: Option<NaiveDateTime> =
                rows().order($table::ts.asc()).first(conn).optional()?;
            let last: Option<NaiveDateTime> =
                rows().order($table::ts.desc()).first(conn).optional()?;
            first.zip(last)
        }};
    }
    Ok(match series {
        Series::Power(cell) => probe!(power_data, cell_id, cell),
        Series::Teros(cell) => probe!(teros_data, cell_id, cell),
        Series::Sensor(id) => probe!(data, sensor_id, id),
    })
}

/// Earliest and latest device time over all measurements of these cells.
pub fn time_span(
    conn: &mut DbConn,
    cell_ids: &[i32],
) -> Result<Option<(NaiveDateTime, NaiveDateTime)>, DbError> {
    use diesel::dsl::{max, min};
    let power: (Option<NaiveDateTime>, Option<NaiveDateTime>) = power_data::table
        .filter(power_data::cell_id.eq_any(cell_ids))
        .select((min(power_data::ts), max(power_data::ts)))
        .first(conn)?;
    let teros: (Option<NaiveDateTime>, Option<NaiveDateTime>) = teros_data::table
        .filter(teros_data::cell_id.eq_any(cell_ids))
        .select((min(teros_data::ts), max(teros_data::ts)))
        .first(conn)?;
    let generic: (Option<NaiveDateTime>, Option<NaiveDateTime>) = data::table
        .inner_join(sensors::table)
        .filter(sensors::cell_id.eq_any(cell_ids))
        .select((min(data::ts), max(data::ts)))
        .first(conn)?;
    let earliest = [power.0, teros.0, generic.0].into_iter().flatten().min();
    let latest = [power.1, teros.1, generic.1].into_iter().flatten().max();
    Ok(earliest.zip(latest))
}

/// What a cell has data for, for the sensor catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CellContents {
    /// Any power rows.
    pub has_power: bool,
    /// Any TEROS rows.
    pub has_teros: bool,
    /// Series with at least one value.
    pub sensors: Vec<Sensor>,
}

/// What data a cell has.
pub fn contents(conn: &mut DbConn, cell_id: i32) -> Result<CellContents, DbError> {
    use diesel::dsl::exists;
    let has_power = diesel::select(exists(
        power_data::table.filter(power_data::cell_id.eq(cell_id)),
    ))
    .get_result(conn)?;
    let has_teros = diesel::select(exists(
        teros_data::table.filter(teros_data::cell_id.eq(cell_id)),
    ))
    .get_result(conn)?;
    // A correlated EXISTS per series: an index probe each, never a scan of all data.
    let sensors = sensors::table
        .filter(sensors::cell_id.eq(cell_id))
        .filter(exists(data::table.filter(data::sensor_id.eq(sensors::id))))
        .select(Sensor::as_select())
        .order((
            sensors::name.asc(),
            sensors::measurement.asc(),
            sensors::id.asc(),
        ))
        .load(conn)?;
    Ok(CellContents {
        has_power,
        has_teros,
        sensors,
    })
}

/// Raw power rows of a cell in `[from, to)` (or `[from, to]` when `last`), by time (ties by
/// insertion). Time windows, not offsets, keep each page of a long read an index range scan.
pub fn power_window(
    conn: &mut DbConn,
    cell_id: i32,
    from: NaiveDateTime,
    to: NaiveDateTime,
    last: bool,
) -> Result<Vec<PowerRow>, DbError> {
    let mut query = power_data::table
        .filter(power_data::cell_id.eq(cell_id))
        .filter(power_data::ts.ge(from))
        .into_boxed();
    query = if last {
        query.filter(power_data::ts.le(to))
    } else {
        query.filter(power_data::ts.lt(to))
    };
    Ok(query
        .order((power_data::ts.asc(), power_data::id.asc()))
        .select((
            power_data::ts,
            power_data::ts_server,
            power_data::voltage,
            power_data::current,
        ))
        .load(conn)?)
}

/// Raw TEROS rows in a time window (see [`power_window`]).
pub fn teros_window(
    conn: &mut DbConn,
    cell_id: i32,
    from: NaiveDateTime,
    to: NaiveDateTime,
    last: bool,
) -> Result<Vec<TerosRow>, DbError> {
    let mut query = teros_data::table
        .filter(teros_data::cell_id.eq(cell_id))
        .filter(teros_data::ts.ge(from))
        .into_boxed();
    query = if last {
        query.filter(teros_data::ts.le(to))
    } else {
        query.filter(teros_data::ts.lt(to))
    };
    Ok(query
        .order((teros_data::ts.asc(), teros_data::id.asc()))
        .select((
            teros_data::ts,
            teros_data::ts_server,
            teros_data::vwc,
            teros_data::raw_vwc,
            teros_data::temp,
            teros_data::ec,
        ))
        .load(conn)?)
}

/// Raw values of a generic series in a time window (see [`power_window`]).
pub fn sensor_window(
    conn: &mut DbConn,
    sensor_id: i32,
    from: NaiveDateTime,
    to: NaiveDateTime,
    last: bool,
) -> Result<Vec<SensorValue>, DbError> {
    let mut query = data::table
        .filter(data::sensor_id.eq(sensor_id))
        .filter(data::ts.ge(from))
        .into_boxed();
    query = if last {
        query.filter(data::ts.le(to))
    } else {
        query.filter(data::ts.lt(to))
    };
    Ok(query
        .order((data::ts.asc(), data::id.asc()))
        .select((data::ts, data::float_val, data::int_val))
        .load(conn)?)
}

/// A stored power row as ENTS's legacy insert echoes it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct StoredPower {
    /// Row id.
    pub id: i64,
    /// Device time.
    pub ts: NaiveDateTime,
    /// Insert time.
    pub ts_server: NaiveDateTime,
    /// Volts.
    pub voltage: Option<f64>,
    /// Amps.
    pub current: Option<f64>,
}

/// The power row of (cell, logger, time), if stored.
pub fn find_power(
    conn: &mut DbConn,
    cell_id: i32,
    logger_id: i32,
    ts: NaiveDateTime,
) -> Result<Option<StoredPower>, DbError> {
    Ok(power_data::table
        .filter(power_data::cell_id.eq(cell_id))
        .filter(power_data::logger_id.eq(logger_id))
        .filter(power_data::ts.eq(ts))
        .select((
            power_data::id,
            power_data::ts,
            power_data::ts_server,
            power_data::voltage,
            power_data::current,
        ))
        .first(conn)
        .optional()?)
}

/// A stored TEROS row as ENTS's legacy insert echoes it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct StoredTeros {
    /// Row id.
    pub id: i64,
    /// Device time.
    pub ts: NaiveDateTime,
    /// Insert time.
    pub ts_server: NaiveDateTime,
    /// Calibrated VWC.
    pub vwc: Option<f64>,
    /// Raw counts.
    pub raw_vwc: Option<f64>,
    /// °C.
    pub temp: Option<f64>,
    /// µS/cm.
    pub ec: Option<i32>,
    /// kPa.
    pub water_pot: Option<f64>,
}

/// The TEROS row of (cell, time), if stored.
pub fn find_teros(
    conn: &mut DbConn,
    cell_id: i32,
    ts: NaiveDateTime,
) -> Result<Option<StoredTeros>, DbError> {
    Ok(teros_data::table
        .filter(teros_data::cell_id.eq(cell_id))
        .filter(teros_data::ts.eq(ts))
        .select((
            teros_data::id,
            teros_data::ts,
            teros_data::ts_server,
            teros_data::vwc,
            teros_data::raw_vwc,
            teros_data::temp,
            teros_data::ec,
            teros_data::water_pot,
        ))
        .first(conn)
        .optional()?)
}
