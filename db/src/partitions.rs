//! Monthly partitions of the measurement tables on Postgres (migration 000009): made ahead of
//! time by the API's upkeep, and on demand when a write names a month that has none (late data,
//! old files imported, a device whose clock is wrong). Making a partition locks its parent
//! table, so it never happens inside a write's own transaction: the write fails, the months are
//! made in a short transaction of their own, and the write runs again. SQLite has no partitions;
//! every function here does nothing there.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::{DbConn, DbError};

/// Months made ahead of the current one, so uploads never wait for a partition.
const MONTHS_AHEAD: u32 = 2;

/// Makes the partitions of this month and the next [`MONTHS_AHEAD`]; returns how many were new.
pub fn ahead(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    let mut months = Vec::new();
    let mut month = month_of(now);
    for _ in 0..=MONTHS_AHEAD {
        months.push(month);
        month = next_month(month);
    }
    make(conn, months)
}

/// Runs `work`; if it failed for want of a partition, makes one for every month in `times()`
/// and runs it once more. `work` must leave no transaction open when it fails (a whole
/// transaction, not a part of one).
pub fn on_demand<T>(
    conn: &mut DbConn,
    times: impl FnOnce() -> Vec<NaiveDateTime>,
    mut work: impl FnMut(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    match work(conn) {
        Err(DbError::MissingPartition(why)) => {
            let made = ensure(conn, times())?;
            tracing::info!(made, cause = %why, "made partitions for a write's months");
            work(conn)
        }
        other => other,
    }
}

/// Makes the partitions every month of `times` needs (outside any transaction of the caller's);
/// returns how many were new.
pub fn ensure(
    conn: &mut DbConn,
    times: impl IntoIterator<Item = NaiveDateTime>,
) -> Result<usize, DbError> {
    let months: BTreeSet<NaiveDateTime> = times.into_iter().map(month_of).collect();
    make(conn, months.into_iter().collect())
}

/// The months that have partitions (of `power_data`; the three tables get theirs together),
/// oldest first; empty on SQLite.
pub fn months(conn: &mut DbConn) -> Result<Vec<NaiveDateTime>, DbError> {
    let DbConn::Postgres(pg) = conn else {
        return Ok(Vec::new());
    };
    #[derive(QueryableByName)]
    struct Month {
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        month: NaiveDateTime,
    }
    let months = diesel::sql_query(
        "SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamp
                AS month
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'power_data'::regclass
         ORDER BY 1",
    )
    .load::<Month>(pg)?;
    Ok(months.into_iter().map(|m| m.month).collect())
}

/// Makes the partitions of every month from `first`'s to `last`'s (bulk loads that write a
/// whole span with one statement); returns how many were new.
pub fn ensure_span(
    conn: &mut DbConn,
    first: NaiveDateTime,
    last: NaiveDateTime,
) -> Result<usize, DbError> {
    let mut months = Vec::new();
    let mut month = month_of(first);
    while month <= last {
        months.push(month);
        let next = next_month(month);
        if next == month {
            break; // the end of representable time
        }
        month = next;
    }
    make(conn, months)
}

/// Making a partition locks its parent and, for `data`, `sensors`: an upload holding one of
/// those while waiting for another can deadlock with it, and one side is told so. Either side
/// retries.
fn make(conn: &mut DbConn, months: Vec<NaiveDateTime>) -> Result<usize, DbError> {
    let DbConn::Postgres(pg) = conn else {
        return Ok(0);
    };
    if months.is_empty() {
        return Ok(0);
    }
    crate::connection::retrying(|| make_once(pg, &months))
}

fn make_once(pg: &mut diesel::PgConnection, months: &[NaiveDateTime]) -> Result<usize, DbError> {
    #[derive(QueryableByName)]
    struct Made {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        made: i32,
    }
    let made = diesel::sql_query("SELECT loam_ensure_partitions($1) AS made")
        .bind::<diesel::sql_types::Array<diesel::sql_types::Timestamp>, _>(months.to_vec())
        .get_result::<Made>(pg)?
        .made;
    Ok(usize::try_from(made).unwrap_or(0))
}

fn month_of(t: NaiveDateTime) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(t.year(), t.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(t)
}

fn next_month(m: NaiveDateTime) -> NaiveDateTime {
    let (y, mo) = if m.month() == 12 {
        (m.year() + 1, 1)
    } else {
        (m.year(), m.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, mo, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time")
    }

    #[test]
    fn months_start_at_midnight_on_the_first_and_roll_over_the_year() {
        assert_eq!(month_of(t("2026-12-31 23:59:59")), t("2026-12-01 00:00:00"));
        assert_eq!(
            next_month(t("2026-12-01 00:00:00")),
            t("2027-01-01 00:00:00")
        );
        assert_eq!(
            next_month(t("2027-01-01 00:00:00")),
            t("2027-02-01 00:00:00")
        );
    }
}
