//! The upload log behind device health: one line per accepted upload of a logger, appended in
//! the upload's own commit (insert-only, so concurrent uploads never wait on it), read back as
//! each logger's recent uploads plus its last 24 hours in a few statements for a whole fleet.

use std::collections::HashMap;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::models::{Enrolment, Firmware, Logger};
use crate::schema::{
    device_enrolments, firmware, logger_firmware, logger_upload_hours, logger_uploads, loggers,
};
use crate::{DbConn, DbError};

/// Most recent uploads read per logger: enough for a stable median of the gaps between them.
pub const RECENT_UPLOADS: i64 = 32;

/// How long the log keeps lines beyond each logger's newest [`RECENT_UPLOADS`].
pub const KEEP_DAYS: i64 = 8;

/// One accepted upload as the log keeps it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, QueryableByName, Insertable)]
#[diesel(table_name = logger_uploads)]
pub struct UploadMark {
    /// The logger the upload is attributed to.
    pub logger_id: i32,
    /// The upload's first cell.
    pub cell_id: Option<i32>,
    /// Server commit time (UTC).
    pub at: NaiveDateTime,
    /// Rows the upload carried.
    pub row_count: i32,
    /// Its latest power voltage, when it carried power rows.
    pub voltage: Option<f64>,
    /// The firmware version the device reported with it.
    pub firmware: Option<String>,
}

/// What the log and the device records say about one logger.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggerFacts {
    /// The logger.
    pub logger: Logger,
    /// Its newest uploads, newest first (at most [`RECENT_UPLOADS`]).
    pub recent: Vec<UploadMark>,
    /// Uploads accepted in the 24 hours before `now`.
    pub uploads_24h: i64,
    /// Rows those uploads carried.
    pub rows_24h: i64,
    /// Its enrolment (upload quota), when enrolled.
    pub enrolment: Option<Enrolment>,
    /// The firmware it should run, when one was chosen.
    pub desired_firmware: Option<Firmware>,
}

