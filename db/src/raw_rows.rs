//! Raw measurement inserts for the group commit: each table's rows of a batch in one statement
//! on Postgres (columns as arrays, keys in index order), one prepared statement per row on
//! SQLite; both answer which keys were new, so rollups count every row exactly once.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, Timestamp};

use crate::schema::{data, power_data, teros_data};
use crate::{DbConn, DbError};

/// A TEROS row's values as stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TerosValues {
    pub vwc: f64,
    pub raw_vwc: f64,
    pub temp: f64,
    pub ec: Option<i32>,
    pub water_pot: Option<f64>,
}

/// Power rows by (cell, time, logger): (row index, volts, amps).
pub(crate) type PowerRows = BTreeMap<(i32, NaiveDateTime, i32), (usize, f64, f64)>;
/// TEROS rows by (cell, time).
pub(crate) type TerosRows = BTreeMap<(i32, NaiveDateTime), (usize, TerosValues)>;
/// Generic values by (series, time): (row index, float form, integer form).
pub(crate) type ValueRows = BTreeMap<(i32, NaiveDateTime), (usize, Option<f64>, Option<i64>)>;

#[derive(QueryableByName)]
struct PowerKey {
    #[diesel(sql_type = Integer)]
    cell_id: i32,
    #[diesel(sql_type = Timestamp)]
    ts: NaiveDateTime,
    #[diesel(sql_type = Nullable<Integer>)]
    logger_id: Option<i32>,
}

#[derive(QueryableByName)]
struct TimeKey {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Timestamp)]
    ts: NaiveDateTime,
}

