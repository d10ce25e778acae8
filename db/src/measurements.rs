//! Measurements: the all-or-nothing store of an upload, and the range reads behind the
//! time-series endpoints. A repeated (cell, logger, time) power row, (cell, time) TEROS row or
//! (series, time) value is ignored by a unique index, so device retries store nothing twice.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::models::Sensor;
use crate::schema::{cells, data, loggers, power_data, sensors, teros_data};
use crate::{DbConn, DbError};

/// Runs the same diesel code on the concrete connection of either backend, for statements the
/// multi-connection cannot express (`ON CONFLICT`).
#[macro_export]
#[doc(hidden)]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres($c) => $body,
            $crate::DbConn::Sqlite($c) => $body,
        }
    };
}

/// A sensor value as sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Floating point.
    Float(f64),
    /// Integer.
    Int(i64),
}

/// What a new row holds.
#[derive(Debug, Clone, PartialEq)]
pub enum NewData {
    /// Power (volts, amps).
    Power {
        /// Volts.
        voltage: f64,
        /// Amps.
        current: f64,
    },
    /// TEROS-12.
    Teros {
        /// Calibrated VWC.
        vwc: f64,
        /// Raw counts.
        raw_vwc: f64,
        /// °C.
        temp: f64,
        /// µS/cm.
        ec: Option<i32>,
        /// kPa (legacy JSON insert only).
        water_pot: Option<f64>,
    },
    /// A value of a generic sensor series.
    Sensor {
        /// Kind.
        name: String,
        /// Quantity.
        measurement: String,
        /// Unit.
        unit: String,
        /// The value.
        value: Value,
    },
}

/// One row of an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    /// The cell.
    pub cell_id: i32,
    /// The logger (required for power).
    pub logger_id: Option<i32>,
    /// Device time (UTC).
    pub ts: NaiveDateTime,
    /// Values.
    pub data: NewData,
}

/// Why an upload was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row names a cell that does not exist.
    #[error("cell {0} does not exist")]
    UnknownCell(i32),
    /// A power row names a logger that does not exist.
    #[error("logger {0} does not exist")]
    UnknownLogger(i32),
    /// The uploader may not write this cell (it may not exist either).
    #[error("cell {0} is not writable by this uploader")]
    NotMember(i32),
    /// The locator already names an upload of this logger with another body.
    #[error("locator {0} already names another upload of this logger")]
    LocatorReused(String),
    /// The logger's enrolment has fewer slots left than the upload needs.
    #[error("the upload needs {needed} slots but {available} are left")]
    QuotaExhausted {
        /// Slots left.
        available: i64,
        /// Slots this upload needs.
        needed: i64,
        /// When the quota lapses.
        expiry: NaiveDateTime,
    },
    /// The logger's quota lapsed.
    #[error("the quota expired at {0}")]
    QuotaExpired(NaiveDateTime),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for StoreError {
    fn from(err: diesel::result::Error) -> Self {
        StoreError::Db(err.into())
    }
}

/// Stores an upload in one transaction: every cell (and power logger) must exist, or nothing is
/// written. Returns how many rows were new (retries count zero) and the upload's receipt.
pub fn store(conn: &mut DbConn, upload: &Upload, now: NaiveDateTime) -> Result<Stored, StoreError> {
    crate::write_transaction(conn, |conn| store_in_transaction(conn, upload, now))
}

