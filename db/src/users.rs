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

/// People whose email or name contains `query` (case-insensitively; everyone without one), by
/// email, paged; with the number of matches in all.
pub fn search(
    conn: &mut DbConn,
    query: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64), DbError> {
    use crate::sql::{escape_like, lower, lower_nullable};
    let filter = |query: Option<&str>| {
        let mut q = users::table.into_boxed();
        if let Some(text) = query.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            q = q.filter(
                lower(users::email)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower_nullable(users::first_name)
                        .like(pattern.clone())
                        .escape('\\')
                        .assume_not_null())
                    .or(lower_nullable(users::last_name)
                        .like(pattern)
                        .escape('\\')
                        .assume_not_null()),
            );
        }
        q
    };
    let total = filter(query).count().get_result(conn)?;
    let found = filter(query)
        .select(User::as_select())
        .order((users::email.asc(), users::id.asc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((found, total))
}

/// The emails of these people (ids without an account are left out).
pub fn emails_of(conn: &mut DbConn, ids: &[String]) -> Result<Vec<(String, String)>, DbError> {
    Ok(users::table
        .select((users::id, users::email))
        .filter(users::id.eq_any(ids))
        .load(conn)?)
}

/// Grants or revokes administration; returns the changed person, `None` when there is none.
pub fn set_admin(conn: &mut DbConn, id: &str, admin: bool) -> Result<Option<User>, DbError> {
    diesel::update(users::table.find(id))
        .set(users::is_admin.eq(admin))
        .execute(conn)?;
    find(conn, id)
}

/// Disables the account as of `at`, or enables it again with `None`; returns the changed
/// person, `None` when there is none. Disabling an already disabled account keeps its time.
pub fn set_disabled(
    conn: &mut DbConn,
    id: &str,
    at: Option<chrono::NaiveDateTime>,
) -> Result<Option<User>, DbError> {
    match at {
        Some(at) => diesel::update(users::table.find(id).filter(users::disabled_at.is_null()))
            .set(users::disabled_at.eq(at))
            .execute(conn)?,
        None => diesel::update(users::table.find(id))
            .set(users::disabled_at.eq(None::<chrono::NaiveDateTime>))
            .execute(conn)?,
    };
    find(conn, id)
}

/// Replaces the password (an Argon2id PHC string); returns whether the person exists.
pub fn set_password_hash(conn: &mut DbConn, id: &str, hash: &str) -> Result<bool, DbError> {
    let changed = diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)?;
    Ok(changed > 0)
}

/// How many enabled administrators there are besides `id`: the guard that keeps at least one.
pub fn enabled_admins_other_than(conn: &mut DbConn, id: &str) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::is_admin.eq(true))
        .filter(users::disabled_at.is_null())
        .filter(users::id.ne(id))
        .count()
        .get_result(conn)?)
}

/// Serialises changes to who administers, for the rest of the current transaction, so two
/// administrators revoking each other at once cannot leave none. SQLite's write transaction
/// already holds the database's one write lock.
pub fn lock_admin_changes(conn: &mut DbConn) -> Result<(), DbError> {
    /// Advisory-lock key of admin changes (any constant unused elsewhere).
    const ADMIN_CHANGES: i64 = 0x4c6f_616d_4164_6d00;
    if let DbConn::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(ADMIN_CHANGES)
            .execute(pg)?;
    }
    Ok(())
}

/// Who is an administrator and who is disabled, for the identity layer's short-lived snapshot:
/// `(id, is_admin, is_disabled)` of every such person (everyone else is a plain enabled user).
pub fn access_exceptions(conn: &mut DbConn) -> Result<Vec<(String, bool, bool)>, DbError> {
    let rows: Vec<(String, bool, Option<chrono::NaiveDateTime>)> = users::table
        .select((users::id, users::is_admin, users::disabled_at))
        .filter(
            users::is_admin
                .eq(true)
                .or(users::disabled_at.is_not_null()),
        )
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, admin, disabled)| (id, admin, disabled.is_some()))
        .collect())
}