/// Inserts power rows that are not stored yet; answers the keys that were new.
pub(crate) fn insert_power(
    conn: &mut DbConn,
    rows: &PowerRows,
    now: NaiveDateTime,
) -> Result<Vec<(i32, NaiveDateTime, i32)>, DbError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if let DbConn::Postgres(pg) = conn {
        let mut cells = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        let mut loggers = Vec::with_capacity(rows.len());
        let mut volts = Vec::with_capacity(rows.len());
        let mut amps = Vec::with_capacity(rows.len());
        for ((cell, ts, logger), (_, v, a)) in rows {
            cells.push(*cell);
            times.push(*ts);
            loggers.push(*logger);
            volts.push(*v);
            amps.push(*a);
        }
        let keys: Vec<PowerKey> = diesel::sql_query(
            "INSERT INTO power_data (cell_id, ts, logger_id, voltage, current, ts_server)
             SELECT u.c, u.t, u.l, u.v, u.a, $6
             FROM UNNEST($1::int4[], $2::timestamp[], $3::int4[], $4::float8[], $5::float8[])
                  WITH ORDINALITY AS u (c, t, l, v, a, k)
             ORDER BY u.k
             ON CONFLICT DO NOTHING
             RETURNING cell_id, ts, logger_id",
        )
        .bind::<Array<Integer>, _>(cells)
        .bind::<Array<Timestamp>, _>(times)
        .bind::<Array<Integer>, _>(loggers)
        .bind::<Array<Double>, _>(volts)
        .bind::<Array<Double>, _>(amps)
        .bind::<Timestamp, _>(now)
        .load(pg)?;
        return Ok(keys
            .into_iter()
            .map(|k| (k.cell_id, k.ts, k.logger_id.unwrap_or_default()))
            .collect());
    }
    let mut new = Vec::new();
    for (&(cell, ts, logger), (_, v, a)) in rows {
        let inserted = diesel::insert_into(power_data::table)
            .values((
                power_data::cell_id.eq(cell),
                power_data::ts.eq(ts),
                power_data::logger_id.eq(logger),
                power_data::voltage.eq(v),
                power_data::current.eq(a),
                power_data::ts_server.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(sqlite(conn)?)?;
        if inserted > 0 {
            new.push((cell, ts, logger));
        }
    }
    Ok(new)
}

/// Inserts TEROS rows that are not stored yet; answers the keys that were new.
pub(crate) fn insert_teros(
    conn: &mut DbConn,
    rows: &TerosRows,
    now: NaiveDateTime,
) -> Result<Vec<(i32, NaiveDateTime)>, DbError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if let DbConn::Postgres(pg) = conn {
        let mut cells = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        let mut vwc = Vec::with_capacity(rows.len());
        let mut raw = Vec::with_capacity(rows.len());
        let mut temp = Vec::with_capacity(rows.len());
        let mut ec = Vec::with_capacity(rows.len());
        let mut water = Vec::with_capacity(rows.len());
        for ((cell, ts), (_, t)) in rows {
            cells.push(*cell);
            times.push(*ts);
            vwc.push(t.vwc);
            raw.push(t.raw_vwc);
            temp.push(t.temp);
            ec.push(t.ec);
            water.push(t.water_pot);
        }
        let keys: Vec<TimeKey> = diesel::sql_query(
            "INSERT INTO teros_data (cell_id, ts, vwc, raw_vwc, temp, ec, water_pot, ts_server)
             SELECT u.c, u.t, u.vwc, u.raw, u.temp, u.ec, u.w, $8
             FROM UNNEST($1::int4[], $2::timestamp[], $3::float8[], $4::float8[], $5::float8[],
                         $6::int4[], $7::float8[])
                  WITH ORDINALITY AS u (c, t, vwc, raw, temp, ec, w, k)
             ORDER BY u.k
             ON CONFLICT DO NOTHING
             RETURNING cell_id AS id, ts",
        )
        .bind::<Array<Integer>, _>(cells)
        .bind::<Array<Timestamp>, _>(times)
        .bind::<Array<Double>, _>(vwc)
        .bind::<Array<Double>, _>(raw)
        .bind::<Array<Double>, _>(temp)
        .bind::<Array<Nullable<Integer>>, _>(ec)
        .bind::<Array<Nullable<Double>>, _>(water)
        .bind::<Timestamp, _>(now)
        .load(pg)?;
        return Ok(keys.into_iter().map(|k| (k.id, k.ts)).collect());
    }
    let mut new = Vec::new();
    for (&(cell, ts), (_, t)) in rows {
        let inserted = diesel::insert_into(teros_data::table)
            .values((
                teros_data::cell_id.eq(cell),
                teros_data::ts.eq(ts),
                teros_data::vwc.eq(t.vwc),
                teros_data::raw_vwc.eq(t.raw_vwc),
                teros_data::temp.eq(t.temp),
                teros_data::ec.eq(t.ec),
                teros_data::water_pot.eq(t.water_pot),
                teros_data::ts_server.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(sqlite(conn)?)?;
        if inserted > 0 {
            new.push((cell, ts));
        }
    }
    Ok(new)
}

/// Inserts generic values that are not stored yet; answers the keys that were new.
pub(crate) fn insert_values(
    conn: &mut DbConn,
    rows: &ValueRows,
    now: NaiveDateTime,
) -> Result<Vec<(i32, NaiveDateTime)>, DbError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if let DbConn::Postgres(pg) = conn {
        let mut series = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        let mut floats = Vec::with_capacity(rows.len());
        let mut ints = Vec::with_capacity(rows.len());
        for ((sensor, ts), (_, f, n)) in rows {
            series.push(*sensor);
            times.push(*ts);
            floats.push(*f);
            ints.push(*n);
        }
        let keys: Vec<TimeKey> = diesel::sql_query(
            "INSERT INTO data (sensor_id, ts, float_val, int_val, ts_server)
             SELECT u.s, u.t, u.f, u.n, $5
             FROM UNNEST($1::int4[], $2::timestamp[], $3::float8[], $4::int8[])
                  WITH ORDINALITY AS u (s, t, f, n, k)
             ORDER BY u.k
             ON CONFLICT DO NOTHING
             RETURNING sensor_id AS id, ts",
        )
        .bind::<Array<Integer>, _>(series)
        .bind::<Array<Timestamp>, _>(times)
        .bind::<Array<Nullable<Double>>, _>(floats)
        .bind::<Array<Nullable<BigInt>>, _>(ints)
        .bind::<Timestamp, _>(now)
        .load(pg)?;
        return Ok(keys.into_iter().map(|k| (k.id, k.ts)).collect());
    }
    let mut new = Vec::new();
    for (&(sensor, ts), (_, f, n)) in rows {
        let inserted = diesel::insert_into(data::table)
            .values((
                data::sensor_id.eq(sensor),
                data::ts.eq(ts),
                data::ts_server.eq(now),
                data::float_val.eq(f),
                data::int_val.eq(n),
            ))
            .on_conflict_do_nothing()
            .execute(sqlite(conn)?)?;
        if inserted > 0 {
            new.push((sensor, ts));
        }
    }
    Ok(new)
}

fn sqlite(conn: &mut DbConn) -> Result<&mut diesel::SqliteConnection, DbError> {
    match conn {
        DbConn::Sqlite(c) => Ok(c),
        DbConn::Postgres(_) => Err(DbError::Unavailable(
            "row-by-row inserts are for SQLite".into(),
        )),
    }
}