/// Checks that the cells and loggers rows will name exist, and on Postgres holds them (`FOR KEY
/// SHARE`, what a foreign key's trigger takes per row) until the transaction ends, so a
/// concurrent delete waits. On Postgres the measurement tables carry no foreign keys (their
/// per-row triggers cost more than the inserts); this one check per batch replaces them.
/// SQLite keeps its foreign keys and serializes writers anyway.
pub(crate) fn lock_parents(
    conn: &mut DbConn,
    cell_ids: &[i32],
    logger_ids: &[i32],
) -> Result<(), StoreError> {
    let mut cell_ids = cell_ids.to_vec();
    cell_ids.sort_unstable();
    cell_ids.dedup();
    let mut logger_ids = logger_ids.to_vec();
    logger_ids.sort_unstable();
    logger_ids.dedup();
    let (found_cells, found_loggers): (Vec<i32>, Vec<i32>) = match conn {
        DbConn::Postgres(pg) => (
            cells::table
                .filter(cells::id.eq_any(&cell_ids))
                .select(cells::id)
                .for_key_share()
                .load(pg)?,
            if logger_ids.is_empty() {
                Vec::new()
            } else {
                loggers::table
                    .filter(loggers::id.eq_any(&logger_ids))
                    .select(loggers::id)
                    .for_key_share()
                    .load(pg)?
            },
        ),
        DbConn::Sqlite(_) => (
            cells::table
                .filter(cells::id.eq_any(&cell_ids))
                .select(cells::id)
                .load(conn)?,
            loggers::table
                .filter(loggers::id.eq_any(&logger_ids))
                .select(loggers::id)
                .load(conn)?,
        ),
    };
    if let Some(missing) = cell_ids.iter().find(|id| !found_cells.contains(id)) {
        return Err(StoreError::UnknownCell(*missing));
    }
    if let Some(missing) = logger_ids.iter().find(|id| !found_loggers.contains(id)) {
        return Err(StoreError::UnknownLogger(*missing));
    }
    Ok(())
}

/// [`store`] inside a transaction the caller owns. With a device claim: a known locator answers
/// its stored receipt (same body) or a conflict (another body) and stores nothing; an enrolled
/// logger is charged its slots; the new receipt is written with the rows.
fn store_in_transaction(
    conn: &mut DbConn,
    upload: &Upload,
    now: NaiveDateTime,
) -> Result<Stored, StoreError> {
    let rows = &upload.rows;
    if let Some(claim) = &upload.device {
        if let Some(receipt) = &claim.receipt
            && let Some(old) =
                crate::devices::find_receipt(conn, claim.logger_id, &receipt.locator)?
        {
            if old.body_sha256 != receipt.body_sha256 {
                return Err(StoreError::LocatorReused(receipt.locator.clone()));
            }
            return Ok(Stored {
                new_rows: 0,
                receipt: Some(old.receipt),
                replayed: true,
            });
        }
        if let Some(enrolment) = crate::devices::lock(conn, claim.logger_id)? {
            if enrolment.quota_expiry <= now {
                return Err(StoreError::QuotaExpired(enrolment.quota_expiry));
            }
            if enrolment.available_slots < claim.slots {
                return Err(StoreError::QuotaExhausted {
                    available: enrolment.available_slots,
                    needed: claim.slots,
                    expiry: enrolment.quota_expiry,
                });
            }
            crate::devices::charge(conn, claim.logger_id, claim.slots)?;
        }
    }
    let mut cell_ids: Vec<i32> = rows.iter().map(|r| r.cell_id).collect();
    cell_ids.sort_unstable();
    cell_ids.dedup();
    if let Some(user) = upload.member.as_deref() {
        let allowed: Vec<i32> = crate::schema::cell_user::table
            .filter(crate::schema::cell_user::user_id.eq(user))
            .filter(crate::schema::cell_user::cell_id.eq_any(&cell_ids))
            .select(crate::schema::cell_user::cell_id)
            .load(conn)?;
        if let Some(other) = cell_ids.iter().find(|id| !allowed.contains(id)) {
            return Err(StoreError::NotMember(*other));
        }
    }
    let mut logger_ids: Vec<i32> = rows
        .iter()
        .filter(|r| matches!(r.data, NewData::Power { .. }))
        .filter_map(|r| r.logger_id)
        .collect();
    let receipt = upload.device.as_ref().and_then(|d| d.receipt.as_ref());
    if let Some(receipt) = receipt {
        logger_ids.push(receipt.logger_id);
    }
    lock_parents(conn, &cell_ids, &logger_ids)?;
    let new_rows = insert_rows(conn, rows, now)?;
    if let Some(receipt) = receipt {
        crate::devices::insert_receipt(conn, receipt)?;
    }
    Ok(Stored {
        new_rows,
        receipt: receipt.map(|r| r.receipt.clone()),
        replayed: false,
    })
}

