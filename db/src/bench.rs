//! Bulk seeding for benchmarks: a year of power (with its rollups, built the way migration 3
//! builds them), TEROS or generic data written with one statement per table, far faster than
//! uploads. Postgres only.

use diesel::connection::SimpleConnection;

use crate::{DbConn, DbError};

/// Seconds between `rows` rows spread evenly over a year.
fn year_step(rows: i64) -> f64 {
    365.0 * 86_400.0 / rows as f64
}

/// Runs a seeding script; the scripts are written for Postgres.
fn seed(conn: &mut DbConn, start_epoch: i64, sql: &str) -> Result<(), DbError> {
    let at = |secs: i64| chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc());
    if let (Some(first), Some(last)) = (at(start_epoch), at(start_epoch + 366 * 86_400)) {
        crate::partitions::ensure_span(conn, first, last)?;
    }
    let DbConn::Postgres(pg) = conn else {
        return Err(DbError::Unavailable(
            "bulk seeding is written for Postgres".into(),
        ));
    };
    Ok(pg.batch_execute(sql)?)
}

/// Writes `rows` power rows for (cell, logger), evenly spread over the year from `start_epoch`,
/// and their hourly and daily rollups.
pub fn seed_power_year(
    conn: &mut DbConn,
    cell_id: i32,
    logger_id: i32,
    start_epoch: i64,
    rows: i64,
) -> Result<(), DbError> {
    let step = year_step(rows);
    seed(conn, start_epoch, &format!(
        "INSERT INTO power_data (logger_id, cell_id, ts, current, voltage, ts_server)
         SELECT {logger_id}, {cell_id}, to_timestamp({start_epoch} + floor(g * {step}))::timestamp,
                0.001 + (g % 97) * 0.00001, 0.5 + (g % 89) * 0.001, now()::timestamp
         FROM generate_series(0, {rows} - 1) AS g
         ON CONFLICT DO NOTHING;
         DELETE FROM power_rollups WHERE cell_id = {cell_id};
         INSERT INTO power_rollups
         SELECT cell_id, w.width, (EXTRACT(EPOCH FROM ts)::BIGINT / w.width) * w.width,
                COUNT(voltage), COALESCE(SUM(voltage), 0), COUNT(current), COALESCE(SUM(current), 0),
                COUNT(voltage * current), COALESCE(SUM(voltage * current), 0)
         FROM power_data, (VALUES (3600), (86400)) AS w (width)
         WHERE cell_id = {cell_id}
         GROUP BY cell_id, w.width, (EXTRACT(EPOCH FROM ts)::BIGINT / w.width) * w.width;
         ANALYZE power_data; ANALYZE power_rollups;"
    ))
}

/// Writes `rows` TEROS rows for a cell, evenly spread over the year from `start_epoch` (raw rows
/// only: the bench reads them raw).
pub fn seed_teros_year(
    conn: &mut DbConn,
    cell_id: i32,
    start_epoch: i64,
    rows: i64,
) -> Result<(), DbError> {
    let step = year_step(rows);
    seed(
        conn,
        start_epoch,
        &format!(
            "INSERT INTO teros_data (cell_id, ts, vwc, temp, ec, ts_server, raw_vwc)
         SELECT {cell_id}, to_timestamp({start_epoch} + floor(g * {step}))::timestamp,
                0.1 + (g % 83) * 0.003, 12.0 + (g % 71) * 0.1, 100 + (g % 53), now()::timestamp,
                2000.0 + (g % 97)
         FROM generate_series(0, {rows} - 1) AS g
         ON CONFLICT DO NOTHING;
         ANALYZE teros_data;"
        ),
    )
}

/// Creates a generic series on a cell (name `BME280_PRESSURE`, measurement `Pressure`, floats)
/// and writes `rows` values spread over the year from `start_epoch` (raw rows only).
pub fn seed_sensor_year(
    conn: &mut DbConn,
    cell_id: i32,
    start_epoch: i64,
    rows: i64,
) -> Result<(), DbError> {
    let step = year_step(rows);
    seed(
        conn,
        start_epoch,
        &format!(
            "INSERT INTO sensors (cell_id, measurement, data_type, unit, name)
         VALUES ({cell_id}, 'Pressure', 'float', 'kPa', 'BME280_PRESSURE')
         ON CONFLICT DO NOTHING;
         INSERT INTO data (sensor_id, ts, ts_server, float_val)
         SELECT s.id, to_timestamp({start_epoch} + floor(g * {step}))::timestamp, now()::timestamp,
                95.0 + (g % 101) * 0.01
         FROM generate_series(0, {rows} - 1) AS g,
              (SELECT id FROM sensors WHERE cell_id = {cell_id} AND name = 'BME280_PRESSURE'
               AND measurement = 'Pressure') AS s
         ON CONFLICT DO NOTHING;
         ANALYZE data;"
        ),
    )
}

/// How many power rows a cell has, and how many distinct (logger, time) pairs among them —
/// equal when nothing was stored twice.
pub fn power_counts(conn: &mut DbConn, cell_id: i32) -> Result<(i64, i64), DbError> {
    use crate::schema::power_data as p;
    use diesel::prelude::*;
    let total: i64 = p::table
        .filter(p::cell_id.eq(cell_id))
        .count()
        .get_result(conn)?;
    let distinct = p::table
        .filter(p::cell_id.eq(cell_id))
        .group_by((p::logger_id, p::ts))
        .select((p::logger_id, p::ts))
        .load::<(Option<i32>, chrono::NaiveDateTime)>(conn)?
        .len();
    Ok((total, i64::try_from(distinct).unwrap_or(i64::MAX)))
}

