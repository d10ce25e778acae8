//! Raw-row retention (`LOAM_RAW_RETENTION_DAYS`): raw rows older than the horizon are deleted,
//! their hourly and daily rollups stay. On Postgres whole monthly partitions past the horizon
//! are dropped (one catalog change each), then the rest of the month holding the horizon goes
//! in small batches; SQLite deletes in the same batches. Each batch is its own short
//! transaction, so uploads never wait long behind a sweep, and a sweep cut short is resumed by
//! the next one.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamp};

use crate::{DbConn, DbError};

/// Rows deleted per statement (a few tens of milliseconds of work on either database).
pub const BATCH: i64 = 5_000;

/// The oldest device time whose raw rows are kept: today's midnight (UTC) minus `days`. Day
/// aligned, so hourly and daily rollup buckets lie wholly on one side of it.
pub fn horizon(days: u32, now: NaiveDateTime) -> NaiveDateTime {
    now.date().and_time(chrono::NaiveTime::MIN) - Duration::days(i64::from(days))
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Monthly partitions dropped whole (Postgres; each table's counts), rows not counted.
    pub partitions: usize,
    /// Rows deleted one batch at a time (those outside dropped partitions).
    pub rows: usize,
}

/// Deletes every raw measurement row older than `horizon`; rollups are kept.
pub fn sweep(conn: &mut DbConn, horizon: NaiveDateTime) -> Result<Swept, DbError> {
    let mut swept = Swept::default();
    if let DbConn::Postgres(pg) = conn {
        #[derive(QueryableByName)]
        struct Dropped {
            #[diesel(sql_type = Integer)]
            dropped: i32,
        }
        let dropped = pg.transaction(|pg| {
            diesel::sql_query("SELECT loam_drop_partitions_before($1) AS dropped")
                .bind::<Timestamp, _>(horizon)
                .get_result::<Dropped>(pg)
        });
        match dropped {
            Ok(d) => swept.partitions = usize::try_from(d.dropped).unwrap_or(0),
            // A long read held a partition past the lock timeout: its rows go by batches below,
            // or with the partition on the next sweep.
            Err(err) => tracing::info!(error = %err, "could not drop old partitions now"),
        }
    }
    let cells: Vec<i32> = crate::schema::cells::table
        .select(crate::schema::cells::id)
        .load(conn)?;
    let sensors: Vec<i32> = crate::schema::sensors::table
        .select(crate::schema::sensors::id)
        .load(conn)?;
    const POWER: &str = "DELETE FROM power_data WHERE (cell_id, ts) IN (SELECT cell_id, ts FROM \
        power_data WHERE cell_id = $1 AND ts < $2 ORDER BY ts LIMIT $3)";
    const TEROS: &str = "DELETE FROM teros_data WHERE (cell_id, ts) IN (SELECT cell_id, ts FROM \
        teros_data WHERE cell_id = $1 AND ts < $2 ORDER BY ts LIMIT $3)";
    const VALUES: &str = "DELETE FROM data WHERE (sensor_id, ts) IN (SELECT sensor_id, ts FROM \
        data WHERE sensor_id = $1 AND ts < $2 ORDER BY ts LIMIT $3)";
    for (sql, owners) in [(POWER, &cells), (TEROS, &cells), (VALUES, &sensors)] {
        for &owner in owners {
            loop {
                let deleted = crate::write_transaction(conn, |c| {
                    diesel::sql_query(sql)
                        .bind::<Integer, _>(owner)
                        .bind::<Timestamp, _>(horizon)
                        .bind::<BigInt, _>(BATCH)
                        .execute(c)
                })?;
                swept.rows += deleted;
                if (deleted as i64) < BATCH {
                    break;
                }
            }
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_horizon_is_a_midnight_whole_days_back() {
        let now = NaiveDateTime::parse_from_str("2026-12-06 12:39:04", "%Y-%m-%d %H:%M:%S")
            .expect("time");
        let want = NaiveDateTime::parse_from_str("2026-11-06 00:00:00", "%Y-%m-%d %H:%M:%S")
            .expect("time");
        assert_eq!(horizon(30, now), want);
    }
}
