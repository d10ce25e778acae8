//! Bulk import of historical rows into one cell: the caller's single transaction makes a file
//! all-or-nothing, `ON CONFLICT DO NOTHING` makes a retried import add nothing twice, and rollups
//! count every row once. On Postgres a batch of 25,000 lines is one statement per table (rows
//! as arrays; all power rows, then all TEROS rows, by time — the order uploads lock in) and the
//! touched days' rollups are rebuilt at the end (hourly from the rows, daily from the hours); SQLite, in-process, takes rows one prepared statement at a time with their rollups.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use loam_readings::RowData;

use crate::writes::NewRow;
use crate::{DbConn, DbError};

/// Rows per statement on Postgres (and between progress reports).
pub const BATCH: usize = 25_000;

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
/// rows done so far; an `Err` from it aborts (and the caller's transaction rolls back).
/// `raw_since` is the retention horizon when raw rows are deleted past one (the caller refuses
/// rows before it). Returns how many measurement rows (power plus TEROS) were new.
pub fn insert(
    conn: &mut DbConn,
    cell_id: i32,
    logger_id: i32,
    rows: &[ImportRow],
    now: NaiveDateTime,
    raw_since: Option<NaiveDateTime>,
    after_batch: &mut dyn FnMut(usize) -> Result<(), DbError>,
) -> Result<usize, DbError> {
    let (cells, loggers) = crate::group_commit::hold_parents(conn, &[cell_id], &[logger_id])?;
    if !cells.contains(&cell_id) {
        return Err(DbError::Aborted(format!("cell {cell_id} does not exist")));
    }
    if !loggers.contains(&logger_id) {
        return Err(DbError::Aborted(format!(
            "logger {logger_id} does not exist"
        )));
    }
    // Rows go one of two ways. Postgres takes a file in bulk and then rebuilds the rollups of
    // the days it touched from their rows; SQLite, and on Postgres the first day after the
    // retention horizon (a sweep passing midnight while the import runs may delete that day's
    // older rows, which a rebuild would then stop counting), store rows with their rollups
    // added.
    let (added, bulk): (Vec<ImportRow>, Vec<ImportRow>) = match (&*conn, raw_since) {
        (DbConn::Sqlite(_), _) => (rows.to_vec(), Vec::new()),
        (DbConn::Postgres(_), None) => (Vec::new(), rows.to_vec()),
        (DbConn::Postgres(_), Some(horizon)) => {
            let edge = horizon + chrono::Duration::days(1);
            rows.iter().cloned().partition(|r| r.ts < edge)
        }
    };
    let mut new = insert_adding(conn, cell_id, logger_id, &added, now, after_batch)?;
    if bulk.is_empty() {
        return Ok(new);
    }
    // Uploads take row locks table by table in key order (power, then TEROS, each by time; see
    // `group_commit`); the bulk pass does the same — every power row, then every TEROS row, by
    // time — so an upload retrying a row the import holds can wait but never deadlock with it.
    let mut sorted = bulk;
    sorted.sort_by_key(|r| r.ts);
    let mut done = 0;
    for pass in [Pass::Power, Pass::Teros] {
        for chunk in sorted.chunks(BATCH) {
            new += insert_pg(conn, cell_id, logger_id, chunk, now, pass)?;
            done += chunk.len();
            after_batch(added.len() + done / 2)?;
        }
    }
    let first = sorted.first().map(|r| r.ts);
    let last = sorted.last().map(|r| r.ts);
    if let (Some(first), Some(last), true) = (first, last, new > 0) {
        rebuild_rollups_pg(conn, cell_id, first, last)?;
    }
    Ok(new)
}

/// Stores rows through the uploads' write path, which adds each new row to its rollups.
fn insert_adding(
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
        let new_rows: Vec<NewRow> = chunk
            .iter()
            .flat_map(|r| {
                let power = r.power.map(|(voltage, current)| NewRow {
                    cell_id,
                    logger_id: Some(logger_id),
                    ts: r.ts,
                    data: RowData::Power { voltage, current },
                });
                let teros = r.teros.map(|(vwc, temp, ec)| NewRow {
                    cell_id,
                    logger_id: None,
                    ts: r.ts,
                    data: RowData::Teros {
                        vwc,
                        raw_vwc: vwc,
                        temp,
                        ec: Some(i64::from(ec)),
                        water_pot: None,
                    },
                });
                power.into_iter().chain(teros)
            })
            .collect();
        let refs: Vec<&NewRow> = new_rows.iter().collect();
        new += crate::group_commit::write_rows(conn, &refs, now)?
            .into_iter()
            .filter(|fresh| *fresh)
            .count();
        done += chunk.len();
        after_batch(done)?;
    }
    Ok(new)
}