pub(crate) fn insert_rows(
    conn: &mut DbConn,
    rows: &[NewRow],
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    {
        let mut series: HashMap<(i32, String, String), i32> = HashMap::new();
        let mut inserted = 0;
        for row in rows {
            inserted += match &row.data {
                NewData::Power { voltage, current } => {
                    let logger = row.logger_id.ok_or(StoreError::UnknownLogger(0))?;
                    let values = (
                        power_data::cell_id.eq(row.cell_id),
                        power_data::logger_id.eq(logger),
                        power_data::ts.eq(row.ts),
                        power_data::voltage.eq(voltage),
                        power_data::current.eq(current),
                        power_data::ts_server.eq(now),
                    );
                    let new = on_backend!(conn, c => diesel::insert_into(power_data::table).values(values).on_conflict_do_nothing().execute(c))?;
                    if new > 0 {
                        crate::rollups::add_power(
                            conn,
                            row.cell_id,
                            row.ts,
                            Some(*voltage),
                            Some(*current),
                        )?;
                    }
                    new
                }
                NewData::Teros {
                    vwc,
                    raw_vwc,
                    temp,
                    ec,
                    water_pot,
                } => {
                    let values = (
                        teros_data::cell_id.eq(row.cell_id),
                        teros_data::ts.eq(row.ts),
                        teros_data::vwc.eq(vwc),
                        teros_data::raw_vwc.eq(raw_vwc),
                        teros_data::temp.eq(temp),
                        teros_data::ec.eq(ec),
                        teros_data::water_pot.eq(water_pot),
                        teros_data::ts_server.eq(now),
                    );
                    let new = on_backend!(conn, c => diesel::insert_into(teros_data::table).values(values).on_conflict_do_nothing().execute(c))?;
                    if new > 0 {
                        crate::rollups::add_teros(
                            conn,
                            row.cell_id,
                            row.ts,
                            [Some(*vwc), Some(*raw_vwc), Some(*temp), ec.map(f64::from)],
                        )?;
                    }
                    new
                }
                NewData::Sensor {
                    name,
                    measurement,
                    unit,
                    value,
                } => {
                    let key = (row.cell_id, name.clone(), measurement.clone());
                    let sensor_id = match series.get(&key) {
                        Some(id) => *id,
                        None => {
                            let id = sensor_id(conn, row.cell_id, name, measurement, unit, *value)?;
                            series.insert(key, id);
                            id
                        }
                    };
                    let (float_val, int_val) = match value {
                        Value::Float(f) => (Some(*f), None),
                        Value::Int(i) => (Some(*i as f64), Some(*i)),
                    };
                    let values = (
                        data::sensor_id.eq(sensor_id),
                        data::ts.eq(row.ts),
                        data::ts_server.eq(now),
                        data::float_val.eq(float_val),
                        data::int_val.eq(int_val),
                    );
                    let new = on_backend!(conn, c => diesel::insert_into(data::table).values(values).on_conflict_do_nothing().execute(c))?;
                    if new > 0 {
                        crate::rollups::add_value(conn, sensor_id, row.ts, float_val)?;
                    }
                    new
                }
            };
        }
        Ok(inserted)
    }
}

