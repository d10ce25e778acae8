//! Open-data approvals: the months an administrator cleared for the "clean" export.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::opendata_approvals as a;
use crate::{DbConn, DbError};

/// Approves a month; false when it was approved before (approval is idempotent).
pub fn approve(
    conn: &mut DbConn,
    year: i32,
    month: i32,
    by: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let values = (
        a::year.eq(year),
        a::month.eq(month),
        a::approved_by.eq(by),
        a::approved_at.eq(now),
    );
    let inserted = crate::on_backend!(conn, c => diesel::insert_into(a::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(inserted > 0)
}

/// Whether a month is approved.
pub fn is_approved(conn: &mut DbConn, year: i32, month: i32) -> Result<bool, DbError> {
    let n: i64 = a::table
        .filter(a::year.eq(year))
        .filter(a::month.eq(month))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
