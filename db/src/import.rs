//! Bulk import of historical rows into one cell: the caller's single transaction makes a file
//! all-or-nothing, `ON CONFLICT DO NOTHING` makes a retried import add nothing twice, and rollups
//! grow only by the rows that were new. On Postgres rows go in multi-row statements of a few
//! thousand; SQLite, in-process, takes them one prepared statement at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::measurements::{NewData, NewRow};
use crate::schema::{power_data, teros_data};
use crate::{DbConn, DbError};

/// Rows per statement on Postgres (under its 65,535 bind parameters for 8 columns).
pub const BATCH: usize = 5_000;

/// One timestamp of an imported file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// Device time (UTC).
    pub ts: NaiveDateTime,
    /// Volts and amps, when the file has power columns.
    pub power: Option<(f64, f64)>,
    /// VWC (as stored), °C, µS/cm, when the file has TEROS columns.
    pub teros: Option<(f64, f64, i32)>,
}

/// Inserts `rows` into `cell_id` (power rows under `logger_id`), calling `after_batch` with the
/// rows done so far; an `Err` from it aborts (and the caller's transaction rolls back). Returns
/// how many measurement rows (power plus TEROS) were new.
pub fn insert(
    conn: &mut DbConn,
    cell_id: i32,
    logger_id: i32,
    rows: &[ImportRow],
    now: NaiveDateTime,
    after_batch: &mut dyn FnMut(usize) -> Result<(), DbError>,
) -> Result<usize, DbError> {
    let mut new = 0;
    let mut done = 0;
    for chunk in rows.chunks(BATCH) {
        new += match conn {
            DbConn::Postgres(_) => insert_pg(conn, cell_id, logger_id, chunk, now)?,
            DbConn::Sqlite(_) => {
                let rows: Vec<NewRow> = chunk
                    .iter()
                    .flat_map(|r| {
                        let power = r.power.map(|(voltage, current)| NewRow {
                            cell_id,
                            logger_id: Some(logger_id),
                            ts: r.ts,
                            data: NewData::Power { voltage, current },
                        });
                        let teros = r.teros.map(|(vwc, temp, ec)| NewRow {
                            cell_id,
                            logger_id: None,
                            ts: r.ts,
                            data: NewData::Teros {
                                vwc,
                                raw_vwc: vwc,
                                temp,
                                ec: Some(ec),
                                water_pot: None,
                            },
                        });
                        power.into_iter().chain(teros)
                    })
                    .collect();
                crate::measurements::insert_rows(conn, &rows, now).map_err(|e| match e {
                    crate::measurements::StoreError::Db(e) => e,
                    other => DbError::Aborted(other.to_string()),
                })?
            }
        };
        done += chunk.len();
        after_batch(done)?;
    }
    Ok(new)
}

/// A TEROS row as inserted: cell, time, vwc, raw, temp, ec.
type NewTeros = (
    i32,
    NaiveDateTime,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i32>,
);

fn insert_pg(
    conn: &mut DbConn,
    cell_id: i32,
    logger_id: i32,
    rows: &[ImportRow],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let power: Vec<_> = rows
        .iter()
        .filter_map(|r| {
            r.power.map(|(v, i)| {
                (
                    power_data::cell_id.eq(cell_id),
                    power_data::logger_id.eq(Some(logger_id)),
                    power_data::ts.eq(r.ts),
                    power_data::voltage.eq(Some(v)),
                    power_data::current.eq(Some(i)),
                    power_data::ts_server.eq(now),
                )
            })
        })
        .collect();
    let teros: Vec<_> = rows
        .iter()
        .filter_map(|r| {
            r.teros.map(|(vwc, temp, ec)| {
                (
                    teros_data::cell_id.eq(cell_id),
                    teros_data::ts.eq(r.ts),
                    teros_data::vwc.eq(Some(vwc)),
                    teros_data::raw_vwc.eq(Some(vwc)),
                    teros_data::temp.eq(Some(temp)),
                    teros_data::ec.eq(Some(ec)),
                    teros_data::ts_server.eq(now),
                )
            })
        })
        .collect();
    let DbConn::Postgres(pg) = conn else {
        return Err(DbError::Aborted(
            "bulk import statements are for Postgres".into(),
        ));
    };
    let new_power: Vec<crate::rollups::NewPower> = if power.is_empty() {
        Vec::new()
    } else {
        diesel::insert_into(power_data::table)
            .values(&power)
            .on_conflict_do_nothing()
            .returning((
                power_data::cell_id,
                power_data::logger_id,
                power_data::ts,
                power_data::voltage,
                power_data::current,
            ))
            .get_results(pg)?
    };
    let new_teros: Vec<NewTeros> = if teros.is_empty() {
        Vec::new()
    } else {
        diesel::insert_into(teros_data::table)
            .values(&teros)
            .on_conflict_do_nothing()
            .returning((
                teros_data::cell_id,
                teros_data::ts,
                teros_data::vwc,
                teros_data::raw_vwc,
                teros_data::temp,
                teros_data::ec,
            ))
            .get_results(pg)?
    };
    crate::rollups::add_power_many(conn, &new_power)?;
    let teros_sums: Vec<_> = new_teros
        .iter()
        .map(|(cell, ts, vwc, raw, temp, ec)| (*cell, *ts, [*vwc, *raw, *temp, ec.map(f64::from)]))
        .collect();
    crate::rollups::add_teros_many(conn, &teros_sums)?;
    Ok(new_power.len() + new_teros.len())
}
