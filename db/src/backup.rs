//! What `loam backup` and `loam restore` ask of the database itself: a consistent copy of a
//! SQLite file while writers continue, and whether a database already holds Loam's tables
//! (a restore never writes over data). Postgres copies are `pg_dump`'s job.

use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::connection::DbConn;
use crate::error::DbError;

/// Writes a consistent copy of the open SQLite database to `target` (`VACUUM INTO`: one read
/// transaction, so uploads committing meanwhile are either wholly in the copy or not at all).
pub fn sqlite_snapshot(conn: &mut DbConn, target: &Path) -> Result<(), DbError> {
    let DbConn::Sqlite(sqlite) = conn else {
        return Err(DbError::Unavailable(
            "a SQLite snapshot needs the SQLite database; Postgres is copied with pg_dump".into(),
        ));
    };
    let path = target
        .to_str()
        .ok_or_else(|| DbError::Unavailable(format!("{} is not valid UTF-8", target.display())))?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(path)
        .execute(sqlite)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    present: bool,
}

/// Whether Loam's tables exist here already (a restore goes only into an empty database).
pub fn holds_loam_tables(conn: &mut DbConn) -> Result<bool, DbError> {
    let query = match conn {
        DbConn::Sqlite(_) => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cells') AS present"
        }
        DbConn::Postgres(_) => "SELECT to_regclass('public.cells') IS NOT NULL AS present",
    };
    let found: Exists = diesel::sql_query(query).get_result(conn)?;
    Ok(found.present)
}
