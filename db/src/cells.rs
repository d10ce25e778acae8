//! Queries on cells.

use diesel::prelude::*;

use crate::models::{Cell, NewCell};
use crate::schema::cells;
use crate::{DbConn, DbError};

/// Every cell, ordered by id so listings are stable (ENTS left the order to the database).
pub fn list_all(conn: &mut DbConn) -> Result<Vec<Cell>, DbError> {
    Ok(cells::table
        .select(Cell::as_select())
        .order(cells::id.asc())
        .load(conn)?)
}

/// Inserts a cell and returns its new id.
pub fn insert(conn: &mut DbConn, cell: &NewCell<'_>) -> Result<i32, DbError> {
    crate::connection::write_transaction(conn, |conn| {
        diesel::insert_into(cells::table)
            .values(cell)
            .execute(conn)?;
        let id = cells::table
            .filter(cells::name.eq(cell.name))
            .select(cells::id)
            .first(conn)?;
        Ok(id)
    })
}

/// Cells marked public, readable by anyone.
pub fn list_public(conn: &mut DbConn) -> Result<Vec<Cell>, DbError> {
    Ok(cells::table
        .select(Cell::as_select())
        .filter(cells::public.eq(true))
        .order(cells::id.asc())
        .load(conn)?)
}