/// Measurement rows (power, TEROS and generic values) stored for these cells: after an ingest
/// run, every acknowledged row must be among them.
pub fn row_count(conn: &mut DbConn, cell_ids: &[i32]) -> Result<i64, DbError> {
    use crate::schema::{data, power_data, sensors, teros_data};
    use diesel::prelude::*;
    let power: i64 = power_data::table
        .filter(power_data::cell_id.eq_any(cell_ids))
        .count()
        .get_result(conn)?;
    let teros: i64 = teros_data::table
        .filter(teros_data::cell_id.eq_any(cell_ids))
        .count()
        .get_result(conn)?;
    let values: i64 = data::table
        .inner_join(sensors::table)
        .filter(sensors::cell_id.eq_any(cell_ids))
        .count()
        .get_result(conn)?;
    Ok(power + teros + values)
}

/// Deadlocks Postgres has detected in this database since its statistics were reset.
pub fn deadlocks(conn: &mut DbConn) -> Result<i64, DbError> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        deadlocks: i64,
    }
    let DbConn::Postgres(pg) = conn else {
        return Ok(0);
    };
    let row: Count = diesel::sql_query(
        "SELECT coalesce(deadlocks, 0) AS deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    .get_result(pg)?;
    Ok(row.deadlocks)
}

/// Every rollup of a cell that differs from what its raw rows give (empty when exact).
pub fn rollup_mismatches(conn: &mut DbConn, cell_id: i32) -> Result<Vec<String>, DbError> {
    crate::rollups::mismatches(conn, cell_id)
}

/// Bytes on disk of the measurement tables with their indexes, partitions and the rollup
/// tables (Postgres; 0 on SQLite): the numerator of bytes per stored row.
pub fn storage_bytes(conn: &mut DbConn) -> Result<i64, DbError> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Bytes {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
    }
    let DbConn::Postgres(pg) = conn else {
        return Ok(0);
    };
    let row: Bytes = diesel::sql_query(
        "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint AS bytes
         FROM (SELECT relid FROM pg_partition_tree('power_data')
               UNION ALL SELECT relid FROM pg_partition_tree('teros_data')
               UNION ALL SELECT relid FROM pg_partition_tree('data')
               UNION ALL SELECT 'power_rollups'::regclass
               UNION ALL SELECT 'teros_rollups'::regclass
               UNION ALL SELECT 'data_rollups'::regclass) AS t",
    )
    .get_result(pg)?;
    Ok(row.bytes)
}

/// Every measurement row stored (power, TEROS and generic values), all cells.
pub fn measurement_rows(conn: &mut DbConn) -> Result<i64, DbError> {
    use crate::schema::{data, power_data, teros_data};
    use diesel::prelude::*;
    let power: i64 = power_data::table.count().get_result(conn)?;
    let teros: i64 = teros_data::table.count().get_result(conn)?;
    let values: i64 = data::table.count().get_result(conn)?;
    Ok(power + teros + values)
}

/// Makes `loggers` loggers for `owner` and the upload log of a realistic fleet over the last
/// [`crate::health::KEEP_DAYS`] days before `now_epoch` (what the log holds in steady state):
/// each wake-up is a power and a TEROS upload a second apart, intervals differ per logger (1 to
/// 15 minutes), one in ten loggers fell silent two hours ago, one in ten missed three wake-ups,
/// and one in fifty never uploaded. Returns the log lines written.
pub fn seed_fleet(
    conn: &mut DbConn,
    owner: &str,
    loggers: i64,
    cell_id: i32,
    now_epoch: i64,
) -> Result<i64, DbError> {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Integer, Text};
    let DbConn::Postgres(pg) = conn else {
        return Err(DbError::Unavailable(
            "bulk seeding is written for Postgres".into(),
        ));
    };
    diesel::sql_query(
        "INSERT INTO loggers (name, uuid, type, date_created, user_id)
         SELECT 'fleet-' || g, md5(random()::text || g), 'ents', now(), $1
           FROM generate_series(1, $2) AS g",
    )
    .bind::<Text, _>(owner)
    .bind::<BigInt, _>(loggers)
    .execute(pg)?;
    let written = diesel::sql_query(
        "WITH fleet AS (
             SELECT id, 60 * (1 + id % 15) AS every,
                    CASE WHEN id % 10 = 0 THEN 7200 WHEN id % 10 = 1 THEN 3 * 60 * (1 + id % 15) ELSE 0 END AS quiet
               FROM loggers WHERE user_id = $1 AND id % 50 <> 2)
         INSERT INTO logger_uploads (logger_id, cell_id, at, row_count, voltage, firmware)
         SELECT f.id, $2,
                to_timestamp($3 - f.quiet - k * f.every - burst) AT TIME ZONE 'UTC',
                1, CASE WHEN burst = 0 THEN 3.3 - (k % 100) * 0.001 END, '1.4.2'
           FROM fleet f,
                generate_series(0, ($4 * 86400 / f.every)::integer) AS k,
                generate_series(0, 1) AS burst",
    )
    .bind::<Text, _>(owner)
    .bind::<Integer, _>(cell_id)
    .bind::<BigInt, _>(now_epoch)
    .bind::<BigInt, _>(crate::health::KEEP_DAYS)
    .execute(pg)?;
    // Steady state: autovacuum keeps an insert-only table's pages all-visible.
    pg.batch_execute("ANALYZE loggers")?;
    pg.batch_execute("VACUUM ANALYZE logger_uploads")?;
    Ok(i64::try_from(written).unwrap_or(i64::MAX))
}
