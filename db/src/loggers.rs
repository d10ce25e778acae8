//! Queries on loggers.

use diesel::prelude::*;

use crate::models::{Logger, NewLogger};
use crate::schema::loggers;
use crate::{DbConn, DbError};

/// Loggers, all or one owner's, ordered by id.
pub fn list(conn: &mut DbConn, owner: Option<&str>) -> Result<Vec<Logger>, DbError> {
    let mut query = loggers::table
        .select(Logger::as_select())
        .order(loggers::id.asc())
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(loggers::user_id.eq(owner.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// The logger with this id, if any.
pub fn find(conn: &mut DbConn, id: i32) -> Result<Option<Logger>, DbError> {
    Ok(loggers::table
        .select(Logger::as_select())
        .find(id)
        .first(conn)
        .optional()?)
}

/// The logger with this name, if any.
pub fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Logger>, DbError> {
    Ok(loggers::table
        .select(Logger::as_select())
        .filter(loggers::name.eq(name))
        .first(conn)
        .optional()?)
}

/// Creates a logger and returns its id; a taken name is a unique violation.
pub fn insert(conn: &mut DbConn, logger: &NewLogger<'_>) -> Result<i32, DbError> {
    crate::write_transaction(conn, |conn| {
        diesel::insert_into(loggers::table)
            .values(logger)
            .execute(conn)?;
        Ok(loggers::table
            .filter(loggers::uuid.eq(logger.uuid))
            .select(loggers::id)
            .first(conn)?)
    })
}

/// Renames and/or re-describes a logger.
pub fn update(
    conn: &mut DbConn,
    id: i32,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<(), DbError> {
    crate::write_transaction(conn, |conn| {
        if let Some(name) = name {
            diesel::update(loggers::table.find(id))
                .set(loggers::name.eq(name))
                .execute(conn)?;
        }
        if let Some(description) = description {
            diesel::update(loggers::table.find(id))
                .set(loggers::description.eq(description))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Deletes a logger; its measurements stay (detached) and its device keys go.
pub fn delete(conn: &mut DbConn, id: i32) -> Result<bool, DbError> {
    use crate::schema::power_data;
    crate::write_transaction(conn, |conn| {
        // Power rows keep their data when their logger goes (the old `ON DELETE SET NULL`,
        // done here because Postgres's measurement tables carry no foreign keys).
        if let DbConn::Postgres(pg) = conn {
            loggers::table
                .find(id)
                .select(loggers::id)
                .for_update()
                .load::<i32>(pg)?;
        }
        diesel::update(power_data::table.filter(power_data::logger_id.eq(id)))
            .set(power_data::logger_id.eq(None::<i32>))
            .execute(conn)?;
        crate::health::forget(conn, id)?;
        Ok(diesel::delete(loggers::table.find(id)).execute(conn)? > 0)
    })
}
