//! Queries on people.

use diesel::prelude::*;

use crate::models::{NewUser, User};
use crate::schema::users;
use crate::{DbConn, DbError};

/// The user with this (already lower-cased) email, if any.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .select(User::as_select())
        .filter(users::email.eq(email))
        .first(conn)
        .optional()?)
}

/// The user with this id, if any.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .select(User::as_select())
        .find(id)
        .first(conn)
        .optional()?)
}

/// Creates a user; a taken email is a [`DbError::UniqueViolation`].
pub fn insert(conn: &mut DbConn, user: &NewUser<'_>) -> Result<(), DbError> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)?;
    Ok(())
}

/// Changes the names shown for a person; `None` leaves a name as it is.
pub fn update_names(
    conn: &mut DbConn,
    id: &str,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> Result<User, DbError> {
    crate::write_transaction(conn, |conn| {
        if let Some(first) = first_name {
            diesel::update(users::table.find(id))
                .set(users::first_name.eq(first))
                .execute(conn)?;
        }
        if let Some(last) = last_name {
            diesel::update(users::table.find(id))
                .set(users::last_name.eq(last))
                .execute(conn)?;
        }
        Ok(users::table
            .select(User::as_select())
            .find(id)
            .first(conn)?)
    })
}