/// The id of a (cell, name, measurement) series, created on first use; the first value's type
/// fixes the series' `data_type`, as in ENTS.
fn sensor_id(
    conn: &mut DbConn,
    cell_id: i32,
    name: &str,
    measurement: &str,
    unit: &str,
    value: Value,
) -> Result<i32, StoreError> {
    let data_type = match value {
        Value::Float(_) => "float",
        Value::Int(_) => "int",
    };
    let values = (
        sensors::cell_id.eq(cell_id),
        sensors::name.eq(name),
        sensors::measurement.eq(measurement),
        sensors::unit.eq(unit),
        sensors::data_type.eq(data_type),
    );
    on_backend!(conn, c => diesel::insert_into(sensors::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(sensors::table
        .filter(sensors::cell_id.eq(cell_id))
        .filter(sensors::name.eq(name))
        .filter(sensors::measurement.eq(measurement))
        .select(sensors::id)
        .first(conn)?)
}

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
    power_window(conn, cell_id, start, end, true, i64::MAX)
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
    teros_window(conn, cell_id, start, end, true, i64::MAX)
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
    sensor_window(conn, sensor_id, start, end, true, i64::MAX)
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

/// One upload of a group commit: its rows, whose membership it needs, and its device's claim.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The rows, all or nothing.
    pub rows: Vec<NewRow>,
    /// When set, every cell must have this person as a member.
    pub member: Option<String>,
    /// The logger the upload is attributed to, when one can be named.
    pub device: Option<DeviceClaim>,
}

/// What an upload attributed to a logger owes: slots when the logger is enrolled, and the
/// receipt to record when it carried a locator.
#[derive(Debug, Clone)]
pub struct DeviceClaim {
    /// The uploading logger.
    pub logger_id: i32,
    /// Slots the upload costs if the logger is enrolled.
    pub slots: i64,
    /// The signed receipt to keep (the upload carried a locator).
    pub receipt: Option<crate::models::UploadReceipt>,
}

/// The outcome of one stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Rows that were new (a retry stores none).
    pub new_rows: usize,
    /// The `Loam-Receipt` header value, when the upload carried a locator (a retry with the
    /// same locator and body gets the first one back).
    pub receipt: Option<String>,
    /// True when the locator was known: the receipt is the stored one and nothing was written.
    pub replayed: bool,
}

/// Stores several uploads in one transaction (one commit, one fsync); a bad upload is refused
/// alone (its own savepoint) while the others commit. The results are in upload order; a failed
/// commit fails them all.
pub fn store_many(
    conn: &mut DbConn,
    uploads: &[Upload],
    now: NaiveDateTime,
) -> Result<Vec<Result<Stored, StoreError>>, DbError> {
    // Optimistic first: every upload in one transaction, no savepoints (on Postgres, batches of
    // plain power rows in one multi-row statement). Almost always they are all valid; if one is
    // not, the batch is rolled back and redone upload by upload.
    let plain_power = matches!(conn, DbConn::Postgres(_))
        && uploads.iter().all(|u| {
            u.device.as_ref().is_none_or(|d| d.receipt.is_none())
                && u.rows
                    .iter()
                    .all(|r| matches!(r.data, NewData::Power { .. }))
        });
    let claimed: Vec<i32> = uploads
        .iter()
        .filter_map(|u| u.device.as_ref().map(|d| d.logger_id))
        .collect();
    let all_at_once = crate::write_transaction(conn, |conn| {
        if plain_power && !any_enrolled(conn, &claimed)? {
            let counts = bulk_power(conn, uploads, now)?;
            return Ok(counts
                .into_iter()
                .map(|new_rows| Stored {
                    new_rows,
                    receipt: None,
                    replayed: false,
                })
                .collect());
        }
        uploads
            .iter()
            .map(|u| store_in_transaction(conn, u, now))
            .collect::<Result<Vec<Stored>, StoreError>>()
    });
    match all_at_once {
        Ok(stored) => Ok(stored.into_iter().map(Ok).collect()),
        Err(StoreError::Db(DbError::Unavailable(why))) => Err(DbError::Unavailable(why)),
        Err(_) => crate::write_transaction(conn, |conn| {
            Ok::<_, DbError>(uploads.iter().map(|u| store(conn, u, now)).collect())
        }),
    }
}