/// Appends the log lines of uploads just stored (same transaction). Lines of loggers that do not
/// exist are dropped: an anonymous upload may name any logger id. One statement on Postgres
/// (the upload path pays one round trip for it), a lookup and an insert on SQLite.
pub(crate) fn record(conn: &mut DbConn, marks: &[UploadMark]) -> Result<(), DbError> {
    use diesel::sql_types::{Array, Double, Integer, Nullable, Text, Timestamp};
    if marks.is_empty() {
        return Ok(());
    }
    match conn {
        DbConn::Postgres(pg) => {
            diesel::sql_query(
                "INSERT INTO logger_uploads (logger_id, cell_id, at, row_count, voltage, firmware)
                 SELECT m.logger_id, m.cell_id, m.at, m.row_count, m.voltage, m.firmware
                   FROM unnest($1::integer[], $2::integer[], $3::timestamp[], $4::integer[],
                               $5::double precision[], $6::text[])
                        AS m(logger_id, cell_id, at, row_count, voltage, firmware)
                  WHERE EXISTS (SELECT 1 FROM loggers WHERE loggers.id = m.logger_id)",
            )
            .bind::<Array<Integer>, _>(marks.iter().map(|m| m.logger_id).collect::<Vec<_>>())
            .bind::<Array<Nullable<Integer>>, _>(
                marks.iter().map(|m| m.cell_id).collect::<Vec<_>>(),
            )
            .bind::<Array<Timestamp>, _>(marks.iter().map(|m| m.at).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(marks.iter().map(|m| m.row_count).collect::<Vec<_>>())
            .bind::<Array<Nullable<Double>>, _>(marks.iter().map(|m| m.voltage).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                marks.iter().map(|m| m.firmware.clone()).collect::<Vec<_>>(),
            )
            .execute(pg)?;
        }
        DbConn::Sqlite(_) => {
            let mut ids: Vec<i32> = marks.iter().map(|m| m.logger_id).collect();
            ids.sort_unstable();
            ids.dedup();
            let known: Vec<i32> = loggers::table
                .filter(loggers::id.eq_any(&ids))
                .select(loggers::id)
                .load(conn)?;
            let kept: Vec<UploadMark> = marks
                .iter()
                .filter(|m| known.contains(&m.logger_id))
                .cloned()
                .collect();
            if !kept.is_empty() {
                crate::on_backend!(conn, c => diesel::insert_into(logger_uploads::table)
                    .values(&kept)
                    .execute(c))?;
            }
        }
    }
    Ok(())
}

/// The facts of `owner`'s loggers (every logger with `None`), ordered by id.
pub fn fleet(
    conn: &mut DbConn,
    owner: Option<&str>,
    now: NaiveDateTime,
) -> Result<Vec<LoggerFacts>, DbError> {
    let list = match owner {
        Some(owner) => loggers::table
            .filter(loggers::user_id.eq(owner))
            .select(Logger::as_select())
            .order(loggers::id)
            .load(conn)?,
        None => loggers::table
            .select(Logger::as_select())
            .order(loggers::id)
            .load(conn)?,
    };
    facts_of(conn, list, now)
}

/// The facts of one logger.
pub fn of_logger(
    conn: &mut DbConn,
    logger: Logger,
    now: NaiveDateTime,
) -> Result<LoggerFacts, DbError> {
    let mut facts = facts_of(conn, vec![logger], now)?;
    facts
        .pop()
        .ok_or_else(|| DbError::Unavailable("no facts for the logger".into()))
}

fn facts_of(
    conn: &mut DbConn,
    list: Vec<Logger>,
    now: NaiveDateTime,
) -> Result<Vec<LoggerFacts>, DbError> {
    let ids: Vec<i32> = list.iter().map(|l| l.id).collect();
    let mut recent = recent_uploads(conn, &ids)?;
    let counts = last_day(conn, &ids, now)?;
    let mut enrolments: HashMap<i32, Enrolment> = device_enrolments::table
        .filter(device_enrolments::logger_id.eq_any(&ids))
        .select(Enrolment::as_select())
        .load(conn)?
        .into_iter()
        .map(|e| (e.logger_id, e))
        .collect();
    let mut desired: HashMap<i32, Firmware> = logger_firmware::table
        .inner_join(firmware::table)
        .filter(logger_firmware::logger_id.eq_any(&ids))
        .select((logger_firmware::logger_id, Firmware::as_select()))
        .load::<(i32, Firmware)>(conn)?
        .into_iter()
        .collect();
    Ok(list
        .into_iter()
        .map(|logger| {
            let id = logger.id;
            let (uploads_24h, rows_24h) = counts.get(&id).copied().unwrap_or((0, 0));
            LoggerFacts {
                recent: recent.remove(&id).unwrap_or_default(),
                uploads_24h,
                rows_24h,
                enrolment: enrolments.remove(&id),
                desired_firmware: desired.remove(&id),
                logger,
            }
        })
        .collect())
}

/// Start of Unix hour `hour` (UTC).
fn hour_start(hour: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(hour.saturating_mul(3600), 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
}

/// The Unix hour `t` falls in.
fn hour_of(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp().div_euclid(3600)
}

/// Uploads and rows per logger in the 24 hours before `now`: whole hours already folded come
/// from `logger_upload_hours`, the rest (the partial hour at the window's start and everything
/// since the last folded hour) from the raw lines, so a fleet costs ~24 summary rows and two
/// short index ranges per logger instead of a day of lines.
fn last_day(
    conn: &mut DbConn,
    ids: &[i32],
    now: NaiveDateTime,
) -> Result<HashMap<i32, (i64, i64)>, DbError> {
    let day_ago = now - TimeDelta::hours(24);
    // The first whole hour inside the window, and the first hour not folded yet.
    let first_whole = hour_of(day_ago) + 1;
    let folded_until = logger_upload_hours::table
        .select(diesel::dsl::max(logger_upload_hours::hour))
        .first::<Option<i64>>(conn)?
        .map_or(first_whole, |h| (h + 1).max(first_whole));
    let mut counts: HashMap<i32, (i64, i64)> = HashMap::new();
    let mut add = |rows: Vec<(i32, i64, Option<i64>)>| {
        for (id, uploads, lines) in rows {
            let entry = counts.entry(id).or_default();
            entry.0 += uploads;
            entry.1 += lines.unwrap_or(0);
        }
    };
    let raw = |conn: &mut DbConn, from: NaiveDateTime, to: Option<NaiveDateTime>| {
        let query = logger_uploads::table
            .filter(logger_uploads::logger_id.eq_any(ids))
            .filter(logger_uploads::at.gt(from))
            .group_by(logger_uploads::logger_id)
            .select((
                logger_uploads::logger_id,
                diesel::dsl::count_star(),
                diesel::dsl::sum(logger_uploads::row_count),
            ));
        match to {
            Some(to) => query
                .filter(logger_uploads::at.lt(to))
                .load::<(i32, i64, Option<i64>)>(conn),
            None => query.load::<(i32, i64, Option<i64>)>(conn),
        }
    };
    // The partial hour at the start, then the unfolded tail.
    add(raw(conn, day_ago, Some(hour_start(first_whole)))?);
    add(raw(
        conn,
        hour_start(folded_until) - TimeDelta::microseconds(1),
        None,
    )?);
    if folded_until > first_whole {
        // About 24 rows per logger: summed here (SQL's SUM of BIGINT is NUMERIC on Postgres).
        let folded: Vec<(i32, i64, i64)> = logger_upload_hours::table
            .filter(logger_upload_hours::logger_id.eq_any(ids))
            .filter(logger_upload_hours::hour.ge(first_whole))
            .filter(logger_upload_hours::hour.lt(folded_until))
            .select((
                logger_upload_hours::logger_id,
                logger_upload_hours::uploads,
                logger_upload_hours::row_count,
            ))
            .load(conn)?;
        add(folded
            .into_iter()
            .map(|(id, uploads, rows)| (id, uploads, Some(rows)))
            .collect());
    }
    Ok(counts)
}

/// An hour is folded once it has been over for this long (an upload's line carries the time its
/// commit began, so a slow commit can still add a line to the hour just ended).
const FOLD_AFTER: TimeDelta = TimeDelta::minutes(5);

/// Folds every whole hour of the log not folded yet (and over for [`FOLD_AFTER`]) into
/// `logger_upload_hours`; replicas folding at once insert the same rows, the second insert of a
/// row is ignored. Returns the summary rows written.
pub fn fold_hours(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    use diesel::sql_types::{BigInt, Timestamp};
    let last = logger_upload_hours::table
        .select(diesel::dsl::max(logger_upload_hours::hour))
        .first::<Option<i64>>(conn)?;
    let start = match last {
        Some(hour) => hour + 1,
        None => match logger_uploads::table
            .select(diesel::dsl::min(logger_uploads::at))
            .first::<Option<NaiveDateTime>>(conn)?
        {
            Some(oldest) => hour_of(oldest),
            None => return Ok(0),
        },
    };
    // Never more than the log keeps.
    let start = start.max(hour_of(now - TimeDelta::days(KEEP_DAYS + 1)));
    let end = hour_of(now - FOLD_AFTER);
    let sql = "INSERT INTO logger_upload_hours (logger_id, hour, uploads, row_count)
               SELECT logger_id, $1, COUNT(*), SUM(row_count) FROM logger_uploads
                WHERE at >= $2 AND at < $3 GROUP BY logger_id";
    let mut written = 0;
    for hour in start..end {
        let (from, to) = (hour_start(hour), hour_start(hour + 1));
        written += match conn {
            DbConn::Postgres(pg) => diesel::sql_query(format!("{sql} ON CONFLICT DO NOTHING"))
                .bind::<BigInt, _>(hour)
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to)
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::sql_query(
                sql.replace("INSERT INTO", "INSERT OR IGNORE INTO")
                    .replace("$1", "?")
                    .replace("$2", "?")
                    .replace("$3", "?"),
            )
            .bind::<BigInt, _>(hour)
            .bind::<Timestamp, _>(from)
            .bind::<Timestamp, _>(to)
            .execute(lite)?,
        };
    }
    Ok(written)
}

/// Each logger's newest [`RECENT_UPLOADS`] lines, newest first: one index walk per logger on
/// Postgres (`LATERAL … LIMIT`), a window over the loggers' lines on SQLite.
fn recent_uploads(
    conn: &mut DbConn,
    ids: &[i32],
) -> Result<HashMap<i32, Vec<UploadMark>>, DbError> {
    use diesel::sql_types::{Array, BigInt, Integer};
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let marks: Vec<UploadMark> = match conn {
        DbConn::Postgres(pg) => diesel::sql_query(
            "SELECT u.logger_id, u.cell_id, u.at, u.row_count, u.voltage, u.firmware
               FROM unnest($1::integer[]) AS l(id)
               CROSS JOIN LATERAL (
                   SELECT logger_id, cell_id, at, row_count, voltage, firmware FROM logger_uploads
                    WHERE logger_id = l.id
                    ORDER BY at DESC, id DESC
                    LIMIT $2) AS u",
        )
        .bind::<Array<Integer>, _>(ids)
        .bind::<BigInt, _>(RECENT_UPLOADS)
        .load(pg)?,
        DbConn::Sqlite(lite) => {
            let mut out = Vec::new();
            // One short indexed query per logger: in-process, cheaper than a window over all.
            for id in ids {
                let mut rows: Vec<UploadMark> = logger_uploads::table
                    .filter(logger_uploads::logger_id.eq(*id))
                    .order((logger_uploads::at.desc(), logger_uploads::id.desc()))
                    .limit(RECENT_UPLOADS)
                    .select(UploadMark::as_select())
                    .load(lite)?;
                out.append(&mut rows);
            }
            out
        }
    };
    let mut by_logger: HashMap<i32, Vec<UploadMark>> = HashMap::new();
    for mark in marks {
        by_logger.entry(mark.logger_id).or_default().push(mark);
    }
    Ok(by_logger)
}

/// Deletes log lines older than [`KEEP_DAYS`] that are not among their logger's newest
/// [`RECENT_UPLOADS`] (so a long-silent logger keeps its last uploads), and folded hours older
/// than two days. Returns how many lines.
pub fn trim(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    use diesel::sql_types::{BigInt, Timestamp};
    let horizon = now - TimeDelta::days(KEEP_DAYS);
    let sql = "DELETE FROM logger_uploads WHERE at < $1 AND id NOT IN (
                 SELECT id FROM (
                   SELECT id, ROW_NUMBER() OVER (PARTITION BY logger_id ORDER BY at DESC, id DESC) AS n
                     FROM logger_uploads) AS ranked
                  WHERE n <= $2)";
    diesel::delete(
        logger_upload_hours::table.filter(logger_upload_hours::hour.lt(hour_of(now) - 48)),
    )
    .execute(conn)?;
    Ok(match conn {
        DbConn::Postgres(pg) => diesel::sql_query(sql)
            .bind::<Timestamp, _>(horizon)
            .bind::<BigInt, _>(RECENT_UPLOADS)
            .execute(pg)?,
        DbConn::Sqlite(lite) => diesel::sql_query(sql.replace("$1", "?").replace("$2", "?"))
            .bind::<Timestamp, _>(horizon)
            .bind::<BigInt, _>(RECENT_UPLOADS)
            .execute(lite)?,
    })
}

/// Forgets a deleted logger's log (no foreign key does it).
pub fn forget(conn: &mut DbConn, logger_id: i32) -> Result<(), DbError> {
    diesel::delete(logger_uploads::table.filter(logger_uploads::logger_id.eq(logger_id)))
        .execute(conn)?;
    diesel::delete(logger_upload_hours::table.filter(logger_upload_hours::logger_id.eq(logger_id)))
        .execute(conn)?;
    Ok(())
}