/// A batch of power rows as three arrays (three bind parameters however many rows); the
/// statement's row count is the rows that were new.
const POWER_SQL: &str = "
INSERT INTO power_data (cell_id, logger_id, ts, voltage, current, ts_server)
SELECT $1, $2, u.ts, u.v, u.i, $3
FROM UNNEST($4::timestamp[], $5::float8[], $6::float8[]) AS u (ts, v, i)
ON CONFLICT DO NOTHING";

/// A batch of TEROS rows as arrays.
const TEROS_SQL: &str = "
INSERT INTO teros_data (cell_id, ts, vwc, raw_vwc, temp, ec, ts_server)
SELECT $1, u.ts, u.vwc, u.vwc, u.temp, u.ec, $2
FROM UNNEST($3::timestamp[], $4::float8[], $5::float8[], $6::int4[]) AS u (ts, vwc, temp, ec)
ON CONFLICT DO NOTHING";

/// Rebuilds a cell's power rollups for whole days `[$2, $3)` (`[$4, $5)` in Unix seconds) in
/// one statement: the old rows of those buckets are deleted and the hourly sums recomputed from
/// the raw rows, the daily ones from the hours, with the arithmetic of `rollups.rs` (buckets floor
/// Unix seconds; non-finite values are not counted; `date_part` answers a double, several times
/// cheaper here than `extract`'s numeric). One statement is one snapshot: an upload committed
/// before it has its rows counted and its appended rollup rows deleted, one committed after keeps
/// its appended rows and its rows are not counted — exact either way, with no lock on the cell.
const POWER_REBUILD_SQL: &str = "
WITH gone AS (
    DELETE FROM power_rollups WHERE cell_id = $1 AND bucket >= $4 AND bucket < $5
), hourly AS (
    SELECT r.e - ((r.e % 3600) + 3600) % 3600 AS bucket,
           count(r.v) AS n_v, coalesce(sum(r.v), 0) AS sum_v,
           count(r.i) AS n_i, coalesce(sum(r.i), 0) AS sum_i,
           count(r.v * r.i) AS n_p, coalesce(sum(r.v * r.i), 0) AS sum_p
    FROM (
        SELECT floor(date_part('epoch', ts))::bigint AS e,
               CASE WHEN voltage IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE voltage END AS v,
               CASE WHEN current IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE current END AS i
        FROM power_data
        WHERE cell_id = $1 AND ts >= $2 AND ts < $3
    ) AS r
    GROUP BY 1
), hours AS (
    INSERT INTO power_rollups (cell_id, width, bucket, n_v, sum_v, n_i, sum_i, n_p, sum_p)
    SELECT $1, 3600, bucket, n_v, sum_v, n_i, sum_i, n_p, sum_p FROM hourly
)
INSERT INTO power_rollups (cell_id, width, bucket, n_v, sum_v, n_i, sum_i, n_p, sum_p)
SELECT $1, 86400, bucket - ((bucket % 86400) + 86400) % 86400,
       sum(n_v), sum(sum_v), sum(n_i), sum(sum_i), sum(n_p), sum(sum_p)
FROM hourly
GROUP BY 3";

/// The same for TEROS (VWC in percent, as `rollups.rs`).
const TEROS_REBUILD_SQL: &str = "
WITH gone AS (
    DELETE FROM teros_rollups WHERE cell_id = $1 AND bucket >= $4 AND bucket < $5
), hourly AS (
    SELECT r.e - ((r.e % 3600) + 3600) % 3600 AS bucket,
           count(r.vwc) AS n_vwc, coalesce(sum(r.vwc), 0) AS sum_vwc,
           count(r.raw) AS n_raw, coalesce(sum(r.raw), 0) AS sum_raw,
           count(r.temp) AS n_temp, coalesce(sum(r.temp), 0) AS sum_temp,
           count(r.ec) AS n_ec, coalesce(sum(r.ec), 0) AS sum_ec
    FROM (
        SELECT floor(date_part('epoch', ts))::bigint AS e,
               CASE WHEN vwc IN ('NaN', 'Infinity', '-Infinity') THEN NULL
                    WHEN vwc > 0 AND vwc <= 1 THEN vwc * 100 ELSE vwc END AS vwc,
               CASE WHEN raw_vwc IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE raw_vwc END AS raw,
               CASE WHEN temp IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE temp END AS temp,
               ec::float8 AS ec
        FROM teros_data
        WHERE cell_id = $1 AND ts >= $2 AND ts < $3
    ) AS r
    GROUP BY 1
), hours AS (
    INSERT INTO teros_rollups (cell_id, width, bucket, n_vwc, sum_vwc, n_raw, sum_raw,
                               n_temp, sum_temp, n_ec, sum_ec)
    SELECT $1, 3600, bucket, n_vwc, sum_vwc, n_raw, sum_raw, n_temp, sum_temp, n_ec, sum_ec
    FROM hourly
)
INSERT INTO teros_rollups (cell_id, width, bucket, n_vwc, sum_vwc, n_raw, sum_raw,
                           n_temp, sum_temp, n_ec, sum_ec)
