//! Throw-away Postgres databases for integration tests, so each test binary (or test) starts from
//! an empty, freshly migrated database and leaves nothing behind.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::DbError;

/// Creates database `name` through the server at `admin_url` (any database the role can reach).
pub fn create_database(admin_url: &str, name: &str) -> Result<(), DbError> {
    check_name(name)?;
    let mut conn =
        PgConnection::establish(admin_url).map_err(|e| DbError::Unavailable(e.to_string()))?;
    conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
    Ok(())
}

/// Drops database `name`, closing any connection still open to it.
pub fn drop_database(admin_url: &str, name: &str) -> Result<(), DbError> {
    check_name(name)?;
    let mut conn =
        PgConnection::establish(admin_url).map_err(|e| DbError::Unavailable(e.to_string()))?;
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
    Ok(())
}

/// Only names the harness generates are accepted, so nothing can be injected into the DDL.
fn check_name(name: &str) -> Result<(), DbError> {
    if !name.is_empty()
        && name.len() < 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(DbError::Unavailable(format!(
            "refusing database name {name:?}"
        )))
    }
}

/// Holds the measurement tables against writes until `release` receives (or its sender drops),
/// as a long transaction of another client would: uploads wait behind it. For tests of
/// backpressure; the caller runs this on a blocking thread with its own connection.
pub fn hold_measurement_writes(
    conn: &mut crate::DbConn,
    release: std::sync::mpsc::Receiver<()>,
) -> Result<(), DbError> {
    crate::write_transaction(conn, |conn| {
        if let crate::DbConn::Postgres(pg) = conn {
            pg.batch_execute("LOCK TABLE power_data, teros_data, data IN EXCLUSIVE MODE")?;
        }
        // SQLite: the write transaction already holds the file's write lock.
        let _ = release.recv();
        Ok::<_, DbError>(())
    })
}

/// Moves a logger's upload log `secs` into the past, as if every upload were that much older:
/// health and silence rules are tested across their boundaries without waiting.
pub fn backdate_uploads(
    conn: &mut crate::DbConn,
    logger_id: i32,
    secs: i64,
) -> Result<usize, DbError> {
    use crate::schema::logger_uploads;
    let marks: Vec<(i64, chrono::NaiveDateTime)> = logger_uploads::table
        .filter(logger_uploads::logger_id.eq(logger_id))
        .select((logger_uploads::id, logger_uploads::at))
        .load(conn)?;
    for (id, at) in &marks {
        diesel::update(logger_uploads::table.find(*id))
            .set(logger_uploads::at.eq(*at - chrono::TimeDelta::seconds(secs)))
            .execute(conn)?;
    }
    Ok(marks.len())
}

/// Moves a rule's last notice `secs` into the past, so its repeat interval is tested without
/// waiting for it.
pub fn backdate_rule_notice(
    conn: &mut crate::DbConn,
    rule_id: i32,
    secs: i64,
) -> Result<(), DbError> {
    use crate::schema::alert_rules;
    let last: Option<chrono::NaiveDateTime> = alert_rules::table
        .find(rule_id)
        .select(alert_rules::last_notified_at)
        .first(conn)?;
    diesel::update(alert_rules::table.find(rule_id))
        .set(alert_rules::last_notified_at.eq(last.map(|t| t - chrono::TimeDelta::seconds(secs))))
        .execute(conn)?;
    Ok(())
}