/// Whether any of these loggers is enrolled (then its uploads are charged one by one).
fn any_enrolled(conn: &mut DbConn, logger_ids: &[i32]) -> Result<bool, StoreError> {
    if logger_ids.is_empty() {
        return Ok(false);
    }
    let n: i64 = crate::schema::device_enrolments::table
        .filter(crate::schema::device_enrolments::logger_id.eq_any(logger_ids))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Power uploads in three statements however many there are: one membership check per
/// uploader, one multi-row insert that returns the rows that were new, one rollup upsert.
fn bulk_power(
    conn: &mut DbConn,
    uploads: &[Upload],
    now: NaiveDateTime,
) -> Result<Vec<usize>, StoreError> {
    use crate::schema::cell_user;
    let mut members: HashMap<&str, Vec<i32>> = HashMap::new();
    for u in uploads {
        if let Some(member) = u.member.as_deref() {
            members
                .entry(member)
                .or_default()
                .extend(u.rows.iter().map(|r| r.cell_id));
        }
    }
    for (member, mut cells) in members {
        cells.sort_unstable();
        cells.dedup();
        let allowed: Vec<i32> = cell_user::table
            .filter(cell_user::user_id.eq(member))
            .filter(cell_user::cell_id.eq_any(&cells))
            .select(cell_user::cell_id)
            .load(conn)?;
        if let Some(other) = cells.iter().find(|c| !allowed.contains(c)) {
            return Err(StoreError::NotMember(*other));
        }
    }
    let rows = uploads.iter().flat_map(|u| &u.rows);
    let cell_ids: Vec<i32> = rows.clone().map(|r| r.cell_id).collect();
    let logger_ids: Vec<i32> = rows.filter_map(|r| r.logger_id).collect();
    lock_parents(conn, &cell_ids, &logger_ids)?;
    let values: Vec<_> = uploads
        .iter()
        .flat_map(|u| &u.rows)
        .filter_map(|r| match r.data {
            NewData::Power { voltage, current } => Some((
                power_data::cell_id.eq(r.cell_id),
                power_data::logger_id.eq(r.logger_id),
                power_data::ts.eq(r.ts),
                power_data::voltage.eq(Some(voltage)),
                power_data::current.eq(Some(current)),
                power_data::ts_server.eq(now),
            )),
            _ => None,
        })
        .collect();
    let DbConn::Postgres(pg) = conn else {
        return Err(StoreError::Db(DbError::Unavailable(
            "bulk inserts are written for Postgres".into(),
        )));
    };
    let new: Vec<crate::rollups::NewPower> = diesel::insert_into(power_data::table)
        .values(&values)
        .on_conflict_do_nothing()
        .returning((
            power_data::cell_id,
            power_data::logger_id,
            power_data::ts,
            power_data::voltage,
            power_data::current,
        ))
        .get_results(pg)?;
    crate::rollups::add_power_many(conn, &new)?;
    let fresh: std::collections::HashSet<(i32, Option<i32>, NaiveDateTime)> =
        new.iter().map(|(c, l, t, _, _)| (*c, *l, *t)).collect();
    Ok(uploads
        .iter()
        .map(|u| {
            u.rows
                .iter()
                .filter(|r| fresh.contains(&(r.cell_id, r.logger_id, r.ts)))
                .count()
        })
        .collect())
}

/// Raw power rows of a cell in `[from, to)` (or `[from, to]` when `last`), by time, limited to
/// rows with id ≤ `max_id` (those that existed when a stream began, so every pass over the range
/// sees the same rows). Time windows, not offsets, keep each page an index range scan.
pub fn power_window(
    conn: &mut DbConn,
    cell_id: i32,
    from: NaiveDateTime,
    to: NaiveDateTime,
    last: bool,
    max_id: i64,
) -> Result<Vec<PowerRow>, DbError> {
    let mut query = power_data::table
        .filter(power_data::cell_id.eq(cell_id))
        .filter(power_data::ts.ge(from))
        .filter(power_data::id.le(max_id))
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
    max_id: i64,
) -> Result<Vec<TerosRow>, DbError> {
    let mut query = teros_data::table
        .filter(teros_data::cell_id.eq(cell_id))
        .filter(teros_data::ts.ge(from))
        .filter(teros_data::id.le(max_id))
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
    max_id: i64,
) -> Result<Vec<SensorValue>, DbError> {
    let mut query = data::table
        .filter(data::sensor_id.eq(sensor_id))
        .filter(data::ts.ge(from))
        .filter(data::id.le(max_id))
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

/// The highest TEROS-row id, the snapshot bound of a stream.
pub fn teros_max_id(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(teros_data::table
        .select(diesel::dsl::max(teros_data::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// The highest generic-value id, the snapshot bound of a stream.
pub fn data_max_id(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(data::table
        .select(diesel::dsl::max(data::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// The highest power-row id, the snapshot bound of a stream.
pub fn power_max_id(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(power_data::table
        .select(diesel::dsl::max(power_data::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
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