SELECT $1, 86400, bucket - ((bucket % 86400) + 86400) % 86400,
       sum(n_vwc), sum(sum_vwc), sum(n_raw), sum(sum_raw),
       sum(n_temp), sum(sum_temp), sum(n_ec), sum(sum_ec)
FROM hourly
GROUP BY 3";

/// Recomputes the rollups of the whole days an import touched, one statement per table (far
/// cheaper than a rollup write per batch). No lock on the cell: uploads to it go on (see the
/// statements); the rewrite lock keeps the background compaction away from these rows.
fn rebuild_rollups_pg(
    conn: &mut DbConn,
    cell_id: i32,
    first: NaiveDateTime,
    last: NaiveDateTime,
) -> Result<(), DbError> {
    use diesel::sql_types::{BigInt, Integer, Timestamp};
    if !matches!(conn, DbConn::Postgres(_)) {
        return Ok(());
    }
    let day = 86_400;
    let from = first.and_utc().timestamp().div_euclid(day) * day;
    let to = (last.and_utc().timestamp().div_euclid(day) + 1) * day;
    let at = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .map(|t| t.naive_utc())
            .ok_or_else(|| DbError::Aborted("import times out of range".into()))
    };
    let (from_ts, to_ts) = (at(from)?, at(to)?);
    crate::rollups::lock_for_rewrite(conn)?;
    let DbConn::Postgres(pg) = conn else {
        return Ok(());
    };
    diesel::sql_query("SET LOCAL work_mem = '64MB'").execute(pg)?;
    for statement in [POWER_REBUILD_SQL, TEROS_REBUILD_SQL] {
        diesel::sql_query(statement)
            .bind::<Integer, _>(cell_id)
            .bind::<Timestamp, _>(from_ts)
            .bind::<Timestamp, _>(to_ts)
            .bind::<BigInt, _>(from)
            .bind::<BigInt, _>(to)
            .execute(pg)?;
    }
    Ok(())
}

/// Which table a Postgres import pass writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Power,
    Teros,
}

fn insert_pg(
    conn: &mut DbConn,
    cell_id: i32,
    logger_id: i32,
    rows: &[ImportRow],
    now: NaiveDateTime,
    pass: Pass,
) -> Result<usize, DbError> {
    use diesel::sql_types::{Array, Double, Integer, Timestamp};
    let DbConn::Postgres(pg) = conn else {
        return Err(DbError::Aborted(
            "bulk import statements are for Postgres".into(),
        ));
    };
    let power: Vec<(NaiveDateTime, f64, f64)> = rows
        .iter()
        .filter_map(|r| r.power.map(|(v, i)| (r.ts, v, i)))
        .collect();
    let teros: Vec<(NaiveDateTime, f64, f64, i32)> = rows
        .iter()
        .filter_map(|r| r.teros.map(|(vwc, temp, ec)| (r.ts, vwc, temp, ec)))
        .collect();
    let mut added = 0;
    if pass == Pass::Power && !power.is_empty() {
        added += diesel::sql_query(POWER_SQL)
            .bind::<Integer, _>(cell_id)
            .bind::<Integer, _>(logger_id)
            .bind::<Timestamp, _>(now)
            .bind::<Array<Timestamp>, _>(power.iter().map(|p| p.0).collect::<Vec<_>>())
            .bind::<Array<Double>, _>(power.iter().map(|p| p.1).collect::<Vec<_>>())
            .bind::<Array<Double>, _>(power.iter().map(|p| p.2).collect::<Vec<_>>())
            .execute(pg)?;
    }
    if pass == Pass::Teros && !teros.is_empty() {
        added += diesel::sql_query(TEROS_SQL)
            .bind::<Integer, _>(cell_id)
            .bind::<Timestamp, _>(now)
            .bind::<Array<Timestamp>, _>(teros.iter().map(|t| t.0).collect::<Vec<_>>())
            .bind::<Array<Double>, _>(teros.iter().map(|t| t.1).collect::<Vec<_>>())
            .bind::<Array<Double>, _>(teros.iter().map(|t| t.2).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(teros.iter().map(|t| t.3).collect::<Vec<_>>())
            .execute(pg)?;
    }
    Ok(added)
}
